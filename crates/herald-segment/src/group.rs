//! Group commit: one writer thread takes everything queued, writes each
//! file's new records with one positional write, fdatasyncs each file once,
//! and only then makes the records visible and answers. While it syncs, new
//! requests queue up and form the next batch, so syncs per second stay
//! roughly constant while throughput grows with concurrency.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

/// Blocks until a command arrives, then takes whatever else is already
/// queued, up to `max` in all (so latency stays bounded under load).
/// Returns false when every sender is gone.
pub fn next_batch<T>(rx: &mut mpsc::Receiver<T>, max: usize, batch: &mut Vec<T>) -> bool {
    let Some(first) = rx.blocking_recv() else {
        return false;
    };
    batch.push(first);
    while batch.len() < max {
        match rx.try_recv() {
            Ok(cmd) => batch.push(cmd),
            Err(_) => break,
        }
    }
    true
}

/// Index of a write in a [`WriteSet`].
pub type WriteId = usize;
/// Index of a directory in a [`WriteSet`].
pub type DirId = usize;

struct Write {
    file: Arc<File>,
    offset: u64,
    bytes: Vec<u8>,
    /// Zeros written after `bytes` (zero fill ahead of a log's records).
    zeros: u64,
    /// The file is new in this directory, whose entry must be durable too.
    dir: Option<DirId>,
    error: Option<io::Error>,
}

/// The writes of one group commit. Records appended at the end of what the
/// set already writes to a file join that write, so a batch costs one
/// `pwrite` per file run and one `fdatasync` per file.
#[derive(Default)]
pub struct WriteSet {
    writes: Vec<Write>,
    /// The last record write per file (by the address of its `Arc`, held
    /// in `writes`), to extend.
    last: HashMap<usize, WriteId>,
    dirs: Vec<(PathBuf, Option<io::Error>)>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// A directory whose entries must be made durable with the batch.
    pub fn dir(&mut self, dir: &Path) -> DirId {
        match self.dirs.iter().position(|(d, _)| d == dir) {
            Some(i) => i,
            None => {
                self.dirs.push((dir.to_path_buf(), None));
                self.dirs.len() - 1
            }
        }
    }

    /// Adds `record` at `offset` of `file`; `new_in` when the file was
    /// created for this batch in that directory.
    pub fn add(&mut self, file: &Arc<File>, offset: u64, record: &[u8], new_in: Option<DirId>) -> WriteId {
        self.add_with(file, offset, new_in, |buf| buf.extend_from_slice(record))
    }

    /// Like [`WriteSet::add`], with the record encoded by `encode` straight
    /// into the write's buffer (no copy on the hot path).
    pub fn add_with(
        &mut self,
        file: &Arc<File>,
        offset: u64,
        new_in: Option<DirId>,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> WriteId {
        let key = Arc::as_ptr(file) as usize;
        let w = match self.last.get(&key) {
            Some(&w) if self.writes[w].offset + self.writes[w].bytes.len() as u64 == offset => w,
            _ => {
                self.writes.push(Write {
                    file: file.clone(),
                    offset,
                    bytes: Vec::new(),
                    zeros: 0,
                    dir: None,
                    error: None,
                });
                self.last.insert(key, self.writes.len() - 1);
                self.writes.len() - 1
            }
        };
        let write = &mut self.writes[w];
        write.dir = write.dir.or(new_in);
        encode(&mut write.bytes);
        w
    }

    /// Zeros to write at `offset` after the records (see herald-log's
    /// zero-fill ahead: overwrites sync cheaper than appends).
    pub fn zero_fill(&mut self, file: &Arc<File>, offset: u64, len: u64) {
        self.writes.push(Write {
            file: file.clone(),
            offset,
            bytes: Vec::new(),
            zeros: len,
            dir: None,
            error: None,
        });
    }

    /// Writes everything (page cache only; see [`WriteSet::sync`]).
    pub fn write(&mut self) {
        static ZEROS: [u8; 256 << 10] = [0; 256 << 10];
        for w in &mut self.writes {
            let mut res = w.file.write_all_at(&w.bytes, w.offset);
            let mut off = w.offset + w.bytes.len() as u64;
            let end = off + w.zeros;
            while res.is_ok() && off < end {
                let n = ((end - off) as usize).min(ZEROS.len());
                res = w.file.write_all_at(&ZEROS[..n], off);
                off += n as u64;
            }
            if let Err(e) = res {
                w.error = Some(e);
            }
        }
    }

    /// fdatasyncs each written file once, then the directories; an error
    /// belongs to every write it covers.
    pub fn sync(&mut self) {
        let mut synced: HashMap<usize, Option<(io::ErrorKind, String)>> = HashMap::new();
        for w in &mut self.writes {
            if w.error.is_some() {
                continue;
            }
            let res = synced
                .entry(Arc::as_ptr(&w.file) as usize)
                .or_insert_with(|| w.file.sync_data().err().map(|e| (e.kind(), e.to_string())));
            if let Some((kind, msg)) = res {
                w.error = Some(io::Error::new(*kind, msg.clone()));
            }
        }
        for (dir, error) in &mut self.dirs {
            if let Err(e) = crate::fsync_dir(dir) {
                *error = Some(e);
            }
        }
    }

    /// Why write `id` is not durable, if it is not.
    pub fn error(&self, id: WriteId) -> Option<&io::Error> {
        let w = &self.writes[id];
        w.error.as_ref().or_else(|| w.dir.and_then(|d| self.dirs[d].1.as_ref()))
    }

    /// The first error of any write or directory.
    pub fn first_error(&self) -> Option<&io::Error> {
        self.writes
            .iter()
            .find_map(|w| w.error.as_ref())
            .or_else(|| self.dirs.iter().find_map(|(_, e)| e.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn contiguous_records_share_one_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(crate::create_segment(dir.path(), 1).unwrap());
        let other = Arc::new(crate::create_segment(dir.path(), 9).unwrap());
        let mut set = WriteSet::default();
        let d = set.dir(dir.path());
        let a = set.add(&file, 0, b"abc", Some(d));
        let b = set.add(&other, 0, b"xy", None);
        assert_eq!(set.add(&file, 3, b"def", None), a);
        assert_ne!(set.add(&file, 100, b"gap", None), a, "a gap starts a new write");
        set.zero_fill(&file, 6, 10);
        set.write();
        set.sync();
        assert!(set.first_error().is_none() && set.error(b).is_none());
        let data = fs::read(crate::segment_path(dir.path(), 1)).unwrap();
        assert_eq!(&data[..6], b"abcdef");
        assert!(data[6..16].iter().all(|&x| x == 0));
        assert_eq!(&data[100..103], b"gap");
    }

    #[test]
    fn a_batch_takes_what_is_queued() {
        let (tx, mut rx) = mpsc::channel(16);
        for i in 0..5 {
            tx.try_send(i).unwrap();
        }
        let mut batch = Vec::new();
        assert!(next_batch(&mut rx, 3, &mut batch));
        assert_eq!(batch, vec![0, 1, 2]);
        drop(tx);
        batch.clear();
        assert!(next_batch(&mut rx, 10, &mut batch));
        assert_eq!(batch, vec![3, 4]);
        batch.clear();
        assert!(!next_batch(&mut rx, 10, &mut batch));
    }
}
