//! Broker credentials from the push-endpoint URI reach the broker: a NATS
//! server of the test's own demands a token (and, in a second run, a user
//! and password); the endpoint publishes with the right ones and fails
//! with the wrong ones. (Over the topic API such URIs need HTTPS, so this
//! is checked on the endpoint itself.)

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use herald_endpoints::{EndpointOptions, build};

struct Server(Child, u16);

impl Server {
    fn start(auth: &[&str]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(auth)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nats-server (scripts/brokers.sh installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server(child, port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("nats-server did not listen on {port}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn options() -> EndpointOptions {
    let attrs: BTreeMap<String, String> = [("push-timeout".to_owned(), "2".to_owned())].into();
    EndpointOptions::from_attributes(&attrs, "arn:aws:sns:us-east-1:u:auth-events").unwrap()
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
