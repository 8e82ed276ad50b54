//! Buckets in gateway mode: Herald's record (owner, policies,
//! notifications) and the upstream's bucket of the same name, kept in step.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::Gateway;
use super::upstream::timed;

/// Asks the upstream first (a name that exists there is refused unless
/// adoption is allowed), then creates Herald's record (it decides who owns
/// the name, and refuses a name another Herald user holds), then the
/// upstream's bucket; if that fails, Herald's record is removed again.
/// Runs detached from the client: a hang-up cannot stop it half-way.
pub(super) async fn create_bucket(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    if req.input.object_lock_enabled_for_bucket == Some(true) {
        return Err(s3_error!(
            NotImplemented,
            "Object Lock is not available in gateway mode"
        ));
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move { create_bucket_now(&gw, req).await })
        .await
}

async fn create_bucket_now(
    gw: &Gateway,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let name = req.input.bucket.clone();
    let _one_at_a_time = gw.bucket_changes.lock().await;
    if gw.local.store.get_bucket(&name).ok().flatten().is_some() {
        // The caller's already, or another user's: Herald answers.
        return gw.local.create_bucket(req).await;
    }
    let exists_upstream = upstream_has(gw, &name).await?;
    if exists_upstream && !gw.adopt_existing {
        return Err(taken());
    }
    let resp = gw.local.create_bucket(req).await?;
    if exists_upstream {
        tracing::info!(bucket = %name, "adopted a bucket that already existed upstream");
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

/// Whether the upstream has a bucket of this name (a 403 means another
/// upstream account has it: taken).
async fn upstream_has(gw: &Gateway, name: &str) -> S3Result<bool> {
    match timed(gw.client.head_bucket().bucket(name).send()).await? {
        Ok(_) => Ok(true),
        Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
            Some(404) => Ok(false),
            Some(403) => Err(taken()),
            _ => Err(sdk_err("HeadBucket", e)),
        },
    }
}

/// The upstream's side of a new bucket.
async fn make_upstream(gw: &Gateway, name: &str) -> S3Result<()> {
    // Outside us-east-1 an S3 wants the region named.
    let location = (gw.region != "us-east-1").then(|| {
        aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(gw.region.as_str()))
            .build()
    });
    let made = gw
        .client
        .create_bucket()
        .bucket(name)
        .set_create_bucket_configuration(location)
        .send();
    match timed(made).await? {
        Ok(_) => Ok(()),
        Err(e) => {
            let code = e
                .as_service_error()
                .and_then(|s| aws_sdk_s3::error::ProvideErrorMetadata::code(s));
            match code {
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
    let gw = gw.clone();
    gw.clone()
        .detached(async move {
            let name = req.input.bucket.clone();
            let _one_at_a_time = gw.bucket_changes.lock().await;
            if let Err(e) = timed(gw.client.delete_bucket().bucket(&name).send()).await? {
                let gone = e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                if !gone {
                    return Err(sdk_err("DeleteBucket", e));
                }
            }
            gw.local.delete_bucket(req).await
        })
        .await
}

/// Versioning is the upstream's (it keeps the versions); Herald keeps a
/// copy of the state so that its records say what embedded mode's would.
/// Herald's side goes first (it validates the request); if the upstream
/// then refuses, Herald's state is put back.
pub(super) async fn put_bucket_versioning(
    gw: &Gateway,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let gw = gw.clone();
    gw.clone()
        .detached(async move { put_bucket_versioning_now(&gw, req).await })
        .await
}

async fn put_bucket_versioning_now(
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
    let upstream = timed(
        gw.client
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(up.build())
            .send(),
    )
    .await?;
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
