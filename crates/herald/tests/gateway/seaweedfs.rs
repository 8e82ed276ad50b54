//! Against SeaweedFS: the bytes upstream, every operation's event, and
//! kill -9 of the gateway under load.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging};
use serde_json::Value;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;

use crate::*;

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
