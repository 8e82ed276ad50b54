//! Dead letters: a persistent topic's `dead-letter-queue` (one of the
//! owner's own SQS queues) receives the events the topic gives up on,
//! with message attributes saying why, instead of losing them.

use super::*;
use aws_sdk_sqs::types::QueueAttributeName;

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap()
}

/// A dead letter as received: the event's key and the attributes.
struct Letter {
    key: String,
    attrs: HashMap<String, String>,
}

/// Receives (and deletes) until `n` letters came or 60 s passed.
async fn receive_letters(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Vec<Letter> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while out.len() < n && std::time::Instant::now() < deadline {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let v: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let attrs = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            // The test event a new configuration sends is an event like any
            // other: undeliverable, it is parked too.
            let key = match v["Event"].as_str() {
                Some("s3:TestEvent") => format!("test event of {}", v["Bucket"].as_str().unwrap_or("?")),
                _ => v["Records"][0]["s3"]["object"]["key"].as_str().unwrap().to_owned(),
            };
            out.push(Letter { key, attrs });
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undeliverable_events_are_parked_with_the_reason() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let dlq_url = sqs
        .create_queue()
        .queue_name("parked")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let dlq = queue_arn(&sqs, &dlq_url).await;
    let failing = Receiver::start_new();
    failing.set_mode(Mode::Status(500));
    let refusing = Receiver::start_new();
    refusing.set_mode(Mode::Status(403));
    let common = [
        ("persistent", "true"),
        ("retry_sleep_duration", "1"),
        ("dead-letter-queue", dlq.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)], url: String| {
        let mut attrs: Vec<(String, String)> = common.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        attrs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        attrs.push(("push-endpoint".into(), url));
        attrs
    };
    let topics = [
        ("dl-retries", with(&[("max_retries", "2")], failing.url("r"))),
        ("dl-ttl", with(&[("time_to_live", "3")], failing.url("t"))),
        ("dl-refused", with(&[], refusing.url("x"))),
    ];
    for (name, attrs) in &topics {
        let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let arn = sns.create_topic(name, &attrs);
        assert_eq!(
            sns.get_topic_attributes(&arn).unwrap().get("dead-letter-queue"),
            Some(&dlq),
            "shown back"
        );
        let bucket = format!("b-{name}");
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        put_config(&s3, &bucket, vec![tc(name, &arn, &["s3:ObjectCreated:*"], None, None)]).await;
        s3.put_object()
            .bucket(&bucket)
            .key(format!("k-{name}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let letters = receive_letters(&sqs, &dlq_url, 6).await;
    let by_key: HashMap<&str, &Letter> = letters.iter().map(|l| (l.key.as_str(), l)).collect();
    assert_eq!(
        by_key.len(),
        6,
        "a test event and an event per topic, once each: {:?}",
        letters.iter().map(|l| &l.key).collect::<Vec<_>>()
    );
    let retries = &by_key["k-dl-retries"].attrs;
    assert_eq!(retries["Reason"], "max-retries", "{retries:?}");
    assert_eq!(retries["Attempts"], "3", "max_retries=2: three attempts: {retries:?}");
    assert!(retries["LastError"].contains("HTTP 500"), "{retries:?}");
    assert!(retries["TopicArn"].ends_with(":dl-retries"), "{retries:?}");
    for t in ["EnqueuedTime", "FirstAttemptTime", "LastAttemptTime"] {
        assert!(retries.get(t).is_some_and(|v| v.len() >= 20), "{t}: {retries:?}");
    }
    assert!(retries["FirstAttemptTime"] < retries["LastAttemptTime"], "{retries:?}");
    let ttl = &by_key["k-dl-ttl"].attrs;
    assert_eq!(ttl["Reason"], "time-to-live", "{ttl:?}");
    let refused = &by_key["k-dl-refused"].attrs;
    assert_eq!(refused["Reason"], "refused", "a 403 is final: {refused:?}");
    assert_eq!(refused["Attempts"], "1", "{refused:?}");
    assert!(refused["LastError"].contains("HTTP 403"), "{refused:?}");
    assert_eq!(refused["FirstAttemptTime"], refused["LastAttemptTime"], "{refused:?}");

    // Counted as parked, not lost; nothing left in the topics' queues.
    let m = metrics_text(&srv);
    for (name, _) in &topics {
        assert_eq!(
            metric(&m, "pubsub_event_dead_lettered", Some(name)),
            Some(2.0),
            "{name}:\n{m}"
        );
        assert_eq!(
            metric(&m, "pubsub_event_lost", Some(name)).unwrap_or(0.0),
            0.0,
            "{name}:\n{m}"
        );
        assert_eq!(topic_stats_entries(&srv, name, "root"), 0, "{name}");
    }
    // A parked event is not pushed again.
    let pushes = failing.attempted_records().len();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(failing.attempted_records().len(), pushes, "no push after parking");

    // The queue deleted: events given up on are lost, and counted so.
    sqs.delete_queue().queue_url(&dlq_url).send().await.unwrap();
    s3.put_object()
        .bucket("b-dl-refused")
        .key("after-delete")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while metric(&metrics_text(&srv), "pubsub_event_lost", Some("dl-refused")).unwrap_or(0.0) < 1.0 {
        assert!(std::time::Instant::now() < deadline, "the event was not counted lost");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Only one of the owner's own queues can be a dead-letter queue; another
/// user's queue answers as a missing one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dead_letter_queue_must_be_the_owners_own() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB_AK, BOB_SK);
    let root_sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let roots_url = root_sqs.create_queue().queue_name("roots").send().await.unwrap();
    let roots = queue_arn(&root_sqs, roots_url.queue_url().unwrap()).await;
    let bob_sqs = srv.sqs_as(BOB_AK, BOB_SK);
    let bobs_url = bob_sqs.create_queue().queue_name("bobs").send().await.unwrap();
    let bobs = queue_arn(&bob_sqs, bobs_url.queue_url().unwrap()).await;
    let bob = Sns::new(&srv, BOB_AK, BOB_SK);
    let missing = roots.replace(":roots", ":nope");
    // Another user's queue and a missing one get the same answer.
    let message = |value: &str| {
        let e = bob
            .try_create_topic("t", &[("dead-letter-queue", value)])
            .expect_err(value);
        xml_first(&e.body, "Message").unwrap_or_default().replace(value, "ARN")
    };
    assert_eq!(message(&roots), message(&missing));
    for (value, why) in [
        (roots.as_str(), "of yours"),
        (missing.as_str(), "of yours"),
        ("my-queue", "must be the ARN"),
        ("arn:aws:sns:us-east-1:bob:t", "must be the ARN"),
    ] {
        let e = bob
            .try_create_topic("t", &[("dead-letter-queue", value)])
            .expect_err(value);
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "InvalidArgument"),
            "{value}: {}",
            e.body
        );
        assert!(e.body.contains(why), "{value}: {}", e.body);
    }
    let arn = bob.create_topic("t", &[("dead-letter-queue", &bobs)]);
    let e = bob.set_topic_attribute(&arn, "dead-letter-queue", &roots).unwrap_err();
    assert_eq!(e.code, "InvalidArgument", "{}", e.body);
    assert_eq!(bob.get_topic_attributes(&arn).unwrap()["dead-letter-queue"], bobs);
    bob.set_topic_attribute(&arn, "dead-letter-queue", "").unwrap();
    assert!(
        !bob.get_topic_attributes(&arn)
            .unwrap()
            .contains_key("dead-letter-queue")
    );
}
