//! The glue between S3 operations and the notifier: who made the change,
//! which request, and the plan/dispatch calls around each write.

use herald_model::event::EventType;
use herald_store::{BucketRecord, EventRenderer, ObjectVersion, StoreError};
use s3s::{S3Error, S3ErrorCode, S3Request};

use super::HeraldS3;
use crate::front::RequestMeta;
use crate::notify::{Change, CommittedWrite, NotifyError, Origin, PutError, ReadVersion};

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

/// Who read, for a read's events (`s3:ObjectAccessed:*`), taken before
/// the handler consumes its request.
pub(crate) struct Reader {
    principal: String,
    info: ReqInfo,
}

/// `None` when the bucket has no notification configuration and nobody
/// watches the live tail: then a read costs a map lookup and an atomic
/// load for its events.
pub(crate) fn reader<T>(s3: &HeraldS3, req: &S3Request<T>, bucket: &str) -> Option<Reader> {
    s3.notifier.wants_changes(bucket).then(|| Reader {
        principal: s3.caller(req).unwrap_or_default(),
        info: req_info(req),
    })
}

impl HeraldS3 {
    /// The events of a successful GET or HEAD of `v` (see
    /// `Notifier::notify_read`): sent to the configurations that name
    /// `s3:ObjectAccessed:*` events, matched on the key, metadata and tags
    /// of the version read.
    pub(crate) async fn notify_read(
        &self,
        reader: Option<Reader>,
        event: EventType,
        bucket: &BucketRecord,
        key: &str,
        v: &ObjectVersion,
    ) {
        let Some(r) = reader else { return };
        let change = Change::of_version(event, key, v);
        let origin = Origin {
            principal: r.principal,
            source_ip: r.info.source_ip,
            request_id: r.info.request_id,
            batch_writer: false,
        };
        let read = ReadVersion {
            bucket,
            seq: v.seq,
            version_id: bucket.versioning.reported(&v.version_id),
            size: v.size,
            etag: v.etag.as_str(),
        };
        self.notifier.notify_read(change, &origin, read).await;
    }

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
