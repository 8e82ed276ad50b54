//! Object bytes as files.
//!
//! Every write goes to a brand-new file (`blobs/<xx>/<uuid>`), is made
//! durable (its own fsync when large, one `syncfs` per commit batch when
//! small), and only then referenced from a metadata transaction. A crash therefore
//! leaves at worst an unreferenced file (collected at the next start), never
//! a torn object: readers only ever find blobs through committed metadata.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use herald_model::Md5Digest;
use md5::{Digest, Md5};

use crate::records::Segment;

/// Below this size a body is kept in memory and written with one blocking
/// call; above it, bytes are flushed to the file in chunks of this size.
const WRITE_CHUNK: usize = 1 << 20;
/// Small bodies are written straight from the async task (no fsync, so no
/// waiting on the disk), avoiding two thread switches per request.
const INLINE_WRITE_MAX: usize = 128 * 1024;
/// Size of the reads that feed a GET response.
const READ_CHUNK: usize = 256 * 1024;

/// The directory holding every blob, sharded by the first byte of the id so
/// no single directory grows huge.
#[derive(Debug, Clone)]
pub struct BlobDir {
    root: Arc<PathBuf>,
}

impl BlobDir {
    pub fn open(root: PathBuf) -> io::Result<Self> {
        for shard in 0..=255u8 {
            // Owner only, like the whole data dir: blobs are tenants' objects.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(root.join(format!("{shard:02x}")))?;
        }
        Ok(BlobDir { root: Arc::new(root) })
    }

    pub fn path(&self, blob: &str) -> PathBuf {
        self.root.join(&blob[..2]).join(blob)
    }

    /// The directory all blobs live under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn new_writer(&self) -> BlobWriter {
        let id = uuid::Uuid::new_v4().simple().to_string();
        BlobWriter {
            path: self.path(&id),
            id,
            file: None,
            buf: Vec::new(),
            md5: Md5::new(),
            size: 0,
        }
    }

    /// Removes blob files, ignoring ones already gone.
    pub fn remove(&self, blobs: &[String]) {
        for b in blobs {
            if let Err(e) = fs::remove_file(self.path(b))
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(blob = %b, error = %e, "could not remove blob");
            }
        }
    }

    /// Deletes blob files that no committed record references and that were
    /// last modified before `older_than` (so blobs of uploads in flight
    /// right now are left alone). Returns how many were removed.
    pub fn collect_garbage(
        &self,
        referenced: &std::collections::HashSet<String>,
        older_than: std::time::SystemTime,
    ) -> io::Result<usize> {
        let mut removed = 0;
        for shard in fs::read_dir(&*self.root)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if referenced.contains(&name) {
                    continue;
                }
                let modified = entry.metadata()?.modified()?;
                if modified < older_than {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// A blob being written. Call [`BlobWriter::finish`] to make it durable;
/// a writer dropped without finishing leaves a file for garbage collection
/// (or nothing, for small bodies that never reached the disk).
pub struct BlobWriter {
    id: String,
    path: PathBuf,
    file: Option<File>,
    buf: Vec<u8>,
    md5: Md5,
    size: u64,
}

/// A blob that is on disk and fsync'd.
#[derive(Debug, Clone)]
pub struct WrittenBlob {
    pub id: String,
    pub size: u64,
    pub md5: Md5Digest,
}

impl BlobWriter {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.md5.update(chunk);
        self.size += chunk.len() as u64;
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= WRITE_CHUNK {
            self.flush(false).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, sync: bool) -> io::Result<()> {
        let buf = std::mem::take(&mut self.buf);
        let file = self.file.take();
        let path = self.path.clone();
        let file = tokio::task::spawn_blocking(move || -> io::Result<File> {
            let mut file = match file {
                Some(f) => f,
                None => OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?,
            };
            file.write_all(&buf)?;
            if sync {
                file.sync_data()?;
            }
            Ok(file)
        })
        .await
        .map_err(io::Error::other)??;
        self.file = Some(file);
        Ok(())
    }

    /// Writes what is buffered and closes the file.
    ///
    /// A blob that never outgrew the in-memory buffer is written without an
    /// fsync: the committer makes it durable together with every other
    /// small blob of its batch (one `syncfs` instead of one fsync each),
    /// before the metadata naming it commits. Larger blobs are fsync'd
    /// here, where the cost is dwarfed by writing their bytes.
    pub async fn finish(mut self) -> io::Result<WrittenBlob> {
        let small = self.file.is_none();
        if small && self.buf.len() <= INLINE_WRITE_MAX {
            // Creating and writing a small file only touches the page cache:
            // as cheap as the thread hand-off `spawn_blocking` would cost.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.path)?;
            file.write_all(&self.buf)?;
        } else {
            self.flush(!small).await?;
        }
        self.file = None;
        Ok(WrittenBlob {
            id: self.id,
            size: self.size,
            md5: self.md5.finalize().into(),
        })
    }
}

/// Opens the files behind `segments` and returns a stream of the bytes in
/// `start..start+len` of their concatenation.
///
/// Every file is opened before this returns, so a concurrent overwrite
/// that deletes an old blob either happens before (the caller gets
/// `NotFound` and looks the object up again) or cannot hurt the open handle.
pub async fn open_range(
    dir: &BlobDir,
    segments: &[Segment],
    start: u64,
    len: u64,
) -> io::Result<impl Stream<Item = io::Result<Bytes>> + Send + Sync + 'static> {
    // Work out which parts of which segments are needed.
    let mut plan: Vec<(PathBuf, u64, u64)> = Vec::new();
    let mut offset = 0u64;
    let end = start + len;
    for seg in segments {
        let seg_start = offset;
        let seg_end = offset + seg.len;
        offset = seg_end;
        if seg_end <= start || seg_start >= end || seg.len == 0 {
            continue;
        }
        let from = start.max(seg_start) - seg_start;
        let to = end.min(seg_end) - seg_start;
        plan.push((dir.path(&seg.blob), from, to - from));
    }
    if len <= INLINE_WRITE_MAX as u64 {
        // Small reads come from the page cache almost always: read them
        // in place rather than paying two thread switches.
        let mut out = Vec::with_capacity(len as usize);
        for (path, from, n) in plan {
            let mut f = File::open(&path)?;
            if from > 0 {
                f.seek(SeekFrom::Start(from))?;
            }
            let start = out.len();
            out.resize(start + n as usize, 0);
            f.read_exact(&mut out[start..])?;
        }
        let chunk: io::Result<Bytes> = Ok(Bytes::from(out));
        return Ok(futures::stream::iter([chunk]).left_stream());
    }
    let files = tokio::task::spawn_blocking(move || -> io::Result<Vec<(File, u64)>> {
        let mut out = Vec::with_capacity(plan.len());
        for (path, from, n) in plan {
            let mut f = File::open(&path)?;
            if from > 0 {
                f.seek(SeekFrom::Start(from))?;
            }
            out.push((f, n));
        }
        Ok(out)
    })
    .await
    .map_err(io::Error::other)??;

    let state = (files.into_iter(), None::<(File, u64)>);
    Ok(futures::stream::try_unfold(state, |(mut rest, current)| async move {
        let mut current = current;
        loop {
            match current.take() {
                Some((file, 0)) => drop(file),
                Some((file, remaining)) => {
                    let want = remaining.min(READ_CHUNK as u64) as usize;
                    let (file, chunk) = tokio::task::spawn_blocking(move || -> io::Result<(File, Vec<u8>)> {
                        let mut file = file;
                        let mut buf = vec![0u8; want];
                        file.read_exact(&mut buf)?;
                        Ok((file, buf))
                    })
                    .await
                    .map_err(io::Error::other)??;
                    let left = remaining - chunk.len() as u64;
                    return Ok(Some((Bytes::from(chunk), (rest, Some((file, left))))));
                }
                None => match rest.next() {
                    Some(next) => current = Some(next),
                    None => return Ok(None),
                },
            }
        }
    })
    .right_stream())
}

/// Flushes every dirty page and directory entry of the filesystem holding
/// `path` (Linux `syncfs`), making a whole batch of new blobs durable with
/// one call.
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = File::open(path)?;
    // SAFETY: `dir` is an open descriptor for the duration of the call.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
