//! Herald's HTTP front: one port for S3 (through `s3s`), `/health` and
//! `/metrics`, over plain HTTP or TLS.
//!
//! Requests are dispatched here, in front of `s3s`, because `s3s` checks
//! signatures before anything else: unsigned operational endpoints (and,
//! in later issues, the SNS and SQS protocols, which sign differently) must
//! be told apart before a request reaches it.

pub mod admin;
mod front;
pub mod host;
pub mod metrics;
pub mod notify;
pub mod s3;
pub mod sns;
pub mod sqs;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald_store::Store;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use front::{ConnInfo, RequestMeta};

/// How the server is set up; built by the `herald` binary from flags,
/// environment and config file.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub region: String,
    /// Base domains for virtual-host-style requests (`bucket.<domain>`).
    pub domains: Vec<String>,
    /// PEM certificate chain and private key; serve HTTPS when set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// How long in-flight requests may run after a shutdown signal.
    pub shutdown_grace: Duration,
}

/// Errors that stop the server from starting.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A bound, not yet running server (binding first lets callers report the
/// real address, e.g. with port 0).
pub struct Server {
    listener: TcpListener,
    state: Arc<front::Front>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    grace: Duration,
}

impl Server {
    /// `queues` serves the SQS API (see [`sqs`]); the caller opens it so
    /// that the binary, not the server, owns where queue data lives.
    pub async fn bind(
        store: Store,
        notifier: Arc<notify::Notifier>,
        queues: herald_queue::QueueEngine,
        cfg: ServerConfig,
    ) -> Result<Server, ServeError> {
        let tls = match &cfg.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key).map_err(ServeError::Tls)?),
            None => None,
        };
        let listener = TcpListener::bind(cfg.listen).await.map_err(|source| ServeError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let state = Arc::new(front::Front::new(store, notifier, queues, &cfg));
        Ok(Server {
            listener,
            state,
            tls,
            grace: cfg.shutdown_grace,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests
    /// finish (up to the grace period).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            let state = self.state.clone();
            let tls = self.tls.clone();
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let builder = auto::Builder::new(TokioExecutor::new());
                match tls {
                    None => {
                        let info = ConnInfo { peer, tls: false };
                        let svc = front::service(state, info);
                        let conn = builder.serve_connection(TokioIo::new(stream), svc);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                    }
                    Some(acceptor) => {
                        let stream = match acceptor.accept(stream).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                return;
                            }
                        };
                        let info = ConnInfo { peer, tls: true };
                        let svc = front::service(state, info);
                        let conn = builder.serve_connection(TokioIo::new(stream), svc);
                        if let Err(e) = watcher.watch(conn.into_owned()).await {
                            tracing::debug!(error = %e, %peer, "connection ended with an error");
                        }
                    }
                }
            });
        }
        drop(self.listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        tokio::select! {
            _ = graceful.shutdown() => tracing::info!("all connections closed"),
            _ = tokio::time::sleep(self.grace) => tracing::warn!("grace period over, closing remaining connections"),
        }
    }
}
