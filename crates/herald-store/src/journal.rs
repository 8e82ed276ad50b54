//! Events written with the change that caused them, once.
//!
//! A persistent topic must have its event on disk before the S3 request is
//! acknowledged, and a crash must neither lose it nor write it twice. The
//! caller hands the store a closure ([`EventRenderer`]) that renders the
//! change's events once its sequence number and version id are known; the
//! committer thread collects the events of every request in its group
//! transaction and hands them to the [`EventJournal`] (the notifier's
//! delivery log) in the same group commit:
//!
//! 1. the transaction's closures run (objects change, events are rendered);
//! 2. the journal writes the events into its segment files and reports the
//!    highest entry id it wrote per log;
//! 3. those high-water marks go into the same transaction ([`JOURNAL_MARKS`]);
//! 4. one syncfs (objects' blobs and the journal's files alike, when they
//!    share a file system) or the journal's own fsync makes the events
//!    durable, then the transaction commits;
//! 5. the journal makes the events visible to its readers, or abandons them
//!    if the commit failed.
//!
//! A crash between 4's fsync and the commit leaves events on disk whose
//! change never happened; they lie above the committed high-water mark of
//! their log, and the journal drops them when it opens
//! ([`Store::journal_marks`]). So the event is written once, durable exactly
//! when its change is, and never appended a second time.
//!
//! The `outbox` table of earlier versions (events staged in the database and
//! copied to the log afterwards) is read once at start-up by
//! [`Store::drain_legacy_outbox`] and is otherwise unused.

use std::cell::RefCell;
use std::path::Path;

use redb::{ReadableTable, WriteTransaction};

use crate::Store;
use crate::commit::Applied;
use crate::error::StoreResult;
use crate::records::BucketRecord;
use crate::tables::{JOURNAL_MARKS, OUTBOX};

/// One event for one log (a persistent topic's, or a built-in queue's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry {
    /// The log's name (the topic's or the queue's ARN).
    pub log: String,
    /// Ordering key (`bucket/key`): the journal keeps one key's events in order.
    pub key: String,
    /// The serialized event body.
    pub payload: Vec<u8>,
}

/// What the transaction decided about a change: its sequence number and
/// version id (`""` for buckets that never had versioning), and, for writes,
/// the new version's size and ETag.
pub struct StagedChange<'a> {
    pub bucket: &'a BucketRecord,
    pub seq: u64,
    pub version_id: &'a str,
    pub size: Option<u64>,
    pub etag: Option<&'a str>,
}

/// Renders a change's events. Runs on the committer thread inside the
/// transaction: keep it to serialization.
pub type EventRenderer = Box<dyn FnOnce(&StagedChange<'_>) -> Vec<EventEntry> + Send>;

/// Where the events of a group commit are written (implemented by the
/// notifier over its delivery log).
pub trait EventJournal: Send + Sync {
    /// Writes `entries` to the journal's files, not yet visible to its
    /// readers and not necessarily durable yet. Called on the committer
    /// thread; must not wait for anything but its own disk.
    /// `syncfs_follows`: the committer will make them durable with a syncfs
    /// of their file system rather than [`WrittenEvents::sync`].
    fn write(&self, entries: Vec<EventEntry>, syncfs_follows: bool) -> Result<Box<dyn WrittenEvents>, String>;

    /// The directory the journal's files are in: when it is on the same file
    /// system as the blobs, the blobs' syncfs makes the events durable too.
    fn dir(&self) -> &Path;
}

/// Events written by [`EventJournal::write`], waiting for the commit.
pub trait WrittenEvents: Send {
    /// The highest entry id written, per log, committed with the transaction.
    fn high_water(&self) -> Vec<(String, u64)>;
    /// Makes the written events durable (not needed after a syncfs of the
    /// journal's file system).
    fn sync(&mut self) -> Result<(), String>;
    /// The transaction committed (`true`: the events become deliverable) or
    /// failed (`false`: they are abandoned).
    fn settle(self: Box<Self>, committed: bool);
}

/// The write transaction as a write closure sees it: redb's transaction,
/// plus the events the closure's change causes.
pub struct Txn<'a> {
    txn: &'a WriteTransaction,
    events: RefCell<Vec<EventEntry>>,
}

impl<'a> Txn<'a> {
    pub(crate) fn new(txn: &'a WriteTransaction) -> Txn<'a> {
        Txn {
            txn,
            events: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn into_events(self) -> Vec<EventEntry> {
        self.events.into_inner()
    }
}

impl std::ops::Deref for Txn<'_> {
    type Target = WriteTransaction;

    fn deref(&self) -> &WriteTransaction {
        self.txn
    }
}

/// Renders a change's events into the transaction (the last step of a write
/// closure: everything that can fail has been checked).
pub(crate) fn stage(txn: &Txn<'_>, renderer: Option<EventRenderer>, change: StagedChange<'_>) -> StoreResult<()> {
    if let Some(render) = renderer {
        txn.events.borrow_mut().extend(render(&change));
    }
    Ok(())
}

/// Records the journal's high-water marks in the group transaction.
pub(crate) fn record_marks(txn: &WriteTransaction, marks: &[(String, u64)]) -> StoreResult<()> {
    let mut table = txn.open_table(JOURNAL_MARKS)?;
    for (log, id) in marks {
        let current = table.get(log.as_str())?.map(|v| v.value()).unwrap_or(0);
        if *id > current {
            table.insert(log.as_str(), *id)?;
        }
    }
    Ok(())
}

/// Decodes a row of the legacy outbox table.
fn decode_legacy(bytes: &[u8]) -> Option<EventEntry> {
    let take = |b: &[u8], at: usize| -> Option<(String, usize)> {
        let len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 4..at + 4 + len)?).ok()?.to_owned();
        Some((s, at + 4 + len))
    };
    let (log, at) = take(bytes, 0)?;
    let (key, at) = take(bytes, at)?;
    Some(EventEntry {
        log,
        key,
        payload: bytes[at..].to_vec(),
    })
}

impl Store {
    /// The committed high-water mark of every log the journal wrote, and
    /// whether the journal was ever used (a data dir from before it has no
    /// marks, and its logs hold only committed events).
    pub fn journal_marks(&self) -> StoreResult<(std::collections::HashMap<String, u64>, bool)> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(JOURNAL_MARKS)?;
        let mut out = std::collections::HashMap::new();
        for row in table.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_owned(), v.value());
        }
        let counters = txn.open_table(crate::tables::COUNTERS)?;
        let used = counters.get(JOURNAL_IN_USE)?.is_some();
        Ok((out, used))
    }

    /// Starts using the journal on a data dir that never did: `last_ids`
    /// (the highest id each existing log holds, all of it committed by the
    /// earlier version) become the logs' marks, and from now on a log
    /// without a mark holds no committed event. One durable transaction,
    /// before the first event is written.
    pub fn begin_journal(&self, last_ids: &[(String, u64)]) -> StoreResult<()> {
        let txn = self.db().begin_write()?;
        record_marks(&txn, last_ids)?;
        txn.open_table(crate::tables::COUNTERS)?.insert(JOURNAL_IN_USE, 1)?;
        txn.commit()?;
        Ok(())
    }

    /// Moves the rows an earlier version left in its outbox table into the
    /// journal, a bounded batch per transaction (each batch is neither lost
    /// nor moved twice). Returns how many moved.
    pub async fn drain_legacy_outbox(&self) -> StoreResult<usize> {
        let mut moved = 0;
        loop {
            let n = self.drain_legacy_batch().await?;
            if n == 0 {
                return Ok(moved);
            }
            moved += n;
        }
    }

    /// One batch of [`Store::drain_legacy_outbox`].
    async fn drain_legacy_batch(&self) -> StoreResult<usize> {
        self.write(vec![], |txn| {
            let mut table = txn.open_table(OUTBOX)?;
            let mut keys = Vec::new();
            for row in table.iter()?.take(LEGACY_BATCH) {
                let (k, v) = row?;
                keys.push(k.value());
                match decode_legacy(v.value()) {
                    Some(e) => txn.events.borrow_mut().push(e),
                    None => tracing::error!(key = ?k.value(), "unreadable outbox row dropped"),
                }
            }
            for k in &keys {
                table.remove(*k)?;
            }
            Ok(Applied::new(keys.len()))
        })
        .await
    }

    /// Writes events that no object change causes (AWS's `s3:TestEvent`)
    /// through the same journal, durable when this returns.
    pub async fn write_events(&self, events: Vec<EventEntry>) -> StoreResult<()> {
        self.write(vec![], move |txn| {
            txn.events.borrow_mut().extend(events);
            Ok(Applied::new(()))
        })
        .await
    }
}

/// Legacy outbox rows moved per transaction.
const LEGACY_BATCH: usize = 4096;

/// The counter row that says the journal has been in use.
const JOURNAL_IN_USE: &str = "journal_in_use";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rows_decode() {
        let mut row = Vec::new();
        for s in ["arn:aws:sns:r:u:t", "b/k é"] {
            row.extend_from_slice(&(s.len() as u32).to_le_bytes());
            row.extend_from_slice(s.as_bytes());
        }
        row.extend_from_slice(b"{\"Records\":[]}");
        let e = decode_legacy(&row).unwrap();
        assert_eq!((e.log.as_str(), e.key.as_str()), ("arn:aws:sns:r:u:t", "b/k é"));
        assert_eq!(e.payload, b"{\"Records\":[]}");
        assert_eq!(decode_legacy(b"\xff\xff\xff\xff"), None);
    }
}
