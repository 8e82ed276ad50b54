//! CORS: Put/Get/DeleteBucketCors, the preflight `OPTIONS` a browser sends
//! before a cross-origin request, and the `Access-Control-*` headers on the
//! answers to requests that carry an `Origin` (matching rules are in
//! `herald_model::cors`).
//!
//! A preflight is unauthenticated by design (a browser sends no
//! credentials with it); it tells only what the bucket's owner published
//! for that origin. Requests without `Origin` (every SDK, the CLI) never
//! look the rules up.

use herald_model::cors::{self, CorsRule};
use herald_store::Store;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use s3s::dto::*;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};

use super::{HeraldS3, StoreResultExt, ok};
use crate::host::HeraldHost;

/// Request headers a preflight may list (`Access-Control-Request-Headers`).
const MAX_REQUEST_HEADERS: usize = 64;

fn rule_dto(r: &CorsRule) -> CORSRule {
    CORSRule {
        id: r.id.clone(),
        allowed_methods: r.allowed_methods.clone(),
        allowed_origins: r.allowed_origins.clone(),
        allowed_headers: (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
        expose_headers: (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
        max_age_seconds: r.max_age_seconds,
    }
}

pub async fn put_bucket_cors(
    s3: &HeraldS3,
    req: S3Request<PutBucketCorsInput>,
) -> S3Result<S3Response<PutBucketCorsOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let rules: Vec<CorsRule> = req
        .input
        .cors_configuration
        .cors_rules
        .into_iter()
        .map(|r| CorsRule {
            id: r.id,
            allowed_methods: r.allowed_methods,
            allowed_origins: r.allowed_origins,
            allowed_headers: r.allowed_headers.unwrap_or_default(),
            expose_headers: r.expose_headers.unwrap_or_default(),
            max_age_seconds: r.max_age_seconds,
        })
        .collect();
    cors::validate(&rules).map_err(|e| s3_error!(MalformedXML, "{e}"))?;
    s3.store
        .update_bucket_access(&bucket, move |rec| {
            rec.cors = Some(rules);
            Ok(())
        })
        .await
        .s3()?;
    ok(PutBucketCorsOutput::default())
}

pub async fn get_bucket_cors(
    s3: &HeraldS3,
    req: S3Request<GetBucketCorsInput>,
) -> S3Result<S3Response<GetBucketCorsOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    let Some(rules) = &bucket.cors else {
        return Err(s3_error!(
            NoSuchCORSConfiguration,
            "The CORS configuration does not exist"
        ));
    };
    ok(GetBucketCorsOutput {
        cors_rules: Some(rules.iter().map(rule_dto).collect()),
    })
}

pub async fn delete_bucket_cors(
    s3: &HeraldS3,
    req: S3Request<DeleteBucketCorsInput>,
) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
    let bucket = s3.granted_bucket(&req.extensions, &req.input.bucket)?;
    s3.store
        .update_bucket_access(&bucket, |rec| {
            rec.cors = None;
            Ok(())
        })
        .await
        .s3()?;
    let mut resp = S3Response::new(DeleteBucketCorsOutput::default());
    resp.status = Some(StatusCode::NO_CONTENT);
    Ok(resp)
}

/// The bucket a request addresses (virtual-host or path style).
fn bucket_of<'a>(host: &HeraldHost, headers: &'a HeaderMap, path: &'a str) -> Option<&'a str> {
    let host_header = headers.get(http::header::HOST).and_then(|h| h.to_str().ok());
    if let Some(b) = host_header.and_then(|h| host.bucket_of(h)) {
        return Some(b);
    }
    let first = path.trim_start_matches('/').split('/').next()?;
    (!first.is_empty()).then_some(first)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
}

/// The bucket's rules, if it exists and has some.
fn rules_of(store: &Store, bucket: &str) -> Option<Vec<CorsRule>> {
    store.get_bucket(bucket).ok().flatten().and_then(|b| b.cors)
}

/// Adds the headers of a matched rule.
fn allow(out: &mut HeaderMap, rule: &CorsRule, origin: &str, preflight_headers: Option<&str>) {
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    put("access-control-allow-origin", rule.allow_origin_value(origin));
    put("access-control-allow-methods", &rule.allow_methods_value());
    if !rule.expose_headers.is_empty() {
        put("access-control-expose-headers", &rule.expose_headers.join(", "));
    }
    if let Some(h) = preflight_headers {
        put("access-control-allow-headers", h);
    }
    if let Some(age) = rule.max_age_seconds {
        put("access-control-max-age", &age.to_string());
    }
    if rule.allow_origin_value(origin) != "*" {
        put(
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
}

fn error(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    crate::front::error_xml(status, code, message)
}

/// Answers a preflight `OPTIONS` request: 200 with the `Access-Control-*`
/// headers of the first rule that allows the origin, the announced method
/// and every announced header; 403 when none does or the bucket has no
/// rules; 400 when it is no preflight (no `Origin` or no
/// `Access-Control-Request-Method`).
pub(crate) fn preflight(store: &Store, host: &HeraldHost, headers: &HeaderMap, path: &str) -> Response<Body> {
    let (Some(origin), Some(method)) = (
        header(headers, "origin"),
        header(headers, "access-control-request-method"),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Insufficient information. Origin request header needed.",
        );
    };
    let Some(bucket) = bucket_of(host, headers, path) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "A preflight request names a bucket.",
        );
    };
    let asked = header(headers, "access-control-request-headers");
    let requested: Vec<&str> = asked
        .map(|h| h.split(',').map(str::trim).filter(|h| !h.is_empty()).collect())
        .unwrap_or_default();
    if requested.len() > MAX_REQUEST_HEADERS {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Too many Access-Control-Request-Headers.",
        );
    }
    let Some(rules) = rules_of(store, bucket) else {
        return error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: CORS is not enabled for this bucket.",
        );
    };
    match cors::find_rule(&rules, origin, method, &requested) {
        Some(rule) => {
            let mut resp = Response::new(Body::empty());
            allow(resp.headers_mut(), rule, origin, asked);
            resp
        }
        None => error(
            StatusCode::FORBIDDEN,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed.",
        ),
    }
}

/// What [`decorate`] needs of a request, taken before it is consumed.
pub(crate) struct CorsAsk {
    bucket: String,
    origin: String,
    method: String,
}

impl CorsAsk {
    /// `Some` for a request with an `Origin` to a bucket (the only ones
    /// whose answers get CORS headers).
    pub(crate) fn of(host: &HeraldHost, method: &Method, headers: &HeaderMap, path: &str) -> Option<CorsAsk> {
        let origin = header(headers, "origin")?;
        let bucket = bucket_of(host, headers, path)?;
        // Ceph (and s3-tests) take the method a request announces, else
        // its own.
        let method = header(headers, "access-control-request-method").unwrap_or(method.as_str());
        Some(CorsAsk {
            bucket: bucket.to_owned(),
            origin: origin.to_owned(),
            method: method.to_owned(),
        })
    }
}

/// Adds the `Access-Control-*` headers of the first matching rule to an
/// answer (errors too: a browser needs them to read a 404).
pub(crate) fn decorate(store: &Store, ask: &CorsAsk, resp: &mut Response<Body>) {
    let Some(rules) = rules_of(store, &ask.bucket) else {
        return;
    };
    if let Some(rule) = cors::find_rule(&rules, &ask.origin, &ask.method, &[]) {
        allow(resp.headers_mut(), rule, &ask.origin, None);
    }
}
