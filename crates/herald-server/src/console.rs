//! What the web console ([`herald_console`]) needs from the server: the
//! users' keys, the request path for its signed calls, and the few views
//! the S3, SNS and SQS APIs lack. Each view answers only the owner of the
//! topic or queue; anyone else learns nothing (the same "not found" as for
//! a name that does not exist).

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use herald_console::{ApiError, Backend, Peer, TopicFigures};
use http::{Request, Response, StatusCode};
use s3s::Body;
use serde_json::{Value, json};

use crate::front::{ConnInfo, Front};

#[async_trait::async_trait]
impl Backend for Front {
    fn credentials(&self, access_key: &str) -> Option<(String, String)> {
        self.store.lookup_key(access_key)
    }

    async fn dispatch(&self, mut req: Request<Body>, peer: Peer) -> Response<Body> {
        let info = ConnInfo {
            peer: peer.addr,
            tls: peer.tls,
        };
        req.extensions_mut().insert(InternalCall);
        crate::front::handle(self, info, req).await
    }

    fn topic_figures(&self, owner: Option<&str>) -> Vec<TopicFigures> {
        let n = &self.notifier;
        n.topics()
            .iter()
            .filter(|t| owner.is_none_or(|o| t.record.owner == o))
            .map(|t| {
                let c = t.counters.topic();
                TopicFigures {
                    owner: t.record.owner.clone(),
                    arn: t.record.arn.clone(),
                    name: t.record.name.clone(),
                    triggered: c.event_triggered.load(Ordering::Relaxed),
                    ok: c.push_ok.load(Ordering::Relaxed),
                    failed: c.push_fail.load(Ordering::Relaxed),
                    pending: if t.persistent { n.log().size(t.log_name()).0 } else { 0 },
                }
            })
            .collect()
    }

    fn topic_events(&self, user: &str, arn: &str, max: usize) -> Result<Value, ApiError> {
        let topic = self
            .notifier
            .topic(arn)
            .filter(|t| t.record.owner == user)
            .ok_or_else(|| ApiError::not_found("topic"))?;
        if !topic.persistent {
            return Ok(json!({"persistent": false, "events": []}));
        }
        let events: Vec<Value> = self
            .notifier
            .log()
            .dump(topic.log_name(), max)
            .into_iter()
            .map(|e| {
                let event = serde_json::from_slice::<Value>(&e.payload)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&e.payload).into_owned()));
                json!({
                    "key": e.key,
                    "attempts": e.attempts,
                    "enqueued": rfc3339(e.enqueued),
                    "nextAttempt": rfc3339(e.next_attempt),
                    "event": event,
                })
            })
            .collect();
        Ok(json!({"persistent": true, "events": events}))
    }

    async fn test_event(&self, user: &str, arn: &str) -> Result<Value, ApiError> {
        let owned = self.notifier.topic(arn).is_some_and(|t| t.record.owner == user);
        if !owned {
            return Err(ApiError::not_found("topic"));
        }
        let request_id = self.next_request_id();
        match self.notifier.push_test_event(arn, "", &request_id).await {
            Ok(endpoint) => Ok(json!({"delivered": true, "endpoint": endpoint})),
            Err(why) => Err(ApiError::new(StatusCode::BAD_GATEWAY, "TestEventFailed", why)),
        }
    }

    fn queue_peek(&self, user: &str, queue_url: &str, max: usize) -> Result<Value, ApiError> {
        let (owner, name) = crate::sqs::parse_queue_url(queue_url).ok_or_else(|| ApiError::not_found("queue"))?;
        if owner.as_deref().is_some_and(|o| o != user) {
            return Err(ApiError::not_found("queue"));
        }
        let messages = self
            .queues
            .peek(user, &name, max)
            .map_err(|_| ApiError::not_found("queue"))?;
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .message_attributes
                    .into_iter()
                    .map(|(k, v)| {
                        let value = v.string_value.map(Value::String).unwrap_or_else(|| {
                            Value::String(format!("({} bytes)", v.binary_value.map_or(0, |b| b.len())))
                        });
                        (k, json!({"DataType": v.data_type, "Value": value}))
                    })
                    .collect();
                json!({
                    "MessageId": m.message_id,
                    "Body": m.body,
                    "Attributes": m.attributes,
                    "MessageAttributes": attributes,
                })
            })
            .collect();
        Ok(json!({"messages": messages}))
    }
}

/// Marks a request the console made in-process (not counted again in the
/// request metrics: the browser's request that carried it is).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InternalCall;

/// What S3 answers carry while the console shares their origin: a
/// tenant's object opened in a browser (an HTML page, an SVG) runs in a
/// sandbox with an opaque origin, never as the console's origin. Its
/// scripts may run, but it cannot read or send the console's cookie, and
/// its requests to the console are cross-site (refused). Without this, any
/// tenant's public HTML object could use a signed-in user's session.
pub(crate) const TENANT_CONTENT_CSP: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-downloads allow-modals";

pub(crate) fn sandbox_tenant_content(resp: &mut Response<Body>) {
    resp.headers_mut().insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static(TENANT_CONTENT_CSP),
    );
}

/// The answer to a browser fetching a service worker script from a bucket
/// while the console is on: a worker registered on this origin would run
/// outside the sandbox, with the console's cookie. (Sandboxed pages cannot
/// register one; this also fails the update checks of workers registered
/// before the console was turned on.)
pub(crate) fn no_service_workers() -> Response<Body> {
    crate::front::error_xml(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        "Service workers cannot be served from this origin while the web console is on it.",
    )
}

fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether an unsigned request is the console's (its path, on no bucket's
/// host name).
pub(crate) fn is_console<B>(state: &Front, req: &Request<B>) -> bool {
    state.console().is_some()
        && herald_console::Console::owns_path(req.uri().path())
        && !crate::front::is_signed(req)
        && herald_console::api::request_authority(req).is_none_or(|h| state.host().bucket_of(&h).is_none())
}
