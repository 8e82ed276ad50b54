//! The JSON layer: a size and depth check before parsing, and a small JSON
//! tree that keeps object members in document order and refuses duplicate
//! keys.
//!
//! Why not `serde_json::Value`: it silently keeps the last of two equal keys
//! (so `{"Effect":"Deny","Effect":"Allow"}` would read as Allow, while a
//! reviewer reads Deny first), and its member order depends on a feature
//! flag that any other crate of the workspace may turn on.
//!
//! Why the pre-scan: `serde_json` recurses once per nesting level and only
//! stops at 128; a policy never needs more than 6. The scan walks the bytes
//! once, without recursion, understanding strings and escapes so that
//! brackets inside strings are not counted, and stops at the first level too
//! deep, so a 20 KiB `[[[[…` costs microseconds. Everything deserialized
//! afterwards is at most `max_depth` deep.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::{Limits, PolicyError};

/// Refuses documents larger or deeper than `limits` allow.
pub(crate) fn check_shape(text: &str, limits: &Limits) -> Result<(), PolicyError> {
    if text.len() > limits.max_bytes {
        return Err(PolicyError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(PolicyError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
            }
            // Unbalanced closers are the JSON parser's to report.
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses `text` (already through [`check_shape`]) into a [`Json`] tree.
pub(crate) fn parse(text: &str) -> Result<Json, PolicyError> {
    serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))
}

/// A JSON value. Numbers keep their text so a condition value like `10`
/// compares as the string `"10"` would, as in AWS.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The JSON type's name, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    /// Compact JSON text, members in document order.
    pub(crate) fn to_compact(&self) -> String {
        // Serializing a tree of strings, bools and pre-validated numbers
        // into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Number(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut members: Vec<(String, Json)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // Objects in a policy are small: check them linearly as they
            // grow, and larger (hostile) ones once, sorted, at the end.
            if members.len() < 32 && members.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let value = map.next_value()?;
            members.push((key, value));
        }
        if members.len() > 32 {
            let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
                return Err(de::Error::custom(format_args!("duplicate key \"{}\"", w[0])));
            }
        }
        Ok(Json::Object(members))
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => match (n.parse::<i64>(), n.parse::<u64>(), n.parse::<f64>()) {
                (Ok(i), _, _) => s.serialize_i64(i),
                (_, Ok(u), _) => s.serialize_u64(u),
                (_, _, Ok(f)) => s.serialize_f64(f),
                _ => s.serialize_str(n),
            },
            Json::String(v) => s.serialize_str(v),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(depth: usize) -> Limits {
        Limits {
            max_depth: depth,
            max_bytes: 1 << 30,
            ..Limits::DEFAULT
        }
    }

    #[test]
    fn depth_counts_containers_not_brackets_in_strings() {
        assert!(check_shape(r#"{"a":[{"b":"[[[[[[[[[["}]}"#, &limits(3)).is_ok());
        assert!(check_shape(r#"{"a":[{"b":[]}]}"#, &limits(3)).is_err());
        // An escaped quote does not end the string.
        assert!(check_shape(r#"{"a":"\"[[[[[[\\"}"#, &limits(1)).is_ok());
        assert!(check_shape(r#"{"a":"\\"}"#, &limits(1)).is_ok());
    }

    #[test]
    fn depth_bomb_is_refused_without_recursion() {
        let bomb = "[".repeat(100_000);
        let err = check_shape(&bomb, &limits(8)).unwrap_err();
        assert_eq!(err, PolicyError::TooDeep { limit: 8 });
    }

    #[test]
    fn size_is_checked_first() {
        let l = Limits {
            max_bytes: 4,
            ..Limits::DEFAULT
        };
        assert_eq!(check_shape("{ } ", &l), Ok(()));
        assert_eq!(
            check_shape("{  }  ", &l),
            Err(PolicyError::TooLarge { size: 6, limit: 4 })
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let err = parse(r#"{"Effect":"Deny","Effect":"Allow"}"#).unwrap_err();
        assert!(err.to_string().contains("duplicate key \"Effect\""), "{err}");
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\":1")).collect();
        let ok = format!("{{{}}}", many.join(","));
        assert!(parse(&ok).is_ok());
        let dup = format!("{{{},\"k3\":2}}", many.join(","));
        assert!(parse(&dup).unwrap_err().to_string().contains("\"k3\""));
    }

    #[test]
    fn compact_keeps_member_order() {
        let j = parse(r#"{ "b" : [1, 2.5, true, null], "a" : "x\"y" }"#).unwrap();
        assert_eq!(j.to_compact(), r#"{"b":[1,2.5,true,null],"a":"x\"y"}"#);
    }
}
