//! Whether a policy makes its resource public, as AWS defines it for S3
//! Block Public Access and `GetBucketPolicyStatus` (and, in the same terms,
//! for SNS topics and SQS queues).
//!
//! A policy is public when some `Allow` statement grants access to everyone
//! (`"*"`, `{"AWS": "*"}`, or any `NotPrincipal`) and none of its conditions
//! pins the request to fixed values of a key that identifies the caller or
//! the source: `aws:SourceArn`, `aws:SourceAccount`, `aws:SourceIp` (a range
//! no wider than /8 for IPv4 or /32 for IPv6), and the other keys in
//! [`RESTRICTING_KEYS`]. "Fixed" means a positive operator (not `Not…`, not
//! `…IfExists`, not `ForAllValues:`, all of which still hold when the key is
//! absent) with values free of wildcards and policy variables.

use crate::condition::{Condition, Op, Qualifier, Values};
use crate::document::{Effect, Policy};

/// Keys whose fixed values make a statement non-public.
pub(crate) const RESTRICTING_KEYS: &[&str] = &[
    "aws:SourceArn",
    "aws:SourceAccount",
    "aws:SourceOwner",
    "aws:SourceVpc",
    "aws:SourceVpce",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:PrincipalOrgID",
    "aws:userid",
    "aws:username",
    "s3:DataAccessPointArn",
    "s3:DataAccessPointAccount",
];

impl Policy {
    /// True when the policy grants access to the public (see the module
    /// documentation for the exact rule).
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|st| {
            let everyone = match &st.principal {
                Some(p) => p.negated || p.inner.everyone,
                None => false,
            };
            st.effect == Effect::Allow && everyone && !st.conditions.iter().any(restricts)
        })
    }
}

fn restricts(c: &Condition) -> bool {
    if c.negated || c.if_exists || c.qualifier == Qualifier::ForAllValues {
        return false;
    }
    if c.key.eq_ignore_ascii_case("aws:SourceIp") {
        return match (&c.values, c.op) {
            (Values::Nets(nets), Op::IpAddress) => nets.iter().all(|n| match n {
                ipnet::IpNet::V4(v4) => v4.prefix_len() >= 8,
                ipnet::IpNet::V6(v6) => v6.prefix_len() >= 32,
            }),
            _ => false,
        };
    }
    if !RESTRICTING_KEYS.iter().any(|k| k.eq_ignore_ascii_case(&c.key)) {
        return false;
    }
    match &c.values {
        Values::Patterns(ps) => ps.iter().all(|p| p.is_fixed()),
        Values::Arns(ps) => ps.iter().all(|p| p.is_fixed()),
        _ => false,
    }
}
