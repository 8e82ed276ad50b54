//! Matching received events to acknowledged PUTs, and the statistics that
//! come out of it. Pure functions over instants, so they are unit-tested
//! without a server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::report::{MAX_TRACKABLE_US, NotifySummary, round3};

/// The keys a run writes: `<prefix>-<n:010>`, URL-safe so event keys need no
/// decoding to match.
pub fn object_key(prefix: &str, n: u64) -> String {
    format!("{prefix}-{n:010}")
}

/// The inverse of [`object_key`]: `None` for keys of other runs.
pub fn key_index(prefix: &str, key: &str) -> Option<u64> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('-')?;
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The outcome of correlating events with acknowledgements.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// Records received for this run's keys, duplicates included.
    pub received: u64,
    /// Acknowledged keys with at least one event.
    pub matched: u64,
    pub missing: u64,
    pub duplicated: u64,
    pub unacknowledged: u64,
    /// Matched keys whose first event arrived before the acknowledgement.
    pub before_ack: u64,
    /// First-event latency per matched key, µs, negatives clamped to 0.
    pub e2e_us: Histogram<u64>,
    /// `received / (last event − load start)`.
    pub events_per_sec: f64,
}

/// Correlates `events` (key index, receive instant; any order) with `acks`
/// (key index → instant the PUT's 200 arrived). `load_start` is when the
/// first PUT was sent, the start of the events/s window.
pub fn correlate(
    acks: &HashMap<u64, Instant>,
    events: impl IntoIterator<Item = (u64, Instant)>,
    load_start: Instant,
) -> Correlation {
    // Per key: number of events and the earliest receipt.
    let mut seen: HashMap<u64, (u64, Instant)> = HashMap::with_capacity(acks.len());
    let mut received = 0u64;
    let mut last_event: Option<Instant> = None;
    for (key, at) in events {
        received += 1;
        last_event = Some(last_event.map_or(at, |l| l.max(at)));
        seen.entry(key)
            .and_modify(|(count, first)| {
                *count += 1;
                *first = (*first).min(at);
            })
            .or_insert((1, at));
    }

    let mut e2e_us = Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3).expect("static histogram bounds are valid");
    let (mut matched, mut before_ack, mut duplicated, mut unacknowledged) = (0, 0, 0, 0);
    for (key, &(count, first)) in &seen {
        duplicated += count - 1;
        match acks.get(key) {
            Some(&acked) => {
                matched += 1;
                // `checked_duration_since` is None when the event came first.
                let latency = match first.checked_duration_since(acked) {
                    Some(d) => d,
                    None => {
                        before_ack += 1;
                        Duration::ZERO
                    }
                };
                let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                e2e_us.saturating_record(us);
            }
            None => unacknowledged += 1,
        }
    }

    let window = last_event.map_or(0.0, |l| l.saturating_duration_since(load_start).as_secs_f64());
    Correlation {
        received,
        matched,
        missing: acks.len() as u64 - matched,
        duplicated,
        unacknowledged,
        before_ack,
        e2e_us,
        events_per_sec: if window > 0.0 {
            round3(received as f64 / window)
        } else {
            0.0
        },
    }
}

impl Correlation {
    /// The report section; the caller fills in the run's settings.
    pub fn summary(
        &self,
        topic_kind: &str,
        persistent: bool,
        rate: Option<f64>,
        test_events: u64,
        drain: Duration,
        drain_timed_out: bool,
    ) -> NotifySummary {
        let h = &self.e2e_us;
        let ms = |us: u64| round3(us as f64 / 1000.0);
        NotifySummary {
            topic_kind: topic_kind.to_owned(),
            persistent,
            rate,
            events_received: self.received,
            events_per_sec: self.events_per_sec,
            events_missing: self.missing,
            events_duplicated: self.duplicated,
            events_unacknowledged: self.unacknowledged,
            events_before_ack: self.before_ack,
            test_events,
            e2e_p50_ms: ms(h.value_at_quantile(0.50)),
            e2e_p90_ms: ms(h.value_at_quantile(0.90)),
            e2e_p99_ms: ms(h.value_at_quantile(0.99)),
            e2e_max_ms: ms(h.max()),
            e2e_mean_ms: round3(h.mean() / 1000.0),
            drain_s: round3(drain.as_secs_f64()),
            drain_timed_out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// HDR histograms with 3 significant digits are exact to 0.1%.
    fn close(actual: f64, expected: f64) -> bool {
        (actual - expected).abs() <= expected * 0.001 + 1e-9
    }

    #[test]
    fn keys_round_trip() {
        let key = object_key("hb-0000abcd", 42);
        assert_eq!(key, "hb-0000abcd-0000000042");
        assert_eq!(key_index("hb-0000abcd", &key), Some(42));
        assert_eq!(key_index("hb-0000abce", &key), None);
        assert_eq!(key_index("hb-0000abcd", "hb-0000abcd-42"), None);
        assert_eq!(key_index("hb-0000abcd", "hb-0000abcd-00000000x2"), None);
        assert_eq!(key_index("hb-0000abcd", "hb-0000abcd"), None);
    }

    #[test]
    fn all_delivered_once() {
        let t0 = Instant::now();
        let acks: HashMap<u64, Instant> = (0..100).map(|i| (i, t0 + ms(i))).collect();
        // Each event 5 ms after its ack; the last at 99 + 5 = 104 ms.
        let events = (0..100).map(|i| (i, t0 + ms(i + 5)));
        let c = correlate(&acks, events, t0);
        assert_eq!(c.received, 100);
        assert_eq!(c.matched, 100);
        assert_eq!(c.missing, 0);
        assert_eq!(c.duplicated, 0);
        assert_eq!(c.unacknowledged, 0);
        assert_eq!(c.before_ack, 0);
        assert_eq!(c.e2e_us.len(), 100);
        let s = c.summary("http", true, None, 1, ms(7), false);
        assert!(close(s.e2e_p50_ms, 5.0), "{s:?}");
        assert!(close(s.e2e_max_ms, 5.0), "{s:?}");
        assert!((s.events_per_sec - 100.0 / 0.104).abs() < 0.01, "{s:?}");
        assert_eq!(s.test_events, 1);
        assert_eq!(s.drain_s, 0.007);
    }

    #[test]
    fn missing_duplicates_and_strays() {
        let t0 = Instant::now();
        let acks: HashMap<u64, Instant> = (0..10).map(|i| (i, t0 + ms(10))).collect();
        let mut events = Vec::new();
        // Keys 0..7 delivered; 7, 8, 9 missing.
        for i in 0..7 {
            events.push((i, t0 + ms(20)));
        }
        // Key 1 redelivered twice, key 2 once.
        events.push((1, t0 + ms(30)));
        events.push((1, t0 + ms(40)));
        events.push((2, t0 + ms(50)));
        // Key 99 was never acknowledged (e.g. its PUT timed out), twice.
        events.push((99, t0 + ms(60)));
        events.push((99, t0 + ms(61)));
        let c = correlate(&acks, events, t0);
        assert_eq!(c.received, 12);
        assert_eq!(c.matched, 7);
        assert_eq!(c.missing, 3);
        assert_eq!(c.duplicated, 4);
        assert_eq!(c.unacknowledged, 1);
        // Duplicates do not affect latency: the first receipt counts.
        assert_eq!(c.e2e_us.len(), 7);
        assert!(c.e2e_us.equivalent(c.e2e_us.max(), 10_000));
        assert!(c.e2e_us.equivalent(c.e2e_us.min(), 10_000));
    }

    #[test]
    fn events_before_the_ack_are_clamped_to_zero() {
        let t0 = Instant::now();
        let acks: HashMap<u64, Instant> = [(0, t0 + ms(50)), (1, t0 + ms(50)), (2, t0 + ms(50))]
            .into_iter()
            .collect();
        // Synchronous topic: keys 0 and 1 are pushed before the 200; a late
        // duplicate of key 0 does not make it "after".
        let events = [(0, t0 + ms(40)), (1, t0 + ms(49)), (2, t0 + ms(53)), (0, t0 + ms(90))];
        let c = correlate(&acks, events, t0);
        assert_eq!(c.before_ack, 2);
        assert_eq!(c.duplicated, 1);
        assert_eq!(c.missing, 0);
        let s = c.summary("http", false, Some(100.0), 0, ms(0), false);
        assert_eq!(s.e2e_p50_ms, 0.0);
        assert!(close(s.e2e_max_ms, 3.0), "{s:?}");
        assert_eq!(c.e2e_us.min(), 0);
        assert_eq!(s.rate, Some(100.0));
    }

    #[test]
    fn nothing_received() {
        let t0 = Instant::now();
        let acks: HashMap<u64, Instant> = (0..3).map(|i| (i, t0)).collect();
        let c = correlate(&acks, [], t0);
        assert_eq!(c.missing, 3);
        assert_eq!(c.received, 0);
        assert_eq!(c.events_per_sec, 0.0);
        let s = c.summary("http", true, None, 0, ms(30_000), true);
        assert_eq!(s.e2e_p99_ms, 0.0);
        assert!(s.drain_timed_out);
    }
}
