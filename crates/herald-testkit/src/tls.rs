//! `herald serve` over TLS, and the aws CLI that talks to it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{ROOT_ACCESS_KEY, ROOT_SECRET_KEY, free_port, herald_bin};

/// A self-signed certificate for 127.0.0.1 made with the openssl CLI.
fn make_cert(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    crate::self_signed(
        dir,
        "127.0.0.1",
        &["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        "tls.key",
        "tls.crt",
    );
    (dir.join("tls.crt"), dir.join("tls.key"))
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The aws CLI against an HTTPS Herald on `port`, trusting `ca`, as root.
pub fn aws_over_tls(port: u16, ca: &Path, args: &[&str]) -> std::process::Output {
    Command::new("aws")
        .arg("--endpoint-url")
        .arg(format!("https://127.0.0.1:{port}"))
        .arg("--ca-bundle")
        .arg(ca)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ROOT_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("the aws CLI is needed (pip install awscli)")
}

/// A `herald serve` over TLS on a free port (its own self-signed
/// certificate in `tmp`), listening once this returns; stopped on drop.
pub struct TlsServer {
    pub port: u16,
    /// Its certificate (self-signed: the CA bundle clients trust).
    pub cert: std::path::PathBuf,
    _guard: Guard,
}

impl TlsServer {
    pub fn start(tmp: &Path, extra: &[&str]) -> TlsServer {
        let (cert, key) = make_cert(tmp);
        let port = free_port();
        let child = Command::new(herald_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(tmp.join("data"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .args(extra)
            .env("HERALD_ROOT_ACCESS_KEY", ROOT_ACCESS_KEY)
            .env("HERALD_ROOT_SECRET_KEY", ROOT_SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn herald");
        let guard = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "herald did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer {
            port,
            cert,
            _guard: guard,
        }
    }
}
