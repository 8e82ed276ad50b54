//! Shared harness for Herald's integration tests.
//!
//! `TestServer` runs the real `herald` binary (`herald serve`) on a free
//! loopback port with a temporary data directory and fixed root keys, and
//! hands out AWS SDK clients pointed at it.

#![allow(dead_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use md5::{Digest, Md5};

pub const ROOT_ACCESS_KEY: &str = "HERALDROOTACCESSKEY1";
pub const ROOT_SECRET_KEY: &str = "heraldRootSecretKey/0123456789abcdefghij";
pub const REGION: &str = "us-east-1";

/// Path of the herald binary built by cargo for these tests.
pub fn herald_bin() -> &'static str {
    env!("CARGO_BIN_EXE_herald")
}

enum DataDir {
    Owned(tempfile::TempDir),
    Borrowed(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Owned(t) => t.path(),
            DataDir::Borrowed(p) => p,
        }
    }
}

pub struct TestServer {
    child: Option<Child>,
    port: u16,
    data: DataDir,
    // Logs live outside the data dir so they never interfere with the store.
    log_dir: tempfile::TempDir,
    log_path: PathBuf,
    /// Port of the SFTP service (`--sftp-listen`), when started with it.
    sftp_port: Option<u16>,
    /// Port of the detailed metrics (`--metrics-listen`), always on in tests.
    metrics_port: u16,
    /// More `herald serve` flags (see [`TestServer::start_with_args`]).
    extra_args: Vec<String>,
    /// Fresh ports to try when a first start finds its port taken.
    port_retries: u32,
}

fn fresh_data_dir() -> DataDir {
    DataDir::Owned(
        tempfile::Builder::new()
            .prefix("herald-data-")
            .tempdir()
            .expect("create temp data dir"),
    )
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl TestServer {
    /// Start a server on a fresh temporary data dir.
    pub fn start() -> TestServer {
        Self::start_with(fresh_data_dir(), false)
    }

    /// Start a server on a fresh data dir that also serves SFTP on a free port.
    pub fn start_with_sftp() -> TestServer {
        Self::start_with(fresh_data_dir(), true)
    }

    /// Start a server on an existing data dir (which is not deleted on drop).
    pub fn start_in(dir: &Path) -> TestServer {
        Self::start_with(DataDir::Borrowed(dir.to_path_buf()), false)
    }

    /// Start a server on a fresh data dir with more `herald serve` flags.
    pub fn start_with_args(args: &[&str]) -> TestServer {
        Self::start_full(fresh_data_dir(), false, args)
    }

    fn start_with(data: DataDir, sftp: bool) -> TestServer {
        Self::start_full(data, sftp, &[])
    }

    fn start_full(data: DataDir, sftp: bool, args: &[&str]) -> TestServer {
        let log_dir = tempfile::Builder::new()
            .prefix("herald-log-")
            .tempdir()
            .expect("create temp log dir");
        let log_path = log_dir.path().join("server.log");
        let mut s = TestServer {
            child: None,
            port: free_port(),
            data,
            log_dir,
            log_path,
            sftp_port: sftp.then(free_port),
            metrics_port: free_port(),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            port_retries: 3,
        };
        s.spawn();
        s.port_retries = 0;
        s
    }

    fn spawn(&mut self) {
        assert!(self.child.is_none(), "server already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open server log");
        let log2 = log.try_clone().unwrap();
        let mut cmd = Command::new(herald_bin());
        scrub_env(&mut cmd);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(self.data.path())
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--region")
            .arg(REGION)
            .arg("--metrics-listen")
            .arg(format!("127.0.0.1:{}", self.metrics_port))
            .args(&self.extra_args)
            .env("HERALD_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
            .env("HERALD_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .args(
                self.sftp_port
                    .iter()
                    .flat_map(|p| ["--sftp-listen".to_owned(), format!("127.0.0.1:{p}")]),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        // Make sure the server dies with the test even if the test process is
        // killed without running destructors.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn herald serve");
        self.child = Some(child);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                // Another test took a port between `free_port` and the
                // bind: a first start picks new ports and tries again.
                if self.port_retries > 0 && self.logs().contains("Address already in use") {
                    self.port_retries -= 1;
                    self.port = free_port();
                    self.metrics_port = free_port();
                    self.sftp_port = self.sftp_port.map(|_| free_port());
                    return self.spawn();
                }
                panic!(
                    "herald serve exited before becoming healthy ({status}); output:\n{}",
                    self.logs()
                );
            }
            if let Ok(r) = raw_request(self.addr(), "GET", "/health", &[], b"")
                && r.status == 200
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "herald serve did not answer 200 on GET /health within 30 s; output:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything the server printed so far (all runs).
    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The SFTP port; panics unless started with [`TestServer::start_with_sftp`].
    pub fn sftp_port(&self) -> u16 {
        self.sftp_port.expect("server started without SFTP")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.port)
    }

    /// Where the detailed (per-tenant, per-topic) metrics are served.
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.metrics_port)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    /// SIGKILL the server and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }

    /// SIGTERM the server and wait (up to 40 s) for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server not running");
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "herald serve did not exit within 40 s of SIGTERM; output:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the extra `herald serve` flags used from the next
    /// (re)start on: the operator changing the configuration between starts.
    pub fn set_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
    }

    /// Restart on the same data dir and port (kills -9 first if running).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    fn client_config(&self, access: &str, secret: &str) -> aws_sdk_s3::config::Builder {
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(access, secret, None, None, "herald-tests"))
            .endpoint_url(self.url())
            .force_path_style(true)
    }

    /// Root client.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
    }

    pub fn s3_as(&self, access: &str, secret: &str) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(self.client_config(access, secret).build())
    }

    /// An SQS client signing as `access`/`secret`.
    pub fn sqs_as(&self, access: &str, secret: &str) -> aws_sdk_sqs::Client {
        let conf = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                access,
                secret,
                None,
                None,
                "herald-tests",
            ))
            .endpoint_url(self.url())
            .build();
        aws_sdk_sqs::Client::from_conf(conf)
    }

    /// Root client without retries (for crash tests: an error is final).
    pub fn s3_no_retry(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            self.client_config(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    /// Root client using virtual-host style addressing against
    /// `http://localhost:PORT`; every `*.localhost` name resolves to 127.0.0.1.
    pub fn s3_virtual_host(&self) -> aws_sdk_s3::Client {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_with_resolver(LoopbackResolver);
        let conf = self
            .client_config(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
            .endpoint_url(format!("http://localhost:{}", self.port))
            .force_path_style(false)
            .http_client(http_client)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// Run `herald ARGS... --data-dir DIR` and return its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(self.data_dir(), args)
    }

    /// `herald user create NAME --access-key K --secret-key S`; panics on failure.
    pub fn create_user(&self, name: &str, access: &str, secret: &str) -> Output {
        let out = self.cli(&["user", "create", name, "--access-key", access, "--secret-key", secret]);
        assert!(
            out.status.success(),
            "herald user create {name} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Run the herald CLI with `--data-dir DIR` appended.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(herald_bin());
    scrub_env(&mut cmd);
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("HERALD_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
        .env("HERALD_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
        .stdin(Stdio::null())
        .output()
        .expect("run herald CLI")
}

/// Drop any HERALD_* settings inherited from the caller's environment so the
/// tests only see what they pass explicitly.
fn scrub_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HERALD_") {
            cmd.env_remove(&k);
        }
    }
}

#[derive(Debug, Clone)]
struct LoopbackResolver;

impl ResolveDns for LoopbackResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        assert!(
            name == "localhost" || name.ends_with(".localhost"),
            "test resolver only resolves *.localhost, asked for {name}"
        );
        DnsFuture::ready(Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]))
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 over std TcpStream.

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send one request (with `Connection: close`) and read the whole response.
/// `Host` defaults to the address; `Content-Length` is always sent for
/// PUT/POST or a non-empty body.
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        && (!body.is_empty() || method == "PUT" || method == "POST")
    {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    parse_response(&buf, method == "HEAD")
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(buf: &[u8], head: bool) -> io::Result<RawResponse> {
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad(format!("no header terminator in {} bytes", buf.len())))?;
    let head_text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let rest = &buf[end + 4..];
    let resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(cl) = resp.header("content-length") {
        let n: usize = cl.parse().map_err(|_| bad("bad content-length"))?;
        if rest.len() < n {
            return Err(bad(format!("short body: {} < {n}", rest.len())));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse { body, ..resp })
}

fn decode_chunked(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let pos = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("truncated chunk size"))?;
        let size_line = String::from_utf8_lossy(&data[..pos]).into_owned();
        let size_hex = size_line.split(';').next().unwrap().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
        data = &data[pos + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Send a presigned request produced by the SDK with a raw HTTP client.
pub fn send_presigned(addr: SocketAddr, req: &aws_sdk_s3::presigning::PresignedRequest, body: &[u8]) -> RawResponse {
    let uri = req.uri();
    let after_scheme = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let target = match after_scheme.find('/') {
        Some(i) => &after_scheme[i..],
        None => "/",
    };
    let host = &after_scheme[..after_scheme.find('/').unwrap_or(after_scheme.len())];
    let mut headers: Vec<(&str, &str)> = req.headers().collect();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        headers.push(("Host", host));
    }
    raw_request(addr, req.method(), target, &headers, body)
        .unwrap_or_else(|e| panic!("presigned {} {uri} failed: {e}", req.method()))
}

// ---------------------------------------------------------------------------
// Error helpers.

/// (error code, HTTP status) of a failed SDK call; panics if the call failed
/// without an HTTP response (e.g. connection error).
pub fn err_info<E, R>(err: &SdkError<E, R>) -> (String, u16)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    let status = match err.raw_response() {
        Some(r) => r.status_u16(),
        None => panic!("expected an HTTP error response, got {err:?}"),
    };
    let code = match err {
        SdkError::ServiceError(se) => se.err().code().unwrap_or("").to_string(),
        other => other.code().unwrap_or("").to_string(),
    };
    (code, status)
}

pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Assert that `res` failed with the given code and HTTP status.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug, E, R>(res: Result<T, SdkError<E, R>>, code: &str, status: u16)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    match res {
        Ok(v) => panic!("expected error {code} ({status}), got success: {v:?}"),
        Err(e) => {
            let (c, s) = err_info(&e);
            assert_eq!(
                (c.as_str(), s),
                (code, status),
                "expected error {code} ({status}), got {c:?} ({s}); full error: {e:?}"
            );
        }
    }
}

/// Assert that `res` failed with the given HTTP status (any code).
#[track_caller]
pub fn assert_status<T: std::fmt::Debug, E, R>(res: Result<T, SdkError<E, R>>, status: u16) -> String
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    match res {
        Ok(v) => panic!("expected HTTP {status}, got success: {v:?}"),
        Err(e) => {
            let (c, s) = err_info(&e);
            assert_eq!(
                s, status,
                "expected HTTP {status}, got {s} (code {c:?}); full error: {e:?}"
            );
            c
        }
    }
}

// ---------------------------------------------------------------------------
// Misc helpers.

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// `"<hex md5>"`, the ETag S3 gives a single-part object.
pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// Multipart ETag: `"<md5 of the concatenated binary part md5s>-N"`.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut cat = Vec::new();
    for p in parts {
        cat.extend_from_slice(&Md5::digest(p));
    }
    format!("\"{}-{}\"", md5_hex(&cat), parts.len())
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// Deterministic pseudo-random bytes from a seed (splitmix64).
pub fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Collect a GetObject body.
pub async fn body_bytes(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("read object body")
        .into_bytes()
        .to_vec()
}

/// All keys of a bucket (ListObjectsV2, paginated), in listing order.
pub async fn list_all_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: Option<&str>) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = s3.list_objects_v2().bucket(bucket);
        if let Some(p) = prefix {
            req = req.prefix(p);
        }
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let resp = req.send().await.expect("ListObjectsV2");
        for o in resp.contents() {
            out.push((o.key().unwrap().to_string(), o.size().unwrap_or(-1)));
        }
        if resp.is_truncated() == Some(true) {
            token = Some(
                resp.next_continuation_token()
                    .expect("truncated listing without NextContinuationToken")
                    .to_string(),
            );
        } else {
            return out;
        }
    }
}

pub async fn bucket_names(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let resp = s3.list_buckets().send().await.expect("ListBuckets");
    let mut names: Vec<String> = resp
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(String::from))
        .collect();
    names.sort();
    names
}

/// Asserts that /health answers 200 right now: the server survived
/// whatever the test just did to it.
pub fn assert_healthy(srv: &TestServer) {
    let r = raw_request(srv.addr(), "GET", "/health", &[], b"").expect("GET /health answers");
    assert_eq!(r.status, 200, "/health: {}", r.body_str());
}

/// The `aws` CLI pointed at `srv` as root, with nothing taken from the
/// machine's AWS configuration (no profile, no metadata service, no pager).
pub fn aws_cli_command(srv: &TestServer) -> Command {
    let mut c = Command::new("aws");
    c.arg("--endpoint-url")
        .arg(srv.url())
        .env("AWS_ACCESS_KEY_ID", ROOT_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null());
    c
}

/// Runs a boto3 script (`python3 -c`) against `srv`: `T_URL` and the given
/// variables set, nothing taken from the machine's AWS configuration (no
/// profile, no metadata service). Panics, with both outputs and the
/// server's log, unless the script exits 0.
pub fn run_boto3(srv: &TestServer, script: &str, vars: &[(&str, &str)]) -> Output {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("T_URL", srv.url())
        .envs(vars.iter().copied())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install python3 and `pip install boto3`"));
    assert!(
        out.status.success(),
        "boto3 script failed:\nstdout: {}\nstderr: {}\nserver:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    out
}
