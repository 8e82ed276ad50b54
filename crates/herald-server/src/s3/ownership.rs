//! Bucket ownership controls (Object Ownership) and Block Public Access,
//! bucket level: Put/Get/DeleteBucketOwnershipControls and
//! Put/Get/DeletePublicAccessBlock. Both are bucket-owner settings that
//! change how ACLs and policies are read ([`super::access`],
//! [`super::acl`]); who may call these was decided by the access hook.

use herald_model::acl::{Acl, ObjectOwnership, PublicAccessBlock};
use s3s::dto::{
    DeleteBucketOwnershipControlsInput, DeleteBucketOwnershipControlsOutput, DeletePublicAccessBlockInput,
    DeletePublicAccessBlockOutput, GetBucketOwnershipControlsInput, GetBucketOwnershipControlsOutput,
    GetPublicAccessBlockInput, GetPublicAccessBlockOutput, OwnershipControls, OwnershipControlsRule,
    PublicAccessBlockConfiguration, PutBucketOwnershipControlsInput, PutBucketOwnershipControlsOutput,
    PutPublicAccessBlockInput, PutPublicAccessBlockOutput,
};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::{HeraldS3, StoreResultExt, ok};

fn no_content<T>(output: T) -> S3Result<S3Response<T>> {
    let mut resp = S3Response::new(output);
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn put_bucket_ownership_controls(
    s3: &HeraldS3,
    req: S3Request<PutBucketOwnershipControlsInput>,
) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let rules = &req.input.ownership_controls.rules;
    let [rule] = rules.as_slice() else {
        return Err(s3_error!(MalformedXML, "OwnershipControls holds exactly one Rule"));
    };
    let ownership = ObjectOwnership::parse(rule.object_ownership.as_str()).ok_or_else(|| {
        s3_error!(
            MalformedXML,
            "Unknown ObjectOwnership {:?}",
            rule.object_ownership.as_str()
        )
    })?;
    // Turning ACLs off while the bucket ACL grants to others would
    // silently revoke those grants; S3 refuses instead.
    if ownership == ObjectOwnership::BucketOwnerEnforced
        && bucket.acl.as_ref().is_some_and(|a| *a != Acl::private(&bucket.owner))
    {
        return Err(s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    s3.store
        .update_bucket_access(&bucket, move |rec| {
            rec.ownership = Some(ownership);
            Ok(())
        })
        .await
        .s3()?;
    tracing::info!(bucket = %bucket.name, ownership = ownership.as_str(), "bucket ownership controls set");
    ok(PutBucketOwnershipControlsOutput {})
}

pub async fn get_bucket_ownership_controls(
    s3: &HeraldS3,
    req: S3Request<GetBucketOwnershipControlsInput>,
) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(ownership) = bucket.ownership else {
        return Err(s3_error!(
            OwnershipControlsNotFoundError,
            "The bucket ownership controls were not found"
        ));
    };
    ok(GetBucketOwnershipControlsOutput {
        ownership_controls: Some(OwnershipControls {
            rules: vec![OwnershipControlsRule {
                object_ownership: ownership.as_str().to_owned().into(),
            }],
        }),
    })
}

pub async fn delete_bucket_ownership_controls(
    s3: &HeraldS3,
    req: S3Request<DeleteBucketOwnershipControlsInput>,
) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    s3.store
        .update_bucket_access(&bucket, |rec| {
            rec.ownership = None;
            Ok(())
        })
        .await
        .s3()?;
    no_content(DeleteBucketOwnershipControlsOutput {})
}

/// `NoSuchPublicAccessBlockConfiguration` (404), which `s3s` has no code for.
fn no_public_access_block() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
        "The public access block configuration was not found",
    );
    e.set_status_code(http::StatusCode::NOT_FOUND);
    e
}

pub async fn put_public_access_block(
    s3: &HeraldS3,
    req: S3Request<PutPublicAccessBlockInput>,
) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let c = &req.input.public_access_block_configuration;
    let setting = PublicAccessBlock {
        block_public_acls: c.block_public_acls.unwrap_or(false),
        ignore_public_acls: c.ignore_public_acls.unwrap_or(false),
        block_public_policy: c.block_public_policy.unwrap_or(false),
        restrict_public_buckets: c.restrict_public_buckets.unwrap_or(false),
    };
    s3.store
        .update_bucket_access(&bucket, move |rec| {
            rec.public_access_block = Some(setting);
            Ok(())
        })
        .await
        .s3()?;
    tracing::info!(bucket = %bucket.name, ?setting, "block public access set");
    ok(PutPublicAccessBlockOutput {})
}

pub async fn get_public_access_block(
    s3: &HeraldS3,
    req: S3Request<GetPublicAccessBlockInput>,
) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(p) = bucket.public_access_block else {
        return Err(no_public_access_block());
    };
    ok(GetPublicAccessBlockOutput {
        public_access_block_configuration: Some(PublicAccessBlockConfiguration {
            block_public_acls: Some(p.block_public_acls),
            ignore_public_acls: Some(p.ignore_public_acls),
            block_public_policy: Some(p.block_public_policy),
            restrict_public_buckets: Some(p.restrict_public_buckets),
        }),
    })
}

pub async fn delete_public_access_block(
    s3: &HeraldS3,
    req: S3Request<DeletePublicAccessBlockInput>,
) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    s3.store
        .update_bucket_access(&bucket, |rec| {
            rec.public_access_block = None;
            Ok(())
        })
        .await
        .s3()?;
    no_content(DeletePublicAccessBlockOutput {})
}
