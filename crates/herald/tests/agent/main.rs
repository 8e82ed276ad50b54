//! `herald agent` end to end: a real `herald serve` produces the events
//! (QueueConfiguration into its SQS queue, or a topic pushing to the
//! agent's webhook), the real `herald` binary runs as the agent, and a
//! second `herald serve` is the mirror target. Every check compares the
//! index and the mirror with the source bucket as the S3 API lists it.
//!
//! The tests are split by event source, one file each: `sqs_source` (the
//! agent reading a Herald SQS queue), `webhook` (a topic pushing to the
//! agent) and `config` (self-test and configuration checks). This file
//! keeps the helpers they share; it stays one test binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Event, NotificationConfiguration, QueueConfiguration, TopicConfiguration,
};
use herald_testkit::*;
use serde_json::json;

mod config;
mod sqs_source;
mod webhook;

fn sqs(srv: &TestServer) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            ROOT_ACCESS_KEY,
            ROOT_SECRET_KEY,
            None,
            None,
            "agent-tests",
        ))
        .endpoint_url(srv.url())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// Creates `queue` and `bucket` and sends the bucket's creates and
/// removals to the queue; returns the queue URL.
async fn queue_for_bucket(srv: &TestServer, queue: &str, bucket: &str) -> String {
    let q = sqs(srv);
    let url = q
        .create_queue()
        .queue_name(queue)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let s3 = srv.s3();
    s3.create_bucket().bucket(bucket).send().await.expect("CreateBucket");
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("agent")
                        .queue_arn(format!("arn:aws:sqs:{REGION}:root:{queue}"))
                        .events(Event::from("s3:ObjectCreated:*"))
                        .events(Event::from("s3:ObjectRemoved:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .expect("PutBucketNotificationConfiguration");
    url
}

fn sqs_source(src: &TestServer, name: &str, queue: &str, actions: serde_json::Value) -> serde_json::Value {
    json!({
        "name": name,
        "queue_name": queue,
        "sqs_endpoint_url": src.url(),
        "aws_endpoint_url": src.url(),
        "aws_access_key_id": ROOT_ACCESS_KEY,
        "aws_secret_access_key": ROOT_SECRET_KEY,
        "aws_region": REGION,
        "poll_interval_seconds": 1,
        "retry_delay_seconds": 1,
        "actions": actions,
    })
}

fn mirror_action(dst: &TestServer, bucket: &str) -> serde_json::Value {
    json!({"type": "mirror", "endpoint_url": dst.url(), "bucket": bucket,
           "aws_access_key_id": ROOT_ACCESS_KEY, "aws_secret_access_key": ROOT_SECRET_KEY,
           "multipart_threshold_bytes": 6 << 20, "part_size_bytes": 5 << 20})
}

/// `herald agent index ls` as (bucket/key → (size, etag)).
fn index_ls(index: &Path) -> BTreeMap<String, (u64, String)> {
    let out = Command::new(herald_bin())
        .args(["agent", "index", "ls", "--index"])
        .arg(index)
        .output()
        .unwrap();
    if !out.status.success() {
        return BTreeMap::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), (f[1].parse().unwrap(), f[2].to_string()))
        })
        .collect()
}

/// Every object of a bucket: key → (size, md5 of the content).
async fn contents(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, (u64, String)> {
    let mut m = BTreeMap::new();
    for (key, size) in list_all_keys(s3, bucket, None).await {
        let body = body_bytes(s3.get_object().bucket(bucket).key(&key).send().await.unwrap()).await;
        m.insert(key, (size as u64, md5_hex(&body)));
    }
    m
}

/// Source listing as the index shows it: bucket/key → (size, eTag).
async fn listing(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, (u64, String)> {
    let resp = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    // Self-test objects are never indexed or mirrored.
    resp.contents()
        .iter()
        .filter(|o| !o.key().unwrap().contains("herald-agent-self-test-"))
        .map(|o| {
            (
                format!("{bucket}/{}", o.key().unwrap()),
                (
                    o.size().unwrap() as u64,
                    o.e_tag().unwrap().trim_matches('"').to_string(),
                ),
            )
        })
        .collect()
}

async fn queue_drained(q: &aws_sdk_sqs::Client, url: &str) -> bool {
    let a = q
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = a.attributes().cloned().unwrap_or_default();
    let n = |k: &str| {
        attrs
            .iter()
            .find(|(name, _)| name.as_str() == k)
            .map(|(_, v)| v.parse::<u64>().unwrap())
            .unwrap()
    };
    n("ApproximateNumberOfMessages") == 0 && n("ApproximateNumberOfMessagesNotVisible") == 0
}

fn diff<T: std::fmt::Debug + PartialEq>(what: &str, got: &T, want: &T) -> Option<String> {
    (got != want).then(|| format!("{what}: got {got:?}, want {want:?}"))
}

async fn multipart_upload(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, parts: &[Vec<u8>]) {
    let up = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
}

fn self_test(config: &Path) -> (bool, String) {
    let out = Command::new(herald_bin())
        .args(["agent", "self-test", "--config"])
        .arg(config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
