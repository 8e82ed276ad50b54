//! What the broker endpoints share: their URI syntax, the reconnect
//! backoff, and attribute helpers.
//!
//! Every broker endpoint connects lazily (a topic may be created while its
//! broker is down), keeps one connection that all pushes share, and after
//! a failure reconnects no more often than [`Backoff`] allows, failing
//! pushes fast in between so persistent events go back to the delivery log
//! instead of piling up behind a dead socket.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{EndpointError, PushError};

/// `scheme://[user[:password]@]host[:port][/path]`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUri {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    /// Without the leading `/`, percent-decoded (the AMQP vhost).
    pub path: String,
}

impl BrokerUri {
    /// The URI's credentials, replaced by the topic's `user-name` and
    /// `password` attributes when it has them (Ceph's way to keep them out
    /// of the URI): what the broker is logged in with. A `user-name` never
    /// pairs with the URI's password (it may be another user's): without a
    /// `password` attribute it logs in with none.
    pub fn with_attribute_credentials(mut self, attrs: &std::collections::BTreeMap<String, String>) -> BrokerUri {
        if let Some(user) = attrs.get("user-name").filter(|u| !u.is_empty()) {
            self.user = Some(user.clone());
            self.password = attrs.get("password").filter(|p| !p.is_empty()).cloned();
        }
        self
    }

    pub fn parse(uri: &str, default_port: impl Fn(&str) -> u16) -> Result<BrokerUri, EndpointError> {
        let bad = |why: &str| EndpointError::InvalidUri(crate::log_form(uri), why.to_owned());
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let path = path.split('?').next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (Some(decode(a)), Some(decode(b))),
                None => (Some(decode(u)), None),
            },
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p,
            None => default_port(&scheme),
        };
        Ok(BrokerUri {
            user,
            password,
            host,
            port,
            path: decode(path.strip_prefix('/').unwrap_or(path)),
            scheme,
        })
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Some((h.to_owned(), Some(p.parse().ok()?))),
        None => Some((s.to_owned(), None)),
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One of a fixed set of values for an attribute, or its default.
pub fn choice<'a>(
    attrs: &'a BTreeMap<String, String>,
    name: &str,
    allowed: &[&'a str],
    default: &'a str,
) -> Result<&'a str, EndpointError> {
    match attrs.get(name) {
        None => Ok(default),
        Some(v) if allowed.contains(&v.as_str()) => Ok(v.as_str()),
        Some(v) => Err(EndpointError::InvalidAttribute(
            name.to_owned(),
            format!("{v:?} is not one of {}", allowed.join(", ")),
        )),
    }
}

/// A true/false attribute.
pub fn flag(attrs: &BTreeMap<String, String>, name: &str, default: bool) -> Result<bool, EndpointError> {
    Ok(choice(attrs, name, &["true", "false"], if default { "true" } else { "false" })? == "true")
}

/// Spaces reconnect attempts after failures: 100 ms doubling to 5 s, reset
/// by a success. While waiting, pushes fail at once with the last error.
pub struct Backoff {
    endpoint: String,
    state: Mutex<BackoffState>,
}

struct BackoffState {
    failures: u32,
    not_before: Option<Instant>,
    last_error: String,
}

const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Backoff {
    /// `endpoint` names the broker in logs (without credentials).
    pub fn new(endpoint: String) -> Backoff {
        Backoff {
            endpoint,
            state: Mutex::new(BackoffState {
                failures: 0,
                not_before: None,
                last_error: String::new(),
            }),
        }
    }

    /// Whether a connection attempt may be made now; `Err` carries the
    /// failure to report instead.
    pub fn check(&self) -> Result<(), PushError> {
        let s = self.state.lock().expect("backoff lock");
        match s.not_before {
            Some(t) if Instant::now() < t => Err(PushError::Connect {
                endpoint: self.endpoint.clone(),
                reason: format!("{} (reconnecting after backoff)", s.last_error),
            }),
            _ => Ok(()),
        }
    }

    /// Makes a connection with `connect` unless backing off, bounded by
    /// `timeout`, and records the outcome: every broker endpoint's
    /// (re)connect goes through here.
    pub async fn connect<T>(
        &self,
        timeout: Duration,
        connect: impl Future<Output = Result<T, String>>,
    ) -> Result<T, PushError> {
        self.check()?;
        match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(link)) => {
                self.succeeded();
                Ok(link)
            }
            Ok(Err(reason)) => {
                self.failed(&reason);
                Err(PushError::Connect {
                    endpoint: self.endpoint.clone(),
                    reason,
                })
            }
            Err(_) => {
                self.failed("connect timed out");
                Err(PushError::Timeout {
                    endpoint: self.endpoint.clone(),
                    timeout,
                })
            }
        }
    }

    pub fn failed(&self, error: &str) {
        let mut s = self.state.lock().expect("backoff lock");
        if s.failures == 0 {
            // Once per outage: the pushes' own failures are debug-level.
            tracing::warn!(endpoint = %self.endpoint, error, "broker unreachable; persistent events wait in the delivery log");
        }
        s.failures = s.failures.saturating_add(1);
        let wait = BACKOFF_FIRST
            .saturating_mul(1u32 << (s.failures - 1).min(10))
            .min(BACKOFF_MAX);
        s.not_before = Some(Instant::now() + wait);
        s.last_error = error.to_owned();
    }

    pub fn succeeded(&self) {
        let mut s = self.state.lock().expect("backoff lock");
        if s.failures > 0 {
            tracing::info!(endpoint = %self.endpoint, failed_attempts = s.failures, "broker reachable again");
        }
        s.failures = 0;
        s.not_before = None;
    }
}

/// Runs one push within the topic's `push-timeout`.
pub async fn within(
    endpoint: &str,
    timeout: Duration,
    push: impl Future<Output = Result<(), PushError>>,
) -> Result<(), PushError> {
    tokio::time::timeout(timeout, push).await.unwrap_or_else(|_| {
        Err(PushError::Timeout {
            endpoint: endpoint.to_owned(),
            timeout,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_name_attribute_never_borrows_the_uris_password() {
        let attrs = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let uri = BrokerUri::parse("kafka://bob:bobs-pw@h", |_| 9092).unwrap();
        let alone = uri
            .clone()
            .with_attribute_credentials(&attrs(&[("user-name", "alice")]));
        assert_eq!(
            (alone.user.as_deref(), alone.password.as_deref()),
            (Some("alice"), None)
        );
        let both = uri
            .clone()
            .with_attribute_credentials(&attrs(&[("user-name", "alice"), ("password", "pw")]));
        assert_eq!(
            (both.user.as_deref(), both.password.as_deref()),
            (Some("alice"), Some("pw"))
        );
        let none = uri.with_attribute_credentials(&attrs(&[]));
        assert_eq!(
            (none.user.as_deref(), none.password.as_deref()),
            (Some("bob"), Some("bobs-pw"))
        );
    }

    #[test]
    fn uris_parse_with_defaults_and_credentials() {
        let p = |u: &str| BrokerUri::parse(u, |s| if s == "amqps" { 5671 } else { 5672 }).unwrap();
        let a = p("amqp://127.0.0.1");
        assert_eq!(
            (a.host.as_str(), a.port, a.user.clone(), a.path.as_str()),
            ("127.0.0.1", 5672, None, "")
        );
        let b = p("amqps://us%40r:p%3Aw@broker.example:6000/%2Fprod");
        assert_eq!(b.user.as_deref(), Some("us@r"));
        assert_eq!(b.password.as_deref(), Some("p:w"));
        assert_eq!(
            (b.host.as_str(), b.port, b.path.as_str()),
            ("broker.example", 6000, "/prod")
        );
        assert_eq!(p("amqps://h").port, 5671);
        let v6 = p("amqp://[::1]:5673/vh");
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.address()),
            ("::1", 5673, "[::1]:5673".to_owned())
        );
        assert!(BrokerUri::parse("amqp://h:notaport", |_| 1).is_err());
        assert!(BrokerUri::parse("amqp://", |_| 1).is_err());
    }

    #[test]
    fn backoff_grows_and_resets() {
        let b = Backoff::new("amqp://h".into());
        assert!(b.check().is_ok());
        b.failed("refused");
        let e = b.check().unwrap_err().to_string();
        assert!(e.contains("refused") && e.contains("amqp://h"), "{e}");
        b.succeeded();
        assert!(b.check().is_ok());
    }

    #[test]
    fn choices_are_checked() {
        let mut a = BTreeMap::new();
        assert_eq!(choice(&a, "k", &["x", "y"], "x").unwrap(), "x");
        a.insert("k".to_owned(), "z".to_owned());
        assert!(choice(&a, "k", &["x", "y"], "x").is_err());
        a.insert("f".to_owned(), "maybe".to_owned());
        assert!(flag(&a, "f", true).is_err());
    }
}
