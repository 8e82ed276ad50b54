//! The Cloudian-guide session with the real `aws` CLI.

use super::*;

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
