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
/// A lane without work this long closes its connection and ends (under
/// the 5 s keep-alive of common servers, so Herald closes first; lanes
/// come back when work does).
const IDLE_CLOSE: Duration = Duration::from_secs(4);
/// An endpoint answering slower than this per request gets its requests
/// one per connection, on more connections, rather than queued behind
/// each other on one (a pipelined connection is served in order).
const SLOW_ANSWER: Duration = Duration::from_micros(500);
/// Requests waiting, with no lane free, that bring up another lane while
/// pipelining (one when requests go one per connection).
const WAITING_FOR_A_LANE: usize = 4;
/// How long past its deadline a caller waits for a lane's verdict before
/// giving up by itself (a lane always answers by the deadline; this
/// covers one lost to a panic).
const GRACE: Duration = Duration::from_secs(1);

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
    /// Lanes whose round has waited over [`SLOW_ANSWER`] for an answer:
    /// while any is, a single waiting request brings up another lane.
    held_up: AtomicUsize,
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
    /// The push timeout counts from the request's arrival, waiting
    /// included, as with one request per connection.
    deadline: Instant,
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
                held_up: AtomicUsize::new(0),
                slow: AtomicBool::new(false),
                no_pipelining: AtomicBool::new(false),
            }),
        }
    }

    /// Sends one complete request (head and body) and waits for its
    /// answer, at most the push timeout in all. Callers are bounded (the
    /// delivery worker's in-flight permits, the S3 requests of synchronous
    /// topics) and every request leaves the queue by its deadline, so the
    /// queue is bounded too. A caller that stops waiting leaves a request
    /// that is then not sent if it was not yet.
    pub(crate) async fn send(&self, request: Bytes) -> Result<Answer, PushError> {
        let (reply, answer) = oneshot::channel();
        let s = &self.shared;
        let deadline = Instant::now() + s.timeout;
        s.queued.fetch_add(1, SeqCst);
        if self
            .queue
            .send(Job {
                request,
                reply,
                deadline,
            })
            .is_err()
        {
            s.queued.fetch_sub(1, SeqCst);
            return Err(PushError::Other("the endpoint's connections stopped".into()));
        }
        s.add_lane_if_needed();
        match tokio::time::timeout_at((deadline + GRACE).into(), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(PushError::Other("the endpoint's connection task stopped".into())),
            Err(_) => Err(s.timed_out()),
        }
    }

    /// Connections open or being made (for tests).
    #[cfg(test)]
    pub(crate) fn lanes(&self) -> usize {
        self.shared.lanes.load(SeqCst)
    }
}

impl Shared {
    /// Starts another lane when none is free and requests wait (a few
    /// while pipelining; any when requests go one per connection or a
    /// lane is held up by a slow answer). Looked at when a request comes,
    /// when a lane takes its batch, when a lane is found held up, and when
    /// a lane ends (so none is left waiting without a lane).
    fn add_lane_if_needed(self: &Arc<Self>) {
        let waiting = if self.one_per_write() || self.held_up.load(SeqCst) > 0 {
            1
        } else {
            WAITING_FOR_A_LANE
        };
        let queued = self.queued.load(SeqCst);
        let wanted = queued > 0 && (self.lanes.load(SeqCst) == 0 || (self.idle.load(SeqCst) == 0 && queued >= waiting));
        if wanted
            && self
                .lanes
                .fetch_update(SeqCst, SeqCst, |n| (n < self.max_lanes).then_some(n + 1))
                .is_ok()
        {
            // Counted idle from now, not from its first poll: requests
            // coming meanwhile must not start more lanes.
            self.idle.fetch_add(1, SeqCst);
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

    /// Takes the next batch: waits for one request (at most
    /// [`IDLE_CLOSE`]), lets the runtime run the other pushes of the
    /// round, then takes what waits.
    async fn next_batch(&self) -> Next {
        // Only the wait is bounded: once a request is taken it is never
        // dropped by the bound (no await between taking and returning).
        let wait = async {
            let mut jobs = self.jobs.lock().await;
            let first = jobs.recv().await;
            (jobs, first)
        };
        let Ok((mut jobs, first)) = tokio::time::timeout(IDLE_CLOSE, wait).await else {
            return Next::Idle;
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

/// One lane: takes batches and exchanges them over its connection; ends
/// (closing it) after [`IDLE_CLOSE`] without work or when the endpoint
/// is dropped.
async fn lane(shared: Arc<Shared>) {
    let _counted = LaneCount(shared.clone());
    let mut conn: Option<Conn> = None;
    let mut first = true; // counted idle when spawned
    loop {
        if !std::mem::take(&mut first) {
            shared.idle.fetch_add(1, SeqCst);
        }
        let next = shared.next_batch().await;
        shared.idle.fetch_sub(1, SeqCst);
        let Next::Batch(batch) = next else { return };
        shared.add_lane_if_needed();
        exchange(&shared, &mut conn, batch).await;
    }
}

/// Uncounts a lane however it ends (a panic included) and brings up
/// another if requests wait without one.
struct LaneCount(Arc<Shared>);

impl Drop for LaneCount {
    fn drop(&mut self) {
        self.0.lanes.fetch_sub(1, SeqCst);
        if tokio::runtime::Handle::try_current().is_ok() {
            self.0.add_lane_if_needed();
        }
    }
}

/// Writes a batch and hands each request its answer, each by its
/// deadline. Requests left unanswered by the receiver's clean close go out
/// again on a fresh connection, as long as every round answers at least
/// one (or once, after reusing a connection the receiver had closed
/// meanwhile); requests sent when anything else went wrong fail (the
/// delivery log retries them); requests not yet sent go on.
async fn exchange(shared: &Arc<Shared>, slot: &mut Option<Conn>, mut pending: VecDeque<Job>) {
    let mut stale_retry_left = true;
    loop {
        pending = drop_expired(shared, pending);
        if pending.is_empty() {
            return;
        }
        // Connecting and writing may take until the last request's
        // deadline; each answer is awaited until the earliest deadline of
        // the requests still waiting for theirs.
        let last_deadline = pending.iter().map(|j| j.deadline).max().expect("not empty");
        if let Some(conn) = slot.as_mut()
            && !conn.still_open().await
        {
            *slot = None;
        }
        let reused = slot.is_some();
        if slot.is_none() {
            match tokio::time::timeout_at(last_deadline.into(), (shared.connect)()).await {
                Ok(Ok(io)) => *slot = Some(Conn::new(io)),
                Ok(Err(e)) => return fail_front(&mut pending, usize::MAX, || e.clone()),
                Err(_) => return fail_front(&mut pending, usize::MAX, || shared.timed_out()),
            }
        }
        let conn = slot.as_mut().expect("connected above");
        let answered_before = conn.answers;
        // A receiver found slow or not keeping pipelined requests gets
        // the rest one at a time.
        let sent = if shared.one_per_write() { 1 } else { pending.len() };
        if let Err(e) = write_batch(conn, pending.range(..sent), last_deadline).await {
            *slot = None;
            if reused && stale_retry_left {
                stale_retry_left = false;
                continue;
            }
            if matches!(e, WriteError::Timeout) && sent > 1 {
                // Both sides writing, neither reading: no more batches.
                shared.stop_pipelining("a pipelined write did not go through in time");
            }
            fail_front(&mut pending, sent, || e.to_error(shared));
            continue;
        }
        let written = Instant::now();
        // The requests sent, in order; `None` once one had its timeout
        // (its answer, if it comes, is read and dropped).
        let mut in_flight: VecDeque<Option<Job>> = pending.drain(..sent).map(Some).collect();
        let (answered, ended) = read_round(shared, conn, &mut in_flight, written).await;
        let unanswered = in_flight.len();
        let live = in_flight.into_iter().flatten();
        match ended {
            // Bytes nobody asked for would pass for the next answer.
            End::Open if !conn.buf.is_empty() => *slot = None,
            End::Open => {}
            End::Abandoned => {
                // Herald dropped the connection (the rest of a body over
                // the cap was not read): the receiver has the requests
                // behind it, so they are not sent again.
                *slot = None;
                fail_each(live, || {
                    shared.connect_error("an earlier answer on the connection was over 64 KiB; dropped")
                });
            }
            End::Broken(why) => {
                *slot = None;
                fail_each(live, || shared.connect_error(why.clone()));
            }
            End::TimedOut => {
                *slot = None;
                fail_each(live, || shared.timed_out());
            }
            End::ClosedByReceiver => {
                *slot = None;
                if unanswered > 0 && answered == 1 && answered_before == 0 {
                    shared.stop_pipelining("the receiver closes its connections after one answer");
                }
                if unanswered > 0 && answered == 0 && !(reused && stale_retry_left) {
                    fail_each(live, || {
                        shared.connect_error("the connection was closed before an answer")
                    });
                } else {
                    if answered == 0 {
                        stale_retry_left = false;
                    }
                    // The unanswered ones go again, first.
                    for job in live.collect::<Vec<_>>().into_iter().rev() {
                        pending.push_front(job);
                    }
                }
            }
        }
    }
}

/// Reads a round's answers in order, each by the earliest deadline of
/// the requests still waiting for theirs: (answers read, how it ended).
/// What is left in `in_flight` was not answered.
async fn read_round(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    in_flight: &mut VecDeque<Option<Job>>,
    written: Instant,
) -> (usize, End) {
    let sent = in_flight.len();
    let (mut answered, mut ended, mut nudged) = (0, End::Open, false);
    while !in_flight.is_empty() {
        let Some(deadline) = in_flight.iter().flatten().map(|j| j.deadline).min() else {
            ended = End::TimedOut; // answers owed to requests that all had their timeout
            break;
        };
        match read_nudging(shared, conn, deadline, &mut nudged).await {
            Ok(Ok((answer, close))) => {
                conn.answers += 1;
                answered += 1;
                let truncated = answer.truncated;
                if let Some(job) = in_flight.pop_front().expect("one answer per request") {
                    let _ = job.reply.send(Ok(answer));
                }
                if truncated {
                    ended = End::Abandoned;
                    break;
                }
                if close {
                    ended = End::ClosedByReceiver;
                    break;
                }
            }
            Ok(Err(ReadError::Closed)) => {
                ended = End::ClosedByReceiver;
                break;
            }
            Ok(Err(ReadError::Broken(why))) => {
                ended = End::Broken(why);
                break;
            }
            // Cut in the middle of an answer: the connection is done.
            Err(_) if conn.in_body => {
                ended = End::TimedOut;
                break;
            }
            Err(_) => {
                let due = in_flight
                    .iter_mut()
                    .find(|j| j.as_ref().is_some_and(|j| j.deadline == deadline))
                    .and_then(Option::take)
                    .expect("the deadline is a waiting request's");
                // A receiver that reads one request per read and drops
                // the rest never answers the second. Only a request
                // written with time to spare says so (not one that
                // spent its time in the queue).
                if sent > 1 && due.deadline.saturating_duration_since(written) >= shared.timeout / 2 {
                    shared.stop_pipelining("pipelined requests went unanswered");
                }
                let _ = due.reply.send(Err(shared.timed_out()));
            }
        }
    }
    if nudged {
        shared.held_up.fetch_sub(1, SeqCst);
    }
    if answered > 0 {
        let per_answer = written.elapsed() / answered as u32;
        shared.slow.store(per_answer > SLOW_ANSWER, SeqCst);
    }
    (answered, ended)
}

/// Reads the next answer by `deadline`. An answer slower than
/// [`SLOW_ANSWER`] marks the round held up (until it ends) and brings up
/// another lane for the requests waiting meanwhile, whatever their
/// number.
async fn read_nudging(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    deadline: Instant,
    nudged: &mut bool,
) -> Result<Result<(Answer, bool), ReadError>, tokio::time::error::Elapsed> {
    let mut read = std::pin::pin!(tokio::time::timeout_at(deadline.into(), conn.read_answer()));
    if !*nudged {
        tokio::select! {
            biased;
            result = &mut read => return result,
            _ = tokio::time::sleep(SLOW_ANSWER) => {
                *nudged = true;
                shared.held_up.fetch_add(1, SeqCst);
                shared.add_lane_if_needed();
            }
        }
    }
    read.await
}

fn fail_each(jobs: impl Iterator<Item = Job>, error: impl Fn() -> PushError) {
    for job in jobs {
        let _ = job.reply.send(Err(error()));
    }
}

/// How a round on a connection ended.
enum End {
    /// Every request sent was answered; the connection stays.
    Open,
    /// The receiver closed it (`Connection: close`, or the end of the
    /// stream at an answer's start).
    ClosedByReceiver,
    /// Herald stopped reading in the middle of an answer (over the cap).
    Abandoned,
    Broken(String),
    TimedOut,
}

impl Shared {
    fn stop_pipelining(&self, why: &str) {
        if !self.no_pipelining.swap(true, SeqCst) {
            tracing::info!(endpoint = %self.shown, "{why}: no more pipelining to this receiver");
        }
    }
}

/// Answers requests past their deadline with a timeout and forgets those
/// whose caller stopped waiting: neither is sent.
fn drop_expired(shared: &Shared, pending: VecDeque<Job>) -> VecDeque<Job> {
    let now = Instant::now();
    let mut kept = VecDeque::with_capacity(pending.len());
    for job in pending {
        if job.reply.is_closed() {
            continue;
        }
        if job.deadline <= now {
            let _ = job.reply.send(Err(shared.timed_out()));
            continue;
        }
        kept.push_back(job);
    }
    kept
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
    conn: &mut Conn,
    batch: std::collections::vec_deque::Iter<'_, Job>,
    deadline: Instant,
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
    match tokio::time::timeout_at(deadline.into(), write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(WriteError::Io(e.to_string())),
        Err(_) => Err(WriteError::Timeout),
    }
}

/// Fails the first `n` requests of `pending` (all of them with
/// `usize::MAX`).
fn fail_front(pending: &mut VecDeque<Job>, n: usize, error: impl Fn() -> PushError) {
    for job in pending.drain(..n.min(pending.len())) {
        let _ = job.reply.send(Err(error()));
    }
}

#[cfg(test)]
mod tests;
