//! Users and their access keys.

use serde::{Deserialize, Serialize};

/// The name of the user whose keys come from `HERALD_ROOT_ACCESS_KEY` /
/// `HERALD_ROOT_SECRET_KEY` (or are generated on first start).
pub const ROOT_USER: &str = "root";

/// One access key pair. The secret is needed in clear to verify SigV4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A tenant of the store: it owns buckets (and later topics and queues).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub keys: Vec<AccessKey>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// The e-mail address S3 ACL grants may name the user by
    /// (`emailAddress="..."`); unique among users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The name S3 shows in `Owner`/`Grantee` `DisplayName` (default: the
    /// user name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The S3 canonical user id (`Owner`/`Grantee` `ID`, `id="..."` grants,
    /// `CanonicalUser` principals); default: the user name. Set it to
    /// match ids a client already knows (a migrated Ceph user's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical_id: Option<String>,
    /// Ceph's tenant: in `--compat ceph` the account of the user's topic
    /// ARNs (`arn:aws:sns:<zonegroup>:<tenant>:<topic>`), shared by every
    /// user of the tenant; `None` is the empty tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl User {
    /// The user's tenant; empty when it has none.
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or("")
    }

    /// The user as Ceph names it: `tenant$user`, or the bare name.
    pub fn ceph_id(&self) -> String {
        match self.tenant() {
            "" => self.name.clone(),
            t => format!("{t}${}", self.name),
        }
    }

    /// The canonical user id S3 shows and ACL grants name.
    pub fn canonical_id(&self) -> &str {
        self.canonical_id.as_deref().unwrap_or(&self.name)
    }

    /// The display name S3 shows.
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// What `herald user create` may set beyond the name and key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub canonical_id: Option<String>,
    /// Ceph's tenant (see [`User::tenant`]).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Take a name (or canonical id) a removed user had, with whatever
    /// still names it: objects it wrote in other users' buckets, grants.
    #[serde(default)]
    pub reuse_name: bool,
}

/// The name unsigned requests go by (events' `principalId`); no user may
/// take it.
pub const ANONYMOUS_NAME: &str = "anonymous";

/// Whether a canonical id is acceptable: 1 to 128 letters, digits or
/// `$-_.` (Ceph's tenanted ids use `$`).
pub fn valid_canonical_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"$-_.".contains(&b))
}

/// Whether a display name is acceptable: 1 to 128 printable characters.
pub fn valid_display_name(name: &str) -> bool {
    (1..=128).contains(&name.chars().count()) && !name.chars().any(char::is_control)
}

/// Whether an e-mail address is acceptable for a user: one `@`, no spaces
/// or quotes, at most 254 bytes.
pub fn valid_email(email: &str) -> bool {
    email.len() <= 254
        && email.split('@').count() == 2
        && email.split('@').all(|p| !p.is_empty())
        && email.bytes().all(|b| b.is_ascii_graphic() && !b"\"',<>\\".contains(&b))
}

/// Whether a user name is acceptable: the IAM character set, 1 to 64 long.
/// Whether a tenant name is acceptable: 1 to 64 letters, digits, `-` or
/// `_` (it becomes part of topic ARNs, so no `:`).
pub fn valid_tenant(tenant: &str) -> bool {
    (1..=64).contains(&tenant.len()) && tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

pub fn valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// Whether an access key id is acceptable: 3 to 128 printable ASCII
/// characters without spaces, slashes or the SigV4 separators.
pub fn valid_access_key_id(key: &str) -> bool {
    (3..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic() && !b"/,=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        assert!(valid_user_name("alice"));
        assert!(valid_user_name("svc.sync-agent_1"));
        assert!(!valid_user_name(""));
        assert!(!valid_user_name("has space"));
    }

    #[test]
    fn emails() {
        assert!(valid_email("john.doe@example.com"));
        assert!(!valid_email("john.doe"));
        assert!(!valid_email("a@b@c"));
        assert!(!valid_email("a b@c"));
        assert!(!valid_email("\"a\"@c"));
    }

    #[test]
    fn access_keys() {
        assert!(valid_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!valid_access_key_id("a/b"));
        assert!(!valid_access_key_id("ab"));
    }
}
