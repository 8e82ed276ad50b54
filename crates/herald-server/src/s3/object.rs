//! Object operations: put (and POST object), get, head, copy. Deletes are in [`super::delete`].

use herald_model::event::EventType;
use herald_model::{ETag, VersioningState};
use herald_store::{ObjectVersion, PutOptions};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::events::{put_err, reader, req_info};
use super::tagging::parse_tagging_header;
use super::{HeraldS3, StoreResultExt, etag_dto, object_meta, ok, parse_content_md5, parse_expires, ts, user_metadata};
use crate::notify::{Change, Origin};

/// S3 refuses keys longer than this many bytes.
const MAX_KEY_LEN: usize = 1024;
/// S3's single-PUT limit; larger objects need multipart.
const MAX_PUT_SIZE: i64 = 5 * 1024 * 1024 * 1024;
/// The highest part number S3 accepts.
const MAX_PART_NUMBER: i32 = 10_000;
/// What S3 reports for objects stored without a Content-Type.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

pub(crate) fn check_key(key: &str) -> S3Result<()> {
    if key.len() > MAX_KEY_LEN {
        return Err(s3_error!(KeyTooLongError, "Your key is too long"));
    }
    if key.is_empty() {
        return Err(s3_error!(InvalidArgument, "The object key must not be empty"));
    }
    Ok(())
}

/// A body for requests that sent none.
pub(crate) fn empty_body() -> StreamingBlob {
    StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
}

/// The version id a write reports: none for buckets without versioning,
/// and none for the `null` version a suspended bucket writes (S3 and Ceph
/// answer a PUT there without `x-amz-version-id`).
pub(crate) fn written_version(bucket_versioning: VersioningState, v: &str) -> Option<String> {
    reported_version(bucket_versioning, v).filter(|v| v != herald_model::NULL_VERSION_ID)
}

/// The version id to report: none for buckets that never had versioning.
pub(crate) fn reported_version(bucket_versioning: VersioningState, v: &str) -> Option<String> {
    Some(bucket_versioning.reported(v))
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// S3's limit on user metadata (default 2 KB, `--max-user-metadata-bytes`):
/// the UTF-8 bytes of every `x-amz-meta-*` name (without the prefix) and
/// value added up. Checked before the body is read.
pub(crate) fn check_metadata_size(s3: &HeraldS3, meta: &herald_store::ObjectMeta) -> S3Result<()> {
    let limit = s3.store.quotas().user_metadata_bytes;
    let size: usize = meta.user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size as u64 > limit {
        return Err(s3_error!(
            MetadataTooLarge,
            "Your metadata headers exceed the maximum allowed metadata size: {size} bytes, the limit is {limit} (max-user-metadata-bytes)"
        ));
    }
    Ok(())
}

/// PutObject, and POST object (browser form uploads): s3s hands a form
/// upload here as a PutObject whose fields came from the form, once it has
/// checked the policy document and its signature; its event is
/// `ObjectCreated:Post`, as S3 and Ceph send.
pub async fn put_object(s3: &HeraldS3, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let event = if req.method == http::Method::POST {
        EventType::ObjectCreatedPost
    } else {
        EventType::ObjectCreatedPut
    };
    let user = s3.caller(&req)?;
    let expected = super::checksum::expected_from!(req);
    let info = req_info(&req);
    // S3's model has no `x-amz-grant-write` on objects; Ceph keeps it, so
    // it is read from the headers.
    let grant_write = req
        .headers
        .get("x-amz-grant-write")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
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
    let headers = super::acl::AclHeaders {
        write: grant_write.as_deref(),
        ..super::acl::acl_headers!(input)
    };
    let mut access = super::acl::new_object_access(s3, &bucket, &user, &headers)?;
    access.lock = lock;
    if input.content_length.is_some_and(|l| l > MAX_PUT_SIZE) {
        return Err(s3_error!(
            EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size"
        ));
    }
    let tags = match &input.tagging {
        Some(t) => parse_tagging_header(s3, t)?,
        None => Vec::new(),
    };
    let opts = PutOptions {
        writer: user,
        meta: object_meta(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.metadata,
        ),
        tags,
        content_md5: parse_content_md5(input.content_md5.as_deref())?,
        if_none_match: input.if_none_match.as_ref().map(write_condition),
        if_match: input.if_match.as_ref().map(write_condition),
        events: None,
        access,
        checksum: None,
    };
    check_metadata_size(s3, &opts.meta)?;
    let origin = Origin {
        principal: opts.writer.clone(),
        source_ip: info.source_ip,
        request_id: info.request_id,
        batch_writer: false,
    };
    // The checksum the client sent is kept with the object (S3 returns it
    // with `x-amz-checksum-mode: ENABLED`).
    let keep = expected.sent_algorithm();
    let (body, slot) = super::checksum::verify_keeping(input.body.unwrap_or_else(empty_body), expected.keeping(keep));
    let mut opts = opts;
    opts.checksum = slot;
    let outcome = s3
        .notifier
        .write_object(Change::new(event, &input.key), &input.bucket, body, opts, &origin)
        .await
        .map_err(put_err)?;
    let mut out = PutObjectOutput {
        e_tag: Some(etag_dto(&outcome.version.etag)),
        version_id: written_version(outcome.bucket.versioning, &outcome.version.version_id),
        size: Some(outcome.version.size as i64),
        ..Default::default()
    };
    if let Some(c) = &outcome.version.checksum {
        super::checksum::set_checksum!(out, c);
        out.checksum_type = Some(super::checksum::type_dto(c));
    }
    ok(out)
}

/// The bytes (`(start, len)`) of part `n` of a version, for GET and HEAD
/// with `partNumber`: a multipart object's parts are its segments; any
/// other object is one part, the whole of it. A part it does not have is
/// `400 InvalidPart`, as Ceph answers.
fn part_range(v: &ObjectVersion, n: i32) -> S3Result<(u64, u64)> {
    if !(1..=MAX_PART_NUMBER).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        ));
    }
    let invalid = || s3_error!(InvalidPart, "The requested partnumber is not satisfiable");
    let n = n as usize;
    match v.parts_count {
        Some(count) if v.segments.len() == count as usize => {
            let start: u64 = v.segments.iter().take(n - 1).map(|s| s.len).sum();
            let part = v.segments.get(n - 1).ok_or_else(invalid)?;
            Ok((start, part.len))
        }
        _ if n == 1 => Ok((0, v.size)),
        _ => Err(invalid()),
    }
}

/// The checksum a GET or HEAD shows: only when asked
/// (`x-amz-checksum-mode: ENABLED`), never for a byte range; with
/// `partNumber`, that part's (a multipart object keeps one per part).
fn shown_checksum(
    v: &ObjectVersion,
    mode: Option<&ChecksumMode>,
    part: Option<i32>,
    ranged: bool,
) -> Option<herald_model::checksum::ObjectChecksum> {
    let whole = v.checksum.as_ref()?;
    if mode.map(|m| m.as_str()) != Some(ChecksumMode::ENABLED) || ranged {
        return None;
    }
    match (part, v.parts_count) {
        (Some(n), Some(_)) => {
            let seg = v.segments.get(usize::try_from(n).ok()?.checked_sub(1)?)?;
            Some(herald_model::checksum::ObjectChecksum {
                value: seg.checksum.clone()?,
                ..whole.clone()
            })
        }
        _ => Some(whole.clone()),
    }
}

/// An HTTP date (`Sun, 06 Dec 2026 08:00:00 GMT`) of a time in ms.
fn http_date(ms: i64) -> String {
    let mut buf = Vec::new();
    let _ = ts(ms).format(TimestampFormat::HttpDate, &mut buf);
    String::from_utf8(buf).unwrap_or_default()
}

/// A conditional write's `If-Match`/`If-None-Match` for the store.
pub(crate) fn write_condition(c: &ETagCondition) -> herald_store::ETagCondition {
    match c.as_etag() {
        Some(e) => herald_store::ETagCondition::Tag(ETag::parse(e.value())),
        None => herald_store::ETagCondition::Any,
    }
}

/// The header form of an ETag condition (`*`, or the ETag's value).
pub(crate) fn condition_text(c: &ETagCondition) -> String {
    c.as_etag().map_or_else(|| "*".to_owned(), |e| e.value().to_owned())
}

/// The outcome of evaluating conditional request headers (RFC 9110 and
/// the S3 documentation's precedence rules).
enum Condition {
    Proceed,
    NotModified,
    PreconditionFailed,
}

fn evaluate_conditions(
    v: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> Condition {
    let last_modified_s = v.last_modified_ms / 1000;
    let secs = |t: &Timestamp| time::OffsetDateTime::from(t.clone()).unix_timestamp();
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        other => other.as_etag().is_some_and(|e| e.value() == v.etag.as_str()),
    };
    // If-Match wins over If-Unmodified-Since when it holds.
    match if_match {
        Some(c) if !matches(c) => return Condition::PreconditionFailed,
        Some(_) => {}
        None => {
            if let Some(t) = if_unmodified_since
                && last_modified_s > secs(t)
            {
                return Condition::PreconditionFailed;
            }
        }
    }
    match if_none_match {
        Some(c) if matches(c) => return Condition::NotModified,
        Some(_) => {}
        None => {
            if let Some(t) = if_modified_since
                && last_modified_s <= secs(t)
            {
                return Condition::NotModified;
            }
        }
    }
    Condition::Proceed
}

fn check_conditions(
    v: &ObjectVersion,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match evaluate_conditions(v, if_match, if_none_match, if_modified_since, if_unmodified_since) {
        Condition::Proceed => Ok(()),
        Condition::NotModified => {
            // A 304 still names the version it is about (RFC 9110 §15.4.5).
            let mut e = s3_error!(NotModified);
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", v.etag.as_str())) {
                headers.insert(http::header::ETAG, v);
            }
            if let Ok(lm) = http::HeaderValue::from_str(&http_date(v.last_modified_ms)) {
                headers.insert(http::header::LAST_MODIFIED, lm);
            }
            e.set_headers(headers);
            Err(e)
        }
        Condition::PreconditionFailed => Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )),
    }
}

/// Marks a read's `404 NoSuchKey` or `405 MethodNotAllowed` with what
/// S3 and Ceph say about delete markers: `x-amz-delete-marker: true` and
/// the marker's version id (and, for a marker read by id, its
/// `Last-Modified`) when one is why the object was not found, else
/// `x-amz-delete-marker: false`.
fn with_delete_marker(
    s3: &HeraldS3,
    bucket: &herald_store::BucketRecord,
    key: &str,
    version_id: Option<&str>,
    mut err: s3s::S3Error,
) -> s3s::S3Error {
    use s3s::S3ErrorCode as C;
    if !matches!(err.code(), C::NoSuchKey | C::MethodNotAllowed) {
        return err;
    }
    let marker = s3.store.delete_marker(&bucket.name, key, version_id).ok().flatten();
    // These replace the error's headers, its XML body's type included.
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    headers.insert(
        "x-amz-delete-marker",
        http::HeaderValue::from_static(if marker.is_some() { "true" } else { "false" }),
    );
    if let Some(m) = &marker {
        if let Some(v) =
            reported_version(bucket.versioning, &m.version_id).and_then(|v| http::HeaderValue::from_str(&v).ok())
        {
            headers.insert("x-amz-version-id", v);
        }
        if version_id.is_some()
            && let Ok(lm) = http::HeaderValue::from_str(&http_date(m.last_modified_ms))
        {
            headers.insert(http::header::LAST_MODIFIED, lm);
        }
    }
    err.set_headers(headers);
    err
}

pub async fn get_object(s3: &HeraldS3, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let lock_view = super::lock::visibility(
        s3,
        &req,
        &req.input.bucket,
        &req.input.key,
        req.input.version_id.as_deref(),
    );
    let reader = reader(s3, &req, &req.input.bucket);
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let version_id = input.version_id.as_deref();
    let decided = super::access::decided_on_version(&req.extensions);
    let head = super::access::decided_version(s3, &req.extensions, &input.bucket, &input.key, version_id)
        .map_err(|e| with_delete_marker(s3, &bucket, &input.key, version_id, e))?;
    check_conditions(
        &head,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let range = match (&input.range, input.part_number) {
        (Some(_), Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ));
        }
        (Some(r), None) => {
            let r = r
                .check(head.size)
                .map_err(|_| s3_error!(InvalidRange, "The requested range is not satisfiable"))?;
            Some((r.start, r.end - r.start))
        }
        (None, Some(n)) => Some(part_range(&head, n)?),
        (None, None) => None,
    };
    // Read the exact version we checked (a concurrent overwrite of a
    // versioned key cannot swap the bytes under our headers).
    // So is the version an ACL decision was made on.
    let pinned = if bucket.versioning == VersioningState::Enabled || decided {
        Some(head.version_id.as_str())
    } else {
        version_id
    };
    let (v, body) = s3
        .store
        .open_object(&input.bucket, &input.key, pinned, range)
        .await
        .s3()?;
    let (content_length, content_range) = match range {
        // An empty part (of an empty object) has no byte range to name.
        Some((_, 0)) => (0, None),
        Some((start, len)) => (len, Some(format!("bytes {}-{}/{}", start, start + len - 1, v.size))),
        None => (v.size, None),
    };
    let meta = &v.meta;
    let lock = super::lock::fields(&v, lock_view);
    let checksum = shown_checksum(
        &v,
        input.checksum_mode.as_ref(),
        input.part_number,
        input.range.is_some(),
    );
    let mut out = GetObjectOutput {
        body: Some(StreamingBlob::wrap(body)),
        content_length: Some(content_length as i64),
        content_range,
        accept_ranges: Some("bytes".into()),
        e_tag: Some(etag_dto(&v.etag)),
        last_modified: Some(ts(v.last_modified_ms)),
        content_type: input
            .response_content_type
            .or_else(|| meta.content_type.clone())
            .or_else(|| Some(DEFAULT_CONTENT_TYPE.into())),
        content_encoding: input
            .response_content_encoding
            .or_else(|| meta.content_encoding.clone()),
        content_disposition: input
            .response_content_disposition
            .or_else(|| meta.content_disposition.clone()),
        content_language: input
            .response_content_language
            .or_else(|| meta.content_language.clone()),
        cache_control: input.response_cache_control.or_else(|| meta.cache_control.clone()),
        expires: input.response_expires.or_else(|| parse_expires(&meta.expires)),
        metadata: user_metadata(meta),
        version_id: reported_version(bucket.versioning, &v.version_id),
        tag_count: (!v.tags.is_empty()).then_some(v.tags.len() as i32),
        parts_count: v.parts_count.map(|n| n as i32),
        object_lock_mode: lock.mode,
        object_lock_retain_until_date: lock.retain_until,
        object_lock_legal_hold_status: lock.legal_hold,
        ..Default::default()
    };
    if let Some(c) = &checksum {
        super::checksum::set_checksum!(out, c);
        out.checksum_type = Some(super::checksum::type_dto(c));
    }
    s3.notify_read(reader, EventType::ObjectAccessedGet, &bucket, &input.key, &v)
        .await;
    ok(out)
}

pub async fn head_object(s3: &HeraldS3, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
    let lock_view = super::lock::visibility(
        s3,
        &req,
        &req.input.bucket,
        &req.input.key,
        req.input.version_id.as_deref(),
    );
    let reader = reader(s3, &req, &req.input.bucket);
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let v = super::access::decided_version(
        s3,
        &req.extensions,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )
    .map_err(|e| with_delete_marker(s3, &bucket, &input.key, input.version_id.as_deref(), e))?;
    check_conditions(
        &v,
        input.if_match.as_ref(),
        input.if_none_match.as_ref(),
        input.if_modified_since.as_ref(),
        input.if_unmodified_since.as_ref(),
    )?;
    let part = match (input.part_number, &input.range) {
        (Some(_), Some(_)) => {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ));
        }
        (Some(n), None) => Some(part_range(&v, n)?),
        (None, _) => None,
    };
    let content_length = part.map_or(v.size, |(_, len)| len);
    let meta = &v.meta;
    let tag_count = v.tags.len();
    let lock = super::lock::fields(&v, lock_view);
    let checksum = shown_checksum(
        &v,
        input.checksum_mode.as_ref(),
        input.part_number,
        input.range.is_some(),
    );
    let mut head = HeadObjectOutput {
        content_length: Some(content_length as i64),
        accept_ranges: Some("bytes".into()),
        e_tag: Some(etag_dto(&v.etag)),
        last_modified: Some(ts(v.last_modified_ms)),
        content_type: meta.content_type.clone().or_else(|| Some(DEFAULT_CONTENT_TYPE.into())),
        content_encoding: meta.content_encoding.clone(),
        content_disposition: meta.content_disposition.clone(),
        content_language: meta.content_language.clone(),
        cache_control: meta.cache_control.clone(),
        expires: parse_expires(&meta.expires),
        metadata: user_metadata(meta),
        version_id: reported_version(bucket.versioning, &v.version_id),
        parts_count: v.parts_count.map(|n| n as i32),
        object_lock_mode: lock.mode,
        object_lock_retain_until_date: lock.retain_until,
        object_lock_legal_hold_status: lock.legal_hold,
        ..Default::default()
    };
    if let Some(c) = &checksum {
        super::checksum::set_checksum!(head, c);
        head.checksum_type = Some(super::checksum::type_dto(c));
    }
    let mut resp = S3Response::new(head);
    // A part is a byte range of the object: 206 with its Content-Range, as
    // a GET of it answers.
    if let Some((start, len)) = part.filter(|(_, len)| *len > 0)
        && let Ok(range) = http::HeaderValue::from_str(&format!("bytes {}-{}/{}", start, start + len - 1, v.size))
    {
        resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        resp.headers.insert(http::header::CONTENT_RANGE, range);
    }
    // As GET answers it (S3's model has no field for it on HEAD).
    if tag_count > 0 {
        resp.headers
            .insert("x-amz-tagging-count", http::HeaderValue::from(tag_count));
    }
    s3.notify_read(reader, EventType::ObjectAccessedHead, &bucket, &input.key, &v)
        .await;
    Ok(resp)
}

pub async fn copy_object(s3: &HeraldS3, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    // The copy's lock is its request's (else the destination's default),
    // never the source's.
    let lock = super::lock::requested(
        s3,
        &req,
        super::lock::lock_headers!(req.input),
        &req.input.bucket,
        &req.input.key,
    )?;
    let input = req.input;
    let dst_bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    check_key(&input.key)?;
    // A copy gets the ACL its request gives (private by default), never
    // the source's, as in S3.
    let mut access = super::acl::new_object_access(s3, &dst_bucket, &user, &super::acl::acl_headers!(input))?;
    access.lock = lock;
    let CopySourceVersion {
        bucket: src_bucket,
        key: src_key,
        explicit_version: src_version,
        bucket_record: src_rec,
        version: source,
    } = resolve_copy_source(s3, &input.copy_source)?;
    check_conditions(
        &source,
        input.copy_source_if_match.as_ref(),
        input.copy_source_if_none_match.as_ref(),
        input.copy_source_if_modified_since.as_ref(),
        input.copy_source_if_unmodified_since.as_ref(),
    )
    .map_err(|e| {
        // A copy answers 412 for every failed source condition.
        if *e.code() == s3s::S3ErrorCode::NotModified {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        } else {
            e
        }
    })?;
    let replace_meta = input
        .metadata_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
    let replace_tags = input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    if src_bucket == input.bucket && src_key == input.key && src_version.is_none() && !replace_meta && !replace_tags {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let meta = replace_meta.then(|| {
        object_meta(
            input.content_type,
            input.content_encoding,
            input.content_disposition,
            input.content_language,
            input.cache_control,
            input.expires,
            input.metadata,
        )
    });
    if let Some(m) = &meta {
        check_metadata_size(s3, m)?;
    }
    let tags = if replace_tags {
        Some(match &input.tagging {
            Some(t) => parse_tagging_header(s3, t)?,
            None => Vec::new(),
        })
    } else {
        None
    };
    let change = Change {
        metadata: meta.as_ref().unwrap_or(&source.meta).user_pairs(),
        tags: tags.clone().unwrap_or_else(|| source.tags.clone()),
        content_type: meta.as_ref().unwrap_or(&source.meta).content_type.clone(),
        ..Change::new(EventType::ObjectCreatedCopy, &input.key)
    };
    let write = |events| {
        s3.store.copy_object(
            herald_store::CopySource {
                version: &source,
                bucket: &src_bucket,
                key: &src_key,
            },
            &input.bucket,
            &input.key,
            herald_store::CopyTarget {
                meta,
                tags,
                writer: &user,
                access,
            },
            events,
        )
    };
    let out = s3
        .write_with_events(&input.bucket, Some(change), &user, &info, write)
        .await
        .map_err(put_err)?;
    ok(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag_dto(&out.version.etag)),
            last_modified: Some(ts(out.version.last_modified_ms)),
            ..Default::default()
        }),
        copy_source_version_id: reported_version(src_rec.versioning, &source.version_id),
        version_id: written_version(dst_bucket.versioning, &out.version.version_id),
        ..Default::default()
    })
}

/// The object a copy (or part copy) reads from.
pub(crate) struct CopySourceVersion {
    pub bucket: String,
    pub key: String,
    /// The version id the request named, if any.
    pub explicit_version: Option<String>,
    pub bucket_record: herald_store::BucketRecord,
    pub version: ObjectVersion,
}

/// Resolves `x-amz-copy-source`: the named (or current) version must
/// exist (reading it was allowed by the access hook, see
/// [`super::access`]).
pub(crate) fn resolve_copy_source(s3: &HeraldS3, source: &CopySource) -> S3Result<CopySourceVersion> {
    let CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(NotImplemented, "Only bucket/key copy sources are supported"));
    };
    let bucket_record = s3.granted_bucket(&http::Extensions::new(), bucket)?;
    let explicit_version = version_id.as_deref().map(str::to_owned);
    let version = s3.store.head_object(bucket, key, explicit_version.as_deref()).s3()?;
    Ok(CopySourceVersion {
        bucket: bucket.to_string(),
        key: key.to_string(),
        explicit_version,
        bucket_record,
        version,
    })
}
