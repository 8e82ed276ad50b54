//! Pure types shared by every Herald crate.
//!
//! Nothing here does I/O: it is the vocabulary (users, buckets, versions,
//! ETags, names) that the store, the server and the command line agree on,
//! so that each of them can be tested without the others. That includes
//! bucket notifications: configuration XML ([`notification`]), event
//! types ([`event`]) and the JSON records sent to endpoints ([`record`]).

pub mod acl;
pub mod checksum;
pub mod compat;
pub mod cors;
pub mod etag;
pub mod event;
pub mod json_shape;
pub mod lifecycle;
pub mod lock;
pub mod names;
pub mod notification;
pub mod query;
pub mod record;
pub mod ssh_key;
pub mod user;
pub mod versioning;

pub use compat::Compat;
pub use etag::{ETag, Md5Digest};
pub use event::{EventCategory, EventPattern, EventType};
pub use names::{BucketNameError, validate_bucket_name};
pub use notification::{
    ConfigError, ContentTypeFilter, ContentTypeRule, Filter, FilterRule, KeyFilter, KeyRegex, MatchedTarget,
    NotificationConfiguration, ObjectFacts, QueueConfiguration, SizeRange, TargetKind, TopicConfiguration,
    parse_notification_configuration, render_notification_configuration,
};
pub use record::{EventRecord, EventRecordInput, RecordFlavor};
pub use ssh_key::{MAX_SSH_KEYS_PER_USER, SshKey};
pub use user::{AccessKey, ROOT_USER, User, UserProfile};
pub use versioning::{NULL_VERSION_ID, VersioningState};
