//! Bucket versioning states, as S3 defines them.

use serde::{Deserialize, Serialize};

/// The version id S3 reports for objects written while versioning is off
/// or suspended.
pub const NULL_VERSION_ID: &str = "null";

/// A bucket's versioning state. A bucket starts `Unversioned` and, once
/// enabled, can only move between `Enabled` and `Suspended`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VersioningState {
    #[default]
    Unversioned,
    Enabled,
    Suspended,
}

impl VersioningState {
    /// Whether new writes get a fresh version id (rather than `null`).
    pub fn creates_versions(self) -> bool {
        self == VersioningState::Enabled
    }

    /// The version id clients and event records see for version `id` of
    /// a bucket in this state: none (`""`) while the bucket never had
    /// versioning. The one place this rule lives.
    pub fn reported(self, id: &str) -> &str {
        if self == VersioningState::Unversioned { "" } else { id }
    }
}
