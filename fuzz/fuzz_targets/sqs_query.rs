//! SQS query protocol: form parameters (body, then URL query after a 0xFF
//! byte) through the limits and the fold into the JSON request document.
#![no_main]

use herald_model::query::{Params, sqs_input};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (body, query) = common::split2(data, 0xFF);
    let query = String::from_utf8_lossy(query);
    if let Ok(params) = Params::parse(body, Some(&query)) {
        let action = params.get("Action").unwrap_or("SendMessageBatch").to_owned();
        let doc = sqs_input(&action, &params);
        assert!(doc.is_object());
        let _ = doc.to_string();
    }
});
