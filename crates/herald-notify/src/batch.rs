//! Batch files: a topic whose push-endpoint is `batch://<bucket>/<prefix>`
//! collects its events in the delivery log and writes them as one object
//! per batch, newline-delimited JSON with one bare event record per line.
//!
//! A batch is written when its events reach `batch-max-bytes` of NDJSON
//! (uncompressed, newlines included; the batch holds as many whole events
//! as fit, an event larger than the limit goes alone), when its oldest
//! event is `batch-max-seconds` old, at graceful shutdown, and at start
//! for whatever a crash left in the log.
//!
//! Durability: events are acked in the log only after the object is
//! committed. A crash between the two writes the same batch again at the
//! next start under the *same* name, because the name is derived from the
//! batch's first event (its time and its log entry id): the object is
//! overwritten with the same events, possibly followed by later ones. The
//! file is announced twice in that case (two ObjectCreated events).
//!
//! The object is written through [`Notifier::put_object`], the same path as
//! PutObject, so notifications on the batch bucket announce each file;
//! changes made by a batch writer never feed a batch topic
//! ([`Origin::batch_writer`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::sync::Weak;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use herald_log::{EntryId, Lease};
use herald_store::{ObjectMeta, PutOptions};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::topic::TopicRuntime;
use super::{Notifier, Origin};

/// The batch attributes of a topic.
pub const ATTRIBUTES: &[&str] = &["batch-max-seconds", "batch-max-bytes", "batch-compression"];
/// `batch-max-seconds` default: five minutes, as the seed's flow does.
pub const DEFAULT_MAX_SECONDS: u64 = 300;
/// `batch-max-bytes` default: 10 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// A batch is built in memory, so its size is capped.
const MAX_MAX_BYTES: u64 = 1 << 30;
/// One week.
const MAX_MAX_SECONDS: u64 = 7 * 24 * 3600;
/// Entries taken from the log per call.
const LEASE_CHUNK: usize = 1024;
/// Longest pause between looks at the log (topic changes are noticed then).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How often a worker with an open batch looks for new events.
const POLL: Duration = Duration::from_millis(100);
/// Longest pause after a failed write.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where and how a batch topic writes its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchSpec {
    pub bucket: String,
    /// Empty, or ends with `/`.
    pub prefix: String,
    pub max_age: Duration,
    pub max_bytes: u64,
    pub gzip: bool,
}

impl BatchSpec {
    /// `None` unless the push-endpoint is a (valid) `batch://` URI.
    pub fn from_attributes(attrs: &BTreeMap<String, String>) -> Option<BatchSpec> {
        let uri = attrs.get("push-endpoint")?;
        if !is_batch_uri(uri) {
            return None;
        }
        let (bucket, prefix) = parse_uri(uri).ok()?;
        let num = |k: &str, default: u64| attrs.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(default);
        Some(BatchSpec {
            bucket,
            prefix,
            max_age: Duration::from_secs(num("batch-max-seconds", DEFAULT_MAX_SECONDS)),
            max_bytes: num("batch-max-bytes", DEFAULT_MAX_BYTES),
            gzip: attrs.get("batch-compression").is_some_and(|v| v == "gzip"),
        })
    }
}

fn is_batch_uri(uri: &str) -> bool {
    uri.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("batch://"))
}

/// Splits `batch://<bucket>/<prefix>` into the bucket and the key prefix
/// (a `/` is added to a prefix that lacks one, so files always go in a
/// "directory").
pub fn parse_uri(uri: &str) -> Result<(String, String), String> {
    if !is_batch_uri(uri) {
        return Err(format!("push-endpoint {uri:?} is not a batch://<bucket>/<prefix> URI"));
    }
    let rest = &uri[8..];
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    herald_model::names::validate_bucket_name(bucket)
        .map_err(|e| format!("push-endpoint {uri:?}: invalid bucket name {bucket:?}: {e}"))?;
    if prefix.starts_with('/') || prefix.contains("//") || prefix.contains(['?', '#', '\\']) {
        return Err(format!(
            "push-endpoint {uri:?}: the prefix must not start with '/' nor contain '//', '?', '#' or '\\'"
        ));
    }
    if prefix.chars().any(char::is_control) || prefix.len() > 900 {
        return Err(format!(
            "push-endpoint {uri:?}: the prefix must be at most 900 bytes without control characters"
        ));
    }
    let mut prefix = prefix.to_owned();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok((bucket.to_owned(), prefix))
}

/// Checks a batch attribute; `None` when `key` is not one.
pub fn validate_attribute(key: &str, value: &str) -> Option<Result<(), String>> {
    let range = |lo: u64, hi: u64| {
        value
            .parse::<u64>()
            .ok()
            .filter(|v| (lo..=hi).contains(v))
            .map(|_| ())
            .ok_or_else(|| format!("{key} must be an integer from {lo} to {hi}, not {value:?}"))
    };
    Some(match key {
        "batch-max-seconds" => range(1, MAX_MAX_SECONDS),
        "batch-max-bytes" => range(1, MAX_MAX_BYTES),
        "batch-compression" => match value {
            "none" | "gzip" => Ok(()),
            _ => Err(format!("batch-compression must be none or gzip, not {value:?}")),
        },
        _ => return None,
    })
}

/// One log entry held by the worker, already in file form.
struct Held {
    id: EntryId,
    enqueued: SystemTime,
    /// NDJSON lines, each ending with `\n`.
    lines: Bytes,
    records: usize,
}

impl Held {
    fn new(lease: Lease) -> Held {
        let (lines, records) = to_lines(&lease.payload);
        Held {
            id: lease.id,
            enqueued: lease.enqueued,
            lines,
            records,
        }
    }
}

/// A log payload as NDJSON lines. Batch topics store bare records; an
/// entry queued before the topic became a batch topic is a `{"Records":
/// [...]}` body and gives one line per record, or an `s3:TestEvent`, which
/// is not an event record and gives none.
fn to_lines(payload: &Bytes) -> (Bytes, usize) {
    if payload.starts_with(b"{\"Service\":") && payload.windows(14).any(|w| w == b"\"s3:TestEvent\"") {
        return (Bytes::new(), 0);
    }
    if payload.starts_with(b"{\"Records\":[")
        && let Ok(serde_json::Value::Object(mut body)) = serde_json::from_slice(payload)
        && let Some(serde_json::Value::Array(records)) = body.remove("Records")
    {
        let mut out = Vec::with_capacity(payload.len() + records.len());
        for r in &records {
            if serde_json::to_writer(&mut out, r).is_ok() {
                out.push(b'\n');
            }
        }
        return (Bytes::from(out), records.len());
    }
    let mut out = Vec::with_capacity(payload.len() + 1);
    out.extend_from_slice(payload);
    out.push(b'\n');
    (Bytes::from(out), 1)
}

/// Drops second copies of an event among the held entries. Versions before
/// the event journal could append an event to the log twice (a crash
/// between their outbox mover's append and its clean-up); a data dir they
/// left may still hold both copies, byte for byte the same (one rendering,
/// with its unique eventId), so the second is acked without being written.
#[derive(Default)]
struct Dedup {
    /// Digest of a held entry's lines -> its id.
    digests: HashMap<u64, EntryId>,
}

impl Dedup {
    fn digest(h: &Held) -> u64 {
        let mut hasher = DefaultHasher::new();
        h.lines.hash(&mut hasher);
        hasher.finish()
    }

    fn is_copy(&self, held: &VecDeque<Held>, h: &Held) -> bool {
        let Some(&other) = self.digests.get(&Self::digest(h)) else {
            return false;
        };
        held.binary_search_by_key(&other, |x| x.id)
            .is_ok_and(|i| held[i].lines == h.lines)
    }

    fn add(&mut self, h: &Held) {
        self.digests.insert(Self::digest(h), h.id);
    }

    fn remove(&mut self, h: &Held) {
        let d = Self::digest(h);
        if self.digests.get(&d) == Some(&h.id) {
            self.digests.remove(&d);
        }
    }
}

/// How many leading entries make a full batch, if they do: the longest
/// prefix within `max` bytes when the next entry would not fit (at least
/// one entry, however big).
fn full_prefix(held: &VecDeque<Held>, max: u64) -> Option<usize> {
    let mut sum = 0u64;
    for (i, h) in held.iter().enumerate() {
        let len = h.lines.len() as u64;
        if sum + len > max {
            return Some(i.max(1));
        }
        sum += len;
        if sum == max {
            return Some(i + 1);
        }
    }
    None
}

/// The `eventTime` of the first (or last) line of some NDJSON.
fn event_time(lines: &[u8], last: bool) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Rec {
        #[serde(rename = "eventTime")]
        event_time: String,
    }
    let body = lines.strip_suffix(b"\n").unwrap_or(lines);
    let line = if last {
        body.rsplit(|b| *b == b'\n').next()?
    } else {
        body.split(|b| *b == b'\n').next()?
    };
    serde_json::from_slice::<Rec>(line).ok().map(|r| r.event_time)
}

/// `<prefix>YYYY/MM/DD/HH/<YYYYMMDDTHHMMSS.ffffffZ>-<first entry id>.ndjson[.gz]`:
/// sorts by time, and the entry id (unique per topic, zero-padded) both
/// breaks ties and makes a re-flush after a crash hit the same name.
fn object_name(spec: &BatchSpec, first: OffsetDateTime, first_id: EntryId) -> String {
    let t = first.to_offset(time::UtcOffset::UTC);
    let (y, mo, d, h) = (t.year(), t.month() as u8, t.day(), t.hour());
    format!(
        "{prefix}{y:04}/{mo:02}/{d:02}/{h:02}/{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}.{us:06}Z-{first_id:020}.ndjson{gz}",
        prefix = spec.prefix,
        mi = t.minute(),
        s = t.second(),
        us = t.microsecond(),
        gz = if spec.gzip { ".gz" } else { "" },
    )
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::default());
    enc.write_all(body)?;
    enc.finish()
}

/// Writes one batch as an object; returns its key.
async fn write_batch(n: &Notifier, topic: &TopicRuntime, spec: &BatchSpec, batch: &[Held]) -> Result<String, String> {
    let owner = &topic.record.owner;
    match n.store.get_bucket(&spec.bucket).map_err(|e| e.to_string())? {
        None => return Err(format!("the batch bucket {} does not exist", spec.bucket)),
        Some(b) if &b.owner != owner => {
            return Err(format!("the batch bucket {} does not belong to {owner}", spec.bucket));
        }
        Some(_) => {}
    }
    let (first, last) = (&batch[0], &batch[batch.len() - 1]);
    let first_time = event_time(&first.lines, false);
    let last_time = event_time(&last.lines, true);
    let first_dt = first_time
        .as_deref()
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .unwrap_or_else(|| first.enqueued.into());
    let key = object_name(spec, first_dt, first.id);
    let records: usize = batch.iter().map(|h| h.records).sum();
    let mut body = Vec::with_capacity(batch.iter().map(|h| h.lines.len()).sum());
    for h in batch {
        body.extend_from_slice(&h.lines);
    }
    let body = if spec.gzip {
        tokio::task::spawn_blocking(move || gzip(&body))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("gzip: {e}"))?
    } else {
        body
    };
    let mut meta = ObjectMeta {
        content_type: Some(
            if spec.gzip {
                "application/gzip"
            } else {
                "application/x-ndjson"
            }
            .to_owned(),
        ),
        ..Default::default()
    };
    meta.user.insert("event-count".to_owned(), records.to_string());
    let fallback = |t: SystemTime| herald_model::record::format_time_micros(t.into());
    meta.user.insert(
        "first-event-time".to_owned(),
        first_time.unwrap_or_else(|| fallback(first.enqueued)),
    );
    meta.user.insert(
        "last-event-time".to_owned(),
        last_time.unwrap_or_else(|| fallback(last.enqueued)),
    );
    let opts = PutOptions {
        writer: owner.clone(),
        meta,
        tags: Vec::new(),
        content_md5: None,
        if_none_match: None,
        if_match: None,
        events: None,
        access: Default::default(),
        checksum: None,
    };
    let origin = Origin {
        principal: owner.clone(),
        batch_writer: true,
        ..Default::default()
    };
    let body = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(body))]);
    n.put_object(&spec.bucket, &key, body, opts, &origin)
        .await
        .map_err(|e| e.to_string())?;
    Ok(key)
}

/// The worker of one batch topic; runs until the topic is deleted, stops
/// being a batch topic, or the server shuts down (after writing everything).
pub(super) async fn run(notifier: Weak<Notifier>, name: String) {
    let Some((mut stopping, mut drained)) = notifier
        .upgrade()
        .map(|n| (n.stopping.subscribe(), n.recovered.subscribe()))
    else {
        return;
    };
    // A crash's leftovers are written at once: what is in the log, and what
    // an earlier version left in the store's outbox (moved to the log first;
    // bounded wait).
    tokio::select! {
        _ = drained.wait_for(|d| *d) => {}
        _ = stopping.changed() => {}
        _ = tokio::time::sleep(IDLE_WAIT * 30) => {}
    }
    tracing::debug!(topic = %name, "batch worker started");
    let mut open = OpenBatch::new(name);
    loop {
        let Some(n) = notifier.upgrade() else { return };
        let Some(topic) = n.topic(&open.name) else { return };
        let log = n.log.clone();
        let Some(spec) = topic.batch.clone() else {
            // No longer a batch topic: hand the held events back.
            open.give_back(&log);
            return;
        };
        let stop = *stopping.borrow_and_update();
        let exhausted = open.take(&log, &spec);
        open.write_due(&n, &topic, &spec, stop, exhausted).await;
        if stop && open.held.is_empty() && exhausted {
            return;
        }
        if stop && open.retry_at.is_some() {
            // Shutting down and the bucket refuses: the events stay in the
            // log and are written at the next start.
            return;
        }
        drop(n);
        // Sleep until something can happen: new entries, the oldest held
        // event coming due, a retry, or shutdown.
        let (sleep, wait) = open.sleep(&spec);
        if let Some(until) = sleep {
            tokio::select! {
                _ = tokio::time::sleep(until) => {}
                _ = stopping.changed() => {}
            }
        } else {
            tokio::select! {
                _ = log.wait_ready(&open.name, wait) => {}
                _ = stopping.changed() => {}
            }
        }
    }
}

/// The events a batch worker has leased and not yet written, and its retry
/// state.
struct OpenBatch {
    name: String,
    held: VecDeque<Held>,
    held_bytes: u64,
    /// The last id leased, to lease after.
    cursor: EntryId,
    backoff: Duration,
    retry_at: Option<SystemTime>,
    dedup: Dedup,
    /// Entries enqueued before this are a crash's leftovers, written at
    /// once (enqueue times have millisecond precision, hence the margin).
    started: SystemTime,
}

impl OpenBatch {
    fn new(name: String) -> OpenBatch {
        OpenBatch {
            name,
            held: VecDeque::new(),
            held_bytes: 0,
            cursor: 0,
            backoff: Duration::ZERO,
            retry_at: None,
            dedup: Dedup::default(),
            started: SystemTime::now() - Duration::from_millis(2),
        }
    }

    fn give_back(&mut self, log: &herald_log::DeliveryLog) {
        let now = SystemTime::now();
        for h in self.held.drain(..) {
            log.retry(&self.name, h.id, now);
        }
    }

    /// Takes what the log has, up to a little more than one batch; true
    /// when the log had no more.
    fn take(&mut self, log: &herald_log::DeliveryLog, spec: &BatchSpec) -> bool {
        if self.held.is_empty() {
            // Nothing held: start from the oldest entry, so an entry given
            // back to the log (unreadable for a moment) is not passed over.
            self.cursor = 0;
        }
        while self.held_bytes <= spec.max_bytes {
            let got = log.lease_in_order(&self.name, self.cursor, LEASE_CHUNK);
            if got.is_empty() {
                return true;
            }
            for lease in got {
                self.cursor = lease.id;
                let h = Held::new(lease);
                if h.records == 0 || self.dedup.is_copy(&self.held, &h) {
                    log.ack(&self.name, &[h.id]);
                    continue;
                }
                self.dedup.add(&h);
                self.held_bytes += h.lines.len() as u64;
                self.held.push_back(h);
            }
        }
        false
    }

    /// Writes every full batch, then the rest if it is due.
    async fn write_due(&mut self, n: &Notifier, topic: &TopicRuntime, spec: &BatchSpec, stop: bool, exhausted: bool) {
        let now = SystemTime::now();
        // At shutdown, one more try even during a back-off pause: the
        // bucket may have been fixed meanwhile.
        let may_write = stop || self.retry_at.is_none_or(|t| t <= now);
        while may_write && !self.held.is_empty() {
            let first = &self.held[0];
            let due = stop || first.enqueued < self.started || first.enqueued + spec.max_age <= now;
            let full = full_prefix(&self.held, spec.max_bytes).filter(|_| self.held_bytes >= spec.max_bytes);
            let cut = match full {
                Some(cut) => cut,
                None if due && exhausted => self.held.len(),
                None => break,
            };
            let batch: Vec<Held> = self.held.drain(..cut).collect();
            match write_batch(n, topic, spec, &batch).await {
                Ok(key) => self.written(n, topic, spec, batch, &key),
                Err(e) => {
                    for h in batch.into_iter().rev() {
                        self.held.push_front(h);
                    }
                    topic.counters.fail(format_args!("batch file not written: {e}"));
                    let floor = topic.retry_sleep.max(Duration::from_millis(100));
                    self.backoff = (self.backoff * 2).clamp(floor, MAX_BACKOFF);
                    self.retry_at = Some(SystemTime::now() + self.backoff);
                    tracing::warn!(topic = %topic.record.name, error = %e, retry_in = ?self.backoff, "cannot write a batch file; will retry");
                    break;
                }
            }
        }
    }

    /// A batch file is stored: its events are done.
    fn written(&mut self, n: &Notifier, topic: &TopicRuntime, spec: &BatchSpec, batch: Vec<Held>, key: &str) {
        let ids: Vec<EntryId> = batch.iter().map(|h| h.id).collect();
        n.log.ack(&self.name, &ids);
        let records: usize = batch.iter().map(|h| h.records).sum();
        for _ in 0..records {
            topic.counters.ok();
        }
        self.held_bytes -= batch.iter().map(|h| h.lines.len() as u64).sum::<u64>();
        batch.iter().for_each(|h| self.dedup.remove(h));
        tracing::debug!(topic = %topic.record.name, bucket = %spec.bucket, %key, records, "batch file written");
        self.backoff = Duration::ZERO;
        self.retry_at = None;
    }

    /// How long to sleep: `Some` for a fixed time (a retry, or a batch is
    /// open), else until the log has entries, at most the returned wait.
    /// While a batch is open the worker looks every POLL instead of waking
    /// at every append: under load that is hundreds of wake-ups a second
    /// saved, and a full batch is written at most POLL late.
    fn sleep(&self, spec: &BatchSpec) -> (Option<Duration>, Duration) {
        let now = SystemTime::now();
        let mut wait = IDLE_WAIT;
        if let Some(h) = self.held.front() {
            wait = wait.min((h.enqueued + spec.max_age).duration_since(now).unwrap_or_default());
        }
        let sleep = match self.retry_at {
            Some(t) => Some(t.duration_since(now).unwrap_or_default()),
            None if !self.held.is_empty() => Some(wait.min(POLL)),
            None => None,
        };
        (sleep, wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_and_attributes() {
        assert_eq!(
            parse_uri("batch://events/main_stream/").unwrap(),
            ("events".to_owned(), "main_stream/".to_owned())
        );
        assert_eq!(
            parse_uri("batch://events/a/b").unwrap(),
            ("events".to_owned(), "a/b/".to_owned())
        );
        assert_eq!(
            parse_uri("batch://events").unwrap(),
            ("events".to_owned(), String::new())
        );
        assert!(parse_uri("batch://Bad_Bucket/x/").is_err());
        assert!(parse_uri("batch://events//x").is_err());
        assert!(parse_uri("http://events/x").is_err());
        assert_eq!(validate_attribute("batch-max-seconds", "300"), Some(Ok(())));
        assert!(validate_attribute("batch-max-seconds", "0").unwrap().is_err());
        assert!(validate_attribute("batch-max-bytes", "x").unwrap().is_err());
        assert!(validate_attribute("batch-compression", "zstd").unwrap().is_err());
        assert_eq!(validate_attribute("batch-compression", "gzip"), Some(Ok(())));
        assert_eq!(validate_attribute("persistent", "true"), None);
    }

    fn held(id: u64, len: usize) -> Held {
        Held {
            id,
            enqueued: SystemTime::now(),
            lines: Bytes::from(vec![b'x'; len]),
            records: 1,
        }
    }

    #[test]
    fn batches_are_cut_greedily() {
        let q: VecDeque<Held> = [4, 4, 4].iter().enumerate().map(|(i, l)| held(i as u64, *l)).collect();
        assert_eq!(full_prefix(&q, 10), Some(2));
        assert_eq!(full_prefix(&q, 8), Some(2));
        assert_eq!(full_prefix(&q, 12), Some(3));
        assert_eq!(full_prefix(&q, 13), None);
        assert_eq!(full_prefix(&q, 3), Some(1), "an oversized event goes alone");
    }

    #[test]
    fn second_copies_of_an_event_are_recognised() {
        let line = |id: u64, text: &str| Held {
            id,
            enqueued: SystemTime::now(),
            lines: Bytes::from(text.to_owned()),
            records: 1,
        };
        let mut held = VecDeque::new();
        let mut dedup = Dedup::default();
        for h in [line(1, "a\n"), line(2, "b\n")] {
            assert!(!dedup.is_copy(&held, &h));
            dedup.add(&h);
            held.push_back(h);
        }
        assert!(dedup.is_copy(&held, &line(3, "a\n")));
        assert!(!dedup.is_copy(&held, &line(3, "c\n")));
        // Once written, a later equal line is a new event as far as we know.
        let written = held.pop_front().unwrap();
        dedup.remove(&written);
        assert!(!dedup.is_copy(&held, &line(4, "a\n")));
    }

    #[test]
    fn names_sort_by_time_then_entry() {
        let spec = BatchSpec {
            bucket: "b".into(),
            prefix: "main_stream/".into(),
            max_age: Duration::from_secs(1),
            max_bytes: 1,
            gzip: true,
        };
        let t = OffsetDateTime::parse("2026-11-23T08:39:03.284147Z", &Rfc3339).unwrap();
        assert_eq!(
            object_name(&spec, t, 42),
            "main_stream/2026/11/23/08/20261123T083903.284147Z-00000000000000000042.ndjson.gz"
        );
        assert!(object_name(&spec, t, 9) < object_name(&spec, t, 10));
        let later = t + time::Duration::microseconds(1);
        assert!(object_name(&spec, t, 99) < object_name(&spec, later, 1));
    }

    #[test]
    fn wrapped_payloads_become_one_line_per_record() {
        let (lines, n) = to_lines(&Bytes::from_static(br#"{"Records":[{"a":1},{"b":2}]}"#));
        assert_eq!((&lines[..], n), (&b"{\"a\":1}\n{\"b\":2}\n"[..], 2));
        let (lines, n) = to_lines(&Bytes::from(herald_model::record::test_event(
            "b",
            OffsetDateTime::now_utc(),
            "r",
            "h",
        )));
        assert_eq!((lines.len(), n), (0, 0), "a test event is no record");
        let (lines, n) = to_lines(&Bytes::from_static(br#"{"eventTime":"x"}"#));
        assert_eq!((&lines[..], n), (&b"{\"eventTime\":\"x\"}\n"[..], 1));
        assert_eq!(
            event_time(b"{\"eventTime\":\"t1\"}\n{\"eventTime\":\"t2\"}\n", true).as_deref(),
            Some("t2")
        );
        assert_eq!(
            event_time(b"{\"eventTime\":\"t1\"}\n{\"eventTime\":\"t2\"}\n", false).as_deref(),
            Some("t1")
        );
    }
}
