//! Recovery: reading a segment's frames back, and cutting off a torn tail.
//!
//! A crash can leave the last write of a segment half done, and power loss
//! can leave zeroed pages; both end the valid prefix. Memory must not grow
//! with the segment (64 MiB queue segments, and a recovering server may
//! open thousands), so the file is streamed through a small window that
//! grows only to hold one large record.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use crate::frame::{self, Parse};

/// Bytes read at a time while scanning.
const WINDOW: usize = 1 << 20;

/// Where a segment's valid prefix ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    /// Offset just past the last valid frame `each` accepted.
    pub valid: u64,
    pub file_len: u64,
}

impl Scanned {
    pub fn is_complete(&self) -> bool {
        self.valid == self.file_len
    }
}

/// Calls `each(offset, frame, body)` for the segment's frames in file
/// order, `frame` being the whole frame's bytes and `body` the body's range
/// within it, until the first torn, corrupt or short-bodied frame, or until
/// `each` returns false (a record that is intact but not the one expected).
pub fn scan_segment(
    file: &File,
    min_body: usize,
    each: impl FnMut(u64, &[u8], Range<usize>) -> bool,
) -> io::Result<Scanned> {
    scan_prefix(file, min_body, file.metadata()?.len(), each)
}

/// [`scan_segment`] over the file's first `len` bytes only: for a reader of
/// a segment that is still written (or trimmed) meanwhile, which knows how
/// far its records go. Past the file's end it stops as at a torn tail.
pub fn scan_prefix(
    file: &File,
    min_body: usize,
    len: u64,
    mut each: impl FnMut(u64, &[u8], Range<usize>) -> bool,
) -> io::Result<Scanned> {
    // A write that failed may have left the file shorter than its index
    // thought: read what is there.
    let file_len = len.min(file.metadata()?.len());
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_off = 0u64; // file offset of buf[0]
    let mut pos = 0usize; // parse position in buf
    loop {
        let need = match frame::parse(&buf[pos..], min_body) {
            Parse::Ok { body, len } => {
                if !each(buf_off + pos as u64, &buf[pos..pos + len], body) {
                    break;
                }
                pos += len;
                continue;
            }
            Parse::Short { need } => need,
            Parse::Bad => break,
        };
        buf.drain(..pos);
        buf_off += pos as u64;
        pos = 0;
        if buf_off + need as u64 > file_len {
            // The frame would end past the file: a torn tail, not worth reading.
            break;
        }
        let old = buf.len();
        let avail = (file_len - buf_off - old as u64) as usize;
        let add = need.max(WINDOW).saturating_sub(old).min(avail);
        if add == 0 {
            break;
        }
        buf.resize(old + add, 0);
        match file.read_exact_at(&mut buf[old..], buf_off + old as u64) {
            Ok(()) => {}
            // Shorter than `len` (trimmed since): the end of the records.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                buf.truncate(old);
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Scanned {
        valid: buf_off + pos as u64,
        file_len,
    })
}

/// What was past a segment's valid prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// Nothing.
    Clean,
    /// Zeros only: space a writer filled ahead of its records, not damage.
    ZeroFill,
    /// Bytes that were not whole records (a torn write or corruption).
    Damaged { dropped: u64 },
}

/// Cuts the segment back to its valid prefix (durably), so appends never
/// follow damage, and says what was cut.
pub fn truncate_tail(file: &File, scanned: Scanned) -> io::Result<Tail> {
    if scanned.is_complete() {
        return Ok(Tail::Clean);
    }
    let tail = if is_zero(file, scanned.valid, scanned.file_len)? {
        Tail::ZeroFill
    } else {
        Tail::Damaged {
            dropped: scanned.file_len - scanned.valid,
        }
    };
    file.set_len(scanned.valid)?;
    file.sync_data()?;
    Ok(tail)
}

fn is_zero(file: &File, mut off: u64, end: u64) -> io::Result<bool> {
    let mut buf = vec![0u8; 1 << 16];
    while off < end {
        let n = ((end - off) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], off)?;
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        off += n as u64;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        let s = frame::begin(&mut buf);
        buf.extend_from_slice(body);
        frame::finish(&mut buf, s);
        buf
    }

    fn file_with(parts: &[&[u8]]) -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        for p in parts {
            f.write_all(p).unwrap();
        }
        (dir, f)
    }

    fn bodies(f: &File) -> (Vec<Vec<u8>>, Scanned) {
        let mut out = Vec::new();
        let s = scan_segment(f, 1, |_, fr, body| {
            out.push(fr[body].to_vec());
            true
        })
        .unwrap();
        (out, s)
    }

    #[test]
    fn a_torn_tail_is_cut_and_zero_fill_is_not_damage() {
        let a = frame(b"first");
        let b = frame(&vec![7u8; 3 * WINDOW]); // larger than the window
        let c = frame(b"torn");
        let (_d, f) = file_with(&[&a, &b, &c[..c.len() - 1]]);
        let (got, s) = bodies(&f);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].len(), 3 * WINDOW);
        assert_eq!(s.valid, (a.len() + b.len()) as u64);
        assert_eq!(
            truncate_tail(&f, s).unwrap(),
            Tail::Damaged {
                dropped: c.len() as u64 - 1
            }
        );
        assert_eq!(f.metadata().unwrap().len(), s.valid);

        let (_d, f) = file_with(&[&a, &[0u8; 4096]]);
        let (got, s) = bodies(&f);
        assert_eq!((got.len(), s.valid), (1, a.len() as u64));
        assert_eq!(truncate_tail(&f, s).unwrap(), Tail::ZeroFill);
        let (_, s) = bodies(&f);
        assert_eq!(truncate_tail(&f, s).unwrap(), Tail::Clean);
    }

    #[test]
    fn a_refused_record_ends_the_valid_prefix() {
        let (_d, f) = file_with(&[&frame(b"1"), &frame(b"2"), &frame(b"3")]);
        let mut n = 0;
        let s = scan_segment(&f, 1, |_, fr, body| {
            n += 1;
            &fr[body] != b"2"
        })
        .unwrap();
        assert_eq!((n, s.valid), (2, 9));
    }

    #[test]
    fn a_corrupt_length_ends_the_scan_at_the_last_good_record() {
        let mut bogus = frame(b"x");
        bogus[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (_d, f) = file_with(&[&frame(b"ok"), &bogus]);
        let (got, s) = bodies(&f);
        assert_eq!((got.len(), s.valid), (1, 10));
    }
}
