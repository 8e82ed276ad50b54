//! AWS JSON 1.0, the protocol of current SDKs and the AWS CLI: `POST` with
//! `X-Amz-Target: AmazonSQS.<Operation>`, a JSON document in, a JSON
//! document out (`application/x-amz-json-1.0`). The request document is
//! already the protocol-neutral input the operations take, so this module is
//! only framing: target, auth, parse, and the error envelope.

use bytes::Bytes;
use herald_model::json_shape::{JsonError, SQS_REQUEST_LIMITS, parse_limited};
use herald_queue::QueueEngine;
use herald_store::Store;
use http::{HeaderValue, Request, Response, StatusCode};
use s3s::Body;
use serde_json::{Value, json};

use super::{ACTIONS, Ctx, SqsError};
use crate::front::RequestMeta;

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// The `X-Amz-Target` prefix of SQS operations.
pub const TARGET_PREFIX: &str = "AmazonSQS.";

/// Handles one JSON-protocol request whose body has been read. Any request
/// carrying `X-Amz-Target` comes here (S3 never sends one), so a target for
/// another service gets a JSON `UnknownOperationException` rather than an
/// S3 error it could not parse.
pub async fn handle(
    engine: &QueueEngine,
    store: &Store,
    req: Request<()>,
    body: Bytes,
    meta: RequestMeta,
) -> Response<Body> {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let result = run(engine, store, &req, &body, &meta, &target).await;
    match result {
        Ok(v) => ok(&v, &meta.request_id),
        Err(e) => {
            super::log_error(&e, &target);
            error(&e, &meta.request_id)
        }
    }
}

async fn run(
    engine: &QueueEngine,
    store: &Store,
    req: &Request<()>,
    body: &[u8],
    meta: &RequestMeta,
    target: &str,
) -> Result<Value, SqsError> {
    let action = match target.strip_prefix(TARGET_PREFIX) {
        Some(a) if ACTIONS.contains(&a) => a,
        _ => {
            return Err(SqsError::common(
                "UnknownOperationException",
                format!("The operation {target:?} is not supported by this endpoint."),
                StatusCode::BAD_REQUEST,
            ));
        }
    };
    // Authentication before parsing: an unauthenticated caller learns
    // nothing about what the server would make of its body.
    let user = super::authenticate(store, req, body)?;
    let input: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        // Depth and value count are checked before serde_json builds
        // anything (see `herald_model::json_shape`); the message names
        // the limit.
        parse_limited(body, SQS_REQUEST_LIMITS).map_err(|e| {
            let message = match e {
                JsonError::Syntax(e) => format!("The request body is not valid JSON: {e}"),
                JsonError::Shape(e) => format!("The request body is refused: {e}."),
            };
            SqsError::common("SerializationException", message, StatusCode::BAD_REQUEST)
        })?
    };
    if !input.is_object() {
        return Err(SqsError::common(
            "SerializationException",
            "The request body must be a JSON object.",
            StatusCode::BAD_REQUEST,
        ));
    }
    let ctx = Ctx {
        engine,
        user,
        base_url: super::base_url(req, meta),
        path_queue: None,
        action: action.to_owned(),
        conn: meta.conn,
    };
    super::call(&ctx, action, &input).await
}

fn response(status: StatusCode, body: String, request_id: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Some(v) = super::request_id_header(request_id) {
        // botocore and the SDKs read the request id from this header in the
        // JSON protocol (there is no ResponseMetadata element).
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

fn ok(v: &Value, request_id: &str) -> Response<Body> {
    response(StatusCode::OK, v.to_string(), request_id)
}

/// `{"__type": ..., "message": ...}` plus `x-amzn-query-error`, which is
/// what the SDKs actually match on (see [`SqsError`]).
pub fn error(e: &SqsError, request_id: &str) -> Response<Body> {
    let body = json!({ "__type": e.json_type, "message": e.message }).to_string();
    let mut r = response(e.status, body, request_id);
    if let Ok(v) = HeaderValue::from_str(&e.query_error_header()) {
        r.headers_mut().insert("x-amzn-query-error", v);
    }
    r
}
