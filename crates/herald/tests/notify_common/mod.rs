//! Helpers for the bucket-notification tests: a webhook receiver that
//! records every push, a SigV4-signing raw client for the SNS query API and
//! for S3 requests the SDK cannot express (Ceph extensions), `/metrics`
//! parsing and the HMAC checks of push signatures / the handshake.
//!
//! Each test file declares `mod common; mod notify_common;`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use bytes::Bytes;
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use serde_json::Value;

use crate::common::{RawResponse, TestServer, raw_request};

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

// ---------------------------------------------------------------------------
// SigV4-signed raw requests.

/// Send `method target` to the server signed with SigV4 for `service`
/// ("sns" or "s3") as `access`/`secret`.
#[allow(clippy::too_many_arguments)]
pub fn signed_request(
    addr: SocketAddr,
    service: &str,
    access: &str,
    secret: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> RawResponse {
    let identity = aws_credential_types::Credentials::new(access, secret, None, None, "tests").into();
    let mut settings = SigningSettings::default();
    if service == "s3" {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(crate::common::REGION)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{addr}{target}");
    let host = addr.to_string();
    let mut all: Vec<(String, String)> = vec![("host".into(), host)];
    for (k, v) in headers {
        all.push((k.to_string(), v.to_string()));
    }
    let signable = SignableRequest::new(
        method,
        &uri,
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instr, _) = sign(signable, &params).unwrap().into_parts();
    let mut out: Vec<(String, String)> = all.clone();
    for (k, v) in instr.headers() {
        out.push((k.to_string(), v.to_string()));
    }
    let refs: Vec<(&str, &str)> = out.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    raw_request(addr, method, target, &refs, body)
        .unwrap_or_else(|e| panic!("{method} {target} ({service}) failed: {e}"))
}

// ---------------------------------------------------------------------------
// XML helpers (flat, enough for SNS / S3 answers).

pub fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Texts of every `<tag>...</tag>` (not nested), unescaped. `<tag/>` gives "".
pub fn xml_all(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let empty = format!("<{tag}/>");
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let a = rest.find(&open);
        let e = rest.find(&empty);
        match (a, e) {
            (Some(i), Some(j)) if j < i => {
                out.push(String::new());
                rest = &rest[j + empty.len()..];
            }
            (None, Some(j)) => {
                out.push(String::new());
                rest = &rest[j + empty.len()..];
            }
            (Some(i), _) => {
                let after = &rest[i + open.len()..];
                let Some(k) = after.find(&close) else { break };
                out.push(xml_unescape(&after[..k]));
                rest = &after[k + close.len()..];
            }
            (None, None) => break,
        }
    }
    out
}

pub fn xml_first(body: &str, tag: &str) -> Option<String> {
    xml_all(body, tag).into_iter().next()
}

/// Raw (escaped) inner XML of each `<tag>...</tag>`.
pub fn xml_blocks(body: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(k) = after.find(&close) else { break };
        out.push(after[..k].to_string());
        rest = &after[k + close.len()..];
    }
    out
}

pub fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

// ---------------------------------------------------------------------------
// SNS client.

#[derive(Debug)]
pub struct SnsError {
    pub status: u16,
    pub code: String,
    pub body: String,
}

pub struct Sns {
    pub addr: SocketAddr,
    pub access: String,
    pub secret: String,
}

impl Sns {
    pub fn new(srv: &TestServer, access: &str, secret: &str) -> Sns {
        Sns {
            addr: srv.addr(),
            access: access.into(),
            secret: secret.into(),
        }
    }

    pub fn root(srv: &TestServer) -> Sns {
        Sns::new(srv, crate::common::ROOT_ACCESS_KEY, crate::common::ROOT_SECRET_KEY)
    }

    /// POST / with the form `Action=...&Version=2010-03-31&params`.
    pub fn call(&self, action: &str, params: &[(&str, &str)]) -> RawResponse {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        ser.append_pair("Action", action);
        ser.append_pair("Version", "2010-03-31");
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        let body = ser.finish();
        signed_request(
            self.addr,
            "sns",
            &self.access,
            &self.secret,
            "POST",
            "/",
            &[("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            body.as_bytes(),
        )
    }

    fn result(&self, r: RawResponse) -> Result<String, SnsError> {
        let body = r.body_str();
        if r.status == 200 {
            Ok(body)
        } else {
            Err(SnsError {
                status: r.status,
                code: xml_first(&body, "Code").unwrap_or_default(),
                body,
            })
        }
    }

    pub fn try_create_topic(&self, name: &str, attrs: &[(&str, &str)]) -> Result<String, SnsError> {
        let mut params: Vec<(String, String)> = vec![("Name".into(), name.into())];
        for (i, (k, v)) in attrs.iter().enumerate() {
            params.push((format!("Attributes.entry.{}.key", i + 1), k.to_string()));
            params.push((format!("Attributes.entry.{}.value", i + 1), v.to_string()));
        }
        let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = self.result(self.call("CreateTopic", &refs))?;
        Ok(xml_first(&body, "TopicArn").unwrap_or_default())
    }

    /// CreateTopic; panics on failure; returns the ARN.
    pub fn create_topic(&self, name: &str, attrs: &[(&str, &str)]) -> String {
        match self.try_create_topic(name, attrs) {
            Ok(arn) => {
                assert!(!arn.is_empty(), "CreateTopic {name} answered no TopicArn");
                arn
            }
            Err(e) => panic!("CreateTopic {name} {attrs:?} failed: {e:?}"),
        }
    }

    pub fn get_topic_attributes(&self, arn: &str) -> Result<HashMap<String, String>, SnsError> {
        let body = self.result(self.call("GetTopicAttributes", &[("TopicArn", arn)]))?;
        let mut m = HashMap::new();
        for entry in xml_blocks(&body, "entry") {
            let k = xml_first(&entry, "key").unwrap_or_default();
            let v = xml_first(&entry, "value").unwrap_or_default();
            m.insert(k, v);
        }
        Ok(m)
    }

    pub fn list_topic_arns(&self) -> Vec<String> {
        let body = self
            .result(self.call("ListTopics", &[]))
            .unwrap_or_else(|e| panic!("ListTopics failed: {e:?}"));
        xml_all(&body, "TopicArn")
    }

    pub fn delete_topic(&self, arn: &str) -> Result<(), SnsError> {
        self.result(self.call("DeleteTopic", &[("TopicArn", arn)])).map(|_| ())
    }

    pub fn set_topic_attribute(&self, arn: &str, name: &str, value: &str) -> Result<(), SnsError> {
        self.result(self.call(
            "SetTopicAttributes",
            &[("TopicArn", arn), ("AttributeName", name), ("AttributeValue", value)],
        ))
        .map(|_| ())
    }
}

// ---------------------------------------------------------------------------
// S3 notification configuration as raw XML (Ceph extensions).

pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn s3_raw(srv: &TestServer, access: &str, secret: &str, method: &str, target: &str, body: &[u8]) -> RawResponse {
    use md5::Digest;
    let md5 = b64(&md5::Md5::digest(body));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if !body.is_empty() {
        headers.push(("content-md5", &md5));
        headers.push(("content-type", "application/xml"));
    }
    signed_request(srv.addr(), "s3", access, secret, method, target, &headers, body)
}

/// PUT /bucket?notification with this XML, as root.
pub fn put_notification_xml(srv: &TestServer, bucket: &str, xml: &str) -> RawResponse {
    put_notification_xml_as(
        srv,
        crate::common::ROOT_ACCESS_KEY,
        crate::common::ROOT_SECRET_KEY,
        bucket,
        xml,
    )
}

pub fn put_notification_xml_as(srv: &TestServer, access: &str, secret: &str, bucket: &str, xml: &str) -> RawResponse {
    s3_raw(
        srv,
        access,
        secret,
        "PUT",
        &format!("/{bucket}?notification"),
        xml.as_bytes(),
    )
}

/// Like `put_notification_xml` but panics unless the answer is 200.
pub fn must_put_notification_xml(srv: &TestServer, bucket: &str, xml: &str) {
    let r = put_notification_xml(srv, bucket, xml);
    assert_eq!(
        r.status,
        200,
        "PUT ?notification failed: {} {}\nXML: {xml}",
        r.status,
        r.body_str()
    );
}

pub fn get_notification_xml(srv: &TestServer, bucket: &str) -> RawResponse {
    s3_raw(
        srv,
        crate::common::ROOT_ACCESS_KEY,
        crate::common::ROOT_SECRET_KEY,
        "GET",
        &format!("/{bucket}?notification"),
        b"",
    )
}

/// One `<TopicConfiguration>`; `inner_filter` is the content of `<Filter>`
/// (None: no filter); `events` empty means none given (= all events).
pub fn topic_config_xml(id: &str, arn: &str, events: &[&str], inner_filter: Option<&str>) -> String {
    let mut s = format!(
        "<TopicConfiguration><Id>{}</Id><Topic>{}</Topic>",
        xml_escape(id),
        xml_escape(arn)
    );
    for e in events {
        s.push_str(&format!("<Event>{e}</Event>"));
    }
    if let Some(f) = inner_filter {
        s.push_str(&format!("<Filter>{f}</Filter>"));
    }
    s.push_str("</TopicConfiguration>");
    s
}

pub fn notification_xml(configs: &[String]) -> String {
    format!(
        "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</NotificationConfiguration>",
        configs.concat()
    )
}

// ---------------------------------------------------------------------------
// Metrics.

/// The detailed metrics (per-topic series live on `--metrics-listen`, not
/// on the S3 port).
pub fn metrics_text(srv: &TestServer) -> String {
    let r = raw_request(srv.metrics_addr(), "GET", "/metrics", &[], b"").expect("GET /metrics");
    assert_eq!(r.status, 200, "GET /metrics: {}", r.body_str());
    r.body_str()
}

/// Value of metric `name`: with `topic` = Some(t), the sum over lines
/// labelled `topic="t"`; with None, the unlabelled line (or the sum of the
/// lines without a topic label). None if no such line exists.
pub fn metric(text: &str, name: &str, topic: Option<&str>) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else { continue };
            (&r[..end], r[end + 1..].trim())
        } else if rest.starts_with(' ') {
            ("", rest.trim())
        } else {
            continue;
        };
        let value: f64 = match value.split_whitespace().next().and_then(|v| v.parse().ok()) {
            Some(v) => v,
            None => continue,
        };
        let matches = match topic {
            Some(t) => labels.contains(&format!("topic=\"{t}\"")),
            None => !labels.contains("topic="),
        };
        if matches {
            found = Some(found.unwrap_or(0.0) + value);
        }
    }
    found
}

// ---------------------------------------------------------------------------
// CLI.

/// `herald topic ARGS... --data-dir D`; panics unless it succeeds; stdout.
pub fn topic_cli(srv: &TestServer, args: &[&str]) -> String {
    let mut full = vec!["topic"];
    full.extend_from_slice(args);
    let out = srv.cli(&full);
    assert!(
        out.status.success(),
        "herald {} failed ({}):\nstdout: {}\nstderr: {}",
        full.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn topic_cli_json(srv: &TestServer, args: &[&str]) -> Value {
    let out = topic_cli(srv, args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("herald topic {args:?} printed non-JSON ({e}): {out}"))
}

/// `herald topic stats NAME --user U` -> `entries`.
pub fn topic_stats_entries(srv: &TestServer, name: &str, user: &str) -> u64 {
    let v = topic_cli_json(srv, &["stats", name, "--user", user]);
    v.get("entries")
        .and_then(|e| e.as_u64())
        .unwrap_or_else(|| panic!("herald topic stats {name}: no numeric `entries` in {v}"))
}

/// A root-signed SQS JSON-protocol POST of `body` for `target`
/// (`AmazonSQS.<Action>`), sent as is, so tests can send malformed JSON.
pub fn sqs_json_request(addr: SocketAddr, target: &str, body: &[u8]) -> RawResponse {
    signed_request(
        addr,
        "sqs",
        crate::common::ROOT_ACCESS_KEY,
        crate::common::ROOT_SECRET_KEY,
        "POST",
        "/",
        &[("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target)],
        body,
    )
}
