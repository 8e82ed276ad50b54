//! Bucket notifications end to end: topics created over the SNS API, the
//! configuration over the S3 API (AWS SDK for Rust, raw XML for the Ceph
//! extensions), and a webhook receiver inside the test that records every
//! push. Delivery waits poll with generous deadlines; "no event" checks use
//! a later matching sentinel on a synchronous topic.
//!
//! The tests are split by concern, one file each: `records` (what a
//! record says), `configuration` (filters and the configuration API),
//! `delivery` (retries, outages, restarts, ordering) and `endpoints` (push
//! headers, signatures, subscription handshakes). This file keeps the
//! helpers they share; it stays one test binary.

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_s3::operation::{RequestId, RequestIdExt};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Event, FilterRule, FilterRuleName,
    NotificationConfiguration, NotificationConfigurationFilter, S3KeyFilter, Tag, Tagging, TopicConfiguration,
    VersioningConfiguration,
};
use herald_testkit::*;
use serde_json::Value;

mod configuration;
mod content_filters;
mod dead_letters;
mod delivery;
mod endpoints;
mod reads;
mod records;
mod replay;

const BOB_AK: &str = "BOBACCESSKEY00000001";
const BOB_SK: &str = "bobSecretKey/0123456789abcdefghijklmnop";

fn tc(id: &str, arn: &str, events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> TopicConfiguration {
    let mut b = TopicConfiguration::builder().id(id).topic_arn(arn);
    for e in events {
        b = b.events(Event::from(*e));
    }
    if prefix.is_some() || suffix.is_some() {
        let mut kf = S3KeyFilter::builder();
        if let Some(p) = prefix {
            kf = kf.filter_rules(FilterRule::builder().name(FilterRuleName::Prefix).value(p).build());
        }
        if let Some(s) = suffix {
            kf = kf.filter_rules(FilterRule::builder().name(FilterRuleName::Suffix).value(s).build());
        }
        b = b.filter(NotificationConfigurationFilter::builder().key(kf.build()).build());
    }
    b.build().unwrap()
}

async fn put_config(s3: &aws_sdk_s3::Client, bucket: &str, cfgs: Vec<TopicConfiguration>) {
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_topic_configurations(Some(cfgs))
                .build(),
        )
        .send()
        .await
        .expect("PutBucketNotificationConfiguration");
}

fn seq(r: &Value) -> u64 {
    let s = r["s3"]["object"]["sequencer"]
        .as_str()
        .unwrap_or_else(|| panic!("no sequencer string: {r}"));
    assert!(
        s.len() == 16 && s.chars().all(|c| c.is_ascii_hexdigit()),
        "sequencer must be 16 hex digits, got {s:?}"
    );
    u64::from_str_radix(s, 16).unwrap()
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_string()
}

fn has_kv(arr: &Value, k: &str, v: &str) -> bool {
    arr.as_array()
        .map(|a| a.iter().any(|e| e["key"] == k && e["val"] == v))
        .unwrap_or(false)
}

struct Exp<'a> {
    name: &'a str,
    key: &'a str,
    bucket: &'a str,
    config: &'a str,
    request_id: Option<&'a str>,
    id2: Option<&'a str>,
    version: &'a str,
    size: Option<i64>,
    etag: Option<&'a str>,
    principal: &'a str,
    owner: &'a str,
    opaque: &'a str,
}

#[track_caller]
fn check_record(r: &Value, e: &Exp) {
    let ctx = format!("record for {} {}: {r}", e.name, e.key);
    assert_eq!(r["eventVersion"], "2.2", "eventVersion; {ctx}");
    assert_eq!(r["eventSource"], "ceph:s3", "eventSource; {ctx}");
    assert_eq!(r["awsRegion"], "us-east-1", "awsRegion; {ctx}");
    assert_eq!(r["eventName"], e.name, "eventName; {ctx}");
    let t = r["eventTime"]
        .as_str()
        .unwrap_or_else(|| panic!("eventTime not a string; {ctx}"));
    let frac = t.split('.').nth(1).unwrap_or("");
    assert!(
        t.ends_with('Z') && frac.len() == 7 && frac[..6].chars().all(|c| c.is_ascii_digit()),
        "eventTime must be RFC3339 with microseconds and Z, got {t:?}; {ctx}"
    );
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|err| panic!("eventTime {t:?} not RFC3339 ({err}); {ctx}"));
    assert_eq!(
        r["userIdentity"]["principalId"], e.principal,
        "userIdentity.principalId; {ctx}"
    );
    assert_eq!(
        r["requestParameters"]["sourceIPAddress"], "127.0.0.1",
        "sourceIPAddress; {ctx}"
    );
    if let Some(id) = e.request_id {
        assert_eq!(
            r["responseElements"]["x-amz-request-id"], id,
            "x-amz-request-id (must be the S3 response's); {ctx}"
        );
    }
    assert!(
        r["responseElements"]["x-amz-id-2"].is_string(),
        "x-amz-id-2 missing; {ctx}"
    );
    if let Some(id2) = e.id2 {
        assert_eq!(
            r["responseElements"]["x-amz-id-2"], id2,
            "x-amz-id-2 (must be the S3 response's); {ctx}"
        );
    }
    let s3 = &r["s3"];
    assert_eq!(s3["s3SchemaVersion"], "1.0", "s3SchemaVersion; {ctx}");
    assert_eq!(s3["configurationId"], e.config, "configurationId; {ctx}");
    assert_eq!(s3["bucket"]["name"], e.bucket, "bucket.name; {ctx}");
    assert_eq!(
        s3["bucket"]["ownerIdentity"]["principalId"], e.owner,
        "bucket owner; {ctx}"
    );
    assert_eq!(
        s3["bucket"]["arn"],
        format!("arn:aws:s3:::{}", e.bucket),
        "bucket.arn; {ctx}"
    );
    assert!(
        s3["bucket"]["id"].as_str().map(|s| !s.is_empty()).unwrap_or(false),
        "bucket.id must be a non-empty string; {ctx}"
    );
    let o = &s3["object"];
    assert_eq!(o["key"], e.key, "object.key; {ctx}");
    assert!(o["size"].is_number(), "object.size must be a number; {ctx}");
    if let Some(sz) = e.size {
        assert_eq!(o["size"].as_i64(), Some(sz), "object.size; {ctx}");
    }
    if let Some(et) = e.etag {
        assert_eq!(o["eTag"], unquote(et), "object.eTag (no quotes); {ctx}");
    }
    assert_eq!(o["versionId"], e.version, "object.versionId; {ctx}");
    seq(r);
    assert!(o["metadata"].is_array(), "object.metadata must be an array; {ctx}");
    assert!(o["tags"].is_array(), "object.tags must be an array; {ctx}");
    assert!(
        r["eventId"].as_str().map(|s| !s.is_empty()).unwrap_or(false),
        "eventId must be a non-empty string; {ctx}"
    );
    assert_eq!(r["opaqueData"], e.opaque, "opaqueData; {ctx}");
}
