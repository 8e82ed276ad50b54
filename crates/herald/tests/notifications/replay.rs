//! Retention and replay: a persistent topic with `retention` keeps its
//! delivered events; `ReplayTopic` (and `herald topic replay`) pushes a
//! time range of them again, to the topic's endpoint or another one, each
//! marked `x-herald-replay: true` and otherwise as first sent.

use super::*;

/// The wall clock, as ReplayTopic takes it (seconds since the epoch).
fn now_secs() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!("{:.3}", d.as_secs_f64())
}

async fn put_keys(s3: &aws_sdk_s3::Client, bucket: &str, keys: &[&str]) {
    for k in keys {
        s3.put_object()
            .bucket(bucket)
            .key(*k)
            .body(ByteStream::from_static(b"replay me"))
            .send()
            .await
            .unwrap();
    }
}

/// Waits until the latest replay of `arn` is no longer running; returns it.
async fn wait_replay(sns: &Sns, arn: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let attrs = sns.get_topic_attributes(arn).unwrap();
        let status: Value = serde_json::from_str(attrs.get("Replay").expect("a Replay attribute")).unwrap();
        if status["state"] != "running" {
            return status;
        }
        assert!(std::time::Instant::now() < deadline, "replay still running: {status}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Event pushes (not handshakes or test events) as (key, raw body, replay header).
fn pushes(r: &Receiver) -> Vec<(String, Vec<u8>, Option<String>)> {
    r.requests()
        .into_iter()
        .filter(|q| !q.records().is_empty() && q.status == 200)
        .map(|q| {
            let key = q.records()[0]["s3"]["object"]["key"].as_str().unwrap().to_owned();
            (key, q.body.clone(), q.header("x-herald-replay").map(str::to_owned))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_time_range_is_replayed_to_the_topic_and_to_another_endpoint() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let consumer = Receiver::start_new();
    let arn = sns.create_topic(
        "replayed",
        &[
            ("push-endpoint", &consumer.url("events")),
            ("persistent", "true"),
            ("retention", "3600"),
        ],
    );
    s3.create_bucket().bucket("replay-bucket").send().await.unwrap();
    put_config(
        &s3,
        "replay-bucket",
        vec![tc("r", &arn, &["s3:ObjectCreated:*"], None, None)],
    )
    .await;
    consumer
        .wait_for("the test event", 30, |r| !r.test_events().is_empty())
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;

    let t0 = now_secs();
    put_keys(&s3, "replay-bucket", &["a1", "a2", "a3", "a4", "a5"]).await;
    consumer.wait_for("first batch", 30, |r| pushes(r).len() == 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let t1 = now_secs();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    put_keys(&s3, "replay-bucket", &["b1", "b2", "b3"]).await;
    consumer.wait_for("second batch", 30, |r| pushes(r).len() == 8).await;
    let originals: HashMap<String, Vec<u8>> = pushes(&consumer).into_iter().map(|(k, b, _)| (k, b)).collect();
    assert!(
        pushes(&consumer).iter().all(|(_, _, h)| h.is_none()),
        "live pushes are not marked"
    );
    let attrs = sns.get_topic_attributes(&arn).unwrap();
    assert_eq!(attrs.get("retention").map(String::as_str), Some("3600"), "{attrs:?}");

    // The consumer lost the first batch: replay exactly that range.
    consumer.clear();
    let answer = sns.call(
        "ReplayTopic",
        &[("TopicArn", &arn), ("StartTime", &t0), ("EndTime", &t1)],
    );
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    assert!(
        xml_first(&answer.body_str(), "ReplayId").is_some_and(|id| id.len() == 16),
        "{}",
        answer.body_str()
    );
    let done = wait_replay(&sns, &arn).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["delivered"], 5, "{done}");
    assert_eq!(done["failed"], 0, "{done}");
    let replayed = pushes(&consumer);
    let mut keys: Vec<&str> = replayed.iter().map(|(k, _, _)| k.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["a1", "a2", "a3", "a4", "a5"], "exactly the range");
    for (key, body, header) in &replayed {
        assert_eq!(header.as_deref(), Some("true"), "{key}: marked as a replay");
        assert_eq!(
            body, &originals[key],
            "{key}: the very event first sent (event id, sequencer)"
        );
    }
    let text = metrics_text(&srv);
    assert_eq!(
        metric(&text, "pubsub_event_replayed", Some("replayed")),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "pubsub_replay_fail", Some("replayed")),
        Some(0.0),
        "{text}"
    );

    // Live delivery goes on, unmarked, while the whole history goes to
    // another endpoint (StartTime alone: up to now).
    let other = Receiver::start_new();
    consumer.clear();
    let answer = sns.call(
        "ReplayTopic",
        &[
            ("TopicArn", &arn),
            ("StartTime", &t0),
            ("PushEndpoint", &other.url("audit")),
        ],
    );
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    put_keys(&s3, "replay-bucket", &["live"]).await;
    let done = wait_replay(&sns, &arn).await;
    assert_eq!(done["state"], "done", "{done}");
    assert!(done["endpoint"].as_str().unwrap().ends_with("/audit"), "{done}");
    consumer.wait_for("the live event", 30, |r| !pushes(r).is_empty()).await;
    let live = pushes(&consumer);
    assert_eq!(live.len(), 1, "the topic's endpoint got only the live event: {live:?}");
    assert_eq!((live[0].0.as_str(), live[0].2.as_deref()), ("live", None));
    let audited = pushes(&other);
    let mut keys: Vec<&str> = audited
        .iter()
        .map(|(k, _, _)| k.as_str())
        .filter(|k| *k != "live")
        .collect();
    keys.sort();
    assert_eq!(keys, ["a1", "a2", "a3", "a4", "a5", "b1", "b2", "b3"]);
    assert!(audited.iter().all(|(_, _, h)| h.as_deref() == Some("true")));
    // Per key, in order: one key's events keep their order.
    let attrs = sns.get_topic_attributes(&arn).unwrap();
    assert!(
        attrs["RetainedEvents"].parse::<u64>().unwrap() <= 10,
        "counted when their segment is full: {attrs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_refuses_what_it_must() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let consumer = Receiver::start_new();
    let url = consumer.url("e");
    // Retention only where there is a log to keep, and within its bound.
    let e = sns
        .try_create_topic("nolog", &[("push-endpoint", &url), ("retention", "60")])
        .unwrap_err();
    assert!(e.body.contains("persistent"), "{e:?}");
    let e = sns
        .try_create_topic(
            "toolong",
            &[
                ("push-endpoint", &url),
                ("persistent", "true"),
                ("retention", "7776001"),
            ],
        )
        .unwrap_err();
    assert!(e.body.contains("90 days"), "{e:?}");
    // The operator's bound (7 days unless `--topic-max-retention` says).
    let e = sns
        .try_create_topic(
            "overbound",
            &[("push-endpoint", &url), ("persistent", "true"), ("retention", "604801")],
        )
        .unwrap_err();
    assert!(e.body.contains("--topic-max-retention"), "{e:?}");
    let arn = sns.create_topic(
        "kept",
        &[("push-endpoint", &url), ("persistent", "true"), ("retention", "60")],
    );
    let sync_arn = sns.create_topic("sync", &[("push-endpoint", &url)]);

    let call = |params: &[(&str, &str)]| sns.call("ReplayTopic", params);
    let bad_time = call(&[("TopicArn", &arn), ("StartTime", "yesterday")]);
    assert_eq!(bad_time.status, 400, "{}", bad_time.body_str());
    assert!(bad_time.body_str().contains("StartTime"), "{}", bad_time.body_str());
    let missing = call(&[("TopicArn", &arn)]);
    assert!(
        missing.body_str().contains("MissingParameter"),
        "{}",
        missing.body_str()
    );
    for bad in ["0", "-1", "fast", "1000001"] {
        let rate = call(&[("TopicArn", &arn), ("StartTime", "1h"), ("Rate", bad)]);
        assert!(rate.body_str().contains("Rate must be"), "{bad}: {}", rate.body_str());
    }
    let reversed = call(&[("TopicArn", &arn), ("StartTime", "1h"), ("EndTime", "2h")]);
    assert!(
        reversed.body_str().contains("before StartTime"),
        "{}",
        reversed.body_str()
    );
    let not_persistent = call(&[("TopicArn", &sync_arn), ("StartTime", "1h")]);
    assert!(
        not_persistent.body_str().contains("persistent"),
        "{}",
        not_persistent.body_str()
    );
    // The operator's outbound policy holds for a replay's endpoint: the
    // cloud metadata address is refused before anything connects.
    let metadata = call(&[
        ("TopicArn", &arn),
        ("StartTime", "1h"),
        ("PushEndpoint", "http://169.254.169.254/latest"),
    ]);
    assert_eq!(metadata.status, 400, "{}", metadata.body_str());
    let creds = call(&[
        ("TopicArn", &arn),
        ("StartTime", "1h"),
        ("PushEndpoint", "amqp://user:pw@127.0.0.1:5672/"),
    ]);
    assert_eq!(creds.status, 400, "credentials only over HTTPS: {}", creds.body_str());
    assert!(!creds.body_str().contains("pw"), "{}", creds.body_str());

    // Another user can neither replay the topic nor learn about it.
    srv.create_user("mallory", "MALLORYKEY0000000001", "mallory-secret-key-000000000001");
    let mallory = Sns::new(&srv, "MALLORYKEY0000000001", "mallory-secret-key-000000000001");
    let stolen = mallory.call(
        "ReplayTopic",
        &[
            ("TopicArn", &arn),
            ("StartTime", "1h"),
            ("PushEndpoint", "http://127.0.0.1:9/steal"),
        ],
    );
    assert_eq!(stolen.status, 403, "{}", stolen.body_str());
    assert!(
        stolen.body_str().contains("AuthorizationError"),
        "{}",
        stolen.body_str()
    );
    assert!(
        mallory.get_topic_attributes(&arn).is_err(),
        "no attributes (and no replay status) for others"
    );
    // A grantee allowed SetTopicAttributes may replay to the topic's own
    // endpoint, never send the owner's events elsewhere.
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam:::user/mallory"]}},"Action":["sns:SetTopicAttributes","sns:GetTopicAttributes"],"Resource":"{arn}"}}]}}"#
    );
    sns.set_topic_attribute(&arn, "Policy", &policy).unwrap();
    let redirected = mallory.call(
        "ReplayTopic",
        &[
            ("TopicArn", &arn),
            ("StartTime", "1h"),
            ("PushEndpoint", "http://127.0.0.1:9/steal"),
        ],
    );
    assert_eq!(redirected.status, 403, "{}", redirected.body_str());
    assert!(redirected.body_str().contains("owner"), "{}", redirected.body_str());
    let own = mallory.call("ReplayTopic", &[("TopicArn", &arn), ("StartTime", "1h")]);
    assert_eq!(own.status, 200, "{}", own.body_str());
    assert!(
        !mallory.get_topic_attributes(&arn).unwrap().contains_key("Replay"),
        "the replay status (it may name the owner's other endpoints) is the owner's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_topic_replay_follows_the_replay_to_its_end() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let consumer = Receiver::start_new();
    let arn = sns.create_topic(
        "cli",
        &[
            ("push-endpoint", &consumer.url("e")),
            ("persistent", "true"),
            ("retention", "600"),
        ],
    );
    s3.create_bucket().bucket("cli-bucket").send().await.unwrap();
    put_config(
        &s3,
        "cli-bucket",
        vec![tc("c", &arn, &["s3:ObjectCreated:*"], None, None)],
    )
    .await;
    let keys: Vec<String> = (0..30).map(|i| format!("k{i:02}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_keys(&s3, "cli-bucket", &refs).await;
    consumer.wait_for("all events", 30, |r| pushes(r).len() == 30).await;

    let other = Receiver::start_new();
    let data_dir = srv.data_dir().to_owned();
    // A webhook token in the query: used, never shown or logged.
    let url = format!("{}?token=replay-s3cr3t", other.url("cli"));
    // Throttled: 31 events at 20 per second take 1.5 s at least.
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        run_cli(
            &data_dir,
            &[
                "topic",
                "replay",
                "cli",
                "--since",
                "10m",
                "--endpoint",
                &url,
                "--rate",
                "20",
            ],
        )
    })
    .await
    .unwrap();
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status["state"], "done", "{status}");
    // The test event of the configuration is an event of the topic too.
    assert_eq!(status["delivered"], 31, "{status}");
    assert_eq!(status["rate"], 20, "{status}");
    assert!(!stdout.contains("replay-s3cr3t"), "{stdout}");
    assert!(!srv.logs().contains("replay-s3cr3t"), "the token reached the log");
    assert!(
        took >= std::time::Duration::from_millis(1400),
        "not held to 20/s: {took:?}"
    );
    let got = pushes(&other);
    assert_eq!(got.len(), 30, "every object event once");
    // One key's events in the order they happened (one key here per
    // object; the sequencers of the whole replay match the originals').
    let mut seqs: Vec<u64> = got
        .iter()
        .map(|(_, b, _)| seq(&serde_json::from_slice::<Value>(b).unwrap()["Records"][0]))
        .collect();
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 30);

    // A topic that does not exist: exit status 2, as the other commands.
    let data_dir = srv.data_dir().to_owned();
    let out = tokio::task::spawn_blocking(move || run_cli(&data_dir, &["topic", "replay", "nope", "--since", "1h"]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A replay stuck on an endpoint that never answers ends when its topic
/// changes, or when the operator cancels it, without waiting for the push
/// timeout; a second replay of the topic is refused while one runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_replay_ends_when_its_topic_changes_or_is_cancelled() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let consumer = Receiver::start_new();
    // Connections are queued by the kernel and never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_url = format!("http://127.0.0.1:{}/never", silent.local_addr().unwrap().port());
    let arn = sns.create_topic(
        "stoppable",
        &[
            ("push-endpoint", &consumer.url("e")),
            ("persistent", "true"),
            ("retention", "600"),
            ("push-timeout", "600"),
        ],
    );
    s3.create_bucket().bucket("stop-bucket").send().await.unwrap();
    put_config(
        &s3,
        "stop-bucket",
        vec![tc("s", &arn, &["s3:ObjectCreated:*"], None, None)],
    )
    .await;
    put_keys(&s3, "stop-bucket", &["s1", "s2", "s3"]).await;
    consumer.wait_for("the events", 30, |r| pushes(r).len() == 3).await;
    let replay = || {
        sns.call(
            "ReplayTopic",
            &[("TopicArn", &arn), ("StartTime", "10m"), ("PushEndpoint", &silent_url)],
        )
    };
    let state = |sns: &Sns| -> String {
        let attrs = sns.get_topic_attributes(&arn).unwrap();
        let v: Value = serde_json::from_str(&attrs["Replay"]).unwrap();
        v["state"].as_str().unwrap().to_owned()
    };
    let wait_state = |want: &'static str| {
        let sns = Sns::root(&srv);
        let arn = arn.clone();
        async move {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                let attrs = sns.get_topic_attributes(&arn).unwrap();
                let v: Value = serde_json::from_str(&attrs["Replay"]).unwrap();
                if v["state"] == want {
                    return v;
                }
                assert!(std::time::Instant::now() < deadline, "not {want}: {v}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };

    assert_eq!(replay().status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(state(&sns), "running");
    let busy = replay();
    assert_eq!(busy.status, 409, "one replay per topic: {}", busy.body_str());
    sns.set_topic_attribute(&arn, "OpaqueData", "changed").unwrap();
    let ended = wait_state("cancelled").await;
    assert_eq!(ended["delivered"], 0, "{ended}");

    // The same over the SNS API (a user without the command line).
    assert_eq!(replay().status, 200, "the cancelled one no longer counts");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    srv.create_user("eve", "EVEKEY00000000000001", "eve-secret-key-00000000000001");
    let eve = Sns::new(&srv, "EVEKEY00000000000001", "eve-secret-key-00000000000001");
    let refused = eve.call("CancelReplay", &[("TopicArn", &arn)]);
    assert_eq!(refused.status, 403, "{}", refused.body_str());
    assert_eq!(state(&sns), "running", "another user cancels nothing");
    let cancel = sns.call("CancelReplay", &[("TopicArn", &arn)]);
    assert_eq!(cancel.status, 200, "{}", cancel.body_str());
    assert_eq!(xml_first(&cancel.body_str(), "Cancelled").as_deref(), Some("true"));
    wait_state("cancelled").await;
    let again = sns.call("CancelReplay", &[("TopicArn", &arn)]);
    assert_eq!(xml_first(&again.body_str(), "Cancelled").as_deref(), Some("false"));

    assert_eq!(replay().status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let data_dir = srv.data_dir().to_owned();
    let out = tokio::task::spawn_blocking(move || run_cli(&data_dir, &["topic", "cancel-replay", "stoppable"]))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_state("cancelled").await;
    let data_dir = srv.data_dir().to_owned();
    let again = tokio::task::spawn_blocking(move || run_cli(&data_dir, &["topic", "cancel-replay", "stoppable"]))
        .await
        .unwrap();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("no replay"),
        "{again:?}"
    );
    drop(silent);
}

/// Retained events survive kill -9 and replay after the restart; the
/// operator's bounds apply at the next start without blocking the topic's
/// other changes; `--topic-max-retained-bytes 0` turns retention off and
/// reclaims what was kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_events_survive_kill9_and_follow_the_operators_bounds() {
    let mut srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let consumer = Receiver::start_new();
    let arn = sns.create_topic(
        "durable",
        &[
            ("push-endpoint", &consumer.url("e")),
            ("persistent", "true"),
            ("retention", "600"),
        ],
    );
    s3.create_bucket().bucket("durable-bucket").send().await.unwrap();
    put_config(
        &s3,
        "durable-bucket",
        vec![tc("d", &arn, &["s3:ObjectCreated:*"], None, None)],
    )
    .await;
    let keys: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    put_keys(&s3, "durable-bucket", &refs).await;
    consumer.wait_for("all events", 30, |r| pushes(r).len() == 40).await;

    srv.restart(); // kill -9, same data dir
    consumer.clear();
    let sns = Sns::root(&srv);
    let answer = sns.call("ReplayTopic", &[("TopicArn", &arn), ("StartTime", "10m")]);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    let done = wait_replay(&sns, &arn).await;
    assert_eq!(done["state"], "done", "{done}");
    let mut got: Vec<String> = pushes(&consumer).into_iter().map(|(k, _, _)| k).collect();
    got.sort();
    assert_eq!(got, keys, "every delivered event is still there after kill -9");

    // A lower bound than the topic asked for: the topic keeps working.
    srv.set_args(&["--topic-max-retention", "60"]);
    srv.restart();
    let sns = Sns::root(&srv);
    sns.set_topic_attribute(&arn, "OpaqueData", "still editable").unwrap();
    let e = sns.set_topic_attribute(&arn, "retention", "600").unwrap_err();
    assert!(e.body.contains("--topic-max-retention"), "{e:?}");
    sns.set_topic_attribute(&arn, "retention", "60").unwrap();

    // No retained bytes allowed: what was kept goes, nothing is replayed.
    srv.set_args(&["--topic-max-retained-bytes", "0"]);
    srv.restart();
    consumer.clear();
    let sns = Sns::root(&srv);
    let answer = sns.call("ReplayTopic", &[("TopicArn", &arn), ("StartTime", "10m")]);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    let done = wait_replay(&sns, &arn).await;
    assert_eq!(
        (done["state"].as_str(), done["delivered"].as_u64()),
        (Some("done"), Some(0)),
        "{done}"
    );
    let files: usize = walk(&srv.data_dir().join("log"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0))
        .sum();
    assert!(files < 4096, "retained segments reclaimed: {files} bytes of log left");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
