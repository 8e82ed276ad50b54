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
//!
//! With `--topic-kind sqs` there is no topic: the bench creates an SQS queue
//! on the same endpoint (AWS JSON 1.0, service `sqs`), points the bucket
//! notification at the queue's ARN (`<QueueConfiguration>`), and the
//! [`queue`] receiver long-polls it; at the end the queue is deleted.

pub mod broker;
pub mod correlate;
pub mod queue;
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
use crate::sqs;
use crate::{NotifyArgs, TopicKind, engine::LoadPlan};
use correlate::{correlate, key_index, object_key};
use queue::SqsReceiver;
use receiver::{EventLog, HttpReceiver, Received, Receiver};
use sns::Destination;

/// PUTs of fresh keys, remembering when each one was acknowledged.
struct NotifyWorkload {
    target: Target,
    /// Where each worker PUTs: the target's client, then one per
    /// `--also-endpoint`, round-robin over workers.
    clients: Vec<Arc<crate::s3::S3Client>>,
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
        let client = &self.clients[worker % self.clients.len()];
        let result = client.put_object(&t.bucket, &key, t.body.clone()).await;
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

pub async fn notify(mut args: NotifyArgs) -> anyhow::Result<Report> {
    // A backlog and a replay only exist for persistent topics.
    args.persistent |= args.backlog || args.replay;
    if args.replay && args.topic_kind != TopicKind::Http {
        bail!("--replay measures the http topic kind");
    }
    let load = &args.load;
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of PUTs per second");
    }
    // The HTTP receiver first: an unsupported topic kind (or a busy
    // --receiver-listen) fails before the server is touched.
    let http = match args.topic_kind {
        TopicKind::Http => Some(HttpReceiver::start(args.receiver_listen).await?),
        _ => None,
    };
    if args.backlog && args.topic_kind == TopicKind::Sqs {
        bail!("--backlog needs a topic (http or a broker kind), not sqs");
    }
    // Queues keep every message until it is deleted: always durable, so
    // --persistent is accepted and ignored there.
    let persistent = args.persistent || args.topic_kind == TopicKind::Sqs;
    let target = scenarios::connect(&args.target, load, args.size).await?;
    let (receiver, sink, push_endpoint) = destination(&args, &target, http).await?;
    if let Err(e) = put_notification(&target, &args, &sink).await {
        drop(receiver);
        remove_sink(&target.client, &sink, load.timeout).await;
        return Err(e);
    }
    if !load.json {
        announce(&args, &target, &sink, receiver.as_ref(), persistent);
    }

    let mut clients = vec![target.client.clone()];
    for endpoint in &args.also_endpoint {
        let t = &args.target;
        let per_endpoint = load.concurrency.div_ceil(args.also_endpoint.len() + 1);
        clients.push(Arc::new(crate::s3::S3Client::new(
            endpoint,
            &t.access_key,
            &t.secret_key,
            &t.region,
            per_endpoint,
        )?));
    }
    let workload = Arc::new(NotifyWorkload {
        clients,
        next: AtomicU64::new(0),
        acks: (0..load.concurrency).map(|_| Mutex::default()).collect(),
        target,
    });
    let plan = LoadPlan {
        rate: args.rate,
        ..scenarios::plan(load)
    };
    let load_start = Instant::now();
    let wall_start = std::time::SystemTime::now();
    let (stats, elapsed) = engine::run_load(Arc::clone(&workload), &plan).await;
    let acks = workload.take_acks();
    let target = &workload.target;
    if args.backlog
        && let (Sink::Topic { arn }, Some(endpoint)) = (&sink, &push_endpoint)
    {
        restore_endpoint(target, arn, endpoint, load.timeout).await?;
        if !load.json {
            eprintln!("backlog of {} events: endpoint restored, draining", acks.len());
        }
    }

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
    let replayed = match (&sink, args.replay) {
        (Sink::Topic { arn }, true) => {
            Some(replay_all(target, arn, receiver.log(), &ours, acks.len() as u64, wall_start, &args).await?)
        }
        _ => None,
    };

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
    if let Some((n, secs)) = replayed {
        report.params.insert("replay_events".into(), n.into());
        report.params.insert("replay_seconds".into(), secs.into());
        report
            .params
            .insert("replay_events_per_sec".into(), (n as f64 / secs.max(1e-9)).into());
    }
    remove_notification(&target.client, &target.bucket, load.timeout).await;
    // Stop receiving before the queue goes away, so pollers do not fail on
    // a deleted queue.
    let problems = receiver.problems();
    drop(receiver);
    remove_sink(&target.client, &sink, load.timeout).await;

    let correlation = correlate(&acks, events, load_start);
    report.notify = Some(correlation.summary(
        args.topic_kind.name(),
        persistent,
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
    if let Some(problems) = problems {
        eprintln!("warning: event receiver: {problems}");
    }
    Ok(report)
}

/// Where the events go: the topic (with its receiver: our HTTP endpoint or
/// a broker consumer) or the queue (with its pollers), created on the
/// server; and the topic's real push endpoint, for `--backlog`.
async fn destination(
    args: &NotifyArgs,
    target: &Target,
    http: Option<HttpReceiver>,
) -> anyhow::Result<(Box<dyn Receiver>, Sink, Option<String>)> {
    let load = &args.load;
    let is_broker = !matches!(args.topic_kind, TopicKind::Http | TopicKind::Sqs);
    Ok(match http {
        Some(http) => {
            let mut attrs = http.topic_attributes();
            if args.replay {
                attrs.push(("retention".into(), "86400".into()));
            }
            let arn = create_topic(target, args, &backlogged(&attrs, args.backlog)).await?;
            (Box::new(http), Sink::Topic { arn }, Some(attrs[0].1.clone()))
        }
        None if is_broker => {
            let url = args
                .broker_url
                .clone()
                .unwrap_or_else(|| broker::default_url(args.topic_kind).to_owned());
            let destination = format!("{}-topic", target.bucket);
            let b = broker::BrokerReceiver::start(args.topic_kind, &url, &destination).await?;
            let attrs = b.topic_attributes();
            let arn = create_topic(target, args, &backlogged(&attrs, args.backlog)).await?;
            (Box::new(b), Sink::Topic { arn }, Some(url))
        }
        None => {
            let t = &args.target;
            // The pollers' own client: their long polls must not hold the
            // PUT workers' connections.
            let client = S3Client::new(&t.endpoint, &t.access_key, &t.secret_key, &t.region, queue::POLLERS)?;
            let (url, arn) = create_queue(target, args).await?;
            let receiver = SqsReceiver::start(client, url.clone(), queue::POLLERS, load.timeout);
            (Box::new(receiver), Sink::Queue { url, arn }, None)
        }
    })
}

/// Says on stderr where the events go.
fn announce(args: &NotifyArgs, target: &Target, sink: &Sink, receiver: &dyn Receiver, persistent: bool) {
    match sink {
        Sink::Topic { arn } => eprintln!(
            "topic {arn} ({} kind, persistent={persistent}{}) pushes {}'s ObjectCreated events to {}",
            args.topic_kind.name(),
            if args.backlog { ", backlog first" } else { "" },
            target.bucket,
            receiver.describe()
        ),
        Sink::Queue { arn, .. } => eprintln!(
            "queue {arn} (sqs kind, durable) receives {}'s ObjectCreated events; {}",
            target.bucket,
            receiver.describe()
        ),
    }
}

/// `--backlog`: the events wait in the topic's log; point the topic at the
/// real endpoint so the backlog drains (and is timed).
async fn restore_endpoint(target: &Target, arn: &str, endpoint: &str, timeout: Duration) -> anyhow::Result<()> {
    let body = sns::set_topic_attribute_body(arn, "push-endpoint", endpoint);
    within(timeout, "SNS SetTopicAttributes", target.client.sns(body))
        .await?
        .map_err(|e| anyhow!("SNS SetTopicAttributes push-endpoint: {e}"))?;
    Ok(())
}

/// The topic attributes, with the push-endpoint pointed at a closed port
/// when a backlog is to be built first (`--backlog`).
/// `--replay`: asks for every event since the load began again and waits
/// until `expected` of ours arrived a second time; returns how many did
/// and how long it took (seconds).
async fn replay_all(
    target: &Target,
    arn: &str,
    log: &receiver::EventLog,
    ours: &dyn Fn(&Received) -> Option<u64>,
    expected: u64,
    since: std::time::SystemTime,
    args: &NotifyArgs,
) -> anyhow::Result<(u64, f64)> {
    let from = log.len();
    let start_secs = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        - 1.0;
    let start = format!("{start_secs:.3}");
    let rate = args.replay_rate.map(|r| r.to_string());
    let mut params = vec![("TopicArn", arn), ("StartTime", start.as_str())];
    if let Some(r) = &rate {
        params.push(("Rate", r.as_str()));
    }
    let body = sns::form_body("ReplayTopic", &params);
    let started = Instant::now();
    within(args.load.timeout, "SNS ReplayTopic", target.client.sns(body))
        .await?
        .map_err(|e| anyhow!("SNS ReplayTopic: {e}"))?;
    if !args.load.json {
        eprintln!("replaying {expected} events");
    }
    let mut seen = 0u64;
    let mut scanned = from;
    let deadline = started + args.drain_timeout.max(Duration::from_secs(600));
    while seen < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        scanned = log.scan_from(scanned, |r| {
            if ours(r).is_some() {
                seen += 1;
            }
        });
    }
    Ok((seen, started.elapsed().as_secs_f64()))
}

fn backlogged(attrs: &[(String, String)], backlog: bool) -> Vec<(String, String)> {
    let mut attrs = attrs.to_vec();
    if backlog {
        for (k, v) in &mut attrs {
            if k == "push-endpoint" {
                let scheme = v.split_once("://").map_or("http", |(s, _)| s);
                *v = format!("{scheme}://127.0.0.1:9/");
            }
        }
    }
    attrs
}

/// What the bucket notification sends events to; removed at the end.
enum Sink {
    Topic { arn: String },
    Queue { url: String, arn: String },
}

impl Sink {
    fn destination(&self) -> Destination<'_> {
        match self {
            Sink::Topic { arn } => Destination::Topic(arn),
            Sink::Queue { arn, .. } => Destination::Queue(arn),
        }
    }
}

/// Creates the topic pushing to `attributes`' endpoint; returns its ARN.
/// A failing step is reported as an operation the server lacks.
async fn create_topic(target: &Target, args: &NotifyArgs, attributes: &[(String, String)]) -> anyhow::Result<String> {
    let timeout = args.load.timeout;
    let endpoint = &args.target.endpoint;
    let topic_name = format!("{}-topic", target.bucket);
    let body = sns::create_topic_body(&topic_name, attributes, args.persistent);
    let answer = within(timeout, "SNS CreateTopic", target.client.sns(body))
        .await?
        .map_err(|e| unsupported(endpoint, "SNS CreateTopic (topic API, POST / Action=CreateTopic)", &e))?;
    let answer = String::from_utf8_lossy(&answer);
    sns::xml_text(&answer, "TopicArn")
        .filter(|arn| !arn.is_empty())
        .ok_or_else(|| {
            anyhow!(
                "SNS CreateTopic succeeded but its answer has no <TopicArn>: {}",
                answer.chars().take(500).collect::<String>()
            )
        })
}

/// Creates (or reuses) the queue `<bucket>-queue`; returns its URL and ARN.
/// Leftovers of an interrupted run are harmless: their keys carry another
/// run's prefix, so they are received, deleted and ignored.
async fn create_queue(target: &Target, args: &NotifyArgs) -> anyhow::Result<(String, String)> {
    let client = &target.client;
    let timeout = args.load.timeout;
    let endpoint = &args.target.endpoint;
    let name = format!("{}-queue", target.bucket);
    let answer = within(
        timeout,
        "SQS CreateQueue",
        client.sqs("CreateQueue", sqs::api::create_queue(&name)),
    )
    .await?
    .map_err(|e| {
        unsupported(
            endpoint,
            "SQS CreateQueue (queue API, POST / X-Amz-Target: AmazonSQS.CreateQueue)",
            &e,
        )
    })?;
    let url = sqs::api::parse_create_queue(&answer).map_err(|e| anyhow!("SQS CreateQueue against {endpoint}: {e}"))?;
    let request = sqs::api::get_queue_attributes(&url, &["QueueArn"]);
    let arn = within(
        timeout,
        "SQS GetQueueAttributes",
        client.sqs("GetQueueAttributes", request),
    )
    .await
    .and_then(|r| r.map_err(|e| unsupported(endpoint, "SQS GetQueueAttributes (QueueArn)", &e)))
    .and_then(|answer| {
        sqs::api::parse_queue_arn(&answer).map_err(|e| anyhow!("SQS GetQueueAttributes against {endpoint}: {e}"))
    });
    match arn {
        Ok(arn) => Ok((url, arn)),
        Err(e) => {
            delete_queue(client, &url, timeout).await;
            Err(e)
        }
    }
}

/// Points the bucket's `ObjectCreated` events at `sink`.
async fn put_notification(target: &Target, args: &NotifyArgs, sink: &Sink) -> anyhow::Result<()> {
    let config = sns::notification_configuration(Some(sink.destination()));
    let operation = match sink {
        Sink::Topic { .. } => {
            "PutBucketNotificationConfiguration (PUT /<bucket>?notification with a TopicConfiguration)"
        }
        Sink::Queue { .. } => {
            "PutBucketNotificationConfiguration (PUT /<bucket>?notification with a QueueConfiguration)"
        }
    };
    within(
        args.load.timeout,
        "PutBucketNotificationConfiguration",
        target.client.call(
            Method::PUT,
            &format!("/{}", target.bucket),
            &[("notification", "")],
            Bytes::from(config),
        ),
    )
    .await?
    .map(drop)
    .map_err(|e| unsupported(&args.target.endpoint, operation, &e))
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

/// Removes the bucket notification, best effort: failures are only warned
/// about, the measurement is already done.
async fn remove_notification(client: &S3Client, bucket: &str, timeout: Duration) {
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
}

/// Deletes the topic or the queue, best effort.
async fn remove_sink(client: &S3Client, sink: &Sink, timeout: Duration) {
    match sink {
        Sink::Topic { arn } => delete_topic(client, arn, timeout).await,
        Sink::Queue { url, .. } => delete_queue(client, url, timeout).await,
    }
}

async fn delete_topic(client: &S3Client, arn: &str, timeout: Duration) {
    match within(timeout, "SNS DeleteTopic", client.sns(sns::delete_topic_body(arn))).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => eprintln!("warning: cannot delete topic {arn}: {e}"),
        Err(e) => eprintln!("warning: cannot delete topic {arn}: {e}"),
    }
}

async fn delete_queue(client: &S3Client, url: &str, timeout: Duration) {
    let deleted = within(
        timeout,
        "SQS DeleteQueue",
        client.sqs("DeleteQueue", sqs::api::queue_url(url)),
    )
    .await;
    match deleted {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => eprintln!("warning: cannot delete queue {url}: {e}"),
        Err(e) => eprintln!("warning: cannot delete queue {url}: {e}"),
    }
}
