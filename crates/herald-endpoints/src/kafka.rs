//! Kafka: each event is produced to the topic named like the Herald topic,
//! keyed by the object key.
//!
//! The partition is chosen from the key with Kafka's own default
//! partitioner (murmur2), so one object's events land in one partition in
//! order, and a Java or librdkafka consumer agrees on where a key lives.
//! Pushes to a partition are batched by a batch producer (1 ms linger): the
//! 64 concurrent pushes of a delivery worker become a few produce
//! requests. `kafka-ack-level=broker` (the default) waits for the
//! broker's acknowledgement (acks=all); `none` counts a push as delivered
//! once handed to the producer. A missing topic is created with one
//! partition, as a broker with `auto.create.topics.enable` would.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rskafka::BackoffConfig;
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::producer::aggregator::RecordAggregator;
use rskafka::client::producer::{BatchProducer, BatchProducerBuilder};
use rskafka::client::{ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;
use tokio::sync::Mutex;

use crate::broker::{Backoff, BrokerUri, choice, flag};
use crate::socks::PolicyRelay;
use crate::{Endpoint, EndpointError, EndpointOptions, PushError};

/// Largest batch one produce request carries.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// How long a batch waits for more records before it is sent.
const LINGER: Duration = Duration::from_millis(1);

/// A topic's Kafka destination.
pub struct KafkaEndpoint {
    /// Bootstrap brokers: the push-endpoint's, then `kafka-brokers`.
    brokers: Vec<(String, u16)>,
    topic: String,
    wait_for_ack: bool,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    sasl: Option<SaslConfig>,
    opts: EndpointOptions,
    shown: String,
    link: Mutex<Option<Arc<Link>>>,
    backoff: Backoff,
}

/// A connected client and one batch producer per partition, and the
/// relay every broker connection of that client goes through.
struct Link {
    producers: Vec<BatchProducer<RecordAggregator>>,
    _relay: PolicyRelay,
}

impl KafkaEndpoint {
    pub fn new(uri: &str, opts: EndpointOptions) -> Result<Self, EndpointError> {
        let attrs: &BTreeMap<String, String> = &opts.attributes;
        let parsed = BrokerUri::parse(uri, |_| 9092)?.with_attribute_credentials(attrs);
        let wait_for_ack = choice(attrs, "kafka-ack-level", &["none", "broker"], "broker")? == "broker";
        let tls = if flag(attrs, "use-ssl", false)? {
            Some(Arc::new(crate::http::tls_config_for(&opts, Some(&parsed.host))?))
        } else {
            None
        };
        let mechanism = choice(
            attrs,
            "mechanism",
            &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
            "PLAIN",
        )?;
        let sasl = parsed.user.clone().map(|username| {
            let c = Credentials::new(username, parsed.password.clone().unwrap_or_default());
            match mechanism {
                "SCRAM-SHA-256" => SaslConfig::ScramSha256(c),
                "SCRAM-SHA-512" => SaslConfig::ScramSha512(c),
                _ => SaslConfig::Plain(c),
            }
        });
        let mut brokers = vec![(parsed.host.clone(), parsed.port)];
        if let Some(list) = attrs.get("kafka-brokers") {
            for b in parse_brokers(list).map_err(|e| EndpointError::InvalidAttribute("kafka-brokers".into(), e))? {
                if !brokers.contains(&b) {
                    brokers.push(b);
                }
            }
        }
        Ok(KafkaEndpoint {
            brokers,
            topic: opts.topic_name.clone(),
            wait_for_ack,
            tls,
            sasl,
            shown: crate::log_form(uri),
            opts,
            link: Mutex::new(None),
            backoff: Backoff::new(crate::log_form(uri)),
        })
    }

    async fn link(&self) -> Result<Arc<Link>, PushError> {
        let mut slot = self.link.lock().await;
        if let Some(l) = slot.as_ref() {
            return Ok(l.clone());
        }
        let link = Arc::new(self.backoff.connect(self.opts.timeout, self.connect()).await?);
        tracing::info!(endpoint = %self.shown, topic = %self.topic, partitions = link.producers.len(),
            "connected to Kafka broker");
        *slot = Some(link.clone());
        Ok(link)
    }

    /// Connects to the bootstrap broker, and later to every broker the
    /// cluster names, through this endpoint's policy relay (see
    /// [`crate::socks`]): each address is checked when it is dialled. The
    /// bootstrap address is checked here first too, for a clear error.
    async fn connect(&self) -> Result<Link, String> {
        // Every broker must pass the policy (one refused: the topic does
        // not connect at all); one whose name does not resolve now is
        // left out of this connection's bootstrap list, as a broker that
        // is down would be, and tried again at the next connection.
        let mut bootstrap = Vec::with_capacity(self.brokers.len());
        let mut unresolved = None;
        for (host, port) in &self.brokers {
            match self.opts.policy.resolve(host, *port, &self.shown).await {
                Ok(_) => bootstrap.push(broker_address(host, *port)),
                Err(e) if crate::policy::is_refusal(&e) => return Err(e.to_string()),
                Err(e) => {
                    tracing::info!(endpoint = %self.shown, broker = %host, error = %e, "kafka broker left out of this connection");
                    unresolved = Some(e.to_string());
                }
            }
        }
        if bootstrap.is_empty() {
            return Err(unresolved.unwrap_or_else(|| "no broker to connect to".into()));
        }
        let relay = PolicyRelay::start(self.opts.policy.clone(), self.shown.clone(), self.opts.timeout)
            .await
            .map_err(|e| format!("cannot start the policy relay: {e}"))?;
        let mut builder = ClientBuilder::new(bootstrap)
            .socks5_proxy(relay.addr().to_string())
            .client_id("herald")
            .backoff_config(BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
                deadline: Some(self.opts.timeout),
            });
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.clone());
        }
        if let Some(sasl) = &self.sasl {
            builder = builder.sasl_config(sasl.clone());
        }
        let client = builder.build().await.map_err(|e| e.to_string())?;
        let mut partitions = self.partitions(&client).await?;
        if partitions.is_empty() {
            let timeout_ms = self.opts.timeout.as_millis().min(i32::MAX as u128) as i32;
            let created = client
                .controller_client()
                .map_err(|e| e.to_string())?
                .create_topic(self.topic.as_str(), 1, 1, timeout_ms)
                .await;
            partitions = self.partitions(&client).await?;
            if partitions.is_empty() {
                return Err(format!(
                    "topic {:?} does not exist and could not be created: {}",
                    self.topic,
                    created
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "not visible yet".into())
                ));
            }
        }
        let mut producers = Vec::with_capacity(partitions.len());
        for p in partitions {
            let pc = client
                .partition_client(self.topic.as_str(), p, UnknownTopicHandling::Retry)
                .await
                .map_err(|e| e.to_string())?;
            producers.push(
                BatchProducerBuilder::new(Arc::new(pc))
                    .with_linger(LINGER)
                    .build(RecordAggregator::new(MAX_BATCH_BYTES)),
            );
        }
        Ok(Link {
            producers,
            _relay: relay,
        })
    }

    /// The topic's partition ids, sorted; empty if the topic is missing.
    async fn partitions(&self, client: &rskafka::client::Client) -> Result<Vec<i32>, String> {
        let topics = client.list_topics().await.map_err(|e| e.to_string())?;
        Ok(topics
            .into_iter()
            .find(|t| t.name == self.topic)
            .map(|t| t.partitions.into_iter().collect())
            .unwrap_or_default())
    }

    async fn produce(&self, body: &Bytes, key: Option<&str>) -> Result<(), PushError> {
        let link = self.link().await?;
        let n = link.producers.len();
        let partition = match key {
            Some(k) => default_partition(k.as_bytes(), n),
            None => 0,
        };
        let record = Record {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: Some(body.to_vec()),
            headers: {
                let mut h = BTreeMap::from([("content-type".to_owned(), b"application/json".to_vec())]);
                if self.opts.replay {
                    h.insert(crate::REPLAY_HEADER.to_owned(), b"true".to_vec());
                }
                h
            },
            timestamp: now(),
        };
        let link2 = link.clone();
        let send = async move { link2.producers[partition].produce(record).await };
        if !self.wait_for_ack {
            let shown = self.shown.clone();
            tokio::spawn(async move {
                if let Err(e) = send.await {
                    tracing::warn!(endpoint = %shown, error = %e, "kafka produce failed (kafka-ack-level=none)");
                }
            });
            return Ok(());
        }
        match send.await {
            Ok(_) => Ok(()),
            Err(e) => {
                // Start over with fresh metadata on the next push (the
                // broker may have restarted or the topic been recreated).
                let mut slot = self.link.lock().await;
                if slot.as_ref().is_some_and(|l| Arc::ptr_eq(l, &link)) {
                    *slot = None;
                }
                Err(PushError::Other(format!(
                    "{}: produce to {:?} failed: {e}",
                    self.shown, self.topic
                )))
            }
        }
    }
}

#[async_trait::async_trait]
impl Endpoint for KafkaEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), PushError> {
        self.push_keyed_inner(body, None).await
    }

    async fn push_keyed(&self, body: &Bytes, key: &str) -> Result<(), PushError> {
        self.push_keyed_inner(body, Some(key)).await
    }

    fn describe(&self) -> String {
        format!("{} topic={}", self.shown, self.topic)
    }

    /// A produce round trip with acks=all takes milliseconds and every
    /// in-flight push rides in the same few batches, so many more pushes in
    /// flight cost little and keep the batches full.
    fn in_flight(&self) -> usize {
        1024
    }
}

impl KafkaEndpoint {
    async fn push_keyed_inner(&self, body: &Bytes, key: Option<&str>) -> Result<(), PushError> {
        crate::broker::within(&self.shown, self.opts.timeout, self.produce(body, key)).await
    }
}

/// Most brokers a `kafka-brokers` list may name.
pub const MAX_BROKERS: usize = 16;

/// Parses Ceph's `kafka-brokers` attribute: a comma-separated list of
/// `host[:port]` (port 9092 when left out; IPv6 in brackets), bootstrap
/// brokers used with the push-endpoint's own. Every one of them is checked
/// against the endpoint policy before the client dials any.
pub fn parse_brokers(list: &str) -> Result<Vec<(String, u16)>, String> {
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    if entries.len() > MAX_BROKERS {
        return Err(format!("at most {MAX_BROKERS} brokers, not {}", entries.len()));
    }
    entries
        .into_iter()
        .map(|e| {
            let (host, port) = match e.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') && (h.starts_with('[') == h.ends_with(']')) => {
                    let port = p
                        .parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("bad port in {e:?}"))?;
                    (h, port)
                }
                _ => (e, 9092),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let valid = !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
            if !valid {
                return Err(format!("bad broker {e:?} (want host[:port])"));
            }
            Ok((host.to_owned(), port))
        })
        .collect()
}

/// `host:port` as the Kafka client dials it (IPv6 in brackets).
fn broker_address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The record timestamp: now, in milliseconds as Kafka keeps it.
fn now() -> rskafka::chrono::DateTime<rskafka::chrono::Utc> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    rskafka::chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Kafka's default partitioner for keyed records:
/// `toPositive(murmur2(key)) % partitions`.
pub fn default_partition(key: &[u8], partitions: usize) -> usize {
    if partitions <= 1 {
        return 0;
    }
    ((murmur2(key) & 0x7fff_ffff) as usize) % partitions
}

/// MurmurHash2 exactly as Kafka's `Utils.murmur2` computes it.
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    let len = data.len();
    let mut h: u32 = SEED ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= (rest[2] as u32) << 16;
    }
    if rest.len() >= 2 {
        h ^= (rest[1] as u32) << 8;
    }
    if !rest.is_empty() {
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Kafka's UtilsTest.testMurmur2 vectors.
        let cases: [(&str, i32); 6] = [
            ("21", -973932308),
            ("foobar", -790332482),
            ("a-little-bit-long-string", -985981536),
            ("a-little-bit-longer-string", -1486304829),
            ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
            ("abc", 479470107),
        ];
        for (s, want) in cases {
            assert_eq!(murmur2(s.as_bytes()), want, "{s}");
        }
        assert_eq!(default_partition(b"anything", 1), 0);
        assert!(default_partition(b"photos/cat.jpg", 8) < 8);
    }

    #[test]
    fn broker_lists() {
        assert_eq!(
            parse_brokers("a.example:9093, 10.0.0.2,[::1]:9094").unwrap(),
            [
                ("a.example".to_owned(), 9093),
                ("10.0.0.2".to_owned(), 9092),
                ("::1".to_owned(), 9094)
            ]
        );
        for bad in ["", "a,,b", "h:0", "h:99999", "h:x", "sp ace:1", "a/b:1"] {
            assert!(parse_brokers(bad).is_err(), "{bad:?}");
        }
        let many = vec!["h"; MAX_BROKERS + 1].join(",");
        assert!(parse_brokers(&many).is_err());
        assert_eq!(broker_address("::1", 9092), "[::1]:9092");
    }

    #[test]
    fn attributes_are_read() {
        let attrs: BTreeMap<String, String> = [("kafka-ack-level", "none"), ("mechanism", "SCRAM-SHA-512")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let o = EndpointOptions::from_attributes(&attrs, "arn:aws:sns:r:u:events").unwrap();
        let e = KafkaEndpoint::new("kafka://alice:pw@127.0.0.1", o).unwrap();
        assert_eq!(
            (e.brokers.as_slice(), e.topic.as_str(), e.wait_for_ack),
            (&[("127.0.0.1".to_owned(), 9092)][..], "events", false)
        );
        assert!(matches!(e.sasl, Some(SaslConfig::ScramSha512(_))));
        assert_eq!(e.describe(), "kafka://127.0.0.1 topic=events");
        let mut bad = attrs.clone();
        bad.insert("kafka-ack-level".into(), "routable".into());
        let o = EndpointOptions::from_attributes(&bad, "arn:aws:sns:r:u:events").unwrap();
        assert!(KafkaEndpoint::new("kafka://h", o).is_err());
    }

    #[test]
    fn user_name_and_password_attributes_log_in_without_uri_credentials() {
        let attrs: BTreeMap<String, String> = [
            ("mechanism", "SCRAM-SHA-256"),
            ("user-name", "alice"),
            ("password", "s3cr3t"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let o = EndpointOptions::from_attributes(&attrs, "arn:aws:sns:r:u:events").unwrap();
        let e = KafkaEndpoint::new("kafka://127.0.0.1", o).unwrap();
        let Some(SaslConfig::ScramSha256(c)) = &e.sasl else {
            panic!("SCRAM-SHA-256 expected");
        };
        assert_eq!((c.username.as_str(), c.password.as_str()), ("alice", "s3cr3t"));
        // The attributes win over credentials in the URI.
        let o = EndpointOptions::from_attributes(&attrs, "arn:aws:sns:r:u:events").unwrap();
        let e = KafkaEndpoint::new("kafka://bob:old@127.0.0.1", o).unwrap();
        let Some(SaslConfig::ScramSha256(c)) = &e.sasl else {
            panic!("SCRAM-SHA-256 expected");
        };
        assert_eq!(c.username, "alice");
        // No credentials at all: no SASL.
        let o = EndpointOptions::from_attributes(&BTreeMap::new(), "arn:aws:sns:r:u:events").unwrap();
        assert!(KafkaEndpoint::new("kafka://127.0.0.1", o).unwrap().sasl.is_none());
    }
}
