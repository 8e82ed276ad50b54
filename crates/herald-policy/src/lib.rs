//! # herald-policy
//!
//! Parses and evaluates AWS IAM-style *resource* policies: S3 bucket
//! policies, SNS topic policies and SQS queue policies. The S3, SNS, SQS and
//! SFTP front ends ask [`Policy::evaluate`] about every request, so the crate
//! is built around two promises:
//!
//! * **Evaluation is cheap.** Everything that can be decided once is decided
//!   in [`Policy::parse`]: actions, resources and condition values are
//!   compiled into glob patterns with fast paths (exact, prefix, suffix, `*`),
//!   IP ranges, numbers and dates are parsed, operators are resolved to enums.
//!   Evaluating a request walks the compiled statements without allocating,
//!   except when a policy refers to `aws:CurrentTime`/`aws:EpochTime` that
//!   the caller left to the engine (one short string), or to a policy
//!   variable (one small vector of resolved values).
//! * **Parsing is safe on hostile input.** The text is measured before it is
//!   parsed: its size, and its nesting depth in a single non-recursive byte
//!   scan (so `[[[[…` a hundred thousand deep is refused at once, without
//!   touching `serde_json`'s recursion). Duplicate JSON keys, unknown fields,
//!   too many statements and every malformed element are refused with a
//!   sentence meant for a `MalformedPolicy` error.
//!
//! ## Use
//!
//! ```
//! use herald_policy::{Context, Decision, Limits, Policy, Principal, Request};
//!
//! let policy = Policy::parse(
//!     r#"{"Version":"2012-10-17","Statement":[{
//!         "Effect":"Allow","Principal":{"AWS":"arn:aws:iam::bob:user/bob"},
//!         "Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*",
//!         "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
//!     &Limits::DEFAULT,
//! )?;
//! let bob = Principal::User { name: "bob", canonical_id: "" };
//! let ctx = Context::new().with("aws:SourceIp", "10.1.2.3");
//! let req = Request::new(bob, "s3:GetObject", "arn:aws:s3:::photos/cat.jpg").with_context(&ctx);
//! assert_eq!(policy.evaluate(&req), Decision::Allow);
//! assert!(!policy.is_public());
//! # Ok::<(), herald_policy::PolicyError>(())
//! ```
//!
//! ## Herald's identity model
//!
//! In Herald every user is its own account: the account part of a user ARN
//! *is* the user name. User `bob` is therefore named in a policy by any of
//! `arn:aws:iam::bob:user/bob`, `arn:aws:iam:::user/bob` (the Ceph form),
//! `arn:aws:iam::bob:root`, the bare account `bob`, or `{"CanonicalUser": id}`
//! with bob's canonical id. [`user_arn`] spells the canonical form.
//!
//! ## Grammar
//!
//! `Version` (`2012-10-17` or `2008-10-17`; a missing version means 2008, and
//! as in AWS, policy variables are only expanded under 2012), `Id`, and
//! `Statement` (one object or a non-empty array). Each statement has `Sid`
//! (unique within the policy), `Effect`, exactly one of
//! `Principal`/`NotPrincipal`, `Action`/`NotAction` and
//! `Resource`/`NotResource`, and an optional `Condition` using any of the
//! String, Arn, IpAddress, Bool, Numeric, Date and Null operators, with
//! `…IfExists` and the `ForAnyValue:`/`ForAllValues:` set qualifiers.
//! Missing condition keys follow the AWS rule: the condition is false, except
//! that negated operators (`StringNotEquals`, `NotIpAddress`, …) are true,
//! `…IfExists` is true, `ForAllValues:` is true and `Null` tests presence.
//!
//! ## Limits
//!
//! * Resource policies only: a statement without a principal is refused
//!   (unless [`Limits::require_principal`] is turned off, in which case it
//!   names nobody). Identity policies, permission boundaries, SCPs and
//!   session policies are not modelled; neither is cross-policy evaluation
//!   (callers combine a [`Decision`] with ownership/ACL checks themselves).
//! * Principals: `*`, `AWS` (users, account roots, bare accounts, `*`),
//!   `Service` and `CanonicalUser`. Roles, federated and assumed-role
//!   principals do not exist in Herald and are refused.
//! * `Binary*` condition operators are not supported (refused as unknown).
//! * The engine does not check that a principal exists, that an action
//!   belongs to the resource's service beyond [`Limits::services`], or that a
//!   resource belongs to the bucket/topic/queue the policy is attached to;
//!   those checks need the caller's state.

mod cache;
mod condition;
mod document;
mod error;
mod eval;
mod json;
mod matcher;
mod principal;
mod public;
mod request;

pub use cache::ParsedCache;
pub use document::{Policy, PolicyVersion};
pub use error::PolicyError;
pub use eval::Decision;
pub use principal::user_arn;
pub use request::{Context, Principal, Request};

/// Bounds applied by [`Policy::parse`] before and while a document is read.
///
/// The defaults mirror S3 bucket policies (20 KiB). SNS topic and SQS queue
/// policies have other size limits in AWS; pass those explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes of UTF-8 text.
    pub max_bytes: usize,
    /// Deepest nesting of JSON objects and arrays (the top-level object is
    /// depth 1). The deepest legal policy element, a condition value list,
    /// sits at depth 6.
    pub max_depth: usize,
    /// Most statements in one policy.
    pub max_statements: usize,
    /// When non-empty, the only service prefixes an action may name (for
    /// example `&["s3"]` for bucket policies), compared case-insensitively.
    /// `"*"` as a whole action is always accepted.
    pub services: &'static [&'static str],
    /// Refuse statements that have neither `Principal` nor `NotPrincipal`,
    /// as AWS does for resource policies.
    pub require_principal: bool,
    /// Read user ARNs as Ceph does: `arn:aws:iam::<tenant>:user/<uid>` is
    /// the caller named `tenant$uid` (`arn:aws:iam:::user/<uid>` a user
    /// without tenant), and `arn:aws:iam::<tenant>:root` is refused.
    /// Topic policies under `herald serve --compat ceph`. Otherwise each
    /// user is its own account, and another account's user (which cannot
    /// exist) is refused.
    pub tenant_users: bool,
}

impl Limits {
    /// S3 bucket policy bounds: 20 KiB, depth 8, 100 statements, any service.
    pub const DEFAULT: Limits = Limits {
        max_bytes: 20 * 1024,
        max_depth: 8,
        max_statements: 100,
        services: &[],
        require_principal: true,
        tenant_users: false,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
