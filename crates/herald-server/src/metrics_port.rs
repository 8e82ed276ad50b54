//! The `--metrics-listen` port: the detailed metrics, with per-tenant and
//! per-topic (and per-queue) series.
//!
//! Those labels carry user, topic and queue names, which are nobody else's
//! business: the S3 port's unauthenticated `/metrics` shows aggregates only,
//! and the detail lives here, on an address the operator chooses (meant for
//! loopback or a private scrape network).

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use s3s::Body;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::conn::{self, Activity, ConnectionLimits};
use crate::front::{self, Front};
use crate::metrics::resident_memory_bytes;

/// Scrapers are few; this many connections at once is plenty, and keeps a
/// misconfigured public metrics address from becoming a way around the S3
/// port's connection cap.
const MAX_CONNECTIONS: usize = 64;

/// Serves `GET /metrics` (detailed) and `GET /health` until `stop` flips.
pub(crate) async fn serve(
    listener: TcpListener,
    state: Arc<Front>,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(address = %addr, "detailed metrics listening");
    }
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let limits = Arc::new(limits);
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => return,
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics port: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (state, limits, stop) = (state.clone(), limits.clone(), stop.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Activity::new();
            let svc = MetricsService {
                state,
                activity: activity.clone(),
            };
            let builder = conn::builder(&limits);
            if let Err(e) = conn::drive(&builder, stream, svc, activity, &limits, stop).await {
                tracing::debug!(error = %e, "metrics connection ended with an error");
            }
        });
    }
}

#[derive(Clone)]
struct MetricsService {
    state: Arc<Front>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for MetricsService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Body>, Infallible>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let _busy = self.activity.begin();
        let resp = match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => {
                front::text(StatusCode::OK, &render_metrics(&self.state, MetricsDetail::PerTenant))
            }
            (&Method::GET, "/health") => front::text(StatusCode::OK, "ok\n"),
            _ => front::text(StatusCode::NOT_FOUND, "only /metrics and /health are served here\n"),
        };
        std::future::ready(Ok(resp))
    }
}

/// Which series a metrics page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricsDetail {
    /// Totals only: the S3 port's unauthenticated `/metrics`, which must
    /// not name any tenant's user, topic, queue or bucket.
    Aggregate,
    /// Totals plus per-tenant, per-topic and per-queue series: the
    /// operator's `--metrics-listen` port.
    PerTenant,
}

pub(crate) fn render_metrics(state: &Front, detail: MetricsDetail) -> String {
    let buckets = state.store.list_buckets(None).map(|b| b.len()).unwrap_or(0) as f64;
    let users = state.store.list_users().map(|u| u.len()).unwrap_or(0) as f64;
    let rss = resident_memory_bytes().unwrap_or(0) as f64;
    let open = state
        .max_connections
        .saturating_sub(state.connections.available_permits()) as f64;
    let mut gauges = vec![
        ("herald_buckets", "Buckets in the store.", buckets),
        ("herald_users", "Users in the store.", users),
        ("herald_http_connections", "Connections open on the S3 port now.", open),
        (
            "herald_http_connections_max",
            "Connections the S3 port serves at once (--max-connections).",
            state.max_connections as f64,
        ),
        (
            "process_resident_memory_bytes",
            "Resident memory of the server process.",
            rss,
        ),
    ];
    if let Some(gw) = state.gateway() {
        let (detached, unsettled) = gw.gauges();
        gauges.push((
            "herald_gateway_detached_mutations",
            "Gateway mode: forwarded mutations with events running now (bounded by --max-connections).",
            detached as f64,
        ));
        gauges.push((
            "herald_gateway_intents_unsettled",
            "Gateway mode: forwarded changes whose outcome the upstream could not be asked about yet (retried every 5 s).",
            unsettled as f64,
        ));
    }
    if let Some(cluster) = state.cluster.get() {
        gauges.push((
            "herald_cluster_connected",
            "Cluster mode: 1 while this node's NATS connection is up.",
            if cluster.connected() { 1.0 } else { 0.0 },
        ));
        gauges.push((
            "herald_cluster_unsettled_changes",
            "Cluster mode: metadata changes not shared yet, or not applied here yet (retried every 2 s).",
            cluster.unsettled_changes() as f64,
        ));
    }
    let mut out = state.metrics.render(&gauges);
    let per_tenant = detail == MetricsDetail::PerTenant;
    state.notifier.metrics.render(&mut out, per_tenant);
    crate::notify::metrics::render_queue_gauges(&mut out, &state.notifier.persistent_queues(), per_tenant);
    out
}
