//! The `notify` scenario: PUT load on a bucket whose `ObjectCreated` events
//! go to a topic pushing to a receiver run by the bench itself, measuring
//! PUT throughput/latency plus event delivery (rate, end-to-end latency,
//! missing and duplicated events).
//!
//! Steps: start the [`receiver`]; create the bucket, the topic (SNS query
//! API, service `sns`, same endpoint) and the bucket notification; run the
//! PUT load recording when each PUT was acknowledged; wait (`--drain-timeout`)
//! for the outstanding events; [`correlate`]; delete the notification and
//! the topic (best effort).

pub mod correlate;
pub mod receiver;
pub mod sns;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use rand::rngs::SmallRng;

use crate::engine::{self, Outcome, Workload};
use crate::report::Report;
use crate::s3::{OpError, S3Client};
use crate::scenarios::{self, Target};
use crate::{NotifyArgs, engine::LoadPlan};
use correlate::{correlate, key_index, object_key};
use receiver::{EventLog, Received, Receiver};

/// PUTs of fresh keys, remembering when each one was acknowledged.
struct NotifyWorkload {
    target: Target,
    next: AtomicU64,
    /// Per worker (uncontended): (key index, instant the 200 arrived).
    acks: Vec<Mutex<Vec<(u64, Instant)>>>,
}

impl Workload for NotifyWorkload {
    const TIMEOUT_KIND: &'static str = "put";

    async fn op(&self, worker: usize, _rng: &mut SmallRng) -> Outcome {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let key = object_key(&self.target.prefix, n);
        let t = &self.target;
        let result = t.client.put_object(&t.bucket, &key, t.body.clone()).await;
        if result.is_ok() {
            let acked = Instant::now();
            self.acks[worker].lock().expect("ack lock").push((n, acked));
        }
        Outcome { kind: "put", result }
    }
}

impl NotifyWorkload {
    fn take_acks(&self) -> HashMap<u64, Instant> {
        let mut all = HashMap::new();
        for acks in &self.acks {
            all.extend(std::mem::take(&mut *acks.lock().expect("ack lock")));
        }
        all
    }
}

pub async fn notify(args: NotifyArgs) -> anyhow::Result<Report> {
    let load = &args.load;
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of PUTs per second");
    }
    // The receiver first: an unsupported topic kind fails before the server
    // is touched.
    let receiver = receiver::start(args.topic_kind, args.receiver_listen).await?;
    let target = scenarios::connect(&args.target, load, args.size).await?;
    let topic_name = format!("{}-topic", target.bucket);
    let arn = setup(&target, &args, &topic_name, receiver.as_ref()).await?;
    if !load.json {
        eprintln!(
            "topic {arn} ({} kind, persistent={}) pushes {}'s ObjectCreated events to {}",
            args.topic_kind.name(),
            args.persistent,
            target.bucket,
            receiver.describe()
        );
    }

    let workload = Arc::new(NotifyWorkload {
        next: AtomicU64::new(0),
        acks: (0..load.concurrency).map(|_| Mutex::default()).collect(),
        target,
    });
    let plan = LoadPlan {
        rate: args.rate,
        ..scenarios::plan(load)
    };
    let load_start = Instant::now();
    let (stats, elapsed) = engine::run_load(Arc::clone(&workload), &plan).await;
    let acks = workload.take_acks();
    let target = &workload.target;

    let ours = |r: &Received| -> Option<u64> {
        if r.bucket != target.bucket || !r.event_name.contains("ObjectCreated") {
            return None;
        }
        key_index(&target.prefix, &r.key)
    };
    let (drained, timed_out) = drain(receiver.log(), &acks, &ours, args.drain_timeout, load.progress()).await;
    let mut events = Vec::with_capacity(acks.len());
    receiver.log().scan_from(0, |r| {
        if let Some(n) = ours(r) {
            events.push((n, r.at));
        }
    });
    let counters = receiver.log().counters();

    let mut report = Report::new(
        "notify",
        &args.target.endpoint,
        &target.bucket,
        load.concurrency,
        args.size,
        &stats,
        elapsed,
    );
    report = scenarios::with_server_memory(report, load);
    cleanup(&target.client, &target.bucket, &arn, load.timeout).await;
    drop(receiver);

    let correlation = correlate(&acks, events, load_start);
    report.notify = Some(correlation.summary(
        args.topic_kind.name(),
        args.persistent,
        args.rate,
        counters.test_events,
        drained,
        timed_out,
    ));
    if counters.malformed > 0 {
        eprintln!(
            "warning: {} received messages were neither S3 event records nor test events",
            counters.malformed
        );
    }
    Ok(report)
}

/// Creates the topic and the bucket notification; returns the topic ARN.
/// A failing step is reported as an operation the server lacks.
async fn setup(
    target: &Target,
    args: &NotifyArgs,
    topic_name: &str,
    receiver: &dyn Receiver,
) -> anyhow::Result<String> {
    let client = &target.client;
    let timeout = args.load.timeout;
    let endpoint = &args.target.endpoint;
    let body = sns::create_topic_body(topic_name, &receiver.topic_attributes(), args.persistent);
    let answer = within(timeout, "SNS CreateTopic", client.sns(body))
        .await?
        .map_err(|e| unsupported(endpoint, "SNS CreateTopic (topic API, POST / Action=CreateTopic)", &e))?;
    let answer = String::from_utf8_lossy(&answer);
    let arn = sns::xml_text(&answer, "TopicArn")
        .filter(|arn| !arn.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "SNS CreateTopic succeeded but its answer has no <TopicArn>: {}",
                answer.chars().take(500).collect::<String>()
            )
        })?;

    let config = sns::notification_configuration(Some(&arn));
    let put = within(
        timeout,
        "PutBucketNotificationConfiguration",
        client.call(
            Method::PUT,
            &format!("/{}", target.bucket),
            &[("notification", "")],
            Bytes::from(config),
        ),
    )
    .await
    .and_then(|r| {
        r.map_err(|e| {
            unsupported(
                endpoint,
                "PutBucketNotificationConfiguration (PUT /<bucket>?notification with a TopicConfiguration)",
                &e,
            )
        })
    });
    if let Err(e) = put {
        delete_topic(client, &arn, timeout).await;
        return Err(e);
    }
    Ok(arn)
}

/// The error for a setup call the peer failed: most likely it does not
/// implement the operation (or this topic kind), so the run is skipped.
fn unsupported(endpoint: &str, operation: &str, error: &OpError) -> anyhow::Error {
    let hint = match error {
        OpError::Status { status, .. } if *status == StatusCode::FORBIDDEN => {
            " (access denied: check the credentials and that the user may use this API)"
        }
        OpError::Status { .. } => " — the server does not seem to support it",
        _ => "",
    };
    anyhow!("{operation} failed against {endpoint}: {error}{hint}; skipping the notify benchmark")
}

async fn within<T>(timeout: Duration, what: &str, fut: impl Future<Output = T>) -> anyhow::Result<T> {
    tokio::time::timeout(timeout, fut)
        .await
        .with_context(|| format!("{what} timed out after {timeout:?}"))
}

/// Waits until every acknowledged key has an event, or `timeout` passes.
/// Returns how long it waited and whether it timed out.
async fn drain(
    log: &EventLog,
    acks: &HashMap<u64, Instant>,
    ours: &impl Fn(&Received) -> Option<u64>,
    timeout: Duration,
    progress: bool,
) -> (Duration, bool) {
    let start = Instant::now();
    let deadline = start + timeout;
    let bar = engine::progress_bar_with(progress, acks.len() as u64, "drain [{bar:30}] {pos}/{len} events");
    let mut seen = HashSet::with_capacity(acks.len());
    let mut cursor = 0;
    let timed_out = loop {
        cursor = log.scan_from(cursor, |r| {
            if let Some(n) = ours(r)
                && acks.contains_key(&n)
            {
                seen.insert(n);
            }
        });
        bar.set_position(seen.len() as u64);
        if seen.len() == acks.len() {
            break false;
        }
        let now = Instant::now();
        if now >= deadline {
            break true;
        }
        log.wait((deadline - now).min(Duration::from_millis(200))).await;
    };
    bar.finish_and_clear();
    (start.elapsed(), timed_out)
}

/// Removes the bucket notification and the topic, best effort: failures
/// are only warned about, the measurement is already done.
async fn cleanup(client: &S3Client, bucket: &str, arn: &str, timeout: Duration) {
    let path = format!("/{bucket}");
    let query = [("notification", "")];
    let deleted = within(
        timeout,
        "DeleteBucketNotification",
        client.call(Method::DELETE, &path, &query, Bytes::new()),
    )
    .await;
    if !matches!(deleted, Ok(Ok(_))) {
        // DELETE ?notification is a Ceph extension; S3 proper clears the
        // configuration by putting an empty one.
        let empty = Bytes::from(sns::notification_configuration(None));
        let put = within(
            timeout,
            "PutBucketNotificationConfiguration",
            client.call(Method::PUT, &path, &query, empty),
        )
        .await;
        match put {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("warning: cannot remove the notification of {bucket}: {e}"),
            Err(e) => eprintln!("warning: cannot remove the notification of {bucket}: {e}"),
        }
    }
    delete_topic(client, arn, timeout).await;
}

async fn delete_topic(client: &S3Client, arn: &str, timeout: Duration) {
    match within(timeout, "SNS DeleteTopic", client.sns(sns::delete_topic_body(arn))).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => eprintln!("warning: cannot delete topic {arn}: {e}"),
        Err(e) => eprintln!("warning: cannot delete topic {arn}: {e}"),
    }
}
