//! Recovery of one topic's segment at start-up.

use super::*;

/// Loads one segment: its records (up to the first torn/corrupt one, where
/// the file is truncated) and then its side file.
pub(super) fn recover_segment(topic: &str, dir: &Path, first: u64) -> io::Result<Segment> {
    let file = herald_segment::open_segment(dir, first)?;
    let mut seg = Segment::new(first, file.try_clone()?);
    let scanned = herald_segment::scan_segment(&file, format::BODY_FIXED, |off, frame, body| {
        let Some(d) = format::decode_body(frame, body, frame.len()) else {
            return false;
        };
        if d.id != first + seg.slots.len() as u64 || off + d.len as u64 > u32::MAX as u64 {
            return false;
        }
        seg.slots.push(Slot {
            key_hash: format::key_hash(&frame[d.key]),
            next_same: 0,
            enqueued_ms: d.enqueued_ms,
            next_attempt_ms: 0,
            offset: off as u32,
            len: d.len as u32,
            attempts: 0,
            state: PENDING,
        });
        true
    })?;
    if let Tail::Damaged { dropped } = herald_segment::truncate_tail(&file, scanned)? {
        tracing::warn!(
            topic,
            segment = %herald_segment::segment_path(dir, first).display(),
            valid = scanned.valid,
            dropped,
            "truncated torn or corrupt tail of delivery log segment"
        );
    }
    seg.size = scanned.valid;
    seg.zeroed = scanned.valid;
    seg.dir_synced = true;
    seg.slots.shrink_to_fit();

    herald_segment::read_side(&side_path(dir, first, SIDE_EXT), SIDE_REC, |rec| {
        let Some(r) = format::decode_side(rec) else {
            return false;
        };
        let slot = r.id.checked_sub(first).and_then(|i| seg.slots.get_mut(i as usize));
        if let Some(slot) = slot {
            match r.kind {
                SIDE_GONE => slot.state = GONE,
                SIDE_VOID => slot.state = VOID,
                SIDE_RETRY => {
                    slot.attempts = r.attempts;
                    slot.next_attempt_ms = r.next_ms;
                }
                _ => {}
            }
        }
        true
    })?;
    seg.live = seg.slots.iter().filter(|s| s.state == PENDING).count() as u64;
    seg.void_ids = (seg.slots.iter().enumerate())
        .filter(|(_, s)| s.state == VOID)
        .map(|(i, _)| first + i as u64)
        .collect();
    Ok(seg)
}
