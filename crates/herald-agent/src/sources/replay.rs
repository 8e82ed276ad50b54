//! The webhook source's replay guard: a signed event is taken once.
//!
//! A signature (`x-herald-signature`) is valid for its whole time window,
//! so whoever captured one signed POST could send it again and again
//! within that window and have the actions run each time. The guard
//! remembers the MAC of every accepted event until its window closes (after
//! that the window check refuses it anyway), so memory is bounded by the
//! events of one window, and by `replay_cache_entries` on top: when that
//! many live entries are held, new events are refused (503, the publisher
//! retries later) rather than the set growing without bound.
//!
//! The set survives a restart through an append-only file next to the
//! spool (`<expiry> <hex MAC>` per line, `0 <hex MAC>` to forget one),
//! written without fsync: a crash of the agent keeps it (the page cache
//! has it), only a power loss within the window forgets entries. It is
//! compacted when most of its lines have expired.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bytes of the MAC kept per entry: 128 bits make a collision between two
/// genuine events practically impossible, at half the memory.
const KEY_BYTES: usize = 16;
type Key = [u8; KEY_BYTES];

/// What the guard says about one signed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen in its window: recorded, take it.
    Fresh,
    /// The same signature was taken already: drop it.
    Replay,
    /// `replay_cache_entries` live entries are held: refuse it for now.
    Full,
}

pub struct ReplayGuard {
    inner: Mutex<Inner>,
}

struct Inner {
    /// MAC prefix → unix time after which the signature is refused anyway.
    seen: HashMap<Key, i64>,
    cap: usize,
    path: PathBuf,
    file: Option<File>,
    /// Lines in the file (live and dead), to know when to compact it.
    lines: usize,
    last_prune: i64,
}

fn key_of(mac: &[u8]) -> Key {
    let mut k = [0u8; KEY_BYTES];
    let n = mac.len().min(KEY_BYTES);
    k[..n].copy_from_slice(&mac[..n]);
    k
}

impl ReplayGuard {
    /// Loads the entries of `path` still live at `now` and rewrites the
    /// file with only those.
    pub fn open(path: &Path, cap: usize, now: i64) -> io::Result<ReplayGuard> {
        let seen = load(path, now)?;
        let mut inner = Inner {
            seen,
            cap: cap.max(1),
            path: path.to_path_buf(),
            file: None,
            lines: 0,
            last_prune: now,
        };
        inner.compact()?;
        Ok(ReplayGuard {
            inner: Mutex::new(inner),
        })
    }

    /// Records `mac` (valid until `expires`) unless it was seen or the
    /// guard is full.
    pub fn check(&self, mac: &[u8], expires: i64, now: i64) -> Verdict {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = key_of(mac);
        if g.seen.get(&key).is_some_and(|&e| e >= now) {
            return Verdict::Replay;
        }
        if now > g.last_prune || g.seen.len() >= g.cap {
            g.prune(now);
        }
        if g.seen.len() >= g.cap {
            return Verdict::Full;
        }
        g.seen.insert(key, expires);
        g.append(&key, expires);
        Verdict::Fresh
    }

    /// Forgets `mac` again (its event could not be spooled, so a second
    /// delivery of it must be taken).
    pub fn forget(&self, mac: &[u8]) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let key = key_of(mac);
        if g.seen.remove(&key).is_some() {
            g.append(&key, 0);
        }
    }

    /// Live entries (for tests and the log).
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// Drops expired entries; compacts the file when most lines are dead.
    fn prune(&mut self, now: i64) {
        self.last_prune = now;
        self.seen.retain(|_, &mut e| e >= now);
        if self.lines > 2 * self.seen.len() + 1024 {
            let _ = self.compact();
        }
    }

    fn append(&mut self, key: &Key, expires: i64) {
        let Some(f) = self.file.as_mut() else { return };
        if writeln!(f, "{expires} {}", hex::encode(key)).is_ok() {
            self.lines += 1;
        } else {
            // The in-memory guard still holds; only a restart would forget.
            self.file = None;
        }
    }

    /// Rewrites the file with the live entries (temporary file + rename).
    fn compact(&mut self) -> io::Result<()> {
        let tmp = self.path.with_extension("new");
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        for (k, e) in &self.seen {
            writeln!(out, "{e} {}", hex::encode(k))?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        self.file = Some(OpenOptions::new().append(true).open(&self.path)?);
        self.lines = self.seen.len();
        Ok(())
    }
}

/// The entries of the file live at `now`; later lines win; bad lines are skipped.
fn load(path: &Path, now: i64) -> io::Result<HashMap<Key, i64>> {
    let mut seen = HashMap::new();
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(seen),
        Err(e) => return Err(e),
    };
    for line in BufReader::new(f).lines() {
        let line = line?;
        let Some((e, k)) = line.split_once(' ') else { continue };
        let (Ok(e), Ok(k)) = (e.parse::<i64>(), hex::decode(k)) else {
            continue;
        };
        if k.len() == KEY_BYTES {
            seen.insert(key_of(&k), e);
        }
    }
    seen.retain(|_, &mut e| e >= now);
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_taken_once_within_its_window_and_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("replay-guard");
        let g = ReplayGuard::open(&path, 10, 1000).unwrap();
        assert_eq!(g.check(&[1; 32], 1300, 1000), Verdict::Fresh);
        assert_eq!(g.check(&[1; 32], 1300, 1200), Verdict::Replay);
        assert_eq!(g.check(&[2; 32], 1300, 1200), Verdict::Fresh);
        g.forget(&[2; 32]);
        drop(g);
        let g = ReplayGuard::open(&path, 10, 1250).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g.check(&[1; 32], 1300, 1250), Verdict::Replay);
        assert_eq!(g.check(&[2; 32], 1300, 1250), Verdict::Fresh);
        // After the window the entry is gone (the window check refuses
        // such a signature before the guard is asked).
        drop(g);
        let g = ReplayGuard::open(&path, 10, 1301).unwrap();
        assert!(g.is_empty());
    }

    #[test]
    fn memory_is_capped_and_expired_entries_make_room() {
        let dir = tempfile::tempdir().unwrap();
        let g = ReplayGuard::open(&dir.path().join("g"), 2, 0).unwrap();
        assert_eq!(g.check(&[1; 32], 10, 0), Verdict::Fresh);
        assert_eq!(g.check(&[2; 32], 20, 0), Verdict::Fresh);
        assert_eq!(g.check(&[3; 32], 20, 0), Verdict::Full);
        assert_eq!(g.len(), 2);
        assert_eq!(g.check(&[3; 32], 20, 11), Verdict::Fresh);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn the_file_is_compacted_and_garbage_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g");
        std::fs::write(&path, "garbage\n5 zz\n99 0101\n").unwrap();
        let g = ReplayGuard::open(&path, 100_000, 0).unwrap();
        assert!(g.is_empty());
        for i in 0..3000u32 {
            let mut mac = [0u8; 32];
            mac[..4].copy_from_slice(&i.to_be_bytes());
            assert_eq!(g.check(&mac, i64::from(i), i64::from(i)), Verdict::Fresh);
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines < 3000, "{lines} lines: never compacted");
    }
}
