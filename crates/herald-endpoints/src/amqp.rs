//! AMQP 0.9.1 (RabbitMQ and friends): each event is published to the
//! topic's `amqp-exchange` with the topic name as routing key, as Ceph does.
//!
//! `amqp-ack-level` says when a push counts as delivered: `none` once
//! written to the socket, `broker` (the default) once the broker confirms
//! it (publisher confirms), `routable` once confirmed *and* routed to at
//! least one queue (the `mandatory` flag: a returned message is a
//! failure). One connection and one channel carry every push of a topic;
//! confirms are awaited concurrently, so many events are in flight at once.

use bytes::Bytes;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{AsyncTcpStream, BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use crate::broker::{Backoff, BrokerUri, choice};
use crate::{Endpoint, EndpointError, EndpointOptions, PushError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckLevel {
    None,
    Broker,
    Routable,
}

/// A topic's AMQP exchange.
pub struct AmqpEndpoint {
    uri: AMQPUri,
    tls: OwnedTLSConfig,
    exchange: String,
    routing_key: String,
    ack: AckLevel,
    opts: EndpointOptions,
    shown: String,
    link: Mutex<Option<Link>>,
    backoff: Backoff,
}

/// A live connection and the channel pushes share.
#[derive(Clone)]
struct Link {
    connection: std::sync::Arc<Connection>,
    channel: Channel,
}

impl AmqpEndpoint {
    pub fn new(uri: &str, opts: EndpointOptions) -> Result<Self, EndpointError> {
        let parsed = BrokerUri::parse(uri, |s| if s == "amqps" { 5671 } else { 5672 })?
            .with_attribute_credentials(&opts.attributes);
        let exchange = opts
            .attributes
            .get("amqp-exchange")
            .filter(|e| !e.is_empty())
            .cloned()
            .ok_or_else(|| {
                EndpointError::InvalidAttribute("amqp-exchange".into(), "is required for an amqp endpoint".into())
            })?;
        let ack = match choice(
            &opts.attributes,
            "amqp-ack-level",
            &["none", "broker", "routable"],
            "broker",
        )? {
            "none" => AckLevel::None,
            "routable" => AckLevel::Routable,
            _ => AckLevel::Broker,
        };
        let tls_scheme = parsed.scheme == "amqps";
        if tls_scheme && !opts.verify_ssl {
            // The AMQP client's TLS layer always verifies; say so instead of
            // silently verifying anyway.
            return Err(EndpointError::InvalidAttribute(
                "verify-ssl".into(),
                "false is not supported for amqps: give the broker's CA in ca-location instead".into(),
            ));
        }
        let mut tls = OwnedTLSConfig::default();
        if tls_scheme && let Some(pem) = opts.read_ca()? {
            tls.cert_chain = Some(String::from_utf8_lossy(&pem).into_owned());
        }
        if let Some((pem, key)) = opts.read_client_identity()? {
            // Parsed now, so a broken file is refused at CreateTopic (lapin
            // would only find out when connecting).
            crate::http::client_identity(&opts)?;
            if !tls_scheme {
                return Err(EndpointError::InvalidAttribute(
                    "client-cert-location".into(),
                    "a client certificate needs an amqps:// endpoint".into(),
                ));
            }
            tls.identity = Some(lapin::tcp::OwnedIdentity::PKCS8 { pem, key });
        }
        let query = AMQPQueryString {
            connection_timeout: Some(opts.timeout.as_millis() as u64),
            ..Default::default()
        };
        let amqp_uri = AMQPUri {
            scheme: if tls_scheme {
                AMQPScheme::AMQPS
            } else {
                AMQPScheme::AMQP
            },
            authority: AMQPAuthority {
                userinfo: AMQPUserInfo {
                    username: parsed.user.clone().unwrap_or_else(|| "guest".into()),
                    password: parsed.password.clone().unwrap_or_else(|| "guest".into()),
                },
                host: parsed.host.clone(),
                port: parsed.port,
            },
            vhost: if parsed.path.is_empty() {
                "/".into()
            } else {
                parsed.path.clone()
            },
            query,
        };
        Ok(AmqpEndpoint {
            uri: amqp_uri,
            tls,
            exchange,
            routing_key: opts.topic_name.clone(),
            ack,
            shown: crate::log_form(uri),
            opts,
            link: Mutex::new(None),
            backoff: Backoff::new(crate::log_form(uri)),
        })
    }

    /// The live link, connecting first if there is none.
    async fn link(&self) -> Result<Link, PushError> {
        let mut slot = self.link.lock().await;
        if let Some(l) = slot.as_mut() {
            if l.channel.status().connected() {
                return Ok(l.clone());
            }
            // A channel-level error (the exchange does not exist: 404)
            // closes only the channel: open another on the same connection.
            if l.connection.status().connected()
                && let Ok(channel) = self.open_channel(&l.connection).await
            {
                l.channel = channel;
                return Ok(l.clone());
            }
        }
        *slot = None;
        let link = self.backoff.connect(self.opts.timeout, self.connect()).await?;
        tracing::info!(endpoint = %self.shown, exchange = %self.exchange, "connected to AMQP broker");
        *slot = Some(link.clone());
        Ok(link)
    }

    /// Connects through the outbound policy: the broker's name is
    /// resolved at each (re)connection and only allowed addresses are
    /// dialled; TLS still verifies the broker by its name.
    async fn connect(&self) -> Result<Link, String> {
        let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
        let (policy, tls, shown) = (self.opts.policy.clone(), self.tls.clone(), self.shown.clone());
        let connection = Connection::connector(
            self.uri.clone(),
            runtime,
            async move |uri: AMQPUri, runtime| {
                let refused = |e: PushError| lapin::Error::from(std::io::Error::other(e.to_string()));
                let addrs = policy
                    .resolve(&uri.authority.host, uri.authority.port, &shown)
                    .await
                    .map_err(refused)?;
                let stream = AsyncTcpStream::connect(&runtime, addrs).await?;
                Ok(match uri.scheme {
                    AMQPScheme::AMQP => stream,
                    AMQPScheme::AMQPS => stream.into_tls(&uri.authority.host, tls.as_ref()).await?,
                })
            },
            ConnectionProperties::default().with_connection_name("herald".into()),
        )
        .await
        .map_err(|e| e.to_string())?;
        let channel = self.open_channel(&connection).await?;
        Ok(Link {
            connection: std::sync::Arc::new(connection),
            channel,
        })
    }

    /// A channel in the mode the ack level needs (publisher confirms unless
    /// `none`).
    async fn open_channel(&self, connection: &Connection) -> Result<Channel, String> {
        let channel = connection.create_channel().await.map_err(|e| e.to_string())?;
        if self.ack != AckLevel::None {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(channel)
    }

    async fn publish(&self, body: &Bytes) -> Result<(), PushError> {
        let link = self.link().await?;
        let fail = |reason: String| PushError::Other(format!("{}: {reason}", self.shown));
        let mut props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        if self.opts.replay {
            let mut headers = lapin::types::FieldTable::default();
            headers.insert(
                crate::REPLAY_HEADER.into(),
                lapin::types::AMQPValue::LongString("true".into()),
            );
            props = props.with_headers(headers);
        }
        let options = BasicPublishOptions {
            mandatory: self.ack == AckLevel::Routable,
            ..Default::default()
        };
        let confirm = link
            .channel
            .basic_publish(
                self.exchange.as_str().into(),
                self.routing_key.as_str().into(),
                options,
                body,
                props,
            )
            .await
            .map_err(|e| fail(format!("publish to exchange {:?} failed: {e}", self.exchange)))?;
        if self.ack == AckLevel::None {
            return Ok(());
        }
        match confirm.await {
            Ok(Confirmation::Ack(None)) | Ok(Confirmation::NotRequested) => Ok(()),
            Ok(Confirmation::Ack(Some(returned))) => Err(fail(format!(
                "unroutable: exchange {:?} has no queue bound for routing key {:?} ({} {})",
                self.exchange, self.routing_key, returned.reply_code, returned.reply_text
            ))),
            Ok(Confirmation::Nack(_)) => Err(fail("the broker refused the message (nack)".into())),
            // A channel error (e.g. the exchange does not exist: 404) closes
            // the channel; the next push reconnects.
            Err(e) => Err(fail(format!("exchange {:?}: {e}", self.exchange))),
        }
    }
}

#[async_trait::async_trait]
impl Endpoint for AmqpEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), PushError> {
        crate::broker::within(&self.shown, self.opts.timeout, self.publish(body)).await
    }

    fn describe(&self) -> String {
        format!("{} exchange={}", self.shown, self.exchange)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn opts(attrs: &[(&str, &str)]) -> EndpointOptions {
        let map: BTreeMap<String, String> = attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EndpointOptions::from_attributes(&map, "arn:aws:sns:us-east-1:alice:events").unwrap()
    }

    #[test]
    fn exchange_is_required_and_defaults_apply() {
        assert!(AmqpEndpoint::new("amqp://127.0.0.1", opts(&[])).is_err());
        let e = AmqpEndpoint::new("amqp://127.0.0.1", opts(&[("amqp-exchange", "ex")])).unwrap();
        assert_eq!(e.uri.authority.userinfo.username, "guest");
        assert_eq!(e.uri.authority.port, 5672);
        assert_eq!(e.uri.vhost, "/");
        assert_eq!(e.routing_key, "events");
        assert_eq!(e.ack, AckLevel::Broker);
        let e = AmqpEndpoint::new(
            "amqps://u:p@h/prod",
            opts(&[("amqp-exchange", "ex"), ("amqp-ack-level", "routable")]),
        )
        .unwrap();
        assert_eq!(
            (e.uri.authority.port, e.uri.vhost.as_str(), e.ack),
            (5671, "prod", AckLevel::Routable)
        );
        assert!(e.describe().starts_with("amqps://h/prod"), "{}", e.describe());
        assert!(AmqpEndpoint::new("amqp://h", opts(&[("amqp-exchange", "ex"), ("amqp-ack-level", "all")])).is_err());
    }
}
