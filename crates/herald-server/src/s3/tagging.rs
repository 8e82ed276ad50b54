//! Object tagging: Get/Put/DeleteObjectTagging and the `x-amz-tagging`
//! header of PUT, copy and multipart; bucket tagging:
//! Get/Put/DeleteBucketTagging.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::events::{put_err, req_info};
use super::object::reported_version;
use super::{HeraldS3, StoreResultExt, ok};
use crate::notify::Change;
use herald_model::event::EventType;

/// S3 limits: 10 tags per object, keys up to 128 characters, values up
/// to 256.
const MAX_TAGS: usize = 10;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// A bucket holds up to 50 tags (S3's limit).
const MAX_BUCKET_TAGS: usize = 50;

/// Checks an object's tag set against the S3 rules.
pub(crate) fn validate_tags(tags: &[(String, String)]) -> S3Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than {MAX_TAGS}"));
    }
    validate_tag_pairs(tags, false)
}

/// Keys and values of a tag set: lengths, and unique keys unless
/// `duplicates_allowed`.
fn validate_tag_pairs(tags: &[(String, String)], duplicates_allowed: bool) -> S3Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(s3_error!(InvalidTag, "The TagValue you have provided is invalid"));
        }
        if !seen.insert(k.as_str()) && !duplicates_allowed {
            return Err(s3_error!(InvalidTag, "Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(())
}

/// Parses the URL-encoded `x-amz-tagging` header (`a=1&b=2`). In Ceph
/// mode a key may repeat (`hello=world&hello=there`), as Ceph accepts it
/// and its notification suite relies on: a tag filter then matches any of
/// the key's values.
pub(crate) fn parse_tagging_header(s3: &HeraldS3, header: &str) -> S3Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = form_urlencoded::parse(header.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than {MAX_TAGS}"));
    }
    validate_tag_pairs(&tags, s3.notifier.compat().is_ceph())?;
    Ok(tags)
}

/// The tag set as S3 clients get it: ordered by key, as Ceph keeps it.
fn to_tag_set(tags: &[(String, String)]) -> TagSet {
    let mut set: TagSet = tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect();
    set.sort_by(|a, b| a.key.cmp(&b.key));
    set
}

pub async fn get_object_tagging(
    s3: &HeraldS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let v = s3
        .store
        .head_object(&input.bucket, &input.key, input.version_id.as_deref())
        .s3()?;
    ok(GetObjectTaggingOutput {
        tag_set: to_tag_set(&v.tags),
        version_id: reported_version(bucket.versioning, &v.version_id),
    })
}

pub async fn put_object_tagging(
    s3: &HeraldS3,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    // Decided in the access hook's `put_object_tagging` (with the body's
    // tags), never by the generic check: insist that it ran.
    if super::access::granted(&req)?.bucket.is_none() {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let tags: Vec<(String, String)> = input
        .tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    validate_tags(&tags)?;
    let out = tag_and_notify(
        s3,
        (&input.bucket, &input.key, input.version_id.as_deref()),
        tags,
        EventType::ObjectTaggingPut,
        &user,
        &info,
    )
    .await?;
    ok(PutObjectTaggingOutput {
        version_id: reported_version(out.bucket.versioning, &out.version.version_id),
    })
}

pub async fn delete_object_tagging(
    s3: &HeraldS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let out = tag_and_notify(
        s3,
        (&input.bucket, &input.key, input.version_id.as_deref()),
        Vec::new(),
        EventType::ObjectTaggingDelete,
        &user,
        &info,
    )
    .await?;
    let mut resp = S3Response::new(DeleteObjectTaggingOutput {
        version_id: reported_version(out.bucket.versioning, &out.version.version_id),
    });
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

/// Replaces a version's tags and emits the tagging event (filters see the
/// object's metadata and its new tags).
async fn tag_and_notify(
    s3: &HeraldS3,
    (bucket, key, version_id): (&str, &str, Option<&str>),
    tags: Vec<(String, String)>,
    event: EventType,
    user: &str,
    info: &super::events::ReqInfo,
) -> S3Result<herald_store::WriteOutcome> {
    let change = if s3.notifier.wants_changes(bucket) {
        let current = s3.store.head_object(bucket, key, version_id).s3()?;
        let change = Change {
            metadata: current.meta.user_pairs(),
            tags: tags.clone(),
            content_type: current.meta.content_type.clone(),
            ..Change::new(event, key)
        };
        Some(change)
    } else {
        None
    };
    s3.write_with_events(bucket, change, user, info, |events| {
        s3.store.set_object_tags(bucket, key, version_id, tags, events)
    })
    .await
    .map_err(put_err)
}

pub async fn put_bucket_tagging(
    s3: &HeraldS3,
    req: S3Request<PutBucketTaggingInput>,
) -> S3Result<S3Response<PutBucketTaggingOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let tags: Vec<(String, String)> = req
        .input
        .tagging
        .tag_set
        .iter()
        .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
        .collect();
    if tags.len() > MAX_BUCKET_TAGS {
        return Err(s3_error!(
            InvalidTag,
            "Bucket tags cannot be greater than {MAX_BUCKET_TAGS}"
        ));
    }
    validate_tag_pairs(&tags, false)?;
    s3.store
        .update_bucket_access(&bucket, move |rec| {
            rec.tags = Some(tags);
            Ok(())
        })
        .await
        .s3()?;
    let mut resp = S3Response::new(PutBucketTaggingOutput {});
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn get_bucket_tagging(
    s3: &HeraldS3,
    req: S3Request<GetBucketTaggingInput>,
) -> S3Result<S3Response<GetBucketTaggingOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    match &bucket.tags {
        Some(tags) => ok(GetBucketTaggingOutput {
            tag_set: to_tag_set(tags),
        }),
        None => Err(s3_error!(NoSuchTagSet, "The TagSet does not exist")),
    }
}

pub async fn delete_bucket_tagging(
    s3: &HeraldS3,
    req: S3Request<DeleteBucketTaggingInput>,
) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    s3.store
        .update_bucket_access(&bucket, |rec| {
            rec.tags = None;
            Ok(())
        })
        .await
        .s3()?;
    let mut resp = S3Response::new(DeleteBucketTaggingOutput {});
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
