//! Reads as events (MinIO's `s3:ObjectAccessed:Get|Head`): sent only to
//! configurations that name them, synchronously or through a persistent
//! topic, matched by the version's key filters; a configuration with no
//! `<Event>` (every change) never gets them, nor does a failed read.

use super::*;

/// Records delivered for `config` (its `configurationId`) with `event`.
fn delivered(rx: &Receiver, config: &str, event: &str) -> Vec<Value> {
    rx.delivered_records()
        .into_iter()
        .filter(|r| r["s3"]["configurationId"] == config && r["eventName"] == event)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_events_only_where_a_configuration_names_them() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let sync_arn = sns.create_topic("reads-sync", &[("push-endpoint", &rx.url("sync"))]);
    let durable_arn = sns.create_topic(
        "reads-durable",
        &[("push-endpoint", &rx.url("durable")), ("persistent", "true")],
    );
    s3.create_bucket().bucket("readsb").send().await.unwrap();
    // Ceph's form of "every event": a configuration without <Event> (the
    // SDK cannot send one, so this goes as XML).
    let prefix = "<S3Key><FilterRule><Name>prefix</Name><Value>r/</Value></FilterRule></S3Key>";
    must_put_notification_xml(
        &srv,
        "readsb",
        &notification_xml(&[
            topic_config_xml("gets", &sync_arn, &["s3:ObjectAccessed:Get"], None),
            topic_config_xml("all-reads", &durable_arn, &["s3:ObjectAccessed:*"], Some(prefix)),
            topic_config_xml("changes", &sync_arn, &[], None),
        ]),
    );
    for key in ["r/one", "other"] {
        s3.put_object()
            .bucket("readsb")
            .key(key)
            .body(ByteStream::from_static(b"twelve bytes"))
            .send()
            .await
            .unwrap();
    }
    rx.wait_event("other", "ObjectCreated:Put").await;

    let got = s3.get_object().bucket("readsb").key("r/one").send().await.unwrap();
    let request_id = got.request_id().map(str::to_owned);
    let etag = got.e_tag().unwrap().trim_matches('"').to_owned();
    s3.head_object().bucket("readsb").key("r/one").send().await.unwrap();
    s3.get_object().bucket("readsb").key("other").send().await.unwrap();
    let missing = s3.get_object().bucket("readsb").key("r/missing").send().await;
    assert!(missing.is_err(), "GET of a missing key succeeded");

    rx.wait_for("the reads' events", 30, |r| {
        delivered(r, "gets", "ObjectAccessed:Get").len() >= 2
            && delivered(r, "all-reads", "ObjectAccessed:Get").len()
                + delivered(r, "all-reads", "ObjectAccessed:Head").len()
                >= 2
    })
    .await;
    // The synchronous topic: both GETs (no filter), no HEAD.
    let gets: BTreeSet<String> = delivered(&rx, "gets", "ObjectAccessed:Get")
        .iter()
        .map(|r| r["s3"]["object"]["key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(gets, BTreeSet::from(["r/one".to_owned(), "other".to_owned()]));
    assert!(delivered(&rx, "gets", "ObjectAccessed:Head").is_empty());
    // The persistent topic: GET and HEAD of r/one only (prefix r/).
    let durable: Vec<Value> = rx
        .delivered_records()
        .into_iter()
        .filter(|r| r["s3"]["configurationId"] == "all-reads")
        .collect();
    let mut seen: Vec<(String, String)> = durable
        .iter()
        .map(|r| {
            (
                r["eventName"].as_str().unwrap().to_owned(),
                r["s3"]["object"]["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("ObjectAccessed:Get".to_owned(), "r/one".to_owned()),
            ("ObjectAccessed:Head".to_owned(), "r/one".to_owned())
        ]
    );
    let get_rec = durable.iter().find(|r| r["eventName"] == "ObjectAccessed:Get").unwrap();
    assert_eq!(get_rec["s3"]["object"]["size"], 12, "{get_rec}");
    assert_eq!(get_rec["s3"]["object"]["eTag"], etag.as_str(), "{get_rec}");
    assert_eq!(get_rec["userIdentity"]["principalId"], "root", "{get_rec}");
    assert_eq!(
        get_rec["responseElements"]["x-amz-request-id"].as_str(),
        request_id.as_deref(),
        "{get_rec}"
    );
    // "Every change" is not "every event": no read reached `changes`.
    let reads_to_changes = rx
        .delivered_records()
        .into_iter()
        .filter(|r| r["s3"]["configurationId"] == "changes")
        .filter(|r| r["eventName"].as_str().unwrap().starts_with("ObjectAccessed"))
        .count();
    assert_eq!(reads_to_changes, 0);
}

/// A hostile (or just busy) reader cannot fill a persistent topic for the
/// writers: read events stop at half the topic's queue limit (dropped and
/// counted lost), so the PUTs that publish to the same topic still go in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_never_fill_a_queue_for_the_writers() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let arn = Sns::root(&srv).create_topic(
        "reads-bounded",
        &[
            ("push-endpoint", "http://127.0.0.1:1/down"),
            ("persistent", "true"),
            ("queue-max-entries", "6"),
        ],
    );
    s3.create_bucket().bucket("readsq").send().await.unwrap();
    must_put_notification_xml(
        &srv,
        "readsq",
        &notification_xml(&[
            topic_config_xml("reads", &arn, &["s3:ObjectAccessed:*"], None),
            topic_config_xml("writes", &arn, &["s3:ObjectCreated:*"], None),
        ]),
    );
    let put = |key: &'static str| {
        s3.put_object()
            .bucket("readsq")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    put("obj").await.unwrap();
    let lost = |srv: &TestServer| metric(&metrics_text(srv), "pubsub_event_lost", None).unwrap_or(0.0);
    let lost_before = lost(&srv);
    for _ in 0..20 {
        s3.get_object().bucket("readsq").key("obj").send().await.unwrap();
        s3.head_object().bucket("readsq").key("obj").send().await.unwrap();
    }
    let queued = topic_stats_entries(&srv, "reads-bounded", "root");
    assert_eq!(queued, 3, "reads stop at half of queue-max-entries (6)");
    assert!(lost(&srv) >= lost_before + 37.0, "dropped read events are counted lost");
    // The writers still get in, up to the full limit.
    for key in ["w1", "w2", "w3"] {
        put(key)
            .await
            .unwrap_or_else(|e| panic!("PUT {key} refused after reads: {e:?}"));
    }
    assert_eq!(topic_stats_entries(&srv, "reads-bounded", "root"), 6);
    let refused = put("w4").await;
    assert!(refused.is_err(), "a full queue refuses writes (SlowDown)");
}

/// Many reads at once cannot overshoot the half-full mark either: a log
/// counts its entries only when a group commit settles, so the reads in
/// flight are counted until then (400 concurrent GETs, room for 99; without
/// the count, 103 went in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_stop_at_half_the_queue() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let arn = Sns::root(&srv).create_topic(
        "reads-burst",
        &[
            ("push-endpoint", "http://127.0.0.1:1/down"),
            ("persistent", "true"),
            ("queue-max-entries", "200"),
        ],
    );
    s3.create_bucket().bucket("readsburst").send().await.unwrap();
    must_put_notification_xml(
        &srv,
        "readsburst",
        &notification_xml(&[topic_config_xml("reads", &arn, &["s3:ObjectAccessed:Get"], None)]),
    );
    s3.put_object()
        .bucket("readsburst")
        .key("hot")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let before = topic_stats_entries(&srv, "reads-burst", "root");
    let gets = (0..400).map(|_| {
        let s3 = s3.clone();
        async move { s3.get_object().bucket("readsburst").key("hot").send().await.map(|_| ()) }
    });
    for r in futures::future::join_all(gets).await {
        r.expect("a GET failed");
    }
    // At most half (a read settling while still counted in flight may
    // leave a place or two unused, never one too many).
    let queued = topic_stats_entries(&srv, "reads-burst", "root");
    assert!(
        (90..=100).contains(&queued),
        "reads fill the queue to half of 200, no more: {queued} (it held {before} before)"
    );
}
