//! The glue between S3 operations and the notifier: who made the change,
//! which request, and the plan/dispatch calls around each write.

use herald_model::event::EventType;
use herald_store::{BucketRecord, ObjectMeta, ObjectVersion};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::HeraldS3;
use crate::front::RequestMeta;
use crate::notify::{Change, NotifyError, Plan};

/// The request facts an event record carries.
pub(crate) struct ReqInfo {
    pub request_id: String,
    pub source_ip: String,
}

pub(crate) fn req_info<T>(req: &S3Request<T>) -> ReqInfo {
    match req.extensions.get::<RequestMeta>() {
        Some(m) => ReqInfo {
            request_id: m.request_id.clone(),
            source_ip: m.conn.peer.ip().to_string(),
        },
        None => ReqInfo {
            request_id: String::new(),
            source_ip: String::new(),
        },
    }
}

/// User metadata as `(name, value)` pairs (lowercase, no `x-amz-meta-`).
pub(crate) fn meta_pairs(meta: &ObjectMeta) -> Vec<(String, String)> {
    meta.user.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn notify_err(e: NotifyError) -> S3Error {
    match e {
        NotifyError::SlowDown(topic) => {
            let mut err = S3Error::with_message(
                S3ErrorCode::SlowDown,
                format!("The notification queue of topic {topic} is full. Please reduce your request rate."),
            );
            err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
            err
        }
        NotifyError::Internal(m) => {
            tracing::error!(error = %m, "event could not be queued");
            S3Error::with_message(
                S3ErrorCode::InternalError,
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

impl HeraldS3 {
    /// Which notifications a change will reach; refuses (503 SlowDown) when
    /// a persistent queue is full, before anything is written.
    pub(crate) fn plan(
        &self,
        bucket: &str,
        event: EventType,
        key: &str,
        metadata: &[(String, String)],
        tags: &[(String, String)],
    ) -> S3Result<Plan> {
        if !self.notifier.has_config(bucket) {
            return Ok(Plan::default());
        }
        self.notifier
            .plan(bucket, event, key, metadata, tags)
            .map_err(notify_err)
    }

    /// Sends the event of a write that created or changed a version.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn emit_version(
        &self,
        plan: Plan,
        event: EventType,
        bucket: &BucketRecord,
        key: &str,
        version: &ObjectVersion,
        version_id: &str,
        principal: &str,
        info: &ReqInfo,
    ) -> S3Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        let metadata = meta_pairs(&version.meta);
        let change = Change {
            event,
            bucket,
            key,
            size: version.size,
            etag: version.etag.as_str(),
            version_id,
            seq: version.seq,
            metadata: &metadata,
            tags: &version.tags,
            principal,
            source_ip: &info.source_ip,
            request_id: &info.request_id,
        };
        self.notifier.dispatch(&change, plan).await.map_err(notify_err)
    }

    /// Sends an event described field by field (deletes, multipart starts).
    pub(crate) async fn emit(&self, plan: Plan, change: Change<'_>) -> S3Result<()> {
        if plan.is_empty() {
            return Ok(());
        }
        self.notifier.dispatch(&change, plan).await.map_err(notify_err)
    }
}
