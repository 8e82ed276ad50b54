//! Buckets in gateway mode: Herald's record (owner, policies,
//! notifications) and the upstream's bucket of the same name, kept in step.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;

/// Creates Herald's record first (it decides who owns the name, and
/// refuses a name another Herald user holds), then the upstream's bucket;
/// if the upstream refuses, Herald's record is removed again.
pub(super) async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let name = req.input.bucket.clone();
    let _one_at_a_time = gw.bucket_changes.lock().await;
    let existed_here = gw.local.store.get_bucket(&name).ok().flatten().is_some();
    let resp = gw.local.create_bucket(req).await?;
    if existed_here {
        // Already the caller's (else the local create refused): nothing
        // new to make upstream.
        return Ok(resp);
    }
    if let Err(e) = make_upstream(gw, &name).await {
        // Only this request's own record is undone (creations are one at a
        // time, and the record did not exist before it).
        if let Err(undo) = gw.local.store.delete_bucket(&name).await {
            tracing::error!(bucket = %name, error = %undo, "cannot remove the bucket the upstream refused");
        }
        gw.local.notifier.set_config(&name, None);
        return Err(e);
    }
    Ok(resp)
}

/// The upstream's side of a new bucket.
async fn make_upstream(gw: &Gateway, name: &str) -> S3Result<()> {
    let exists = match gw.client.head_bucket().bucket(name).send().await {
        Ok(_) => true,
        Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => false,
            // 403: it exists and belongs to another upstream account.
            Some(403) => return Err(taken()),
            _ => return Err(sdk_err("HeadBucket", e)),
        },
    };
    if exists {
        if gw.adopt_existing {
            tracing::info!(bucket = name, "adopted a bucket that already existed upstream");
            return Ok(());
        }
        return Err(taken());
    }
    // Outside us-east-1 an S3 wants the region named.
    let location = (gw.region != "us-east-1").then(|| {
        aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(gw.region.as_str()))
            .build()
    });
    match gw
        .client
        .create_bucket()
        .bucket(name)
        .set_create_bucket_configuration(location)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e
                .as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s));
            match code {
                Some("BucketAlreadyOwnedByYou") if gw.adopt_existing => Ok(()),
                Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists") => Err(taken()),
                _ => Err(sdk_err("CreateBucket", e)),
            }
        }
    }
}

fn taken() -> S3Error {
    s3_error!(
        BucketAlreadyExists,
        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
    )
}

/// Removes the upstream's bucket first (it knows whether it is empty),
/// then Herald's record with its policies and notification configuration.
pub(super) async fn delete_bucket(
    gw: &Gateway,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    // Only the bucket's owner (or whom its policy lets) gets this far: the
    // access hook decided on Herald's record.
    let name = req.input.bucket.clone();
    let _one_at_a_time = gw.bucket_changes.lock().await;
    if let Err(e) = gw.client.delete_bucket().bucket(&name).send().await {
        let gone = e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
        if !gone {
            return Err(sdk_err("DeleteBucket", e));
        }
    }
    gw.local.delete_bucket(req).await
}

/// Versioning is the upstream's (it keeps the versions); Herald keeps a
/// copy of the state so that its records say what embedded mode's would.
/// Herald's side goes first (it validates the request); if the upstream
/// then refuses, Herald's state is put back.
pub(super) async fn put_bucket_versioning(
    gw: &Gateway,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let config = req.input.versioning_configuration.clone();
    let bucket = req.input.bucket.clone();
    let before = gw.local.store.get_bucket(&bucket).ok().flatten().map(|b| b.versioning);
    let resp = gw.local.put_bucket_versioning(req).await?;
    let status = config.status.map(|s| s.as_str().to_owned());
    let mut up = aws_sdk_s3::types::VersioningConfiguration::builder();
    if let Some(s) = status {
        up = up.status(aws_sdk_s3::types::BucketVersioningStatus::from(s.as_str()));
    }
    let upstream = gw
        .client
        .put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(up.build())
        .send()
        .await;
    if let Err(e) = upstream {
        if let Some(before) = before
            && let Err(undo) = gw.local.store.set_versioning(&bucket, before).await
        {
            tracing::error!(bucket, error = %undo, "cannot put back the versioning state the upstream refused");
        }
        return Err(sdk_err("PutBucketVersioning", e));
    }
    Ok(resp)
}

/// An SDK error from a call Herald makes itself (not through the proxy):
/// the upstream's S3 error, or 503 when it could not be reached.
pub(super) fn sdk_err<E>(op: &str, e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> S3Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(service) = e.as_service_error() {
        let code = service.code().and_then(|c| S3ErrorCode::from_bytes(c.as_bytes()));
        let mut err = S3Error::new(code.unwrap_or(S3ErrorCode::InternalError));
        if let Some(m) = service.message() {
            err.set_message(m.to_owned());
        }
        if let Some(status) = e
            .raw_response()
            .and_then(|r| http::StatusCode::from_u16(r.status().as_u16()).ok())
        {
            err.set_status_code(status);
        }
        return err;
    }
    tracing::warn!(op, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "upstream S3 request failed");
    super::unreachable_upstream()
}
