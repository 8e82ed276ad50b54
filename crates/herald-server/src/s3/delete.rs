//! Deletes: one object or version, many in one request (DeleteObjects),
//! with their conditions, Object Lock's bypass and their events.

use herald_model::VersioningState;
use herald_model::event::EventType;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::events::{put_err, req_info};
use super::object::condition_text;
use super::{HeraldS3, StoreResultExt, ok};
use crate::notify::Change;

/// DeleteObjects accepts at most this many keys per request.
const MAX_DELETE_KEYS: usize = 1000;

pub async fn delete_object(
    s3: &HeraldS3,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    let bypass_governance = super::lock::may_bypass(
        s3,
        &req,
        req.input.bypass_governance_retention,
        &req.input.bucket,
        Some(&req.input.key),
    );
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    let conditions = herald_store::DeleteConditions {
        if_match: input.if_match.as_ref().map(condition_text),
        last_modified_s: input
            .if_match_last_modified_time
            .map(|t| time::OffsetDateTime::from(t).unix_timestamp()),
        size: input.if_match_size.and_then(|n| u64::try_from(n).ok()),
        seq: None,
        bucket_id: None,
        only_version: false,
        bypass_governance,
    };
    let out = delete_and_notify(
        s3,
        (&input.bucket, &input.key, input.version_id.as_deref()),
        &conditions,
        &user,
        &info,
    )
    .await?;
    let mut resp = S3Response::new(DeleteObjectOutput {
        delete_marker: out.delete_marker.then_some(true),
        version_id: out
            .version_id
            .as_deref()
            .and_then(|v| super::object::reported_version(out.bucket.versioning, v)),
        ..Default::default()
    });
    resp.status = Some(http::StatusCode::NO_CONTENT);
    Ok(resp)
}

pub async fn delete_objects(
    s3: &HeraldS3,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let user = s3.caller(&req)?;
    let info = req_info(&req);
    let checker = super::access::ObjectChecker::of(&req)?;
    let asked_bypass = req.input.bypass_governance_retention == Some(true);
    let input = req.input;
    s3.granted_bucket(&req.extensions, &input.bucket)?;
    if input.delete.objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "The request must contain no more than {MAX_DELETE_KEYS} keys"
        ));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for obj in input.delete.objects {
        // Each entry's own conditions (Ceph's, and S3 directory buckets').
        let conditions = herald_store::DeleteConditions {
            if_match: obj.e_tag.as_ref().map(|e| e.value().to_owned()),
            last_modified_s: obj
                .last_modified_time
                .clone()
                .map(|t| time::OffsetDateTime::from(t).unix_timestamp()),
            size: obj.size.and_then(|n| u64::try_from(n).ok()),
            seq: None,
            bucket_id: None,
            only_version: false,
            // Decided per key: a policy may allow or deny the bypass on
            // some objects only.
            bypass_governance: asked_bypass
                && checker
                    .check(s3, "BypassGovernanceRetention", &input.bucket, &obj.key, None)
                    .is_ok(),
        };
        let target = (input.bucket.as_str(), obj.key.as_str(), obj.version_id.as_deref());
        let outcome = match checker.check(s3, "DeleteObject", &input.bucket, &obj.key, obj.version_id.as_deref()) {
            Ok(()) => delete_and_notify(s3, target, &conditions, &user, &info).await,
            Err(denied) => Err(denied),
        };
        match outcome {
            Ok(out) => {
                if quiet {
                    continue;
                }
                let versioned = out.bucket.versioning != VersioningState::Unversioned;
                let (version_id, marker_id) = match (&obj.version_id, out.delete_marker) {
                    (Some(v), _) => (Some(v.clone()), None),
                    (None, true) => (None, out.version_id.clone()),
                    (None, false) => (None, None),
                };
                deleted.push(DeletedObject {
                    key: Some(obj.key),
                    version_id: version_id.filter(|_| versioned),
                    delete_marker: out.delete_marker.then_some(true),
                    delete_marker_version_id: marker_id.filter(|_| versioned),
                });
            }
            Err(err) => {
                errors.push(Error {
                    code: Some(err.code().as_str().to_owned()),
                    message: err.message().map(str::to_owned),
                    key: Some(obj.key),
                    version_id: obj.version_id,
                });
            }
        }
    }
    ok(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: Some(errors),
        ..Default::default()
    })
}

/// Deletes one object or version and emits `ObjectRemoved:Delete` or
/// `ObjectRemoved:DeleteMarkerCreated` when something changed. The event
/// describes the version that went away (size, ETag, metadata), as Ceph's.
async fn delete_and_notify(
    s3: &HeraldS3,
    (bucket, key, version_id): (&str, &str, Option<&str>),
    conditions: &herald_store::DeleteConditions,
    user: &str,
    info: &super::events::ReqInfo,
) -> S3Result<herald_store::DeleteOutcome> {
    let change = if s3.notifier.wants_changes(bucket) {
        let previous = s3.store.head_object(bucket, key, version_id).ok();
        let versioned = s3
            .store
            .get_bucket(bucket)
            .s3()?
            .is_some_and(|b| b.versioning != VersioningState::Unversioned);
        let event = if version_id.is_none() && versioned {
            EventType::ObjectRemovedDeleteMarkerCreated
        } else {
            EventType::ObjectRemovedDelete
        };
        Some(match &previous {
            Some(p) => Change::of_version(event, key, p),
            None => Change::new(event, key),
        })
    } else {
        None
    };
    s3.write_with_events(bucket, change, user, info, |events| {
        s3.store
            .delete_object(bucket, key, version_id, user, conditions, events)
    })
    .await
    .map_err(put_err)
}
