//! Delivery: receiver outages, retries and expiry, ordering, and events
//! surviving kill -9 and restarts.

use super::*;

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

    stats_and_dump_show_the_backlog(&srv);

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

    sync_not_retried_and_backlog_drained(&srv, &s3, &rp, &rs).await;
}

/// `topic stats` and `topic dump` show the persistent backlog while the
/// receiver is down.
fn stats_and_dump_show_the_backlog(srv: &TestServer) {
    let st = topic_cli_json(srv, &["stats", "out-p", "--user", "root"]);
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
    let dump = topic_cli_json(srv, &["dump", "out-p", "--user", "root"]);
    let arr = dump
        .as_array()
        .unwrap_or_else(|| panic!("topic dump is not an array: {dump}"));
    assert!(arr.len() >= 20, "topic dump has {} entries", arr.len());
    let dump_text = dump.to_string();
    for i in 0..20 {
        assert!(dump_text.contains(&format!("o{i:02}")), "topic dump lacks o{i:02}");
    }
}

/// The synchronous topic never retries: after a sentinel, only it
/// arrived; the persistent backlog drains with nothing lost.
async fn sync_not_retried_and_backlog_drained(srv: &TestServer, s3: &aws_sdk_s3::Client, rp: &Receiver, rs: &Receiver) {
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
        let n = topic_stats_entries(srv, "out-p", "root");
        if n == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "topic stats entries still {n} after the drain"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let m = metrics_text(srv);
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

    expired_events_never_come_back(&s3, &rx).await;
}

/// The receiver recovers: new events flow, the expired ones never come
/// back.
async fn expired_events_never_come_back(s3: &aws_sdk_s3::Client, rx: &Receiver) {
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
