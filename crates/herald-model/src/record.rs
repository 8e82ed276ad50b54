//! Event records: the JSON bodies pushed to notification endpoints.
//!
//! The Ceph flavor reproduces RGW's records field for field and in the same
//! order (checked byte-for-byte against
//! `shared/reference/ceph-rgw/event-put-persistent.raw.json`), so consumers
//! written for RGW parse Herald's unchanged. The AWS flavor is the S3
//! "event message structure" 2.1 for consumers written against AWS.
//!
//! Records are serialized straight from borrowed structs (one pass, no
//! intermediate `serde_json::Value`), because one is built for every
//! notified write.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use time::{OffsetDateTime, UtcOffset};

use crate::event::EventType;

/// Which dialect of record to produce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RecordFlavor {
    /// Ceph RGW's records (`eventVersion` 2.2, `ceph:s3`, with bucket id,
    /// metadata, tags, `eventId` and `opaqueData`).
    #[default]
    Ceph,
    /// AWS S3's records (`eventVersion` 2.1, `aws:s3`).
    Aws,
}

/// Everything a record says about one event, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct EventRecordInput<'a> {
    pub event: EventType,
    pub event_time: OffsetDateTime,
    /// `awsRegion`; Ceph puts its zonegroup here (empty in the capture).
    pub region: &'a str,
    /// The user that made the request (`userIdentity.principalId`).
    pub principal: &'a str,
    /// Ceph always sends ""; AWS the client address.
    pub source_ip: &'a str,
    pub request_id: &'a str,
    /// `x-amz-id-2`: which server handled the request.
    pub host_id: &'a str,
    /// The `Id` of the configuration entry that selected the event.
    pub configuration_id: &'a str,
    pub bucket: &'a str,
    pub bucket_owner: &'a str,
    /// The region in `s3.bucket.arn`: empty as AWS writes it
    /// (`arn:aws:s3:::bucket`); Ceph's suite expects its zonegroup
    /// (`arn:aws:s3:<zonegroup>::bucket`), see `--compat ceph`.
    pub bucket_arn_region: &'a str,
    /// Ceph-only `s3.bucket.id`.
    pub bucket_id: &'a str,
    /// The decoded key; records carry it URL-encoded (see [`encode_key`]).
    pub key: &'a str,
    pub size: u64,
    pub etag: &'a str,
    /// "" when the bucket is unversioned (as Ceph sends it).
    pub version_id: &'a str,
    /// Rendered as [`sequencer_hex`].
    pub sequencer: u64,
    /// User metadata: lowercase names without `x-amz-meta-`.
    pub metadata: &'a [(String, String)],
    pub tags: &'a [(String, String)],
    /// Ceph-only `eventId`, usually from [`event_id`].
    pub event_id: &'a str,
    /// Ceph-only `opaqueData`, from the topic.
    pub opaque_data: &'a str,
}

/// One record, ready to serialize. Field order is the wire order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord<'a> {
    event_version: &'static str,
    event_source: &'static str,
    aws_region: &'a str,
    event_time: String,
    event_name: &'static str,
    user_identity: Principal<'a>,
    request_parameters: RequestParameters<'a>,
    response_elements: ResponseElements<'a>,
    s3: S3Entity<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    opaque_data: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Principal<'a> {
    principal_id: &'a str,
}

#[derive(Debug, Serialize)]
struct RequestParameters<'a> {
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
}

#[derive(Debug, Serialize)]
struct ResponseElements<'a> {
    #[serde(rename = "x-amz-request-id")]
    request_id: &'a str,
    #[serde(rename = "x-amz-id-2")]
    host_id: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct S3Entity<'a> {
    s3_schema_version: &'static str,
    configuration_id: &'a str,
    bucket: BucketEntity<'a>,
    object: ObjectEntity<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BucketEntity<'a> {
    name: &'a str,
    owner_identity: Principal<'a>,
    arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectEntity<'a> {
    key: Cow<'a, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e_tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<&'a str>,
    sequencer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<KeyValList<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<KeyValList<'a>>,
}

/// Ceph's `[{"key": .., "val": ..}]` lists, with an optional name prefix
/// (metadata names go out as `x-amz-meta-<name>`), written without
/// building the prefixed strings.
#[derive(Debug)]
struct KeyValList<'a> {
    prefix: &'static str,
    pairs: &'a [(String, String)],
}

impl Serialize for KeyValList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Prefixed<'b>(&'static str, &'b str);
        impl Serialize for Prefixed<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&format_args!("{}{}", self.0, self.1))
            }
        }
        struct KeyVal<'b>(&'static str, &'b str, &'b str);
        impl Serialize for KeyVal<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut st = s.serialize_struct("KeyVal", 2)?;
                st.serialize_field("key", &Prefixed(self.0, self.1))?;
                st.serialize_field("val", self.2)?;
                st.end()
            }
        }
        let mut seq = s.serialize_seq(Some(self.pairs.len()))?;
        for (k, v) in self.pairs {
            seq.serialize_element(&KeyVal(self.prefix, k, v))?;
        }
        seq.end()
    }
}

impl<'a> EventRecord<'a> {
    /// Builds the record for one event in the given flavor.
    pub fn new(input: &EventRecordInput<'a>, flavor: RecordFlavor) -> EventRecord<'a> {
        let ceph = flavor == RecordFlavor::Ceph;
        // AWS omits size and eTag on removals (there is no object left to
        // describe) and versionId on unversioned buckets; Ceph always
        // sends all three.
        let removal = input.event.removes_object();
        let (size, e_tag) = if ceph || !removal {
            (Some(input.size), Some(input.etag))
        } else {
            (None, None)
        };
        let version_id = (ceph || !input.version_id.is_empty()).then_some(input.version_id);
        EventRecord {
            event_version: if ceph { "2.2" } else { "2.1" },
            event_source: if ceph { "ceph:s3" } else { "aws:s3" },
            aws_region: input.region,
            event_time: if ceph {
                format_time_micros(input.event_time)
            } else {
                format_time_millis(input.event_time)
            },
            event_name: input.event.name(),
            user_identity: Principal {
                principal_id: input.principal,
            },
            request_parameters: RequestParameters {
                source_ip_address: input.source_ip,
            },
            response_elements: ResponseElements {
                request_id: input.request_id,
                host_id: input.host_id,
            },
            s3: S3Entity {
                s3_schema_version: "1.0",
                configuration_id: input.configuration_id,
                bucket: BucketEntity {
                    name: input.bucket,
                    owner_identity: Principal {
                        principal_id: input.bucket_owner,
                    },
                    arn: format!("arn:aws:s3:{}::{}", input.bucket_arn_region, input.bucket),
                    id: ceph.then_some(input.bucket_id),
                },
                object: ObjectEntity {
                    key: encode_key(input.key),
                    size,
                    e_tag,
                    version_id,
                    sequencer: sequencer_hex(input.sequencer),
                    metadata: ceph.then_some(KeyValList {
                        prefix: "x-amz-meta-",
                        pairs: input.metadata,
                    }),
                    tags: ceph.then_some(KeyValList {
                        prefix: "",
                        pairs: input.tags,
                    }),
                },
            },
            event_id: ceph.then_some(input.event_id),
            opaque_data: ceph.then_some(input.opaque_data),
        }
    }
}

/// One record as a compact JSON object (no `{"Records":[..]}` envelope):
/// the unit a persistent queue stores; see [`wrap_records`].
pub fn render_record(input: &EventRecordInput<'_>, flavor: RecordFlavor) -> Vec<u8> {
    to_vec(&EventRecord::new(input, flavor))
}

/// A complete push body, `{"Records":[...]}`, in compact JSON.
pub fn render_records(inputs: &[EventRecordInput<'_>], flavor: RecordFlavor) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        #[serde(rename = "Records")]
        records: Vec<EventRecord<'a>>,
    }
    to_vec(&Envelope {
        records: inputs.iter().map(|i| EventRecord::new(i, flavor)).collect(),
    })
}

/// Joins records rendered by [`render_record`] into a push body without
/// re-parsing them.
pub fn wrap_records<T: AsRef<[u8]>>(records: &[T]) -> Vec<u8> {
    let len: usize = records.iter().map(|r| r.as_ref().len() + 1).sum();
    let mut out = Vec::with_capacity(len + 14);
    out.extend_from_slice(b"{\"Records\":[");
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r.as_ref());
    }
    out.extend_from_slice(b"]}");
    out
}

/// The `s3:TestEvent` body AWS sends to a destination when a configuration
/// is stored, so a consumer can tell it is wired up.
pub fn test_event(bucket: &str, time: OffsetDateTime, request_id: &str, host_id: &str) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct TestEvent<'a> {
        service: &'static str,
        event: &'static str,
        time: String,
        bucket: &'a str,
        request_id: &'a str,
        host_id: &'a str,
    }
    to_vec(&TestEvent {
        service: "Amazon S3",
        event: "s3:TestEvent",
        time: format_time_millis(time),
        bucket,
        request_id,
        host_id,
    })
}

fn to_vec<T: Serialize>(v: &T) -> Vec<u8> {
    // Only strings, integers and derived structs: serialization to memory
    // cannot fail.
    serde_json::to_vec(v).expect("event record serializes")
}

/// A sequencer as records show it: 16 uppercase hex digits, so that
/// consumers comparing them as strings (as AWS advises) order correctly.
pub fn sequencer_hex(seq: u64) -> String {
    format!("{seq:016X}")
}

/// A Ceph-shaped `eventId`: `<unix secs, 10 digits>.<micros, 6 digits>.<x>`.
/// Ceph uses the ETag as `<x>`, which repeats across events on the same
/// object content; the sequencer is unique, so it is used instead.
pub fn event_id(time: OffsetDateTime, sequencer: u64) -> String {
    format!(
        "{:010}.{:06}.{}",
        time.unix_timestamp(),
        time.microsecond(),
        sequencer_hex(sequencer)
    )
}

/// `2026-11-23T08:39:03.284147Z`, Ceph's `eventTime` (microseconds, UTC).
pub fn format_time_micros(t: OffsetDateTime) -> String {
    let mut s = format_time_seconds(t);
    let _ = write!(s, ".{:06}Z", t.to_offset(UtcOffset::UTC).microsecond());
    s
}

/// `2019-09-03T19:37:27.192Z`, AWS's `eventTime` (milliseconds, UTC).
pub fn format_time_millis(t: OffsetDateTime) -> String {
    let mut s = format_time_seconds(t);
    let _ = write!(s, ".{:03}Z", t.to_offset(UtcOffset::UTC).millisecond());
    s
}

/// Formatted by hand rather than with `time`'s formatter: it cannot fail,
/// so record rendering needs no error path.
fn format_time_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// URL-encodes an object key the way AWS event records do
/// (`red flower.jpg` → `red+flower.jpg`): unreserved characters
/// `A-Za-z0-9-_.~` and `/` stay, space becomes `+`, every other byte of
/// the UTF-8 form becomes `%XX`. Borrowed when nothing needs encoding,
/// which is the common case.
pub fn encode_key(key: &str) -> Cow<'_, str> {
    fn keep(b: u8) -> bool {
        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/')
    }
    if key.bytes().all(keep) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 8);
    for b in key.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const CAPTURE: &str = include_str!("../testdata/ceph-event-put-persistent.raw.json");

    /// The capture's values, as Herald's server would pass them.
    fn capture_input<'a>(metadata: &'a [(String, String)], tags: &'a [(String, String)]) -> EventRecordInput<'a> {
        EventRecordInput {
            event: EventType::ObjectCreatedPut,
            event_time: datetime!(2026-11-23 08:39:03.284147 UTC),
            region: "",
            principal: "peer",
            source_ip: "",
            request_id: "717bb071-3360-47b3-9894-234e78cc4f4d.4116.15698043801300117180",
            host_id: "1014-default-default",
            configuration_id: "notif-persistent",
            bucket: "notif-persistent",
            bucket_owner: "peer",
            bucket_arn_region: "",
            bucket_id: "717bb071-3360-47b3-9894-234e78cc4f4d.4118.3",
            key: "obj-1795423143273.txt",
            size: 19,
            etag: "70aa4dd7397fcaa17b1aef7b9abeccce",
            version_id: "",
            sequencer: 0xA7FB036B03F98411,
            metadata,
            tags,
            event_id: "1795423143.293927.70aa4dd7397fcaa17b1aef7b9abeccce",
            opaque_data: "opaque-persistent",
        }
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    /// The capture with its metadata/tags arrays replaced. RGW lists some
    /// request headers (`x-amz-date`, ...) as metadata; Herald lists the
    /// object's user metadata, so only that part of the text differs.
    fn adapted_capture(metadata: &str, tags: &str) -> String {
        let raw = CAPTURE.trim_end();
        let start = raw.find("\"metadata\":").unwrap();
        let end = raw.find("}},\"eventId\"").unwrap();
        format!(
            "{}\"metadata\":{metadata},\"tags\":{tags}{}",
            &raw[..start],
            &raw[end..]
        )
    }

    #[test]
    fn ceph_record_matches_capture_byte_for_byte() {
        let out = render_records(&[capture_input(&[], &[])], RecordFlavor::Ceph);
        assert_eq!(String::from_utf8(out).unwrap(), adapted_capture("[]", "[]"));
    }

    #[test]
    fn ceph_record_with_metadata_and_tags() {
        let md = pairs(&[("color", "red"), ("owner", "a\"b")]);
        let tags = pairs(&[("team", "ops")]);
        let out = render_records(&[capture_input(&md, &tags)], RecordFlavor::Ceph);
        let expected = adapted_capture(
            r#"[{"key":"x-amz-meta-color","val":"red"},{"key":"x-amz-meta-owner","val":"a\"b"}]"#,
            r#"[{"key":"team","val":"ops"}]"#,
        );
        assert_eq!(String::from_utf8(out).unwrap(), expected);
        // Same values as the capture once both are parsed.
        let ours: serde_json::Value = serde_json::from_str(&expected).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(CAPTURE).unwrap();
        assert_eq!(ours["Records"][0]["s3"]["bucket"], theirs["Records"][0]["s3"]["bucket"]);
        assert_eq!(ours["Records"][0]["eventTime"], theirs["Records"][0]["eventTime"]);
    }

    #[test]
    fn single_record_and_wrapping() {
        let input = capture_input(&[], &[]);
        let one = render_record(&input, RecordFlavor::Ceph);
        assert!(one.starts_with(b"{\"eventVersion\":\"2.2\""));
        let wrapped = wrap_records(std::slice::from_ref(&one));
        assert_eq!(wrapped, render_records(&[input], RecordFlavor::Ceph));
        let two = wrap_records(&[one.as_slice(), one.as_slice()]);
        let v: serde_json::Value = serde_json::from_slice(&two).unwrap();
        assert_eq!(v["Records"].as_array().unwrap().len(), 2);
        assert_eq!(wrap_records::<Vec<u8>>(&[]), b"{\"Records\":[]}");
    }

    #[test]
    fn aws_record_shape() {
        let md = pairs(&[("color", "red")]);
        let mut input = capture_input(&md, &md);
        input.region = "us-east-1";
        input.source_ip = "10.0.0.1";
        input.key = "red flower.jpg";
        let out = String::from_utf8(render_record(&input, RecordFlavor::Aws)).unwrap();
        assert_eq!(
            out,
            concat!(
                r#"{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","#,
                r#""eventTime":"2026-11-23T08:39:03.284Z","eventName":"ObjectCreated:Put","#,
                r#""userIdentity":{"principalId":"peer"},"requestParameters":{"sourceIPAddress":"10.0.0.1"},"#,
                r#""responseElements":{"x-amz-request-id":"717bb071-3360-47b3-9894-234e78cc4f4d.4116.15698043801300117180","x-amz-id-2":"1014-default-default"},"#,
                r#""s3":{"s3SchemaVersion":"1.0","configurationId":"notif-persistent","#,
                r#""bucket":{"name":"notif-persistent","ownerIdentity":{"principalId":"peer"},"arn":"arn:aws:s3:::notif-persistent"},"#,
                r#""object":{"key":"red+flower.jpg","size":19,"eTag":"70aa4dd7397fcaa17b1aef7b9abeccce","sequencer":"A7FB036B03F98411"}}}"#
            )
        );
    }

    #[test]
    fn aws_removal_omits_size_and_etag_but_keeps_version() {
        let mut input = capture_input(&[], &[]);
        input.event = EventType::ObjectRemovedDeleteMarkerCreated;
        input.version_id = "v1";
        let v: serde_json::Value = serde_json::from_slice(&render_record(&input, RecordFlavor::Aws)).unwrap();
        let obj = &v["s3"]["object"];
        assert_eq!(obj["versionId"], "v1");
        assert!(obj.get("size").is_none() && obj.get("eTag").is_none(), "{obj}");
        assert_eq!(v["eventName"], "ObjectRemoved:DeleteMarkerCreated");
        // Ceph keeps them (see event-delete-persistent.json).
        let v: serde_json::Value = serde_json::from_slice(&render_record(&input, RecordFlavor::Ceph)).unwrap();
        assert_eq!(v["s3"]["object"]["size"], 19);
        assert_eq!(v["s3"]["object"]["eTag"], "70aa4dd7397fcaa17b1aef7b9abeccce");
    }

    #[test]
    fn event_name_has_no_prefix() {
        for e in EventType::ALL {
            let mut input = capture_input(&[], &[]);
            input.event = e;
            for flavor in [RecordFlavor::Ceph, RecordFlavor::Aws] {
                let v: serde_json::Value = serde_json::from_slice(&render_record(&input, flavor)).unwrap();
                assert_eq!(v["eventName"], e.name());
                assert!(!e.name().starts_with("s3:"));
            }
        }
    }

    #[test]
    fn key_encoding() {
        assert_eq!(encode_key("red flower.jpg"), "red+flower.jpg");
        assert_eq!(encode_key("a/b c+d.txt"), "a/b+c%2Bd.txt");
        assert_eq!(encode_key("photos/2024/cat.jpg"), "photos/2024/cat.jpg");
        assert!(matches!(encode_key("plain-key_1.~"), Cow::Borrowed(_)));
        assert_eq!(encode_key("é?&=%"), "%C3%A9%3F%26%3D%25");
        let mut input = capture_input(&[], &[]);
        input.key = "a/b c+d.txt";
        let v: serde_json::Value = serde_json::from_slice(&render_record(&input, RecordFlavor::Ceph)).unwrap();
        assert_eq!(v["s3"]["object"]["key"], "a/b+c%2Bd.txt");
    }

    #[test]
    fn sequencer_and_event_id() {
        assert_eq!(sequencer_hex(0xA7FB036B03F98411), "A7FB036B03F98411");
        assert_eq!(sequencer_hex(1), "0000000000000001");
        assert_eq!(sequencer_hex(u64::MAX), "FFFFFFFFFFFFFFFF");
        let t = datetime!(2026-11-23 08:39:03.293927 UTC);
        assert_eq!(event_id(t, 0xA7FB036B03F98411), "1795423143.293927.A7FB036B03F98411");
        let early = datetime!(1970-01-02 00:00:00.000005 UTC);
        assert_eq!(event_id(early, 2), "0000086400.000005.0000000000000002");
        assert_ne!(event_id(t, 1), event_id(t, 2));
    }

    #[test]
    fn times_are_utc() {
        let t = datetime!(2026-11-23 09:39:03.284147999 +01:00);
        assert_eq!(format_time_micros(t), "2026-11-23T08:39:03.284147Z");
        assert_eq!(format_time_millis(t), "2026-11-23T08:39:03.284Z");
        let t = datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(format_time_micros(t), "2026-01-02T03:04:05.000000Z");
    }

    #[test]
    fn aws_test_event() {
        let body = test_event(
            "photos",
            datetime!(2014-10-13 15:57:02.089 UTC),
            "5582815E1AEA5ADF",
            "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"photos","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#
        );
    }
}
