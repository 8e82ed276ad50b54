//! Grouping leased entries into contiguous reads.

use super::*;

/// Adds an entry to the runs a lease reads: to the last run when it
/// follows on in the same file, else as a new run.
pub(super) fn push_pick(runs: &mut Vec<Run>, file: &Arc<File>, id: u64, slot: &Slot) {
    let pick = |rel| Pick {
        id,
        rel,
        len: slot.len as usize,
        attempts: slot.attempts,
        enqueued_ms: slot.enqueued_ms,
        next_attempt_ms: slot.next_attempt_ms,
    };
    if let Some(run) = runs.last_mut()
        && Arc::ptr_eq(&run.file, file)
        && run.start + run.len as u64 == slot.offset as u64
        && run.len < MAX_RUN
    {
        run.picks.push(pick(run.len));
        run.len += slot.len as usize;
        return;
    }
    runs.push(Run {
        file: file.clone(),
        start: slot.offset as u64,
        len: slot.len as usize,
        picks: vec![pick(0)],
    });
}
