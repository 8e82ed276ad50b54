//! The console's routes: the app's files, sign-in, and its API.
//!
//! Cross-site requests are kept out three ways: the session cookie is
//! `SameSite=Strict`; every API call but sign-in and a plain object
//! download must carry the session's CSRF token in `x-herald-csrf`
//! (a header another site's page cannot set without a CORS preflight,
//! which the console never grants); and a request whose `Origin` or
//! `Sec-Fetch-Site` says it came from another site is refused. Every
//! answer forbids framing, and API answers (object bodies included) are
//! sandboxed, so an object a tenant uploads can never run as the console.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use s3s::Body;
use serde::Deserialize;
use serde_json::json;

use crate::proxy::{self, Service};
use crate::session::{Session, same_token};
use crate::{ApiError, Backend, Console, Peer, assets};

/// The session cookie's name.
pub const COOKIE: &str = "herald_console";
/// The header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-herald-csrf";
/// Largest sign-in body.
const MAX_SIGN_IN_BODY: usize = 4096;
/// Most events or messages a view returns at once.
pub const MAX_VIEW_ITEMS: usize = 100;

const APP_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; \
                       object-src 'none'";
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

pub(crate) async fn handle(console: &Console, backend: &dyn Backend, req: Request<Body>, peer: Peer) -> Response<Body> {
    let api = req.uri().path().starts_with("/console/api/");
    let mut resp = match route(console, backend, req, peer).await {
        Ok(r) => r,
        Err(e) => error(&e),
    };
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    let csp = if api { API_CSP } else { APP_CSP };
    h.insert("content-security-policy", HeaderValue::from_static(csp));
    if api {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn route(
    console: &Console,
    backend: &dyn Backend,
    req: Request<Body>,
    peer: Peer,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if path == crate::PREFIX {
        return Ok(redirect("/console/"));
    }
    let Some(rest) = path.strip_prefix("/console/api/") else {
        if method != Method::GET && method != Method::HEAD {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the console's pages are read with GET",
            ));
        }
        return Ok(assets::serve(path.strip_prefix("/console/").unwrap_or("")));
    };
    same_site(&req)?;
    if rest == "session" && method == Method::POST {
        return sign_in(console, backend, req, peer).await;
    }
    let (session, secret) = authenticate(console, backend, &req)?;
    let download = method == Method::GET && rest.starts_with("s3/") && proxy::is_plain_download(req.uri());
    if !(download || (rest == "session" && method == Method::GET)) {
        check_csrf(&req, &session)?;
    }
    let region = console.settings.region.as_str();
    match (rest, &method) {
        ("session", &Method::GET) => Ok(json_ok(&json!({
            "user": session.user,
            "accessKey": session.access_key,
            "csrf": session.csrf,
            "region": region,
            "idleSeconds": console.sessions.limits().idle.as_secs(),
        }))),
        ("session", &Method::DELETE) => {
            console.sessions.remove(&session.id);
            let mut r = json_ok(&json!({"signedOut": true}));
            r.headers_mut()
                .insert(header::SET_COOKIE, cookie("", Duration::ZERO, secure(console, &peer)));
            Ok(r)
        }
        ("overview", &Method::GET) => {
            let figures = backend.topic_figures(Some(&session.user));
            let o = console.history.overview(&session.user, &figures);
            Ok(json_ok(&serde_json::to_value(o).unwrap_or_default()))
        }
        ("topic-events", &Method::GET) => {
            let q = Query::of(&req);
            let arn = q.required("arn")?;
            let v = backend.topic_events(&session.user, &arn, q.max(20))?;
            Ok(json_ok(&v))
        }
        ("topic-test", &Method::POST) => {
            let arn = Query::of(&req).required("arn")?;
            let _permit = console.test_events.admit(&session.user)?;
            let v = backend.test_event(&session.user, &arn).await?;
            Ok(json_ok(&v))
        }
        ("queue-peek", &Method::GET) => {
            let q = Query::of(&req);
            let url = q.required("url")?;
            let v = backend.queue_peek(&session.user, &url, q.max(10))?;
            Ok(json_ok(&v))
        }
        ("sns", _) => proxy::forward(backend, region, &session, &secret, Service::Sns, req, peer).await,
        ("sqs", _) => proxy::forward(backend, region, &session, &secret, Service::Sqs, req, peer).await,
        ("s3", _) => proxy::forward(backend, region, &session, &secret, Service::S3, req, peer).await,
        (r, _) if r.starts_with("s3/") => {
            proxy::forward(backend, region, &session, &secret, Service::S3, req, peer).await
        }
        _ => Err(ApiError::not_found("console API")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignIn {
    access_key: String,
    secret_key: String,
}

async fn sign_in(
    console: &Console,
    backend: &dyn Backend,
    req: Request<Body>,
    peer: Peer,
) -> Result<Response<Body>, ApiError> {
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "sign in with a JSON body",
        ));
    }
    let body = proxy::read_limited(req.into_body(), MAX_SIGN_IN_BODY, Duration::from_secs(10)).await?;
    let form: SignIn = serde_json::from_slice(&body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MalformedInput",
            "expected {\"accessKey\": …, \"secretKey\": …}",
        )
    })?;
    let key = printable_key(&form.access_key);
    // Checked before the key pair: from an address that keeps failing,
    // even a right guess waits (guessing stays slow). The key's owner is
    // never held up from another address.
    if let Some(wait) = console.sessions.throttled(peer.addr.ip(), &form.access_key) {
        tracing::warn!(peer = %peer.addr, access_key = %key, "console sign-in throttled");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttling",
            format!("too many failed sign-ins; try again in {} s", wait.as_secs().max(1)),
        ));
    }
    let user = backend
        .credentials(&form.access_key)
        .filter(|(_, secret)| same_token(secret, &form.secret_key))
        .map(|(user, _)| user);
    let Some(user) = user else {
        console.sessions.failed(peer.addr.ip(), &form.access_key);
        tracing::info!(peer = %peer.addr, access_key = %key, "console sign-in refused");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "the access key or secret key is wrong",
        ));
    };
    let session = console.sessions.create(&user, &form.access_key);
    tracing::info!(user, peer = %peer.addr, "console sign-in");
    let mut r = json_ok(&json!({"user": user, "csrf": session.csrf}));
    let lifetime = console.sessions.limits().lifetime;
    r.headers_mut().insert(
        header::SET_COOKIE,
        cookie(&session.id, lifetime, secure(console, &peer)),
    );
    // The console shares its origin with the S3 port. Tenant code a browser
    // kept from before the console was on (a service worker, cached pages,
    // stored data) would run unsandboxed: a sign-in clears it (browsers
    // honour this over HTTPS and on localhost).
    r.headers_mut()
        .insert("clear-site-data", HeaderValue::from_static("\"cache\", \"storage\""));
    Ok(r)
}

/// An access key id for a log line: at most 32 visible ASCII characters.
fn printable_key(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_graphic()).take(32).collect()
}

/// The session of the request's cookie, and the user's current secret key
/// (a removed or re-keyed access key ends its sessions).
fn authenticate(console: &Console, backend: &dyn Backend, req: &Request<Body>) -> Result<(Session, String), ApiError> {
    let unauthenticated = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "NotSignedIn",
            "sign in first (the session may have expired)",
        )
    };
    let id = session_cookie(req).ok_or_else(unauthenticated)?;
    let session = console.sessions.touch(&id).ok_or_else(unauthenticated)?;
    match backend.credentials(&session.access_key) {
        Some((user, secret)) if user == session.user => Ok((session, secret)),
        _ => {
            console.sessions.remove(&session.id);
            Err(unauthenticated())
        }
    }
}

/// The session id of the request's cookie. More than one `herald_console`
/// cookie (one set for a parent domain by someone else's page: "cookie
/// tossing") is refused outright rather than guessed between.
fn session_cookie(req: &Request<Body>) -> Option<String> {
    let mut ids = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
        // A malformed value (a page once set a junk cookie) is no session
        // and must not make a real one ambiguous.
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    let id = ids.next()?;
    if ids.next().is_some() {
        tracing::warn!("console request with more than one session cookie refused");
        return None;
    }
    Some(id)
}

fn check_csrf(req: &Request<Body>, session: &Session) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if same_token(given, &session.csrf) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "InvalidCsrfToken",
            "missing or wrong x-herald-csrf header",
        ))
    }
}

/// Refuses a request a browser says came from another site.
fn same_site(req: &Request<Body>) -> Result<(), ApiError> {
    let cross = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "CrossSiteRequest",
            "cross-site requests to the console are refused",
        )
    };
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
        && site != "none"
    {
        return Err(cross());
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        // The scheme is not compared: behind a proxy that ends TLS the page
        // is https while Herald sees http. Host and port must match.
        let origin_authority = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        let same = match (origin_authority, request_authority(req)) {
            (Some(o), Some(h)) => o.eq_ignore_ascii_case(&h),
            _ => false,
        };
        if !same {
            return Err(cross());
        }
    }
    Ok(())
}

/// The host (and port) a request was sent to: its `Host` header, or over
/// HTTP/2 its `:authority`.
pub fn request_authority<B>(req: &Request<B>) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// Whether the session cookie is marked `Secure`: over Herald's own TLS,
/// and always with `--console-secure-cookie` (TLS ended by a proxy in
/// front, which Herald cannot see).
fn secure(console: &Console, peer: &Peer) -> bool {
    peer.tls || console.settings.secure_cookie
}

fn cookie(id: &str, max_age: Duration, tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let v = format!(
        "{COOKIE}={id}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("herald_console=; Max-Age=0"))
}

/// A view's query parameters.
struct Query(Vec<(String, String)>);

impl Query {
    fn of(req: &Request<Body>) -> Query {
        let q = req.uri().query().unwrap_or("");
        Query(form_urlencoded::parse(q.as_bytes()).into_owned().take(16).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &str) -> Result<String, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty() && v.len() <= 2048)
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "MissingParameter",
                    format!("missing parameter {name}"),
                )
            })
    }

    /// `max`, between 1 and [`MAX_VIEW_ITEMS`].
    fn max(&self, default: usize) -> usize {
        self.get("max")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(default)
            .clamp(1, MAX_VIEW_ITEMS)
    }
}

fn json_ok(v: &serde_json::Value) -> Response<Body> {
    json_response(StatusCode::OK, v)
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::from(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(crate) fn error(e: &ApiError) -> Response<Body> {
    json_response(e.status, &json!({"error": {"code": e.code, "message": e.message}}))
}

fn redirect(to: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    r
}
