//! `webhook` source: an HTTP receiver for pushed events (Herald topics with
//! an `http://` push-endpoint, or any S3 webhook publisher).
//!
//! - `GET /ping` answers `Pong` (liveness).
//! - `POST /webhook` with `"Type":"SubscriptionConfirmation"` answers the
//!   subscription handshake: `{"signature": hex(HMAC(url, HMAC(TopicArn,
//!   HMAC(Timestamp, Token))))}`, `HMAC(message, key)` being HMAC-SHA256.
//!   Nothing else of the handshake is used: no URL in it is fetched and
//!   none of its fields is echoed.
//! - Any other `POST /webhook` is an event message: its
//!   `x-herald-signature` is checked when a secret is configured (and a
//!   signature already taken is dropped as a replay), it is written to the
//!   durable spool, and only then answered 200. Workers apply spooled
//!   messages and remove them once done; a failed one is retried after
//!   `retry_delay_seconds`.
//!
//! Every connection is bounded: `max_connections` served at once (more wait
//! in the kernel's backlog), headers within [`HEADER_READ_TIMEOUT`] (also
//! the idle time of a kept-alive connection) and [`MAX_HEADER_BYTES`], the
//! body within `max_body_bytes` (413, decided on Content-Length before
//! reading when it is given) and [`BODY_READ_TIMEOUT`] (408).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};

use super::replay::{ReplayGuard, Verdict};
use crate::config::SourceConfig;
use crate::event;
use crate::pipeline::{Disposition, Pipeline};
use crate::spool::Spool;
use crate::{fields, log};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How far a signature's timestamp may be from now (replay window).
const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// A client must send its request line and headers within this time; the
/// same bound closes a kept-alive connection that sends nothing.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole body must arrive within this time once the headers did.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Request line and headers together (a push has a handful of short ones).
pub const MAX_HEADER_BYTES: usize = 16 << 10;
/// The topic ARN as logged for a handshake (it is the sender's text).
const MAX_LOGGED_ARN: usize = 256;

struct Receiver {
    cfg: SourceConfig,
    spool: Arc<Spool>,
    /// Signatures taken within their window; `None` without a secret.
    replays: Option<ReplayGuard>,
    queue: mpsc::UnboundedSender<PathBuf>,
    pipeline: Arc<Pipeline>,
}

fn hmac(message: &[u8], key: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The handshake answer for a SubscriptionConfirmation.
pub fn handshake_signature(url: &str, topic_arn: &str, timestamp: &str, token: &str) -> String {
    let k1 = hmac(timestamp.as_bytes(), token.as_bytes());
    let k2 = hmac(topic_arn.as_bytes(), &k1);
    hex::encode(hmac(url.as_bytes(), &k2))
}

/// A verified signature: what the replay guard remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Its timestamp (unix seconds).
    pub t: i64,
    /// The MAC, which is unique to the (timestamp, body) pair.
    pub mac: Vec<u8>,
}

impl Signature {
    /// When the window check starts refusing this signature.
    pub fn expires(&self) -> i64 {
        self.t.saturating_add(SIGNATURE_TOLERANCE_SECONDS)
    }
}

/// Checks `x-herald-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn verify_signature(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<Signature, &'static str> {
    let header = header.ok_or("missing x-herald-signature")?;
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (t, v1) = (t.ok_or("signature without t=")?, v1.ok_or("signature without v1=")?);
    if now.saturating_sub(t).saturating_abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err("signature timestamp too far from now");
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).map_err(|_| "signature does not match")?;
    Ok(Signature { t, mac: v1 })
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    reply(status, "text/plain", body)
}

impl Receiver {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/ping") => return Ok(text(StatusCode::OK, "Pong\n")),
            (&Method::POST, "/webhook") => {}
            _ => return Ok(text(StatusCode::NOT_FOUND, "use POST /webhook or GET /ping\n")),
        }
        let header =
            |name: http::header::HeaderName| req.headers().get(name).and_then(|h| h.to_str().ok()).map(String::from);
        let host = header(http::header::HOST).unwrap_or_default();
        let signature = header(http::HeaderName::from_static("x-herald-signature"));
        let body = match self.read_body(req).await {
            Ok(b) => b,
            Err(refused) => return Ok(refused),
        };
        if let Some(answer) = self.handshake(&body, &host, &path) {
            return Ok(answer);
        }
        Ok(self.take_event(body, signature.as_deref()).await)
    }

    /// The body, within `max_body_bytes` (413) and [`BODY_READ_TIMEOUT`] (408).
    async fn read_body(&self, req: Request<Incoming>) -> Result<Bytes, Response<Full<Bytes>>> {
        let max = self.cfg.webhook_limits.max_body_bytes;
        let too_large = || {
            log::warn(
                &format!("source '{}': refused a POST larger than {max} bytes", self.cfg.name),
                fields! {"source" => self.cfg.name, "max_body_bytes" => max},
            );
            text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body larger than max_body_bytes ({max})\n"),
            )
        };
        let declared = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let collect = Limited::new(req.into_body(), max).collect();
        match tokio::time::timeout(BODY_READ_TIMEOUT, collect).await {
            Ok(Ok(b)) => Ok(b.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Ok(Err(e)) => Err(text(StatusCode::BAD_REQUEST, format!("cannot read body: {e}\n"))),
            Err(_) => Err(text(
                StatusCode::REQUEST_TIMEOUT,
                format!("body not received within {} s\n", BODY_READ_TIMEOUT.as_secs()),
            )),
        }
    }

    /// Answers a `SubscriptionConfirmation` (None for anything else). The
    /// answer is an HMAC of the sender's own fields keyed by its own token:
    /// it reveals nothing the sender does not know, and no URL of the
    /// message (`SubscribeURL` or any other) is fetched.
    fn handshake(&self, body: &[u8], host: &str, path: &str) -> Option<Response<Full<Bytes>>> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        if v.get("Type").and_then(|t| t.as_str()) != Some("SubscriptionConfirmation") {
            return None;
        }
        let name = &self.cfg.name;
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("");
        let url = self
            .cfg
            .webhook_url
            .clone()
            .unwrap_or_else(|| format!("http://{host}{path}"));
        let sig = handshake_signature(&url, s("TopicArn"), s("Timestamp"), s("Token"));
        let bounded = |v: &str| v.chars().take(MAX_LOGGED_ARN).collect::<String>();
        log::info(
            &format!(
                "source '{name}': confirming the subscription of topic {}",
                log::quoted(s("TopicArn"), MAX_LOGGED_ARN)
            ),
            fields! {"source" => name, "topic_arn" => bounded(s("TopicArn")), "url" => bounded(&url)},
        );
        Some(reply(
            StatusCode::OK,
            "application/json",
            serde_json::json!({ "signature": sig }).to_string(),
        ))
    }

    /// The signature of an event POST when a secret is set (401 if wrong).
    // The Err is the ready 401 answer, built once on a refused POST.
    #[allow(clippy::result_large_err)]
    fn check_signature(&self, header: Option<&str>, body: &[u8]) -> Result<Option<Signature>, Response<Full<Bytes>>> {
        let Some(secret) = &self.cfg.webhook_secret else {
            return Ok(None);
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        verify_signature(secret, header, body, now).map(Some).map_err(|why| {
            let name = &self.cfg.name;
            log::warn(
                &format!("source '{name}': refused a POST: {why}"),
                fields! {"source" => name},
            );
            text(StatusCode::UNAUTHORIZED, format!("{why}\n"))
        })
    }

    /// An event POST: signature, parse, replay guard, spool.
    async fn take_event(&self, body: Bytes, signature: Option<&str>) -> Response<Full<Bytes>> {
        let signed = match self.check_signature(signature, &body) {
            Ok(s) => s,
            Err(refused) => return refused,
        };
        let msg = match event::parse(&body) {
            Ok(m) => m,
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("not an S3 event message: {e}\n")),
        };
        if self.pipeline.self_test_only {
            // `herald agent self-test`: take only the test's own events;
            // anything else is refused so that the publisher retries it
            // later, when the agent runs again.
            return match self.pipeline.process(&msg).await {
                Ok(Disposition::Done) => text(StatusCode::OK, "OK\n"),
                _ => text(StatusCode::SERVICE_UNAVAILABLE, "self test running, retry later\n"),
            };
        }
        if let Some(refused) = self.guard_replay(signed.as_ref()) {
            return refused;
        }
        self.spool(body, signed.as_ref()).await
    }

    /// None when the event is new; else the answer: 200 for a replay (so
    /// that a publisher does not retry it forever; it is dropped), 503
    /// when the guard is full (retried later, when entries expired).
    fn guard_replay(&self, signed: Option<&Signature>) -> Option<Response<Full<Bytes>>> {
        let (Some(guard), Some(sig)) = (&self.replays, signed) else {
            return None;
        };
        let name = &self.cfg.name;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match guard.check(&sig.mac, sig.expires(), now) {
            Verdict::Fresh => None,
            Verdict::Replay => {
                log::warn(
                    &format!("source '{name}': dropped a replayed event (its signature was already taken)"),
                    fields! {"source" => name, "signature_time" => sig.t},
                );
                Some(text(StatusCode::OK, "OK (replay dropped)\n"))
            }
            Verdict::Full => {
                let max = self.cfg.webhook_limits.replay_cache_entries;
                log::error(
                    &format!(
                        "source '{name}': {max} signatures are held within their window \
                         (replay_cache_entries); answered 503, the sender retries"
                    ),
                    fields! {"source" => name, "replay_cache_entries" => max},
                );
                Some(text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many events within the signature window, retry later\n",
                ))
            }
        }
    }

    /// Durably spools the event, then queues it for the workers.
    async fn spool(&self, body: Bytes, signed: Option<&Signature>) -> Response<Full<Bytes>> {
        let name = &self.cfg.name;
        let spool = self.spool.clone();
        let written = tokio::task::spawn_blocking(move || spool.write(&body)).await;
        let failed = match written {
            Ok(Ok(p)) => {
                let _ = self.queue.send(p);
                return text(StatusCode::OK, "OK\n");
            }
            Ok(Err(e)) => {
                log::error(
                    &format!("source '{name}': cannot spool an event (answered 503, the sender retries): {e}"),
                    fields! {"source" => name, "spool" => self.spool.dir().display().to_string()},
                );
                text(StatusCode::SERVICE_UNAVAILABLE, "spool write failed\n")
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        };
        // Not taken: the same request sent again must be taken then.
        if let (Some(guard), Some(sig)) = (&self.replays, signed) {
            guard.forget(&sig.mac);
        }
        failed
    }
}

/// Binds the listener (so a busy port fails the start) and runs the
/// receiver and its workers until shutdown.
pub async fn start(
    cfg: SourceConfig,
    pipeline: Arc<Pipeline>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listen = cfg.listen.clone().unwrap_or_default();
    let addr: SocketAddr = listen
        .parse()
        .map_err(|e| anyhow::anyhow!("source '{}': listen {listen:?}: {e}", cfg.name))?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("source '{}': cannot listen on {addr}: {e}", cfg.name))?;
    let spool = Arc::new(
        Spool::open(&cfg.spool_dir)
            .map_err(|e| anyhow::anyhow!("source '{}': spool {}: {e}", cfg.name, cfg.spool_dir.display()))?,
    );
    let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
    // The self test neither replays nor takes spooled messages: they wait
    // for the agent.
    let pending = if pipeline.self_test_only {
        Vec::new()
    } else {
        spool.pending()?
    };
    if !pending.is_empty() {
        log::info(
            &format!("source '{}': replaying {} spooled messages", cfg.name, pending.len()),
            fields! {"source" => cfg.name, "spool" => cfg.spool_dir.display().to_string()},
        );
    }
    for p in pending {
        let _ = tx.send(p);
    }
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let workers = if pipeline.self_test_only { 0 } else { cfg.workers };
    for _ in 0..workers {
        tokio::spawn(worker(
            rx.clone(),
            tx.clone(),
            spool.clone(),
            pipeline.clone(),
            Duration::from_secs(cfg.retry_delay_seconds.max(1) as u64),
        ));
    }
    log::info(
        &format!("source '{}': webhook listening on http://{addr}/webhook", cfg.name),
        fields! {"source" => cfg.name, "listen" => addr.to_string()},
    );
    let replays = open_replay_guard(&cfg, &spool, pipeline.self_test_only)?;
    let connections = Arc::new(Semaphore::new(cfg.webhook_limits.max_connections));
    let receiver = Arc::new(Receiver {
        cfg,
        spool,
        replays,
        queue: tx,
        pipeline,
    });
    Ok(tokio::spawn(accept_loop(listener, receiver, connections, shutdown)))
}

/// The replay guard of a signed source, kept next to its spool. The self
/// test takes no event for good, so it needs none.
fn open_replay_guard(cfg: &SourceConfig, spool: &Spool, self_test_only: bool) -> anyhow::Result<Option<ReplayGuard>> {
    if cfg.webhook_secret.is_none() || self_test_only {
        return Ok(None);
    }
    let path = spool.dir().join("replay-guard");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let guard = ReplayGuard::open(&path, cfg.webhook_limits.replay_cache_entries, now)
        .map_err(|e| anyhow::anyhow!("source '{}': replay guard {}: {e}", cfg.name, path.display()))?;
    Ok(Some(guard))
}

/// One connection's HTTP/1 settings: bounded header size and time.
fn http1_builder() -> http1::Builder {
    let mut b = http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES);
    b
}

/// Accepts connections while fewer than `max_connections` are open;
/// beyond that the next ones wait in the listen backlog (backpressure, no
/// buffering of ours).
async fn accept_loop(
    listener: TcpListener,
    receiver: Arc<Receiver>,
    connections: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let builder = http1_builder();
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => p,
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let r = receiver.clone();
        let conn = builder.serve_connection(TokioIo::new(stream), service_fn(move |req| r.clone().handle(req)));
        tokio::spawn(async move {
            let _permit = permit;
            let _ = conn.await;
        });
    }
}

async fn worker(
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<PathBuf>>>,
    tx: mpsc::UnboundedSender<PathBuf>,
    spool: Arc<Spool>,
    pipeline: Arc<Pipeline>,
    retry: Duration,
) {
    loop {
        let next = rx.lock().await.recv().await;
        let Some(path) = next else { return };
        let result = match std::fs::read(&path) {
            Ok(body) => match event::parse(&body) {
                Ok(msg) => match pipeline.process(&msg).await {
                    Ok(Disposition::Done) => Ok(()),
                    Ok(Disposition::Release) => Err("not taken in self-test mode".to_string()),
                    Err(e) => Err(e),
                },
                Err(e) => {
                    // Checked before spooling; only a damaged file gets here.
                    log::error(
                        &format!("spool entry {} is not an event ({e}); removed", path.display()),
                        fields! {},
                    );
                    Ok(())
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => Err(format!("cannot read spool entry {}: {e}", path.display())),
        };
        match result {
            Ok(()) => {
                if let Err(e) = spool.remove(&path) {
                    log::error(
                        &format!(
                            "cannot remove spool entry {} (it will be applied again): {e}",
                            path.display()
                        ),
                        fields! {},
                    );
                }
            }
            Err(e) => {
                pipeline.stats.message_failed(&e);
                log::error(
                    &format!(
                        "source '{}': message failed, retried in {} s: {e}",
                        pipeline.source,
                        retry.as_secs()
                    ),
                    fields! {"source" => pipeline.source},
                );
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(retry).await;
                    let _ = tx.send(path);
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_matches_the_reference_chain() {
        // Same vector as Herald's sender (herald-endpoints handshake.rs),
        // computed independently with Python's hmac module.
        assert_eq!(
            handshake_signature("http://h/webhook", "arn:x", "2019-12-26T19:29:12+03:00", "TOKEN"),
            "5228caf5eb7ea68428f65dbb746b276a9be36e600c753d847ab20fdedb2bb320"
        );
    }

    #[test]
    fn signatures_are_checked_with_a_replay_window() {
        let body = br#"{"Records":[]}"#;
        let mut mac = HmacSha256::new_from_slice(b"s3cret").unwrap();
        mac.update(b"1000.");
        mac.update(body);
        let good = format!("t=1000,v1={}", hex::encode(mac.finalize().into_bytes()));
        let sig = verify_signature("s3cret", Some(&good), body, 1010).unwrap();
        assert_eq!((sig.t, sig.expires(), sig.mac.len()), (1000, 1300, 32));
        assert!(verify_signature("other", Some(&good), body, 1010).is_err());
        assert!(verify_signature("s3cret", Some(&good), b"{}", 1010).is_err());
        assert!(verify_signature("s3cret", Some(&good), body, 2000).is_err());
        assert!(verify_signature("s3cret", None, body, 1000).is_err());
    }
}
