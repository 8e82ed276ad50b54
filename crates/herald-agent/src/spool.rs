//! The webhook source's durable spool: one file per received message.
//!
//! A message is written to a temporary file, fsynced, renamed into place
//! and the directory fsynced before the sender gets its 200, so an
//! acknowledged event survives a crash of the agent or the machine. A file
//! is removed only after every action applied it; at start the agent
//! replays whatever is left, in arrival order.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Spool {
    dir: PathBuf,
    next: AtomicU64,
}

impl Spool {
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let mut max = 0;
        for e in fs::read_dir(dir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".tmp-") {
                // A write that never completed was never acknowledged.
                let _ = fs::remove_file(e.path());
            } else if let Some(n) = name.strip_suffix(".json").and_then(|n| n.parse::<u64>().ok()) {
                max = max.max(n);
            }
        }
        Ok(Spool {
            dir: dir.to_path_buf(),
            next: AtomicU64::new(max + 1),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Durably stores one message; returns its file.
    pub fn write(&self, body: &[u8]) -> io::Result<PathBuf> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".tmp-{n:020}"));
        let dst = self.dir.join(format!("{n:020}.json"));
        let mut f = File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &dst)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(dst)
    }

    /// Messages not yet applied, oldest first.
    pub fn pending(&self) -> io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        v.sort();
        Ok(v)
    }

    pub fn remove(&self, path: &Path) -> io::Result<()> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_in_order_and_numbering_continues() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        let a = s.write(b"a").unwrap();
        let b = s.write(b"b").unwrap();
        std::fs::write(dir.path().join(".tmp-00000000000000000009"), b"partial").unwrap();
        drop(s);
        let s = Spool::open(dir.path()).unwrap();
        assert_eq!(s.pending().unwrap(), vec![a.clone(), b.clone()]);
        s.remove(&a).unwrap();
        let c = s.write(b"c").unwrap();
        assert!(c > b);
        assert_eq!(s.pending().unwrap(), vec![b, c]);
        assert!(!dir.path().join(".tmp-00000000000000000009").exists());
    }
}
