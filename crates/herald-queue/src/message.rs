//! Message validation, AWS checksums, the on-disk record format and receipt
//! handles.
//!
//! Everything here is pure (no locks, no I/O) so it can run in the caller's
//! task before the group-commit writer is involved.

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use crate::{MessageAttributeValue, QueueError};

/// Largest per-message delay AWS accepts.
pub(crate) const MAX_DELAY_SECS: u32 = 900;
/// AWS limit on user message attributes per message.
const MAX_MESSAGE_ATTRIBUTES: usize = 10;
/// AWS limit on group and deduplication id length.
const MAX_ID_LEN: usize = 128;
/// FIFO deduplication window.
pub(crate) const DEDUP_WINDOW_MS: u64 = 5 * 60 * 1000;

/// Characters SQS accepts in a message (the XML 1.0 `Char` production), so
/// that every message can be rendered by the query (XML) protocol.
pub(crate) fn valid_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Hex MD5 of the body, as returned in `MD5OfMessageBody`.
pub fn md5_of_body(body: &str) -> String {
    hex::encode(Md5::digest(body.as_bytes()))
}

fn is_binary(data_type: &str) -> bool {
    data_type == "Binary" || data_type.starts_with("Binary.")
}

/// `MD5OfMessageAttributes` with AWS's algorithm: attributes sorted by name;
/// for each, length-prefixed (4-byte big-endian) name and data type, a
/// transport byte (1 = String/Number, 2 = Binary) and the length-prefixed
/// value. SDKs recompute this and reject responses that differ, so it must be
/// bit-exact. `None` when there are no attributes (AWS omits the field).
pub fn md5_of_attributes(attrs: &BTreeMap<String, MessageAttributeValue>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    fn put(h: &mut Md5, b: &[u8]) {
        h.update((b.len() as u32).to_be_bytes());
        h.update(b);
    }
    let mut h = Md5::new();
    // BTreeMap<String, _> iterates in byte order, which equals AWS's order
    // for the ASCII names attribute validation allows.
    for (name, v) in attrs {
        put(&mut h, name.as_bytes());
        put(&mut h, v.data_type.as_bytes());
        if is_binary(&v.data_type) {
            h.update([2u8]);
            put(&mut h, v.binary_value.as_deref().unwrap_or(&[]));
        } else {
            h.update([1u8]);
            put(&mut h, v.string_value.as_deref().unwrap_or("").as_bytes());
        }
    }
    Some(hex::encode(h.finalize()))
}

/// Content-based deduplication id: hex SHA-256 of the body (what AWS uses and
/// reports as `MessageDeduplicationId`).
pub(crate) fn content_dedup_id(body: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(body.as_bytes()))
}

/// Bytes the message counts against `MaximumMessageSize`: body plus every
/// attribute's name, type and value.
pub(crate) fn message_size(body: &str, attrs: &BTreeMap<String, MessageAttributeValue>) -> usize {
    body.len()
        + attrs
            .iter()
            .map(|(n, v)| {
                n.len()
                    + v.data_type.len()
                    + v.string_value.as_ref().map_or(0, |s| s.len())
                    + v.binary_value.as_ref().map_or(0, |b| b.len())
            })
            .sum::<usize>()
}

fn invalid(msg: impl Into<String>) -> QueueError {
    QueueError::InvalidParameterValue(msg.into())
}

/// AWS rules for message attribute names: `[A-Za-z0-9_.-]`, at most 256,
/// no leading/trailing/double period, no reserved `AWS.`/`Amazon.` prefix.
fn check_attribute_name(name: &str) -> Result<(), QueueError> {
    let bad = name.is_empty()
        || name.len() > 256
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        || name.starts_with('.')
        || name.ends_with('.')
        || name.contains("..")
        || name.to_ascii_lowercase().starts_with("aws.")
        || name.to_ascii_lowercase().starts_with("amazon.");
    if bad {
        return Err(invalid(format!("Message attribute name '{name}' is invalid.")));
    }
    Ok(())
}

fn check_attribute_value(name: &str, v: &MessageAttributeValue) -> Result<(), QueueError> {
    let base = v.data_type.split('.').next().unwrap_or("");
    let custom_ok = match v.data_type.split_once('.') {
        None => true,
        Some((_, c)) => !c.is_empty() && c.chars().all(valid_xml_char),
    };
    if !matches!(base, "String" | "Number" | "Binary") || !custom_ok || v.data_type.len() > 256 {
        return Err(invalid(format!(
            "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )));
    }
    if base == "Binary" {
        match &v.binary_value {
            Some(b) if !b.is_empty() => Ok(()),
            _ => Err(invalid(format!(
                "Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
            ))),
        }
    } else {
        let s = match &v.string_value {
            Some(s) if !s.is_empty() => s,
            _ => {
                return Err(invalid(format!(
                    "Message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
                )));
            }
        };
        if !s.chars().all(valid_xml_char) {
            return Err(QueueError::InvalidMessageContents(format!(
                "Message (user) attribute '{name}' contains invalid characters."
            )));
        }
        if base == "Number" && (s.trim() != s || s.parse::<f64>().is_err() || s.len() > 40) {
            return Err(invalid(format!(
                "Can't cast the value of message (user) attribute '{name}' to a number."
            )));
        }
        Ok(())
    }
}

pub(crate) fn check_attributes(attrs: &BTreeMap<String, MessageAttributeValue>) -> Result<(), QueueError> {
    if attrs.len() > MAX_MESSAGE_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_MESSAGE_ATTRIBUTES}].",
            attrs.len()
        )));
    }
    for (n, v) in attrs {
        check_attribute_name(n)?;
        check_attribute_value(n, v)?;
    }
    Ok(())
}

/// Only `AWSTraceHeader` (a String) may be sent as a message system attribute.
pub(crate) fn check_system_attributes(attrs: &BTreeMap<String, MessageAttributeValue>) -> Result<(), QueueError> {
    for (n, v) in attrs {
        if n != "AWSTraceHeader" {
            return Err(invalid(format!("Message system attribute name '{n}' is invalid.")));
        }
        if v.data_type != "String" || v.string_value.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(
                "Message system attribute 'AWSTraceHeader' must be a non-empty String.",
            ));
        }
        check_attribute_value(n, v)?;
    }
    Ok(())
}

/// Group and deduplication ids: 1-128 printable ASCII characters.
pub(crate) fn check_fifo_id(param: &str, id: &str) -> Result<(), QueueError> {
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(format!(
            "Value {id} for parameter {param} is invalid. Reason: it must be 1-128 alphanumeric or punctuation characters."
        )));
    }
    Ok(())
}

/// A message as stored on disk (and as moved to a dead-letter queue).
#[derive(Clone, Debug, Default)]
pub(crate) struct Msg {
    pub message_id: [u8; 16],
    pub sent_ms: u64,
    pub group: String,
    pub dedup: String,
    pub sender: String,
    /// Set on messages a redrive moved here: the source queue's ARN.
    pub source_arn: String,
    pub attributes: BTreeMap<String, MessageAttributeValue>,
    pub system: BTreeMap<String, MessageAttributeValue>,
    pub body: String,
}

pub(crate) fn format_message_id(id: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*id).hyphenated().to_string()
}

// ---- record format ----
//
// frame:   [payload len u32][crc32(payload) u32][payload]
// payload: [kind u8 = 1][seq u64][sent ms u64][visible-at ms u64][message id 16]
//          [group len u16][dedup len u16][sender len u16][source arn len u16]
//          [attrs len u32][system attrs len u32][body len u32]
//          [group][dedup][sender][source arn][attrs][system attrs][body]
// attrs:   [count u16] then per attribute [name len u16][name][type len u16]
//          [type][transport u8: 1 string, 2 binary][value len u32][value]
// All integers little-endian.

#[cfg(test)]
const FRAME_HEADER: usize = herald_segment::frame::HEADER;
const KIND_MESSAGE: u8 = 1;
pub(crate) const FIXED: usize = 1 + 8 + 8 + 8 + 16 + 2 * 4 + 4 * 3;

fn encode_attrs(out: &mut Vec<u8>, attrs: &BTreeMap<String, MessageAttributeValue>) {
    if attrs.is_empty() {
        return;
    }
    out.extend_from_slice(&(attrs.len() as u16).to_le_bytes());
    for (n, v) in attrs {
        out.extend_from_slice(&(n.len() as u16).to_le_bytes());
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(&(v.data_type.len() as u16).to_le_bytes());
        out.extend_from_slice(v.data_type.as_bytes());
        let (tag, val): (u8, &[u8]) = if is_binary(&v.data_type) {
            (2, v.binary_value.as_deref().unwrap_or(&[]))
        } else {
            (1, v.string_value.as_deref().unwrap_or("").as_bytes())
        };
        out.push(tag);
        out.extend_from_slice(&(val.len() as u32).to_le_bytes());
        out.extend_from_slice(val);
    }
}

/// Appends one framed record to `out`; returns its length.
pub(crate) fn encode_record(out: &mut Vec<u8>, seq: u64, visible_at: u64, m: &Msg) -> usize {
    let start = herald_segment::frame::begin(out);
    let mut attrs = Vec::new();
    encode_attrs(&mut attrs, &m.attributes);
    let mut sys = Vec::new();
    encode_attrs(&mut sys, &m.system);
    out.push(KIND_MESSAGE);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&m.sent_ms.to_le_bytes());
    out.extend_from_slice(&visible_at.to_le_bytes());
    out.extend_from_slice(&m.message_id);
    for s in [&m.group, &m.dedup, &m.sender, &m.source_arn] {
        out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    }
    for l in [attrs.len(), sys.len(), m.body.len()] {
        out.extend_from_slice(&(l as u32).to_le_bytes());
    }
    for s in [&m.group, &m.dedup, &m.sender, &m.source_arn] {
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&attrs);
    out.extend_from_slice(&sys);
    out.extend_from_slice(m.body.as_bytes());
    herald_segment::frame::finish(out, start)
}

/// The part of a record recovery needs, borrowed from the payload.
pub(crate) struct Header<'a> {
    pub seq: u64,
    pub sent_ms: u64,
    pub visible_at: u64,
    pub message_id: [u8; 16],
    pub group: &'a str,
    pub dedup: &'a str,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<usize> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize)
    }
    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self, n: usize) -> Option<&'a str> {
        std::str::from_utf8(self.take(n)?).ok()
    }
}

struct Lens {
    strs: [usize; 4],
    attrs: usize,
    sys: usize,
    body: usize,
}

fn decode_fixed<'a>(c: &mut Cursor<'a>) -> Option<(u64, u64, u64, [u8; 16], Lens)> {
    if c.b.len() < FIXED || c.u8()? != KIND_MESSAGE {
        return None;
    }
    let seq = c.u64()?;
    let sent = c.u64()?;
    let vis = c.u64()?;
    let id: [u8; 16] = c.take(16)?.try_into().ok()?;
    let strs = [c.u16()?, c.u16()?, c.u16()?, c.u16()?];
    let lens = Lens {
        strs,
        attrs: c.u32()?,
        sys: c.u32()?,
        body: c.u32()?,
    };
    Some((seq, sent, vis, id, lens))
}

/// Parses the header of a payload (frame already checked).
pub(crate) fn decode_header(payload: &[u8]) -> Option<Header<'_>> {
    let mut c = Cursor { b: payload, pos: 0 };
    let (seq, sent_ms, visible_at, message_id, lens) = decode_fixed(&mut c)?;
    let group = c.str(lens.strs[0])?;
    let dedup = c.str(lens.strs[1])?;
    let rest: usize = lens.strs[2] + lens.strs[3] + lens.attrs + lens.sys + lens.body;
    if c.pos + rest != payload.len() {
        return None;
    }
    Some(Header {
        seq,
        sent_ms,
        visible_at,
        message_id,
        group,
        dedup,
    })
}

fn decode_attrs(b: &[u8]) -> Option<BTreeMap<String, MessageAttributeValue>> {
    let mut out = BTreeMap::new();
    if b.is_empty() {
        return Some(out);
    }
    let mut c = Cursor { b, pos: 0 };
    let n = c.u16()?;
    for _ in 0..n {
        let l = c.u16()?;
        let name = c.str(l)?.to_owned();
        let l = c.u16()?;
        let data_type = c.str(l)?.to_owned();
        let tag = c.u8()?;
        let l = c.u32()?;
        let val = c.take(l)?;
        let v = if tag == 2 {
            MessageAttributeValue {
                data_type,
                string_value: None,
                binary_value: Some(val.to_vec()),
            }
        } else {
            MessageAttributeValue {
                data_type,
                string_value: Some(std::str::from_utf8(val).ok()?.to_owned()),
                binary_value: None,
            }
        };
        out.insert(name, v);
    }
    Some(out)
}

/// Parses a whole framed record (as read back at receive time), checking its
/// frame and checksum. Returns `(seq, message)`.
pub(crate) fn decode_record(frame: &[u8]) -> Option<(u64, Msg)> {
    let herald_segment::Parse::Ok { body, .. } = herald_segment::frame::parse(frame, FIXED) else {
        return None;
    };
    let payload = &frame[body];
    let mut c = Cursor { b: payload, pos: 0 };
    let (seq, sent_ms, _vis, message_id, lens) = decode_fixed(&mut c)?;
    let group = c.str(lens.strs[0])?.to_owned();
    let dedup = c.str(lens.strs[1])?.to_owned();
    let sender = c.str(lens.strs[2])?.to_owned();
    let source_arn = c.str(lens.strs[3])?.to_owned();
    let attributes = decode_attrs(c.take(lens.attrs)?)?;
    let system = decode_attrs(c.take(lens.sys)?)?;
    let body = c.str(lens.body)?.to_owned();
    Some((
        seq,
        Msg {
            message_id,
            sent_ms,
            group,
            dedup,
            sender,
            source_arn,
            attributes,
            system,
            body,
        },
    ))
}

// ---- receipt handles ----
//
// 48 lowercase hex digits: queue id (16), sequence number (16), receive
// count (8), crc32 of the first 40 digits (8). The queue id makes a handle
// from another (or a deleted and re-created) queue invalid; the receive count
// tells a stale handle from the current one; the checksum catches garbling.

pub(crate) struct Handle {
    pub queue_id: u64,
    pub seq: u64,
    pub count: u32,
}

pub(crate) fn make_handle(queue_id: u64, seq: u64, count: u32) -> String {
    let s = format!("{queue_id:016x}{seq:016x}{count:08x}");
    let crc = crc32fast::hash(s.as_bytes());
    format!("{s}{crc:08x}")
}

pub(crate) fn parse_handle(h: &str) -> Option<Handle> {
    if h.len() != 48 || !h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let crc = u32::from_str_radix(&h[40..], 16).ok()?;
    if crc32fast::hash(&h.as_bytes()[..40]) != crc {
        return None;
    }
    Some(Handle {
        queue_id: u64::from_str_radix(&h[..16], 16).ok()?,
        seq: u64::from_str_radix(&h[16..32], 16).ok()?,
        count: u32::from_str_radix(&h[32..40], 16).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str, v: &str) -> MessageAttributeValue {
        MessageAttributeValue {
            data_type: t.into(),
            string_value: Some(v.into()),
            binary_value: None,
        }
    }

    /// Values AWS itself returned for these attributes (also the values the
    /// AWS SDKs recompute to verify responses).
    #[test]
    fn md5_of_attributes_matches_aws() {
        let mut a = BTreeMap::new();
        a.insert("timestamp".to_string(), s("Number", "1493147359900"));
        assert_eq!(md5_of_attributes(&a).unwrap(), "235c5c510d26fb653d073faed50ae77c");
        let mut a = BTreeMap::new();
        a.insert("SellerName".to_string(), s("String", "Example Store"));
        assert_eq!(md5_of_attributes(&a).unwrap(), "cd28f3b68aeee4b2eac9c66f2f694b58");
        let mut a = BTreeMap::new();
        a.insert("ordinal".to_string(), s("Number", "1"));
        a.insert("category".to_string(), s("String", "test"));
        assert_eq!(md5_of_attributes(&a).unwrap(), "d21ae90c49061e927f57df5f5d72be1f");
        assert_eq!(md5_of_attributes(&BTreeMap::new()), None);
    }

    #[test]
    fn md5_of_body_known() {
        assert_eq!(md5_of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn record_roundtrip() {
        let mut m = Msg {
            message_id: [7; 16],
            sent_ms: 123,
            group: "g".into(),
            dedup: "d".into(),
            sender: "alice".into(),
            source_arn: String::new(),
            body: "héllo".into(),
            ..Default::default()
        };
        m.attributes.insert("a".into(), s("String", "x"));
        m.attributes.insert(
            "b".into(),
            MessageAttributeValue {
                data_type: "Binary".into(),
                string_value: None,
                binary_value: Some(vec![0, 1, 2]),
            },
        );
        let mut buf = Vec::new();
        let n = encode_record(&mut buf, 42, 999, &m);
        assert_eq!(n, buf.len());
        let h = decode_header(&buf[FRAME_HEADER..]).unwrap();
        assert_eq!(
            (h.seq, h.sent_ms, h.visible_at, h.group, h.dedup),
            (42, 123, 999, "g", "d")
        );
        let (seq, d) = decode_record(&buf).unwrap();
        assert_eq!(seq, 42);
        assert_eq!(d.body, m.body);
        assert_eq!(d.attributes, m.attributes);
        assert_eq!(d.sender, "alice");
        buf[20] ^= 1;
        assert!(decode_record(&buf).is_none());
    }

    #[test]
    fn handles() {
        let h = make_handle(5, 77, 3);
        let p = parse_handle(&h).unwrap();
        assert_eq!((p.queue_id, p.seq, p.count), (5, 77, 3));
        let mut bad = h.clone().into_bytes();
        bad[20] = if bad[20] == b'0' { b'1' } else { b'0' };
        assert!(parse_handle(std::str::from_utf8(&bad).unwrap()).is_none());
        assert!(parse_handle("garbage").is_none());
    }

    #[test]
    fn xml_chars() {
        assert!("a\t\n\r ok €😀".chars().all(valid_xml_char));
        assert!(!valid_xml_char('\u{1}'));
        assert!(!valid_xml_char('\u{FFFE}'));
    }
}
