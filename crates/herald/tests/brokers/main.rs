//! Broker endpoints end to end, against real brokers: RabbitMQ (AMQP
//! 0.9.1), NATS with JetStream, Mosquitto (MQTT) on their standard
//! loopback ports, and a `tansu` Kafka broker each test starts itself.
//!
//! Each test consumes with an ordinary client of the broker, checks the
//! event JSON, then takes the broker away (a TCP proxy that drops every
//! connection for the loopback brokers, a killed `tansu` for Kafka), writes
//! objects to a persistent topic, brings the broker back and checks that
//! every event arrives, each object's events in order.
//!
//! A broker that is not answering fails the test with its name: these
//! tests are never skipped (`.ci/run` starts the brokers).

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use herald_testkit::*;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

const RABBITMQ: u16 = 5672;
const NATS: u16 = 4222;
const MOSQUITTO: u16 = 1883;

fn suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// Fails with the broker's name when nothing answers on its port.
fn require(name: &str, port: u16) {
    if std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_err() {
        panic!("{name} is not answering on 127.0.0.1:{port}; start it (see .ci/run) and run the tests again");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A TCP proxy to a broker that can be switched off: `down` drops every
/// proxied connection and closes new ones at once, as a dead broker would.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection close
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns2.lock().unwrap().push(task);
            }
        });
        Proxy {
            port,
            up,
            conns,
            accept,
        }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
        self.accept.abort();
    }
}

/// Event records a consumer received (test events left out), with the
/// message key where the protocol has one.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<Keyed>>>);

/// A record and the message key (or routing key / subject) it came with.
type Keyed = (Option<String>, Value);

impl Inbox {
    fn add(&self, key: Option<String>, body: &[u8]) {
        let v: Value = serde_json::from_slice(body)
            .unwrap_or_else(|e| panic!("broker message is not JSON ({e}): {}", String::from_utf8_lossy(body)));
        if let Some(records) = v["Records"].as_array() {
            let mut inbox = self.0.lock().unwrap();
            for r in records {
                inbox.push((key.clone(), r.clone()));
            }
        }
    }

    fn records(&self) -> Vec<Value> {
        self.0.lock().unwrap().iter().map(|(_, r)| r.clone()).collect()
    }

    fn keyed(&self) -> Vec<Keyed> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str, n: usize, secs: u64) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let got = self.records();
            if got.len() >= n {
                return got;
            }
            if tokio::time::Instant::now() > deadline {
                let keys: Vec<String> = got.iter().map(object_key).collect();
                panic!(
                    "{what}: expected {n} records within {secs}s, got {}: {keys:?}",
                    got.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn object_key(r: &Value) -> String {
    r["s3"]["object"]["key"].as_str().unwrap_or("").to_owned()
}

fn sequencer(r: &Value) -> u64 {
    u64::from_str_radix(r["s3"]["object"]["sequencer"].as_str().unwrap_or("0"), 16).unwrap()
}

/// A persistent topic on `endpoint` and a bucket notifying it of creates
/// and deletes.
async fn setup(srv: &TestServer, topic: &str, endpoint: &str, extra: &[(&str, &str)]) -> (aws_sdk_s3::Client, String) {
    let mut attrs = vec![
        ("push-endpoint", endpoint),
        ("persistent", "true"),
        ("retry_sleep_duration", "1"),
        ("OpaqueData", "broker-test"),
        ("push-timeout", "3"),
    ];
    attrs.extend_from_slice(extra);
    let arn = Sns::root(srv).create_topic(topic, &attrs);
    let s3 = srv.s3();
    let bucket = format!("bk-{}", suffix());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let xml = notification_xml(&[topic_config_xml(
        "to-broker",
        &arn,
        &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
        None,
    )]);
    must_put_notification_xml(srv, &bucket, &xml);
    (s3, bucket)
}

/// Writes two objects and deletes one; checks the three records the
/// consumer got field by field.
async fn first_events(s3: &aws_sdk_s3::Client, bucket: &str, inbox: &Inbox) {
    let etag = put(s3, bucket, "a.txt", b"alpha").await;
    assert!(!etag.is_empty(), "PutObject answered no ETag");
    put(s3, bucket, "dir/b c.txt", b"bravo!").await;
    s3.delete_object().bucket(bucket).key("a.txt").send().await.unwrap();
    let got = inbox.wait_for("first events", 3, 30).await;
    assert_eq!(got.len(), 3, "exactly three records: {got:?}");
    let find = |name: &str, key: &str| {
        got.iter()
            .find(|r| r["eventName"] == name && object_key(r) == key)
            .unwrap_or_else(|| panic!("no {name} for {key} in {got:?}"))
            .clone()
    };
    let a = find("ObjectCreated:Put", "a.txt");
    assert_eq!(a["eventSource"], "ceph:s3");
    assert_eq!(a["eventVersion"], "2.2");
    assert_eq!(a["s3"]["bucket"]["name"], bucket);
    assert_eq!(a["s3"]["configurationId"], "to-broker");
    assert_eq!(a["s3"]["object"]["eTag"], etag.as_str());
    assert_eq!(a["s3"]["object"]["size"], 5);
    assert_eq!(a["opaqueData"], "broker-test");
    let b = find("ObjectCreated:Put", "dir/b+c.txt");
    assert_eq!(b["s3"]["object"]["size"], 6);
    let d = find("ObjectRemoved:Delete", "a.txt");
    assert!(sequencer(&d) > sequencer(&a), "the delete comes after the put: {a} {d}");
}

/// Objects written while the broker is away: 20 distinct keys plus three
/// overwrites of one key (to check order).
async fn write_backlog(s3: &aws_sdk_s3::Client, bucket: &str) -> usize {
    for i in 0..20 {
        put(s3, bucket, &format!("outage/k{i:02}"), &vec![b'x'; i + 1]).await;
    }
    for i in 0..3 {
        put(s3, bucket, "outage/same", &vec![b'y'; i + 1]).await;
    }
    23
}

/// Checks the backlog arrived whole, each key's events in order.
fn check_backlog(records: &[Value]) {
    let outage: Vec<&Value> = records
        .iter()
        .filter(|r| object_key(r).starts_with("outage/"))
        .collect();
    let keys: HashSet<String> = outage.iter().map(|r| object_key(r)).collect();
    for i in 0..20 {
        assert!(
            keys.contains(&format!("outage/k{i:02}")),
            "outage/k{i:02} missing after the broker came back"
        );
    }
    let same: Vec<u64> = outage
        .iter()
        .filter(|r| object_key(r) == "outage/same")
        .map(|r| sequencer(r))
        .collect();
    assert!(same.len() >= 3, "three events for outage/same, got {same:?}");
    let sizes: Vec<i64> = outage
        .iter()
        .filter(|r| object_key(r) == "outage/same")
        .map(|r| r["s3"]["object"]["size"].as_i64().unwrap())
        .collect();
    assert_eq!(
        &sizes[..3],
        &[1, 2, 3],
        "one key's events arrive in write order: {sizes:?}"
    );
    assert!(same.windows(2).all(|w| w[0] <= w[1]), "sequencers ascend: {same:?}");
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
    out.e_tag().unwrap_or_default().trim_matches('"').to_owned()
}

/// Waits until the topic's `pubsub_push_fail` counter reaches `at_least`.
async fn wait_push_failures(srv: &TestServer, topic: &str, at_least: f64, why: &str) {
    let mut failed = 0.0;
    for _ in 0..100 {
        failed = metric(&metrics_text(srv), "pubsub_push_fail", Some(topic)).unwrap_or(0.0);
        if failed >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{why}: pubsub_push_fail for {topic} is {failed}, want at least {at_least}");
}

/// Waits until the topic's delivery log holds at least one pending event
/// (the broker is away, so they must be waiting there).
async fn wait_pending(srv: &TestServer, topic: &str) {
    for _ in 0..100 {
        if topic_stats_entries(srv, topic, "root") > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no event pending for {topic} while its broker is away");
}

mod amqp;
mod kafka;
mod mqtt;
mod nats;

/// (the `x-herald-replay` header's value, the body) of one broker message.
type Marked = (Option<String>, Vec<u8>);

/// What a replay test saw on a broker: four live messages (three objects
/// and the configuration's test event) without the replay header, and the
/// same four bodies again with `x-herald-replay: true`.
fn check_replayed(all: Vec<Marked>) {
    assert_eq!(all.len(), 8, "four live, four replayed");
    let (live, replayed): (Vec<_>, Vec<_>) = all.into_iter().partition(|(m, _)| m.is_none());
    assert_eq!(live.len(), 4);
    assert!(
        replayed.iter().all(|(m, _)| m.as_deref() == Some("true")),
        "{replayed:?}"
    );
    let mut a: Vec<Vec<u8>> = live.into_iter().map(|(_, b)| b).collect();
    let mut b: Vec<Vec<u8>> = replayed.into_iter().map(|(_, b)| b).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same bodies");
}
