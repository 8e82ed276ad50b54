//! ETags exactly as AWS S3 computes them, because clients (the AWS CLI's
//! `s3 sync`, rclone, boto3 transfer) compare them with local MD5 sums.

use md5::{Digest, Md5};

/// A raw MD5 digest.
pub type Md5Digest = [u8; 16];

/// An S3 entity tag without the surrounding quotes.
///
/// For a single PUT it is the hex MD5 of the body; for a multipart upload it
/// is the hex MD5 of the concatenated binary part digests followed by `-N`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ETag(String);

impl ETag {
    /// The ETag of a body whose MD5 is `digest`.
    pub fn from_md5(digest: &Md5Digest) -> Self {
        ETag(hex::encode(digest))
    }

    /// The ETag AWS gives a multipart object made of parts with these digests.
    pub fn multipart(part_digests: &[Md5Digest]) -> Self {
        let mut hasher = Md5::new();
        for d in part_digests {
            hasher.update(d);
        }
        let combined: Md5Digest = hasher.finalize().into();
        ETag(format!("{}-{}", hex::encode(combined), part_digests.len()))
    }

    /// Wraps an ETag string, stripping the quotes a client may have sent.
    pub fn parse(s: &str) -> Self {
        ETag(s.trim().trim_matches('"').to_owned())
    }

    /// The bare value, as stored and as used in event records.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The quoted form used in HTTP headers and XML bodies.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The MD5 digest, when this is a single-part ETag.
    pub fn md5(&self) -> Option<Md5Digest> {
        let mut out = [0u8; 16];
        hex::decode_to_slice(&self.0, &mut out).ok()?;
        Some(out)
    }
}

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_part_is_hex_md5() {
        let d: Md5Digest = Md5::digest(b"hello").into();
        assert_eq!(ETag::from_md5(&d).as_str(), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(ETag::from_md5(&d).quoted(), "\"5d41402abc4b2a76b9719d911017c592\"");
    }

    #[test]
    fn multipart_matches_aws_formula() {
        // Reference value computed with: md5(bytes.fromhex(md5(a)+md5(b))) + "-2"
        let a: Md5Digest = Md5::digest(b"a").into();
        let b: Md5Digest = Md5::digest(b"b").into();
        let mut cat = Vec::new();
        cat.extend_from_slice(&a);
        cat.extend_from_slice(&b);
        let expected = format!("{}-2", hex::encode(Md5::digest(&cat)));
        assert_eq!(ETag::multipart(&[a, b]).as_str(), expected);
        assert!(ETag::multipart(&[a, b]).as_str().ends_with("-2"));
    }

    #[test]
    fn parse_strips_quotes() {
        assert_eq!(ETag::parse("\"abc\"").as_str(), "abc");
        assert_eq!(ETag::parse("abc").as_str(), "abc");
    }
}
