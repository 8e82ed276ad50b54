//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) verification for Herald.
//!
//! Herald serves S3, SNS and SQS on one port. S3 goes through s3s, which
//! checks S3 signatures itself, but SNS and SQS requests are routed *before*
//! s3s sees them, so without this crate they would be unauthenticated. The
//! crate is deliberately transport-agnostic: it looks at a method, URI,
//! header map and fully buffered body, so the router can call it without
//! dragging hyper or s3s types in.
//!
//! [`verify`] accepts both forms AWS clients use: the `Authorization`
//! header and the presigned query string (`X-Amz-Algorithm`, ...). It only
//! verifies: Herald's own clients (the bench, the tests) sign with AWS's
//! `aws-sigv4`, the signer the SDKs use, so verification is always checked
//! against an independent implementation.

mod canonical;
mod v2;

pub use v2::{is_sigv2, verify_v2};

use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method, Uri};
use sha2::Sha256;
use time::{
    Duration, OffsetDateTime, PrimitiveDateTime, format_description::BorrowedFormatItem, macros::format_description,
};

use canonical::{canonical_header_value, canonical_query, canonical_request, canonical_uri, parse_query, sha256_hex};

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm accepted. SigV4A (`AWS4-ECDSA-P256-SHA256`) and SigV2
/// are rejected as malformed: no SNS/SQS client Herald targets needs them.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Payload placeholder used by presigned URLs (the URL is made before the body
/// is known) and by S3 clients that skip body hashing.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How far a request's timestamp may be from the server clock. AWS allows 15
/// minutes; beyond that a captured request could be replayed for too long.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);

/// Longest lifetime AWS allows for a presigned URL (7 days).
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 604_800;

/// Longest `Authorization` header parsed. A real one is about 250 bytes
/// (credential scope, a handful of signed header names, 64 hex digits);
/// the cap bounds the work and what an error message can repeat.
pub const MAX_AUTHORIZATION_BYTES: usize = 4096;

/// Most header names in `SignedHeaders` (or `X-Amz-SignedHeaders`). SDKs
/// sign fewer than ten; each is looked up and canonicalised.
pub const MAX_SIGNED_HEADERS: usize = 64;

const AMZ_DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
/// IMF-fixdate, the `Date` header form, used only when `x-amz-date` is absent.
const HTTP_DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT");

/// The parts of a request that a SigV4 signature covers.
///
/// The body must be the complete body: SNS and SQS requests are small and
/// are buffered by the router before dispatch, and the body hash is part of
/// the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Who signed a request, and for which scope. Region is reported rather
/// than checked because Herald answers for any region the client picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// Why a request failed verification. Variants map onto the AWS error codes
/// clients expect (see [`SigV4Error::aws_code`]) so SDK retry and error
/// handling behave as they do against AWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("request is missing authentication token")]
    Missing,
    /// Authentication is present but cannot be parsed or is incomplete.
    #[error("{0}")]
    Malformed(String),
    /// A presigned URL's parameters are out of bounds (`X-Amz-Expires`
    /// beyond seven days): AWS's `AuthorizationQueryParametersError`.
    #[error("{0}")]
    QueryParameters(String),
    /// The lookup function does not know the access key id.
    #[error("the security token included in the request is invalid")]
    UnknownAccessKey,
    /// The signature (or the body's declared hash) does not match.
    #[error(
        "the request signature we calculated does not match the signature you provided; check your AWS secret access key and signing method"
    )]
    SignatureMismatch,
    /// The request time is more than [`MAX_CLOCK_SKEW`] from now, or a
    /// presigned URL has expired.
    #[error("signature expired or request time too skewed")]
    Expired,
    /// The credential scope names a service other than the one addressed,
    /// e.g. an SQS-scoped signature sent to the SNS endpoint.
    #[error("credential should be scoped to correct service, not '{got}'")]
    WrongService { got: String },
}

impl SigV4Error {
    /// AWS error code for this failure as `service` (`"sns"`, `"sqs"`,
    /// `"s3"`) reports it. SNS and SQS share the query-API names; S3 uses
    /// its own, should a caller ever verify S3 requests here.
    pub fn aws_code(&self, service: &str) -> &'static str {
        let s3 = service.eq_ignore_ascii_case("s3");
        match self {
            Self::Missing if s3 => "AccessDenied",
            Self::Missing => "MissingAuthenticationToken",
            Self::Malformed(_) if s3 => "AuthorizationHeaderMalformed",
            Self::Malformed(_) => "IncompleteSignature",
            Self::QueryParameters(_) => "AuthorizationQueryParametersError",
            Self::UnknownAccessKey if s3 => "InvalidAccessKeyId",
            Self::UnknownAccessKey => "InvalidClientTokenId",
            Self::SignatureMismatch | Self::WrongService { .. } => "SignatureDoesNotMatch",
            Self::Expired if s3 => "RequestTimeTooSkewed",
            Self::Expired => "RequestExpired",
        }
    }

    /// HTTP status SNS/SQS use for this failure: 400 for requests the
    /// client must rebuild (malformed, expired), 403 for authentication
    /// refusals.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Malformed(_) | Self::QueryParameters(_) | Self::Expired => 400,
            Self::Missing | Self::UnknownAccessKey | Self::SignatureMismatch | Self::WrongService { .. } => 403,
        }
    }
}

/// Everything the client asserted about its signature, whichever form it
/// used.
struct Claimed {
    access_key: String,
    scope_date: String,
    region: String,
    service: String,
    signed_headers: String,
    signature: Vec<u8>,
    /// `YYYYMMDD'T'HHMMSS'Z'`, exactly as it enters the string to sign.
    timestamp: String,
    time: OffsetDateTime,
    /// `Some` for presigned URLs.
    expires: Option<Duration>,
}

/// Query parameters whose presence means "this is a presigned request".
/// Any one of them is enough, so that a half-presigned URL is reported as
/// malformed instead of as unauthenticated.
const PRESIGN_MARKERS: [&str; 3] = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"];

/// Verifies a request signed with AWS4-HMAC-SHA256 in the `Authorization`
/// header, or presigned in the query string (`X-Amz-Algorithm`,
/// `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
/// `X-Amz-Signature`).
///
/// `lookup` returns the secret for an access key id. `expected_services`
/// lists the acceptable credential-scope services (e.g. `&["sns"]`), so a
/// signature made for one service cannot be replayed against another.
///
/// Checks run cheapest-and-most-actionable first: parse, service, clock,
/// key lookup, then the HMAC. A client with a skewed clock thus learns about
/// the clock rather than getting a generic signature mismatch.
///
/// Payload rules: with header authentication the payload hash is the
/// `x-amz-content-sha256` header if present (which must then match the
/// body) or else the body's SHA-256, which is what botocore and the Rust SDK
/// sign for SNS/SQS. `UNSIGNED-PAYLOAD` is honoured for S3, and for other
/// services only when the body is empty: SNS/SQS carry their parameters in
/// the body, so an unsigned non-empty body would let anyone holding a
/// presigned URL run arbitrary actions.
pub fn verify(
    req: &SignedRequest<'_>,
    lookup: impl Fn(&str) -> Option<String>,
    expected_services: &[&str],
    now: OffsetDateTime,
) -> Result<Verified, SigV4Error> {
    let query = parse_query(req.uri.query().unwrap_or(""));
    let presigned = query
        .iter()
        .any(|(name, _)| PRESIGN_MARKERS.iter().any(|m| name.as_slice() == m.as_bytes()));
    let authorization = req.headers.get(http::header::AUTHORIZATION);
    let claimed = match (authorization, presigned) {
        (None, false) => return Err(SigV4Error::Missing),
        (Some(_), true) => {
            return Err(malformed(
                "only one auth mechanism allowed; both an Authorization header and X-Amz-* query parameters are present",
            ));
        }
        (Some(value), false) => parse_authorization(value, req.headers)?,
        (None, true) => parse_presigned(&query)?,
    };

    if !expected_services.contains(&claimed.service.as_str()) {
        return Err(SigV4Error::WrongService { got: claimed.service });
    }
    check_time(&claimed, now)?;
    let secret = lookup(&claimed.access_key).ok_or(SigV4Error::UnknownAccessKey)?;

    let single_encode = claimed.service == "s3";
    let uri = canonical_uri(req.uri.path(), single_encode);
    let query = canonical_query(&query, claimed.expires.is_some().then_some("X-Amz-Signature"));
    let header_lines = signed_header_lines(&claimed.signed_headers, req)?;
    let key = signing_key(&secret, &claimed.scope_date, &claimed.region, &claimed.service);
    let scope = credential_scope(&claimed.scope_date, &claimed.region, &claimed.service);

    for payload_hash in payload_candidates(req, claimed.expires.is_some(), single_encode)? {
        let creq = canonical_request(
            req.method.as_str(),
            &uri,
            &query,
            &header_lines,
            &claimed.signed_headers,
            &payload_hash,
        );
        let sts = string_to_sign(&claimed.timestamp, &scope, &creq);
        let mut mac = hmac_sha256_init(&key);
        mac.update(sts.as_bytes());
        // `verify_slice` compares in constant time, so response timing does
        // not reveal how many leading bytes of a forged signature were right.
        if mac.verify_slice(&claimed.signature).is_ok() {
            return Ok(Verified {
                access_key: claimed.access_key,
                region: claimed.region,
                service: claimed.service,
            });
        }
    }
    Err(SigV4Error::SignatureMismatch)
}

fn malformed(msg: impl Into<String>) -> SigV4Error {
    SigV4Error::Malformed(msg.into())
}

/// Parses `AWS4-HMAC-SHA256 Credential=.../aws4_request, SignedHeaders=...,
/// Signature=...`. Components may be separated by `,` with or without
/// spaces, since SDKs differ there.
fn parse_authorization(value: &http::HeaderValue, headers: &HeaderMap) -> Result<Claimed, SigV4Error> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return Err(malformed(format!(
            "Authorization header is longer than {MAX_AUTHORIZATION_BYTES} bytes"
        )));
    }
    let value = value
        .to_str()
        .map_err(|_| malformed("Authorization header is not valid ASCII"))?;
    let rest = value
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with([' ', '\t']))
        .ok_or_else(|| malformed(format!("unsupported authorization type; only {ALGORITHM} is accepted")))?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, val) = part
            .split_once('=')
            .ok_or_else(|| malformed(format!("authorization component '{part}' has no '='")))?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            // Unknown components are not covered by the signature and change
            // nothing we compute, so tolerating them is harmless.
            _ => continue,
        };
        if slot.replace(val.trim()).is_some() {
            return Err(malformed(format!(
                "authorization component '{}' appears twice",
                name.trim()
            )));
        }
    }
    fn require<'v>(v: Option<&'v str>, name: &str) -> Result<&'v str, SigV4Error> {
        v.ok_or_else(|| malformed(format!("Authorization header requires '{name}' parameter")))
    }
    let credential = require(credential, "Credential")?;
    let signed_headers = require(signed_headers, "SignedHeaders")?;
    let signature = require(signature, "Signature")?;

    let (timestamp, time) = if let Some(v) = headers.get("x-amz-date") {
        let s = v
            .to_str()
            .map_err(|_| malformed("x-amz-date header is not valid ASCII"))?;
        (s.to_owned(), parse_amz_date(s)?)
    } else if let Some(v) = headers.get(http::header::DATE) {
        let s = v.to_str().map_err(|_| malformed("Date header is not valid ASCII"))?;
        let time = PrimitiveDateTime::parse(s.trim(), HTTP_DATE_FORMAT)
            .map_err(|_| malformed(format!("Date header '{s}' is not an HTTP date")))?
            .assume_utc();
        let timestamp = time.format(AMZ_DATE_FORMAT).expect("a UTC timestamp always formats");
        (timestamp, time)
    } else {
        return Err(malformed(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header",
        ));
    };
    build_claimed(credential, signed_headers, signature, timestamp, time, None)
}

/// Parses the presigned query form. Every parameter is mandatory: a URL
/// missing one was not produced by a correct signer.
fn parse_presigned(query: &[(Vec<u8>, Vec<u8>)]) -> Result<Claimed, SigV4Error> {
    let get = |name: &str| -> Result<String, SigV4Error> {
        let mut found = query.iter().filter(|(n, _)| n.as_slice() == name.as_bytes());
        let (_, value) = found
            .next()
            .ok_or_else(|| malformed(format!("query-string authentication requires the {name} parameter")))?;
        if found.next().is_some() {
            return Err(malformed(format!("{name} appears more than once")));
        }
        String::from_utf8(value.clone()).map_err(|_| malformed(format!("{name} is not UTF-8")))
    };
    let algorithm = get("X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(malformed(format!(
            "X-Amz-Algorithm '{algorithm}' is not supported; only {ALGORITHM} is accepted"
        )));
    }
    let credential = get("X-Amz-Credential")?;
    let timestamp = get("X-Amz-Date")?;
    let expires = get("X-Amz-Expires")?;
    let signed_headers = get("X-Amz-SignedHeaders")?;
    let signature = get("X-Amz-Signature")?;
    let expires: i64 = expires
        .parse()
        .ok()
        .filter(|e| (1..=MAX_PRESIGNED_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            SigV4Error::QueryParameters(format!(
                "X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES_SECS} seconds (a week at most)"
            ))
        })?;
    let time = parse_amz_date(&timestamp)?;
    build_claimed(
        &credential,
        &signed_headers,
        &signature,
        timestamp,
        time,
        Some(Duration::seconds(expires)),
    )
}

fn build_claimed(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    timestamp: String,
    time: OffsetDateTime,
    expires: Option<Duration>,
) -> Result<Claimed, SigV4Error> {
    // `<key>/<date>/<region>/<service>/aws4_request`; splitting from the right
    // keeps working even if an access key id ever contained a '/'.
    let mut parts = credential.rsplitn(5, '/');
    let (terminator, service, region, scope_date, access_key) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(terminator), Some(service), Some(region), Some(scope_date), Some(access_key)) =
        (terminator, service, region, scope_date, access_key)
    else {
        return Err(malformed(format!(
            "credential '{credential}' must have the form <key>/<date>/<region>/<service>/aws4_request"
        )));
    };
    if terminator != "aws4_request" {
        return Err(malformed(format!(
            "credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'"
        )));
    }
    if access_key.is_empty() || region.is_empty() || service.is_empty() {
        return Err(malformed(format!("credential '{credential}' has an empty component")));
    }
    if scope_date != &timestamp[..8] {
        return Err(malformed(format!(
            "date in credential scope '{scope_date}' does not match YYYYMMDD from the request date '{timestamp}'"
        )));
    }

    if signed_headers.split(';').count() > MAX_SIGNED_HEADERS {
        return Err(malformed(format!(
            "SignedHeaders lists more than {MAX_SIGNED_HEADERS} headers"
        )));
    }
    if signed_headers.is_empty() || signed_headers.split(';').any(str::is_empty) {
        return Err(malformed(format!(
            "SignedHeaders '{signed_headers}' is not a ';'-separated header list"
        )));
    }
    // AWS insists on `host` being signed: without it a signature could be
    // replayed against a different endpoint.
    if !signed_headers.split(';').any(|h| h.eq_ignore_ascii_case("host")) {
        return Err(malformed("'host' must be a signed header"));
    }

    let signature = Some(signature)
        .filter(|s| s.len() == 64)
        .and_then(|s| hex::decode(s).ok())
        .ok_or_else(|| malformed("signature must be 64 hexadecimal characters"))?;

    Ok(Claimed {
        access_key: access_key.to_owned(),
        scope_date: scope_date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed_headers.to_owned(),
        signature,
        timestamp,
        time,
        expires,
    })
}

fn parse_amz_date(s: &str) -> Result<OffsetDateTime, SigV4Error> {
    // The length check guards the `[..8]` slice taken later for the scope
    // date, and the format check does the rest.
    if s.len() != 16 {
        return Err(malformed(format!(
            "date '{s}' is not in ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'"
        )));
    }
    PrimitiveDateTime::parse(s, AMZ_DATE_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| {
            malformed(format!(
                "date '{s}' is not in ISO 8601 basic format YYYYMMDD'T'HHMMSS'Z'"
            ))
        })
}

/// Header-signed requests must be within [`MAX_CLOCK_SKEW`] of `now` either
/// way. Presigned URLs are valid from their date (less the skew allowance,
/// for clients whose clock runs ahead) until date + `X-Amz-Expires`.
fn check_time(claimed: &Claimed, now: OffsetDateTime) -> Result<(), SigV4Error> {
    let ok = match claimed.expires {
        None => (now - claimed.time).abs() <= MAX_CLOCK_SKEW,
        Some(expires) => claimed.time - now <= MAX_CLOCK_SKEW && now <= claimed.time + expires,
    };
    if ok { Ok(()) } else { Err(SigV4Error::Expired) }
}

/// Canonical `name:value` lines for the client's SignedHeaders, in the
/// client's order. A missing `host` header falls back to the URI authority
/// because HTTP/2 carries it as `:authority`, which hyper exposes only there.
fn signed_header_lines(signed_headers: &str, req: &SignedRequest<'_>) -> Result<Vec<(String, Vec<u8>)>, SigV4Error> {
    signed_headers
        .split(';')
        .map(|name| {
            let name = name.to_ascii_lowercase();
            let mut values = req.headers.get_all(name.as_str()).iter().peekable();
            let value = if values.peek().is_some() {
                canonical_header_value(values.map(|v| v.as_bytes()))
            } else if name == "host" {
                authority_host(req.uri)
                    .ok_or_else(|| malformed("signed header 'host' is missing"))?
                    .into_bytes()
            } else {
                return Err(malformed(format!("signed header '{name}' is missing")));
            };
            Ok((name, value))
        })
        .collect()
}

/// `host[:port]` from the URI, without any userinfo.
fn authority_host(uri: &Uri) -> Option<String> {
    let authority = uri.authority()?.as_str();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    Some(host.to_owned())
}

/// The payload hashes worth trying, in order. Usually exactly one; an empty
/// presigned non-S3 request may carry either `UNSIGNED-PAYLOAD` (botocore's
/// presigner) or the empty-body hash (AWS's documented query-auth example),
/// and both are equally safe because there is no body to tamper with.
fn payload_candidates(req: &SignedRequest<'_>, presigned: bool, s3: bool) -> Result<Vec<String>, SigV4Error> {
    let declared = req
        .headers
        .get("x-amz-content-sha256")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| malformed("x-amz-content-sha256 is not valid ASCII"))
        })
        .transpose()?;
    let unsigned_ok = s3 || req.body.is_empty();
    match declared {
        Some(declared) => {
            if declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit()) {
                // The header is signed but the body is not directly: without
                // this check a tampered body would verify.
                if !declared.eq_ignore_ascii_case(&sha256_hex(req.body)) {
                    return Err(SigV4Error::SignatureMismatch);
                }
            } else if declared == UNSIGNED_PAYLOAD {
                if !unsigned_ok {
                    return Err(malformed("UNSIGNED-PAYLOAD is only accepted for S3 or empty bodies"));
                }
            } else if !(s3 && declared.starts_with("STREAMING-")) {
                // Streaming (aws-chunked) payloads are S3-only; their chunk
                // signatures are s3s's business, not ours.
                return Err(malformed(format!(
                    "x-amz-content-sha256 value '{declared}' is not supported"
                )));
            }
            Ok(vec![declared])
        }
        None if presigned && s3 => Ok(vec![UNSIGNED_PAYLOAD.to_owned()]),
        None if presigned && unsigned_ok => Ok(vec![UNSIGNED_PAYLOAD.to_owned(), sha256_hex(req.body)]),
        None => Ok(vec![sha256_hex(req.body)]),
    }
}

fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/aws4_request")
}

fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!("{ALGORITHM}\n{timestamp}\n{scope}\n{}", sha256_hex(canonical_request))
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

fn hmac_sha256_init(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = hmac_sha256_init(key);
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// A bodiless GET, the shape every test here verifies.
    fn get_request<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> SignedRequest<'a> {
        static GET: Method = Method::GET;
        SignedRequest {
            method: &GET,
            uri,
            headers,
            body: b"",
        }
    }

    /// `sign` always emits `x-amz-date`, so the `Date`-header fallback is
    /// exercised by assembling the signature from the same internals.
    #[test]
    fn date_header_is_used_when_x_amz_date_is_absent() {
        let uri: Uri = "/".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9000".parse().unwrap());
        headers.insert("date", "Wed, 01 May 2024 10:00:00 GMT".parse().unwrap());
        let lines = vec![
            ("date".to_owned(), b"Wed, 01 May 2024 10:00:00 GMT".to_vec()),
            ("host".to_owned(), b"127.0.0.1:9000".to_vec()),
        ];
        let creq = canonical_request("GET", "/", "", &lines, "date;host", &sha256_hex(b""));
        let scope = credential_scope("20240501", "us-east-1", "sns");
        let sts = string_to_sign("20240501T100000Z", &scope, &creq);
        let sig = hex::encode(hmac_sha256(
            &signing_key("s3cr3t", "20240501", "us-east-1", "sns"),
            sts.as_bytes(),
        ));
        let auth = format!("{ALGORITHM} Credential=AK/{scope},SignedHeaders=date;host,Signature={sig}");
        headers.insert("authorization", auth.parse().unwrap());
        let req = get_request(&uri, &headers);
        let lookup = |k: &str| (k == "AK").then(|| "s3cr3t".to_owned());
        let now = datetime!(2024-05-01 10:10:00 UTC);
        assert!(verify(&req, lookup, &["sns"], now).is_ok());
        assert_eq!(
            verify(&req, lookup, &["sns"], now + Duration::minutes(10)),
            Err(SigV4Error::Expired)
        );
    }

    #[test]
    fn oversized_authorization_and_signed_header_lists_are_malformed() {
        let uri: Uri = "/".parse().unwrap();
        let verify_with = |auth: String| {
            let mut headers = HeaderMap::new();
            headers.insert("host", "h".parse().unwrap());
            headers.insert("x-amz-date", "20240501T100000Z".parse().unwrap());
            headers.insert("authorization", auth.parse().unwrap());
            let req = get_request(&uri, &headers);
            verify(
                &req,
                |_| Some("s".to_owned()),
                &["sns"],
                datetime!(2024-05-01 10:00:00 UTC),
            )
        };
        let sig = "0".repeat(64);
        let scope = "AK/20240501/us-east-1/sns/aws4_request";
        let long = format!(
            "{ALGORITHM} Credential={scope},SignedHeaders=host,Signature={sig},X={}",
            "x".repeat(5000)
        );
        match verify_with(long) {
            Err(SigV4Error::Malformed(m)) => assert!(m.contains("longer than 4096 bytes"), "{m}"),
            other => panic!("{other:?}"),
        }
        let names: Vec<String> = (0..MAX_SIGNED_HEADERS).map(|i| format!("h{i}")).collect();
        let many = format!(
            "{ALGORITHM} Credential={scope},SignedHeaders=host;{},Signature={sig}",
            names.join(";")
        );
        match verify_with(many) {
            Err(SigV4Error::Malformed(m)) => assert!(m.contains("more than 64 headers"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn presigned_expiry_bounds() {
        let claimed = |expires| Claimed {
            access_key: String::new(),
            scope_date: String::new(),
            region: String::new(),
            service: String::new(),
            signed_headers: String::new(),
            signature: Vec::new(),
            timestamp: String::new(),
            time: datetime!(2024-05-01 10:00:00 UTC),
            expires,
        };
        let c = claimed(Some(Duration::seconds(60)));
        assert!(check_time(&c, datetime!(2024-05-01 10:01:00 UTC)).is_ok());
        assert!(check_time(&c, datetime!(2024-05-01 10:01:01 UTC)).is_err());
        assert!(check_time(&c, datetime!(2024-05-01 09:45:00 UTC)).is_ok());
        assert!(check_time(&c, datetime!(2024-05-01 09:44:59 UTC)).is_err());
    }
}
