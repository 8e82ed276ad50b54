//! Read-only SFTP access to the store.
//!
//! Consumers without S3 credentials (or an S3 client) fetch objects, such
//! as event batch files, with a standard `sftp` client and an SSH key. The
//! tree they see: `/` lists the buckets the user owns or may list through
//! a bucket policy or ACL ([`access`]), and inside a bucket keys are split
//! on `/` into directories. Nothing can be changed: every
//! write request is answered "permission denied". Logins are by public
//! key only (`herald user add-key`); passwords are never offered.

pub mod access;
mod fs;
pub mod host_key;
mod pump;
mod ssh;
mod tree;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use herald_store::Store;
use russh::{MethodKind, MethodSet};
use tokio::net::TcpListener;

/// SFTP connections served at once; more clients wait in the kernel's
/// listen backlog until one closes (as on the S3 port).
pub const MAX_CONNECTIONS: usize = 256;

/// Time a client has from connecting to logging in; then it is
/// disconnected, so unauthenticated clients cannot hold connection slots.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A bound SFTP server, ready to [`run`](SftpServer::run).
pub struct SftpServer {
    listener: TcpListener,
    permits: Arc<tokio::sync::Semaphore>,
    login_timeout: Duration,
    config: Arc<russh::server::Config>,
    store: Store,
    access: Arc<dyn access::BucketAccess>,
    host_key_fingerprint: String,
}

impl SftpServer {
    /// Loads (or creates) the host key in `data_dir` and binds `listen`.
    pub async fn bind(store: Store, listen: SocketAddr, data_dir: &Path) -> io::Result<SftpServer> {
        let key = host_key::load_or_generate(data_dir)?;
        let host_key_fingerprint = host_key::fingerprint(&key);
        let config = russh::server::Config {
            server_id: russh::SshId::Standard(format!("SSH-2.0-Herald_{}", env!("CARGO_PKG_VERSION")).into()),
            // Public keys only: "password" and "keyboard-interactive" are
            // not even offered, so clients never prompt for one.
            methods: MethodSet::from(&[MethodKind::PublicKey][..]),
            keys: vec![key],
            // OpenSSH probes with "none" first: answer that at once; real
            // refusals take a constant second.
            auth_rejection_time: Duration::from_secs(1),
            auth_rejection_time_initial: Some(Duration::ZERO),
            inactivity_timeout: Some(Duration::from_secs(600)),
            // Largest packets the protocol allows: fewer per downloaded MiB.
            maximum_packet_size: 65535,
            nodelay: true,
            ..Default::default()
        };
        let listener = TcpListener::bind(listen).await?;
        Ok(SftpServer {
            listener,
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            login_timeout: LOGIN_TIMEOUT,
            config: Arc::new(config),
            store,
            access: Arc::new(access::OwnersOnly),
            host_key_fingerprint,
        })
    }

    /// Lets users see other users' buckets where `access` allows (the
    /// server's S3 decision); without it, only their own.
    pub fn with_access(mut self, access: Arc<dyn access::BucketAccess>) -> Self {
        self.access = access;
        self
    }

    /// Another login deadline than [`LOGIN_TIMEOUT`] (tests).
    pub fn with_login_timeout(mut self, timeout: Duration) -> Self {
        self.login_timeout = timeout;
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `SHA256:…`, what clients show when they first connect.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key_fingerprint
    }

    /// Accepts connections until `shutdown` completes; open sessions end
    /// with the process.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => return,
                p = self.permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let (socket, peer) = tokio::select! {
                _ = &mut shutdown => return,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: pause
                        // rather than spin.
                        tracing::warn!(error = %e, "sftp accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = socket.set_nodelay(true);
            let handler = ssh::Connection::new(self.store.clone(), self.access.clone(), Some(peer));
            let config = self.config.clone();
            let login_timeout = self.login_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                serve(config, socket, handler, peer, login_timeout).await;
            });
        }
    }
}

/// One SFTP connection, which must log in within `login_timeout` of
/// connecting (the SSH version exchange and key exchange included).
async fn serve(
    config: Arc<russh::server::Config>,
    socket: tokio::net::TcpStream,
    handler: ssh::Connection,
    peer: SocketAddr,
    login_timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + login_timeout;
    let logged_in = handler.logged_in();
    // A second handle on the socket: shutting it down ends the session's
    // reads and writes whatever state the SSH layer is in.
    let (socket, killer) = match socket.into_std().and_then(|s| {
        let killer = s.try_clone()?;
        Ok((tokio::net::TcpStream::from_std(s)?, killer))
    }) {
        Ok(pair) => pair,
        Err(e) => return tracing::warn!(%peer, error = %e, "sftp connection dropped"),
    };
    let session = match tokio::time::timeout_at(deadline, russh::server::run_stream(config, socket, handler)).await {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "ssh handshake failed"),
        Err(_) => return tracing::debug!(%peer, "ssh handshake timed out"),
    };
    let handle = session.handle();
    tokio::pin!(session);
    tokio::select! {
        ended = &mut session => {
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "sftp session ended with an error");
            }
            return;
        }
        () = tokio::time::sleep_until(deadline), if !logged_in.load(std::sync::atomic::Ordering::Relaxed) => {}
    }
    if logged_in.load(std::sync::atomic::Ordering::Relaxed) {
        // Logged in just at the deadline: serve on.
        let _ = session.await;
        return;
    }
    tracing::info!(%peer, "sftp client did not log in in time; disconnected");
    let _ = handle
        .disconnect(
            russh::Disconnect::ByApplication,
            "login timed out".into(),
            String::new(),
        )
        .await;
    let _ = killer.shutdown(std::net::Shutdown::Both);
    let _ = tokio::time::timeout(Duration::from_secs(5), session).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads until the server closes the connection; `None` if it is still
    /// open after `wait`.
    async fn closed_within(stream: &mut tokio::net::TcpStream, wait: Duration) -> Option<Vec<u8>> {
        let mut got = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
        };
        tokio::time::timeout(wait, read).await.ok().map(|_| got)
    }

    #[tokio::test]
    async fn clients_that_do_not_log_in_in_time_are_disconnected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("data")).unwrap();
        let server = SftpServer::bind(store, "127.0.0.1:0".parse().unwrap(), dir.path())
            .await
            .unwrap()
            .with_login_timeout(Duration::from_secs(1));
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run(std::future::pending()));
        // Silent, and one that stops after its version line.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
        stalled.write_all(b"SSH-2.0-stalled\r\n").await.unwrap();
        for (name, s) in [("silent", &mut silent), ("stalled", &mut stalled)] {
            let got = closed_within(s, Duration::from_secs(30))
                .await
                .unwrap_or_else(|| panic!("the {name} client is still connected"));
            assert!(got.starts_with(b"SSH-2.0-Herald"), "{name}: {got:?}");
        }
    }
}
