//! Lifecycle: each bucket's rules, tied to one incarnation of its name
//! (a bucket re-created under the same name never inherits them), the
//! worker's progress through the bucket (so a restart resumes where it
//! stopped; in a table of its own, so looking for due buckets never builds
//! anyone's rules), and the reads and removals the worker acts with.

use herald_model::lifecycle::LifecycleConfiguration;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::journal::{EventRenderer, StagedChange};
use crate::objects::load_bucket;
use crate::records::{BucketRecord, ObjectRecord, ObjectVersion, UploadRecord};
use crate::tables::{BUCKETS, LIFECYCLE, LIFECYCLE_RUNS, OBJECTS, UPLOADS, next_seq};

/// Largest lifecycle configuration stored (its JSON form): 1,000 rules of
/// ordinary size fit many times over; 1,000 rules with 1 KiB prefixes and
/// ten tags each do not, and need not.
pub const MAX_LIFECYCLE_BYTES: usize = 1024 * 1024;

/// Where the worker stands with one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRun {
    /// When the current (or last) pass over the bucket started (ms).
    pub started_ms: i64,
    /// When the last complete pass finished (ms; 0: never).
    pub finished_ms: i64,
    /// During a pass: the last key whose versions were dealt with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_key: Option<String>,
}

impl LifecycleRun {
    /// A pass was started and has not finished (a restart resumes it).
    pub fn in_progress(&self) -> bool {
        self.started_ms > self.finished_ms
    }
}

/// A bucket's rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LifecycleRow {
    bucket_id: String,
    config: LifecycleConfiguration,
}

/// Only the id of a rules row (serde skips over the rules, building nothing).
#[derive(Deserialize)]
struct RowId {
    bucket_id: String,
}

/// The worker's progress through a bucket.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunRow {
    bucket_id: String,
    run: LifecycleRun,
}

/// A bucket with lifecycle rules and where the worker stands with it.
#[derive(Debug, Clone)]
pub struct LifecycleBucket {
    pub bucket: BucketRecord,
    pub run: LifecycleRun,
}

/// What aborting an expired upload committed.
#[derive(Debug, Clone)]
pub struct AbortOutcome {
    pub bucket: BucketRecord,
    pub seq: u64,
    /// The bytes its parts held (freed).
    pub size: u64,
}

impl Store {
    /// Sets (`Some`) or removes (`None`) the lifecycle rules of `bucket`,
    /// the very bucket the caller was allowed on (`NoSuchBucket` if its
    /// name now belongs to a re-created one). Replacing the rules keeps the
    /// worker's progress. Rules over [`MAX_LIFECYCLE_BYTES`] are refused.
    pub async fn set_lifecycle(
        &self,
        bucket: &BucketRecord,
        config: Option<LifecycleConfiguration>,
    ) -> StoreResult<()> {
        let (name, expected_id) = (bucket.name.clone(), bucket.id.clone());
        let row = match config {
            Some(config) => {
                let row = serde_json::to_vec(&LifecycleRow {
                    bucket_id: expected_id.clone(),
                    config,
                })?;
                if row.len() > MAX_LIFECYCLE_BYTES {
                    return Err(StoreError::InvalidArgument(format!(
                        "the lifecycle configuration is too large (at most {MAX_LIFECYCLE_BYTES} bytes of rules)"
                    )));
                }
                Some(row)
            }
            None => None,
        };
        self.write(vec![], move |txn| {
            let rec = load_bucket(txn, &name)?;
            if rec.id != expected_id {
                return Err(StoreError::NoSuchBucket);
            }
            let mut table = txn.open_table(LIFECYCLE)?;
            match row {
                Some(row) => {
                    table.insert(name.as_str(), row.as_slice())?;
                }
                None => {
                    table.remove(name.as_str())?;
                }
            }
            Ok(Applied::new(()))
        })
        .await
    }

    /// The lifecycle rules of `bucket` (its current incarnation), if any.
    pub fn get_lifecycle(&self, bucket: &BucketRecord) -> StoreResult<Option<LifecycleConfiguration>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(LIFECYCLE)?;
        let Some(v) = table.get(bucket.name.as_str())? else {
            return Ok(None);
        };
        let row: LifecycleRow = serde_json::from_slice(v.value())?;
        Ok((row.bucket_id == bucket.id).then_some(row.config))
    }

    /// Every bucket with lifecycle rules (rows left by deleted buckets are
    /// skipped) and the worker's progress with it, in name order. The rules
    /// themselves are not built (see [`Store::get_lifecycle`]).
    pub fn lifecycle_buckets(&self) -> StoreResult<Vec<LifecycleBucket>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(LIFECYCLE)?;
        let runs = txn.open_table(LIFECYCLE_RUNS)?;
        let buckets = txn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (name, v) = row?;
            let row: RowId = serde_json::from_slice(v.value())?;
            let Some(b) = buckets.get(name.value())? else { continue };
            let bucket: BucketRecord = serde_json::from_slice(b.value())?;
            if bucket.id != row.bucket_id {
                continue;
            }
            let run = match runs.get(name.value())? {
                Some(r) => {
                    let r: RunRow = serde_json::from_slice(r.value())?;
                    if r.bucket_id == bucket.id {
                        r.run
                    } else {
                        LifecycleRun::default()
                    }
                }
                None => LifecycleRun::default(),
            };
            out.push(LifecycleBucket { bucket, run });
        }
        Ok(out)
    }

    /// Records the worker's progress through `bucket` (the incarnation
    /// given: nothing when the name now belongs to another bucket).
    pub async fn save_lifecycle_run(&self, bucket: &BucketRecord, run: LifecycleRun) -> StoreResult<()> {
        let (name, expected_id) = (bucket.name.clone(), bucket.id.clone());
        self.write(vec![], move |txn| {
            let rec = load_bucket(txn, &name)?;
            if rec.id == expected_id {
                let row = RunRow { bucket_id: rec.id, run };
                let mut runs = txn.open_table(LIFECYCLE_RUNS)?;
                runs.insert(name.as_str(), serde_json::to_vec(&row)?.as_slice())?;
            }
            Ok(Applied::new(()))
        })
        .await
    }

    /// Keys of `bucket` after `after` (from the first when `None`), each
    /// with all its versions, newest first: at most `max_keys` keys, and
    /// no further key once `max_versions` versions are in (a key's
    /// versions are never split).
    pub fn object_versions_page(
        &self,
        bucket: &str,
        after: Option<&str>,
        max_keys: usize,
        max_versions: usize,
    ) -> StoreResult<Vec<(String, Vec<ObjectVersion>)>> {
        let txn = self.db().begin_read()?;
        let objects = txn.open_table(OBJECTS)?;
        let start = after.unwrap_or("");
        let mut out = Vec::new();
        let mut versions = 0usize;
        for row in objects.range((bucket, start)..)? {
            let (k, v) = row?;
            let (b, key) = k.value();
            if b != bucket || out.len() >= max_keys || versions >= max_versions {
                break;
            }
            if after == Some(key) {
                continue;
            }
            let rec: ObjectRecord = serde_json::from_slice(v.value())?;
            versions += rec.versions.len();
            out.push((key.to_owned(), rec.versions));
        }
        Ok(out)
    }

    /// The multipart uploads in progress in `bucket`. The table is keyed
    /// by upload id, so every row is looked at, but only its bucket is
    /// decoded unless it is this bucket's.
    pub fn uploads_of(&self, bucket: &str) -> StoreResult<Vec<UploadRecord>> {
        /// Just the bucket of an upload row (serde skips the rest).
        #[derive(Deserialize)]
        struct UploadBucket<'a> {
            #[serde(borrow)]
            bucket: std::borrow::Cow<'a, str>,
        }
        let txn = self.db().begin_read()?;
        let table = txn.open_table(UPLOADS)?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (_, v) = row?;
            let head: UploadBucket<'_> = serde_json::from_slice(v.value())?;
            if head.bucket == bucket {
                out.push(serde_json::from_slice::<UploadRecord>(v.value())?);
            }
        }
        Ok(out)
    }

    /// Aborts an upload the lifecycle found expired in `bucket` (that very
    /// incarnation), with its event (`NoSuchUpload` when it was completed
    /// or aborted meanwhile).
    pub async fn abort_expired_upload(
        &self,
        bucket: &BucketRecord,
        upload_id: &str,
        events: Option<EventRenderer>,
    ) -> StoreResult<AbortOutcome> {
        let (bucket, bucket_id, id) = (bucket.name.clone(), bucket.id.clone(), upload_id.to_owned());
        self.write(vec![], move |txn| {
            let brec = load_bucket(txn, &bucket)?;
            if brec.id != bucket_id {
                return Err(StoreError::NoSuchBucket);
            }
            let upload = crate::multipart::load_upload(txn, &id)?;
            if upload.bucket != bucket {
                return Err(StoreError::NoSuchUpload);
            }
            let parts = crate::multipart::remove_upload(txn, &id)?;
            let size = parts.iter().map(|p| p.size).sum();
            let garbage = parts.into_iter().map(|p| p.blob).collect();
            let seq = next_seq(txn)?;
            crate::journal::stage(
                txn,
                events,
                StagedChange {
                    bucket: &brec,
                    seq,
                    version_id: "",
                    size: Some(size),
                    etag: Some(""),
                },
            )?;
            Ok(Applied::with_garbage(
                AbortOutcome {
                    bucket: brec,
                    seq,
                    size,
                },
                garbage,
            ))
        })
        .await
    }
}
