//! The live tail: MinIO's `ListenBucketNotification`. A watcher subscribes
//! with a filter (one bucket, or every bucket its owner has; event names;
//! key prefix and suffix) and gets every committed change that matches,
//! as one `{"Records":[...]}` line, without any notification
//! configuration.
//!
//! A watcher never slows a write: each has a bounded buffer filled with
//! `try_send`; when it is full the watcher is cut off (its stream ends
//! with a final error line) and the write goes on. Nothing is rendered
//! when nobody watches (one atomic load per change).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use herald_model::event::{EventPattern, EventType};
use tokio::sync::mpsc;

/// Lines a watcher may have waiting before it is cut off.
pub const WATCHER_BUFFER: usize = 1024;
/// Watchers at once, in all.
pub const MAX_WATCHERS: usize = 256;
/// Watchers at once of one user.
pub const MAX_WATCHERS_PER_USER: usize = 16;

/// What a watcher wants.
#[derive(Debug, Clone)]
pub struct TailFilter {
    /// Whose buckets: the watcher's user.
    pub owner: String,
    /// One bucket (its name and id, so a bucket re-created under the same
    /// name by someone else is not watched), or `None`: every bucket
    /// `owner` owns.
    pub bucket: Option<(String, String)>,
    /// Empty: what a configuration without `<Event>` gets (every event
    /// but reads and the other opt-in ones).
    pub events: Vec<EventPattern>,
    pub prefix: String,
    pub suffix: String,
}

impl TailFilter {
    fn wants(&self, bucket: &herald_store::BucketRecord, event: EventType, key: &str) -> bool {
        let bucket_ok = match &self.bucket {
            Some((name, id)) => *name == bucket.name && *id == bucket.id,
            None => bucket.owner == self.owner,
        };
        let event_ok = if self.events.is_empty() {
            !event.explicit_only()
        } else {
            self.events.iter().any(|p| p.matches(event))
        };
        bucket_ok && event_ok && key.starts_with(&self.prefix) && key.ends_with(&self.suffix)
    }
}

/// Why a watch could not start.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("too many watchers ({0} at most): try again later")]
    TooMany(usize),
    #[error("this user has {0} watchers already")]
    TooManyOfUser(usize),
}

struct Watcher {
    filter: TailFilter,
    tx: mpsc::Sender<Bytes>,
    cut: Arc<AtomicBool>,
}

/// Every watcher of the server.
#[derive(Default)]
pub struct Tail {
    watchers: Mutex<HashMap<u64, Watcher>>,
    active: AtomicUsize,
    next: AtomicU64,
}

/// A running watch: its lines, until it is cut off or the server stops.
/// Dropping it ends the watch.
pub struct Watch {
    pub lines: mpsc::Receiver<Bytes>,
    /// Set when the watcher fell behind and was cut off.
    pub cut: Arc<AtomicBool>,
    tail: Weak<Tail>,
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(t) = self.tail.upgrade() {
            t.remove(self.id);
        }
    }
}

impl Tail {
    /// Starts a watch, within the limits on watchers.
    pub fn watch(self: &Arc<Self>, filter: TailFilter) -> Result<Watch, TailError> {
        let mut map = self.watchers.lock().expect("tail lock");
        if map.len() >= MAX_WATCHERS {
            return Err(TailError::TooMany(MAX_WATCHERS));
        }
        if map.values().filter(|w| w.filter.owner == filter.owner).count() >= MAX_WATCHERS_PER_USER {
            return Err(TailError::TooManyOfUser(MAX_WATCHERS_PER_USER));
        }
        let (tx, lines) = mpsc::channel(WATCHER_BUFFER);
        let cut = Arc::new(AtomicBool::new(false));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        map.insert(
            id,
            Watcher {
                filter,
                tx,
                cut: cut.clone(),
            },
        );
        self.active.store(map.len(), Ordering::Release);
        Ok(Watch {
            lines,
            cut,
            tail: Arc::downgrade(self),
            id,
        })
    }

    fn remove(&self, id: u64) {
        let mut map = self.watchers.lock().expect("tail lock");
        map.remove(&id);
        self.active.store(map.len(), Ordering::Release);
    }

    /// Whether anybody watches (the cheap check on every change).
    pub fn is_watched(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Hands a committed change to the watchers that want it; `render`
    /// makes its line, once, only if one does. A watcher whose buffer is
    /// full is cut off.
    pub fn publish(
        &self,
        bucket: &herald_store::BucketRecord,
        event: EventType,
        key: &str,
        render: impl FnOnce() -> Vec<u8>,
    ) {
        let mut map = self.watchers.lock().expect("tail lock");
        let mut line: Option<Bytes> = None;
        let mut render = Some(render);
        let mut gone = Vec::new();
        for (id, w) in map.iter() {
            if !w.filter.wants(bucket, event, key) {
                continue;
            }
            let l = line.get_or_insert_with(|| {
                let mut body = (render.take().expect("rendered once"))();
                body.push(b'\n');
                Bytes::from(body)
            });
            match w.tx.try_send(l.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(owner = %w.filter.owner, "live tail watcher fell behind: cut off");
                    w.cut.store(true, Ordering::Release);
                    gone.push(*id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        for id in gone {
            map.remove(&id);
        }
        self.active.store(map.len(), Ordering::Release);
    }

    /// Ends every watch (server shutdown).
    pub fn close_all(&self) {
        let mut map = self.watchers.lock().expect("tail lock");
        map.clear();
        self.active.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(name: &str, id: &str, owner: &str) -> herald_store::BucketRecord {
        serde_json::from_value(serde_json::json!({"name": name, "id": id, "owner": owner, "created_ms": 0}))
            .expect("a bucket record")
    }

    fn filter(owner: &str, bucket: Option<(&str, &str)>) -> TailFilter {
        TailFilter {
            owner: owner.into(),
            bucket: bucket.map(|(n, i)| (n.into(), i.into())),
            events: vec![EventPattern::parse("s3:ObjectCreated:*").unwrap()],
            prefix: "img/".into(),
            suffix: ".png".into(),
        }
    }

    #[test]
    fn a_watch_gets_what_its_filter_wants_and_nothing_else() {
        let tail = Arc::new(Tail::default());
        let mut w = tail.watch(filter("alice", Some(("photos", "id1")))).unwrap();
        let mut all = tail.watch(filter("alice", None)).unwrap();
        let put = EventType::ObjectCreatedPut;
        let mine = bucket("photos", "id1", "alice");
        tail.publish(&mine, put, "img/a.png", || b"1".to_vec());
        tail.publish(&mine, put, "doc/a.png", || panic!("no watcher wants it: not rendered"));
        tail.publish(&mine, EventType::ObjectRemovedDelete, "img/a.png", || {
            panic!("not rendered")
        });
        // Same name, re-created by someone else: not watched.
        tail.publish(&bucket("photos", "id2", "mallory"), put, "img/b.png", || {
            panic!("not rendered")
        });
        // Another of alice's buckets: only the every-bucket watch.
        tail.publish(&bucket("other", "id3", "alice"), put, "img/c.png", || b"3".to_vec());
        assert_eq!(w.lines.try_recv().unwrap(), Bytes::from_static(b"1\n"));
        assert!(w.lines.try_recv().is_err());
        assert_eq!(all.lines.try_recv().unwrap(), Bytes::from_static(b"1\n"));
        assert_eq!(all.lines.try_recv().unwrap(), Bytes::from_static(b"3\n"));
        drop(w);
        drop(all);
        assert!(!tail.is_watched(), "dropped watches are gone");
    }

    #[test]
    fn a_slow_watcher_is_cut_off_and_limits_hold() {
        let tail = Arc::new(Tail::default());
        let mut slow = tail.watch(filter("alice", None)).unwrap();
        let b = bucket("photos", "id1", "alice");
        for _ in 0..WATCHER_BUFFER + 1 {
            tail.publish(&b, EventType::ObjectCreatedPut, "img/a.png", || b"x".to_vec());
        }
        assert!(slow.cut.load(Ordering::Acquire), "cut off when its buffer filled");
        assert!(!tail.is_watched());
        let mut n = 0;
        while slow.lines.try_recv().is_ok() {
            n += 1;
        }
        assert_eq!(
            n, WATCHER_BUFFER,
            "what was buffered is still read, then the stream ends"
        );
        let mine: Vec<Watch> = (0..MAX_WATCHERS_PER_USER)
            .map(|_| tail.watch(filter("bob", None)).unwrap())
            .collect();
        assert!(matches!(
            tail.watch(filter("bob", None)),
            Err(TailError::TooManyOfUser(_))
        ));
        assert!(tail.watch(filter("carol", None)).is_ok(), "others still may");
        drop(mine);
    }
}
