//! The glue between S3 operations and the notifier: who made the change,
//! which request, and the plan/dispatch calls around each write.

use herald_store::{EventRenderer, ObjectMeta, StoreError};
use s3s::{S3Error, S3ErrorCode, S3Request};

use super::HeraldS3;
use crate::front::RequestMeta;
use crate::notify::{Change, CommittedWrite, NotifyError, Origin, PutError};

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

/// A failed write-with-notifications as the S3 error a client expects.
pub(crate) fn put_err(e: PutError) -> S3Error {
    match e {
        PutError::Notify(e) => notify_err(e),
        PutError::Store(e) => super::s3_err(e),
    }
}

pub(crate) fn notify_err(e: NotifyError) -> S3Error {
    match e {
        NotifyError::SlowDown(topic) => {
            let mut err = S3Error::with_message(
                S3ErrorCode::SlowDown,
                format!("The notification queue of topic {topic} is full. Please reduce your request rate."),
            );
            err.set_status_code(http::StatusCode::SERVICE_UNAVAILABLE);
            err
        }
    }
}

impl HeraldS3 {
    /// The one write path of every mutating S3 operation (see
    /// `Notifier::write_with_events`): the change's events are planned
    /// (503 SlowDown when a persistent destination is full, before anything
    /// is written), committed with the write that `write` does, and pushed
    /// to synchronous topics afterwards. `change` is `None` when the bucket
    /// has no notification configuration.
    pub(crate) async fn write_with_events<T, F, Fut>(
        &self,
        bucket: &str,
        change: Option<Change>,
        principal: &str,
        info: &ReqInfo,
        write: F,
    ) -> Result<T, PutError>
    where
        T: CommittedWrite,
        F: FnOnce(Option<EventRenderer>) -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let origin = Origin {
            principal: principal.to_owned(),
            source_ip: info.source_ip.clone(),
            request_id: info.request_id.clone(),
            batch_writer: false,
        };
        self.notifier.write_with_events(bucket, change, &origin, write).await
    }
}
