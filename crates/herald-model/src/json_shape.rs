//! A pre-parse check of a client's JSON document: nesting depth and the
//! number of values, measured in one pass over the bytes without building
//! anything or recursing.
//!
//! `serde_json` stops at 128 levels of nesting on its own, but a 4 MiB body
//! of `[0,0,0,...]` still becomes two million `Value`s (64 MB) before any
//! operation looks at it. Request documents of the JSON protocols are small
//! and shallow, so a document beyond these limits is refused before it is
//! parsed.

use std::fmt;

/// How deep and how big a document may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonLimits {
    /// Most nested objects/arrays (the top-level object is depth 1).
    pub max_depth: usize,
    /// Most values (containers, and members/elements separated by commas).
    pub max_values: usize,
}

/// The limit a document broke; the message names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    TooDeep(usize),
    TooManyValues(usize),
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::TooDeep(n) => write!(f, "the JSON document is nested more than {n} levels deep"),
            ShapeError::TooManyValues(n) => write!(f, "the JSON document has more than {n} values"),
        }
    }
}

impl std::error::Error for ShapeError {}

/// Limits for an SQS JSON-protocol request document. The deepest real one,
/// `{"Entries":[{"MessageAttributes":{"k":{"StringListValues":[..]}}}]}`,
/// is 5 levels; the biggest, a `SendMessageBatch` of 10 entries with 10
/// message attributes each, has a few hundred values.
pub const SQS_REQUEST_LIMITS: JsonLimits = JsonLimits {
    max_depth: 16,
    max_values: 10_000,
};

/// Why a document was not parsed.
#[derive(Debug)]
pub enum JsonError {
    /// Beyond the limits: refused before parsing.
    Shape(ShapeError),
    /// Not JSON.
    Syntax(serde_json::Error),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::Shape(e) => e.fmt(f),
            JsonError::Syntax(e) => write!(f, "the request body is not valid JSON: {e}"),
        }
    }
}

impl std::error::Error for JsonError {}

/// [`check_json_shape`], then `serde_json` (whose own 128-level recursion
/// limit stays as a second guard).
pub fn parse_limited(doc: &[u8], limits: JsonLimits) -> Result<serde_json::Value, JsonError> {
    check_json_shape(doc, limits).map_err(JsonError::Shape)?;
    serde_json::from_slice(doc).map_err(JsonError::Syntax)
}

/// Measures `doc` against `limits`. Bytes inside strings (escapes
/// included) are skipped; anything that is not JSON is left for the real
/// parser to refuse, so this only ever errs on the cautious side.
pub fn check_json_shape(doc: &[u8], limits: JsonLimits) -> Result<(), ShapeError> {
    let (mut depth, mut values) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in doc {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                values += 1;
                if depth > limits.max_depth {
                    return Err(ShapeError::TooDeep(limits.max_depth));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => continue,
        }
        if values > limits.max_values {
            return Err(ShapeError::TooManyValues(limits.max_values));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: JsonLimits = JsonLimits {
        max_depth: 4,
        max_values: 10,
    };

    #[test]
    fn depth_counts_containers_only_outside_strings() {
        assert!(check_json_shape(br#"{"a":[{"b":[]}]}"#, L).is_ok());
        assert_eq!(
            check_json_shape(br#"{"a":[{"b":[[]]}]}"#, L),
            Err(ShapeError::TooDeep(4))
        );
        assert!(check_json_shape(br#"{"a":"[[[[[[[[\"[[[["}"#, L).is_ok());
        assert!(check_json_shape(br#"{"a":"\\","b":[]}"#, L).is_ok());
    }

    #[test]
    fn values_are_counted() {
        assert!(check_json_shape(b"[1,2,3,4,5,6,7,8,9]", L).is_ok());
        assert_eq!(
            check_json_shape(b"[1,2,3,4,5,6,7,8,9,10,11]", L),
            Err(ShapeError::TooManyValues(10))
        );
        assert!(check_json_shape(br#"{"a":"1,2,3,4,5,6,7,8,9,10,11"}"#, L).is_ok());
    }

    #[test]
    fn a_deep_document_is_refused_without_recursion() {
        let deep = "[".repeat(1_000_000);
        assert_eq!(check_json_shape(deep.as_bytes(), L), Err(ShapeError::TooDeep(4)));
        // Unbalanced closers do not underflow.
        assert!(check_json_shape(b"]]]]}}}", L).is_ok());
    }

    #[test]
    fn parse_limited_refuses_before_parsing_and_parses_the_rest() {
        let deep = format!("{}{}", "[".repeat(17), "]".repeat(17));
        let e = parse_limited(deep.as_bytes(), SQS_REQUEST_LIMITS).unwrap_err();
        assert!(matches!(e, JsonError::Shape(ShapeError::TooDeep(16))), "{e}");
        assert!(matches!(parse_limited(b"{", L), Err(JsonError::Syntax(_))));
        assert_eq!(parse_limited(br#"{"a":[1]}"#, L).unwrap()["a"][0], 1);
    }
}
