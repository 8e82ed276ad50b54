//! Bucket naming rules of AWS S3 (general purpose buckets).

/// Why a bucket name was refused; the server maps every variant to
/// `InvalidBucketName`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BucketNameError {
    #[error("bucket name must be between 3 and 63 characters long")]
    Length,
    #[error("bucket name may contain only lowercase letters, digits, dots and hyphens")]
    Characters,
    #[error("bucket name must begin and end with a letter or digit")]
    Edges,
    #[error("bucket name must not contain two adjacent periods")]
    AdjacentPeriods,
    #[error("each dot-separated label of a bucket name must begin and end with a letter or digit")]
    LabelEdges,
    #[error("bucket name must not be formatted as an IP address")]
    IpAddress,
}

/// Checks a bucket name against the AWS rules for general purpose buckets.
pub fn validate_bucket_name(name: &str) -> Result<(), BucketNameError> {
    if !(3..=63).contains(&name.len()) {
        return Err(BucketNameError::Length);
    }
    let bytes = name.as_bytes();
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return Err(BucketNameError::Characters);
    }
    let edge_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge_ok(bytes[0]) || !edge_ok(bytes[bytes.len() - 1]) {
        return Err(BucketNameError::Edges);
    }
    if name.contains("..") {
        return Err(BucketNameError::AdjacentPeriods);
    }
    // DNS labels: `foo.-bar` and `foo-.bar` are not host names.
    if name.contains(".-") || name.contains("-.") {
        return Err(BucketNameError::LabelEdges);
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(BucketNameError::IpAddress);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_names() {
        for n in ["photos", "my-bucket.example", "a1b", "jibe-source-activity"] {
            assert_eq!(validate_bucket_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(validate_bucket_name("ab"), Err(BucketNameError::Length));
        assert_eq!(validate_bucket_name("Photos"), Err(BucketNameError::Characters));
        assert_eq!(validate_bucket_name("my_bucket"), Err(BucketNameError::Characters));
        assert_eq!(validate_bucket_name("-abc"), Err(BucketNameError::Edges));
        assert_eq!(validate_bucket_name("foo.-bar"), Err(BucketNameError::LabelEdges));
        assert_eq!(validate_bucket_name("foo-.bar"), Err(BucketNameError::LabelEdges));
        assert_eq!(validate_bucket_name("a..b"), Err(BucketNameError::AdjacentPeriods));
        assert_eq!(validate_bucket_name("192.168.1.1"), Err(BucketNameError::IpAddress));
        assert!(validate_bucket_name(&"a".repeat(64)).is_err());
    }
}
