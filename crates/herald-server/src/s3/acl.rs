//! Access control lists: Put/GetBucketAcl, Put/GetObjectAcl, and the ACL a
//! new object or bucket gets from its request (`x-amz-acl`,
//! `x-amz-grant-*`).
//!
//! Who may call these was decided by the access hook ([`super::access`],
//! `READ_ACP`/`WRITE_ACP`); here an ACL is resolved (user ids must exist,
//! e-mail addresses must name a user, group URIs must be S3's) and checked
//! against the bucket's ownership controls (`BucketOwnerEnforced` turns
//! ACLs off) and Block Public Access (`BlockPublicAcls` refuses public
//! ones) before it is stored.

use herald_model::acl::{self, Acl, CannedAcl, Grantee, HeaderGrantee, ObjectOwnership, Permission};
use herald_store::{BucketRecord, ObjectAccess, StoreError};
use s3s::dto::{
    self, AccessControlPolicy, GetBucketAclInput, GetBucketAclOutput, GetObjectAclInput, GetObjectAclOutput,
    PutBucketAclInput, PutBucketAclOutput, PutObjectAclInput, PutObjectAclOutput,
};
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::{HeraldS3, Owners, StoreResultExt, ok};

/// The ACL parts of a request, whichever operation carried them.
#[derive(Default)]
pub(crate) struct AclHeaders<'a> {
    pub canned: Option<&'a str>,
    pub full_control: Option<&'a str>,
    pub read: Option<&'a str>,
    pub read_acp: Option<&'a str>,
    pub write: Option<&'a str>,
    pub write_acp: Option<&'a str>,
}

/// Builds [`AclHeaders`] from any input with the S3 ACL fields.
macro_rules! acl_headers {
    ($input:expr) => {
        $crate::s3::acl::AclHeaders {
            canned: $input.acl.as_ref().map(|a| a.as_str()),
            full_control: $input.grant_full_control.as_deref(),
            read: $input.grant_read.as_deref(),
            read_acp: $input.grant_read_acp.as_deref(),
            write: None,
            write_acp: $input.grant_write_acp.as_deref(),
        }
    };
}
pub(crate) use acl_headers;

impl AclHeaders<'_> {
    fn has_grants(&self) -> bool {
        [self.full_control, self.read, self.read_acp, self.write, self.write_acp]
            .iter()
            .any(Option::is_some)
    }

    fn is_empty(&self) -> bool {
        self.canned.is_none() && !self.has_grants()
    }
}

fn acl_not_supported() -> S3Error {
    super::s3_err(StoreError::acls_not_supported())
}

fn public_acl_blocked() -> S3Error {
    super::s3_err(StoreError::public_acls_blocked())
}

/// Finds the users grants name, from one read of the user list per
/// request (an ACL may name 100 grantees; each lookup by e-mail address
/// or canonical id would otherwise scan the users again).
struct Grantees<'a> {
    s3: &'a HeraldS3,
    users: Option<Vec<herald_model::User>>,
}

impl<'a> Grantees<'a> {
    fn new(s3: &'a HeraldS3) -> Self {
        Grantees { s3, users: None }
    }

    fn users(&mut self) -> S3Result<&[herald_model::User]> {
        if self.users.is_none() {
            self.users = Some(self.s3.store.list_users().s3()?);
        }
        Ok(self.users.as_deref().unwrap_or_default())
    }

    /// A grantee named by a canonical id or e-mail address, checked
    /// against the user list (S3 refuses grants to nobody).
    fn resolve(&mut self, g: HeaderGrantee) -> S3Result<Grantee> {
        match g {
            HeaderGrantee::Id(id) => match self.users()?.iter().find(|u| u.canonical_id() == id) {
                Some(u) => Ok(Grantee::User(u.name.clone())),
                None => Err(s3_error!(InvalidArgument, "Invalid id")),
            },
            HeaderGrantee::Email(email) => match self
                .users()?
                .iter()
                .find(|u| u.email.as_deref() == Some(email.as_str()))
            {
                Some(u) => Ok(Grantee::User(u.name.clone())),
                None => Err(s3_error!(
                    UnresolvableGrantByEmailAddress,
                    "The e-mail address you provided does not match any account on record."
                )),
            },
            HeaderGrantee::Uri(uri) => {
                Grantee::group(&uri).ok_or_else(|| s3_error!(InvalidArgument, "Invalid group uri"))
            }
        }
    }
}

/// Adds a grant unless the ACL holds it already.
fn push_grant(grants: &mut Vec<acl::Grant>, grant: acl::Grant) {
    if !grants.contains(&grant) {
        grants.push(grant);
    }
}

/// The ACL a request's headers describe for a resource owned by `owner`
/// in a bucket owned by `bucket_owner`; `None` when the request says
/// nothing (the resource stays or becomes `private`).
pub(crate) fn acl_from_headers(
    s3: &HeraldS3,
    h: &AclHeaders<'_>,
    owner: &str,
    bucket_owner: &str,
) -> S3Result<Option<Acl>> {
    if h.canned.is_some() && h.has_grants() {
        return Err(s3_error!(
            InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed"
        ));
    }
    if let Some(c) = h.canned {
        let canned = CannedAcl::parse(c).ok_or_else(|| s3_error!(InvalidArgument, "Invalid canned ACL {c:?}"))?;
        return Ok(Some(canned.expand(owner, bucket_owner)));
    }
    if !h.has_grants() {
        return Ok(None);
    }
    let mut grants = Vec::new();
    let mut grantees = Grantees::new(s3);
    // In the order Ceph keeps them (clients compare lists in order).
    for (value, permission) in [
        (h.read, Permission::Read),
        (h.write, Permission::Write),
        (h.read_acp, Permission::ReadAcp),
        (h.write_acp, Permission::WriteAcp),
        (h.full_control, Permission::FullControl),
    ] {
        let Some(value) = value else { continue };
        for g in acl::parse_grant_header(value).map_err(|e| s3_error!(InvalidArgument, "{e}"))? {
            let grant = acl::Grant {
                grantee: grantees.resolve(g)?,
                permission,
            };
            push_grant(&mut grants, grant);
            if grants.len() > acl::MAX_GRANTS {
                return Err(s3_error!(
                    InvalidArgument,
                    "An ACL holds at most {} grants",
                    acl::MAX_GRANTS
                ));
            }
        }
    }
    Ok(Some(Acl { grants }))
}

/// The ACL of an `AccessControlPolicy` body.
fn acl_from_policy(s3: &HeraldS3, policy: &AccessControlPolicy) -> S3Result<Acl> {
    let list = policy.grants.as_deref().unwrap_or_default();
    if list.len() > acl::MAX_GRANTS {
        return Err(s3_error!(
            MalformedACLError,
            "An ACL holds at most {} grants",
            acl::MAX_GRANTS
        ));
    }
    let mut grants = Vec::with_capacity(list.len());
    let mut grantees = Grantees::new(s3);
    for g in list {
        let (Some(grantee), Some(permission)) = (&g.grantee, &g.permission) else {
            return Err(s3_error!(MalformedACLError, "A grant needs a Grantee and a Permission"));
        };
        let permission = Permission::parse(permission.as_str())
            .ok_or_else(|| s3_error!(MalformedACLError, "Unknown permission {:?}", permission.as_str()))?;
        let named = match grantee.type_.as_str() {
            dto::Type::CANONICAL_USER => grantee.id.clone().map(HeaderGrantee::Id),
            dto::Type::AMAZON_CUSTOMER_BY_EMAIL => grantee.email_address.clone().map(HeaderGrantee::Email),
            dto::Type::GROUP => grantee.uri.clone().map(HeaderGrantee::Uri),
            other => return Err(s3_error!(MalformedACLError, "Unknown grantee type {other:?}")),
        };
        let named = named.ok_or_else(|| s3_error!(MalformedACLError, "A grantee lacks its ID, EmailAddress or URI"))?;
        let grant = acl::Grant {
            grantee: grantees.resolve(named)?,
            permission,
        };
        push_grant(&mut grants, grant);
    }
    Ok(Acl { grants })
}

/// Who owns a new object and which ACL it gets, from the bucket's
/// ownership controls and Block Public Access and the request's ACL
/// headers (PutObject, CopyObject, CreateMultipartUpload, POST uploads).
pub(crate) fn new_object_access(
    s3: &HeraldS3,
    bucket: &BucketRecord,
    writer: &str,
    h: &AclHeaders<'_>,
) -> S3Result<ObjectAccess> {
    let to_bucket_owner = h.canned == Some("bucket-owner-full-control");
    match bucket.ownership {
        Some(ObjectOwnership::BucketOwnerEnforced) => {
            // Only "the bucket owner has full control" is accepted, which
            // is what the bucket owner owning the object means anyway.
            if h.is_empty() || (to_bucket_owner && !h.has_grants()) {
                return Ok(ObjectAccess {
                    owner: (writer != bucket.owner).then(|| bucket.owner.clone()),
                    ..Default::default()
                });
            }
            return Err(acl_not_supported());
        }
        Some(ObjectOwnership::BucketOwnerPreferred) if to_bucket_owner => {
            return Ok(ObjectAccess {
                owner: (writer != bucket.owner).then(|| bucket.owner.clone()),
                ..Default::default()
            });
        }
        _ => {}
    }
    let acl = acl_from_headers(s3, h, writer, &bucket.owner)?;
    if bucket.public_access().block_public_acls && acl.as_ref().is_some_and(Acl::is_public) {
        return Err(public_acl_blocked());
    }
    Ok(ObjectAccess {
        owner: None,
        acl,
        ..Default::default()
    })
}

/// The settings a new bucket's record gets from CreateBucket's ACL
/// headers and `x-amz-object-ownership`.
pub(crate) fn new_bucket_access(
    s3: &HeraldS3,
    owner: &str,
    h: &AclHeaders<'_>,
    ownership: Option<&str>,
) -> S3Result<(Option<Acl>, Option<ObjectOwnership>)> {
    let ownership = match ownership {
        None => None,
        Some(o) => Some(
            ObjectOwnership::parse(o)
                .ok_or_else(|| s3_error!(InvalidArgument, "Invalid x-amz-object-ownership {o:?}"))?,
        ),
    };
    let acl = acl_from_headers(s3, h, owner, owner)?;
    if ownership == Some(ObjectOwnership::BucketOwnerEnforced)
        && acl.as_ref().is_some_and(|a| *a != Acl::private(owner))
    {
        return Err(s3_error!(
            InvalidBucketAclWithObjectOwnership,
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
        ));
    }
    Ok((acl, ownership))
}

/// The grants as S3 shows them: group grants first, then users by
/// canonical id (the order Ceph answers in, which clients compare with).
fn grants_dto(owners: &mut Owners<'_>, acl: &Acl) -> dto::Grants {
    let mut out: Vec<(Option<String>, dto::Grant)> = acl
        .grants
        .iter()
        .map(|g| {
            let (sort_id, grantee) = match &g.grantee {
                Grantee::User(u) => {
                    let o = owners.get(u);
                    (
                        o.id.clone(),
                        dto::Grantee {
                            display_name: o.display_name,
                            email_address: None,
                            id: o.id,
                            type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                            uri: None,
                        },
                    )
                }
                group => (
                    None,
                    dto::Grantee {
                        display_name: None,
                        email_address: None,
                        id: None,
                        type_: dto::Type::from_static(dto::Type::GROUP),
                        uri: group.group_uri().map(str::to_owned),
                    },
                ),
            };
            let grant = dto::Grant {
                grantee: Some(grantee),
                permission: Some(dto::Permission::from(g.permission.as_str().to_owned())),
            };
            (sort_id, grant)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.into_iter().map(|(_, g)| g).collect()
}

/// The ACL a resource of `owner` shows: its own, or `private`.
fn shown(owners: &mut Owners<'_>, acl: Option<&Acl>, owner: &str) -> dto::Grants {
    match acl {
        Some(a) => grants_dto(owners, a),
        None => grants_dto(owners, &Acl::private(owner)),
    }
}

/// The new ACL of a PutBucketAcl/PutObjectAcl: a body or headers, not
/// both, not neither.
fn requested_acl(
    s3: &HeraldS3,
    body: Option<&AccessControlPolicy>,
    h: &AclHeaders<'_>,
    owner: &str,
    bucket_owner: &str,
) -> S3Result<Acl> {
    match body {
        Some(_) if !h.is_empty() => Err(s3_error!(
            UnexpectedContent,
            "This request does not support content with ACL headers"
        )),
        Some(p) => acl_from_policy(s3, p),
        None => acl_from_headers(s3, h, owner, bucket_owner)?.ok_or_else(|| {
            s3_error!(
                MissingSecurityHeader,
                "Your request was missing a required header: x-amz-acl"
            )
        }),
    }
}

pub async fn get_bucket_acl(
    s3: &HeraldS3,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let mut owners = Owners::new(s3);
    ok(GetBucketAclOutput {
        grants: Some(shown(&mut owners, bucket.acl.as_ref(), &bucket.owner)),
        owner: Some(owners.get(&bucket.owner)),
    })
}

pub async fn put_bucket_acl(
    s3: &HeraldS3,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let input = &req.input;
    let h = AclHeaders {
        write: input.grant_write.as_deref(),
        ..acl_headers!(input)
    };
    // With ACLs off there is no bucket ACL to set, not even `private`
    // (Ceph's answer; reading it still works).
    if !bucket.acls_enabled() {
        return Err(acl_not_supported());
    }
    let acl = requested_acl(
        s3,
        input.access_control_policy.as_ref(),
        &h,
        &bucket.owner,
        &bucket.owner,
    )?;
    if bucket.public_access().block_public_acls && acl.is_public() {
        return Err(public_acl_blocked());
    }
    s3.store
        .update_bucket_access(&bucket, move |rec| {
            // Again against the record as it is now.
            if !rec.acls_enabled() {
                return Err(StoreError::acls_not_supported());
            }
            if rec.public_access().block_public_acls && acl.is_public() {
                return Err(StoreError::public_acls_blocked());
            }
            rec.acl = Some(acl);
            Ok(())
        })
        .await
        .s3()?;
    tracing::info!(bucket = %bucket.name, "bucket ACL set");
    ok(PutBucketAclOutput {})
}

pub async fn get_object_acl(
    s3: &HeraldS3,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let input = &req.input;
    let version = super::access::decided_version(
        s3,
        &req.extensions,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )?;
    let owner = bucket.object_owner(&version);
    let mut owners = Owners::new(s3);
    ok(GetObjectAclOutput {
        grants: Some(shown(
            &mut owners,
            version.acl.as_ref().filter(|_| bucket.acls_enabled()),
            owner,
        )),
        owner: Some(owners.get(owner)),
        request_charged: None,
    })
}

pub async fn put_object_acl(
    s3: &HeraldS3,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let input = &req.input;
    let version = super::access::decided_version(
        s3,
        &req.extensions,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )?;
    let owner = bucket.object_owner(&version).to_owned();
    let h = AclHeaders {
        write: input.grant_write.as_deref(),
        ..acl_headers!(input)
    };
    if !bucket.acls_enabled() {
        let to_bucket_owner = h.canned == Some("bucket-owner-full-control") && input.access_control_policy.is_none();
        if !to_bucket_owner {
            return Err(acl_not_supported());
        }
    }
    let acl = requested_acl(s3, input.access_control_policy.as_ref(), &h, &owner, &bucket.owner)?;
    if bucket.public_access().block_public_acls && acl.is_public() {
        return Err(public_acl_blocked());
    }
    let to_bucket_owner = h.canned == Some("bucket-owner-full-control") && input.access_control_policy.is_none();
    let public = acl.is_public();
    s3.store
        .set_object_acl(&bucket, &input.key, &version.version_id, acl, move |rec| {
            // Again against the bucket as it is now.
            if !rec.acls_enabled() && !to_bucket_owner {
                return Err(StoreError::acls_not_supported());
            }
            if rec.public_access().block_public_acls && public {
                return Err(StoreError::public_acls_blocked());
            }
            Ok(())
        })
        .await
        .s3()?;
    ok(PutObjectAclOutput { request_charged: None })
}
