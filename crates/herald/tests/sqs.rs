//! The SQS API against a spawned `herald serve`: every operation through
//! aws-sdk-sqs (AWS JSON 1.0), the query protocol through raw SigV4-signed
//! form POSTs (XML answers), the Cloudian-guide session through the real
//! `aws` CLI, and durability across kill -9.
//!
//! Nothing here asserts timing: long polling and visibility expiry are
//! checked by what comes back, with generous deadlines only as a guard
//! against hanging forever.

mod common;
mod notify_common;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageAttributeValue,
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use common::*;
use notify_common::{signed_request, sqs_json_request, xml_all, xml_blocks, xml_first};
use serde_json::{Value, json};

const NON_EXISTENT: &str = "AWS.SimpleQueueService.NonExistentQueue";

fn sqs_as(srv: &TestServer, access: &str, secret: &str) -> Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access, secret, None, None, "herald-tests"))
        .endpoint_url(srv.url())
        .build();
    Client::from_conf(conf)
}

fn sqs(srv: &TestServer) -> Client {
    sqs_as(srv, ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
}

async fn create(client: &Client, name: &str, attrs: &[(QueueAttributeName, &str)]) -> String {
    let mut req = client.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), *v);
    }
    req.send()
        .await
        .unwrap_or_else(|e| panic!("CreateQueue {name}: {e:?}"))
        .queue_url()
        .expect("QueueUrl")
        .to_string()
}

async fn attribute(client: &Client, url: &str, name: QueueAttributeName) -> String {
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetQueueAttributes {name:?}: {e:?}"));
    out.attributes()
        .and_then(|a| a.get(&name))
        .cloned()
        .unwrap_or_else(|| panic!("attribute {name:?} missing in {out:?}"))
}

async fn visible_count(client: &Client, url: &str) -> u64 {
    attribute(client, url, QueueAttributeName::ApproximateNumberOfMessages)
        .await
        .parse()
        .unwrap()
}

/// Receives until `want` messages arrived or `tries` long polls came back
/// empty; returns the bodies.
async fn drain(client: &Client, url: &str, want: usize, delete: bool) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut empty = 0;
    while bodies.len() < want && empty < 5 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("ReceiveMessage");
        if out.messages().is_empty() {
            empty += 1;
        }
        for m in out.messages() {
            bodies.push(m.body().unwrap().to_string());
            if delete {
                client
                    .delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }
    bodies
}

// ---------------------------------------------------------------------------
// aws-sdk-sqs (JSON protocol)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_queue_lifecycle_attributes_tags_and_listing() {
    let srv = TestServer::start();
    let c = sqs(&srv);

    let url = c
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "40")
        .tags("team", "ops")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .unwrap()
        .to_string();
    assert_eq!(url, format!("{}/root/jobs", srv.url()));

    // Idempotent with the same attributes; a conflict otherwise.
    let again = create(&c, "jobs", &[(QueueAttributeName::VisibilityTimeout, "40")]).await;
    assert_eq!(again, url);
    let conflict = c
        .create_queue()
        .queue_name("jobs")
        .attributes(QueueAttributeName::VisibilityTimeout, "41")
        .send()
        .await;
    assert_err(conflict, "QueueAlreadyExists", 400);
    assert_eq!(attribute(&c, &url, QueueAttributeName::VisibilityTimeout).await, "40");

    let got = c.get_queue_url().queue_name("jobs").send().await.expect("GetQueueUrl");
    assert_eq!(got.queue_url(), Some(url.as_str()));

    // All attributes, and the ARN format of the Cloudian guide.
    let all = c
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes All");
    let attrs = all.attributes().expect("attributes");
    assert_eq!(
        attrs.get(&QueueAttributeName::QueueArn).map(String::as_str),
        Some("arn:aws:sqs:us-east-1:root:jobs")
    );
    for name in [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
        QueueAttributeName::CreatedTimestamp,
        QueueAttributeName::LastModifiedTimestamp,
        QueueAttributeName::MessageRetentionPeriod,
        QueueAttributeName::MaximumMessageSize,
        QueueAttributeName::DelaySeconds,
        QueueAttributeName::ReceiveMessageWaitTimeSeconds,
    ] {
        assert!(attrs.contains_key(&name), "{name:?} missing from All: {attrs:?}");
    }
    // Only what was asked for.
    let one = c
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    assert_eq!(one.attributes().unwrap().len(), 1);

    c.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "90")
        .attributes(QueueAttributeName::DelaySeconds, "0")
        .send()
        .await
        .expect("SetQueueAttributes");
    assert_eq!(attribute(&c, &url, QueueAttributeName::VisibilityTimeout).await, "90");

    // Tags.
    let tags = c.list_queue_tags().queue_url(&url).send().await.expect("ListQueueTags");
    assert_eq!(tags.tags().unwrap().get("team").map(String::as_str), Some("ops"));
    c.tag_queue()
        .queue_url(&url)
        .tags("env", "test")
        .tags("team", "dev")
        .send()
        .await
        .expect("TagQueue");
    c.untag_queue()
        .queue_url(&url)
        .tag_keys("env")
        .send()
        .await
        .expect("UntagQueue");
    let tags = c.list_queue_tags().queue_url(&url).send().await.unwrap();
    let tags: HashMap<String, String> = tags.tags().cloned().unwrap_or_default();
    assert_eq!(tags, HashMap::from([("team".to_string(), "dev".to_string())]));

    // Listing: prefix and pagination.
    for n in ["alpha-1", "alpha-2", "alpha-3", "alpha-4", "beta"] {
        create(&c, n, &[]).await;
    }
    let listed = c.list_queues().send().await.expect("ListQueues");
    assert_eq!(listed.queue_urls().len(), 6);
    assert!(listed.next_token().is_none());
    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = c
            .list_queues()
            .queue_name_prefix("alpha")
            .max_results(3)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("ListQueues page");
        pages.push(out.queue_urls().to_vec());
        match out.next_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(pages.len(), 2, "{pages:?}");
    let all: Vec<String> = pages.concat();
    let expected: Vec<String> = (1..=4).map(|i| format!("{}/root/alpha-{i}", srv.url())).collect();
    assert_eq!(all, expected);

    // Purge empties, delete removes.
    c.send_message().queue_url(&url).message_body("x").send().await.unwrap();
    c.purge_queue().queue_url(&url).send().await.expect("PurgeQueue");
    assert_eq!(visible_count(&c, &url).await, 0);
    c.delete_queue().queue_url(&url).send().await.expect("DeleteQueue");
    let gone = c.get_queue_url().queue_name("jobs").send().await;
    match gone {
        Err(e) => {
            let se = e.into_service_error();
            assert!(se.is_queue_does_not_exist(), "{se:?}");
        }
        Ok(v) => panic!("queue still there: {v:?}"),
    }
    let listed = c.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_send_receive_delete_with_attributes_and_batches() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "work", &[]).await;

    let body = "hello <world> & \"friends\"";
    let sent = c
        .send_message()
        .queue_url(&url)
        .message_body(body)
        .message_attributes(
            "foo.color",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("blue")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "foo.size",
            MessageAttributeValue::builder()
                .data_type("Number")
                .string_value("42")
                .build()
                .unwrap(),
        )
        .message_attributes(
            "blob",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new(vec![0u8, 1, 2, 255]))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("SendMessage");
    assert_eq!(sent.md5_of_message_body(), Some(md5_hex(body.as_bytes()).as_str()));
    assert!(sent.message_id().is_some_and(|m| !m.is_empty()));
    let attrs_md5 = sent
        .md5_of_message_attributes()
        .expect("MD5OfMessageAttributes")
        .to_string();

    let got = c
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("All")
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .visibility_timeout(60)
        .send()
        .await
        .expect("ReceiveMessage");
    assert_eq!(got.messages().len(), 1);
    let m = &got.messages()[0];
    assert_eq!(m.body(), Some(body));
    assert_eq!(m.message_id(), sent.message_id());
    assert_eq!(m.md5_of_body(), Some(md5_hex(body.as_bytes()).as_str()));
    assert_eq!(m.md5_of_message_attributes(), Some(attrs_md5.as_str()));
    let ma = m.message_attributes().expect("message attributes");
    assert_eq!(ma.len(), 3);
    assert_eq!(ma["foo.color"].string_value(), Some("blue"));
    assert_eq!(ma["foo.size"].data_type(), "Number");
    assert_eq!(
        ma["blob"].binary_value().map(|b| b.as_ref().to_vec()),
        Some(vec![0u8, 1, 2, 255])
    );
    let sys = m.attributes().expect("system attributes");
    assert_eq!(
        sys.get(&MessageSystemAttributeName::ApproximateReceiveCount)
            .map(String::as_str),
        Some("1")
    );
    assert!(sys.contains_key(&MessageSystemAttributeName::SentTimestamp), "{sys:?}");

    // In flight: not delivered again, counted as not visible.
    let again = c.receive_message().queue_url(&url).send().await.unwrap();
    assert!(again.messages().is_empty(), "{again:?}");
    assert_eq!(
        attribute(&c, &url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await,
        "1"
    );
    // ChangeMessageVisibility to 0 makes it visible now; a prefix wildcard
    // selects only the `foo.` attributes; no system attributes unless asked.
    c.change_message_visibility()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .expect("ChangeMessageVisibility");
    let got = c
        .receive_message()
        .queue_url(&url)
        .message_attribute_names("foo.*")
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1);
    let m = &got.messages()[0];
    let keys: BTreeSet<&str> = m.message_attributes().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["foo.color", "foo.size"]));
    assert!(m.attributes().is_none_or(|a| a.is_empty()), "{:?}", m.attributes());
    c.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .expect("DeleteMessage");

    // Batches.
    let entries: Vec<SendMessageBatchRequestEntry> = (0..4)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("e-{i}"))
                .message_body(format!("batch {i}"))
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(entries))
        .send()
        .await
        .expect("SendMessageBatch");
    assert_eq!(out.successful().len(), 4);
    assert!(out.failed().is_empty());
    for s in out.successful() {
        let i: usize = s.id().trim_start_matches("e-").parse().unwrap();
        assert_eq!(s.md5_of_message_body(), md5_hex(format!("batch {i}").as_bytes()));
    }
    let mut received = Vec::new();
    for _ in 0..10 {
        let r = c
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .visibility_timeout(120)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        received.extend(r.messages().to_vec());
        if received.len() >= 4 {
            break;
        }
    }
    let bodies: BTreeSet<String> = received.iter().map(|m| m.body().unwrap().to_string()).collect();
    assert_eq!(bodies, (0..4).map(|i| format!("batch {i}")).collect::<BTreeSet<_>>());

    // ChangeMessageVisibilityBatch: one good, one bogus handle.
    let out = c
        .change_message_visibility_batch()
        .queue_url(&url)
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("good")
                .receipt_handle(received[0].receipt_handle().unwrap())
                .visibility_timeout(300)
                .build()
                .unwrap(),
        )
        .entries(
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id("bad")
                .receipt_handle("not-a-receipt-handle")
                .visibility_timeout(300)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("ChangeMessageVisibilityBatch");
    assert_eq!(
        out.successful().iter().map(|s| s.id()).collect::<Vec<_>>(),
        vec!["good"]
    );
    assert_eq!(out.failed().len(), 1);
    assert_eq!(out.failed()[0].id(), "bad");
    assert_eq!(out.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert!(out.failed()[0].sender_fault());

    // DeleteMessageBatch: all four plus a bogus handle.
    let mut req = c.delete_message_batch().queue_url(&url);
    for (i, m) in received.iter().enumerate() {
        req = req.entries(
            DeleteMessageBatchRequestEntry::builder()
                .id(format!("d{i}"))
                .receipt_handle(m.receipt_handle().unwrap())
                .build()
                .unwrap(),
        );
    }
    req = req.entries(
        DeleteMessageBatchRequestEntry::builder()
            .id("bogus")
            .receipt_handle("AQEB-bogus")
            .build()
            .unwrap(),
    );
    let out = req.send().await.expect("DeleteMessageBatch");
    assert_eq!(out.successful().len(), 4);
    assert_eq!(out.failed().len(), 1);
    assert_eq!(out.failed()[0].id(), "bogus");
    assert_eq!(out.failed()[0].code(), "ReceiptHandleIsInvalid");
    assert_eq!(visible_count(&c, &url).await, 0);
    assert_eq!(
        attribute(&c, &url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await,
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visibility_timeout_expiry_makes_a_message_reappear() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "vis", &[]).await;
    c.send_message()
        .queue_url(&url)
        .message_body("again")
        .send()
        .await
        .unwrap();
    let first = c
        .receive_message()
        .queue_url(&url)
        .visibility_timeout(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.messages().len(), 1);
    let id = first.messages()[0].message_id().unwrap().to_string();
    // Long-poll until the message comes back; it must, with a higher
    // receive count (the deadline only guards against hanging).
    let deadline = Instant::now() + Duration::from_secs(60);
    let m = loop {
        let r = c
            .receive_message()
            .queue_url(&url)
            .wait_time_seconds(5)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap();
        if let Some(m) = r.messages().first() {
            break m.clone();
        }
        assert!(
            Instant::now() < deadline,
            "message never reappeared after its visibility timeout"
        );
    };
    assert_eq!(m.message_id(), Some(id.as_str()));
    assert_eq!(m.body(), Some("again"));
    assert_eq!(
        m.attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .map(String::as_str),
        Some("2")
    );
    c.delete_message()
        .queue_url(&url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .expect("DeleteMessage with the current handle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_returns_a_message_sent_while_waiting() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "poll", &[]).await;
    let (c2, url2) = (c.clone(), url.clone());
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        c2.send_message()
            .queue_url(&url2)
            .message_body("arrived while waiting")
            .send()
            .await
            .expect("SendMessage")
    });
    let got = c
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(10)
        .send()
        .await
        .expect("ReceiveMessage");
    sender.await.unwrap();
    assert_eq!(
        got.messages().len(),
        1,
        "the long poll ended without the message: {got:?}"
    );
    assert_eq!(got.messages()[0].body(), Some("arrived while waiting"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_moves_a_message_to_the_dead_letter_queue() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let dlq = create(&c, "work-dlq", &[]).await;
    let dlq_arn = attribute(&c, &dlq, QueueAttributeName::QueueArn).await;
    let policy = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}).to_string();
    let src = create(&c, "work-src", &[(QueueAttributeName::RedrivePolicy, &policy)]).await;
    let stored: Value = serde_json::from_str(&attribute(&c, &src, QueueAttributeName::RedrivePolicy).await).unwrap();
    assert_eq!(stored["deadLetterTargetArn"], dlq_arn);

    c.send_message()
        .queue_url(&src)
        .message_body("poison")
        .send()
        .await
        .unwrap();
    for n in 1..=2 {
        let r = c
            .receive_message()
            .queue_url(&src)
            .visibility_timeout(0)
            .wait_time_seconds(5)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .unwrap();
        assert_eq!(r.messages().len(), 1, "receive #{n}: {r:?}");
        assert_eq!(
            r.messages()[0]
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .map(String::as_str),
            Some(n.to_string().as_str())
        );
    }
    // The next receive exceeds maxReceiveCount: the message moves instead.
    let r = c
        .receive_message()
        .queue_url(&src)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(r.messages().is_empty(), "still delivered from the source: {r:?}");
    let moved = drain(&c, &dlq, 1, true).await;
    assert_eq!(moved, vec!["poison".to_string()]);
    assert_eq!(visible_count(&c, &src).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifo_order_and_deduplication() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "orders.fifo", &[(QueueAttributeName::FifoQueue, "true")]).await;
    assert_eq!(attribute(&c, &url, QueueAttributeName::FifoQueue).await, "true");

    let mut seqs = Vec::new();
    for i in 0..6 {
        let out = c
            .send_message()
            .queue_url(&url)
            .message_body(format!("order {i}"))
            .message_group_id("customer-1")
            .message_deduplication_id(format!("dedup-{i}"))
            .send()
            .await
            .expect("SendMessage fifo");
        seqs.push(out.sequence_number().expect("SequenceNumber").to_string());
    }
    // A retry with a deduplication id already seen is accepted and dropped.
    c.send_message()
        .queue_url(&url)
        .message_body("order 2 (retry)")
        .message_group_id("customer-1")
        .message_deduplication_id("dedup-2")
        .send()
        .await
        .expect("duplicate send is accepted");
    let nums: Vec<u128> = seqs.iter().map(|s| s.parse().unwrap()).collect();
    assert!(
        nums.windows(2).all(|w| w[0] < w[1]),
        "sequence numbers not increasing: {seqs:?}"
    );

    let mut bodies = Vec::new();
    for _ in 0..10 {
        let r = c
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in r.messages() {
            bodies.push(m.body().unwrap().to_string());
            c.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
        if bodies.len() >= 6 {
            break;
        }
    }
    let expected: Vec<String> = (0..6).map(|i| format!("order {i}")).collect();
    assert_eq!(bodies, expected);
    let r = c
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(r.messages().is_empty(), "the duplicate was delivered: {r:?}");

    // Content-based deduplication: the body's SHA-256 is the id.
    let cbd = create(
        &c,
        "events.fifo",
        &[
            (QueueAttributeName::FifoQueue, "true"),
            (QueueAttributeName::ContentBasedDeduplication, "true"),
        ],
    )
    .await;
    for _ in 0..3 {
        c.send_message()
            .queue_url(&cbd)
            .message_body("same body")
            .message_group_id("g")
            .send()
            .await
            .expect("SendMessage content-based dedup");
    }
    c.send_message()
        .queue_url(&cbd)
        .message_body("other body")
        .message_group_id("g")
        .send()
        .await
        .unwrap();
    let got = drain(&c, &cbd, 3, true).await;
    assert_eq!(got, vec!["same body".to_string(), "other body".to_string()]);

    // A FIFO queue without a group id is refused, and nothing is stored.
    let no_group = c
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .message_deduplication_id("z")
        .send()
        .await;
    assert_status(no_group, 400);
    assert_eq!(visible_count(&c, &url).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_the_right_codes_and_change_nothing() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "strict", &[]).await;
    let missing_url = format!("{}/root/no-such-queue", srv.url());

    // Nonexistent queue, in every shape of request.
    assert_err(
        c.get_queue_url().queue_name("no-such-queue").send().await,
        NON_EXISTENT,
        400,
    );
    let r = c.send_message().queue_url(&missing_url).message_body("x").send().await;
    match r {
        Err(e) => assert!(e.into_service_error().is_queue_does_not_exist()),
        Ok(v) => panic!("sent to a missing queue: {v:?}"),
    }
    assert_err(
        c.receive_message().queue_url(&missing_url).send().await,
        NON_EXISTENT,
        400,
    );
    assert_err(c.delete_queue().queue_url(&missing_url).send().await, NON_EXISTENT, 400);
    assert_err(
        c.get_queue_attributes()
            .queue_url(&missing_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await,
        NON_EXISTENT,
        400,
    );

    // Invalid receipt handle.
    c.send_message()
        .queue_url(&url)
        .message_body("keep me")
        .send()
        .await
        .unwrap();
    assert_err(
        c.delete_message()
            .queue_url(&url)
            .receipt_handle("garbage")
            .send()
            .await,
        "ReceiptHandleIsInvalid",
        400,
    );
    assert_eq!(visible_count(&c, &url).await, 1);

    // Oversized message: 256 KiB is the limit, one byte more is refused.
    let big = "a".repeat(256 * 1024 + 1);
    let r = c.send_message().queue_url(&url).message_body(&big).send().await;
    match &r {
        Err(e) => {
            let (code, status) = err_info(e);
            assert_eq!((code.as_str(), status), ("InvalidParameterValue", 400), "{e:?}");
            let msg = aws_sdk_sqs::error::ProvideErrorMetadata::message(e)
                .unwrap_or("")
                .to_string();
            assert!(msg.contains("262144"), "{msg}");
        }
        Ok(v) => panic!("oversized message accepted: {v:?}"),
    }
    let exact = "b".repeat(256 * 1024);
    c.send_message()
        .queue_url(&url)
        .message_body(&exact)
        .send()
        .await
        .expect("a 256 KiB message is allowed");
    assert_eq!(visible_count(&c, &url).await, 2);

    // Invalid attribute name and value.
    let r = c
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::from("NoSuchAttribute"), "1")
        .send()
        .await;
    assert_err(r, "InvalidAttributeName", 400);
    let r = c
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::VisibilityTimeout, "99999")
        .send()
        .await;
    assert_err(r, "InvalidAttributeValue", 400);
    assert_eq!(attribute(&c, &url, QueueAttributeName::VisibilityTimeout).await, "30");
    let r = c
        .create_queue()
        .queue_name("bad-attrs")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1")
        .send()
        .await;
    assert_err(r, "InvalidAttributeValue", 400);
    let listed = c.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), std::slice::from_ref(&url));

    // Receive parameters out of range.
    assert_err(
        c.receive_message()
            .queue_url(&url)
            .max_number_of_messages(11)
            .send()
            .await,
        "InvalidParameterValue",
        400,
    );
    assert_err(
        c.receive_message().queue_url(&url).wait_time_seconds(21).send().await,
        "InvalidParameterValue",
        400,
    );

    // Batch envelope errors: nothing of the batch is stored.
    let entry = |id: &str| {
        SendMessageBatchRequestEntry::builder()
            .id(id)
            .message_body("batched")
            .build()
            .unwrap()
    };
    let eleven: Vec<_> = (0..11).map(|i| entry(&format!("m{i}"))).collect();
    assert_err(
        c.send_message_batch()
            .queue_url(&url)
            .set_entries(Some(eleven))
            .send()
            .await,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        400,
    );
    assert_err(
        c.send_message_batch()
            .queue_url(&url)
            .entries(entry("same"))
            .entries(entry("same"))
            .send()
            .await,
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        400,
    );
    assert_err(
        c.send_message_batch()
            .queue_url(&url)
            .entries(entry("bad id!"))
            .send()
            .await,
        "AWS.SimpleQueueService.InvalidBatchEntryId",
        400,
    );
    assert_err(
        c.send_message_batch()
            .queue_url(&url)
            .set_entries(Some(vec![]))
            .send()
            .await,
        "AWS.SimpleQueueService.EmptyBatchRequest",
        400,
    );
    let heavy: Vec<_> = (0..2)
        .map(|i| {
            SendMessageBatchRequestEntry::builder()
                .id(format!("h{i}"))
                .message_body("c".repeat(200 * 1024))
                .build()
                .unwrap()
        })
        .collect();
    assert_err(
        c.send_message_batch()
            .queue_url(&url)
            .set_entries(Some(heavy))
            .send()
            .await,
        "AWS.SimpleQueueService.BatchRequestTooLong",
        400,
    );
    // A per-entry failure does not stop the others: one entry the engine
    // refuses (a control character SQS does not allow), one this layer
    // refuses (delay out of range).
    let out = c
        .send_message_batch()
        .queue_url(&url)
        .entries(entry("ok"))
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("control")
                .message_body("bell \u{7} in the body")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("late")
                .message_body("too late")
                .delay_seconds(901)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("SendMessageBatch with bad entries");
    assert_eq!(out.successful().iter().map(|s| s.id()).collect::<Vec<_>>(), vec!["ok"]);
    let failed: Vec<(&str, &str, bool)> = out
        .failed()
        .iter()
        .map(|f| (f.id(), f.code(), f.sender_fault()))
        .collect();
    assert_eq!(
        failed,
        vec![
            ("control", "InvalidMessageContents", true),
            ("late", "InvalidParameterValue", true)
        ]
    );
    assert_eq!(visible_count(&c, &url).await, 3);

    // Another user's queue: denied, not leaked.
    srv.create_user(
        "alice",
        "ALICEACCESSKEY000001",
        "aliceSecretKey/0123456789abcdefghijklmn",
    );
    let alice = sqs_as(&srv, "ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
    assert_status(alice.send_message().queue_url(&url).message_body("x").send().await, 403);
    assert_status(alice.purge_queue().queue_url(&url).send().await, 403);
    assert!(alice.list_queues().send().await.unwrap().queue_urls().is_empty());
    assert_eq!(visible_count(&c, &url).await, 3);

    // Bad credentials.
    let stranger = sqs_as(&srv, "NOSUCHACCESSKEY00001", "whatever/whatever/whatever/whatever/0000");
    assert_err(stranger.list_queues().send().await, "InvalidClientTokenId", 403);
    let wrong_secret = sqs_as(&srv, ROOT_ACCESS_KEY, "wrong/secret/wrong/secret/wrong/secret/00");
    assert_err(wrong_secret.list_queues().send().await, "SignatureDoesNotMatch", 403);
}

// ---------------------------------------------------------------------------
// Raw protocol checks (JSON framing and the query protocol).

fn json_call(srv: &TestServer, target: &str, body: &Value) -> RawResponse {
    sqs_json_request(srv.addr(), target, body.to_string().as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_protocol_framing_and_error_headers() {
    let srv = TestServer::start();
    let r = json_call(&srv, "AmazonSQS.CreateQueue", &json!({"QueueName": "raw"}));
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
    assert!(r.header("x-amzn-requestid").is_some());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["QueueUrl"], format!("http://{}/root/raw", srv.addr()));

    let r = json_call(
        &srv,
        "AmazonSQS.SendMessage",
        &json!({"QueueUrl": format!("http://{}/root/absent", srv.addr()), "MessageBody": "x"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.header("x-amzn-query-error"),
        Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
    );
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["__type"], "com.amazonaws.sqs#QueueDoesNotExist");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));

    // Unknown operation, bad JSON, and an SQS call with an SNS signature:
    // AWS-style JSON errors, never a crash.
    let r = json_call(&srv, "AmazonSQS.FlyToTheMoon", &json!({}));
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v["__type"].as_str().unwrap().ends_with("UnknownOperationException"),
        "{v}"
    );
    let r = sqs_json_request(srv.addr(), "AmazonSQS.ListQueues", b"{not json");
    assert_eq!(r.status, 400, "{}", r.body_str());
    let r = signed_request(
        srv.addr(),
        "sns",
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.ListQueues"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 403, "{}", r.body_str());
    assert_eq!(r.header("x-amzn-query-error"), Some("SignatureDoesNotMatch;Sender"));
    let r = raw_request(
        srv.addr(),
        "POST",
        "/",
        &[
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "AmazonSQS.ListQueues"),
        ],
        b"{}",
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.body_str());
    assert_eq!(
        r.header("x-amzn-query-error"),
        Some("MissingAuthenticationToken;Sender")
    );

    // S3 on the same port is untouched.
    srv.s3()
        .create_bucket()
        .bucket("still-s3")
        .send()
        .await
        .expect("CreateBucket");
    assert_eq!(bucket_names(&srv.s3()).await, vec!["still-s3"]);
}

fn query_call(srv: &TestServer, path: &str, action: &str, params: &[(&str, &str)]) -> RawResponse {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    ser.append_pair("Action", action);
    ser.append_pair("Version", "2012-11-05");
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let body = ser.finish();
    signed_request(
        srv.addr(),
        "sqs",
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "POST",
        path,
        &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
        body.as_bytes(),
    )
}

#[track_caller]
fn query_ok(r: &RawResponse, action: &str) -> String {
    let body = r.body_str();
    assert_eq!(r.status, 200, "{action}: {body}");
    assert!(
        body.contains(&format!(
            "<{action}Response xmlns=\"http://queue.amazonaws.com/doc/2012-11-05/\">"
        )),
        "{action}: {body}"
    );
    assert!(xml_first(&body, "RequestId").is_some_and(|id| !id.is_empty()), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_protocol_every_operation_with_xml_answers() {
    let srv = TestServer::start();
    let base = srv.url();
    let url = format!("http://{}/root/legacy", srv.addr());

    let body = query_ok(
        &query_call(
            &srv,
            "/",
            "CreateQueue",
            &[
                ("QueueName", "legacy"),
                ("Attribute.1.Name", "VisibilityTimeout"),
                ("Attribute.1.Value", "45"),
                ("Tag.1.Key", "origin"),
                ("Tag.1.Value", "query"),
            ],
        ),
        "CreateQueue",
    );
    assert_eq!(xml_first(&body, "QueueUrl").as_deref(), Some(url.as_str()));
    let body = query_ok(
        &query_call(&srv, "/", "GetQueueUrl", &[("QueueName", "legacy")]),
        "GetQueueUrl",
    );
    assert_eq!(xml_first(&body, "QueueUrl").as_deref(), Some(url.as_str()));
    let body = query_ok(&query_call(&srv, "/", "ListQueues", &[]), "ListQueues");
    assert_eq!(xml_all(&body, "QueueUrl"), vec![url.clone()]);

    let body = query_ok(
        &query_call(
            &srv,
            "/",
            "GetQueueAttributes",
            &[
                ("QueueUrl", &url),
                ("AttributeName.1", "VisibilityTimeout"),
                ("AttributeName.2", "QueueArn"),
            ],
        ),
        "GetQueueAttributes",
    );
    let attrs: HashMap<String, String> = xml_blocks(&body, "Attribute")
        .iter()
        .map(|b| (xml_first(b, "Name").unwrap(), xml_first(b, "Value").unwrap()))
        .collect();
    assert_eq!(attrs["VisibilityTimeout"], "45");
    assert_eq!(attrs["QueueArn"], "arn:aws:sqs:us-east-1:root:legacy");
    query_ok(
        &query_call(
            &srv,
            "/",
            "SetQueueAttributes",
            &[
                ("QueueUrl", &url),
                ("Attribute.1.Name", "DelaySeconds"),
                ("Attribute.1.Value", "0"),
            ],
        ),
        "SetQueueAttributes",
    );
    let body = query_ok(
        &query_call(&srv, "/", "ListQueueTags", &[("QueueUrl", &url)]),
        "ListQueueTags",
    );
    assert_eq!(xml_first(&body, "Key").as_deref(), Some("origin"));
    query_ok(
        &query_call(
            &srv,
            "/",
            "TagQueue",
            &[("QueueUrl", &url), ("Tag.1.Key", "k"), ("Tag.1.Value", "v")],
        ),
        "TagQueue",
    );
    query_ok(
        &query_call(&srv, "/", "UntagQueue", &[("QueueUrl", &url), ("TagKey.1", "origin")]),
        "UntagQueue",
    );
    let body = query_ok(
        &query_call(&srv, "/", "ListQueueTags", &[("QueueUrl", &url)]),
        "ListQueueTags",
    );
    assert_eq!(xml_all(&body, "Key"), vec!["k".to_string()]);

    // Send with a message attribute; receive with all attributes.
    let text = "query & <xml> body";
    let body = query_ok(
        &query_call(
            &srv,
            "/",
            "SendMessage",
            &[
                ("QueueUrl", &url),
                ("MessageBody", text),
                ("MessageAttribute.1.Name", "kind"),
                ("MessageAttribute.1.Value.DataType", "String"),
                ("MessageAttribute.1.Value.StringValue", "test"),
            ],
        ),
        "SendMessage",
    );
    assert_eq!(xml_first(&body, "MD5OfMessageBody"), Some(md5_hex(text.as_bytes())));
    let message_id = xml_first(&body, "MessageId").unwrap();
    let attrs_md5 = xml_first(&body, "MD5OfMessageAttributes").unwrap();

    let body = query_ok(
        &query_call(
            &srv,
            "/",
            "ReceiveMessage",
            &[
                ("QueueUrl", &url),
                ("AttributeName.1", "All"),
                ("MessageAttributeName.1", "All"),
                ("VisibilityTimeout", "60"),
                ("WaitTimeSeconds", "5"),
            ],
        ),
        "ReceiveMessage",
    );
    let msgs = xml_blocks(&body, "Message");
    assert_eq!(msgs.len(), 1, "{body}");
    let m = &msgs[0];
    assert_eq!(xml_first(m, "MessageId"), Some(message_id));
    assert_eq!(xml_first(m, "Body").as_deref(), Some(text));
    assert_eq!(xml_first(m, "MD5OfMessageAttributes"), Some(attrs_md5));
    let ma = xml_blocks(m, "MessageAttribute");
    assert_eq!(ma.len(), 1);
    assert_eq!(xml_first(&ma[0], "Name").as_deref(), Some("kind"));
    assert_eq!(xml_first(&ma[0], "StringValue").as_deref(), Some("test"));
    assert_eq!(xml_first(&ma[0], "DataType").as_deref(), Some("String"));
    let sys: Vec<String> = xml_blocks(m, "Attribute")
        .iter()
        .filter_map(|b| xml_first(b, "Name"))
        .collect();
    assert!(sys.contains(&"ApproximateReceiveCount".to_string()), "{sys:?}");
    let handle = xml_first(m, "ReceiptHandle").unwrap();
    query_ok(
        &query_call(
            &srv,
            "/",
            "ChangeMessageVisibility",
            &[
                ("QueueUrl", &url),
                ("ReceiptHandle", &handle),
                ("VisibilityTimeout", "100"),
            ],
        ),
        "ChangeMessageVisibility",
    );
    query_ok(
        &query_call(
            &srv,
            "/",
            "DeleteMessage",
            &[("QueueUrl", &url), ("ReceiptHandle", &handle)],
        ),
        "DeleteMessage",
    );

    // Batches, posted to the queue URL path without QueueUrl (old clients).
    let path = "/root/legacy";
    let body = query_ok(
        &query_call(
            &srv,
            path,
            "SendMessageBatch",
            &[
                ("SendMessageBatchRequestEntry.1.Id", "a"),
                ("SendMessageBatchRequestEntry.1.MessageBody", "first"),
                ("SendMessageBatchRequestEntry.2.Id", "b"),
                ("SendMessageBatchRequestEntry.2.MessageBody", "second"),
            ],
        ),
        "SendMessageBatch",
    );
    let ok = xml_blocks(&body, "SendMessageBatchResultEntry");
    assert_eq!(ok.len(), 2, "{body}");
    let body = query_ok(
        &query_call(
            &srv,
            path,
            "ReceiveMessage",
            &[
                ("MaxNumberOfMessages", "10"),
                ("WaitTimeSeconds", "2"),
                ("VisibilityTimeout", "60"),
            ],
        ),
        "ReceiveMessage",
    );
    let mut handles: Vec<String> = xml_blocks(&body, "Message")
        .iter()
        .map(|m| xml_first(m, "ReceiptHandle").unwrap())
        .collect();
    if handles.len() < 2 {
        let body = query_ok(
            &query_call(
                &srv,
                path,
                "ReceiveMessage",
                &[
                    ("MaxNumberOfMessages", "10"),
                    ("WaitTimeSeconds", "2"),
                    ("VisibilityTimeout", "60"),
                ],
            ),
            "ReceiveMessage",
        );
        handles.extend(
            xml_blocks(&body, "Message")
                .iter()
                .map(|m| xml_first(m, "ReceiptHandle").unwrap()),
        );
    }
    assert_eq!(handles.len(), 2);
    let body = query_ok(
        &query_call(
            &srv,
            path,
            "ChangeMessageVisibilityBatch",
            &[
                ("ChangeMessageVisibilityBatchRequestEntry.1.Id", "x"),
                ("ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle", &handles[0]),
                ("ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout", "90"),
            ],
        ),
        "ChangeMessageVisibilityBatch",
    );
    assert_eq!(
        xml_blocks(&body, "ChangeMessageVisibilityBatchResultEntry").len(),
        1,
        "{body}"
    );
    let body = query_ok(
        &query_call(
            &srv,
            path,
            "DeleteMessageBatch",
            &[
                ("DeleteMessageBatchRequestEntry.1.Id", "one"),
                ("DeleteMessageBatchRequestEntry.1.ReceiptHandle", &handles[0]),
                ("DeleteMessageBatchRequestEntry.2.Id", "two"),
                ("DeleteMessageBatchRequestEntry.2.ReceiptHandle", &handles[1]),
                ("DeleteMessageBatchRequestEntry.3.Id", "three"),
                ("DeleteMessageBatchRequestEntry.3.ReceiptHandle", "bogus"),
            ],
        ),
        "DeleteMessageBatch",
    );
    assert_eq!(xml_blocks(&body, "DeleteMessageBatchResultEntry").len(), 2, "{body}");
    let failed = xml_blocks(&body, "BatchResultErrorEntry");
    assert_eq!(failed.len(), 1, "{body}");
    assert_eq!(xml_first(&failed[0], "Id").as_deref(), Some("three"));
    assert_eq!(xml_first(&failed[0], "Code").as_deref(), Some("ReceiptHandleIsInvalid"));
    assert_eq!(xml_first(&failed[0], "SenderFault").as_deref(), Some("true"));

    query_ok(
        &query_call(&srv, "/", "PurgeQueue", &[("QueueUrl", &url)]),
        "PurgeQueue",
    );

    // Error documents.
    let r = query_call(
        &srv,
        "/",
        "SendMessage",
        &[("QueueUrl", &format!("{base}/root/absent")), ("MessageBody", "x")],
    );
    let body = r.body_str();
    assert_eq!(r.status, 400, "{body}");
    assert!(body.starts_with("<?xml") && body.contains("<ErrorResponse"), "{body}");
    assert_eq!(xml_first(&body, "Type").as_deref(), Some("Sender"));
    assert_eq!(xml_first(&body, "Code").as_deref(), Some(NON_EXISTENT));
    assert!(xml_first(&body, "Message").is_some_and(|m| !m.is_empty()));
    assert!(xml_first(&body, "RequestId").is_some_and(|m| !m.is_empty()));
    let r = query_call(
        &srv,
        "/",
        "DeleteMessage",
        &[("QueueUrl", &url), ("ReceiptHandle", "garbage")],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("ReceiptHandleIsInvalid")
    );
    let big = "z".repeat(256 * 1024 + 1);
    let r = query_call(&srv, "/", "SendMessage", &[("QueueUrl", &url), ("MessageBody", &big)]);
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("InvalidParameterValue")
    );
    let r = query_call(
        &srv,
        "/",
        "SetQueueAttributes",
        &[
            ("QueueUrl", &url),
            ("Attribute.1.Name", "Bogus"),
            ("Attribute.1.Value", "1"),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("InvalidAttributeName")
    );
    let r = query_call(&srv, "/", "SendMessage", &[("QueueUrl", &url)]);
    assert_eq!(r.status, 400);
    assert_eq!(xml_first(&r.body_str(), "Code").as_deref(), Some("MissingParameter"));
    let r = query_call(&srv, "/root/legacy", "Explode", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(xml_first(&r.body_str(), "Code").as_deref(), Some("InvalidAction"));

    // The GET form of the query protocol.
    let target = "/?Action=GetQueueUrl&QueueName=legacy&Version=2012-11-05";
    let r = signed_request(
        srv.addr(),
        "sqs",
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        target,
        &[],
        b"",
    );
    let body = query_ok(&r, "GetQueueUrl");
    assert_eq!(xml_first(&body, "QueueUrl").as_deref(), Some(url.as_str()));

    // SNS on the same root keeps working next to SQS.
    let sns = notify_common::Sns::root(&srv);
    let arn = sns.create_topic("alongside", &[]);
    assert!(sns.list_topic_arns().contains(&arn));

    query_ok(
        &query_call(&srv, "/", "DeleteQueue", &[("QueueUrl", &url)]),
        "DeleteQueue",
    );
    let body = query_ok(&query_call(&srv, "/", "ListQueues", &[]), "ListQueues");
    assert!(xml_all(&body, "QueueUrl").is_empty(), "{body}");
}

// ---------------------------------------------------------------------------
// The Cloudian-guide session with the real `aws` CLI.

fn aws(srv: &TestServer, args: &[&str]) -> String {
    let out = match aws_cli_command(srv).args(args).output() {
        Ok(o) => o,
        Err(e) => panic!("the `aws` CLI is not installed or not on PATH ({e}); install it with `pip install awscli`"),
    };
    assert!(
        out.status.success(),
        "aws {} failed ({}):\nstdout: {}\nstderr: {}\nserver output:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn aws_json(srv: &TestServer, args: &[&str]) -> Value {
    let out = aws(srv, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("aws {} printed non-JSON ({e}): {out}", args.join(" ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_cloudian_session() {
    let srv = TestServer::start();
    let created = aws_json(&srv, &["sqs", "create-queue", "--queue-name", "jibe-source-activity"]);
    let url = created["QueueUrl"].as_str().expect("QueueUrl").to_string();
    assert_eq!(url, format!("{}/root/jibe-source-activity", srv.url()));

    let listed = aws_json(&srv, &["sqs", "list-queues"]);
    assert_eq!(listed["QueueUrls"], json!([url]));

    let attrs = aws_json(
        &srv,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &url,
            "--attribute-names",
            "QueueArn",
        ],
    );
    assert_eq!(
        attrs["Attributes"]["QueueArn"],
        "arn:aws:sqs:us-east-1:root:jibe-source-activity"
    );

    let sent = aws_json(
        &srv,
        &[
            "sqs",
            "send-message",
            "--queue-url",
            &url,
            "--message-body",
            "{\"Records\":[]}",
        ],
    );
    assert_eq!(sent["MD5OfMessageBody"], md5_hex(b"{\"Records\":[]}"));
    let got = aws_json(
        &srv,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            &url,
            "--wait-time-seconds",
            "5",
        ],
    );
    let msg = &got["Messages"][0];
    assert_eq!(msg["Body"], "{\"Records\":[]}");
    assert_eq!(msg["MessageId"], sent["MessageId"]);
    let handle = msg["ReceiptHandle"].as_str().unwrap();
    aws(
        &srv,
        &["sqs", "delete-message", "--queue-url", &url, "--receipt-handle", handle],
    );

    // An empty receive prints nothing (the CLI omits an empty answer).
    let empty = aws(&srv, &["sqs", "receive-message", "--queue-url", &url]);
    assert!(empty.trim().is_empty() || !empty.contains("Messages"), "{empty}");

    // The error a user sees for a missing queue.
    let out = aws_cli_command(&srv)
        .args(["sqs", "get-queue-url", "--queue-name", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(NON_EXISTENT), "{stderr}");

    aws(&srv, &["sqs", "delete-queue", "--queue-url", &url]);
    let listed = aws(&srv, &["sqs", "list-queues"]);
    assert!(!listed.contains("jibe-source-activity"), "{listed}");
}

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
