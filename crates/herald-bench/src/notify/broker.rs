//! The broker topic kinds (`amqp`, `kafka`, `nats`, `mqtt`): the topic
//! pushes to a broker and [`BrokerReceiver`] consumes the topic's
//! destination there with an ordinary client, logging every message.
//!
//! The destination is named like the topic (as Herald and Ceph name it):
//! AMQP routing key on the exchange `herald-bench` (declared here, with an
//! exclusive queue bound to the routing key), Kafka topic (created here
//! with one partition; read by partition assignment, no consumer group),
//! NATS subject (core subscription), MQTT topic (QoS 0 subscription).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;

use super::receiver::{EventLog, Receiver};
use crate::TopicKind;
use herald_endpoints::BrokerUri;

/// The AMQP exchange the bench declares and the topic publishes to.
pub const AMQP_EXCHANGE: &str = "herald-bench";

/// A consumer of one broker destination. Dropping it stops consuming.
pub struct BrokerReceiver {
    url: String,
    kind: TopicKind,
    destination: String,
    log: Arc<EventLog>,
    task: tokio::task::JoinHandle<()>,
    /// Keeps the AMQP connection (and so its consumer) alive.
    _amqp: Option<lapin::Connection>,
}

impl Drop for BrokerReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The broker URL used when `--broker-url` is not given.
pub fn default_url(kind: TopicKind) -> &'static str {
    match kind {
        TopicKind::Amqp => "amqp://127.0.0.1:5672",
        TopicKind::Kafka => "kafka://127.0.0.1:9092",
        TopicKind::Nats => "nats://127.0.0.1:4222",
        _ => "mqtt://127.0.0.1:1883",
    }
}

/// A broker URL as Herald's endpoints read it (credentials decoded,
/// default port per kind).
fn parse(url: &str, default_port: u16) -> anyhow::Result<BrokerUri> {
    BrokerUri::parse(url, |_| default_port).map_err(|e| anyhow::anyhow!("--broker-url: {e}"))
}

impl BrokerReceiver {
    pub async fn start(kind: TopicKind, url: &str, destination: &str) -> anyhow::Result<BrokerReceiver> {
        let log = Arc::new(EventLog::default());
        let (task, amqp) = match kind {
            TopicKind::Amqp => {
                let (conn, task) = amqp(url, destination, log.clone()).await?;
                (task, Some(conn))
            }
            TopicKind::Kafka => (kafka(url, destination, log.clone()).await?, None),
            TopicKind::Nats => (nats(url, destination, log.clone()).await?, None),
            TopicKind::Mqtt => (mqtt(url, destination, log.clone()).await?, None),
            other => bail!("{} is not a broker topic kind", other.name()),
        };
        Ok(BrokerReceiver {
            url: url.to_owned(),
            kind,
            destination: destination.to_owned(),
            log,
            task,
            _amqp: amqp,
        })
    }

    /// The topic attributes that make Herald push to this broker.
    pub fn topic_attributes(&self) -> Vec<(String, String)> {
        let mut attrs = vec![("push-endpoint".to_owned(), self.url.clone())];
        if self.kind == TopicKind::Amqp {
            attrs.push(("amqp-exchange".to_owned(), AMQP_EXCHANGE.to_owned()));
        }
        attrs
    }
}

impl Receiver for BrokerReceiver {
    fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    fn describe(&self) -> String {
        format!(
            "{} consumer of {:?} at {}",
            self.kind.name(),
            self.destination,
            self.url
        )
    }
}

async fn amqp(
    url: &str,
    routing_key: &str,
    log: Arc<EventLog>,
) -> anyhow::Result<(lapin::Connection, tokio::task::JoinHandle<()>)> {
    use lapin::options::*;
    use lapin::types::FieldTable;
    use lapin::uri::{AMQPAuthority, AMQPScheme, AMQPUri, AMQPUserInfo};
    let broker = parse(url, 5672)?;
    let uri = AMQPUri {
        scheme: AMQPScheme::AMQP,
        authority: AMQPAuthority {
            userinfo: AMQPUserInfo {
                username: broker.user.clone().unwrap_or_else(|| "guest".into()),
                password: broker.password.clone().unwrap_or_else(|| "guest".into()),
            },
            host: broker.host.clone(),
            port: broker.port,
        },
        vhost: if broker.path.is_empty() {
            "/".into()
        } else {
            broker.path.clone()
        },
        query: Default::default(),
    };
    let conn = lapin::DefaultConnectionBuilder::new()?
        .with_uri(uri)
        .connect()
        .await
        .with_context(|| format!("cannot connect to the AMQP broker at {}", broker.address()))?;
    let ch = conn.create_channel().await?;
    ch.exchange_declare(
        AMQP_EXCHANGE.into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let queue = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    ch.queue_bind(
        queue.name().clone(),
        AMQP_EXCHANGE.into(),
        routing_key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await?;
    let mut consumer = ch
        .basic_consume(
            queue.name().clone(),
            "herald-bench".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    let task = tokio::spawn(async move {
        while let Some(Ok(delivery)) = consumer.next().await {
            log.ingest(&delivery.data, Instant::now());
        }
    });
    Ok((conn, task))
}

async fn kafka(url: &str, topic: &str, log: Arc<EventLog>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use rskafka::client::partition::UnknownTopicHandling;
    let broker = parse(url, 9092)?.address();
    // Through Herald's relay for its quick ACKs: rskafka's requests on a
    // direct connection wait up to 40 ms each for a delayed ACK (see
    // herald_endpoints' socks module), which would be counted as Herald's
    // latency.
    let relay = herald_endpoints::PolicyRelay::start(
        Arc::new(herald_endpoints::EndpointPolicy::default()),
        "bench kafka consumer".into(),
        Duration::from_secs(10),
    )
    .await?;
    let client = rskafka::client::ClientBuilder::new(vec![broker.clone()])
        .socks5_proxy(relay.addr().to_string())
        .build()
        .await
        .with_context(|| format!("cannot connect to the Kafka broker at {broker}"))?;
    client
        .controller_client()?
        .create_topic(topic, 1, 1, 5_000)
        .await
        .with_context(|| format!("cannot create the Kafka topic {topic:?}"))?;
    let pc = client.partition_client(topic, 0, UnknownTopicHandling::Retry).await?;
    Ok(tokio::spawn(async move {
        let _relay = relay;
        let mut offset = 0;
        loop {
            match pc.fetch_records(offset, 1..8_000_000, 2).await {
                Ok((records, _)) => {
                    let at = Instant::now();
                    for r in &records {
                        offset = r.offset + 1;
                    }
                    log.ingest_all(records.iter().filter_map(|r| r.record.value.as_deref()), at);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }))
}

async fn nats(url: &str, subject: &str, log: Arc<EventLog>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let server = parse(url, 4222)?.address();
    let client = async_nats::connect(server.as_str())
        .await
        .with_context(|| format!("cannot connect to the NATS server at {server}"))?;
    let mut sub = client.subscribe(subject.to_owned()).await?;
    client.flush().await?;
    Ok(tokio::spawn(async move {
        let _client = client;
        while let Some(m) = sub.next().await {
            log.ingest(&m.payload, Instant::now());
        }
    }))
}

async fn mqtt(url: &str, topic: &str, log: Arc<EventLog>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let broker = parse(url, 1883)?;
    let hp = broker.address();
    let mut opts = rumqttc::MqttOptions::new(
        format!("herald-bench-{}", std::process::id()),
        broker.host.clone(),
        broker.port,
    );
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_max_packet_size(16 << 20, 16 << 20);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 1000);
    // QoS 0 towards the bench: at QoS 1 Mosquitto keeps only 20 messages
    // in flight and 1000 queued per subscriber and drops the rest, which
    // would measure the bench's consumer instead of Herald (Herald's own
    // publishes are QoS 1).
    client.subscribe(topic, rumqttc::QoS::AtMostOnce).await?;
    // Wait for the SUBACK so no event published before it is missed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => break,
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => bail!("cannot subscribe at the MQTT broker {hp}: {e}"),
            Err(_) => bail!("the MQTT broker {hp} did not acknowledge the subscription"),
        }
    }
    Ok(tokio::spawn(async move {
        let _client = client;
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => log.ingest(&p.payload, Instant::now()),
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        assert_eq!(parse("amqp://u:p@h:1/vh", 5672).unwrap().address(), "h:1");
        assert_eq!(parse("kafka://h", 9092).unwrap().address(), "h:9092");
        assert_eq!(parse("mqtt://127.0.0.1:1883", 1).unwrap().address(), "127.0.0.1:1883");
        assert!(parse("mqtt://h:notaport", 1).is_err());
    }
}
