//! What a tenant's topic may take of the cluster's NATS.

use std::collections::HashSet;
use std::time::Duration;

use herald_testkit::*;

use crate::*;

/// The bytes `stream` holds now.
async fn stream_bytes(url: &str, stream: &str) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("NATS with JetStream"));
    let mut stream = js.get_stream(stream).await.expect("the topic's stream");
    stream.info().await.expect("stream info").state.bytes
}

/// PUTs `<prefix>-<i>` one after the other until one is refused; returns
/// the keys acknowledged and the refusal's status.
async fn put_until_refused(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> (HashSet<String>, Option<u16>) {
    let mut acked = HashSet::new();
    for i in 0..400 {
        let key = format!("{prefix}-{i}");
        let put = s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(seeded_bytes(i, 100).into())
            .send()
            .await;
        match put {
            Ok(_) => {
                acked.insert(key);
            }
            Err(e) => return (acked, e.raw_response().map(|r| r.status().as_u16())),
        }
        // Gives the relay time to move each event, as a steady writer would.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (acked, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_topic_cannot_fill_the_clusters_nats_and_loses_nothing_at_its_bound() {
    const CAP: u64 = 16 * 1024;
    let weed = Seaweed::start();
    let nats = NatsPrefix::new(NATS_URL);
    let mut args = weed.gateway_args();
    args.extend(nats.node_args());
    args.extend(["--cluster-max-topic-bytes".to_owned(), CAP.to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = TestServer::start_with_args(&args);

    // A tenant's endpoint that never answers well: every event stays in
    // the topic's stream.
    let receiver = Receiver::start_new();
    receiver.set_mode(Mode::Status(503));
    let sns = Sns::root(&node);
    let big = sns.create_topic(
        "dead-end",
        &[
            ("push-endpoint", &receiver.url("dead-end")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    // A topic asking for less than the operator's bound gets less.
    let small = sns.create_topic(
        "small",
        &[
            ("push-endpoint", &receiver.url("small")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
            ("queue-max-bytes", "4096"),
        ],
    );
    let s3 = node.s3_no_retry();
    for (bucket, topic) in [("dead-end", &big), ("small", &small)] {
        s3.create_bucket().bucket(bucket).send().await.unwrap();
        notify_to(&s3, bucket, topic).await;
    }

    let (mut acked, refused) = put_until_refused(&s3, "dead-end", "k").await;
    assert_eq!(refused, Some(503), "writes are refused once the stream is full");
    let record_bytes = 1_000; // a rendered record is 1-2 KB
    assert!(
        (acked.len() as u64) < 2 * CAP / record_bytes,
        "{} events taken by a {CAP}-byte stream",
        acked.len()
    );
    let streams = nats.streams().await;
    let mut sizes = Vec::new();
    for name in streams.iter().filter(|n| !n.starts_with("KV_")) {
        sizes.push(stream_bytes(&nats.url, name).await);
    }
    assert!(
        sizes.iter().all(|b| *b < CAP + CAP / 2),
        "streams hold {sizes:?} bytes, bound {CAP}"
    );
    let (small_acked, small_refused) = put_until_refused(&s3, "small", "s").await;
    assert_eq!(
        small_refused,
        Some(503),
        "the topic's own queue-max-bytes is a bound too"
    );
    assert!(
        small_acked.len() < acked.len(),
        "the small topic took {} events, the large {}",
        small_acked.len(),
        acked.len()
    );
    // Other buckets and topics go on.
    s3.create_bucket().bucket("unrelated").send().await.unwrap();
    assert!(
        put_taken(&s3, "unrelated", "x").await,
        "a bucket without the full topic takes writes"
    );

    // The endpoint comes back: every acknowledged event is delivered, and
    // the topic takes writes again.
    receiver.set_mode(Mode::Ok);
    eventually("the full topic takes writes again", 60, || {
        put_taken(&s3, "dead-end", "after")
    })
    .await;
    acked.insert("after".into());
    acked.extend(small_acked);
    wait_each_delivered(&receiver, &acked, "every acknowledged event").await;
}
