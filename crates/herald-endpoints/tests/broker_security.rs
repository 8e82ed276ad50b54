//! Broker credentials and TLS, against brokers of the test's own: a NATS
//! server that demands a token (and, in a second run, a user and
//! password); NATS and Mosquitto behind TLS with a certificate made here,
//! trusted through `ca-location`, and refused without it unless
//! `verify-ssl=false`. (Over the topic API URIs with credentials need
//! HTTPS, so this is checked on the endpoints themselves.)

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use herald_endpoints::{EndpointOptions, EndpointPolicy, build};

struct Server(Child, u16);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// A NATS server on a free port with these auth flags.
    fn start(auth: &[&str]) -> Server {
        let port = free_port();
        let mut cmd = Command::new("nats-server");
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string()]).args(auth);
        Server::spawn(&mut cmd, port)
    }

    /// Mosquitto on a free port, serving TLS with `cert`/`key`, with the
    /// config lines `extra` (its config file goes in `dir`).
    fn mosquitto_tls(dir: &std::path::Path, cert: &str, key: &str, extra: &str) -> Server {
        let port = free_port();
        let conf = dir.join(format!("mosquitto-{port}.conf"));
        std::fs::write(
            &conf,
            // `user root`: started as root, Mosquitto would otherwise switch
            // to its own user before reading the (root-only) key.
            format!(
                "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\ncertfile {cert}\nkeyfile {key}\n{extra}"
            ),
        )
        .unwrap();
        Server::spawn(Command::new("mosquitto").arg("-c").arg(&conf), port)
    }

    /// Starts `cmd` and waits until it listens on `port`.
    fn spawn(cmd: &mut Command, port: u16) -> Server {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} ({e}); scripts/brokers.sh installs the brokers"));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server(child, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("{program} did not listen on {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn options() -> EndpointOptions {
    options_with(&[])
}

fn options_with(extra: &[(&str, &str)]) -> EndpointOptions {
    let mut attrs: BTreeMap<String, String> = [("push-timeout".to_owned(), "2".to_owned())].into();
    for (k, v) in extra {
        attrs.insert(k.to_string(), v.to_string());
    }
    EndpointOptions::from_attributes(&attrs, "arn:aws:sns:us-east-1:u:auth-events").unwrap()
}

/// Options whose `ca-location` is read from `dir`, the operator's CA
/// directory (without one, ca-location is refused).
fn with_ca_dir(opts: EndpointOptions, dir: &std::path::Path) -> EndpointOptions {
    opts.with_policy(std::sync::Arc::new(EndpointPolicy::new(
        vec![],
        vec![],
        vec![],
        Some(dir.to_owned()),
    )))
}

async fn check(server: &Server, consumer: async_nats::ConnectOptions, good: &str, bad: &str) {
    let client = consumer
        .connect(format!("127.0.0.1:{}", server.1))
        .await
        .expect("consumer connects");
    let mut sub = client.subscribe("auth-events").await.unwrap();
    client.flush().await.unwrap();

    let wrong = build(&format!("nats://{bad}@127.0.0.1:{}", server.1), options()).unwrap();
    let err = wrong.push(&Bytes::from_static(b"{\"n\":1}")).await.unwrap_err();
    assert!(err.is_unreachable(), "a refused login is a connection failure: {err}");

    let right = build(&format!("nats://{good}@127.0.0.1:{}", server.1), options()).unwrap();
    right
        .push(&Bytes::from_static(b"{\"n\":2}"))
        .await
        .expect("push with the right credentials");
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"{\"n\":2}");
    assert!(
        !right.describe().contains(good.split(':').next_back().unwrap()),
        "{}",
        right.describe()
    );
}

#[tokio::test]
async fn nats_token_and_user_password_come_from_the_uri() {
    let token = Server::start(&["--auth", "s3cr3t-token"]);
    check(
        &token,
        async_nats::ConnectOptions::with_token("s3cr3t-token".into()),
        "s3cr3t-token",
        "wrong",
    )
    .await;
    let userpass = Server::start(&["--user", "app", "--pass", "pw-42"]);
    check(
        &userpass,
        async_nats::ConnectOptions::with_user_and_password("app".into(), "pw-42".into()),
        "app:pw-42",
        "app:nope",
    )
    .await;
}

/// A test CA and a server certificate for 127.0.0.1 it signed (the openssl
/// CLI); returns the CA, certificate and key paths.
fn make_cert(dir: &std::path::Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).display().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("the openssl CLI makes the test certificates (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let (ca, ca_key, cert, key, csr, ext) = (
        path("ca.crt"),
        path("ca.key"),
        path("tls.crt"),
        path("tls.key"),
        path("tls.csr"),
        path("ext.cnf"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=herald-test-ca",
        "-keyout",
        &ca_key,
        "-out",
        &ca,
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &key,
        "-out",
        &csr,
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        &cert,
        "-extfile",
        &ext,
    ]);
    (ca, cert, key)
}

#[tokio::test]
async fn nats_over_tls_trusts_ca_location() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_cert(dir.path());
    let server = Server::start(&["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let uri = format!("nats://127.0.0.1:{}", server.1);
    // Without the CA the server's certificate is not trusted.
    let untrusted = build(&uri, options_with(&[("use-ssl", "true")])).unwrap();
    assert!(
        untrusted.push(&Bytes::from_static(b"{}")).await.is_err(),
        "an unknown CA must be refused"
    );
    // Without a CA directory on the server, ca-location is refused.
    assert!(build(&uri, options_with(&[("use-ssl", "true"), ("ca-location", &ca)])).is_err());
    // With it, events flow (checked by a subscriber over TLS, too). The
    // broker is named: Herald dials the address it resolved and checked,
    // and verifies the certificate against the name.
    let named = format!("nats://localhost:{}", server.1);
    let trusted = build(
        &named,
        with_ca_dir(options_with(&[("use-ssl", "true"), ("ca-location", &ca)]), dir.path()),
    )
    .unwrap();
    let client = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(ca.clone().into())
        .connect(format!("127.0.0.1:{}", server.1))
        .await
        .expect("subscriber over TLS");
    let mut sub = client.subscribe("auth-events").await.unwrap();
    client.flush().await.unwrap();
    trusted
        .push(&Bytes::from_static(b"{\"tls\":true}"))
        .await
        .expect("push over TLS");
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"{\"tls\":true}");
}

#[tokio::test]
async fn mqtts_trusts_ca_location_or_verify_ssl_false() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_cert(dir.path());
    let server = Server::mosquitto_tls(dir.path(), &cert, &key, "");
    let port = server.1;
    let uri = format!("mqtts://127.0.0.1:{port}");
    let untrusted = build(&uri, options()).unwrap();
    assert!(
        untrusted.push(&Bytes::from_static(b"{}")).await.is_err(),
        "an unknown CA must be refused"
    );
    let named = format!("mqtts://localhost:{port}");
    let trusted = build(&named, with_ca_dir(options_with(&[("ca-location", &ca)]), dir.path())).unwrap();
    trusted
        .push(&Bytes::from_static(b"{}"))
        .await
        .expect("QoS 1 publish over TLS, CA from ca-location");
    let unverified = build(&uri, options_with(&[("verify-ssl", "false")])).unwrap();
    unverified
        .push(&Bytes::from_static(b"{}"))
        .await
        .expect("QoS 1 publish over TLS, verify-ssl=false");
}

/// A client certificate for `CN=<name>` signed by `make_cert`'s CA, written
/// where the topic owner `u`'s identity files live:
/// `<dir>/clients/u/client.pem` and `client.key`.
fn make_client_cert(dir: &std::path::Path) {
    let own = dir.join("clients/u");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let p = |d: &std::path::Path, name: &str| d.join(name).display().to_string();
    for args in [
        vec![
            "req".to_owned(),
            "-newkey".into(),
            "rsa:2048".into(),
            "-nodes".into(),
            "-subj".into(),
            "/CN=u".into(),
            "-keyout".into(),
            p(&own, "client.key"),
            "-out".into(),
            p(dir, "client.csr"),
        ],
        vec![
            "x509".to_owned(),
            "-req".into(),
            "-in".into(),
            p(dir, "client.csr"),
            "-CA".into(),
            p(dir, "ca.crt"),
            "-CAkey".into(),
            p(dir, "ca.key"),
            "-CAcreateserial".into(),
            "-days".into(),
            "2".into(),
            "-extfile".into(),
            p(dir, "client.ext"),
            "-out".into(),
            p(&own, "client.pem"),
        ],
    ] {
        let out = Command::new("openssl").args(&args).output().expect("openssl");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Mutual TLS against real brokers that require a client certificate
/// (NATS with `--tlsverify`, Mosquitto with `require_certificate`): the
/// topic owner's `client-cert-location`/`client-key-location` log in, a
/// connection without them is refused by the broker.
#[tokio::test]
async fn brokers_requiring_a_client_certificate_get_the_owners() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_cert(dir.path());
    make_client_cert(dir.path());
    let identity = [
        ("client-cert-location", "client.pem"),
        ("client-key-location", "client.key"),
    ];

    let nats = Server::start(&[
        "--tls",
        "--tlscert",
        &cert,
        "--tlskey",
        &key,
        "--tlsverify",
        "--tlscacert",
        &ca,
    ]);
    let uri = format!("nats://localhost:{}", nats.1);
    let bare = [("use-ssl", "true"), ("ca-location", ca.as_str())];
    let without = build(&uri, with_ca_dir(options_with(&bare), dir.path())).unwrap();
    assert!(
        without.push(&Bytes::from_static(b"{}")).await.is_err(),
        "NATS must refuse a connection without a client certificate"
    );
    let mut attrs = bare.to_vec();
    attrs.extend(identity);
    let with = build(&uri, with_ca_dir(options_with(&attrs), dir.path())).unwrap();
    with.push(&Bytes::from_static(b"{\"mtls\":true}"))
        .await
        .expect("push with the owner's client certificate");

    let mosquitto = Server::mosquitto_tls(
        dir.path(),
        &cert,
        &key,
        &format!("cafile {ca}\nrequire_certificate true\n"),
    );
    let uri = format!("mqtts://localhost:{}", mosquitto.1);
    let bare = [("ca-location", ca.as_str())];
    let without = build(&uri, with_ca_dir(options_with(&bare), dir.path())).unwrap();
    assert!(
        without.push(&Bytes::from_static(b"{}")).await.is_err(),
        "Mosquitto must refuse a connection without a client certificate"
    );
    let mut attrs = bare.to_vec();
    attrs.extend(identity);
    let with = build(&uri, with_ca_dir(options_with(&attrs), dir.path())).unwrap();
    with.push(&Bytes::from_static(b"{\"mtls\":true}"))
        .await
        .expect("publish with the owner's client certificate");
}

/// `user-name`/`password` are for AMQP and Kafka, a password needs a
/// user, and a user-name never borrows the URI's password.
#[tokio::test]
async fn broker_credential_attributes_are_checked() {
    let policy = std::sync::Arc::new(EndpointPolicy::default());
    let attrs = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let arn = "arn:aws:sns:us-east-1:u:auth-events";
    let only_password = attrs(&[("password", "pw")]);
    let err = herald_endpoints::check("kafka://127.0.0.1:1", &only_password, arn, policy.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a user-name"), "{err}");
    let on_nats = attrs(&[("user-name", "u"), ("password", "pw")]);
    let err = herald_endpoints::check("nats://127.0.0.1:1", &on_nats, arn, policy.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("amqp and kafka"), "{err}");
}
