//! TLS on the listener (driven by the real `aws` CLI with a CA bundle) and
//! JSON logs.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald_testkit::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY, TlsServer, aws_over_tls as aws, free_port, herald_bin};

#[test]
fn https_listener_serves_the_aws_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = TlsServer::start(tmp.path(), &[]);
    let (port, cert) = (srv.port, srv.cert.clone());

    let mb = aws(port, &cert, &["s3", "mb", "s3://secure"]);
    assert!(
        mb.status.success(),
        "s3 mb over https: {}",
        String::from_utf8_lossy(&mb.stderr)
    );
    let file = tmp.path().join("hello.txt");
    std::fs::write(&file, b"over tls").unwrap();
    let cp = aws(
        port,
        &cert,
        &["s3", "cp", file.to_str().unwrap(), "s3://secure/hello.txt"],
    );
    assert!(
        cp.status.success(),
        "s3 cp over https: {}",
        String::from_utf8_lossy(&cp.stderr)
    );
    let get = aws(port, &cert, &["s3", "cp", "s3://secure/hello.txt", "-"]);
    assert!(
        get.status.success(),
        "download over https: {}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(get.stdout, b"over tls");

    // Broker credentials travel only over TLS and are never shown back.
    let created = aws(
        port,
        &cert,
        &[
            "sns",
            "create-topic",
            "--name",
            "secret-broker",
            "--attributes",
            r#"{"push-endpoint":"amqp://guest:s3cr3t@127.0.0.1:5672/prod","amqp-exchange":"ex","persistent":"true"}"#,
        ],
    );
    assert!(
        created.status.success(),
        "create-topic over https: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let arn: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let arn = arn["TopicArn"].as_str().unwrap().to_owned();
    let got = aws(port, &cert, &["sns", "get-topic-attributes", "--topic-arn", &arn]);
    assert!(
        got.status.success(),
        "get-topic-attributes: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    let text = String::from_utf8_lossy(&got.stdout);
    assert!(!text.contains("s3cr3t"), "the password must never be shown: {text}");
    let attrs: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    let endpoint: serde_json::Value = serde_json::from_str(attrs["Attributes"]["EndPoint"].as_str().unwrap()).unwrap();
    assert_eq!(endpoint["EndpointAddress"], "amqp://127.0.0.1:5672/prod", "{endpoint}");
    assert_eq!(endpoint["HasStoredSecret"], "true", "{endpoint}");

    // Plain HTTP on the TLS port is not served.
    let plain = herald_testkit::raw_request(format!("127.0.0.1:{port}").parse().unwrap(), "GET", "/health", &[], b"");
    assert!(
        plain.map(|r| r.status != 200).unwrap_or(true),
        "plain HTTP must not be answered on a TLS listener"
    );
}

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = tmp.path().join("log.txt");
    let mut child = Command::new(herald_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--log-format")
        .arg("json")
        .env("HERALD_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
        .env("HERALD_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn herald");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("herald listening") {
            break;
        }
        assert!(Instant::now() < deadline, "no 'herald listening' log line: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "SIGTERM must give a clean exit, got {status}");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut saw_listening = false;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some() && v.get("timestamp").is_some(), "{line}");
        if v["fields"]["message"] == "herald listening" {
            saw_listening = true;
            assert_eq!(v["fields"]["address"], format!("http://127.0.0.1:{port}"));
        }
        assert!(!line.contains(ROOT_SECRET_KEY), "a secret was logged: {line}");
    }
    assert!(saw_listening, "{text}");
}

/// A client that starts a TLS handshake and never finishes it is
/// disconnected after `--tls-handshake-timeout-secs`, so such clients
/// cannot hold connection slots.
#[test]
fn an_unfinished_tls_handshake_is_cut_off() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let srv = TlsServer::start(tmp.path(), &["--tls-handshake-timeout-secs", "2"]);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
    // The first bytes of a TLS record header, then silence.
    stream.write_all(&[0x16, 0x03, 0x01]).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("the server answered {n} bytes to half a record header"),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("still connected after {:?}: {e}", started.elapsed()),
    }
}

/// A broker password travels only over TLS: over plain HTTP it is refused.
#[test]
fn a_broker_password_over_plain_http_is_refused() {
    let srv = herald_testkit::TestServer::start();
    let sns = herald_testkit::Sns::root(&srv);
    let err = sns
        .try_create_topic(
            "plain-creds",
            &[
                ("push-endpoint", "amqp://127.0.0.1:5672"),
                ("amqp-exchange", "ex"),
                ("user-name", "guest"),
                ("password", "guest"),
            ],
        )
        .unwrap_err();
    assert!(format!("{err:?}").contains("HTTPS"), "{err:?}");
}
