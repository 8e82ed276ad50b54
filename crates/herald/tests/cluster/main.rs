//! Cluster mode (`--cluster`): gateway nodes in front of one upstream
//! (SeaweedFS) sharing the local NATS JetStream. Every test works under
//! its own prefix, and removes its streams and key-value bucket at the
//! end (also when it fails).

mod failures;
mod limits;
mod sharing;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{Event, NotificationConfiguration, TopicConfiguration};
use herald_testkit::*;
use serde_json::Value;

/// The NATS server with JetStream every broker test uses.
pub(crate) const NATS_URL: &str = "nats://127.0.0.1:4222";
pub(crate) const BOB_KEY: &str = "BOBCLUSTERKEY000002";
pub(crate) const BOB_SECRET: &str = "bobClusterSecret00000000000000000000002";
pub(crate) const CAROL_KEY: &str = "CAROLCLUSTERKEY0003";
pub(crate) const CAROL_SECRET: &str = "carolClusterSecret000000000000000000003";

/// A test's share of a NATS server: a prefix nothing else uses, and the
/// streams under it removed when dropped.
pub(crate) struct NatsPrefix {
    pub url: String,
    pub prefix: String,
}

impl NatsPrefix {
    pub fn new(url: &str) -> NatsPrefix {
        let prefix = format!("t{}x{:08x}", std::process::id(), rand::random::<u32>());
        NatsPrefix {
            url: url.to_owned(),
            prefix,
        }
    }

    /// The `herald serve` flags of a node of this cluster.
    pub fn node_args(&self) -> Vec<String> {
        vec![
            "--cluster".into(),
            self.url.clone(),
            "--cluster-prefix".into(),
            self.prefix.clone(),
        ]
    }

    /// Names of the streams this test made (topics' queues and the
    /// metadata bucket's `KV_` stream).
    pub async fn streams(&self) -> Vec<String> {
        streams_under(&self.url, &self.prefix).await
    }
}

/// Messages held now by this test's topic streams (not the metadata
/// bucket's `KV_` stream): events relayed and not yet acknowledged.
pub(crate) async fn topic_stream_messages(nats: &NatsPrefix) -> u64 {
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await.expect("NATS with JetStream"));
    let mut total = 0;
    for name in nats.streams().await.iter().filter(|n| !n.starts_with("KV_")) {
        let mut stream = js.get_stream(name).await.expect("the topic's stream");
        total += stream.info().await.expect("stream info").state.messages;
    }
    total
}

async fn streams_under(url: &str, prefix: &str) -> Vec<String> {
    let js = async_nats::jetstream::new(async_nats::connect(url).await.expect("NATS with JetStream"));
    let mut names = js.stream_names();
    let mut out = Vec::new();
    while let Some(Ok(name)) = futures::StreamExt::next(&mut names).await {
        if name.starts_with(&format!("{prefix}-")) || name.starts_with(&format!("KV_{prefix}-")) {
            out.push(name);
        }
    }
    out
}

impl Drop for NatsPrefix {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // Drop may run inside the test's runtime: clean up on a thread of
        // its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let Ok(client) = async_nats::connect(&url).await else {
                    return;
                };
                let js = async_nats::jetstream::new(client);
                for name in streams_under(&url, &prefix).await {
                    let _ = js.delete_stream(&name).await;
                }
            });
        })
        .join();
    }
}

/// `n` gateway nodes in front of `weed`, sharing `nats`.
pub(crate) fn start_nodes(weed: &Seaweed, nats: &NatsPrefix, n: usize) -> Vec<TestServer> {
    let mut args = weed.gateway_args();
    args.extend(nats.node_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (0..n).map(|_| TestServer::start_with_args(&args)).collect()
}

/// Waits up to `secs` for `check` to hold; panics naming `what`.
pub(crate) async fn eventually<F, Fut>(what: &str, secs: u64, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        if check().await {
            return started.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what}: not within {secs} s");
}

/// Sends the bucket's created and removed events to `topic`.
pub(crate) async fn notify_to(s3: &aws_sdk_s3::Client, bucket: &str, topic: &str) {
    let config = NotificationConfiguration::builder()
        .topic_configurations(
            TopicConfiguration::builder()
                .id("to-topic")
                .topic_arn(topic)
                .events(Event::from("s3:ObjectCreated:*"))
                .events(Event::from("s3:ObjectRemoved:*"))
                .build()
                .unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
}

/// Whether `node` has the bucket's notification configuration (with one
/// topic configuration).
pub(crate) async fn sees_config(node: &TestServer, bucket: &str) -> bool {
    node.s3()
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .is_ok_and(|c| c.topic_configurations().len() == 1)
}

/// The delivered records, by object key; panics if two copies of one
/// key's event differ (a repeated delivery must be the same event).
pub(crate) fn delivered_by_key(receiver: &Receiver) -> HashMap<String, Vec<Value>> {
    let mut by_key: HashMap<String, Vec<Value>> = HashMap::new();
    for record in receiver.delivered_records() {
        let key = record["s3"]["object"]["key"].as_str().unwrap_or_default().to_owned();
        by_key.entry(key).or_default().push(record);
    }
    by_key
}

/// Checks that every key in `acked` has its event, and that any key
/// delivered more than once got the same event each time.
pub(crate) fn assert_each_delivered(receiver: &Receiver, acked: &HashSet<String>) -> usize {
    let by_key = delivered_by_key(receiver);
    let missing: Vec<&String> = acked.iter().filter(|k| !by_key.contains_key(*k)).collect();
    assert!(missing.is_empty(), "acknowledged PUTs without their event: {missing:?}");
    let mut repeated = 0;
    for (key, copies) in &by_key {
        let created: Vec<&Value> = copies
            .iter()
            .filter(|r| r["eventName"].as_str().is_some_and(|n| n.starts_with("ObjectCreated")))
            .collect();
        if created.len() > 1 {
            repeated += created.len() - 1;
            assert!(
                created.windows(2).all(|w| w[0] == w[1]),
                "{key}: delivered twice as different events: {created:?}"
            );
        }
    }
    repeated
}

/// Whether a small PUT of `key` is taken.
pub(crate) async fn put_taken(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> bool {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(vec![2u8; 10].into())
        .send()
        .await
        .is_ok()
}

/// Waits for every key in `acked` to have its event, then checks that
/// repeats were the same event.
pub(crate) async fn wait_each_delivered(receiver: &Receiver, acked: &HashSet<String>, what: &str) {
    receiver
        .wait_for(what, 60, |r| {
            let got = delivered_by_key(r);
            acked.iter().all(|k| got.contains_key(k))
        })
        .await;
    assert_each_delivered(receiver, acked);
}

/// PUTs `count` objects named `<prefix>-<i>`, spread round-robin over
/// the nodes, 8 at a time; returns the keys acknowledged.
pub(crate) async fn put_spread(nodes: &[&TestServer], bucket: &str, prefix: &str, count: usize) -> HashSet<String> {
    let clients: Vec<aws_sdk_s3::Client> = nodes.iter().map(|n| n.s3_no_retry()).collect();
    let mut acked = HashSet::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(8) {
        let puts = chunk.iter().map(|i| {
            let (s3, key) = (clients[i % clients.len()].clone(), format!("{prefix}-{i}"));
            let bucket = bucket.to_owned();
            async move {
                let r = s3
                    .put_object()
                    .bucket(bucket)
                    .key(&key)
                    .body(seeded_bytes(*i as u64, 100).into())
                    .send()
                    .await;
                r.ok().map(|_| key)
            }
        });
        acked.extend(futures::future::join_all(puts).await.into_iter().flatten());
    }
    acked
}
