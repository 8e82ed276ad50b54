//! The worker over a real store, delivery log and notifier: passes that
//! resume where they stopped, and removals that never touch a version
//! written after the decision.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_lifecycle::LifecycleWorker;
use herald_log::{DeliveryLog, LogConfig};
use herald_model::lifecycle::{Expiration, LifecycleClock, LifecycleConfiguration, LifecycleFilter, LifecycleRule};
use herald_notify::{Notifier, NotifierSettings};
use herald_store::{DeleteConditions, LifecycleRun, PutOptions, Store, StoreError, now_ms};

/// A lifecycle day of 200 ms.
const CLOCK: LifecycleClock = LifecycleClock { day_ms: 200 };

/// A store and its notifier (AWS mode) in `dir`.
fn open(dir: &std::path::Path) -> (Store, Arc<Notifier>) {
    let store = Store::open(&dir.join("data")).unwrap();
    let log = DeliveryLog::open(LogConfig::new(dir.join("data/log"))).unwrap();
    let notifier = Notifier::start(
        store.clone(),
        log,
        None,
        NotifierSettings::aws("us-east-1"),
        Arc::default(),
    )
    .unwrap();
    (store, notifier)
}

fn start(dir: &std::path::Path) -> (Store, Arc<LifecycleWorker>) {
    let (store, notifier) = open(dir);
    let worker = LifecycleWorker::new(store.clone(), notifier, CLOCK);
    (store, worker)
}

async fn put(store: &Store, bucket: &str, key: &str) -> u64 {
    let body = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from_static(b"lifecycle"))]);
    let opts = PutOptions {
        writer: "root".into(),
        ..Default::default()
    };
    store.put_object(bucket, key, body, opts).await.unwrap().version.seq
}

fn expire_after_one_day() -> LifecycleConfiguration {
    LifecycleConfiguration {
        rules: vec![LifecycleRule {
            id: "all".into(),
            enabled: true,
            filter: LifecycleFilter::default(),
            expiration: Some(Expiration::Days(1)),
            noncurrent_expiration: None,
            abort_incomplete_upload_days: None,
        }],
    }
}

fn keys(store: &Store, bucket: &str) -> Vec<String> {
    store
        .object_versions_page(bucket, None, 1000, 100_000)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_cut_short_resumes_after_its_last_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, worker) = start(tmp.path());
    let bucket = store.create_bucket("root", "resume").await.unwrap();
    for i in 0..30 {
        put(&store, "resume", &format!("k{i:02}")).await;
    }
    store
        .set_lifecycle(&bucket, Some(expire_after_one_day()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // As a server killed in the middle of a pass leaves it: started, not
    // finished, through k14.
    let run = LifecycleRun {
        started_ms: now_ms(),
        finished_ms: 0,
        after_key: Some("k14".into()),
    };
    store.save_lifecycle_run(&bucket, run).await.unwrap();

    let report = worker.process(Some("resume")).await.unwrap();
    assert_eq!(report.current, 15, "{report:?}");
    let left = keys(&store, "resume");
    assert_eq!(left, (0..15).map(|i| format!("k{i:02}")).collect::<Vec<_>>());
    let lb = store.lifecycle_buckets().unwrap().remove(0);
    assert!(!lb.run.in_progress(), "{:?}", lb.run);
    assert_eq!(lb.run.after_key, None);

    // The next pass starts from the first key.
    let report = worker.process(None).await.unwrap();
    assert_eq!(report.current, 15, "{report:?}");
    assert!(keys(&store, "resume").is_empty());
    // A bucket without rules is named in the error.
    let err = worker.process(Some("nope")).await.unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_is_conditional_on_the_version_decided_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _worker) = start(tmp.path());
    store.create_bucket("root", "cond").await.unwrap();
    let old = put(&store, "cond", "k").await;
    // Overwritten after the decision: the old sequence number no longer
    // names the current version, so nothing is removed.
    let new = put(&store, "cond", "k").await;
    assert_ne!(old, new);
    let stale = DeleteConditions {
        seq: Some(old),
        ..Default::default()
    };
    let err = store
        .delete_object("cond", "k", None, "lc", &stale, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed), "{err:?}");
    assert_eq!(keys(&store, "cond"), ["k"]);
    let current = DeleteConditions {
        seq: Some(new),
        ..Default::default()
    };
    let out = store
        .delete_object("cond", "k", None, "lc", &current, None)
        .await
        .unwrap();
    assert!(out.changed);
    assert!(keys(&store, "cond").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_of_a_deleted_bucket_never_apply_to_a_new_one_of_that_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, worker) = start(tmp.path());
    let first = store.create_bucket("root", "reborn").await.unwrap();
    store.set_lifecycle(&first, Some(expire_after_one_day())).await.unwrap();
    store.delete_bucket("reborn").await.unwrap();
    let second = store.create_bucket("root", "reborn").await.unwrap();
    assert_eq!(store.get_lifecycle(&second).unwrap(), None);
    // Setting rules through the old record is refused.
    let err = store
        .set_lifecycle(&first, Some(expire_after_one_day()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchBucket), "{err:?}");
    put(&store, "reborn", "k").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = worker.run_due().await.unwrap();
    assert_eq!(report.buckets, 0, "{report:?}");
    assert_eq!(keys(&store, "reborn"), ["k"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_bucket_takes_turns_with_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, notifier) = open(tmp.path());
    // Pages of 5 keys, 2 pages a turn: 10 keys per bucket per turn.
    let pacing = herald_lifecycle::Pacing {
        page_keys: 5,
        page_versions: 1000,
        pages_per_turn: 2,
    };
    let worker = LifecycleWorker::with_pacing(store.clone(), notifier.clone(), CLOCK, pacing);
    for name in ["big", "small"] {
        let bucket = store.create_bucket("root", name).await.unwrap();
        let n = if name == "big" { 25 } else { 4 };
        for i in 0..n {
            put(&store, name, &format!("k{i:02}")).await;
        }
        store
            .set_lifecycle(&bucket, Some(expire_after_one_day()))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // First turn: 10 of big's 25, all 4 of small's.
    let report = worker.run_due().await.unwrap();
    assert_eq!((report.current, report.unfinished), (14, 1), "{report:?}");
    assert_eq!(keys(&store, "big").len(), 15);
    assert!(keys(&store, "small").is_empty());
    // Big continues where it stopped; small is not due again for a day.
    let report = worker.run_due().await.unwrap();
    assert_eq!(
        (report.buckets, report.current, report.unfinished),
        (1, 10, 1),
        "{report:?}"
    );
    let report = worker.run_due().await.unwrap();
    assert_eq!((report.current, report.unfinished), (5, 0), "{report:?}");
    assert!(keys(&store, "big").is_empty());
    let m = &notifier.metrics.lifecycle;
    assert_eq!(m.expire_current.load(std::sync::atomic::Ordering::Relaxed), 29);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_never_reaches_a_bucket_created_again_under_the_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _worker) = start(tmp.path());
    let old = store.create_bucket("root", "again").await.unwrap();
    put(&store, "again", "k").await;
    let plain = DeleteConditions::default();
    store
        .delete_object("again", "k", None, "root", &plain, None)
        .await
        .unwrap();
    store.delete_bucket("again").await.unwrap();
    // Another owner's bucket now; its object happens to have the key.
    let new = store.create_bucket("bob", "again").await.unwrap();
    assert_ne!(old.id, new.id);
    put(&store, "again", "k").await;
    let decided_for_old = DeleteConditions {
        bucket_id: Some(old.id.clone()),
        ..Default::default()
    };
    let err = store
        .delete_object("again", "k", None, "lc", &decided_for_old, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchBucket), "{err:?}");
    assert_eq!(keys(&store, "again"), ["k"]);
    // A marker is removed only while it is the key's only version.
    let versioned = store.create_bucket("root", "markers").await.unwrap();
    store
        .set_versioning("markers", herald_model::VersioningState::Enabled)
        .await
        .unwrap();
    put(&store, "markers", "m").await;
    let marker = store
        .delete_object("markers", "m", None, "root", &plain, None)
        .await
        .unwrap();
    let alone = DeleteConditions {
        bucket_id: Some(versioned.id.clone()),
        only_version: true,
        ..Default::default()
    };
    let err = store
        .delete_object("markers", "m", marker.version_id.as_deref(), "lc", &alone, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::PreconditionFailed), "{err:?}");
}
