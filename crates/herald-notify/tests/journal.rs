//! The notifier over a real store and delivery log: what start-up does to
//! events already in the log.

use std::sync::Arc;

use bytes::Bytes;
use herald_log::{AppendItem, DeliveryLog, LogConfig};
use herald_notify::{Notifier, NotifierSettings};
use herald_store::{EventEntry, Store, TopicRecord};

/// Opens the store and log of `dir`, waiting (up to 10 s) for the previous
/// round's background tasks and committer thread to let go of the store.
async fn open(dir: &std::path::Path) -> (Store, DeliveryLog) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let store = loop {
        match Store::open(&dir.join("data")) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("store still open after 10 s: {e}"),
        }
    };
    let log = DeliveryLog::open(LogConfig::new(dir.join("data/log"))).unwrap();
    (store, log)
}

fn start(store: Store, log: DeliveryLog) -> Arc<Notifier> {
    Notifier::start(store, log, None, NotifierSettings::aws("us-east-1"), Arc::default()).unwrap()
}

/// A data dir left by a version before the journal holds committed events
/// in its logs and no marks. They are kept at the first start, and at every
/// later one even when nothing new was written in between (the first start
/// gives each log its mark), and so is an event written through the
/// journal afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_from_before_the_journal_survives_every_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let topic = "arn:aws:sns:us-east-1:root:old";
    {
        let (store, log) = open(tmp.path()).await;
        // A persistent topic without an endpoint: its events wait.
        store
            .put_topic(
                TopicRecord {
                    owner: "root".into(),
                    name: "old".into(),
                    arn: topic.into(),
                    attributes: [("persistent".to_owned(), "true".to_owned())].into(),
                    endpoint_args: "persistent=true".into(),
                    created_ms: 0,
                    updated_ms: 0,
                    subscription: "none".into(),
                },
                herald_store::TopicExpectation::Any,
            )
            .await
            .unwrap();
        // As the earlier version's mover appended them.
        let items = (0..3)
            .map(|i| AppendItem {
                topic: topic.into(),
                key: format!("b/k{i}"),
                payload: Bytes::from(format!("{{\"n\":{i}}}")),
            })
            .collect();
        log.append(items).await.unwrap();
    }
    // Restarts with nothing new written: the old events have no mark of
    // their own but the one the first start gave them.
    for round in 0..3 {
        let (store, log) = open(tmp.path()).await;
        let n = start(store, log.clone());
        assert_eq!(
            log.stats(topic).entries,
            3,
            "start {round}: the earlier version's events are kept"
        );
        drop(n);
    }
    // An event through the journal, then one more restart: all kept.
    let (store, log) = open(tmp.path()).await;
    let n = start(store.clone(), log.clone());
    store
        .write_events(vec![EventEntry {
            log: topic.into(),
            key: "b/new".into(),
            payload: b"{}".to_vec(),
        }])
        .await
        .unwrap();
    assert_eq!(log.stats(topic).entries, 4);
    drop((n, store, log));
    let (store, log) = open(tmp.path()).await;
    let _n = start(store, log.clone());
    assert_eq!(log.stats(topic).entries, 4, "after the last restart");
}
