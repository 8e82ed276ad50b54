//! Random-access reads of one object version, for protocols that read at
//! any offset, in any order and many times (SFTP), rather than as one
//! stream like an S3 GET.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::Store;
use crate::error::{StoreError, StoreResult};
use crate::records::ObjectVersion;

/// An open object version. Its blob files are opened when it is created,
/// so it reads the same bytes to the end even if the object is overwritten
/// or deleted meanwhile (the files stay readable while open).
pub struct ObjectReader {
    version: ObjectVersion,
    /// (file, offset of its first byte in the object, length)
    segments: Vec<(File, u64, u64)>,
}

impl Store {
    /// Opens the current version of an object for [`ObjectReader::read_at`].
    /// `version_id`: exactly that version (the one access was decided on),
    /// else the current one.
    pub async fn open_object_reader(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> StoreResult<ObjectReader> {
        // An overwrite may delete the blob between our lookup and our open;
        // looking up again then finds the new version (as `open_object`).
        let mut attempts = 0;
        loop {
            let version = self.head_object(bucket, key, version_id)?;
            let paths: Vec<_> = version
                .segments
                .iter()
                .map(|s| (self.blobs().path(&s.blob), s.len))
                .collect();
            let opened = tokio::task::spawn_blocking(move || -> io::Result<Vec<(File, u64, u64)>> {
                let mut offset = 0;
                let mut out = Vec::with_capacity(paths.len());
                for (path, len) in paths {
                    out.push((File::open(path)?, offset, len));
                    offset += len;
                }
                Ok(out)
            })
            .await
            .map_err(|e| StoreError::Io(io::Error::other(e)))?;
            match opened {
                Ok(segments) => return Ok(ObjectReader { version, segments }),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl ObjectReader {
    /// The version being read (size, ETag, modification time).
    pub fn version(&self) -> &ObjectVersion {
        &self.version
    }

    /// Reads up to `len` bytes at `offset`: fewer only at the end of the
    /// object, none at or past it. Blocking (positioned reads on files):
    /// call it where blocking is allowed.
    pub fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let end = offset.saturating_add(len as u64).min(self.version.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        for (file, seg_start, seg_len) in &self.segments {
            let seg_end = seg_start + seg_len;
            if seg_end <= offset || *seg_start >= end {
                continue;
            }
            let from = offset.max(*seg_start);
            let to = end.min(seg_end);
            let at = out.len();
            out.resize(at + (to - from) as usize, 0);
            file.read_exact_at(&mut out[at..], from - seg_start)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PutOptions;

    async fn put(store: &Store, key: &str, body: Vec<u8>) {
        let stream = futures::stream::iter([Ok::<_, io::Error>(bytes::Bytes::from(body))]);
        store
            .put_object(
                "b",
                key,
                stream,
                PutOptions {
                    writer: "alice".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn reads_at_offsets_and_keeps_reading_an_overwritten_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_user("alice", None, Default::default()).await.unwrap();
        store.create_bucket("alice", "b").await.unwrap();
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        put(&store, "k", body.clone()).await;

        let r = store.open_object_reader("b", "k", None).await.unwrap();
        assert_eq!(r.version().size, body.len() as u64);
        assert_eq!(r.read_at(0, 10).unwrap(), &body[..10]);
        assert_eq!(r.read_at(123_456, 32_768).unwrap(), &body[123_456..123_456 + 32_768]);
        assert_eq!(
            r.read_at(299_990, 100).unwrap(),
            &body[299_990..],
            "short read at the end"
        );
        assert!(r.read_at(300_000, 100).unwrap().is_empty());

        put(&store, "k", b"new".to_vec()).await;
        assert_eq!(
            r.read_at(5, 5).unwrap(),
            &body[5..10],
            "the open version stays readable"
        );
        let again = store.open_object_reader("b", "k", None).await.unwrap();
        assert_eq!(again.read_at(0, 100).unwrap(), b"new");
        assert!(matches!(
            store.open_object_reader("b", "missing", None).await,
            Err(StoreError::NoSuchKey)
        ));
    }
}
