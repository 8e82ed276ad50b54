//! The `Condition` element.
//!
//! `{"Operator": {"key": value-or-array, …}, …}` compiles to a flat list of
//! [`Condition`]s, one per (operator, key), all of which must hold. Values
//! are parsed for their operator once, here: patterns for string and ARN
//! operators, networks for IP operators, numbers, dates, booleans.
//!
//! The AWS evaluation rules, which this module follows:
//! * within one key, the policy's values are ORed (a positive operator holds
//!   when the request value matches any of them); a negated operator holds
//!   when the request value matches none of them;
//! * a key missing from the request makes a positive operator false and a
//!   negated one true; `…IfExists` makes any operator true when the key is
//!   missing; `Null` tests presence;
//! * `ForAllValues:` holds when every request value satisfies the operator
//!   (so also when the key is missing or empty); `ForAnyValue:` holds when
//!   at least one does (so not when the key is missing). Without a
//!   qualifier, a multi-valued key satisfies a positive operator when any of
//!   its values matches, and a negated one when none does.

use std::net::IpAddr;

use ipnet::IpNet;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::PolicyError;
use crate::json::Json;
use crate::matcher::{ArnPattern, Pattern, Syntax};
use crate::request::Request;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qualifier {
    /// Single-valued use.
    None,
    ForAnyValue,
    ForAllValues,
}

/// An operator with its negation factored out (`StringNotEquals` is
/// `StringEquals`, negated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    /// `ArnEquals` and `ArnLike`, which AWS defines identically.
    ArnLike,
    IpAddress,
    Bool,
    Numeric(Cmp),
    Date(Cmp),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, request: T, policy: T) -> bool {
        match self {
            Cmp::Eq => request == policy,
            Cmp::Lt => request < policy,
            Cmp::Le => request <= policy,
            Cmp::Gt => request > policy,
            Cmp::Ge => request >= policy,
        }
    }
}

/// The policy's values for one key, parsed for the operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Values {
    Patterns(Vec<Pattern>),
    Arns(Vec<ArnPattern>),
    Nets(Vec<IpNet>),
    Bools(Vec<bool>),
    Numbers(Vec<f64>),
    Dates(Vec<OffsetDateTime>),
    /// `Null`: true means "the key must be absent".
    Null(bool),
}

/// One (operator, key) test.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    pub(crate) op: Op,
    pub(crate) negated: bool,
    pub(crate) if_exists: bool,
    pub(crate) qualifier: Qualifier,
    pub(crate) key: Box<str>,
    pub(crate) values: Values,
}

/// Operator names (without qualifier and `IfExists`) → (operator, negated).
const OPERATORS: &[(&str, Op, bool)] = &[
    ("StringEquals", Op::StringEquals, false),
    ("StringNotEquals", Op::StringEquals, true),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Op::StringEqualsIgnoreCase, true),
    ("StringLike", Op::StringLike, false),
    ("StringNotLike", Op::StringLike, true),
    ("ArnEquals", Op::ArnLike, false),
    ("ArnLike", Op::ArnLike, false),
    ("ArnNotEquals", Op::ArnLike, true),
    ("ArnNotLike", Op::ArnLike, true),
    ("IpAddress", Op::IpAddress, false),
    ("NotIpAddress", Op::IpAddress, true),
    ("Bool", Op::Bool, false),
    ("NumericEquals", Op::Numeric(Cmp::Eq), false),
    ("NumericNotEquals", Op::Numeric(Cmp::Eq), true),
    ("NumericLessThan", Op::Numeric(Cmp::Lt), false),
    ("NumericLessThanEquals", Op::Numeric(Cmp::Le), false),
    ("NumericGreaterThan", Op::Numeric(Cmp::Gt), false),
    ("NumericGreaterThanEquals", Op::Numeric(Cmp::Ge), false),
    ("DateEquals", Op::Date(Cmp::Eq), false),
    ("DateNotEquals", Op::Date(Cmp::Eq), true),
    ("DateLessThan", Op::Date(Cmp::Lt), false),
    ("DateLessThanEquals", Op::Date(Cmp::Le), false),
    ("DateGreaterThan", Op::Date(Cmp::Gt), false),
    ("DateGreaterThanEquals", Op::Date(Cmp::Ge), false),
    ("Null", Op::Null, false),
];

/// Splits `ForAnyValue:StringLikeIfExists` into its parts. Operator names
/// are matched case-insensitively: AWS documents them in one spelling, and
/// accepting another spelling cannot widen what a policy means.
fn parse_operator(name: &str) -> Option<(Op, bool, bool, Qualifier)> {
    let (qualifier, rest) = match name.split_once(':') {
        None => (Qualifier::None, name),
        Some((q, rest)) if q.eq_ignore_ascii_case("ForAnyValue") => (Qualifier::ForAnyValue, rest),
        Some((q, rest)) if q.eq_ignore_ascii_case("ForAllValues") => (Qualifier::ForAllValues, rest),
        Some(_) => return None,
    };
    let lookup = |n: &str| {
        OPERATORS
            .iter()
            .find(|(o, _, _)| o.eq_ignore_ascii_case(n))
            .map(|&(_, op, neg)| (op, neg))
    };
    let (op, negated, if_exists) = match lookup(rest) {
        Some((op, neg)) => (op, neg, false),
        None => {
            let base = rest.len().checked_sub("IfExists".len()).and_then(|at| {
                rest.get(at..)
                    .filter(|s| s.eq_ignore_ascii_case("IfExists"))
                    .map(|_| &rest[..at])
            })?;
            let (op, neg) = lookup(base)?;
            (op, neg, true)
        }
    };
    // `Null` tests presence itself: neither IfExists nor a set qualifier
    // means anything for it.
    if op == Op::Null && (if_exists || qualifier != Qualifier::None) {
        return None;
    }
    Some((op, negated, if_exists, qualifier))
}

/// Compiles a statement's `Condition` element.
pub(crate) fn parse_block(value: &Json, at: &str, variables: bool) -> Result<Vec<Condition>, PolicyError> {
    let Json::Object(operators) = value else {
        return Err(PolicyError::at(
            at,
            format_args!("Condition must be an object, found {}", value.kind()),
        ));
    };
    let mut out = Vec::new();
    for (name, keys) in operators {
        let Some((op, negated, if_exists, qualifier)) = parse_operator(name) else {
            return Err(PolicyError::at(
                at,
                format_args!("Invalid Condition operator \"{name}\""),
            ));
        };
        let Json::Object(keys) = keys else {
            return Err(PolicyError::at(
                at,
                format_args!("Condition {name} must be an object of keys, found {}", keys.kind()),
            ));
        };
        if keys.is_empty() {
            return Err(PolicyError::at(at, format_args!("Condition {name} has no keys")));
        }
        for (key, raw) in keys {
            if key.is_empty() || key.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
                return Err(PolicyError::at(
                    at,
                    format_args!("Condition {name} has an invalid key \"{key}\""),
                ));
            }
            let texts = value_texts(raw).ok_or_else(|| {
                PolicyError::at(
                    at,
                    format_args!(
                        "Condition {name} {key}: values must be strings, numbers, booleans or a non-empty array of them"
                    ),
                )
            })?;
            let values = parse_values(op, &texts, variables)
                .map_err(|bad| PolicyError::at(at, format_args!("Condition {name} {key}: {bad}")))?;
            out.push(Condition {
                op,
                negated,
                if_exists,
                qualifier,
                key: key.as_str().into(),
                values,
            });
        }
    }
    Ok(out)
}

/// A condition value or array of them, as text.
fn value_texts(raw: &Json) -> Option<Vec<&str>> {
    fn one(v: &Json) -> Option<&str> {
        match v {
            Json::String(s) | Json::Number(s) => Some(s),
            Json::Bool(true) => Some("true"),
            Json::Bool(false) => Some("false"),
            _ => None,
        }
    }
    match raw {
        Json::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Json::Array(_) => None,
        v => one(v).map(|s| vec![s]),
    }
}

fn parse_values(op: Op, texts: &[&str], variables: bool) -> Result<Values, String> {
    let strings = |ignore_case, wildcards| {
        let syntax = Syntax {
            wildcards,
            variables,
            ignore_case,
        };
        Values::Patterns(texts.iter().map(|t| Pattern::compile(t, syntax)).collect())
    };
    Ok(match op {
        Op::StringEquals => strings(false, false),
        Op::StringEqualsIgnoreCase => strings(true, false),
        Op::StringLike => strings(false, true),
        Op::ArnLike => {
            let syntax = Syntax {
                wildcards: true,
                variables,
                ignore_case: false,
            };
            Values::Arns(texts.iter().map(|t| ArnPattern::compile(t, syntax)).collect())
        }
        Op::IpAddress => Values::Nets(
            texts
                .iter()
                .map(|t| parse_net(t).ok_or_else(|| format!("\"{t}\" is not an IP address or CIDR block")))
                .collect::<Result<_, _>>()?,
        ),
        Op::Bool => Values::Bools(
            texts
                .iter()
                .map(|t| parse_bool(t).ok_or_else(|| format!("\"{t}\" is not true or false")))
                .collect::<Result<_, _>>()?,
        ),
        Op::Numeric(_) => Values::Numbers(
            texts
                .iter()
                .map(|t| parse_number(t).ok_or_else(|| format!("\"{t}\" is not a number")))
                .collect::<Result<_, _>>()?,
        ),
        Op::Date(_) => Values::Dates(
            texts
                .iter()
                .map(|t| parse_date(t).ok_or_else(|| format!("\"{t}\" is not a date (ISO 8601 or epoch seconds)")))
                .collect::<Result<_, _>>()?,
        ),
        Op::Null => match texts {
            [t] => Values::Null(parse_bool(t).ok_or_else(|| format!("\"{t}\" is not true or false"))?),
            _ => return Err("Null takes a single true or false".into()),
        },
    })
}

/// An address alone is a single-host network. IPv4-mapped IPv6 policy
/// values are kept as written; request addresses are unmapped (below).
fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// A request's address; `::ffff:a.b.c.d` is the IPv4 address it carries,
/// so that a dual-stack listener's clients still match IPv4 ranges.
fn parse_ip(text: &str) -> Option<IpAddr> {
    match text.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Dates as AWS accepts them: epoch seconds, RFC 3339, or ISO 8601 with or
/// without a time or an offset (a missing offset means UTC).
pub(crate) fn parse_date(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if !text.is_empty()
        && text
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        return OffsetDateTime::from_unix_timestamp(text.parse().ok()?).ok();
    }
    OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(text, &Iso8601::PARSING))
        .ok()
        .or_else(|| {
            PrimitiveDateTime::parse(text, &Iso8601::PARSING)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            Date::parse(text, &Iso8601::PARSING)
                .ok()
                .map(|d| d.midnight().assume_utc())
        })
}

impl Condition {
    pub(crate) fn holds(&self, req: &Request<'_>) -> bool {
        let values = req.lookup(&self.key);
        if let Values::Null(absent) = self.values {
            return values.is_missing() == absent;
        }
        if values.is_missing() {
            return self.if_exists
                || match self.qualifier {
                    Qualifier::ForAllValues => true,
                    Qualifier::ForAnyValue => false,
                    Qualifier::None => self.negated,
                };
        }
        match self.qualifier {
            Qualifier::None => values.any(|v| self.matches(v, req)) != self.negated,
            Qualifier::ForAnyValue => values.any(|v| self.matches(v, req) != self.negated),
            Qualifier::ForAllValues => values.all(|v| self.matches(v, req) != self.negated),
        }
    }

    /// True when one request value matches any of the policy's values under
    /// the positive form of the operator. Request values that do not parse
    /// for the operator match nothing.
    fn matches(&self, value: &str, req: &Request<'_>) -> bool {
        match (&self.values, self.op) {
            (Values::Patterns(ps), _) => ps.iter().any(|p| p.matches(value, req)),
            (Values::Arns(ps), _) => ps.iter().any(|p| p.matches(value, req)),
            (Values::Nets(nets), _) => parse_ip(value).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
            (Values::Bools(bs), _) => parse_bool(value).is_some_and(|b| bs.contains(&b)),
            (Values::Numbers(ns), Op::Numeric(cmp)) => {
                parse_number(value).is_some_and(|v| ns.iter().any(|&n| cmp.holds(v, n)))
            }
            (Values::Dates(ds), Op::Date(cmp)) => {
                parse_date(value).is_some_and(|v| ds.iter().any(|&d| cmp.holds(v, d)))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        assert_eq!(
            parse_operator("StringEquals"),
            Some((Op::StringEquals, false, false, Qualifier::None))
        );
        assert_eq!(
            parse_operator("StringNotLikeIfExists"),
            Some((Op::StringLike, true, true, Qualifier::None))
        );
        assert_eq!(
            parse_operator("ForAnyValue:StringEquals"),
            Some((Op::StringEquals, false, false, Qualifier::ForAnyValue))
        );
        assert_eq!(
            parse_operator("ForAllValues:NumericLessThanIfExists"),
            Some((Op::Numeric(Cmp::Lt), false, true, Qualifier::ForAllValues))
        );
        assert_eq!(
            parse_operator("stringequals"),
            Some((Op::StringEquals, false, false, Qualifier::None))
        );
        assert_eq!(parse_operator("NullIfExists"), None);
        assert_eq!(parse_operator("ForAnyValue:Null"), None);
        assert_eq!(parse_operator("IfExists"), None);
        assert_eq!(parse_operator("StringEqualz"), None);
        assert_eq!(parse_operator("ForSomeValues:StringEquals"), None);
        assert_eq!(parse_operator("BinaryEquals"), None);
        assert_eq!(parse_operator(""), None);
        assert_eq!(parse_operator("ForAnyValue:"), None);
    }

    #[test]
    fn dates() {
        let t = |s: &str| parse_date(s).map(|d| d.unix_timestamp());
        assert_eq!(t("2024-01-02T03:04:05Z"), Some(1_704_164_645));
        assert_eq!(t("2024-01-02T03:04:05+01:00"), Some(1_704_164_645 - 3600));
        assert_eq!(t("2024-01-02T03:04:05.250Z"), Some(1_704_164_645));
        assert_eq!(t("2024-01-02T03:04:05"), Some(1_704_164_645));
        assert_eq!(t("2024-01-02"), Some(1_704_153_600));
        assert_eq!(t("1704164645"), Some(1_704_164_645));
        assert_eq!(t("-1"), Some(-1));
        assert_eq!(t("yesterday"), None);
        assert_eq!(t(""), None);
        assert_eq!(t("-"), None);
        assert_eq!(t("99999999999999999999999"), None);
    }

    #[test]
    fn networks_and_addresses() {
        assert_eq!(parse_net("10.0.0.0/8"), "10.0.0.0/8".parse().ok());
        assert_eq!(parse_net("10.1.2.3"), "10.1.2.3/32".parse().ok());
        assert_eq!(parse_net("2001:db8::/32"), "2001:db8::/32".parse().ok());
        assert_eq!(parse_net("2001:db8::1"), "2001:db8::1/128".parse().ok());
        assert_eq!(parse_net("10.0.0.0/33"), None);
        assert_eq!(parse_net("nope"), None);
        assert_eq!(parse_ip("::ffff:10.1.2.3"), "10.1.2.3".parse().ok());
        assert_eq!(parse_ip("::1"), "::1".parse().ok());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("10"), Some(10.0));
        assert_eq!(parse_number("-1.5"), Some(-1.5));
        assert_eq!(parse_number("NaN"), None);
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_number("ten"), None);
    }
}
