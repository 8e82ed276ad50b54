//! SNS topic API: the form body through the parameter limits, then the
//! topic attribute entries, as `sns/mod.rs` and `sns/topics.rs` read them.
#![no_main]

use herald_model::query::{Params, sns_attributes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = Params::parse(data, None) {
        let _ = params.get("Action");
        let _ = params.get("Name");
        if let Ok(attrs) = sns_attributes(params.as_slice()) {
            assert!(attrs.len() <= herald_model::query::MAX_TOPIC_ATTRIBUTES);
        }
    }
});
