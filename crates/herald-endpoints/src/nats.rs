//! NATS: each event is published on the subject named like the Herald
//! topic.
//!
//! When a JetStream stream captures the subject, the push waits for the
//! stream's publish acknowledgement (the event is stored); otherwise it is
//! a core NATS publish, flushed to the server (NATS itself keeps nothing
//! for absent subscribers). Which of the two applies is looked up when the
//! connection is made and again every [`RECHECK`], so a stream created
//! later is picked up. Auth: `nats://token@host` or
//! `nats://user:password@host`; `use-ssl=true` (or `tls://` servers)
//! switches to TLS with `verify-ssl`/`ca-location`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use bytes::Bytes;
use tokio::sync::Mutex;

use crate::broker::{Backoff, BrokerUri, flag};
use crate::{Endpoint, EndpointError, EndpointOptions, PushError};

/// How often the JetStream-or-core decision is looked at again.
const RECHECK: Duration = Duration::from_secs(30);

/// A topic's NATS subject.
pub struct NatsEndpoint {
    /// The server as written; connections go to the addresses the policy
    /// allows for it at that moment.
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    use_tls: bool,
    subject: String,
    opts: EndpointOptions,
    shown: String,
    link: Mutex<Option<Arc<Link>>>,
    backoff: Backoff,
}

struct Link {
    client: async_nats::Client,
    jetstream: async_nats::jetstream::Context,
    /// Whether a stream captures the subject, and when that was checked.
    mode: std::sync::Mutex<(bool, Instant)>,
}

impl NatsEndpoint {
    pub fn new(uri: &str, opts: EndpointOptions) -> Result<Self, EndpointError> {
        let parsed = BrokerUri::parse(uri, |_| 4222)?;
        let use_tls = flag(&opts.attributes, "use-ssl", false)?;
        if use_tls {
            crate::http::tls_config(&opts)?; // a bad ca-location fails now, not at the first push
        }
        Ok(NatsEndpoint {
            host: parsed.host.clone(),
            port: parsed.port,
            user: parsed.user,
            password: parsed.password,
            use_tls,
            subject: opts.topic_name.clone(),
            shown: crate::log_form(uri),
            opts,
            link: Mutex::new(None),
            backoff: Backoff::new(crate::log_form(uri)),
        })
    }

    async fn link(&self) -> Result<Arc<Link>, PushError> {
        let mut slot = self.link.lock().await;
        if let Some(l) = slot.as_ref() {
            // The client reconnects by itself; while it is away, fail fast
            // so persistent events stay in the delivery log rather than in
            // the client's memory.
            if l.client.connection_state() == async_nats::connection::State::Connected {
                return Ok(l.clone());
            }
            return Err(PushError::Connect {
                endpoint: self.shown.clone(),
                reason: "disconnected from the NATS server (reconnecting)".into(),
            });
        }
        let link = Arc::new(self.backoff.connect(self.opts.timeout, self.connect()).await?);
        let js = link.mode.lock().expect("mode lock").0;
        tracing::info!(endpoint = %self.shown, subject = %self.subject, jetstream = js, "connected to NATS");
        *slot = Some(link.clone());
        Ok(link)
    }

    async fn connect(&self) -> Result<Link, String> {
        // The servers a cluster announces are not dialled (they never
        // passed the policy); the client reconnects to the checked
        // addresses only.
        let mut options = async_nats::ConnectOptions::new()
            .name("herald")
            .connection_timeout(self.opts.timeout)
            .ignore_discovered_servers()
            .max_reconnects(None);
        options = match (&self.user, &self.password) {
            (Some(u), Some(p)) => options.user_and_password(u.clone(), p.clone()),
            (Some(token), None) => options.token(token.clone()),
            _ => options,
        };
        if self.use_tls {
            let tls = crate::http::tls_config_for(&self.opts, Some(&self.host)).map_err(|e| e.to_string())?;
            options = options.require_tls(true).tls_client_config(tls);
        }
        let servers: Vec<async_nats::ServerAddr> = self
            .opts
            .allowed_addrs(&self.host, self.port, &self.shown)
            .await?
            .iter()
            .filter_map(|a| format!("nats://{a}").parse().ok())
            .collect();
        let client = options.connect(servers).await.map_err(|e| e.to_string())?;
        let jetstream = async_nats::jetstream::new(client.clone());
        let captured = jetstream.stream_by_subject(self.subject.as_str()).await.is_ok();
        Ok(Link {
            client,
            jetstream,
            mode: std::sync::Mutex::new((captured, Instant::now())),
        })
    }

    /// Whether to publish through JetStream, looking again when stale.
    async fn use_jetstream(&self, link: &Link) -> bool {
        let (js, at) = *link.mode.lock().expect("mode lock");
        if at.elapsed() < RECHECK {
            return js;
        }
        let captured = link.jetstream.stream_by_subject(self.subject.as_str()).await.is_ok();
        *link.mode.lock().expect("mode lock") = (captured, Instant::now());
        captured
    }

    async fn publish(&self, body: &Bytes) -> Result<(), PushError> {
        let link = self.link().await?;
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            PushError::Other(format!("{}: {what} on {:?} failed: {e}", self.shown, self.subject))
        };
        let headers = self.opts.replay.then(|| {
            let mut h = async_nats::HeaderMap::new();
            h.insert(crate::REPLAY_HEADER, "true");
            h
        });
        if self.use_jetstream(&link).await {
            let sent = match &headers {
                Some(h) => {
                    link.jetstream
                        .publish_with_headers(self.subject.clone(), h.clone(), body.clone())
                        .await
                }
                None => link.jetstream.publish(self.subject.clone(), body.clone()).await,
            };
            match sent {
                Ok(ack) => match ack.await {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                        // The stream went away: fall back to core NATS.
                        *link.mode.lock().expect("mode lock") = (false, Instant::now());
                    }
                    Err(e) => return Err(fail("JetStream publish", &e)),
                },
                Err(e) => return Err(fail("JetStream publish", &e)),
            }
        }
        match headers {
            Some(h) => {
                link.client
                    .publish_with_headers(self.subject.clone(), h, body.clone())
                    .await
            }
            None => link.client.publish(self.subject.clone(), body.clone()).await,
        }
        .map_err(|e| fail("publish", &e))?;
        link.client.flush().await.map_err(|e| fail("flush", &e))
    }
}

#[async_trait::async_trait]
impl Endpoint for NatsEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), PushError> {
        crate::broker::within(&self.shown, self.opts.timeout, self.publish(body)).await
    }

    fn describe(&self) -> String {
        format!("{} subject={}", self.shown, self.subject)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn uri_and_auth_are_read() {
        let o = EndpointOptions::from_attributes(&BTreeMap::new(), "arn:aws:sns:r:u:events").unwrap();
        let e = NatsEndpoint::new("nats://s3cr3t@127.0.0.1", o.clone()).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.user.as_deref(), e.password.as_deref()),
            ("127.0.0.1", 4222, Some("s3cr3t"), None)
        );
        assert_eq!(e.describe(), "nats://127.0.0.1 subject=events");
        let e = NatsEndpoint::new("nats://u:p@127.0.0.1:4333", o).unwrap();
        assert_eq!((e.port, e.password.as_deref()), (4333, Some("p")));
    }
}
