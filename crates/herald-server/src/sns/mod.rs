//! The SNS-compatible topic API (Ceph semantics) on the S3 port.
//!
//! Requests are form-encoded POSTs with an `Action`; they are told apart
//! from S3 before `s3s` sees them, so their SigV4 signature (service `sns`)
//! is checked here with `herald-sigv4`.

pub mod policy;
mod replay;
mod topics;
pub mod xml;

pub use topics::{make_arn, parse_arn};

use std::sync::Arc;

use bytes::Bytes;
use herald_model::query::{ParamError, Params};
use http::{Request, Response, StatusCode};
use s3s::Body;

use crate::front::RequestMeta;
use crate::notify::Notifier;

/// SNS request bodies are small; anything bigger is refused.
pub const MAX_BODY: usize = 256 * 1024;

/// The actions this module answers.
pub const ACTIONS: &[&str] = &[
    "CreateTopic",
    "GetTopicAttributes",
    "GetTopic",
    "ListTopics",
    "DeleteTopic",
    "SetTopicAttributes",
    "ReplayTopic",
    "CancelReplay",
];

/// The actions a SigV2 signature may authorize (with `--allow-sigv2`):
/// reads only, since SigV2 leaves the body, which names the action,
/// unsigned. Ceph's suite signs GetTopic and ListTopics that way.
pub const SIGV2_ACTIONS: &[&str] = &["GetTopic", "GetTopicAttributes", "ListTopics"];

/// An SNS error: code, message, HTTP status.
#[derive(Debug)]
pub struct SnsError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl SnsError {
    pub fn invalid(message: impl Into<String>) -> Self {
        SnsError {
            code: "InvalidArgument",
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        SnsError {
            code: "NoSuchEntity",
            message: message.into(),
            status: StatusCode::NOT_FOUND,
        }
    }
    pub fn internal(message: impl Into<String>) -> Self {
        SnsError {
            code: "InternalError",
            message: message.into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl crate::error::ApiError for SnsError {
    fn code(&self) -> &str {
        self.code
    }
    fn status(&self) -> StatusCode {
        self.status
    }
    fn message(&self) -> &str {
        &self.message
    }
}

impl From<ParamError> for SnsError {
    /// A broken parameter limit: 400 with the limit's AWS code
    /// (`InvalidQueryParameter` or `InvalidParameterValue`).
    fn from(e: ParamError) -> Self {
        SnsError {
            code: e.code(),
            message: e.message().to_owned(),
            status: StatusCode::BAD_REQUEST,
        }
    }
}

/// A parsed, authenticated SNS request.
pub struct SnsRequest {
    pub user: String,
    pub params: Vec<(String, String)>,
    pub meta: RequestMeta,
}

impl SnsRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Handles one SNS request whose body has been read. `allow_sigv2`: the
/// operator's `--allow-sigv2`, which lets SigV2 sign topic requests too
/// (as it does S3 requests).
pub async fn handle(
    notifier: &Arc<Notifier>,
    req: Request<()>,
    body: Bytes,
    meta: RequestMeta,
    allow_sigv2: bool,
) -> Response<Body> {
    let request_id = meta.request_id.clone();
    // Parameter limits (count, name length and depth, value size) before
    // anything else, authentication included: they are cheap, and nothing
    // beyond them is worth verifying a signature over.
    let params = match Params::parse(&body, None) {
        Ok(p) => p,
        Err(e) => return error_response(&SnsError::from(e), &request_id),
    };
    let action = params.get("Action").unwrap_or_default().to_owned();
    let store = notifier.store().clone();
    let signed = herald_sigv4::SignedRequest {
        method: req.method(),
        uri: req.uri(),
        headers: req.headers(),
        body: &body,
    };
    let secret_of = |key: &str| store.lookup_key(key).map(|(_, secret)| secret);
    let now = time::OffsetDateTime::now_utc();
    let verified = if herald_sigv4::is_sigv2(req.headers()) {
        if !allow_sigv2 {
            let refusal = crate::s3::signing::sigv2_disabled();
            let err = SnsError {
                code: refusal.code,
                message: refusal.message,
                status: refusal.status,
            };
            return error_response(&err, &request_id);
        }
        // SigV2 signs no body, and the body names the action: a captured
        // request could be replayed with another one. Only reads, then.
        if !SIGV2_ACTIONS.contains(&action.as_str()) {
            let err = SnsError {
                code: "AccessDenied",
                message: format!(
                    "SigV2 does not sign the request body; only {} may be signed with it: sign {action} with SigV4",
                    SIGV2_ACTIONS.join(", ")
                ),
                status: StatusCode::FORBIDDEN,
            };
            return error_response(&err, &request_id);
        }
        herald_sigv4::verify_v2(&signed, secret_of, "sns", now)
    } else {
        herald_sigv4::verify(&signed, secret_of, &["sns"], now)
    };
    let user = match verified {
        Ok(v) => match store.lookup_key(&v.access_key) {
            Some((user, _)) => user,
            None => {
                return error_response(
                    &SnsError {
                        code: "InvalidClientTokenId",
                        message: "The security token included in the request is invalid.".into(),
                        status: StatusCode::FORBIDDEN,
                    },
                    &request_id,
                );
            }
        },
        Err(e) => {
            let err = SnsError {
                code: e.aws_code("sns"),
                message: e.to_string(),
                status: StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::FORBIDDEN),
            };
            return error_response(&err, &request_id);
        }
    };
    let req = SnsRequest {
        user,
        params: params.into_vec(),
        meta,
    };
    let result = match action.as_str() {
        "CreateTopic" => topics::create_topic(notifier, &req).await,
        "GetTopicAttributes" => topics::get_topic_attributes(notifier, &req),
        "GetTopic" => topics::get_topic(notifier, &req),
        "ListTopics" => topics::list_topics(notifier, &req),
        "DeleteTopic" => topics::delete_topic(notifier, &req).await,
        "SetTopicAttributes" => topics::set_topic_attributes(notifier, &req).await,
        "ReplayTopic" => replay::replay_topic(notifier, &req).await,
        "CancelReplay" => replay::cancel_replay(notifier, &req).await,
        "" => Err(SnsError {
            code: "MissingAction",
            message: "The request must contain the parameter Action.".into(),
            status: StatusCode::BAD_REQUEST,
        }),
        other => Err(SnsError {
            code: "InvalidAction",
            message: format!("The action {other} is not valid for this endpoint."),
            status: StatusCode::BAD_REQUEST,
        }),
    };
    match result {
        Ok(xml) => crate::error::xml_response(StatusCode::OK, xml, "text/xml"),
        Err(e) => error_response(&e, &request_id),
    }
}

pub fn error_response(e: &SnsError, request_id: &str) -> Response<Body> {
    if e.status.is_server_error() {
        tracing::error!(code = e.code, message = %e.message, "SNS request failed");
    }
    crate::error::xml_response(
        e.status,
        crate::error::query_body(e, xml::NS, request_id, false),
        "text/xml",
    )
}
