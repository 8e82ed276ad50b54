//! The client Herald talks to its upstream S3 with.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

/// Where the objects live in gateway mode (`--upstream-*`).
#[derive(Clone)]
pub struct UpstreamSettings {
    /// The upstream's S3 endpoint (`http://host:port`).
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// Whether a CreateBucket may take over a bucket that already exists
    /// upstream. Off by default: with one upstream account behind every
    /// Herald user, a bucket made there by someone else (another deployment,
    /// data from before Herald) would otherwise go, with its objects, to
    /// whichever Herald user names it first.
    pub adopt_existing: bool,
}

impl std::fmt::Debug for UpstreamSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSettings")
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("region", &self.region)
            .field("adopt_existing", &self.adopt_existing)
            .finish_non_exhaustive()
    }
}

/// How long connecting to the upstream may take before a request fails
/// with 503 (a request under way is not cut: bodies may be large).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK client for the upstream: path-style addressing (bucket names
/// map 1:1 and need no DNS), the operator's static credentials (never the
/// environment's or the cloud metadata service's), and checksums only where
/// S3 requires them, so that a body streams through unchanged rather than
/// re-framed as `aws-chunked` with a trailer many S3 implementations lack.
/// Requests whose body was already streamed are not retried (the SDK
/// cannot replay them); others get the SDK's standard three attempts.
pub(crate) fn client(s: &UpstreamSettings) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(s.endpoint.clone())
        .region(Region::new(s.region.clone()))
        .credentials_provider(Credentials::new(
            s.access_key.clone(),
            s.secret_key.clone(),
            None,
            None,
            "herald-upstream",
        ))
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .timeout_config(TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).build())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}
