//! Virtual-host-style addressing: `bucket.<domain>` selects the bucket.

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// Parses Host headers against Herald's configured domains.
///
/// Unlike s3s's own parsers, a host that matches none of the domains is
/// treated as path-style (not as a bucket name): a server reached through
/// an unexpected hostname still answers path-style requests correctly.
#[derive(Debug, Clone)]
pub struct HeraldHost {
    domains: Vec<String>,
}

impl HeraldHost {
    pub fn new(domains: Vec<String>) -> Self {
        HeraldHost {
            domains: domains.into_iter().map(|d| d.to_ascii_lowercase()).collect(),
        }
    }

    /// The bucket a host header names, if any.
    pub fn bucket_of<'a>(&self, host: &'a str) -> Option<&'a str> {
        let name = strip_port(host);
        self.domains.iter().find_map(|d| {
            let lower = name.len().checked_sub(d.len() + 1)?;
            let (bucket, rest) = name.split_at(lower);
            (rest.len() == d.len() + 1
                && rest.as_bytes()[0] == b'.'
                && rest[1..].eq_ignore_ascii_case(d)
                && !bucket.is_empty())
            .then_some(bucket)
        })
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

impl S3Host for HeraldHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        Ok(match self.bucket_of(host) {
            Some(bucket) => VirtualHost::new(host).with_bucket(bucket),
            None => VirtualHost::new(host),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_bucket_in_subdomain() {
        let h = HeraldHost::new(vec!["localhost".into(), "s3.example.com".into()]);
        assert_eq!(h.bucket_of("photos.localhost:9000"), Some("photos"));
        assert_eq!(h.bucket_of("photos.localhost"), Some("photos"));
        assert_eq!(h.bucket_of("my.bucket.s3.example.com"), Some("my.bucket"));
        assert_eq!(h.bucket_of("localhost:9000"), None);
        assert_eq!(h.bucket_of("otherhost:9000"), None);
        assert_eq!(h.bucket_of("127.0.0.1:9000"), None);
        assert_eq!(h.bucket_of("xlocalhost:9000"), None);
    }
}
