//! SQS JSON protocol: the request document through the shape limits and
//! serde_json, as `sqs/json.rs` reads it.
#![no_main]

use herald_model::json_shape::{SQS_REQUEST_LIMITS, parse_limited};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = parse_limited(data, SQS_REQUEST_LIMITS) {
        // What the operations do with the document: read members, and
        // serialise answers built from it.
        let _ = v.get("Entries").and_then(|e| e.as_array()).map(Vec::len);
        let _ = v.to_string();
    }
});
