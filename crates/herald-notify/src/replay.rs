//! Topic replay (`ReplayTopic`, `herald topic replay`): a persistent
//! topic's events of a time range, read again from its log (pending ones
//! and those its `retention` keeps) and pushed once more, to its own
//! endpoint or to another, each marked `x-herald-replay: true` and
//! otherwise byte for byte as first sent (same event id and sequencer).
//!
//! A replay runs beside live delivery, which it never touches: a blocking
//! thread scans the log into a bounded channel; the events are spread over
//! lanes by key (one key's events go out in log order, one at a time) and
//! each lane pushes with a few retries. Bounded everywhere: one replay per
//! topic, [`MAX_PER_OWNER`] per owner and [`MAX_RUNNING`] in all; a replay
//! whose endpoint fails [`GIVE_UP_AFTER`] events in a row stops. Replays
//! live in memory: a restart ends them (start them again; consumers
//! recognise events they have by their id).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::dead_letter::rfc3339;
use bytes::Bytes;
use herald_endpoints::{Endpoint, EndpointOptions};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Notifier;
use crate::topic::TopicRuntime;

/// Replays running at once, server-wide.
pub const MAX_RUNNING: usize = 8;
/// Replays one owner's topics may run at once.
pub const MAX_PER_OWNER: usize = 2;
/// Attempts per event before it counts as failed.
pub const ATTEMPTS: u32 = 3;
/// Events in a row that failed every attempt before the replay stops.
pub const GIVE_UP_AFTER: u64 = 100;
/// Finished replays remembered per topic (for their status).
const KEPT_PER_TOPIC: usize = 5;
/// Lanes (pushes in flight) at most.
const MAX_LANES: usize = 64;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub since: SystemTime,
    pub until: SystemTime,
    /// Another endpoint than the topic's (with the topic's other
    /// attributes), already checked by the caller like a push-endpoint.
    pub endpoint: Option<String>,
    /// Events per second at most (1 to [`MAX_RATE`]); `None`: as fast as
    /// the endpoint takes them. On a busy server a throttled replay leaves
    /// the CPU to live traffic (docs/benchmarks.md, "Replay").
    pub rate: Option<u32>,
}

/// The highest `Rate` a replay may ask for (unthrottled is faster anyway).
pub const MAX_RATE: u32 = 1_000_000;

/// Why a replay cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Busy(String),
}

/// A replay's progress, as `GetTopicAttributes` (`Replay`) and `herald
/// topic replay` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayStatus {
    pub id: String,
    pub topic: String,
    /// `running`, `done`, `failed` (the endpoint kept failing, or the log
    /// could not be read) or `cancelled` (topic deleted, server stopping).
    pub state: String,
    pub since: String,
    pub until: String,
    /// Where it pushes, without credentials.
    pub endpoint: String,
    /// Events in the log segments the range touches (an upper bound).
    pub estimated: u64,
    /// Events per second at most, if throttled.
    pub rate: Option<u32>,
    /// Events of the range read from the log so far.
    pub read: u64,
    pub delivered: u64,
    pub failed: u64,
    pub last_error: Option<String>,
    pub started: String,
    pub finished: Option<String>,
}

struct Job {
    status: Mutex<ReplayStatus>,
    owner: String,
    cancel: AtomicBool,
    /// Wakes pushes in flight when the replay is cancelled.
    cancelled: tokio::sync::Notify,
    read: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    failed_in_a_row: AtomicU64,
}

impl Job {
    fn snapshot(&self) -> ReplayStatus {
        let mut s = self.status.lock().expect("replay lock").clone();
        s.read = self.read.load(Ordering::Relaxed);
        s.delivered = self.delivered.load(Ordering::Relaxed);
        s.failed = self.failed.load(Ordering::Relaxed);
        s
    }

    fn is_running(&self) -> bool {
        self.status.lock().expect("replay lock").state == "running"
    }

    fn finish(&self, state: &str, error: Option<String>) {
        let mut s = self.status.lock().expect("replay lock");
        s.state = state.to_owned();
        if error.is_some() {
            s.last_error = error;
        }
        s.finished = Some(rfc3339(SystemTime::now()));
    }

    /// Asks everything of the replay to stop, pushes in flight included.
    fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.cancelled.notify_waiters();
    }

    fn note_error(&self, e: String) {
        self.status.lock().expect("replay lock").last_error = Some(e);
    }
}

/// The replays of every topic (running and recently finished).
#[derive(Default)]
pub struct Replays {
    by_topic: Mutex<HashMap<String, VecDeque<Arc<Job>>>>,
}

impl Replays {
    /// Stops the running replays of a topic (deleted, changed, or asked
    /// to); they count against the limits until their task has ended.
    /// Returns how many were running.
    pub fn cancel(&self, arn: &str) -> usize {
        let all = self.by_topic.lock().expect("replays lock");
        let running: Vec<&Arc<Job>> = all.get(arn).into_iter().flatten().filter(|j| j.is_running()).collect();
        running.iter().for_each(|j| j.stop());
        running.len()
    }

    fn cancel_all(&self) {
        for jobs in self.by_topic.lock().expect("replays lock").values() {
            jobs.iter().for_each(|j| j.stop());
        }
    }
}

impl Notifier {
    /// Starts replaying `arn`'s events of a time range (the caller checked
    /// the caller's permission and the override endpoint). Returns the new
    /// replay's status.
    pub fn start_replay(self: &Arc<Self>, arn: &str, req: ReplayRequest) -> Result<ReplayStatus, ReplayError> {
        let invalid = |m: &str| ReplayError::Invalid(m.to_owned());
        let topic = self.topic(arn).ok_or_else(|| invalid("no such topic"))?;
        if !topic.persistent || topic.batch.is_some() {
            return Err(invalid(
                "only a persistent topic that pushes keeps events to replay (set persistent=true and a retention)",
            ));
        }
        if req.until < req.since {
            return Err(invalid("EndTime is before StartTime"));
        }
        let uri = match &req.endpoint {
            Some(e) => e.clone(),
            None => topic
                .record
                .attributes
                .get("push-endpoint")
                .cloned()
                .unwrap_or_default(),
        };
        if uri.starts_with("sqs://") {
            return Err(invalid(
                "a built-in queue recognises events it already holds, so a replay into one would store nothing: replay to an http(s), amqp, kafka, nats or mqtt endpoint",
            ));
        }
        let confirmation = topic
            .record
            .attributes
            .get("subscription-confirmation")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if req.endpoint.is_some() && confirmation {
            return Err(invalid(
                "this topic pushes only to an endpoint that confirmed its subscription: replay to its own endpoint",
            ));
        }
        if req.endpoint.is_none() && !topic.is_active() {
            return Err(invalid(
                "the topic's subscription is not confirmed: nothing may be pushed to it",
            ));
        }
        let endpoint = replay_endpoint(&topic, &uri, self.policy()).map_err(ReplayError::Invalid)?;

        let job = {
            let mut all = self.replays.by_topic.lock().expect("replays lock");
            // The topic as the checks above saw it: a change or deletion
            // in between cancels under this lock, so it must not be missed.
            if !self.topic(arn).is_some_and(|now| Arc::ptr_eq(&now, &topic)) {
                return Err(ReplayError::Busy("the topic changed meanwhile; try again".into()));
            }
            // Forget the finished replays of deleted topics (a tenant
            // deleting topics in a loop must not grow this map).
            all.retain(|arn, jobs| jobs.iter().any(|j| j.is_running()) || self.topic(arn).is_some());
            let running: Vec<&Arc<Job>> = all.values().flatten().filter(|j| j.is_running()).collect();
            if all.get(arn).is_some_and(|jobs| jobs.iter().any(|j| j.is_running())) {
                return Err(ReplayError::Busy("a replay of this topic is running already".into()));
            }
            if running.iter().filter(|j| j.owner == topic.record.owner).count() >= MAX_PER_OWNER {
                return Err(ReplayError::Busy(format!(
                    "{MAX_PER_OWNER} replays of your topics are running already"
                )));
            }
            if running.len() >= MAX_RUNNING {
                return Err(ReplayError::Busy(format!(
                    "{MAX_RUNNING} replays are running on this server; try again later"
                )));
            }
            let scan = self.log.replay(topic.log_name(), req.since, req.until);
            let job = Arc::new(Job {
                status: Mutex::new(ReplayStatus {
                    id: new_id(),
                    topic: arn.to_owned(),
                    state: "running".into(),
                    since: rfc3339(req.since),
                    until: rfc3339(req.until),
                    // Without credentials or query (a webhook token).
                    endpoint: herald_endpoints::log_form(&uri),
                    estimated: scan.estimated(),
                    rate: req.rate,
                    read: 0,
                    delivered: 0,
                    failed: 0,
                    last_error: None,
                    started: rfc3339(SystemTime::now()),
                    finished: None,
                }),
                owner: topic.record.owner.clone(),
                cancel: AtomicBool::new(false),
                cancelled: tokio::sync::Notify::new(),
                read: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
                failed_in_a_row: AtomicU64::new(0),
            });
            let jobs = all.entry(arn.to_owned()).or_default();
            jobs.push_back(job.clone());
            while jobs.len() > KEPT_PER_TOPIC {
                jobs.pop_front();
            }
            tokio::spawn(run(
                job.clone(),
                scan,
                endpoint,
                topic.retry_sleep,
                topic.counters.clone(),
                req.rate,
                self.stopping.subscribe(),
            ));
            job
        };
        let status = job.snapshot();
        tracing::info!(topic = %arn, replay = %status.id, since = %status.since, until = %status.until,
            endpoint = %status.endpoint, estimated = status.estimated, "replay started");
        Ok(status)
    }

    /// The replays of a topic, newest last.
    pub fn replays(&self, arn: &str) -> Vec<ReplayStatus> {
        let all = self.replays.by_topic.lock().expect("replays lock");
        all.get(arn)
            .map(|jobs| jobs.iter().map(|j| j.snapshot()).collect())
            .unwrap_or_default()
    }

    /// Stops the running replay of a topic (`herald topic cancel-replay`);
    /// whether one was running.
    pub fn cancel_replay(&self, arn: &str) -> bool {
        self.replays.cancel(arn) > 0
    }

    /// Stops every replay (server shutdown).
    pub(crate) fn cancel_replays(&self) {
        self.replays.cancel_all();
    }
}

/// The endpoint a replay pushes to: the topic's attributes, `uri` as its
/// push-endpoint, every push marked as a replay, under the operator's
/// outbound policy (checked at each connection, as for live delivery).
fn replay_endpoint(
    topic: &TopicRuntime,
    uri: &str,
    policy: &Arc<herald_endpoints::EndpointPolicy>,
) -> Result<Arc<dyn Endpoint>, String> {
    if uri.is_empty() {
        return Err("the topic has no push-endpoint; give one (PushEndpoint, --endpoint)".into());
    }
    let mut attrs = topic.record.attributes.clone();
    attrs.insert("push-endpoint".into(), uri.to_owned());
    let opts = EndpointOptions::from_attributes(&attrs, &topic.record.arn)
        .map_err(|e| e.to_string())?
        .with_policy(policy.clone())
        .for_replay();
    if uri.starts_with("http://") || uri.starts_with("https://") {
        herald_endpoints::http::HttpEndpoint::new(uri, opts)
            .map(|h| Arc::new(h) as Arc<dyn Endpoint>)
            .map_err(|e| e.to_string())
    } else {
        herald_endpoints::build(uri, opts).map_err(|e| e.to_string())
    }
}

/// One event on its way to a lane.
struct Item {
    key: String,
    payload: Bytes,
}

async fn run(
    job: Arc<Job>,
    scan: herald_log::Replay,
    endpoint: Arc<dyn Endpoint>,
    retry_sleep: Duration,
    counters: crate::metrics::TopicCounters,
    rate: Option<u32>,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    let mut pace = rate.map(Pace::new);
    let lanes = endpoint.in_flight().clamp(1, MAX_LANES);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<herald_log::ReplayEntry>(1024);
    let reader_job = job.clone();
    let reader = tokio::task::spawn_blocking(move || {
        let stop = || reader_job.cancel.load(Ordering::Relaxed);
        scan.run(&stop, |e| {
            reader_job.read.fetch_add(1, Ordering::Relaxed);
            tx.blocking_send(e).is_ok()
        })
    });
    let mut senders = Vec::with_capacity(lanes);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..lanes {
        let (ltx, lrx) = tokio::sync::mpsc::channel::<Item>(16);
        senders.push(ltx);
        tasks.spawn(lane(
            job.clone(),
            lrx,
            endpoint.clone(),
            retry_sleep.min(Duration::from_secs(5)),
            counters.clone(),
        ));
    }
    loop {
        let entry = tokio::select! {
            e = rx.recv() => e,
            _ = stopping.wait_for(|s| *s) => {
                job.stop();
                None
            }
        };
        let Some(entry) = entry else { break };
        if job.cancel.load(Ordering::Relaxed) {
            break;
        }
        // The log's own key hash: one key, one lane (so one order).
        let lane = (herald_log::key_hash(entry.key.as_bytes()) % lanes as u64) as usize;
        let item = Item {
            key: entry.key,
            payload: entry.payload,
        };
        if senders[lane].send(item).await.is_err() {
            break;
        }
        if let Some(p) = &mut pace {
            p.handed_one().await;
        }
    }
    drop(rx);
    drop(senders);
    while tasks.join_next().await.is_some() {}
    let read = reader.await;
    let cancelled = job.cancel.load(Ordering::Relaxed);
    let gave_up = job.failed_in_a_row.load(Ordering::Relaxed) >= GIVE_UP_AFTER;
    match read {
        _ if gave_up => job.finish(
            "failed",
            Some(format!("stopped after {GIVE_UP_AFTER} events in a row failed")),
        ),
        _ if cancelled => job.finish("cancelled", None),
        Ok(Ok(_)) => job.finish("done", None),
        Ok(Err(e)) => job.finish("failed", Some(format!("reading the log: {e}"))),
        Err(e) => job.finish("failed", Some(format!("reading the log: {e}"))),
    }
    let s = job.snapshot();
    tracing::info!(topic = %s.topic, replay = %s.id, state = %s.state, read = s.read,
        delivered = s.delivered, failed = s.failed, "replay finished");
}

/// Holds a replay to `rate` events per second: sleeps after every chunk
/// of events (about a hundredth of a second's worth) until its due time.
struct Pace {
    rate: u32,
    chunk: u64,
    handed: u64,
    start: tokio::time::Instant,
}

impl Pace {
    fn new(rate: u32) -> Pace {
        let rate = rate.clamp(1, MAX_RATE);
        Pace {
            rate,
            chunk: u64::from(rate / 100).max(1),
            handed: 0,
            start: tokio::time::Instant::now(),
        }
    }

    async fn handed_one(&mut self) {
        self.handed += 1;
        if self.handed.is_multiple_of(self.chunk) {
            let due = self.start + Duration::from_secs_f64(self.handed as f64 / f64::from(self.rate));
            tokio::time::sleep_until(due).await;
        }
    }
}

/// Pushes one lane's events in order, each with up to [`ATTEMPTS`] tries.
async fn lane(
    job: Arc<Job>,
    mut rx: tokio::sync::mpsc::Receiver<Item>,
    endpoint: Arc<dyn Endpoint>,
    pause: Duration,
    counters: crate::metrics::TopicCounters,
) {
    while let Some(item) = rx.recv().await {
        let mut attempt = 0;
        loop {
            if job.cancel.load(Ordering::Relaxed) {
                return;
            }
            attempt += 1;
            // A push in flight (to an endpoint that never answers, say)
            // ends with the replay, not with its timeout.
            let cancelled = job.cancelled.notified();
            tokio::pin!(cancelled);
            cancelled.as_mut().enable();
            if job.cancel.load(Ordering::Relaxed) {
                return;
            }
            let pushed = tokio::select! {
                r = endpoint.push_keyed(&item.payload, &item.key) => r,
                _ = cancelled => return,
            };
            match pushed {
                Ok(()) => {
                    counters.replayed();
                    job.delivered.fetch_add(1, Ordering::Relaxed);
                    job.failed_in_a_row.store(0, Ordering::Relaxed);
                    break;
                }
                Err(e) if attempt >= ATTEMPTS => {
                    counters.replay_failed();
                    job.failed.fetch_add(1, Ordering::Relaxed);
                    job.note_error(e.to_string());
                    if job.failed_in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= GIVE_UP_AFTER {
                        job.stop();
                        return;
                    }
                    break;
                }
                Err(e) => {
                    job.note_error(e.to_string());
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
}

/// A time as `ReplayTopic` and `herald topic replay` take it: RFC 3339
/// (`2026-12-07T10:00:00Z`), seconds since the epoch, or an age (`90s`,
/// `15m`, `2h`, `7d`: that long ago).
pub fn parse_time(value: &str) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "{value:?} is not an RFC 3339 time (2026-12-07T10:00:00Z), seconds since the epoch, or an age (15m, 2h, 7d)"
        )
    };
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && (0.0..=253_402_300_799.0).contains(&secs))
            .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs_f64(secs))
            .ok_or_else(bad);
    }
    let unit = match value.chars().last() {
        Some('s') => Some(1),
        Some('m') => Some(60),
        Some('h') => Some(3600),
        Some('d') => Some(86_400),
        _ => None,
    };
    if let Some(unit) = unit
        && let Ok(n) = value[..value.len() - 1].parse::<u64>()
    {
        return n
            .checked_mul(unit)
            .filter(|s| *s <= 10 * 365 * 86_400)
            .and_then(|s| SystemTime::now().checked_sub(Duration::from_secs(s)))
            .ok_or_else(bad);
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .ok()
        .map(SystemTime::from)
        .filter(|t| *t >= SystemTime::UNIX_EPOCH)
        .ok_or_else(bad)
}

fn new_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}
