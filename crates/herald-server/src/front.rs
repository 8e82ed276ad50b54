//! Request dispatch in front of `s3s`: operational endpoints, request ids,
//! metrics, and AWS-style errors for anything that goes wrong.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use herald_store::Store;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use s3s::Body;
use s3s::service::{S3Service, S3ServiceBuilder};

use crate::ServerConfig;
use crate::body_limit;
use crate::conn::{Activity, InFlight};
use crate::console::is_console;
use crate::host::HeraldHost;
use crate::metrics::Metrics;
use crate::metrics_port::{MetricsDetail, render_metrics};
use crate::notify::Notifier;
use crate::s3::notification::NotificationRoute;
use crate::s3::{HeraldS3, StoreAuth};
use crate::stall::FrontBody;

/// Facts about the connection a request came on, put in the request's
/// extensions for the operations that need them (source IP in events,
/// HTTPS-only secrets).
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub tls: bool,
}

/// What every handler may want to know about its request: the id it is
/// answered with (and that events carry) and the connection.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub conn: ConnInfo,
}

pub(crate) struct Front {
    s3: S3Service,
    /// Gateway mode's S3 service (its intents are settled at start).
    gateway: Option<crate::gateway::Gateway>,
    /// The web console under `/console/`, unless `--no-console`.
    console: Option<Arc<herald_console::Console>>,
    /// The S3 access decision, for the other front ends (SFTP).
    pub(crate) decider: crate::s3::access::AccessDecider,
    pub(crate) store: Store,
    pub(crate) notifier: Arc<Notifier>,
    /// The SQS queues (`crate::sqs`).
    pub(crate) queues: herald_queue::QueueEngine,
    pub(crate) metrics: Metrics,
    /// One permit per open connection of the S3 port (held by the server's
    /// accept loop); read for the connection gauges.
    pub(crate) connections: Arc<tokio::sync::Semaphore>,
    pub(crate) max_connections: usize,
    /// Whether SigV2-signed S3 requests are served.
    allow_sigv2: bool,
    /// How long a request body may send nothing (see [`crate::stall`]).
    stall_timeout: std::time::Duration,
    /// Request ids: a per-process random prefix and a counter, unique and
    /// cheap (no syscall per request).
    id_prefix: String,
    next_id: AtomicU64,
    /// Bucket names in `Host` headers (for CORS, decided before s3s).
    host: HeraldHost,
    /// Form uploads in progress (s3s holds each one's file in memory).
    form_uploads: Arc<tokio::sync::Semaphore>,
    /// Cluster mode's state, for `/metrics`.
    pub(crate) cluster: std::sync::OnceLock<Arc<dyn crate::ClusterStatus>>,
}

impl Front {
    pub(crate) fn new(
        store: Store,
        notifier: Arc<Notifier>,
        queues: herald_queue::QueueEngine,
        cfg: &ServerConfig,
        connections: Arc<tokio::sync::Semaphore>,
    ) -> Front {
        let s3 = HeraldS3::new(store.clone(), cfg.region.clone(), notifier.clone())
            .with_sigv2(cfg.allow_sigv2)
            .with_objects_upstream(cfg.upstream.is_some());
        let s3_for_decider = s3.clone();
        let gateway = cfg
            .upstream
            .as_ref()
            .map(|up| crate::gateway::Gateway::new(s3.clone(), up, connections.available_permits()));
        let mut builder = match &gateway {
            Some(gw) => S3ServiceBuilder::new(gw.clone()),
            None => S3ServiceBuilder::new(s3.clone()),
        };
        builder.set_config(s3_config());
        builder.set_auth(StoreAuth(store.clone()));
        builder.set_access(crate::s3::access::HeraldAccess(s3.clone()));
        builder.set_host(HeraldHost::new(cfg.domains.clone()));
        builder.set_route(crate::s3::listen::HeraldRoutes {
            notification: NotificationRoute {
                s3: s3.clone(),
                host: HeraldHost::new(cfg.domains.clone()),
            },
            listen: crate::s3::listen::ListenRoute {
                s3,
                host: HeraldHost::new(cfg.domains.clone()),
            },
        });
        let mut prefix = [0u8; 4];
        rand_fill(&mut prefix);
        Front {
            s3: builder.build(),
            console: cfg.console.clone().map(herald_console::Console::new),
            gateway,
            decider: crate::s3::access::AccessDecider(s3_for_decider),
            store,
            notifier,
            queues,
            metrics: Metrics::default(),
            max_connections: connections.available_permits(),
            connections,
            allow_sigv2: cfg.allow_sigv2,
            stall_timeout: cfg.connections.stall_timeout,
            id_prefix: hex::encode_upper(prefix),
            next_id: AtomicU64::new(1),
            host: HeraldHost::new(cfg.domains.clone()),
            form_uploads: Arc::new(tokio::sync::Semaphore::new(MAX_FORM_UPLOADS)),
            cluster: std::sync::OnceLock::new(),
        }
    }

    /// The console, for its sampler (see [`crate::Server::bind`]).
    pub(crate) fn console(&self) -> Option<&Arc<herald_console::Console>> {
        self.console.as_ref()
    }

    /// Gateway mode's S3 service, if the server is a gateway.
    pub(crate) fn gateway(&self) -> Option<&crate::gateway::Gateway> {
        self.gateway.as_ref()
    }

    /// Bucket names in `Host` headers.
    pub(crate) fn host(&self) -> &HeraldHost {
        &self.host
    }

    pub(crate) fn next_request_id(&self) -> String {
        self.request_id()
    }

    fn request_id(&self) -> String {
        format!(
            "{}{:012X}",
            self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// `s3s`'s settings, with the clock-skew allowance spelled out rather than
/// left to its default: SigV4 header signatures and presigned URLs dated in
/// the future get the same 15 minutes as SNS and SQS.
/// The most bytes of an S3 XML request body (see [`s3_config`]).
pub const MAX_S3_XML_BODY: usize = 8 * 1024 * 1024;

/// The largest file a browser form upload (POST object) may carry.
pub const MAX_POST_OBJECT_BYTES: u64 = 16 * 1024 * 1024;
/// Form uploads served at once; more wait for none and get `503
/// SlowDown`. With [`MAX_POST_OBJECT_BYTES`] this bounds what forms can
/// make Herald hold (128 MiB), whatever the number of connections.
pub const MAX_FORM_UPLOADS: usize = 8;

fn s3_config() -> Arc<s3s::config::StaticConfigProvider> {
    let mut config = s3s::config::S3Config::default();
    config.presigned_url_max_skew_time_secs = crate::s3::signing::MAX_CLOCK_SKEW.whole_seconds() as u32;
    // The largest XML body S3 itself needs: DeleteObjects with 1000 keys of
    // 1024 bytes that XML escaping may inflate, CompleteMultipartUpload with
    // 10,000 parts. s3s's 20 MB default would let one request make it hold
    // 20 MB (and its parse) per connection, e.g. an ACL of a million grants.
    config.xml_max_body_size = MAX_S3_XML_BODY;
    // POST object (browser form uploads): s3s reads the whole file part
    // into memory, before any access decision, to check the policy's
    // content-length-range. Its 5 GB default would let one unauthenticated
    // request make Herald hold 5 GB; larger files go through PUT or
    // multipart uploads, which stream.
    config.post_object_max_file_size = MAX_POST_OBJECT_BYTES;
    config.form_max_field_size = 64 * 1024;
    config.form_max_fields_size = 256 * 1024;
    config.form_max_parts = 256;
    Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(config)))
}

fn rand_fill(buf: &mut [u8]) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64
        ^ (std::process::id() as u64).rotate_left(32);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (nanos >> (i * 8)) as u8;
    }
}

/// The per-connection hyper service.
#[derive(Clone)]
pub(crate) struct FrontService {
    state: Arc<Front>,
    info: ConnInfo,
    /// The connection's request bookkeeping, for its idle timeout.
    activity: Arc<Activity>,
}

pub(crate) fn service(state: Arc<Front>, info: ConnInfo, activity: Arc<Activity>) -> FrontService {
    FrontService { state, info, activity }
}

impl hyper::service::Service<Request<Incoming>> for FrontService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let (state, info) = (self.state.clone(), self.info);
        let busy: InFlight = self.activity.begin();
        Box::pin(async move {
            let resp = handle(&state, info, req).await;
            Ok(crate::conn::hold_while_streaming(resp, busy))
        })
    }
}

/// Whether a request carries AWS credentials (header or presigned query).
pub(crate) fn is_signed<B>(req: &Request<B>) -> bool {
    req.headers().contains_key(http::header::AUTHORIZATION)
        || req
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-Signature=") || q.contains("Signature="))
}

pub(crate) async fn handle<B: FrontBody>(state: &Front, info: ConnInfo, req: Request<B>) -> Response<Body> {
    let started = Instant::now();
    // A console call made in-process is counted once, as the browser's
    // request that carried it.
    let counted = req.extensions().get::<crate::console::InternalCall>().is_none();
    if counted {
        state.metrics.request_started();
    }
    let request_id = state.request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();

    let mut resp = if is_console(state, &req) {
        let console = state.console.clone().expect("checked by is_console");
        let peer = herald_console::Peer {
            addr: info.peer,
            tls: info.tls,
        };
        console.handle(state, req.map(FrontBody::whole), peer).await
    } else if !is_signed(&req) && method == Method::GET && path == "/health" {
        text(StatusCode::OK, "ok\n")
    } else if !is_signed(&req) && method == Method::GET && path == "/metrics" {
        text(StatusCode::OK, &render_metrics(state, MetricsDetail::Aggregate))
    // ---- SQS / SNS dispatch (SQS issue) --------------------------------
    } else if is_sqs_json(&req) {
        let meta = RequestMeta {
            request_id: request_id.clone(),
            conn: info,
        };
        let (parts, body) = req.into_parts();
        let limit = body_limit::sqs_json(&parts, &state.store);
        match read_body(&parts, body, limit, state.stall_timeout).await {
            Ok(body) => {
                let req = Request::from_parts(parts, ());
                crate::sqs::handle_json(&state.queues, &state.store, req, body, meta).await
            }
            Err(BodyError::TooLarge) => crate::sqs::json::error(&sqs_too_large(limit), &request_id),
            Err(BodyError::Stalled) => crate::sqs::json::error(&sqs_stalled(state.stall_timeout), &request_id),
            Err(BodyError::Broken) => aborted(),
        }
    } else if let Some(root) = query_api_target(&req) {
        let meta = RequestMeta {
            request_id: request_id.clone(),
            conn: info,
        };
        let (parts, body) = req.into_parts();
        let limit = body_limit::query(&parts, &state.store, crate::sns::MAX_BODY);
        match read_body(&parts, body, limit, state.stall_timeout).await {
            Ok(body) => {
                match query_api_service(root, &parts, &body) {
                    QueryService::Sns if body.len() > crate::sns::MAX_BODY => crate::sns::error_response(
                        &crate::sns::SnsError {
                            code: "RequestEntityTooLarge",
                            message: format!("the request body is larger than {} bytes", crate::sns::MAX_BODY),
                            status: StatusCode::PAYLOAD_TOO_LARGE,
                        },
                        &request_id,
                    ),
                    QueryService::Sns => {
                        crate::sns::handle(
                            &state.notifier,
                            Request::from_parts(parts, ()),
                            body,
                            meta,
                            state.allow_sigv2,
                        )
                        .await
                    }
                    QueryService::Sqs if body.len() > sqs_query_limit(&body) => {
                        crate::sqs::query::error(&sqs_too_large(sqs_query_limit(&body)), &request_id)
                    }
                    QueryService::Sqs => {
                        let req = Request::from_parts(parts, ());
                        crate::sqs::handle_query(&state.queues, &state.store, req, body, meta).await
                    }
                    // A form POST to `/<a>/<b>` without an `Action` is not
                    // ours: S3 answers it, with the body we already read.
                    QueryService::S3 => {
                        call_s3(state, info, &request_id, Request::from_parts(parts, Body::from(body))).await
                    }
                }
            }
            Err(BodyError::TooLarge) => query_too_large(&parts, limit, &request_id),
            Err(BodyError::Stalled) => query_stalled(&parts, state.stall_timeout, &request_id),
            Err(BodyError::Broken) => aborted(),
        }
    } else if is_sqs_query_get(&req) {
        let meta = RequestMeta {
            request_id: request_id.clone(),
            conn: info,
        };
        let (parts, _) = req.into_parts();
        crate::sqs::handle_query(
            &state.queues,
            &state.store,
            Request::from_parts(parts, ()),
            Bytes::new(),
            meta,
        )
        .await
    // ---- end SQS / SNS dispatch -----------------------------------------
    } else {
        let stall = state.stall_timeout;
        call_s3(state, info, &request_id, req.map(|b| b.guarded(stall))).await
    };

    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v);
    }
    let status = resp.status();
    if status.is_client_error() || status.is_server_error() {
        resp = with_request_id(resp, &request_id).await;
    }
    if counted {
        state.metrics.request_finished(status.as_u16(), started.elapsed());
    }
    tracing::debug!(%method, %path, status = status.as_u16(), request_id, peer = %info.peer, "request");
    resp
}

async fn call_s3(state: &Front, info: ConnInfo, request_id: &str, req: Request<Body>) -> Response<Body> {
    // A browser's CORS preflight: unsigned, answered from the bucket's rules.
    if req.method() == Method::OPTIONS {
        return crate::s3::cors::preflight(&state.store, &state.host, req.headers(), req.uri().path());
    }
    if state.console.is_some() && req.headers().contains_key("service-worker") {
        return crate::console::no_service_workers();
    }
    let cors = crate::s3::cors::CorsAsk::of(&state.host, req.method(), req.headers(), req.uri().path());
    let mut resp = call_s3_signed(state, info, request_id, req).await;
    if let Some(ask) = &cors {
        crate::s3::cors::decorate(&state.store, ask, &mut resp);
    }
    if state.console.is_some() {
        crate::console::sandbox_tenant_content(&mut resp);
    }
    resp
}

async fn call_s3_signed(state: &Front, info: ConnInfo, request_id: &str, mut req: Request<Body>) -> Response<Body> {
    let now = time::OffsetDateTime::now_utc();
    if let Err(r) = crate::s3::signing::check(req.headers(), req.uri(), state.allow_sigv2, now) {
        return error_xml(r.status, r.code, &r.message);
    }
    if declares_oversized_config_body(&req) {
        return error_xml(
            StatusCode::BAD_REQUEST,
            "MaxMessageLengthExceeded",
            &format!("Your request was too big: configuration bodies are limited to {MAX_S3_XML_BODY} bytes."),
        );
    }
    req.extensions_mut().insert(info);
    req.extensions_mut().insert(RequestMeta {
        request_id: request_id.to_owned(),
        conn: info,
    });
    let form_upload = req.method() == Method::POST
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
    // Cheapest test first: most GETs have no query at all.
    let attributes = req.method() == Method::GET
        && req
            .uri()
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "attributes"))
        && names_object(&state.host, req.headers(), req.uri().path());
    let _form_permit = if form_upload {
        match state.form_uploads.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                return error_xml(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SlowDown",
                    &format!("Too many form uploads in progress (at most {MAX_FORM_UPLOADS}); retry later."),
                );
            }
        }
    } else {
        None
    };
    match state.s3.call(req).await {
        Ok(r) if attributes && r.status() == StatusCode::OK => unquoted_attributes_etag(r).await,
        Ok(r) if form_upload && r.status() == StatusCode::BAD_REQUEST => policy_condition_denied(r).await,
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = ?e, "s3 service failed");
            error_xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

/// Whether an S3 request whose body is a configuration document (XML or
/// a JSON policy, not object data) declares more than [`MAX_S3_XML_BODY`].
/// `s3s` refuses such a body only once it has read that much, and then
/// with a 500; this answers 400 from the head alone.
fn declares_oversized_config_body<B>(req: &Request<B>) -> bool {
    const CONFIG_SUBRESOURCES: &[&str] = &[
        "acl",
        "policy",
        "tagging",
        "delete",
        "notification",
        "versioning",
        "ownershipControls",
        "publicAccessBlock",
        "cors",
        "lifecycle",
        "website",
        "encryption",
        "object-lock",
        "legal-hold",
        "retention",
        "replication",
        "logging",
        "requestPayment",
        "accelerate",
        "restore",
    ];
    if !matches!(*req.method(), Method::PUT | Method::POST) {
        return false;
    }
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_none_or(|n| n <= MAX_S3_XML_BODY as u64) {
        return false;
    }
    let query = req.uri().query().unwrap_or("");
    let names = query.split('&').map(|p| p.split_once('=').map_or(p, |(k, _)| k));
    let mut is_config = false;
    for name in names {
        match name {
            // An upload's part or a multipart completion (POST ?uploadId):
            // only the completion is a document.
            "partNumber" => return false,
            "uploadId" if *req.method() == Method::POST => is_config = true,
            n if CONFIG_SUBRESOURCES.contains(&n) => is_config = true,
            _ => {}
        }
    }
    is_config
}

// ---- SQS / SNS request classification (SQS issue) -----------------------

/// An AWS JSON 1.0 call: a POST with `X-Amz-Target`. S3 never sends that
/// header, so every such request goes to the SQS module, which answers a
/// target it does not serve with a JSON `UnknownOperationException`.
fn is_sqs_json<B>(req: &Request<B>) -> bool {
    req.method() == Method::POST && req.headers().contains_key("x-amz-target")
}

fn is_form<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// Whether a request may be an AWS query-protocol call (SNS or SQS): a
/// form-encoded POST to the root (`Some(true)`), or to a queue URL path
/// `/<owner>/<queue>` without a query string (`Some(false)`), where old SQS
/// clients post. S3 sends no form-encoded POST to the root; its POSTs to an
/// object path always carry a sub-resource query (`?uploads`,
/// `?uploadId=`, `?restore`, `?select`), and one that does not is handed
/// back to S3 when its body has no `Action`.
fn query_api_target<B>(req: &Request<B>) -> Option<bool> {
    if req.method() != Method::POST || !is_form(req) {
        return None;
    }
    let path = req.uri().path();
    if path == "/" {
        Some(true)
    } else if req.uri().query().is_none() && crate::sqs::path_queue(path).is_some() {
        Some(false)
    } else {
        None
    }
}

enum QueryService {
    Sns,
    Sqs,
    S3,
}

/// Who answers a form POST, decided by its `Action`. An action neither API
/// knows goes by the signature's credential scope, so an SNS client calling
/// an SNS action Herald lacks gets SNS's `InvalidAction`, not an SQS
/// signature error.
fn query_api_service(root: bool, parts: &http::request::Parts, body: &[u8]) -> QueryService {
    let action = form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.into_owned());
    match action.as_deref() {
        None if !root => QueryService::S3,
        Some(a) if root && crate::sns::ACTIONS.contains(&a) => QueryService::Sns,
        Some(a) if crate::sqs::ACTIONS.contains(&a) => QueryService::Sqs,
        _ if !root => QueryService::Sqs,
        _ => {
            if signed_for(parts, "sqs") {
                QueryService::Sqs
            } else {
                QueryService::Sns
            }
        }
    }
}

/// Whether the `Authorization` header's credential scope names `service`.
fn signed_for(parts: &http::request::Parts, service: &str) -> bool {
    parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(&format!("/{service}/aws4_request")))
}

/// The rare GET form of the SQS query protocol: `GET /?Action=SendMessage&...`
/// (or on a queue URL path). Only SQS actions qualify, so S3 GETs are never
/// captured.
fn is_sqs_query_get<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET
        && (req.uri().path() == "/" || crate::sqs::path_queue(req.uri().path()).is_some())
        && req.uri().query().is_some_and(|q| {
            form_urlencoded::parse(q.as_bytes())
                .any(|(k, v)| k == "Action" && crate::sqs::ACTIONS.contains(&v.as_ref()))
        })
}

/// Why a request body could not be read.
enum BodyError {
    /// Over its limit (declared or sent).
    TooLarge,
    /// Nothing arrived for the stall timeout.
    Stalled,
    /// The client went away or sent a broken body.
    Broken,
}

/// Reads a request body of at most `limit` bytes. A declared
/// `Content-Length` over the limit is refused before a byte is read; a
/// body without one is cut off at the limit; a body that sends nothing
/// for `stall` is abandoned (see [`crate::stall`]).
async fn read_body<B: FrontBody>(
    parts: &http::request::Parts,
    body: B,
    limit: usize,
    stall: std::time::Duration,
) -> Result<Bytes, BodyError> {
    if body_limit::declared_length(parts).is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let guarded = crate::stall::StallGuardBody::new(body, stall);
    match http_body_util::Limited::new(guarded, limit).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(e) if crate::stall::is_stall(e.as_ref()) => Err(BodyError::Stalled),
        Err(_) => Err(BodyError::Broken),
    }
}

/// The answer to a request whose body broke off: nobody is left to read
/// it, and hyper closes the connection.
fn aborted() -> Response<Body> {
    text(StatusCode::BAD_REQUEST, "incomplete request body\n")
}

/// The limit of the SQS query-protocol action in `body` (known only once
/// the body is read; the front's first limit is the largest any action has).
fn sqs_query_limit(body: &[u8]) -> usize {
    let action = form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v);
    body_limit::sqs_action(action.as_deref().unwrap_or(""))
}

fn sqs_too_large(limit: usize) -> crate::sqs::SqsError {
    crate::sqs::SqsError::common(
        "RequestEntityTooLarge",
        format!("the request body is larger than {limit} bytes, the most this request may send"),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
}

fn sqs_stalled(stall: std::time::Duration) -> crate::sqs::SqsError {
    crate::sqs::SqsError::common(
        "RequestTimeout",
        crate::stall::BodyStalled(stall).to_string(),
        StatusCode::REQUEST_TIMEOUT,
    )
}

/// A query-protocol body that stalled, answered in the dialect of the
/// service the signature names (SNS or, by default, SQS).
fn query_stalled(parts: &http::request::Parts, stall: std::time::Duration, request_id: &str) -> Response<Body> {
    if signed_for(parts, "sns") {
        crate::sns::error_response(
            &crate::sns::SnsError {
                code: "RequestTimeout",
                message: crate::stall::BodyStalled(stall).to_string(),
                status: StatusCode::REQUEST_TIMEOUT,
            },
            request_id,
        )
    } else {
        crate::sqs::query::error(&sqs_stalled(stall), request_id)
    }
}

/// A query-protocol body over its limit, answered in the dialect of the
/// service the signature names (SNS or, by default, SQS).
fn query_too_large(parts: &http::request::Parts, limit: usize, request_id: &str) -> Response<Body> {
    if signed_for(parts, "sns") {
        crate::sns::error_response(
            &crate::sns::SnsError {
                code: "RequestEntityTooLarge",
                message: format!("the request body is larger than {limit} bytes, the most this request may send"),
                status: StatusCode::PAYLOAD_TOO_LARGE,
            },
            request_id,
        )
    } else {
        crate::sqs::query::error(&sqs_too_large(limit), request_id)
    }
}

// ---- end SQS / SNS request classification -------------------------------

/// The whole body of one of our own answers (small XML documents), for
/// the rewrites below.
async fn answer_bytes(body: Body) -> Bytes {
    body.collect().await.map(|b| b.to_bytes()).unwrap_or_default()
}

/// Whether a request's path names an object (not only a bucket), in
/// virtual-host or path style.
fn names_object(host: &HeraldHost, headers: &http::HeaderMap, path: &str) -> bool {
    let host_style = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| host.bucket_of(h))
        .is_some();
    let path = path.trim_start_matches('/');
    if host_style {
        !path.is_empty()
    } else {
        path.split_once('/').is_some_and(|(_, key)| !key.is_empty())
    }
}

/// GetObjectAttributes answers its `<ETag>` without quotes on S3 (every
/// other ETag is quoted); `s3s` quotes them all, so the quotes are taken
/// off here. The document is small (at most 1000 parts).
async fn unquoted_attributes_etag(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let bytes = answer_bytes(body).await;
    let text = String::from_utf8_lossy(&bytes)
        .replacen("<ETag>\"", "<ETag>", 1)
        .replacen("\"</ETag>", "</ETag>", 1);
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// A form upload whose fields break a condition of its policy is refused
/// with `403 AccessDenied` on S3 and Ceph ("Invalid according to Policy");
/// s3s answers `400 InvalidPolicyDocument`, which S3 keeps for documents
/// that do not parse.
async fn policy_condition_denied(resp: Response<Body>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    let bytes = answer_bytes(body).await;
    let text = String::from_utf8_lossy(&bytes);
    if !(text.contains("<Code>InvalidPolicyDocument</Code>") && text.contains("condition")) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let text = text
        .replacen("<Code>InvalidPolicyDocument</Code>", "<Code>AccessDenied</Code>", 1)
        .replacen("<Message>", "<Message>Invalid according to Policy: ", 1);
    parts.status = StatusCode::FORBIDDEN;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(text))
}

/// Makes sure an XML error body carries its `RequestId`, as AWS's do
/// (errors raised inside `s3s` itself, such as signature failures, lack it).
async fn with_request_id(resp: Response<Body>, request_id: &str) -> Response<Body> {
    let is_xml = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("xml"));
    if !is_xml {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = answer_bytes(body).await;
    let text = String::from_utf8_lossy(&bytes);
    let out = if !text.contains("<RequestId>") && text.contains("</Error>") {
        text.replacen("</Error>", &format!("<RequestId>{request_id}</RequestId></Error>"), 1)
    } else {
        text.into_owned()
    };
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

pub(crate) fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

/// An S3-format error Herald answers before s3s sees the request.
pub(crate) fn error_xml(status: StatusCode, code: &'static str, message: &str) -> Response<Body> {
    crate::error::s3_response(&crate::error::S3WireError {
        status,
        code,
        message: message.to_owned(),
    })
}
