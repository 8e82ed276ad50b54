//! Latency/throughput accounting and the final report (table or JSON).
//!
//! Each worker records into its own [`Stats`] so the hot path never touches
//! shared state; the per-worker histograms are merged once at the end, which
//! is exact for HDR histograms.

use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::parse::format_size;

/// Highest latency the histograms track, in microseconds (one hour). Larger
/// values are clamped rather than dropped so a stuck request still shows up
/// as the max.
pub(crate) const MAX_TRACKABLE_US: u64 = 3_600_000_000;

/// Counters and latency histogram for one kind of operation (e.g. `get`).
#[derive(Debug, Clone)]
pub struct KindStats {
    pub name: &'static str,
    /// Latencies of successful operations, in microseconds.
    pub latency_us: Histogram<u64>,
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
}

impl KindStats {
    fn new(name: &'static str) -> Self {
        KindStats {
            name,
            // 3 significant digits: 0.1% relative error, ~100 KiB per histogram.
            latency_us: Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3).expect("static histogram bounds are valid"),
            ops: 0,
            errors: 0,
            bytes: 0,
        }
    }
}

/// All operation kinds seen by one worker (or, after merging, by all).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub kinds: Vec<KindStats>,
}

impl Stats {
    fn kind_mut(&mut self, name: &'static str) -> &mut KindStats {
        // A linear scan: scenarios have at most a few kinds.
        let idx = match self.kinds.iter().position(|k| k.name == name) {
            Some(i) => i,
            None => {
                self.kinds.push(KindStats::new(name));
                self.kinds.len() - 1
            }
        };
        &mut self.kinds[idx]
    }

    pub fn record_success(&mut self, name: &'static str, latency: Duration, bytes: u64) {
        let kind = self.kind_mut(name);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        kind.latency_us.saturating_record(us.max(1));
        kind.ops += 1;
        kind.bytes += bytes;
    }

    pub fn record_error(&mut self, name: &'static str) {
        self.kind_mut(name).errors += 1;
    }

    pub fn merge(&mut self, other: &Stats) {
        for theirs in &other.kinds {
            let ours = self.kind_mut(theirs.name);
            ours.latency_us
                .add(&theirs.latency_us)
                .expect("histograms share the same bounds");
            ours.ops += theirs.ops;
            ours.errors += theirs.errors;
            ours.bytes += theirs.bytes;
        }
        // Stable, readable order in reports regardless of which worker saw
        // which kind first.
        self.kinds.sort_by_key(|k| k.name);
    }

    /// All kinds combined into one.
    pub fn total(&self) -> KindStats {
        let mut total = KindStats::new("total");
        for k in &self.kinds {
            total
                .latency_us
                .add(&k.latency_us)
                .expect("histograms share the same bounds");
            total.ops += k.ops;
            total.errors += k.errors;
            total.bytes += k.bytes;
        }
        total
    }
}

/// Throughput and latency summary for one kind (or the total).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    /// Successful operations.
    pub ops: u64,
    pub ops_per_sec: f64,
    /// Payload bytes moved by successful operations.
    pub bytes: u64,
    /// Payload throughput in decimal megabytes (10^6 bytes) per second.
    pub mb_per_sec: f64,
    /// Failed operations (non-2xx, transport errors, timeouts).
    pub errors: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn from_stats(stats: &KindStats, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        let h = &stats.latency_us;
        let ms = |us: u64| round3(us as f64 / 1000.0);
        // An empty histogram reports 0 everywhere, which is what we want.
        Summary {
            ops: stats.ops,
            ops_per_sec: round3(stats.ops as f64 / secs),
            bytes: stats.bytes,
            mb_per_sec: round3(stats.bytes as f64 / secs / 1e6),
            errors: stats.errors,
            mean_ms: round3(h.mean() / 1000.0),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

pub(crate) fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The result of one bench run: what was run, and how it went.
///
/// Serialized flat (one JSON object) so results from many runs can be
/// collected with `jq -s` or appended to a JSON-lines file and compared.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub endpoint: String,
    pub bucket: String,
    pub concurrency: usize,
    pub size_bytes: u64,
    /// Measured wall time of the load phase (≈ `--duration`).
    pub duration_s: f64,
    #[serde(flatten)]
    pub total: Summary,
    /// Per operation kind, for scenarios that mix several (e.g. `mixed`).
    pub by_op: std::collections::BTreeMap<String, Summary>,
    /// Scenario-specific parameters (e.g. `objects`, `get_ratio`).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Server resident set size at the end of the run, if `--server-pid`.
    pub server_rss_kb: Option<u64>,
    /// Server peak resident set size (VmHWM), if `--server-pid`.
    pub server_hwm_kb: Option<u64>,
    /// Event-delivery results of the `notify` scenario, flattened into the
    /// top level of the JSON object.
    #[serde(flatten)]
    pub notify: Option<NotifySummary>,
    /// Queue results of the `sqs` scenario, flattened into the top level of
    /// the JSON object.
    #[serde(flatten)]
    pub sqs: Option<SqsSummary>,
}

/// What the `sqs` scenario measured beyond the per-operation rows
/// (`send_batch`, `receive`, `delete_batch`). In its report the top-level
/// summary is the end-to-end one: `ops`/`ops_per_sec` are messages deleted
/// (sent, received and deleted) during the load, `bytes`/`mb_per_sec` their
/// bodies, `errors` every failure (failed requests, failed batch entries,
/// MD5 mismatches, drain errors), and the latency fields are those of
/// SendMessageBatch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SqsSummary {
    pub queue: String,
    /// Messages per SendMessageBatch (`--batch`).
    pub batch: usize,
    /// Workers sending / receiving (half of `--concurrency` each).
    pub senders: usize,
    pub receivers: usize,
    /// Messages acknowledged (`Successful`) by SendMessageBatch.
    pub messages_sent: u64,
    /// Receipts of this run's messages, duplicates included, load + drain.
    pub messages_received: u64,
    /// Successful DeleteMessageBatch entries for this run's messages.
    pub messages_deleted: u64,
    /// Acknowledged sends never received (not even during the drain).
    pub messages_missing: u64,
    /// Receipts beyond the first of the same message.
    pub messages_duplicated: u64,
    /// Distinct messages received whose send was never acknowledged.
    pub messages_unacknowledged: u64,
    /// Messages of other runs found in the queue (deleted, not counted).
    pub messages_foreign: u64,
    /// Rates over the load phase only (drain excluded).
    pub sent_per_sec: f64,
    pub received_per_sec: f64,
    pub deleted_per_sec: f64,
    /// `Failed` entries of SendMessageBatch / DeleteMessageBatch answers.
    pub send_entries_failed: u64,
    pub delete_entries_failed: u64,
    /// Received bodies whose MD5 differs from `MD5OfBody`.
    pub md5_mismatches: u64,
    /// How long the bench kept receiving after the load, and whether it
    /// stopped at `--drain-timeout` rather than because every sent message
    /// had been deleted.
    pub drain_s: f64,
    pub drain_timed_out: bool,
    /// Failed requests during the drain.
    pub drain_errors: u64,
}

impl SqsSummary {
    fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out)?;
        writeln!(
            out,
            "queue {}: {} senders (batches of {}), {} receivers",
            self.queue, self.senders, self.batch, self.receivers
        )?;
        writeln!(
            out,
            "messages: {} sent ({:.1}/s), {} received ({:.1}/s), {} deleted ({:.1}/s)",
            self.messages_sent,
            self.sent_per_sec,
            self.messages_received,
            self.received_per_sec,
            self.messages_deleted,
            self.deleted_per_sec
        )?;
        writeln!(
            out,
            "          {} missing, {} duplicated, {} unacknowledged, {} foreign",
            self.messages_missing, self.messages_duplicated, self.messages_unacknowledged, self.messages_foreign
        )?;
        writeln!(
            out,
            "failures: {} send entries, {} delete entries, {} MD5 mismatches, {} drain errors",
            self.send_entries_failed, self.delete_entries_failed, self.md5_mismatches, self.drain_errors
        )?;
        let how = if self.drain_timed_out {
            "drain timed out"
        } else {
            "every sent message deleted"
        };
        writeln!(out, "drain: {:.3}s after the load ({how})", self.drain_s)?;
        writeln!(
            out,
            "(end-to-end = messages sent, received and deleted during the load, with send_batch latencies;"
        )?;
        writeln!(
            out,
            " message counts include the drain, rates cover the load phase only)"
        )
    }
}

/// What the `notify` scenario measured on the receiving side. The PUT side
/// is the ordinary [`Summary`] of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NotifySummary {
    /// `http`, ... (`--topic-kind`).
    pub topic_kind: String,
    /// Whether the topic was created with `persistent=true`.
    pub persistent: bool,
    /// `--rate` (total PUTs/s) if the load was paced, else null.
    pub rate: Option<f64>,
    /// Event records received for this run's keys, duplicates included.
    pub events_received: u64,
    /// `events_received / (last event − first PUT)`, the delivery rate over
    /// the load + drain window.
    pub events_per_sec: f64,
    /// Acknowledged PUTs for which no event arrived before the drain ended.
    pub events_missing: u64,
    /// Events beyond the first for the same key (at-least-once redelivery).
    pub events_duplicated: u64,
    /// Distinct keys of this run with an event but no acknowledged PUT (e.g.
    /// the PUT timed out client-side but the server stored the object).
    pub events_unacknowledged: u64,
    /// Keys whose first event arrived before the PUT's 200 (normal for
    /// synchronous topics); their end-to-end latency is counted as 0.
    pub events_before_ack: u64,
    /// `s3:TestEvent` messages (ignored).
    pub test_events: u64,
    /// End-to-end latency: first event receipt − PUT acknowledgement.
    pub e2e_p50_ms: f64,
    pub e2e_p90_ms: f64,
    pub e2e_p99_ms: f64,
    pub e2e_max_ms: f64,
    pub e2e_mean_ms: f64,
    /// How long the bench waited after the load for outstanding events.
    pub drain_s: f64,
    /// True if the drain ended by `--drain-timeout` rather than because
    /// every acknowledged PUT had its event.
    pub drain_timed_out: bool,
}

impl NotifySummary {
    fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out)?;
        let rate = self.rate.map_or_else(String::new, |r| format!(", paced at {r} PUTs/s"));
        writeln!(
            out,
            "notifications: topic kind {}, persistent {}{rate}",
            self.topic_kind, self.persistent
        )?;
        writeln!(
            out,
            "events: {} received ({:.1}/s), {} missing, {} duplicated, {} unacknowledged, {} before ack",
            self.events_received,
            self.events_per_sec,
            self.events_missing,
            self.events_duplicated,
            self.events_unacknowledged,
            self.events_before_ack
        )?;
        writeln!(
            out,
            "end-to-end (PUT 200 -> event received): p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.e2e_p50_ms, self.e2e_p90_ms, self.e2e_p99_ms, self.e2e_max_ms
        )?;
        if self.test_events > 0 {
            writeln!(out, "({} s3:TestEvent messages ignored)", self.test_events)?;
        }
        let how = if self.drain_timed_out {
            "drain timed out"
        } else {
            "all events arrived"
        };
        writeln!(out, "drain: {:.3}s after the load ({how})", self.drain_s)
    }
}

impl Report {
    pub fn new(
        scenario: &str,
        endpoint: &str,
        bucket: &str,
        concurrency: usize,
        size_bytes: u64,
        stats: &Stats,
        elapsed: Duration,
    ) -> Self {
        Report {
            scenario: scenario.to_owned(),
            endpoint: endpoint.to_owned(),
            bucket: bucket.to_owned(),
            concurrency,
            size_bytes,
            duration_s: round3(elapsed.as_secs_f64()),
            total: Summary::from_stats(&stats.total(), elapsed),
            by_op: stats
                .kinds
                .iter()
                .map(|k| (k.name.to_owned(), Summary::from_stats(k, elapsed)))
                .collect(),
            params: serde_json::Map::new(),
            server_rss_kb: None,
            server_hwm_kb: None,
            notify: None,
            sqs: None,
        }
    }

    /// Why a run that completed must still count as failed, if it must:
    /// every PUT of a `notify` run succeeded (and there was at least one)
    /// but not a single event arrived, i.e. the server accepted the
    /// notification configuration and never delivered.
    pub fn failure(&self) -> Option<String> {
        let n = self.notify.as_ref()?;
        // With no event at all, every acknowledged PUT is missing.
        let acked = n.events_missing;
        if n.events_received > 0 || acked == 0 || self.total.errors > 0 {
            return None;
        }
        Some(format!(
            "the server accepted the notification configuration but delivered no events \
             ({acked} PUTs succeeded, 0 events arrived through the {} topic kind within \
             {:.3}s after the load, see --drain-timeout)",
            n.topic_kind, n.drain_s
        ))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("report serializes")
    }

    /// Writes the human-readable table.
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let (container, item) = if self.sqs.is_some() {
            ("queue", "message")
        } else {
            ("bucket", "object")
        };
        writeln!(
            out,
            "herald bench {} against {} ({container} {})",
            self.scenario, self.endpoint, self.bucket
        )?;
        let mut setup = format!(
            "concurrency {}, {item} size {}, duration {:.2}s",
            self.concurrency,
            format_size(self.size_bytes),
            self.duration_s
        );
        for (k, v) in &self.params {
            setup.push_str(&format!(", {k} {v}"));
        }
        writeln!(out, "{setup}")?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<12} {:>10} {:>11} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "op", "ops", "ops/s", "MB/s", "errors", "p50 ms", "p90 ms", "p99 ms", "max ms"
        )?;
        let row = |out: &mut dyn Write, name: &str, s: &Summary| {
            writeln!(
                out,
                "{:<12} {:>10} {:>11.1} {:>9.2} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                name, s.ops, s.ops_per_sec, s.mb_per_sec, s.errors, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
            )
        };
        for (name, summary) in &self.by_op {
            row(out, name, summary)?;
        }
        if self.sqs.is_some() {
            // The total of this scenario is not a sum of the rows (see
            // `SqsSummary`); say what it is instead.
            row(out, "end-to-end", &self.total)?;
        } else if self.by_op.len() != 1 {
            row(out, "total", &self.total)?;
        }
        writeln!(out, "(MB = 10^6 bytes; latencies of successful operations only)")?;
        if let (Some(rss), hwm) = (self.server_rss_kb, self.server_hwm_kb) {
            let hwm = hwm.map_or_else(String::new, |h| format!(", peak {}", format_size(h * 1024)));
            writeln!(out, "server RSS: {}{hwm}", format_size(rss * 1024))?;
        }
        if let Some(notify) = &self.notify {
            notify.write_table(out)?;
        }
        if let Some(sqs) = &self.sqs {
            sqs.write_table(out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(name: &'static str, latencies_ms: impl IntoIterator<Item = u64>) -> Stats {
        let mut s = Stats::default();
        for ms in latencies_ms {
            s.record_success(name, Duration::from_millis(ms), 1000);
        }
        s
    }

    fn close(actual: f64, expected: f64) -> bool {
        // HDR histogram with 3 significant digits: within 0.1%.
        (actual - expected).abs() <= expected * 0.001 + 1e-9
    }

    #[test]
    fn percentiles_of_uniform_latencies() {
        let stats = stats_with("put", 1..=1000);
        let s = Summary::from_stats(&stats.total(), Duration::from_secs(10));
        assert_eq!(s.ops, 1000);
        assert!(close(s.ops_per_sec, 100.0), "{s:?}");
        assert!(close(s.mb_per_sec, 0.1), "{s:?}");
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p90_ms, 900.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.p999_ms, 999.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
        assert_eq!(s.errors, 0);
    }

    #[test]
    fn tail_latency_is_not_hidden() {
        // 99 fast requests and one very slow one: p50/p90 stay fast, max shows
        // the outlier.
        let stats = stats_with("get", std::iter::repeat_n(2, 99).chain([5000]));
        let s = Summary::from_stats(&stats.total(), Duration::from_secs(1));
        assert!(close(s.p50_ms, 2.0), "{s:?}");
        assert!(close(s.p90_ms, 2.0), "{s:?}");
        assert!(close(s.p99_ms, 2.0), "{s:?}");
        assert!(close(s.max_ms, 5000.0), "{s:?}");
    }

    #[test]
    fn merge_combines_workers_and_kinds() {
        let mut merged = Stats::default();
        let a = stats_with("put", [1, 2, 3]);
        let mut b = stats_with("get", [10, 20]);
        b.record_error("get");
        b.record_error("put");
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.kinds.iter().map(|k| k.name).collect::<Vec<_>>(), ["get", "put"]);
        let total = merged.total();
        assert_eq!(total.ops, 5);
        assert_eq!(total.errors, 2);
        assert_eq!(total.bytes, 5000);
        assert!(close(total.latency_us.max() as f64 / 1000.0, 20.0));
    }

    #[test]
    fn notify_without_any_event_is_a_failure() {
        use crate::notify::correlate::correlate;
        use std::collections::HashMap;
        use std::time::Instant;

        let start = Instant::now();
        let acks: HashMap<u64, Instant> = (0..3).map(|n| (n, start)).collect();
        let report = |stats: &Stats, acks: &HashMap<u64, Instant>, events: Vec<(u64, Instant)>| {
            let mut r = Report::new("notify", "http://e", "b", 1, 1, stats, Duration::from_secs(1));
            r.notify =
                Some(correlate(acks, events, start).summary("sqs", true, None, 1, Duration::from_millis(1500), true));
            r
        };
        let ok = stats_with("put", [1, 1, 1]);
        let failure = report(&ok, &acks, vec![]).failure().unwrap();
        assert!(
            failure.starts_with("the server accepted the notification configuration but delivered no events"),
            "{failure}"
        );
        assert!(
            failure.contains("3 PUTs succeeded") && failure.contains("sqs"),
            "{failure}"
        );
        // One event is delivery (the missing ones are reported as such).
        assert_eq!(report(&ok, &acks, vec![(1, start)]).failure(), None);
        // Failed PUTs explain the silence better than the notifications.
        let mut failing = stats_with("put", [1, 1]);
        failing.record_error("put");
        assert_eq!(report(&failing, &acks, vec![]).failure(), None);
        // Nothing acknowledged, nothing expected.
        assert_eq!(report(&Stats::default(), &HashMap::new(), vec![]).failure(), None);
        // Other scenarios never fail this way.
        assert_eq!(
            Report::new("put", "e", "b", 1, 1, &ok, Duration::from_secs(1)).failure(),
            None
        );
    }

    #[test]
    fn empty_run_reports_zeros() {
        let s = Summary::from_stats(&Stats::default().total(), Duration::from_secs(1));
        assert_eq!(s.ops, 0);
        assert_eq!(s.p99_ms, 0.0);
        assert_eq!(s.max_ms, 0.0);
    }

    #[test]
    fn json_has_the_documented_keys() {
        let stats = stats_with("put", [1, 2, 3]);
        let mut report = Report::new(
            "put",
            "http://127.0.0.1:9000",
            "b",
            4,
            1024,
            &stats,
            Duration::from_secs(1),
        );
        report.server_rss_kb = Some(1000);
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        for key in [
            "scenario",
            "endpoint",
            "concurrency",
            "size_bytes",
            "duration_s",
            "ops",
            "ops_per_sec",
            "mb_per_sec",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "max_ms",
            "errors",
            "server_rss_kb",
            "server_hwm_kb",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["ops"], 3);
        assert_eq!(v["server_hwm_kb"], serde_json::Value::Null);
        let mut table = Vec::new();
        report.write_table(&mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("put"), "{table}");
        assert!(table.contains("server RSS"), "{table}");
    }
}
