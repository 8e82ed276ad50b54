//! Throughput and memory benchmark of the queue engine.
//!
//! `cargo run --release -p herald-queue --example queuebench -- [messages] [workers] [body bytes]`
//!
//! 1. Throughput: `workers` tasks each loop send(batch of 10) → receive(10)
//!    → delete(batch) on one standard queue until `messages` were sent and
//!    all were deleted; reports messages/s through the full cycle.
//! 2. Memory: enqueues 1,000,000 messages (not received) and reports the
//!    process RSS before and after, i.e. the index cost per queued message.
//!
//! Files go to a temporary directory on the real disk (fsyncs included).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use herald_queue::{QueueConfig, QueueEngine, ReceiveRequest, SendRequest};

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn status_mb(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn batch(body: &str, n: usize) -> Vec<SendRequest> {
    (0..n)
        .map(|_| SendRequest {
            body: body.to_string(),
            ..Default::default()
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `queuebench reopen DIR`: recovery alone, in a fresh process, so its
    // time and peak memory are its own (DIR from an earlier run's `keep`).
    if args.get(1).map(String::as_str) == Some("reopen") {
        let dir = std::path::PathBuf::from(args.get(2).expect("queuebench reopen DIR"));
        let start = Instant::now();
        let engine = QueueEngine::open(QueueConfig {
            dir,
            region: "us-east-1".into(),
        })
        .unwrap();
        let s = engine.stats("bench", "deep").unwrap();
        println!(
            "reopen: {} messages recovered in {:.2} s; peak RSS {:.1} MB",
            s.visible,
            start.elapsed().as_secs_f64(),
            peak_rss_mb()
        );
        return;
    }
    let total: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300_000);
    let workers: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let body_len: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(100);
    let body = "x".repeat(body_len);
    let base = std::env::current_dir().unwrap().join("target");
    std::fs::create_dir_all(&base).unwrap();
    let dir = tempfile::tempdir_in(&base).unwrap();
    // `QUEUEBENCH_KEEP=1`: leave the data dir for `queuebench reopen`.
    let keep = std::env::var_os("QUEUEBENCH_KEEP").is_some();
    let open = || {
        QueueEngine::open(QueueConfig {
            dir: dir.path().to_path_buf(),
            region: "us-east-1".into(),
        })
        .unwrap()
    };
    let engine = open();
    round_trip(&engine, total, workers, &body).await;
    // Let the sweep roll the drained active segment.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    println!(
        "disk after draining (+1.5 s sweep): {:.1} MB",
        dir_bytes(dir.path()) as f64 / (1024.0 * 1024.0)
    );
    deep_queue(&engine, workers, &body).await;
    // Recovery time (and memory) of 1M messages.
    drop(engine);
    let before = rss_mb();
    let start = Instant::now();
    let engine = open();
    let s = engine.stats("bench", "deep").unwrap();
    println!(
        "reopen: {} messages recovered in {:.2} s; RSS {before:.1} MB before, {:.1} MB after",
        s.visible,
        start.elapsed().as_secs_f64(),
        rss_mb()
    );
    if keep {
        println!("kept: {}", dir.keep().display());
    }
}

/// 1. `total` messages sent, received and deleted by `workers` tasks.
async fn round_trip(engine: &QueueEngine, total: u64, workers: usize, body: &str) {
    engine
        .create_queue("bench", "q", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let deleted = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (e, sent, deleted, body) = (engine.clone(), sent.clone(), deleted.clone(), body.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                if sent.fetch_add(10, Ordering::Relaxed) < total {
                    for r in e.send("bench", "q", batch(&body, 10)).await.unwrap() {
                        r.unwrap();
                    }
                } else if deleted.load(Ordering::Relaxed) >= total {
                    break;
                }
                let request = ReceiveRequest {
                    max_messages: 10,
                    visibility_timeout: Some(60),
                    wait_time: Some(0),
                };
                let msgs = e.receive("bench", "q", request).await.unwrap();
                if msgs.is_empty() {
                    tokio::task::yield_now().await;
                    continue;
                }
                let handles: Vec<String> = msgs.into_iter().map(|m| m.receipt_handle).collect();
                for r in e.delete("bench", "q", &handles).await.unwrap() {
                    r.unwrap();
                }
                deleted.fetch_add(handles.len() as u64, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let done = deleted.load(Ordering::Relaxed);
    println!(
        "send+receive+delete: {done} messages ({}-byte bodies, batches of 10, {workers} workers) in {secs:.2} s = {:.0} messages/s",
        body.len(),
        done as f64 / secs
    );
    let s = engine.stats("bench", "q").unwrap();
    assert_eq!((s.visible, s.in_flight), (0, 0));
}

/// 2. RSS with 1M queued messages.
async fn deep_queue(engine: &QueueEngine, workers: usize, body: &str) {
    engine
        .create_queue("bench", "deep", BTreeMap::new(), BTreeMap::new())
        .await
        .unwrap();
    let before = rss_mb();
    let start = Instant::now();
    let n = 1_000_000u64;
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (e, next, body) = (engine.clone(), next.clone(), body.to_owned());
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(10, Ordering::Relaxed) < n {
                for r in e.send("bench", "deep", batch(&body, 10)).await.unwrap() {
                    r.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let s = engine.stats("bench", "deep").unwrap();
    let after = rss_mb();
    println!(
        "send only: {} messages in {secs:.2} s = {:.0} messages/s",
        s.visible,
        s.visible as f64 / secs
    );
    println!(
        "RSS: {before:.1} MB before, {after:.1} MB with {} queued messages ({:.0} bytes/message)",
        s.visible,
        (after - before) * 1024.0 * 1024.0 / s.visible as f64
    );
}
