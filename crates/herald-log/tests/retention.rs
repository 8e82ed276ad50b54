//! Retention and replay against real files: drained segments kept for
//! replay, reclaimed when their time is up or their topic's byte budget is
//! spent, kept across restarts, and never replaying what did not commit.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use herald_log::{AppendItem, DeliveryLog, Limits, LogConfig, ReplayEntry};

fn item(topic: &str, key: &str, payload: &str) -> AppendItem {
    AppendItem {
        topic: topic.into(),
        key: key.into(),
        payload: Bytes::from(payload.to_string()),
    }
}

/// Small segments so a few events make several files.
fn open(dir: &Path) -> DeliveryLog {
    DeliveryLog::open(LogConfig {
        dir: dir.into(),
        segment_bytes: 256,
    })
    .unwrap()
}

fn segment_count(root: &Path) -> usize {
    let mut n = 0;
    for d in std::fs::read_dir(root).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            let name = f.file_name().into_string().unwrap();
            if name.starts_with("seg-") && name.ends_with(".log") && f.metadata().unwrap().len() > 0 {
                n += 1;
            }
        }
    }
    n
}

/// Appends `n` events one by one and delivers (acks) each, and whatever
/// else is pending.
async fn append_and_deliver(log: &DeliveryLog, topic: &str, from: usize, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    for i in from..from + n {
        let payload = format!("event-{i:04}-{}", "x".repeat(40));
        ids.push(
            log.append(vec![item(topic, &format!("k{}", i % 3), &payload)])
                .await
                .unwrap()[0],
        );
        while log.stats(topic).entries > 0 {
            let got = log.lease(topic, 100);
            assert!(!got.is_empty(), "nothing leasable with events pending");
            log.ack(topic, &got.iter().map(|l| l.id).collect::<Vec<_>>());
        }
    }
    ids
}

fn replay_all(log: &DeliveryLog, topic: &str, since: SystemTime, until: SystemTime) -> Vec<ReplayEntry> {
    let mut out = Vec::new();
    log.replay(topic, since, until)
        .run(&|| false, |e| {
            out.push(e);
            true
        })
        .unwrap();
    out
}

fn payloads(entries: &[ReplayEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.payload)[..10].to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_events_are_replayed_only_with_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let far = SystemTime::now() + Duration::from_secs(3600);
    let epoch = SystemTime::UNIX_EPOCH;

    // Without retention delivered events are gone.
    append_and_deliver(&log, "plain", 0, 20).await;
    assert!(replay_all(&log, "plain", epoch, far).is_empty());

    log.set_retention("kept", Duration::from_secs(3600), 0);
    let ids = append_and_deliver(&log, "kept", 0, 20).await;
    assert_eq!(log.stats("kept").entries, 0, "all delivered");
    let got = replay_all(&log, "kept", epoch, far);
    assert_eq!(
        got.iter().map(|e| e.id).collect::<Vec<_>>(),
        ids,
        "every event, in order, same ids"
    );
    assert_eq!(payloads(&got)[0], "event-0000");
    assert_eq!(got[4].key, "k1");
    // Counted once their segment is full (the newest one is replayable
    // already, counted when it rolls).
    let stats = log.stats("kept");
    assert!((15..20).contains(&stats.retained_entries), "{stats:?}");
    assert!(stats.oldest_retained_age.is_some());
    assert!(segment_count(tmp.path()) > 2, "small segments: several files kept");

    // A time range selects by enqueue time (in milliseconds: keep the
    // batches a few apart).
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mid = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    append_and_deliver(&log, "kept", 20, 5).await;
    let later = replay_all(&log, "kept", mid, far);
    assert_eq!(
        payloads(&later),
        ["event-0020", "event-0021", "event-0022", "event-0023", "event-0024"]
    );
    assert!(replay_all(&log, "kept", epoch, mid).iter().all(|e| e.enqueued <= mid));
    assert_eq!(replay_all(&log, "kept", epoch, mid).len(), 20);

    // A replay stops when asked to.
    let mut n = 0;
    let sent = log
        .replay("kept", epoch, far)
        .run(&|| false, |_| {
            n += 1;
            n < 3
        })
        .unwrap();
    assert_eq!((sent, n), (3, 3));
    // ... or when told to stop from outside, whatever the range.
    let asked = std::cell::Cell::new(0);
    let stop = || {
        asked.set(asked.get() + 1);
        asked.get() > 4
    };
    let sent = log.replay("kept", epoch, far).run(&stop, |_| true).unwrap();
    assert_eq!(
        (sent, asked.get()),
        (4, 5),
        "asked at every record, stopped at the fifth"
    );

    // Retention zero reclaims at once.
    log.set_retention("kept", Duration::ZERO, 0);
    let stats = log.stats("kept");
    assert_eq!((stats.retained_entries, stats.retained_bytes), (0, 0), "{stats:?}");
    assert!(
        replay_all(&log, "kept", epoch, far).len() <= 1,
        "at most the active segment's records"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_segments_expire_and_respect_the_byte_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    log.set_retention("t", Duration::from_millis(300), 0);
    append_and_deliver(&log, "t", 0, 20).await;
    assert!(log.stats("t").retained_entries > 0);
    // The sweep reclaims them within about a second after they expire.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.stats("t").retained_entries > 0 {
        assert!(std::time::Instant::now() < deadline, "never reclaimed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A byte cap on what it retains: the oldest go first (pending events
    // have their own limit).
    log.set_retention("capped", Duration::from_secs(3600), 600);
    log.set_limits(
        "capped",
        Limits {
            max_entries: 0,
            max_bytes: 10_000,
        },
    );
    append_and_deliver(&log, "capped", 0, 40).await;
    let stats = log.stats("capped");
    assert!(stats.retained_bytes <= 600, "{stats:?}");
    assert!(stats.retained_entries > 0, "{stats:?}");
    let got = replay_all(
        &log,
        "capped",
        SystemTime::UNIX_EPOCH,
        SystemTime::now() + Duration::from_secs(60),
    );
    assert_eq!(payloads(&got).last().unwrap(), "event-0039", "the newest are kept");
    assert!(payloads(&got)[0] != "event-0000", "the oldest went");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_retained_events_until_told_and_never_replays_uncommitted_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let far = SystemTime::now() + Duration::from_secs(3600);
    let epoch = SystemTime::UNIX_EPOCH;
    let log = open(tmp.path());
    log.set_retention("t", Duration::from_secs(3600), 0);
    log.set_retention("gone", Duration::from_secs(3600), 0);
    append_and_deliver(&log, "t", 0, 10).await;
    append_and_deliver(&log, "gone", 0, 10).await;
    // A transaction that did not commit, and one cut short by the crash.
    let mut rolled_back = log.stage(vec![item("t", "r", "rolled back")], false).unwrap();
    rolled_back.sync().unwrap();
    let marks: HashMap<String, u64> = rolled_back.high_water().into_iter().collect();
    rolled_back.settle(false);
    let mut ok = log.stage(vec![item("t", "c", "event-comm")], false).unwrap();
    ok.sync().unwrap();
    let marks2: HashMap<String, u64> = ok.high_water().into_iter().collect();
    ok.settle(true);
    let mut orphan = log.stage(vec![item("t", "o", "never committed")], false).unwrap();
    orphan.sync().unwrap();
    std::mem::forget(orphan);
    drop(log);
    assert!(marks["t"] < marks2["t"]);

    let log = open(tmp.path());
    let mut marks = marks2.clone();
    marks.insert("gone".into(), u64::MAX);
    assert_eq!(log.discard_uncommitted(&marks, true), 1, "the orphan");
    // Before anyone sets the retention, what was retained stays.
    let got = replay_all(&log, "t", epoch, far);
    let shown = payloads(&got);
    assert_eq!(got.len(), 11, "{shown:?}");
    assert_eq!(shown.last().unwrap(), "event-comm");
    assert!(
        got.iter()
            .all(|e| !e.payload.starts_with(b"rolled") && !e.payload.starts_with(b"never"))
    );
    assert_eq!(replay_all(&log, "gone", epoch, far).len(), 10);
    assert!(log.topics_on_disk().contains(&"gone".to_owned()));

    // The owner of `t` says; nobody claims `gone`: its events go.
    log.set_retention("t", Duration::from_secs(3600), 0);
    log.set_unset_retention(Duration::ZERO);
    assert!(replay_all(&log, "gone", epoch, far).is_empty());
    assert!(!log.topics_on_disk().contains(&"gone".to_owned()));
    assert_eq!(replay_all(&log, "t", epoch, far).len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_includes_pending_events_and_runs_beside_delivery() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    log.set_retention("t", Duration::from_secs(3600), 0);
    append_and_deliver(&log, "t", 0, 10).await;
    for i in 10..15 {
        log.append(vec![item("t", "p", &format!("event-{i:04}"))])
            .await
            .unwrap();
    }
    let snapshot = log.replay("t", SystemTime::UNIX_EPOCH, SystemTime::now() + Duration::from_secs(60));
    // Delivery goes on after the snapshot; the replay still reads everything.
    append_and_deliver(&log, "t", 15, 5).await;
    let mut got = Vec::new();
    snapshot
        .run(&|| false, |e| {
            got.push(e);
            true
        })
        .unwrap();
    let shown = payloads(&got);
    assert_eq!(shown.len(), 15, "{shown:?}");
    assert_eq!(shown[14], "event-0014");
}

/// A retaining topic's newest segment rolls by age and everything can
/// expire; the ids still keep increasing across a restart (an empty
/// segment named after the next id stays), so a committed mark of the
/// previous run never vouches for a new entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_keep_increasing_after_everything_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let log = DeliveryLog::open(LogConfig::new(tmp.path())).unwrap();
    log.set_retention("t", Duration::from_secs(2), 0);
    let ids = append_and_deliver(&log, "t", 0, 5).await;
    let last = *ids.last().unwrap();
    // Rolled after a second, expired two seconds after its newest event.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let got = replay_all(
            &log,
            "t",
            SystemTime::UNIX_EPOCH,
            SystemTime::now() + Duration::from_secs(60),
        );
        if got.is_empty() && log.stats("t").retained_entries == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {} replayable", got.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(log);
    let log = DeliveryLog::open(LogConfig::new(tmp.path())).unwrap();
    let next = log.append(vec![item("t", "k", "after")]).await.unwrap()[0];
    assert!(next > last, "id {next} after {last}");
}

/// A recovered topic whose files no longer carry its ids (all reclaimed)
/// continues above the floor the store's committed marks give.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floors_raise_a_recovered_topic_whose_files_are_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let log = DeliveryLog::open(LogConfig::new(tmp.path())).unwrap();
    let ids = append_and_deliver(&log, "t", 0, 5).await;
    drop(log);
    for d in std::fs::read_dir(tmp.path()).unwrap().flatten() {
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            if f.file_name().to_string_lossy().starts_with("seg-") {
                std::fs::remove_file(f.path()).unwrap();
            }
        }
    }
    let log = DeliveryLog::open(LogConfig::new(tmp.path())).unwrap();
    log.set_id_floors(&HashMap::from([("t".to_owned(), ids[4])]));
    let next = log.append(vec![item("t", "k", "after")]).await.unwrap()[0];
    assert_eq!(next, ids[4] + 1);
    drop(log);
    let log = DeliveryLog::open(LogConfig::new(tmp.path())).unwrap();
    assert_eq!(log.stats("t").entries, 1, "the new entry recovers");
}

/// A replay never reads a record whose transaction is still open, nor one
/// that rolled back; what committed is there once it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sees_only_settled_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    log.set_retention("t", Duration::from_secs(600), 0);
    let far = SystemTime::now() + Duration::from_secs(600);
    let mut open_tx = log.stage(vec![item("t", "a", "event-open")], false).unwrap();
    open_tx.sync().unwrap();
    assert!(
        replay_all(&log, "t", SystemTime::UNIX_EPOCH, far).is_empty(),
        "still open"
    );
    let mut rolled_back = log.stage(vec![item("t", "b", "event-back")], false).unwrap();
    rolled_back.sync().unwrap();
    rolled_back.settle(false);
    assert!(
        replay_all(&log, "t", SystemTime::UNIX_EPOCH, far).is_empty(),
        "before the open one"
    );
    open_tx.settle(true);
    let got = replay_all(&log, "t", SystemTime::UNIX_EPOCH, far);
    assert_eq!(payloads(&got), ["event-open"]);
    append_and_deliver(&log, "t", 0, 3).await;
    let got = replay_all(&log, "t", SystemTime::UNIX_EPOCH, far);
    assert_eq!(payloads(&got), ["event-open", "event-0000", "event-0001", "event-0002"]);
}

/// A retaining topic whose endpoint is down does not roll its segment by
/// age: one open file, not one per second (the events are pending, so
/// nothing would be reclaimed anyway).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_segments_do_not_roll_by_age() {
    let tmp = tempfile::tempdir().unwrap();
    let log = DeliveryLog::open(LogConfig::new(tmp.path())).unwrap();
    log.set_retention("t", Duration::from_secs(1), 0);
    for i in 0..4 {
        log.append(vec![item("t", "k", &format!("pending-{i}"))]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(
        segment_count(tmp.path()),
        1,
        "still one segment with everything pending"
    );
    // Drained, it rolls (and its events are replayable until they expire).
    while log.stats("t").entries > 0 {
        let got = log.lease("t", 100);
        log.ack("t", &got.iter().map(|l| l.id).collect::<Vec<_>>());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.stats("t").retained_entries == 0 {
        assert!(std::time::Instant::now() < deadline, "never rolled once drained");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
