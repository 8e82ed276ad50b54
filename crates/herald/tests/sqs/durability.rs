//! Durability: kill -9 loses no acknowledged message and frees in-flight
//! ones.

use super::*;

// ---------------------------------------------------------------------------
// Durability.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_loses_no_acknowledged_message_and_frees_in_flight_ones() {
    let mut srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "durable", &[]).await;
    let fifo = create(&c, "durable.fifo", &[(QueueAttributeName::FifoQueue, "true")]).await;
    for i in 0..20 {
        c.send_message()
            .queue_url(&url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .expect("SendMessage");
    }
    let entries: Vec<_> = (0..5)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("f{i}"))
                .message_body(format!("f{i}"))
                .message_group_id("g")
                .message_deduplication_id(format!("f{i}"))
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .send_message_batch()
        .queue_url(&fifo)
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.successful().len(), 5);

    // Take 6 in flight for a long time; acknowledge 3 of them.
    let mut in_flight = Vec::new();
    while in_flight.len() < 6 {
        let r = c
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages((6 - in_flight.len()) as i32)
            .visibility_timeout(3600)
            .wait_time_seconds(2)
            .send()
            .await
            .unwrap();
        in_flight.extend(r.messages().to_vec());
    }
    let mut deleted = BTreeSet::new();
    for m in &in_flight[..3] {
        c.delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .expect("DeleteMessage");
        deleted.insert(m.body().unwrap().to_string());
    }

    srv.kill9();
    srv.restart();
    let c = sqs(&srv);

    let expected: BTreeSet<String> = (0..20)
        .map(|i| format!("m{i}"))
        .filter(|b| !deleted.contains(b))
        .collect();
    let got = drain(&c, &url, expected.len(), true).await;
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(got_set, expected, "after kill -9 (bodies received: {got:?})");
    let fifo_got = drain(&c, &fifo, 5, true).await;
    assert_eq!(fifo_got, (0..5).map(|i| format!("f{i}")).collect::<Vec<_>>());
    // The queues and their attributes survived too.
    assert_eq!(
        attribute(&c, &fifo, QueueAttributeName::QueueArn).await,
        "arn:aws:sqs:us-east-1:root:durable.fifo"
    );
}
