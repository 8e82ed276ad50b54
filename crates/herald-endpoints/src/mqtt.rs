//! MQTT 3.1.1: each event is published with QoS 1 (at least once),
//! retain off, on the MQTT topic named like the Herald topic.
//!
//! A push completes when the broker's PUBACK for it arrives. The client
//! library reports packet ids only as the event loop sends them, in the
//! order publishes were queued, so pushes queue under a lock and the
//! event loop pairs each sent packet id with the oldest waiting push.
//! Any connection error fails every push in flight and throws the
//! connection away (the next push reconnects after backoff): the delivery
//! log retries them, which keeps the pairing simple and exact.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::{Mutex, oneshot};

use crate::broker::{Backoff, BrokerUri};
use crate::{Endpoint, EndpointError, EndpointOptions, PushError};

/// Largest event the connection carries.
const MAX_PACKET: usize = 16 * 1024 * 1024;
/// Unacknowledged publishes on the wire at once.
const INFLIGHT: u16 = 100;

type Waiter = oneshot::Sender<Result<(), String>>;

/// A topic's MQTT destination.
pub struct MqttEndpoint {
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    tls: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
    topic: String,
    opts: EndpointOptions,
    shown: String,
    link: Mutex<Option<Arc<Link>>>,
    backoff: Backoff,
}

struct Link {
    client: AsyncClient,
    alive: Arc<AtomicBool>,
    waiters: Arc<StdMutex<Waiters>>,
    /// Keeps "queue the waiter" and "queue the publish" in one order.
    order: Mutex<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Waiters {
    /// Publishes queued but not yet sent, oldest first.
    queued: VecDeque<Waiter>,
    /// Sent publishes awaiting PUBACK, by packet id.
    sent: HashMap<u16, Waiter>,
}

impl Waiters {
    fn fail_all(&mut self, why: &str) {
        for w in self.queued.drain(..).chain(self.sent.drain().map(|(_, w)| w)) {
            let _ = w.send(Err(why.to_owned()));
        }
    }
}

impl MqttEndpoint {
    pub fn new(uri: &str, opts: EndpointOptions) -> Result<Self, EndpointError> {
        let parsed = BrokerUri::parse(uri, |s| if s == "mqtts" { 8883 } else { 1883 })?;
        let tls = if parsed.scheme == "mqtts" {
            Some(Arc::new(crate::http::tls_config_for(&opts, Some(&parsed.host))?))
        } else {
            None
        };
        Ok(MqttEndpoint {
            host: parsed.host,
            port: parsed.port,
            credentials: parsed.user.map(|u| (u, parsed.password.unwrap_or_default())),
            tls,
            topic: opts.topic_name.clone(),
            shown: crate::log_form(uri),
            opts,
            link: Mutex::new(None),
            backoff: Backoff::new(crate::log_form(uri)),
        })
    }

    async fn link(&self) -> Result<Arc<Link>, PushError> {
        let mut slot = self.link.lock().await;
        if let Some(l) = slot.as_ref() {
            if l.alive.load(Ordering::Acquire) {
                return Ok(l.clone());
            }
            *slot = None;
        }
        let link = Arc::new(self.backoff.connect(self.opts.timeout, self.connect()).await?);
        tracing::info!(endpoint = %self.shown, topic = %self.topic, "connected to MQTT broker");
        *slot = Some(link.clone());
        Ok(link)
    }

    /// Connects to the first address the policy allows for the broker's
    /// name that answers (TLS still verifies the name: see `tls_config_for`).
    async fn connect(&self) -> Result<Link, String> {
        let addrs = self.opts.allowed_addrs(&self.host, self.port, &self.shown).await?;
        let mut last = String::new();
        for addr in addrs {
            match self.connect_to(addr).await {
                Ok(link) => return Ok(link),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_to(&self, addr: std::net::SocketAddr) -> Result<Link, String> {
        let id = format!("herald-{}-{:08x}", self.topic, rand_u32());
        let mut options = MqttOptions::new(id, addr.ip().to_string(), addr.port());
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_inflight(INFLIGHT)
            .set_max_packet_size(MAX_PACKET, MAX_PACKET);
        if let Some((u, p)) = &self.credentials {
            options.set_credentials(u.clone(), p.clone());
        }
        if let Some(tls) = &self.tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(tls.clone())));
        }
        let (client, mut eventloop) = AsyncClient::new(options, INFLIGHT as usize);
        // Wait for CONNACK before the link is used.
        tokio::time::timeout(self.opts.timeout, async {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) => return Err(e.to_string()),
                }
            }
        })
        .await
        .map_err(|_| "no CONNACK within the push timeout".to_owned())??;
        let alive = Arc::new(AtomicBool::new(true));
        let waiters = Arc::new(StdMutex::new(Waiters::default()));
        let task = tokio::spawn(drive(eventloop, alive.clone(), waiters.clone(), self.shown.clone()));
        Ok(Link {
            client,
            alive,
            waiters,
            order: Mutex::new(()),
            task,
        })
    }

    async fn publish(&self, body: &Bytes) -> Result<(), PushError> {
        let link = self.link().await?;
        let fail = |reason: String| PushError::Other(format!("{}: publish to {:?}: {reason}", self.shown, self.topic));
        let (tx, rx) = oneshot::channel();
        {
            let _order = link.order.lock().await;
            if !link.alive.load(Ordering::Acquire) {
                return Err(fail("connection lost".into()));
            }
            link.waiters.lock().expect("waiters lock").queued.push_back(tx);
            if let Err(e) = link
                .client
                .publish(self.topic.as_str(), QoS::AtLeastOnce, false, body.to_vec())
                .await
            {
                // The request never reached the event loop: take our waiter
                // back out (it is the newest).
                link.waiters.lock().expect("waiters lock").queued.pop_back();
                return Err(fail(e.to_string()));
            }
        }
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(fail(e)),
            Err(_) => Err(fail("connection closed".into())),
        }
    }
}

/// Runs the connection: pairs sent packet ids with waiting pushes,
/// completes them on PUBACK, and on any error fails them all and stops.
async fn drive(mut eventloop: EventLoop, alive: Arc<AtomicBool>, waiters: Arc<StdMutex<Waiters>>, shown: String) {
    loop {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let mut w = waiters.lock().expect("waiters lock");
                if let Some(tx) = w.queued.pop_front() {
                    w.sent.insert(pkid, tx);
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(tx) = waiters.lock().expect("waiters lock").sent.remove(&ack.pkid) {
                    let _ = tx.send(Ok(()));
                }
            }
            Ok(_) => {}
            Err(e) => {
                alive.store(false, Ordering::Release);
                let why = format!("connection error: {e}");
                tracing::warn!(endpoint = %shown, error = %e, "MQTT connection lost");
                waiters.lock().expect("waiters lock").fail_all(&why);
                return;
            }
        }
    }
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish() as u32
}

#[async_trait::async_trait]
impl Endpoint for MqttEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), PushError> {
        crate::broker::within(&self.shown, self.opts.timeout, self.publish(body)).await
    }

    fn describe(&self) -> String {
        format!("{} topic={}", self.shown, self.topic)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn defaults_and_credentials() {
        let o = EndpointOptions::from_attributes(&BTreeMap::new(), "arn:aws:sns:r:u:events").unwrap();
        let e = MqttEndpoint::new("mqtt://u:p@127.0.0.1", o.clone()).unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.topic.as_str()),
            ("127.0.0.1", 1883, "events")
        );
        assert_eq!(e.credentials, Some(("u".into(), "p".into())));
        assert!(e.tls.is_none());
        let e = MqttEndpoint::new("mqtts://broker", o).unwrap();
        assert_eq!(e.port, 8883);
        assert!(e.tls.is_some());
    }

    #[test]
    fn a_lost_connection_fails_every_waiter() {
        let mut w = Waiters::default();
        let (a, mut ra) = oneshot::channel();
        let (b, mut rb) = oneshot::channel();
        w.queued.push_back(a);
        w.sent.insert(7, b);
        w.fail_all("gone");
        assert_eq!(ra.try_recv().unwrap(), Err("gone".to_owned()));
        assert_eq!(rb.try_recv().unwrap(), Err("gone".to_owned()));
    }
}
