//! Object operations with events in gateway mode.
//!
//! Each mutation, when anything wants the bucket's changes, is bracketed by
//! an intent ([`Gateway::open`] before forwarding, [`Gateway::settle`] or
//! an abandon after): the client's answer leaves only once the events of
//! what the upstream acknowledged are committed. A bucket nobody listens to
//! costs a map lookup per request and nothing more.
//!
//! What the upstream's answer does not say (the size of a copy or of a
//! completed multipart upload, metadata, the removed version of a delete)
//! is asked with one HEAD, only when events are wanted.

use herald_model::event::EventType;
use herald_store::{Intent, IntentKey, IntentKind, now_ms};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{Gateway, forward};
use crate::notify::{Change, Forwarded, Origin, ReadVersion};
use crate::s3::events::{put_err, req_info};

/// DeleteObjects takes at most this many keys (S3's limit).
const MAX_DELETE_KEYS: usize = 1000;

/// What a HEAD of the upstream says about a version.
pub(crate) struct Head {
    pub size: u64,
    pub etag: String,
    pub version_id: String,
    pub metadata: Vec<(String, String)>,
    pub content_type: Option<String>,
    /// Seconds since the epoch (S3's resolution).
    pub last_modified: Option<i64>,
}

impl Head {
    /// Fills a change's description of the object from this HEAD.
    fn describe(&self, change: &mut Change) {
        change.size = self.size;
        change.etag = self.etag.clone();
        change.metadata = self.metadata.clone();
        change.content_type = self.content_type.clone();
    }
}

/// An ETag without its quotes, as event records carry it.
fn bare_etag(e: &str) -> String {
    e.trim_matches('"').to_owned()
}

/// HEADs `key` (or one of its versions) upstream. `Ok(None)`: it is not
/// there (or is a delete marker).
pub(crate) async fn head(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<Head>, String> {
    match client
        .head_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .send()
        .await
    {
        Ok(o) => {
            let mut metadata: Vec<(String, String)> = o
                .metadata()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            metadata.sort();
            Ok(Some(Head {
                size: o.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                etag: o.e_tag().map(bare_etag).unwrap_or_default(),
                version_id: o.version_id().unwrap_or_default().to_owned(),
                metadata,
                content_type: o.content_type().map(str::to_owned),
                last_modified: o.last_modified().map(|t| t.secs()),
            }))
        }
        Err(e) => match e.raw_response().map(|r| r.status().as_u16()) {
            Some(404 | 405) => Ok(None),
            _ => Err(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()),
        },
    }
}

/// What a GET's or HEAD's answer says about the object read.
struct Read<'a> {
    range: Option<&'a str>,
    length: Option<i64>,
    etag: Option<&'a ETag>,
    metadata: Option<&'a Metadata>,
    content_type: Option<&'a ContentType>,
    version_id: Option<&'a str>,
}

/// The user metadata of a request, as records and filters take it.
fn metadata_of(m: Option<&Metadata>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = m.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    pairs.sort();
    pairs
}

impl Gateway {
    fn origin<T>(&self, req: &S3Request<T>) -> Origin {
        let info = req_info(req);
        Origin {
            principal: self.local.caller(req).unwrap_or_default(),
            source_ip: info.source_ip,
            request_id: info.request_id,
            batch_writer: false,
        }
    }

    fn wants(&self, bucket: &str) -> bool {
        self.local.notifier.wants_changes(bucket)
    }

    /// Before forwarding a mutation of `changes` (keys with the versions
    /// the request names): SlowDown if a destination is full, else the
    /// intent's id (`None`: nothing wants the bucket's changes).
    async fn open(
        &self,
        bucket: &str,
        kind: IntentKind,
        origin: &Origin,
        changes: &[Change],
        versions: &[Option<String>],
    ) -> S3Result<Option<u64>> {
        let intent = Intent {
            bucket: bucket.to_owned(),
            kind,
            event: changes.first().map(|c| c.event.name().to_owned()).unwrap_or_default(),
            keys: changes
                .iter()
                .zip(versions.iter().chain(std::iter::repeat(&None)))
                .map(|(c, v)| IntentKey {
                    key: c.key.clone(),
                    version_id: v.clone(),
                })
                .collect(),
            started_ms: now_ms(),
            principal: origin.principal.clone(),
            source_ip: origin.source_ip.clone(),
            request_id: origin.request_id.clone(),
        };
        self.local
            .notifier
            .open_forward(changes, origin, &intent)
            .await
            .map_err(put_err)
    }

    /// After the upstream acknowledged `done`: their events committed,
    /// the intent closed. A failure here is a 500: the change happened but
    /// its events are not safe yet (the intent stays, and is settled by
    /// asking the upstream at the next start).
    async fn settle(&self, bucket: &str, id: Option<u64>, origin: &Origin, done: Vec<Forwarded>) -> S3Result<()> {
        if id.is_none() && !self.wants(bucket) {
            return Ok(());
        }
        let Some(record) = self.local.store.get_bucket(bucket).ok().flatten() else {
            // Deleted meanwhile: no configuration is left to send to.
            self.local.notifier.abandon_forward(id).await;
            return Ok(());
        };
        self.local
            .notifier
            .settle_forward(&record, id, origin, done)
            .await
            .map_err(|e| {
                tracing::error!(bucket, error = %e, "cannot commit the events of a forwarded change");
                s3_error!(
                    InternalError,
                    "The change was made but its events could not be recorded yet"
                )
            })
    }

    /// The events of a read (`s3:ObjectAccessed:*`) the upstream answered:
    /// nothing changes here, so the store's current sequence number is their
    /// sequencer.
    async fn read_event(&self, bucket: &str, event: EventType, key: String, origin: &Origin, read: Read<'_>) {
        let Some(record) = self.local.store.get_bucket(bucket).ok().flatten() else {
            return;
        };
        let mut change = Change::new(event, key);
        change.size = whole_size(read.range, read.length);
        change.etag = read.etag.map(|e| bare_etag(e.value())).unwrap_or_default();
        change.metadata = metadata_of(read.metadata);
        change.content_type = read.content_type.cloned();
        let seq = self.local.store.current_seq().unwrap_or(0);
        let (size, etag) = (change.size, change.etag.clone());
        let read = ReadVersion {
            bucket: &record,
            seq,
            version_id: read.version_id.unwrap_or_default(),
            size,
            etag: &etag,
        };
        self.local.notifier.notify_read(change, origin, read).await;
    }

    /// The upstream's answer to a forwarded mutation: a refusal closes
    /// the intent without events.
    async fn answered<T>(&self, id: Option<u64>, answer: S3Result<T>) -> S3Result<T> {
        if answer.is_err() {
            self.local.notifier.abandon_forward(id).await;
        }
        answer
    }

    /// HEAD for an event's facts; a failure leaves the answer's own.
    async fn head_for_event(&self, bucket: &str, key: &str, version_id: Option<&str>) -> Option<Head> {
        match head(&self.client, bucket, key, version_id.filter(|v| !v.is_empty())).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(bucket, key, error = %e, "cannot HEAD the upstream for an event's details");
                None
            }
        }
    }
}

pub(super) async fn put_object(gw: &Gateway, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, put_object, req);
    }
    let origin = gw.origin(&req);
    let mut change = Change::new(EventType::ObjectCreatedPut, req.input.key.clone());
    change.metadata = metadata_of(req.input.metadata.as_ref());
    change.content_type = req.input.content_type.clone();
    if let Some(t) = &req.input.tagging {
        change.tags = crate::s3::tagging::parse_tagging_header(&gw.local, t)?;
    }
    let size = req.input.content_length.and_then(|n| u64::try_from(n).ok());
    let id = gw
        .open(&bucket, IntentKind::Create, &origin, std::slice::from_ref(&change), &[])
        .await?;
    let resp = gw.answered(id, forward!(gw, put_object, req)).await?;
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
    gw.settle(&bucket, id, &origin, vec![done]).await?;
    Ok(resp)
}

/// A copy's new version: its size, metadata and type from a HEAD.
pub(super) async fn copy_object(
    gw: &Gateway,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, copy_object, req);
    }
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
    let id = gw
        .open(&bucket, IntentKind::Create, &origin, std::slice::from_ref(&change), &[])
        .await?;
    let resp = gw.answered(id, forward!(gw, copy_object, req)).await?;
    let version_id = resp.output.version_id.clone().unwrap_or_default();
    let answered_etag = resp
        .output
        .copy_object_result
        .as_ref()
        .and_then(|r| r.e_tag.as_ref())
        .map(|e| bare_etag(e.value()));
    let head = gw.head_for_event(&bucket, &change.key, Some(&version_id)).await;
    if let Some(h) = &head {
        h.describe(&mut change);
    }
    let done = Forwarded {
        size: head.as_ref().map(|h| h.size),
        etag: answered_etag.or(head.map(|h| h.etag)),
        version_id,
        change,
    };
    gw.settle(&bucket, id, &origin, vec![done]).await?;
    Ok(resp)
}

pub(super) async fn complete_multipart_upload(
    gw: &Gateway,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, complete_multipart_upload, req);
    }
    let origin = gw.origin(&req);
    let mut change = Change::new(EventType::ObjectCreatedCompleteMultipartUpload, req.input.key.clone());
    let id = gw
        .open(&bucket, IntentKind::Create, &origin, std::slice::from_ref(&change), &[])
        .await?;
    let resp = gw.answered(id, forward!(gw, complete_multipart_upload, req)).await?;
    let version_id = resp.output.version_id.clone().unwrap_or_default();
    let head = gw.head_for_event(&bucket, &change.key, Some(&version_id)).await;
    if let Some(h) = &head {
        h.describe(&mut change);
    }
    let done = Forwarded {
        size: head.as_ref().map(|h| h.size),
        etag: resp.output.e_tag.as_ref().map(|e| bare_etag(e.value())),
        version_id,
        change,
    };
    gw.settle(&bucket, id, &origin, vec![done]).await?;
    Ok(resp)
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
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, delete_object, req);
    }
    let origin = gw.origin(&req);
    let named = req.input.version_id.clone();
    let mut change = Change::new(EventType::ObjectRemovedDelete, req.input.key.clone());
    if let Some(h) = gw.head_for_event(&bucket, &change.key, named.as_deref()).await {
        h.describe(&mut change);
    }
    let id = gw
        .open(
            &bucket,
            IntentKind::Remove,
            &origin,
            std::slice::from_ref(&change),
            std::slice::from_ref(&named),
        )
        .await?;
    let resp = gw.answered(id, forward!(gw, delete_object, req)).await?;
    change.event = removal(named.is_some(), resp.output.delete_marker);
    let done = Forwarded {
        version_id: resp.output.version_id.clone().unwrap_or_default(),
        size: None,
        etag: None,
        change,
    };
    gw.settle(&bucket, id, &origin, vec![done]).await?;
    Ok(resp)
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
    let wants = gw.wants(&bucket);
    let (origin, id, named) = if wants {
        let origin = gw.origin(&req);
        let changes: Vec<Change> = req
            .input
            .delete
            .objects
            .iter()
            .map(|o| Change::new(EventType::ObjectRemovedDelete, o.key.clone()))
            .collect();
        let named: Vec<Option<String>> = req.input.delete.objects.iter().map(|o| o.version_id.clone()).collect();
        let id = gw.open(&bucket, IntentKind::Remove, &origin, &changes, &named).await?;
        req.input.delete.quiet = None;
        (origin, id, named)
    } else {
        (Origin::default(), None, Vec::new())
    };
    let named_keys: std::collections::HashSet<(String, String)> = req
        .input
        .delete
        .objects
        .iter()
        .zip(&named)
        .filter_map(|(o, v)| v.as_ref().map(|v| (o.key.clone(), v.clone())))
        .collect();
    let mut resp = gw.answered(id, forward!(gw, delete_objects, req)).await?;
    if wants {
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
        gw.settle(&bucket, id, &origin, done).await?;
    }
    if quiet {
        resp.output.deleted = Some(Vec::new());
    }
    resp.output.errors.get_or_insert_with(Vec::new).extend(denied);
    Ok(resp)
}

pub(super) async fn put_object_tagging(
    gw: &Gateway,
    req: S3Request<PutObjectTaggingInput>,
) -> S3Result<S3Response<PutObjectTaggingOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, put_object_tagging, req);
    }
    let origin = gw.origin(&req);
    let mut change = Change::new(EventType::ObjectTaggingPut, req.input.key.clone());
    change.tags = req
        .input
        .tagging
        .tag_set
        .iter()
        .map(|t| (t.key.clone().unwrap_or_default(), t.value.clone().unwrap_or_default()))
        .collect();
    let named = req.input.version_id.clone();
    let id = gw
        .open(
            &bucket,
            IntentKind::Tagging,
            &origin,
            std::slice::from_ref(&change),
            std::slice::from_ref(&named),
        )
        .await?;
    let resp = gw.answered(id, forward!(gw, put_object_tagging, req)).await?;
    let version_id = resp.output.version_id.clone().unwrap_or_default();
    let done = tagging_done(gw, &bucket, change, version_id).await;
    gw.settle(&bucket, id, &origin, vec![done]).await?;
    Ok(resp)
}

pub(super) async fn delete_object_tagging(
    gw: &Gateway,
    req: S3Request<DeleteObjectTaggingInput>,
) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, delete_object_tagging, req);
    }
    let origin = gw.origin(&req);
    let change = Change::new(EventType::ObjectTaggingDelete, req.input.key.clone());
    let named = req.input.version_id.clone();
    let id = gw
        .open(
            &bucket,
            IntentKind::Tagging,
            &origin,
            std::slice::from_ref(&change),
            std::slice::from_ref(&named),
        )
        .await?;
    let resp = gw.answered(id, forward!(gw, delete_object_tagging, req)).await?;
    let version_id = resp.output.version_id.clone().unwrap_or_default();
    let done = tagging_done(gw, &bucket, change, version_id).await;
    gw.settle(&bucket, id, &origin, vec![done]).await?;
    Ok(resp)
}

/// A tagging change's record describes the version tagged (size, ETag).
async fn tagging_done(gw: &Gateway, bucket: &str, mut change: Change, version_id: String) -> Forwarded {
    let head = gw.head_for_event(bucket, &change.key, Some(&version_id)).await;
    let tags = std::mem::take(&mut change.tags);
    if let Some(h) = &head {
        h.describe(&mut change);
    }
    change.tags = tags;
    Forwarded {
        size: head.as_ref().map(|h| h.size),
        etag: head.map(|h| h.etag),
        version_id,
        change,
    }
}

/// The whole object's size behind a (possibly ranged) answer:
/// `Content-Range: bytes a-b/total`, else the body's length.
fn whole_size(range: Option<&str>, length: Option<i64>) -> u64 {
    range
        .and_then(|r| r.rsplit_once('/'))
        .and_then(|(_, total)| total.parse().ok())
        .or_else(|| length.and_then(|n| u64::try_from(n).ok()))
        .unwrap_or(0)
}

pub(super) async fn get_object(gw: &Gateway, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, get_object, req);
    }
    let origin = gw.origin(&req);
    let key = req.input.key.clone();
    let resp = forward!(gw, get_object, req)?;
    let o = &resp.output;
    let read = Read {
        range: o.content_range.as_deref(),
        length: o.content_length,
        etag: o.e_tag.as_ref(),
        metadata: o.metadata.as_ref(),
        content_type: o.content_type.as_ref(),
        version_id: o.version_id.as_deref(),
    };
    gw.read_event(&bucket, EventType::ObjectAccessedGet, key, &origin, read).await;
    Ok(resp)
}

pub(super) async fn head_object(
    gw: &Gateway,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let bucket = req.input.bucket.clone();
    if !gw.wants(&bucket) {
        return forward!(gw, head_object, req);
    }
    let origin = gw.origin(&req);
    let key = req.input.key.clone();
    let resp = forward!(gw, head_object, req)?;
    let o = &resp.output;
    let read = Read {
        range: o.content_range.as_deref(),
        length: o.content_length,
        etag: o.e_tag.as_ref(),
        metadata: o.metadata.as_ref(),
        content_type: o.content_type.as_ref(),
        version_id: o.version_id.as_deref(),
    };
    gw.read_event(&bucket, EventType::ObjectAccessedHead, key, &origin, read).await;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_size_of_ranged_answers() {
        assert_eq!(whole_size(Some("bytes 0-9/1000"), Some(10)), 1000);
        assert_eq!(whole_size(None, Some(42)), 42);
        assert_eq!(whole_size(Some("bytes 0-9/*"), Some(10)), 10);
        assert_eq!(whole_size(None, None), 0);
    }

    #[test]
    fn delete_events_follow_the_answer() {
        assert_eq!(removal(false, Some(true)), EventType::ObjectRemovedDeleteMarkerCreated);
        assert_eq!(removal(true, Some(true)), EventType::ObjectRemovedDelete);
        assert_eq!(removal(false, None), EventType::ObjectRemovedDelete);
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(bare_etag("\"abc\""), "abc");
        assert_eq!(bare_etag("abc"), "abc");
    }
}
