//! Bucket lifecycle end to end: rules put, read and refused through the AWS
//! SDK for Rust; the worker (with a lifecycle day of one second) expiring
//! current versions, noncurrent versions, delete markers and incomplete
//! uploads; their events on a topic (Ceph's names) and in an SQS queue
//! (AWS's names); and `herald lifecycle list|process`.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketVersioningStatus, Event, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration,
    NotificationConfiguration, QueueConfiguration, Tag, TopicConfiguration, Transition, TransitionStorageClass,
    VersioningConfiguration,
};
use herald_testkit::*;
use serde_json::Value;

const BOB_AK: &str = "BOBACCESSKEY00000001";
const BOB_SK: &str = "bobSecretKey/0123456789abcdefghijklmnop";

fn rule(id: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder().id(id).status(ExpirationStatus::Enabled)
}

fn prefix(p: &str) -> LifecycleRuleFilter {
    LifecycleRuleFilter::builder().prefix(p).build()
}

fn days(d: i32) -> LifecycleExpiration {
    LifecycleExpiration::builder().days(d).build()
}

async fn put_rules(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    rules: Vec<LifecycleRule>,
) -> Result<
    (),
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::put_bucket_lifecycle_configuration::PutBucketLifecycleConfigurationError,
    >,
> {
    s3.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .map(|_| ())
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"lifecycle"))
        .send()
        .await
        .unwrap();
}

/// (key, version id, is delete marker) of every version in the bucket.
async fn versions(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String, bool)> {
    let out = s3.list_object_versions().bucket(bucket).send().await.unwrap();
    let mut all: Vec<(String, String, bool)> = out
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_owned(), v.version_id().unwrap().to_owned(), false))
        .chain(
            out.delete_markers()
                .iter()
                .map(|m| (m.key().unwrap().to_owned(), m.version_id().unwrap().to_owned(), true)),
        )
        .collect();
    all.sort();
    all
}

/// Polls `check` until it holds (up to `secs`).
async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "gave up after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_round_trip_and_what_s3_refuses_is_refused() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("rules").send().await.unwrap();
    assert_err(
        s3.get_bucket_lifecycle_configuration().bucket("rules").send().await,
        "NoSuchLifecycleConfiguration",
        404,
    );
    let tagged_and = LifecycleRuleFilter::builder()
        .and(
            LifecycleRuleAndOperator::builder()
                .prefix("logs/")
                .tags(Tag::builder().key("class").value("tmp").build().unwrap())
                .object_size_greater_than(10)
                .build(),
        )
        .build();
    let rules = vec![
        rule("logs").filter(tagged_and).expiration(days(7)).build().unwrap(),
        rule("versions")
            .filter(prefix(""))
            .noncurrent_version_expiration(
                NoncurrentVersionExpiration::builder()
                    .noncurrent_days(3)
                    .newer_noncurrent_versions(2)
                    .build(),
            )
            .expiration(
                LifecycleExpiration::builder()
                    .expired_object_delete_marker(true)
                    .build(),
            )
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(2)
                    .build(),
            )
            .build()
            .unwrap(),
        rule("everything")
            .filter(LifecycleRuleFilter::builder().build())
            .expiration(days(365))
            .build()
            .unwrap(),
        rule("dated")
            .status(ExpirationStatus::Disabled)
            .filter(prefix("old/"))
            .expiration(
                LifecycleExpiration::builder()
                    .date(DateTime::from_secs(1_893_456_000)) // 2030-01-01T00:00:00Z
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    put_rules(&s3, "rules", rules.clone()).await.unwrap();
    let got = s3
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules(), rules.as_slice());

    // What S3 refuses, with its codes; the stored rules stay.
    let refusals: Vec<(LifecycleRule, &str, u16)> = vec![
        (
            rule("t")
                .filter(prefix(""))
                .transitions(
                    Transition::builder()
                        .days(30)
                        .storage_class(TransitionStorageClass::Glacier)
                        .build(),
                )
                .build()
                .unwrap(),
            "NotImplemented",
            501,
        ),
        (
            rule("zero").filter(prefix("")).expiration(days(0)).build().unwrap(),
            "InvalidArgument",
            400,
        ),
        (rule("none").filter(prefix("")).build().unwrap(), "InvalidRequest", 400),
        (
            rule("noon")
                .filter(prefix(""))
                .expiration(
                    LifecycleExpiration::builder()
                        .date(DateTime::from_secs(1_893_456_000 + 43_200))
                        .build(),
                )
                .build()
                .unwrap(),
            "InvalidArgument",
            400,
        ),
        (
            rule("both")
                .filter(prefix(""))
                .expiration(
                    LifecycleExpiration::builder()
                        .days(1)
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
            "InvalidArgument",
            400,
        ),
    ];
    for (bad, code, status) in refusals {
        let id = bad.id().unwrap().to_owned();
        let res = put_rules(&s3, "rules", vec![bad]).await;
        let (got_code, got_status) = err_info(&res.unwrap_err());
        assert_eq!((got_code.as_str(), got_status), (code, status), "rule {id}");
    }
    let dup = vec![
        rule("same").filter(prefix("a")).expiration(days(1)).build().unwrap(),
        rule("same").filter(prefix("b")).expiration(days(1)).build().unwrap(),
    ];
    assert_err(put_rules(&s3, "rules", dup).await, "InvalidArgument", 400);
    // A tenant cannot make the server store (and every pass read) a huge
    // configuration: 1,000 rules with 1 KiB prefixes pass every per-rule
    // check but not the 1 MiB cap on the whole.
    let huge: Vec<LifecycleRule> = (0..1000)
        .map(|i| {
            rule(&format!("r{i}"))
                .filter(prefix(&format!("{i:04}{}", "p".repeat(1016))))
                .expiration(days(1))
                .build()
                .unwrap()
        })
        .collect();
    let err = put_rules(&s3, "rules", huge).await.unwrap_err();
    let (code, status) = err_info(&err);
    assert_eq!((code.as_str(), status), ("InvalidArgument", 400));
    let message = aws_sdk_s3::error::ProvideErrorMetadata::message(&err.into_service_error())
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("too large"), "{message}");
    // AWS: a rule needs a Filter (or the older Prefix).
    let bare = vec![rule("bare").expiration(days(1)).build().unwrap()];
    assert_err(put_rules(&s3, "rules", bare).await, "MalformedXML", 400);
    let still = s3
        .get_bucket_lifecycle_configuration()
        .bucket("rules")
        .send()
        .await
        .unwrap();
    assert_eq!(still.rules().len(), 4);

    // Another tenant can neither read nor replace them.
    srv.create_user("bob", BOB_AK, BOB_SK);
    let bob = srv.s3_as(BOB_AK, BOB_SK);
    assert_err(
        bob.get_bucket_lifecycle_configuration().bucket("rules").send().await,
        "AccessDenied",
        403,
    );
    let mine = vec![rule("x").filter(prefix("")).expiration(days(1)).build().unwrap()];
    assert_err(put_rules(&bob, "rules", mine).await, "AccessDenied", 403);
    assert_err(
        bob.delete_bucket_lifecycle().bucket("rules").send().await,
        "AccessDenied",
        403,
    );

    s3.delete_bucket_lifecycle().bucket("rules").send().await.unwrap();
    assert_err(
        s3.get_bucket_lifecycle_configuration().bucket("rules").send().await,
        "NoSuchLifecycleConfiguration",
        404,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expirations_send_ceph_names_to_topics_and_aws_names_to_queues() {
    let srv = TestServer::start_with_args(&["--lifecycle-day-secs", "1"]);
    let s3 = srv.s3();
    let sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let rx = Receiver::start_new();
    let topic = Sns::root(&srv).create_topic("lc-topic", &[("push-endpoint", &rx.url("lc")), ("persistent", "true")]);
    let queue_url = sqs
        .create_queue()
        .queue_name("lc-queue")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:{REGION}:root:lc-queue");
    s3.create_bucket().bucket("expiring").send().await.unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("expiring")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(
                    TopicConfiguration::builder()
                        .id("ceph")
                        .topic_arn(&topic)
                        .events(Event::from("s3:ObjectLifecycle:Expiration:*"))
                        .build()
                        .unwrap(),
                )
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("aws")
                        .queue_arn(&queue_arn)
                        .events(Event::from("s3:LifecycleExpiration:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    put(&s3, "expiring", "tmp/gone").await;
    put(&s3, "expiring", "keep/stays").await;
    let upload = s3
        .create_multipart_upload()
        .bucket("expiring")
        .key("tmp/unfinished")
        .send()
        .await
        .unwrap();
    let rules = vec![
        rule("tmp")
            .filter(prefix("tmp/"))
            .expiration(days(1))
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .unwrap(),
    ];
    put_rules(&s3, "expiring", rules).await.unwrap();

    rx.wait_event("tmp/gone", "ObjectLifecycle:Expiration:Current").await;
    let record = rx
        .wait_event("tmp/unfinished", "ObjectLifecycle:Expiration:AbortMultipartUpload")
        .await;
    assert_eq!(record["s3"]["configurationId"], "ceph", "{record}");
    let gone = rx
        .delivered_for_key("tmp/gone")
        .into_iter()
        .find(|r| r["eventName"] == "ObjectLifecycle:Expiration:Current")
        .unwrap();
    assert_eq!(gone["userIdentity"]["principalId"], "s3.amazonaws.com", "{gone}");
    assert_eq!(gone["s3"]["object"]["size"], 9, "{gone}");
    assert_eq!(gone["eventSource"], "ceph:s3", "{gone}");
    assert!(rx.delivered_for_key("keep/stays").is_empty());

    // The objects and the upload are gone; the other prefix is untouched.
    assert_err(
        s3.head_object().bucket("expiring").key("tmp/gone").send().await,
        "NotFound",
        404,
    );
    s3.head_object()
        .bucket("expiring")
        .key("keep/stays")
        .send()
        .await
        .unwrap();
    let uploads = s3.list_multipart_uploads().bucket("expiring").send().await.unwrap();
    assert!(uploads.uploads().is_empty(), "{uploads:?}");
    let _ = upload;

    // The queue has AWS's name for the removal (the abort has none).
    let mut bodies: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies.is_empty() {
        assert!(Instant::now() < deadline, "no lifecycle event in the queue");
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let v: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            if v["Records"].is_array() {
                bodies.push(v);
            }
        }
    }
    let rec = &bodies[0]["Records"][0];
    assert_eq!(rec["eventName"], "LifecycleExpiration:Delete", "{rec}");
    assert_eq!(rec["eventSource"], "aws:s3", "{rec}");
    assert_eq!(rec["s3"]["object"]["key"], "tmp/gone", "{rec}");
    assert_eq!(rec["userIdentity"]["principalId"], "s3.amazonaws.com", "{rec}");

    // Ceph's lifecycle counters.
    let text = metrics_text(&srv);
    assert_eq!(metric(&text, "lc_expire_current", None), Some(1.0), "{text}");
    assert_eq!(metric(&text, "lc_abort_mpu", None), Some(1.0), "{text}");

    // `herald lifecycle list` shows the finished pass.
    let out = srv.cli(&["lifecycle", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = &list["buckets"][0];
    assert_eq!(entry["bucket"], "expiring", "{list}");
    assert_eq!(entry["rules"], 1, "{list}");
    assert!(entry["finished"].is_string(), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_buckets_get_markers_then_lose_old_versions_and_lone_markers() {
    let srv = TestServer::start_with_args(&["--lifecycle-day-secs", "1"]);
    let s3 = srv.s3();
    let rx = Receiver::start_new();
    let topic = Sns::root(&srv).create_topic("lc-versions", &[("push-endpoint", &rx.url("v"))]);
    s3.create_bucket().bucket("versioned").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("versioned")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Every event, Ceph names (topics), and AWS's by name on a second entry.
    must_put_notification_xml(
        &srv,
        "versioned",
        &notification_xml(&[
            topic_config_xml("all", &topic, &[], None),
            topic_config_xml("aws", &topic, &["s3:LifecycleExpiration:DeleteMarkerCreated"], None),
        ]),
    );
    put(&s3, "versioned", "doc").await;
    put(&s3, "versioned", "doc").await;
    let rules = vec![
        rule("all")
            .filter(prefix(""))
            .expiration(days(2))
            .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
            .build()
            .unwrap(),
    ];
    put_rules(&s3, "versioned", rules).await.unwrap();
    // The current version expires under a delete marker; the versions
    // under it expire one day after they stopped being current; then the
    // marker is alone and goes too.
    eventually("every version and marker gone", 60, || async {
        versions(&s3, "versioned").await.is_empty()
    })
    .await;
    rx.wait_for("the lifecycle records", 30, |r| {
        let names: Vec<String> = r
            .delivered_for_key("doc")
            .iter()
            .map(|e| e["eventName"].as_str().unwrap().to_owned())
            .collect();
        names
            .iter()
            .filter(|n| *n == "ObjectLifecycle:Expiration:NonCurrent")
            .count()
            == 2
            && names.iter().any(|n| n == "ObjectLifecycle:Expiration:Current")
            && names.iter().any(|n| n == "LifecycleExpiration:DeleteMarkerCreated")
            && names.iter().any(|n| n == "ObjectLifecycle:Expiration:DeleteMarker")
    })
    .await;
    let marker = rx
        .delivered_for_key("doc")
        .into_iter()
        .find(|e| e["eventName"] == "LifecycleExpiration:DeleteMarkerCreated")
        .unwrap();
    assert_eq!(marker["s3"]["configurationId"], "aws", "{marker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_process_runs_a_pass_now_and_needs_the_server() {
    // A real day: nothing is old enough, so a pass changes nothing; it
    // still goes through the bucket and reports it.
    let mut srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("daily").send().await.unwrap();
    put(&s3, "daily", "young").await;
    put_rules(
        &s3,
        "daily",
        vec![rule("r").filter(prefix("")).expiration(days(1)).build().unwrap()],
    )
    .await
    .unwrap();
    let out = srv.cli(&["lifecycle", "process", "--bucket", "daily"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["buckets"], 1, "{report}");
    assert_eq!(report["current"], 0, "{report}");
    s3.head_object().bucket("daily").key("young").send().await.unwrap();
    let out = srv.cli(&["lifecycle", "process", "--bucket", "nosuch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
    // With the server stopped: `list` reads the data dir, `process` says
    // what it needs.
    srv.terminate();
    let out = srv.cli(&["lifecycle", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = srv.cli(&["lifecycle", "process"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("running server"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_under_retention_are_left_and_counted() {
    let srv = TestServer::start_with_args(&["--lifecycle-day-secs", "1"]);
    let s3 = srv.s3();
    s3.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until = DateTime::from_secs(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
            + 86_400,
    );
    let held = s3
        .put_object()
        .bucket("locked")
        .key("doc")
        .body(ByteStream::from_static(b"held"))
        .object_lock_mode(aws_sdk_s3::types::ObjectLockMode::Governance)
        .object_lock_retain_until_date(until)
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    put(&s3, "locked", "doc").await;
    put(&s3, "locked", "doc").await;
    // Deleted: a delete marker over three versions.
    s3.delete_object().bucket("locked").key("doc").send().await.unwrap();
    let before = versions(&s3, "locked").await;
    assert_eq!(before.len(), 4);
    put_rules(
        &s3,
        "locked",
        vec![
            rule("old")
                .filter(prefix(""))
                .noncurrent_version_expiration(NoncurrentVersionExpiration::builder().noncurrent_days(1).build())
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await
    .unwrap();
    // The unlocked noncurrent versions go; the one under retention stays,
    // and so does the delete marker over it: removing the marker would
    // bring the deleted object back as current.
    eventually("the unlocked noncurrent versions to go", 30, || async {
        versions(&s3, "locked").await.len() == 2
    })
    .await;
    let out = srv.cli(&["lifecycle", "process", "--bucket", "locked"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The held version and the marker it keeps.
    assert_eq!(report["skipped"], 2, "{report}");
    let left = versions(&s3, "locked").await;
    assert!(left.iter().any(|(_, v, dm)| *v == held && !dm), "{left:?}");
    assert!(left.iter().any(|(_, _, dm)| *dm), "{left:?}");
    assert_eq!(left.len(), 2, "{left:?}");
    assert_err(
        s3.head_object().bucket("locked").key("doc").send().await,
        "NotFound",
        404,
    );
}

/// The aws CLI with the example of docs/lifecycle.md, as an operator
/// would paste it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_puts_and_reads_the_documented_rules() {
    let srv = TestServer::start();
    srv.s3().create_bucket().bucket("photos").send().await.unwrap();
    let doc = include_str!("../../../docs/lifecycle.md");
    let json = doc
        .split("cat > lifecycle.json <<'JSON'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nJSON\n").next())
        .expect("the example in docs/lifecycle.md");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("lifecycle.json"), json).unwrap();
    let run = |args: &[&str]| aws_cli_run(&srv, dir.path(), args);
    run(&[
        "s3api",
        "put-bucket-lifecycle-configuration",
        "--bucket",
        "photos",
        "--lifecycle-configuration",
        "file://lifecycle.json",
    ]);
    let got: Value = serde_json::from_str(&run(&[
        "s3api",
        "get-bucket-lifecycle-configuration",
        "--bucket",
        "photos",
    ]))
    .unwrap();
    let sent: Value = serde_json::from_str(json).unwrap();
    assert_eq!(got["Rules"], sent["Rules"], "{got}");
    run(&["s3api", "delete-bucket-lifecycle", "--bucket", "photos"]);
    assert_err(
        srv.s3()
            .get_bucket_lifecycle_configuration()
            .bucket("photos")
            .send()
            .await,
        "NoSuchLifecycleConfiguration",
        404,
    );
}
