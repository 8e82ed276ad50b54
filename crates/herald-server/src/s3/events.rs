//! The glue between S3 operations and the notifier: who made the change,
//! which request, and the plan/dispatch calls around each write.

use herald_model::event::EventType;
use herald_store::{BucketRecord, ObjectMeta, ObjectVersion, Outbox};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use super::HeraldS3;
use crate::front::RequestMeta;
use crate::notify::{ChangeFacts, NotifyError, Plan};

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
    }
}

/// A change on its way to the notifier: the notifications it will reach
/// and what is known about it before the commit.
pub(crate) struct Pending {
    plan: Plan,
    facts: ChangeFacts,
}

impl Pending {
    /// No notification wants this change.
    pub(crate) fn none() -> Pending {
        Pending {
            plan: Plan::default(),
            facts: ChangeFacts {
                event: EventType::ObjectCreatedPut,
                key: String::new(),
                size: 0,
                etag: String::new(),
                metadata: Vec::new(),
                tags: Vec::new(),
                principal: String::new(),
                source_ip: String::new(),
                request_id: String::new(),
            },
        }
    }
}

impl HeraldS3 {
    /// Works out which notifications a change will reach (refusing with 503
    /// SlowDown when a persistent queue is full, before anything is
    /// written). `size`/`etag` matter for deletes; writes get theirs from
    /// the commit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prepare(
        &self,
        bucket: &str,
        event: EventType,
        key: &str,
        metadata: Vec<(String, String)>,
        tags: Vec<(String, String)>,
        size: u64,
        etag: &str,
        principal: &str,
        info: &ReqInfo,
    ) -> S3Result<Pending> {
        if !self.notifier.has_config(bucket) {
            return Ok(Pending::none());
        }
        let plan = self
            .notifier
            .plan(bucket, event, key, &metadata, &tags)
            .map_err(notify_err)?;
        Ok(Pending {
            plan,
            facts: ChangeFacts {
                event,
                key: key.to_owned(),
                size,
                etag: etag.to_owned(),
                metadata,
                tags,
                principal: principal.to_owned(),
                source_ip: info.source_ip.clone(),
                request_id: info.request_id.clone(),
            },
        })
    }

    /// The events to commit with the change (persistent topics).
    pub(crate) fn outbox(&self, p: &Pending) -> Option<Outbox> {
        if p.plan.is_empty() {
            None
        } else {
            self.notifier.outbox(&p.plan, &p.facts)
        }
    }

    /// After the commit: synchronous pushes and counters.
    pub(crate) async fn finish(
        &self,
        p: Pending,
        bucket: &BucketRecord,
        seq: u64,
        version_id: &str,
        size: Option<u64>,
        etag: Option<&str>,
    ) {
        if p.plan.is_empty() {
            return;
        }
        let size = size.unwrap_or(p.facts.size);
        let etag = etag.map(str::to_owned).unwrap_or_else(|| p.facts.etag.clone());
        self.notifier
            .after_commit(p.plan, &p.facts, bucket, seq, version_id, size, &etag)
            .await;
    }

    /// `finish` for a write that produced a version.
    pub(crate) async fn finish_version(
        &self,
        p: Pending,
        bucket: &BucketRecord,
        version: &ObjectVersion,
        version_id: &str,
    ) {
        self.finish(
            p,
            bucket,
            version.seq,
            version_id,
            Some(version.size),
            Some(version.etag.as_str()),
        )
        .await
    }
}
