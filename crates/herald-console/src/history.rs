//! The overview's last hour, from the server's own counters (no
//! Prometheus needed): every [`History::every`] the console reads each
//! topic's counters and keeps, per topic owner, how many events came in,
//! went out and failed in that interval, and how many were pending.
//!
//! Memory is bounded by the number of topic owners: one hour of points at
//! 20 bytes each (2.4 KB per owner at the default 30 s), plus 13 numbers
//! per topic for the busiest-topics list (its events over the last hour, in
//! 5-minute steps). At most [`MAX_OWNERS`] owners are recorded.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Owners whose series are kept (the ones with the most events first).
pub const MAX_OWNERS: usize = 20_000;
/// How far back the overview looks.
pub const WINDOW: Duration = Duration::from_secs(3600);
/// The busiest-topics list's step.
const TOPIC_STEP: Duration = Duration::from_secs(300);

/// One topic's counters now, as the backend reads them.
#[derive(Debug, Clone, Default)]
pub struct TopicFigures {
    pub owner: String,
    pub arn: String,
    pub name: String,
    /// Events the topic was given (`pubsub_event_triggered`).
    pub triggered: u64,
    /// Pushes acknowledged (`pubsub_push_ok`).
    pub ok: u64,
    /// Pushes failed (`pubsub_push_fail`).
    pub failed: u64,
    /// Events waiting in a persistent topic's queue.
    pub pending: u64,
}

/// One interval of one owner's topics.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Point {
    /// Unix seconds at the end of the interval.
    pub at: u64,
    #[serde(rename = "in")]
    pub events_in: u32,
    #[serde(rename = "out")]
    pub events_out: u32,
    pub failed: u32,
    pub pending: u32,
}

/// One owner's topics summed: triggered, ok, failed, pending.
type Sums = (u64, u64, u64, u64);

#[derive(Default)]
struct OwnerSeries {
    /// Cumulative counters at the previous sample.
    last: (u64, u64, u64),
    points: VecDeque<Point>,
}

#[derive(Default)]
struct Inner {
    owners: HashMap<String, OwnerSeries>,
    /// Per topic ARN: `triggered` every [`TOPIC_STEP`], oldest first.
    topics: HashMap<String, VecDeque<u64>>,
    samples: u64,
}

pub struct History {
    every: Duration,
    inner: Mutex<Inner>,
}

/// What the overview page shows one user.
#[derive(Debug, Serialize)]
pub struct Overview {
    pub interval_seconds: u64,
    pub points: Vec<Point>,
    pub totals: Totals,
    pub topics: Vec<BusyTopic>,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    #[serde(rename = "in")]
    pub events_in: u64,
    #[serde(rename = "out")]
    pub events_out: u64,
    pub failed: u64,
    pub pending: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.events_in += o.events_in;
        self.events_out += o.events_out;
        self.failed += o.failed;
        self.pending += o.pending;
    }
}

#[derive(Debug, Serialize)]
pub struct BusyTopic {
    pub arn: String,
    pub name: String,
    /// The topic's own counters, in the same fields as the totals.
    #[serde(flatten)]
    pub counts: Totals,
    /// Events in over the last hour (or since the console started).
    pub in_last_hour: u64,
}

/// Most topics listed as the busiest.
const BUSIEST: usize = 10;

impl History {
    pub fn new(every: Duration) -> History {
        History {
            every: every.max(Duration::from_secs(1)),
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn every(&self) -> Duration {
        self.every
    }

    fn points_kept(&self) -> usize {
        (WINDOW.as_secs() / self.every.as_secs()).max(1) as usize
    }

    /// Takes one sample of every topic's counters.
    pub fn record(&self, figures: &[TopicFigures], now: SystemTime) {
        let at = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut per_owner: HashMap<&str, Sums> = HashMap::new();
        for f in figures {
            let e = per_owner.entry(&f.owner).or_default();
            e.0 += f.triggered;
            e.1 += f.ok;
            e.2 += f.failed;
            e.3 += f.pending;
        }
        let keep = self.points_kept();
        let mut inner = self.inner.lock().expect("history lock");
        inner.owners.retain(|o, _| per_owner.contains_key(o.as_str()));
        let mut owners: Vec<(&str, Sums)> = per_owner.into_iter().collect();
        if owners.len() > MAX_OWNERS {
            owners.sort_by_key(|(_, c)| std::cmp::Reverse(c.0));
            owners.truncate(MAX_OWNERS);
        }
        for (owner, (t, ok, failed, pending)) in owners {
            let series = inner.owners.entry(owner.to_owned()).or_insert_with(|| OwnerSeries {
                last: (t, ok, failed),
                points: VecDeque::new(),
            });
            let delta = |now: u64, before: u64| now.saturating_sub(before).min(u32::MAX as u64) as u32;
            series.points.push_back(Point {
                at,
                events_in: delta(t, series.last.0),
                events_out: delta(ok, series.last.1),
                failed: delta(failed, series.last.2),
                pending: pending.min(u32::MAX as u64) as u32,
            });
            series.last = (t, ok, failed);
            while series.points.len() > keep {
                series.points.pop_front();
            }
        }
        let step = (TOPIC_STEP.as_secs() / self.every.as_secs()).max(1);
        let take_topics = inner.samples.is_multiple_of(step);
        inner.samples += 1;
        let present: std::collections::HashSet<&str> = figures.iter().map(|f| f.arn.as_str()).collect();
        inner.topics.retain(|arn, _| present.contains(arn.as_str()));
        let steps_kept = (WINDOW.as_secs() / TOPIC_STEP.as_secs()) as usize + 1;
        for f in figures {
            // A topic's counters start at 0 when this process starts or
            // creates it: that is its first step, not the first sample.
            let ring = inner.topics.entry(f.arn.clone()).or_insert_with(|| VecDeque::from([0]));
            if take_topics {
                ring.push_back(f.triggered);
                while ring.len() > steps_kept {
                    ring.pop_front();
                }
            }
        }
    }

    /// `owner`'s last hour, with their topics' counters as they are now.
    pub fn overview(&self, owner: &str, figures: &[TopicFigures]) -> Overview {
        let inner = self.inner.lock().expect("history lock");
        let points = inner
            .owners
            .get(owner)
            .map(|s| s.points.iter().copied().collect())
            .unwrap_or_default();
        let mut totals = Totals::default();
        let mut topics: Vec<BusyTopic> = Vec::new();
        for f in figures.iter().filter(|f| f.owner == owner) {
            let counts = Totals {
                events_in: f.triggered,
                events_out: f.ok,
                failed: f.failed,
                pending: f.pending,
            };
            totals.add(&counts);
            let hour_ago = inner.topics.get(&f.arn).and_then(|r| r.front().copied()).unwrap_or(0);
            topics.push(BusyTopic {
                arn: f.arn.clone(),
                name: f.name.clone(),
                counts,
                in_last_hour: f.triggered.saturating_sub(hour_ago),
            });
        }
        topics.sort_by(|a, b| b.in_last_hour.cmp(&a.in_last_hour).then(a.name.cmp(&b.name)));
        topics.truncate(BUSIEST);
        Overview {
            interval_seconds: self.every.as_secs(),
            points,
            totals,
            topics,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(owner: &str, name: &str, triggered: u64, ok: u64, pending: u64) -> TopicFigures {
        TopicFigures {
            owner: owner.into(),
            arn: format!("arn:aws:sns:r::{name}"),
            name: name.into(),
            triggered,
            ok,
            failed: 0,
            pending,
        }
    }

    #[test]
    fn points_are_per_interval_deltas_per_owner() {
        let h = History::new(Duration::from_secs(30));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        h.record(&[fig("alice", "a", 10, 5, 5), fig("bob", "b", 7, 7, 0)], t0);
        h.record(
            &[fig("alice", "a", 25, 20, 5), fig("bob", "b", 7, 7, 0)],
            t0 + Duration::from_secs(30),
        );
        let now = [fig("alice", "a", 30, 21, 9), fig("bob", "b", 7, 7, 0)];
        let o = h.overview("alice", &now);
        assert_eq!(o.points.len(), 2);
        assert_eq!((o.points[0].events_in, o.points[0].events_out), (0, 0));
        assert_eq!((o.points[1].events_in, o.points[1].events_out), (15, 15));
        assert_eq!(o.totals.events_in, 30);
        assert_eq!(o.totals.pending, 9);
        assert_eq!(o.topics.len(), 1, "bob's topic is not alice's");
        assert_eq!(o.topics[0].in_last_hour, 30, "counted from the topic's start");
        // The page reads a topic's counters under the totals' names.
        let j = serde_json::to_value(&o).unwrap();
        assert_eq!(
            (j["topics"][0]["in"].as_u64(), j["topics"][0]["out"].as_u64()),
            (Some(30), Some(21))
        );
        assert_eq!(j["topics"][0]["pending"].as_u64(), Some(9));
    }

    #[test]
    fn an_hour_is_kept_and_gone_owners_are_dropped() {
        let h = History::new(Duration::from_secs(30));
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        for i in 0..200u64 {
            h.record(&[fig("alice", "a", i, i, 0)], t0 + Duration::from_secs(30 * i));
        }
        assert_eq!(h.overview("alice", &[]).points.len(), 120);
        h.record(&[], t0 + Duration::from_secs(30 * 201));
        assert!(h.overview("alice", &[]).points.is_empty());
        assert!(h.inner.lock().unwrap().topics.is_empty());
    }
}
