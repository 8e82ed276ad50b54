//! aws-sdk-sqs (JSON protocol): queue lifecycle, sending, receiving,
//! visibility, long polling and redrive.

use super::*;

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

    attributes_and_tags(&c, &url).await;

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

/// All attributes (and the ARN format of the Cloudian guide), only the
/// ones asked for, setting them; queue tags.
async fn attributes_and_tags(c: &Client, url: &str) {
    // All attributes, and the ARN format of the Cloudian guide.
    let all = c
        .get_queue_attributes()
        .queue_url(url)
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
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    assert_eq!(one.attributes().unwrap().len(), 1);

    c.set_queue_attributes()
        .queue_url(url)
        .attributes(QueueAttributeName::VisibilityTimeout, "90")
        .attributes(QueueAttributeName::DelaySeconds, "0")
        .send()
        .await
        .expect("SetQueueAttributes");
    assert_eq!(attribute(c, url, QueueAttributeName::VisibilityTimeout).await, "90");

    // Tags.
    let tags = c.list_queue_tags().queue_url(url).send().await.expect("ListQueueTags");
    assert_eq!(tags.tags().unwrap().get("team").map(String::as_str), Some("ops"));
    c.tag_queue()
        .queue_url(url)
        .tags("env", "test")
        .tags("team", "dev")
        .send()
        .await
        .expect("TagQueue");
    c.untag_queue()
        .queue_url(url)
        .tag_keys("env")
        .send()
        .await
        .expect("UntagQueue");
    let tags = c.list_queue_tags().queue_url(url).send().await.unwrap();
    let tags: HashMap<String, String> = tags.tags().cloned().unwrap_or_default();
    assert_eq!(tags, HashMap::from([("team".to_string(), "dev".to_string())]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_send_receive_delete_with_attributes_and_batches() {
    let srv = TestServer::start();
    let c = sqs(&srv);
    let url = create(&c, "work", &[]).await;

    send_and_receive_with_attributes(&c, &url).await;

    batches(&c, &url).await;
}

/// One message with message attributes: sent, received with its MD5s and
/// system attributes, in flight, made visible again, deleted.
async fn send_and_receive_with_attributes(c: &Client, url: &str) {
    let body = "hello <world> & \"friends\"";
    let sent = c
        .send_message()
        .queue_url(url)
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
        .queue_url(url)
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
    let again = c.receive_message().queue_url(url).send().await.unwrap();
    assert!(again.messages().is_empty(), "{again:?}");
    assert_eq!(
        attribute(c, url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await,
        "1"
    );
    // ChangeMessageVisibility to 0 makes it visible now; a prefix wildcard
    // selects only the `foo.` attributes; no system attributes unless asked.
    c.change_message_visibility()
        .queue_url(url)
        .receipt_handle(m.receipt_handle().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .expect("ChangeMessageVisibility");
    let got = c
        .receive_message()
        .queue_url(url)
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
        .queue_url(url)
        .receipt_handle(m.receipt_handle().unwrap())
        .send()
        .await
        .expect("DeleteMessage");
}

/// SendMessageBatch, ChangeMessageVisibilityBatch and DeleteMessageBatch,
/// with bogus handles failing alone.
async fn batches(c: &Client, url: &str) {
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
        .queue_url(url)
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
            .queue_url(url)
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
        .queue_url(url)
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
    let mut req = c.delete_message_batch().queue_url(url);
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
    assert_eq!(visible_count(c, url).await, 0);
    assert_eq!(
        attribute(c, url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await,
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
