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

// ---------------------------------------------------------------- AMQP

async fn amqp_consumer(exchange: &str, routing_key: &str, inbox: Inbox) -> lapin::Connection {
    use lapin::options::*;
    use lapin::types::FieldTable;
    let conn = lapin::Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{RABBITMQ}/%2f"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("connect to RabbitMQ");
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    if routing_key.is_empty() {
        return conn; // an exchange nothing is bound to
    }
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        exchange.into(),
        routing_key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().clone(),
            "test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            inbox.add(Some(d.routing_key.to_string()), &d.data);
        }
    });
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_events_reach_rabbitmq_and_survive_an_outage() {
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-{s}"), format!("herald-test-{s}"));
    let inbox = Inbox::default();
    let _consumer = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    let proxy = Proxy::start(RABBITMQ).await;
    let endpoint = format!("amqp://127.0.0.1:{}", proxy.port);
    let (s3, bucket) = setup(&srv, &topic, &endpoint, &[("amqp-exchange", &exchange)]).await;
    first_events(&s3, &bucket, &inbox).await;
    // The routing key is the topic name.
    assert!(inbox.keyed().iter().all(|(k, _)| k.as_deref() == Some(topic.as_str())));

    proxy.down();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &topic).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(inbox.records().len(), 3, "nothing delivered while RabbitMQ is away");
    proxy.up();
    let got = inbox.wait_for("backlog after RabbitMQ came back", 3 + n, 60).await;
    check_backlog(&got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_routable_fails_until_a_queue_is_bound() {
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-r-{s}"), format!("herald-test-r-{s}"));
    let unbound = amqp_consumer(&exchange, "", Inbox::default()).await;
    let (s3, bucket) = setup(
        &srv,
        &topic,
        &format!("amqp://127.0.0.1:{RABBITMQ}"),
        &[("amqp-exchange", &exchange), ("amqp-ack-level", "routable")],
    )
    .await;
    put(&s3, &bucket, "unroutable", b"1").await;
    // Unroutable: the push fails and the event stays pending.
    wait_push_failures(&srv, &topic, 1.0, "an unroutable message must count as a failed push").await;
    assert!(
        topic_stats_entries(&srv, &topic, "root") >= 1,
        "the event waits in the log"
    );
    // Once a queue is bound, the retried event is delivered.
    let inbox = Inbox::default();
    let _bound = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    let got = inbox.wait_for("the retried event", 1, 30).await;
    assert_eq!(object_key(&got[0]), "unroutable");
    drop(unbound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_topic_without_exchange_is_refused() {
    let srv = TestServer::start();
    let err = Sns::root(&srv)
        .try_create_topic("no-exchange", &[("push-endpoint", "amqp://127.0.0.1")])
        .unwrap_err();
    assert_eq!(err.code, "InvalidArgument", "{}", err.body);
    assert!(err.body.contains("amqp-exchange"), "{}", err.body);
    let err = Sns::root(&srv)
        .try_create_topic(
            "bad-ack",
            &[("push-endpoint", "kafka://127.0.0.1"), ("kafka-ack-level", "routable")],
        )
        .unwrap_err();
    assert_eq!(err.code, "InvalidArgument", "{}", err.body);
}

// ---------------------------------------------------------------- NATS

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_events_are_stored_and_survive_an_outage() {
    require("NATS", NATS);
    let srv = TestServer::start();
    let s = suffix();
    let subject = format!("nats-{s}");
    let client = async_nats::connect(format!("127.0.0.1:{NATS}"))
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client.clone());
    let stream_name = format!("HERALD_TEST_{s}");
    let mut stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            storage: async_nats::jetstream::stream::StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create JetStream stream");
    let inbox = Inbox::default();
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    let inbox2 = inbox.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            inbox2.add(Some(m.subject.to_string()), &m.payload);
        }
    });
    let proxy = Proxy::start(NATS).await;
    let (s3, bucket) = setup(&srv, &subject, &format!("nats://127.0.0.1:{}", proxy.port), &[]).await;
    first_events(&s3, &bucket, &inbox).await;

    proxy.down();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &subject).await;
    proxy.up();
    let got = inbox.wait_for("backlog after NATS came back", 3 + n, 60).await;
    check_backlog(&got);
    // Every event is in the stream: JetStream acknowledged each publish.
    let stored = stream.info().await.unwrap().state.messages;
    assert!(
        stored >= (3 + n) as u64,
        "the stream holds {stored} messages, want {}",
        3 + n
    );
    js.delete_stream(&stream_name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_core_subject_gets_events() {
    require("NATS", NATS);
    let srv = TestServer::start();
    let subject = format!("nats-core-{}", suffix());
    let client = async_nats::connect(format!("127.0.0.1:{NATS}"))
        .await
        .expect("connect to NATS");
    let mut sub = client.subscribe(subject.clone()).await.unwrap();
    client.flush().await.unwrap();
    let inbox = Inbox::default();
    let inbox2 = inbox.clone();
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            inbox2.add(None, &m.payload);
        }
    });
    let (s3, bucket) = setup(&srv, &subject, &format!("nats://127.0.0.1:{NATS}"), &[]).await;
    first_events(&s3, &bucket, &inbox).await;
}

// ---------------------------------------------------------------- MQTT

async fn mqtt_consumer(topic: &str, inbox: Inbox) -> rumqttc::AsyncClient {
    let mut opts = rumqttc::MqttOptions::new(format!("test-{}", suffix()), "127.0.0.1", MOSQUITTO);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 100);
    client.subscribe(topic, rumqttc::QoS::AtLeastOnce).await.unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let mut ready_tx = Some(ready_tx);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    if let Some(tx) = ready_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    inbox.add(Some(p.topic.clone()), &p.payload)
                }
                Ok(_) => {}
                Err(e) => panic!("MQTT consumer lost Mosquitto: {e}"),
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), ready_rx)
        .await
        .expect("Mosquitto did not acknowledge the subscription")
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_events_reach_mosquitto_and_survive_an_outage() {
    require("Mosquitto", MOSQUITTO);
    let srv = TestServer::start();
    let topic = format!("mqtt-{}", suffix());
    let inbox = Inbox::default();
    let _consumer = mqtt_consumer(&topic, inbox.clone()).await;
    let proxy = Proxy::start(MOSQUITTO).await;
    let (s3, bucket) = setup(&srv, &topic, &format!("mqtt://127.0.0.1:{}", proxy.port), &[]).await;
    first_events(&s3, &bucket, &inbox).await;
    assert!(inbox.keyed().iter().all(|(k, _)| k.as_deref() == Some(topic.as_str())));

    proxy.down();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &topic).await;
    proxy.up();
    let got = inbox.wait_for("backlog after Mosquitto came back", 3 + n, 60).await;
    check_backlog(&got);
}

// ---------------------------------------------------------------- Kafka

/// A `tansu` Kafka broker of the test's own, in memory, on a fixed port so
/// it can be killed and started again.
struct Tansu {
    port: u16,
    advertised: String,
    child: Option<Child>,
}

impl Tansu {
    fn start() -> Tansu {
        Tansu::start_advertising("127.0.0.1")
    }

    /// A broker on every loopback address that names itself `host` in
    /// its metadata.
    fn start_advertising(host: &str) -> Tansu {
        let mut t = Tansu {
            port: free_port(),
            advertised: host.to_owned(),
            child: None,
        };
        t.spawn();
        t
    }

    fn spawn(&mut self) {
        let listen = if self.advertised == "127.0.0.1" {
            format!("tcp://127.0.0.1:{}", self.port)
        } else {
            format!("tcp://0.0.0.0:{}", self.port)
        };
        let advertised = format!("tcp://{}:{}", self.advertised, self.port);
        let child = Command::new("tansu")
            .args([
                "broker",
                "--listener-url",
                &listen,
                "--advertised-listener-url",
                &advertised,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the Kafka broker `tansu` ({e}); .ci/run installs it (see docs/brokers.md)")
            });
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tansu did not listen on 127.0.0.1:{}", self.port);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads every partition of `topic` from offset 0, forever, into `inbox`
/// (partition-assigned reads: no consumer group).
fn kafka_consumer(port: u16, topic: String, inbox: Inbox) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        loop {
            let client = match rskafka::client::ClientBuilder::new(vec![format!("127.0.0.1:{port}")])
                .build()
                .await
            {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let partitions: Vec<i32> = match client.list_topics().await {
                Ok(ts) => ts
                    .into_iter()
                    .find(|t| t.name == topic)
                    .map(|t| t.partitions.into_iter().collect())
                    .unwrap_or_default(),
                Err(_) => vec![],
            };
            for p in partitions {
                let Ok(pc) = client
                    .partition_client(
                        topic.as_str(),
                        p,
                        rskafka::client::partition::UnknownTopicHandling::Error,
                    )
                    .await
                else {
                    continue;
                };
                let offset = offsets.entry(p).or_insert(0);
                if let Ok((records, _)) = pc.fetch_records(*offset, 1..1_000_000, 100).await {
                    for r in records {
                        *offset = r.offset + 1;
                        let key = r.record.key.map(|k| String::from_utf8(k).unwrap());
                        inbox.add(
                            key.map(|k| format!("{p}:{k}")),
                            r.record.value.as_deref().unwrap_or(b"{}"),
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_events_are_keyed_partitioned_and_survive_a_broker_restart() {
    let mut tansu = Tansu::start();
    let srv = TestServer::start();
    let topic = format!("kafka-{}", suffix());
    // Three partitions, so the key decides where each event goes.
    let admin = rskafka::client::ClientBuilder::new(vec![format!("127.0.0.1:{}", tansu.port)])
        .build()
        .await
        .expect("connect to tansu");
    admin
        .controller_client()
        .unwrap()
        .create_topic(topic.as_str(), 3, 1, 5_000)
        .await
        .expect("create a three-partition topic");
    let inbox = Inbox::default();
    let consumer = kafka_consumer(tansu.port, topic.clone(), inbox.clone());
    let (s3, bucket) = setup(&srv, &topic, &format!("kafka://127.0.0.1:{}", tansu.port), &[]).await;
    first_events(&s3, &bucket, &inbox).await;
    // Message key = object key; one key, one partition (Kafka's murmur2).
    let mut partition_of: BTreeMap<String, String> = BTreeMap::new();
    for (k, r) in inbox.keyed() {
        let (p, key) = k.as_deref().expect("a keyed record").split_once(':').unwrap();
        assert_eq!(key, object_key(&r).replace('+', " "), "the Kafka key is the object key");
        let prev = partition_of.insert(key.to_owned(), p.to_owned());
        assert!(prev.is_none() || prev.as_deref() == Some(p), "{key} in two partitions");
    }

    // The broker dies (losing its in-memory topics) and comes back empty:
    // the backlog waits in Herald's log, then lands in a recreated topic.
    consumer.abort();
    tansu.kill();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &topic).await;
    tansu.spawn();
    let after = Inbox::default();
    let _consumer = kafka_consumer(tansu.port, topic.clone(), after.clone());
    let got = after.wait_for("backlog after tansu came back", n, 60).await;
    check_backlog(&got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_missing_exchange_keeps_events_until_it_exists() {
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-x-{s}"), format!("herald-test-late-{s}"));
    // The exchange does not exist yet: RabbitMQ closes the channel (404)
    // at every publish; the events wait.
    let (s3, bucket) = setup(
        &srv,
        &topic,
        &format!("amqp://127.0.0.1:{RABBITMQ}"),
        &[("amqp-exchange", &exchange)],
    )
    .await;
    for key in ["early-1", "early-2"] {
        put(&s3, &bucket, key, b"1").await;
    }
    wait_push_failures(&srv, &topic, 2.0, "publishing to a missing exchange must fail").await;
    // (The s3:TestEvent of the new configuration waits with them.)
    assert!(
        topic_stats_entries(&srv, &topic, "root") >= 2,
        "both events wait in the log"
    );
    // Once the exchange exists (and routes to a queue), the same topic
    // delivers both, over a fresh channel.
    let inbox = Inbox::default();
    let _consumer = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    let got = inbox.wait_for("events after the exchange appeared", 2, 30).await;
    let keys: HashSet<String> = got.iter().map(object_key).collect();
    assert_eq!(keys, HashSet::from(["early-1".to_owned(), "early-2".to_owned()]));
}

/// A Kafka cluster names its brokers in its metadata, and the client
/// dials them: a tenant's cluster could name the metadata service or
/// Herald's own ports. Here the broker is bootstrapped at an allowed
/// address but names itself at a denied one (127.0.0.2, which reaches the
/// same broker): Herald's client must not dial it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_brokers_named_by_the_cluster_obey_the_endpoint_policy() {
    let tansu = Tansu::start_advertising("127.0.0.2");
    let srv = TestServer::start_with_args(&["--endpoint-deny", "127.0.0.2/32"]);
    let topic = format!("kafka-{}", suffix());
    let (s3, bucket) = setup(&srv, &topic, &format!("kafka://127.0.0.1:{}", tansu.port), &[]).await;
    put(&s3, &bucket, "k", b"x").await;
    let needle = format!("127.0.0.2:{}", tansu.port);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let logs = srv.logs();
        if logs
            .lines()
            .any(|l| l.contains("outbound connection refused by the endpoint policy") && l.contains(&needle))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the advertised broker {needle} was not refused:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Ceph's `kafka-brokers`: more bootstrap brokers besides the
/// push-endpoint's own. With the endpoint's broker down, the listed one
/// takes the events; a list naming a denied address makes the endpoint
/// refuse to connect at all (logged, events wait), so a tenant cannot
/// smuggle an address past the policy in the list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_brokers_attribute_adds_bootstrap_brokers_under_the_policy() {
    let tansu = Tansu::start();
    let srv = TestServer::start_with_args(&["--endpoint-deny", "127.0.0.2/32"]);
    let topic = format!("kafka-{}", suffix());
    let inbox = Inbox::default();
    let _consumer = kafka_consumer(tansu.port, topic.clone(), inbox.clone());
    let down = format!("kafka://127.0.0.1:{}", free_port());
    let listed = format!("127.0.0.1:{}", tansu.port);
    let (s3, bucket) = setup(&srv, &topic, &down, &[("kafka-brokers", &listed)]).await;
    put(&s3, &bucket, "via-the-list", b"x").await;
    let got = inbox.wait_for("an event through the listed broker", 1, 30).await;
    assert!(got.iter().any(|r| object_key(r) == "via-the-list"), "{got:?}");

    let denied_topic = format!("kafka-denied-{}", suffix());
    let denied = format!("127.0.0.2:{}", tansu.port);
    let (s3, bucket) = setup(
        &srv,
        &denied_topic,
        &format!("kafka://127.0.0.1:{}", tansu.port),
        &[("kafka-brokers", &denied)],
    )
    .await;
    put(&s3, &bucket, "never", b"x").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let logs = srv.logs();
        if logs.lines().any(|l| l.contains("127.0.0.2") && l.contains("refused")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the denied broker in kafka-brokers was not refused:\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        topic_stats_entries(&srv, &denied_topic, "root") >= 1,
        "the event waits in the log"
    );
    let r = Sns::root(&srv).try_create_topic(
        &format!("kafka-bad-{}", suffix()),
        &[("push-endpoint", "kafka://127.0.0.1"), ("kafka-brokers", "a/b:1")],
    );
    assert!(r.is_err(), "a malformed kafka-brokers list was accepted");
}
