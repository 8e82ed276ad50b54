//! The glue between S3 operations and the notifier: who made the change,
//! which request, and the plan/dispatch calls around each write.

use herald_store::{BucketRecord, EventRenderer, ObjectMeta, ObjectVersion};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::HeraldS3;
use crate::front::RequestMeta;
use crate::notify::{Change, Committed, NotifyError, Origin, PutError};

pub(crate) use crate::notify::Pending;

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
    }
}

impl HeraldS3 {
    /// Works out which notifications a change will reach (refusing with 503
    /// SlowDown when a persistent queue is full, before anything is
    /// written). The change's size and ETag matter for deletes; writes get
    /// theirs from the commit.
    pub(crate) fn prepare(&self, bucket: &str, change: Change, principal: &str, info: &ReqInfo) -> S3Result<Pending> {
        let origin = Origin {
            principal: principal.to_owned(),
            source_ip: info.source_ip.clone(),
            request_id: info.request_id.clone(),
            batch_writer: false,
        };
        self.notifier.prepare(bucket, change, &origin).map_err(notify_err)
    }

    /// Renders the events committed with the change (persistent topics
    /// and queues).
    pub(crate) fn event_renderer(&self, p: &Pending) -> Option<EventRenderer> {
        self.notifier.event_renderer(p)
    }

    /// After the commit: synchronous pushes and counters.
    pub(crate) async fn finish(&self, p: Pending, committed: &Committed<'_>) {
        self.notifier.finish(p, committed).await;
    }

    /// `finish` for a write that produced a version.
    pub(crate) async fn finish_version(
        &self,
        p: Pending,
        bucket: &BucketRecord,
        version: &ObjectVersion,
        version_id: &str,
    ) {
        let committed = Committed {
            bucket,
            seq: version.seq,
            version_id,
            size: Some(version.size),
            etag: Some(version.etag.as_str()),
        };
        self.finish(p, &committed).await
    }
}
