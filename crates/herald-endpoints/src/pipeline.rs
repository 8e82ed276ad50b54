//! Webhook pushes over HTTP/1.1 keep-alive connections that pipeline.
//!
//! Why by hand: hyper's client sends one request per connection at a
//! time, so every event costs a request write and an answer read on each
//! side (and hyper's pool and dispatch task between the caller and the
//! socket). A persistent topic under load has several events ready at
//! once (a group commit's worth), so here they go out in one write and
//! their answers are read back in order: one system call each way per
//! batch instead of per event, and the receiver reads the batch in one
//! read too.
//!
//! The shape: a topic's endpoint has *lanes*, each a task owning at most
//! one connection. Requests wait in one queue; a free lane takes the
//! first, lets the runtime run once (the other pushes of the same round
//! queue meanwhile) and takes what else waits, up to [`MAX_DEPTH`]. A
//! receiver that answers slowly gets requests one at a time on more
//! lanes (up to the endpoint's in-flight count), as many connections as
//! before, since a pipelined connection is served in order.
//!
//! What a hostile endpoint can do: answer slowly (each answer is bounded
//! by the push timeout), send a large or malformed head (16 KiB, 64
//! headers, 8 interim answers), a large or endless body (64 KiB read, the
//! connection then dropped), close early (the unanswered requests are
//! sent once more on a fresh connection when the close was clean, else
//! they fail and the log retries them). Every connection goes through the
//! endpoint policy's connector. At-least-once: a request the receiver
//! handled but did not answer may be sent again (the same event id).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::PushError;
use crate::http::Answer;

mod answer;
use answer::{Conn, ReadError};

/// Most requests written together on one connection.
pub(crate) const MAX_DEPTH: usize = 16;
/// A batch stops growing at this many request bytes.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Most bytes of an answer's status line and headers (and of a chunked
/// body's trailers).
pub(super) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most headers in an answer.
pub(super) const MAX_HEADERS: usize = 64;
/// Most informational (1xx) answers before the real one.
pub(super) const MAX_INTERIM: usize = 8;
/// Longest line of a chunked body's framing.
pub(super) const MAX_CHUNK_LINE: usize = 1024;
/// A connection left idle this long is closed (receivers close theirs
/// after a while too; reusing one they closed costs a resend).
const IDLE_CLOSE: Duration = Duration::from_secs(30);
/// An endpoint answering slower than this per request gets its requests
/// one per connection, on more connections, rather than queued behind
/// each other on one.
const SLOW_ANSWER: Duration = Duration::from_millis(2);

/// A connection to the receiver, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Connected = Pin<Box<dyn Future<Output = Result<Box<dyn Io>, PushError>> + Send>>;
/// Makes a new connection to the receiver, through the endpoint policy.
pub(crate) type Connect = Box<dyn Fn() -> Connected + Send + Sync>;

/// The pipelined pushes of one endpoint.
pub(crate) struct Pipeline {
    queue: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
}

struct Shared {
    jobs: Mutex<mpsc::UnboundedReceiver<Job>>,
    connect: Connect,
    timeout: Duration,
    shown: String,
    max_lanes: usize,
    lanes: AtomicUsize,
    /// Lanes waiting for work.
    idle: AtomicUsize,
    /// Requests queued and not yet taken by a lane.
    queued: AtomicUsize,
    /// The receiver answered slowly last time: one request per write.
    slow: AtomicBool,
    /// The receiver closed a connection after its first answer with more
    /// requests sent: it does not keep pipelined requests; one per write
    /// from now on.
    no_pipelining: AtomicBool,
}

struct Job {
    request: Bytes,
    reply: oneshot::Sender<Result<Answer, PushError>>,
}

impl Pipeline {
    /// `max_lanes`: most connections at once (the endpoint's pushes in
    /// flight).
    pub(crate) fn new(connect: Connect, timeout: Duration, shown: String, max_lanes: usize) -> Pipeline {
        let (queue, jobs) = mpsc::unbounded_channel();
        Pipeline {
            queue,
            shared: Arc::new(Shared {
                jobs: Mutex::new(jobs),
                connect,
                timeout,
                shown,
                max_lanes: max_lanes.max(1),
                lanes: AtomicUsize::new(0),
                idle: AtomicUsize::new(0),
                queued: AtomicUsize::new(0),
                slow: AtomicBool::new(false),
                no_pipelining: AtomicBool::new(false),
            }),
        }
    }

    /// Sends one complete request (head and body) and waits for its
    /// answer. Callers are bounded by the delivery worker's in-flight
    /// permits, so the queue is too.
    pub(crate) async fn send(&self, request: Bytes) -> Result<Answer, PushError> {
        let (reply, answer) = oneshot::channel();
        let s = &self.shared;
        s.queued.fetch_add(1, SeqCst);
        if self.queue.send(Job { request, reply }).is_err() {
            s.queued.fetch_sub(1, SeqCst);
            return Err(PushError::Other("the endpoint's connections stopped".into()));
        }
        s.add_lane_if_needed();
        answer
            .await
            .unwrap_or_else(|_| Err(PushError::Other("the endpoint's connection task stopped".into())))
    }

    /// Connections open or being made (for tests).
    #[cfg(test)]
    pub(crate) fn lanes(&self) -> usize {
        self.shared.lanes.load(SeqCst)
    }
}

impl Shared {
    /// Starts another lane when none is free and the requests waiting
    /// would not fit one pipelined write (with a slow receiver: when any
    /// waits, for one request per connection). Looked at when a request
    /// comes and when a lane takes its batch, so a lane busy with a slow
    /// answer brings the next one up.
    fn add_lane_if_needed(self: &Arc<Self>) {
        let per_lane = if self.one_per_write() { 1 } else { MAX_DEPTH };
        let wanted =
            self.lanes.load(SeqCst) == 0 || (self.idle.load(SeqCst) == 0 && self.queued.load(SeqCst) >= per_lane);
        if wanted
            && self
                .lanes
                .fetch_update(SeqCst, SeqCst, |n| (n < self.max_lanes).then_some(n + 1))
                .is_ok()
        {
            tokio::spawn(lane(self.clone()));
        }
    }

    fn one_per_write(&self) -> bool {
        self.slow.load(SeqCst) || self.no_pipelining.load(SeqCst)
    }

    fn connect_error(&self, reason: impl Into<String>) -> PushError {
        PushError::Connect {
            endpoint: self.shown.clone(),
            reason: reason.into(),
        }
    }

    fn timed_out(&self) -> PushError {
        PushError::Timeout {
            endpoint: self.shown.clone(),
            timeout: self.timeout,
        }
    }

    /// Takes the next batch: waits for one request (at most `idle_limit`),
    /// lets the runtime run the other pushes of the round, then takes what
    /// waits.
    async fn next_batch(&self, idle_limit: Option<Duration>) -> Next {
        // Only the wait is bounded: once a request is taken it is never
        // dropped by the bound (no await between taking and returning).
        let wait = async {
            let mut jobs = self.jobs.lock().await;
            let first = jobs.recv().await;
            (jobs, first)
        };
        let (mut jobs, first) = match idle_limit {
            Some(limit) => match tokio::time::timeout(limit, wait).await {
                Ok(got) => got,
                Err(_) => return Next::Idle,
            },
            None => wait.await,
        };
        let Some(first) = first else { return Next::Closed };
        self.queued.fetch_sub(1, SeqCst);
        let mut batch = VecDeque::from([first]);
        if self.one_per_write() {
            return Next::Batch(batch);
        }
        tokio::task::yield_now().await;
        let mut bytes = batch[0].request.len();
        while batch.len() < MAX_DEPTH && bytes < MAX_BATCH_BYTES {
            let Ok(job) = jobs.try_recv() else { break };
            self.queued.fetch_sub(1, SeqCst);
            bytes += job.request.len();
            batch.push_back(job);
        }
        Next::Batch(batch)
    }
}

/// What a lane's wait for work ended with.
enum Next {
    Batch(VecDeque<Job>),
    /// Nothing came within the idle limit.
    Idle,
    /// The endpoint was dropped and its queue is empty.
    Closed,
}

/// One lane: takes batches and exchanges them over its connection until
/// the endpoint is dropped.
async fn lane(shared: Arc<Shared>) {
    let mut conn: Option<Conn> = None;
    loop {
        shared.idle.fetch_add(1, SeqCst);
        // An open connection is closed after IDLE_CLOSE without work.
        let next = shared.next_batch(conn.as_ref().map(|_| IDLE_CLOSE)).await;
        shared.idle.fetch_sub(1, SeqCst);
        let batch = match next {
            Next::Batch(batch) => batch,
            Next::Idle => {
                conn = None;
                continue;
            }
            Next::Closed => {
                shared.lanes.fetch_sub(1, SeqCst);
                return;
            }
        };
        shared.add_lane_if_needed();
        exchange(&shared, &mut conn, batch).await;
    }
}

/// Writes a batch and hands each request its answer. Requests left
/// unanswered by a clean close go out again on a fresh connection, as
/// long as every round answers at least one (or once, after reusing a
/// connection the receiver had closed meanwhile); any other failure fails
/// them (the delivery log retries them later).
async fn exchange(shared: &Shared, slot: &mut Option<Conn>, mut pending: VecDeque<Job>) {
    if slot.as_ref().is_some_and(|c| c.last_used.elapsed() > IDLE_CLOSE) {
        *slot = None;
    }
    let mut stale_retry_left = true;
    while !pending.is_empty() {
        let reused = slot.is_some();
        if slot.is_none() {
            match tokio::time::timeout(shared.timeout, (shared.connect)()).await {
                Ok(Ok(io)) => {
                    *slot = Some(Conn {
                        io,
                        buf: BytesMut::with_capacity(8 * 1024),
                        answers: 0,
                        last_used: Instant::now(),
                    })
                }
                Ok(Err(e)) => return fail_all(pending, || clone_error(&e)),
                Err(_) => return fail_all(pending, || shared.timed_out()),
            }
        }
        let conn = slot.as_mut().expect("connected above");
        let answered_before = conn.answers;
        // A receiver found slow or not keeping pipelined requests gets
        // the rest one at a time.
        let sent = if shared.one_per_write() { 1 } else { pending.len() };
        if let Err(e) = write_batch(shared, conn, pending.range(..sent)).await {
            *slot = None;
            if reused && stale_retry_left {
                stale_retry_left = false;
                continue;
            }
            return fail_all(pending, || e.to_error(shared));
        }
        let started = Instant::now();
        let mut answered = 0;
        let mut closed = false;
        while answered < sent {
            match tokio::time::timeout(shared.timeout, conn.read_answer()).await {
                Ok(Ok((answer, close))) => {
                    conn.answers += 1;
                    answered += 1;
                    let job = pending.pop_front().expect("sent requests are pending");
                    let _ = job.reply.send(Ok(answer));
                    if close {
                        closed = true;
                        break;
                    }
                }
                Ok(Err(ReadError::Closed)) => {
                    closed = true;
                    break;
                }
                Ok(Err(ReadError::Broken(why))) => {
                    *slot = None;
                    return fail_all(pending, || shared.connect_error(why.clone()));
                }
                Err(_) => {
                    *slot = None;
                    // A receiver that reads one request per read and drops
                    // the rest never answers the second: no more
                    // pipelining to it (a slow one loses little by this).
                    if sent > 1 && !shared.no_pipelining.swap(true, SeqCst) {
                        tracing::info!(endpoint = %shared.shown, "pipelined requests went unanswered: no more pipelining to this receiver");
                    }
                    return fail_all(pending, || shared.timed_out());
                }
            }
        }
        if answered > 0 {
            let per_answer = started.elapsed() / answered as u32;
            shared.slow.store(per_answer > SLOW_ANSWER, SeqCst);
        }
        if !closed {
            conn.last_used = Instant::now();
            continue;
        }
        *slot = None;
        if answered == sent {
            continue;
        }
        // Closed with requests sent and unanswered. A receiver that closes
        // after a connection's first answer does not keep pipelined ones.
        if answered_before + answered == 1 && !shared.no_pipelining.swap(true, SeqCst) {
            tracing::info!(endpoint = %shared.shown, "the receiver closes its connections after one answer: no more pipelining to it");
        }
        if answered == 0 {
            if !(reused && stale_retry_left) {
                return fail_all(pending, || {
                    shared.connect_error("the connection was closed before an answer")
                });
            }
            stale_retry_left = false;
        }
    }
}

/// Why a batch could not be written.
enum WriteError {
    Io(String),
    Timeout,
}

impl WriteError {
    fn to_error(&self, shared: &Shared) -> PushError {
        match self {
            WriteError::Io(why) => shared.connect_error(why.clone()),
            WriteError::Timeout => shared.timed_out(),
        }
    }
}

async fn write_batch(
    shared: &Shared,
    conn: &mut Conn,
    batch: std::collections::vec_deque::Iter<'_, Job>,
) -> Result<(), WriteError> {
    let write = async {
        if batch.len() == 1 {
            let job = batch.clone().next().expect("one request");
            conn.io.write_all(&job.request).await?;
        } else {
            let mut out = BytesMut::with_capacity(batch.clone().map(|j| j.request.len()).sum());
            for job in batch {
                out.extend_from_slice(&job.request);
            }
            conn.io.write_all(&out).await?;
        }
        conn.io.flush().await
    };
    match tokio::time::timeout(shared.timeout, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WriteError::Io(e.to_string())),
        Err(_) => Err(WriteError::Timeout),
    }
}

fn fail_all(pending: VecDeque<Job>, error: impl Fn() -> PushError) {
    for job in pending {
        let _ = job.reply.send(Err(error()));
    }
}

fn clone_error(e: &PushError) -> PushError {
    match e {
        PushError::Connect { endpoint, reason } => PushError::Connect {
            endpoint: endpoint.clone(),
            reason: reason.clone(),
        },
        PushError::Status { endpoint, status } => PushError::Status {
            endpoint: endpoint.clone(),
            status: *status,
        },
        PushError::Timeout { endpoint, timeout } => PushError::Timeout {
            endpoint: endpoint.clone(),
            timeout: *timeout,
        },
        PushError::Other(s) => PushError::Other(s.clone()),
    }
}

#[cfg(test)]
mod tests;
