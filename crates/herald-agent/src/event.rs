//! Event messages as sources receive them, turned into [`Change`]s.
//!
//! One parser for every source and producer: AWS records (`s3:`-prefixed
//! eventName), Ceph/Herald records (unprefixed), `s3:TestEvent` messages,
//! and SNS envelopes whose `Message` is one of those.

use md5::{Digest, Md5};
use serde_json::Value;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Create,
    Delete,
    /// Tagging, ACL, multipart start...: nothing to sync.
    Other,
}

impl Op {
    /// The word of the log line and of the `exec` action's argument.
    pub fn verb(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Delete => "delete",
            Op::Other => "ignore",
        }
    }
}

/// One object change.
#[derive(Debug, Clone)]
pub struct Change {
    /// Always with the `s3:` prefix, whatever the producer sent.
    pub event_name: String,
    pub op: Op,
    pub bucket: String,
    /// Decoded (records carry keys URL-encoded).
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
    pub event_time: Option<OffsetDateTime>,
    pub principal: Option<String>,
    /// Stable across redeliveries of the same event: the producer's
    /// `eventId` when it has one, else a hash of bucket, key, sequencer and name.
    pub event_id: String,
}

impl Change {
    /// Sequencer left-padded so that string order is event order (AWS's
    /// advice for comparing sequencers of one key); "" when absent.
    pub fn sequencer_key(&self) -> String {
        self.sequencer.as_deref().map(sequencer_key).unwrap_or_default()
    }
}

pub fn sequencer_key(s: &str) -> String {
    format!("{:0>32}", s.to_ascii_uppercase())
}

/// What one message carried.
#[derive(Debug)]
pub enum Message {
    Changes(Vec<Change>),
    /// `s3:TestEvent` for this bucket: the configuration is wired up.
    TestEvent {
        bucket: String,
    },
}

/// Largest message parsed: SQS's own maximum message size (1 MiB). AWS and
/// Herald send one record per message, a few KiB; anything larger is not
/// an event a producer sent, so it is refused before it is parsed.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Most records one message may carry (producers send one).
pub const MAX_RECORDS: usize = 1000;

/// Parses a message body (SQS body, webhook POST body or spool entry).
///
/// Bounded: at most [`MAX_MESSAGE_BYTES`], [`MAX_RECORDS`] records, one
/// SNS envelope around the event (never an envelope in an envelope), and
/// serde_json's own nesting limit (128 levels) so that no input recurses
/// deeply.
pub fn parse(body: &[u8]) -> Result<Message, String> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message of {} bytes is larger than the {MAX_MESSAGE_BYTES} bytes an event message may have",
            body.len()
        ));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    parse_value(&v, 0)
}

fn parse_value(v: &Value, depth: u8) -> Result<Message, String> {
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        if records.len() > MAX_RECORDS {
            return Err(format!(
                "{} records in one message, more than the {MAX_RECORDS} allowed",
                records.len()
            ));
        }
        return records
            .iter()
            .map(parse_record)
            .collect::<Result<_, _>>()
            .map(Message::Changes);
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Message::TestEvent {
            bucket: v.get("Bucket").and_then(Value::as_str).unwrap_or_default().to_string(),
        });
    }
    // SNS envelope: {"Type":"Notification","Message":"<event JSON>"}.
    if depth == 0
        && let Some(inner) = v.get("Message").and_then(Value::as_str)
    {
        let inner: Value = serde_json::from_str(inner).map_err(|e| format!("SNS Message is not JSON: {e}"))?;
        return parse_value(&inner, 1);
    }
    Err("neither S3 event records, an s3:TestEvent nor an SNS notification".into())
}

fn parse_record(r: &Value) -> Result<Change, String> {
    let raw_name = r
        .get("eventName")
        .and_then(Value::as_str)
        .ok_or("record without eventName")?;
    let bare = raw_name.strip_prefix("s3:").unwrap_or(raw_name);
    let s3 = r.get("s3").ok_or("record without s3")?;
    let bucket = s3
        .pointer("/bucket/name")
        .and_then(Value::as_str)
        .ok_or("record without s3.bucket.name")?
        .to_string();
    let obj = s3.get("object").ok_or("record without s3.object")?;
    let key = decode_key(
        obj.get("key")
            .and_then(Value::as_str)
            .ok_or("record without s3.object.key")?,
    );
    let nonempty = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(String::from);
    let etag = nonempty(obj.get("eTag")).map(|e| e.trim_matches('"').to_string());
    let sequencer = match obj.get("sequencer") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        // The MCS webhook example sends it as a number.
        Some(Value::Number(n)) => Some(format!("{:X}", n.as_u64().unwrap_or(0))),
        _ => None,
    };
    let op = if bare.starts_with("ObjectCreated:") || bare == "ObjectRestore:Completed" {
        // Ceph and Herald announce the start of a multipart upload as
        // ObjectCreated:Post without an ETag: no object exists yet.
        if bare == "ObjectCreated:Post" && etag.is_none() {
            Op::Other
        } else {
            Op::Create
        }
    } else if bare.starts_with("ObjectRemoved:") {
        Op::Delete
    } else {
        Op::Other
    };
    let event_time = r
        .get("eventTime")
        .and_then(Value::as_str)
        .and_then(|t| OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok());
    let event_name = format!("s3:{bare}");
    let event_id = nonempty(r.get("eventId")).unwrap_or_else(|| {
        let mut h = Md5::new();
        for part in [
            bucket.as_str(),
            key.as_str(),
            sequencer.as_deref().unwrap_or(""),
            &event_name,
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        hex::encode(h.finalize())
    });
    Ok(Change {
        event_name,
        op,
        bucket,
        key,
        size: obj.get("size").and_then(Value::as_u64),
        etag,
        version_id: nonempty(obj.get("versionId")),
        sequencer,
        event_time,
        principal: nonempty(r.pointer("/userIdentity/principalId")),
        event_id,
    })
}

/// Keys in records are URL-encoded with `+` for space (as AWS and Ceph send them).
pub fn decode_key(k: &str) -> String {
    let b = k.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceph_capture_parses() {
        let body = include_str!("../../herald-model/testdata/ceph-event-put-persistent.raw.json");
        let Message::Changes(c) = parse(body.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].event_name, "s3:ObjectCreated:Put");
        assert_eq!(c[0].op, Op::Create);
        assert_eq!(c[0].bucket, "notif-persistent");
        assert_eq!(c[0].etag.as_deref(), Some("70aa4dd7397fcaa17b1aef7b9abeccce"));
        assert_eq!(c[0].version_id, None);
        assert_eq!(c[0].event_id, "1795423143.293927.70aa4dd7397fcaa17b1aef7b9abeccce");
        assert_eq!(c[0].principal.as_deref(), Some("peer"));
    }

    #[test]
    fn aws_record_sns_envelope_and_test_event() {
        let rec = r#"{"Records":[{"eventName":"s3:ObjectRemoved:Delete","eventTime":"2022-02-21T18:16:40.000Z",
          "s3":{"bucket":{"name":"b"},"object":{"key":"a+b%2Fc%C3%A9","sequencer":"0055AED6DCD90281E5"}}}]}"#;
        let env = serde_json::json!({"Type":"Notification","Message": rec}).to_string();
        let Message::Changes(c) = parse(env.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(c[0].key, "a b/cé");
        assert_eq!(c[0].op, Op::Delete);
        assert_eq!(c[0].sequencer_key(), format!("{:0>32}", "0055AED6DCD90281E5"));
        assert!(c[0].event_time.is_some());
        let t = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"bk"}"#;
        assert!(matches!(parse(t.as_bytes()).unwrap(), Message::TestEvent { bucket } if bucket == "bk"));
        assert!(parse(b"{\"x\":1}").is_err());
        let mp = r#"{"Records":[{"eventName":"ObjectCreated:Post","s3":{"bucket":{"name":"b"},"object":{"key":"k","eTag":""}}}]}"#;
        let Message::Changes(c) = parse(mp.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(c[0].op, Op::Other);
    }

    #[test]
    fn size_records_and_envelope_nesting_are_bounded() {
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert!(parse(&big).unwrap_err().contains("larger than the 1048576 bytes"));
        let rec = r#"{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}"#;
        let many = format!("{{\"Records\":[{}]}}", vec![rec; MAX_RECORDS + 1].join(","));
        assert!(
            parse(many.as_bytes())
                .unwrap_err()
                .contains("more than the 1000 allowed")
        );
        let ok = format!("{{\"Records\":[{}]}}", vec![rec; MAX_RECORDS].join(","));
        assert!(parse(ok.as_bytes()).is_ok());
        // An envelope inside an envelope is not unwrapped a second time.
        let inner =
            serde_json::json!({"Type":"Notification","Message": format!("{{\"Records\":[{rec}]}}")}).to_string();
        let outer = serde_json::json!({"Type":"Notification","Message": inner}).to_string();
        assert!(parse(outer.as_bytes()).is_err());
        // Deep nesting is refused by serde_json's recursion limit, not the stack.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).unwrap_err().contains("recursion limit"));
    }
}
