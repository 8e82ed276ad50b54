//! Gateway mode: Herald in front of an upstream S3 that keeps the objects.
//!
//! Clients sign with Herald's own users; the access decision, bucket
//! ownership, policies, CORS and notification configurations are Herald's
//! (the very code of embedded mode, [`HeraldS3`]). Object operations are
//! forwarded to the upstream with the operator's upstream credentials by
//! `s3s-aws`'s proxy (the AWS SDK for Rust underneath), bodies streamed both
//! ways. Mutations the upstream acknowledges produce the events embedded
//! mode would, bracketed by an intent so that no acknowledged mutation loses
//! its event across a crash (see [`writes`] and [`settle`]).
//!
//! Operations on object state Herald does not hold (object ACLs, Object
//! Lock, lifecycle rules, browser form uploads) answer `NotImplemented`.

mod buckets;
mod intent;
mod reads;
pub mod settle;
mod upstream;
mod writes;

use std::sync::Arc;

use s3s::dto;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

pub use upstream::UpstreamSettings;

use crate::s3::HeraldS3;

/// The S3 service of gateway mode.
#[derive(Clone)]
pub(crate) struct Gateway {
    local: HeraldS3,
    proxy: Arc<s3s_aws::Proxy>,
    client: aws_sdk_s3::Client,
    /// Whether a CreateBucket may take over a bucket that already exists
    /// upstream (see [`UpstreamSettings::adopt_existing`]).
    adopt_existing: bool,
    /// The upstream's region (named in CreateBucket outside us-east-1).
    region: String,
    /// Intents whose outcome could not be learnt yet (the upstream could
    /// not be asked): settled in the background (see [`settle`]).
    unsettled: Arc<std::sync::Mutex<std::collections::BTreeSet<u64>>>,
    /// Bucket creations and deletions, one at a time: each checks and
    /// changes both sides, and two at once could undo each other.
    bucket_changes: Arc<tokio::sync::Mutex<()>>,
    /// Mutations running detached from their client (see
    /// [`Gateway::detached`]): at most as many as connections.
    detached_slots: Arc<tokio::sync::Semaphore>,
    max_detached: usize,
}

impl Gateway {
    /// For `/metrics`: mutations running detached now, and intents waiting
    /// for the upstream to answer.
    pub(crate) fn gauges(&self) -> (usize, usize) {
        let detached = self.max_detached - self.detached_slots.available_permits();
        let unsettled = self.unsettled.lock().expect("unsettled intents").len();
        (detached, unsettled)
    }

    pub(crate) fn new(local: HeraldS3, settings: &UpstreamSettings, max_connections: usize) -> Gateway {
        let client = upstream::client(settings);
        Gateway {
            local,
            proxy: Arc::new(s3s_aws::Proxy::from(client.clone())),
            client,
            adopt_existing: settings.adopt_existing,
            region: settings.region.clone(),
            unsettled: Default::default(),
            bucket_changes: Default::default(),
            detached_slots: Arc::new(tokio::sync::Semaphore::new(max_connections.max(1))),
            max_detached: max_connections.max(1),
        }
    }
}

/// A proxied answer without the upstream's request ids (Herald's own are
/// the ones clients see and log).
pub(crate) fn own_headers<T>(mut resp: S3Response<T>) -> S3Response<T> {
    resp.headers.remove(s3s::header::X_AMZ_REQUEST_ID);
    resp.headers.remove(s3s::header::X_AMZ_ID_2);
    resp
}

/// An upstream error as the client sees it: the upstream's own S3 error
/// (code, message and status, not its request id) when it answered one,
/// but a plain `AccessDenied` for a 401/403 (Herald already decided the
/// request; the upstream's reasons name its own accounts); `503
/// ServiceUnavailable` when it could not be reached.
pub(crate) fn upstream_err(e: S3Error) -> S3Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source().map(|s| s as _);
    let mut unreachable = false;
    while let Some(c) = cause {
        if c.is::<aws_smithy_runtime_api::client::result::ConnectorError>() {
            unreachable = true;
            break;
        }
        cause = c.source();
    }
    if !unreachable {
        let status = e.status_code();
        let mut shown = match status.map(|s| s.as_u16()) {
            Some(401 | 403) => {
                tracing::warn!(code = e.code().as_str(), message = ?e.message(), "the upstream refused a forwarded request");
                let mut denied = S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied");
                denied.set_status_code(http::StatusCode::FORBIDDEN);
                return denied;
            }
            _ => S3Error::new(e.code().clone()),
        };
        if let Some(m) = e.message() {
            shown.set_message(m.to_owned());
        }
        if let Some(s) = status {
            shown.set_status_code(s);
        }
        return shown;
    }
    if let Some(source) = e.source() {
        tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(source), "upstream S3 request failed");
    }
    unreachable_upstream()
}

/// `503 ServiceUnavailable`: the upstream could not be asked.
pub(crate) fn unreachable_upstream() -> S3Error {
    let mut err = S3Error::with_message(
        S3ErrorCode::ServiceUnavailable,
        "The upstream storage cannot be reached. Please retry.",
    );
    err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
    err
}

/// Forwards one operation through the proxy.
macro_rules! forward {
    ($self:ident, $op:ident, $req:ident) => {
        s3s::S3::$op(&*$self.proxy, $req)
            .await
            .map($crate::gateway::own_headers)
            .map_err($crate::gateway::upstream_err)
    };
}
pub(crate) use forward;

/// Serves one operation with embedded mode's own code (Herald's state).
macro_rules! local {
    ($self:ident, $op:ident, $req:ident) => {
        $self.local.$op($req).await
    };
}

#[async_trait::async_trait]
impl S3 for Gateway {
    // ---- Herald's own state: served as in embedded mode ----
    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        local!(self, list_buckets, req)
    }
    async fn head_bucket(&self, req: S3Request<dto::HeadBucketInput>) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        local!(self, head_bucket, req)
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        local!(self, get_bucket_location, req)
    }
    async fn put_bucket_tagging(
        &self,
        req: S3Request<dto::PutBucketTaggingInput>,
    ) -> S3Result<S3Response<dto::PutBucketTaggingOutput>> {
        local!(self, put_bucket_tagging, req)
    }
    async fn get_bucket_tagging(
        &self,
        req: S3Request<dto::GetBucketTaggingInput>,
    ) -> S3Result<S3Response<dto::GetBucketTaggingOutput>> {
        local!(self, get_bucket_tagging, req)
    }
    async fn delete_bucket_tagging(
        &self,
        req: S3Request<dto::DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketTaggingOutput>> {
        local!(self, delete_bucket_tagging, req)
    }
    async fn get_bucket_acl(
        &self,
        req: S3Request<dto::GetBucketAclInput>,
    ) -> S3Result<S3Response<dto::GetBucketAclOutput>> {
        local!(self, get_bucket_acl, req)
    }
    async fn put_bucket_acl(
        &self,
        req: S3Request<dto::PutBucketAclInput>,
    ) -> S3Result<S3Response<dto::PutBucketAclOutput>> {
        local!(self, put_bucket_acl, req)
    }
    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<dto::PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<dto::PutBucketOwnershipControlsOutput>> {
        local!(self, put_bucket_ownership_controls, req)
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<dto::GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<dto::GetBucketOwnershipControlsOutput>> {
        local!(self, get_bucket_ownership_controls, req)
    }
    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<dto::DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOwnershipControlsOutput>> {
        local!(self, delete_bucket_ownership_controls, req)
    }
    async fn put_public_access_block(
        &self,
        req: S3Request<dto::PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<dto::PutPublicAccessBlockOutput>> {
        local!(self, put_public_access_block, req)
    }
    async fn get_public_access_block(
        &self,
        req: S3Request<dto::GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<dto::GetPublicAccessBlockOutput>> {
        local!(self, get_public_access_block, req)
    }
    async fn delete_public_access_block(
        &self,
        req: S3Request<dto::DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<dto::DeletePublicAccessBlockOutput>> {
        local!(self, delete_public_access_block, req)
    }
    async fn put_bucket_cors(
        &self,
        req: S3Request<dto::PutBucketCorsInput>,
    ) -> S3Result<S3Response<dto::PutBucketCorsOutput>> {
        local!(self, put_bucket_cors, req)
    }
    async fn get_bucket_cors(
        &self,
        req: S3Request<dto::GetBucketCorsInput>,
    ) -> S3Result<S3Response<dto::GetBucketCorsOutput>> {
        local!(self, get_bucket_cors, req)
    }
    async fn delete_bucket_cors(
        &self,
        req: S3Request<dto::DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketCorsOutput>> {
        local!(self, delete_bucket_cors, req)
    }
    async fn put_bucket_policy(
        &self,
        req: S3Request<dto::PutBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::PutBucketPolicyOutput>> {
        local!(self, put_bucket_policy, req)
    }
    async fn get_bucket_policy(
        &self,
        req: S3Request<dto::GetBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::GetBucketPolicyOutput>> {
        local!(self, get_bucket_policy, req)
    }
    async fn delete_bucket_policy(
        &self,
        req: S3Request<dto::DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketPolicyOutput>> {
        local!(self, delete_bucket_policy, req)
    }
    async fn get_bucket_policy_status(
        &self,
        req: S3Request<dto::GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<dto::GetBucketPolicyStatusOutput>> {
        local!(self, get_bucket_policy_status, req)
    }

    /// Browser form uploads keep their file in s3s's memory and would be
    /// forwarded as a PUT (with a PUT's event): not served in gateway mode.
    async fn post_object(&self, _req: S3Request<dto::PostObjectInput>) -> S3Result<S3Response<dto::PostObjectOutput>> {
        Err(s3s::s3_error!(
            NotImplemented,
            "Form uploads (POST) are not available in gateway mode"
        ))
    }

    // ---- buckets: both sides (see `buckets`) ----
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        buckets::create_bucket(self, req).await
    }
    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        buckets::delete_bucket(self, req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<dto::PutBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::PutBucketVersioningOutput>> {
        buckets::put_bucket_versioning(self, req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<dto::GetBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::GetBucketVersioningOutput>> {
        forward!(self, get_bucket_versioning, req)
    }

    // ---- reads: forwarded, with `s3:ObjectAccessed:*` events ----
    async fn get_object(&self, req: S3Request<dto::GetObjectInput>) -> S3Result<S3Response<dto::GetObjectOutput>> {
        reads::get_object(self, req).await
    }
    async fn head_object(&self, req: S3Request<dto::HeadObjectInput>) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        reads::head_object(self, req).await
    }
    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        reads::list_objects(self, req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        reads::list_objects_v2(self, req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<dto::ListObjectVersionsInput>,
    ) -> S3Result<S3Response<dto::ListObjectVersionsOutput>> {
        reads::list_object_versions(self, req).await
    }
    async fn get_object_tagging(
        &self,
        req: S3Request<dto::GetObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::GetObjectTaggingOutput>> {
        forward!(self, get_object_tagging, req)
    }
    async fn get_object_attributes(
        &self,
        req: S3Request<dto::GetObjectAttributesInput>,
    ) -> S3Result<S3Response<dto::GetObjectAttributesOutput>> {
        reads::get_object_attributes(self, req).await
    }

    // ---- multipart: forwarded; completion has events ----
    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        writes::create_multipart_upload(self, req).await
    }
    async fn upload_part(&self, req: S3Request<dto::UploadPartInput>) -> S3Result<S3Response<dto::UploadPartOutput>> {
        forward!(self, upload_part, req)
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        forward!(self, upload_part_copy, req)
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        forward!(self, abort_multipart_upload, req)
    }
    async fn list_parts(&self, req: S3Request<dto::ListPartsInput>) -> S3Result<S3Response<dto::ListPartsOutput>> {
        reads::list_parts(self, req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        reads::list_multipart_uploads(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        writes::complete_multipart_upload(self, req).await
    }

    // ---- mutations: forwarded, with their events ----
    async fn put_object(&self, req: S3Request<dto::PutObjectInput>) -> S3Result<S3Response<dto::PutObjectOutput>> {
        writes::put_object(self, req).await
    }
    async fn copy_object(&self, req: S3Request<dto::CopyObjectInput>) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        writes::copy_object(self, req).await
    }
    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        writes::delete_object(self, req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        writes::delete_objects(self, req).await
    }
    async fn put_object_tagging(
        &self,
        req: S3Request<dto::PutObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::PutObjectTaggingOutput>> {
        writes::put_object_tagging(self, req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<dto::DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectTaggingOutput>> {
        writes::delete_object_tagging(self, req).await
    }
}
