//! NATS: JetStream and core subjects.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_events_are_stored_and_survive_an_outage() {
    require("NATS", NATS);
    let srv = TestServer::start();
    let s = suffix();
    let subject = format!("nats-{s}");
    let client = async_nats::connect(format!("127.0.0.1:{NATS}"))
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client.clone());
    let stream_name = format!("HERALD_TEST_{s}");
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create JetStream stream");
    let inbox = Inbox::default();
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    let inbox2 = inbox.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            inbox2.add(Some(m.subject.to_string()), &m.payload);
        }
    });
    let proxy = Proxy::start(NATS).await;
    let (s3, bucket) = setup(&srv, &subject, &format!("nats://127.0.0.1:{}", proxy.port), &[]).await;
    first_events(&s3, &bucket, &inbox).await;

    proxy.down();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &subject).await;
    proxy.up();
    let got = inbox.wait_for("backlog after NATS came back", 3 + n, 60).await;
    check_backlog(&got);
    // Every event is in the stream: JetStream acknowledged each publish.
    let stored = stream.info().await.unwrap().state.messages;
    assert!(
        stored >= (3 + n) as u64,
        "the stream holds {stored} messages, want {}",
        3 + n
    );
    js.delete_stream(&stream_name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_core_subject_gets_events() {
    require("NATS", NATS);
    let srv = TestServer::start();
    let subject = format!("nats-core-{}", suffix());
    let client = async_nats::connect(format!("127.0.0.1:{NATS}"))
        .await
        .expect("connect to NATS");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.flush().await.unwrap();
    let inbox = Inbox::default();
    let inbox2 = inbox.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            inbox2.add(None, &m.payload);
        }
    });
    let (s3, bucket) = setup(&srv, &subject, &format!("nats://127.0.0.1:{NATS}"), &[]).await;
    first_events(&s3, &bucket, &inbox).await;
}

/// A replay reaches a broker marked as one: the NATS header
/// `x-herald-replay: true` (live events carry none), body unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_replay_carries_the_replay_header() {
    require("NATS", NATS);
    let srv = TestServer::start();
    let subject = format!("replay-{}", suffix());
    let client = async_nats::connect(format!("127.0.0.1:{NATS}"))
        .await
        .expect("connect to NATS");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    let got: Arc<Mutex<Vec<Marked>>> = Arc::default();
    let got2 = got.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let marker = m
                .headers
                .as_ref()
                .and_then(|h| h.get("x-herald-replay"))
                .map(|v| v.as_str().to_owned());
            got2.lock().unwrap().push((marker, m.payload.to_vec()));
        }
    });
    let endpoint = format!("nats://127.0.0.1:{NATS}");
    let (s3, bucket) = setup(&srv, &subject, &endpoint, &[("retention", "600")]).await;
    for k in ["r1", "r2", "r3"] {
        put(&s3, &bucket, k, b"replay").await;
    }
    let wait = |n: usize| {
        let got = got.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while got.lock().unwrap().len() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "only {:?}",
                    got.lock().unwrap().len()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // The configuration's test event is one of the topic's events too.
    wait(4).await;
    let sns = Sns::root(&srv);
    let arn = sns
        .list_topic_arns()
        .into_iter()
        .find(|a| a.ends_with(&subject))
        .unwrap();
    let answer = sns.call("ReplayTopic", &[("TopicArn", &arn), ("StartTime", "10m")]);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    wait(8).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = got.lock().unwrap().clone();
    check_replayed(all);
}
