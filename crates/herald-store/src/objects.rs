//! Objects: put, get, head, delete, copy and tags.

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use herald_model::lock::ObjectLock;
use herald_model::{ETag, Md5Digest, NULL_VERSION_ID};
use redb::{ReadableTable, WriteTransaction};

use crate::blob::{WrittenBlob, open_range};
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::records::{BucketRecord, ObjectAccess, ObjectMeta, ObjectRecord, ObjectVersion, Segment, now_ms};
use crate::tables::{BUCKETS, OBJECTS, next_seq};
use crate::{Store, random_hex};

/// A stream of object bytes.
pub type ObjectBody = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + Sync>>;

/// What a client asked for when writing an object.
#[derive(Default)]
pub struct PutOptions {
    /// The user doing the write (recorded on the version, reported in events).
    pub writer: String,
    pub meta: ObjectMeta,
    pub tags: Vec<(String, String)>,
    /// `Content-MD5` sent by the client; a mismatch fails with BadDigest.
    pub content_md5: Option<Md5Digest>,
    /// `If-None-Match`: `*` only creates, never overwrites; an ETag
    /// refuses to overwrite that version (Ceph).
    pub if_none_match: Option<ETagCondition>,
    /// `If-Match`: only overwrite a current object (`*`) or this exact
    /// current ETag; with no current object, `NoSuchKey`.
    pub if_match: Option<ETagCondition>,
    /// Events to commit with the write (persistent topics).
    pub events: Option<crate::journal::EventRenderer>,
    /// The new version's owner and ACL.
    pub access: ObjectAccess,
    /// The checksum the body computes (what the client sent, verified).
    pub checksum: Option<crate::ChecksumSlot>,
}

/// An ETag condition of a conditional write: `*` (any current object) or
/// one ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagCondition {
    Any,
    Tag(ETag),
}

impl ETagCondition {
    fn matches(&self, current: &ObjectVersion) -> bool {
        match self {
            ETagCondition::Any => true,
            ETagCondition::Tag(t) => *t == current.etag,
        }
    }
}

/// The result of a write that created a version.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    pub bucket: BucketRecord,
    pub version: ObjectVersion,
}

/// Preconditions checked inside the write transaction against the current
/// version, so they hold atomically with the write.
/// `If-None-Match` / `If-Match` of a conditional write (see
/// [`PutOptions`]), checked against the current version inside the write
/// transaction.
#[derive(Debug, Clone, Default)]
pub struct WritePreconditions {
    pub if_none_match: Option<ETagCondition>,
    pub if_match: Option<ETagCondition>,
}

pub(crate) fn load_bucket(txn: &WriteTransaction, name: &str) -> StoreResult<BucketRecord> {
    let buckets = txn.open_table(BUCKETS)?;
    match buckets.get(name)? {
        Some(v) => Ok(serde_json::from_slice(v.value())?),
        None => Err(StoreError::NoSuchBucket),
    }
}

/// Makes `version` the current version of `bucket/key`, applying the
/// bucket's versioning rules. Returns the stored version (with its id and
/// sequence number) and the blobs that are no longer referenced.
pub(crate) fn install_version(
    txn: &crate::journal::Txn<'_>,
    bucket: &str,
    key: &str,
    mut version: ObjectVersion,
    pre: &WritePreconditions,
    events: Option<crate::journal::EventRenderer>,
) -> StoreResult<Applied<WriteOutcome>> {
    let brec = load_bucket(txn, bucket)?;
    // The bucket's access settings as they are now, not as they were when
    // the request was decided (a body can take long to arrive).
    if brec.public_access().block_public_acls && version.acl.as_ref().is_some_and(|a| a.is_public()) {
        return Err(StoreError::public_acls_blocked());
    }
    if !brec.acls_enabled() {
        // ACLs are off: the object gets none (and belongs to the bucket owner).
        version.acl = None;
    }
    // Object Lock: what the request asked for, else the bucket's default
    // retention, counted from the write.
    match &brec.object_lock {
        Some(cfg) => version.lock = ObjectLock::for_new_version(version.lock, cfg, version.last_modified_ms),
        None if !version.lock.is_empty() => return Err(StoreError::object_lock_not_enabled()),
        None => {}
    }
    let objects = txn.open_table(OBJECTS)?;
    let mut rec: ObjectRecord = match objects.get((bucket, key))? {
        Some(v) => serde_json::from_slice(v.value())?,
        None => ObjectRecord::default(),
    };
    let current = rec.latest().filter(|v| !v.delete_marker);
    if let (Some(cond), Some(cur)) = (&pre.if_none_match, current)
        && cond.matches(cur)
    {
        return Err(StoreError::PreconditionFailed);
    }
    match (&pre.if_match, current) {
        (Some(_), None) => return Err(StoreError::NoSuchKey),
        (Some(cond), Some(cur)) if !cond.matches(cur) => return Err(StoreError::PreconditionFailed),
        _ => {}
    }
    // Every check is done: from here on we only write.
    drop(objects);
    version.seq = next_seq(txn)?;
    let garbage = place_version(&mut rec, &brec, &mut version);
    let mut objects = txn.open_table(OBJECTS)?;
    objects.insert((bucket, key), serde_json::to_vec(&rec)?.as_slice())?;
    drop(objects);
    crate::journal::stage(
        txn,
        events,
        crate::journal::StagedChange {
            bucket: &brec,
            seq: version.seq,
            version_id: reported_version_id(&brec, &version.version_id),
            size: Some(version.size),
            etag: Some(version.etag.as_str()),
        },
    )?;
    Ok(Applied::with_garbage(WriteOutcome { bucket: brec, version }, garbage))
}

/// Puts `version` at the head of `rec`, giving it a version id: a fresh one
/// when the bucket creates versions, else `null`, replacing any earlier
/// `null` version (whose blobs are returned as garbage).
pub(crate) fn place_version(rec: &mut ObjectRecord, brec: &BucketRecord, version: &mut ObjectVersion) -> Vec<String> {
    let mut garbage = Vec::new();
    if brec.versioning.creates_versions() {
        version.version_id = new_version_id(version.seq);
    } else {
        version.version_id = NULL_VERSION_ID.to_owned();
        rec.versions.retain(|v| {
            if v.version_id == NULL_VERSION_ID {
                garbage.extend(v.segments.iter().map(|s| s.blob.clone()));
                false
            } else {
                true
            }
        });
    }
    rec.versions.insert(0, version.clone());
    garbage
}

/// The index of the current version (`None`) or of a named one, refusing
/// delete markers as S3 does.
fn version_index(rec: &ObjectRecord, version_id: Option<&str>) -> StoreResult<usize> {
    match version_id {
        None => match rec.latest() {
            Some(v) if !v.delete_marker => Ok(0),
            _ => Err(StoreError::NoSuchKey),
        },
        Some(id) => match rec.versions.iter().position(|v| v.version_id == id) {
            Some(i) if rec.versions[i].delete_marker => Err(StoreError::MethodNotAllowedOnDeleteMarker),
            Some(i) => Ok(i),
            None => Err(StoreError::NoSuchVersion),
        },
    }
}

/// The version id clients and events see: none for buckets that never
/// had versioning.
pub(crate) fn reported_version_id<'a>(brec: &BucketRecord, id: &'a str) -> &'a str {
    brec.versioning.reported(id)
}

fn new_version_id(seq: u64) -> String {
    format!("{seq:016x}{}", random_hex(8))
}

impl Store {
    /// Streams `body` into a new blob, fsyncs it, and commits it as the
    /// current version of `bucket/key`.
    pub async fn put_object<S, E>(
        &self,
        bucket: &str,
        key: &str,
        body: S,
        opts: PutOptions,
    ) -> StoreResult<WriteOutcome>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        // Refuse early when the bucket is missing, before reading the body.
        if self.get_bucket(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        let blob = self.write_blob(body).await?;
        if let Some(want) = opts.content_md5
            && want != blob.md5
        {
            self.blobs().remove(std::slice::from_ref(&blob.id));
            return Err(StoreError::BadDigest);
        }
        let version = ObjectVersion {
            version_id: String::new(),
            delete_marker: false,
            size: blob.size,
            etag: ETag::from_md5(&blob.md5),
            last_modified_ms: now_ms(),
            seq: 0,
            writer: opts.writer,
            meta: opts.meta,
            tags: opts.tags,
            segments: vec![Segment {
                blob: blob.id.clone(),
                len: blob.size,
                checksum: None,
            }],
            parts_count: None,
            owner: opts.access.owner,
            acl: opts.access.acl,
            lock: opts.access.lock,
            upload_id: None,
            checksum: opts.checksum.as_ref().and_then(|c| c.get().cloned()),
        };
        let events = opts.events;
        let pre = WritePreconditions {
            if_none_match: opts.if_none_match,
            if_match: opts.if_match,
        };
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        self.write(vec![blob.id], move |txn| {
            install_version(txn, &bucket, &key, version, &pre, events)
        })
        .await
    }

    /// Writes a stream into a new fsync'd blob.
    pub(crate) async fn write_blob<S, E>(&self, mut body: S) -> StoreResult<WrittenBlob>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let mut writer = self.blobs().new_writer();
        let id = writer.id().to_owned();
        let result: StoreResult<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StoreError::BodyStream(e.to_string()))?;
                writer.write(&chunk).await?;
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => match writer.finish().await {
                Ok(b) => Ok(b),
                Err(e) => {
                    self.blobs().remove(&[id]);
                    Err(e.into())
                }
            },
            Err(e) => {
                drop(writer);
                self.blobs().remove(&[id]);
                Err(e)
            }
        }
    }

    /// The current version (or the given one) of an object.
    ///
    /// A current version that is a delete marker reads as `NoSuchKey`; a
    /// specific version that is a delete marker as
    /// `MethodNotAllowedOnDeleteMarker`, as S3 does.
    pub fn head_object(&self, bucket: &str, key: &str, version_id: Option<&str>) -> StoreResult<ObjectVersion> {
        let txn = self.db().begin_read()?;
        let buckets = txn.open_table(BUCKETS)?;
        if buckets.get(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        let objects = txn.open_table(OBJECTS)?;
        let rec: ObjectRecord = match objects.get((bucket, key))? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => {
                return Err(if version_id.is_some() {
                    StoreError::NoSuchVersion
                } else {
                    StoreError::NoSuchKey
                });
            }
        };
        match version_id {
            None => match rec.latest() {
                Some(v) if !v.delete_marker => Ok(v.clone()),
                _ => Err(StoreError::NoSuchKey),
            },
            Some(id) => match rec.versions.iter().find(|v| v.version_id == id) {
                Some(v) if v.delete_marker => Err(StoreError::MethodNotAllowedOnDeleteMarker),
                Some(v) => Ok(v.clone()),
                None => Err(StoreError::NoSuchVersion),
            },
        }
    }

    /// The delete marker a read of `key` (its current version, or the
    /// named one) ran into, if that is why it found no object.
    pub fn delete_marker(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> StoreResult<Option<ObjectVersion>> {
        let txn = self.db().begin_read()?;
        let objects = txn.open_table(OBJECTS)?;
        let Some(v) = objects.get((bucket, key))? else {
            return Ok(None);
        };
        let rec: ObjectRecord = serde_json::from_slice(v.value())?;
        let found = match version_id {
            None => rec.versions.into_iter().next(),
            Some(id) => rec.versions.into_iter().find(|v| v.version_id == id),
        };
        Ok(found.filter(|v| v.delete_marker))
    }

    /// Opens an object for reading: its version and a stream of the bytes
    /// in `range` (`(start, len)`, already validated against the size), or
    /// of all of them.
    pub async fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        range: Option<(u64, u64)>,
    ) -> StoreResult<(ObjectVersion, ObjectBody)> {
        // An overwrite may delete the blob between our lookup and our open;
        // looking up again then finds the new version.
        let mut attempts = 0;
        loop {
            let version = self.head_object(bucket, key, version_id)?;
            let (start, len) = range.unwrap_or((0, version.size));
            if start.saturating_add(len) > version.size {
                return Err(StoreError::InvalidRange);
            }
            match open_range(self.blobs(), &version.segments, start, len).await {
                Ok(stream) => return Ok((version, Box::pin(stream))),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Copies a source version's bytes into a new version of
    /// `dst_bucket`/`dst_key`.
    pub async fn copy_object(
        &self,
        source: CopySource<'_>,
        dst_bucket: &str,
        dst_key: &str,
        target: CopyTarget<'_>,
        events: Option<crate::journal::EventRenderer>,
    ) -> StoreResult<WriteOutcome> {
        let CopyTarget {
            meta,
            tags,
            writer,
            access,
        } = target;
        let source_version = source.version;
        if self.get_bucket(dst_bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        let (_, stream) = self
            .open_object(source.bucket, source.key, Some(&source_version.version_id), None)
            .await?;
        let source = source_version;
        let blob = self.write_blob(stream).await?;
        let version = ObjectVersion {
            version_id: String::new(),
            delete_marker: false,
            size: blob.size,
            etag: ETag::from_md5(&blob.md5),
            last_modified_ms: now_ms(),
            seq: 0,
            writer: writer.to_owned(),
            meta: meta.unwrap_or_else(|| source.meta.clone()),
            tags: tags.unwrap_or_else(|| source.tags.clone()),
            segments: vec![Segment {
                blob: blob.id.clone(),
                len: blob.size,
                checksum: None,
            }],
            parts_count: None,
            owner: access.owner,
            acl: access.acl,
            lock: access.lock,
            upload_id: None,
            // The same bytes have the same whole-object checksum; a
            // composite one describes parts the copy does not have.
            checksum: source
                .checksum
                .clone()
                .filter(|c| c.kind == herald_model::checksum::ChecksumType::FullObject),
        };
        let (bucket, key) = (dst_bucket.to_owned(), dst_key.to_owned());
        self.write(vec![blob.id], move |txn| {
            install_version(txn, &bucket, &key, version, &WritePreconditions::default(), events)
        })
        .await
    }

    /// Replaces the ACL of exactly the object version `version_id` (the
    /// one the request was decided on) of the bucket incarnation it was
    /// decided on. `check` sees the bucket record as it is in this
    /// transaction and may refuse (ownership controls, Block Public Access
    /// changed meanwhile). The owner stays; no event (S3's `ObjectAcl:Put`
    /// is not emitted by Herald yet).
    pub async fn set_object_acl(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version_id: &str,
        acl: herald_model::acl::Acl,
        check: impl FnOnce(&BucketRecord) -> StoreResult<()> + Send + 'static,
    ) -> StoreResult<ObjectVersion> {
        let (name, bucket_id, key, version_id) = (
            bucket.name.clone(),
            bucket.id.clone(),
            key.to_owned(),
            version_id.to_owned(),
        );
        self.write(vec![], move |txn| {
            let brec = load_bucket(txn, &name)?;
            if brec.id != bucket_id {
                return Err(StoreError::NoSuchBucket);
            }
            check(&brec)?;
            let mut objects = txn.open_table(OBJECTS)?;
            let mut rec: ObjectRecord = match objects.get((name.as_str(), key.as_str()))? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchKey),
            };
            let idx = version_index(&rec, Some(&version_id))?;
            rec.versions[idx].acl = Some(acl);
            let version = rec.versions[idx].clone();
            objects.insert((name.as_str(), key.as_str()), serde_json::to_vec(&rec)?.as_slice())?;
            Ok(Applied::new(version))
        })
        .await
    }

    /// Changes the Object Lock state (retention, legal hold) of an object
    /// version (`None` = current) of exactly the bucket incarnation the
    /// request was decided on; `change` applies the lock rules and may
    /// refuse. Refused with `InvalidRequest` on buckets without Object Lock.
    /// No event: S3 and Ceph send none for these.
    pub async fn update_object_lock(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version_id: Option<&str>,
        change: impl FnOnce(&mut ObjectLock, i64) -> Result<(), herald_model::lock::LockError> + Send + 'static,
    ) -> StoreResult<ObjectVersion> {
        let (name, bucket_id, key, version_id) = (
            bucket.name.clone(),
            bucket.id.clone(),
            key.to_owned(),
            version_id.map(str::to_owned),
        );
        self.write(vec![], move |txn| {
            let brec = load_bucket(txn, &name)?;
            if brec.id != bucket_id {
                return Err(StoreError::NoSuchBucket);
            }
            if brec.object_lock.is_none() {
                return Err(StoreError::object_lock_not_enabled());
            }
            let mut objects = txn.open_table(OBJECTS)?;
            let mut rec: ObjectRecord = match objects.get((name.as_str(), key.as_str()))? {
                Some(v) => serde_json::from_slice(v.value())?,
                None if version_id.is_some() => return Err(StoreError::NoSuchVersion),
                None => return Err(StoreError::NoSuchKey),
            };
            let idx = version_index(&rec, version_id.as_deref())?;
            change(&mut rec.versions[idx].lock, now_ms()).map_err(StoreError::lock)?;
            let version = rec.versions[idx].clone();
            objects.insert((name.as_str(), key.as_str()), serde_json::to_vec(&rec)?.as_slice())?;
            Ok(Applied::new(version))
        })
        .await
    }

    /// Replaces the tag set of an object version (`None` = current), or
    /// removes it with an empty `tags`. Returns the updated version.
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: Vec<(String, String)>,
        events: Option<crate::journal::EventRenderer>,
    ) -> StoreResult<WriteOutcome> {
        let (bucket, key, version_id) = (bucket.to_owned(), key.to_owned(), version_id.map(str::to_owned));
        self.write(vec![], move |txn| {
            let brec = load_bucket(txn, &bucket)?;
            let objects = txn.open_table(OBJECTS)?;
            let mut rec: ObjectRecord = match objects.get((bucket.as_str(), key.as_str()))? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchKey),
            };
            let idx = version_index(&rec, version_id.as_deref())?;
            drop(objects);
            let seq = next_seq(txn)?;
            rec.versions[idx].tags = tags;
            let mut version = rec.versions[idx].clone();
            version.seq = seq;
            let mut objects = txn.open_table(OBJECTS)?;
            objects.insert((bucket.as_str(), key.as_str()), serde_json::to_vec(&rec)?.as_slice())?;
            drop(objects);
            crate::journal::stage(
                txn,
                events,
                crate::journal::StagedChange {
                    bucket: &brec,
                    seq,
                    version_id: reported_version_id(&brec, &version.version_id),
                    size: Some(version.size),
                    etag: Some(version.etag.as_str()),
                },
            )?;
            Ok(Applied::new(WriteOutcome { bucket: brec, version }))
        })
        .await
    }
}

/// Where a copy reads from: a version and the object it belongs to.
#[derive(Clone, Copy)]
pub struct CopySource<'a> {
    pub version: &'a ObjectVersion,
    pub bucket: &'a str,
    pub key: &'a str,
}

/// What a copy writes besides the bytes. `meta`/`tags` of `None` keep the
/// source's (the COPY directives).
pub struct CopyTarget<'a> {
    pub meta: Option<ObjectMeta>,
    pub tags: Option<Vec<(String, String)>>,
    pub writer: &'a str,
    pub access: ObjectAccess,
}
