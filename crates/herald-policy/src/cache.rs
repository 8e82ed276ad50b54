//! Parsed policies kept by resource, so a request that consults a stored
//! policy pays a lookup and an evaluation, not a parse.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::{Limits, Policy};

/// Parsed policies by resource key (an ARN, say), each with the text it
/// came from: a changed text is parsed again. Bounded: when `max` entries
/// are held (deleted resources leave theirs behind) it starts over.
pub struct ParsedCache {
    limits: Limits,
    max: usize,
    by_key: Mutex<HashMap<String, (String, Arc<Policy>)>>,
}

impl ParsedCache {
    pub fn new(limits: Limits, max: usize) -> ParsedCache {
        ParsedCache {
            limits,
            max,
            by_key: Mutex::new(HashMap::new()),
        }
    }

    /// The policy `text` of resource `key`, parsed; `None` when it does not
    /// parse (a stored policy that no longer parses grants nothing).
    pub fn get(&self, key: &str, text: &str) -> Option<Arc<Policy>> {
        {
            let map = self.by_key.lock().expect("policy cache lock");
            if let Some((t, p)) = map.get(key)
                && t == text
            {
                return Some(p.clone());
            }
        }
        // Parsed without the lock: other lookups do not wait on a parse.
        let parsed = Arc::new(Policy::parse(text, &self.limits).ok()?);
        let mut map = self.by_key.lock().expect("policy cache lock");
        if map.len() >= self.max {
            map.clear();
        }
        map.insert(key.to_owned(), (text.to_owned(), parsed.clone()));
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: &str = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;
    const DENY: &str = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#;

    #[test]
    fn a_changed_text_is_parsed_again_and_the_cache_stays_bounded() {
        let cache = ParsedCache::new(Limits::DEFAULT, 2);
        let a = cache.get("q1", ALLOW).unwrap();
        assert!(Arc::ptr_eq(&a, &cache.get("q1", ALLOW).unwrap()), "cached");
        let d = cache.get("q1", DENY).unwrap();
        assert!(!Arc::ptr_eq(&a, &d), "a new text is a new policy");
        assert!(cache.get("q2", "{not json").is_none());
        cache.get("q2", ALLOW).unwrap();
        cache.get("q3", ALLOW).unwrap();
        assert!(cache.by_key.lock().unwrap().len() <= 2);
    }
}
