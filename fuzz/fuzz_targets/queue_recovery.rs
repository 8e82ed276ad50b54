//! herald-queue recovery from arbitrary bytes: the input (split at the
//! first 0xFF) becomes a queue's segment file and its `.side` file next
//! to a valid `meta.json`, then the engine is opened and the queue read.
//! The first byte chooses a standard or a FIFO queue.
#![no_main]

use herald_queue::{QueueConfig, QueueEngine};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let fifo = kind & 1 == 1;
    let (segment, side) = common::split2(rest, 0xFF);
    let dir = tempfile::tempdir().expect("temp dir");
    let qdir = dir.path().join("queues").join(format!("{:016x}", 1));
    std::fs::create_dir_all(&qdir).unwrap();
    let name = if fifo { "q.fifo" } else { "q" };
    let meta = serde_json::json!({
        "id": 1, "owner": "o", "name": name, "fifo": fifo,
        "created_ms": 1, "modified_ms": 1, "attributes": {}, "tags": {},
    });
    std::fs::write(qdir.join("meta.json"), meta.to_string()).unwrap();
    std::fs::write(qdir.join(format!("seg-{:020}.log", 1)), segment).unwrap();
    if !side.is_empty() {
        std::fs::write(qdir.join(format!("seg-{:020}.side", 1)), side).unwrap();
    }
    let cfg = QueueConfig {
        dir: dir.path().to_path_buf(),
        region: "us-east-1".into(),
    };
    if let Ok(engine) = QueueEngine::open(cfg) {
        let _ = engine.stats("o", name);
        let _ = engine.get_attributes("o", name, &["All".to_owned()]);
    }
});
