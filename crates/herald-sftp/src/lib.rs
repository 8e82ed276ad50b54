//! Read-only SFTP access to the store.
//!
//! Consumers without S3 credentials (or an S3 client) fetch objects, such
//! as event batch files, with a standard `sftp` client and an SSH key. The
//! tree they see: `/` lists the buckets the user owns, and inside a bucket
//! keys are split on `/` into directories. Nothing can be changed: every
//! write request is answered "permission denied". Logins are by public
//! key only (`herald user add-key`); passwords are never offered.

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

/// A bound SFTP server, ready to [`run`](SftpServer::run).
pub struct SftpServer {
    listener: TcpListener,
    config: Arc<russh::server::Config>,
    store: Store,
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
            config: Arc::new(config),
            store,
            host_key_fingerprint,
        })
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
            let handler = ssh::Connection::new(self.store.clone(), Some(peer));
            let config = self.config.clone();
            tokio::spawn(async move {
                match russh::server::run_stream(config, socket, handler).await {
                    Ok(session) => {
                        if let Err(e) = session.await {
                            tracing::debug!(%peer, error = %e, "sftp session ended with an error");
                        }
                    }
                    Err(e) => tracing::debug!(%peer, error = %e, "ssh handshake failed"),
                }
            });
        }
    }
}
