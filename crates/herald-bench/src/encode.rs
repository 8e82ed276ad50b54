//! Percent-encoding of what the bench puts on the wire: S3 paths, query
//! strings and SNS form bodies.
//!
//! One rule for all of them — every byte outside `A-Z a-z 0-9 - _ . ~`
//! becomes `%XX` — because it is also SigV4's canonical encoding: the path is
//! signed exactly as sent (S3 must not see it double-encoded), and `+` in a
//! form body can never be read back as a space.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but the unreserved characters of RFC 3986.
const NOT_UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Encodes one path segment, query key/value or form field (`/` included).
pub fn component(raw: &str) -> String {
    utf8_percent_encode(raw, NOT_UNRESERVED).to_string()
}

/// Encodes a raw path (`/bucket/some key`) segment by segment, keeping the
/// `/` separators; an empty path is `/`.
pub fn path(raw: &str) -> String {
    if raw.is_empty() {
        return "/".to_owned();
    }
    raw.split('/').map(component).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_bytes_stay() {
        assert_eq!(component("a b+c/d~e_f.g-h"), "a%20b%2Bc%2Fd~e_f.g-h");
        assert_eq!(component("é$*"), "%C3%A9%24%2A");
    }

    #[test]
    fn paths_keep_their_separators() {
        assert_eq!(path(""), "/");
        assert_eq!(path("/"), "/");
        assert_eq!(path("/bucket/dir/my key"), "/bucket/dir/my%20key");
    }
}
