//! Multipart uploads. Parts are blobs of their own; completing an upload
//! turns them into the segments of the new version without copying a byte.

use bytes::Bytes;
use futures::Stream;
use herald_model::{ETag, Md5Digest};
use redb::ReadableTable;

use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::objects::{WriteOutcome, WritePreconditions, install_version, load_bucket};
use crate::records::{ObjectAccess, ObjectMeta, ObjectVersion, PartRecord, Segment, UploadRecord, now_ms};
use crate::tables::{PARTS, UPLOADS};
use crate::{Store, quota, random_hex};

/// Every part but the last must be at least this large (the S3 rule).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Part numbers go from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// A part as named in a CompleteMultipartUpload request.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: Option<ETag>,
}

/// A page of parts.
#[derive(Debug, Clone)]
pub struct PartList {
    pub upload: UploadRecord,
    pub parts: Vec<PartRecord>,
    pub is_truncated: bool,
}

/// A page of uploads in progress.
#[derive(Debug, Clone, Default)]
pub struct UploadList {
    pub uploads: Vec<UploadRecord>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
}

/// What a part's body is checked against and computes.
#[derive(Default)]
pub struct PartChecks {
    /// `Content-MD5` sent by the client; a mismatch fails with BadDigest.
    pub content_md5: Option<Md5Digest>,
    /// The part's checksum in its upload's algorithm, filled by the body.
    pub checksum: Option<crate::ChecksumSlot>,
}

pub(crate) fn load_upload(txn: &redb::WriteTransaction, id: &str) -> StoreResult<UploadRecord> {
    let uploads = txn.open_table(UPLOADS)?;
    match uploads.get(id)? {
        Some(v) => Ok(serde_json::from_slice(v.value())?),
        None => Err(StoreError::NoSuchUpload),
    }
}

/// What a new multipart upload carries for the object it will become.
#[derive(Default)]
pub struct NewUpload {
    pub meta: ObjectMeta,
    pub tags: Vec<(String, String)>,
    pub access: ObjectAccess,
    pub checksum: Option<herald_model::checksum::UploadChecksum>,
}

/// One upload: its bucket, key and id.
#[derive(Clone, Copy)]
pub struct UploadRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub upload_id: &'a str,
}

impl Store {
    /// Starts a multipart upload and returns its record (with the id).
    /// Refused with `TooManyUploads` once the initiator has
    /// `Quotas::multipart_uploads_per_user` open (exact, see [`quota`]).
    pub async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        initiator: &str,
        upload: NewUpload,
        events: Option<crate::journal::EventRenderer>,
    ) -> StoreResult<UploadRecord> {
        let NewUpload {
            meta,
            tags,
            access,
            checksum,
        } = upload;
        let rec = UploadRecord {
            upload_id: random_hex(16),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiator: initiator.to_owned(),
            initiated_ms: now_ms(),
            meta,
            tags,
            seq: 0,
            owner: access.owner,
            acl: access.acl,
            lock: access.lock,
            checksum,
        };
        let limit = self.quotas().multipart_uploads_per_user;
        self.write(vec![], move |txn| {
            let mut rec = rec;
            let brec = load_bucket(txn, &rec.bucket)?;
            if brec.object_lock.is_none() && !rec.lock.is_empty() {
                return Err(StoreError::object_lock_not_enabled());
            }
            if quota::count(txn, quota::UPLOADS_KIND, &rec.initiator)? >= limit {
                return Err(StoreError::TooManyUploads(limit));
            }
            quota::add(txn, quota::UPLOADS_KIND, &rec.initiator, 1)?;
            rec.seq = crate::tables::next_seq(txn)?;
            let mut uploads = txn.open_table(UPLOADS)?;
            uploads.insert(rec.upload_id.as_str(), serde_json::to_vec(&rec)?.as_slice())?;
            drop(uploads);
            crate::journal::stage(
                txn,
                events,
                crate::journal::StagedChange {
                    bucket: &brec,
                    seq: rec.seq,
                    version_id: "",
                    size: Some(0),
                    etag: Some(""),
                },
            )?;
            Ok(Applied::new(rec))
        })
        .await
    }

    /// The upload record, checking it belongs to `bucket/key`.
    pub fn get_upload(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<UploadRecord> {
        let txn = self.db().begin_read()?;
        let uploads = txn.open_table(UPLOADS)?;
        let rec: UploadRecord = match uploads.get(upload_id)? {
            Some(v) => serde_json::from_slice(v.value())?,
            None => return Err(StoreError::NoSuchUpload),
        };
        if rec.bucket != bucket || rec.key != key {
            return Err(StoreError::NoSuchUpload);
        }
        Ok(rec)
    }

    /// Stores one part (replacing an earlier upload of the same number).
    pub async fn upload_part<S, E>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: S,
        checks: PartChecks,
    ) -> StoreResult<PartRecord>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(StoreError::InvalidArgument(format!(
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )));
        }
        self.get_upload(bucket, key, upload_id)?;
        let blob = self.write_blob(body).await?;
        let PartChecks { content_md5, checksum } = checks;
        if let Some(want) = content_md5
            && want != blob.md5
        {
            self.blobs().remove(std::slice::from_ref(&blob.id));
            return Err(StoreError::BadDigest);
        }
        let part = PartRecord {
            part_number,
            etag: ETag::from_md5(&blob.md5),
            size: blob.size,
            blob: blob.id.clone(),
            last_modified_ms: now_ms(),
            checksum: checksum.as_ref().and_then(|c| c.get()).map(|c| c.value.clone()),
        };
        let (p, id) = (part.clone(), upload_id.to_owned());
        self.write(vec![blob.id], move |txn| {
            load_upload(txn, &id)?;
            let mut parts = txn.open_table(PARTS)?;
            let old: Option<PartRecord> = match parts.get((id.as_str(), p.part_number))? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            parts.insert((id.as_str(), p.part_number), serde_json::to_vec(&p)?.as_slice())?;
            Ok(Applied::with_garbage((), old.map(|o| vec![o.blob]).unwrap_or_default()))
        })
        .await?;
        Ok(part)
    }

    /// Lists the parts of an upload after `marker`.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        marker: u32,
        max_parts: usize,
    ) -> StoreResult<PartList> {
        let upload = self.get_upload(bucket, key, upload_id)?;
        let txn = self.db().begin_read()?;
        let table = txn.open_table(PARTS)?;
        let mut parts = Vec::new();
        let mut is_truncated = false;
        for row in table.range((upload_id, marker.saturating_add(1))..=(upload_id, u32::MAX))? {
            let (_, v) = row?;
            if parts.len() == max_parts {
                is_truncated = true;
                break;
            }
            parts.push(serde_json::from_slice(v.value())?);
        }
        Ok(PartList {
            upload,
            parts,
            is_truncated,
        })
    }

    /// Lists uploads in progress in a bucket, by key then initiation time.
    pub fn list_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: Option<&str>,
        upload_id_marker: Option<&str>,
        max_uploads: usize,
    ) -> StoreResult<UploadList> {
        if self.get_bucket(bucket)?.is_none() {
            return Err(StoreError::NoSuchBucket);
        }
        let txn = self.db().begin_read()?;
        let table = txn.open_table(UPLOADS)?;
        let mut all: Vec<UploadRecord> = Vec::new();
        for row in table.iter()? {
            let (_, v) = row?;
            let u: UploadRecord = serde_json::from_slice(v.value())?;
            if u.bucket == bucket && u.key.starts_with(prefix) {
                all.push(u);
            }
        }
        all.sort_by(|a, b| (&a.key, a.initiated_ms, &a.upload_id).cmp(&(&b.key, b.initiated_ms, &b.upload_id)));
        let mut out = UploadList::default();
        let mut passed_marker = upload_id_marker.is_none();
        for u in all {
            if let Some(k) = key_marker {
                if u.key.as_str() < k {
                    continue;
                }
                if u.key == k {
                    if !passed_marker {
                        if Some(u.upload_id.as_str()) == upload_id_marker {
                            passed_marker = true;
                        }
                        continue;
                    }
                    if upload_id_marker.is_none() {
                        continue;
                    }
                }
            }
            if let Some(d) = delimiter.filter(|d| !d.is_empty())
                && let Some(pos) = u.key[prefix.len()..].find(d)
            {
                let cp = u.key[..prefix.len() + pos + d.len()].to_owned();
                if out.common_prefixes.last() != Some(&cp) {
                    if out.uploads.len() + out.common_prefixes.len() == max_uploads {
                        out.is_truncated = true;
                        break;
                    }
                    out.common_prefixes.push(cp);
                }
                continue;
            }
            if out.uploads.len() + out.common_prefixes.len() == max_uploads {
                out.is_truncated = true;
                break;
            }
            out.uploads.push(u);
        }
        Ok(out)
    }

    /// Aborts an upload and frees its parts.
    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> StoreResult<()> {
        self.get_upload(bucket, key, upload_id)?;
        let id = upload_id.to_owned();
        self.write(vec![], move |txn| {
            load_upload(txn, &id)?;
            let garbage = remove_upload(txn, &id)?.into_iter().map(|p| p.blob).collect();
            Ok(Applied::with_garbage((), garbage))
        })
        .await
    }

    /// The version a completed upload made, while it exists (see
    /// [`ObjectVersion::upload_id`]), with its bucket.
    pub fn completed_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> StoreResult<Option<(crate::BucketRecord, ObjectVersion)>> {
        let Some(brec) = self.get_bucket(bucket)? else {
            return Ok(None);
        };
        let txn = self.db().begin_read()?;
        let objects = txn.open_table(crate::tables::OBJECTS)?;
        let Some(v) = objects.get((bucket, key))? else {
            return Ok(None);
        };
        let rec: crate::records::ObjectRecord = serde_json::from_slice(v.value())?;
        Ok(rec
            .versions
            .into_iter()
            .find(|v| !v.delete_marker && v.upload_id.as_deref() == Some(upload_id))
            .map(|v| (brec, v)))
    }

    /// Completes an upload from the listed parts: checks order, ETags and
    /// sizes, then installs the object; unlisted parts are freed.
    pub async fn complete_multipart(
        &self,
        upload: UploadRef<'_>,
        listed: Vec<CompletedPart>,
        writer: &str,
        conditions: WritePreconditions,
        checksum_of: impl FnOnce(
            &UploadRecord,
            &[PartRecord],
        ) -> StoreResult<Option<herald_model::checksum::ObjectChecksum>>
        + Send
        + 'static,
        events: Option<crate::journal::EventRenderer>,
    ) -> StoreResult<WriteOutcome> {
        let UploadRef { bucket, key, upload_id } = upload;
        self.get_upload(bucket, key, upload_id)?;
        if listed.is_empty() {
            return Err(StoreError::InvalidArgument("You must specify at least one part".into()));
        }
        let (bucket, key, id, writer) = (
            bucket.to_owned(),
            key.to_owned(),
            upload_id.to_owned(),
            writer.to_owned(),
        );
        self.write(vec![], move |txn| {
            let upload = load_upload(txn, &id)?;
            let parts_table = txn.open_table(PARTS)?;
            let mut chosen: Vec<PartRecord> = Vec::with_capacity(listed.len());
            let mut prev = 0u32;
            for (i, want) in listed.iter().enumerate() {
                if want.part_number <= prev {
                    return Err(StoreError::InvalidPartOrder);
                }
                prev = want.part_number;
                let part: PartRecord = match parts_table.get((id.as_str(), want.part_number))? {
                    Some(v) => serde_json::from_slice(v.value())?,
                    None => {
                        return Err(StoreError::InvalidPart(format!(
                            "part {} was never uploaded",
                            want.part_number
                        )));
                    }
                };
                if let Some(etag) = &want.etag
                    && etag != &part.etag
                {
                    return Err(StoreError::InvalidPart(format!(
                        "part {} has ETag {}",
                        want.part_number, part.etag
                    )));
                }
                if i + 1 < listed.len() && part.size < MIN_PART_SIZE {
                    return Err(StoreError::EntityTooSmall(want.part_number));
                }
                chosen.push(part);
            }
            drop(parts_table);
            let digests: Vec<Md5Digest> = chosen.iter().filter_map(|p| p.etag.md5()).collect();
            let version = ObjectVersion {
                version_id: String::new(),
                delete_marker: false,
                size: chosen.iter().map(|p| p.size).sum(),
                etag: ETag::multipart(&digests),
                last_modified_ms: now_ms(),
                seq: 0,
                writer,
                meta: upload.meta.clone(),
                tags: upload.tags.clone(),
                segments: chosen
                    .iter()
                    .map(|p| Segment {
                        blob: p.blob.clone(),
                        len: p.size,
                        checksum: p.checksum.clone(),
                    })
                    .collect(),
                parts_count: Some(chosen.len() as u32),
                owner: upload.owner.clone(),
                acl: upload.acl.clone(),
                lock: upload.lock,
                upload_id: Some(id.clone()),
                checksum: checksum_of(&upload, &chosen)?,
            };
            // install_version validates before writing; only then drop the upload.
            let mut applied = install_version(txn, &bucket, &key, version, &conditions, events)?;
            let used: std::collections::HashSet<&str> = chosen.iter().map(|p| p.blob.as_str()).collect();
            for p in remove_upload(txn, &id)? {
                if !used.contains(p.blob.as_str()) {
                    applied.garbage.push(p.blob);
                }
            }
            Ok(applied)
        })
        .await
    }
}

/// Deletes an upload and its part records, returning the parts.
pub(crate) fn remove_upload(txn: &redb::WriteTransaction, id: &str) -> StoreResult<Vec<PartRecord>> {
    let upload = load_upload(txn, id)?;
    quota::add(txn, quota::UPLOADS_KIND, &upload.initiator, -1)?;
    let mut parts = txn.open_table(PARTS)?;
    let mut removed = Vec::new();
    for row in parts.range((id, 0)..=(id, u32::MAX))? {
        let (_, v) = row?;
        removed.push(serde_json::from_slice::<PartRecord>(v.value())?);
    }
    for p in &removed {
        parts.remove((id, p.part_number))?;
    }
    txn.open_table(UPLOADS)?.remove(id)?;
    Ok(removed)
}
