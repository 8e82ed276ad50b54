//! Bucket notifications end to end: topics created over the SNS API, the
//! configuration over the S3 API (AWS SDK for Rust, raw XML for the Ceph
//! extensions), and a webhook receiver inside the test that records every
//! push. Delivery waits poll with generous deadlines; "no event" checks use
//! a later matching sentinel on a synchronous topic.

mod common;
mod notify_common;

use std::collections::{BTreeSet, HashMap, HashSet};

use aws_sdk_s3::operation::{RequestId, RequestIdExt};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Event, FilterRule, FilterRuleName,
    NotificationConfiguration, NotificationConfigurationFilter, S3KeyFilter, Tag, Tagging, TopicConfiguration,
    VersioningConfiguration,
};
use common::*;
use notify_common::*;
use serde_json::Value;

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

// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_for_every_event_type() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let arn = sns.create_topic("ev-topic", &[("push-endpoint", &rx.url("ev")), ("OpaqueData", "od-1")]);
    assert_eq!(arn, "arn:aws:sns:us-east-1:root:ev-topic");
    s3.create_bucket().bucket("evb").send().await.unwrap();
    put_config(
        &s3,
        "evb",
        vec![tc(
            "all",
            &arn,
            &["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectTagging:*"],
            None,
            None,
        )],
    )
    .await;
    rx.wait_for("the s3:TestEvent of the new configuration", 30, |r| {
        !r.test_events().is_empty()
    })
    .await;
    let te = rx.test_events()[0].json().unwrap();
    assert_eq!(te["Service"], "Amazon S3", "{te}");
    assert_eq!(te["Event"], "s3:TestEvent", "{te}");
    assert_eq!(te["Bucket"], "evb", "{te}");
    for k in ["Time", "RequestId", "HostId"] {
        assert!(te[k].is_string(), "TestEvent lacks {k}: {te}");
    }

    let owner = "root";
    let body = b"hello notifications".to_vec();
    // PutObject with metadata and tags, key needing URL encoding.
    let put = s3
        .put_object()
        .bucket("evb")
        .key("red flower.jpg")
        .metadata("color", "red")
        .tagging("team=ops")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let put_rec = rx.wait_event("red+flower.jpg", "ObjectCreated:Put").await;
    check_record(
        &put_rec,
        &Exp {
            name: "ObjectCreated:Put",
            key: "red+flower.jpg",
            bucket: "evb",
            config: "all",
            request_id: put.request_id(),
            id2: put.extended_request_id(),
            version: "",
            size: Some(body.len() as i64),
            etag: Some(put.e_tag().unwrap()),
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );
    assert_eq!(put_rec["s3"]["object"]["eTag"], md5_hex(&body));
    assert!(
        has_kv(&put_rec["s3"]["object"]["metadata"], "x-amz-meta-color", "red"),
        "metadata must contain {{key: x-amz-meta-color, val: red}}: {put_rec}"
    );
    assert!(
        has_kv(&put_rec["s3"]["object"]["tags"], "team", "ops"),
        "tags must contain {{key: team, val: ops}}: {put_rec}"
    );

    // CopyObject.
    let copy = s3
        .copy_object()
        .bucket("evb")
        .key("copy.jpg")
        .copy_source("evb/red%20flower.jpg")
        .send()
        .await
        .unwrap();
    let copy_rec = rx.wait_event("copy.jpg", "ObjectCreated:Copy").await;
    check_record(
        &copy_rec,
        &Exp {
            name: "ObjectCreated:Copy",
            key: "copy.jpg",
            bucket: "evb",
            config: "all",
            request_id: copy.request_id(),
            id2: copy.extended_request_id(),
            version: "",
            size: Some(body.len() as i64),
            etag: copy.copy_object_result().and_then(|c| c.e_tag()),
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );

    // Multipart: Create -> ObjectCreated:Post, Complete -> CompleteMultipartUpload.
    let cmu = s3
        .create_multipart_upload()
        .bucket("evb")
        .key("mp.bin")
        .send()
        .await
        .unwrap();
    let upload_id = cmu.upload_id().unwrap().to_string();
    let post_rec = rx.wait_event("mp.bin", "ObjectCreated:Post").await;
    check_record(
        &post_rec,
        &Exp {
            name: "ObjectCreated:Post",
            key: "mp.bin",
            bucket: "evb",
            config: "all",
            request_id: cmu.request_id(),
            id2: None,
            version: "",
            size: None,
            etag: None,
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );
    let part = random_bytes(100_000);
    let up = s3
        .upload_part()
        .bucket("evb")
        .key("mp.bin")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket("evb")
        .key("mp.bin")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(up.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cmp_rec = rx.wait_event("mp.bin", "ObjectCreated:CompleteMultipartUpload").await;
    check_record(
        &cmp_rec,
        &Exp {
            name: "ObjectCreated:CompleteMultipartUpload",
            key: "mp.bin",
            bucket: "evb",
            config: "all",
            request_id: done.request_id(),
            id2: done.extended_request_id(),
            version: "",
            size: Some(part.len() as i64),
            etag: Some(&multipart_etag(&[&part])),
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );
    assert!(
        seq(&cmp_rec) > seq(&post_rec),
        "sequencer must increase per key: post {post_rec} then complete {cmp_rec}"
    );

    // Abort emits nothing (checked after the sentinel).
    let ab = s3
        .create_multipart_upload()
        .bucket("evb")
        .key("aborted.bin")
        .send()
        .await
        .unwrap();
    rx.wait_event("aborted.bin", "ObjectCreated:Post").await;
    s3.abort_multipart_upload()
        .bucket("evb")
        .key("aborted.bin")
        .upload_id(ab.upload_id().unwrap())
        .send()
        .await
        .unwrap();

    // Tagging.
    let pt = s3
        .put_object_tagging()
        .bucket("evb")
        .key("red flower.jpg")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("team").value("dev").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tag_put = rx.wait_event("red+flower.jpg", "ObjectTagging:Put").await;
    check_record(
        &tag_put,
        &Exp {
            name: "ObjectTagging:Put",
            key: "red+flower.jpg",
            bucket: "evb",
            config: "all",
            request_id: pt.request_id(),
            id2: None,
            version: "",
            size: None,
            etag: None,
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );
    let dt = s3
        .delete_object_tagging()
        .bucket("evb")
        .key("red flower.jpg")
        .send()
        .await
        .unwrap();
    let tag_del = rx.wait_event("red+flower.jpg", "ObjectTagging:Delete").await;
    check_record(
        &tag_del,
        &Exp {
            name: "ObjectTagging:Delete",
            key: "red+flower.jpg",
            bucket: "evb",
            config: "all",
            request_id: dt.request_id(),
            id2: None,
            version: "",
            size: None,
            etag: None,
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );
    assert!(
        seq(&put_rec) < seq(&tag_put) && seq(&tag_put) < seq(&tag_del),
        "sequencer must increase for successive changes of one key: {} {} {}",
        put_rec["s3"]["object"]["sequencer"],
        tag_put["s3"]["object"]["sequencer"],
        tag_del["s3"]["object"]["sequencer"]
    );

    // Delete.
    let del = s3.delete_object().bucket("evb").key("copy.jpg").send().await.unwrap();
    let del_rec = rx.wait_event("copy.jpg", "ObjectRemoved:Delete").await;
    check_record(
        &del_rec,
        &Exp {
            name: "ObjectRemoved:Delete",
            key: "copy.jpg",
            bucket: "evb",
            config: "all",
            request_id: del.request_id(),
            id2: None,
            version: "",
            size: None,
            etag: None,
            principal: owner,
            owner,
            opaque: "od-1",
        },
    );
    assert!(
        seq(&del_rec) > seq(&copy_rec),
        "delete sequencer must follow the copy's"
    );

    // Sentinel, then the exact set of events.
    s3.put_object()
        .bucket("evb")
        .key("zz-sentinel")
        .body(ByteStream::from_static(b"s"))
        .send()
        .await
        .unwrap();
    rx.wait_event("zz-sentinel", "ObjectCreated:Put").await;
    let all = rx.delivered_records();
    let mut got: Vec<(String, String)> = all
        .iter()
        .map(|r| {
            (
                r["s3"]["object"]["key"].as_str().unwrap_or("?").to_string(),
                r["eventName"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("aborted.bin", "ObjectCreated:Post"),
        ("copy.jpg", "ObjectCreated:Copy"),
        ("copy.jpg", "ObjectRemoved:Delete"),
        ("mp.bin", "ObjectCreated:CompleteMultipartUpload"),
        ("mp.bin", "ObjectCreated:Post"),
        ("red+flower.jpg", "ObjectCreated:Put"),
        ("red+flower.jpg", "ObjectTagging:Delete"),
        ("red+flower.jpg", "ObjectTagging:Put"),
        ("zz-sentinel", "ObjectCreated:Put"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(
        got, want,
        "exact events of a synchronous topic (UploadPart/Abort must emit nothing)"
    );
    let ids: HashSet<&str> = all.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(ids.len(), all.len(), "eventId must be unique per change: {all:?}");

    // Wire shape of the pushes.
    for req in rx.requests().iter().filter(|r| !r.records().is_empty()) {
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/ev", "push path");
        assert_eq!(req.records().len(), 1, "one record per POST: {}", req.body_str());
        assert!(
            req.header("content-type").unwrap_or("").starts_with("application/json"),
            "Content-Type {:?}",
            req.header("content-type")
        );
        assert!(
            !req.headers
                .iter()
                .any(|(k, _)| k.to_ascii_lowercase().starts_with("ce-")),
            "no cloudevents headers without cloudevents=true: {:?}",
            req.headers
        );
    }

    let m = metrics_text(&srv);
    for (name, min) in [("pubsub_push_ok", 9.0), ("pubsub_event_triggered", 9.0)] {
        let v = metric(&m, name, Some("ev-topic"));
        assert!(
            v.unwrap_or(0.0) >= min,
            "{name}{{topic=\"ev-topic\"}} expected >= {min}, got {v:?}\n{m}"
        );
        let v = metric(&m, name, None);
        assert!(
            v.unwrap_or(0.0) >= min,
            "{name} (unlabelled) expected >= {min}, got {v:?}"
        );
    }
    for name in ["pubsub_event_lost", "pubsub_push_fail", "pubsub_push_pending"] {
        assert!(metric(&m, name, None).is_some(), "/metrics lacks {name}:\n{m}");
    }
    assert_eq!(
        metric(&m, "pubsub_push_fail", Some("ev-topic")).unwrap_or(0.0),
        0.0,
        "no push failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_bucket_version_ids_and_delete_marker() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let arn = sns.create_topic("ver-topic", &[("push-endpoint", &rx.url("ver"))]);
    s3.create_bucket().bucket("ver").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // No <Event>: all events.
    must_put_notification_xml(
        &srv,
        "ver",
        &notification_xml(&[topic_config_xml("v", &arn, &[], None)]),
    );

    let p1 = s3
        .put_object()
        .bucket("ver")
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let v1 = p1.version_id().expect("versioned put returns a version id").to_string();
    rx.wait_for("put 1", 30, |r| {
        r.delivered_for_key("k")
            .iter()
            .any(|e| e["s3"]["object"]["versionId"] == v1.as_str())
    })
    .await;
    let p2 = s3
        .put_object()
        .bucket("ver")
        .key("k")
        .body(ByteStream::from_static(b"two!"))
        .send()
        .await
        .unwrap();
    let v2 = p2.version_id().unwrap().to_string();
    rx.wait_for("put 2", 30, |r| {
        r.delivered_for_key("k")
            .iter()
            .any(|e| e["s3"]["object"]["versionId"] == v2.as_str())
    })
    .await;
    let recs = rx.delivered_for_key("k");
    let r1 = recs
        .iter()
        .find(|e| e["s3"]["object"]["versionId"] == v1.as_str())
        .unwrap();
    let r2 = recs
        .iter()
        .find(|e| e["s3"]["object"]["versionId"] == v2.as_str())
        .unwrap();
    for (r, p, v, n) in [(r1, &p1, &v1, 3), (r2, &p2, &v2, 4)] {
        check_record(
            r,
            &Exp {
                name: "ObjectCreated:Put",
                key: "k",
                bucket: "ver",
                config: "v",
                request_id: p.request_id(),
                id2: None,
                version: v,
                size: Some(n),
                etag: p.e_tag(),
                principal: "root",
                owner: "root",
                opaque: "",
            },
        );
    }
    assert!(seq(r2) > seq(r1), "sequencer must increase: {r1} then {r2}");

    let cp = s3
        .copy_object()
        .bucket("ver")
        .key("k2")
        .copy_source("ver/k")
        .send()
        .await
        .unwrap();
    let cv = cp
        .version_id()
        .expect("copy into versioned bucket returns a version id")
        .to_string();
    let crec = rx.wait_event("k2", "ObjectCreated:Copy").await;
    assert_eq!(
        crec["s3"]["object"]["versionId"],
        cv.as_str(),
        "copy versionId = target's version: {crec}"
    );

    let d = s3.delete_object().bucket("ver").key("k").send().await.unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    let marker = d.version_id().expect("delete marker version id").to_string();
    let drec = rx.wait_event("k", "ObjectRemoved:DeleteMarkerCreated").await;
    check_record(
        &drec,
        &Exp {
            name: "ObjectRemoved:DeleteMarkerCreated",
            key: "k",
            bucket: "ver",
            config: "v",
            request_id: d.request_id(),
            id2: None,
            version: &marker,
            size: None,
            etag: None,
            principal: "root",
            owner: "root",
            opaque: "",
        },
    );
    assert!(seq(&drec) > seq(r2), "delete marker sequencer must follow the puts");

    let dv = s3
        .delete_object()
        .bucket("ver")
        .key("k2")
        .version_id(&cv)
        .send()
        .await
        .unwrap();
    let dvrec = rx.wait_event("k2", "ObjectRemoved:Delete").await;
    check_record(
        &dvrec,
        &Exp {
            name: "ObjectRemoved:Delete",
            key: "k2",
            bucket: "ver",
            config: "v",
            request_id: dv.request_id(),
            id2: None,
            version: &cv,
            size: None,
            etag: None,
            principal: "root",
            owner: "root",
            opaque: "",
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_another_user_name_the_user_and_the_owner() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB_AK, BOB_SK);
    let bob_s3 = srv.s3_as(BOB_AK, BOB_SK);
    let bob = Sns::new(&srv, BOB_AK, BOB_SK);
    let rx = Receiver::start_new();
    let arn = bob.create_topic("bt", &[("push-endpoint", &rx.url("b"))]);
    assert_eq!(arn, "arn:aws:sns:us-east-1:bob:bt");
    bob_s3.create_bucket().bucket("bobs").send().await.unwrap();
    put_config(
        &bob_s3,
        "bobs",
        vec![tc("b", &arn, &["s3:ObjectCreated:*"], None, None)],
    )
    .await;
    let p = bob_s3
        .put_object()
        .bucket("bobs")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let rec = rx.wait_event("x", "ObjectCreated:Put").await;
    check_record(
        &rec,
        &Exp {
            name: "ObjectCreated:Put",
            key: "x",
            bucket: "bobs",
            config: "b",
            request_id: p.request_id(),
            id2: None,
            version: "",
            size: Some(1),
            etag: p.e_tag(),
            principal: "bob",
            owner: "bob",
            opaque: "",
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_deliver_exactly_the_matching_changes() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let arn = sns.create_topic("flt", &[("push-endpoint", &rx.url("f"))]);
    s3.create_bucket().bucket("flt").send().await.unwrap();
    let created = ["s3:ObjectCreated:*"];
    let rule = |n: &str, v: &str| {
        format!(
            "<FilterRule><Name>{n}</Name><Value>{}</Value></FilterRule>",
            xml_escape(v)
        )
    };
    let xml = notification_xml(&[
        topic_config_xml(
            "pre",
            &arn,
            &created,
            Some(&format!("<S3Key>{}</S3Key>", rule("prefix", "img/"))),
        ),
        topic_config_xml(
            "suf",
            &arn,
            &created,
            Some(&format!("<S3Key>{}</S3Key>", rule("suffix", ".jpg"))),
        ),
        topic_config_xml(
            "re",
            &arn,
            &created,
            Some(&format!("<S3Key>{}</S3Key>", rule("regex", "logs/[0-9]+\\.txt"))),
        ),
        topic_config_xml(
            "meta",
            &arn,
            &created,
            Some(&format!("<S3Metadata>{}</S3Metadata>", rule("x-amz-meta-color", "red"))),
        ),
        topic_config_xml(
            "tag",
            &arn,
            &created,
            Some(&format!("<S3Tags>{}</S3Tags>", rule("team", "ops"))),
        ),
        topic_config_xml("del", &arn, &["s3:ObjectRemoved:*"], None),
    ]);
    must_put_notification_xml(&srv, "flt", &xml);

    // The configuration reads back, extensions included.
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("flt")
        .send()
        .await
        .unwrap();
    let ids: BTreeSet<&str> = g.topic_configurations().iter().filter_map(|t| t.id()).collect();
    assert_eq!(ids, BTreeSet::from(["pre", "suf", "re", "meta", "tag", "del"]), "{g:?}");
    let pre = g.topic_configurations().iter().find(|t| t.id() == Some("pre")).unwrap();
    assert_eq!(pre.topic_arn(), arn.as_str());
    let rules = pre
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules().to_vec())
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "{pre:?}");
    assert_eq!(rules[0].value(), Some("img/"), "{pre:?}");
    let raw = get_notification_xml(&srv, "flt").body_str();
    for needle in [
        "x-amz-meta-color",
        "<S3Metadata>",
        "<S3Tags>",
        "regex",
        "logs/[0-9]+\\.txt",
    ] {
        assert!(raw.contains(needle), "GET ?notification lacks {needle}: {raw}");
    }

    let put = |key: &'static str, meta: Option<&'static str>, tags: Option<&'static str>| {
        let s3 = s3.clone();
        async move {
            let mut r = s3
                .put_object()
                .bucket("flt")
                .key(key)
                .body(ByteStream::from_static(b"data"));
            if let Some(m) = meta {
                r = r.metadata("color", m);
            }
            if let Some(t) = tags {
                r = r.tagging(t);
            }
            r.send().await.unwrap();
        }
    };
    put("img/a.png", None, None).await;
    put("doc/b.jpg", None, None).await;
    put("logs/123.txt", None, None).await;
    put("logs/abc.txt", None, None).await;
    put("xlogs/1.txt", None, None).await;
    put("logs/1.txt.bak", None, None).await;
    put("plain.bin", Some("red"), None).await;
    put("plain2.bin", Some("blue"), None).await;
    put("tagged.bin", None, Some("team=ops")).await;
    put("tagged2.bin", None, Some("team=dev")).await;
    put("IMG/upper.png", None, None).await;
    s3.delete_object().bucket("flt").key("plain.bin").send().await.unwrap();
    // Sentinel matching pre, suf, meta and tag.
    put("img/sentinel.jpg", Some("red"), Some("team=ops")).await;
    rx.wait_for("the sentinel for pre, suf, meta and tag", 30, |r| {
        let got: HashSet<String> = r
            .delivered_for_key("img/sentinel.jpg")
            .iter()
            .filter_map(|e| e["s3"]["configurationId"].as_str().map(String::from))
            .collect();
        ["pre", "suf", "meta", "tag"].iter().all(|c| got.contains(*c))
    })
    .await;

    let mut by_config: HashMap<String, BTreeSet<(String, String)>> = HashMap::new();
    for r in rx.delivered_records() {
        by_config
            .entry(r["s3"]["configurationId"].as_str().unwrap_or("?").to_string())
            .or_default()
            .insert((
                r["s3"]["object"]["key"].as_str().unwrap_or("?").to_string(),
                r["eventName"].as_str().unwrap_or("?").to_string(),
            ));
    }
    let put_ev = "ObjectCreated:Put";
    let want = |items: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    let expected: Vec<(&str, BTreeSet<(String, String)>)> = vec![
        ("pre", want(&[("img/a.png", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("suf", want(&[("doc/b.jpg", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("re", want(&[("logs/123.txt", put_ev)])),
        ("meta", want(&[("plain.bin", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("tag", want(&[("tagged.bin", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("del", want(&[("plain.bin", "ObjectRemoved:Delete")])),
    ];
    let mut failures = Vec::new();
    for (cfg, w) in &expected {
        let got = by_config.get(*cfg).cloned().unwrap_or_default();
        if &got != w {
            failures.push(format!("notification {cfg}: expected {w:?}, got {got:?}"));
        }
    }
    let known: HashSet<&str> = expected.iter().map(|(c, _)| *c).collect();
    for k in by_config.keys() {
        if !known.contains(k.as_str()) {
            failures.push(format!("unexpected configurationId {k}: {:?}", by_config[k]));
        }
    }
    assert!(failures.is_empty(), "filter mismatches:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_crud_test_event_and_validation() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB_AK, BOB_SK);
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let r1 = Receiver::start_new();
    let r2 = Receiver::start_new();
    let t1 = sns.create_topic("t1", &[("push-endpoint", &r1.url("one"))]);
    let t2 = sns.create_topic("t2", &[("push-endpoint", &r2.url("two"))]);
    s3.create_bucket().bucket("cfg").send().await.unwrap();

    put_config(
        &s3,
        "cfg",
        vec![tc("n1", &t1, &["s3:ObjectCreated:*"], Some("a/"), None)],
    )
    .await;
    r1.wait_for("TestEvent for n1", 30, |r| r.test_events().len() == 1)
        .await;
    let te = r1.test_events()[0].json().unwrap();
    assert_eq!(te["Service"], "Amazon S3", "{te}");
    assert_eq!(te["Event"], "s3:TestEvent", "{te}");
    assert_eq!(te["Bucket"], "cfg", "{te}");
    for k in ["Time", "RequestId", "HostId"] {
        assert!(te[k].is_string(), "TestEvent lacks {k}: {te}");
    }
    assert!(
        r1.test_events()[0]
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );

    let g = s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(g.topic_configurations().len(), 1, "{g:?}");
    let c = &g.topic_configurations()[0];
    assert_eq!(c.id(), Some("n1"));
    assert_eq!(c.topic_arn(), t1.as_str());
    assert_eq!(
        c.events().iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        vec!["s3:ObjectCreated:*"]
    );
    let rules = c
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules().to_vec())
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "{c:?}");
    assert_eq!(
        rules[0].name().map(|n| n.as_str().to_ascii_lowercase()),
        Some("prefix".into())
    );
    assert_eq!(rules[0].value(), Some("a/"));

    put_config(
        &s3,
        "cfg",
        vec![
            tc("n1", &t1, &["s3:ObjectCreated:*"], Some("a/"), None),
            tc("n2", &t2, &["s3:ObjectRemoved:*"], None, Some(".log")),
        ],
    )
    .await;
    r2.wait_for("TestEvent for the newly added n2", 30, |r| r.test_events().len() == 1)
        .await;
    assert_eq!(
        r1.test_events().len(),
        1,
        "t1 was not newly added; it must not get another TestEvent"
    );

    // Ceph: GET/DELETE one notification by id.
    let one = s3_raw(
        &srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        "/cfg?notification=n2",
        b"",
    );
    let body = one.body_str();
    assert_eq!(one.status, 200, "GET ?notification=n2: {body}");
    assert!(
        body.contains("<Id>n2</Id>") && !body.contains("<Id>n1</Id>"),
        "GET ?notification=n2: {body}"
    );
    assert!(body.contains(&t2), "{body}");
    let missing = s3_raw(
        &srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        "/cfg?notification=nope",
        b"",
    );
    assert_eq!(missing.status, 404, "GET ?notification=nope: {}", missing.body_str());
    let del = s3_raw(
        &srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "DELETE",
        "/cfg?notification=n2",
        b"",
    );
    assert!(
        (200..300).contains(&del.status),
        "DELETE ?notification=n2: {} {}",
        del.status,
        del.body_str()
    );
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = g.topic_configurations().iter().filter_map(|t| t.id()).collect();
    assert_eq!(ids, vec!["n1"], "after DELETE ?notification=n2");

    // Validation errors keep the old configuration.
    let snapshot = get_notification_xml(&srv, "cfg").body_str();
    assert!(snapshot.contains("<Id>n1</Id>"), "{snapshot}");
    let unchanged = |what: &str| {
        let now = get_notification_xml(&srv, "cfg").body_str();
        assert_eq!(now, snapshot, "configuration changed after the refused {what}");
    };

    let res = s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(tc(
                    "bad",
                    "arn:aws:sns:us-east-1:root:no-such-topic",
                    &["s3:ObjectCreated:*"],
                    None,
                    None,
                ))
                .build(),
        )
        .send()
        .await;
    let e = res.expect_err("unknown topic ARN accepted");
    let (code, status) = err_info(&e);
    assert!(
        (400..500).contains(&status) && (code == "NoSuchKey" || code == "InvalidArgument"),
        "unknown topic ARN: expected 4xx NoSuchKey/InvalidArgument, got {code} ({status})"
    );
    unchanged("unknown topic ARN");

    let res = s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(tc("bad-event", &t1, &["s3:NoSuchEvent"], None, None))
                .build(),
        )
        .send()
        .await;
    assert_err(res, "InvalidArgument", 400);
    unchanged("bad event name");

    for (what, xml) in [
        (
            "malformed XML",
            "<NotificationConfiguration><TopicConfiguration><Id>x</Id>".to_string(),
        ),
        (
            "empty configuration",
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" />".to_string(),
        ),
    ] {
        let r = put_notification_xml(&srv, "cfg", &xml);
        assert_eq!(
            (r.status, xml_first(&r.body_str(), "Code").unwrap_or_default()),
            (400, "MalformedXML".to_string()),
            "{what}: {}",
            r.body_str()
        );
        unchanged(what);
    }

    // Topics are per user: root cannot use bob's, bob cannot use root's.
    let bob = Sns::new(&srv, BOB_AK, BOB_SK);
    let bt = bob.create_topic("bt", &[("push-endpoint", &r2.url("bob"))]);
    let r = put_notification_xml(
        &srv,
        "cfg",
        &notification_xml(&[topic_config_xml("x", &bt, &["s3:ObjectCreated:*"], None)]),
    );
    assert!(
        (400..500).contains(&r.status),
        "root used bob's topic: {} {}",
        r.status,
        r.body_str()
    );
    unchanged("configuration with another user's topic");
    let bob_s3 = srv.s3_as(BOB_AK, BOB_SK);
    bob_s3.create_bucket().bucket("bob-cfg").send().await.unwrap();
    let r = put_notification_xml_as(
        &srv,
        BOB_AK,
        BOB_SK,
        "bob-cfg",
        &notification_xml(&[topic_config_xml("x", &t1, &["s3:ObjectCreated:*"], None)]),
    );
    assert!(
        (400..500).contains(&r.status),
        "bob used root's topic: {} {}",
        r.status,
        r.body_str()
    );

    // Delete all.
    let del = s3_raw(
        &srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "DELETE",
        "/cfg?notification",
        b"",
    );
    assert!(
        (200..300).contains(&del.status),
        "DELETE ?notification: {} {}",
        del.status,
        del.body_str()
    );
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert!(g.topic_configurations().is_empty(), "after DELETE ?notification: {g:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_outage_persistent_no_loss_sync_not_retried() {
    let srv = TestServer::start();
    let s3 = srv.s3_no_retry();
    let sns = Sns::root(&srv);
    let mut rp = Receiver::reserved();
    let mut rs = Receiver::reserved();
    let tp = sns.create_topic(
        "out-p",
        &[
            ("push-endpoint", &rp.url("p")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    let ts = sns.create_topic("out-s", &[("push-endpoint", &rs.url("s"))]);
    s3.create_bucket().bucket("out").send().await.unwrap();
    put_config(
        &s3,
        "out",
        vec![
            tc("p", &tp, &["s3:ObjectCreated:*"], None, None),
            tc("s", &ts, &["s3:ObjectCreated:*"], None, None),
        ],
    )
    .await;
    let fail0 = metric(&metrics_text(&srv), "pubsub_push_fail", Some("out-s")).unwrap_or(0.0);

    let mut req_ids = HashMap::new();
    for i in 0..20 {
        let key = format!("o{i:02}");
        let r = s3
            .put_object()
            .bucket("out")
            .key(&key)
            .body(ByteStream::from(format!("payload {i}").into_bytes()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutObject must succeed although the receivers are down: {e:?}"));
        req_ids.insert(key, r.request_id().unwrap().to_string());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let m = metrics_text(&srv);
        let f = metric(&m, "pubsub_push_fail", Some("out-s")).unwrap_or(0.0) - fail0;
        if f >= 20.0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pubsub_push_fail{{topic=\"out-s\"}} grew by {f}, expected >= 20 failed synchronous pushes\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let st = topic_cli_json(&srv, &["stats", "out-p", "--user", "root"]);
    for k in ["entries", "bytes", "oldest_age_seconds", "retries"] {
        assert!(
            st.get(k).map(|v| v.is_number()).unwrap_or(false),
            "topic stats lacks numeric {k}: {st}"
        );
    }
    assert!(
        st["entries"].as_u64().unwrap() >= 20,
        "topic stats while the receiver is down: {st}"
    );
    assert!(st["bytes"].as_u64().unwrap_or(0) > 0, "topic stats bytes: {st}");
    let dump = topic_cli_json(&srv, &["dump", "out-p", "--user", "root"]);
    let arr = dump
        .as_array()
        .unwrap_or_else(|| panic!("topic dump is not an array: {dump}"));
    assert!(arr.len() >= 20, "topic dump has {} entries", arr.len());
    let dump_text = dump.to_string();
    for i in 0..20 {
        assert!(dump_text.contains(&format!("o{i:02}")), "topic dump lacks o{i:02}");
    }

    rp.start();
    rs.start();
    rp.wait_for("all 20 persistent events after the outage", 90, |r| {
        (0..20).all(|i| !r.delivered_for_key(&format!("o{i:02}")).is_empty())
    })
    .await;
    for (key, rid) in &req_ids {
        let recs = rp.delivered_for_key(key);
        let ids: HashSet<&str> = recs.iter().filter_map(|r| r["eventId"].as_str()).collect();
        assert_eq!(
            ids.len(),
            1,
            "duplicates of one change must carry the same eventId: {recs:?}"
        );
        for r in &recs {
            assert_eq!(r["responseElements"]["x-amz-request-id"], rid.as_str(), "{r}");
            assert_eq!(r["eventName"], "ObjectCreated:Put");
            assert_eq!(r["s3"]["configurationId"], "p");
        }
    }

    // The synchronous topic never retries: after a sentinel, only it arrived.
    s3.put_object()
        .bucket("out")
        .key("sentinel")
        .body(ByteStream::from_static(b"s"))
        .send()
        .await
        .unwrap();
    rs.wait_event("sentinel", "ObjectCreated:Put").await;
    rp.wait_event("sentinel", "ObjectCreated:Put").await;
    let keys: BTreeSet<String> = rs
        .attempted_records()
        .iter()
        .filter_map(|r| r["s3"]["object"]["key"].as_str().map(String::from))
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["sentinel".to_string()]),
        "a non-persistent topic's failed events must not be retried"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n = topic_stats_entries(&srv, "out-p", "root");
        if n == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "topic stats entries still {n} after the drain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let m = metrics_text(&srv);
    assert!(
        metric(&m, "pubsub_push_ok", Some("out-p")).unwrap_or(0.0) >= 21.0,
        "pubsub_push_ok out-p:\n{m}"
    );
    assert!(
        metric(&m, "pubsub_push_fail", Some("out-p")).unwrap_or(0.0) >= 1.0,
        "pubsub_push_fail out-p (pushes during the outage):\n{m}"
    );
    assert_eq!(
        metric(&m, "pubsub_event_lost", Some("out-p")).unwrap_or(0.0),
        0.0,
        "nothing may be lost:\n{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_events_survive_kill9() {
    let mut srv = TestServer::start();
    let sns = Sns::root(&srv);
    let mut rp = Receiver::reserved();
    let tp = sns.create_topic(
        "crash",
        &[
            ("push-endpoint", &rp.url("c")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    let mut req_ids = HashMap::new();
    {
        let s3 = srv.s3_no_retry();
        s3.create_bucket().bucket("crash").send().await.unwrap();
        put_config(&s3, "crash", vec![tc("c", &tp, &["s3:ObjectCreated:*"], None, None)]).await;
        for i in 0..10 {
            let key = format!("k{i}");
            let r = s3
                .put_object()
                .bucket("crash")
                .key(&key)
                .body(ByteStream::from(vec![b'x'; i + 1]))
                .send()
                .await
                .unwrap();
            req_ids.insert(key, r.request_id().unwrap().to_string());
        }
    }
    srv.kill9();
    srv.restart();
    rp.start();
    rp.wait_for("all 10 events queued before kill -9", 90, |r| {
        (0..10).all(|i| !r.delivered_for_key(&format!("k{i}")).is_empty())
    })
    .await;
    let mut all_ids = HashSet::new();
    for (key, rid) in &req_ids {
        let recs = rp.delivered_for_key(key);
        let ids: HashSet<String> = recs
            .iter()
            .filter_map(|r| r["eventId"].as_str().map(String::from))
            .collect();
        assert_eq!(ids.len(), 1, "duplicates must carry the same eventId: {recs:?}");
        all_ids.extend(ids);
        let i: usize = key[1..].parse().unwrap();
        for r in &recs {
            assert_eq!(r["responseElements"]["x-amz-request-id"], rid.as_str(), "{r}");
            assert_eq!(r["s3"]["object"]["size"].as_u64(), Some(i as u64 + 1), "{r}");
        }
    }
    assert_eq!(all_ids.len(), 10, "distinct changes need distinct eventIds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_retries_and_time_to_live_expiry_counted_lost() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    rx.set_mode(Mode::Status(500));
    let ta = sns.create_topic(
        "exp-retries",
        &[
            ("push-endpoint", &rx.url("a")),
            ("persistent", "true"),
            ("max_retries", "2"),
            ("retry_sleep_duration", "1"),
        ],
    );
    let tb = sns.create_topic(
        "exp-ttl",
        &[
            ("push-endpoint", &rx.url("b")),
            ("persistent", "true"),
            ("time_to_live", "3"),
            ("max_retries", "0"),
            ("retry_sleep_duration", "1"),
        ],
    );
    for (b, t) in [("la1", &ta), ("lb1", &tb)] {
        s3.create_bucket().bucket(b).send().await.unwrap();
        put_config(&s3, b, vec![tc(b, t, &["s3:ObjectCreated:*"], None, None)]).await;
    }
    s3.put_object()
        .bucket("la1")
        .key("lost-a")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("lb1")
        .key("lost-b")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await
        .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let m = metrics_text(&srv);
        let a = metric(&m, "pubsub_event_lost", Some("exp-retries")).unwrap_or(0.0);
        let b = metric(&m, "pubsub_event_lost", Some("exp-ttl")).unwrap_or(0.0);
        if a >= 1.0 && b >= 1.0 {
            assert!(
                metric(&m, "pubsub_event_lost", None).unwrap_or(0.0) >= 2.0,
                "unlabelled pubsub_event_lost:\n{m}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 60 s: pubsub_event_lost exp-retries={a} exp-ttl={b}, expected >= 1 each\n{m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    for t in ["exp-retries", "exp-ttl"] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let n = topic_stats_entries(&srv, t, "root");
            if n == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "expired events still queued in {t}: {n}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    let attempts_a = rx
        .attempted_records()
        .iter()
        .filter(|r| r["s3"]["object"]["key"] == "lost-a")
        .count();
    assert!(
        (1..=3).contains(&attempts_a),
        "max_retries=2: expected 1..=3 pushes of lost-a, got {attempts_a}"
    );

    // The receiver recovers: new events flow, the expired ones never come back.
    rx.set_mode(Mode::Ok);
    s3.put_object()
        .bucket("la1")
        .key("after-a")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket("lb1")
        .key("after-b")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await
        .unwrap();
    rx.wait_event("after-a", "ObjectCreated:Put").await;
    rx.wait_event("after-b", "ObjectCreated:Put").await;
    // Give the retry loop a few more cycles to misbehave, bounded by another sentinel.
    s3.put_object()
        .bucket("la1")
        .key("after-a2")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    rx.wait_event("after-a2", "ObjectCreated:Put").await;
    assert!(
        rx.delivered_for_key("lost-a").is_empty(),
        "expired event lost-a was delivered later"
    );
    assert!(
        rx.delivered_for_key("lost-b").is_empty(),
        "expired event lost-b was delivered later"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order_persistent() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let tp = sns.create_topic(
        "order",
        &[
            ("push-endpoint", &rx.url("o")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    s3.create_bucket().bucket("order").send().await.unwrap();
    put_config(
        &s3,
        "order",
        vec![tc("o", &tp, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None, None)],
    )
    .await;
    let mut issued = Vec::new();
    for i in 0..30 {
        let r = s3
            .put_object()
            .bucket("order")
            .key("same")
            .body(ByteStream::from(format!("version {i}").into_bytes()))
            .send()
            .await
            .unwrap();
        issued.push(r.request_id().unwrap().to_string());
    }
    let d = s3.delete_object().bucket("order").key("same").send().await.unwrap();
    issued.push(d.request_id().unwrap().to_string());
    rx.wait_for("all 31 changes of one key", 60, |r| {
        let got: HashSet<String> = r
            .delivered_for_key("same")
            .iter()
            .filter_map(|e| e["responseElements"]["x-amz-request-id"].as_str().map(String::from))
            .collect();
        issued.iter().all(|i| got.contains(i))
    })
    .await;
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut seqs = Vec::new();
    for r in rx.delivered_for_key("same") {
        let id = r["eventId"].as_str().unwrap_or("").to_string();
        if seen.insert(id) {
            order.push(
                r["responseElements"]["x-amz-request-id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
            seqs.push(seq(&r));
        }
    }
    assert_eq!(order, issued, "events of one key must arrive in change order");
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "sequencers must increase in arrival order: {seqs:X?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_headers() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let t = sns.create_topic("ce", &[("push-endpoint", &rx.url("ce")), ("cloudevents", "true")]);
    s3.create_bucket().bucket("ceb").send().await.unwrap();
    put_config(
        &s3,
        "ceb",
        vec![tc("ce", &t, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None, None)],
    )
    .await;
    s3.put_object()
        .bucket("ceb")
        .key("ce.txt")
        .body(ByteStream::from_static(b"cloud"))
        .send()
        .await
        .unwrap();
    rx.wait_event("ce.txt", "ObjectCreated:Put").await;
    let req = rx
        .requests()
        .into_iter()
        .find(|r| r.records().iter().any(|e| e["s3"]["object"]["key"] == "ce.txt"))
        .unwrap();
    assert_eq!(req.header("ce-specversion"), Some("1.0"), "{:?}", req.headers);
    assert_eq!(
        req.header("ce-type"),
        Some("com.amazonaws.ObjectCreated:Put"),
        "{:?}",
        req.headers
    );
    for h in ["ce-id", "ce-source", "ce-time", "ce-subject"] {
        assert!(
            req.header(h).map(|v| !v.is_empty()).unwrap_or(false),
            "missing {h}: {:?}",
            req.headers
        );
    }
    assert!(req.header("content-type").unwrap_or("").starts_with("application/json"));
    s3.delete_object().bucket("ceb").key("ce.txt").send().await.unwrap();
    rx.wait_event("ce.txt", "ObjectRemoved:Delete").await;
    let del = rx
        .requests()
        .into_iter()
        .find(|r| r.records().iter().any(|e| e["eventName"] == "ObjectRemoved:Delete"))
        .unwrap();
    assert_eq!(
        del.header("ce-type"),
        Some("com.amazonaws.ObjectRemoved:Delete"),
        "{:?}",
        del.headers
    );
    assert_ne!(
        del.header("ce-id"),
        req.header("ce-id"),
        "ce-id must differ between events"
    );
}

fn verify_signature(req: &Received, secret: &str) {
    let h = req
        .header("x-herald-signature")
        .unwrap_or_else(|| panic!("push without x-herald-signature: {:?} {}", req.headers, req.body_str()));
    let mut t = None;
    let mut v1 = None;
    for part in h.split(',') {
        if let Some(x) = part.trim().strip_prefix("t=") {
            t = Some(x.to_string());
        }
        if let Some(x) = part.trim().strip_prefix("v1=") {
            v1 = Some(x.to_string());
        }
    }
    let t = t.unwrap_or_else(|| panic!("no t= in {h:?}"));
    let v1 = v1.unwrap_or_else(|| panic!("no v1= in {h:?}"));
    assert!(t.parse::<u64>().is_ok(), "t must be unix seconds: {h:?}");
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(&req.body);
    let want = hex::encode(hmac_sha256(secret.as_bytes(), &msg));
    assert_eq!(
        v1.to_ascii_lowercase(),
        want,
        "x-herald-signature v1 for body {}",
        req.body_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_secret_signs_every_push() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let rp = Receiver::start_new();
    let secret = "s3cr3t-signing-key";
    let t = sns.create_topic("sig", &[("push-endpoint", &rx.url("sig")), ("push-secret", secret)]);
    let tp = sns.create_topic(
        "sigp",
        &[
            ("push-endpoint", &rp.url("sigp")),
            ("push-secret", secret),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    s3.create_bucket().bucket("sig").send().await.unwrap();
    put_config(
        &s3,
        "sig",
        vec![
            tc("s", &t, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None, None),
            tc("p", &tp, &["s3:ObjectCreated:*"], None, None),
        ],
    )
    .await;
    s3.put_object()
        .bucket("sig")
        .key("a b.txt")
        .body(ByteStream::from_static(b"signed"))
        .send()
        .await
        .unwrap();
    s3.delete_object().bucket("sig").key("a b.txt").send().await.unwrap();
    rx.wait_event("a+b.txt", "ObjectRemoved:Delete").await;
    rp.wait_event("a+b.txt", "ObjectCreated:Put").await;
    let reqs: Vec<Received> = rx.requests().into_iter().chain(rp.requests()).collect();
    assert!(reqs.len() >= 3);
    for r in &reqs {
        verify_signature(r, secret);
    }
    // No secret, no signature header.
    let plain = Receiver::start_new();
    let tn = sns.create_topic("nosig", &[("push-endpoint", &plain.url("n"))]);
    s3.create_bucket().bucket("nosig").send().await.unwrap();
    put_config(&s3, "nosig", vec![tc("n", &tn, &["s3:ObjectCreated:*"], None, None)]).await;
    s3.put_object()
        .bucket("nosig")
        .key("n")
        .body(ByteStream::from_static(b"n"))
        .send()
        .await
        .unwrap();
    plain.wait_event("n", "ObjectCreated:Put").await;
    assert!(
        plain
            .requests()
            .iter()
            .all(|r| r.header("x-herald-signature").is_none())
    );
}

async fn wait_subscription_status(sns: &Sns, arn: &str, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let a = sns
            .get_topic_attributes(arn)
            .unwrap_or_else(|e| panic!("GetTopicAttributes {arn}: {e:?}"));
        let st = a.get("SubscriptionStatus").cloned().unwrap_or_default();
        if pred(&st) {
            return st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SubscriptionStatus of {arn}: expected {what}, still {st:?} after 30 s; attributes {a:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_handshake_right_and_wrong() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let good = Receiver::start_new();
    let bad = Receiver::start_new();
    bad.set_mode(Mode::WrongHandshake);
    let badp = Receiver::start_new();
    badp.set_mode(Mode::WrongHandshake);

    let tg = sns.create_topic(
        "hs-good",
        &[
            ("push-endpoint", &good.url("hook/good")),
            ("subscription-confirmation", "true"),
        ],
    );
    good.wait_for("the SubscriptionConfirmation", 30, |r| !r.handshakes().is_empty())
        .await;
    let hs = &good.handshakes()[0];
    assert_eq!(hs.method, "POST");
    assert_eq!(hs.path, "/hook/good");
    let body = hs.body_str();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("handshake body not JSON ({e}): {body}"));
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["Timestamp", "Type", "Message", "TopicArn", "SignatureVersion", "Token"]),
        "{body}"
    );
    assert_eq!(v["Type"], "SubscriptionConfirmation", "{body}");
    assert_eq!(v["TopicArn"], tg.as_str(), "{body}");
    assert_eq!(
        v["SignatureVersion"], 1,
        "SignatureVersion must be the number 1: {body}"
    );
    assert!(v["Token"].as_str().map(|t| !t.is_empty()).unwrap_or(false), "{body}");
    assert!(
        body.starts_with("{\"") && !body.contains("\": ") && !body.contains("\n"),
        "handshake JSON must be compact: {body}"
    );
    wait_subscription_status(&sns, &tg, |s| s == "confirmed", "confirmed").await;

    let tb = sns.create_topic(
        "hs-bad",
        &[
            ("push-endpoint", &bad.url("hook/bad")),
            ("subscription-confirmation", "true"),
        ],
    );
    let tbp = sns.create_topic(
        "hs-badp",
        &[
            ("push-endpoint", &badp.url("hook/badp")),
            ("subscription-confirmation", "true"),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    wait_subscription_status(&sns, &tb, |s| s.starts_with("failed"), "failed…").await;
    wait_subscription_status(&sns, &tbp, |s| s.starts_with("failed"), "failed…").await;
    assert!(
        !bad.handshakes().is_empty() && !badp.handshakes().is_empty(),
        "the wrong receivers were asked"
    );

    s3.create_bucket().bucket("hsb").send().await.unwrap();
    put_config(
        &s3,
        "hsb",
        vec![
            tc("good", &tg, &["s3:ObjectCreated:*"], None, None),
            tc("bad", &tb, &["s3:ObjectCreated:*"], None, None),
            tc("badp", &tbp, &["s3:ObjectCreated:*"], None, None),
        ],
    )
    .await;
    s3.put_object()
        .bucket("hsb")
        .key("x1")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    let rec = good.wait_event("x1", "ObjectCreated:Put").await;
    assert_eq!(rec["s3"]["configurationId"], "good");
    s3.put_object()
        .bucket("hsb")
        .key("x2")
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap();
    good.wait_event("x2", "ObjectCreated:Put").await;
    assert!(
        bad.attempted_records().is_empty(),
        "events pushed to a failed subscription: {:?}",
        bad.attempted_records()
    );
    assert!(
        badp.attempted_records().is_empty(),
        "events pushed to a failed persistent subscription: {:?}",
        badp.attempted_records()
    );
    let n = topic_stats_entries(&srv, "hs-badp", "root");
    assert!(
        n >= 2,
        "persistent events for a failed subscription must wait in the queue; topic stats entries = {n}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_retried_until_2xx_and_order_kept_across_outage() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    rx.set_mode(Mode::Status(500));
    let tp = sns.create_topic(
        "retry500",
        &[
            ("push-endpoint", &rx.url("r")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    s3.create_bucket().bucket("r500").send().await.unwrap();
    put_config(
        &s3,
        "r500",
        vec![tc("r", &tp, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None, None)],
    )
    .await;
    let mut issued = Vec::new();
    for i in 0..15 {
        let r = s3
            .put_object()
            .bucket("r500")
            .key("one key")
            .body(ByteStream::from(format!("v{i}").into_bytes()))
            .send()
            .await
            .unwrap();
        issued.push(r.request_id().unwrap().to_string());
    }
    let d = s3.delete_object().bucket("r500").key("one key").send().await.unwrap();
    issued.push(d.request_id().unwrap().to_string());
    // The receiver refuses for a while: pushes are attempted and retried.
    rx.wait_for("a refused push attempt", 30, |r| !r.attempted_records().is_empty())
        .await;
    let st = topic_cli_json(&srv, &["stats", "retry500", "--user", "root"]);
    assert!(
        st["entries"].as_u64().unwrap_or(0) >= 1,
        "events must stay queued while the receiver answers 500: {st}"
    );
    rx.wait_for("a retry of a refused push", 30, |r| {
        let ids: Vec<String> = r
            .attempted_records()
            .iter()
            .filter_map(|e| e["eventId"].as_str().map(String::from))
            .collect();
        let uniq: HashSet<&String> = ids.iter().collect();
        uniq.len() < ids.len()
    })
    .await;
    rx.set_mode(Mode::Ok);
    rx.wait_for("all 16 changes accepted", 60, |r| {
        let got: HashSet<String> = r
            .delivered_for_key("one+key")
            .iter()
            .filter_map(|e| e["responseElements"]["x-amz-request-id"].as_str().map(String::from))
            .collect();
        issued.iter().all(|i| got.contains(i))
    })
    .await;
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    for r in rx.delivered_for_key("one+key") {
        if seen.insert(r["eventId"].as_str().unwrap_or("").to_string()) {
            order.push(
                r["responseElements"]["x-amz-request-id"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
    }
    assert_eq!(
        order, issued,
        "after the outage, the events of one key must be accepted in change order"
    );
    assert_eq!(
        metric(&metrics_text(&srv), "pubsub_event_lost", Some("retry500")).unwrap_or(0.0),
        0.0,
        "nothing lost with unlimited retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_events_survive_graceful_restart() {
    let mut srv = TestServer::start();
    let sns = Sns::root(&srv);
    let mut rp = Receiver::reserved();
    let tp = sns.create_topic(
        "graceful",
        &[
            ("push-endpoint", &rp.url("g")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    {
        let s3 = srv.s3();
        s3.create_bucket().bucket("graceful").send().await.unwrap();
        put_config(&s3, "graceful", vec![tc("g", &tp, &["s3:ObjectCreated:*"], None, None)]).await;
        for i in 0..5 {
            s3.put_object()
                .bucket("graceful")
                .key(format!("g{i}"))
                .body(ByteStream::from_static(b"g"))
                .send()
                .await
                .unwrap();
        }
    }
    // >= 5: the configuration's s3:TestEvent may be queued as well.
    let n = topic_stats_entries(&srv, "graceful", "root");
    assert!(n >= 5, "queued events while the receiver is down: {n}");
    let st = srv.terminate();
    assert!(st.success(), "herald serve exited with {st} on SIGTERM");
    srv.restart();
    rp.start();
    rp.wait_for("the 5 events queued before the clean stop", 60, |r| {
        (0..5).all(|i| !r.delivered_for_key(&format!("g{i}")).is_empty())
    })
    .await;
}
