//! Side files: fixed-size state records about a segment's records (acked,
//! deleted, retried, received), appended with plain `write()`.
//!
//! They are not fsynced on the hot path: the page cache survives `kill -9`,
//! and losing their tail in a power loss only brings a record back (a
//! redelivery, which at-least-once allows). Fixed-size records make a torn
//! tail trivial to find.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// A segment's side file, opened on its first record (most segments of a
/// healthy log are drained and deleted without ever needing one).
#[derive(Default)]
pub struct SideFile {
    file: Option<File>,
}

impl SideFile {
    /// Appends whole records; `path` is asked for the first time only
    /// (the hot path acks an event with one `write()`, not a path built
    /// again each time).
    pub fn append(&mut self, path: impl FnOnce() -> PathBuf, records: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().create(true).append(true).mode(0o600).open(path())?);
        }
        self.file.as_mut().expect("opened above").write_all(records)
    }

    /// fsyncs what was appended, for records that must not come back.
    pub fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

/// Reads a side file's records of `rec_len` bytes in order, handing each to
/// `apply`, which returns false for one that is not valid (bad checksum,
/// unknown kind, zeroed pages after a power loss). Reading stops there, and
/// the file is cut back to the valid records so later appends stay aligned.
/// A missing file has no records.
pub fn read_side(path: &Path, rec_len: usize, mut apply: impl FnMut(&[u8]) -> bool) -> io::Result<()> {
    let data = match fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut valid = 0;
    for rec in data.chunks_exact(rec_len) {
        if !apply(rec) {
            break;
        }
        valid += rec_len;
    }
    if valid < data.len() {
        OpenOptions::new().write(true).open(path)?.set_len(valid as u64)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_and_torn_records_end_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.side");
        let mut side = SideFile::default();
        side.append(|| path.clone(), &[1, 1, 1, 1, 2, 2, 2, 2]).unwrap();
        side.append(|| path.clone(), &[0, 0, 0, 0, 3, 3]).unwrap();
        side.sync().unwrap();
        let mut seen = Vec::new();
        read_side(&path, 4, |r| {
            seen.push(r[0]);
            r[0] != 0
        })
        .unwrap();
        assert_eq!(seen, vec![1, 2, 0]);
        assert_eq!(fs::metadata(&path).unwrap().len(), 8, "cut back to the valid records");
        read_side(&dir.path().join("missing"), 4, |_| panic!("no records")).unwrap();
    }
}
