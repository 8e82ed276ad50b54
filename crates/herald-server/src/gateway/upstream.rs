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
/// No request is retried by Herald: a mutation whose answer was lost may
/// have happened, and repeating it (a second delete marker, a completion
/// answered NoSuchUpload) would make its event wrong; the client retries,
/// and the intent of a lost answer is settled by asking the upstream.
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
        .retry_config(RetryConfig::disabled())
        .interceptor(StripUncheckedHeaders)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Headers Herald does not let through to the upstream, whatever the
/// proxied request carried, as a last line behind the handlers' refusals:
/// object ACLs and grants (applied upstream with the operator's account,
/// they would share an object past Herald's access decision), Object Lock
/// settings and governance bypass (checked by embedded mode, not here), and
/// expected-owner checks (Herald compares them with its own user names; the
/// upstream would compare them with its account id and refuse).
#[derive(Debug)]
struct StripUncheckedHeaders;

/// The headers [`StripUncheckedHeaders`] removes (and every `x-amz-grant-*`).
const STRIPPED: [&str; 7] = [
    "x-amz-acl",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
    "x-amz-bypass-governance-retention",
    "x-amz-expected-bucket-owner",
    "x-amz-source-expected-bucket-owner",
];

impl aws_sdk_s3::config::Intercept for StripUncheckedHeaders {
    fn name(&self) -> &'static str {
        "HeraldStripUncheckedHeaders"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let headers = context.request_mut().headers_mut();
        let grants: Vec<String> = headers
            .iter()
            .map(|(name, _)| name.to_ascii_lowercase())
            .filter(|name| name.starts_with("x-amz-grant-"))
            .collect();
        for name in STRIPPED.iter().copied().chain(grants.iter().map(String::as_str)) {
            headers.remove(name);
        }
        Ok(())
    }
}

/// What a HEAD of the upstream says about a version.
pub(crate) struct Head {
    pub size: u64,
    pub etag: String,
    pub version_id: String,
    pub metadata: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// Seconds since the epoch (S3's resolution).
    pub last_modified: Option<i64>,
}

impl Head {
    /// Fills a change's description of the object from this HEAD.
    pub(crate) fn describe(&self, change: &mut crate::notify::Change) {
        change.size = self.size;
        change.etag = self.etag.clone();
        change.metadata = self.metadata.clone();
        change.content_type = self.content_type.clone();
    }
}

/// Why a HEAD could not say whether a version is there.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// The upstream answered, but not yes or no (a 400 for an SSE-C object
    /// without its key): asking again will not tell more.
    Unclear(String),
    /// The upstream could not be asked (down, 5xx, timed out): ask later.
    Unreachable(String),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Unclear(e) => write!(f, "unclear answer: {e}"),
            HeadError::Unreachable(e) => write!(f, "upstream unreachable: {e}"),
        }
    }
}

/// How long one call Herald makes to the upstream on its own (not a
/// forwarded request) may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A call Herald makes on its own, bounded by [`CALL_TIMEOUT`]: past it,
/// `503` (the upstream is as good as unreachable).
pub(crate) async fn timed<T>(call: impl std::future::Future<Output = T>) -> Result<T, s3s::S3Error> {
    tokio::time::timeout(CALL_TIMEOUT, call).await.map_err(|_| {
        tracing::warn!("an upstream call timed out");
        super::unreachable_upstream()
    })
}

/// An ETag without its quotes, as event records carry it.
pub(crate) fn bare_etag(e: &str) -> String {
    e.trim_matches('"').to_owned()
}

/// HEADs `key` (or one of its versions) upstream. `Ok(None)`: it is not
/// there (or is a delete marker).
pub(crate) async fn head(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<Head>, HeadError> {
    let call = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .send();
    let answer = tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .map_err(|_| HeadError::Unreachable("HEAD timed out".into()))?;
    match answer {
        Ok(o) => {
            let mut metadata: Vec<(String, String)> = o
                .metadata()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            metadata.sort();
            Ok(Some(Head {
                size: o.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                etag: o.e_tag().map(bare_etag).unwrap_or_default(),
                version_id: o.version_id().unwrap_or_default().to_owned(),
                metadata,
                content_type: o.content_type().map(str::to_owned),
                last_modified: o.last_modified().map(|t| t.secs()),
            }))
        }
        Err(e) => {
            let text = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
            match e.raw_response().map(|r| r.status().as_u16()) {
                Some(404 | 405) => Ok(None),
                // A 400 (an SSE-C object HEADed without its key) will say
                // no more next time; anything else (a 401/403 from rotated
                // keys, a redirect, a 5xx, no answer) may: ask again later.
                Some(400) => Err(HeadError::Unclear(text)),
                _ => Err(HeadError::Unreachable(text)),
            }
        }
    }
}
