//! SigV4 header signing for Herald's own clients (the bench, and the
//! console, which calls the S3, SNS and SQS APIs in-process on a signed-in
//! user's behalf), by `aws-sigv4`: the AWS SDK's own signer, already linked
//! into `herald` through the SDK.
//!
//! Only the `Authorization`-header variant is used; neither client needs
//! presigned URLs or chunked payload signing. Each request signs `host`,
//! `x-amz-date` and the headers the call adds itself (content type, SQS
//! target); never `content-length`, which is set after signing.

use std::error::Error;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode,
    sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::Request;

/// Why signing failed: a header that is not visible ASCII, or a URI the
/// signer cannot parse. Neither happens with the requests the bench builds.
pub type SignError = Box<dyn Error + Send + Sync>;

/// How a request's body is covered by its signature, fixed per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Payload {
    /// S3: `x-amz-content-sha256: UNSIGNED-PAYLOAD`, sent and signed, so
    /// that timing a large PUT does not include hashing it on the client.
    Unsigned,
    /// The SNS and SQS APIs have no such header: the SHA-256 of the (small)
    /// body goes into the signature.
    Hashed,
}

/// Credentials plus the scope (region, service) requests are signed for.
/// Everything that does not change between requests is built once here, so
/// signing a request costs one canonical request and five HMACs.
#[derive(Debug, Clone)]
pub struct Signer {
    /// `Credentials`' `Debug` redacts the secret key.
    identity: Identity,
    region: String,
    service: &'static str,
    payload: Payload,
    settings: SigningSettings,
}

impl Signer {
    /// A signer for S3: unsigned payload, and the path signed exactly as sent
    /// (S3 is the one service that must not double-encode or normalize it).
    pub fn s3(access_key: &str, secret_key: &str, region: &str) -> Self {
        Self::new(access_key, secret_key, region, "s3", Payload::Unsigned)
    }

    /// A signer for a JSON or query API served on the same endpoint (`sns`,
    /// `sqs`): the body's hash is signed, no `x-amz-content-sha256` is sent.
    pub fn api(access_key: &str, secret_key: &str, region: &str, service: &'static str) -> Self {
        Self::new(access_key, secret_key, region, service, Payload::Hashed)
    }

    fn new(access_key: &str, secret_key: &str, region: &str, service: &'static str, payload: Payload) -> Self {
        let credentials = Credentials::new(access_key, secret_key, None, None, "herald");
        let mut settings = SigningSettings::default();
        if payload == Payload::Unsigned {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        }
        // The bench encodes paths once (see `crate::encode`); the other APIs
        // are only ever called on `/`, where both modes agree.
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        // The default list excludes headers the bench never sends
        // (user-agent, ...); dropping it saves an allocation per request.
        settings.excluded_headers = None;
        Signer {
            identity: credentials.into(),
            region: region.to_owned(),
            service,
            payload,
            settings,
        }
    }

    /// Signs `request` as of `time` over its method, URI and current headers
    /// (which must include `host`), and adds `x-amz-date`, `authorization`
    /// and, for S3, `x-amz-content-sha256`. `body` is what will be sent.
    pub fn sign<B>(&self, request: &mut Request<B>, body: &[u8], time: SystemTime) -> Result<(), SignError> {
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(self.settings.clone())
            .build()?
            .into();
        let mut headers = Vec::with_capacity(request.headers().len());
        for (name, value) in request.headers() {
            headers.push((name.as_str(), value.to_str()?));
        }
        let body = match self.payload {
            Payload::Unsigned => SignableBody::UnsignedPayload,
            Payload::Hashed => SignableBody::Bytes(body),
        };
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(request.method().as_str(), uri, headers.into_iter(), body)?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}
