//! Pure types shared by every Herald crate.
//!
//! Nothing here does I/O: it is the vocabulary (users, buckets, versions,
//! ETags, names) that the store, the server and the command line agree on,
//! so that each of them can be tested without the others.

pub mod etag;
pub mod names;
pub mod user;
pub mod versioning;

pub use etag::{ETag, Md5Digest};
pub use names::{BucketNameError, validate_bucket_name};
pub use user::{AccessKey, ROOT_USER, User};
pub use versioning::{NULL_VERSION_ID, VersioningState};
