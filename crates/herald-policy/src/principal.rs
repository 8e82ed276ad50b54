//! The `Principal` / `NotPrincipal` element: who a statement is about.
//!
//! Herald has no roles, groups or separate accounts: every user is its own
//! account, and the account part of the user's ARN is its name. So every
//! AWS-style way of naming a user or an account boils down to one user name,
//! and the compiled set is just lists of names, services and canonical ids.

use crate::PolicyError;
use crate::json::Json;
use crate::request::Principal;

/// The canonical ARN of Herald user `name`: `arn:aws:iam::<name>:user/<name>`.
pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{name}:user/{name}")
}

/// A compiled principal element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PrincipalSet {
    /// `"*"` or `{"AWS": "*"}`: everyone, anonymous included.
    pub(crate) everyone: bool,
    /// Users, from user ARNs, account-root ARNs and bare account ids.
    names: Vec<Box<str>>,
    /// Service principals, compared case-insensitively.
    services: Vec<Box<str>>,
    canonical_ids: Vec<Box<str>>,
}

const INVALID: &str = "Invalid principal in policy";

impl PrincipalSet {
    /// Whether it names any `CanonicalUser`.
    pub(crate) fn names_canonical_ids(&self) -> bool {
        !self.canonical_ids.is_empty()
    }

    pub(crate) fn parse(value: &Json, at: &str, tenant_users: bool) -> Result<PrincipalSet, PolicyError> {
        let mut set = PrincipalSet::default();
        match value {
            Json::String(s) if s == "*" => set.everyone = true,
            Json::Object(members) if !members.is_empty() => {
                for (kind, ids) in members {
                    let ids = string_list(ids).ok_or_else(|| {
                        PolicyError::at(
                            at,
                            format_args!("{INVALID}: {kind} must be a string or a non-empty array of strings"),
                        )
                    })?;
                    for id in ids {
                        match kind.as_str() {
                            "AWS" => set.add_aws(id, at, tenant_users)?,
                            "Service" => set.services.push(plain_id(id, at)?.into()),
                            "CanonicalUser" => set.canonical_ids.push(plain_id(id, at)?.into()),
                            _ => {
                                return Err(PolicyError::at(
                                    at,
                                    format_args!("{INVALID}: unknown principal type \"{kind}\""),
                                ));
                            }
                        }
                    }
                }
            }
            Json::String(s) => return Err(PolicyError::at(at, format_args!("{INVALID}: \"{s}\""))),
            other => {
                return Err(PolicyError::at(
                    at,
                    format_args!("{INVALID}: expected \"*\" or an object, found {}", other.kind()),
                ));
            }
        }
        Ok(set)
    }

    fn add_aws(&mut self, id: &str, at: &str, tenant_users: bool) -> Result<(), PolicyError> {
        if id == "*" {
            self.everyone = true;
            return Ok(());
        }
        let bad = || PolicyError::at(at, format_args!("{INVALID}: \"{id}\""));
        let name = match id.strip_prefix("arn:") {
            None => id,
            Some(rest) => {
                let mut parts = rest.splitn(5, ':');
                let (Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) =
                    (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad());
                };
                if partition.is_empty() {
                    return Err(bad());
                }
                if resource == "root" {
                    // Ceph's account is a tenant of many users, which a
                    // user principal cannot stand for.
                    if tenant_users {
                        return Err(bad());
                    }
                    account
                } else if let Some(path) = resource.strip_prefix("user/") {
                    // A user ARN may carry a path; the name is its last part.
                    let name = path.rsplit('/').next().unwrap_or(path);
                    if !account.is_empty() && tenant_users {
                        // Ceph's tenant-qualified user
                        // (`arn:aws:iam::<tenant>:user/<uid>`), which Herald
                        // names `tenant$uid` (see `herald serve --compat
                        // ceph`), even where the two are equal.
                        if !valid_name(account) || !valid_name(name) {
                            return Err(bad());
                        }
                        self.names.push(format!("{account}${name}").into());
                        return Ok(());
                    }
                    // Each user is its own account: another account's user
                    // cannot exist.
                    if !account.is_empty() && account != name {
                        return Err(bad());
                    }
                    name
                } else {
                    return Err(bad());
                }
            }
        };
        if !valid_name(name) {
            return Err(bad());
        }
        self.names.push(name.into());
        Ok(())
    }

    pub(crate) fn matches(&self, who: &Principal<'_>) -> bool {
        if self.everyone {
            return true;
        }
        match *who {
            Principal::Anonymous => false,
            Principal::User { name, canonical_id } => {
                self.names.iter().any(|n| **n == *name)
                    || (!canonical_id.is_empty() && self.canonical_ids.iter().any(|c| **c == *canonical_id))
            }
            Principal::Service(service) => self.services.iter().any(|s| s.eq_ignore_ascii_case(service)),
        }
    }
}

/// A JSON string or non-empty array of strings.
pub(crate) fn string_list(value: &Json) -> Option<Vec<&str>> {
    match value {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                Json::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Herald user names (and so account ids): the IAM character set, 1 to 64
/// long (kept in step with `herald_model::valid_user_name`).
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// A service name or canonical id: non-empty, printable, no wildcard (AWS
/// allows a wildcard only as the whole principal).
fn plain_id<'a>(id: &'a str, at: &str) -> Result<&'a str, PolicyError> {
    let ok = !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_graphic() && b != b'*' && b != b'?');
    if ok {
        Ok(id)
    } else {
        Err(PolicyError::at(at, format_args!("{INVALID}: \"{id}\"")))
    }
}
