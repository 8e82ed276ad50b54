//! Segment files on disk: their names, creation, listing and removal.
//!
//! A segment is named after the id (or sequence number) of its first record,
//! zero padded so a plain sort is id order: `seg-<first:020>.log`. Its side
//! file has the same stem and the owner's extension (`ack` for delivery
//! logs, `side` for queues; kept apart for compatibility with existing data
//! directories). Files are private to the server's user (mode 0600).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

pub fn segment_name(first: u64) -> String {
    format!("seg-{first:020}.log")
}

pub fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(segment_name(first))
}

/// The side file of segment `first`, with the owner's extension.
pub fn side_path(dir: &Path, first: u64, ext: &str) -> PathBuf {
    dir.join(format!("seg-{first:020}.{ext}"))
}

/// Parses `seg-<first>.log` back to its first id.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    name.strip_prefix("seg-")?.strip_suffix(".log")?.parse().ok()
}

/// The segments in `dir`, by first id, oldest first.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for ent in fs::read_dir(dir)? {
        if let Some(first) = ent?.file_name().to_str().and_then(parse_segment_name) {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Creates an empty segment file (the caller fsyncs the directory before it
/// relies on the name). Ids only grow, so an existing non-empty file of that
/// name would be a bug: it is refused rather than overwritten.
pub fn create_segment(dir: &Path, first: u64) -> io::Result<File> {
    let path = segment_path(dir, first);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)?;
    if file.metadata()?.len() != 0 {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("segment {} already has data", path.display()),
        ));
    }
    Ok(file)
}

/// Opens an existing segment for recovery (read and write: a torn tail is
/// cut off).
pub fn open_segment(dir: &Path, first: u64) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(segment_path(dir, first))
}

/// Deletes a segment and its side file. Failures are logged, not returned:
/// a leftover drained file costs disk space, never correctness, because
/// recovery finds nothing live in it.
pub fn remove_segment(dir: &Path, first: u64, side_ext: &str) {
    for path in [segment_path(dir, first), side_path(dir, first, side_ext)] {
        if let Err(e) = fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete drained segment file");
        }
    }
}

/// Makes the directory's entries (a new segment's name) durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_id_and_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        for first in [10, 2, 300] {
            create_segment(dir.path(), first).unwrap();
        }
        fs::write(dir.path().join("seg-00000000000000000002.ack"), b"").unwrap();
        fs::write(dir.path().join("topic"), b"x").unwrap();
        assert_eq!(list_segments(dir.path()).unwrap(), vec![2, 10, 300]);
        assert_eq!(parse_segment_name(&segment_name(7)), Some(7));
        use std::io::Write as _;
        open_segment(dir.path(), 10).unwrap().write_all(b"data").unwrap();
        assert!(
            create_segment(dir.path(), 10).is_err(),
            "a segment with data is never overwritten"
        );
        remove_segment(dir.path(), 2, "ack");
        assert!(!dir.path().join("seg-00000000000000000002.ack").exists());
        assert_eq!(list_segments(dir.path()).unwrap(), vec![10, 300]);
    }
}
