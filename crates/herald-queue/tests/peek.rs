//! Peeking (the console's view of a queue): what a receive would return
//! now, in its order, without receiving anything.

use std::collections::BTreeMap;

use herald_queue::{QueueConfig, QueueEngine, ReceiveRequest, SendRequest};

const OWNER: &str = "alice";

fn open(dir: &std::path::Path) -> QueueEngine {
    QueueEngine::open(QueueConfig {
        dir: dir.to_path_buf(),
        region: "us-east-1".into(),
    })
    .unwrap()
}

fn msg(body: &str, group: Option<&str>) -> SendRequest {
    SendRequest {
        body: body.into(),
        group_id: group.map(Into::into),
        deduplication_id: group.map(|_| body.to_owned()),
        ..Default::default()
    }
}

async fn receive(e: &QueueEngine, q: &str, max: u32) -> Vec<String> {
    let req = ReceiveRequest {
        max_messages: max,
        visibility_timeout: Some(60),
        wait_time: Some(0),
    };
    e.receive(OWNER, q, req)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.body)
        .collect()
}

fn bodies(e: &QueueEngine, q: &str, max: usize) -> Vec<String> {
    e.peek(OWNER, q, max).unwrap().into_iter().map(|m| m.body).collect()
}

#[tokio::test]
async fn peek_shows_receivable_messages_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "jobs", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let sent = (0..4).map(|i| msg(&format!("m{i}"), None)).collect();
    e.send(OWNER, "jobs", sent).await.unwrap();
    assert_eq!(bodies(&e, "jobs", 10), ["m0", "m1", "m2", "m3"]);
    assert_eq!(bodies(&e, "jobs", 2), ["m0", "m1"]);
    let peeked = e.peek(OWNER, "jobs", 10).unwrap();
    assert!(peeked.iter().all(|m| m.receipt_handle.is_empty()), "no receipt handle");
    assert!(peeked.iter().all(|m| m.attributes["ApproximateReceiveCount"] == "0"));
    // Peeking twice received nothing: all four are still there.
    assert_eq!(receive(&e, "jobs", 1).await, ["m0"]);
    // The one in flight is not shown.
    assert_eq!(bodies(&e, "jobs", 10), ["m1", "m2", "m3"]);
    assert!(e.peek(OWNER, "nope", 10).is_err());
    assert!(
        e.peek("bob", "jobs", 10).is_err(),
        "another owner's name is another queue"
    );
}

#[tokio::test]
async fn fifo_peek_skips_groups_with_a_message_in_flight() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    let fifo = [("FifoQueue".to_owned(), "true".to_owned())].into_iter().collect();
    e.create_queue(OWNER, "orders.fifo", fifo, BTreeMap::new())
        .await
        .unwrap();
    let sent = vec![msg("a0", Some("a")), msg("a1", Some("a")), msg("b0", Some("b"))];
    e.send(OWNER, "orders.fifo", sent).await.unwrap();
    assert_eq!(bodies(&e, "orders.fifo", 10), ["a0", "a1", "b0"]);
    assert_eq!(receive(&e, "orders.fifo", 1).await, ["a0"]);
    // Group a is locked while a0 is in flight: a receive would give b0 only.
    assert_eq!(bodies(&e, "orders.fifo", 10), ["b0"]);
    assert_eq!(receive(&e, "orders.fifo", 10).await, ["b0"]);
}

#[tokio::test]
async fn peek_leaves_out_messages_a_receive_would_move_to_the_dead_letter_queue() {
    let d = tempfile::tempdir().unwrap();
    let e = open(d.path());
    e.create_queue(OWNER, "dlq", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let dlq = e.get_queue(OWNER, "dlq").unwrap().arn;
    let policy = format!(r#"{{"deadLetterTargetArn":"{dlq}","maxReceiveCount":1}}"#);
    let attrs = [("RedrivePolicy".to_owned(), policy)].into_iter().collect();
    e.create_queue(OWNER, "work", attrs, BTreeMap::new()).await.unwrap();
    e.send(OWNER, "work", vec![msg("once", None)]).await.unwrap();
    // Received once and made visible again at once: at the limit.
    let req = ReceiveRequest {
        max_messages: 1,
        visibility_timeout: Some(0),
        wait_time: Some(0),
    };
    assert_eq!(e.receive(OWNER, "work", req).await.unwrap().len(), 1);
    assert!(
        bodies(&e, "work", 10).is_empty(),
        "the next receive moves it, so peek does not show it"
    );
    assert!(receive(&e, "work", 10).await.is_empty());
    assert_eq!(bodies(&e, "dlq", 10), ["once"]);
}
