//! Gateway mode (`--upstream-endpoint`): Herald in front of another S3
//! that keeps the objects, adding its events. Tested against a real,
//! different implementation (SeaweedFS) and against a second Herald in
//! embedded mode.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, Event, NotificationConfiguration, ObjectIdentifier,
    QueueConfiguration, Tag, Tagging, TopicConfiguration,
};
use herald_testkit::*;
use serde_json::Value;

fn args_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A gateway in front of `endpoint` with the given upstream keys.
fn gateway_to(endpoint: &str, access: &str, secret: &str, more: &[&str]) -> TestServer {
    let mut args = vec![
        "--upstream-endpoint",
        endpoint,
        "--upstream-access-key",
        access,
        "--upstream-secret-key",
        secret,
    ];
    args.extend_from_slice(more);
    TestServer::start_with_args(&args)
}

/// Every event kind to `topic` (and, when given, created ones to `queue_arn`).
async fn notify_everything(s3: &aws_sdk_s3::Client, bucket: &str, topic: &str, queue_arn: Option<&str>) {
    let mut config = NotificationConfiguration::builder().topic_configurations(
        TopicConfiguration::builder()
            .id("everything")
            .topic_arn(topic)
            .events(Event::from("s3:ObjectCreated:*"))
            .events(Event::from("s3:ObjectRemoved:*"))
            .events(Event::from("s3:ObjectTagging:*"))
            .events(Event::from("s3:ObjectAccessed:*"))
            .build()
            .unwrap(),
    );
    if let Some(arn) = queue_arn {
        config = config.queue_configurations(
            QueueConfiguration::builder()
                .id("created-to-queue")
                .queue_arn(arn)
                .events(Event::S3ObjectCreated)
                .build()
                .unwrap(),
        );
    }
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config.build())
        .send()
        .await
        .unwrap();
}

async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn object_field<'a>(record: &'a Value, field: &str) -> &'a Value {
    &record["s3"]["object"][field]
}

/// `docs/a b+c.txt` as event records spell keys (URL-encoded, as S3's).
const ENCODED_KEY: &str = "docs/a+b%2Bc.txt";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seaweedfs_behind_the_gateway_keeps_the_bytes_and_herald_adds_the_events() {
    let weed = Seaweed::start();
    let gw = TestServer::start_with_args(&args_of(&weed.gateway_args()));
    let receiver = Receiver::start_new();
    let topic = Sns::root(&gw).create_topic(
        "gw-events",
        &[("push-endpoint", &receiver.url("gw")), ("persistent", "true")],
    );
    let s3 = gw.s3();
    let up = weed.client();
    s3.create_bucket().bucket("gw-bucket").send().await.unwrap();
    up.head_bucket()
        .bucket("gw-bucket")
        .send()
        .await
        .expect("the bucket is made upstream too");
    notify_everything(&s3, "gw-bucket", &topic, None).await;

    // A PUT with metadata and tags: the bytes land upstream unchanged.
    let body = seeded_bytes(1, 1024);
    let put = s3
        .put_object()
        .bucket("gw-bucket")
        .key("docs/a b+c.txt")
        .metadata("team", "blue")
        .tagging("stage=raw")
        .content_type("text/plain")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.e_tag(), Some(quoted_md5(&body).as_str()));
    let direct = up
        .get_object()
        .bucket("gw-bucket")
        .key("docs/a b+c.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        direct.metadata().and_then(|m| m.get("team")).map(String::as_str),
        Some("blue")
    );
    assert_eq!(body_of(direct).await, body, "the upstream holds the very bytes");
    let record = receiver.wait_event(ENCODED_KEY, "ObjectCreated:Put").await;
    assert_eq!(object_field(&record, "size"), 1024);
    assert_eq!(object_field(&record, "eTag"), md5_hex(&body).as_str());
    assert_eq!(record["s3"]["bucket"]["name"], "gw-bucket");
    assert_eq!(record["userIdentity"]["principalId"], "root");

    // A ranged GET through the gateway, and its read event with the whole size.
    let part = s3
        .get_object()
        .bucket("gw-bucket")
        .key("docs/a b+c.txt")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(part).await, body[10..20].to_vec());
    let read = receiver.wait_event(ENCODED_KEY, "ObjectAccessed:Get").await;
    assert_eq!(object_field(&read, "size"), 1024);

    // Multipart: parts stream through, the completion has its event with
    // the whole object's size.
    let big = seeded_bytes(2, 5 * 1024 * 1024 + 1000);
    let upload = s3
        .create_multipart_upload()
        .bucket("gw-bucket")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, chunk) in big.chunks(5 * 1024 * 1024).enumerate() {
        let p = s3
            .upload_part()
            .bucket("gw-bucket")
            .key("big.bin")
            .upload_id(upload_id)
            .part_number(n as i32 + 1)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n as i32 + 1)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("gw-bucket")
        .key("big.bin")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let done = receiver
        .wait_event("big.bin", "ObjectCreated:CompleteMultipartUpload")
        .await;
    assert_eq!(object_field(&done, "size"), big.len() as u64);
    let direct = up.get_object().bucket("gw-bucket").key("big.bin").send().await.unwrap();
    assert_eq!(body_of(direct).await, big);

    // Copy, tagging, delete, multi-delete.
    s3.copy_object()
        .bucket("gw-bucket")
        .key("copy.txt")
        .copy_source("gw-bucket/docs/a%20b%2Bc.txt")
        .send()
        .await
        .unwrap();
    let copied = receiver.wait_event("copy.txt", "ObjectCreated:Copy").await;
    assert_eq!(object_field(&copied, "size"), 1024);
    s3.put_object_tagging()
        .bucket("gw-bucket")
        .key("copy.txt")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("stage").value("done").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    receiver.wait_event("copy.txt", "ObjectTagging:Put").await;
    let tags = up
        .get_object_tagging()
        .bucket("gw-bucket")
        .key("copy.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].value(), "done", "the tags are set upstream");
    s3.delete_object_tagging()
        .bucket("gw-bucket")
        .key("copy.txt")
        .send()
        .await
        .unwrap();
    receiver.wait_event("copy.txt", "ObjectTagging:Delete").await;
    s3.delete_object()
        .bucket("gw-bucket")
        .key("copy.txt")
        .send()
        .await
        .unwrap();
    let removed = receiver.wait_event("copy.txt", "ObjectRemoved:Delete").await;
    assert_eq!(removed["s3"]["object"]["key"], "copy.txt");
    let many = Delete::builder()
        .objects(ObjectIdentifier::builder().key("docs/a b+c.txt").build().unwrap())
        .objects(ObjectIdentifier::builder().key("big.bin").build().unwrap())
        .quiet(true)
        .build()
        .unwrap();
    let out = s3
        .delete_objects()
        .bucket("gw-bucket")
        .delete(many)
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty(), "a quiet DeleteObjects lists nothing deleted");
    receiver.wait_event(ENCODED_KEY, "ObjectRemoved:Delete").await;
    receiver.wait_event("big.bin", "ObjectRemoved:Delete").await;
    let left = up.list_objects_v2().bucket("gw-bucket").send().await.unwrap();
    assert_eq!(left.key_count(), Some(0), "everything is gone upstream");

    // The bucket goes on both sides.
    s3.delete_bucket().bucket("gw-bucket").send().await.unwrap();
    assert!(up.head_bucket().bucket("gw-bucket").send().await.is_err());
    assert!(!gw.logs().contains("panicked"), "the gateway panicked:\n{}", gw.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herald_upstream_gets_versions_and_tenants_stay_apart() {
    let upstream = TestServer::start();
    let gw = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    let receiver = Receiver::start_new();
    let topic = Sns::root(&gw).create_topic("ver-events", &[("push-endpoint", &receiver.url("v"))]);
    let s3 = gw.s3();
    s3.create_bucket().bucket("versioned").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("versioned")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let seen = upstream
        .s3()
        .get_bucket_versioning()
        .bucket("versioned")
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen.status().map(|s| s.as_str()),
        Some("Enabled"),
        "versioning is the upstream's"
    );
    notify_everything(&s3, "versioned", &topic, None).await;

    let v1 = s3
        .put_object()
        .bucket("versioned")
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let v1_id = v1.version_id().expect("a version id from the upstream").to_owned();
    let put = receiver.wait_event("k", "ObjectCreated:Put").await;
    assert_eq!(object_field(&put, "versionId"), v1_id.as_str());
    let del = s3.delete_object().bucket("versioned").key("k").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = receiver.wait_event("k", "ObjectRemoved:DeleteMarkerCreated").await;
    assert_eq!(object_field(&marker, "versionId"), del.version_id().unwrap());
    // The old version is still there, by its id, through the gateway.
    let old = s3
        .get_object()
        .bucket("versioned")
        .key("k")
        .version_id(&v1_id)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(old).await, b"one");
    s3.delete_object()
        .bucket("versioned")
        .key("k")
        .version_id(&v1_id)
        .send()
        .await
        .unwrap();
    receiver
        .wait_for("the version's removal", 30, |r| {
            r.delivered_for_key("k")
                .iter()
                .any(|e| e["eventName"] == "ObjectRemoved:Delete" && object_field(e, "versionId") == v1_id.as_str())
        })
        .await;

    // Another Herald user: Herald's access decision holds in gateway mode.
    gw.create_user("bob", "BOBACCESSKEY0000001", "bobSecretKey0000000000000000000000000001");
    let bob = gw.s3_as("BOBACCESSKEY0000001", "bobSecretKey0000000000000000000000000001");
    let denied = bob.get_object().bucket("versioned").key("k").send().await;
    assert_eq!(status_of(&denied), Some(403), "bob reads alice's object: {denied:?}");
    let denied = bob
        .put_object()
        .bucket("versioned")
        .key("bob")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&denied), Some(403));
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let denied = bob
        .copy_object()
        .bucket("bobs")
        .key("stolen")
        .copy_source("versioned/k")
        .send()
        .await;
    assert_eq!(
        status_of(&denied),
        Some(403),
        "a copy from someone else's bucket: {denied:?}"
    );
    s3.put_object()
        .bucket("versioned")
        .key("keep")
        .body(ByteStream::from_static(b"mine"))
        .send()
        .await
        .unwrap();
    let out = bob
        .delete_objects()
        .bucket("versioned")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("keep").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await;
    // Refused outright (bob may not even ask) or per key: never deleted.
    if let Ok(out) = out {
        assert!(out.deleted().is_empty(), "bob deleted alice's object: {out:?}");
        assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    }
    assert!(
        s3.head_object().bucket("versioned").key("keep").send().await.is_ok(),
        "alice's object survives bob's DeleteObjects"
    );
    let listed = bob.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["bobs"], "bob lists only his own bucket");

    // A bucket that already exists upstream is not handed to whoever names it.
    upstream
        .s3()
        .create_bucket()
        .bucket("pre-existing")
        .send()
        .await
        .unwrap();
    let taken = bob.create_bucket().bucket("pre-existing").send().await;
    assert_eq!(status_of(&taken), Some(409), "adopted an upstream bucket: {taken:?}");
    assert!(
        bob.head_bucket().bucket("pre-existing").send().await.is_err(),
        "a refused bucket is not left half-made"
    );
}

/// The HTTP status of a failed SDK call.
fn status_of<T, E>(
    r: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Option<u16> {
    match r {
        Ok(_) => None,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_upstream_is_a_503_and_no_event() {
    let port = free_loopback_port();
    let gw = gateway_to(&format!("http://127.0.0.1:{port}"), "k", "s", &[]);
    let receiver = Receiver::start_new();
    let topic = Sns::root(&gw).create_topic("down-events", &[("push-endpoint", &receiver.url("d"))]);
    let s3 = gw.s3_no_retry();
    let made = s3.create_bucket().bucket("nowhere").send().await;
    assert_eq!(status_of(&made), Some(503), "{made:?}");
    assert!(
        s3.head_bucket().bucket("nowhere").send().await.is_err(),
        "the bucket is not kept when the upstream could not make it"
    );
    // A bucket Herald has (made while the upstream was there, say): writes
    // to it fail with 503 and send nothing.
    let upstream = TestServer::start();
    let gw2 = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    gw2.s3().create_bucket().bucket("soon-gone").send().await.unwrap();
    let topic2 = Sns::root(&gw2).create_topic("gone-events", &[("push-endpoint", &receiver.url("g"))]);
    notify_everything(&gw2.s3(), "soon-gone", &topic2, None).await;
    drop(upstream);
    let put = gw2
        .s3_no_retry()
        .put_object()
        .bucket("soon-gone")
        .key("lost")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&put), Some(503), "{put:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        receiver.delivered_for_key("lost").is_empty(),
        "an event for a refused write"
    );
    let _ = topic;
}

/// PUTs through the gateway while it is killed, five times: every
/// acknowledged PUT has its event, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_of_the_gateway_under_load_loses_no_acknowledged_event() {
    let weed = Seaweed::start();
    let mut gw = TestServer::start_with_args(&args_of(&weed.gateway_args()));
    let mut receiver = Receiver::reserved();
    let topic = Sns::root(&gw).create_topic(
        "kill-events",
        &[
            ("push-endpoint", &receiver.url("k")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    let sqs = gw.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let queue_url = sqs
        .create_queue()
        .queue_name("kill-events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let s3 = gw.s3();
    s3.create_bucket().bucket("kill-gw").send().await.unwrap();
    let queue_arn = format!("arn:aws:sqs:{REGION}:root:kill-events");
    notify_everything(&s3, "kill-gw", &topic, Some(&queue_arn)).await;

    let mut acked: Vec<String> = Vec::new();
    let mut attempted: Vec<String> = Vec::new();
    for cycle in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let client = gw.s3_no_retry();
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let (client, stop) = (client.clone(), stop.clone());
                tokio::spawn(async move {
                    let (mut ok, mut tried) = (Vec::new(), Vec::new());
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let key = format!("c{cycle}/w{w}/{n:05}");
                        tried.push(key.clone());
                        let put = client
                            .put_object()
                            .bucket("kill-gw")
                            .key(&key)
                            .body(ByteStream::from(seeded_bytes(n, 512)))
                            .send()
                            .await;
                        match put {
                            Ok(_) => ok.push(key),
                            Err(_) => break,
                        }
                    }
                    (ok, tried)
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(600)).await;
        gw.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            let (ok, tried) = w.await.unwrap();
            acked.extend(ok);
            attempted.extend(tried);
        }
        gw.restart();
    }
    eprintln!("{} PUTs acknowledged over 5 kills of the gateway", acked.len());
    assert!(
        acked.len() >= 30,
        "too few PUTs acknowledged ({}) to mean anything",
        acked.len()
    );

    // The queue: every acknowledged PUT's event, none twice.
    let mut queued: HashMap<String, usize> = HashMap::new();
    let mut empty_rounds = 0;
    while empty_rounds < 3 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            empty_rounds += 1;
            continue;
        }
        empty_rounds = 0;
        for m in messages {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            for r in body["Records"].as_array().into_iter().flatten() {
                let key = r["s3"]["object"]["key"].as_str().unwrap_or_default().to_owned();
                *queued.entry(key).or_default() += 1;
            }
            sqs.delete_message()
                .queue_url(&queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    let missing: Vec<&String> = acked.iter().filter(|k| !queued.contains_key(*k)).collect();
    assert!(missing.is_empty(), "acknowledged PUTs without their event: {missing:?}");
    let twice: Vec<(&String, &usize)> = queued.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "events queued twice: {twice:?}");
    // An event for a PUT that was not acknowledged only where the upstream
    // has the object (its intent was settled as happened).
    let up = weed.client();
    for key in queued.keys().filter(|k| !acked.contains(k)) {
        assert!(attempted.contains(key), "an event for a key never written: {key}");
        let url_key = key.replace(' ', "%20");
        assert!(
            up.head_object().bucket("kill-gw").key(&url_key).send().await.is_ok(),
            "an event for {key}, which the upstream does not have"
        );
    }
    // The topic gets them too, once each.
    receiver.start();
    receiver
        .wait_for("every acknowledged PUT pushed", 120, |r| {
            let got: Vec<String> = r
                .delivered_records()
                .iter()
                .filter_map(|e| e["s3"]["object"]["key"].as_str().map(str::to_owned))
                .collect();
            acked.iter().all(|k| got.contains(k))
        })
        .await;
}

const BOB_KEY: &str = "BOBACCESSKEY0000002";
const BOB_SECRET: &str = "bobSecretKey0000000000000000000000000002";

/// The access decision in gateway mode cannot look at objects (they are
/// upstream): where embedded mode would consult them, it fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_that_would_need_the_objects_fails_closed() {
    let upstream = TestServer::start();
    let gw = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    gw.create_user("bob", BOB_KEY, BOB_SECRET);
    let s3 = gw.s3();
    let bob = gw.s3_as(BOB_KEY, BOB_SECRET);
    s3.create_bucket().bucket("shared").send().await.unwrap();
    for key in ["public/open.txt", "private/secret.txt"] {
        s3.put_object()
            .bucket("shared")
            .key(key)
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .unwrap();
    }
    // Everybody may list and read public/*; nothing else.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared"},
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/public/*"}]}"#;
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy)
        .send()
        .await
        .unwrap();
    let open = bob.get_object().bucket("shared").key("public/open.txt").send().await;
    assert!(open.is_ok(), "the policy's grant works through the gateway: {open:?}");
    let secret = bob.get_object().bucket("shared").key("private/secret.txt").send().await;
    assert_eq!(
        status_of(&secret),
        Some(403),
        "ListBucket alone read an object: {secret:?}"
    );
    let head = bob
        .head_object()
        .bucket("shared")
        .key("private/secret.txt")
        .send()
        .await;
    assert_eq!(status_of(&head), Some(403));
    let anonymous = raw_request(gw.addr(), "GET", "/shared/private/secret.txt", &[], b"").unwrap();
    assert_eq!(anonymous.status, 403, "an anonymous read: {}", anonymous.body_str());
    bob.create_bucket().bucket("bobs-copies").send().await.unwrap();
    let copy = bob
        .copy_object()
        .bucket("bobs-copies")
        .key("loot")
        .copy_source("shared/private/secret.txt")
        .send()
        .await;
    assert_eq!(
        status_of(&copy),
        Some(403),
        "a copy of an object bob may not read: {copy:?}"
    );

    // Object tags are upstream: a policy that tests them is refused.
    let tag_policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*",
         "Condition":{"StringEquals":{"s3:ExistingObjectTag/class":"secret"}}}]}"#;
    let refused = s3.put_bucket_policy().bucket("shared").policy(tag_policy).send().await;
    assert_eq!(status_of(&refused), Some(400), "{refused:?}");

    // GetObjectAttributes needs GetObject too; several attributes in one header work.
    let deny_get = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":["bob"]},"Action":"s3:GetObjectAttributes","Resource":"arn:aws:s3:::shared/*"},
        {"Effect":"Deny","Principal":{"AWS":["bob"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}"#;
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(deny_get)
        .send()
        .await
        .unwrap();
    let attrs = bob
        .get_object_attributes()
        .bucket("shared")
        .key("public/open.txt")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await;
    assert_eq!(
        status_of(&attrs),
        Some(403),
        "attributes past a Deny of GetObject: {attrs:?}"
    );
    let mine = s3
        .get_object_attributes()
        .bucket("shared")
        .key("public/open.txt")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::Etag)
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.object_size(), Some(4));
    assert_eq!(mine.e_tag(), Some(md5_hex(b"data").as_str()));

    // Object ACLs and Object Lock would be applied upstream with the
    // operator's account: refused.
    let public = s3
        .put_object()
        .bucket("shared")
        .key("made-public")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&public), Some(501), "{public:?}");
    let granted = s3
        .put_object()
        .bucket("shared")
        .key("granted")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&granted), Some(501), "{granted:?}");
    let locked = s3
        .create_multipart_upload()
        .bucket("shared")
        .key("locked")
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .send()
        .await;
    assert_eq!(status_of(&locked), Some(501), "{locked:?}");
    assert!(
        upstream
            .s3()
            .head_object()
            .bucket("shared")
            .key("made-public")
            .send()
            .await
            .is_err(),
        "a refused PUT reached the upstream"
    );

    // A key another store (or a proxy) might resolve into another bucket.
    let dotted = bob
        .put_object()
        .bucket("bobs-copies")
        .key("x/../../shared/private/secret.txt")
        .body(ByteStream::from_static(b"overwrite"))
        .send()
        .await;
    assert_eq!(status_of(&dotted), Some(400), "{dotted:?}");
    let object_lock_bucket = s3
        .create_bucket()
        .bucket("locked-bucket")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await;
    assert_eq!(status_of(&object_lock_bucket), Some(501), "{object_lock_bucket:?}");

    // Listings show Herald's owner, not the upstream's account.
    let listed = s3
        .list_objects_v2()
        .bucket("shared")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let owner_ids: Vec<Option<&str>> = listed
        .contents()
        .iter()
        .map(|o| o.owner().and_then(|w| w.id()))
        .collect();
    let root_profile = s3.list_buckets().send().await.unwrap();
    let root_id = root_profile.owner().and_then(|o| o.id());
    assert!(
        !owner_ids.is_empty() && owner_ids.iter().all(|id| *id == root_id),
        "owners {owner_ids:?}, bucket owner {root_id:?}"
    );
}

/// A client that hangs up right after sending its PUT: the mutation runs
/// to its end anyway, and its event is sent without waiting for a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_hangs_up_still_gets_the_event_of_its_put() {
    use std::io::Write;
    let upstream = TestServer::start();
    let gw = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    let receiver = Receiver::start_new();
    let topic = Sns::root(&gw).create_topic(
        "hangup-events",
        &[("push-endpoint", &receiver.url("h")), ("persistent", "true")],
    );
    let s3 = gw.s3();
    s3.create_bucket().bucket("hangups").send().await.unwrap();
    notify_everything(&s3, "hangups", &topic, None).await;
    let mut keys = Vec::new();
    for n in 0..10 {
        let key = format!("gone-{n}");
        let presigned = s3
            .put_object()
            .bucket("hangups")
            .key(&key)
            .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
            .await
            .unwrap();
        let uri = presigned.uri().to_owned();
        let target = &uri[uri.find("/hangups").unwrap()..];
        let body = seeded_bytes(n, 64 * 1024);
        let mut conn = std::net::TcpStream::connect(gw.addr()).unwrap();
        write!(
            conn,
            "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            gw.addr(),
            body.len()
        )
        .unwrap();
        conn.write_all(&body).unwrap();
        drop(conn);
        keys.push(key);
    }
    // Every object the upstream took has its event, from this run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let up = upstream.s3();
    let mut stored = 0;
    for key in &keys {
        if up.head_object().bucket("hangups").key(key).send().await.is_ok() {
            stored += 1;
            receiver.wait_event(key, "ObjectCreated:Put").await;
        }
    }
    eprintln!("{stored} of {} abandoned PUTs reached the upstream", keys.len());
    assert!(
        stored > 0,
        "no abandoned PUT reached the upstream: the test proves nothing"
    );
    // And nothing is left open for the next start.
    assert!(
        !gw.logs().contains("settling later"),
        "an intent was left unsettled:\n{}",
        gw.logs()
    );
}
