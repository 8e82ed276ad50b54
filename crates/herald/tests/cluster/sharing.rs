//! Three nodes share users, buckets, topics, configurations and policies,
//! and deliver every event of a persistent topic, whichever node took the
//! write.

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_share_their_metadata_and_deliver_every_event() {
    let weed = Seaweed::start();
    let nats = NatsPrefix::new(NATS_URL);
    let nodes = start_nodes(&weed, &nats, 3);
    let receiver = Receiver::start_new();

    // A user made on node 0 signs on node 2.
    nodes[0].create_user("bob", BOB_KEY, BOB_SECRET);
    let bob_on_2 = nodes[2].s3_as(BOB_KEY, BOB_SECRET);
    let took = eventually("bob's key works on node 2", 10, || async {
        bob_on_2.list_buckets().send().await.is_ok()
    })
    .await;
    println!("a user made on node 0 signed on node 2 after {took:?}");

    // A topic made on node 1, a bucket on node 2, the configuration on
    // node 0 (once it sees both), seen by node 1.
    let topic = Sns::root(&nodes[1]).create_topic(
        "shared",
        &[("push-endpoint", &receiver.url("shared")), ("persistent", "true")],
    );
    nodes[2]
        .s3()
        .create_bucket()
        .bucket("shared-bucket")
        .send()
        .await
        .unwrap();
    eventually("node 0 sees the topic", 10, || async {
        Sns::root(&nodes[0]).get_topic_attributes(&topic).is_ok()
    })
    .await;
    eventually("node 0 sees the bucket", 10, || async {
        nodes[0].s3().head_bucket().bucket("shared-bucket").send().await.is_ok()
    })
    .await;
    notify_to(&nodes[0].s3(), "shared-bucket", &topic).await;
    let took = eventually("node 1 sees the configuration", 10, || {
        sees_config(&nodes[1], "shared-bucket")
    })
    .await;
    println!("a configuration made on node 0 was seen on node 1 after {took:?}");
    eventually("node 2 sees the configuration", 10, || {
        sees_config(&nodes[2], "shared-bucket")
    })
    .await;

    // Writes spread over the nodes: every event delivered once.
    let all: Vec<&TestServer> = nodes.iter().collect();
    let acked = put_spread(&all, "shared-bucket", "spread", 90).await;
    assert_eq!(acked.len(), 90, "every PUT is acknowledged");
    receiver
        .wait_for("every spread PUT's event", 60, |r| {
            let got = delivered_by_key(r);
            acked.iter().all(|k| got.contains_key(k))
        })
        .await;
    assert_each_delivered(&receiver, &acked);

    // One key written through each node in turn: its events arrive in the
    // order of the writes (one partition, one event in flight).
    let mut etags = Vec::new();
    for i in 0..6u64 {
        let body = seeded_bytes(100 + i, 64);
        nodes[i as usize % 3]
            .s3()
            .put_object()
            .bucket("shared-bucket")
            .key("ordered")
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        etags.push(md5_hex(&body));
    }
    receiver
        .wait_for("the six events of one key", 30, |r| {
            r.delivered_for_key("ordered").len() >= 6
        })
        .await;
    let seen: Vec<String> = receiver
        .delivered_for_key("ordered")
        .iter()
        .map(|r| r["s3"]["object"]["eTag"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(seen, etags, "one key's events in the order of its writes");

    // A bucket policy set on node 0 lets bob list on node 1.
    let bob_on_1 = nodes[1].s3_as(BOB_KEY, BOB_SECRET);
    let listing = bob_on_1.list_objects_v2().bucket("shared-bucket").send().await;
    assert!(listing.is_err(), "bob may not list before the policy");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::bob:user/bob"]},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared-bucket"}]}"#;
    nodes[0]
        .s3()
        .put_bucket_policy()
        .bucket("shared-bucket")
        .policy(policy)
        .send()
        .await
        .unwrap();
    eventually("bob lists on node 1 under the new policy", 10, || async {
        bob_on_1.list_objects_v2().bucket("shared-bucket").send().await.is_ok()
    })
    .await;

    // Three users create one bucket name at once on three nodes: one of
    // them gets it, everywhere.
    nodes[1].create_user("carol", CAROL_KEY, CAROL_SECRET);
    let carol_on_2 = nodes[2].s3_as(CAROL_KEY, CAROL_SECRET);
    eventually("carol's key works on node 2", 10, || async {
        carol_on_2.list_buckets().send().await.is_ok()
    })
    .await;
    let contenders = [
        ("root", nodes[0].s3_no_retry()),
        ("bob", bob_on_1.clone()),
        ("carol", carol_on_2.clone()),
    ];
    let results = futures::future::join_all(
        contenders
            .iter()
            .map(|(_, s3)| async move { s3.create_bucket().bucket("contested").send().await }),
    )
    .await;
    let winners: Vec<&str> = contenders
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|((who, _), _)| *who)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one CreateBucket wins: {results:?}");
    let winner = winners[0];
    for node in &nodes {
        for (who, access, secret) in [
            ("root", ROOT_ACCESS_KEY, ROOT_SECRET_KEY),
            ("bob", BOB_KEY, BOB_SECRET),
            ("carol", CAROL_KEY, CAROL_SECRET),
        ] {
            let s3 = node.s3_as(access, secret);
            eventually(
                &format!("{who}'s listing shows the contested bucket only if {who} won"),
                10,
                || async {
                    s3.list_buckets()
                        .send()
                        .await
                        .is_ok_and(|l| l.buckets().iter().any(|b| b.name() == Some("contested")) == (who == winner))
                },
            )
            .await;
        }
    }

    // A topic deleted on node 2 is gone everywhere, its stream with it.
    let stream_count = nats.streams().await.len();
    assert!(stream_count >= 2, "the metadata bucket and the topic's stream exist");
    Sns::root(&nodes[2]).delete_topic(&topic).unwrap();
    eventually("node 0 no longer has the topic", 10, || async {
        Sns::root(&nodes[0]).get_topic_attributes(&topic).is_err()
    })
    .await;
    eventually("the topic's stream is deleted", 10, || async {
        nats.streams().await.len() == stream_count - 1
    })
    .await;

    // Made again under the same ARN, it gets a stream of its own (a late
    // deletion of the old one cannot take it) and delivers again.
    let again = Sns::root(&nodes[1]).create_topic(
        "shared",
        &[("push-endpoint", &receiver.url("shared")), ("persistent", "true")],
    );
    assert_eq!(again, topic);
    eventually("node 2 has the topic again", 10, || async {
        Sns::root(&nodes[2]).get_topic_attributes(&topic).is_ok()
    })
    .await;
    nodes[2]
        .s3()
        .put_object()
        .bucket("shared-bucket")
        .key("after-re-creation")
        .body(ByteStream::from_static(b"again"))
        .send()
        .await
        .unwrap();
    receiver
        .wait_for("the re-created topic's event", 30, |r| {
            !r.delivered_for_key("after-re-creation").is_empty()
        })
        .await;

    // Dead-letter queues are kept per node: a shared topic cannot name one.
    let refused = Sns::root(&nodes[0]).try_create_topic(
        "with-dead-letters",
        &[
            ("push-endpoint", &receiver.url("dl")),
            ("persistent", "true"),
            ("dead-letter-queue", "arn:aws:sqs:us-east-1:root:parked"),
        ],
    );
    assert!(refused.is_err(), "a dead-letter queue in cluster mode: {refused:?}");
}
