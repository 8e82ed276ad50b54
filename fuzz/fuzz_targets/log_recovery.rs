//! herald-log recovery from arbitrary bytes: the input (split at the first
//! 0xFF) becomes a topic's segment file and its `.ack` side file, then the
//! log is opened and the recovered topic read. A torn or hostile segment
//! must be truncated or refused, never panic or loop.
#![no_main]

use herald_log::{DeliveryLog, LogConfig};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (segment, side) = common::split2(data, 0xFF);
    let dir = tempfile::tempdir().expect("temp dir");
    let topic = dir.path().join("t");
    std::fs::create_dir(&topic).unwrap();
    std::fs::write(topic.join("topic"), "t").unwrap();
    std::fs::write(topic.join(format!("seg-{:020}.log", 1)), segment).unwrap();
    if !side.is_empty() {
        std::fs::write(topic.join(format!("seg-{:020}.ack", 1)), side).unwrap();
    }
    let mut cfg = LogConfig::new(dir.path());
    cfg.segment_bytes = 1 << 16;
    if let Ok(log) = DeliveryLog::open(cfg) {
        let _ = log.stats("t");
        let _ = log.dump("t", 64);
        let _ = log.lease("t", 64);
    }
});
