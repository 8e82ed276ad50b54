//! Raw protocol checks: JSON framing and error headers, and every
//! operation over the query protocol with XML answers.

use super::*;

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
        Signer {
            addr: srv.addr(),
            service: "sns",
            access: ROOT_ACCESS_KEY,
            secret: ROOT_SECRET_KEY,
        },
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
        Signer {
            addr: srv.addr(),
            service: "sqs",
            access: ROOT_ACCESS_KEY,
            secret: ROOT_SECRET_KEY,
        },
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

    attributes_and_tags_over_query(&srv, &url);

    send_receive_change_delete_over_query(&srv, &url);

    batches_on_the_queue_path(&srv);

    query_ok(
        &query_call(&srv, "/", "PurgeQueue", &[("QueueUrl", &url)]),
        "PurgeQueue",
    );

    error_documents_over_query(&srv, &url, &base);

    // The GET form of the query protocol.
    let target = "/?Action=GetQueueUrl&QueueName=legacy&Version=2012-11-05";
    let r = signed_request(
        Signer {
            addr: srv.addr(),
            service: "sqs",
            access: ROOT_ACCESS_KEY,
            secret: ROOT_SECRET_KEY,
        },
        "GET",
        target,
        &[],
        b"",
    );
    let body = query_ok(&r, "GetQueueUrl");
    assert_eq!(xml_first(&body, "QueueUrl").as_deref(), Some(url.as_str()));

    // SNS on the same root keeps working next to SQS.
    let sns = herald_testkit::Sns::root(&srv);
    let arn = sns.create_topic("alongside", &[]);
    assert!(sns.list_topic_arns().contains(&arn));

    query_ok(
        &query_call(&srv, "/", "DeleteQueue", &[("QueueUrl", &url)]),
        "DeleteQueue",
    );
    let body = query_ok(&query_call(&srv, "/", "ListQueues", &[]), "ListQueues");
    assert!(xml_all(&body, "QueueUrl").is_empty(), "{body}");
}

/// Queue attributes and tags over the query protocol.
fn attributes_and_tags_over_query(srv: &TestServer, url: &str) {
    let body = query_ok(
        &query_call(
            srv,
            "/",
            "GetQueueAttributes",
            &[
                ("QueueUrl", url),
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
            srv,
            "/",
            "SetQueueAttributes",
            &[
                ("QueueUrl", url),
                ("Attribute.1.Name", "DelaySeconds"),
                ("Attribute.1.Value", "0"),
            ],
        ),
        "SetQueueAttributes",
    );
    let body = query_ok(
        &query_call(srv, "/", "ListQueueTags", &[("QueueUrl", url)]),
        "ListQueueTags",
    );
    assert_eq!(xml_first(&body, "Key").as_deref(), Some("origin"));
    query_ok(
        &query_call(
            srv,
            "/",
            "TagQueue",
            &[("QueueUrl", url), ("Tag.1.Key", "k"), ("Tag.1.Value", "v")],
        ),
        "TagQueue",
    );
    query_ok(
        &query_call(srv, "/", "UntagQueue", &[("QueueUrl", url), ("TagKey.1", "origin")]),
        "UntagQueue",
    );
    let body = query_ok(
        &query_call(srv, "/", "ListQueueTags", &[("QueueUrl", url)]),
        "ListQueueTags",
    );
    assert_eq!(xml_all(&body, "Key"), vec!["k".to_string()]);
}

/// Send with a message attribute; receive with all attributes; change the
/// visibility; delete.
fn send_receive_change_delete_over_query(srv: &TestServer, url: &str) {
    // Send with a message attribute; receive with all attributes.
    let text = "query & <xml> body";
    let body = query_ok(
        &query_call(
            srv,
            "/",
            "SendMessage",
            &[
                ("QueueUrl", url),
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
            srv,
            "/",
            "ReceiveMessage",
            &[
                ("QueueUrl", url),
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
            srv,
            "/",
            "ChangeMessageVisibility",
            &[
                ("QueueUrl", url),
                ("ReceiptHandle", &handle),
                ("VisibilityTimeout", "100"),
            ],
        ),
        "ChangeMessageVisibility",
    );
    query_ok(
        &query_call(
            srv,
            "/",
            "DeleteMessage",
            &[("QueueUrl", url), ("ReceiptHandle", &handle)],
        ),
        "DeleteMessage",
    );
}

/// Batches, posted to the queue URL path without QueueUrl (old clients).
fn batches_on_the_queue_path(srv: &TestServer) {
    // Batches, posted to the queue URL path without QueueUrl (old clients).
    let path = "/root/legacy";
    let body = query_ok(
        &query_call(
            srv,
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
            srv,
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
                srv,
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
            srv,
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
            srv,
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
}

/// Error documents of the query protocol.
fn error_documents_over_query(srv: &TestServer, url: &str, base: &str) {
    // Error documents.
    let r = query_call(
        srv,
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
        srv,
        "/",
        "DeleteMessage",
        &[("QueueUrl", url), ("ReceiptHandle", "garbage")],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("ReceiptHandleIsInvalid")
    );
    let big = "z".repeat(256 * 1024 + 1);
    let r = query_call(srv, "/", "SendMessage", &[("QueueUrl", url), ("MessageBody", &big)]);
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("InvalidParameterValue")
    );
    let r = query_call(
        srv,
        "/",
        "SetQueueAttributes",
        &[
            ("QueueUrl", url),
            ("Attribute.1.Name", "Bogus"),
            ("Attribute.1.Value", "1"),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("InvalidAttributeName")
    );
    let r = query_call(srv, "/", "SendMessage", &[("QueueUrl", url)]);
    assert_eq!(r.status, 400);
    assert_eq!(xml_first(&r.body_str(), "Code").as_deref(), Some("MissingParameter"));
    let r = query_call(srv, "/root/legacy", "Explode", &[]);
    assert_eq!(r.status, 400);
    assert_eq!(xml_first(&r.body_str(), "Code").as_deref(), Some("InvalidAction"));
}
