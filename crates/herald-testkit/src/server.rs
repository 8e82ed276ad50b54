//! The server under test: the real `herald` binary (`herald serve`) on a
//! free loopback port with a temporary data directory and fixed root keys,
//! and AWS SDK clients pointed at it.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use crate::*;

pub const ROOT_ACCESS_KEY: &str = "HERALDROOTACCESSKEY1";
pub const ROOT_SECRET_KEY: &str = "heraldRootSecretKey/0123456789abcdefghij";
pub const REGION: &str = "us-east-1";

/// Path of the herald binary cargo built for these tests. Cargo tells an
/// integration test where its package's binaries are only at compile time
/// (`CARGO_BIN_EXE_herald`), and this crate is not that test: the binary is
/// found next to the running test executable (`target/<profile>/deps/..`
/// is the test, `target/<profile>/herald` the binary), or named by
/// `HERALD_BIN`.
pub fn herald_bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(path) = std::env::var("HERALD_BIN") {
            eprintln!("herald-testkit: testing HERALD_BIN={path}, not the binary built with these tests");
            return path;
        }
        let exe = std::env::current_exe().expect("path of the running test");
        let mut dir = exe.parent().expect("test executable's directory").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let bin = dir.join("herald");
        assert!(
            bin.is_file(),
            "the herald binary is not at {} (build it with the tests, or set HERALD_BIN)",
            bin.display()
        );
        bin.to_string_lossy().into_owned()
    })
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
    /// Holds the server log's directory for as long as the server lives.
    _log_dir: tempfile::TempDir,
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

/// A loopback port nothing listens on right now.
pub fn free_loopback_port() -> u16 {
    free_port()
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
            _log_dir: log_dir,
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
