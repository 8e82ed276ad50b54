//! Multipart uploads: create, upload part (and part copy), complete, abort,
//! list parts, list uploads.

use herald_model::ETag;
use herald_store::CompletedPart as StoreCompletedPart;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::events::req_info;
use super::object::{CopySourceVersion, check_key, reported_version, resolve_copy_source};
use super::tagging::parse_tagging_header;
use super::{HeraldS3, StoreResultExt, etag_dto, object_meta, ok, parse_content_md5, ts};
use crate::notify::{Change, Committed, CommittedWrite, PutError};
use herald_model::event::EventType;

const DEFAULT_MAX_PARTS: usize = 1000;
const DEFAULT_MAX_UPLOADS: usize = 1000;

fn part_number(n: i32) -> S3Result<u32> {
    u32::try_from(n)
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            )
        })
}

pub async fn create_multipart_upload(
    s3: &HeraldS3,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    let lock = super::lock::requested(
        s3,
        &req,
        super::lock::lock_headers!(req.input),
        &req.input.bucket,
        &req.input.key,
    )?;
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    check_key(&input.key)?;
    let mut access = super::acl::new_object_access(s3, &bucket, &user, &super::acl::acl_headers!(input))?;
    access.lock = lock;
    let tags = match &input.tagging {
        Some(t) => parse_tagging_header(s3, t)?,
        None => Vec::new(),
    };
    let meta = object_meta(
        input.content_type,
        input.content_encoding,
        input.content_disposition,
        input.content_language,
        input.cache_control,
        input.expires,
        input.metadata,
    );
    super::object::check_metadata_size(s3, &meta)?;
    let checksum = upload_checksum(input.checksum_algorithm.as_ref(), input.checksum_type.as_ref())?;
    // Herald emits ObjectCreated:Post when a multipart upload starts (as
    // older Ceph did); in Ceph mode none, as Ceph's suite expects.
    let change = (!s3.notifier.compat().is_ceph()).then(|| Change {
        metadata: meta.user_pairs(),
        tags: tags.clone(),
        content_type: meta.content_type.clone(),
        ..Change::new(EventType::ObjectCreatedPost, &input.key)
    });
    let new_upload = herald_store::NewUpload {
        meta,
        tags,
        access,
        checksum,
    };
    let start = |events| async {
        let upload = s3
            .store
            .create_multipart(&input.bucket, &input.key, &user, new_upload, events)
            .await?;
        let bucket = s3.store.get_bucket(&input.bucket)?;
        Ok(Started { upload, bucket })
    };
    let Started { upload, .. } = s3
        .write_with_events(&input.bucket, change, &user, &info, start)
        .await
        .map_err(super::events::put_err)?;
    ok(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(upload.upload_id),
        checksum_algorithm: checksum.map(|c| ChecksumAlgorithm::from(c.algorithm.as_str().to_owned())),
        checksum_type: checksum.map(|c| ChecksumType::from(c.kind.as_str().to_owned())),
        ..Default::default()
    })
}

/// The checksum a multipart upload is created with: an algorithm, and a
/// type it allows (S3's default type for it when none is given).
fn upload_checksum(
    algorithm: Option<&ChecksumAlgorithm>,
    kind: Option<&ChecksumType>,
) -> S3Result<Option<herald_model::checksum::UploadChecksum>> {
    use herald_model::checksum as ck;
    let Some(a) = algorithm else {
        if kind.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "x-amz-checksum-type needs x-amz-checksum-algorithm"
            ));
        }
        return Ok(None);
    };
    let algorithm = ck::ChecksumAlgorithm::parse(a.as_str())
        .ok_or_else(|| s3_error!(InvalidRequest, "Checksum algorithm {} is not supported", a.as_str()))?;
    let kind = match kind {
        None => algorithm.default_multipart_type(),
        Some(t) => ck::ChecksumType::parse(t.as_str())
            .ok_or_else(|| s3_error!(InvalidRequest, "Checksum type {} is not supported", t.as_str()))?,
    };
    let allowed = match kind {
        ck::ChecksumType::FullObject => algorithm.allows_full_object(),
        ck::ChecksumType::Composite => algorithm.allows_composite(),
    };
    if !allowed {
        return Err(s3_error!(
            InvalidRequest,
            "The {} checksum type is not supported with {}",
            kind.as_str(),
            algorithm.as_str()
        ));
    }
    Ok(Some(ck::UploadChecksum { algorithm, kind }))
}

pub async fn upload_part(s3: &HeraldS3, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
    let expected = super::checksum::expected_from!(req);
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let n = part_number(input.part_number)?;
    let md5 = parse_content_md5(input.content_md5.as_deref())?;
    // Every part of an upload with a checksum computes it, sent or not.
    let upload = s3.store.get_upload(&input.bucket, &input.key, &input.upload_id).s3()?;
    let keep = upload
        .checksum
        .map(|c| c.algorithm)
        .or_else(|| expected.sent_algorithm());
    let (body, slot) = super::checksum::verify_keeping(
        input.body.unwrap_or_else(super::object::empty_body),
        expected.keeping(keep),
    );
    let part = s3
        .store
        .upload_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            n,
            body,
            herald_store::PartChecks {
                content_md5: md5,
                checksum: slot.clone(),
            },
        )
        .await
        .s3()?;
    let mut out = UploadPartOutput {
        e_tag: Some(etag_dto(&part.etag)),
        ..Default::default()
    };
    if let Some(c) = slot.as_ref().and_then(|s| s.get()) {
        super::checksum::set_checksum!(out, c);
    }
    ok(out)
}

/// Parses `x-amz-copy-source-range: bytes=first-last`.
fn parse_copy_range(s: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (a, b) = s
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(InvalidRange, "The requested range is not satisfiable"));
    }
    Ok((first, last - first + 1))
}

pub async fn upload_part_copy(
    s3: &HeraldS3,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let n = part_number(input.part_number)?;
    let CopySourceVersion {
        bucket: src_bucket,
        key: src_key,
        bucket_record: src_rec,
        version: source,
        ..
    } = resolve_copy_source(s3, &input.copy_source)?;
    if let Some(c) = &input.copy_source_if_match
        && c.as_etag().is_some_and(|e| e.value() != source.etag.as_str())
    {
        return Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        ));
    }
    let range = match &input.copy_source_range {
        Some(r) => Some(parse_copy_range(r, source.size)?),
        None => None,
    };
    let (_, body) = s3
        .store
        .open_object(&src_bucket, &src_key, Some(&source.version_id), range)
        .await
        .s3()?;
    let upload = s3.store.get_upload(&input.bucket, &input.key, &input.upload_id).s3()?;
    let (body, slot) = match upload.checksum {
        Some(c) => super::checksum::verify_keeping(body, super::checksum::Expected::compute_only(c.algorithm)),
        None => (
            super::checksum::verify(body, super::checksum::Expected::nothing()),
            None,
        ),
    };
    let part = s3
        .store
        .upload_part(
            &input.bucket,
            &input.key,
            &input.upload_id,
            n,
            body,
            herald_store::PartChecks {
                content_md5: None,
                checksum: slot,
            },
        )
        .await
        .s3()?;
    ok(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag_dto(&part.etag)),
            last_modified: Some(ts(part.last_modified_ms)),
            ..Default::default()
        }),
        copy_source_version_id: reported_version(src_rec.versioning, &source.version_id),
        ..Default::default()
    })
}

pub async fn complete_multipart_upload(
    s3: &HeraldS3,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    let mut input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let given_parts = input.multipart_upload.take().and_then(|m| m.parts).unwrap_or_default();
    let listed = given_parts
        .iter()
        .map(|p| {
            Ok(StoreCompletedPart {
                part_number: part_number(p.part_number.unwrap_or(0))?,
                etag: p.e_tag.as_ref().map(|e| ETag::parse(e.value())),
            })
        })
        .collect::<S3Result<Vec<_>>>()?;
    if listed.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let upload = match s3.store.get_upload(&input.bucket, &input.key, &input.upload_id) {
        Err(herald_store::StoreError::NoSuchUpload) => return completed_again(s3, &input),
        other => other.s3()?,
    };
    let change = Change {
        metadata: upload.meta.user_pairs(),
        tags: upload.tags.clone(),
        content_type: upload.meta.content_type.clone(),
        ..Change::new(EventType::ObjectCreatedCompleteMultipartUpload, &input.key)
    };
    // The object's checksum, from the parts the completion chooses (and
    // checked against what the request gives per part and for the whole).
    let algorithm = upload.checksum.map(|c| c.algorithm);
    let per_part: Vec<Option<String>> = given_parts
        .iter()
        .map(|p| algorithm.and_then(|a| super::checksum::given!(p, a)))
        .collect();
    let whole = algorithm.and_then(|a| super::checksum::given!(input, a));
    let checksum_of = move |u: &herald_store::UploadRecord, parts: &[herald_store::PartRecord]| {
        super::checksum::multipart_checksum(u.checksum, parts, &per_part, whole.as_deref())
    };
    let complete = |events| {
        s3.store.complete_multipart(
            herald_store::UploadRef {
                bucket: &input.bucket,
                key: &input.key,
                upload_id: &input.upload_id,
            },
            listed,
            &user,
            herald_store::WritePreconditions {
                if_none_match: input.if_none_match.as_ref().map(super::object::write_condition),
                if_match: input.if_match.as_ref().map(super::object::write_condition),
            },
            checksum_of,
            events,
        )
    };
    let out = s3
        .write_with_events(&input.bucket, Some(change), &user, &info, complete)
        .await;
    let out = match out {
        // Completed by a concurrent retry of this very request.
        Err(PutError::Store(herald_store::StoreError::NoSuchUpload)) => return completed_again(s3, &input),
        other => other.map_err(super::events::put_err)?,
    };
    completed(&input, &out.bucket, &out.version)
}

/// The answer to a CompleteMultipartUpload whose upload is already
/// complete: the same answer as the first time, while the version it made
/// exists (a client whose first answer was lost retries; S3 answers 200).
/// Nothing changes, so no event.
fn completed_again(
    s3: &HeraldS3,
    input: &CompleteMultipartUploadInput,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    match s3
        .store
        .completed_upload(&input.bucket, &input.key, &input.upload_id)
        .s3()?
    {
        Some((bucket, version)) => completed(input, &bucket, &version),
        None => Err(super::s3_err(herald_store::StoreError::NoSuchUpload)),
    }
}

fn completed(
    input: &CompleteMultipartUploadInput,
    bucket: &herald_store::BucketRecord,
    version: &herald_store::ObjectVersion,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let mut out = CompleteMultipartUploadOutput {
        bucket: Some(input.bucket.clone()),
        key: Some(input.key.clone()),
        e_tag: Some(etag_dto(&version.etag)),
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        version_id: super::object::written_version(bucket.versioning, &version.version_id),
        ..Default::default()
    };
    if let Some(c) = &version.checksum {
        super::checksum::set_checksum!(out, c);
        out.checksum_type = Some(super::checksum::type_dto(c));
    }
    ok(out)
}

pub async fn abort_multipart_upload(
    s3: &HeraldS3,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    s3.store
        .abort_multipart(&input.bucket, &input.key, &input.upload_id)
        .await
        .s3()?;
    let mut resp = S3Response::new(AbortMultipartUploadOutput::default());
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn list_parts(s3: &HeraldS3, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
    let max = input
        .max_parts
        .map(|m| m.clamp(0, 1000) as usize)
        .unwrap_or(DEFAULT_MAX_PARTS);
    let list = s3
        .store
        .list_parts(&input.bucket, &input.key, &input.upload_id, marker, max)
        .s3()?;
    let next = list.parts.last().map(|p| p.part_number as i32);
    let mut owners = super::Owners::new(s3);
    let who = owners.get(&list.upload.initiator);
    let initiator = Some(Initiator {
        id: who.id,
        display_name: who.display_name,
    });
    // The owner the completed object will have (ownership controls may
    // give it to the bucket owner).
    let owner = owners.get(list.upload.owner.as_deref().unwrap_or(&list.upload.initiator));
    ok(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        part_number_marker: input.part_number_marker,
        next_part_number_marker: next,
        max_parts: Some(max as i32),
        is_truncated: Some(list.is_truncated),
        initiator,
        owner: Some(owner),
        parts: Some(
            list.parts
                .into_iter()
                .map(|p| Part {
                    part_number: Some(p.part_number as i32),
                    e_tag: Some(etag_dto(&p.etag)),
                    size: Some(p.size as i64),
                    last_modified: Some(ts(p.last_modified_ms)),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    })
}

pub async fn list_multipart_uploads(
    s3: &HeraldS3,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let mut owners = super::Owners::new(s3);
    let max = input
        .max_uploads
        .map(|m| m.clamp(0, 1000) as usize)
        .unwrap_or(DEFAULT_MAX_UPLOADS);
    let prefix = input.prefix.clone().unwrap_or_default();
    let list = s3
        .store
        .list_uploads(
            &input.bucket,
            &prefix,
            input.delimiter.as_deref(),
            input.key_marker.as_deref(),
            input.upload_id_marker.as_deref(),
            max,
        )
        .s3()?;
    let last = list.uploads.last().map(|u| (u.key.clone(), u.upload_id.clone()));
    ok(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix,
        delimiter: input.delimiter,
        key_marker: input.key_marker,
        upload_id_marker: input.upload_id_marker,
        max_uploads: Some(max as i32),
        is_truncated: Some(list.is_truncated),
        next_key_marker: last.as_ref().filter(|_| list.is_truncated).map(|l| l.0.clone()),
        next_upload_id_marker: last.filter(|_| list.is_truncated).map(|l| l.1),
        common_prefixes: Some(
            list.common_prefixes
                .into_iter()
                .map(|p| CommonPrefix { prefix: Some(p) })
                .collect(),
        ),
        uploads: Some(
            list.uploads
                .into_iter()
                .map(|u| {
                    let who = owners.get(&u.initiator);
                    MultipartUpload {
                        key: Some(u.key),
                        upload_id: Some(u.upload_id),
                        initiated: Some(ts(u.initiated_ms)),
                        initiator: Some(Initiator {
                            id: who.id,
                            display_name: who.display_name,
                        }),
                        owner: Some(owners.get(u.owner.as_deref().unwrap_or(&u.initiator))),
                        ..Default::default()
                    }
                })
                .collect(),
        ),
        ..Default::default()
    })
}

/// A started upload and its bucket, as its `ObjectCreated:Post` event
/// (Ceph's, at the start of a multipart upload) sees them.
struct Started {
    upload: herald_store::UploadRecord,
    bucket: Option<herald_store::BucketRecord>,
}

impl CommittedWrite for Started {
    fn committed(&self) -> Option<Committed<'_>> {
        self.bucket.as_ref().map(|bucket| Committed {
            bucket,
            seq: self.upload.seq,
            version_id: "",
            size: Some(0),
            etag: Some(""),
        })
    }
}
