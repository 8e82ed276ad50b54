//! Measures the delivery log: append throughput with 16 concurrent appenders
//! (group commit), recovery time, drain throughput with `lease(100)` + `ack`,
//! and resident memory with a full backlog. Recovery and drain run in a fresh
//! child process (this binary re-executed), so its RSS is what a restarted
//! server would see.
//!
//! `cargo run -j2 --release -p herald-log --example logbench`
//! Env: `LOGBENCH_ENTRIES` (default 1000000), `LOGBENCH_PAYLOAD` (bytes,
//! default 512), `LOGBENCH_DIR` (parent of the temp dir, default `target`).

use std::time::Instant;

use bytes::Bytes;
use herald_log::{AppendItem, DeliveryLog, LogConfig};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for ent in std::fs::read_dir(dir).unwrap().flatten() {
        let md = ent.metadata().unwrap();
        total += if md.is_dir() { dir_bytes(&ent.path()) } else { md.len() };
    }
    total
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Ok(dir) = std::env::var("LOGBENCH_RECOVER") {
        return recover_and_drain(&dir).await;
    }
    let entries = env_u64("LOGBENCH_ENTRIES", 1_000_000);
    let payload_len = env_u64("LOGBENCH_PAYLOAD", 512) as usize;
    let parent = std::env::var("LOGBENCH_DIR").unwrap_or_else(|_| "target".into());
    std::fs::create_dir_all(&parent).unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("logbench-")
        .tempdir_in(&parent)
        .unwrap();
    let cfg = LogConfig::new(tmp.path());
    let payload = Bytes::from(vec![b'x'; payload_len]);
    println!("entries={entries} payload={payload_len}B dir={}", tmp.path().display());
    let rss_start = rss_mib();

    // 1. Append: 16 tasks, one event per append call, as S3 requests would.
    let log = DeliveryLog::open(cfg.clone()).unwrap();
    let appenders = 16u64;
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for a in 0..appenders {
        let log = log.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let n = entries / appenders + u64::from(a < entries % appenders);
            for i in 0..n {
                let item = AppendItem {
                    topic: "bench".into(),
                    key: format!("bucket/object-{a}-{i}"),
                    payload: payload.clone(),
                };
                log.append(vec![item]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "append: {entries} events, 16 appenders: {secs:.2}s = {:.0} events/s",
        entries as f64 / secs
    );
    let st = log.stats("bench");
    println!(
        "backlog: {} entries, {:.0} MiB records, {:.0} MiB on disk; RSS {:.0} MiB (start {:.0} MiB)",
        st.entries,
        st.bytes as f64 / 1048576.0,
        dir_bytes(tmp.path()) as f64 / 1048576.0,
        rss_mib(),
        rss_start
    );

    // 2. Recovery and drain in a fresh process, as after a restart.
    drop(log);
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .env("LOGBENCH_RECOVER", tmp.path())
        .status()
        .unwrap();
    assert!(status.success());
}

async fn recover_and_drain(dir: &str) {
    let cfg = LogConfig::new(dir);
    let rss_start = rss_mib();
    let t0 = Instant::now();
    let log = DeliveryLog::open(cfg).unwrap();
    let st = log.stats("bench");
    println!(
        "recovery (fresh process): {} entries in {:.2}s; RSS {:.0} MiB (start {:.0} MiB)",
        st.entries,
        t0.elapsed().as_secs_f64(),
        rss_mib(),
        rss_start
    );

    // 3. Drain: lease(100) + ack until empty.
    let t0 = Instant::now();
    let mut drained = 0u64;
    loop {
        let leases = log.lease("bench", 100);
        if leases.is_empty() {
            break;
        }
        let ids: Vec<u64> = leases.iter().map(|l| l.id).collect();
        drained += ids.len() as u64;
        log.ack("bench", &ids);
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "drain: {drained} entries with lease(100)+ack: {secs:.2}s = {:.0} entries/s",
        drained as f64 / secs
    );
    let st = log.stats("bench");
    println!(
        "after drain: {} entries left, {} bytes in the log dir; RSS {:.0} MiB",
        st.entries,
        dir_bytes(std::path::Path::new(dir)),
        rss_mib()
    );
}
