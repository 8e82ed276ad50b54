//! Behaviour tests against real files in temporary directories.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use herald_log::{AppendItem, DeliveryLog, Limits, LogConfig, LogError};

fn item(topic: &str, key: &str, payload: &str) -> AppendItem {
    AppendItem {
        topic: topic.into(),
        key: key.into(),
        payload: Bytes::from(payload.to_string()),
    }
}

fn open(dir: &Path) -> DeliveryLog {
    DeliveryLog::open(LogConfig::new(dir)).unwrap()
}

fn open_small(dir: &Path, segment_bytes: u64) -> DeliveryLog {
    DeliveryLog::open(LogConfig {
        dir: dir.into(),
        segment_bytes,
    })
    .unwrap()
}

async fn append1(log: &DeliveryLog, topic: &str, key: &str, payload: &str) -> u64 {
    log.append(vec![item(topic, key, payload)]).await.unwrap()[0]
}

/// Segment files of the only topic directory under `root`: (name, size).
fn segment_files(root: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(root).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            let name = f.file_name().into_string().unwrap();
            if name.starts_with("seg-") {
                out.push((name, f.metadata().unwrap().len()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_lease_ack_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let ids = log
        .append(vec![
            item("t", "a", "one"),
            item("t", "b", "two"),
            item("t", "c", "three"),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] < ids[1] && ids[1] < ids[2]);
    let st = log.stats("t");
    assert_eq!(st.entries, 3);
    assert!(st.bytes > 0);
    assert!(st.oldest_age.is_some());
    assert_eq!(log.topics(), vec!["t".to_string()]);

    let leases = log.lease("t", 10);
    let got: Vec<(u64, &str, &[u8], u32)> = leases
        .iter()
        .map(|l| (l.id, l.key.as_str(), &l.payload[..], l.attempts))
        .collect();
    assert_eq!(
        got,
        vec![
            (ids[0], "a", &b"one"[..], 0),
            (ids[1], "b", &b"two"[..], 0),
            (ids[2], "c", &b"three"[..], 0)
        ]
    );
    assert_eq!(log.stats("t").leased, 3);
    assert!(log.lease("t", 10).is_empty(), "leased entries are not handed out twice");

    log.ack("t", &ids);
    let st = log.stats("t");
    assert_eq!((st.entries, st.bytes, st.leased, st.oldest_age), (0, 0, 0, None));
    assert!(log.topics().is_empty());
    assert!(log.lease("t", 10).is_empty());
    assert_eq!(log.stats("unknown"), Default::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_respects_max_and_age_order() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(append1(&log, "t", &format!("k{i}"), &format!("p{i}")).await);
    }
    let a: Vec<u64> = log.lease("t", 4).iter().map(|l| l.id).collect();
    let b: Vec<u64> = log.lease("t", 4).iter().map(|l| l.id).collect();
    let c: Vec<u64> = log.lease("t", 4).iter().map(|l| l.id).collect();
    assert_eq!(a, ids[0..4]);
    assert_eq!(b, ids[4..8]);
    assert_eq!(c, ids[8..10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_order() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let a1 = append1(&log, "t", "same", "first").await;
    let b = append1(&log, "t", "other", "b").await;
    let a2 = append1(&log, "t", "same", "second").await;
    let a3 = append1(&log, "t", "same", "third").await;

    let first: Vec<u64> = log.lease("t", 10).iter().map(|l| l.id).collect();
    assert_eq!(first, vec![a1, b], "only the oldest entry of a key is leasable");
    assert!(
        log.lease("t", 10).is_empty(),
        "nothing of a key while one of it is leased"
    );

    // A retry of the head keeps the rest of the key blocked.
    log.retry("t", a1, SystemTime::now());
    let again = log.lease("t", 10);
    assert_eq!(again.iter().map(|l| l.id).collect::<Vec<_>>(), vec![a1]);
    assert_eq!(again[0].attempts, 1);

    log.ack("t", &[a1, b]);
    let next = log.lease("t", 10);
    assert_eq!(
        next.iter().map(|l| (l.id, &l.payload[..])).collect::<Vec<_>>(),
        vec![(a2, &b"second"[..])]
    );
    assert!(log.lease("t", 10).is_empty());
    log.ack("t", &[a2]);
    assert_eq!(log.lease("t", 10).iter().map(|l| l.id).collect::<Vec<_>>(), vec![a3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_schedule_and_wait_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let id = append1(&log, "t", "k", "p").await;
    let l = log.lease("t", 1);
    assert_eq!(l[0].attempts, 0);

    let not_before = SystemTime::now() + Duration::from_millis(300);
    log.retry("t", id, not_before);
    let st = log.stats("t");
    assert_eq!((st.leased, st.retried_entries, st.total_retries), (0, 1, 1));
    let dump = log.dump("t", 10);
    assert_eq!(dump[0].attempts, 1);
    assert!(dump[0].next_attempt >= not_before);

    loop {
        let l = log.lease("t", 1);
        if let Some(l) = l.first() {
            assert!(SystemTime::now() >= not_before, "leased before not_before");
            assert_eq!((l.id, l.attempts), (id, 1));
            break;
        }
        // Sleeps until the retry is due (bounded so a bug cannot hang the test).
        log.wait_ready("t", Duration::from_secs(10)).await;
    }
    log.retry("t", id, SystemTime::now());
    assert_eq!(log.lease("t", 1)[0].attempts, 2);
    assert_eq!(log.stats("t").total_retries, 2);
}

/// A released lease is due again at once with its attempts untouched,
/// and nothing is written for it (a restart sees it as never tried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_lease_is_not_an_attempt() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let id = append1(&log, "t", "k", "p").await;
    assert_eq!(log.lease("t", 1)[0].attempts, 0);
    log.release("t", &[id]);
    let st = log.stats("t");
    assert_eq!((st.leased, st.retried_entries, st.total_retries), (0, 0, 0));
    let again = log.lease("t", 1);
    assert_eq!(
        (again[0].id, again[0].attempts),
        (id, 0),
        "leasable at once, no attempt counted"
    );
    log.release("t", &[id]);
    drop(log);
    let log = open(tmp.path());
    let after = log.lease("t", 1);
    assert_eq!(
        (after[0].id, after[0].attempts),
        (id, 0),
        "no retry record after a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ready_wakes_on_append() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let waiter = {
        let log = log.clone();
        tokio::spawn(async move {
            while log.stats("t").entries == 0 {
                log.wait_ready("t", Duration::from_secs(30)).await;
            }
        })
    };
    append1(&log, "t", "k", "p").await;
    tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_entries_forgets() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let a = append1(&log, "t", "k", "a").await;
    let b = append1(&log, "t", "k", "b").await;
    let c = append1(&log, "t", "k", "c").await;
    // Dropping a queued (never leased) entry in the middle of a key's chain.
    log.drop_entries("t", &[b]);
    assert_eq!(log.stats("t").entries, 2);
    let l = log.lease("t", 10);
    assert_eq!(l.iter().map(|l| l.id).collect::<Vec<_>>(), vec![a]);
    log.drop_entries("t", &[a]);
    assert_eq!(log.lease("t", 10).iter().map(|l| l.id).collect::<Vec<_>>(), vec![c]);
    log.drop_entries("t", &[c, c, 999]);
    assert_eq!(log.stats("t").entries, 0);

    drop(log);
    let log = open(tmp.path());
    assert_eq!(log.stats("t").entries, 0, "drops are persisted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_by_entries_and_bytes_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    log.set_limits(
        "e",
        Limits {
            max_entries: 2,
            max_bytes: 0,
        },
    );
    append1(&log, "e", "k1", "x").await;
    append1(&log, "e", "k2", "x").await;
    let err = log.append(vec![item("e", "k3", "x")]).await.unwrap_err();
    assert!(matches!(err, LogError::Full { ref topic } if topic == "e"), "{err}");
    assert_eq!(log.stats("e").entries, 2);

    // Several topics in one append: one full topic refuses the whole append.
    let err = log
        .append(vec![item("other", "k", "x"), item("e", "k", "x")])
        .await
        .unwrap_err();
    assert!(matches!(err, LogError::Full { .. }));
    assert_eq!(log.stats("other").entries, 0);

    // Bytes: room for one record of this size, not two.
    let one = {
        let before = log.stats("b").bytes;
        append1(&log, "probe", "k", &"y".repeat(100)).await;
        log.stats("probe").bytes - before
    };
    log.set_limits(
        "b",
        Limits {
            max_entries: 0,
            max_bytes: one * 3 / 2,
        },
    );
    append1(&log, "b", "k", &"y".repeat(100)).await;
    let err = log.append(vec![item("b", "k", &"y".repeat(100))]).await.unwrap_err();
    assert!(matches!(err, LogError::Full { .. }));
    assert_eq!(log.stats("b").entries, 1);

    // Acking makes room again.
    let ids: Vec<u64> = log.lease("e", 10).iter().map(|l| l.id).collect();
    log.ack("e", &ids);
    append1(&log, "e", "k3", "x").await;

    // Nothing refused reached the disk.
    drop(log);
    let log = open(tmp.path());
    assert_eq!(log.stats("e").entries, 1);
    assert_eq!(log.stats("b").entries, 1);
    assert_eq!(log.stats("other").entries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_restores_exactly_the_pending_entries() {
    let tmp = tempfile::tempdir().unwrap();
    // Small segments so recovery spans several files.
    let log = open_small(tmp.path(), 2048);
    let mut expected: HashMap<u64, (String, String)> = HashMap::new();
    for i in 0..300 {
        let key = format!("key-{}", i % 37);
        let payload = format!("payload {i} {}", "z".repeat(i % 50));
        let id = append1(&log, "topic/α", &key, &payload).await;
        expected.insert(id, (key, payload));
    }
    let before: HashMap<u64, SystemTime> = log
        .dump("topic/α", 1000)
        .into_iter()
        .map(|d| (d.id, d.enqueued))
        .collect();
    // Deliver a few rounds: ack some, fail some.
    let mut retried = HashMap::new();
    for round in 0..5 {
        for l in log.lease("topic/α", 50) {
            if (l.id + round) % 3 == 0 {
                log.retry("topic/α", l.id, SystemTime::now());
                *retried.entry(l.id).or_insert(0u32) += 1;
            } else {
                log.ack("topic/α", &[l.id]);
                expected.remove(&l.id);
                retried.remove(&l.id);
            }
        }
    }
    let leased_now: Vec<u64> = log.lease("topic/α", 10).iter().map(|l| l.id).collect();
    assert!(!leased_now.is_empty());
    let stats = log.stats("topic/α");

    // "Crash": no close, just drop the handle.
    drop(log);
    let log = open_small(tmp.path(), 2048);
    assert_eq!(log.topics(), vec!["topic/α".to_string()]);
    let dump = log.dump("topic/α", 10_000);
    let got: HashMap<u64, (String, String)> = dump
        .iter()
        .map(|d| (d.id, (d.key.clone(), String::from_utf8(d.payload.to_vec()).unwrap())))
        .collect();
    assert_eq!(got, expected);
    for d in &dump {
        assert_eq!(
            d.attempts,
            retried.get(&d.id).copied().unwrap_or(0),
            "attempts of {}",
            d.id
        );
        assert_eq!(d.enqueued, before[&d.id]);
    }
    let st = log.stats("topic/α");
    assert_eq!((st.entries, st.bytes), (stats.entries, stats.bytes));
    assert_eq!(
        (st.retried_entries, st.total_retries),
        (stats.retried_entries, stats.total_retries)
    );
    assert_eq!(st.leased, 0, "leases do not survive a restart");

    // Everything can be delivered after the restart, keys still in order.
    let mut seen_per_key: HashMap<String, u64> = HashMap::new();
    let mut delivered = 0;
    loop {
        let l = log.lease("topic/α", 7);
        if l.is_empty() {
            break;
        }
        for l in &l {
            let last = seen_per_key.insert(l.key.clone(), l.id);
            assert!(last.is_none_or(|p| p < l.id), "key order");
        }
        delivered += l.len();
        log.ack("topic/α", &l.iter().map(|l| l.id).collect::<Vec<_>>());
    }
    assert_eq!(delivered, expected.len());

    // Ids keep increasing across restarts, even once drained.
    let max_before = *expected.keys().max().unwrap();
    drop(log);
    let log = open_small(tmp.path(), 2048);
    let id = append1(&log, "topic/α", "k", "p").await;
    assert!(id > max_before, "{id} <= {max_before}: {:?}", segment_files(tmp.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_tail_is_ignored_and_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(append1(&log, "t", &format!("k{i}"), &format!("p{i}")).await);
    }
    log.ack("t", &ids[..5]);
    drop(log);
    // One clean restart trims the zero-filled space after the records, so the
    // file length is where the next write would have gone.
    drop(open(tmp.path()));

    let (name, len) = segment_files(tmp.path()).into_iter().max_by_key(|(_, l)| *l).unwrap();
    let dir = std::fs::read_dir(tmp.path()).unwrap().next().unwrap().unwrap().path();
    let path = dir.join(&name);
    let write_at = |bytes: &[u8]| {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(bytes, len).unwrap();
    };
    // A torn write: a header announcing more bytes than exist, then junk.
    write_at(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9, 9]);

    let log = open(tmp.path());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len, "torn tail truncated");
    let dump = log.dump("t", 100);
    assert_eq!(dump.iter().map(|d| d.id).collect::<Vec<_>>(), ids[5..]);
    assert_eq!(&dump[0].payload[..], b"p5");
    drop(log);

    // Garbage with a valid-looking length but a bad checksum, then more appends.
    let mut junk = vec![24, 0, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[7; 24]);
    write_at(&junk);
    let log = open(tmp.path());
    let extra = append1(&log, "t", "new", "new").await;
    drop(log);
    let log = open(tmp.path());
    let dump = log.dump("t", 100);
    assert_eq!(dump.len(), 16);
    assert_eq!(dump.last().unwrap().id, extra);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drained_topic_frees_its_space() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open_small(tmp.path(), 1024);
    for i in 0..200 {
        append1(&log, "t", &format!("k{i}"), &"p".repeat(60)).await;
    }
    let before = segment_files(tmp.path());
    assert!(before.len() > 5, "rolled into several segments: {before:?}");
    loop {
        let l = log.lease("t", 30);
        if l.is_empty() {
            break;
        }
        log.ack("t", &l.iter().map(|l| l.id).collect::<Vec<_>>());
    }
    let after = segment_files(tmp.path());
    assert!(after.iter().all(|(_, len)| *len == 0), "segment data left: {after:?}");
    assert!(
        after.iter().all(|(n, _)| n.ends_with(".log")),
        "side files left: {after:?}"
    );
    assert!(after.len() <= 1);

    // Still usable afterwards, and across a restart.
    let id = append1(&log, "t", "k", "again").await;
    drop(log);
    let log = open_small(tmp.path(), 1024);
    assert_eq!(log.dump("t", 10).iter().map(|d| d.id).collect::<Vec<_>>(), vec![id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_get_distinct_ids_and_all_recover() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open_small(tmp.path(), 16 * 1024);
    let mut tasks = Vec::new();
    for t in 0..64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..25 {
                // Half of the events also go to a second topic.
                let mut items = vec![item("a", &format!("k{t}"), &format!("{t}-{i}"))];
                if i % 2 == 0 {
                    items.push(item("b", &format!("k{i}"), &format!("{t}-{i}")));
                }
                let ids = log.append(items).await.unwrap();
                mine.push((ids[0], format!("{t}-{i}")));
            }
            mine
        }));
    }
    let mut all = HashMap::new();
    for t in tasks {
        for (id, payload) in t.await.unwrap() {
            assert!(all.insert(id, payload).is_none(), "duplicate id {id}");
        }
    }
    assert_eq!(all.len(), 64 * 25);
    drop(log);

    let log = open_small(tmp.path(), 16 * 1024);
    let dump = log.dump("a", 10_000);
    let got: HashMap<u64, String> = dump
        .into_iter()
        .map(|d| (d.id, String::from_utf8(d.payload.to_vec()).unwrap()))
        .collect();
    assert_eq!(got, all);
    assert_eq!(log.stats("b").entries, 64 * 13);
    // Per-key order survives: each appender's own key comes back in its order.
    let mut last: HashMap<String, u64> = HashMap::new();
    for d in log.dump("a", 10_000) {
        let seq: u64 = String::from_utf8(d.payload.to_vec())
            .unwrap()
            .split('-')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if let Some(prev) = last.insert(d.key.clone(), seq) {
            assert!(prev < seq);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_independent_and_removable() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let weird = "../../etc/passwd ü%2F\0x";
    let ids = log
        .append(vec![item("plain", "k", "1"), item(weird, "k", "2")])
        .await
        .unwrap();
    assert_eq!(ids.len(), 2);
    // Directory names stay inside the root and are plain.
    for d in std::fs::read_dir(tmp.path()).unwrap().flatten() {
        let n = d.file_name().into_string().unwrap();
        assert!(
            n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-%".contains(&b)),
            "{n}"
        );
    }
    let mut topics = log.topics();
    topics.sort();
    assert_eq!(topics, vec![weird.to_string(), "plain".to_string()]);

    // A backlog of one topic never hides another's entries.
    for i in 0..50 {
        append1(&log, "plain", "hot", &i.to_string()).await;
    }
    assert_eq!(&log.lease(weird, 10)[0].payload[..], b"2");

    log.remove_topic(weird);
    assert_eq!(log.topics(), vec!["plain".to_string()]);
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    assert_eq!(log.stats(weird), Default::default());
    drop(log);
    let log = open(tmp.path());
    assert_eq!(log.topics(), vec!["plain".to_string()]);
    assert_eq!(log.stats("plain").entries, 51);
    // A removed topic can be used again from scratch.
    append1(&log, weird, "k", "3").await;
    assert_eq!(log.stats(weird).entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_distinct_per_topic_set() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut seen = HashSet::new();
    for i in 0..10 {
        let ids = log
            .append(vec![item("x", "k", &i.to_string()), item("x", "k2", "y")])
            .await
            .unwrap();
        for id in ids {
            assert!(seen.insert(id));
        }
    }
    assert!(log.append(Vec::new()).await.unwrap().is_empty());
}

/// A batch consumer takes the whole topic as one ordered stream: entries of
/// one key are not held back behind each other, `after` continues where the
/// last call stopped, and un-acked leases come back after a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_in_order_takes_everything_in_id_order() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open_small(tmp.path(), 4096);
    let mut ids = Vec::new();
    for i in 0..300 {
        let key = if i % 3 == 0 { "same" } else { "other" };
        ids.push(append1(&log, "t", key, &format!("payload-{i:04}-{}", "x".repeat(40))).await);
    }
    assert!(segment_files(tmp.path()).len() > 1, "the test wants several segments");
    // The per-key lease would hand out one entry per key.
    let first = log.lease_in_order("t", 0, 100);
    assert_eq!(first.iter().map(|l| l.id).collect::<Vec<_>>(), ids[..100]);
    let rest = log.lease_in_order("t", first.last().unwrap().id, 1000);
    assert_eq!(rest.iter().map(|l| l.id).collect::<Vec<_>>(), ids[100..]);
    for (i, l) in first.iter().chain(&rest).enumerate() {
        assert!(l.payload.starts_with(format!("payload-{i:04}-").as_bytes()));
    }
    assert!(log.lease_in_order("t", 0, 10).is_empty(), "everything is leased");
    assert_eq!(log.stats("t").leased, 300);
    // Ack a prefix; the rest stays leased until the process ends.
    log.ack("t", &ids[..150]);
    let st = log.stats("t");
    assert_eq!((st.entries, st.leased), (150, 150));
    let next = append1(&log, "t", "same", "late").await;
    let late = log.lease_in_order("t", *ids.last().unwrap(), 10);
    assert_eq!(late.iter().map(|l| l.id).collect::<Vec<_>>(), vec![next]);
    drop((first, rest, late));
    drop(log);
    let log = open_small(tmp.path(), 4096);
    let again = log.lease_in_order("t", 0, 1000);
    let mut want: Vec<u64> = ids[150..].to_vec();
    want.push(next);
    assert_eq!(again.iter().map(|l| l.id).collect::<Vec<_>>(), want);
}

/// Staged entries (the store's group commit writes events this way) are
/// invisible until settled, gone when their transaction failed, and, when
/// the process died before the commit, dropped at the next start because
/// they lie above the committed mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_entries_follow_their_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut ok = log.stage(vec![item("t", "a", "committed")], false).unwrap();
    assert!(log.lease("t", 10).is_empty(), "visible before the commit");
    ok.sync().unwrap();
    let marks: HashMap<String, u64> = ok.high_water().into_iter().collect();
    ok.settle(true);
    let mut failed = log.stage(vec![item("t", "b", "rolled back")], false).unwrap();
    failed.sync().unwrap();
    failed.settle(false);
    let got = log.lease("t", 10);
    assert_eq!(got.len(), 1);
    assert_eq!(
        &got[..1].iter().map(|l| &l.payload[..]).collect::<Vec<_>>()[..],
        [&b"committed"[..]]
    );
    // Written and durable, then the process dies before its commit.
    let mut orphan = log
        .stage(vec![item("t", "c", "never committed"), item("u", "d", "x")], false)
        .unwrap();
    orphan.sync().unwrap();
    std::mem::forget(orphan);
    drop(log);

    let log = open(tmp.path());
    assert_eq!(log.stats("t").entries, 2, "on disk: the committed and the orphan");
    // `u` has no mark: nothing of it was committed.
    assert_eq!(log.discard_uncommitted(&marks, true), 2);
    let got = log.lease("t", 10);
    assert_eq!(
        got.iter().map(|l| &l.payload[..]).collect::<Vec<_>>(),
        [&b"committed"[..]]
    );
    assert_eq!(log.stats("u").entries, 0);
    drop(log);
    // The drop is durable: nothing comes back at the next start.
    let log = open(tmp.path());
    assert_eq!(log.stats("t").entries, 1);
    assert_eq!(log.stats("u").entries, 0);
    // A data dir from before marks were kept (not strict) keeps everything.
    assert_eq!(log.discard_uncommitted(&HashMap::new(), false), 0);
    assert_eq!(log.stats("t").entries, 1);
}

/// A removed topic discards events still on their way to it, until it is
/// revived; a revived (re-created) topic's ids stay above its
/// predecessor's, so no committed mark of the old one covers the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_topic_discards_late_events_and_revives_above_its_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut first = log
        .stage(vec![item("t", "a", "1"), item("t", "b", "2")], false)
        .unwrap();
    let old_top = first.high_water()[0].1;
    first.sync().unwrap();
    first.settle(true);
    log.remove_topic("t");
    let mut late = log.stage(vec![item("t", "c", "late")], false).unwrap();
    assert!(late.high_water().is_empty(), "nothing written for a removed topic");
    late.sync().unwrap();
    late.settle(true);
    assert_eq!(log.stats("t").entries, 0);
    log.revive("t");
    let mut again = log.stage(vec![item("t", "d", "new")], false).unwrap();
    let new_id = again.high_water()[0].1;
    assert!(new_id > old_top, "{new_id} must be above {old_top}");
    again.sync().unwrap();
    again.settle(true);
    assert_eq!(log.lease("t", 10).len(), 1);
    drop(log);
    // Across a restart the floor comes from the committed marks.
    let log = open(tmp.path());
    log.remove_topic("t");
    log.set_id_floors(&HashMap::from([("t".to_owned(), 1000)]));
    log.revive("t");
    let staged = log.stage(vec![item("t", "e", "x")], false).unwrap();
    assert_eq!(staged.high_water()[0].1, 1001);
    staged.settle(false);
    assert_eq!(log.stats("t").entries, 0, "a failed transaction leaves nothing");
}

/// A removed topic is not remembered for ever (a tenant deleting topics in
/// a loop must not grow the log's memory): once forgotten, its name is a
/// fresh log again, with ids from 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_topics_are_forgotten_after_a_while() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut s = log
        .stage(vec![item("gone", "a", "1"), item("gone", "b", "2")], false)
        .unwrap();
    s.sync().unwrap();
    s.settle(true);
    log.remove_topic("gone");
    log.forget_removed(Duration::from_secs(600));
    assert!(
        log.stage(vec![item("gone", "c", "late")], false)
            .unwrap()
            .high_water()
            .is_empty(),
        "a recent tombstone still discards"
    );
    log.forget_removed(Duration::ZERO);
    let s = log.stage(vec![item("gone", "d", "new")], false).unwrap();
    assert_eq!(s.high_water(), vec![("gone".to_owned(), 1)], "forgotten: a fresh log");
    s.settle(false);
}

/// Events made durable by the store's syncfs are written without zero fill
/// (syncfs journals the file's growth anyway; the zeros would double what
/// it flushes); events the log syncs itself are zero-filled ahead, so their
/// fdatasync overwrites instead of growing the file. Both read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_fill_only_where_the_log_syncs_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let covered = log.stage(vec![item("t", "a", "under syncfs")], true).unwrap();
    covered.settle(true);
    let written = segment_files(tmp.path());
    assert_eq!(written.len(), 1);
    let record_bytes = written[0].1;
    assert!(
        record_bytes < 4096,
        "no zero fill under syncfs: the segment holds one record, {record_bytes} bytes"
    );
    let mut own = log.stage(vec![item("t", "b", "own fdatasync")], false).unwrap();
    own.sync().unwrap();
    own.settle(true);
    let filled = segment_files(tmp.path())[0].1;
    assert!(
        filled >= 1 << 20,
        "zero-filled ahead when the log syncs itself: {filled} bytes"
    );
    let got = log.lease("t", 10);
    let payloads: Vec<&[u8]> = got.iter().map(|l| &l.payload[..]).collect();
    assert_eq!(payloads, [&b"under syncfs"[..], &b"own fdatasync"[..]]);
}

/// Bytes in the topic's ack (side) files.
fn ack_bytes(root: &Path) -> u64 {
    let mut total = 0;
    for d in std::fs::read_dir(root).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            if f.file_name().to_string_lossy().ends_with(".ack") {
                total += f.metadata().unwrap().len();
            }
        }
    }
    total
}

/// A busy topic's acks go to disk together, at its worker's next round
/// (lease, wait or retry), not one `write()` per event; a segment drained
/// by an ack has its acks written at once (it is retired next).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_are_written_together_at_the_next_round() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(append1(&log, "t", &format!("k{i}"), "p").await);
    }
    assert_eq!(log.lease("t", 10).len(), 4);
    log.ack("t", &ids[..1]);
    log.ack("t", &ids[1..2]);
    assert_eq!(ack_bytes(tmp.path()), 0, "put off until the next round");
    assert!(log.lease("t", 10).is_empty());
    let written = ack_bytes(tmp.path());
    assert!(written > 0, "the next lease wrote both acks");
    log.ack("t", &ids[2..3]);
    log.wait_ready("t", Duration::from_millis(1)).await;
    assert!(ack_bytes(tmp.path()) > written, "a wait writes them too");
    // An ack with no round after it is only in memory: a crash (the log
    // dropped without closing) delivers that event again, and no other.
    log.ack("t", &ids[3..4]);
    std::mem::forget(log);
    let log = open(tmp.path());
    let left: Vec<u64> = log.lease("t", 10).iter().map(|l| l.id).collect();
    assert_eq!(left, ids[3..4], "only the event acked since the last round comes back");
}

/// A segment drained by an ack is retired (here: kept for replay) with
/// its acks on disk, round or not: nothing of it is pending after a
/// crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_segment_has_its_acks_written_before_it_is_retired() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open_small(tmp.path(), 256);
    log.set_retention("t", Duration::from_secs(3600), 1 << 20);
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(append1(&log, "t", &format!("k{i}"), &"x".repeat(60)).await);
    }
    assert!(segment_files(tmp.path()).len() > 1, "several segments");
    let leased: Vec<u64> = log.lease("t", 10).iter().map(|l| l.id).collect();
    assert_eq!(leased, ids);
    log.ack("t", &ids);
    std::mem::forget(log);
    let log = open_small(tmp.path(), 256);
    assert!(log.lease("t", 10).is_empty(), "nothing acked comes back");
}
