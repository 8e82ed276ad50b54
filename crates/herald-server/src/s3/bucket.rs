//! Bucket operations: list, create, head, delete, location, versioning.

use herald_model::VersioningState;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::access::Caller;
use super::{HeraldS3, StoreResultExt, ok, ts};

/// The most buckets one ListBuckets page may ask for (S3's).
const MAX_BUCKETS_PER_PAGE: i32 = 10_000;

pub async fn list_buckets(s3: &HeraldS3, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
    let caller = super::access::granted(&req)?.caller;
    let prefix = req.input.prefix.clone().unwrap_or_default();
    // An unsigned request owns nothing: an empty list, as S3 and Ceph answer.
    let Caller::User(user) = caller else {
        return ok(ListBucketsOutput {
            buckets: Some(Vec::new()),
            prefix: req.input.prefix,
            ..Default::default()
        });
    };
    // Paginated by name (`max-buckets`, `continuation-token`: the hex of
    // the last name returned), as S3 since 2024.
    let max = match req.input.max_buckets {
        None => usize::MAX,
        Some(n) if (1..=MAX_BUCKETS_PER_PAGE).contains(&n) => n as usize,
        Some(_) => {
            return Err(s3_error!(
                InvalidArgument,
                "max-buckets must be between 1 and {MAX_BUCKETS_PER_PAGE}"
            ));
        }
    };
    let after = match &req.input.continuation_token {
        None => None,
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))?,
        ),
    };
    let mut matching = s3
        .store
        .list_buckets(Some(&user))
        .s3()?
        .into_iter()
        .filter(|b| b.name.starts_with(&prefix) && after.as_ref().is_none_or(|a| b.name > *a));
    let page: Vec<_> = matching.by_ref().take(max).collect();
    let continuation_token = match (matching.next(), page.last()) {
        (Some(_), Some(last)) => Some(hex::encode(&last.name)),
        _ => None,
    };
    let buckets = page
        .into_iter()
        .map(|b| Bucket {
            name: Some(b.name),
            creation_date: Some(ts(b.created_ms)),
            bucket_region: Some(s3.region.clone()),
        })
        .collect();
    ok(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(super::Owners::new(s3).get(&user)),
        prefix: req.input.prefix,
        continuation_token,
    })
}

pub async fn create_bucket(
    s3: &HeraldS3,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    let user = s3.caller(&req)?;
    let name = &req.input.bucket;
    if let Err(e) = herald_model::validate_bucket_name(name) {
        return Err(s3_error!(InvalidBucketName, "The specified bucket is not valid: {e}"));
    }
    if let Some(lc) = req
        .input
        .create_bucket_configuration
        .as_ref()
        .and_then(|c| c.location_constraint.as_ref())
        && !lc.as_str().is_empty()
        && lc.as_str() != s3.region
    {
        return Err(s3_error!(
            IllegalLocationConstraintException,
            "The {} location constraint is incompatible for the region specific endpoint this request was sent to ({}).",
            lc.as_str(),
            s3.region
        ));
    }
    let h = super::acl::AclHeaders {
        write: req.input.grant_write.as_deref(),
        ..super::acl::acl_headers!(req.input)
    };
    let ownership = req.input.object_ownership.as_ref().map(|o| o.as_str());
    let (acl, ownership) = super::acl::new_bucket_access(s3, &user, &h, ownership)?;
    let object_lock = req.input.object_lock_enabled_for_bucket == Some(true);
    // A new bucket has no notifications: whatever the notifier still holds
    // for the name (its configuration, its owner) belonged to a deleted
    // bucket and goes. Under the configuration lock, so a configuration
    // put for the new bucket right after its creation is never the one
    // cleared.
    let _config_writes = s3.notifier.lock_config_writes().await;
    match s3
        .store
        .create_bucket_with(&user, name, move |rec| {
            rec.acl = acl;
            rec.ownership = ownership;
            if object_lock {
                super::lock::enable_at_creation(rec);
            }
        })
        .await
    {
        Ok(_) => {}
        // us-east-1 answers a re-create of one's own bucket (same ACL) with
        // 200 and changes nothing, as S3 and Ceph do; other regions 409.
        Err(herald_store::StoreError::BucketAlreadyOwnedByYou) if s3.region == "us-east-1" => {
            return ok(CreateBucketOutput {
                location: Some(format!("/{name}")),
            });
        }
        Err(e) => return Err(super::s3_err(e)),
    }
    s3.notifier.set_config(name, None);
    tracing::info!(bucket = %name, owner = %user, "bucket created");
    ok(CreateBucketOutput {
        location: Some(format!("/{name}")),
    })
}

pub async fn head_bucket(s3: &HeraldS3, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
    s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    ok(HeadBucketOutput {
        bucket_region: Some(s3.region.clone()),
        ..Default::default()
    })
}

pub async fn delete_bucket(
    s3: &HeraldS3,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    // Not between another change's store write and its cache update: that
    // change would put the deleted bucket's configuration back in the
    // cache, for whoever creates a bucket of this name next.
    let changing = s3.notifier.lock_config_writes().await;
    s3.store.delete_bucket(&req.input.bucket).await.s3()?;
    // The store dropped the bucket's notification configuration with it.
    s3.notifier.set_config(&req.input.bucket, None);
    drop(changing);
    tracing::info!(bucket = %req.input.bucket, "bucket deleted");
    let mut resp = S3Response::new(DeleteBucketOutput {});
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn get_bucket_location(
    s3: &HeraldS3,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    // AWS reports us-east-1 as an empty constraint.
    let lc = (s3.region != "us-east-1").then(|| BucketLocationConstraint::from(s3.region.clone()));
    ok(GetBucketLocationOutput {
        location_constraint: lc,
    })
}

pub async fn get_bucket_versioning(
    s3: &HeraldS3,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let b = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let status = match b.versioning {
        VersioningState::Unversioned => None,
        VersioningState::Enabled => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
        VersioningState::Suspended => Some(BucketVersioningStatus::from_static(BucketVersioningStatus::SUSPENDED)),
    };
    ok(GetBucketVersioningOutput {
        status,
        mfa_delete: None,
    })
}

pub async fn put_bucket_versioning(
    s3: &HeraldS3,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let state = match req.input.versioning_configuration.status.as_ref().map(|s| s.as_str()) {
        Some(BucketVersioningStatus::ENABLED) => VersioningState::Enabled,
        Some(BucketVersioningStatus::SUSPENDED) => VersioningState::Suspended,
        other => {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema (Status {:?})",
                other.unwrap_or("missing")
            ));
        }
    };
    s3.store.set_versioning(&req.input.bucket, state).await.s3()?;
    ok(PutBucketVersioningOutput {})
}
