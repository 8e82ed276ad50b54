//! Issue 12, "Parsers": hostile documents and parameter lists sent to a
//! real `herald serve`. Each is refused with an AWS-style 400 naming the
//! limit, and the server still answers /health afterwards.

use herald_testkit::*;

/// A root-signed SQS query-protocol POST.
fn sqs_query(srv: &TestServer, body: &str) -> RawResponse {
    signed_request(
        Signer {
            addr: srv.addr(),
            service: "sqs",
            access: ROOT_ACCESS_KEY,
            secret: ROOT_SECRET_KEY,
        },
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

/// Status and `<Code>` of an XML error answer.
fn xml_error(r: &RawResponse) -> (u16, String) {
    (r.status, xml_first(&r.body_str(), "Code").unwrap_or_default())
}

/// The reproduction of the abort: a parameter name of 200,000 `a.`
/// segments (~400 KB) used to overflow the stack in the recursive
/// parameter tree. Sent signed as a SendMessage (whose body allowance
/// fits it) so that it reaches the parser whatever the body limits are,
/// and unsigned as a ListQueues small enough for the unauthenticated body
/// limit: the parameter limits are checked before authentication.
#[test]
fn sqs_query_deep_parameter_name_is_refused_and_the_server_lives() {
    let srv = TestServer::start();
    let deep = "a.".repeat(200_000);
    let body = format!("Action=SendMessage&QueueUrl=q&MessageBody=x&{deep}=1");
    let r = sqs_query(&srv, &body);
    assert_eq!(xml_error(&r), (400, "InvalidQueryParameter".into()), "{}", r.body_str());
    assert!(r.body_str().contains("longer than 256 bytes"), "{}", r.body_str());
    assert!(r.body_str().len() < 2000, "the name is not echoed whole");
    assert_healthy(&srv);

    let shallow_but_many = format!("Action=ListQueues&{}=1", ["a"; 11].join("."));
    let r = raw_request(
        srv.addr(),
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        shallow_but_many.as_bytes(),
    )
    .unwrap();
    assert_eq!(xml_error(&r), (400, "InvalidQueryParameter".into()), "{}", r.body_str());
    assert!(
        r.body_str().contains("more than 10 &apos;.&apos;-separated parts"),
        "{}",
        r.body_str()
    );
    assert_healthy(&srv);

    let many = format!("Action=ListQueues{}", "&a=1".repeat(1_001));
    let r = sqs_query(&srv, &many);
    assert_eq!(xml_error(&r), (400, "InvalidQueryParameter".into()), "{}", r.body_str());
    assert!(r.body_str().contains("more than 1000 parameters"), "{}", r.body_str());
    // A legitimate request still works.
    let r = sqs_query(&srv, "Action=ListQueues");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_healthy(&srv);
}

/// SQS JSON protocol: nesting far beyond any request document, and a flat
/// document with too many values, are refused before serde_json builds
/// them.
#[test]
fn sqs_json_deep_or_huge_documents_are_refused() {
    let srv = TestServer::start();
    let send = |body: &str| sqs_json_request(srv.addr(), "AmazonSQS.ListQueues", body.as_bytes());
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(20_000), "]".repeat(20_000));
    let r = send(&deep);
    assert_eq!(r.status, 400, "{}", r.body_str());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("a JSON error document");
    assert!(
        v["__type"].as_str().unwrap_or("").ends_with("SerializationException"),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap_or("").contains("more than 16 levels"),
        "{v}"
    );
    assert_healthy(&srv);

    let wide = format!("{{\"a\":[{}0]}}", "0,".repeat(10_000));
    let r = send(&wide);
    assert_eq!(r.status, 400, "{}", r.body_str());
    assert!(r.body_str().contains("more than 10000 values"), "{}", r.body_str());
    let r = send("{}");
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_healthy(&srv);
}

/// SNS: too many topic attributes, an oversized attribute value, a deep
/// parameter name.
#[test]
fn sns_attribute_and_parameter_limits() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let many: Vec<(String, String)> = (1..=65).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let e = sns.try_create_topic("many", &refs).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidArgument"), "{}", e.body);
    assert!(e.body.contains("at most 64 attributes"), "{}", e.body);
    assert_healthy(&srv);

    let big = "x".repeat(33 * 1024);
    let e = sns.try_create_topic("big", &[("OpaqueData", &big)]).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidArgument"), "{}", e.body);
    assert!(e.body.contains("longer than 32768 bytes"), "{}", e.body);

    let deep = "a.".repeat(20_000);
    let r = sns.call("ListTopics", &[(&deep, "1")]);
    assert_eq!(xml_error(&r), (400, "InvalidQueryParameter".into()), "{}", r.body_str());
    // Nothing was created, and an ordinary topic still is.
    assert!(sns.list_topic_arns().is_empty());
    sns.create_topic("fine", &[("OpaqueData", "ok")]);
    assert_healthy(&srv);
}

/// PutBucketNotificationConfiguration with a deeply nested document, one
/// with too many elements, and one with too many filter rules.
#[test]
fn notification_xml_deep_or_huge_is_refused() {
    let srv = TestServer::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(srv.s3().create_bucket().bucket("bkt-parsers").send())
        .unwrap();
    let put = |xml: &str| {
        signed_request(
            Signer {
                addr: srv.addr(),
                service: "s3",
                access: ROOT_ACCESS_KEY,
                secret: ROOT_SECRET_KEY,
            },
            "PUT",
            "/bkt-parsers?notification",
            &[("content-type", "application/xml")],
            xml.as_bytes(),
        )
    };
    let wrap = |inner: &str| format!("<NotificationConfiguration>{inner}</NotificationConfiguration>");

    let deep = wrap(&format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000)));
    let r = put(&deep);
    assert_eq!(xml_error(&r), (400, "MalformedXML".into()), "{}", r.body_str());
    assert_healthy(&srv);

    let r = put(&wrap(&"<a/>".repeat(10_001)));
    assert_eq!(xml_error(&r), (400, "MalformedXML".into()), "{}", r.body_str());
    assert!(r.body_str().contains("more than 10000 elements"), "{}", r.body_str());

    let rules: String = (0..11)
        .map(|i| format!("<FilterRule><Name>t{i}</Name><Value>v</Value></FilterRule>"))
        .collect();
    let one = format!(
        "<TopicConfiguration><Topic>arn:aws:sns:us-east-1:root:t</Topic><Filter><S3Tags>{rules}</S3Tags></Filter></TopicConfiguration>"
    );
    let r = put(&wrap(&one));
    assert_eq!(xml_error(&r), (400, "InvalidArgument".into()), "{}", r.body_str());
    assert!(r.body_str().contains("more than 10 filter rules"), "{}", r.body_str());
    assert_healthy(&srv);
}
