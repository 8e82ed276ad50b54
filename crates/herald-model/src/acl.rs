//! S3 access control lists, bucket ownership controls and Block Public
//! Access: the stored shapes and what they grant.
//!
//! An ACL is a list of grants. Herald stores only the grants; the owner is
//! the bucket's owner, or the object's (its writer, unless ownership
//! controls give objects to the bucket owner). A missing ACL means
//! `private`: the owner's `FULL_CONTROL` and nothing else.
//!
//! Canonical user ids are Herald user names (every user is its own
//! account, see the access-control docs), so a grant to a user is a grant
//! to a name that exists when it is made.

use serde::{Deserialize, Serialize};

/// The group URIs S3 defines.
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// At most this many grants in one ACL (S3's limit).
pub const MAX_GRANTS: usize = 100;

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    FullControl,
    Read,
    Write,
    ReadAcp,
    WriteAcp,
}

impl Permission {
    /// The wire name (`FULL_CONTROL`, `READ`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::FullControl => "FULL_CONTROL",
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "FULL_CONTROL" => Permission::FullControl,
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            _ => return None,
        })
    }

    /// Whether holding `self` gives `wanted` (`FULL_CONTROL` gives all).
    pub fn covers(self, wanted: Permission) -> bool {
        self == Permission::FullControl || self == wanted
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// One user, by canonical id (a Herald user name).
    User(String),
    /// Everyone, anonymous requests included.
    AllUsers,
    /// Every signed request.
    AuthenticatedUsers,
    /// S3's log delivery group: kept and shown, grants nothing in Herald
    /// (it has no server access logging).
    LogDelivery,
}

impl Grantee {
    /// A group grantee from its URI.
    pub fn group(uri: &str) -> Option<Grantee> {
        match uri {
            ALL_USERS_URI => Some(Grantee::AllUsers),
            AUTHENTICATED_USERS_URI => Some(Grantee::AuthenticatedUsers),
            LOG_DELIVERY_URI => Some(Grantee::LogDelivery),
            _ => None,
        }
    }

    pub fn group_uri(&self) -> Option<&'static str> {
        match self {
            Grantee::AllUsers => Some(ALL_USERS_URI),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
            Grantee::LogDelivery => Some(LOG_DELIVERY_URI),
            Grantee::User(_) => None,
        }
    }

    /// Whether the grant reaches beyond named users (what Block Public
    /// Access calls a public ACL).
    pub fn is_public(&self) -> bool {
        matches!(self, Grantee::AllUsers | Grantee::AuthenticatedUsers)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// The grants of a bucket or an object version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub grants: Vec<Grant>,
}

/// Who is asking, as ACLs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    User(&'a str),
    Anonymous,
}

impl Acl {
    /// The `private` ACL of `owner`.
    pub fn private(owner: &str) -> Acl {
        Acl {
            grants: vec![Grant {
                grantee: Grantee::User(owner.to_owned()),
                permission: Permission::FullControl,
            }],
        }
    }

    /// Whether the ACL gives `requester` the permission `wanted`.
    /// `ignore_public` drops the grants to groups (Block Public Access's
    /// `IgnorePublicAcls`).
    pub fn allows(&self, requester: Requester<'_>, wanted: Permission, ignore_public: bool) -> bool {
        self.grants.iter().any(|g| {
            g.permission.covers(wanted)
                && match (&g.grantee, requester) {
                    (Grantee::User(u), Requester::User(r)) => u == r,
                    (Grantee::AllUsers, _) => !ignore_public,
                    (Grantee::AuthenticatedUsers, Requester::User(_)) => !ignore_public,
                    _ => false,
                }
        })
    }

    /// Whether any grant is public (to AllUsers or AuthenticatedUsers).
    pub fn is_public(&self) -> bool {
        self.grants.iter().any(|g| g.grantee.is_public())
    }
}

/// The canned ACLs of S3 (`x-amz-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CannedAcl {
    Private,
    PublicRead,
    PublicReadWrite,
    AuthenticatedRead,
    BucketOwnerRead,
    BucketOwnerFullControl,
    LogDeliveryWrite,
}

impl CannedAcl {
    pub fn parse(s: &str) -> Option<CannedAcl> {
        Some(match s {
            "private" => CannedAcl::Private,
            "public-read" => CannedAcl::PublicRead,
            "public-read-write" => CannedAcl::PublicReadWrite,
            "authenticated-read" => CannedAcl::AuthenticatedRead,
            "bucket-owner-read" => CannedAcl::BucketOwnerRead,
            "bucket-owner-full-control" => CannedAcl::BucketOwnerFullControl,
            "log-delivery-write" => CannedAcl::LogDeliveryWrite,
            _ => return None,
        })
    }

    /// The grants it stands for, for a resource owned by `owner` in a
    /// bucket owned by `bucket_owner` (the same user for a bucket).
    pub fn expand(self, owner: &str, bucket_owner: &str) -> Acl {
        let mut acl = Acl::private(owner);
        let mut add = |grantee: Grantee, permission: Permission| acl.grants.push(Grant { grantee, permission });
        match self {
            CannedAcl::Private => {}
            CannedAcl::PublicRead => add(Grantee::AllUsers, Permission::Read),
            CannedAcl::PublicReadWrite => {
                add(Grantee::AllUsers, Permission::Read);
                add(Grantee::AllUsers, Permission::Write);
            }
            CannedAcl::AuthenticatedRead => add(Grantee::AuthenticatedUsers, Permission::Read),
            CannedAcl::BucketOwnerRead if bucket_owner != owner => {
                add(Grantee::User(bucket_owner.to_owned()), Permission::Read)
            }
            CannedAcl::BucketOwnerFullControl if bucket_owner != owner => {
                add(Grantee::User(bucket_owner.to_owned()), Permission::FullControl)
            }
            CannedAcl::BucketOwnerRead | CannedAcl::BucketOwnerFullControl => {}
            CannedAcl::LogDeliveryWrite => {
                add(Grantee::LogDelivery, Permission::Write);
                add(Grantee::LogDelivery, Permission::ReadAcp);
            }
        }
        acl
    }
}

/// One grantee of an `x-amz-grant-*` header, before user ids and e-mail
/// addresses are checked against the user list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderGrantee {
    Id(String),
    Email(String),
    Uri(String),
}

/// Parses an `x-amz-grant-*` header value: `id="..."`, `emailAddress="..."`
/// or `uri="..."`, comma separated (quotes optional).
pub fn parse_grant_header(value: &str) -> Result<Vec<HeaderGrantee>, String> {
    let mut out = Vec::new();
    for part in value.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("grant {part:?} is not key=value"))?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .to_owned();
        if v.is_empty() {
            return Err(format!("grant {part:?} has an empty value"));
        }
        out.push(match k.trim() {
            "id" => HeaderGrantee::Id(v),
            "emailAddress" => HeaderGrantee::Email(v),
            "uri" => HeaderGrantee::Uri(v),
            other => return Err(format!("grantee type {other:?} is not one of id, emailAddress, uri")),
        });
        if out.len() > MAX_GRANTS {
            return Err(format!("more than {MAX_GRANTS} grants"));
        }
    }
    Ok(out)
}

/// S3 Object Ownership (bucket ownership controls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// ACLs are off; the bucket owner owns every object.
    BucketOwnerEnforced,
    /// Objects written with `bucket-owner-full-control` go to the bucket
    /// owner; others to their writer.
    BucketOwnerPreferred,
    /// The writer owns what it writes (S3's behaviour before 2023).
    ObjectWriter,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        Some(match s {
            "BucketOwnerEnforced" => ObjectOwnership::BucketOwnerEnforced,
            "BucketOwnerPreferred" => ObjectOwnership::BucketOwnerPreferred,
            "ObjectWriter" => ObjectOwnership::ObjectWriter,
            _ => return None,
        })
    }
}

/// A bucket's Block Public Access settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Grant nothing through public ACL grants.
    pub ignore_public_acls: bool,
    /// Refuse a public bucket policy.
    pub block_public_policy: bool,
    /// While the policy is public, it grants only to the bucket owner.
    pub restrict_public_buckets: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_expand_as_s3_documents() {
        let acl = CannedAcl::PublicRead.expand("alice", "alice");
        assert!(acl.allows(Requester::Anonymous, Permission::Read, false));
        assert!(!acl.allows(Requester::Anonymous, Permission::Write, false));
        assert!(!acl.allows(Requester::Anonymous, Permission::Read, true));
        assert!(acl.allows(Requester::User("alice"), Permission::WriteAcp, false));

        let acl = CannedAcl::AuthenticatedRead.expand("alice", "alice");
        assert!(acl.allows(Requester::User("bob"), Permission::Read, false));
        assert!(!acl.allows(Requester::Anonymous, Permission::Read, false));

        let acl = CannedAcl::BucketOwnerFullControl.expand("bob", "alice");
        assert!(acl.allows(Requester::User("alice"), Permission::WriteAcp, false));
        assert_eq!(
            CannedAcl::BucketOwnerFullControl.expand("alice", "alice").grants.len(),
            1
        );

        let acl = CannedAcl::BucketOwnerRead.expand("bob", "alice");
        assert!(acl.allows(Requester::User("alice"), Permission::Read, false));
        assert!(!acl.allows(Requester::User("alice"), Permission::ReadAcp, false));
        assert!(CannedAcl::parse("public-write").is_none());
    }

    #[test]
    fn grant_headers_parse_the_three_grantee_forms() {
        let g = parse_grant_header(
            r#"id="bob", emailAddress="carol@example.com",uri="http://acs.amazonaws.com/groups/global/AllUsers""#,
        )
        .unwrap();
        assert_eq!(
            g,
            vec![
                HeaderGrantee::Id("bob".into()),
                HeaderGrantee::Email("carol@example.com".into()),
                HeaderGrantee::Uri(ALL_USERS_URI.into()),
            ]
        );
        assert!(parse_grant_header("name=bob").is_err());
        assert!(parse_grant_header("id=").is_err());
        assert!(parse_grant_header("bob").is_err());
        let many = vec!["id=a"; MAX_GRANTS + 1].join(",");
        assert!(parse_grant_header(&many).is_err());
    }
}
