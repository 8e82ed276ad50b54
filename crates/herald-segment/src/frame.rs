//! Record framing: `[body length u32][crc32 of body u32][body]`, little
//! endian. Both logs frame their records this way, so one parser decides
//! what a torn or corrupt record is.

use std::ops::Range;

/// Bytes in front of every record body.
pub const HEADER: usize = 8;

/// The longest body a frame may have. A length above it read from disk is
/// damage ([`Parse::Bad`]) rather than a reason to read that much into
/// memory: recovery's memory stays bounded whatever a corrupt header says.
/// Both owners' records are far smaller (a queue message is at most 256 KiB
/// of body plus attributes, an event record a few KiB).
pub const MAX_BODY: usize = 16 << 20;

/// Starts a frame at the end of `buf`; returns its start for [`finish`].
pub fn begin(buf: &mut Vec<u8>) -> usize {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    start
}

/// Fills in the length and checksum of the frame begun at `start`, whose
/// body is everything after its header; returns the whole frame's length.
pub fn finish(buf: &mut [u8], start: usize) -> usize {
    let body = &buf[start + HEADER..];
    assert!(
        body.len() <= MAX_BODY,
        "a frame body over MAX_BODY would read back as damage"
    );
    let len = body.len() as u32;
    let crc = crc32fast::hash(body);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    buf.len() - start
}

/// What the bytes at some offset of a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// A whole, intact frame: its body's range within the parsed bytes and
    /// the frame's length.
    Ok { body: Range<usize>, len: usize },
    /// Fewer bytes than the frame needs (`need` in all, header included):
    /// read more, or it is a torn tail.
    Short { need: usize },
    /// A header or checksum that makes no sense: damage (or zero fill).
    Bad,
}

/// Parses the frame at `buf[0]`. A body shorter than `min_body` (the fixed
/// part the owner's records always have) is [`Parse::Bad`], which also
/// makes zero-filled space end a scan.
pub fn parse(buf: &[u8], min_body: usize) -> Parse {
    if buf.len() < HEADER {
        return Parse::Short { need: HEADER };
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len < min_body.max(1) || len > MAX_BODY {
        return Parse::Bad;
    }
    let end = HEADER + len;
    if buf.len() < end {
        return Parse::Short { need: end };
    }
    if crc32fast::hash(&buf[HEADER..end]) != crc {
        return Parse::Bad;
    }
    Parse::Ok {
        body: HEADER..end,
        len: end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_damage_is_seen() {
        let mut buf = Vec::new();
        let s = begin(&mut buf);
        buf.extend_from_slice(b"hello");
        assert_eq!(finish(&mut buf, s), HEADER + 5);
        assert_eq!(
            parse(&buf, 1),
            Parse::Ok {
                body: HEADER..HEADER + 5,
                len: HEADER + 5
            }
        );
        assert_eq!(parse(&buf, 6), Parse::Bad);
        assert_eq!(parse(&buf[..HEADER + 4], 1), Parse::Short { need: HEADER + 5 });
        assert_eq!(parse(&buf[..3], 1), Parse::Short { need: HEADER });
        assert_eq!(parse(&[0u8; 64], 1), Parse::Bad, "zero fill is not a frame");
        // A length over MAX_BODY is damage at once, not a frame to read in.
        let mut huge = ((MAX_BODY + 1) as u32).to_le_bytes().to_vec();
        huge.extend_from_slice(&[0u8; 4]);
        assert_eq!(parse(&huge, 1), Parse::Bad);
        let mut largest = (MAX_BODY as u32).to_le_bytes().to_vec();
        largest.extend_from_slice(&[0u8; 4]);
        assert_eq!(
            parse(&largest, 1),
            Parse::Short {
                need: HEADER + MAX_BODY
            }
        );
        buf[HEADER + 1] ^= 1;
        assert_eq!(parse(&buf, 1), Parse::Bad);
    }
}
