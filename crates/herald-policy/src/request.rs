//! What a request looks like to the engine: who, what action, on which
//! resource, and the condition keys that describe it.
//!
//! The context is built for every request, so it is one flat vector of
//! borrowed-or-owned `(key, value)` pairs: a multi-valued key (such as
//! `s3:RequestObjectTagKeys`) is simply inserted once per value. Lookups
//! compare key names ASCII-case-insensitively, as AWS condition keys are.

use std::borrow::Cow;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::matcher::Vars;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// An unsigned request.
    Anonymous,
    /// A Herald user (who is also its own account).
    User {
        /// The user name.
        name: &'a str,
        /// The user's canonical id, matched by `{"CanonicalUser": …}`.
        /// Empty when unknown: then it matches nothing.
        canonical_id: &'a str,
    },
    /// A service acting on its own behalf (for example `s3.amazonaws.com`
    /// delivering an event notification to a queue or topic).
    Service(&'a str),
}

/// Condition keys of one request. Cheap to build: one vector, values
/// borrowed where the caller has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context<'a> {
    entries: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Context<'a> {
    /// An empty context.
    pub const fn new() -> Context<'a> {
        Context { entries: Vec::new() }
    }

    /// An empty context with room for `n` values.
    pub fn with_capacity(n: usize) -> Context<'a> {
        Context {
            entries: Vec::with_capacity(n),
        }
    }

    /// Adds one value for `key`. Adding more values for the same key makes
    /// it multi-valued.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> &mut Self {
        self.entries.push((key.into(), value.into()));
        self
    }

    /// Adds every value of `values` for `key`.
    pub fn insert_all<V: Into<Cow<'a, str>>>(
        &mut self,
        key: impl Into<Cow<'a, str>>,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Self {
        let key = key.into();
        for v in values {
            self.entries.push((key.clone(), v.into()));
        }
        self
    }

    /// Builder form of [`Context::insert`].
    pub fn with(mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) -> Self {
        self.insert(key, value);
        self
    }

    /// The values of `key`, compared case-insensitively, in insertion order.
    pub fn values<'s>(&'s self, key: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.entries
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref())
    }

    /// True when `key` has at least one value.
    pub fn contains(&self, key: &str) -> bool {
        self.values(key).next().is_some()
    }

    /// Number of (key, value) pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no values at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a, K: Into<Cow<'a, str>>, V: Into<Cow<'a, str>>> FromIterator<(K, V)> for Context<'a> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Context {
            entries: iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }
}

static EMPTY: Context<'static> = Context::new();

/// One request to decide.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who is asking.
    pub principal: Principal<'a>,
    /// The action, `service:Name` (for example `s3:GetObject`).
    pub action: &'a str,
    /// The ARN of the resource acted on (for example
    /// `arn:aws:s3:::bucket/key`).
    pub resource: &'a str,
    /// Condition keys of the request.
    pub context: &'a Context<'a>,
    /// The time of the request. When set, it answers `aws:CurrentTime` and
    /// `aws:EpochTime` unless the context has them.
    pub now: Option<OffsetDateTime>,
}

impl<'a> Request<'a> {
    /// A request with an empty context and no time.
    pub fn new(principal: Principal<'a>, action: &'a str, resource: &'a str) -> Request<'a> {
        Request {
            principal,
            action,
            resource,
            context: &EMPTY,
            now: None,
        }
    }

    /// The same request with condition keys.
    pub fn with_context(self, context: &'a Context<'a>) -> Request<'a> {
        Request { context, ..self }
    }

    /// The same request at time `now`.
    pub fn at(self, now: OffsetDateTime) -> Request<'a> {
        Request { now: Some(now), ..self }
    }

    /// The values of condition key `key`: the context's, or else one the
    /// engine derives from the request itself.
    pub(crate) fn lookup<'s>(&'s self, key: &'s str) -> Lookup<'s> {
        if self.context.contains(key) {
            return Lookup::Context(self.context, key);
        }
        match self.derived(key) {
            Some(v) => Lookup::One(Cow::Borrowed(v)),
            None => match self.now {
                Some(now) if key.eq_ignore_ascii_case("aws:CurrentTime") => {
                    Lookup::One(Cow::Owned(now.format(&Rfc3339).unwrap_or_default()))
                }
                Some(now) if key.eq_ignore_ascii_case("aws:EpochTime") => {
                    Lookup::One(Cow::Owned(now.unix_timestamp().to_string()))
                }
                _ => Lookup::Missing,
            },
        }
    }

    /// Keys that follow from the principal without allocating.
    fn derived(&self, key: &str) -> Option<&'a str> {
        if key.eq_ignore_ascii_case("aws:username") {
            match self.principal {
                Principal::User { name, .. } => Some(name),
                _ => None,
            }
        } else if key.eq_ignore_ascii_case("aws:PrincipalType") {
            Some(match self.principal {
                Principal::Anonymous => "Anonymous",
                Principal::User { .. } => "User",
                Principal::Service(_) => "Service",
            })
        } else {
            None
        }
    }
}

impl Vars for Request<'_> {
    /// A policy variable resolves only to a single-valued key: a variable
    /// standing for a set has no one value to substitute.
    fn var(&self, key: &str) -> Option<&str> {
        let mut values = self
            .context
            .entries
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref());
        match (values.next(), values.next()) {
            (Some(v), None) => Some(v),
            (Some(_), Some(_)) => None,
            (None, _) => self.derived(key),
        }
    }
}

/// The values of one condition key in one request.
pub(crate) enum Lookup<'s> {
    Missing,
    Context(&'s Context<'s>, &'s str),
    One(Cow<'s, str>),
}

impl Lookup<'_> {
    pub(crate) fn is_missing(&self) -> bool {
        matches!(self, Lookup::Missing)
    }

    /// True when `f` holds for at least one value.
    pub(crate) fn any(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Lookup::Missing => false,
            Lookup::Context(ctx, key) => ctx.values(key).any(f),
            Lookup::One(v) => f(v),
        }
    }

    /// True when `f` holds for every value (and so for no value at all).
    pub(crate) fn all(&self, mut f: impl FnMut(&str) -> bool) -> bool {
        match self {
            Lookup::Missing => true,
            Lookup::Context(ctx, key) => ctx.values(key).all(f),
            Lookup::One(v) => f(v),
        }
    }
}
