//! The default mode (`--compat aws`) on the points where Ceph mode
//! differs (see `compat_ceph.rs`), and the Ceph-suite defects fixed in
//! both modes: an empty configuration removes all, `None` retry
//! attributes take the server's defaults, SigV2 on the topic API follows
//! `--allow-sigv2`.

use herald_testkit::*;

/// The aws CLI's empty configuration (`'{}'`) removes every notification
/// (AWS's semantics; Herald used to refuse it as MalformedXML), and a PUT
/// replaces the whole configuration (no merging by Id).
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_configuration_removes_all_and_a_put_replaces_all() {
    let srv = TestServer::start();
    let rx = Receiver::start_new();
    let s3 = srv.s3();
    s3.create_bucket().bucket("aws-cfg").send().await.unwrap();
    let topic = Sns::root(&srv).create_topic("t", &[("push-endpoint", &rx.url("aws"))]);
    let put = |cfgs: &[String]| must_put_notification_xml(&srv, "aws-cfg", &notification_xml(cfgs));
    put(&[topic_config_xml("n1", &topic, &["s3:ObjectRemoved:*"], None)]);
    put(&[topic_config_xml("n2", &topic, &["s3:ObjectCreated:*"], None)]);
    let now = get_notification_xml(&srv, "aws-cfg").body_str();
    assert_eq!(xml_all(&now, "Id"), vec!["n2"], "{now}");
    // AWS's TestEvent still reaches the topic.
    rx.wait_for("the TestEvent", 30, |r| !r.test_events().is_empty()).await;

    let out = aws_cli_command(&srv)
        .args([
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "aws-cfg",
            "--notification-configuration",
            "{}",
        ])
        .output()
        .expect("run aws");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let now = get_notification_xml(&srv, "aws-cfg").body_str();
    assert!(xml_all(&now, "Id").is_empty(), "{now}");
}

/// A repeated tag key is S3's InvalidTag outside Ceph mode.
#[tokio::test(flavor = "multi_thread")]
async fn duplicate_tag_keys_are_refused() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("aws-tags").send().await.unwrap();
    let res = s3
        .put_object()
        .bucket("aws-tags")
        .key("k")
        .tagging("hello=world&hello=there")
        .body(b"x".to_vec().into())
        .send()
        .await;
    assert_err(res, "InvalidTag", 400);
}

/// SigV2 on the topic API exactly as on S3: refused unless
/// `--allow-sigv2`, then verified (as Ceph's suite signs its GetTopic).
#[test]
fn sigv2_topic_requests_follow_allow_sigv2() {
    const SCRIPT: &str = r#"
import base64, hashlib, hmac, os, sys, time, urllib.parse, urllib.request
URL = os.environ["T_URL"]
params = {"Action": os.environ["T_ACTION"]}
if os.environ.get("T_ARN"):
    params["TopicArn"] = os.environ["T_ARN"]
body = urllib.parse.urlencode(params).encode()
date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
ctype = "application/x-www-form-urlencoded; charset=utf-8"
sts = "POST\n\n" + ctype + "\n" + date + "\n/"
sig = base64.b64encode(hmac.new(os.environ["T_SK"].encode(), sts.encode(), hashlib.sha1).digest()).decode()
req = urllib.request.Request(URL + "/", data=body, method="POST",
    headers={"Authorization": "AWS " + os.environ["T_AK"] + ":" + sig, "Date": date, "Content-Type": ctype})
try:
    with urllib.request.urlopen(req) as r:
        status, text = r.status, r.read().decode()
except urllib.error.HTTPError as e:
    status, text = e.code, e.read().decode()
want = os.environ["T_WANT"]
if str(status) != want.split(":")[0] or want.split(":")[1] not in text:
    print("wanted %s, got %s %s" % (want, status, text))
    sys.exit(1)
"#;
    let vars = |action: &'static str, want: &'static str| {
        [
            ("T_AK", ROOT_ACCESS_KEY),
            ("T_SK", ROOT_SECRET_KEY),
            ("T_ACTION", action),
            ("T_ARN", "arn:aws:sns:us-east-1:root:v2"),
            ("T_WANT", want),
        ]
    };
    let off = TestServer::start();
    run_boto3(&off, SCRIPT, &vars("ListTopics", "403:SigV2 is disabled"));
    let on = TestServer::start_with_args(&["--allow-sigv2"]);
    let sns = Sns::root(&on);
    sns.create_topic("v2", &[]);
    run_boto3(&on, SCRIPT, &vars("ListTopics", "200:arn:aws:sns:us-east-1:root:v2"));
    run_boto3(&on, SCRIPT, &vars("GetTopic", "200:<Name>v2</Name>"));
    // SigV2 leaves the body (and so the action) unsigned: no writes.
    run_boto3(&on, SCRIPT, &vars("DeleteTopic", "403:does not sign the request body"));
    assert_eq!(sns.list_topic_arns(), vec!["arn:aws:sns:us-east-1:root:v2"]);
}

/// `None` (Ceph's "the server's default") is accepted for the retry
/// attributes, and the `--topic-default-*` values then apply: with a
/// default of 1 retry an event the endpoint keeps refusing is dropped
/// (with the built-in default, retry forever, it would wait forever).
#[tokio::test(flavor = "multi_thread")]
async fn none_retry_attributes_take_the_servers_defaults() {
    let srv = TestServer::start_with_args(&[
        "--topic-default-max-retries",
        "1",
        "--topic-default-retry-sleep-duration",
        "1",
    ]);
    let rx = Receiver::start_new();
    rx.set_mode(Mode::Status(500));
    let s3 = srv.s3();
    s3.create_bucket().bucket("aws-none").send().await.unwrap();
    let sns = Sns::root(&srv);
    let topic = sns.create_topic(
        "defaults",
        &[
            ("push-endpoint", &rx.url("d")),
            ("persistent", "true"),
            ("max_retries", "None"),
            ("time_to_live", "None"),
            ("retry_sleep_duration", "None"),
        ],
    );
    let attrs = sns.get_topic_attributes(&topic).unwrap();
    assert_eq!(attrs["MaxRetries"], "None", "{attrs:?}");
    assert!(
        sns.try_create_topic("bad", &[("queue-max-entries", "None")]).is_err(),
        "None is only for the retry attributes"
    );
    must_put_notification_xml(
        &srv,
        "aws-none",
        &notification_xml(&[topic_config_xml("n", &topic, &["s3:ObjectCreated:*"], None)]),
    );
    s3.put_object()
        .bucket("aws-none")
        .key("refused")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let attempts = || {
        rx.requests()
            .iter()
            .filter(|r| r.records().iter().any(|x| x["s3"]["object"]["key"] == "refused"))
            .count()
    };
    // Dropped: the object's event and the configuration's TestEvent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let m = metrics_text(&srv);
        if attempts() >= 2 && metric(&m, "pubsub_event_lost", Some("defaults")).unwrap_or(0.0) >= 2.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not dropped after 60 s:\n{m}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    // Three retry sleeps later, still no third attempt.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(attempts(), 2, "one attempt and one retry");
}

/// CreateTopic is idempotent, concurrent calls too (many instances of an
/// application create their topic at start): none of them fails with
/// ConcurrentAccess, and exactly one topic results.
#[test]
fn concurrent_create_topic_calls_all_succeed() {
    let srv = TestServer::start();
    let arns: Vec<String> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..8)
            .map(|i| {
                let srv = &srv;
                s.spawn(move || {
                    Sns::root(srv)
                        .try_create_topic("shared", &[("OpaqueData", &format!("caller-{i}"))])
                        .unwrap_or_else(|e| panic!("call {i}: {e:?}"))
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert!(
        arns.iter().all(|a| a == "arn:aws:sns:us-east-1:root:shared"),
        "{arns:?}"
    );
    assert_eq!(
        Sns::root(&srv).list_topic_arns(),
        vec!["arn:aws:sns:us-east-1:root:shared"]
    );
}
