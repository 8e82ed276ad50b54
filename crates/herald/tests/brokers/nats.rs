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
