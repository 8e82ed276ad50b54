//! Glob patterns (`*` and `?`) with policy variables, and ARN patterns,
//! compiled once at parse time.
//!
//! A pattern is a list of segments: literal text, `?` (one character), `*`
//! (any run of characters) and `${variable}` (literal text known only per
//! request). Most patterns in real policies are an exact string, a prefix
//! (`arn:aws:s3:::bucket/*`), a suffix or `*` alone, so the compiled form
//! remembers which of those shapes it has and matches them with a single
//! comparison; the general case is an iterative matcher that backtracks only
//! to the last `*` (linear in practice, `O(pattern × text)` at worst, no
//! recursion and no allocation).
//!
//! Matching works on bytes but `?` and the extension of `*` step over whole
//! UTF-8 characters, so `?` matches one character of an object key, not one
//! byte of it. Case-insensitive matching (for actions and the
//! `…IgnoreCase` operators) folds ASCII only, as AWS does.

/// Where a pattern's `${…}` variables get their values: the request.
pub(crate) trait Vars {
    /// The single value of `key` (compared case-insensitively), if any.
    fn var(&self, key: &str) -> Option<&str>;
}

/// No variables at all (actions, principals, tests).
impl Vars for () {
    fn var(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// How a pattern's text is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `*` and `?` are wildcards (otherwise they are literal characters).
    pub wildcards: bool,
    /// `${key}` is a policy variable and `${*}`, `${?}`, `${$}` are escapes
    /// (only under policy version 2012-10-17).
    pub variables: bool,
    /// Compare ASCII letters case-insensitively.
    pub ignore_case: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Lit(Box<str>),
    One,
    Star,
    /// Index into [`Pattern::vars`].
    Var(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct VarRef {
    key: Box<str>,
    /// `${key, 'default'}`: the value used when the request has none.
    default: Option<Box<str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `*`: everything.
    Any,
    /// One literal.
    Exact,
    /// A literal then `*`.
    Prefix,
    /// `*` then a literal.
    Suffix,
    /// Anything else, or anything with variables.
    General,
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    segs: Box<[Seg]>,
    vars: Box<[VarRef]>,
    shape: Shape,
    ignore_case: bool,
}

impl Pattern {
    pub(crate) fn compile(text: &str, syntax: Syntax) -> Pattern {
        let mut segs: Vec<Seg> = Vec::new();
        let mut vars: Vec<VarRef> = Vec::new();
        let mut lit = String::new();
        let flush = |lit: &mut String, segs: &mut Vec<Seg>| {
            if !lit.is_empty() {
                segs.push(Seg::Lit(std::mem::take(lit).into_boxed_str()));
            }
        };
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            if syntax.variables
                && rest.starts_with("${")
                && let Some(close) = rest.find('}')
            {
                let inner = &rest[2..close];
                match inner {
                    "*" | "?" | "$" => lit.push_str(inner),
                    _ => match parse_var(inner) {
                        Some(v) => {
                            flush(&mut lit, &mut segs);
                            segs.push(Seg::Var(vars.len()));
                            vars.push(v);
                        }
                        // Not a variable: the text stands for itself.
                        None => lit.push_str(&rest[..=close]),
                    },
                }
                rest = &rest[close + 1..];
                continue;
            }
            match c {
                '*' if syntax.wildcards => {
                    flush(&mut lit, &mut segs);
                    if segs.last() != Some(&Seg::Star) {
                        segs.push(Seg::Star);
                    }
                }
                '?' if syntax.wildcards => {
                    flush(&mut lit, &mut segs);
                    segs.push(Seg::One);
                }
                _ => lit.push(c),
            }
            rest = &rest[c.len_utf8()..];
        }
        flush(&mut lit, &mut segs);
        let shape = if !vars.is_empty() {
            Shape::General
        } else {
            match segs.as_slice() {
                [] | [Seg::Lit(_)] => Shape::Exact,
                [Seg::Star] => Shape::Any,
                [Seg::Lit(_), Seg::Star] => Shape::Prefix,
                [Seg::Star, Seg::Lit(_)] => Shape::Suffix,
                _ => Shape::General,
            }
        };
        Pattern {
            segs: segs.into(),
            vars: vars.into(),
            shape,
            ignore_case: syntax.ignore_case,
        }
    }

    /// True when the pattern is one literal string: no wildcard, no
    /// variable. ("Fixed values" in AWS's definition of a public policy.)
    pub(crate) fn is_fixed(&self) -> bool {
        self.shape == Shape::Exact
    }

    /// True when the pattern is `*` alone.
    pub(crate) fn is_any(&self) -> bool {
        self.shape == Shape::Any
    }

    pub(crate) fn matches(&self, text: &str, vars: &dyn Vars) -> bool {
        let t = text.as_bytes();
        let ci = self.ignore_case;
        match (self.shape, &*self.segs) {
            (Shape::Any, _) => true,
            (Shape::Exact, []) => t.is_empty(),
            (Shape::Exact, [Seg::Lit(l)]) => bytes_eq(l.as_bytes(), t, ci),
            (Shape::Prefix, [Seg::Lit(l), _]) => t.len() >= l.len() && bytes_eq(l.as_bytes(), &t[..l.len()], ci),
            (Shape::Suffix, [_, Seg::Lit(l)]) => {
                t.len() >= l.len() && bytes_eq(l.as_bytes(), &t[t.len() - l.len()..], ci)
            }
            _ if self.vars.is_empty() => glob(&self.segs, &[], t, ci),
            _ => {
                let mut resolved: Vec<&str> = Vec::with_capacity(self.vars.len());
                for v in self.vars.iter() {
                    match vars.var(&v.key).or(v.default.as_deref()) {
                        Some(value) => resolved.push(value),
                        // An unresolvable variable matches nothing.
                        None => return false,
                    }
                }
                glob(&self.segs, &resolved, t, ci)
            }
        }
    }
}

/// Reads the inside of `${…}`: `key` or `key, 'default'`. `None` when it is
/// not a variable (empty, or a malformed default), and then the text is
/// taken literally.
fn parse_var(inner: &str) -> Option<VarRef> {
    let (key, default) = match inner.split_once(',') {
        None => (inner.trim(), None),
        Some((key, default)) => {
            let d = default.trim();
            let d = d.strip_prefix('\'')?.strip_suffix('\'')?;
            (key.trim(), Some(d.into()))
        }
    };
    let valid = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b":/-_.".contains(&b));
    valid.then(|| VarRef {
        key: key.into(),
        default,
    })
}

fn bytes_eq(a: &[u8], b: &[u8], ignore_case: bool) -> bool {
    if ignore_case { a.eq_ignore_ascii_case(b) } else { a == b }
}

fn byte_eq(a: u8, b: u8, ignore_case: bool) -> bool {
    a == b || (ignore_case && a.eq_ignore_ascii_case(&b))
}

/// Length of the UTF-8 character starting with byte `b`.
fn char_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// The literal text of a literal or variable segment.
fn lit_of<'a>(seg: &'a Seg, resolved: &[&'a str]) -> Option<&'a [u8]> {
    match seg {
        Seg::Lit(l) => Some(l.as_bytes()),
        Seg::Var(i) => Some(resolved[*i].as_bytes()),
        Seg::One | Seg::Star => None,
    }
}

/// The general matcher: walks pattern and text together, remembering only
/// the most recent `*` and how much text it has swallowed; on a mismatch the
/// star swallows one more character and matching resumes after it.
fn glob(segs: &[Seg], resolved: &[&str], text: &[u8], ci: bool) -> bool {
    // Position in the pattern: segment index and byte offset in a literal.
    let (mut si, mut off) = (0usize, 0usize);
    let mut t = 0usize;
    // (segment after the last star, text position where that star ends).
    let mut star: Option<(usize, usize)> = None;
    loop {
        while si < segs.len() {
            match lit_of(&segs[si], resolved) {
                Some(l) if off >= l.len() => {
                    si += 1;
                    off = 0;
                }
                _ => break,
            }
        }
        if t == text.len() {
            // What is left of the pattern must match the empty string.
            return segs[si..].iter().all(|s| match s {
                Seg::Star => true,
                Seg::One => false,
                _ => lit_of(s, resolved).is_some_and(|l| l.len() <= off),
            });
        }
        if si < segs.len() {
            match &segs[si] {
                Seg::Star => {
                    si += 1;
                    off = 0;
                    star = Some((si, t));
                    continue;
                }
                Seg::One => {
                    si += 1;
                    t += char_len(text[t]);
                    continue;
                }
                seg => {
                    let l = lit_of(seg, resolved).unwrap_or_default();
                    if byte_eq(l[off], text[t], ci) {
                        off += 1;
                        t += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((after, end)) => {
                let end = end + char_len(text[end]);
                star = Some((after, end));
                si = after;
                off = 0;
                t = end;
            }
            None => return false,
        }
    }
}

/// An ARN pattern. An ARN has six colon-separated parts
/// (`arn:partition:service:region:account:resource`, the last of which may
/// itself contain colons); as AWS does for `ArnLike`, each part is matched
/// separately, so a wildcard in the region cannot swallow the account. A
/// pattern that is not a six-part ARN (`*`, typically) is matched against
/// the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    Whole(Pattern),
    Parts(Box<[Pattern; 6]>),
}

impl ArnPattern {
    pub(crate) fn compile(text: &str, syntax: Syntax) -> ArnPattern {
        match split_arn_pattern(text, syntax.variables) {
            Some(parts) => ArnPattern::Parts(Box::new(parts.map(|p| Pattern::compile(p, syntax)))),
            None => ArnPattern::Whole(Pattern::compile(text, syntax)),
        }
    }

    /// True for `*` alone.
    pub(crate) fn is_any(&self) -> bool {
        matches!(self, ArnPattern::Whole(p) if p.is_any())
    }

    /// True when no part has a wildcard or a variable.
    pub(crate) fn is_fixed(&self) -> bool {
        match self {
            ArnPattern::Whole(p) => p.is_fixed(),
            ArnPattern::Parts(parts) => parts.iter().all(Pattern::is_fixed),
        }
    }

    /// True when the pattern has an ARN's six parts.
    pub(crate) fn is_six_part(&self) -> bool {
        matches!(self, ArnPattern::Parts(_))
    }

    pub(crate) fn matches(&self, text: &str, vars: &dyn Vars) -> bool {
        match self {
            ArnPattern::Whole(p) => p.matches(text, vars),
            ArnPattern::Parts(parts) => {
                let mut pieces = text.splitn(6, ':');
                parts
                    .iter()
                    .all(|p| pieces.next().is_some_and(|piece| p.matches(piece, vars)))
            }
        }
    }
}

/// Splits an ARN pattern at its first five colons, skipping colons inside
/// `${…}` (as in `${aws:username}`) when variables are on.
fn split_arn_pattern(text: &str, variables: bool) -> Option<[&str; 6]> {
    let mut parts = [""; 6];
    let mut start = 0;
    let mut n = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() && n < 5 {
        if variables
            && bytes[i] == b'$'
            && bytes.get(i + 1) == Some(&b'{')
            && let Some(close) = text[i..].find('}')
        {
            i += close + 1;
            continue;
        }
        if bytes[i] == b':' {
            parts[n] = &text[start..i];
            n += 1;
            start = i + 1;
        }
        i += 1;
    }
    if n < 5 {
        return None;
    }
    parts[5] = &text[start..];
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLOB: Syntax = Syntax {
        wildcards: true,
        variables: true,
        ignore_case: false,
    };
    const GLOB_CI: Syntax = Syntax {
        wildcards: true,
        variables: false,
        ignore_case: true,
    };
    const LITERAL: Syntax = Syntax {
        wildcards: false,
        variables: true,
        ignore_case: false,
    };

    struct Map(&'static [(&'static str, &'static str)]);
    impl Vars for Map {
        fn var(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v)
        }
    }

    fn m(p: &str, t: &str) -> bool {
        Pattern::compile(p, GLOB).matches(t, &())
    }

    #[test]
    fn shapes() {
        assert_eq!(Pattern::compile("*", GLOB).shape, Shape::Any);
        assert_eq!(Pattern::compile("**", GLOB).shape, Shape::Any);
        assert_eq!(Pattern::compile("abc", GLOB).shape, Shape::Exact);
        assert_eq!(Pattern::compile("", GLOB).shape, Shape::Exact);
        assert_eq!(Pattern::compile("ab*", GLOB).shape, Shape::Prefix);
        assert_eq!(Pattern::compile("*ab", GLOB).shape, Shape::Suffix);
        assert_eq!(Pattern::compile("a*b", GLOB).shape, Shape::General);
        assert_eq!(Pattern::compile("a${*}b", GLOB).shape, Shape::Exact);
        assert_eq!(Pattern::compile("a${x}", GLOB).shape, Shape::General);
    }

    #[test]
    fn glob_basics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abd"));
        assert!(!m("abc", "ABC"));
        assert!(m("a*", "a"));
        assert!(m("a*", "abc"));
        assert!(!m("a*", "ba"));
        assert!(m("*c", "abc"));
        assert!(!m("*c", "abcd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(!m("a?c", "abbc"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "aXXcYYb"));
        assert!(m("*a*a*a", "aaaa"));
        assert!(!m("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaa"));
        assert!(m("??", "ab"));
        assert!(!m("??", "a"));
        assert!(m("*?", "a"));
        assert!(!m("*?", ""));
        assert!(m("a*?", "ab"));
        assert!(m("mis*is*ip*", "mississippi"));
        assert!(!m("mis*is*ip", "mississippi"));
    }

    #[test]
    fn question_mark_is_one_character_not_one_byte() {
        assert!(m("caf?", "café"));
        assert!(m("?", "é"));
        assert!(!m("??", "é"));
        assert!(m("*é*", "xxéyy"));
        assert!(m("a*?z", "aééz"));
        assert!(m("?b", "日b"));
    }

    #[test]
    fn case_insensitive() {
        let p = Pattern::compile("s3:Get*", GLOB_CI);
        assert!(p.matches("s3:getobject", &()));
        assert!(p.matches("S3:GETOBJECT", &()));
        assert!(!p.matches("s3:PutObject", &()));
        assert!(Pattern::compile("S3:*Object?ag*", GLOB_CI).matches("s3:GetObjectTagging", &()));
        assert!(Pattern::compile("*OBJECT", GLOB_CI).matches("s3:getobject", &()));
    }

    #[test]
    fn literal_syntax_keeps_wildcards_literal() {
        let p = Pattern::compile("a*b?", LITERAL);
        assert!(p.is_fixed());
        assert!(p.matches("a*b?", &()));
        assert!(!p.matches("aXbY", &()));
    }

    #[test]
    fn variables_and_escapes() {
        let vars = Map(&[("aws:username", "bob"), ("s3:prefix", "x*")]);
        let p = Pattern::compile("home/${aws:username}/*", GLOB);
        assert!(p.matches("home/bob/file", &vars));
        assert!(!p.matches("home/alice/file", &vars));
        // Unresolved: matches nothing.
        assert!(!p.matches("home//file", &()));
        // A default stands in for a missing value.
        let d = Pattern::compile("home/${aws:username, 'guest'}/*", GLOB);
        assert!(d.matches("home/guest/x", &()));
        assert!(d.matches("home/bob/x", &vars));
        // Variable values are literal, even when they contain wildcards.
        let v = Pattern::compile("${s3:prefix}", GLOB);
        assert!(v.matches("x*", &vars));
        assert!(!v.matches("xyz", &vars));
        // Escapes.
        let e = Pattern::compile("a${*}b${?}c${$}d", GLOB);
        assert!(e.matches("a*b?c$d", &()));
        assert!(!e.matches("aXbYc$d", &()));
        // Not variables: kept literally.
        assert!(Pattern::compile("${}", GLOB).matches("${}", &()));
        assert!(Pattern::compile("${a b}", GLOB).matches("${a b}", &()));
        assert!(Pattern::compile("${open", GLOB).matches("${open", &()));
        // With variables off, `${x}` is literal text.
        let off = Syntax {
            variables: false,
            ..GLOB
        };
        assert!(Pattern::compile("${aws:username}", off).matches("${aws:username}", &vars));
    }

    #[test]
    fn arn_parts_match_separately() {
        let p = ArnPattern::compile("arn:aws:sqs:*:alice:queue", GLOB);
        assert!(p.is_six_part());
        assert!(p.matches("arn:aws:sqs:us-east-1:alice:queue", &()));
        assert!(p.matches("arn:aws:sqs::alice:queue", &()));
        assert!(!p.matches("arn:aws:sqs:us-east-1:bob:queue", &()));
        assert!(!p.matches("arn:aws:sqs:r:x:alice:queue", &()));
        assert!(!p.matches("arn:aws:sqs", &()));
        let s3 = ArnPattern::compile("arn:aws:s3:::bucket/*", GLOB);
        assert!(s3.matches("arn:aws:s3:::bucket/a:b:c", &()));
        assert!(!s3.matches("arn:aws:s3:::bucket", &()));
        assert!(!s3.matches("arn:aws:s3:::Bucket/x", &()));
        let any = ArnPattern::compile("*", GLOB);
        assert!(any.is_any());
        assert!(any.matches("anything", &()));
        let vars = Map(&[("aws:username", "bob")]);
        let v = ArnPattern::compile("arn:aws:sqs:*:${aws:username}:*", GLOB);
        assert!(v.is_six_part());
        assert!(v.matches("arn:aws:sqs:r:bob:q", &vars));
        assert!(!v.matches("arn:aws:sqs:r:alice:q", &vars));
    }
}
