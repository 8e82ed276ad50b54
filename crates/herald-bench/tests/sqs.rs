//! Runs `sqs` against an in-process fake SQS server (AWS JSON 1.0) that
//! verifies every SigV4 signature (service `sqs`, hashed JSON body, signed
//! content-type and x-amz-target) and keeps a real in-memory queue. A faulty
//! mode loses some acknowledged messages, redelivers others, corrupts some
//! MD5s and injects a foreign message, to check the accounting.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const ACCESS: &str = "testkey";
const SECRET: &str = "testsecret";
const QUEUE: &str = "hbq-test";
const FOREIGN: &str = "left over by someone else";

#[derive(Default)]
struct Fake {
    /// Operations answered with 400 UnknownOperationException.
    missing: Vec<&'static str>,
    /// Lose, redeliver, corrupt MD5s and inject a foreign message.
    faulty: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    url: String,
    queue: VecDeque<String>,
    in_flight: HashMap<String, String>,
    next_handle: u64,
    /// Bodies acknowledged to SendMessageBatch.
    acked: u64,
    /// Acknowledged but never enqueued (faulty mode).
    dropped: u64,
    /// Extra copies enqueued (faulty mode).
    redelivered: u64,
    corrupted_md5: u64,
    receipts: u64,
    deleted: u64,
    foreign_injected: bool,
    queue_deleted: bool,
    operations: Vec<String>,
}

impl Fake {
    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        if let Err(why) = verify(&parts, &body) {
            return error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", &why);
        }
        assert_eq!(parts.method, "POST");
        assert_eq!(parts.uri.path(), "/");
        assert_eq!(parts.headers["content-type"], "application/x-amz-json-1.0");
        let target = parts.headers["x-amz-target"].to_str().unwrap();
        let op = target.strip_prefix("AmazonSQS.").unwrap().to_owned();
        if self.missing.contains(&op.as_str()) {
            return error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                "unknown operation",
            );
        }
        let input: Value = serde_json::from_slice(&body).unwrap();
        self.state.lock().unwrap().operations.push(op.clone());
        if op == "CreateQueue" {
            assert_eq!(input, json!({"QueueName": QUEUE}));
            let mut st = self.state.lock().unwrap();
            st.url = format!(
                "http://{}/000000000000/{QUEUE}",
                parts.headers["host"].to_str().unwrap()
            );
            return ok(json!({"QueueUrl": st.url}));
        }
        assert_eq!(input["QueueUrl"], self.state.lock().unwrap().url, "{op}");
        match op.as_str() {
            "SendMessageBatch" => {
                let entries = input["Entries"].as_array().unwrap();
                assert!((1..=10).contains(&entries.len()));
                let mut st = self.state.lock().unwrap();
                let mut successful = Vec::new();
                for entry in entries {
                    let body = entry["MessageBody"].as_str().unwrap().to_owned();
                    st.acked += 1;
                    // The probe (first message) is never lost.
                    if self.faulty && st.acked % 11 == 5 {
                        st.dropped += 1;
                    } else {
                        st.queue.push_back(body.clone());
                    }
                    successful.push(json!({
                        "Id": entry["Id"],
                        "MessageId": format!("m{}", st.acked),
                        "MD5OfMessageBody": md5_hex(body.as_bytes()),
                    }));
                }
                if self.faulty && !st.foreign_injected && st.acked > 20 {
                    st.foreign_injected = true;
                    st.queue.push_back(FOREIGN.into());
                }
                ok(json!({"Successful": successful, "Failed": []}))
            }
            "ReceiveMessage" => {
                assert_eq!(input["MaxNumberOfMessages"], 10);
                assert_eq!(input["WaitTimeSeconds"], 1);
                let deadline = Instant::now() + Duration::from_secs(1);
                loop {
                    let messages = self.receive();
                    if !messages.is_empty() || Instant::now() >= deadline {
                        return ok(if messages.is_empty() {
                            json!({})
                        } else {
                            json!({ "Messages": messages })
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            "DeleteMessageBatch" => {
                let mut st = self.state.lock().unwrap();
                let (mut successful, mut failed) = (Vec::new(), Vec::new());
                for entry in input["Entries"].as_array().unwrap() {
                    match st.in_flight.remove(entry["ReceiptHandle"].as_str().unwrap()) {
                        Some(_) => {
                            st.deleted += 1;
                            successful.push(json!({"Id": entry["Id"]}));
                        }
                        None => failed.push(json!({
                            "Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": true,
                        })),
                    }
                }
                ok(json!({"Successful": successful, "Failed": failed}))
            }
            "DeleteQueue" => {
                self.state.lock().unwrap().queue_deleted = true;
                ok(json!({}))
            }
            other => error(StatusCode::BAD_REQUEST, "UnknownOperationException", other),
        }
    }

    fn receive(&self) -> Vec<Value> {
        let mut st = self.state.lock().unwrap();
        let mut messages = Vec::new();
        while messages.len() < 10 {
            let Some(body) = st.queue.pop_front() else { break };
            st.receipts += 1;
            st.next_handle += 1;
            let handle = format!("rh-{}", st.next_handle);
            let mut md5 = md5_hex(body.as_bytes());
            if self.faulty && st.receipts.is_multiple_of(13) {
                st.corrupted_md5 += 1;
                md5 = "00000000000000000000000000000000".into();
            }
            // Redeliver every 7th receipt once more, as after an expired
            // visibility timeout (each extra copy is one duplicate).
            if self.faulty && st.receipts.is_multiple_of(7) && !body.starts_with(FOREIGN) {
                st.redelivered += 1;
                st.queue.push_back(body.clone());
            }
            st.in_flight.insert(handle.clone(), body.clone());
            messages.push(json!({
                "MessageId": format!("id-{}", st.receipts),
                "ReceiptHandle": handle,
                "MD5OfBody": md5,
                "Body": body,
            }));
        }
        messages
    }
}

fn ok(value: Value) -> Response<Full<Bytes>> {
    Response::new(Full::new(Bytes::from(value.to_string())))
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"__type": format!("com.amazonaws.sqs#{kind}"), "message": message});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}

/// Checks what arrived: scope `sqs` and the four headers the bench must sign,
/// then the signature over them and the body's hash with `herald-sigv4`, a
/// verifier independent of the bench's signer (`aws-sigv4`).
fn verify(parts: &http::request::Parts, body: &[u8]) -> Result<(), String> {
    let auth = parts.headers["authorization"].to_str().unwrap();
    let signed = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
    assert_eq!(signed, "content-type;host;x-amz-date;x-amz-target");
    assert!(parts.headers.get("x-amz-content-sha256").is_none());
    let request = herald_sigv4::SignedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body,
    };
    let secret = |key: &str| (key == ACCESS).then(|| SECRET.to_owned());
    herald_sigv4::verify(&request, secret, &["sqs"], time::OffsetDateTime::now_utc())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", e.aws_code("sqs")))
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
        "sqs",
        "--endpoint",
        &endpoint,
        "--access-key",
        ACCESS,
        "--secret-key",
        SECRET,
        "--queue",
        QUEUE,
        "--json",
        "-c",
        "4",
        "-d",
        "300ms",
    ];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).unwrap().bench
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_against_a_fake_queue() {
    let (addr, fake) = start(Fake::default()).await;
    let report = herald_bench::execute(args(addr, &["--batch", "5", "-s", "100", "--drain-timeout", "5s"]))
        .await
        .unwrap();
    let st = fake.state.lock().unwrap();
    assert!(st.queue_deleted);
    assert!(st.queue.is_empty() && st.in_flight.is_empty(), "left in the queue");

    assert_eq!(report.scenario, "sqs");
    let q = report.sqs.as_ref().unwrap();
    assert_eq!((q.senders, q.receivers, q.batch), (2, 2, 5));
    // The probe is one of the fake's acknowledged messages, not the bench's.
    assert_eq!(q.messages_sent, st.acked - 1);
    assert!(q.messages_sent > 20, "{q:?}");
    assert_eq!(q.messages_sent % 5, 0);
    assert_eq!(q.messages_received, q.messages_sent, "{q:?}");
    assert_eq!(q.messages_deleted, q.messages_sent, "{q:?}");
    assert_eq!(st.deleted, q.messages_sent + 1);
    assert_eq!(
        (
            q.messages_missing,
            q.messages_duplicated,
            q.messages_unacknowledged,
            q.messages_foreign
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(q.md5_mismatches, 0);
    assert!(!q.drain_timed_out);
    assert_eq!(report.total.errors, 0, "{report:?}");
    assert!(report.total.ops <= q.messages_deleted);
    assert!(report.total.ops_per_sec > 0.0);
    // 100-byte bodies: MB/s is the deleted messages' bytes.
    assert_eq!(report.total.bytes, report.total.ops * 100);
    let send = &report.by_op["send_batch"];
    assert_eq!(send.ops * 5, q.messages_sent);
    assert_eq!(report.total.p50_ms, send.p50_ms);
    assert!(report.by_op["receive"].ops > 0);
    assert!(report.by_op["delete_batch"].ops > 0);

    let v: Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "scenario",
        "ops_per_sec",
        "mb_per_sec",
        "p50_ms",
        "p99_ms",
        "errors",
        "messages_sent",
        "messages_received",
        "messages_deleted",
        "messages_missing",
        "messages_duplicated",
        "sent_per_sec",
        "received_per_sec",
        "deleted_per_sec",
        "by_op",
        "server_rss_kb",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["scenario"], "sqs");
    let mut table = Vec::new();
    report.write_table(&mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(table.contains("(queue hbq-test)"), "{table}");
    assert!(table.contains("send_batch"), "{table}");
    assert!(table.contains("0 missing, 0 duplicated"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_counts_lost_redelivered_and_corrupted_messages() {
    let (addr, fake) = start(Fake {
        faulty: true,
        ..Fake::default()
    })
    .await;
    let report = herald_bench::execute(args(addr, &["--drain-timeout", "1s"]))
        .await
        .unwrap();
    let st = fake.state.lock().unwrap();
    let q = report.sqs.as_ref().unwrap();
    assert!(st.dropped > 0 && st.redelivered > 0 && st.corrupted_md5 > 0);
    assert_eq!(q.messages_sent, st.acked - 1);
    assert_eq!(q.messages_missing, st.dropped, "{q:?}");
    assert_eq!(q.messages_duplicated, st.redelivered, "{q:?}");
    assert_eq!(q.md5_mismatches, st.corrupted_md5, "{q:?}");
    assert_eq!(q.messages_foreign, 1, "{q:?}");
    assert_eq!(q.messages_unacknowledged, 0);
    assert_eq!(
        q.messages_received,
        q.messages_sent - st.dropped + st.redelivered,
        "{q:?}"
    );
    // The lost messages keep the drain waiting until its timeout.
    assert!(q.drain_timed_out);
    assert!(q.drain_s >= 1.0, "{q:?}");
    assert_eq!(report.total.errors, st.corrupted_md5, "{report:?}");
}

#[tokio::test]
async fn server_without_sqs_is_skipped_clearly() {
    let (addr, fake) = start(Fake {
        missing: vec!["CreateQueue"],
        ..Fake::default()
    })
    .await;
    let err = herald_bench::execute(args(addr, &[])).await.unwrap_err().to_string();
    assert!(err.contains("SQS CreateQueue"), "{err}");
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("UnknownOperationException"), "{err}");
    assert!(err.contains("does not seem to support SQS CreateQueue"), "{err}");
    assert!(err.contains("skipping the sqs benchmark"), "{err}");
    assert!(fake.state.lock().unwrap().operations.is_empty());
}

#[tokio::test]
async fn missing_batch_delete_is_named() {
    let (addr, fake) = start(Fake {
        missing: vec!["DeleteMessageBatch"],
        ..Fake::default()
    })
    .await;
    let err = herald_bench::execute(args(addr, &[])).await.unwrap_err().to_string();
    assert!(err.contains("does not seem to support SQS DeleteMessageBatch"), "{err}");
    let st = fake.state.lock().unwrap();
    // Nothing but the probe was sent, and the queue was cleaned up.
    assert_eq!(st.acked, 1);
    assert_eq!(
        st.operations,
        ["CreateQueue", "SendMessageBatch", "ReceiveMessage", "DeleteQueue"]
    );
    assert!(st.queue_deleted);
}

/// The MD5 SQS reports of a body.
fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(data))
}
