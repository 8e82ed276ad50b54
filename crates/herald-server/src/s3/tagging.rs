//! Object tagging: Get/Put/DeleteObjectTagging and the `x-amz-tagging`
//! header of PUT, copy and multipart.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::object::reported_version;
use super::{HeraldS3, StoreResultExt, ok};

/// S3 limits: 10 tags per object, keys up to 128 characters, values up
/// to 256.
const MAX_TAGS: usize = 10;
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;

/// Checks a tag set against the S3 rules.
pub(crate) fn validate_tags(tags: &[(String, String)]) -> S3Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than {MAX_TAGS}"
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > MAX_TAG_KEY {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if v.chars().count() > MAX_TAG_VALUE {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is invalid"
            ));
        }
        if !seen.insert(k.as_str()) {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(())
}

/// Parses the URL-encoded `x-amz-tagging` header (`a=1&b=2`).
pub(crate) fn parse_tagging_header(header: &str) -> S3Result<Vec<(String, String)>> {
    let tags: Vec<(String, String)> = form_urlencoded::parse(header.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    validate_tags(&tags)?;
    Ok(tags)
}

fn to_tag_set(tags: &[(String, String)]) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

pub async fn get_object_tagging(
    s3: &HeraldS3,
    req: S3Request<GetObjectTaggingInput>,
) -> S3Result<S3Response<GetObjectTaggingOutput>> {
    let user = s3.caller(&req)?;
    let input = req.input;
    let bucket = s3.owned_bucket(&user, &input.bucket)?;
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
    let input = req.input;
    s3.owned_bucket(&user, &input.bucket)?;
    let tags: Vec<(String, String)> = input
        .tagging
        .tag_set
        .into_iter()
        .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
        .collect();
    validate_tags(&tags)?;
    let out = s3
        .store
        .set_object_tags(&input.bucket, &input.key, input.version_id.as_deref(), tags)
        .await
        .s3()?;
    ok(PutObjectTaggingOutput {
        version_id: reported_version(out.bucket.versioning, &out.version.version_id),
    })
}

pub async fn delete_object_tagging(
    s3: &HeraldS3,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let user = s3.caller(&req)?;
    let input = req.input;
    s3.owned_bucket(&user, &input.bucket)?;
    let out = s3
        .store
        .set_object_tags(
            &input.bucket,
            &input.key,
            input.version_id.as_deref(),
            Vec::new(),
        )
        .await
        .s3()?;
    let mut resp = S3Response::new(DeleteObjectTaggingOutput {
        version_id: reported_version(out.bucket.versioning, &out.version.version_id),
    });
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}
