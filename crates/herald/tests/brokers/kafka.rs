//! Kafka (tansu): keys and partitions, outages, the endpoint policy for
//! brokers the cluster names and for `kafka-brokers`.

use super::*;

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
    // A name that does not resolve (RFC 2606's .invalid) is left out, not
    // fatal: the other brokers still carry the events.
    let listed = format!("no-such-broker.invalid:9092,127.0.0.1:{}", tansu.port);
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

/// A replay reaches Kafka marked as one: the record header
/// `x-herald-replay` = `true` (live records carry none), value unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_replay_carries_the_replay_header() {
    let tansu = Tansu::start();
    let srv = TestServer::start();
    let topic = format!("kafka-rp-{}", suffix());
    let admin = rskafka::client::ClientBuilder::new(vec![format!("127.0.0.1:{}", tansu.port)])
        .build()
        .await
        .expect("connect to tansu");
    admin
        .controller_client()
        .unwrap()
        .create_topic(topic.as_str(), 1, 1, 5_000)
        .await
        .expect("create the topic");
    let endpoint = format!("kafka://127.0.0.1:{}", tansu.port);
    let (s3, bucket) = setup(&srv, &topic, &endpoint, &[("retention", "600")]).await;
    for k in ["r1", "r2", "r3"] {
        put(&s3, &bucket, k, b"replay").await;
    }
    let partition = admin
        .partition_client(
            topic.as_str(),
            0,
            rskafka::client::partition::UnknownTopicHandling::Error,
        )
        .await
        .unwrap();
    // (the replay header's value, the value) of every record so far.
    let read_all = || async {
        let (records, _) = partition.fetch_records(0, 1..1_000_000, 500).await.unwrap();
        records
            .into_iter()
            .map(|r| {
                let marker = r
                    .record
                    .headers
                    .get("x-herald-replay")
                    .map(|v| String::from_utf8_lossy(v).into_owned());
                (marker, r.record.value.unwrap_or_default())
            })
            .collect::<Vec<_>>()
    };
    let wait = |n: usize| async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got = read_all().await;
            if got.len() >= n {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} records", got.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    // The configuration's test event is one of the topic's events too.
    wait(4).await;
    let sns = Sns::root(&srv);
    let arn = sns.list_topic_arns().into_iter().find(|a| a.ends_with(&topic)).unwrap();
    let answer = sns.call("ReplayTopic", &[("TopicArn", &arn), ("StartTime", "10m")]);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    wait(8).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = read_all().await;
    check_replayed(all);
}
