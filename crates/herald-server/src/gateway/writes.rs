//! Mutations in gateway mode, with their events.
//!
//! Each mutation, when anything wants the bucket's changes, is bracketed by
//! an intent (see [`super::intent`]) and runs detached from the client's
//! connection: the client's answer leaves only once the events of what the
//! upstream acknowledged are committed. A bucket nobody listens to costs a
//! map lookup per request and nothing more.
//!
//! What the upstream's answer does not say (the size of a copy or of a
//! completed multipart upload, metadata, the removed version of a delete)
//! is asked with one HEAD, only when events are wanted.
//!
//! Object state Herald cannot check in gateway mode is refused before
//! anything is forwarded: object ACLs other than the private default, and
//! Object Lock settings (see [`refuse_unchecked`]).

use herald_model::event::EventType;
use herald_store::IntentKind;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::reads::metadata_of;
use super::upstream::bare_etag;
use super::{Gateway, forward};
use crate::notify::{Change, Forwarded, Origin};

/// DeleteObjects takes at most this many keys (S3's limit).
const MAX_DELETE_KEYS: usize = 1000;

/// What a PUT, a copy or a multipart start may ask of the object's ACL and
/// lock; in gateway mode only the private default is served: the upstream
/// would apply anything else with the operator's account, past Herald's
/// access decision.
struct Unchecked<'a> {
    acl: Option<&'a ObjectCannedACL>,
    grants: [bool; 4],
    lock: bool,
}

fn refuse_unchecked(u: Unchecked<'_>) -> S3Result<()> {
    let private = u.acl.is_none_or(|a| {
        matches!(
            a.as_str(),
            ObjectCannedACL::PRIVATE | ObjectCannedACL::BUCKET_OWNER_FULL_CONTROL
        )
    });
    if !private || u.grants.iter().any(|g| *g) {
        return Err(s3_error!(
            NotImplemented,
            "Object ACLs are not available in gateway mode; use a bucket policy"
        ));
    }
    if u.lock {
        return Err(s3_error!(
            NotImplemented,
            "Object Lock is not available in gateway mode"
        ));
    }
    Ok(())
}

/// The ACL and lock asks of an input that has the usual fields.
macro_rules! unchecked {
    ($input:expr) => {
        Unchecked {
            acl: $input.acl.as_ref(),
            grants: [
                $input.grant_full_control.is_some(),
                $input.grant_read.is_some(),
                $input.grant_read_acp.is_some(),
                $input.grant_write_acp.is_some(),
            ],
            lock: $input.object_lock_mode.is_some()
                || $input.object_lock_retain_until_date.is_some()
                || $input.object_lock_legal_hold_status.is_some(),
        }
    };
}

pub(super) async fn create_multipart_upload(
    gw: &Gateway,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    refuse_unchecked(unchecked!(req.input))?;
    forward!(gw, create_multipart_upload, req)
}

pub(super) async fn put_object(gw: &Gateway, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    refuse_unchecked(unchecked!(req.input))?;
    if !gw.wants(&req.input.bucket) {
        return forward!(gw, put_object, req);
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move { put_object_with_events(&gw, req).await })
        .await
}

async fn put_object_with_events(gw: &Gateway, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let bucket = req.input.bucket.clone();
    let origin = gw.origin(&req);
    let mut change = Change::new(EventType::ObjectCreatedPut, req.input.key.clone());
    change.metadata = metadata_of(req.input.metadata.as_ref());
    change.content_type = req.input.content_type.clone();
    if let Some(t) = &req.input.tagging {
        change.tags = crate::s3::tagging::parse_tagging_header(&gw.local, t)?;
    }
    let size = req.input.content_length.and_then(|n| u64::try_from(n).ok());
    let ticket = gw
        .open(&bucket, IntentKind::Create, &origin, std::slice::from_ref(&change), &[])
        .await?;
    let resp = gw.answered(&ticket, forward!(gw, put_object, req)).await?;
    let version_id = resp.output.version_id.clone().unwrap_or_default();
    let size = match size {
        Some(s) => Some(s),
        None => gw
            .head_for_event(&bucket, &change.key, Some(&version_id))
            .await
            .map(|h| h.size),
    };
    let done = Forwarded {
        etag: resp.output.e_tag.as_ref().map(|e| bare_etag(e.value())),
        size,
        version_id,
        change,
    };
    gw.settle(&bucket, &ticket, &origin, vec![done]).await?;
    Ok(resp)
}

/// A copy's new version: its size, metadata and type from a HEAD.
pub(super) async fn copy_object(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    refuse_unchecked(unchecked!(req.input))?;
    if !gw.wants(&req.input.bucket) {
        return forward!(gw, copy_object, req);
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move { copy_object_with_events(&gw, req).await })
        .await
}

async fn copy_object_with_events(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let bucket = req.input.bucket.clone();
    let origin = gw.origin(&req);
    let mut change = Change::new(EventType::ObjectCreatedCopy, req.input.key.clone());
    let replaces_tags = req
        .input
        .tagging_directive
        .as_ref()
        .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
    if replaces_tags && let Some(t) = &req.input.tagging {
        change.tags = crate::s3::tagging::parse_tagging_header(&gw.local, t)?;
    }
    let ticket = gw
        .open(&bucket, IntentKind::Create, &origin, std::slice::from_ref(&change), &[])
        .await?;
    let resp = gw.answered(&ticket, forward!(gw, copy_object, req)).await?;
    let version_id = resp.output.version_id.clone().unwrap_or_default();
    let answered_etag = resp
        .output
        .copy_object_result
        .as_ref()
        .and_then(|r| r.e_tag.as_ref())
        .map(|e| bare_etag(e.value()));
    let done = created_with_head(gw, &bucket, change, version_id, answered_etag).await;
    gw.settle(&bucket, &ticket, &origin, vec![done]).await?;
    Ok(resp)
}

/// A new version described by a HEAD of it (size, metadata, type); the
/// answer's ETag when it gave one.
async fn created_with_head(
    gw: &Gateway,
    bucket: &str,
    mut change: Change,
    version_id: String,
    answered_etag: Option<String>,
) -> Forwarded {
    let head = gw.head_for_event(bucket, &change.key, Some(&version_id)).await;
    let tags = std::mem::take(&mut change.tags);
    if let Some(h) = &head {
        h.describe(&mut change);
    }
    change.tags = tags;
    Forwarded {
        size: head.as_ref().map(|h| h.size),
        etag: answered_etag.or(head.map(|h| h.etag)),
        version_id,
        change,
    }
}

pub(super) async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    if !gw.wants(&req.input.bucket) {
        return forward!(gw, complete_multipart_upload, req);
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move {
            let bucket = req.input.bucket.clone();
            let origin = gw.origin(&req);
            let change = Change::new(EventType::ObjectCreatedCompleteMultipartUpload, req.input.key.clone());
            let ticket = gw
                .open(&bucket, IntentKind::Create, &origin, std::slice::from_ref(&change), &[])
                .await?;
            let resp = gw
                .answered(&ticket, forward!(gw, complete_multipart_upload, req))
                .await?;
            let version_id = resp.output.version_id.clone().unwrap_or_default();
            let etag = resp.output.e_tag.as_ref().map(|e| bare_etag(e.value()));
            let done = created_with_head(&gw, &bucket, change, version_id, etag).await;
            gw.settle(&bucket, &ticket, &origin, vec![done]).await?;
            Ok(resp)
        })
        .await
}

/// The event names a delete's outcome: a delete marker made, or a version
/// (or an unversioned object) gone.
fn removal(named_version: bool, marker: Option<bool>) -> EventType {
    if !named_version && marker == Some(true) {
        EventType::ObjectRemovedDeleteMarkerCreated
    } else {
        EventType::ObjectRemovedDelete
    }
}

/// The record describes the version that went away (size, ETag,
/// metadata), as embedded mode's and Ceph's do: one HEAD before.
pub(super) async fn delete_object(
    gw: &Gateway,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    if !gw.wants(&req.input.bucket) {
        return forward!(gw, delete_object, req);
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move {
            let bucket = req.input.bucket.clone();
            let origin = gw.origin(&req);
            let named = req.input.version_id.clone();
            let mut change = Change::new(EventType::ObjectRemovedDelete, req.input.key.clone());
            if let Some(h) = gw.head_for_event(&bucket, &change.key, named.as_deref()).await {
                h.describe(&mut change);
            }
            let ticket = gw
                .open(
                    &bucket,
                    IntentKind::Remove,
                    &origin,
                    std::slice::from_ref(&change),
                    std::slice::from_ref(&named),
                )
                .await?;
            let resp = gw.answered(&ticket, forward!(gw, delete_object, req)).await?;
            change.event = removal(named.is_some(), resp.output.delete_marker);
            let done = Forwarded {
                version_id: resp.output.version_id.clone().unwrap_or_default(),
                size: None,
                etag: None,
                change,
            };
            gw.settle(&bucket, &ticket, &origin, vec![done]).await?;
            Ok(resp)
        })
        .await
}

/// Every key is decided on its own (`s3:DeleteObject`, as S3 and embedded
/// mode do); only the allowed ones go upstream, the others are reported
/// as errors. The upstream is always asked for the full answer (never
/// quiet), since the events need to know what went; a quiet client still
/// gets only the errors.
pub(super) async fn delete_objects(
    gw: &Gateway,
    mut req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let bucket = req.input.bucket.clone();
    if req.input.delete.objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "DeleteObjects takes at most {MAX_DELETE_KEYS} keys"
        ));
    }
    let checker = crate::s3::access::ObjectChecker::of(&req)?;
    let mut denied = Vec::new();
    let objects = std::mem::take(&mut req.input.delete.objects);
    for obj in objects {
        match checker.check(&gw.local, "DeleteObject", &bucket, &obj.key, obj.version_id.as_deref()) {
            Ok(()) => req.input.delete.objects.push(obj),
            Err(e) => denied.push(Error {
                code: Some(e.code().as_str().to_owned()),
                message: e.message().map(str::to_owned),
                key: Some(obj.key),
                version_id: obj.version_id,
            }),
        }
    }
    let quiet = req.input.delete.quiet == Some(true);
    if req.input.delete.objects.is_empty() {
        return Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(Vec::new()),
            errors: Some(denied),
            ..Default::default()
        }));
    }
    let mut resp = if gw.wants(&bucket) {
        let gw = gw.clone();
        gw.clone()
            .detached(async move { delete_objects_with_events(&gw, req).await })
            .await?
    } else {
        forward!(gw, delete_objects, req)?
    };
    if quiet {
        resp.output.deleted = Some(Vec::new());
    }
    resp.output.errors.get_or_insert_with(Vec::new).extend(denied);
    Ok(resp)
}

async fn delete_objects_with_events(
    gw: &Gateway,
    mut req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let bucket = req.input.bucket.clone();
    let origin: Origin = gw.origin(&req);
    let objects = &req.input.delete.objects;
    let changes: Vec<Change> = objects
        .iter()
        .map(|o| Change::new(EventType::ObjectRemovedDelete, o.key.clone()))
        .collect();
    let named: Vec<Option<String>> = objects.iter().map(|o| o.version_id.clone()).collect();
    let named_keys: std::collections::HashSet<(String, String)> = objects
        .iter()
        .filter_map(|o| o.version_id.as_ref().map(|v| (o.key.clone(), v.clone())))
        .collect();
    let ticket = gw.open(&bucket, IntentKind::Remove, &origin, &changes, &named).await?;
    req.input.delete.quiet = None;
    let resp = gw.answered(&ticket, forward!(gw, delete_objects, req)).await?;
    let done = resp
        .output
        .deleted
        .iter()
        .flatten()
        .filter_map(|d| {
            let key = d.key.clone()?;
            let named_version = d
                .version_id
                .as_ref()
                .is_some_and(|v| named_keys.contains(&(key.clone(), v.clone())));
            let event = removal(named_version, d.delete_marker);
            let version_id = match event {
                EventType::ObjectRemovedDeleteMarkerCreated => d.delete_marker_version_id.clone(),
                _ => d.version_id.clone(),
            };
            Some(Forwarded {
                change: Change::new(event, key),
                version_id: version_id.unwrap_or_default(),
                size: None,
                etag: None,
            })
        })
        .collect();
    gw.settle(&bucket, &ticket, &origin, done).await?;
    Ok(resp)
}

pub(super) async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    if !gw.wants(&req.input.bucket) {
        return forward!(gw, put_object_tagging, req);
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move {
            let mut change = Change::new(EventType::ObjectTaggingPut, req.input.key.clone());
            change.tags = req
                .input
                .tagging
                .tag_set
                .iter()
                .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
                .collect();
            let (bucket, named, origin) = (req.input.bucket.clone(), req.input.version_id.clone(), gw.origin(&req));
            let ticket = tagging_ticket(&gw, &bucket, &origin, &change, &named).await?;
            let resp = gw.answered(&ticket, forward!(gw, put_object_tagging, req)).await?;
            let version_id = resp.output.version_id.clone().unwrap_or_default();
            let done = created_with_head(&gw, &bucket, change, version_id, None).await;
            gw.settle(&bucket, &ticket, &origin, vec![done]).await?;
            Ok(resp)
        })
        .await
}

pub(super) async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    if !gw.wants(&req.input.bucket) {
        return forward!(gw, delete_object_tagging, req);
    }
    let gw = gw.clone();
    gw.clone()
        .detached(async move {
            let change = Change::new(EventType::ObjectTaggingDelete, req.input.key.clone());
            let (bucket, named, origin) = (req.input.bucket.clone(), req.input.version_id.clone(), gw.origin(&req));
            let ticket = tagging_ticket(&gw, &bucket, &origin, &change, &named).await?;
            let resp = gw.answered(&ticket, forward!(gw, delete_object_tagging, req)).await?;
            let version_id = resp.output.version_id.clone().unwrap_or_default();
            let done = created_with_head(&gw, &bucket, change, version_id, None).await;
            gw.settle(&bucket, &ticket, &origin, vec![done]).await?;
            Ok(resp)
        })
        .await
}

/// The intent of a tag change of `change.key` (or the named version).
async fn tagging_ticket(
    gw: &Gateway,
    bucket: &str,
    origin: &Origin,
    change: &Change,
    named: &Option<String>,
) -> S3Result<super::intent::Ticket> {
    gw.open(
        bucket,
        IntentKind::Tagging,
        origin,
        std::slice::from_ref(change),
        std::slice::from_ref(named),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_events_follow_the_answer() {
        assert_eq!(removal(false, Some(true)), EventType::ObjectRemovedDeleteMarkerCreated);
        assert_eq!(removal(true, Some(true)), EventType::ObjectRemovedDelete);
        assert_eq!(removal(false, None), EventType::ObjectRemovedDelete);
    }

    #[test]
    fn only_the_private_acl_passes() {
        let private = ObjectCannedACL::from_static(ObjectCannedACL::PRIVATE);
        let public = ObjectCannedACL::from_static(ObjectCannedACL::PUBLIC_READ);
        let ok = |acl, grants: [bool; 4], lock| refuse_unchecked(Unchecked { acl, grants, lock }).is_ok();
        assert!(ok(None, [false; 4], false));
        assert!(ok(Some(&private), [false; 4], false));
        assert!(!ok(Some(&public), [false; 4], false));
        assert!(!ok(None, [false, true, false, false], false));
        assert!(!ok(None, [false; 4], true));
    }
}
