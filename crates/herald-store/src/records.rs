//! The records kept in the metadata database, one module so their layout
//! (serialized as JSON: readable with any redb tool, cheap at our sizes) is
//! reviewed in one place.

use std::collections::BTreeMap;

use herald_model::acl::{Acl, ObjectOwnership, PublicAccessBlock};
use herald_model::checksum::{ObjectChecksum, UploadChecksum};
use herald_model::lock::{BucketLockConfig, ObjectLock};
use herald_model::{ETag, VersioningState};
use serde::{Deserialize, Serialize};

/// A bucket and its settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    /// Name of the owning user.
    pub owner: String,
    pub created_ms: i64,
    /// A stable id (Ceph's `bucket.id`), distinct from the name because a
    /// name can be re-used after deletion.
    pub id: String,
    #[serde(default)]
    pub versioning: VersioningState,
    /// The bucket ACL; `None` is `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// Object Ownership; `None` behaves as `ObjectWriter` (Ceph's default,
    /// and what S3 clients written before 2023 expect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership: Option<ObjectOwnership>,
    /// Block Public Access; `None` blocks nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// The bucket's tag set (PutBucketTagging); `None` when never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<(String, String)>>,
    /// Object Lock; `Some` once enabled (at creation, or later on a
    /// versioned bucket), which cannot be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<BucketLockConfig>,
    /// CORS rules (PutBucketCors); `None` when never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Vec<herald_model::cors::CorsRule>>,
}

impl BucketRecord {
    /// Whether ACLs take part in access decisions (not with
    /// `BucketOwnerEnforced`).
    pub fn acls_enabled(&self) -> bool {
        self.ownership != Some(ObjectOwnership::BucketOwnerEnforced)
    }

    /// Block Public Access as set (all off when never set).
    pub fn public_access(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }

    /// Who owns `version` of an object in this bucket.
    pub fn object_owner<'a>(&'a self, version: &'a ObjectVersion) -> &'a str {
        if self.acls_enabled() {
            version.owner.as_deref().unwrap_or(&version.writer)
        } else {
            &self.owner
        }
    }
}

/// One stretch of object bytes in one blob file. Multipart objects keep
/// their parts as segments, so completing an upload copies nothing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Segment {
    pub blob: String,
    pub len: u64,
    /// A multipart object's part checksum (base64, in the object's
    /// checksum algorithm), for GET `partNumber` and GetObjectAttributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// The HTTP-level metadata a client set on an object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*` pairs, names lower-cased and without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// The user metadata as `(name, value)` pairs, as event records and
    /// notification filters take them.
    pub fn user_pairs(&self) -> Vec<(String, String)> {
        self.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// One version of an object, or a delete marker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectVersion {
    pub version_id: String,
    #[serde(default)]
    pub delete_marker: bool,
    pub size: u64,
    pub etag: ETag,
    pub last_modified_ms: i64,
    /// Store-wide mutation counter at the time of this write; increases
    /// monotonically, so it orders the changes of one key (the event
    /// sequencer derives from it).
    pub seq: u64,
    /// The user that wrote this version.
    pub writer: String,
    #[serde(default)]
    pub meta: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_count: Option<u32>,
    /// The object's owner when it is not its writer (ownership controls
    /// gave it to the bucket owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The object ACL; `None` is `private`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// Object Lock retention and legal hold (buckets with Object Lock).
    #[serde(default, skip_serializing_if = "ObjectLock::is_empty")]
    pub lock: ObjectLock,
    /// The multipart upload this version completed: a client retrying
    /// CompleteMultipartUpload (its answer was lost) gets this version's
    /// answer again instead of `NoSuchUpload`, as on S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The flexible checksum (`x-amz-checksum-*`) the object was written
    /// with, if its writer sent one (or created its upload with one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ObjectChecksum>,
}

/// A checksum a request body computes as it streams into the store; the
/// store reads it once the body has ended (its value is only known then).
pub type ChecksumSlot = std::sync::Arc<std::sync::OnceLock<ObjectChecksum>>;

/// Who owns a new object version, its ACL and its lock (who may remove
/// it, and when), decided by the server from the bucket's settings and
/// the request's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectAccess {
    /// `None`: the writer.
    pub owner: Option<String>,
    /// `None`: `private`.
    pub acl: Option<Acl>,
    /// The retention and legal hold the request asked for; the bucket's
    /// default retention fills in when it asked for none.
    pub lock: ObjectLock,
}

/// All versions of one key, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub versions: Vec<ObjectVersion>,
}

impl ObjectRecord {
    /// The current version (which may be a delete marker).
    pub fn latest(&self) -> Option<&ObjectVersion> {
        self.versions.first()
    }
}

/// An in-progress multipart upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub initiator: String,
    pub initiated_ms: i64,
    #[serde(default)]
    pub meta: ObjectMeta,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Store sequence number of the upload's creation (orders its
    /// `ObjectCreated:Post` event among the key's other changes).
    #[serde(default)]
    pub seq: u64,
    /// Owner and ACL the completed object will have (see [`ObjectVersion`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// The lock the request asked for (see [`ObjectAccess::lock`]).
    #[serde(default, skip_serializing_if = "ObjectLock::is_empty")]
    pub lock: ObjectLock,
    /// The checksum the upload was created with (every part computes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<UploadChecksum>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    pub part_number: u32,
    pub etag: ETag,
    pub size: u64,
    pub blob: String,
    pub last_modified_ms: i64,
    /// The part's checksum in its upload's algorithm (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

/// Current time in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_millis() as i64
}

/// An SNS-style topic (Ceph semantics): where and how events are pushed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TopicRecord {
    /// The user that created it (and owns it: others reach it only through
    /// its `Policy`).
    pub owner: String,
    pub name: String,
    pub arn: String,
    /// Every attribute as given to CreateTopic/SetTopicAttributes
    /// (`push-endpoint`, `persistent`, `OpaqueData`, ...).
    pub attributes: BTreeMap<String, String>,
    /// The CreateTopic arguments in Ceph's `EndpointArgs` form.
    pub endpoint_args: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Webhook subscription handshake state: "none", "pending",
    /// "confirmed" or "failed: <reason>".
    #[serde(default)]
    pub subscription: String,
}

impl TopicRecord {
    /// The account of the topic's ARN (`arn:aws:sns:<region>:<account>:
    /// <name>`), under which it is stored: its owner in AWS mode, its
    /// owner's tenant (possibly empty) in Ceph mode.
    pub fn account(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or(&self.owner)
    }
}
