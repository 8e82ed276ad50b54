//! Herald's HTTP front: one port for S3 (through `s3s`), `/health` and
//! `/metrics`, over plain HTTP or TLS.
//!
//! Requests are dispatched here, in front of `s3s`, because `s3s` checks
//! signatures before anything else: unsigned operational endpoints (and,
//! in later issues, the SNS and SQS protocols, which sign differently) must
//! be told apart before a request reaches it.

//!
//! Its public surface is what the `herald` binary needs: [`Server`] and its
//! [`ServerConfig`], and the [`AccessDecider`] the SFTP server shares with
//! S3. Everything else is the wire adapters' own.

mod body_limit;
mod conn;
mod console;
mod error;
mod front;
mod gateway;
mod grants;
mod host;
mod metrics;
mod metrics_port;
/// The event pipeline lives in its own crate; re-exported for the binary.
pub use herald_notify as notify;
mod s3;
mod sns;
mod sqs;
mod stall;
mod tls;

pub use s3::access::AccessDecider;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use herald_store::Store;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

pub use conn::ConnectionLimits;
pub use front::{ConnInfo, RequestMeta};
pub use gateway::UpstreamSettings;
pub use gateway::settle::CLOCK_ALLOWANCE_SECS;

/// Cluster mode's state, for `/metrics` (see docs/cluster.md).
pub trait ClusterStatus: Send + Sync {
    /// Whether this node's NATS connection is up.
    fn connected(&self) -> bool;
    /// Metadata changes made here and not shared yet, or made elsewhere
    /// and not applied here yet (retried every 2 s).
    fn unsettled_changes(&self) -> usize;
}

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
    /// Timeouts and the connection cap of the S3 port.
    pub connections: ConnectionLimits,
    /// Accept AWS Signature Version 2 on S3 (off: SigV2 requests are
    /// refused; on: their `Date` must be within 15 minutes).
    pub allow_sigv2: bool,
    /// Where per-tenant and per-topic metrics are served; the S3 port's
    /// `/metrics` shows aggregates only.
    pub metrics_listen: Option<SocketAddr>,
    /// The web console under `/console/` (`None`: `--no-console`).
    pub console: Option<ConsoleSettings>,
    /// Gateway mode: the upstream S3 that keeps the objects (`None`:
    /// embedded mode, objects in the data dir).
    pub upstream: Option<UpstreamSettings>,
}

pub use herald_console::{ConsoleSettings, SessionLimits};

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
    /// The `--metrics-listen` listener, when configured.
    metrics_listener: Option<TcpListener>,
    state: Arc<front::Front>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    grace: Duration,
    limits: ConnectionLimits,
    /// One permit per open connection of the S3 port.
    permits: Arc<Semaphore>,
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
        let metrics_listener = match cfg.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind { addr, source })?,
            ),
            None => None,
        };
        let max = cfg
            .connections
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let permits = Arc::new(Semaphore::new(max));
        let state = Arc::new(front::Front::new(store, notifier, queues, &cfg, permits.clone()));
        // Gateway mode: what the last run forwarded without learning the
        // outcome is settled before anything new is served.
        if let Some(gateway) = state.gateway() {
            gateway.settle_at_start().await;
        }
        if let Some(console) = state.console() {
            let backend: std::sync::Weak<dyn herald_console::Backend> = Arc::downgrade(&state) as _;
            console.spawn_sampler(backend);
        }
        Ok(Server {
            listener,
            metrics_listener,
            state,
            tls,
            grace: cfg.shutdown_grace,
            limits: ConnectionLimits {
                max_connections: max,
                ..cfg.connections
            },
            permits,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The S3 access decision this server makes, for other front ends
    /// (SFTP) to ask the same questions.
    pub fn access_decider(&self) -> s3::access::AccessDecider {
        self.state.decider.clone()
    }

    /// Cluster mode: where `/metrics` reads the cluster's state.
    pub fn set_cluster_status(&self, status: Arc<dyn ClusterStatus>) {
        let _ = self.state.cluster.set(status);
    }

    /// What applies another cluster node's metadata changes to this
    /// server's caches (topics, configurations, policies; the store
    /// reloads keys itself).
    pub fn shared_change_listener(&self) -> Arc<dyn Fn(Vec<herald_store::SharedChange>) + Send + Sync> {
        let front = Arc::downgrade(&self.state);
        Arc::new(move |changes| {
            let Some(front) = front.upgrade() else { return };
            for change in &changes {
                if let herald_store::SharedChange::BucketPolicy(bucket) = change {
                    front.decider.0.policies.forget(bucket);
                }
            }
            front.notifier.apply_shared_changes(&changes);
        })
    }

    /// Where the detailed metrics are served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then lets in-flight requests
    /// finish (up to the grace period).
    ///
    /// A connection is accepted only when a permit is free: at the cap,
    /// new clients wait in the kernel's accept queue instead of being
    /// accepted and dropped.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        if let Some(listener) = self.metrics_listener {
            tokio::spawn(metrics_port::serve(
                listener,
                self.state.clone(),
                self.limits,
                stop_rx.clone(),
            ));
        }
        let limits = Arc::new(self.limits);
        let mut full_logged: Option<tokio::time::Instant> = None;
        tokio::pin!(shutdown);
        loop {
            let permit = match self.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => {
                    if full_logged.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::warn!(
                            max_connections = limits.max_connections,
                            "connection limit reached; new clients wait until a connection closes"
                        );
                        full_logged = Some(tokio::time::Instant::now());
                    }
                    tokio::select! {
                        _ = &mut shutdown => break,
                        p = self.permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                    }
                }
            };
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
            let limits = limits.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                serve_connection(stream, peer, state, tls, &limits, stop).await;
            });
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        // Live-tail streams never end by themselves: end them now, or they
        // would hold the drain below until the grace period is over.
        self.state.notifier.tail().close_all();
        tracing::info!("shutting down: waiting for in-flight requests");
        let all = limits.max_connections as u32;
        tokio::select! {
            _ = self.permits.acquire_many(all) => tracing::info!("all connections closed"),
            _ = tokio::time::sleep(self.grace) => tracing::warn!("grace period over, closing remaining connections"),
        }
    }
}

/// One connection of the S3 port: the TLS handshake (bounded by its
/// timeout), then HTTP until the client leaves, idles out or the server
/// stops.
async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    state: Arc<front::Front>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: &ConnectionLimits,
    stop: watch::Receiver<bool>,
) {
    let builder = conn::builder(limits);
    let activity = conn::Activity::new();
    let result = match tls {
        None => {
            let svc = front::service(state, ConnInfo { peer, tls: false }, activity.clone());
            conn::drive(&builder, stream, svc, activity, limits, stop).await
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let svc = front::service(state, ConnInfo { peer, tls: true }, activity.clone());
            conn::drive(&builder, stream, svc, activity, limits, stop).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}
