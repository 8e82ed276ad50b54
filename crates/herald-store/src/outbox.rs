//! The outbox: events committed in the same transaction as the change that
//! caused them.
//!
//! A persistent topic must have its event on disk before the S3 request is
//! acknowledged. Writing the event to the delivery log after the object's
//! metadata commit would cost a second fsync on every request's path; instead
//! the caller hands the store a closure that renders the event records once
//! the change's sequence number and version id are known, and the records
//! are stored in this table by the very transaction that commits the object.
//! A background mover (in the notifier) then copies them into the delivery
//! log and deletes them here: at-least-once, never lost, one fsync in the
//! foreground.

use redb::ReadableTable;

use crate::Store;
use crate::commit::Applied;
use crate::error::StoreResult;
use crate::records::BucketRecord;
use crate::tables::OUTBOX;

/// One event for one persistent topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The delivery-log topic (the topic's ARN).
    pub topic: String,
    /// Ordering key (`bucket/key`).
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
pub type Outbox = Box<dyn FnOnce(&StagedChange<'_>) -> Vec<OutboxItem> + Send>;

/// Where an outbox row lives: (sequence number of the change, index).
pub type OutboxKey = (u64, u32);

fn encode(item: &OutboxItem) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + item.topic.len() + item.key.len() + item.payload.len());
    out.extend_from_slice(&(item.topic.len() as u32).to_le_bytes());
    out.extend_from_slice(item.topic.as_bytes());
    out.extend_from_slice(&(item.key.len() as u32).to_le_bytes());
    out.extend_from_slice(item.key.as_bytes());
    out.extend_from_slice(&item.payload);
    out
}

fn decode(bytes: &[u8]) -> Option<OutboxItem> {
    let take = |b: &[u8], at: usize| -> Option<(String, usize)> {
        let len = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize;
        let s = std::str::from_utf8(b.get(at + 4..at + 4 + len)?).ok()?.to_owned();
        Some((s, at + 4 + len))
    };
    let (topic, at) = take(bytes, 0)?;
    let (key, at) = take(bytes, at)?;
    Some(OutboxItem {
        topic,
        key,
        payload: bytes[at..].to_vec(),
    })
}

/// Writes a change's events inside its transaction.
pub(crate) fn stage(txn: &redb::WriteTransaction, outbox: Option<Outbox>, change: StagedChange<'_>) -> StoreResult<()> {
    let Some(render) = outbox else { return Ok(()) };
    let seq = change.seq;
    let items = render(&change);
    if items.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(OUTBOX)?;
    for (i, item) in items.iter().enumerate() {
        table.insert((seq, i as u32), encode(item).as_slice())?;
    }
    Ok(())
}

impl Store {
    /// The oldest staged events, at most `max`.
    pub fn outbox_peek(&self, max: usize) -> StoreResult<Vec<(OutboxKey, OutboxItem)>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(OUTBOX)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            if out.len() >= max {
                break;
            }
            let (k, v) = row?;
            match decode(v.value()) {
                Some(item) => out.push((k.value(), item)),
                None => tracing::error!(key = ?k.value(), "unreadable outbox row skipped"),
            }
        }
        Ok(out)
    }

    /// Forgets staged events once the delivery log holds them.
    pub async fn outbox_remove(&self, keys: Vec<OutboxKey>) -> StoreResult<()> {
        self.write(vec![], move |txn| {
            let mut table = txn.open_table(OUTBOX)?;
            for k in keys {
                table.remove(k)?;
            }
            Ok(Applied::new(()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip() {
        let item = OutboxItem {
            topic: "arn:aws:sns:r:u:t".into(),
            key: "b/k é".into(),
            payload: b"{\"Records\":[]}".to_vec(),
        };
        assert_eq!(decode(&encode(&item)), Some(item));
        assert_eq!(decode(b"\xff\xff\xff\xff"), None);
    }
}
