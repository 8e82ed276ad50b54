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
/// Bytes a watcher may have waiting before it is cut off (records with
/// long keys, metadata and tags are large: lines alone do not bound it).
pub const WATCHER_BYTES: usize = 4 * 1024 * 1024;
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

/// A watcher as the hub keeps it; `queued` counts the bytes it has not
/// taken yet.
#[derive(Clone)]
struct Watcher {
    filter: Arc<TailFilter>,
    tx: mpsc::Sender<Bytes>,
    cut: Arc<AtomicBool>,
    queued: Arc<AtomicUsize>,
}

/// Every watcher of the server.
#[derive(Default)]
pub struct Tail {
    state: Mutex<Watchers>,
    active: AtomicUsize,
    next: AtomicU64,
}

/// The watchers, and how many watch each bucket (by name) and each
/// owner's every bucket: the index a change is checked against.
#[derive(Default)]
struct Watchers {
    by_id: HashMap<u64, Watcher>,
    buckets: HashMap<String, usize>,
    owners: HashMap<String, usize>,
    /// Watches alive per user, cut-off ones included: a cut-off watch
    /// still holds its connection until the client reads its last line or
    /// goes, so the limits count it until then (else a client that never
    /// reads could pile up held connections, one cut-off at a time).
    live: HashMap<String, usize>,
}

impl Watchers {
    fn add(&mut self, id: u64, w: Watcher) {
        match &w.filter.bucket {
            Some((name, _)) => *self.buckets.entry(name.clone()).or_default() += 1,
            None => *self.owners.entry(w.filter.owner.clone()).or_default() += 1,
        }
        self.by_id.insert(id, w);
    }

    fn remove(&mut self, id: u64) {
        let Some(w) = self.by_id.remove(&id) else { return };
        let (map, key) = match &w.filter.bucket {
            Some((name, _)) => (&mut self.buckets, name.clone()),
            None => (&mut self.owners, w.filter.owner.clone()),
        };
        if let Some(n) = map.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

/// A running watch: its lines, until it is cut off or the server stops.
/// Dropping it ends the watch.
pub struct Watch {
    lines: mpsc::Receiver<Bytes>,
    /// Set when the watcher fell behind and was cut off.
    pub cut: Arc<AtomicBool>,
    queued: Arc<AtomicUsize>,
    tail: Weak<Tail>,
    id: u64,
    owner: String,
}

impl Watch {
    /// The next line; `None` once the watch ended (cut off: see `cut`).
    pub async fn next_line(&mut self) -> Option<Bytes> {
        let line = self.lines.recv().await?;
        self.queued.fetch_sub(line.len(), Ordering::AcqRel);
        Some(line)
    }

    /// [`next_line`](Self::next_line) without waiting.
    pub fn try_next_line(&mut self) -> Option<Bytes> {
        let line = self.lines.try_recv().ok()?;
        self.queued.fetch_sub(line.len(), Ordering::AcqRel);
        Some(line)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(t) = self.tail.upgrade() {
            let mut st = t.state.lock().expect("tail lock");
            st.remove(self.id);
            if let Some(n) = st.live.get_mut(&self.owner) {
                *n -= 1;
                if *n == 0 {
                    st.live.remove(&self.owner);
                }
            }
            t.active.store(st.by_id.len(), Ordering::Release);
        }
    }
}

impl Tail {
    /// Starts a watch, within the limits on watchers.
    pub fn watch(self: &Arc<Self>, filter: TailFilter) -> Result<Watch, TailError> {
        let mut st = self.state.lock().expect("tail lock");
        if st.live.values().sum::<usize>() >= MAX_WATCHERS {
            return Err(TailError::TooMany(MAX_WATCHERS));
        }
        if st.live.get(&filter.owner).copied().unwrap_or(0) >= MAX_WATCHERS_PER_USER {
            return Err(TailError::TooManyOfUser(MAX_WATCHERS_PER_USER));
        }
        *st.live.entry(filter.owner.clone()).or_default() += 1;
        let owner = filter.owner.clone();
        let (tx, lines) = mpsc::channel(WATCHER_BUFFER);
        let cut = Arc::new(AtomicBool::new(false));
        let queued = Arc::new(AtomicUsize::new(0));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        st.add(
            id,
            Watcher {
                filter: Arc::new(filter),
                tx,
                cut: cut.clone(),
                queued: queued.clone(),
            },
        );
        self.active.store(st.by_id.len(), Ordering::Release);
        Ok(Watch {
            lines,
            cut,
            queued,
            tail: Arc::downgrade(self),
            id,
            owner,
        })
    }

    /// Whether anybody watches at all (one atomic load).
    pub fn is_watched(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Whether somebody watches `bucket` (by name) or every bucket of its
    /// owner (`owner` is asked only then): what a change must pass before
    /// it is worth describing for the tail.
    pub fn watches(&self, bucket: &str, owner: impl FnOnce() -> Option<Arc<str>>) -> bool {
        if !self.is_watched() {
            return false;
        }
        {
            let st = self.state.lock().expect("tail lock");
            if st.buckets.contains_key(bucket) {
                return true;
            }
            if st.owners.is_empty() {
                return false;
            }
        }
        // The owner is looked up without the lock held.
        owner().is_some_and(|o| self.state.lock().expect("tail lock").owners.contains_key(&*o))
    }

    /// Hands a committed change to the watchers that want it; `render`
    /// makes its line, once, only if one does, and outside the hub's lock.
    /// A watcher whose buffer (lines or bytes) is full is cut off.
    pub fn publish(
        &self,
        bucket: &herald_store::BucketRecord,
        event: EventType,
        key: &str,
        render: impl FnOnce() -> Vec<u8>,
    ) {
        let wanting: Vec<(u64, Watcher)> = {
            let st = self.state.lock().expect("tail lock");
            st.by_id
                .iter()
                .filter(|(_, w)| w.filter.wants(bucket, event, key))
                .map(|(id, w)| (*id, w.clone()))
                .collect()
        };
        if wanting.is_empty() {
            return;
        }
        let mut body = render();
        body.push(b'\n');
        let line = Bytes::from(body);
        let mut gone = Vec::new();
        for (id, w) in wanting {
            match offer(&w, &line) {
                Offer::Taken => {}
                Offer::Full => {
                    tracing::info!(owner = %w.filter.owner, "live tail watcher fell behind: cut off");
                    w.cut.store(true, Ordering::Release);
                    gone.push(id);
                }
                Offer::Closed => gone.push(id),
            }
        }
        if !gone.is_empty() {
            let mut st = self.state.lock().expect("tail lock");
            for id in gone {
                st.remove(id);
            }
            self.active.store(st.by_id.len(), Ordering::Release);
        }
    }

    /// Ends every watch (server shutdown).
    pub fn close_all(&self) {
        *self.state.lock().expect("tail lock") = Watchers::default();
        self.active.store(0, Ordering::Release);
    }
}

enum Offer {
    Taken,
    Full,
    Closed,
}

/// Gives a watcher a line unless its buffer is full (in lines or bytes).
fn offer(w: &Watcher, line: &Bytes) -> Offer {
    if w.queued.fetch_add(line.len(), Ordering::AcqRel) + line.len() > WATCHER_BYTES {
        w.queued.fetch_sub(line.len(), Ordering::AcqRel);
        return Offer::Full;
    }
    match w.tx.try_send(line.clone()) {
        Ok(()) => Offer::Taken,
        Err(e) => {
            w.queued.fetch_sub(line.len(), Ordering::AcqRel);
            match e {
                mpsc::error::TrySendError::Full(_) => Offer::Full,
                mpsc::error::TrySendError::Closed(_) => Offer::Closed,
            }
        }
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
        assert!(tail.watches("photos", || None), "by name");
        assert!(tail.watches("other", || Some("alice".into())), "by owner");
        assert!(!tail.watches("nobody", || Some("mallory".into())));
        assert_eq!(w.try_next_line().unwrap(), Bytes::from_static(b"1\n"));
        assert!(w.try_next_line().is_none());
        assert_eq!(all.try_next_line().unwrap(), Bytes::from_static(b"1\n"));
        assert_eq!(all.try_next_line().unwrap(), Bytes::from_static(b"3\n"));
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
        while slow.try_next_line().is_some() {
            n += 1;
        }
        assert_eq!(
            n, WATCHER_BUFFER,
            "what was buffered is still read, then the stream ends"
        );
        // Large lines: cut off by bytes before the line count.
        let mut big = tail.watch(filter("alice", None)).unwrap();
        let line = vec![b'x'; 64 * 1024];
        for _ in 0..100 {
            tail.publish(&b, EventType::ObjectCreatedPut, "img/a.png", || line.clone());
        }
        assert!(big.cut.load(Ordering::Acquire), "cut off at {WATCHER_BYTES} bytes");
        let mut bytes = 0;
        while let Some(l) = big.try_next_line() {
            bytes += l.len();
        }
        assert!(bytes <= WATCHER_BYTES && bytes > WATCHER_BYTES / 2, "{bytes}");
        let mine: Vec<Watch> = (0..MAX_WATCHERS_PER_USER)
            .map(|_| tail.watch(filter("bob", None)).unwrap())
            .collect();
        assert!(matches!(
            tail.watch(filter("bob", None)),
            Err(TailError::TooManyOfUser(_))
        ));
        assert!(tail.watch(filter("carol", None)).is_ok(), "others still may");
        drop(mine);
        // A cut-off watch still holds its connection until it is dropped:
        // it keeps counting, so cut-offs cannot pile up held connections.
        let cut: Vec<Watch> = (0..MAX_WATCHERS_PER_USER)
            .map(|_| tail.watch(filter("dave", None)).unwrap())
            .collect();
        let daves = bucket("d", "id9", "dave");
        for _ in 0..WATCHER_BUFFER + 1 {
            tail.publish(&daves, EventType::ObjectCreatedPut, "img/a.png", || b"x".to_vec());
        }
        assert!(cut.iter().all(|w| w.cut.load(Ordering::Acquire)), "all cut off");
        assert!(
            matches!(tail.watch(filter("dave", None)), Err(TailError::TooManyOfUser(_))),
            "cut off but not yet dropped: still counted"
        );
        drop(cut);
        assert!(
            tail.watch(filter("dave", None)).is_ok(),
            "dropped: the places come back"
        );
    }
}
