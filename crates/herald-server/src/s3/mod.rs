//! The S3 API, on top of `s3s` (which owns the wire format and SigV4).
//!
//! One file per operation group, as in Garage: [`bucket`], [`object`],
//! [`list`], [`multipart`], [`tagging`]. This module holds the glue they
//! share: who is calling, which buckets they may touch, and conversions
//! between `s3s` DTOs and store records.

pub mod access;
mod acl;
mod attributes;
mod bucket;
mod checksum;
pub(crate) mod cors;
mod delete;
mod error;
pub(crate) mod events;
mod lifecycle;
mod list;
pub mod listen;
mod lock;
mod multipart;
pub mod notification;
mod object;
mod ownership;
mod policy;
pub mod signing;
pub(crate) mod tagging;

use std::collections::BTreeMap;

use herald_store::{BucketRecord, ObjectMeta, Store};
use s3s::auth::{S3Auth, SecretKey};
use s3s::dto::{self, Timestamp};
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

pub use error::{StoreResultExt, s3_err};

/// Herald's implementation of the S3 trait.
#[derive(Clone)]
pub struct HeraldS3 {
    pub(crate) store: Store,
    pub(crate) region: String,
    pub(crate) notifier: std::sync::Arc<crate::notify::Notifier>,
    /// Whether SigV2-signed requests are served (see [`signing`]).
    pub(crate) allow_sigv2: bool,
    /// Parsed bucket policies (see [`access`]).
    pub(crate) policies: std::sync::Arc<access::PolicyCache>,
    /// Gateway mode: objects are kept upstream, so the local store cannot
    /// answer questions about them (whether one exists, its tags, its
    /// ACL); the access decision then fails closed on those.
    pub(crate) objects_upstream: bool,
}

impl HeraldS3 {
    pub fn new(store: Store, region: String, notifier: std::sync::Arc<crate::notify::Notifier>) -> Self {
        HeraldS3 {
            store,
            region,
            notifier,
            allow_sigv2: false,
            policies: Default::default(),
            objects_upstream: false,
        }
    }

    /// Objects are kept by an upstream S3 (gateway mode).
    pub fn with_objects_upstream(mut self, upstream: bool) -> Self {
        self.objects_upstream = upstream;
        self
    }

    /// Serves SigV2-signed requests too (off by default).
    pub fn with_sigv2(mut self, allow: bool) -> Self {
        self.allow_sigv2 = allow;
        self
    }

    /// The name of who made the request, as the access decision (see
    /// [`access`]) recorded it: a user, or `anonymous` where a bucket
    /// policy let an unsigned request through.
    pub(crate) fn caller<T>(&self, req: &S3Request<T>) -> S3Result<String> {
        access::granted(req).map(|g| g.caller.name().to_owned())
    }

    /// The record of a bucket the request was already allowed on (the
    /// access decision is made before any operation runs and leaves the
    /// record it read in `ext`; this only fetches it again for another
    /// bucket, such as a copy's source).
    pub(crate) fn granted_bucket(&self, ext: &http::Extensions, bucket: &str) -> S3Result<BucketRecord> {
        if let Some(b) = ext
            .get::<access::Granted>()
            .and_then(|g| g.bucket.as_ref())
            .filter(|b| b.name == bucket)
        {
            return Ok(b.clone());
        }
        match self.store.get_bucket(bucket).s3()? {
            None => Err(s3_error!(NoSuchBucket, "The specified bucket does not exist")),
            Some(b) => Ok(b),
        }
    }
}

/// How S3 shows users (`Owner`, `Grantee`): canonical id and display
/// name from the user's profile, looked up once per name per request.
pub(crate) struct Owners<'a> {
    s3: &'a HeraldS3,
    seen: std::collections::HashMap<String, dto::Owner>,
}

impl<'a> Owners<'a> {
    pub(crate) fn new(s3: &'a HeraldS3) -> Owners<'a> {
        Owners {
            s3,
            seen: Default::default(),
        }
    }

    /// `name`'s `Owner`; a name with no user behind it (anonymous, or a
    /// removed user) shows as itself.
    pub(crate) fn get(&mut self, name: &str) -> dto::Owner {
        if let Some(o) = self.seen.get(name) {
            return o.clone();
        }
        let owner = match self.s3.store.get_user(name) {
            Ok(Some(u)) => dto::Owner {
                id: Some(u.canonical_id().to_owned()),
                display_name: Some(u.display_name().to_owned()),
            },
            _ => dto::Owner {
                id: Some(name.to_owned()),
                display_name: Some(name.to_owned()),
            },
        };
        self.seen.insert(name.to_owned(), owner.clone());
        owner
    }
}

/// Looks up secrets for s3s's signature check.
pub struct StoreAuth(pub Store);

#[async_trait::async_trait]
impl S3Auth for StoreAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.lookup_key(access_key) {
            Some((_, secret)) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

pub(crate) fn ts(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub(crate) fn etag_dto(e: &herald_model::ETag) -> dto::ETag {
    dto::ETag::Strong(e.as_str().to_owned())
}

/// Parses `Content-MD5` (base64) into a digest.
pub(crate) fn parse_content_md5(v: Option<&str>) -> S3Result<Option<herald_model::Md5Digest>> {
    let Some(v) = v else { return Ok(None) };
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .map_err(|_| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid."))?;
    let digest: herald_model::Md5Digest = bytes
        .try_into()
        .map_err(|_| s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid."))?;
    Ok(Some(digest))
}

/// Builds stored metadata from the headers of a PUT, POST or copy.
pub(crate) fn object_meta(
    content_type: Option<String>,
    content_encoding: Option<String>,
    content_disposition: Option<String>,
    content_language: Option<String>,
    cache_control: Option<String>,
    expires: Option<Timestamp>,
    metadata: Option<dto::Metadata>,
) -> ObjectMeta {
    let expires = expires.and_then(|t| {
        let mut buf = Vec::new();
        t.format(dto::TimestampFormat::HttpDate, &mut buf).ok()?;
        String::from_utf8(buf).ok()
    });
    ObjectMeta {
        content_type,
        content_encoding,
        content_disposition,
        content_language,
        cache_control,
        expires,
        user: metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub(crate) fn user_metadata(meta: &ObjectMeta) -> Option<dto::Metadata> {
    if meta.user.is_empty() {
        None
    } else {
        Some(meta.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }
}

pub(crate) fn parse_expires(s: &Option<String>) -> Option<Timestamp> {
    s.as_deref()
        .and_then(|v| Timestamp::parse(dto::TimestampFormat::HttpDate, v).ok())
}

pub(crate) fn ok<T>(output: T) -> S3Result<S3Response<T>> {
    Ok(S3Response::new(output))
}

#[async_trait::async_trait]
impl S3 for HeraldS3 {
    async fn put_bucket_tagging(
        &self,
        req: S3Request<dto::PutBucketTaggingInput>,
    ) -> S3Result<S3Response<dto::PutBucketTaggingOutput>> {
        tagging::put_bucket_tagging(self, req).await
    }

    async fn get_bucket_tagging(
        &self,
        req: S3Request<dto::GetBucketTaggingInput>,
    ) -> S3Result<S3Response<dto::GetBucketTaggingOutput>> {
        tagging::get_bucket_tagging(self, req).await
    }

    async fn delete_bucket_tagging(
        &self,
        req: S3Request<dto::DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketTaggingOutput>> {
        tagging::delete_bucket_tagging(self, req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<dto::GetBucketAclInput>,
    ) -> S3Result<S3Response<dto::GetBucketAclOutput>> {
        acl::get_bucket_acl(self, req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<dto::PutBucketAclInput>,
    ) -> S3Result<S3Response<dto::PutBucketAclOutput>> {
        acl::put_bucket_acl(self, req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<dto::GetObjectAclInput>,
    ) -> S3Result<S3Response<dto::GetObjectAclOutput>> {
        acl::get_object_acl(self, req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<dto::PutObjectAclInput>,
    ) -> S3Result<S3Response<dto::PutObjectAclOutput>> {
        acl::put_object_acl(self, req).await
    }

    async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<dto::PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<dto::PutBucketOwnershipControlsOutput>> {
        ownership::put_bucket_ownership_controls(self, req).await
    }

    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<dto::GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<dto::GetBucketOwnershipControlsOutput>> {
        ownership::get_bucket_ownership_controls(self, req).await
    }

    async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<dto::DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOwnershipControlsOutput>> {
        ownership::delete_bucket_ownership_controls(self, req).await
    }

    async fn put_public_access_block(
        &self,
        req: S3Request<dto::PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<dto::PutPublicAccessBlockOutput>> {
        ownership::put_public_access_block(self, req).await
    }

    async fn get_public_access_block(
        &self,
        req: S3Request<dto::GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<dto::GetPublicAccessBlockOutput>> {
        ownership::get_public_access_block(self, req).await
    }

    async fn delete_public_access_block(
        &self,
        req: S3Request<dto::DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<dto::DeletePublicAccessBlockOutput>> {
        ownership::delete_public_access_block(self, req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<dto::PutBucketCorsInput>,
    ) -> S3Result<S3Response<dto::PutBucketCorsOutput>> {
        cors::put_bucket_cors(self, req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<dto::GetBucketCorsInput>,
    ) -> S3Result<S3Response<dto::GetBucketCorsOutput>> {
        cors::get_bucket_cors(self, req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<dto::DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketCorsOutput>> {
        cors::delete_bucket_cors(self, req).await
    }

    async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<dto::PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<dto::PutBucketLifecycleConfigurationOutput>> {
        lifecycle::put_bucket_lifecycle_configuration(self, req).await
    }

    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<dto::GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLifecycleConfigurationOutput>> {
        lifecycle::get_bucket_lifecycle_configuration(self, req).await
    }

    async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<dto::DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketLifecycleOutput>> {
        lifecycle::delete_bucket_lifecycle(self, req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<dto::GetObjectAttributesInput>,
    ) -> S3Result<S3Response<dto::GetObjectAttributesOutput>> {
        attributes::get_object_attributes(self, req).await
    }

    async fn put_object_lock_configuration(
        &self,
        req: S3Request<dto::PutObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<dto::PutObjectLockConfigurationOutput>> {
        lock::put_object_lock_configuration(self, req).await
    }

    async fn get_object_lock_configuration(
        &self,
        req: S3Request<dto::GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<dto::GetObjectLockConfigurationOutput>> {
        lock::get_object_lock_configuration(self, req).await
    }

    async fn put_object_retention(
        &self,
        req: S3Request<dto::PutObjectRetentionInput>,
    ) -> S3Result<S3Response<dto::PutObjectRetentionOutput>> {
        lock::put_object_retention(self, req).await
    }

    async fn get_object_retention(
        &self,
        req: S3Request<dto::GetObjectRetentionInput>,
    ) -> S3Result<S3Response<dto::GetObjectRetentionOutput>> {
        lock::get_object_retention(self, req).await
    }

    async fn put_object_legal_hold(
        &self,
        req: S3Request<dto::PutObjectLegalHoldInput>,
    ) -> S3Result<S3Response<dto::PutObjectLegalHoldOutput>> {
        lock::put_object_legal_hold(self, req).await
    }

    async fn get_object_legal_hold(
        &self,
        req: S3Request<dto::GetObjectLegalHoldInput>,
    ) -> S3Result<S3Response<dto::GetObjectLegalHoldOutput>> {
        lock::get_object_legal_hold(self, req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<dto::ListBucketsInput>,
    ) -> S3Result<S3Response<dto::ListBucketsOutput>> {
        bucket::list_buckets(self, req).await
    }
    async fn create_bucket(
        &self,
        req: S3Request<dto::CreateBucketInput>,
    ) -> S3Result<S3Response<dto::CreateBucketOutput>> {
        bucket::create_bucket(self, req).await
    }
    async fn head_bucket(&self, req: S3Request<dto::HeadBucketInput>) -> S3Result<S3Response<dto::HeadBucketOutput>> {
        bucket::head_bucket(self, req).await
    }
    async fn put_bucket_policy(
        &self,
        req: S3Request<dto::PutBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::PutBucketPolicyOutput>> {
        policy::put_bucket_policy(self, req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<dto::GetBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::GetBucketPolicyOutput>> {
        policy::get_bucket_policy(self, req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<dto::DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketPolicyOutput>> {
        policy::delete_bucket_policy(self, req).await
    }

    async fn get_bucket_policy_status(
        &self,
        req: S3Request<dto::GetBucketPolicyStatusInput>,
    ) -> S3Result<S3Response<dto::GetBucketPolicyStatusOutput>> {
        policy::get_bucket_policy_status(self, req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<dto::DeleteBucketInput>,
    ) -> S3Result<S3Response<dto::DeleteBucketOutput>> {
        bucket::delete_bucket(self, req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<dto::GetBucketLocationInput>,
    ) -> S3Result<S3Response<dto::GetBucketLocationOutput>> {
        bucket::get_bucket_location(self, req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<dto::GetBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::GetBucketVersioningOutput>> {
        bucket::get_bucket_versioning(self, req).await
    }
    async fn put_bucket_versioning(
        &self,
        req: S3Request<dto::PutBucketVersioningInput>,
    ) -> S3Result<S3Response<dto::PutBucketVersioningOutput>> {
        bucket::put_bucket_versioning(self, req).await
    }
    async fn put_object(&self, req: S3Request<dto::PutObjectInput>) -> S3Result<S3Response<dto::PutObjectOutput>> {
        object::put_object(self, req).await
    }

    async fn get_object(&self, req: S3Request<dto::GetObjectInput>) -> S3Result<S3Response<dto::GetObjectOutput>> {
        object::get_object(self, req).await
    }
    async fn head_object(&self, req: S3Request<dto::HeadObjectInput>) -> S3Result<S3Response<dto::HeadObjectOutput>> {
        object::head_object(self, req).await
    }
    async fn delete_object(
        &self,
        req: S3Request<dto::DeleteObjectInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectOutput>> {
        delete::delete_object(self, req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<dto::DeleteObjectsInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectsOutput>> {
        delete::delete_objects(self, req).await
    }
    async fn copy_object(&self, req: S3Request<dto::CopyObjectInput>) -> S3Result<S3Response<dto::CopyObjectOutput>> {
        object::copy_object(self, req).await
    }
    async fn list_objects(
        &self,
        req: S3Request<dto::ListObjectsInput>,
    ) -> S3Result<S3Response<dto::ListObjectsOutput>> {
        list::list_objects(self, req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<dto::ListObjectsV2Input>,
    ) -> S3Result<S3Response<dto::ListObjectsV2Output>> {
        list::list_objects_v2(self, req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<dto::ListObjectVersionsInput>,
    ) -> S3Result<S3Response<dto::ListObjectVersionsOutput>> {
        list::list_object_versions(self, req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<dto::CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CreateMultipartUploadOutput>> {
        multipart::create_multipart_upload(self, req).await
    }
    async fn upload_part(&self, req: S3Request<dto::UploadPartInput>) -> S3Result<S3Response<dto::UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<dto::UploadPartCopyInput>,
    ) -> S3Result<S3Response<dto::UploadPartCopyOutput>> {
        multipart::upload_part_copy(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<dto::CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::CompleteMultipartUploadOutput>> {
        multipart::complete_multipart_upload(self, req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<dto::AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<dto::AbortMultipartUploadOutput>> {
        multipart::abort_multipart_upload(self, req).await
    }
    async fn list_parts(&self, req: S3Request<dto::ListPartsInput>) -> S3Result<S3Response<dto::ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<dto::ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<dto::ListMultipartUploadsOutput>> {
        multipart::list_multipart_uploads(self, req).await
    }
    async fn get_object_tagging(
        &self,
        req: S3Request<dto::GetObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::GetObjectTaggingOutput>> {
        tagging::get_object_tagging(self, req).await
    }
    async fn put_object_tagging(
        &self,
        req: S3Request<dto::PutObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::PutObjectTaggingOutput>> {
        tagging::put_object_tagging(self, req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<dto::DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<dto::DeleteObjectTaggingOutput>> {
        tagging::delete_object_tagging(self, req).await
    }
}
