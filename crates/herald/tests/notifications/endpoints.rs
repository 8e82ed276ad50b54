//! What an endpoint sees: CloudEvents headers, push signatures and the
//! subscription handshake.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_headers() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let t = sns.create_topic("ce", &[("push-endpoint", &rx.url("ce")), ("cloudevents", "true")]);
    s3.create_bucket().bucket("ceb").send().await.unwrap();
    put_config(
        &s3,
        "ceb",
        vec![tc("ce", &t, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None, None)],
    )
    .await;
    s3.put_object()
        .bucket("ceb")
        .key("ce.txt")
        .body(ByteStream::from_static(b"cloud"))
        .send()
        .await
        .unwrap();
    rx.wait_event("ce.txt", "ObjectCreated:Put").await;
    let req = rx
        .requests()
        .into_iter()
        .find(|r| r.records().iter().any(|e| e["s3"]["object"]["key"] == "ce.txt"))
        .unwrap();
    assert_eq!(req.header("ce-specversion"), Some("1.0"), "{:?}", req.headers);
    assert_eq!(
        req.header("ce-type"),
        Some("com.amazonaws.ObjectCreated:Put"),
        "{:?}",
        req.headers
    );
    for h in ["ce-id", "ce-source", "ce-time", "ce-subject"] {
        assert!(
            req.header(h).map(|v| !v.is_empty()).unwrap_or(false),
            "missing {h}: {:?}",
            req.headers
        );
    }
    assert!(req.header("content-type").unwrap_or("").starts_with("application/json"));
    s3.delete_object().bucket("ceb").key("ce.txt").send().await.unwrap();
    rx.wait_event("ce.txt", "ObjectRemoved:Delete").await;
    let del = rx
        .requests()
        .into_iter()
        .find(|r| r.records().iter().any(|e| e["eventName"] == "ObjectRemoved:Delete"))
        .unwrap();
    assert_eq!(
        del.header("ce-type"),
        Some("com.amazonaws.ObjectRemoved:Delete"),
        "{:?}",
        del.headers
    );
    assert_ne!(
        del.header("ce-id"),
        req.header("ce-id"),
        "ce-id must differ between events"
    );
}

fn verify_signature(req: &Received, secret: &str) {
    let h = req
        .header("x-herald-signature")
        .unwrap_or_else(|| panic!("push without x-herald-signature: {:?} {}", req.headers, req.body_str()));
    let mut t = None;
    let mut v1 = None;
    for part in h.split(',') {
        if let Some(x) = part.trim().strip_prefix("t=") {
            t = Some(x.to_string());
        }
        if let Some(x) = part.trim().strip_prefix("v1=") {
            v1 = Some(x.to_string());
        }
    }
    let t = t.unwrap_or_else(|| panic!("no t= in {h:?}"));
    let v1 = v1.unwrap_or_else(|| panic!("no v1= in {h:?}"));
    assert!(t.parse::<u64>().is_ok(), "t must be unix seconds: {h:?}");
    let mut msg = format!("{t}.").into_bytes();
    msg.extend_from_slice(&req.body);
    let want = hex::encode(hmac_sha256(secret.as_bytes(), &msg));
    assert_eq!(
        v1.to_ascii_lowercase(),
        want,
        "x-herald-signature v1 for body {}",
        req.body_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_secret_signs_every_push() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let rp = Receiver::start_new();
    let secret = "s3cr3t-signing-key";
    let t = sns.create_topic("sig", &[("push-endpoint", &rx.url("sig")), ("push-secret", secret)]);
    let tp = sns.create_topic(
        "sigp",
        &[
            ("push-endpoint", &rp.url("sigp")),
            ("push-secret", secret),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    s3.create_bucket().bucket("sig").send().await.unwrap();
    put_config(
        &s3,
        "sig",
        vec![
            tc("s", &t, &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], None, None),
            tc("p", &tp, &["s3:ObjectCreated:*"], None, None),
        ],
    )
    .await;
    s3.put_object()
        .bucket("sig")
        .key("a b.txt")
        .body(ByteStream::from_static(b"signed"))
        .send()
        .await
        .unwrap();
    s3.delete_object().bucket("sig").key("a b.txt").send().await.unwrap();
    rx.wait_event("a+b.txt", "ObjectRemoved:Delete").await;
    rp.wait_event("a+b.txt", "ObjectCreated:Put").await;
    let reqs: Vec<Received> = rx.requests().into_iter().chain(rp.requests()).collect();
    assert!(reqs.len() >= 3);
    for r in &reqs {
        verify_signature(r, secret);
    }
    // No secret, no signature header.
    let plain = Receiver::start_new();
    let tn = sns.create_topic("nosig", &[("push-endpoint", &plain.url("n"))]);
    s3.create_bucket().bucket("nosig").send().await.unwrap();
    put_config(&s3, "nosig", vec![tc("n", &tn, &["s3:ObjectCreated:*"], None, None)]).await;
    s3.put_object()
        .bucket("nosig")
        .key("n")
        .body(ByteStream::from_static(b"n"))
        .send()
        .await
        .unwrap();
    plain.wait_event("n", "ObjectCreated:Put").await;
    assert!(
        plain
            .requests()
            .iter()
            .all(|r| r.header("x-herald-signature").is_none())
    );
}

async fn wait_subscription_status(sns: &Sns, arn: &str, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let a = sns
            .get_topic_attributes(arn)
            .unwrap_or_else(|e| panic!("GetTopicAttributes {arn}: {e:?}"));
        let st = a.get("SubscriptionStatus").cloned().unwrap_or_default();
        if pred(&st) {
            return st;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "SubscriptionStatus of {arn}: expected {what}, still {st:?} after 30 s; attributes {a:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_handshake_right_and_wrong() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let good = Receiver::start_new();
    let bad = Receiver::start_new();
    bad.set_mode(Mode::WrongHandshake);
    let badp = Receiver::start_new();
    badp.set_mode(Mode::WrongHandshake);

    let tg = sns.create_topic(
        "hs-good",
        &[
            ("push-endpoint", &good.url("hook/good")),
            ("subscription-confirmation", "true"),
        ],
    );
    good.wait_for("the SubscriptionConfirmation", 30, |r| !r.handshakes().is_empty())
        .await;
    let hs = &good.handshakes()[0];
    assert_eq!(hs.method, "POST");
    assert_eq!(hs.path, "/hook/good");
    let body = hs.body_str();
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("handshake body not JSON ({e}): {body}"));
    let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["Timestamp", "Type", "Message", "TopicArn", "SignatureVersion", "Token"]),
        "{body}"
    );
    assert_eq!(v["Type"], "SubscriptionConfirmation", "{body}");
    assert_eq!(v["TopicArn"], tg.as_str(), "{body}");
    assert_eq!(
        v["SignatureVersion"], 1,
        "SignatureVersion must be the number 1: {body}"
    );
    assert!(v["Token"].as_str().map(|t| !t.is_empty()).unwrap_or(false), "{body}");
    assert!(
        body.starts_with("{\"") && !body.contains("\": ") && !body.contains("\n"),
        "handshake JSON must be compact: {body}"
    );
    wait_subscription_status(&sns, &tg, |s| s == "confirmed", "confirmed").await;

    let tb = sns.create_topic(
        "hs-bad",
        &[
            ("push-endpoint", &bad.url("hook/bad")),
            ("subscription-confirmation", "true"),
        ],
    );
    let tbp = sns.create_topic(
        "hs-badp",
        &[
            ("push-endpoint", &badp.url("hook/badp")),
            ("subscription-confirmation", "true"),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    wait_subscription_status(&sns, &tb, |s| s.starts_with("failed"), "failed…").await;
    wait_subscription_status(&sns, &tbp, |s| s.starts_with("failed"), "failed…").await;
    assert!(
        !bad.handshakes().is_empty() && !badp.handshakes().is_empty(),
        "the wrong receivers were asked"
    );

    s3.create_bucket().bucket("hsb").send().await.unwrap();
    put_config(
        &s3,
        "hsb",
        vec![
            tc("good", &tg, &["s3:ObjectCreated:*"], None, None),
            tc("bad", &tb, &["s3:ObjectCreated:*"], None, None),
            tc("badp", &tbp, &["s3:ObjectCreated:*"], None, None),
        ],
    )
    .await;
    s3.put_object()
        .bucket("hsb")
        .key("x1")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    let rec = good.wait_event("x1", "ObjectCreated:Put").await;
    assert_eq!(rec["s3"]["configurationId"], "good");
    s3.put_object()
        .bucket("hsb")
        .key("x2")
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap();
    good.wait_event("x2", "ObjectCreated:Put").await;
    assert!(
        bad.attempted_records().is_empty(),
        "events pushed to a failed subscription: {:?}",
        bad.attempted_records()
    );
    assert!(
        badp.attempted_records().is_empty(),
        "events pushed to a failed persistent subscription: {:?}",
        badp.attempted_records()
    );
    let n = topic_stats_entries(&srv, "hs-badp", "root");
    assert!(
        n >= 2,
        "persistent events for a failed subscription must wait in the queue; topic stats entries = {n}"
    );
}
