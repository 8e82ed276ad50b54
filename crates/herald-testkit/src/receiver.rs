//! A webhook receiver that records every push (with switchable answers),
//! and the HMAC checks of push signatures and the subscription handshake.

use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::convert::Infallible;
use std::net::TcpListener as StdListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The handshake signature as the spec defines it, computed independently
/// of the server.
pub fn handshake_signature(token: &str, timestamp: &str, topic_arn: &str, url: &str) -> String {
    let k1 = hmac_sha256(token.as_bytes(), timestamp.as_bytes());
    let k2 = hmac_sha256(&k1, topic_arn.as_bytes());
    hex::encode(hmac_sha256(&k2, url.as_bytes()))
}

// ---------------------------------------------------------------------------
// Webhook receiver.

#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query as received.
    pub path: String,
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn is_handshake(&self) -> bool {
        self.header("x-amz-sns-messages-type") == Some("SubscriptionConfirmation")
    }
    /// The `Records` of an event push (empty for anything else).
    pub fn records(&self) -> Vec<Value> {
        match self.json() {
            Some(v) => v.get("Records").and_then(|r| r.as_array()).cloned().unwrap_or_default(),
            None => Vec::new(),
        }
    }
    pub fn is_test_event(&self) -> bool {
        self.json()
            .map(|v| v.get("Event").and_then(|e| e.as_str()) == Some("s3:TestEvent"))
            .unwrap_or(false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Answer 200 to pushes and the right signature to handshakes.
    Ok,
    /// Answer this status to pushes (handshakes still answered right).
    Status(u16),
    /// Answer 200 to pushes but a wrong signature to handshakes.
    WrongHandshake,
}

struct State {
    log: Vec<Received>,
    mode: Mode,
}

struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// An HTTP receiver on 127.0.0.1 running on its own thread and runtime (so
/// blocking calls in the test never starve it). `stop()` closes the
/// listener and every connection; `start()` listens again on the same port.
pub struct Receiver {
    port: u16,
    state: Arc<Mutex<State>>,
    running: Option<Running>,
}

impl Receiver {
    /// A receiver that is already listening.
    pub fn start_new() -> Receiver {
        let mut r = Receiver::reserved();
        r.start();
        r
    }

    /// A receiver with a port picked but nothing listening ("down").
    pub fn reserved() -> Receiver {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        Receiver {
            port,
            state: Arc::new(Mutex::new(State {
                log: Vec::new(),
                mode: Mode::Ok,
            })),
            running: None,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/PATH`
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{}", self.port, path.trim_start_matches('/'))
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn start(&mut self) {
        assert!(self.running.is_none(), "receiver already running");
        let deadline = Instant::now() + Duration::from_secs(20);
        let listener = loop {
            match StdListener::bind(("127.0.0.1", self.port)) {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("receiver cannot bind 127.0.0.1:{}: {e}", self.port),
            }
        };
        listener.set_nonblocking(true).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = self.state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let mut rx = rx;
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        acc = listener.accept() => {
                            let Ok((stream, _)) = acc else { continue };
                            let state = state.clone();
                            tokio::spawn(async move {
                                let io = hyper_util::rt::TokioIo::new(stream);
                                let svc = hyper::service::service_fn(move |req| {
                                    handle(req, state.clone())
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(io, svc)
                                    .await;
                            });
                        }
                    }
                }
            });
            // Dropping the runtime cancels every connection task and closes
            // their sockets: the receiver is really down.
            rt.shutdown_background();
        });
        self.running = Some(Running { stop: tx, thread });
    }

    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            let _ = r.thread.join();
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// Every record of every push the receiver accepted (answered 2xx), in
    /// arrival order.
    pub fn delivered_records(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(|r| r.records())
            .collect()
    }

    /// Every record of every push, whatever the receiver answered.
    pub fn attempted_records(&self) -> Vec<Value> {
        self.requests().iter().flat_map(|r| r.records()).collect()
    }

    pub fn test_events(&self) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.is_test_event()).collect()
    }

    pub fn handshakes(&self) -> Vec<Received> {
        self.requests().into_iter().filter(|r| r.is_handshake()).collect()
    }

    /// Delivered records whose object key (as sent, URL-encoded) is `key`.
    pub fn delivered_for_key(&self, key: &str) -> Vec<Value> {
        self.delivered_records()
            .into_iter()
            .filter(|r| r["s3"]["object"]["key"] == key)
            .collect()
    }

    /// Poll (up to `secs`) until `f(self)` holds; panic with `what` and the
    /// receiver log otherwise.
    pub async fn wait_for(&self, what: &str, secs: u64, f: impl Fn(&Receiver) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if f(self) {
                return;
            }
            if Instant::now() > deadline {
                let log: Vec<String> = self
                    .requests()
                    .iter()
                    .map(|r| format!("{} {} -> {}: {}", r.method, r.path, r.status, r.body_str()))
                    .collect();
                panic!(
                    "receiver :{}: gave up after {secs} s waiting for {what}; received {} requests:\n{}",
                    self.port,
                    log.len(),
                    log.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until a record for `key` with `event_name` was delivered.
    pub async fn wait_event(&self, key: &str, event_name: &str) -> Value {
        self.wait_for(&format!("{event_name} on {key}"), 30, |r| {
            r.delivered_for_key(key).iter().any(|e| e["eventName"] == event_name)
        })
        .await;
        self.delivered_for_key(key)
            .into_iter()
            .find(|e| e["eventName"] == event_name)
            .unwrap()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host = req
        .headers()
        .get("host")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let mode = state.lock().unwrap().mode;
    let is_handshake = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-amz-sns-messages-type") && v == "SubscriptionConfirmation");
    let (status, answer): (u16, Vec<u8>) = if is_handshake {
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        let url = format!("http://{host}{path}");
        let mut sig = handshake_signature(&s("Token"), &s("Timestamp"), &s("TopicArn"), &url);
        if mode == Mode::WrongHandshake {
            sig = "0".repeat(64);
        }
        (
            200,
            serde_json::to_vec(&serde_json::json!({ "signature": sig })).unwrap(),
        )
    } else {
        match mode {
            Mode::Ok | Mode::WrongHandshake => (200, Vec::new()),
            Mode::Status(s) => (s, b"receiver says no".to_vec()),
        }
    };
    state.lock().unwrap().log.push(Received {
        method,
        path,
        host,
        headers,
        body,
        status,
    });
    let mut resp = hyper::Response::new(Full::new(Bytes::from(answer)));
    *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    if is_handshake {
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
    }
    Ok(resp)
}
