//! The pieces of the SigV4 canonical request.
//!
//! Signer and verifier share every function here: a signature only verifies
//! when both sides build byte-for-byte the same canonical request, so having a
//! single implementation makes `sign` → `verify` agreement structural rather
//! than something each side has to get right on its own.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, percent_encode};
use sha2::{Digest, Sha256};

/// RFC 3986 unreserved characters are the only ones SigV4 leaves unencoded;
/// everything else, including `+`, `*` and `/` in query components, becomes
/// `%XX` with upper-case hex.
const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Path encoding is the query encoding except that `/` separates segments and
/// therefore stays literal.
const PATH_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// Lower-case hex SHA-256, the form SigV4 uses for payload and
/// canonical-request hashes.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Canonical URI for a raw (as received, already percent-encoded) path.
///
/// S3 signs the path exactly as sent. Every other service (SNS, SQS, ...)
/// normalizes the path (dot segments and repeated slashes removed) and then
/// URI-encodes it *again*: that is what botocore and the Rust SDK do, and
/// what the spec means by "each path segment must be URI-encoded twice". The
/// first encoding is the one the client applied on the wire, which is why we
/// encode the raw path once more rather than decoding it first; a `%20` on the
/// wire therefore becomes `%2520` here.
pub(crate) fn canonical_uri(raw_path: &str, single_encode: bool) -> String {
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    if single_encode {
        return path.to_owned();
    }
    let normalized = remove_dot_segments(path);
    percent_encode(normalized.as_bytes(), PATH_SET).to_string()
}

/// RFC 3986 §5.2.4 dot-segment removal plus collapsing of empty segments,
/// mirroring botocore's `remove_dot_segments` (AWS services require repeated
/// slashes to be merged; see the `get-slashes` test-suite vector). A trailing
/// slash is kept because it is part of the resource name.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    let mut result = String::with_capacity(path.len());
    result.push('/');
    result.push_str(&out.join("/"));
    if path.ends_with('/') && !out.is_empty() {
        result.push('/');
    }
    result
}

/// Splits a raw query string into decoded `(name, value)` byte pairs.
///
/// Clients disagree about how to put a query on the wire (botocore's
/// `urlencode` writes a space as `+` while signing it as `%20`; the Rust SDK
/// decodes `+` as a space too), so we decode everything, treating `+` as a
/// space, and re-encode canonically. Decoding to bytes rather than `String`
/// keeps non-UTF-8 escapes intact instead of replacing them.
pub(crate) fn parse_query(query: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(name), decode_component(value))
        })
        .collect()
}

fn decode_component(raw: &str) -> Vec<u8> {
    let plus_as_space: Vec<u8> = raw.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
    percent_decode(&plus_as_space).collect()
}

/// Canonical query string: every pair RFC 3986-encoded, sorted by encoded
/// name then encoded value, joined with `&`. `skip` names a parameter left
/// out, which is how the presigned form excludes `X-Amz-Signature` (it cannot
/// sign itself).
pub(crate) fn canonical_query(pairs: &[(Vec<u8>, Vec<u8>)], skip: Option<&str>) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(name, _)| skip.is_none_or(|s| name.as_slice() != s.as_bytes()))
        .map(|(name, value)| {
            (
                percent_encode(name, QUERY_SET).to_string(),
                percent_encode(value, QUERY_SET).to_string(),
            )
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Canonical form of one header's values: each value trimmed with inner
/// whitespace runs collapsed to one space, then the values joined by `,` in
/// the order received (as botocore and the test suite's duplicate-header
/// vectors do). Works on bytes so that obs-text values are not mangled.
pub(crate) fn canonical_header_value<'v>(values: impl IntoIterator<Item = &'v [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let mut first = true;
        for word in value.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty()) {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(word);
            first = false;
        }
    }
    out
}

/// Assembles the canonical request. `header_lines` must already be in the
/// order of `signed_headers` with canonical values.
pub(crate) fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    header_lines: &[(String, Vec<u8>)],
    signed_headers: &str,
    payload_hash: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for part in [method, canonical_uri, canonical_query] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    for (name, value) in header_lines {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_normalization_matches_test_suite() {
        // get-slashes, get-relative, get-relative-relative, get-slash-dot-slash,
        // get-slash-pointless-dot, get-space (double-encoded for non-S3).
        assert_eq!(canonical_uri("//example//", false), "/example/");
        assert_eq!(canonical_uri("/example/..", false), "/");
        assert_eq!(canonical_uri("/example1/example2/../..", false), "/");
        assert_eq!(canonical_uri("/./", false), "/");
        assert_eq!(canonical_uri("/example/.", false), "/example");
        assert_eq!(canonical_uri("/example%20space/", false), "/example%2520space/");
        assert_eq!(canonical_uri("", false), "/");
        assert_eq!(canonical_uri("/123456789012/my-queue", false), "/123456789012/my-queue");
        // S3 signs the wire path untouched.
        assert_eq!(canonical_uri("/a%20b//../c", true), "/a%20b//../c");
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        let pairs = parse_query("b=2&a=z&a=y&c&sp=a+b%20c&t=%2B%2f~");
        assert_eq!(canonical_query(&pairs, None), "a=y&a=z&b=2&c=&sp=a%20b%20c&t=%2B%2F~");
        let pairs = parse_query("X-Amz-Signature=abc&X-Amz-Date=1");
        assert_eq!(canonical_query(&pairs, Some("X-Amz-Signature")), "X-Amz-Date=1");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        let v = canonical_header_value([&b"  a   b \t c  "[..], b"d"]);
        assert_eq!(v, b"a b c,d");
    }
}
