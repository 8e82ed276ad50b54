//! The access hook `s3s` calls before every operation, and again, for
//! the operations whose body changes access, once the body has arrived.

use herald_store::BucketRecord;
use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Request, S3Result, s3_error};

use super::context::{MAX_REQUEST_TAG_KEYS, expected_owner, insert_request_tags, request_context, version_id_of};
use super::decide::Ask;
use super::{Caller, Granted, Pinned, granted};
use crate::front::RequestMeta;
use crate::s3::HeraldS3;

/// The access hook `s3s` calls before every operation.
pub struct HeraldAccess(pub HeraldS3);

#[async_trait::async_trait]
impl S3Access for HeraldAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let s3 = &self.0;
        // SigV2 headers and presigned URLs were refused (or checked) on
        // the request head already (`signing::check`); s3s's access context
        // does not say which version signed, so nothing more is asked here.
        let caller = s3.identify(cx.credentials(), false)?;
        let op = cx.s3_op().name().to_owned();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let mut decided: Option<BucketRecord> = None;
        let mut pinned = Pinned::Nothing;
        match (op.as_str(), &bucket) {
            // Listing one's buckets: anonymous requests get an empty list.
            ("ListBuckets", _) => {}
            // Creating a bucket needs a user, no grant.
            ("CreateBucket", _) | (_, None) => {
                if caller == Caller::Anonymous {
                    return Err(s3_error!(AccessDenied, "Anonymous access is not allowed"));
                }
            }
            // Decided once the body's tag set is known (its tags are
            // condition keys): see `put_object_tagging` below.
            ("PutObjectTagging", Some(_)) => {}
            // A form upload's key is in the form: decided with it by the
            // `post_object` hook below, once s3s has parsed the form.
            ("PostObject", Some(_)) => {}
            // Checked per key by the operation (s3:DeleteObject on each
            // object, as AWS); here the caller only needs to be known.
            ("DeleteObjects", Some(bucket)) => {
                let record = s3.granted_bucket(&http::Extensions::new(), bucket)?;
                expected_owner(cx.headers(), &record)?;
                decided = Some(record);
            }
            (_, Some(bucket)) => {
                let meta = cx.extensions_mut().get::<RequestMeta>().cloned();
                let (uri, headers) = (cx.uri(), cx.headers());
                let context = || request_context(meta.as_ref(), &caller, uri, headers);
                let version_id = version_id_of(uri);
                let (record, on) = s3.decide_pinned(&Ask {
                    caller: &caller,
                    op: &op,
                    version_id: version_id.as_deref(),
                    bucket,
                    key: key.as_deref(),
                    context: &context,
                })?;
                expected_owner(cx.headers(), &record)?;
                decided = Some(record);
                pinned = on;
            }
        }
        cx.extensions_mut().insert(Granted {
            caller,
            bucket: decided,
            pinned,
        });
        Ok(())
    }

    /// PutObjectTagging, decided with the tags it sets
    /// (`s3:RequestObjectTag/<key>`), which only the parsed body holds.
    async fn put_object_tagging(&self, req: &mut S3Request<s3s::dto::PutObjectTaggingInput>) -> S3Result<()> {
        let s3 = &self.0;
        let caller = granted(req)?.caller;
        let tags: Vec<(String, String)> = req
            .input
            .tagging
            .tag_set
            .iter()
            .take(MAX_REQUEST_TAG_KEYS)
            .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
            .collect();
        let meta = req.extensions.get::<RequestMeta>();
        let context = || {
            let mut cx = request_context(meta, &caller, &req.uri, &req.headers);
            insert_request_tags(&mut cx, &tags);
            cx
        };
        let record = s3.decide(&Ask {
            caller: &caller,
            op: "PutObjectTagging",
            version_id: req.input.version_id.as_deref(),
            bucket: &req.input.bucket,
            key: Some(&req.input.key),
            context: &context,
        })?;
        expected_owner(&req.headers, &record)?;
        req.extensions.insert(Granted {
            caller,
            bucket: Some(record),
            pinned: Pinned::Nothing,
        });
        Ok(())
    }

    // Operations whose body (which a client may trickle for as long as it
    // keeps sending) changes access: decided again once it has arrived, so
    // a grant revoked, a bucket re-created or Block Public Access turned on
    // meanwhile is not undone by a request decided before.

    async fn put_object_acl(&self, req: &mut S3Request<s3s::dto::PutObjectAclInput>) -> S3Result<()> {
        let (bucket, key, version) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        decide_again(&self.0, req, "PutObjectAcl", &bucket, Some(&key), version.as_deref())
    }

    async fn put_bucket_acl(&self, req: &mut S3Request<s3s::dto::PutBucketAclInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketAcl", &bucket, None, None)
    }

    async fn put_bucket_policy(&self, req: &mut S3Request<s3s::dto::PutBucketPolicyInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketPolicy", &bucket, None, None)
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: &mut S3Request<s3s::dto::PutBucketOwnershipControlsInput>,
    ) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketOwnershipControls", &bucket, None, None)
    }

    async fn put_public_access_block(&self, req: &mut S3Request<s3s::dto::PutPublicAccessBlockInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutPublicAccessBlock", &bucket, None, None)
    }

    async fn put_bucket_cors(&self, req: &mut S3Request<s3s::dto::PutBucketCorsInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketCors", &bucket, None, None)
    }

    async fn put_bucket_tagging(&self, req: &mut S3Request<s3s::dto::PutBucketTaggingInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketTagging", &bucket, None, None)
    }

    async fn put_bucket_versioning(&self, req: &mut S3Request<s3s::dto::PutBucketVersioningInput>) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutBucketVersioning", &bucket, None, None)
    }

    /// A form upload names its key in the form, not the path: decided
    /// again on the object (`s3:PutObject` on `bucket/key`, the bucket
    /// ACL's WRITE), as a PutObject is.
    /// Its ACL, grants and storage class are form fields, not headers:
    /// they are the condition keys a header would give
    /// (`s3:x-amz-acl`, ...), so a policy sees a form as it sees a PUT.
    async fn post_object(&self, req: &mut S3Request<s3s::dto::PostObjectInput>) -> S3Result<()> {
        let s3 = &self.0;
        // A form signed with SigV2 (`AWSAccessKeyId` + `signature`; s3s
        // gives it no region) is refused unless the operator allows
        // SigV2: its signature is in the body, which the head check
        // (`signing::check`) never saw.
        if req.credentials.is_some() && req.region.is_none() {
            s3.identify(req.credentials.as_ref(), true)?;
        }
        let caller = granted(req)?.caller;
        let input = &req.input;
        let form_fields = [
            ("s3:x-amz-acl", input.acl.as_ref().map(|a| a.as_str().to_owned())),
            ("s3:x-amz-grant-full-control", input.grant_full_control.clone()),
            ("s3:x-amz-grant-read", input.grant_read.clone()),
            ("s3:x-amz-grant-read-acp", input.grant_read_acp.clone()),
            ("s3:x-amz-grant-write-acp", input.grant_write_acp.clone()),
            (
                "s3:x-amz-storage-class",
                input.storage_class.as_ref().map(|c| c.as_str().to_owned()),
            ),
            (
                "s3:x-amz-server-side-encryption",
                input.server_side_encryption.as_ref().map(|c| c.as_str().to_owned()),
            ),
        ];
        let meta = req.extensions.get::<RequestMeta>();
        let context = || {
            let mut cx = request_context(meta, &caller, &req.uri, &req.headers);
            for (name, value) in &form_fields {
                if let Some(v) = value {
                    cx.insert(*name, v.clone());
                }
            }
            cx
        };
        let record = s3.decide(&Ask {
            caller: &caller,
            op: "PostObject",
            version_id: None,
            bucket: &input.bucket,
            key: Some(&input.key),
            context: &context,
        })?;
        expected_owner(&req.headers, &record)?;
        req.extensions.insert(Granted {
            caller,
            bucket: Some(record),
            pinned: Pinned::Nothing,
        });
        Ok(())
    }

    async fn put_object_lock_configuration(
        &self,
        req: &mut S3Request<s3s::dto::PutObjectLockConfigurationInput>,
    ) -> S3Result<()> {
        let bucket = req.input.bucket.clone();
        decide_again(&self.0, req, "PutObjectLockConfiguration", &bucket, None, None)
    }

    async fn put_object_retention(&self, req: &mut S3Request<s3s::dto::PutObjectRetentionInput>) -> S3Result<()> {
        let (bucket, key, version) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        decide_again(
            &self.0,
            req,
            "PutObjectRetention",
            &bucket,
            Some(&key),
            version.as_deref(),
        )
    }

    async fn put_object_legal_hold(&self, req: &mut S3Request<s3s::dto::PutObjectLegalHoldInput>) -> S3Result<()> {
        let (bucket, key, version) = (
            req.input.bucket.clone(),
            req.input.key.clone(),
            req.input.version_id.clone(),
        );
        decide_again(
            &self.0,
            req,
            "PutObjectLegalHold",
            &bucket,
            Some(&key),
            version.as_deref(),
        )
    }

    async fn complete_multipart_upload(
        &self,
        req: &mut S3Request<s3s::dto::CompleteMultipartUploadInput>,
    ) -> S3Result<()> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        decide_again(&self.0, req, "CompleteMultipartUpload", &bucket, Some(&key), None)
    }

    /// A copy also reads its source: `s3:GetObject` there.
    async fn copy_object(&self, req: &mut S3Request<s3s::dto::CopyObjectInput>) -> S3Result<()> {
        let source = req.input.copy_source.clone();
        check_copy_source(&self.0, req, &source)
    }

    async fn upload_part_copy(&self, req: &mut S3Request<s3s::dto::UploadPartCopyInput>) -> S3Result<()> {
        let source = req.input.copy_source.clone();
        check_copy_source(&self.0, req, &source)
    }
}

/// The decision of a request made again, after its body arrived (see the
/// hooks above); it replaces the first one.
fn decide_again<T>(
    s3: &HeraldS3,
    req: &mut S3Request<T>,
    op: &str,
    bucket: &str,
    key: Option<&str>,
    version_id: Option<&str>,
) -> S3Result<()> {
    let caller = granted(req)?.caller;
    let meta = req.extensions.get::<RequestMeta>();
    let context = || request_context(meta, &caller, &req.uri, &req.headers);
    let (record, pinned) = s3.decide_pinned(&Ask {
        caller: &caller,
        op,
        version_id,
        bucket,
        key,
        context: &context,
    })?;
    expected_owner(&req.headers, &record)?;
    req.extensions.insert(Granted {
        caller,
        bucket: Some(record),
        pinned,
    });
    Ok(())
}

/// `s3:GetObject` (or `GetObjectVersion`) on a copy's source object.
fn check_copy_source<T>(s3: &HeraldS3, req: &S3Request<T>, source: &s3s::dto::CopySource) -> S3Result<()> {
    let s3s::dto::CopySource::Bucket {
        bucket,
        key,
        version_id,
    } = source
    else {
        return Err(s3_error!(NotImplemented, "access points are not supported"));
    };
    let caller = granted(req)?.caller;
    let meta = req.extensions.get::<RequestMeta>();
    let context = || request_context(meta, &caller, &req.uri, &req.headers);
    let record = s3.decide(&Ask {
        caller: &caller,
        op: "GetObject",
        version_id: version_id.as_deref(),
        bucket,
        key: Some(key),
        context: &context,
    })?;
    // The source's own expected owner (`x-amz-source-expected-bucket-owner`).
    match req
        .headers
        .get("x-amz-source-expected-bucket-owner")
        .and_then(|v| v.to_str().ok())
    {
        Some(expected) if expected != record.owner => Err(s3_error!(AccessDenied, "Access Denied")),
        _ => Ok(()),
    }
}
