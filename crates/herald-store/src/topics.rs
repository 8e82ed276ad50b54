//! Topics and bucket notification configurations: stored here so they are
//! as durable and transactional as the buckets they refer to; interpreted
//! by the notifier.

use redb::ReadableTable;

use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::records::TopicRecord;
use crate::tables::{BUCKETS, NOTIFICATIONS, TOPICS};
use crate::{Store, quota};

/// What a topic write expects to find under the topic's key, checked in
/// the write's own transaction: a caller decides (who owns it, whether the
/// caller may change it) on a read made before, and a topic created or
/// changed by someone else meanwhile must not be overwritten with that
/// stale decision (in Ceph mode a tenant's users share one key space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicExpectation {
    /// Whatever is there (no decision was made on a read).
    Any,
    /// Nothing: a new topic.
    Absent,
    /// Nothing, or a topic of this owner (the owner re-creating its own
    /// topic, which CreateTopic allows at any time, concurrently too).
    AbsentOrOwnedBy(String),
    /// A topic of this owner, whatever its version.
    OwnedBy(String),
    /// The topic as read: this owner, at this version (`updated_ms`, which
    /// every write makes strictly greater than the one it replaces).
    Unchanged { owner: String, updated_ms: i64 },
}

impl TopicExpectation {
    fn holds(&self, current: Option<&TopicRecord>) -> bool {
        match (self, current) {
            (TopicExpectation::Any, _) | (TopicExpectation::Absent, None) => true,
            (TopicExpectation::AbsentOrOwnedBy(_), None) => true,
            (TopicExpectation::AbsentOrOwnedBy(o) | TopicExpectation::OwnedBy(o), Some(c)) => c.owner == *o,
            (TopicExpectation::Unchanged { owner, updated_ms }, Some(c)) => {
                c.owner == *owner && c.updated_ms == *updated_ms
            }
            _ => false,
        }
    }
}

/// The topic stored under (`account`, `name`), if any.
fn current_topic(txn: &redb::WriteTransaction, account: &str, name: &str) -> StoreResult<Option<TopicRecord>> {
    match txn.open_table(TOPICS)?.get((account, name))? {
        Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
        None => Ok(None),
    }
}

impl Store {
    /// Creates or replaces a topic (re-creating a topic updates it), stored
    /// under its ARN's account ([`TopicRecord::account`]), if what is there
    /// is what `expected` says (else `ConcurrentTopicChange`). A new topic
    /// is refused with `TooManyTopics` once its owner has
    /// `Quotas::topics_per_user` (counted in the transaction: exact).
    /// Returns the version (`updated_ms`) stored: the topic's own, or one
    /// more than the version it replaces if that is not smaller (two writes
    /// in one millisecond, or a clock stepped back).
    pub async fn put_topic(&self, mut topic: TopicRecord, expected: TopicExpectation) -> StoreResult<i64> {
        let limit = self.quotas().topics_per_user;
        self.write_shared(move |txn| {
            let current = current_topic(txn, topic.account(), &topic.name)?;
            if !expected.holds(current.as_ref()) {
                return Err(StoreError::ConcurrentTopicChange(topic.name.clone()));
            }
            if let Some(c) = &current {
                topic.updated_ms = topic.updated_ms.max(c.updated_ms.saturating_add(1));
            }
            match &current {
                None => {
                    if quota::count(txn, quota::TOPICS_KIND, &topic.owner)? >= limit {
                        return Err(StoreError::TooManyTopics(limit));
                    }
                    quota::add(txn, quota::TOPICS_KIND, &topic.owner, 1)?;
                }
                Some(c) if c.owner != topic.owner => {
                    quota::add(txn, quota::TOPICS_KIND, &c.owner, -1)?;
                    quota::add(txn, quota::TOPICS_KIND, &topic.owner, 1)?;
                }
                Some(_) => {}
            }
            let mut t = txn.open_table(TOPICS)?;
            t.insert(
                (topic.account(), topic.name.as_str()),
                serde_json::to_vec(&topic)?.as_slice(),
            )?;
            Ok(Applied::new(topic.updated_ms))
        })
        .await
    }

    /// One topic of one account (the ARN's: the owner in AWS mode, the
    /// tenant in Ceph mode).
    pub fn get_topic(&self, owner: &str, name: &str) -> StoreResult<Option<TopicRecord>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(TOPICS)?;
        match t.get((owner, name))? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// Topics one user created (under any account), or everyone's.
    pub fn list_topics(&self, owner: Option<&str>) -> StoreResult<Vec<TopicRecord>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(TOPICS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            let rec: TopicRecord = serde_json::from_slice(v.value())?;
            if owner.is_none_or(|o| o == rec.owner) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// One page of an account's topics in name order: at most `limit` after
    /// `after` (from the first when `None`), and whether more follow. Reads
    /// only the page's rows, however many topics the owner has.
    pub fn topics_page(&self, owner: &str, after: Option<&str>, limit: usize) -> StoreResult<(Vec<TopicRecord>, bool)> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(TOPICS)?;
        let mut out = Vec::new();
        for row in t.range((owner, after.unwrap_or(""))..)? {
            let (k, v) = row?;
            let (o, name) = k.value();
            if o != owner {
                break;
            }
            if after == Some(name) {
                continue;
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok((out, false))
    }

    /// Deletes a topic; deleting an unknown topic is not an error (Ceph).
    /// Returns whether it existed. The committed mark of its event log goes
    /// with it (a new topic of that name starts a new log).
    /// A topic that is not as `expected` (see [`TopicExpectation`]) is
    /// left alone: `ConcurrentTopicChange`.
    pub async fn delete_topic(&self, owner: &str, name: &str, expected: TopicExpectation) -> StoreResult<bool> {
        let (owner, name) = (owner.to_owned(), name.to_owned());
        self.write_shared(move |txn| {
            let current = current_topic(txn, &owner, &name)?;
            if current.is_some() && !expected.holds(current.as_ref()) {
                return Err(StoreError::ConcurrentTopicChange(name.clone()));
            }
            let mut t = txn.open_table(TOPICS)?;
            let Some(row) = t.remove((owner.as_str(), name.as_str()))? else {
                return Ok(Applied::new(false));
            };
            let removed: Option<TopicRecord> = serde_json::from_slice(row.value()).ok();
            drop(row);
            drop(t);
            if let Some(rec) = removed {
                txn.open_table(crate::tables::JOURNAL_MARKS)?.remove(rec.arn.as_str())?;
                quota::add(txn, quota::TOPICS_KIND, &rec.owner, -1)?;
            }
            Ok(Applied::new(true))
        })
        .await
    }

    /// Replaces a bucket's notification configuration (`None` removes it).
    ///
    /// With `expected_id`, only if the bucket of that name is still that
    /// one (not deleted and re-created by someone else meanwhile).
    pub async fn set_notification_config(
        &self,
        bucket: &str,
        expected_id: Option<&str>,
        config: Option<Vec<u8>>,
    ) -> StoreResult<()> {
        // A cluster shares each row as one message (see `shared`): one
        // that does not fit would stop every later change from being shared.
        if self.has_shared_sink() && config.as_ref().is_some_and(|c| c.len() > crate::MAX_SHARED_ROW_BYTES) {
            return Err(StoreError::Refused {
                code: "InvalidArgument",
                status: 400,
                message: format!(
                    "this notification configuration is over {} bytes as stored, more than cluster mode can share",
                    crate::MAX_SHARED_ROW_BYTES
                ),
            });
        }
        let bucket = bucket.to_owned();
        let expected_id = expected_id.map(str::to_owned);
        self.write_shared(move |txn| {
            let current: Option<crate::records::BucketRecord> = match txn.open_table(BUCKETS)?.get(bucket.as_str())? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            match (current, &expected_id) {
                (None, _) => return Err(StoreError::NoSuchBucket),
                (Some(rec), Some(id)) if rec.id != *id => return Err(StoreError::NoSuchBucket),
                _ => {}
            }
            let mut t = txn.open_table(NOTIFICATIONS)?;
            match config {
                Some(c) => {
                    t.insert(bucket.as_str(), c.as_slice())?;
                }
                None => {
                    t.remove(bucket.as_str())?;
                }
            }
            Ok(Applied::new(()))
        })
        .await
    }

    /// A bucket's notification configuration, if any.
    pub fn get_notification_config(&self, bucket: &str) -> StoreResult<Option<Vec<u8>>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(NOTIFICATIONS)?;
        Ok(t.get(bucket)?.map(|v| v.value().to_vec()))
    }

    /// Every bucket's notification configuration (loaded once at start).
    pub fn all_notification_configs(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(NOTIFICATIONS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }
}
