//! Bucket notification configuration XML (PutBucketNotificationConfiguration
//! bodies). What parses must render and parse back to the same thing, and
//! survive the JSON form it is stored in.
#![no_main]

use herald_model::notification::{
    deserialize_json, parse_notification_configuration, render_notification_configuration, serialize_json,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cfg) = parse_notification_configuration(data) else {
        return;
    };
    let xml = render_notification_configuration(&cfg);
    let again = parse_notification_configuration(xml.as_bytes()).expect("a rendered configuration parses");
    assert_eq!(again, cfg, "render/parse round trip");
    let stored = deserialize_json(&serialize_json(&cfg)).expect("the stored form parses");
    assert_eq!(stored, cfg, "JSON round trip");
});
