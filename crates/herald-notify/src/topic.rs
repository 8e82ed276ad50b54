//! Topic attributes (Ceph's names and rules) and the runtime form of a
//! topic that the dispatcher and the delivery workers use.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use herald_endpoints::{Endpoint, EndpointOptions, EndpointPolicy};
use herald_model::record::RecordFlavor;
use herald_store::TopicRecord;

/// Attributes Herald understands, with what each accepts.
const BOOL_ATTRS: &[&str] = &[
    "persistent",
    "verify-ssl",
    "use-ssl",
    "cloudevents",
    "subscription-confirmation",
];
const UINT_ATTRS: &[&str] = &[
    "time_to_live",
    "max_retries",
    "retry_sleep_duration",
    "queue-max-entries",
    "queue-max-bytes",
];
const FREE_ATTRS: &[&str] = &[
    "push-endpoint",
    "OpaqueData",
    "ca-location",
    "amqp-exchange",
    "push-secret",
    "push-timeout",
    "user-name",
    "password",
    "client-cert-location",
    "client-key-location",
];

/// Attributes whose value is a secret: never shown back (`EndpointArgs`,
/// `herald topic get`), and `HasStoredSecret` says they are there.
pub const SECRET_ATTRIBUTES: &[&str] = &["push-secret", "password"];
/// Standard SNS attributes some clients send; stored, and (`Policy`, see
/// [`crate::policy`]) checked.
const SNS_ATTRS: &[&str] = &[
    "Policy",
    "DisplayName",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "TracingConfig",
    "SignatureVersion",
];

/// Pending events a persistent topic may hold before writes that would add
/// more fail with 503 SlowDown (per topic; `queue-max-entries` overrides).
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000_000;
/// Default byte limit per topic queue (`queue-max-bytes` overrides).
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024 * 1024;
/// Default pause between delivery attempts (`retry_sleep_duration`).
pub const DEFAULT_RETRY_SLEEP: Duration = Duration::from_secs(1);

/// What a topic gets for a retry attribute it leaves unset, or sets to
/// `None` (Ceph's way of asking for the server's value, as its
/// `rgw_topic_persistency_*` options): `herald serve
/// --topic-default-time-to-live`, `--topic-default-max-retries` and
/// `--topic-default-retry-sleep-duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    /// Seconds an event may wait; 0 = forever.
    pub time_to_live: u64,
    /// Failed attempts before an event is dropped; 0 = retry forever.
    pub max_retries: u64,
    /// Seconds between attempts.
    pub retry_sleep_duration: u64,
    /// The longest `retention` a topic may set (seconds): `herald serve
    /// --topic-max-retention`.
    pub max_retention: u64,
    /// What one topic may retain at most (bytes), whatever its
    /// `queue-max-bytes`: `herald serve --topic-max-retained-bytes`.
    pub max_retained_bytes: u64,
}

/// The default of [`TopicDefaults::max_retention`]: 7 days.
pub const DEFAULT_MAX_RETENTION: u64 = 7 * 24 * 3600;
/// The default of [`TopicDefaults::max_retained_bytes`]: 16 GiB.
pub const DEFAULT_MAX_RETAINED_BYTES: u64 = 16 * 1024 * 1024 * 1024;

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            time_to_live: 0,
            max_retries: 0,
            retry_sleep_duration: DEFAULT_RETRY_SLEEP.as_secs(),
            max_retention: DEFAULT_MAX_RETENTION,
            max_retained_bytes: DEFAULT_MAX_RETAINED_BYTES,
        }
    }
}

impl TopicDefaults {
    /// A retry attribute's value as it applies to a topic: its own, or the
    /// server's default.
    pub fn effective(&self, attrs: &BTreeMap<String, String>, name: &str) -> u64 {
        uint(attrs, name).unwrap_or(match name {
            "time_to_live" => self.time_to_live,
            "max_retries" => self.max_retries,
            _ => self.retry_sleep_duration,
        })
    }
}

/// The retry attributes whose `None` means the server's default.
/// The topic attribute naming the SQS queue (the owner's own) where
/// events that cannot be delivered are parked instead of dropped.
pub const DEAD_LETTER_QUEUE: &str = "dead-letter-queue";

pub const DEFAULTABLE_ATTRS: &[&str] = &["time_to_live", "max_retries", "retry_sleep_duration"];

/// The topic attribute (seconds) for which a persistent topic keeps its
/// delivered events for `ReplayTopic` (Herald extension; 0 or unset:
/// they are deleted once delivered).
pub const RETENTION: &str = "retention";
/// The longest retention a topic may ask for: 90 days. Retained events
/// are capped by the topic's byte limit (`queue-max-bytes`) as well.
pub const MAX_RETENTION_SECS: u64 = 90 * 24 * 3600;

/// Checks one attribute; the error is the message of an InvalidArgument.
pub fn validate_attribute(key: &str, value: &str) -> Result<(), String> {
    if let Some(result) = super::batch::validate_attribute(key, value) {
        return result;
    }
    if BOOL_ATTRS.contains(&key) {
        return match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("{key} must be true or false, not {value:?}")),
        };
    }
    if DEFAULTABLE_ATTRS.contains(&key) && value == "None" {
        return Ok(()); // Ceph's "the server's default" (see TopicDefaults)
    }
    if UINT_ATTRS.contains(&key) {
        return value
            .parse::<u64>()
            .map(|_| ())
            .map_err(|_| format!("{key} must be a non-negative integer, not {value:?}"));
    }
    match key {
        "amqp-ack-level" => match value {
            "none" | "broker" | "routable" => Ok(()),
            _ => Err(format!(
                "amqp-ack-level must be none, broker or routable, not {value:?}"
            )),
        },
        "kafka-ack-level" => match value {
            "none" | "broker" => Ok(()),
            _ => Err(format!("kafka-ack-level must be none or broker, not {value:?}")),
        },
        "kafka-brokers" => herald_endpoints::kafka::parse_brokers(value)
            .map(|_| ())
            .map_err(|e| format!("kafka-brokers: {e}")),
        "mechanism" => match value {
            "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512" => Ok(()),
            _ => Err(format!(
                "mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not {value:?}"
            )),
        },
        "push-timeout" => value
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0 && *v <= 3600.0)
            .map(|_| ())
            .ok_or_else(|| format!("push-timeout must be a number of seconds in (0, 3600], not {value:?}")),
        "push-endpoint" => validate_push_endpoint(value),
        "Policy" => crate::policy::validate(value),
        "event-format" => match value {
            "ceph" | "aws" => Ok(()),
            _ => Err(format!("event-format must be ceph or aws, not {value:?}")),
        },
        RETENTION => value
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= MAX_RETENTION_SECS)
            .map(|_| ())
            .ok_or_else(|| {
                format!(
                    "{RETENTION} must be a number of seconds from 0 to {MAX_RETENTION_SECS} (90 days), not {value:?}"
                )
            }),
        DEAD_LETTER_QUEUE => match value.split(':').collect::<Vec<_>>()[..] {
            [] | [""] => Ok(()),
            ["arn", "aws", "sqs", _, _, name] if !name.is_empty() => Ok(()),
            _ => Err(format!(
                "{DEAD_LETTER_QUEUE} must be the ARN of one of your SQS queues (arn:aws:sqs:REGION:ACCOUNT:NAME), not {value:?}"
            )),
        },
        k if FREE_ATTRS.contains(&k) || SNS_ATTRS.contains(&k) => Ok(()),
        _ => Err(format!(
            "unknown topic attribute {key:?}; valid: {}",
            [
                BOOL_ATTRS,
                UINT_ATTRS,
                FREE_ATTRS,
                &[
                    "amqp-ack-level",
                    "kafka-ack-level",
                    "kafka-brokers",
                    "mechanism",
                    "event-format",
                    DEAD_LETTER_QUEUE,
                    RETENTION,
                ],
                super::batch::ATTRIBUTES,
            ]
            .concat()
            .join(", ")
        )),
    }
}

/// Push endpoints Herald accepts (the syntax; the endpoint itself and
/// the outbound policy are checked by `herald_endpoints::check`). Errors
/// show the URI without credentials.
fn validate_push_endpoint(uri: &str) -> Result<(), String> {
    if uri.is_empty() {
        return Ok(());
    }
    let shown = herald_endpoints::redact(uri);
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!("push-endpoint {shown:?} is not a URI (scheme://...)"));
    };
    let known = [
        "http", "https", "amqp", "amqps", "kafka", "nats", "mqtt", "mqtts", "batch", "sqs",
    ];
    if !known.contains(&scheme.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "push-endpoint scheme {scheme:?} is not supported (supported: {})",
            known.join(", ")
        ));
    }
    if scheme.eq_ignore_ascii_case("batch") {
        return super::batch::parse_uri(uri).map(|_| ());
    }
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once('@').map(|(_, h)| h).unwrap_or(host);
    if host.is_empty() {
        return Err(format!("push-endpoint {shown:?} has no host"));
    }
    if scheme.starts_with("http") {
        rest.parse::<http::Uri>().ok();
        uri.parse::<http::Uri>()
            .map_err(|e| format!("push-endpoint {shown:?}: {e}"))?;
    }
    Ok(())
}

/// Whether the topic keeps a secret (URI credentials, a `push-secret`, a
/// broker `password`), shown instead of the secret itself.
pub fn has_stored_secret(rec: &TopicRecord) -> bool {
    let a = &rec.attributes;
    a.get("push-endpoint")
        .is_some_and(|ep| herald_endpoints::has_credentials(ep))
        || SECRET_ATTRIBUTES
            .iter()
            .any(|k| a.get(*k).is_some_and(|s| !s.is_empty()))
}

/// The number N of an `Attributes.entry.N.key|value` parameter, read as
/// the SNS attribute parser reads it (so `01` and `+1` are entry 1 too).
fn entry_number(k: &str) -> Option<u32> {
    let (n, _) = k.strip_prefix("Attributes.entry.")?.split_once('.')?;
    n.parse().ok()
}

/// Attributes `EndpointArgs` never shows: the secrets, and the topic's
/// `Policy` (a document of its own, shown as the `Policy` attribute; Ceph
/// leaves it out of the endpoint's arguments too).
const NOT_ENDPOINT_ARGS: &[&str] = &["push-secret", "password", "Policy"];

/// Topic parameters as `EndpointArgs` shows them: without secrets and the
/// policy ([`NOT_ENDPOINT_ARGS`]), by name, and without both pieces of
/// every `Attributes.entry.N` whose key names one. Only names decide,
/// never a search for the secret's text (which a grantee could turn into
/// an oracle by setting `OpaqueData` to guesses).
pub fn without_secrets<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let secret_entries: Vec<u32> = pairs
        .iter()
        .filter(|(k, v)| NOT_ENDPOINT_ARGS.contains(v) && k.ends_with(".key"))
        .filter_map(|(k, _)| entry_number(k))
        .collect();
    pairs
        .iter()
        .filter(|(k, _)| !NOT_ENDPOINT_ARGS.contains(k))
        .filter(|(k, _)| entry_number(k).is_none_or(|n| !secret_entries.contains(&n)))
        .copied()
        .collect()
}

/// A topic's stored `EndpointArgs` as shown (API, `herald topic get`):
/// without secrets (see [`without_secrets`]) and URI credentials. Pieces
/// with no `=` are dropped: an older version stored values unescaped, so
/// a secret with a `&` left such fragments.
pub fn shown_endpoint_args(rec: &TopicRecord) -> String {
    let pieces: Vec<(&str, &str)> = rec.endpoint_args.split('&').filter_map(|p| p.split_once('=')).collect();
    without_secrets(&pieces)
        .iter()
        .map(|(k, v)| format!("{k}={}", herald_endpoints::redact(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn flag(attrs: &BTreeMap<String, String>, name: &str) -> bool {
    attrs.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

fn uint(attrs: &BTreeMap<String, String>, name: &str) -> Option<u64> {
    attrs.get(name).and_then(|v| v.parse().ok())
}

/// A topic as the notifier uses it: attributes decoded once.
pub struct TopicRuntime {
    pub record: TopicRecord,
    /// The endpoint, or why none could be built (events then wait or fail).
    pub endpoint: Result<Arc<dyn Endpoint>, String>,
    pub http: Option<Arc<herald_endpoints::http::HttpEndpoint>>,
    pub persistent: bool,
    /// `None` = keep forever.
    pub ttl: Option<Duration>,
    /// 0 = retry forever.
    pub max_retries: u32,
    pub retry_sleep: Duration,
    pub opaque: String,
    pub flavor: RecordFlavor,
    pub max_entries: u64,
    pub max_bytes: u64,
    pub counters: super::metrics::TopicCounters,
    /// The ARN of the owner's queue where undeliverable events go
    /// ([`DEAD_LETTER_QUEUE`]); `None`: they are dropped (counted lost).
    pub dead_letter_queue: Option<String>,
    /// How long delivered events stay for replay ([`RETENTION`]); zero:
    /// not at all.
    pub retention: Duration,
    /// Set for `batch://` topics (by the notifier, which owns that kind).
    pub batch: Option<super::batch::BatchSpec>,
}

impl TopicRuntime {
    /// Decodes a stored topic and builds its endpoint under the operator's
    /// outbound `policy` (no connection is made; a `ca-location` file is
    /// read, from the CA directory only).
    pub fn new(
        record: TopicRecord,
        counters: super::metrics::TopicCounters,
        policy: &Arc<EndpointPolicy>,
        defaults: &TopicDefaults,
    ) -> TopicRuntime {
        let attrs = &record.attributes;
        let uri = attrs.get("push-endpoint").cloned().unwrap_or_default();
        let (endpoint, http) = if uri.is_empty() {
            (Err("the topic has no push-endpoint".to_owned()), None)
        } else {
            match EndpointOptions::from_attributes(attrs, &record.arn) {
                Err(e) => (Err(e.to_string()), None),
                Ok(opts) => {
                    let opts = opts.with_policy(policy.clone());
                    if uri.starts_with("http://") || uri.starts_with("https://") {
                        match herald_endpoints::http::HttpEndpoint::new(&uri, opts) {
                            Ok(h) => {
                                let h = Arc::new(h);
                                (Ok(h.clone() as Arc<dyn Endpoint>), Some(h))
                            }
                            Err(e) => (Err(e.to_string()), None),
                        }
                    } else {
                        (herald_endpoints::build(&uri, opts).map_err(|e| e.to_string()), None)
                    }
                }
            }
        };
        let ttl = Some(defaults.effective(attrs, "time_to_live"))
            .filter(|s| *s > 0)
            .map(Duration::from_secs);
        TopicRuntime {
            persistent: flag(attrs, "persistent"),
            ttl,
            max_retries: defaults.effective(attrs, "max_retries").min(u32::MAX as u64) as u32,
            retry_sleep: Duration::from_secs(defaults.effective(attrs, "retry_sleep_duration")),
            opaque: attrs.get("OpaqueData").cloned().unwrap_or_default(),
            flavor: match attrs.get("event-format").map(String::as_str) {
                Some("aws") => RecordFlavor::Aws,
                _ => RecordFlavor::Ceph,
            },
            max_entries: uint(attrs, "queue-max-entries")
                .filter(|v| *v > 0)
                .unwrap_or(DEFAULT_MAX_ENTRIES),
            max_bytes: uint(attrs, "queue-max-bytes")
                .filter(|v| *v > 0)
                .unwrap_or(DEFAULT_MAX_BYTES),
            dead_letter_queue: attrs.get(DEAD_LETTER_QUEUE).filter(|v| !v.is_empty()).cloned(),
            retention: Duration::from_secs(uint(attrs, RETENTION).unwrap_or(0).min(MAX_RETENTION_SECS)),
            endpoint,
            http,
            record,
            counters,
            batch: None,
        }
    }

    /// Whether events may be pushed now (no handshake pending or failed).
    pub fn is_active(&self) -> bool {
        let s = self.record.subscription.as_str();
        s.is_empty() || s == "none" || s == "confirmed"
    }

    /// The name of this topic's queue in the delivery log.
    pub fn log_name(&self) -> &str {
        &self.record.arn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_args_never_show_the_policy() {
        let pairs = [
            ("Attributes.entry.1.key", "Policy"),
            ("Attributes.entry.1.value", "{\"Statement\":[]}"),
            ("Attributes.entry.2.key", "push-endpoint"),
            ("Attributes.entry.2.value", "http://h/"),
            ("Policy", "{\"Statement\":[]}"),
            ("push-endpoint", "http://h/"),
        ];
        let kept = without_secrets(&pairs);
        assert_eq!(
            kept,
            vec![
                ("Attributes.entry.2.key", "push-endpoint"),
                ("Attributes.entry.2.value", "http://h/"),
                ("push-endpoint", "http://h/"),
            ]
        );
    }

    #[test]
    fn none_asks_for_the_servers_retry_defaults() {
        for k in DEFAULTABLE_ATTRS {
            assert!(validate_attribute(k, "None").is_ok(), "{k}");
        }
        assert!(validate_attribute("queue-max-entries", "None").is_err());
        let d = TopicDefaults {
            time_to_live: 600,
            max_retries: 5,
            retry_sleep_duration: 3,
            ..TopicDefaults::default()
        };
        let attrs: BTreeMap<String, String> = [
            ("time_to_live".to_owned(), "None".to_owned()),
            ("max_retries".to_owned(), "7".to_owned()),
        ]
        .into();
        assert_eq!(d.effective(&attrs, "time_to_live"), 600);
        assert_eq!(d.effective(&attrs, "max_retries"), 7);
        assert_eq!(d.effective(&attrs, "retry_sleep_duration"), 3);
    }

    #[test]
    fn stored_endpoint_args_are_shown_without_secrets() {
        // As an older version stored them: the secret in both forms.
        let rec = TopicRecord {
            owner: "u".into(),
            name: "t".into(),
            arn: "arn:aws:sns:r:u:t".into(),
            attributes: [
                ("push-secret".to_owned(), "k&ey".to_owned()),
                ("push-endpoint".to_owned(), "nats://tok@h".to_owned()),
            ]
            .into(),
            endpoint_args: "Attributes.entry.1.key=push-secret&Attributes.entry.1.value=k&ey&push-endpoint=nats://tok@h&push-secret=k&ey".into(),
            created_ms: 0,
            updated_ms: 0,
            subscription: String::new(),
        };
        let shown = shown_endpoint_args(&rec);
        assert!(!shown.contains("k&ey") && !shown.contains("tok"), "{shown}");
        assert!(shown.contains("push-endpoint=nats://h"), "{shown}");
        assert!(has_stored_secret(&rec));
        // A broker password (Ceph's user-name/password attributes).
        let broker = TopicRecord {
            attributes: [
                ("password".to_owned(), "br0ker".to_owned()),
                ("user-name".to_owned(), "alice".to_owned()),
                ("push-endpoint".to_owned(), "amqp://h".to_owned()),
            ]
            .into(),
            endpoint_args:
                "Attributes.entry.1.key=password&Attributes.entry.1.value=br0ker&password=br0ker&user-name=alice".into(),
            ..rec.clone()
        };
        let shown = shown_endpoint_args(&broker);
        assert!(!shown.contains("br0ker"), "{shown}");
        assert!(shown.contains("user-name=alice"), "{shown}");
        // Entry numbers as the parser reads them (01 and +1 are entry 1),
        // and no search for the secret's text: a grantee's OpaqueData that
        // happens to hold it shows as written, so it reveals nothing.
        let odd = TopicRecord {
            endpoint_args: "Attributes.entry.1.key=password&Attributes.entry.01.value=br0ker&Attributes.entry.+1.value=br0ker&OpaqueData=br0ker".into(),
            ..broker.clone()
        };
        assert_eq!(shown_endpoint_args(&odd), "OpaqueData=br0ker");
        assert!(has_stored_secret(&broker));
        assert!(
            validate_attribute("push-endpoint", "amqp://u:pw@/x")
                .unwrap_err()
                .find("pw")
                .is_none()
        );
    }

    #[test]
    fn attribute_rules() {
        assert!(validate_attribute("persistent", "true").is_ok());
        assert!(validate_attribute("persistent", "maybe").is_err());
        assert!(validate_attribute("max_retries", "-1").is_err());
        assert!(validate_attribute("amqp-ack-level", "routable").is_ok());
        assert!(validate_attribute("amqp-ack-level", "bogus").is_err());
        assert!(validate_attribute("kafka-ack-level", "routable").is_err());
        assert!(validate_attribute("mechanism", "SCRAM-SHA-512").is_ok());
        assert!(validate_attribute("push-endpoint", "http://127.0.0.1:9/x").is_ok());
        assert!(validate_attribute("push-endpoint", "amqp://user:pw@host/vh").is_ok());
        assert!(validate_attribute("push-endpoint", "gopher://x").is_err());
        assert!(validate_attribute("push-endpoint", "not a uri").is_err());
        assert!(validate_attribute("nonsense", "1").is_err());
        // A topic Policy must be a policy (see crate::policy).
        assert!(validate_attribute("Policy", "{}").is_err());
        assert!(validate_attribute("Policy", "").is_ok());
        let publish = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sns:Publish","Resource":"*"}]}"#;
        assert!(validate_attribute("Policy", publish).is_ok());
    }
}
