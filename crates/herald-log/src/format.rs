//! On-disk formats: what a delivery-log record and side record hold, and
//! topic directory names. The framing, segment files and recovery around
//! them are herald-segment's, shared with the queues.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_segment::frame;

/// The frame header in front of every record body.
pub(crate) const REC_HEADER: usize = frame::HEADER;
/// Fixed part of a record body: id u64, enqueue time (ms) u64, key length u32.
pub(crate) const BODY_FIXED: usize = 20;
/// Bytes a record costs on disk besides its key and payload. Limits and
/// `TopicStats::bytes` count whole records so they track disk usage.
pub(crate) const REC_OVERHEAD: usize = REC_HEADER + BODY_FIXED;

/// Side-file record size. Fixed size makes a torn tail trivially detectable.
pub(crate) const SIDE_REC: usize = 32;
/// Side record kind: the entry was acked or dropped.
pub(crate) const SIDE_GONE: u8 = 1;
/// Side record kind: the entry failed; carries its new attempt count and due time.
pub(crate) const SIDE_RETRY: u8 = 2;
/// Side record kind: the entry never was an event (its transaction did not
/// commit, or its write failed). Gone like an acked one, but a replay of
/// the retained log skips it.
pub(crate) const SIDE_VOID: u8 = 3;

/// Name of the file inside a topic directory that holds the real topic name.
pub(crate) const NAME_FILE: &str = "topic";

pub(crate) fn record_len(key: &str, payload: &[u8]) -> usize {
    REC_OVERHEAD + key.len() + payload.len()
}

/// Appends one record to `buf`: body = id u64, enqueue time (ms) u64, key
/// length u32, key, payload.
pub(crate) fn encode_record(buf: &mut Vec<u8>, id: u64, enqueued_ms: u64, key: &str, payload: &[u8]) {
    let start = frame::begin(buf);
    buf.extend_from_slice(&id.to_le_bytes());
    buf.extend_from_slice(&enqueued_ms.to_le_bytes());
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(payload);
    frame::finish(buf, start);
}

/// A decoded record; `key` and `payload` are ranges into the record bytes so
/// callers can slice a shared buffer without copying.
pub(crate) struct Decoded {
    pub id: u64,
    pub enqueued_ms: u64,
    pub key: std::ops::Range<usize>,
    pub payload: std::ops::Range<usize>,
    /// Whole record length including the header.
    pub len: usize,
}

/// Decodes the record starting at `buf[0]`; `None` unless it is a whole,
/// intact record.
pub(crate) fn decode_record(buf: &[u8]) -> Option<Decoded> {
    let frame::Parse::Ok { body, len } = frame::parse(buf, BODY_FIXED) else {
        return None;
    };
    decode_body(buf, body, len)
}

/// Decodes an intact frame's body (`buf[body]`, the frame `len` long).
pub(crate) fn decode_body(buf: &[u8], body: std::ops::Range<usize>, len: usize) -> Option<Decoded> {
    let (body_start, body_len) = (body.start, body.len());
    let body = &buf[body];
    let id = u64::from_le_bytes(body[0..8].try_into().unwrap());
    let enqueued_ms = u64::from_le_bytes(body[8..16].try_into().unwrap());
    let key_len = u32::from_le_bytes(body[16..20].try_into().unwrap()) as usize;
    if key_len > body_len - BODY_FIXED {
        return None;
    }
    let key_start = body_start + BODY_FIXED;
    Some(Decoded {
        id,
        enqueued_ms,
        key: key_start..key_start + key_len,
        payload: key_start + key_len..body_start + body_len,
        len,
    })
}

/// Appends one side-file record.
pub(crate) fn encode_side(buf: &mut Vec<u8>, kind: u8, id: u64, attempts: u32, next_ms: u64) {
    let start = buf.len();
    buf.push(kind);
    buf.extend_from_slice(&[0; 3]);
    buf.extend_from_slice(&attempts.to_le_bytes());
    buf.extend_from_slice(&id.to_le_bytes());
    buf.extend_from_slice(&next_ms.to_le_bytes());
    let crc = crc32fast::hash(&buf[start..start + 24]);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
}

pub(crate) struct SideRec {
    pub kind: u8,
    pub id: u64,
    pub attempts: u32,
    pub next_ms: u64,
}

/// Decodes a side record; `None` for garbage (e.g. zeroed pages after power loss).
pub(crate) fn decode_side(rec: &[u8]) -> Option<SideRec> {
    let crc = u32::from_le_bytes(rec[24..28].try_into().unwrap());
    if crc32fast::hash(&rec[..24]) != crc {
        return None;
    }
    let kind = rec[0];
    if kind != SIDE_GONE && kind != SIDE_RETRY && kind != SIDE_VOID {
        return None;
    }
    Some(SideRec {
        kind,
        attempts: u32::from_le_bytes(rec[4..8].try_into().unwrap()),
        id: u64::from_le_bytes(rec[8..16].try_into().unwrap()),
        next_ms: u64::from_le_bytes(rec[16..24].try_into().unwrap()),
    })
}

/// Extension of a delivery log's side files (`seg-<first>.ack`).
pub(crate) const SIDE_EXT: &str = "ack";

/// Maps an arbitrary topic name to a safe directory name: `[A-Za-z0-9_-]` are
/// kept, every other byte becomes `%XX` (so `.`/`..`/`/` cannot escape). Very
/// long names are cut and made unique with a hash; the real name is always
/// stored in the directory's [`NAME_FILE`], so the mapping never has to be
/// reversed.
pub(crate) fn topic_dir_name(topic: &str) -> String {
    let mut out = String::with_capacity(topic.len() + 2);
    out.push('t');
    out.push('_');
    for b in topic.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > 200 {
        // Cut on a char boundary (the string is ASCII) and add a name hash.
        out.truncate(160);
        out.push_str(&format!("~{:016x}", fnv64(topic.as_bytes())));
    }
    out
}

/// Inverse of [`topic_dir_name`] for names that were not shortened; used only
/// when the name file is missing.
pub(crate) fn decode_topic_dir_name(dir: &str) -> Option<String> {
    let s = dir.strip_prefix("t_")?;
    if s.contains('~') {
        return None;
    }
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Stable 64-bit FNV-1a; only used for directory names, where it must never
/// change between versions.
pub(crate) fn fnv64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Key hash used for per-key ordering. In-memory only (recomputed at
/// recovery); a collision merely serialises two keys, it never reorders one.
pub(crate) fn key_hash(key: &[u8]) -> u64 {
    // FNV plus a final mix so the low bits (used by the hash table) are good.
    let mut h = fnv64(key);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

pub(crate) fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Rounds up, so an entry due at `t` is never handed out before `t`.
pub(crate) fn to_ms_ceil(t: SystemTime) -> u64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => {
            let ms = d.as_millis() as u64;
            if d.subsec_nanos() % 1_000_000 != 0 { ms + 1 } else { ms }
        }
        Err(_) => 0,
    }
}

pub(crate) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub(crate) fn now_ms() -> u64 {
    to_ms(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 7, 1234, "k/ey", b"payload");
        assert_eq!(buf.len(), record_len("k/ey", b"payload"));
        let d = decode_record(&buf).expect("decode");
        assert_eq!((d.id, d.enqueued_ms, d.len), (7, 1234, buf.len()));
        assert_eq!(&buf[d.key], b"k/ey");
        assert_eq!(&buf[d.payload], b"payload");
        assert!(decode_record(&buf[..buf.len() - 1]).is_none());
        buf[10] ^= 1;
        assert!(decode_record(&buf).is_none());
    }

    #[test]
    fn dir_names_are_safe() {
        for name in ["a", "../x", "a/b", ".", "ü", "x y%"] {
            let d = topic_dir_name(name);
            assert!(
                d.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)),
                "{d}"
            );
            assert_eq!(decode_topic_dir_name(&d).as_deref(), Some(name));
        }
        let long = "x".repeat(1000);
        assert!(topic_dir_name(&long).len() <= 200);
        assert_ne!(topic_dir_name(&long), topic_dir_name(&"x".repeat(999)));
    }
}
