//! Topic attributes: lines of `index key value` (raw bytes, space
//! separated) turned into `Attributes.entry.N.key/value` parameters, so the
//! fuzzer works on the entries rather than on URL encoding.
#![no_main]

use herald_model::query::{MAX_TOPIC_ATTRIBUTES, Params, sns_attributes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut ser = form_body();
    for line in data.split(|&b| b == b'\n') {
        let mut parts = line.splitn(3, |&b| b == b' ');
        let (Some(n), Some(k)) = (parts.next(), parts.next()) else {
            continue;
        };
        let n = String::from_utf8_lossy(n);
        ser.append_pair(&format!("Attributes.entry.{n}.key"), &String::from_utf8_lossy(k));
        if let Some(v) = parts.next() {
            ser.append_pair(&format!("Attributes.entry.{n}.value"), &String::from_utf8_lossy(v));
        }
    }
    let body = ser.finish();
    if let Ok(params) = Params::parse(body.as_bytes(), None)
        && let Ok(attrs) = sns_attributes(params.as_slice())
    {
        assert!(attrs.len() <= MAX_TOPIC_ATTRIBUTES);
    }
});

fn form_body() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::from("Action=CreateTopic&Name=t"))
}
