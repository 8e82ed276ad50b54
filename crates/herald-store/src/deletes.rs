//! Deletes: of the current object (a delete marker in a versioned
//! bucket), of one version for good, conditional deletes (Ceph's and S3's
//! `If-Match`, time and size conditions), and Object Lock's say on them.

use herald_model::ETag;
use herald_model::lock::ObjectLock;
use redb::ReadableTable;

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::objects::{load_bucket, place_version, reported_version_id};
use crate::records::{BucketRecord, ObjectMeta, ObjectRecord, ObjectVersion, now_ms};
use crate::tables::{OBJECTS, next_seq};

/// Conditions a delete applies to the version it would remove (the
/// current one, or the one named): `If-Match` (an ETag, or `*`),
/// `x-amz-if-match-last-modified-time` (whole seconds) and
/// `x-amz-if-match-size`, as Ceph and S3 directory buckets define them.
/// A target that does not exist is no failure: deleting nothing stays
/// deleting nothing. A delete marker is a target (its ETag is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeleteConditions {
    pub if_match: Option<String>,
    pub last_modified_s: Option<i64>,
    pub size: Option<u64>,
    /// The version's store sequence number (Herald's own: the lifecycle
    /// removes only the very version it found expired, never one written
    /// since under the same key).
    pub seq: Option<u64>,
    /// The bucket's id: the delete applies only to that incarnation of
    /// the name (the lifecycle's rules were decided for it).
    pub bucket_id: Option<String>,
    /// The target must be the key's only version (the lifecycle removes a
    /// delete marker only when nothing is left under it).
    pub only_version: bool,
    /// Not a condition but a permission the delete carries: the version may
    /// be removed while `GOVERNANCE` retention protects it (the caller sent
    /// `x-amz-bypass-governance-retention` and is allowed
    /// `s3:BypassGovernanceRetention`).
    pub bypass_governance: bool,
}

impl DeleteConditions {
    /// Whether the delete is conditional at all.
    fn is_conditional(&self) -> bool {
        self.if_match.is_some() || self.last_modified_s.is_some() || self.size.is_some() || self.seq.is_some()
    }

    fn check(&self, target: &ObjectVersion) -> StoreResult<()> {
        let etag_ok = match self.if_match.as_deref().map(|e| e.trim().trim_matches('"')) {
            None | Some("*") => true,
            Some(want) => want == target.etag.as_str(),
        };
        let time_ok = self
            .last_modified_s
            .is_none_or(|s| s == target.last_modified_ms.div_euclid(1000));
        let size_ok = self.size.is_none_or(|n| n == target.size);
        let seq_ok = self.seq.is_none_or(|n| n == target.seq);
        if etag_ok && time_ok && size_ok && seq_ok {
            Ok(())
        } else {
            Err(StoreError::PreconditionFailed)
        }
    }
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub struct DeleteOutcome {
    pub bucket: BucketRecord,
    /// The version id that was removed, or the id of the new delete marker.
    pub version_id: Option<String>,
    /// Whether a delete marker was created (or a delete marker was removed,
    /// when deleting a specific version).
    pub delete_marker: bool,
    /// Whether the call changed anything.
    pub changed: bool,
    /// Sequence number of the change (0 when nothing changed).
    pub seq: u64,
}

impl Store {
    /// Deletes an object (a specific version when `version_id` is given),
    /// following the bucket's versioning rules.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        writer: &str,
        conditions: &DeleteConditions,
        events: Option<crate::journal::EventRenderer>,
    ) -> StoreResult<DeleteOutcome> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        let (version_id, writer) = (version_id.map(str::to_owned), writer.to_owned());
        let conditions = conditions.clone();
        self.write(vec![], move |txn| {
            delete_in_txn(txn, &bucket, &key, version_id.as_deref(), &writer, &conditions, events)
        })
        .await
    }
}

fn delete_in_txn(
    txn: &crate::journal::Txn<'_>,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    writer: &str,
    conditions: &DeleteConditions,
    events: Option<crate::journal::EventRenderer>,
) -> StoreResult<Applied<DeleteOutcome>> {
    let brec = load_bucket(txn, bucket)?;
    if conditions.bucket_id.as_ref().is_some_and(|id| *id != brec.id) {
        return Err(StoreError::NoSuchBucket);
    }
    let objects = txn.open_table(OBJECTS)?;
    let rec: Option<ObjectRecord> = match objects.get((bucket, key))? {
        Some(v) => Some(serde_json::from_slice(v.value())?),
        None => None,
    };
    drop(objects);
    let target = rec.as_ref().and_then(|r| match version_id {
        Some(id) => r.versions.iter().find(|v| v.version_id == id),
        None => r.latest(),
    });
    if conditions.only_version && rec.as_ref().is_some_and(|r| r.versions.len() > 1) {
        return Err(StoreError::PreconditionFailed);
    }
    if !delete_allowed(target, version_id, conditions)? {
        return unchanged(brec, version_id.map(str::to_owned));
    }
    let mut garbage = Vec::new();
    let (rec, outcome_version, delete_marker) = match version_id {
        Some(id) => {
            // Permanently remove one version; a missing one is not an error.
            let Some(mut rec) = rec else {
                return unchanged(brec, Some(id.to_owned()));
            };
            let Some(pos) = rec.versions.iter().position(|v| v.version_id == id) else {
                return unchanged(brec, Some(id.to_owned()));
            };
            let removed = rec.versions.remove(pos);
            garbage.extend(removed.segments.iter().map(|s| s.blob.clone()));
            (rec, Some(id.to_owned()), removed.delete_marker)
        }
        None if brec.versioning == herald_model::VersioningState::Unversioned => {
            let Some(rec) = rec else {
                return unchanged(brec, None);
            };
            for v in &rec.versions {
                garbage.extend(v.segments.iter().map(|s| s.blob.clone()));
            }
            (ObjectRecord::default(), None, false)
        }
        // Versioned or suspended: the delete becomes a delete marker.
        None => {
            let place = Placement { bucket, key, brec };
            return add_delete_marker(txn, place, rec.unwrap_or_default(), writer, events, garbage);
        }
    };
    let seq = next_seq(txn)?;
    let mut objects = txn.open_table(OBJECTS)?;
    if rec.versions.is_empty() {
        objects.remove((bucket, key))?;
    } else {
        objects.insert((bucket, key), serde_json::to_vec(&rec)?.as_slice())?;
    }
    drop(objects);
    let shown = outcome_version
        .as_deref()
        .map(|v| reported_version_id(&brec, v))
        .unwrap_or("");
    crate::journal::stage(
        txn,
        events,
        crate::journal::StagedChange {
            bucket: &brec,
            seq,
            version_id: shown,
            size: None,
            etag: None,
        },
    )?;
    Ok(Applied::with_garbage(
        DeleteOutcome {
            bucket: brec,
            version_id: outcome_version,
            delete_marker,
            changed: true,
            seq,
        },
        garbage,
    ))
}

/// Whether a delete goes ahead. Removing a version for good waits for its
/// retention and legal hold (an error); a delete marker on top of it is
/// always allowed. A conditional delete of nothing deletes nothing, no
/// delete marker either (Ceph): `false`.
fn delete_allowed(
    target: Option<&ObjectVersion>,
    version_id: Option<&str>,
    conditions: &DeleteConditions,
) -> StoreResult<bool> {
    if let Some(t) = target.filter(|_| version_id.is_some()) {
        t.lock
            .check_delete(now_ms(), conditions.bypass_governance)
            .map_err(StoreError::lock)?;
    }
    match target {
        Some(t) => conditions.check(t).map(|()| true),
        None => Ok(!conditions.is_conditional()),
    }
}

/// A delete that changed nothing.
fn unchanged(brec: BucketRecord, version_id: Option<String>) -> StoreResult<Applied<DeleteOutcome>> {
    Ok(Applied::new(DeleteOutcome {
        bucket: brec,
        version_id,
        delete_marker: false,
        changed: false,
        seq: 0,
    }))
}

/// The object a version is placed in.
struct Placement<'a> {
    bucket: &'a str,
    key: &'a str,
    brec: BucketRecord,
}

/// Puts a delete marker on top of `rec` (a versioned or suspended bucket's
/// delete) and stages its event.
fn add_delete_marker(
    txn: &crate::journal::Txn<'_>,
    place: Placement<'_>,
    mut rec: ObjectRecord,
    writer: &str,
    events: Option<crate::journal::EventRenderer>,
    mut garbage: Vec<String>,
) -> StoreResult<Applied<DeleteOutcome>> {
    let Placement { bucket, key, brec } = place;
    let mut marker = ObjectVersion {
        version_id: String::new(),
        delete_marker: true,
        size: 0,
        etag: ETag::parse(""),
        last_modified_ms: now_ms(),
        seq: 0,
        writer: writer.to_owned(),
        meta: ObjectMeta::default(),
        tags: Vec::new(),
        segments: Vec::new(),
        parts_count: None,
        owner: None,
        acl: None,
        lock: ObjectLock::default(),
        upload_id: None,
        checksum: None,
    };
    marker.seq = next_seq(txn)?;
    garbage.extend(place_version(&mut rec, &brec, &mut marker));
    let seq = marker.seq;
    let mut objects = txn.open_table(OBJECTS)?;
    objects.insert((bucket, key), serde_json::to_vec(&rec)?.as_slice())?;
    drop(objects);
    crate::journal::stage(
        txn,
        events,
        crate::journal::StagedChange {
            bucket: &brec,
            seq,
            version_id: reported_version_id(&brec, &marker.version_id),
            size: None,
            etag: None,
        },
    )?;
    Ok(Applied::with_garbage(
        DeleteOutcome {
            bucket: brec,
            version_id: Some(marker.version_id),
            delete_marker: true,
            changed: true,
            seq,
        },
        garbage,
    ))
}
