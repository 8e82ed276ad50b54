//! Cross-origin resource sharing (CORS) rules of a bucket, as S3 defines
//! them: which web origins may use the bucket from a browser, with which
//! methods and headers. Matching is pure and lives here; the server adds
//! the `Access-Control-*` headers and answers preflight `OPTIONS`.

use serde::{Deserialize, Serialize};

/// Rules per bucket (S3's limit).
pub const MAX_RULES: usize = 100;
/// Origins, methods or headers per rule, a bound S3 does not state but a
/// 64 KB document implies; it keeps matching cheap.
pub const MAX_ITEMS_PER_RULE: usize = 100;
/// Longest origin or header pattern.
pub const MAX_PATTERN_LEN: usize = 1024;

/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorsRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub allowed_methods: Vec<String>,
    /// Origins, each with at most one `*` wildcard.
    pub allowed_origins: Vec<String>,
    /// Request headers a preflight may ask for (`*` wildcards, case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<i32>,
}

/// Why a configuration is refused (S3 answers `400 MalformedXML` or
/// `InvalidRequest`; the message says which rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CorsError(pub String);

/// Checks a whole configuration before it is stored.
pub fn validate(rules: &[CorsRule]) -> Result<(), CorsError> {
    if rules.is_empty() {
        return Err(CorsError("a CORS configuration needs at least one CORSRule".into()));
    }
    if rules.len() > MAX_RULES {
        return Err(CorsError(format!("a CORS configuration has at most {MAX_RULES} rules")));
    }
    for (i, r) in rules.iter().enumerate() {
        let n = i + 1;
        if r.allowed_methods.is_empty() || r.allowed_origins.is_empty() {
            return Err(CorsError(format!(
                "rule {n} needs at least one AllowedMethod and one AllowedOrigin"
            )));
        }
        for list in [
            &r.allowed_methods,
            &r.allowed_origins,
            &r.allowed_headers,
            &r.expose_headers,
        ] {
            if list.len() > MAX_ITEMS_PER_RULE || list.iter().any(|x| x.len() > MAX_PATTERN_LEN) {
                return Err(CorsError(format!(
                    "rule {n} has more than {MAX_ITEMS_PER_RULE} items or one longer than {MAX_PATTERN_LEN} bytes"
                )));
            }
        }
        if let Some(m) = r.allowed_methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
            return Err(CorsError(format!(
                "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
            )));
        }
        if let Some(o) = r.allowed_origins.iter().find(|o| o.matches('*').count() > 1) {
            return Err(CorsError(format!(
                "AllowedOrigin \"{o}\" can not have more than one wildcard."
            )));
        }
        if let Some(h) = r.allowed_headers.iter().find(|h| h.matches('*').count() > 1) {
            return Err(CorsError(format!(
                "AllowedHeader \"{h}\" can not have more than one wildcard."
            )));
        }
    }
    Ok(())
}

/// Whether `value` matches a pattern with at most one `*` (any run of
/// characters, empty too).
fn wildcard_match(pattern: &str, value: &str, ignore_case: bool) -> bool {
    let eq = |a: &str, b: &str| if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b };
    match pattern.split_once('*') {
        None => eq(pattern, value),
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len()
                && value.is_char_boundary(pre.len())
                && value.is_char_boundary(value.len() - post.len())
                && eq(&value[..pre.len()], pre)
                && eq(&value[value.len() - post.len()..], post)
        }
    }
}

impl CorsRule {
    fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| wildcard_match(p, origin, false))
    }

    fn allows_method(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }

    fn allows_header(&self, header: &str) -> bool {
        self.allowed_headers.iter().any(|p| wildcard_match(p, header, true))
    }

    /// What `Access-Control-Allow-Origin` says for `origin`: `*` when the
    /// rule allows every origin, else the origin itself.
    pub fn allow_origin_value<'a>(&self, origin: &'a str) -> &'a str {
        if self.allowed_origins.iter().any(|p| p == "*") {
            "*"
        } else {
            origin
        }
    }

    /// `Access-Control-Allow-Methods`.
    pub fn allow_methods_value(&self) -> String {
        self.allowed_methods.join(", ")
    }
}

/// The first rule that lets `origin` use `method` (a request's, or the
/// one a preflight announces) with every header in `request_headers`.
pub fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    request_headers: &[&str],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allows_origin(origin) && r.allows_method(method) && request_headers.iter().all(|h| r.allows_header(h))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(methods: &[&str], origins: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_headers: Vec::new(),
            expose_headers: Vec::new(),
            max_age_seconds: None,
        }
    }

    #[test]
    fn origins_match_with_one_wildcard_anywhere() {
        let rules = [
            rule(&["GET"], &["*suffix"]),
            rule(&["GET"], &["start*end"]),
            rule(&["GET"], &["prefix*"]),
            rule(&["PUT"], &["*.put"]),
        ];
        let get = |o: &str| find_rule(&rules, o, "GET", &[]).is_some();
        assert!(get("foo.suffix") && get("startend") && get("start12end") && get("prefix.suffix"));
        assert!(!get("foo.bar") && !get("foo.suffix.get") && !get("0start12end") && !get("bla.prefix"));
        assert!(find_rule(&rules, "foo.put", "PUT", &[]).is_some());
        assert!(find_rule(&rules, "foo.put", "GET", &[]).is_none());
        // Multi-byte origins never split a character.
        assert!(!get("é"));
    }

    #[test]
    fn preflight_headers_must_all_be_allowed() {
        let mut r = rule(&["GET"], &["*"]);
        r.allowed_headers = vec!["x-amz-meta-*".into(), "Content-Type".into()];
        let rules = [r];
        assert!(find_rule(&rules, "a", "GET", &["x-amz-meta-one", "content-type"]).is_some());
        assert!(find_rule(&rules, "a", "GET", &["authorization"]).is_none());
        assert_eq!(rules[0].allow_origin_value("a"), "*");
    }

    #[test]
    fn configurations_are_bounded_and_well_formed() {
        assert!(validate(&[rule(&["GET", "PUT"], &["*.example.com"])]).is_ok());
        assert!(validate(&[]).is_err());
        assert!(validate(&[rule(&["PATCH"], &["*"])]).is_err());
        assert!(validate(&[rule(&["GET"], &["*.*"])]).is_err());
        assert!(validate(&vec![rule(&["GET"], &["*"]); MAX_RULES + 1]).is_err());
    }
}
