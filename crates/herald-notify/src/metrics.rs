//! Ceph's notification counters (`pubsub_*`), in total and per topic.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// A metric: name, Prometheus type, help text, and how to read it.
type Series = (&'static str, &'static str, &'static str, fn(&Counters) -> i64);

/// One set of counters.
#[derive(Default)]
pub struct Counters {
    /// Events that had at least one topic (per notification).
    pub event_triggered: AtomicU64,
    /// Events never delivered: expired, out of retries, or a failed
    /// synchronous push.
    pub event_lost: AtomicU64,
    /// Pushes acknowledged by the endpoint.
    pub push_ok: AtomicU64,
    /// Pushes that failed (each retry counts).
    pub push_fail: AtomicU64,
    /// Pushes in flight now.
    pub push_pending: AtomicI64,
    /// Events parked in the topic's dead-letter queue (Herald's own
    /// counter: Ceph has no dead letters).
    pub event_dead_lettered: AtomicU64,
    /// Events a replay pushed again, and those it could not (Herald's own).
    pub event_replayed: AtomicU64,
    pub replay_fail: AtomicU64,
    /// The latest failure, for the topic's owner (the console, the
    /// owner's GetTopicAttributes): when and why, cut to
    /// [`LAST_ERROR_CHARS`].
    pub last_error: Mutex<Option<(SystemTime, String)>>,
}

/// Longest failure reason kept per topic (an endpoint's answer may be
/// long; the owner needs its start).
pub const LAST_ERROR_CHARS: usize = 300;

/// What the lifecycle worker removed, under Ceph's counter names
/// (`lc_expire_current`, ...): the worker counts, `/metrics` shows them.
#[derive(Default)]
pub struct LifecycleCounters {
    pub expire_current: AtomicU64,
    pub expire_noncurrent: AtomicU64,
    pub expire_dm: AtomicU64,
    pub abort_mpu: AtomicU64,
}

/// Totals plus one set per topic (labelled by tenant and name).
#[derive(Default)]
pub struct PubsubMetrics {
    pub total: Counters,
    /// Not per topic: the lifecycle's removals, whatever their events.
    pub lifecycle: LifecycleCounters,
    per_topic: RwLock<BTreeMap<(String, String), Arc<Counters>>>,
}

/// A handle that updates the totals and one topic's counters together.
#[derive(Clone)]
pub struct TopicCounters {
    metrics: Arc<PubsubMetrics>,
    topic: Arc<Counters>,
}

impl PubsubMetrics {
    pub fn for_topic(self: &Arc<Self>, tenant: &str, name: &str) -> TopicCounters {
        let key = (tenant.to_owned(), name.to_owned());
        if let Some(c) = self.per_topic.read().ok().and_then(|m| m.get(&key).cloned()) {
            return TopicCounters {
                metrics: self.clone(),
                topic: c,
            };
        }
        let mut m = self.per_topic.write().expect("metrics lock");
        let c = m.entry(key).or_default().clone();
        TopicCounters {
            metrics: self.clone(),
            topic: c,
        }
    }

    /// Renders the totals, and with `per_topic` also one series per topic
    /// or queue, labelled with its owner and name. Those labels name
    /// tenants' resources, so only the operator's metrics port asks for
    /// them; the S3 port's public `/metrics` gets the totals alone.
    pub fn render(&self, out: &mut String, per_topic: bool) {
        let all = if per_topic {
            self.per_topic.read().map(|m| m.clone()).unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let series: [Series; 8] = [
            (
                "pubsub_event_triggered",
                "counter",
                "Events that had at least one topic associated with them.",
                |c| c.event_triggered.load(Ordering::Relaxed) as i64,
            ),
            (
                "pubsub_event_lost",
                "counter",
                "Events that had topics associated with them but were never pushed.",
                |c| c.event_lost.load(Ordering::Relaxed) as i64,
            ),
            (
                "pubsub_event_dead_lettered",
                "counter",
                "Events that could not be delivered and went to the topic's dead-letter queue.",
                |c| c.event_dead_lettered.load(Ordering::Relaxed) as i64,
            ),
            (
                "pubsub_event_replayed",
                "counter",
                "Events a topic replay pushed again.",
                |c| c.event_replayed.load(Ordering::Relaxed) as i64,
            ),
            (
                "pubsub_replay_fail",
                "counter",
                "Events a topic replay could not push (after its attempts).",
                |c| c.replay_fail.load(Ordering::Relaxed) as i64,
            ),
            (
                "pubsub_push_ok",
                "counter",
                "Events successfully pushed to their endpoints.",
                |c| c.push_ok.load(Ordering::Relaxed) as i64,
            ),
            ("pubsub_push_fail", "counter", "Push attempts that failed.", |c| {
                c.push_fail.load(Ordering::Relaxed) as i64
            }),
            (
                "pubsub_push_pending",
                "gauge",
                "Events pushed to an endpoint but not acked or nacked yet.",
                |c| c.push_pending.load(Ordering::Relaxed),
            ),
        ];
        let lc = &self.lifecycle;
        for (name, help, counter) in [
            (
                "lc_expire_current",
                "Current versions the lifecycle expired.",
                &lc.expire_current,
            ),
            (
                "lc_expire_noncurrent",
                "Noncurrent versions the lifecycle removed.",
                &lc.expire_noncurrent,
            ),
            (
                "lc_expire_dm",
                "Expired delete markers the lifecycle removed.",
                &lc.expire_dm,
            ),
            (
                "lc_abort_mpu",
                "Incomplete multipart uploads the lifecycle aborted.",
                &lc.abort_mpu,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        for (name, kind, help, get) in series {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", get(&self.total));
            for ((tenant, topic), c) in &all {
                let _ = writeln!(
                    out,
                    "{name}{{tenant=\"{}\",topic=\"{}\"}} {}",
                    escape(tenant),
                    escape(topic),
                    get(c)
                );
            }
        }
    }
}

/// A gauge over queues: name, help text, and how to read it.
type GaugeSeries = (&'static str, &'static str, fn(&QueueGauge) -> u64);

/// One persistent topic's queue, for [`render_queue_gauges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGauge {
    pub tenant: String,
    pub topic: String,
    pub entries: u64,
    pub bytes: u64,
}

/// Ceph's `persistent_topic_len` (events waiting) and
/// `persistent_topic_size` (their bytes): the sum over every persistent
/// topic, and with `per_topic` one series per topic (operator port only,
/// as for the counters above).
pub fn render_queue_gauges(out: &mut String, queues: &[QueueGauge], per_topic: bool) {
    let series: [GaugeSeries; 2] = [
        (
            "persistent_topic_len",
            "Events waiting in persistent topics' queues.",
            |q| q.entries,
        ),
        (
            "persistent_topic_size",
            "Bytes of the events waiting in persistent topics' queues.",
            |q| q.bytes,
        ),
    ];
    for (name, help, get) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {}", queues.iter().map(get).sum::<u64>());
        if per_topic {
            for q in queues {
                let _ = writeln!(
                    out,
                    "{name}{{tenant=\"{}\",topic=\"{}\"}} {}",
                    escape(&q.tenant),
                    escape(&q.topic),
                    get(q)
                );
            }
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl TopicCounters {
    pub fn triggered(&self) {
        self.metrics.total.event_triggered.fetch_add(1, Ordering::Relaxed);
        self.topic.event_triggered.fetch_add(1, Ordering::Relaxed);
    }
    pub fn lost(&self, n: u64) {
        self.metrics.total.event_lost.fetch_add(n, Ordering::Relaxed);
        self.topic.event_lost.fetch_add(n, Ordering::Relaxed);
    }
    pub fn dead_lettered(&self, n: u64) {
        self.metrics.total.event_dead_lettered.fetch_add(n, Ordering::Relaxed);
        self.topic.event_dead_lettered.fetch_add(n, Ordering::Relaxed);
    }
    pub fn replayed(&self) {
        self.metrics.total.event_replayed.fetch_add(1, Ordering::Relaxed);
        self.topic.event_replayed.fetch_add(1, Ordering::Relaxed);
    }
    pub fn replay_failed(&self) {
        self.metrics.total.replay_fail.fetch_add(1, Ordering::Relaxed);
        self.topic.replay_fail.fetch_add(1, Ordering::Relaxed);
    }
    pub fn ok(&self) {
        self.metrics.total.push_ok.fetch_add(1, Ordering::Relaxed);
        self.topic.push_ok.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a failed push (or batch write) and keeps why.
    pub fn fail(&self, error: impl std::fmt::Display) {
        self.metrics.total.push_fail.fetch_add(1, Ordering::Relaxed);
        self.topic.push_fail.fetch_add(1, Ordering::Relaxed);
        let reason: String = error.to_string().chars().take(LAST_ERROR_CHARS).collect();
        if let Ok(mut last) = self.topic.last_error.lock() {
            *last = Some((SystemTime::now(), reason));
        }
    }

    /// This topic's own counters (not the totals).
    pub fn topic(&self) -> &Counters {
        &self.topic
    }
    pub fn pending(&self, delta: i64) {
        self.metrics.total.push_pending.fetch_add(delta, Ordering::Relaxed);
        self.topic.push_pending.fetch_add(delta, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_carry_no_tenant_or_topic_names() {
        let m = Arc::new(PubsubMetrics::default());
        m.for_topic("alice", "secret-topic").ok();
        let mut public = String::new();
        m.render(&mut public, false);
        assert!(public.contains("pubsub_push_ok 1"), "{public}");
        assert!(
            !public.contains("alice") && !public.contains("secret-topic"),
            "{public}"
        );
        let mut detailed = String::new();
        m.render(&mut detailed, true);
        assert!(
            detailed.contains("pubsub_push_ok{tenant=\"alice\",topic=\"secret-topic\"} 1"),
            "{detailed}"
        );
    }

    #[test]
    fn queue_gauges_sum_and_label_per_topic() {
        let queues = [
            QueueGauge {
                tenant: "alice".into(),
                topic: "a\"b".into(),
                entries: 3,
                bytes: 300,
            },
            QueueGauge {
                tenant: "bob".into(),
                topic: "t".into(),
                entries: 4,
                bytes: 50,
            },
        ];
        let mut public = String::new();
        render_queue_gauges(&mut public, &queues, false);
        assert!(public.contains("\npersistent_topic_len 7\n"), "{public}");
        assert!(public.contains("\npersistent_topic_size 350\n"), "{public}");
        assert!(!public.contains("alice") && !public.contains("tenant="), "{public}");
        let mut detailed = String::new();
        render_queue_gauges(&mut detailed, &queues, true);
        assert!(
            detailed.contains("persistent_topic_len{tenant=\"alice\",topic=\"a\\\"b\"} 3"),
            "{detailed}"
        );
        assert!(
            detailed.contains("persistent_topic_size{tenant=\"bob\",topic=\"t\"} 50"),
            "{detailed}"
        );
    }
}
