//! Reading a policy document into its compiled form.
//!
//! The document is checked for size and depth first (see `json.rs`), then
//! read into a JSON tree, then every element is validated and compiled.
//! Element names are case-sensitive and unknown elements are refused, as
//! AWS does: a misspelt `"Conditon"` must not silently widen a statement.

use crate::condition::{self, Condition};
use crate::json::{self, Json};
use crate::matcher::{ArnPattern, Pattern, Syntax};
use crate::principal::{PrincipalSet, string_list};
use crate::{Limits, PolicyError};

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVersion {
    /// `2008-10-17`, also assumed when `Version` is missing. Policy
    /// variables are not expanded: `${aws:username}` is literal text.
    V2008_10_17,
    /// `2012-10-17`: policy variables are expanded.
    V2012_10_17,
}

impl PolicyVersion {
    /// The version as written in a document.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyVersion::V2008_10_17 => "2008-10-17",
            PolicyVersion::V2012_10_17 => "2012-10-17",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Allow,
    Deny,
}

/// A compiled element that may be negated (`NotAction`, …).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Negatable<T> {
    pub(crate) negated: bool,
    pub(crate) inner: T,
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sid: Option<Box<str>>,
    pub(crate) effect: Effect,
    /// `None` only when [`Limits::require_principal`] is off and the
    /// statement names nobody.
    pub(crate) principal: Option<Negatable<PrincipalSet>>,
    pub(crate) action: Negatable<Vec<Pattern>>,
    pub(crate) resource: Negatable<Vec<ArnPattern>>,
    pub(crate) conditions: Vec<Condition>,
}

/// A parsed, validated and compiled resource policy.
///
/// `Policy` is immutable and `Send + Sync`: parse it when it is stored,
/// share it (for example in an `Arc`), and evaluate it per request.
#[derive(Debug, Clone)]
pub struct Policy {
    source: String,
    version: PolicyVersion,
    id: Option<String>,
    pub(crate) statements: Vec<Statement>,
}

impl Policy {
    /// Parses, validates and compiles `text` within `limits`.
    ///
    /// The error's text says what is wrong and where, for a
    /// `MalformedPolicy` answer.
    pub fn parse(text: &str, limits: &Limits) -> Result<Policy, PolicyError> {
        json::check_shape(text, limits)?;
        let root = json::parse(text)?;
        let Json::Object(members) = root else {
            return Err(PolicyError::at(
                "",
                format_args!("Policy must be a JSON object, found {}", root.kind()),
            ));
        };
        let mut version = None;
        let mut id = None;
        let mut statement = None;
        for (name, value) in members {
            match name.as_str() {
                "Version" => version = Some(value),
                "Id" => id = Some(value),
                "Statement" => statement = Some(value),
                _ => {
                    return Err(PolicyError::at(
                        "",
                        format_args!("Policy has an unknown field \"{name}\""),
                    ));
                }
            }
        }
        let version = match version {
            None => PolicyVersion::V2008_10_17,
            Some(Json::String(v)) if v == "2012-10-17" => PolicyVersion::V2012_10_17,
            Some(Json::String(v)) if v == "2008-10-17" => PolicyVersion::V2008_10_17,
            Some(_) => {
                return Err(PolicyError::at(
                    "",
                    "Policy has an invalid Version (use 2012-10-17 or 2008-10-17)",
                ));
            }
        };
        let id = match id {
            None => None,
            Some(Json::String(s)) => Some(s),
            Some(other) => {
                return Err(PolicyError::at(
                    "",
                    format_args!("Id must be a string, found {}", other.kind()),
                ));
            }
        };
        let statements = match statement {
            None => return Err(PolicyError::at("", "Missing required field Statement")),
            Some(Json::Array(items)) => items,
            Some(one @ Json::Object(_)) => vec![one],
            Some(other) => {
                return Err(PolicyError::at(
                    "",
                    format_args!(
                        "Statement must be an object or an array of objects, found {}",
                        other.kind()
                    ),
                ));
            }
        };
        if statements.is_empty() {
            return Err(PolicyError::at("", "Policy has no statements"));
        }
        if statements.len() > limits.max_statements {
            return Err(PolicyError::TooManyStatements {
                count: statements.len(),
                limit: limits.max_statements,
            });
        }
        let variables = version == PolicyVersion::V2012_10_17;
        let mut compiled: Vec<Statement> = Vec::with_capacity(statements.len());
        for (i, s) in statements.iter().enumerate() {
            let at = format!("Statement[{i}]");
            let st = parse_statement(s, &at, limits, variables)?;
            if let Some(sid) = &st.sid
                && compiled.iter().any(|c| c.sid.as_deref() == Some(&**sid))
            {
                return Err(PolicyError::at(
                    &at,
                    format_args!("Statement IDs (SID) in a single policy must be unique; \"{sid}\" is repeated"),
                ));
            }
            compiled.push(st);
        }
        Ok(Policy {
            source: text.to_owned(),
            version,
            id,
            statements: compiled,
        })
    }

    /// The document exactly as it was given (what `GetBucketPolicy`,
    /// `GetTopicAttributes` and `GetQueueAttributes` return in AWS).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The document as compact JSON: insignificant whitespace removed,
    /// members in document order, strings re-escaped minimally.
    pub fn to_json(&self) -> String {
        // The source parsed once already, so it parses again.
        json::parse(&self.source)
            .map(|j| j.to_compact())
            .unwrap_or_else(|_| self.source.clone())
    }

    /// The policy language version.
    pub fn version(&self) -> PolicyVersion {
        self.version
    }

    /// The optional `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The number of statements.
    pub fn statement_count(&self) -> usize {
        self.statements.len()
    }

    /// The `Sid`s of the statements, in order (`None` where absent).
    pub fn sids(&self) -> impl Iterator<Item = Option<&str>> {
        self.statements.iter().map(|s| s.sid.as_deref())
    }

    /// Whether some statement names a `CanonicalUser` principal: lets a
    /// caller skip looking up the requester's canonical id otherwise.
    pub fn names_canonical_users(&self) -> bool {
        self.statements
            .iter()
            .filter_map(|s| s.principal.as_ref())
            .any(|p| p.inner.names_canonical_ids())
    }

    /// Whether some condition tests a key starting with `prefix` (compared
    /// case-insensitively, as keys are): lets a caller skip gathering
    /// costly keys, such as an object's stored tags, no statement reads.
    pub fn mentions_key_prefix(&self, prefix: &str) -> bool {
        self.statements.iter().flat_map(|s| &s.conditions).any(|c| {
            c.key
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
    }
}

fn parse_statement(value: &Json, at: &str, limits: &Limits, variables: bool) -> Result<Statement, PolicyError> {
    let Json::Object(members) = value else {
        return Err(PolicyError::at(
            at,
            format_args!("Statement must be an object, found {}", value.kind()),
        ));
    };
    let mut sid = None;
    let mut effect = None;
    let mut principal: Option<(bool, &Json)> = None;
    let mut action: Option<(bool, &Json)> = None;
    let mut resource: Option<(bool, &Json)> = None;
    let mut condition = None;
    fn pair<'j>(
        slot: &mut Option<(bool, &'j Json)>,
        negated: bool,
        v: &'j Json,
        name: &str,
        at: &str,
    ) -> Result<(), PolicyError> {
        if slot.is_some() {
            let base = name.trim_start_matches("Not");
            return Err(PolicyError::at(
                at,
                format_args!("{base} and Not{base} cannot both be present"),
            ));
        }
        *slot = Some((negated, v));
        Ok(())
    }
    for (name, v) in members {
        match name.as_str() {
            "Sid" => sid = Some(v),
            "Effect" => effect = Some(v),
            "Principal" => pair(&mut principal, false, v, name, at)?,
            "NotPrincipal" => pair(&mut principal, true, v, name, at)?,
            "Action" => pair(&mut action, false, v, name, at)?,
            "NotAction" => pair(&mut action, true, v, name, at)?,
            "Resource" => pair(&mut resource, false, v, name, at)?,
            "NotResource" => pair(&mut resource, true, v, name, at)?,
            "Condition" => condition = Some(v),
            _ => {
                return Err(PolicyError::at(
                    at,
                    format_args!("Statement has an unknown field \"{name}\""),
                ));
            }
        }
    }

    let sid = match sid {
        None => None,
        Some(Json::String(s)) => Some(s.as_str().into()),
        Some(other) => {
            return Err(PolicyError::at(
                at,
                format_args!("Sid must be a string, found {}", other.kind()),
            ));
        }
    };
    let effect = match effect {
        None => return Err(PolicyError::at(at, "Missing required field Effect")),
        Some(Json::String(e)) if e == "Allow" => Effect::Allow,
        Some(Json::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => return Err(PolicyError::at(at, "Effect must be Allow or Deny")),
    };
    let principal = match principal {
        None if limits.require_principal => return Err(PolicyError::at(at, "Missing required field Principal")),
        None => None,
        Some((negated, v)) => {
            let name = if negated { "NotPrincipal" } else { "Principal" };
            let inner = PrincipalSet::parse(v, &format!("{at}.{name}"), limits.tenant_users)?;
            // "Everyone but X may" is refused, as S3 and Ceph refuse it:
            // it grants the public by accident.
            if negated && effect == Effect::Allow {
                return Err(PolicyError::at(at, "NotPrincipal can only be used with Effect Deny"));
            }
            Some(Negatable { negated, inner })
        }
    };
    let Some((negated, v)) = action else {
        return Err(PolicyError::at(at, "Missing required field Action"));
    };
    let action = Negatable {
        negated,
        inner: parse_actions(v, at, limits)?,
    };
    let Some((negated, v)) = resource else {
        return Err(PolicyError::at(at, "Missing required field Resource"));
    };
    let resource = Negatable {
        negated,
        inner: parse_resources(v, at, variables)?,
    };
    let conditions = match condition {
        None => Vec::new(),
        Some(c) => condition::parse_block(c, &format!("{at}.Condition"), variables)?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// Actions: `*`, or `service:Name` where the name may hold `*`/`?`.
/// Compared case-insensitively, as AWS does.
fn parse_actions(v: &Json, at: &str, limits: &Limits) -> Result<Vec<Pattern>, PolicyError> {
    let list = string_list(v).ok_or_else(|| {
        PolicyError::at(
            at,
            "Policy has invalid action: Action must be a string or a non-empty array of strings",
        )
    })?;
    let syntax = Syntax {
        wildcards: true,
        variables: false,
        ignore_case: true,
    };
    list.into_iter()
        .map(|a| {
            if a != "*" && !valid_action(a, limits.services) {
                return Err(PolicyError::at(at, format_args!("Policy has invalid action: \"{a}\"")));
            }
            Ok(Pattern::compile(a, syntax))
        })
        .collect()
}

fn valid_action(action: &str, services: &[&str]) -> bool {
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"*?-_".contains(&b))
        && (services.is_empty() || services.iter().any(|s| s.eq_ignore_ascii_case(service)))
}

/// Resources: `*` or an ARN (six colon-separated parts), compared
/// case-sensitively, with wildcards and (under 2012-10-17) variables.
fn parse_resources(v: &Json, at: &str, variables: bool) -> Result<Vec<ArnPattern>, PolicyError> {
    let list = string_list(v).ok_or_else(|| {
        PolicyError::at(
            at,
            "Policy has invalid resource: Resource must be a string or a non-empty array of strings",
        )
    })?;
    let syntax = Syntax {
        wildcards: true,
        variables,
        ignore_case: false,
    };
    list.into_iter()
        .map(|r| {
            let p = ArnPattern::compile(r, syntax);
            if !(p.is_any() || (r.starts_with("arn:") && p.is_six_part())) {
                return Err(PolicyError::at(
                    at,
                    format_args!("Policy has invalid resource: \"{r}\""),
                ));
            }
            Ok(p)
        })
        .collect()
}
