//! What the records say: every event type, version ids and delete
//! markers, and who made a change.

use super::*;

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
    let (put_rec, copy_rec) = put_and_copy_records(&s3, &rx, owner).await;

    multipart_records(&s3, &rx, owner).await;

    tagging_records(&s3, &rx, owner, &put_rec).await;

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

    exactly_the_expected_events(&s3, &rx).await;

    push_wire_shape_and_metrics(&srv, &rx);
}

/// PutObject (metadata, tags, a key needing URL encoding) and CopyObject:
/// their records, returned for the sequencer checks that follow.
async fn put_and_copy_records(s3: &aws_sdk_s3::Client, rx: &Receiver, owner: &str) -> (Value, Value) {
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
    (put_rec, copy_rec)
}

/// Multipart: Create is ObjectCreated:Post, Complete is
/// CompleteMultipartUpload; an abort emits nothing (checked after the
/// sentinel).
async fn multipart_records(s3: &aws_sdk_s3::Client, rx: &Receiver, owner: &str) {
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
}

/// PutObjectTagging and DeleteObjectTagging records, sequenced after the
/// put of the same key.
async fn tagging_records(s3: &aws_sdk_s3::Client, rx: &Receiver, owner: &str, put_rec: &Value) {
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
        seq(put_rec) < seq(&tag_put) && seq(&tag_put) < seq(&tag_del),
        "sequencer must increase for successive changes of one key: {} {} {}",
        put_rec["s3"]["object"]["sequencer"],
        tag_put["s3"]["object"]["sequencer"],
        tag_del["s3"]["object"]["sequencer"]
    );
}

/// After a sentinel, the exact set of events, each with its own eventId.
async fn exactly_the_expected_events(s3: &aws_sdk_s3::Client, rx: &Receiver) {
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
}

/// The wire shape of the pushes, and the push metrics.
fn push_wire_shape_and_metrics(srv: &TestServer, rx: &Receiver) {
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

    let m = metrics_text(srv);
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

    copy_and_deletes_carry_version_ids(&s3, &rx, r2).await;
}

/// A copy carries the target's version id, a delete marker its own, a
/// version delete the version removed.
async fn copy_and_deletes_carry_version_ids(s3: &aws_sdk_s3::Client, rx: &Receiver, r2: &Value) {
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
