//! S3 events into the built-in queue: the Cloudian guide's session, run for
//! real with the `aws` CLI, plus the SDK checks a consumer relies on.

use std::time::{Duration, Instant};

use herald_testkit::TestServer;

fn aws(srv: &TestServer, args: &[&str]) -> std::process::Output {
    herald_testkit::aws_cli_command(srv)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("the `aws` CLI is needed ({e}); install it with `pip install awscli`"))
}

fn aws_ok(srv: &TestServer, args: &[&str]) -> String {
    let out = aws(srv, args);
    assert!(
        out.status.success(),
        "aws {} failed:\n{}\n{}\nserver:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Receives until `want` messages whose body contains `needle` were seen.
/// Gives up after 30 s without a new one (not 30 s in all: each receive and
/// delete is an `aws` process, slow on a loaded machine).
fn receive_bodies(srv: &TestServer, url: &str, needle: &str, want: usize) -> Vec<serde_json::Value> {
    let mut deadline = Instant::now() + Duration::from_secs(30);
    let mut found = Vec::new();
    while found.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} events arrived: {found:?}",
            found.len()
        );
        let before = found.len();
        let out = aws_ok(
            srv,
            &[
                "sqs",
                "receive-message",
                "--queue-url",
                url,
                "--max-number-of-messages",
                "10",
                "--wait-time-seconds",
                "2",
            ],
        );
        if out.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&out).expect("receive-message JSON");
        for m in v["Messages"].as_array().cloned().unwrap_or_default() {
            let body = m["Body"].as_str().unwrap_or_default().to_owned();
            let handle = m["ReceiptHandle"].as_str().unwrap_or_default().to_owned();
            aws_ok(
                srv,
                &["sqs", "delete-message", "--queue-url", url, "--receipt-handle", &handle],
            );
            if body.contains(needle) {
                found.push(serde_json::from_str(&body).expect("message body is JSON"));
            }
        }
        if found.len() > before {
            deadline = Instant::now() + Duration::from_secs(30);
        }
    }
    found
}

#[test]
fn cloudian_guide_session_delivers_s3_events_to_the_queue() {
    let srv = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();

    let created: serde_json::Value = serde_json::from_str(&aws_ok(
        &srv,
        &["sqs", "create-queue", "--queue-name", "jibe-source-activity"],
    ))
    .unwrap();
    let url = created["QueueUrl"].as_str().unwrap().to_owned();
    assert!(url.ends_with("/root/jibe-source-activity"), "{url}");
    assert!(aws_ok(&srv, &["sqs", "list-queues"]).contains(&url));
    let attrs: serde_json::Value = serde_json::from_str(&aws_ok(
        &srv,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &url,
            "--attribute-names",
            "QueueArn",
        ],
    ))
    .unwrap();
    let arn = attrs["Attributes"]["QueueArn"].as_str().unwrap().to_owned();
    assert_eq!(arn, "arn:aws:sqs:us-east-1:root:jibe-source-activity");

    aws_ok(&srv, &["s3", "mb", "s3://mybucket"]);
    let config = tmp.path().join("queue_config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"QueueConfigurations":[{{"Id":"jibe","QueueArn":"{arn}","Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}}]}}"#
        ),
    )
    .unwrap();
    let config_arg = format!("file://{}", config.display());
    aws_ok(
        &srv,
        &[
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "mybucket",
            "--notification-configuration",
            &config_arg,
        ],
    );
    // The configuration announced itself with s3:TestEvent.
    let test_events = receive_bodies(&srv, &url, "s3:TestEvent", 1);
    assert_eq!(test_events[0]["Bucket"], "mybucket");

    let file = tmp.path().join("file.pdf");
    std::fs::write(&file, b"%PDF-1.4 herald").unwrap();
    aws_ok(
        &srv,
        &["s3", "cp", file.to_str().unwrap(), "s3://mybucket/sqstest1/file.pdf"],
    );
    let events = receive_bodies(&srv, &url, "ObjectCreated", 1);
    let r = &events[0]["Records"][0];
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["s3"]["bucket"]["name"], "mybucket");
    assert_eq!(r["s3"]["object"]["key"], "sqstest1/file.pdf");
    assert_eq!(r["s3"]["object"]["size"], 15);
    assert_eq!(r["s3"]["object"]["eTag"], herald_testkit::md5_hex(b"%PDF-1.4 herald"));
    assert_eq!(r["userIdentity"]["principalId"], "root");
    assert_eq!(r["s3"]["configurationId"], "jibe");

    aws_ok(&srv, &["s3", "rm", "s3://mybucket/sqstest1/file.pdf"]);
    let removed = receive_bodies(&srv, &url, "ObjectRemoved", 1);
    assert_eq!(removed[0]["Records"][0]["eventName"], "ObjectRemoved:Delete");

    aws_ok(&srv, &["sqs", "delete-queue", "--queue-url", &url]);
    assert!(!aws_ok(&srv, &["sqs", "list-queues"]).contains("jibe-source-activity"));
}

#[test]
fn unknown_or_foreign_queue_arn_is_refused_and_config_kept() {
    let srv = TestServer::start();
    srv.create_user("bob", "BOBACCESSKEY00000001", "bobSecretKey-0123456789");
    aws_ok(&srv, &["s3", "mb", "s3://keepcfg"]);
    let url =
        serde_json::from_str::<serde_json::Value>(&aws_ok(&srv, &["sqs", "create-queue", "--queue-name", "mine"]))
            .unwrap()["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned();
    let good = r#"{"QueueConfigurations":[{"Id":"a","QueueArn":"arn:aws:sqs:us-east-1:root:mine","Events":["s3:ObjectCreated:*"]}]}"#;
    aws_ok(
        &srv,
        &[
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "keepcfg",
            "--notification-configuration",
            good,
        ],
    );
    for bad in [
        r#"{"QueueConfigurations":[{"Id":"b","QueueArn":"arn:aws:sqs:us-east-1:root:nope","Events":["s3:ObjectCreated:*"]}]}"#,
        r#"{"QueueConfigurations":[{"Id":"c","QueueArn":"arn:aws:sqs:us-east-1:bob:mine","Events":["s3:ObjectCreated:*"]}]}"#,
    ] {
        let out = aws(
            &srv,
            &[
                "s3api",
                "put-bucket-notification-configuration",
                "--bucket",
                "keepcfg",
                "--notification-configuration",
                bad,
            ],
        );
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("InvalidArgument"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cfg = aws_ok(
        &srv,
        &["s3api", "get-bucket-notification-configuration", "--bucket", "keepcfg"],
    );
    assert!(
        cfg.contains("arn:aws:sqs:us-east-1:root:mine") && !cfg.contains("nope"),
        "{cfg}"
    );
    // Events of many objects all arrive, enqueued before each PUT returned.
    for i in 0..20 {
        let path = std::env::temp_dir().join(format!("herald-sqs-ev-{}-{i}", std::process::id()));
        std::fs::write(&path, format!("object {i}")).unwrap();
        aws_ok(
            &srv,
            &["s3", "cp", path.to_str().unwrap(), &format!("s3://keepcfg/k{i:02}")],
        );
        let _ = std::fs::remove_file(path);
    }
    let got = receive_bodies(&srv, &url, "ObjectCreated:Put", 20);
    let mut keys: Vec<String> = got
        .iter()
        .map(|e| e["Records"][0]["s3"]["object"]["key"].as_str().unwrap().to_owned())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 20, "{keys:?}");
}

#[test]
fn queue_cli_lists_counts_and_purges() {
    let srv = TestServer::start();
    let url =
        serde_json::from_str::<serde_json::Value>(&aws_ok(&srv, &["sqs", "create-queue", "--queue-name", "ops-q"]))
            .unwrap()["QueueUrl"]
            .as_str()
            .unwrap()
            .to_owned();
    for i in 0..3 {
        aws_ok(
            &srv,
            &[
                "sqs",
                "send-message",
                "--queue-url",
                &url,
                "--message-body",
                &format!("m{i}"),
            ],
        );
    }
    let list = srv.cli(&["queue", "list"]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["name"], "ops-q");
    assert_eq!(list[0]["arn"], "arn:aws:sqs:us-east-1:root:ops-q");
    let stats = srv.cli(&["queue", "stats", "ops-q"]);
    assert!(stats.status.success(), "{}", String::from_utf8_lossy(&stats.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(stats["visible"], 3, "{stats}");
    let purge = srv.cli(&["queue", "purge", "ops-q"]);
    assert!(purge.status.success(), "{}", String::from_utf8_lossy(&purge.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&srv.cli(&["queue", "stats", "ops-q"]).stdout).unwrap();
    assert_eq!(stats["visible"], 0, "{stats}");
    let missing = srv.cli(&["queue", "stats", "nope"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no queue named"));
}

#[test]
fn topic_with_a_queue_endpoint_delivers_into_the_queue() {
    let srv = TestServer::start();
    let url = serde_json::from_str::<serde_json::Value>(&aws_ok(
        &srv,
        &["sqs", "create-queue", "--queue-name", "from-topic"],
    ))
    .unwrap()["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    aws_ok(
        &srv,
        &[
            "sns",
            "create-topic",
            "--name",
            "to-queue",
            "--attributes",
            "push-endpoint=sqs://from-topic,persistent=true",
        ],
    );
    aws_ok(&srv, &["s3", "mb", "s3://topicq"]);
    let cfg = r#"{"TopicConfigurations":[{"Id":"tq","TopicArn":"arn:aws:sns:us-east-1:root:to-queue","Events":["s3:ObjectCreated:*"]}]}"#;
    aws_ok(
        &srv,
        &[
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "topicq",
            "--notification-configuration",
            cfg,
        ],
    );
    let path = std::env::temp_dir().join(format!("herald-topicq-{}", std::process::id()));
    std::fs::write(&path, b"via topic").unwrap();
    aws_ok(&srv, &["s3", "cp", path.to_str().unwrap(), "s3://topicq/a.txt"]);
    let _ = std::fs::remove_file(path);
    let got = receive_bodies(&srv, &url, "ObjectCreated:Put", 1);
    let r = &got[0]["Records"][0];
    assert_eq!(r["eventSource"], "ceph:s3", "a topic keeps its (Ceph) record format");
    assert_eq!(r["s3"]["configurationId"], "tq");
    assert_eq!(r["s3"]["object"]["key"], "a.txt");
}
