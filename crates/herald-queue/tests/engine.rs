//! End-to-end tests of the queue engine on real files in temporary
//! directories. Visibility and delay use short real timeouts (the engine's
//! clock is the system clock, which tokio's paused time does not move).

use std::collections::BTreeMap;
use std::time::Duration;

use herald_queue::{
    MessageAttributeValue, QueueConfig, QueueEngine, QueueError, ReceiveRequest, ReceivedMessage, SendRequest,
};

const OWNER: &str = "alice";

/// A queue policy that parses (the engine refuses one that does not).
const SEND_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}"#;

fn open(dir: &std::path::Path) -> QueueEngine {
    QueueEngine::open(QueueConfig {
        dir: dir.to_path_buf(),
        region: "us-east-1".into(),
    })
    .unwrap()
}

fn attrs(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn body(b: &str) -> SendRequest {
    SendRequest {
        body: b.into(),
        ..Default::default()
    }
}

fn fifo_msg(b: &str, group: &str, dedup: Option<&str>) -> SendRequest {
    SendRequest {
        body: b.into(),
        group_id: Some(group.into()),
        deduplication_id: dedup.map(Into::into),
        ..Default::default()
    }
}

async fn send1(e: &QueueEngine, q: &str, req: SendRequest) -> Result<herald_queue::SendResult, QueueError> {
    e.send(OWNER, q, vec![req]).await.unwrap().pop().unwrap()
}

async fn recv(e: &QueueEngine, q: &str, max: u32, vt: Option<u32>) -> Vec<ReceivedMessage> {
    e.receive(
        OWNER,
        q,
        ReceiveRequest {
            max_messages: max,
            visibility_timeout: vt,
            wait_time: Some(0),
        },
    )
    .await
    .unwrap()
}

async fn delete(e: &QueueEngine, q: &str, msgs: &[ReceivedMessage]) {
    let handles: Vec<String> = msgs.iter().map(|m| m.receipt_handle.clone()).collect();
    for r in e.delete(OWNER, q, &handles).await.unwrap() {
        r.unwrap();
    }
}

#[tokio::test]
async fn create_is_idempotent_and_detects_conflicts() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    let a = attrs(&[("VisibilityTimeout", "60")]);
    let q1 = e.create_queue(OWNER, "q", a.clone(), BTreeMap::new()).await.unwrap();
    let q2 = e.create_queue(OWNER, "q", a, BTreeMap::new()).await.unwrap();
    assert_eq!(q1.arn, q2.arn);
    assert_eq!(q1.arn, "arn:aws:sqs:us-east-1:alice:q");
    assert_eq!(q1.attributes["VisibilityTimeout"], "60");
    // Same value spelled differently normalizes equal; no attributes matches too.
    e.create_queue(OWNER, "q", attrs(&[("VisibilityTimeout", "060")]), BTreeMap::new())
        .await
        .unwrap();
    e.create_queue(OWNER, "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let err = e
        .create_queue(OWNER, "q", attrs(&[("VisibilityTimeout", "61")]), BTreeMap::new())
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::QueueAlreadyExists(_)), "{err:?}");
    // Another owner's queue of the same name is a different queue.
    let other = e
        .create_queue("bob", "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(other.attributes["VisibilityTimeout"], "30");
    assert_eq!(e.list_queues(Some(OWNER), "").len(), 1);
    assert_eq!(e.list_queues(None, "q").len(), 2);
    assert!(e.queue_by_arn("arn:aws:sqs:us-east-1:bob:q").is_some());
    assert!(e.queue_by_arn("arn:aws:sqs:us-east-1:bob:nope").is_none());
    let err = e.get_queue(OWNER, "nope").unwrap_err();
    assert!(matches!(err, QueueError::QueueDoesNotExist), "{err:?}");
    e.delete_queue(OWNER, "q").await.unwrap();
    assert!(matches!(e.get_queue(OWNER, "q"), Err(QueueError::QueueDoesNotExist)));
    assert!(matches!(
        e.delete_queue(OWNER, "q").await,
        Err(QueueError::QueueDoesNotExist)
    ));
}

#[tokio::test]
async fn attribute_validation() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    let none = BTreeMap::new;
    for (k, v) in [
        ("VisibilityTimeout", "43201"),
        ("DelaySeconds", "901"),
        ("MaximumMessageSize", "1023"),
        ("MessageRetentionPeriod", "59"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
        ("VisibilityTimeout", "abc"),
        ("RedrivePolicy", "{not json"),
        (
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:alice:missing","maxReceiveCount":2}"#,
        ),
    ] {
        let err = e.create_queue(OWNER, "q", attrs(&[(k, v)]), none()).await.unwrap_err();
        assert!(matches!(err, QueueError::InvalidAttributeValue(_)), "{k}={v}: {err:?}");
    }
    let err = e
        .create_queue(OWNER, "q", attrs(&[("Bogus", "1")]), none())
        .await
        .unwrap_err();
    assert!(matches!(err, QueueError::InvalidAttributeName(_)));
    // Names and FIFO flags.
    for name in ["", "a.b", "has space", &"x".repeat(81)] {
        assert!(matches!(
            e.create_queue(OWNER, name, none(), none()).await,
            Err(QueueError::InvalidParameterValue(_))
        ));
    }
    assert!(e.create_queue(OWNER, "f.fifo", none(), none()).await.is_err());
    assert!(
        e.create_queue(OWNER, "f", attrs(&[("FifoQueue", "true")]), none())
            .await
            .is_err()
    );
    let f = e
        .create_queue(OWNER, "f.fifo", attrs(&[("FifoQueue", "true")]), none())
        .await
        .unwrap();
    assert!(f.fifo);
    // DLQ must be of the same type.
    e.create_queue(OWNER, "q", none(), none()).await.unwrap();
    let rp = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, f.arn);
    assert!(matches!(
        e.set_attributes(OWNER, "q", attrs(&[("RedrivePolicy", &rp)])).await,
        Err(QueueError::InvalidAttributeValue(_))
    ));
    // Set, get, computed attributes.
    e.set_attributes(OWNER, "q", attrs(&[("DelaySeconds", "5"), ("Policy", SEND_POLICY)]))
        .await
        .unwrap();
    let all = e.get_attributes(OWNER, "q", &["All".into()]).unwrap();
    assert_eq!(all["DelaySeconds"], "5");
    assert_eq!(all["Policy"], SEND_POLICY);
    assert_eq!(all["ApproximateNumberOfMessages"], "0");
    assert_eq!(all["QueueArn"], "arn:aws:sqs:us-east-1:alice:q");
    assert!(all.contains_key("CreatedTimestamp") && all.contains_key("LastModifiedTimestamp"));
    let some = e.get_attributes(OWNER, "q", &["VisibilityTimeout".into()]).unwrap();
    assert_eq!(some.len(), 1);
    assert!(matches!(
        e.get_attributes(OWNER, "q", &["Nope".into()]),
        Err(QueueError::InvalidAttributeName(_))
    ));
    assert!(matches!(
        e.set_attributes(OWNER, "q", attrs(&[("QueueArn", "x")])).await,
        Err(QueueError::InvalidAttributeName(_))
    ));
    // Empty value removes.
    e.set_attributes(OWNER, "q", attrs(&[("Policy", "")])).await.unwrap();
    assert!(
        !e.get_attributes(OWNER, "q", &["All".into()])
            .unwrap()
            .contains_key("Policy")
    );
}

#[tokio::test]
async fn send_receive_delete() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let mut req = body("hello");
    req.attributes.insert(
        "SellerName".into(),
        MessageAttributeValue {
            data_type: "String".into(),
            string_value: Some("Example Store".into()),
            binary_value: None,
        },
    );
    let r = send1(&e, "q", req).await.unwrap();
    assert_eq!(r.md5_of_body, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(r.md5_of_attributes.as_deref(), Some("cd28f3b68aeee4b2eac9c66f2f694b58"));
    assert!(r.sequence_number.is_none());
    assert_eq!(r.message_id.len(), 36);
    assert_eq!(e.stats(OWNER, "q").unwrap().visible, 1);

    let m = recv(&e, "q", 10, None).await;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body, "hello");
    assert_eq!(m[0].message_id, r.message_id);
    assert_eq!(m[0].md5_of_attributes, r.md5_of_attributes);
    assert_eq!(
        m[0].message_attributes["SellerName"].string_value.as_deref(),
        Some("Example Store")
    );
    assert_eq!(m[0].attributes["ApproximateReceiveCount"], "1");
    assert_eq!(m[0].attributes["SenderId"], OWNER);
    assert!(m[0].attributes["SentTimestamp"].parse::<u64>().unwrap() > 1_600_000_000_000);
    let s = e.stats(OWNER, "q").unwrap();
    assert_eq!((s.visible, s.in_flight), (0, 1));
    assert!(recv(&e, "q", 10, None).await.is_empty());
    delete(&e, "q", &m).await;
    // Deleting again with the same handle is fine; garbage is not.
    e.delete(OWNER, "q", &[m[0].receipt_handle.clone()]).await.unwrap()[0]
        .as_ref()
        .unwrap();
    let r = e.delete(OWNER, "q", &["garbage".into()]).await.unwrap();
    assert!(matches!(r[0], Err(QueueError::ReceiptHandleIsInvalid)));
    assert_eq!(e.stats(OWNER, "q").unwrap(), Default::default());

    // A batch: per-entry errors do not fail the others.
    let res = e
        .send(OWNER, "q", vec![body("a"), body(""), body("bad \u{1} char"), body("b")])
        .await
        .unwrap();
    assert!(res[0].is_ok() && res[3].is_ok());
    assert!(matches!(res[1], Err(QueueError::MissingParameter(_))));
    assert!(matches!(res[2], Err(QueueError::InvalidMessageContents(_))));
    let m = recv(&e, "q", 10, None).await;
    let mut bodies: Vec<_> = m.iter().map(|m| m.body.as_str()).collect();
    bodies.sort();
    assert_eq!(bodies, ["a", "b"]);
    assert!(matches!(
        e.receive(
            OWNER,
            "q",
            ReceiveRequest {
                max_messages: 11,
                ..Default::default()
            }
        )
        .await,
        Err(QueueError::InvalidParameterValue(_))
    ));
}

#[tokio::test]
async fn oversized_message_is_rejected() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "q", attrs(&[("MaximumMessageSize", "1024")]), BTreeMap::new())
        .await
        .unwrap();
    assert!(send1(&e, "q", body(&"x".repeat(1024))).await.is_ok());
    let err = send1(&e, "q", body(&"x".repeat(1025))).await.unwrap_err();
    assert!(matches!(err, QueueError::MessageTooLong(_)), "{err:?}");
    // Attributes count against the limit.
    let mut req = body(&"x".repeat(1000));
    req.attributes.insert(
        "k".into(),
        MessageAttributeValue {
            data_type: "String".into(),
            string_value: Some("y".repeat(30)),
            binary_value: None,
        },
    );
    assert!(matches!(send1(&e, "q", req).await, Err(QueueError::MessageTooLong(_))));
    e.create_queue(OWNER, "big", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    assert!(send1(&e, "big", body(&"x".repeat(262_144))).await.is_ok());
    assert!(matches!(
        send1(&e, "big", body(&"x".repeat(262_145))).await,
        Err(QueueError::MessageTooLong(_))
    ));
}

#[tokio::test]
async fn visibility_expiry_and_change_visibility() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    send1(&e, "q", body("m")).await.unwrap();
    let first = recv(&e, "q", 1, Some(1)).await;
    assert_eq!(first.len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = recv(&e, "q", 1, Some(30)).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(
        second[0].attributes["ApproximateFirstReceiveTimestamp"],
        first[0].attributes["ApproximateFirstReceiveTimestamp"]
    );
    assert_ne!(first[0].receipt_handle, second[0].receipt_handle);
    // Only the current handle changes visibility.
    assert!(matches!(
        e.change_visibility(OWNER, "q", &first[0].receipt_handle, 0).await,
        Err(QueueError::MessageNotInflight)
    ));
    e.change_visibility(OWNER, "q", &second[0].receipt_handle, 0)
        .await
        .unwrap();
    let third = recv(&e, "q", 1, Some(30)).await;
    assert_eq!(third[0].attributes["ApproximateReceiveCount"], "3");
    // Extend: stays invisible.
    e.change_visibility(OWNER, "q", &third[0].receipt_handle, 100)
        .await
        .unwrap();
    assert!(recv(&e, "q", 1, None).await.is_empty());
    assert!(matches!(
        e.change_visibility(OWNER, "q", &third[0].receipt_handle, 43_201).await,
        Err(QueueError::InvalidParameterValue(_))
    ));
    // An old handle still deletes the message (as in AWS).
    delete(&e, "q", &first).await;
    assert_eq!(e.stats(OWNER, "q").unwrap().in_flight, 0);
    assert!(matches!(
        e.change_visibility(OWNER, "q", &third[0].receipt_handle, 5).await,
        Err(QueueError::MessageNotInflight)
    ));
    assert!(matches!(
        e.change_visibility(OWNER, "q", "zzz", 5).await,
        Err(QueueError::ReceiptHandleIsInvalid)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_returns_when_a_message_arrives() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let sender = e.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send1(&sender, "q", body("late")).await.unwrap();
    });
    let m = e
        .receive(
            OWNER,
            "q",
            ReceiveRequest {
                max_messages: 10,
                visibility_timeout: None,
                wait_time: Some(10),
            },
        )
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body, "late");
    // Wait 0 on an empty queue returns at once, empty.
    assert!(recv(&e, "q", 1, None).await.is_empty());
}

#[tokio::test]
async fn delayed_messages() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let mut req = body("later");
    req.delay_seconds = Some(1);
    send1(&e, "q", req).await.unwrap();
    send1(&e, "q", body("now")).await.unwrap();
    let s = e.stats(OWNER, "q").unwrap();
    assert_eq!((s.visible, s.delayed), (1, 1));
    let m = recv(&e, "q", 10, None).await;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body, "now");
    // A long poll wakes up when the delay ends.
    let m = e
        .receive(
            OWNER,
            "q",
            ReceiveRequest {
                max_messages: 10,
                visibility_timeout: None,
                wait_time: Some(5),
            },
        )
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body, "later");
    let mut bad = body("x");
    bad.delay_seconds = Some(901);
    assert!(matches!(
        send1(&e, "q", bad).await,
        Err(QueueError::InvalidParameterValue(_))
    ));
}

#[tokio::test]
async fn redrive_to_dead_letter_queue() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    let dlq = e
        .create_queue(OWNER, "dlq", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let rp = format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":"2"}}"#, dlq.arn);
    let src = e
        .create_queue(OWNER, "src", attrs(&[("RedrivePolicy", &rp)]), BTreeMap::new())
        .await
        .unwrap();
    assert_eq!(
        src.attributes["RedrivePolicy"],
        format!(r#"{{"deadLetterTargetArn":"{}","maxReceiveCount":2}}"#, dlq.arn)
    );
    let mut req = body("poison");
    req.attributes.insert(
        "a".into(),
        MessageAttributeValue {
            data_type: "Number".into(),
            string_value: Some("7".into()),
            binary_value: None,
        },
    );
    let sent = send1(&e, "src", req).await.unwrap();
    for n in 1..=2 {
        let m = recv(&e, "src", 1, Some(0)).await;
        assert_eq!(m.len(), 1, "receive {n}");
        assert_eq!(m[0].attributes["ApproximateReceiveCount"], n.to_string());
    }
    // Third receive: moved instead of returned.
    assert!(recv(&e, "src", 1, Some(0)).await.is_empty());
    assert_eq!(e.stats(OWNER, "src").unwrap(), Default::default());
    let m = recv(&e, "dlq", 1, None).await;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].body, "poison");
    assert_eq!(m[0].message_id, sent.message_id);
    assert_eq!(m[0].md5_of_attributes, sent.md5_of_attributes);
    assert_eq!(m[0].attributes["DeadLetterQueueSourceArn"], src.arn);
    assert_eq!(m[0].attributes["ApproximateReceiveCount"], "1");
}

#[tokio::test]
async fn fifo_group_order_and_deduplication() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "f.fifo", attrs(&[("FifoQueue", "true")]), BTreeMap::new())
        .await
        .unwrap();
    // Validation.
    assert!(matches!(
        send1(&e, "f.fifo", body("no group")).await,
        Err(QueueError::MissingParameter(_))
    ));
    assert!(matches!(
        send1(&e, "f.fifo", fifo_msg("no dedup", "g", None)).await,
        Err(QueueError::InvalidParameterValue(_))
    ));
    let mut delayed = fifo_msg("x", "g", Some("x"));
    delayed.delay_seconds = Some(3);
    assert!(matches!(
        send1(&e, "f.fifo", delayed).await,
        Err(QueueError::InvalidParameterValue(_))
    ));

    let mut ids = Vec::new();
    for (i, g) in ["a", "a", "b", "a", "b"].iter().enumerate() {
        let r = send1(&e, "f.fifo", fifo_msg(&format!("{g}{i}"), g, Some(&format!("d{i}"))))
            .await
            .unwrap();
        ids.push(r);
    }
    let seqs: Vec<u128> = ids
        .iter()
        .map(|r| r.sequence_number.as_ref().unwrap().parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ids[0].sequence_number.as_ref().unwrap().len(), 20);
    // Duplicate id: same message id, not enqueued again.
    let dup = send1(&e, "f.fifo", fifo_msg("other body", "a", Some("d0")))
        .await
        .unwrap();
    assert_eq!(dup.message_id, ids[0].message_id);
    assert_eq!(e.stats(OWNER, "f.fifo").unwrap().visible, 5);

    // One receive of 1: the head of a group; that group is then blocked.
    let m1 = recv(&e, "f.fifo", 1, None).await;
    assert_eq!(m1[0].body, "a0");
    assert_eq!(m1[0].attributes["MessageGroupId"], "a");
    let rest = recv(&e, "f.fifo", 10, None).await;
    let bodies: Vec<_> = rest.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["b2", "b4"], "group a is blocked while a0 is in flight");
    assert!(recv(&e, "f.fifo", 10, None).await.is_empty());
    delete(&e, "f.fifo", &m1).await;
    let m = recv(&e, "f.fifo", 10, None).await;
    let bodies: Vec<_> = m.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["a1", "a3"]);
    // Visibility expiry on a group: the same messages, in order, again.
    e.change_visibility(OWNER, "f.fifo", &m[0].receipt_handle, 0)
        .await
        .unwrap();
    e.change_visibility(OWNER, "f.fifo", &m[1].receipt_handle, 0)
        .await
        .unwrap();
    let again = recv(&e, "f.fifo", 1, None).await;
    assert_eq!(again[0].body, "a1");
    assert_eq!(again[0].attributes["ApproximateReceiveCount"], "2");

    // Content-based deduplication.
    e.create_queue(
        OWNER,
        "c.fifo",
        attrs(&[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]),
        BTreeMap::new(),
    )
    .await
    .unwrap();
    let r1 = send1(&e, "c.fifo", fifo_msg("same", "g", None)).await.unwrap();
    let r2 = send1(&e, "c.fifo", fifo_msg("same", "g", None)).await.unwrap();
    let r3 = send1(&e, "c.fifo", fifo_msg("different", "g", None)).await.unwrap();
    assert_eq!(r1.message_id, r2.message_id);
    assert_ne!(r1.message_id, r3.message_id);
    // Within one batch too.
    let res = e
        .send(
            OWNER,
            "c.fifo",
            vec![fifo_msg("b", "g", None), fifo_msg("b", "g", None)],
        )
        .await
        .unwrap();
    assert_eq!(res[0].as_ref().unwrap().message_id, res[1].as_ref().unwrap().message_id);
    let m = recv(&e, "c.fifo", 10, None).await;
    let bodies: Vec<_> = m.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["same", "different", "b"]);
    assert_eq!(m[0].attributes["MessageDeduplicationId"].len(), 64);
    // Deleted messages still deduplicate within the window.
    delete(&e, "c.fifo", &m).await;
    let r4 = send1(&e, "c.fifo", fifo_msg("same", "g", None)).await.unwrap();
    assert_eq!(r4.message_id, r1.message_id);
    assert!(recv(&e, "c.fifo", 10, None).await.is_empty());
}

#[tokio::test]
async fn purge_and_tags() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    let tags: BTreeMap<String, String> = [("team".to_string(), "x".to_string())].into();
    e.create_queue(OWNER, "q", BTreeMap::new(), tags).await.unwrap();
    e.send(OWNER, "q", (0..10).map(|i| body(&i.to_string())).collect())
        .await
        .unwrap();
    let inflight = recv(&e, "q", 3, None).await;
    e.purge_queue(OWNER, "q").await.unwrap();
    assert_eq!(e.stats(OWNER, "q").unwrap(), Default::default());
    assert!(recv(&e, "q", 10, None).await.is_empty());
    // Handles from before the purge are harmless.
    delete(&e, "q", &inflight).await;
    assert!(matches!(
        e.purge_queue(OWNER, "q").await,
        Err(QueueError::PurgeQueueInProgress)
    ));
    send1(&e, "q", body("after")).await.unwrap();
    assert_eq!(recv(&e, "q", 10, None).await[0].body, "after");

    e.tag_queue(OWNER, "q", [("env".to_string(), "prod".to_string())].into())
        .await
        .unwrap();
    e.untag_queue(OWNER, "q", vec!["team".into()]).await.unwrap();
    let t = e.list_tags(OWNER, "q").unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t["env"], "prod");
    let many: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
    assert!(matches!(
        e.tag_queue(OWNER, "q", many).await,
        Err(QueueError::InvalidParameterValue(_))
    ));
}

#[tokio::test]
async fn restart_recovers_messages_attributes_and_tags() {
    let d = tempfile::tempdir().unwrap();
    let (kept, inflight_body);
    {
        let e = open(d.path());
        let tags: BTreeMap<String, String> = [("team".to_string(), "x".to_string())].into();
        e.create_queue(OWNER, "q", attrs(&[("VisibilityTimeout", "120")]), tags)
            .await
            .unwrap();
        e.create_queue(
            OWNER,
            "f.fifo",
            attrs(&[("FifoQueue", "true"), ("ContentBasedDeduplication", "true")]),
            BTreeMap::new(),
        )
        .await
        .unwrap();
        e.send(OWNER, "q", (0..6).map(|i| body(&format!("m{i}"))).collect())
            .await
            .unwrap();
        send1(&e, "f.fifo", fifo_msg("f1", "g", None)).await.unwrap();
        send1(&e, "f.fifo", fifo_msg("f2", "g", None)).await.unwrap();
        // Delete two, leave one in flight.
        let m = recv(&e, "q", 3, None).await;
        assert_eq!(m.len(), 3);
        delete(&e, "q", &m[..2]).await;
        inflight_body = m[2].body.clone();
        kept = m[2].receipt_handle.clone();
        e.set_attributes(OWNER, "q", attrs(&[("DelaySeconds", "0"), ("Policy", SEND_POLICY)]))
            .await
            .unwrap();
    }
    let e = open(d.path());
    let a = e.get_attributes(OWNER, "q", &["All".into()]).unwrap();
    assert_eq!(a["VisibilityTimeout"], "120");
    assert_eq!(a["Policy"], SEND_POLICY);
    assert_eq!(a["ApproximateNumberOfMessages"], "4");
    assert_eq!(e.list_tags(OWNER, "q").unwrap()["team"], "x");
    let m = recv(&e, "q", 10, None).await;
    let mut bodies: Vec<_> = m.iter().map(|m| m.body.clone()).collect();
    bodies.sort();
    assert_eq!(bodies, ["m2", "m3", "m4", "m5"]);
    let was_inflight = m.iter().find(|x| x.body == inflight_body).unwrap();
    // Its receive count survived the restart.
    assert_eq!(was_inflight.attributes["ApproximateReceiveCount"], "2");
    // Old handle (pre-restart) still deletes it.
    e.delete(OWNER, "q", &[kept]).await.unwrap()[0].as_ref().unwrap();
    assert_eq!(e.stats(OWNER, "q").unwrap().in_flight, 3);
    // FIFO order and dedup window survive.
    let dup = send1(&e, "f.fifo", fifo_msg("f1", "g", None)).await.unwrap();
    let f = recv(&e, "f.fifo", 10, None).await;
    let bodies: Vec<_> = f.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["f1", "f2"]);
    assert_eq!(dup.message_id, f[0].message_id);
    // New sends continue after the recovered sequence numbers.
    let n = send1(&e, "f.fifo", fifo_msg("f3", "g", None)).await.unwrap();
    assert!(n.sequence_number.unwrap() > f[1].attributes["SequenceNumber"]);
    delete(&e, "q", &m).await;
    drop(e);
    let e = open(d.path());
    assert_eq!(e.stats(OWNER, "q").unwrap(), Default::default());
}
