//! Connection hygiene: how long a client may take before it has said
//! anything useful, how long an idle connection is kept, and how many
//! connections are open at once.
//!
//! Without these, one client holds the server hostage cheaply: a request
//! head sent one byte at a time (or never finished), a TLS handshake never
//! completed, or thousands of idle sockets each pin a task and a file
//! descriptor until the process runs out of both.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use s3s::Body;
use tokio::sync::watch;
use tokio::time::Instant;

/// Default for [`ConnectionLimits::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`ConnectionLimits::tls_handshake_timeout`].
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default for [`ConnectionLimits::idle_timeout`].
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default for [`ConnectionLimits::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default for [`ConnectionLimits::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Interval of HTTP/2 keep-alive pings; a peer that does not answer one
/// within [`H2_PING_TIMEOUT`] is gone and its connection is closed.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Limits every connection of the S3 port lives under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Time a client has to send a complete request head (HTTP/1.1), or
    /// its first complete request (any protocol) after connecting.
    pub header_read_timeout: Duration,
    /// Time a client has to complete the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// Longest a request body may send nothing, or a response wait for the
    /// client to read it, before the request fails and the connection
    /// closes (see [`crate::stall`]).
    pub stall_timeout: Duration,
    /// Connections served at once; further clients wait in the kernel's
    /// accept queue until one closes (they are not accepted and dropped).
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// The hyper builder with the timers these limits need: hyper only
/// enforces a header-read timeout when it has a timer.
pub(crate) fn builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    builder
}

/// What the idle watchdog knows about one connection: when it opened, how
/// many requests it carried, how many are in flight, and when the last one
/// finished. Updated by the service, read by [`Activity::idle`].
pub(crate) struct Activity {
    opened: Instant,
    requests: AtomicU64,
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the last request finished.
    last_done_ms: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            requests: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            last_done_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request as started; the returned guard marks it finished
    /// when dropped (also when the request future is cancelled).
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// When the connection is due to be closed, or `None` while a request
    /// is in flight. Before its first request a connection gets the
    /// header-read timeout from the moment it opened (this also bounds the
    /// HTTP/2 preface and protocol detection, which hyper's HTTP/1 timer
    /// does not cover).
    fn deadline(&self, header_timeout: Duration, idle_timeout: Duration) -> Option<Instant> {
        if self.requests.load(Ordering::Relaxed) == 0 {
            return Some(self.opened + header_timeout);
        }
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let done = Duration::from_millis(self.last_done_ms.load(Ordering::Relaxed));
        Some(self.opened + done + idle_timeout)
    }

    /// Completes once the connection has been idle past its deadline.
    pub(crate) async fn idle(&self, header_timeout: Duration, idle_timeout: Duration) {
        loop {
            match self.deadline(header_timeout, idle_timeout) {
                Some(at) if at <= Instant::now() => return,
                Some(at) => tokio::time::sleep_until(at).await,
                // Busy: look again later (a request never holds the
                // connection idle, whatever it takes).
                None => tokio::time::sleep(idle_timeout).await,
            }
        }
    }
}

/// A request in flight on a connection (see [`Activity::begin`]).
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = a.opened.elapsed().as_millis().min(u64::MAX as u128) as u64;
        a.last_done_ms.store(ms, Ordering::Relaxed);
        a.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one connection until it ends, closing it gracefully when it has
/// been idle too long or the server shuts down; a connection that does not
/// finish closing within the header-read timeout after that is dropped.
pub(crate) async fn drive<I, S, F>(
    builder: &auto::Builder<TokioExecutor>,
    stream: I,
    svc: S,
    activity: Arc<Activity>,
    limits: &ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<Body>, Error = Infallible, Future = F>,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    // Writes that wait too long for the client end the connection (see
    // `crate::stall`).
    let io = crate::stall::StallGuardIo::new(hyper_util::rt::TokioIo::new(stream), limits.stall_timeout);
    let conn = builder.serve_connection(io, svc);
    tokio::pin!(conn);
    let idle = activity.idle(limits.header_read_timeout, limits.idle_timeout);
    tokio::pin!(idle);
    let mut closing: Option<Instant> = None;
    loop {
        let hard_stop = closing.unwrap_or_else(Instant::now) + limits.header_read_timeout;
        tokio::select! {
            res = conn.as_mut() => return res,
            () = &mut idle, if closing.is_none() => {
                tracing::debug!("closing an idle connection");
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
            _ = shutdown.changed(), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
            () = tokio::time::sleep_until(hard_stop), if closing.is_some() => {
                return Err("connection did not close after a graceful shutdown".into());
            }
        }
    }
}

/// A response whose body is still being sent keeps its request "in flight"
/// (so the connection's idle timeout does not close it under a long
/// download or a live-tail stream): bodies of unknown or large size carry
/// the marker until they end; small ones drop it now.
pub(crate) fn hold_while_streaming(resp: http::Response<s3s::Body>, busy: InFlight) -> http::Response<s3s::Body> {
    use hyper::body::Body as _;
    /// Above this, a body is worth holding the marker for.
    const SMALL: u64 = 64 * 1024;
    let hint = resp.body().size_hint();
    if resp.body().is_end_stream() || hint.exact().is_some_and(|n| n <= SMALL) {
        return resp;
    }
    resp.map(|body| s3s::Body::http_body_unsync(HoldBody { body, _busy: busy }))
}

/// A body that keeps its request's [`InFlight`] marker until it is dropped.
struct HoldBody {
    body: s3s::Body,
    _busy: InFlight,
}

impl hyper::body::Body for HoldBody {
    type Data = bytes::Bytes;
    type Error = s3s::StdError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: Duration = Duration::from_secs(30);
    const I: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_gets_the_header_timeout() {
        let a = Activity::new();
        assert_eq!(a.deadline(H, I), Some(a.opened + H));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_is_never_idle_and_an_idle_one_counts_from_its_last_request() {
        let a = Activity::new();
        let guard = a.begin();
        assert_eq!(a.deadline(H, I), None, "a request is in flight");
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(guard);
        let due = a.deadline(H, I).expect("idle now");
        assert!(due >= a.opened + Duration::from_secs(100) + I - Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_completes_after_the_idle_timeout() {
        let a = Activity::new();
        drop(a.begin());
        let started = Instant::now();
        a.idle(H, I).await;
        assert!(started.elapsed() >= I);
    }
}
