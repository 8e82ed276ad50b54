//! The index's retention and recovery, with explicit clocks.

use super::*;
use crate::message::Msg;

fn settings(retention_s: u32) -> Settings {
    let mut a = crate::attrs::defaults(false);
    a.insert("MessageRetentionPeriod".into(), retention_s.to_string());
    Settings::from_attributes(&a)
}

/// Appends and fsyncs a message the way the writer does.
fn put(st: &mut State, body: &str, sent_ms: u64) -> u64 {
    let seq = st.next_seq;
    let msg = Msg {
        sent_ms,
        body: body.into(),
        ..Default::default()
    };
    let mut buf = Vec::new();
    let len = message::encode_record(&mut buf, seq, sent_ms, &msg);
    let (k, file, off, _) = st.reserve(seq, len as u64).unwrap();
    file.write_all_at(&buf, off).unwrap();
    st.next_seq += 1;
    let record = Written {
        seg: k,
        seq,
        off,
        len: len as u32,
        sent_s: (sent_ms / 1000) as u32,
        visible_at: sent_ms,
    };
    st.commit(record, None, true, sent_ms);
    seq
}

/// Retention is at least 60 s, so it is tested with explicit clocks
/// rather than by waiting.
#[test]
fn retention_expires_messages_in_memory_and_at_recovery() {
    let d = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000u64;
    let mut st = State::create(d.path().to_path_buf(), false, settings(60)).unwrap();
    put(&mut st, "old", t0);
    put(&mut st, "new", t0 + 30_000);
    assert_eq!(st.visible, 2);
    // The sweep at t0 + 61 s drops only the first.
    st.expire(t0 + 61_000);
    assert_eq!(st.visible, 1);
    // A receive after the second expired returns nothing.
    let (out, _) = st.take(10, 30_000, t0 + 91_000);
    assert!(out.is_empty());
    assert_eq!(st.visible, 0);

    // Recovery drops expired messages too.
    put(&mut st, "x", t0 + 100_000);
    drop(st);
    let st = State::recover(d.path().to_path_buf(), false, settings(60), t0 + 120_000).unwrap();
    assert_eq!(st.visible, 1);
    let st = State::recover(d.path().to_path_buf(), false, settings(60), t0 + 161_000).unwrap();
    assert_eq!(st.visible, 0);
}

#[test]
fn torn_tail_is_truncated_and_drained_segments_reclaimed() {
    let d = tempfile::tempdir().unwrap();
    let now = crate::now_ms();
    let mut st = State::create(d.path().to_path_buf(), false, settings(345_600)).unwrap();
    let a = put(&mut st, "a", now);
    put(&mut st, "b", now);
    let path = herald_segment::segment_path(d.path(), st.active);
    let good = st.segments[&st.active].size;
    drop(st);
    // Simulate a crash in the middle of a write.
    use std::io::Write as _;
    let f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    (&f).write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
    let mut st = State::recover(d.path().to_path_buf(), false, settings(345_600), now).unwrap();
    assert_eq!(st.visible, 2);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
    st.delete(&[a]);
    drop(st);
    let st = State::recover(d.path().to_path_buf(), false, settings(345_600), now).unwrap();
    assert_eq!(st.visible, 1);
}
