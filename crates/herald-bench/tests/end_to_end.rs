//! Runs the real scenarios against an in-process fake S3 server that
//! verifies every SigV4 signature, so the signer, the HTTP plumbing (the
//! `Host` and path actually sent must be the ones signed), connection reuse
//! and error accounting are checked without an external server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

const ACCESS: &str = "testkey";
const SECRET: &str = "testsecret";

#[derive(Default)]
struct FakeS3 {
    objects: Mutex<HashMap<String, Bytes>>,
    connections: AtomicUsize,
    fail_puts: bool,
}

impl FakeS3 {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        if let Err(why) = verify_signature(&req) {
            return reply(StatusCode::FORBIDDEN, why);
        }
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let body = req.into_body().collect().await.unwrap().to_bytes();
        let is_bucket = path.matches('/').count() == 1;
        let mut objects = self.objects.lock().unwrap();
        match (method.as_str(), is_bucket) {
            ("PUT", true) => {
                if objects.insert(path, Bytes::new()).is_some() {
                    reply(StatusCode::CONFLICT, "BucketAlreadyOwnedByYou".into())
                } else {
                    reply(StatusCode::OK, String::new())
                }
            }
            ("PUT", false) if self.fail_puts && path.contains("/put/") => {
                reply(StatusCode::SERVICE_UNAVAILABLE, "SlowDown".into())
            }
            ("PUT", false) => {
                objects.insert(path, body);
                reply(StatusCode::OK, String::new())
            }
            ("GET", false) => match objects.get(&path) {
                Some(data) => Response::new(Full::new(data.clone())),
                None => reply(StatusCode::NOT_FOUND, "NoSuchKey".into()),
            },
            _ => reply(StatusCode::NOT_IMPLEMENTED, String::new()),
        }
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Checks the signature of what actually arrived on the wire with
/// `herald-sigv4`, a verifier independent of the bench's signer (`aws-sigv4`).
/// The bench must not hash bodies (`UNSIGNED-PAYLOAD`), so `body` is not
/// needed.
fn verify_signature(req: &Request<Incoming>) -> Result<(), String> {
    let declared = req.headers().get("x-amz-content-sha256");
    if declared.is_none_or(|v| v != "UNSIGNED-PAYLOAD") {
        return Err(format!("payload hash {declared:?}, not UNSIGNED-PAYLOAD"));
    }
    let signed = herald_sigv4::SignedRequest {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        body: &[],
    };
    let secret = |key: &str| (key == ACCESS).then(|| SECRET.to_owned());
    herald_sigv4::verify(&signed, secret, &["s3"], time::OffsetDateTime::now_utc())
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", e.aws_code("s3")))
}

async fn start(fake: FakeS3) -> (SocketAddr, Arc<FakeS3>) {
    let fake = Arc::new(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::clone(&fake);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            server.connections.fetch_add(1, Ordering::SeqCst);
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

fn args(addr: SocketAddr, secret: &str, scenario_args: &[&str]) -> herald_bench::BenchArgs {
    let endpoint = format!("http://{addr}");
    let mut argv = vec!["bench"];
    argv.extend_from_slice(&scenario_args[..1]);
    argv.extend([
        "--endpoint",
        &endpoint,
        "--access-key",
        ACCESS,
        "--secret-key",
        secret,
        "--json",
    ]);
    argv.extend_from_slice(&scenario_args[1..]);
    Cli::try_parse_from(argv).unwrap().bench
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_mixed_against_a_verifying_server() {
    let (addr, fake) = start(FakeS3::default()).await;
    let common = ["-c", "4", "-d", "300ms", "--size", "3KiB"];

    let put = ["put"].iter().chain(&common).copied().collect::<Vec<_>>();
    let report = herald_bench::execute(args(addr, SECRET, &put)).await.unwrap();
    let mut requests = report.total.ops;
    assert_eq!(report.scenario, "put");
    assert_eq!(report.total.errors, 0, "{report:?}");
    assert!(report.total.ops > 10, "{report:?}");
    assert_eq!(report.total.bytes, report.total.ops * 3072);
    assert_eq!(report.size_bytes, 3072);
    // Bucket + one object per successful PUT, all distinct keys.
    let stored = fake.objects.lock().unwrap().len() as u64;
    assert!(stored > report.total.ops, "{stored} objects for {report:?}");

    let mut get = ["get"].iter().chain(&common).copied().collect::<Vec<_>>();
    get.extend(["--objects", "20"]);
    let report = herald_bench::execute(args(addr, SECRET, &get)).await.unwrap();
    requests += report.total.ops + 20; // the GETs and the pre-uploads
    assert_eq!(report.total.errors, 0, "{report:?}");
    assert!(report.total.ops > 10, "{report:?}");
    assert_eq!(report.by_op.keys().collect::<Vec<_>>(), ["get"]);
    assert_eq!(report.params["objects"], 20);

    let mut mixed = ["mixed"].iter().chain(&common).copied().collect::<Vec<_>>();
    mixed.extend(["--objects", "20", "--get-ratio", "0.5"]);
    let report = herald_bench::execute(args(addr, SECRET, &mixed)).await.unwrap();
    requests += report.total.ops + 20;
    assert_eq!(report.total.errors, 0, "{report:?}");
    assert_eq!(report.by_op.keys().collect::<Vec<_>>(), ["get", "put"]);
    assert!(report.by_op["get"].ops > 0 && report.by_op["put"].ops > 0);
    assert_eq!(report.total.ops, report.by_op["get"].ops + report.by_op["put"].ops);

    // Connections are pooled and kept alive, not opened per request (each
    // run has its own client and pool). Under load the pool may open a few
    // extra connections when every idle one is busy, so the bound is
    // relative to the number of requests rather than to the worker count.
    let connections = fake.connections.load(Ordering::SeqCst);
    assert!(
        connections as u64 * 5 <= requests,
        "{connections} connections for {requests} requests"
    );
}

#[tokio::test]
async fn wrong_secret_fails_setup() {
    let (addr, _fake) = start(FakeS3::default()).await;
    let err = herald_bench::execute(args(addr, "not-the-secret", &["put", "-d", "100ms"]))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("403") && msg.contains("SignatureDoesNotMatch"), "{msg}");
}

#[tokio::test]
async fn failed_operations_are_counted_not_timed() {
    let (addr, _fake) = start(FakeS3 {
        fail_puts: true,
        ..FakeS3::default()
    })
    .await;
    let report = herald_bench::execute(args(addr, SECRET, &["put", "-c", "2", "-d", "200ms"]))
        .await
        .unwrap();
    assert_eq!(report.total.ops, 0, "{report:?}");
    assert!(report.total.errors > 0, "{report:?}");
    assert_eq!(report.total.p99_ms, 0.0);
}

#[tokio::test]
async fn server_memory_is_reported() {
    let (addr, _fake) = start(FakeS3::default()).await;
    // The "server" runs in this process, so its own PID is the one to read.
    let pid = std::process::id().to_string();
    let report = herald_bench::execute(args(
        addr,
        SECRET,
        &["put", "-c", "1", "-d", "50ms", "--server-pid", &pid],
    ))
    .await
    .unwrap();
    assert!(report.server_rss_kb.unwrap() > 0);
    assert!(report.server_hwm_kb.unwrap() >= report.server_rss_kb.unwrap());
}
