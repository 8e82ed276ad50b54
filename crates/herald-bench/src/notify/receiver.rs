//! The receiving end of the `notify` scenario: something the server under
//! test pushes events to, which records when each event arrived.
//!
//! Each topic kind (`http` here, `sqs` in [`super::queue`]; AMQP, Kafka, ...
//! later) implements [`Receiver`]: it appends everything it receives to a
//! shared [`EventLog`], which the scenario correlates with the acknowledged
//! PUTs. How the server is told where to deliver is kind-specific (the
//! HTTP receiver's [`HttpReceiver::topic_attributes`], the queue's ARN).

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::task::JoinSet;

/// One `ObjectCreated` (or other) record as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub bucket: String,
    /// The object key, already URL-decoded.
    pub key: String,
    pub event_name: String,
    /// When the message carrying the record was fully received.
    pub at: Instant,
}

/// Counters about messages that did not yield records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// Messages received (HTTP requests, queue messages, ...).
    pub messages: u64,
    /// `s3:TestEvent` messages, sent by servers when a configuration is set.
    pub test_events: u64,
    /// Messages that were neither records nor test events.
    pub malformed: u64,
}

#[derive(Default)]
struct LogInner {
    records: Vec<Received>,
    counters: LogCounters,
}

/// Everything a receiver got, in arrival order. Receivers append; the
/// scenario reads incrementally while draining, then once at the end.
#[derive(Default)]
pub struct EventLog {
    inner: Mutex<LogInner>,
    /// Woken on every append, so the drain does not have to poll.
    appended: tokio::sync::Notify,
}

impl EventLog {
    /// Parses one message body (an HTTP POST body, a queue message body)
    /// received at `at`.
    pub fn ingest(&self, body: &[u8], at: Instant) {
        self.ingest_all([body], at);
    }

    /// Like [`ingest`](Self::ingest) for several messages received together
    /// (one ReceiveMessage answer): they are appended at once, so readers
    /// never see only part of them.
    pub fn ingest_all<'a>(&self, bodies: impl IntoIterator<Item = &'a [u8]>, at: Instant) {
        let parsed: Vec<Message> = bodies.into_iter().map(parse_message).collect();
        {
            let mut inner = self.inner.lock().expect("event log lock");
            for message in parsed {
                inner.counters.messages += 1;
                match message {
                    Message::Records(records) => {
                        inner
                            .records
                            .extend(records.into_iter().map(|(bucket, key, event_name)| Received {
                                bucket,
                                key,
                                event_name,
                                at,
                            }));
                    }
                    Message::TestEvent => inner.counters.test_events += 1,
                    Message::Malformed => inner.counters.malformed += 1,
                }
            }
        }
        self.appended.notify_one();
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("event log lock").records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` on every record from index `from` on; returns the new length.
    pub fn scan_from(&self, from: usize, mut f: impl FnMut(&Received)) -> usize {
        let inner = self.inner.lock().expect("event log lock");
        for r in inner.records.iter().skip(from) {
            f(r);
        }
        inner.records.len()
    }

    pub fn counters(&self) -> LogCounters {
        self.inner.lock().expect("event log lock").counters
    }

    /// Waits until something is appended or `timeout` passes.
    pub async fn wait(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.appended.notified()).await;
    }
}

/// A running receiver for one topic kind. Dropping it stops it.
pub trait Receiver: Send + Sync {
    /// Where received records go.
    fn log(&self) -> &Arc<EventLog>;
    /// Human-readable location, for messages.
    fn describe(&self) -> String;
    /// Failures of the receiver itself (e.g. failed polls), summarized for
    /// a warning; `None` if there were none.
    fn problems(&self) -> Option<String> {
        None
    }
}

/// A hyper HTTP/1.1 server answering 200 to every POST and logging the
/// records in its body; the topic's `push-endpoint` points at `/events`.
pub struct HttpReceiver {
    addr: SocketAddr,
    log: Arc<EventLog>,
    /// The accept loop; it owns the connection tasks, so aborting it (on
    /// drop) closes everything.
    server: tokio::task::JoinHandle<()>,
}

impl HttpReceiver {
    pub async fn start(listen: SocketAddr) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on --receiver-listen {listen}"))?;
        let addr = listener.local_addr()?;
        let log = Arc::new(EventLog::default());
        let server = tokio::spawn(serve(listener, Arc::clone(&log)));
        Ok(HttpReceiver { addr, log, server })
    }

    /// The URL the server should push to. An unspecified listen address
    /// (0.0.0.0) is advertised as loopback.
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/events", SocketAddr::new(ip, self.addr.port()))
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl HttpReceiver {
    /// Topic attributes (besides `persistent`) for CreateTopic: the
    /// `push-endpoint`.
    pub fn topic_attributes(&self) -> Vec<(String, String)> {
        vec![("push-endpoint".to_owned(), self.url())]
    }
}

impl Receiver for HttpReceiver {
    fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    fn describe(&self) -> String {
        self.url()
    }
}

async fn serve(listener: tokio::net::TcpListener, log: Arc<EventLog>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // EMFILE and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let log = Arc::clone(&log);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, Infallible>(handle(req, &log).await) }
                    });
                    // Answers to pipelined requests go out together, as a
                    // production receiver (hyper, Go, nginx) would do.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .pipeline_flush(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn handle(req: Request<Incoming>, log: &EventLog) -> Response<Full<Bytes>> {
    let is_post = req.method() == Method::POST;
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    if !is_post {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    log.ingest(&body, Instant::now());
    status(StatusCode::OK)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// What one pushed message contained.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// `(bucket, decoded key, eventName)` per record.
    Records(Vec<(String, String, String)>),
    TestEvent,
    Malformed,
}

/// Parses an S3 event message: `{"Records":[{"eventName":..,"s3":{"bucket":
/// {"name":..},"object":{"key":..}}}]}` or an `s3:TestEvent`. Only the
/// fields the bench needs are read, borrowed from the body where they
/// need no unescaping (the receiver shares the machine with the server
/// it measures: it should cost little per event).
pub fn parse_message(body: &[u8]) -> Message {
    let Ok(message) = serde_json::from_slice::<WireMessage>(body) else {
        return Message::Malformed;
    };
    if message.event == "s3:TestEvent" {
        return Message::TestEvent;
    }
    let Some(records) = message.records else {
        return Message::Malformed;
    };
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        // S3 has no empty bucket names or keys: empty means missing.
        let (bucket, key) = (record.s3.bucket.name, record.s3.object.key);
        if bucket.is_empty() || key.is_empty() {
            return Message::Malformed;
        }
        out.push((bucket.into_owned(), url_decode(&key), record.event_name.into_owned()));
    }
    Message::Records(out)
}

#[derive(serde::Deserialize)]
struct WireMessage<'a> {
    #[serde(rename = "Records", default)]
    records: Option<Vec<WireRecord<'a>>>,
    #[serde(rename = "Event", borrow, default)]
    event: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct WireRecord<'a> {
    #[serde(rename = "eventName", borrow, default)]
    event_name: Cow<'a, str>,
    #[serde(borrow)]
    s3: WireS3<'a>,
}

#[derive(serde::Deserialize)]
struct WireS3<'a> {
    #[serde(borrow)]
    bucket: WireName<'a>,
    #[serde(borrow)]
    object: WireKey<'a>,
}

#[derive(serde::Deserialize)]
struct WireName<'a> {
    // A `Cow` field borrows from the body (an `Option<Cow>` would not).
    #[serde(borrow, default)]
    name: Cow<'a, str>,
}

#[derive(serde::Deserialize)]
struct WireKey<'a> {
    #[serde(borrow, default)]
    key: Cow<'a, str>,
}

/// Decodes an event's object key: AWS form-encodes it (`+` for space,
/// `%XX` otherwise). Invalid escapes are kept as they are.
pub fn url_decode(s: &str) -> String {
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_keys() {
        assert_eq!(url_decode("hb-1234-0000000001"), "hb-1234-0000000001");
        assert_eq!(url_decode("a+b%2Fc%20d"), "a b/c d");
        assert_eq!(url_decode("%C3%A9"), "é");
        assert_eq!(url_decode("bad%zz%"), "bad%zz%");
        assert_eq!(url_decode("end%4"), "end%4");
        assert_eq!(url_decode("end%41"), "endA");
    }

    #[test]
    fn parses_records_and_test_events() {
        let body = br#"{"Records":[{"eventVersion":"2.2","eventSource":"ceph:s3",
            "eventName":"ObjectCreated:Put","eventId":"1.2",
            "s3":{"bucket":{"name":"b"},"object":{"key":"my+key%21","sequencer":"00A"}}}]}"#;
        assert_eq!(
            parse_message(body),
            Message::Records(vec![("b".into(), "my key!".into(), "ObjectCreated:Put".into())])
        );
        let test = br#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-01-01T00:00:00Z","Bucket":"b"}"#;
        assert_eq!(parse_message(test), Message::TestEvent);
        // The AWS form, as found in SQS message bodies: form-encoded keys.
        let aws = br#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
            "eventName":"ObjectCreated:Put","userIdentity":{"principalId":"root"},
            "s3":{"s3SchemaVersion":"1.0","configurationId":"bench","bucket":{"name":"b","arn":"arn:aws:s3:::b"},
            "object":{"key":"dir%2Fa+b","size":3,"eTag":"x","sequencer":"01"}}}]}"#;
        assert_eq!(
            parse_message(aws),
            Message::Records(vec![("b".into(), "dir/a b".into(), "ObjectCreated:Put".into())])
        );
        assert_eq!(parse_message(b"not json"), Message::Malformed);
        assert_eq!(parse_message(b"{\"Records\":[{}]}"), Message::Malformed);
        // Escaped strings are unescaped (not borrowed).
        let escaped = br#"{"Records":[{"eventName":"ObjectRemoved:\u0044elete",
            "s3":{"bucket":{"name":"b\u0031"},"object":{"key":"k\"q"}}}]}"#;
        assert_eq!(
            parse_message(escaped),
            Message::Records(vec![("b1".into(), "k\"q".into(), "ObjectRemoved:Delete".into())])
        );
    }

    #[tokio::test]
    async fn http_receiver_logs_posts() {
        let receiver = HttpReceiver::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let url = receiver.url();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/events"),
            "{url}"
        );
        assert_eq!(receiver.topic_attributes()[0].0, "push-endpoint");

        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>();
        for body in [
            r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#,
            r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"k1"}}}]}"#,
        ] {
            let req = Request::post(&url).body(Full::new(Bytes::from(body))).unwrap();
            let resp = client.request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
        }
        let log = receiver.log();
        assert_eq!(log.len(), 1);
        let mut keys = Vec::new();
        assert_eq!(log.scan_from(0, |r| keys.push(r.key.clone())), 1);
        assert_eq!(keys, ["k1"]);
        assert_eq!(
            log.counters(),
            LogCounters {
                messages: 2,
                test_events: 1,
                malformed: 0
            }
        );
    }
}
