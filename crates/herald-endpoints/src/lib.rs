//! Where Herald pushes events.
//!
//! Each endpoint kind is one module behind the [`Endpoint`] trait, built
//! from a topic's `push-endpoint` URI and attributes by [`build`]. An
//! endpoint knows its protocol and nothing of S3: it receives the already
//! serialized event (`{"Records":[...]}`) and reports success or failure;
//! retries, persistence and counting belong to the caller.

pub mod amqp;
mod broker;
pub mod handshake;
pub mod http;
pub mod kafka;
pub mod mqtt;
pub mod nats;
mod pipeline;
pub mod policy;
mod socks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

/// Broker URIs as the endpoints read them (also used by `herald bench`'s
/// broker consumers).
pub use broker::BrokerUri;
pub use policy::{Cidr, EndpointPolicy};
pub use socks::PolicyRelay;

/// Why a push failed; every failure is retryable from the caller's view.
/// `Clone`: one failed connection fails every request pipelined on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PushError {
    #[error("connection to {endpoint} failed: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("{endpoint} answered HTTP {status}")]
    Status { endpoint: String, status: u16 },
    #[error("{endpoint} did not answer within {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("{0}")]
    Other(String),
}

impl PushError {
    /// Whether the endpoint itself could not be reached (connection refused
    /// or lost, no answer in time), as opposed to refusing this one event:
    /// every other event would fail the same way right now.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, PushError::Connect { .. } | PushError::Timeout { .. })
    }

    /// Whether the endpoint refused this event for good: an HTTP 4xx
    /// answer other than 408 (timeout), 425 (too early) and 429 (too many
    /// requests), which ask for another try.
    pub fn is_permanent(&self) -> bool {
        matches!(self, PushError::Status { status, .. } if (400..500).contains(status) && ![408, 425, 429].contains(status))
    }
}

/// Why an endpoint could not be built from a topic's attributes.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("invalid push-endpoint {0:?}: {1}")]
    InvalidUri(String, String),
    #[error("unsupported push-endpoint scheme {0:?} (supported: http, https, amqp, amqps, kafka, nats, mqtt, mqtts)")]
    UnsupportedScheme(String),
    #[error("invalid attribute {0}: {1}")]
    InvalidAttribute(String, String),
    /// The operator's outbound policy refuses the endpoint's address.
    #[error("push-endpoint {0}")]
    Refused(String),
}

/// A destination for events.
#[async_trait::async_trait]
pub trait Endpoint: Send + Sync {
    /// Delivers one serialized event body; `Ok` means the receiver
    /// acknowledged it.
    async fn push(&self, body: &Bytes) -> Result<(), PushError>;
    /// Delivers one event with its object key, for protocols that carry a
    /// message key (Kafka partitions by it, so one key's events stay in
    /// order). Callers that know the key use this one.
    async fn push_keyed(&self, body: &Bytes, _key: &str) -> Result<(), PushError> {
        self.push(body).await
    }
    /// The endpoint for logs and errors, without credentials.
    fn describe(&self) -> String;
    /// How many pushes the delivery worker should keep in flight: enough
    /// to cover the endpoint's round trip at the rates Herald sustains.
    fn in_flight(&self) -> usize {
        DEFAULT_IN_FLIGHT
    }
}

/// Pushes in flight per endpoint unless its kind asks for more.
pub const DEFAULT_IN_FLIGHT: usize = 64;

/// A client identity for mutual TLS as read: (certificate chain, key), PEM.
pub type PemIdentity = (Vec<u8>, Vec<u8>);

/// Options shared by every endpoint kind, read from topic attributes.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    pub timeout: Duration,
    pub verify_ssl: bool,
    pub ca_location: Option<String>,
    /// The client certificate (PEM chain) and key (PEM) presented to TLS
    /// servers that ask for one (mutual TLS), read from the topic owner's
    /// directory (see [`EndpointPolicy::read_client_file`]).
    pub client_cert_location: Option<String>,
    pub client_key_location: Option<String>,
    pub cloudevents: bool,
    /// Secret for the `x-herald-signature` HMAC header on each push.
    pub signing_secret: Option<String>,
    /// The topic's ARN and name, for protocol headers.
    pub topic_arn: String,
    /// The topic's name: the AMQP routing key, Kafka topic, NATS subject
    /// and MQTT topic (Ceph's `EndpointTopic`).
    pub topic_name: String,
    /// All topic attributes, for the protocol-specific ones
    /// (`amqp-exchange`, `kafka-ack-level`, `mechanism`, ...).
    pub attributes: BTreeMap<String, String>,
    /// The operator's outbound policy: checked at every connection, and
    /// the only place `ca-location` files are read from.
    pub policy: Arc<EndpointPolicy>,
    /// Every push says it is a replay ([`REPLAY_HEADER`]): set for the
    /// endpoints a topic replay builds, never for live delivery.
    pub replay: bool,
}

/// The header (HTTP, AMQP, Kafka, NATS) that marks a replayed event, with
/// the value `true`. MQTT 3.1.1 has no headers: a replay there is marked
/// by nothing but its event id, already seen.
pub const REPLAY_HEADER: &str = "x-herald-replay";

impl EndpointOptions {
    /// Reads the options from Ceph-style topic attributes.
    pub fn from_attributes(attrs: &BTreeMap<String, String>, topic_arn: &str) -> Result<Self, EndpointError> {
        let flag = |name: &str, default: bool| -> Result<bool, EndpointError> {
            match attrs.get(name).map(|s| s.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if v == "true" => Ok(true),
                Some(v) if v == "false" => Ok(false),
                Some(v) => Err(EndpointError::InvalidAttribute(
                    name.into(),
                    format!("{v:?} is not true or false"),
                )),
            }
        };
        let timeout = match attrs.get("push-timeout") {
            None => Duration::from_secs(10),
            Some(v) => Duration::from_secs_f64(v.parse::<f64>().ok().filter(|s| *s > 0.0 && *s <= 3600.0).ok_or_else(
                || EndpointError::InvalidAttribute("push-timeout".into(), format!("{v:?} is not a number of seconds")),
            )?),
        };
        Ok(EndpointOptions {
            timeout,
            verify_ssl: flag("verify-ssl", true)?,
            ca_location: attrs.get("ca-location").cloned().filter(|s| !s.is_empty()),
            client_cert_location: attrs.get("client-cert-location").cloned().filter(|s| !s.is_empty()),
            client_key_location: attrs.get("client-key-location").cloned().filter(|s| !s.is_empty()),
            cloudevents: flag("cloudevents", false)?,
            signing_secret: attrs.get("push-secret").cloned().filter(|s| !s.is_empty()),
            topic_arn: topic_arn.to_owned(),
            topic_name: topic_arn.rsplit(':').next().unwrap_or(topic_arn).to_owned(),
            attributes: attrs.clone(),
            policy: Arc::new(EndpointPolicy::default()),
            replay: false,
        })
    }

    /// The same options for a replay: every push carries [`REPLAY_HEADER`].
    pub fn for_replay(mut self) -> Self {
        self.replay = true;
        self
    }

    /// The same options under the operator's policy.
    pub fn with_policy(mut self, policy: Arc<EndpointPolicy>) -> Self {
        self.policy = policy;
        self
    }

    /// The addresses of a broker the outbound policy lets this endpoint
    /// reach now (resolved at every connection; see
    /// [`EndpointPolicy::resolve`]), with the error as text for the broker
    /// clients' reconnect loops.
    pub async fn allowed_addrs(&self, host: &str, port: u16, shown: &str) -> Result<Vec<std::net::SocketAddr>, String> {
        self.policy.resolve(host, port, shown).await.map_err(|e| e.to_string())
    }

    /// The topic's owner: the account field of its ARN
    /// (`arn:aws:sns:<region>:<owner>:<name>`).
    pub fn owner(&self) -> &str {
        self.topic_arn.split(':').nth(4).unwrap_or("")
    }

    /// The client identity for mutual TLS, as PEM (certificate chain, key):
    /// both files or neither.
    pub fn read_client_identity(&self) -> Result<Option<PemIdentity>, EndpointError> {
        let read = |attribute: &str, location: &str| {
            self.policy
                .read_client_file(self.owner(), attribute, location)
                .map_err(|e| EndpointError::InvalidAttribute(attribute.into(), e))
        };
        match (&self.client_cert_location, &self.client_key_location) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some((
                read("client-cert-location", cert)?,
                read("client-key-location", key)?,
            ))),
            _ => Err(EndpointError::InvalidAttribute(
                "client-cert-location".into(),
                "client-cert-location and client-key-location go together".into(),
            )),
        }
    }

    /// The `ca-location` file's bytes, read through the policy (only from
    /// the operator's CA directory, regular files, bounded).
    pub fn read_ca(&self) -> Result<Option<Vec<u8>>, EndpointError> {
        match &self.ca_location {
            None => Ok(None),
            Some(path) => self
                .policy
                .read_ca(path)
                .map(Some)
                .map_err(|e| EndpointError::InvalidAttribute("ca-location".into(), e)),
        }
    }
}

/// Builds the endpoint a `push-endpoint` URI names.
pub fn build(uri: &str, opts: EndpointOptions) -> Result<Arc<dyn Endpoint>, EndpointError> {
    install_crypto_provider();
    let scheme = uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "http" | "https" => Ok(Arc::new(http::HttpEndpoint::new(uri, opts)?)),
        "amqp" | "amqps" => Ok(Arc::new(amqp::AmqpEndpoint::new(uri, opts)?)),
        "kafka" => Ok(Arc::new(kafka::KafkaEndpoint::new(uri, opts)?)),
        "nats" => Ok(Arc::new(nats::NatsEndpoint::new(uri, opts)?)),
        "mqtt" | "mqtts" => Ok(Arc::new(mqtt::MqttEndpoint::new(uri, opts)?)),
        _ => Err(EndpointError::UnsupportedScheme(scheme)),
    }
}

/// Makes ring the process-wide rustls provider unless one is set: broker
/// client libraries (the AMQP one builds its own TLS configuration) ask
/// rustls for the process default, which it cannot choose by itself when
/// both ring and aws-lc-rs are compiled into the binary.
pub fn install_crypto_provider() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
}

/// Checks an endpoint's URI and attributes without connecting, so a topic
/// that could never deliver is refused when it is created: the endpoint
/// must build (attributes, `ca-location` read through the policy, off the
/// async threads) and its address must pass the outbound policy. Other
/// schemes belong to the server (`sqs`, `batch`).
pub async fn check(
    uri: &str,
    attrs: &BTreeMap<String, String>,
    topic_arn: &str,
    policy: Arc<EndpointPolicy>,
) -> Result<(), EndpointError> {
    let scheme = uri
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        "amqp" => 5672,
        "amqps" => 5671,
        "kafka" => 9092,
        "nats" => 4222,
        "mqtt" => 1883,
        "mqtts" => 8883,
        _ => return Ok(()),
    };
    let opts = EndpointOptions::from_attributes(attrs, topic_arn)?.with_policy(policy.clone());
    let over_tls = match scheme.as_str() {
        "https" | "amqps" | "mqtts" => true,
        "kafka" | "nats" => attrs.get("use-ssl").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        _ => false,
    };
    let has = |k: &str| attrs.get(k).is_some_and(|v| !v.is_empty());
    if has("password") && !has("user-name") {
        return Err(EndpointError::InvalidAttribute(
            "password".into(),
            "a password needs a user-name".into(),
        ));
    }
    if (has("user-name") || has("password")) && !matches!(scheme.as_str(), "amqp" | "amqps" | "kafka") {
        return Err(EndpointError::InvalidAttribute(
            "user-name".into(),
            "user-name and password apply to amqp and kafka endpoints (give other brokers' credentials in the URI)"
                .into(),
        ));
    }
    if (opts.client_cert_location.is_some() || opts.client_key_location.is_some()) && !over_tls {
        return Err(EndpointError::InvalidAttribute(
            "client-cert-location".into(),
            "a client certificate needs a TLS connection (https, amqps, mqtts, or use-ssl=true)".into(),
        ));
    }
    let owned = uri.to_owned();
    tokio::task::spawn_blocking(move || build(&owned, opts).map(|_| ()))
        .await
        .map_err(|e| EndpointError::InvalidUri(log_form(uri), e.to_string()))??;
    let parsed = BrokerUri::parse(uri, |_| default_port)?;
    policy
        .check_uri(&parsed.host, parsed.port)
        .await
        .map_err(EndpointError::Refused)
}

/// Whether a push-endpoint URI carries `user:password@` credentials (which
/// Ceph accepts only over HTTPS and never shows back).
pub fn has_credentials(uri: &str) -> bool {
    uri.split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or("").contains('@'))
        .unwrap_or(false)
}

/// How an endpoint is named in logs and push errors: [`redact`]ed, and
/// without its query string, where webhook URLs often carry tokens
/// (`?token=...`). The path is kept: it is what tells an operator which
/// receiver failed.
pub fn log_form(uri: &str) -> String {
    let r = redact(uri);
    match r.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => r,
    }
}

/// The URI with any `user:password@` removed.
pub fn redact(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_found_and_redacted() {
        assert!(has_credentials("amqp://user:pw@host:5672/vh"));
        assert!(!has_credentials("http://host:80/a@b"));
        assert_eq!(redact("amqp://user:pw@host:5672/vh"), "amqp://host:5672/vh");
        assert_eq!(redact("http://host/x"), "http://host/x");
        assert_eq!(
            log_form("https://u:pw@hooks.example/in/abc?token=SECRET&x=1"),
            "https://hooks.example/in/abc?…"
        );
    }

    #[test]
    fn options_parse_and_validate() {
        let mut a = BTreeMap::new();
        a.insert("verify-ssl".to_owned(), "false".to_owned());
        a.insert("cloudevents".to_owned(), "TRUE".to_owned());
        let o = EndpointOptions::from_attributes(&a, "arn").unwrap();
        assert!(!o.verify_ssl && o.cloudevents);
        a.insert("verify-ssl".to_owned(), "maybe".to_owned());
        assert!(EndpointOptions::from_attributes(&a, "arn").is_err());
    }
}
