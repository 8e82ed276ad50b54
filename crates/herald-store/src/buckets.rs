//! Buckets: create, look up, list, delete, versioning.

use herald_model::VersioningState;
use redb::ReadableTable;

use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::records::{BucketRecord, ObjectRecord, PartRecord, UploadRecord, now_ms};
use crate::tables::{BUCKETS, OBJECTS, PARTS, UPLOADS};
use crate::{Store, quota, random_hex};

/// Object keys one transaction of a purge removes.
const PURGE_CHUNK: usize = 1000;

impl Store {
    /// Creates a bucket owned by `owner`. Bucket names are global, as in S3.
    /// Refused with `TooManyBuckets` once the owner has
    /// `Quotas::buckets_per_user` (counted in the same transaction: exact).
    pub async fn create_bucket(&self, owner: &str, name: &str) -> StoreResult<BucketRecord> {
        self.create_bucket_with(owner, name, |_| {}).await
    }

    /// [`Store::create_bucket`], with settings (ACL, ownership controls)
    /// the new record gets before it is first written.
    pub async fn create_bucket_with(
        &self,
        owner: &str,
        name: &str,
        settings: impl FnOnce(&mut BucketRecord),
    ) -> StoreResult<BucketRecord> {
        let limit = self.quotas().buckets_per_user;
        let mut rec = BucketRecord {
            name: name.to_owned(),
            owner: owner.to_owned(),
            created_ms: now_ms(),
            id: random_hex(12),
            versioning: VersioningState::Unversioned,
            acl: None,
            ownership: None,
            public_access_block: None,
            tags: None,
            object_lock: None,
            cors: None,
        };
        settings(&mut rec);
        let r = rec.clone();
        let written = self
            .write_shared(move |txn| {
                let mut buckets = txn.open_table(BUCKETS)?;
                if let Some(v) = buckets.get(r.name.as_str())? {
                    let existing: BucketRecord = serde_json::from_slice(v.value())?;
                    // Ceph's rule: re-creating one's own bucket with another
                    // ACL than it has is a conflict with what exists.
                    let acl_of = |b: &BucketRecord| {
                        b.acl
                            .clone()
                            .unwrap_or_else(|| herald_model::acl::Acl::private(&b.owner))
                    };
                    return Err(if existing.owner == r.owner && acl_of(&existing) == acl_of(&r) {
                        StoreError::BucketAlreadyOwnedByYou
                    } else {
                        StoreError::BucketAlreadyExists
                    });
                }
                if quota::count(txn, quota::BUCKETS_KIND, &r.owner)? >= limit {
                    return Err(StoreError::TooManyBuckets(limit));
                }
                buckets.insert(r.name.as_str(), serde_json::to_vec(&r)?.as_slice())?;
                quota::add(txn, quota::BUCKETS_KIND, &r.owner, 1)?;
                Ok(Applied::new(()))
            })
            .await;
        match written {
            // A lost race in the cluster: decided below by whose record won.
            Err(StoreError::Refused {
                code: crate::shared::LOST_RACE,
                ..
            }) => {}
            other => other?,
        }
        // In a cluster, another node may have made the same bucket first:
        // its record then replaced this one while it was shared (or, if it
        // deleted it meanwhile, removed it). Only this very record is a
        // success.
        if !self.has_shared_sink() {
            return Ok(rec);
        }
        match self.get_bucket(name)? {
            Some(now) if now.id == rec.id => Ok(rec),
            Some(now) if now.owner == rec.owner => Err(StoreError::BucketAlreadyOwnedByYou),
            _ => Err(StoreError::BucketAlreadyExists),
        }
    }

    /// A bucket's record, if it exists.
    pub fn get_bucket(&self, name: &str) -> StoreResult<Option<BucketRecord>> {
        let txn = self.db().begin_read()?;
        let buckets = txn.open_table(BUCKETS)?;
        match buckets.get(name)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// Buckets owned by `owner` (every bucket when `None`), by name.
    pub fn list_buckets(&self, owner: Option<&str>) -> StoreResult<Vec<BucketRecord>> {
        let txn = self.db().begin_read()?;
        let buckets = txn.open_table(BUCKETS)?;
        let mut out = Vec::new();
        for row in buckets.iter()? {
            let (_, v) = row?;
            let b: BucketRecord = serde_json::from_slice(v.value())?;
            if owner.is_none_or(|o| o == b.owner) {
                out.push(b);
            }
        }
        Ok(out)
    }

    /// Deletes an empty bucket (no object, version or delete marker left).
    /// Multipart uploads still in progress are aborted with it.
    pub async fn delete_bucket(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.write_shared(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            let brec: BucketRecord = match buckets.get(name.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchBucket),
            };
            let objects = txn.open_table(OBJECTS)?;
            if let Some(row) = objects.range((name.as_str(), "")..)?.next() {
                let (k, _) = row?;
                if k.value().0 == name {
                    return Err(StoreError::BucketNotEmpty);
                }
            }
            drop(objects);
            let mut uploads = txn.open_table(UPLOADS)?;
            let mut parts = txn.open_table(PARTS)?;
            let mut stale = Vec::new();
            for row in uploads.iter()? {
                let (_, v) = row?;
                let u: UploadRecord = serde_json::from_slice(v.value())?;
                if u.bucket == name {
                    stale.push(u);
                }
            }
            for u in &stale {
                quota::add(txn, quota::UPLOADS_KIND, &u.initiator, -1)?;
            }
            let stale: Vec<String> = stale.into_iter().map(|u| u.upload_id).collect();
            let mut garbage = Vec::new();
            for id in &stale {
                let mut numbers = Vec::new();
                for row in parts.range((id.as_str(), 0)..=(id.as_str(), u32::MAX))? {
                    let (k, v) = row?;
                    let p: PartRecord = serde_json::from_slice(v.value())?;
                    garbage.push(p.blob);
                    numbers.push(k.value().1);
                }
                for n in numbers {
                    parts.remove((id.as_str(), n))?;
                }
                uploads.remove(id.as_str())?;
            }
            buckets.remove(name.as_str())?;
            quota::add(txn, quota::BUCKETS_KIND, &brec.owner, -1)?;
            txn.open_table(crate::tables::NOTIFICATIONS)?.remove(name.as_str())?;
            txn.open_table(crate::tables::LIFECYCLE)?.remove(name.as_str())?;
            txn.open_table(crate::tables::LIFECYCLE_RUNS)?.remove(name.as_str())?;
            Ok(Applied::with_garbage((), garbage))
        })
        .await
    }

    /// Deletes a bucket with everything in it: every object version, the
    /// multipart uploads in progress, its notification configuration (for
    /// `herald user rm --purge`). Objects go `PURGE_CHUNK` keys per
    /// transaction, so a large bucket never holds the committer for long;
    /// an interrupted purge leaves a smaller bucket, never a broken one.
    pub async fn purge_bucket(&self, name: &str) -> StoreResult<()> {
        loop {
            let bucket = name.to_owned();
            let removed = self
                .write(vec![], move |txn| {
                    let mut objects = txn.open_table(OBJECTS)?;
                    let (mut keys, mut garbage) = (Vec::new(), Vec::new());
                    for row in objects.range((bucket.as_str(), "")..)? {
                        let (k, v) = row?;
                        if k.value().0 != bucket || keys.len() >= PURGE_CHUNK {
                            break;
                        }
                        let rec: ObjectRecord = serde_json::from_slice(v.value())?;
                        garbage.extend(rec.versions.into_iter().flat_map(|v| v.segments).map(|s| s.blob));
                        keys.push(k.value().1.to_owned());
                    }
                    for k in &keys {
                        objects.remove((bucket.as_str(), k.as_str()))?;
                    }
                    Ok(Applied::with_garbage(keys.len(), garbage))
                })
                .await?;
            if removed == 0 {
                return self.delete_bucket(name).await;
            }
        }
    }

    /// Changes the settings of `bucket` (ACL, ownership controls, Block
    /// Public Access, tags), the very bucket the caller was allowed on: a
    /// name deleted and re-created meanwhile is `NoSuchBucket`. `change`
    /// may refuse (its error is returned, nothing written). Returns the
    /// updated record.
    pub async fn update_bucket_access(
        &self,
        bucket: &BucketRecord,
        change: impl FnOnce(&mut BucketRecord) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<BucketRecord> {
        let (name, expected_id) = (bucket.name.clone(), bucket.id.clone());
        self.write_shared(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            let mut rec: BucketRecord = match buckets.get(name.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchBucket),
            };
            if rec.id != expected_id {
                return Err(StoreError::NoSuchBucket);
            }
            let (keep_name, keep_owner, keep_id) = (rec.name.clone(), rec.owner.clone(), rec.id.clone());
            change(&mut rec)?;
            // Only the access settings are the caller's to change.
            (rec.name, rec.owner, rec.id) = (keep_name, keep_owner, keep_id);
            buckets.insert(name.as_str(), serde_json::to_vec(&rec)?.as_slice())?;
            Ok(Applied::new(rec))
        })
        .await
    }

    /// Sets a bucket's versioning state. Once versioning has been enabled a
    /// bucket can only be suspended, never made unversioned again (S3 rule).
    pub async fn set_versioning(&self, name: &str, state: VersioningState) -> StoreResult<()> {
        let name = name.to_owned();
        self.write_shared(move |txn| {
            let mut buckets = txn.open_table(BUCKETS)?;
            let mut rec: BucketRecord = match buckets.get(name.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchBucket),
            };
            if state == VersioningState::Unversioned && rec.versioning != VersioningState::Unversioned {
                return Err(StoreError::InvalidArgument(
                    "versioning cannot be turned off once enabled; suspend it instead".into(),
                ));
            }
            if rec.object_lock.is_some() && state != VersioningState::Enabled {
                return Err(StoreError::invalid_bucket_state(
                    "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                ));
            }
            rec.versioning = state;
            buckets.insert(name.as_str(), serde_json::to_vec(&rec)?.as_slice())?;
            Ok(Applied::new(()))
        })
        .await
    }
}
