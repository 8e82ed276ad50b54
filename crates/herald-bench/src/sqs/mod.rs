//! The `sqs` scenario: queue throughput through the SQS API (AWS JSON 1.0
//! protocol, `POST /` with `X-Amz-Target: AmazonSQS.<Op>`, signed for service
//! `sqs`) on the same endpoint as S3.
//!
//! Steps: CreateQueue; a probe (one message sent, received and deleted) so a
//! server lacking an operation is named before the load; the load, where half
//! of the workers are senders (one SendMessageBatch of `--batch` messages per
//! operation) and half receivers (alternately a ReceiveMessage of up to 10
//! messages with a 1 s long poll, and a DeleteMessageBatch of what arrived);
//! a drain in which the receivers go on until every acknowledged message was
//! deleted or `--drain-timeout` passes; the missing/duplicate accounting
//! ([`ledger`]); DeleteQueue (best effort).
//!
//! Every body starts with a unique id (`<run>-<worker>-<seq>-`, padded to
//! `--size` with random characters), so each receipt names its send, and the
//! MD5 of every received body is checked against `MD5OfBody`.

pub mod api;
pub mod ledger;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use http::StatusCode;
use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::SqsArgs;
use crate::engine::{self, Outcome, Workload};
use crate::report::{Report, SqsSummary, Stats, Summary, round3};
use crate::s3::{OpError, S3Client};
use crate::scenarios;
use ledger::{MessageKey, Origin};

/// Most messages one ReceiveMessage may return (the SQS limit).
pub(crate) const RECEIVE_MAX: u32 = 10;
/// Long-poll time of every ReceiveMessage: short enough that a receiver
/// notices the end of the load quickly, long enough not to spin on an empty
/// queue.
pub(crate) const WAIT_SECONDS: u32 = 1;
/// Largest message SQS accepts today (many servers still stop at 256 KiB).
const MAX_MESSAGE: u64 = 1024 * 1024;
/// The classic SQS limit on the summed bodies of one SendMessageBatch.
const CLASSIC_BATCH_LIMIT: u64 = 256 * 1024;

/// Event counters shared by all workers (relaxed atomics, like the engine's).
#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    send_failed: AtomicU64,
    received: AtomicU64,
    foreign: AtomicU64,
    deleted: AtomicU64,
    deleted_bytes: AtomicU64,
    delete_failed: AtomicU64,
    md5_mismatches: AtomicU64,
}

/// A received message waiting for its DeleteMessageBatch.
struct Pending {
    handle: String,
    /// `None` for messages of other runs (deleted all the same).
    key: Option<MessageKey>,
    len: u64,
}

/// Per-worker state; each worker only locks its own, so the locks are
/// uncontended (and never held across an await).
#[derive(Default)]
struct WorkerState {
    /// Sender: the next sequence number.
    seq: u64,
    /// Sender: messages acknowledged by SendMessageBatch.
    acked: Vec<MessageKey>,
    /// Receiver: received, not yet deleted.
    pending: Vec<Pending>,
    /// Receiver: one key per receipt of this run's messages.
    received: Vec<MessageKey>,
    /// Receiver: one key per successful delete of this run's messages.
    deleted: Vec<MessageKey>,
}

struct SqsWorkload {
    client: S3Client,
    url: String,
    /// Random per run, the first field of every body.
    run: u32,
    /// Workers `0..senders` send, the others receive.
    senders: usize,
    batch: usize,
    size: usize,
    /// `size` random characters bodies are padded with: random so that
    /// servers which compress cannot cheat, alphanumeric so that they are
    /// valid SQS message characters and need no JSON escaping.
    padding: String,
    counters: Counters,
    workers: Vec<Mutex<WorkerState>>,
    /// During the drain only: acknowledged messages not deleted yet.
    outstanding: Mutex<Option<HashSet<MessageKey>>>,
    /// Batch-entry failures and MD5 mismatches are not request errors, so
    /// the engine does not print them; the first one is printed here.
    first_problem_printed: AtomicBool,
}

impl Workload for SqsWorkload {
    /// A timed-out operation may have been any of the three.
    const TIMEOUT_KIND: &'static str = "timeout";

    async fn op(&self, worker: usize, _rng: &mut SmallRng) -> Outcome {
        if worker < self.senders {
            self.send(worker).await
        } else {
            self.receive_or_delete(worker).await
        }
    }
}

impl SqsWorkload {
    fn state(&self, worker: usize) -> MutexGuard<'_, WorkerState> {
        self.workers[worker].lock().expect("worker state lock")
    }

    fn problem(&self, what: impl FnOnce() -> String) {
        if !self.first_problem_printed.swap(true, Ordering::Relaxed) {
            eprintln!("first problem: {} (further ones are only counted)", what());
        }
    }

    /// One SendMessageBatch of `batch` fresh messages.
    async fn send(&self, worker: usize) -> Outcome {
        let first = {
            let mut state = self.state(worker);
            let first = state.seq;
            state.seq += self.batch as u64;
            first
        };
        let bodies: Vec<String> = (0..self.batch as u64)
            .map(|i| ledger::message_body(self.run, worker, first + i, self.size, &self.padding))
            .collect();
        let request = api::send_message_batch(&self.url, &bodies);
        let answer = match self.client.sqs("SendMessageBatch", request).await {
            Ok(answer) => api::parse_batch("SendMessageBatch", &answer, bodies.len()),
            Err(e) => Err(e),
        };
        let result = answer.map(|batch| {
            let mut bytes = 0;
            let mut state = self.state(worker);
            for &i in &batch.successful {
                state.acked.push(ledger::message_key(worker, first + i as u64));
                bytes += bodies[i].len() as u64;
            }
            drop(state);
            self.counters
                .sent
                .fetch_add(batch.successful.len() as u64, Ordering::Relaxed);
            if let Some((_, code)) = batch.failed.first() {
                self.counters
                    .send_failed
                    .fetch_add(batch.failed.len() as u64, Ordering::Relaxed);
                self.problem(|| format!("SendMessageBatch entry failed: {code}"));
            }
            bytes
        });
        Outcome {
            kind: "send_batch",
            result,
        }
    }

    /// Deletes what the last receive got, or else receives.
    async fn receive_or_delete(&self, worker: usize) -> Outcome {
        let pending = std::mem::take(&mut self.state(worker).pending);
        if pending.is_empty() {
            self.receive(worker).await
        } else {
            // If this fails the messages come back after their visibility
            // timeout and are received (and counted) again.
            self.delete(worker, pending).await
        }
    }

    async fn receive(&self, worker: usize) -> Outcome {
        let request = api::receive_message(&self.url, RECEIVE_MAX, WAIT_SECONDS);
        let messages = match self.client.sqs("ReceiveMessage", request).await {
            Ok(answer) => api::parse_receive(&answer),
            Err(e) => Err(e),
        };
        let result = messages.map(|messages| {
            let mut bytes = 0;
            let mut pending = Vec::with_capacity(messages.len());
            let mut keys = Vec::with_capacity(messages.len());
            for m in messages {
                let md5 = {
                    use md5::Digest as _;
                    hex::encode(md5::Md5::digest(m.body.as_bytes()))
                };
                if !md5.eq_ignore_ascii_case(&m.md5_of_body) {
                    self.counters.md5_mismatches.fetch_add(1, Ordering::Relaxed);
                    self.problem(|| {
                        format!(
                            "MD5OfBody {} of message {} differs from the body's MD5 {md5}",
                            m.md5_of_body, m.message_id
                        )
                    });
                }
                let key = match ledger::origin(self.run, &m.body) {
                    Origin::Ours(key) => {
                        keys.push(key);
                        Some(key)
                    }
                    Origin::Foreign => {
                        self.counters.foreign.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                };
                let len = m.body.len() as u64;
                bytes += len;
                pending.push(Pending {
                    handle: m.receipt_handle,
                    key,
                    len,
                });
            }
            self.counters.received.fetch_add(keys.len() as u64, Ordering::Relaxed);
            let mut state = self.state(worker);
            state.received.extend(keys);
            state.pending = pending;
            bytes
        });
        Outcome {
            kind: "receive",
            result,
        }
    }

    async fn delete(&self, worker: usize, pending: Vec<Pending>) -> Outcome {
        let request = api::delete_message_batch(&self.url, pending.iter().map(|p| p.handle.as_str()));
        let answer = match self.client.sqs("DeleteMessageBatch", request).await {
            Ok(answer) => api::parse_batch("DeleteMessageBatch", &answer, pending.len()),
            Err(e) => Err(e),
        };
        let result = answer.map(|batch| {
            let mut bytes = 0;
            let keys: Vec<MessageKey> = batch
                .successful
                .iter()
                .filter_map(|&i| {
                    let p = &pending[i];
                    bytes += p.key.map_or(0, |_| p.len);
                    p.key
                })
                .collect();
            self.counters.deleted.fetch_add(keys.len() as u64, Ordering::Relaxed);
            self.counters.deleted_bytes.fetch_add(bytes, Ordering::Relaxed);
            if let Some(outstanding) = self.outstanding.lock().expect("outstanding lock").as_mut() {
                for key in &keys {
                    outstanding.remove(key);
                }
            }
            self.state(worker).deleted.extend(keys);
            if let Some((_, code)) = batch.failed.first() {
                self.counters
                    .delete_failed
                    .fetch_add(batch.failed.len() as u64, Ordering::Relaxed);
                self.problem(|| format!("DeleteMessageBatch entry failed: {code}"));
            }
            bytes
        });
        Outcome {
            kind: "delete_batch",
            result,
        }
    }

    /// Starts the drain: remembers which acknowledged messages have not been
    /// deleted yet. Returns how many.
    fn start_drain(&self) -> usize {
        let mut acked = HashSet::new();
        for worker in &self.workers {
            acked.extend(worker.lock().expect("worker state lock").acked.iter().copied());
        }
        for worker in &self.workers {
            for key in &worker.lock().expect("worker state lock").deleted {
                acked.remove(key);
            }
        }
        let left = acked.len();
        *self.outstanding.lock().expect("outstanding lock") = Some(acked);
        left
    }

    fn outstanding(&self) -> usize {
        self.outstanding
            .lock()
            .expect("outstanding lock")
            .as_ref()
            .map_or(0, HashSet::len)
    }

    /// Every acknowledged key, and one key per receipt.
    fn ledger(&self) -> (Vec<MessageKey>, Vec<MessageKey>) {
        let (mut acked, mut received) = (Vec::new(), Vec::new());
        for worker in &self.workers {
            let state = worker.lock().expect("worker state lock");
            acked.extend_from_slice(&state.acked);
            received.extend_from_slice(&state.received);
        }
        (acked, received)
    }
}

/// How the load was split between senders and receivers.
fn split(concurrency: usize) -> anyhow::Result<(usize, usize)> {
    if concurrency < 2 {
        bail!("--concurrency must be at least 2 for sqs: half of the workers send, half receive");
    }
    let senders = concurrency / 2;
    Ok((senders, concurrency - senders))
}

pub async fn sqs(args: SqsArgs) -> anyhow::Result<Report> {
    let load = &args.load;
    let (senders, receivers) = split(load.concurrency)?;
    if args.size > MAX_MESSAGE {
        bail!("--size {} exceeds the 1 MiB SQS message limit", args.size);
    }
    if args.target.queue.ends_with(".fifo") {
        bail!("FIFO queues ({:?}) are not supported by this bench", args.target.queue);
    }
    if !load.json && args.size * args.batch as u64 > CLASSIC_BATCH_LIMIT {
        eprintln!(
            "warning: batches of {} x {} bytes exceed the classic 256 KiB SendMessageBatch limit; \
             servers enforcing it reject every batch",
            args.batch, args.size
        );
    }
    let t = &args.target;
    let client = S3Client::new(&t.endpoint, &t.access_key, &t.secret_key, &t.region, load.concurrency)?;
    let url = create_queue(&client, &t.queue, &t.endpoint, load.timeout).await?;
    let mut rng = SmallRng::from_os_rng();
    let run = rng.next_u32();
    if let Err(e) = probe(&client, &url, run, &t.endpoint, load.timeout).await {
        delete_queue(&client, &url, load.timeout).await;
        return Err(e);
    }
    if !load.json {
        eprintln!(
            "queue {url}: {senders} senders (SendMessageBatch of {}), {receivers} receivers",
            args.batch
        );
    }

    let size = usize::try_from(args.size).context("--size does not fit in memory")?;
    let workload = Arc::new(SqsWorkload {
        client,
        url,
        run,
        senders,
        batch: args.batch,
        size,
        padding: Alphanumeric.sample_string(&mut rng, size),
        counters: Counters::default(),
        workers: (0..load.concurrency).map(|_| Mutex::default()).collect(),
        outstanding: Mutex::new(None),
        first_problem_printed: AtomicBool::new(false),
    });
    let (stats, elapsed) = engine::run_load(Arc::clone(&workload), &scenarios::plan(load)).await;
    let c = &workload.counters;
    let at_load_end = [&c.sent, &c.received, &c.deleted, &c.deleted_bytes].map(|a| a.load(Ordering::Relaxed));

    let (drained, timed_out, drain_errors) = drain(&workload, senders, args.drain_timeout, load).await;
    let (acked, received) = workload.ledger();
    let accounting = ledger::account(acked, received);
    let mut report = Report::new(
        "sqs",
        &t.endpoint,
        &t.queue,
        load.concurrency,
        args.size,
        &stats,
        elapsed,
    );
    report.params.insert("batch".into(), args.batch.into());
    report = scenarios::with_server_memory(report, load);
    delete_queue(&workload.client, &workload.url, load.timeout).await;

    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let per_sec = |n: u64| round3(n as f64 / secs);
    let [sent, received, deleted, deleted_bytes] = at_load_end;
    let summary = SqsSummary {
        queue: t.queue.clone(),
        batch: args.batch,
        senders,
        receivers,
        messages_sent: get(&c.sent),
        messages_received: accounting.received,
        messages_deleted: get(&c.deleted),
        messages_missing: accounting.missing,
        messages_duplicated: accounting.duplicated,
        messages_unacknowledged: accounting.unacknowledged,
        messages_foreign: get(&c.foreign),
        sent_per_sec: per_sec(sent),
        received_per_sec: per_sec(received),
        deleted_per_sec: per_sec(deleted),
        send_entries_failed: get(&c.send_failed),
        delete_entries_failed: get(&c.delete_failed),
        md5_mismatches: get(&c.md5_mismatches),
        drain_s: round3(drained.as_secs_f64()),
        drain_timed_out: timed_out,
        drain_errors,
    };
    report.total = end_to_end(&stats, elapsed, &summary, deleted, deleted_bytes);
    report.sqs = Some(summary);
    Ok(report)
}

/// The headline numbers: messages deleted during the load (each one sent,
/// received and deleted) per second, their bytes, every error, and the
/// latency of SendMessageBatch.
fn end_to_end(stats: &Stats, elapsed: Duration, sqs: &SqsSummary, deleted: u64, deleted_bytes: u64) -> Summary {
    let empty = Stats::default().total();
    let send = stats.kinds.iter().find(|k| k.name == "send_batch").unwrap_or(&empty);
    let secs = elapsed.as_secs_f64().max(f64::EPSILON);
    let request_errors = stats.total().errors;
    Summary {
        ops: deleted,
        ops_per_sec: round3(deleted as f64 / secs),
        bytes: deleted_bytes,
        mb_per_sec: round3(deleted_bytes as f64 / secs / 1e6),
        errors: request_errors
            + sqs.send_entries_failed
            + sqs.delete_entries_failed
            + sqs.md5_mismatches
            + sqs.drain_errors,
        ..Summary::from_stats(send, elapsed)
    }
}

/// The receivers go on receiving and deleting until every acknowledged
/// message was deleted or `timeout` passes. Returns how long that took,
/// whether it timed out, and the number of failed requests.
async fn drain(
    workload: &Arc<SqsWorkload>,
    senders: usize,
    timeout: Duration,
    load: &crate::LoadArgs,
) -> (Duration, bool, u64) {
    let start = Instant::now();
    let deadline = start + timeout;
    let left = workload.start_drain();
    if left == 0 {
        return (Duration::ZERO, false, 0);
    }
    if !load.json {
        eprintln!("draining {left} messages not deleted yet ...");
    }
    let bar = engine::progress_bar_with(load.progress(), left as u64, "drain [{bar:30}] {pos}/{len} messages");
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in senders..workload.workers.len() {
        let workload = Arc::clone(workload);
        let errors = Arc::clone(&errors);
        let bar = bar.clone();
        let op_timeout = load.timeout;
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let outstanding = workload.outstanding();
                bar.set_position((left - outstanding) as u64);
                if outstanding == 0 {
                    break;
                }
                match tokio::time::timeout(op_timeout, workload.receive_or_delete(worker)).await {
                    Ok(Outcome { result: Ok(_), .. }) => {}
                    Ok(Outcome { result: Err(_), .. }) | Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for task in tasks {
        if let Err(e) = task.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    bar.finish_and_clear();
    let timed_out = workload.outstanding() > 0;
    (start.elapsed(), timed_out, errors.load(Ordering::Relaxed))
}

async fn create_queue(client: &S3Client, name: &str, endpoint: &str, timeout: Duration) -> anyhow::Result<String> {
    let answer = within(
        timeout,
        "SQS CreateQueue",
        client.sqs("CreateQueue", api::create_queue(name)),
    )
    .await?
    .map_err(|e| unsupported(endpoint, "CreateQueue", &e))?;
    api::parse_create_queue(&answer).map_err(|e| anyhow!("SQS CreateQueue against {endpoint}: {e}"))
}

/// Sends one message, receives until it comes back (deleting whatever
/// arrives, e.g. leftovers of an interrupted run) and deletes it, so a server
/// lacking one of the operations is named before the load rather than
/// showing up as thousands of errors.
async fn probe(client: &S3Client, url: &str, run: u32, endpoint: &str, timeout: Duration) -> anyhow::Result<()> {
    let body = format!("herald-bench-probe-{run:08x}");
    let call = |op: &'static str, request: Vec<u8>| async move {
        within(timeout, &format!("SQS {op}"), client.sqs(op, request))
            .await?
            .map_err(|e| unsupported(endpoint, op, &e))
    };
    let answer = call(
        "SendMessageBatch",
        api::send_message_batch(url, std::slice::from_ref(&body)),
    )
    .await?;
    let sent = api::parse_batch("SendMessageBatch", &answer, 1)?;
    if let Some((_, code)) = sent.failed.first() {
        bail!("SQS SendMessageBatch of a probe message failed against {endpoint}: {code}");
    }
    for _ in 0..5 {
        let answer = call("ReceiveMessage", api::receive_message(url, RECEIVE_MAX, WAIT_SECONDS)).await?;
        let messages = api::parse_receive(&answer)?;
        if messages.is_empty() {
            continue;
        }
        let found = messages.iter().any(|m| m.body == body);
        let request = api::delete_message_batch(url, messages.iter().map(|m| m.receipt_handle.as_str()));
        let answer = call("DeleteMessageBatch", request).await?;
        let deleted = api::parse_batch("DeleteMessageBatch", &answer, messages.len())?;
        if let Some((_, code)) = deleted.failed.first() {
            bail!("SQS DeleteMessageBatch of received messages failed against {endpoint}: {code}");
        }
        if found {
            return Ok(());
        }
    }
    eprintln!("warning: the probe message sent to {url} was not received back within 5 ReceiveMessage calls");
    Ok(())
}

/// Deletes the queue, or at least purges it; failures are only warned about.
async fn delete_queue(client: &S3Client, url: &str, timeout: Duration) {
    let deleted = within(
        timeout,
        "SQS DeleteQueue",
        client.sqs("DeleteQueue", api::queue_url(url)),
    )
    .await;
    let error = match deleted {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    match within(timeout, "SQS PurgeQueue", client.sqs("PurgeQueue", api::queue_url(url))).await {
        Ok(Ok(_)) => eprintln!("warning: cannot delete queue {url} ({error}); purged it instead"),
        Ok(Err(e)) => eprintln!("warning: cannot delete queue {url} ({error}) nor purge it ({e})"),
        Err(e) => eprintln!("warning: cannot delete queue {url} ({error}) nor purge it ({e})"),
    }
}

/// The error for a setup call the server refused: which operation, what the
/// server said, and what that probably means.
fn unsupported(endpoint: &str, operation: &str, error: &OpError) -> anyhow::Error {
    let (said, hint) = match error {
        OpError::Status { status, body } => {
            let summary = api::error_summary(body);
            // An SQS error that is not about the operation itself (e.g.
            // InvalidParameterValue) means the server speaks SQS but
            // rejected this request; anything else from a 4xx (an S3 XML
            // error, an HTML page) means it does not know the operation.
            let unknown_operation = summary.as_deref().is_none_or(|s| {
                [
                    "UnknownOperation",
                    "InvalidAction",
                    "NotImplemented",
                    "UnsupportedOperation",
                ]
                .iter()
                .any(|k| s.contains(k))
            });
            let hint = if *status == StatusCode::FORBIDDEN {
                " (access denied: check the credentials and that the user may use the SQS API)".to_owned()
            } else if (status.is_client_error() || *status == StatusCode::NOT_IMPLEMENTED) && unknown_operation {
                format!(" — the server does not seem to support SQS {operation}")
            } else {
                String::new()
            };
            let said = summary.map_or_else(|| error.to_string(), |s| format!("HTTP {status}: {s}"));
            (said, hint)
        }
        other => (other.to_string(), String::new()),
    };
    anyhow!(
        "SQS {operation} (POST / with X-Amz-Target: AmazonSQS.{operation}, AWS JSON 1.0) failed against \
         {endpoint}: {said}{hint}; skipping the sqs benchmark"
    )
}

async fn within<T>(timeout: Duration, what: &str, fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(timeout, fut)
        .await
        .with_context(|| format!("{what} timed out after {timeout:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_split_in_halves() {
        assert_eq!(split(16).unwrap(), (8, 8));
        assert_eq!(split(3).unwrap(), (1, 2));
        assert_eq!(split(2).unwrap(), (1, 1));
        assert!(split(1).unwrap_err().to_string().contains("at least 2"));
    }

    #[test]
    fn unsupported_names_the_operation() {
        let error = OpError::Status {
            status: StatusCode::BAD_REQUEST,
            body: r#"{"__type":"com.amazonaws.sqs#UnknownOperationException","message":"no"}"#.into(),
        };
        let e = unsupported("http://x", "CreateQueue", &error).to_string();
        assert!(e.contains("SQS CreateQueue"), "{e}");
        assert!(e.contains("HTTP 400 Bad Request: UnknownOperationException: no"), "{e}");
        assert!(e.contains("does not seem to support SQS CreateQueue"), "{e}");
        // An S3 server answers with XML: it does not know SQS at all.
        let xml = OpError::Status {
            status: StatusCode::METHOD_NOT_ALLOWED,
            body: "<Error><Code>MethodNotAllowed</Code></Error>".into(),
        };
        let e = unsupported("http://x", "CreateQueue", &xml).to_string();
        assert!(e.contains("does not seem to support SQS CreateQueue"), "{e}");
        // A server speaking SQS that rejects a parameter is not "lacking" it.
        let invalid = OpError::Status {
            status: StatusCode::BAD_REQUEST,
            body: r#"{"__type":"com.amazonaws.sqs#InvalidParameterValueException","message":"bad name"}"#.into(),
        };
        let e = unsupported("http://x", "CreateQueue", &invalid).to_string();
        assert!(e.contains("InvalidParameterValueException: bad name"), "{e}");
        assert!(!e.contains("does not seem"), "{e}");
        let denied = OpError::Status {
            status: StatusCode::FORBIDDEN,
            body: r#"{"__type":"com.amazonaws.sqs#SignatureDoesNotMatch","message":"no"}"#.into(),
        };
        assert!(
            unsupported("http://x", "CreateQueue", &denied)
                .to_string()
                .contains("access denied")
        );
        let e = unsupported("http://x", "ReceiveMessage", &OpError::Transport("refused".into())).to_string();
        assert!(e.contains("transport error: refused"), "{e}");
        assert!(!e.contains("does not seem"), "{e}");
    }

    #[test]
    fn end_to_end_summary() {
        let mut stats = Stats::default();
        for ms in [2, 4, 6] {
            stats.record_success("send_batch", Duration::from_millis(ms), 10_000);
        }
        stats.record_success("receive", Duration::from_millis(100), 5000);
        stats.record_error("receive");
        let sqs = SqsSummary {
            queue: "q".into(),
            batch: 10,
            senders: 1,
            receivers: 1,
            messages_sent: 30,
            messages_received: 30,
            messages_deleted: 30,
            messages_missing: 0,
            messages_duplicated: 0,
            messages_unacknowledged: 0,
            messages_foreign: 0,
            sent_per_sec: 15.0,
            received_per_sec: 15.0,
            deleted_per_sec: 10.0,
            send_entries_failed: 1,
            delete_entries_failed: 2,
            md5_mismatches: 3,
            drain_s: 0.5,
            drain_timed_out: false,
            drain_errors: 4,
        };
        let s = end_to_end(&stats, Duration::from_secs(2), &sqs, 20, 20_000);
        assert_eq!(s.ops, 20);
        assert_eq!(s.ops_per_sec, 10.0);
        assert_eq!(s.mb_per_sec, 0.01);
        assert_eq!(s.errors, 1 + 1 + 2 + 3 + 4);
        // Latencies are those of the sends only.
        assert!((s.p50_ms - 4.0).abs() < 0.01, "{s:?}");
        assert!((s.max_ms - 6.0).abs() < 0.01, "{s:?}");
    }
}
