//! The agent's log: one line per event on stderr, as text or JSON.
//!
//! Written by hand instead of through `tracing` because the sync line has a
//! fixed, documented shape (operators grep it to find the principal to
//! skip) and the JSON form must carry the same fields as top-level keys.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::event::Change;

static JSON: AtomicBool = AtomicBool::new(false);

pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn stamp(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn emit(level: &str, msg: &str, fields: Map<String, Value>) {
    let line = if JSON.load(Ordering::Relaxed) {
        let mut obj = Map::new();
        obj.insert("time".into(), json!(now().unix_timestamp_nanos() as f64 / 1e9));
        obj.insert("level".into(), json!(level));
        obj.insert("msg".into(), json!(msg));
        obj.extend(fields);
        Value::Object(obj).to_string()
    } else {
        let mut s = format!("{} {level:<5} {msg}", stamp(now()));
        for (k, v) in fields {
            match v {
                Value::String(v) => s.push_str(&format!(" {k}={v:?}")),
                v => s.push_str(&format!(" {k}={v}")),
            }
        }
        one_line(s)
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// Escapes control characters (`\n`, `\u{1b}`, ...): keys, bucket names
/// and topic ARNs come from senders, and a newline in one must not start a
/// forged log line.
fn one_line(s: String) -> String {
    if !s.chars().any(char::is_control) {
        return s;
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A sender's text as one bounded, quoted and escaped log value: no line
/// break or terminal escape of it reaches the log, and at most `max`
/// characters of it.
pub fn quoted(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    let shown = format!("{cut:?}");
    if cut.len() < s.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

pub fn info(msg: &str, fields: Map<String, Value>) {
    emit("INFO", msg, fields);
}

pub fn warn(msg: &str, fields: Map<String, Value>) {
    emit("WARN", msg, fields);
}

pub fn error(msg: &str, fields: Map<String, Value>) {
    emit("ERROR", msg, fields);
}

/// `fields!{"a" => x, "b" => y}` builds the extra fields of a log line.
#[macro_export]
macro_rules! fields {
    () => { serde_json::Map::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut m = serde_json::Map::new();
        $( m.insert($k.to_string(), serde_json::json!($v)); )+
        m
    }};
}

/// The sync line of the Jibe agent:
/// `Sync: s3:ObjectCreated:Put->create '/<provider>/<bucket>/<key>' ('<source>' event 14 seconds ago at 2022-02-21 18:16:40) {'principal_id': '...'}`.
pub fn sync(provider: &str, source: &str, c: &Change, outcome: &str) {
    let t = now();
    let age = c.event_time.map(|e| (t - e).whole_seconds().max(0));
    let when = match (age, c.event_time) {
        (Some(a), Some(e)) => format!("event {a} seconds ago at {}", stamp(e)),
        _ => "event of unknown time".into(),
    };
    let principal = c.principal.as_deref().unwrap_or("");
    if JSON.load(Ordering::Relaxed) {
        info(
            "sync",
            crate::fields! {
                "event" => c.event_name,
                "op" => c.op.verb(),
                "source" => source,
                "provider" => provider,
                "bucket" => c.bucket,
                "key" => c.key,
                "size" => c.size,
                "etag" => c.etag,
                "sequencer" => c.sequencer,
                "event_id" => c.event_id,
                "event_age_seconds" => age,
                "event_time" => c.event_time.map(stamp),
                "principal_id" => principal,
                "outcome" => outcome,
            },
        );
    } else {
        let suffix = if outcome == "ok" {
            String::new()
        } else {
            format!(" [{outcome}]")
        };
        info(
            &format!(
                "Sync: {}->{} '/{provider}/{}/{}' ('{source}' {when}) {{'principal_id': '{principal}'}}{suffix}",
                c.event_name,
                c.op.verb(),
                c.bucket,
                c.key
            ),
            Map::new(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lines_stay_one_line() {
        assert_eq!(one_line("a b".into()), "a b");
        assert_eq!(one_line("k\nINFO forged\u{1b}[2J".into()), "k\\nINFO forged\\u{1b}[2J");
        assert_eq!(quoted("x\ny", 256), "\"x\\ny\"");
        assert_eq!(quoted("abcdef", 3), "\"abc\"…");
    }
}
