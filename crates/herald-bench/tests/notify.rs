//! Runs `notify` against an in-process fake server that verifies the SigV4
//! signatures of S3 (service `s3`, with a query string), SNS (service `sns`,
//! hashed form body) and SQS (service `sqs`, hashed JSON body) calls. With a
//! topic it stores the push-endpoint and pushes an event per PUT to it; with
//! a queue (`--topic-kind sqs`) it enqueues the event in an in-memory queue
//! the bench long-polls. Some events are delivered twice, to check duplicate
//! counting; a silent mode accepts the configuration and never delivers.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

const ACCESS: &str = "testkey";
const SECRET: &str = "testsecret";

#[derive(Default)]
struct Fake {
    /// Answer CreateTopic with 400 InvalidAction, like an S3-only server.
    no_sns: bool,
    /// Accept every configuration, never deliver an event.
    silent: bool,
    state: Mutex<State>,
}

const QUEUE_URL: &str = "http://fake/000000000000/hbn-test-queue";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:hbn-test-queue";

#[derive(Default)]
struct State {
    push_endpoint: Option<String>,
    persistent: Option<String>,
    topic_deleted: bool,
    notification_set: bool,
    notification_deleted: bool,
    puts: u64,
    /// Set by a `<QueueConfiguration>`: events go to `queue`.
    to_queue: bool,
    queue_created: bool,
    queue_arn_asked: bool,
    queue_deleted: bool,
    /// Message groups: the copies of one event stay together, so a
    /// ReceiveMessage returns an event and its duplicate at once (the drain
    /// only waits for first deliveries).
    queue: VecDeque<Vec<String>>,
    in_flight: HashMap<String, String>,
    next_handle: u64,
    receipts: u64,
    deleted: u64,
    /// SQS operations after DeleteQueue (pollers not stopped in time).
    after_delete: u64,
}

impl State {
    fn enqueue(&mut self, copies: Vec<String>) {
        self.queue.push_back(copies);
    }
}

/// The AWS form of an event's object key: form-encoded, here with every `-`
/// escaped so the bench must decode.
fn encoded_key(key: &str) -> String {
    key.replace('-', "%2D")
}

fn decode_form(body: &[u8]) -> HashMap<String, String> {
    let s = std::str::from_utf8(body).unwrap();
    s.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (pct_decode(k), pct_decode(v)))
        .collect()
}

fn pct_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl Fake {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        if let Err(why) = verify(&parts, &body) {
            return reply(StatusCode::FORBIDDEN, why);
        }
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or("").to_owned();
        match (parts.method.as_str(), path.as_str(), query.as_str()) {
            ("POST", "/", _) if parts.headers.contains_key("x-amz-target") => {
                if self.no_sns {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        r#"{"__type":"UnknownOperationException"}"#.into(),
                    );
                }
                let op = parts.headers["x-amz-target"].to_str().unwrap();
                self.sqs(op.strip_prefix("AmazonSQS.").unwrap(), &body).await
            }
            ("POST", "/", _) => self.sns(&body),
            ("PUT", "/hbn-test", "") => reply(StatusCode::OK, String::new()),
            ("PUT", "/hbn-test", "notification") if String::from_utf8_lossy(&body).contains("<Queue>") => {
                let xml = String::from_utf8(body.to_vec()).unwrap();
                assert!(
                    xml.contains(&format!(
                        "<QueueConfiguration><Id>bench</Id><Queue>{QUEUE_ARN}</Queue>\
                         <Event>s3:ObjectCreated:*</Event></QueueConfiguration>"
                    )),
                    "{xml}"
                );
                let mut st = self.state.lock().unwrap();
                assert!(st.queue_created && st.queue_arn_asked);
                st.notification_set = true;
                st.to_queue = true;
                let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"hbn-test"}"#;
                st.enqueue(vec![test.into()]);
                reply(StatusCode::OK, String::new())
            }
            ("PUT", "/hbn-test", "notification") => {
                let xml = String::from_utf8(body.to_vec()).unwrap();
                assert!(xml.contains("<Topic>arn:aws:sns:us-east-1::hbn-test-topic</Topic>"));
                let endpoint = {
                    let mut st = self.state.lock().unwrap();
                    st.notification_set = true;
                    st.push_endpoint.clone().unwrap()
                };
                push(&endpoint, r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#.into()).await;
                reply(StatusCode::OK, String::new())
            }
            ("DELETE", "/hbn-test", "notification") => {
                self.state.lock().unwrap().notification_deleted = true;
                reply(StatusCode::NO_CONTENT, String::new())
            }
            ("PUT", p, "") if p.starts_with("/hbn-test/") && self.silent => {
                self.state.lock().unwrap().puts += 1;
                reply(StatusCode::OK, String::new())
            }
            ("PUT", p, "") if p.starts_with("/hbn-test/") => self.put_object(&p["/hbn-test/".len()..]).await,
            other => reply(StatusCode::NOT_IMPLEMENTED, format!("{other:?}")),
        }
    }

    /// The SNS topic API: CreateTopic and DeleteTopic of the bench's topic.
    fn sns(&self, body: &[u8]) -> Response<Full<Bytes>> {
        if self.no_sns {
            return reply(StatusCode::BAD_REQUEST, "<Code>InvalidAction</Code>".into());
        }
        let form = decode_form(body);
        let mut st = self.state.lock().unwrap();
        match form["Action"].as_str() {
            "CreateTopic" => {
                assert_eq!(form["Version"], "2010-03-31");
                assert_eq!(form["Name"], "hbn-test-topic");
                assert_eq!(form["Attributes.entry.1.key"], "push-endpoint");
                assert_eq!(form["Attributes.entry.2.key"], "persistent");
                st.push_endpoint = Some(form["Attributes.entry.1.value"].clone());
                st.persistent = Some(form["Attributes.entry.2.value"].clone());
                reply(
                    StatusCode::OK,
                    "<CreateTopicResponse><CreateTopicResult><TopicArn>\
                     arn:aws:sns:us-east-1::hbn-test-topic</TopicArn>\
                     </CreateTopicResult></CreateTopicResponse>"
                        .into(),
                )
            }
            "DeleteTopic" => {
                assert_eq!(form["TopicArn"], "arn:aws:sns:us-east-1::hbn-test-topic");
                st.topic_deleted = true;
                reply(StatusCode::OK, "<DeleteTopicResponse/>".into())
            }
            other => panic!("unexpected action {other}"),
        }
    }

    /// A benchmark PUT of `key`: its event goes to the queue, or is pushed
    /// to the topic's endpoint before the 200 (some twice: at-least-once).
    async fn put_object(&self, key: &str) -> Response<Full<Bytes>> {
        if self.state.lock().unwrap().to_queue {
            let key = encoded_key(key);
            let mut st = self.state.lock().unwrap();
            st.puts += 1;
            let n = st.puts;
            let event = format!(
                r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
                       "eventName":"ObjectCreated:Put","userIdentity":{{"principalId":"root"}},
                       "s3":{{"s3SchemaVersion":"1.0","configurationId":"bench",
                       "bucket":{{"name":"hbn-test","arn":"arn:aws:s3:::hbn-test"}},
                       "object":{{"key":"{key}","size":1024,"sequencer":"{n:016X}"}}}}}}]}}"#
            );
            // Every 5th event enqueued twice (at-least-once).
            let copies = if n.is_multiple_of(5) { 2 } else { 1 };
            st.enqueue(vec![event; copies]);
            return reply(StatusCode::OK, String::new());
        }
        let (endpoint, n) = {
            let mut st = self.state.lock().unwrap();
            st.puts += 1;
            (st.push_endpoint.clone().unwrap(), st.puts)
        };
        let event = format!(
            r#"{{"Records":[{{"eventName":"ObjectCreated:Put","eventId":"{n}",
                       "s3":{{"bucket":{{"name":"hbn-test"}},"object":{{"key":"{key}","sequencer":"{n:016X}"}}}}}}]}}"#
        );
        // Synchronous delivery (the event precedes the 200), and
        // every 5th event delivered twice (at-least-once). Both before
        // the 200: the drain only waits for first deliveries.
        push(&endpoint, event.clone()).await;
        if n % 5 == 0 {
            push(&endpoint, event).await;
        }
        reply(StatusCode::OK, String::new())
    }
}

impl Fake {
    /// The SQS operations the `sqs` topic kind uses, on one queue.
    async fn sqs(&self, op: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let input: Value = serde_json::from_slice(body).unwrap();
        if op == "ReceiveMessage" {
            assert_eq!(input["MaxNumberOfMessages"], 10, "{input}");
            assert_eq!(input["WaitTimeSeconds"], 1, "{input}");
            // A short long poll: wait a little when the queue is empty.
            if self.state.lock().unwrap().queue.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut st = self.state.lock().unwrap();
        if st.queue_deleted && op != "CreateQueue" {
            st.after_delete += 1;
            return reply(
                StatusCode::BAD_REQUEST,
                r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist"}"#.into(),
            );
        }
        if op != "CreateQueue" {
            assert_eq!(input["QueueUrl"], QUEUE_URL, "{op} {input}");
        }
        let answer = match op {
            "CreateQueue" => {
                assert_eq!(input, json!({"QueueName": "hbn-test-queue"}));
                st.queue_created = true;
                st.queue_deleted = false;
                json!({"QueueUrl": QUEUE_URL})
            }
            "GetQueueAttributes" => {
                assert_eq!(input["AttributeNames"], json!(["QueueArn"]));
                st.queue_arn_asked = true;
                json!({"Attributes": {"QueueArn": QUEUE_ARN}})
            }
            "ReceiveMessage" => {
                let mut messages = Vec::new();
                while let Some(group) = st.queue.front() {
                    if !messages.is_empty() && messages.len() + group.len() > 10 {
                        break;
                    }
                    for body in st.queue.pop_front().unwrap() {
                        st.next_handle += 1;
                        let handle = format!("h{}", st.next_handle);
                        st.in_flight.insert(handle.clone(), body.clone());
                        messages.push(json!({
                            "MessageId": format!("m{}", st.next_handle),
                            "ReceiptHandle": handle,
                            "MD5OfBody": md5_hex(body.as_bytes()),
                            "Body": body,
                        }));
                    }
                }
                st.receipts += messages.len() as u64;
                if messages.is_empty() {
                    json!({})
                } else {
                    json!({"Messages": messages})
                }
            }
            "DeleteMessageBatch" => {
                let mut successful = Vec::new();
                let mut failed = Vec::new();
                for entry in input["Entries"].as_array().unwrap() {
                    let id = entry["Id"].clone();
                    match st.in_flight.remove(entry["ReceiptHandle"].as_str().unwrap()) {
                        Some(_) => successful.push(json!({"Id": id})),
                        None => failed.push(json!({"Id": id, "Code": "ReceiptHandleIsInvalid", "SenderFault": true})),
                    }
                }
                st.deleted += successful.len() as u64;
                json!({"Successful": successful, "Failed": failed})
            }
            "DeleteQueue" => {
                st.queue_deleted = true;
                json!({})
            }
            other => panic!("unexpected SQS operation {other}"),
        };
        reply(StatusCode::OK, answer.to_string())
    }
}

async fn push(endpoint: &str, body: String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let req = Request::post(endpoint)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Checks what arrived: the headers each API must sign (S3 with an unsigned
/// payload, SNS and SQS with their hashed body), then the signature itself
/// with `herald-sigv4`, a verifier independent of the bench's signer
/// (`aws-sigv4`).
fn verify(parts: &http::request::Parts, body: &[u8]) -> Result<(), String> {
    let auth = parts.headers["authorization"].to_str().unwrap();
    let service = auth.split('/').nth(3).ok_or("no credential scope")?;
    let signed = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
    match service {
        "sns" => {
            assert!(!signed.contains("x-amz-content-sha256"));
            assert!(signed.contains("content-type"), "{signed}");
        }
        "sqs" => {
            assert!(
                signed.contains("content-type") && signed.contains("x-amz-target"),
                "{signed}"
            );
            assert_eq!(parts.headers["content-type"], "application/x-amz-json-1.0");
        }
        "s3" => assert_eq!(parts.headers["x-amz-content-sha256"], "UNSIGNED-PAYLOAD"),
        other => return Err(format!("unexpected service {other}")),
    }
    let request = herald_sigv4::SignedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body,
    };
    let secret = |key: &str| (key == ACCESS).then(|| SECRET.to_owned());
    herald_sigv4::verify(&request, secret, &[service], time::OffsetDateTime::now_utc())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", e.aws_code(service)))
}

async fn start(fake: Fake) -> (SocketAddr, Arc<Fake>) {
    let fake = Arc::new(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::clone(&fake);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let server = Arc::clone(&server);
                    async move { Ok::<_, Infallible>(server.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, fake)
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: herald_bench::BenchArgs,
}

fn args(addr: SocketAddr, extra: &[&str]) -> herald_bench::BenchArgs {
    let endpoint = format!("http://{addr}");
    let mut argv = vec![
        "bench",
        "notify",
        "--endpoint",
        &endpoint,
        "--access-key",
        ACCESS,
        "--secret-key",
        SECRET,
        "--bucket",
        "hbn-test",
        "--json",
        "-c",
        "4",
        "-d",
        "300ms",
    ];
    if !extra.contains(&"--drain-timeout") {
        argv.extend_from_slice(&["--drain-timeout", "5s"]);
    }
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).unwrap().bench
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_against_a_pushing_server() {
    let (addr, fake) = start(Fake::default()).await;
    let report = herald_bench::execute(args(addr, &["--persistent"])).await.unwrap();
    let st = fake.state.lock().unwrap();
    assert_eq!(st.persistent.as_deref(), Some("true"));
    assert!(st.push_endpoint.as_deref().unwrap().ends_with("/events"));
    assert!(st.notification_set && st.notification_deleted && st.topic_deleted);

    assert_eq!(report.scenario, "notify");
    assert_eq!(report.total.errors, 0, "{report:?}");
    let ops = report.total.ops;
    assert!(ops > 10, "{report:?}");
    assert_eq!(st.puts, ops);
    let n = report.notify.as_ref().unwrap();
    assert_eq!(n.topic_kind, "http");
    assert!(n.persistent);
    assert_eq!(n.events_missing, 0, "{n:?}");
    assert_eq!(n.events_duplicated, ops / 5, "{n:?}");
    assert_eq!(n.events_received, ops + ops / 5, "{n:?}");
    // The fake pushes before answering, so every first event precedes the ack.
    assert_eq!(n.events_before_ack, ops, "{n:?}");
    assert_eq!(n.e2e_p99_ms, 0.0);
    assert_eq!(n.test_events, 1);
    assert!(!n.drain_timed_out);
    assert!(n.events_per_sec > 0.0);

    let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "scenario",
        "topic_kind",
        "persistent",
        "ops_per_sec",
        "mb_per_sec",
        "p50_ms",
        "p99_ms",
        "errors",
        "events_received",
        "events_per_sec",
        "events_missing",
        "events_duplicated",
        "e2e_p50_ms",
        "e2e_p99_ms",
        "e2e_max_ms",
        "server_rss_kb",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_notify_run() {
    let (addr, fake) = start(Fake::default()).await;
    let report = herald_bench::execute(args(addr, &["--rate", "50"])).await.unwrap();
    // 300 ms at 50/s: tickets 0..15 are due before the end.
    assert_eq!(report.total.ops, 15, "{report:?}");
    let n = report.notify.unwrap();
    assert_eq!(n.rate, Some(50.0));
    assert_eq!(fake.state.lock().unwrap().persistent.as_deref(), Some("false"));
}

#[tokio::test]
async fn server_without_sns_is_skipped_clearly() {
    let (addr, fake) = start(Fake {
        no_sns: true,
        ..Fake::default()
    })
    .await;
    let err = herald_bench::execute(args(addr, &[])).await.unwrap_err().to_string();
    assert!(err.contains("SNS CreateTopic"), "{err}");
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("does not seem to support"), "{err}");
    assert!(err.contains("skipping the notify benchmark"), "{err}");
    assert!(!fake.state.lock().unwrap().notification_set);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_through_an_sqs_queue() {
    let (addr, fake) = start(Fake::default()).await;
    // --persistent is meaningless for a queue: accepted, reported as true.
    let report = herald_bench::execute(args(addr, &["--topic-kind", "sqs", "--persistent"]))
        .await
        .unwrap();
    let st = fake.state.lock().unwrap();
    // No topic: a queue, its ARN in the configuration, everything removed.
    assert!(st.push_endpoint.is_none() && st.persistent.is_none());
    assert!(st.queue_created && st.queue_arn_asked && st.to_queue);
    assert!(st.notification_set && st.notification_deleted && st.queue_deleted);
    // The pollers stopped before the queue was deleted.
    assert_eq!(st.after_delete, 0);

    assert_eq!(report.total.errors, 0, "{report:?}");
    let ops = report.total.ops;
    assert!(ops > 10, "{report:?}");
    assert_eq!(st.puts, ops);
    let n = report.notify.as_ref().unwrap();
    assert_eq!(n.topic_kind, "sqs");
    assert!(n.persistent);
    assert_eq!(n.events_missing, 0, "{n:?}");
    assert_eq!(n.events_duplicated, ops / 5, "{n:?}");
    assert_eq!(n.events_received, ops + ops / 5, "{n:?}");
    assert_eq!(n.events_unacknowledged, 0, "{n:?}");
    assert_eq!(n.test_events, 1);
    assert!(!n.drain_timed_out);
    assert!(n.events_per_sec > 0.0);
    // Everything received was deleted, nothing is left.
    assert_eq!(st.receipts, ops + ops / 5 + 1);
    assert_eq!(st.deleted, st.receipts);
    assert!(st.queue.is_empty() && st.in_flight.is_empty());
    assert_eq!(report.failure(), None);

    let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(v["topic_kind"], "sqs");
    assert_eq!(v["persistent"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_server_fails_the_run_for_both_kinds() {
    for kind in ["http", "sqs"] {
        let (addr, fake) = start(Fake {
            silent: true,
            ..Fake::default()
        })
        .await;
        let extra = ["--topic-kind", kind, "--drain-timeout", "300ms"];
        // The report is complete and says why...
        let report = herald_bench::execute(args(addr, &extra)).await.unwrap();
        assert_eq!(report.total.errors, 0, "{report:?}");
        let n = report.notify.as_ref().unwrap();
        assert_eq!(n.events_received, 0, "{n:?}");
        assert_eq!(n.events_missing, report.total.ops, "{n:?}");
        assert!(n.drain_timed_out);
        let failure = report.failure().expect("a run without events fails");
        assert!(
            failure.contains("the server accepted the notification configuration but delivered no events"),
            "{failure}"
        );
        assert!(failure.contains(kind), "{failure}");
        // ... and `run` (what `herald bench` calls) prints it, then fails.
        let err = herald_bench::run(args(addr, &extra)).await.unwrap_err().to_string();
        assert!(err.contains("delivered no events"), "{kind}: {err}");
        let st = fake.state.lock().unwrap();
        assert!(st.notification_deleted, "{kind}");
        assert!(st.topic_deleted || st.queue_deleted, "{kind}");
    }
}

#[tokio::test]
async fn server_without_sqs_is_skipped_clearly() {
    let (addr, fake) = start(Fake {
        no_sns: true,
        ..Fake::default()
    })
    .await;
    let err = herald_bench::execute(args(addr, &["--topic-kind", "sqs"]))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("SQS CreateQueue"), "{err}");
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("skipping the notify benchmark"), "{err}");
    assert!(!fake.state.lock().unwrap().notification_set);
}

/// The MD5 SQS reports of a body.
fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(data))
}
