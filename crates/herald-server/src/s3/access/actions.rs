//! What an S3 operation asks for: its IAM action name (for policies) and
//! the ACL permission that grants it. Pure tables, apart from the
//! decision that consults them.

use herald_model::acl::Permission;

/// What an operation needs from an ACL: a permission on the bucket or on
/// the object (S3's mapping of ACL permissions to operations).
pub(super) enum AclNeed {
    Bucket(Permission),
    Object(Permission),
    /// Not grantable by ACL (configuration, tagging, policies).
    Nothing,
}

pub(super) fn acl_need(op: &str) -> AclNeed {
    match op {
        "ListObjects" | "ListObjectsV2" | "ListObjectVersions" | "ListMultipartUploads" | "HeadBucket" => {
            AclNeed::Bucket(Permission::Read)
        }
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts"
        | "DeleteObject"
        | "DeleteObjects" => AclNeed::Bucket(Permission::Write),
        "GetBucketAcl" => AclNeed::Bucket(Permission::ReadAcp),
        "PutBucketAcl" => AclNeed::Bucket(Permission::WriteAcp),
        "GetObject" | "HeadObject" | "GetObjectAttributes" => AclNeed::Object(Permission::Read),
        "GetObjectAcl" => AclNeed::Object(Permission::ReadAcp),
        "PutObjectAcl" => AclNeed::Object(Permission::WriteAcp),
        _ => AclNeed::Nothing,
    }
}

/// The IAM action of an S3 operation (as AWS names them).
pub fn action_of(op: &str, has_version_id: bool) -> String {
    let a = match op {
        "GetObject" | "HeadObject" if has_version_id => "GetObjectVersion",
        "GetObject" | "HeadObject" => "GetObject",
        "PutObject"
        | "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "DeleteObject" if has_version_id => "DeleteObjectVersion",
        "DeleteObject" | "DeleteObjects" => "DeleteObject",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "GetObjectTagging" if has_version_id => "GetObjectVersionTagging",
        "GetObjectAttributes" if has_version_id => "GetObjectVersionAttributes",
        "PutObjectTagging" if has_version_id => "PutObjectVersionTagging",
        "DeleteObjectTagging" if has_version_id => "DeleteObjectVersionTagging",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetObjectAcl" if has_version_id => "GetObjectVersionAcl",
        "PutObjectAcl" if has_version_id => "PutObjectVersionAcl",
        "GetPublicAccessBlock" => "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "PutBucketPublicAccessBlock",
        "DeleteBucketOwnershipControls" => "PutBucketOwnershipControls",
        "DeleteBucketTagging" => "PutBucketTagging",
        "PutObjectLockConfiguration" => "PutBucketObjectLockConfiguration",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "PutLifecycleConfiguration",
        "GetBucketLifecycleConfiguration" => "GetLifecycleConfiguration",
        "GetObjectLockConfiguration" => "GetBucketObjectLockConfiguration",
        other => other,
    };
    format!("s3:{a}")
}

/// The operations an owner may always run on their own bucket, whatever
/// its policy denies.
pub(super) fn is_policy_management(action: &str) -> bool {
    matches!(
        action,
        "s3:PutBucketPolicy" | "s3:GetBucketPolicy" | "s3:DeleteBucketPolicy" | "s3:GetBucketPolicyStatus"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_map_to_aws_action_names() {
        assert_eq!(action_of("HeadObject", false), "s3:GetObject");
        assert_eq!(action_of("GetObject", true), "s3:GetObjectVersion");
        assert_eq!(action_of("ListObjectsV2", false), "s3:ListBucket");
        assert_eq!(action_of("CompleteMultipartUpload", false), "s3:PutObject");
        assert_eq!(action_of("DeleteObjects", false), "s3:DeleteObject");
        assert_eq!(action_of("PutBucketPolicy", false), "s3:PutBucketPolicy");
        assert_eq!(
            action_of("DeleteBucketLifecycle", false),
            "s3:PutLifecycleConfiguration"
        );
        assert_eq!(
            action_of("GetBucketLifecycleConfiguration", false),
            "s3:GetLifecycleConfiguration"
        );
        assert_eq!(
            action_of("PutBucketNotificationConfiguration", false),
            "s3:PutBucketNotification"
        );
    }
}
