//! Runs `notify` against an in-process fake server that verifies the SigV4
//! signatures of S3 (service `s3`, with a query string) and SNS (service
//! `sns`, hashed form body) calls, stores the topic's push-endpoint and
//! pushes an event per PUT to it — some twice, to check duplicate counting.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clap::Parser;
use herald_bench::sigv4::{SignableRequest, Signer, sha256_hex};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

const ACCESS: &str = "testkey";
const SECRET: &str = "testsecret";

#[derive(Default)]
struct Fake {
    /// Answer CreateTopic with 400 InvalidAction, like an S3-only server.
    no_sns: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    push_endpoint: Option<String>,
    persistent: Option<String>,
    topic_deleted: bool,
    notification_set: bool,
    notification_deleted: bool,
    puts: u64,
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
            ("POST", "/", _) => {
                if self.no_sns {
                    return reply(StatusCode::BAD_REQUEST, "<Code>InvalidAction</Code>".into());
                }
                let form = decode_form(&body);
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
            ("PUT", "/hbn-test", "") => reply(StatusCode::OK, String::new()),
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
            ("PUT", p, "") if p.starts_with("/hbn-test/") => {
                let key = &p["/hbn-test/".len()..];
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
            other => reply(StatusCode::NOT_IMPLEMENTED, format!("{other:?}")),
        }
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

/// Recomputes the signature from what arrived: service from the scope,
/// query from the URI, payload hash from the header (S3) or body (SNS).
fn verify(parts: &http::request::Parts, body: &[u8]) -> Result<(), String> {
    let auth = parts.headers["authorization"].to_str().unwrap();
    let scope: Vec<&str> = auth.split('/').collect();
    let (region, service) = (scope[2], scope[3]);
    let signed = auth.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap();
    let mut headers = Vec::new();
    for name in signed.split(';') {
        let value = parts.headers.get(name).ok_or(format!("{name} not sent"))?;
        headers.push((name, value.to_str().unwrap()));
    }
    let payload_hash = match service {
        "sns" => {
            assert!(!signed.contains("x-amz-content-sha256"));
            assert!(signed.contains("content-type"), "{signed}");
            sha256_hex(body)
        }
        "s3" => parts.headers["x-amz-content-sha256"].to_str().unwrap().to_owned(),
        other => return Err(format!("unexpected service {other}")),
    };
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|q| !q.is_empty())
        .map(|q| match q.split_once('=') {
            Some((k, v)) => (pct_decode(k), pct_decode(v)),
            None => (pct_decode(q), String::new()),
        })
        .collect();
    let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let expected = Signer::for_service(ACCESS, SECRET, region, service).authorization(
        &SignableRequest {
            method: parts.method.as_str(),
            canonical_uri: parts.uri.path(),
            query: &query,
            headers: &headers,
            payload_hash: &payload_hash,
        },
        parts.headers["x-amz-date"].to_str().unwrap(),
    );
    if expected == auth {
        Ok(())
    } else {
        Err(format!("SignatureDoesNotMatch: expected {expected}, got {auth}"))
    }
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
        "--drain-timeout",
        "5s",
    ];
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
