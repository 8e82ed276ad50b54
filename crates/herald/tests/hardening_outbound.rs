//! Outbound connections as a hostile tenant would use them: `ca-location`
//! pointing at a FIFO or a device (which froze the server, restarts
//! included), endpoints aimed at the cloud metadata address, at Herald's
//! own ports or at internal services, handshake answers read back through
//! `SubscriptionStatus`, endless answers, and secrets echoed by the topic
//! API and the CLI. Each test asserts the refusal and that /health still
//! answers.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;

/// CreateTopic must fail with InvalidArgument whose message has `needle`.
fn assert_refused(sns: &Sns, name: &str, attrs: &[(&str, &str)], needle: &str) {
    match sns.try_create_topic(name, attrs) {
        Ok(arn) => panic!("CreateTopic {attrs:?} was accepted ({arn})"),
        Err(e) => {
            assert_eq!((e.status, e.code.as_str()), (400, "InvalidArgument"), "{e:?}");
            let message = xml_unescape(&e.body);
            assert!(message.contains(needle), "expected {needle:?} in {message}");
        }
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
}

/// Waits (up to 30 s) until the server's log contains `needle`.
fn wait_log(srv: &TestServer, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !srv.logs().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{}", srv.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A bucket whose object creations go to `arn`.
async fn bucket_to(srv: &TestServer, bucket: &str, arn: &str) {
    srv.s3().create_bucket().bucket(bucket).send().await.unwrap();
    must_put_notification_xml(
        srv,
        bucket,
        &format!(
            "<NotificationConfiguration>{}</NotificationConfiguration>",
            topic_config_xml("c", arn, &["s3:ObjectCreated:*"], None)
        ),
    );
}

async fn put(srv: &TestServer, bucket: &str, key: &str) {
    srv.s3()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
}

/// An HTTP "internal service" on loopback answering every request with
/// `head` then `body` (a fixed body, or endless when `endless`).
fn fixed_server(head: &'static str, body: &'static [u8], endless: bool) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let _ = s.read(&mut buf);
                let _ = s.write_all(head.as_bytes());
                if endless {
                    let chunk = vec![b'A'; 65536];
                    while s.write_all(&chunk).is_ok() {}
                } else {
                    let _ = s.write_all(body);
                }
            });
        }
    });
    port
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

async fn wait_status(sns: &Sns, arn: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = sns.get_topic_attributes(arn).unwrap()["SubscriptionStatus"].clone();
        if st != "pending" {
            return st;
        }
        assert!(Instant::now() < deadline, "handshake of {arn} still pending");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn ca_location_fifo_and_devices_refused_without_ca_dir() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ca.fifo");
    mkfifo(&fifo);
    for location in [
        fifo.to_str().unwrap(),
        "/dev/zero",
        "/dev/urandom",
        "/etc/ssl/certs/ca-certificates.crt",
    ] {
        assert_refused(
            &sns,
            "x",
            &[("push-endpoint", "https://127.0.0.1:1/"), ("ca-location", location)],
            "--ca-dir",
        );
        assert_healthy(&srv);
    }
}

#[tokio::test]
async fn ca_location_only_regular_files_inside_the_ca_dir() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    std::fs::create_dir(&ca_dir).unwrap();
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", ca_dir.join("bundle.pem")).unwrap();
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", dir.path().join("outside.pem")).unwrap();
    mkfifo(&ca_dir.join("fifo.pem"));
    std::os::unix::fs::symlink("/dev/zero", ca_dir.join("zero.pem")).unwrap();
    let srv = TestServer::start_with_args(&["--ca-dir", ca_dir.to_str().unwrap()]);
    let sns = Sns::root(&srv);
    let outside = dir.path().join("outside.pem");
    for location in [
        "fifo.pem",
        "zero.pem",
        "/dev/zero",
        "../outside.pem",
        outside.to_str().unwrap(),
    ] {
        assert_refused(
            &sns,
            "x",
            &[("push-endpoint", "https://127.0.0.1:1/"), ("ca-location", location)],
            "not a readable certificate file in the server's CA directory",
        );
        assert_healthy(&srv);
    }
    sns.create_topic(
        "good",
        &[("push-endpoint", "https://127.0.0.1:1/"), ("ca-location", "bundle.pem")],
    );
    assert_healthy(&srv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_failing_to_install_at_start_waits_and_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy("/etc/ssl/certs/ca-certificates.crt", dir.path().join("ca.pem")).unwrap();
    let with_ca = ["--ca-dir", dir.path().to_str().unwrap()];
    let mut srv = TestServer::start_with_args(&with_ca);
    let sns = Sns::root(&srv);
    let receiver = Receiver::start_new();
    let arn = sns.create_topic(
        "waits",
        &[
            ("push-endpoint", &receiver.url("hook")),
            ("ca-location", "ca.pem"),
            ("persistent", "true"),
        ],
    );
    bucket_to(&srv, "waiting", &arn).await;
    // The operator drops --ca-dir: the topic cannot be installed, the
    // server starts anyway and says why.
    srv.set_args(&[]);
    srv.restart();
    assert_healthy(&srv);
    let attrs = sns.get_topic_attributes(&arn).unwrap();
    let why = attrs.get("InstallError").cloned().unwrap_or_default();
    assert!(
        why.contains("ca-location"),
        "InstallError: {why:?}; attributes {attrs:?}"
    );
    put(&srv, "waiting", "queued").await;
    wait_log(&srv, "topic endpoint not installed");
    // Fixed: the queued event is delivered.
    srv.set_args(&with_ca);
    srv.restart();
    assert!(!sns.get_topic_attributes(&arn).unwrap().contains_key("InstallError"));
    receiver.wait_event("queued", "ObjectCreated:Put").await;
    assert_healthy(&srv);
}

#[tokio::test]
async fn metadata_multicast_and_own_addresses_refused_at_create() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let own = format!("http://127.0.0.1:{}/", srv.port());
    let own_by_name = format!("http://localhost:{}/", srv.port());
    let metrics = format!("http://127.0.0.1:{}/", srv.metrics_addr().port());
    for ep in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://224.0.0.1:8080/",
        "http://0.0.0.0:8080/",
        own.as_str(),
        own_by_name.as_str(),
        metrics.as_str(),
    ] {
        assert_refused(
            &sns,
            "x",
            &[("push-endpoint", ep)],
            "refused by the server's endpoint policy",
        );
        assert_healthy(&srv);
    }
    // SetTopicAttributes is checked the same way.
    let arn = sns.create_topic("t", &[("push-endpoint", "http://127.0.0.1:1/")]);
    let e = sns
        .set_topic_attribute(&arn, "push-endpoint", "http://169.254.169.254/")
        .unwrap_err();
    assert!(e.body.contains("endpoint policy"), "{e:?}");
    assert_healthy(&srv);
}

#[tokio::test]
async fn endpoint_allow_overrides_the_default_deny() {
    let srv = TestServer::start_with_args(&[
        "--endpoint-allow",
        "169.254.0.0/16",
        "--endpoint-deny",
        "127.0.0.0/8",
        "--endpoint-allow",
        "127.0.0.1/32",
    ]);
    let sns = Sns::root(&srv);
    sns.create_topic("meta", &[("push-endpoint", "http://169.254.169.254:1/")]);
    sns.create_topic("one", &[("push-endpoint", "http://127.0.0.1:1/")]);
    assert_refused(
        &sns,
        "two",
        &[("push-endpoint", "http://127.0.0.2:1/")],
        "endpoint policy",
    );
    // Herald's own port stays refused whatever the allow list says.
    let own = format!("http://127.0.0.1:{}/", srv.port());
    assert_refused(&sns, "own", &[("push-endpoint", &own)], "endpoint policy");
    assert_healthy(&srv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_to_a_denied_address_is_refused_at_connect() {
    let receiver = Receiver::start_new();
    let mut srv = TestServer::start();
    let sns = Sns::root(&srv);
    let url = format!("http://localhost:{}/hook", receiver.port());
    let arn = sns.create_topic("named", &[("push-endpoint", &url), ("persistent", "true")]);
    bucket_to(&srv, "named", &arn).await;
    // The name now leads somewhere denied (as a rebound DNS name would):
    // every connection checks the resolved address again.
    srv.set_args(&["--endpoint-deny", "127.0.0.0/8,::1/128"]);
    srv.restart();
    put(&srv, "named", "k").await;
    wait_log(&srv, "outbound connection refused by the endpoint policy");
    // Unrefused, the event would reach the loopback receiver within
    // milliseconds; give the worker a second of retries.
    std::thread::sleep(Duration::from_secs(1));
    // (The s3:TestEvent sent when the notification was attached may have
    // arrived before the restart; the object's event must not.)
    let reached = receiver
        .requests()
        .iter()
        .any(|r| r.records().iter().any(|rec| rec["s3"]["object"]["key"] == "k"));
    assert!(!reached, "the receiver was reached");
    assert_healthy(&srv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_status_never_contains_the_answer() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let cases = [
        (
            fixed_server(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 23\r\nConnection: close\r\n\r\n",
                b"TOPSECRET internal data",
                false,
            ),
            "failed: HTTP 200 without a signature",
        ),
        (
            fixed_server(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 32\r\nConnection: close\r\n\r\n",
                b"{\"signature\":\"TOPSECRET0000000\"}",
                false,
            ),
            "failed: HTTP 200 with a wrong signature",
        ),
        (
            fixed_server(
                "HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\nConnection: close\r\n\r\n",
                b"TOPSECRET",
                false,
            ),
            "failed: HTTP 403",
        ),
        // A closed port and an open one that does not speak HTTP read
        // the same: the status is no port scanner.
        (Receiver::reserved().port(), "failed: no HTTP answer"),
        (
            fixed_server("SSH-2.0-OpenSSH_9.2\r\n", b"", false),
            "failed: no HTTP answer",
        ),
    ];
    for (i, (port, want)) in cases.iter().enumerate() {
        let arn = sns.create_topic(
            &format!("internal{i}"),
            &[
                ("push-endpoint", &format!("http://127.0.0.1:{port}/x")),
                ("subscription-confirmation", "true"),
            ],
        );
        let status = wait_status(&sns, &arn).await;
        assert_eq!(&status, want);
        let all = sns.call("GetTopicAttributes", &[("TopicArn", &arn)]).body_str();
        assert!(!all.contains("TOPSECRET"), "{all}");
        assert_healthy(&srv);
    }
    assert!(
        !srv.logs().contains("TOPSECRET"),
        "the answer must not be logged either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_read_64k_at_most() {
    let port = fixed_server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", b"", true);
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let before = rss_kib(srv.pid());
    let url = format!("http://127.0.0.1:{port}/stream");
    let hs = sns.create_topic(
        "endless-hs",
        &[("push-endpoint", &url), ("subscription-confirmation", "true")],
    );
    assert_eq!(
        wait_status(&sns, &hs).await,
        "failed: HTTP 200 with an answer larger than 65536 bytes"
    );
    // Pushes read the status and stop reading (a synchronous topic: the
    // PUT waits for its push, and returns).
    let sync = sns.create_topic("endless-push", &[("push-endpoint", &url), ("push-timeout", "3")]);
    bucket_to(&srv, "endless", &sync).await;
    for i in 0..5 {
        put(&srv, "endless", &format!("k{i}")).await;
    }
    let after = rss_kib(srv.pid());
    assert!(
        after < before + 100 * 1024,
        "server memory grew from {before} KiB to {after} KiB"
    );
    assert_healthy(&srv);
}

fn aws_cli(srv: &TestServer, args: &[&str]) -> String {
    let out = aws_cli_command(srv)
        .args(args)
        .output()
        .expect("the aws CLI is installed");
    assert!(
        out.status.success(),
        "aws {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn push_secret_is_never_shown() {
    let srv = TestServer::start();
    let secret = "Sup3rS3cretSigningKey";
    let created = aws_cli(
        &srv,
        &[
            "sns",
            "create-topic",
            "--name",
            "signed",
            "--attributes",
            &format!(r#"{{"push-endpoint":"http://127.0.0.1:1/x","push-secret":"{secret}","persistent":"true"}}"#),
        ],
    );
    let arn: serde_json::Value = serde_json::from_str(&created).unwrap();
    let arn = arn["TopicArn"].as_str().unwrap().to_owned();
    let got = aws_cli(&srv, &["sns", "get-topic-attributes", "--topic-arn", &arn]);
    assert!(!got.contains(secret), "get-topic-attributes shows the secret: {got}");
    let attrs: serde_json::Value = serde_json::from_str(&got).unwrap();
    let endpoint: serde_json::Value = serde_json::from_str(attrs["Attributes"]["EndPoint"].as_str().unwrap()).unwrap();
    assert_eq!(endpoint["HasStoredSecret"], "true", "{endpoint}");
    let listed = aws_cli(&srv, &["sns", "list-topics"]);
    assert!(!listed.contains(secret), "list-topics: {listed}");
    let raw = Sns::root(&srv).call("ListTopics", &[]).body_str();
    assert!(!raw.contains(secret), "ListTopics: {raw}");
    for args in [&["topic", "get", "signed"][..], &["topic", "list"][..]] {
        let out = srv.cli(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "herald {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(secret), "herald {args:?}: {text}");
    }
    // SetTopicAttributes stores a new secret the same way.
    Sns::root(&srv)
        .set_topic_attribute(&arn, "push-secret", "An0therS3cret")
        .unwrap();
    let got = aws_cli(&srv, &["sns", "get-topic-attributes", "--topic-arn", &arn]);
    assert!(!got.contains("An0therS3cret"), "{got}");
    assert!(!srv.logs().contains(secret) && !srv.logs().contains("An0therS3cret"));
    assert_healthy(&srv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_endpoints_follow_the_policy() {
    // Refused at creation, by address and by name.
    let srv = TestServer::start_with_args(&["--endpoint-deny", "127.0.0.0/8,::1/128"]);
    let sns = Sns::root(&srv);
    for (ep, extra) in [
        ("amqp://127.0.0.1:5672/", Some(("amqp-exchange", "amq.topic"))),
        ("amqp://localhost:5672/", Some(("amqp-exchange", "amq.topic"))),
        ("nats://127.0.0.1:4222", None),
        ("nats://localhost:4222", None),
        ("mqtt://127.0.0.1:1883", None),
        ("mqtt://localhost:1883", None),
        ("kafka://127.0.0.1:9092", None),
    ] {
        let mut attrs = vec![("push-endpoint", ep)];
        attrs.extend(extra);
        assert_refused(&sns, "broker", &attrs, "endpoint policy");
        assert_healthy(&srv);
    }
    drop(srv);
    // Checked again at every connection: topics made while allowed, then
    // the operator denies loopback.
    let mut srv = TestServer::start();
    let sns = Sns::root(&srv);
    for (name, ep, extra) in [
        (
            "to-amqp",
            "amqp://localhost:5672/",
            Some(("amqp-exchange", "amq.topic")),
        ),
        ("to-nats", "nats://localhost:4222", None),
        ("to-mqtt", "mqtt://localhost:1883", None),
    ] {
        let mut attrs = vec![("push-endpoint", ep), ("persistent", "true")];
        attrs.extend(extra);
        let arn = sns.create_topic(name, &attrs);
        bucket_to(&srv, name, &arn).await;
    }
    srv.set_args(&["--endpoint-deny", "127.0.0.0/8,::1/128"]);
    srv.restart();
    for name in ["to-amqp", "to-nats", "to-mqtt"] {
        put(&srv, name, "k").await;
    }
    let refused = |logs: &str, scheme: &str| {
        logs.lines()
            .any(|l| l.contains(&format!("{scheme}://localhost")) && l.contains("refused by the endpoint policy"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !["amqp", "nats", "mqtt"].iter().all(|s| refused(&srv.logs(), s)) {
        assert!(Instant::now() < deadline, "not every broker refused:\n{}", srv.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_healthy(&srv);
}

/// A token in a webhook URL's query string never reaches the server's log
/// (push failures name the endpoint without it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_webhook_query_is_kept_out_of_the_log() {
    // Debug: push failures are logged there, with the endpoint.
    let srv = TestServer::start_with_args(&["--log-level", "herald_notify=debug,info"]);
    let sns = Sns::root(&srv);
    let closed = Receiver::reserved().port();
    let url = format!("http://127.0.0.1:{closed}/hook?token=TOPSECRETTOKEN");
    let arn = sns.create_topic(
        "tokened",
        &[
            ("push-endpoint", &url),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    bucket_to(&srv, "tokened", &arn).await;
    put(&srv, "tokened", "k").await;
    wait_log(&srv, &format!("127.0.0.1:{closed}/hook?…"));
    assert!(!srv.logs().contains("TOPSECRETTOKEN"), "{}", srv.logs());
    assert_healthy(&srv);
}

/// An HTTPS webhook on loopback that requires a client certificate signed
/// by `ca.pem` (Python's ssl module); each POST it accepts appends the
/// client certificate's CN to `accepted.log`. Killed on drop.
struct MtlsHook {
    child: std::process::Child,
    port: u16,
}

impl Drop for MtlsHook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mtls_hook(dir: &Path) -> MtlsHook {
    let script = r#"
import http.server, ssl, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('content-length', 0)))
        cn = dict(x[0] for x in self.connection.getpeercert()['subject'])['commonName']
        with open(d + '/accepted.log', 'a') as f:
            f.write(cn + '\n')
        self.send_response(200); self.send_header('content-length', '0'); self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + '/server.pem', d + '/server.key')
ctx.load_verify_locations(d + '/ca.pem')
ctx.verify_mode = ssl.CERT_REQUIRED
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, dir.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 is needed for the mutual-TLS webhook");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    MtlsHook {
        port: line.trim().parse().expect("the webhook's port"),
        child,
    }
}

/// Mutual TLS: a topic presents its owner's client certificate
/// (`client-cert-location`/`client-key-location`, read only from
/// `<ca-dir>/clients/<owner>/`) to a webhook that requires one; without
/// it the webhook refuses the handshake; another tenant cannot name the
/// owner's files, nor anything outside its own directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_presents_only_the_owners_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    make_pki(&pki, &["root-client"]);
    let ca_dir = dir.path().join("ca");
    std::fs::create_dir_all(ca_dir.join("clients/root")).unwrap();
    std::fs::create_dir_all(ca_dir.join("clients/bob")).unwrap();
    std::fs::copy(pki.join("ca.pem"), ca_dir.join("ca.pem")).unwrap();
    std::fs::copy(pki.join("root-client.pem"), ca_dir.join("clients/root/client.pem")).unwrap();
    std::fs::copy(pki.join("root-client.key"), ca_dir.join("clients/root/client.key")).unwrap();
    let hook = mtls_hook(&pki);
    let url = format!("https://127.0.0.1:{}/hook", hook.port);

    let srv = TestServer::start_with_args(&["--ca-dir", ca_dir.to_str().unwrap()]);
    let sns = Sns::root(&srv);
    let with_cert = sns.create_topic(
        "mtls",
        &[
            ("push-endpoint", &url),
            ("ca-location", "ca.pem"),
            ("client-cert-location", "client.pem"),
            ("client-key-location", "client.key"),
        ],
    );
    let without = sns.create_topic("no-cert", &[("push-endpoint", &url), ("ca-location", "ca.pem")]);
    bucket_to(&srv, "mtls", &with_cert).await;
    bucket_to(&srv, "nocert", &without).await;
    put(&srv, "mtls", "one").await;
    put(&srv, "nocert", "two").await;
    let accepted = std::fs::read_to_string(pki.join("accepted.log")).unwrap_or_default();
    // The test event and the PUT's event, both with root's certificate.
    assert_eq!(
        accepted.lines().collect::<Vec<_>>(),
        ["root-client", "root-client"],
        "{accepted}"
    );
    let text = metrics_text(&srv);
    assert!(
        metric(&text, "pubsub_push_fail", None).unwrap_or(0.0) >= 1.0,
        "the push without a client certificate must fail: {text}"
    );

    // Half an identity, a plain-HTTP endpoint, files outside the owner's
    // directory: refused at CreateTopic.
    assert_refused(
        &sns,
        "half",
        &[("push-endpoint", &url), ("client-cert-location", "client.pem")],
        "go together",
    );
    assert_refused(
        &sns,
        "plain",
        &[
            ("push-endpoint", "http://127.0.0.1:1/"),
            ("client-cert-location", "client.pem"),
            ("client-key-location", "client.key"),
        ],
        "needs a TLS connection",
    );
    // The identity directories are no CA: ca-location cannot probe them.
    assert_refused(
        &sns,
        "probe",
        &[("push-endpoint", &url), ("ca-location", "clients/root/client.pem")],
        "not a readable certificate file in the server's CA directory",
    );
    srv.create_user("bob", "BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnop");
    let bob = Sns::new(&srv, "BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnop");
    let roots_key = ca_dir.join("clients/root/client.key");
    for (cert, key) in [
        ("client.pem", "client.key"),
        ("../root/client.pem", "../root/client.key"),
        ("../../ca.pem", roots_key.to_str().unwrap()),
    ] {
        assert_refused(
            &bob,
            "steal",
            &[
                ("push-endpoint", &url),
                ("ca-location", "ca.pem"),
                ("client-cert-location", cert),
                ("client-key-location", key),
            ],
            "not a readable file in your directory",
        );
    }
    assert_healthy(&srv);
}
