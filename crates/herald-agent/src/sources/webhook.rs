//! `webhook` source: an HTTP receiver for pushed events (Herald topics with
//! an `http://` push-endpoint, or any S3 webhook publisher).
//!
//! - `GET /ping` answers `Pong` (liveness).
//! - `POST /webhook` with `"Type":"SubscriptionConfirmation"` answers the
//!   subscription handshake: `{"signature": hex(HMAC(url, HMAC(TopicArn,
//!   HMAC(Timestamp, Token))))}`, `HMAC(message, key)` being HMAC-SHA256.
//! - Any other `POST /webhook` is an event message: its
//!   `x-herald-signature` is checked when a secret is configured, it is
//!   written to the durable spool, and only then answered 200. Workers
//!   apply spooled messages and remove them once done; a failed one is
//!   retried after `retry_delay_seconds`.

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
use tokio::sync::{mpsc, watch};

use crate::config::SourceConfig;
use crate::event;
use crate::pipeline::{Disposition, Pipeline};
use crate::spool::Spool;
use crate::{fields, log};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Largest message accepted (Herald's pushes are far smaller).
const MAX_BODY: usize = 16 << 20;
/// How far a signature's timestamp may be from now (replay window).
const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

struct Receiver {
    cfg: SourceConfig,
    spool: Arc<Spool>,
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

/// Checks `x-herald-signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn verify_signature(secret: &str, header: Option<&str>, body: &[u8], now: i64) -> Result<(), &'static str> {
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
    if (now - t).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err("signature timestamp too far from now");
    }
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).map_err(|_| "signature does not match")
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

impl Receiver {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let name = &self.cfg.name;
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/ping") => return Ok(reply(StatusCode::OK, "text/plain", "Pong\n")),
            (&Method::POST, "/webhook") => {}
            _ => {
                return Ok(reply(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "use POST /webhook or GET /ping\n",
                ));
            }
        }
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let signature = req
            .headers()
            .get("x-herald-signature")
            .and_then(|h| h.to_str().ok())
            .map(String::from);
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("cannot read body: {e}\n"),
                ));
            }
        };
        let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        if let Some(v) = &json
            && v.get("Type").and_then(|t| t.as_str()) == Some("SubscriptionConfirmation")
        {
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
            let url = self
                .cfg
                .webhook_url
                .clone()
                .unwrap_or_else(|| format!("http://{host}{path}"));
            let sig = handshake_signature(&url, &s("TopicArn"), &s("Timestamp"), &s("Token"));
            log::info(
                &format!(
                    "source '{name}': confirming the subscription of topic {}",
                    s("TopicArn")
                ),
                fields! {"source" => name, "topic_arn" => s("TopicArn"), "url" => url},
            );
            return Ok(reply(
                StatusCode::OK,
                "application/json",
                serde_json::json!({ "signature": sig }).to_string(),
            ));
        }
        if let Some(secret) = &self.cfg.webhook_secret {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if let Err(why) = verify_signature(secret, signature.as_deref(), &body, now) {
                log::warn(
                    &format!("source '{name}': refused a POST: {why}"),
                    fields! {"source" => name},
                );
                return Ok(reply(StatusCode::UNAUTHORIZED, "text/plain", format!("{why}\n")));
            }
        }
        let msg = match event::parse(&body) {
            Ok(m) => m,
            Err(e) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    format!("not an S3 event message: {e}\n"),
                ));
            }
        };
        if self.pipeline.self_test_only {
            // `herald agent self-test`: take only the test's own events;
            // anything else is refused so that the publisher retries it
            // later, when the agent runs again.
            return Ok(match self.pipeline.process(&msg).await {
                Ok(Disposition::Done) => reply(StatusCode::OK, "text/plain", "OK\n"),
                _ => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "self test running, retry later\n",
                ),
            });
        }
        let spool = self.spool.clone();
        let written = tokio::task::spawn_blocking(move || spool.write(&body)).await;
        match written {
            Ok(Ok(p)) => {
                let _ = self.queue.send(p);
                Ok(reply(StatusCode::OK, "text/plain", "OK\n"))
            }
            Ok(Err(e)) => {
                log::error(
                    &format!("source '{name}': cannot spool an event (answered 503, the sender retries): {e}"),
                    fields! {"source" => name, "spool" => self.spool.dir().display().to_string()},
                );
                Ok(reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    "spool write failed\n",
                ))
            }
            Err(e) => Ok(reply(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("{e}\n"))),
        }
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
    let receiver = Arc::new(Receiver {
        cfg,
        spool,
        queue: tx,
        pipeline,
    });
    Ok(tokio::spawn(accept_loop(listener, receiver, shutdown)))
}

async fn accept_loop(listener: TcpListener, receiver: Arc<Receiver>, mut shutdown: watch::Receiver<bool>) {
    loop {
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
        tokio::spawn(async move {
            let service = service_fn(move |req| r.clone().handle(req));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
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
        assert_eq!(verify_signature("s3cret", Some(&good), body, 1010), Ok(()));
        assert!(verify_signature("other", Some(&good), body, 1010).is_err());
        assert!(verify_signature("s3cret", Some(&good), b"{}", 1010).is_err());
        assert!(verify_signature("s3cret", Some(&good), body, 2000).is_err());
        assert!(verify_signature("s3cret", None, body, 1000).is_err());
    }
}
