//! `herald agent` end to end: a real `herald serve` produces the events
//! (QueueConfiguration into its SQS queue, or a topic pushing to the
//! agent's webhook), the real `herald` binary runs as the agent, and a
//! second `herald serve` is the mirror target. Every check compares the
//! index and the mirror with the source bucket as the S3 API lists it.

mod agent_common;
mod common;
mod notify_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use agent_common::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Event, NotificationConfiguration, QueueConfiguration, TopicConfiguration,
};
use common::*;
use serde_json::json;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_source_keeps_index_and_mirror_equal_to_the_bucket() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    queue_for_bucket(&src, "jibe-source-activity", "photos").await;
    s3.create_bucket().bucket("reports").send().await.unwrap();
    dst.s3().create_bucket().bucket("backup").send().await.unwrap();
    let index = tmp.path().join("agent-index.sqlite");
    let cfg = json!({
        "upload_folder": "reports/jibe-reports",
        "report_interval_seconds": 1,
        "flavor": "SQS",
        "sources": [sqs_source(&src, "photos", "jibe-source-activity", json!([
            {"type": "index", "path": "agent-index.sqlite"},
            mirror_action(&dst, "backup"),
        ]))],
    });
    let config = write_config(tmp.path(), &cfg);
    let mut agent = Agent::start(&config, &[]);

    put(&s3, "photos", "a.txt", b"first a").await;
    put(&s3, "photos", "dir/b with space.txt", b"b").await;
    put(&s3, "photos", "c.txt", b"c").await;
    put(&s3, "photos", "a.txt", b"second a, longer").await;
    s3.delete_object().bucket("photos").key("c.txt").send().await.unwrap();
    // Parts the mirror's own part size (5 MiB) would cut differently, and
    // a one-part upload below its multipart threshold.
    let big = [seeded_bytes(1, 7 << 20), seeded_bytes(2, 5 << 20)];
    multipart_upload(&s3, "photos", "big.bin", &big).await;
    multipart_upload(&s3, "photos", "one-part.bin", &[seeded_bytes(3, 1024)]).await;
    let dst_s3 = dst.s3();
    converge(&mut agent, "index and mirror", || async {
        let want = listing(&s3, "photos").await;
        if let Some(d) = diff("index", &index_ls(&index), &want) {
            return Some(d);
        }
        let src_c = contents(&s3, "photos").await;
        diff("mirror", &contents(&dst_s3, "backup").await, &src_c)
    })
    .await;
    let want = listing(&s3, "photos").await;
    assert_eq!(want.len(), 4, "{want:?}");
    assert!(
        want["photos/big.bin"].1.ends_with("-2") && want["photos/one-part.bin"].1.ends_with("-1"),
        "the source objects are multipart: {want:?}"
    );
    // The mirror kept the source's part layout, so it has the same ETags.
    let mirrored = dst_s3.list_objects_v2().bucket("backup").send().await.unwrap();
    let etag_of = |k: &str| {
        mirrored
            .contents()
            .iter()
            .find(|o| o.key() == Some(k))
            .and_then(|o| o.e_tag())
            .map(|e| e.trim_matches('"').to_owned())
    };
    for k in ["big.bin", "one-part.bin", "a.txt"] {
        assert_eq!(
            etag_of(k).as_deref(),
            Some(want[&format!("photos/{k}")].1.as_str()),
            "{k}"
        );
    }

    let logs = agent.logs();
    assert!(
        logs.contains("Sync: s3:ObjectCreated:Put->create '/photos/photos/a.txt' ('photos' event ")
            && logs.contains("{'principal_id': 'root'}"),
        "{logs}"
    );
    assert!(
        logs.contains("Sync: s3:ObjectRemoved:Delete->delete '/photos/photos/c.txt'"),
        "{logs}"
    );
    let stat = Command::new(herald_bin())
        .args(["agent", "index", "stat", "--index"])
        .arg(&index)
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&stat.stdout).into_owned();
    assert!(stat.contains("objects: 4\n") && stat.contains("deleted: 1\n"), "{stat}");

    // A report lands in upload_folder with counts per action.
    converge(&mut agent, "report", || async {
        let keys = list_all_keys(&s3, "reports", Some("jibe-reports/herald-agent-photos-")).await;
        let Some(last) = keys.last() else {
            return Some("no report yet".into());
        };
        let body = body_bytes(s3.get_object().bucket("reports").key(&last.0).send().await.unwrap()).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // 1 s3:TestEvent + 9 changes: 3 puts, 1 overwrite, 1 delete, and
        // two multipart uploads' starts (ignored: nothing to sync) and
        // completions.
        let c = &v["counts"];
        let per_action = |a: &str| {
            c["actions"][a]["applied"].as_u64().unwrap_or(0) + c["actions"][a]["skipped"].as_u64().unwrap_or(0)
        };
        let got = (
            c["messages"].as_u64(),
            c["changes"].as_u64(),
            c["ignored"].as_u64(),
            per_action("index"),
            per_action("mirror"),
        );
        (got != (Some(10), Some(9), Some(2), 7, 7) || c["message_failures"] != 0).then(|| format!("report {v}"))
    })
    .await;

    // SIGTERM: a clean exit, with the totals logged and a last report.
    assert!(agent.terminate().success(), "{}", agent.logs());
    let logs = agent.logs();
    assert!(
        logs.contains("shutting down") && logs.contains("source 'photos': totals"),
        "{logs}"
    );
    let reports = list_all_keys(&s3, "reports", None).await;
    assert!(
        reports.iter().any(|(k, _)| k.ends_with("-final.json")),
        "{reports:?}\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_delivery_leave_index_and_mirror_correct() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    let url = queue_for_bucket(&src, "events", "data").await;
    dst.s3().create_bucket().bucket("copy").send().await.unwrap();
    put(&s3, "data", "k1", b"v1").await;
    put(&s3, "data", "k1", b"version two").await;
    put(&s3, "data", "k2", b"short-lived").await;
    s3.delete_object().bucket("data").key("k2").send().await.unwrap();
    put(&s3, "data", "k3", b"k3 v1").await;
    s3.delete_object().bucket("data").key("k3").send().await.unwrap();
    put(&s3, "data", "k3", b"k3 v2, recreated").await;

    // Take the 7 events off the queue as Herald delivered them...
    let q = sqs(&src);
    let mut bodies: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies.len() < 7 {
        assert!(Instant::now() < deadline, "only {} events arrived", bodies.len());
        let r = q
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in r.messages() {
            q.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            let b = m.body().unwrap().to_string();
            if b.contains("Records") {
                bodies.push(b);
            }
        }
    }
    // ...and deliver them again newest first, each twice, then once more
    // in the original order.
    let mut replay: Vec<String> = Vec::new();
    for b in bodies.iter().rev() {
        replay.push(b.clone());
        replay.push(b.clone());
    }
    replay.extend(bodies.iter().cloned());
    // An event caused by the skipped principal (as the mirror writer's own
    // writes would be) must not reach the actions.
    let mut own: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    own["Records"][0]["userIdentity"]["principalId"] = json!("mirror-writer");
    own["Records"][0]["s3"]["object"]["key"] = json!("written-by-mirror");
    replay.push(own.to_string());
    for b in &replay {
        q.send_message().queue_url(&url).message_body(b).send().await.unwrap();
    }

    let index = tmp.path().join("index.sqlite");
    let mut source = sqs_source(
        &src,
        "data",
        "events",
        json!([
            {"type": "index", "path": index},
            mirror_action(&dst, "copy"),
        ]),
    );
    source["skip_principal_id"] = json!("mirror-writer");
    source["workers"] = json!(1);
    let config = write_config(tmp.path(), &json!({"sources": [source]}));
    let mut agent = Agent::start(&config, &["--log-format", "json"]);
    converge(&mut agent, "queue", || async {
        (!queue_drained(&q, &url).await).then(|| "messages left".to_string())
    })
    .await;
    let want = listing(&s3, "data").await;
    assert_eq!(want.keys().cloned().collect::<Vec<_>>(), ["data/k1", "data/k3"]);
    assert_eq!(index_ls(&index), want, "agent log:\n{}", agent.logs());
    assert_eq!(
        contents(&dst.s3(), "copy").await,
        contents(&s3, "data").await,
        "agent log:\n{}",
        agent.logs()
    );
    // JSON logs: one object per line; sync lines carry the change's facts.
    let lines: Vec<serde_json::Value> = agent
        .logs()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let syncs: Vec<&serde_json::Value> = lines.iter().filter(|l| l["msg"] == "sync").collect();
    let skipped = syncs
        .iter()
        .find(|l| l["key"] == "written-by-mirror")
        .expect("a sync line for the skipped change");
    assert_eq!(skipped["principal_id"], "mirror-writer");
    assert_eq!(skipped["outcome"], "skipped: skip_principal_id");
    let stale = syncs
        .iter()
        .filter(|l| l["outcome"].as_str().is_some_and(|o| o.contains("mirror: stale")))
        .count();
    assert!(stale > 0, "older events must be recognised as stale:\n{}", agent.logs());
    let k3 = syncs
        .iter()
        .find(|l| l["key"] == "k3" && l["op"] == "create")
        .expect("a create of k3");
    assert_eq!(
        (k3["event"].as_str(), k3["bucket"].as_str(), k3["source"].as_str()),
        (Some("s3:ObjectCreated:Put"), Some("data"), Some("data"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_source_confirms_a_herald_topic_and_spools_until_applied() {
    use notify_common::{Mode, Receiver, Sns};
    let src = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    s3.create_bucket().bucket("hooked").send().await.unwrap();
    let resync = Receiver::start_new();
    let port = free_port();
    let index = tmp.path().join("index.sqlite");
    let spool = tmp.path().join("spool");
    let cfg = json!({
        "endpoint": resync.url("/resync"),
        "login": "admin@company",
        "password": "secret",
        "sources": [{
            "name": "hooks",
            "flavor": "webhook",
            "listen": format!("127.0.0.1:{port}"),
            "secret": "s3cret",
            "spool_dir": spool,
            "retry_delay_seconds": 1,
            "aws_endpoint_url": src.url(),
            "aws_access_key_id": ROOT_ACCESS_KEY,
            "aws_secret_access_key": ROOT_SECRET_KEY,
            "aws_region": REGION,
            "self_test_enabled": true,
            "self_test_folder": "hooked/jibe_test",
            "self_test_timeout_seconds": 60,
            "actions": [{"type": "index", "path": index}, {"type": "http", "retries": 0}],
        }],
    });
    let config = write_config(tmp.path(), &cfg);
    let mut agent = Agent::start(&config, &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    converge(&mut agent, "ping", || async {
        match raw_request(addr, "GET", "/ping", &[], b"") {
            Ok(r) if r.status == 200 && r.body_str() == "Pong\n" => None,
            other => Some(format!("{other:?}")),
        }
    })
    .await;

    let sns = Sns::root(&src);
    let topic = sns.create_topic(
        "agent-hook",
        &[
            ("push-endpoint", &format!("http://127.0.0.1:{port}/webhook")),
            ("persistent", "true"),
            ("subscription-confirmation", "true"),
            ("push-secret", "s3cret"),
            ("retry_sleep_duration", "1"),
        ],
    );
    s3.put_bucket_notification_configuration()
        .bucket("hooked")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(
                    TopicConfiguration::builder()
                        .id("agent")
                        .topic_arn(&topic)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .events(Event::from("s3:ObjectRemoved:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    put(&s3, "hooked", "x1", b"one").await;
    put(&s3, "hooked", "x2", b"two").await;
    put(&s3, "hooked", "x1", b"one, again").await;
    s3.delete_object().bucket("hooked").key("x2").send().await.unwrap();
    converge(&mut agent, "index", || async {
        let want: BTreeMap<_, _> = listing(&s3, "hooked").await;
        diff("index", &index_ls(&index), &want)
    })
    .await;
    let status = sns.get_topic_attributes(&topic).unwrap()["SubscriptionStatus"].clone();
    assert_eq!(status, "confirmed");
    assert!(agent.logs().contains("confirming the subscription of topic"));

    // The http action told the "metadata service" about each change.
    converge(&mut agent, "resync requests", || async {
        let got: BTreeSet<(String, String)> = resync
            .requests()
            .iter()
            .filter_map(|r| r.json())
            .map(|v| {
                (
                    v["action"].as_str().unwrap_or("").to_string(),
                    v["key"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String)> = [("create", "x1"), ("create", "x2"), ("delete", "x2")]
            .iter()
            .map(|(a, k)| (a.to_string(), k.to_string()))
            .collect();
        diff(
            "resync",
            &got.intersection(&want).cloned().collect::<BTreeSet<_>>(),
            &want,
        )
    })
    .await;
    let r = &resync.requests()[0];
    assert_eq!(r.header("authorization"), Some("Basic YWRtaW5AY29tcGFueTpzZWNyZXQ="));
    assert!(r.header("x-herald-event-id").is_some_and(|id| !id.is_empty()));

    // Unsigned or wrongly signed POSTs are refused.
    let body = br#"{"Records":[]}"#;
    let unsigned = raw_request(addr, "POST", "/webhook", &[], body).unwrap();
    assert_eq!(unsigned.status, 401, "{}", unsigned.body_str());
    let forged = raw_request(addr, "POST", "/webhook", &[("x-herald-signature", "t=1,v1=00")], body).unwrap();
    assert_eq!(forged.status, 401);

    // Accepted means spooled: with the resync service failing, an event
    // stays in the spool across a kill -9 and is applied after the restart.
    resync.set_mode(Mode::Status(503));
    put(&s3, "hooked", "x3", b"three").await;
    converge(&mut agent, "x3 spooled and failing", || async {
        let spooled = spooled_messages(&spool);
        let failed = resync.requests().iter().any(|r| r.status == 503);
        (spooled == 0 || !failed).then(|| format!("spooled {spooled}, failed {failed}"))
    })
    .await;
    agent.kill9();
    assert!(spooled_messages(&spool) > 0);
    resync.set_mode(Mode::Ok);
    agent.spawn();
    converge(&mut agent, "spool replayed", || async {
        let applied = resync
            .requests()
            .iter()
            .any(|r| r.status == 200 && r.json().is_some_and(|v| v["key"] == "x3"));
        let spooled = spooled_messages(&spool);
        (!applied || spooled > 0).then(|| format!("x3 applied {applied}, spooled {spooled}"))
    })
    .await;
    assert!(index_ls(&index).contains_key("hooked/x3"));

    // At this start the bucket was configured: the self test
    // (self_test_enabled) went through the webhook, and its objects never
    // reached the index.
    converge(&mut agent, "self test", || async {
        (!agent_logs_contain(&config, "self test 'hooks': passed")).then(|| "not yet".to_string())
    })
    .await;
    let logs = agent.logs();
    assert!(
        logs.contains("self test 'hooks': PASS event: ObjectRemoved arrived through the source"),
        "{logs}"
    );
    assert!(index_ls(&index).keys().all(|k| !k.contains("self-test")));

    // `herald agent self-test` listens on the webhook's address itself
    // while the agent is stopped.
    agent.kill9();
    let (ok, out) = self_test(&config);
    assert!(ok, "{out}");
    assert!(
        out.contains("PASS webhook: listening") && out.contains("PASS event: ObjectRemoved arrived through the source"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_mid_batch_loses_and_duplicates_no_effect() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    let url = queue_for_bucket(&src, "batch", "bulk").await;
    dst.s3().create_bucket().bucket("bulk-copy").send().await.unwrap();
    const N: usize = 120;
    const DELETED: usize = 20;
    for i in 0..N {
        put(&s3, "bulk", &format!("obj-{i:03}"), format!("content {i}").as_bytes()).await;
    }
    for i in 0..DELETED {
        s3.delete_object()
            .bucket("bulk")
            .key(format!("obj-{i:03}"))
            .send()
            .await
            .unwrap();
    }
    // The script's effect is keyed by the event id, which stays the same
    // when a message is redelivered; every run is also logged.
    let effects = tmp.path().join("effects");
    std::fs::create_dir(&effects).unwrap();
    let script = tmp.path().join("on-change.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = -- ] && shift\necho \"$HERALD_EVENT_ID $1 $2 $3\" >> {dir}/runs.log\necho \"$1 $2 $3\" > {dir}/$HERALD_EVENT_ID\nsleep 0.05\n",
            dir = effects.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let index = tmp.path().join("index.sqlite");
    let mut source = sqs_source(
        &src,
        "bulk",
        "batch",
        json!([
            {"type": "index", "path": index},
            mirror_action(&dst, "bulk-copy"),
            {"type": "exec", "command": script, "timeout_seconds": 30},
        ]),
    );
    source["workers"] = json!(4);
    let config = write_config(tmp.path(), &json!({"sources": [source]}));
    let mut agent = Agent::start(&config, &[]);
    let runs = effects.join("runs.log");
    let count_runs = || std::fs::read_to_string(&runs).map(|s| s.lines().count()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_runs() < 25 {
        assert!(
            Instant::now() < deadline,
            "the agent made no progress:\n{}",
            agent.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    agent.kill9();
    let at_kill = count_runs();
    assert!(at_kill < N + DELETED, "the kill came after the batch ({at_kill} runs)");
    agent.spawn();
    let q = sqs(&src);
    converge(&mut agent, "queue", || async {
        (!queue_drained(&q, &url).await).then(|| "messages left".to_string())
    })
    .await;
    assert_eq!(index_ls(&index), listing(&s3, "bulk").await);
    assert_eq!(contents(&dst.s3(), "bulk-copy").await, contents(&s3, "bulk").await);
    // Every change had its effect exactly once.
    let mut per_change: BTreeMap<String, usize> = BTreeMap::new();
    for e in std::fs::read_dir(&effects).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "runs.log" {
            continue;
        }
        let line = std::fs::read_to_string(e.path()).unwrap();
        *per_change.entry(line.trim().to_string()).or_default() += 1;
    }
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..N {
        want.insert(format!("bulk obj-{i:03} copy"), 1);
    }
    for i in 0..DELETED {
        want.insert(format!("bulk obj-{i:03} delete"), 1);
    }
    assert_eq!(per_change, want, "agent log:\n{}", agent.logs());
    assert!(count_runs() >= N + DELETED);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_test_passes_against_herald_and_explains_wrong_endpoints() {
    let src = TestServer::start();
    let other = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    queue_for_bucket(&src, "jibe-source-activity", "photos").await;
    // Credentials from AWS-format profile files, as the Jibe guide sets them up.
    std::fs::write(
        tmp.path().join("aws_credentials"),
        format!("[Cloudian]\naws_access_key_id = {ROOT_ACCESS_KEY}\naws_secret_access_key = {ROOT_SECRET_KEY}\n"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("aws_config"),
        format!("[profile Cloudian]\nregion = {REGION}\n"),
    )
    .unwrap();
    let mut source = sqs_source(&src, "photos", "jibe-source-activity", json!([]));
    let s = source.as_object_mut().unwrap();
    for k in ["aws_access_key_id", "aws_secret_access_key", "aws_region"] {
        s.remove(k);
    }
    source["sqs_profile"] = json!("Cloudian");
    source["self_test_folder"] = json!("photos/jibe_test");
    source["self_test_timeout_seconds"] = json!(20);
    let with_profiles = |source: &serde_json::Value| json!({"aws_credentials_file": "aws_credentials", "aws_config_file": "aws_config", "sources": [source]});
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(ok, "{out}");
    for step in [
        "PASS configuration: credentials and region",
        "PASS sqs: queue reachable",
        "PASS s3: write test object",
        "PASS event: ObjectCreated arrived through the source",
        "PASS s3: delete test object",
        "PASS event: ObjectRemoved arrived through the source",
        "=> PASSED",
    ] {
        assert!(out.contains(step), "missing {step:?}:\n{out}");
    }
    // The test object is gone again.
    assert!(list_all_keys(&src.s3(), "photos", None).await.is_empty());

    // SQS pointed at another Herald, which has no such queue.
    source["sqs_endpoint_url"] = json!(other.url());
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL sqs: queue reachable")
            && out.contains("queue \"jibe-source-activity\" does not exist at")
            && out.contains("sqs create-queue --queue-name jibe-source-activity"),
        "{out}"
    );
    // SQS pointed at a port nothing listens on.
    source["sqs_endpoint_url"] = json!(format!("http://127.0.0.1:{}", free_port()));
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(!ok && out.contains("cannot reach the SQS endpoint"), "{out}");
    // Right queue, but the bucket written to sends its events elsewhere.
    src.s3().create_bucket().bucket("unwatched").send().await.unwrap();
    source["sqs_endpoint_url"] = json!(src.url());
    source["self_test_folder"] = json!("unwatched/t");
    source["self_test_timeout_seconds"] = json!(2);
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL event: ObjectCreated arrived through the source")
            && out.contains("get-bucket-notification-configuration --bucket unwatched"),
        "{out}"
    );
}

#[test]
fn the_issue_example_config_is_accepted_and_bad_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    // The issue's example, byte for byte (also parsed by herald-agent's unit tests).
    let example = include_str!("../../herald-agent/testdata/issue-example.json");
    std::fs::create_dir(tmp.path().join("scripts")).unwrap();
    std::fs::write(tmp.path().join("scripts/on-change.sh"), "#!/bin/sh\n").unwrap();
    let config = tmp.path().join("agent.json");
    std::fs::write(&config, example).unwrap();
    let mut agent = Agent::start(&config, &["--log-format", "json"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent.logs().contains("cannot use the queue") {
        agent.assert_running();
        assert!(Instant::now() < deadline, "{}", agent.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    agent.assert_running();
    let logs = agent.logs();
    let first: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).expect("JSON log lines");
    assert_eq!(first["level"], "INFO", "{logs}");
    assert!(logs.contains("herald agent started with 1 source(s)"), "{logs}");
    assert!(tmp.path().join("agent-index.sqlite").exists());
    drop(agent);

    // No credentials anywhere: a clear error naming the source, at start.
    let no_keys = example
        .replace(
            "\"aws_access_key_id\": \"AKEXAMPLE\",",
            "\"sqs_profile\": \"Cloudian\",",
        )
        .replace("\"aws_secret_access_key\": \"SECRETEXAMPLE\",", "");
    std::fs::write(&config, no_keys).unwrap();
    let out = Command::new(herald_bin())
        .args(["agent", "--config"])
        .arg(&config)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source 'photos' (SQS access): no credentials") && err.contains("profile \"Cloudian\""),
        "{err}"
    );

    std::fs::write(&config, example.replace("\"queue_name\"", "\"queue_nme\"")).unwrap();
    let out = Command::new(herald_bin())
        .args(["agent", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: sources[0].queue_nme: unknown key (did you mean \"queue_name\"?)",
            config.display()
        )),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_retried_then_lands_in_the_dead_letter_queue() {
    let src = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    let url = queue_for_bucket(&src, "work", "files").await;
    let q = sqs(&src);
    let dlq = q
        .create_queue()
        .queue_name("work-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    q.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": format!("arn:aws:sqs:{REGION}:root:work-dlq"), "maxReceiveCount": 3})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    // The script refuses one key; every other change succeeds.
    let script = tmp.path().join("refuse-poison.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = -- ] && shift\n[ \"$2\" != poison ] || { echo \"cannot handle $2\" >&2; exit 3; }\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let index = tmp.path().join("index.sqlite");
    let config = write_config(
        tmp.path(),
        &json!({"sources": [sqs_source(&src, "files", "work", json!([
            {"type": "index", "path": index},
            {"type": "exec", "command": script},
        ]))]}),
    );
    let mut agent = Agent::start(&config, &[]);
    put(&s3, "files", "fine", b"ok").await;
    put(&s3, "files", "poison", b"bad").await;
    let dead = std::sync::Mutex::new(Vec::<String>::new());
    converge(&mut agent, "dead-letter queue", || async {
        let r = q
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        dead.lock()
            .unwrap()
            .extend(r.messages().iter().map(|m| m.body().unwrap().to_string()));
        let none_yet = dead.lock().unwrap().is_empty();
        (none_yet || !queue_drained(&q, &url).await).then(|| format!("dead letters: {:?}", dead.lock().unwrap()))
    })
    .await;
    let dead = dead.into_inner().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("\"key\":\"poison\""), "{}", dead[0]);
    let logs = agent.logs();
    let failures = logs.matches("message failed, retried in 1 s").count();
    assert!(
        failures >= 3,
        "each receive of the poison message failed and was retried:\n{logs}"
    );
    assert!(logs.contains("cannot handle poison"), "{logs}");
    // The index action ran before exec failed; both keys are indexed, and
    // the good message was deleted after its actions.
    assert_eq!(
        index_ls(&index).keys().cloned().collect::<Vec<_>>(),
        ["files/fine", "files/poison"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_outlasts_the_visibility_timeout_is_not_delivered_twice() {
    let src = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let url = queue_for_bucket(&src, "slow", "big").await;
    let q = sqs(&src);
    q.set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "3")
        .send()
        .await
        .unwrap();
    // Takes longer than the queue's visibility timeout, like a large copy.
    let runs = tmp.path().join("runs.log");
    let script = tmp.path().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = -- ] && shift\necho \"$2\" >> {}\nsleep 5\n",
            runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = write_config(
        tmp.path(),
        &json!({"sources": [sqs_source(&src, "big", "slow", json!([{"type": "exec", "command": script}]))]}),
    );
    let mut agent = Agent::start(&config, &[]);
    put(&src.s3(), "big", "huge.iso", b"pretend this is large").await;
    converge(&mut agent, "queue", || async {
        let ran = std::fs::read_to_string(&runs).unwrap_or_default();
        (ran.is_empty() || !queue_drained(&q, &url).await).then(|| format!("runs: {ran:?}"))
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap(),
        "huge.iso\n",
        "{}",
        agent.logs()
    );
}

/// Messages waiting in a webhook source's spool: its `*.json` files (the
/// directory also holds the signature replay guard).
fn spooled_messages(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count()
}
