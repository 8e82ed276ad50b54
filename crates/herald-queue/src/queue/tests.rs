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

/// Side files as every version wrote them (24 bytes, no checksum): a
/// zeroed record in the middle is skipped and the deletes after it still
/// count; a partial record at the end is cut so appends stay aligned.
#[test]
fn old_side_files_survive_zeroed_records_and_torn_tails() {
    let d = tempfile::tempdir().unwrap();
    let now = crate::now_ms();
    let mut st = State::create(d.path().to_path_buf(), false, settings(345_600)).unwrap();
    let a = put(&mut st, "a", now);
    let b = put(&mut st, "b", now);
    put(&mut st, "c", now);
    let first = st.active;
    drop(st);
    let path = side_path(d.path(), first, SIDE_EXT);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&side_record(SIDE_DELETE, 0, a, 0));
    bytes.extend_from_slice(&[0u8; SIDE_LEN]);
    bytes.extend_from_slice(&side_record(SIDE_DELETE, 0, b, 0));
    bytes.extend_from_slice(&[7u8; 5]);
    std::fs::write(&path, &bytes).unwrap();
    let st = State::recover(d.path().to_path_buf(), false, settings(345_600), now).unwrap();
    assert_eq!(st.visible, 1, "a and b deleted, c left");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * SIDE_LEN as u64);
}

/// Damage in a segment that is not the newest keeps what precedes it (the
/// segment is marked broken, never cut), and the newer segment is intact.
#[test]
fn damage_in_an_older_segment_keeps_its_valid_prefix() {
    use std::io::Write as _;
    let d = tempfile::tempdir().unwrap();
    let now = crate::now_ms();
    let mut st = State::create(d.path().to_path_buf(), false, settings(345_600)).unwrap();
    put(&mut st, "old", now);
    let old = st.active;
    // A failed write marks a segment broken: the next send rolls.
    st.segments.get_mut(&old).unwrap().broken = true;
    put(&mut st, "new", now);
    assert_ne!(st.active, old);
    drop(st);
    let old_path = herald_segment::segment_path(d.path(), old);
    let good = std::fs::metadata(&old_path).unwrap().len();
    let mut f = std::fs::OpenOptions::new().append(true).open(&old_path).unwrap();
    f.write_all(&[9; 9]).unwrap();
    drop(f);
    let st = State::recover(d.path().to_path_buf(), false, settings(345_600), now).unwrap();
    assert_eq!(st.visible, 2, "both messages recovered");
    assert_eq!(
        std::fs::metadata(&old_path).unwrap().len(),
        good + 9,
        "an older segment is never cut"
    );
    assert!(st.segments[&old].broken);
}
