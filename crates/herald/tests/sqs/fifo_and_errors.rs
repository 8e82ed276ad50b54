//! aws-sdk-sqs: FIFO order and deduplication, and the error codes of
//! refused requests (which change nothing).

use super::*;

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

    missing_queue_everywhere(&c, &missing_url).await;

    bad_handles_sizes_attributes_and_parameters(&c, &url).await;

    batch_errors_store_nothing(&c, &url).await;

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

/// A nonexistent queue, in every shape of request.
async fn missing_queue_everywhere(c: &Client, missing_url: &str) {
    // Nonexistent queue, in every shape of request.
    assert_err(
        c.get_queue_url().queue_name("no-such-queue").send().await,
        NON_EXISTENT,
        400,
    );
    let r = c.send_message().queue_url(missing_url).message_body("x").send().await;
    match r {
        Err(e) => assert!(e.into_service_error().is_queue_does_not_exist()),
        Ok(v) => panic!("sent to a missing queue: {v:?}"),
    }
    assert_err(
        c.receive_message().queue_url(missing_url).send().await,
        NON_EXISTENT,
        400,
    );
    assert_err(c.delete_queue().queue_url(missing_url).send().await, NON_EXISTENT, 400);
    assert_err(
        c.get_queue_attributes()
            .queue_url(missing_url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await,
        NON_EXISTENT,
        400,
    );
}

/// Invalid receipt handles, oversized messages, invalid attributes and
/// receive parameters out of range: refused, and nothing changed.
async fn bad_handles_sizes_attributes_and_parameters(c: &Client, url: &str) {
    // Invalid receipt handle.
    c.send_message()
        .queue_url(url)
        .message_body("keep me")
        .send()
        .await
        .unwrap();
    assert_err(
        c.delete_message().queue_url(url).receipt_handle("garbage").send().await,
        "ReceiptHandleIsInvalid",
        400,
    );
    assert_eq!(visible_count(c, url).await, 1);

    // Oversized message: 256 KiB is the limit, one byte more is refused.
    let big = "a".repeat(256 * 1024 + 1);
    let r = c.send_message().queue_url(url).message_body(&big).send().await;
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
        .queue_url(url)
        .message_body(&exact)
        .send()
        .await
        .expect("a 256 KiB message is allowed");
    assert_eq!(visible_count(c, url).await, 2);

    // Invalid attribute name and value.
    let r = c
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::from("NoSuchAttribute"), "1")
        .send()
        .await;
    assert_err(r, "InvalidAttributeName", 400);
    let r = c
        .set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::VisibilityTimeout, "99999")
        .send()
        .await;
    assert_err(r, "InvalidAttributeValue", 400);
    assert_eq!(attribute(c, url, QueueAttributeName::VisibilityTimeout).await, "30");
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
            .queue_url(url)
            .max_number_of_messages(11)
            .send()
            .await,
        "InvalidParameterValue",
        400,
    );
    assert_err(
        c.receive_message().queue_url(url).wait_time_seconds(21).send().await,
        "InvalidParameterValue",
        400,
    );
}

/// Batch envelope errors store nothing of the batch; a per-entry failure
/// does not stop the others.
async fn batch_errors_store_nothing(c: &Client, url: &str) {
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
            .queue_url(url)
            .set_entries(Some(eleven))
            .send()
            .await,
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        400,
    );
    assert_err(
        c.send_message_batch()
            .queue_url(url)
            .entries(entry("same"))
            .entries(entry("same"))
            .send()
            .await,
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        400,
    );
    assert_err(
        c.send_message_batch()
            .queue_url(url)
            .entries(entry("bad id!"))
            .send()
            .await,
        "AWS.SimpleQueueService.InvalidBatchEntryId",
        400,
    );
    assert_err(
        c.send_message_batch()
            .queue_url(url)
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
            .queue_url(url)
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
        .queue_url(url)
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
    assert_eq!(visible_count(c, url).await, 3);
}
