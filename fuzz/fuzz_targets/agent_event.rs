//! `herald agent`'s event parser (SQS bodies, webhook POSTs, spool
//! entries: AWS and Ceph records, test events, SNS envelopes).
//!
//! The parser's file is compiled in by path rather than depending on
//! `herald-agent`, which would build the AWS SDK, SQLite and the HTTP
//! stack into every fuzz build; the file uses only serde_json, md-5 and
//! time, so it compiles alone.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/herald-agent/src/event.rs"]
mod event;

fuzz_target!(|data: &[u8]| {
    if let Ok(event::Message::Changes(changes)) = event::parse(data) {
        for c in &changes {
            let _ = c.sequencer_key();
        }
    }
});
