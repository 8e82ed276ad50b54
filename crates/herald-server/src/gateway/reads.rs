//! Reads in gateway mode: forwarded, with their `s3:ObjectAccessed:*`
//! events, and listings shown with Herald's owners rather than the
//! upstream account's.

use herald_model::event::EventType;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::upstream::bare_etag;
use super::{Gateway, forward};
use crate::notify::{Change, Origin, ReadVersion};

/// What a GET's or HEAD's answer says about the object read.
struct Read<'a> {
    range: Option<&'a str>,
    length: Option<i64>,
    etag: Option<&'a ETag>,
    metadata: Option<&'a Metadata>,
    content_type: Option<&'a ContentType>,
    version_id: Option<&'a str>,
}

/// The user metadata of a request or an answer, as records and filters
/// take it.
pub(super) fn metadata_of(m: Option<&Metadata>) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = m.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
    pairs.sort();
    pairs
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

impl Gateway {
    /// The events of a read the upstream answered: nothing changes here,
    /// so the store's current sequence number is their sequencer.
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

    /// The owner listings show: the bucket's owner in Herald (the upstream
    /// only knows its own account, which is nobody's business here).
    fn shown_owner(&self, bucket: &str) -> Option<Owner> {
        let record = self.local.store.get_bucket(bucket).ok().flatten()?;
        Some(crate::s3::Owners::new(&self.local).get(&record.owner))
    }
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
    gw.read_event(&bucket, EventType::ObjectAccessedGet, key, &origin, read)
        .await;
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
    gw.read_event(&bucket, EventType::ObjectAccessedHead, key, &origin, read)
        .await;
    Ok(resp)
}

/// S3 also requires the read permission itself (an explicit Deny of
/// `s3:GetObject` must not leak a size and an ETag), as embedded mode
/// checks; one header value may list several attributes
/// (`ETag,ObjectSize`), which the SDK would send as one unknown name.
pub(super) async fn get_object_attributes(
    gw: &Gateway,
    mut req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    if !crate::s3::access::also_allowed(
        &gw.local,
        &req,
        "GetObject",
        &req.input.bucket,
        Some(&req.input.key),
        req.input.version_id.as_deref(),
    ) {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    let names: Vec<ObjectAttributes> = req
        .input
        .object_attributes
        .iter()
        .flat_map(|a| a.as_str().split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .map(ObjectAttributes::from)
        .collect();
    req.input.object_attributes = names;
    forward!(gw, get_object_attributes, req)
}

pub(super) async fn list_objects(
    gw: &Gateway,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let owner = gw.shown_owner(&req.input.bucket);
    let mut resp = forward!(gw, list_objects, req)?;
    for o in resp.output.contents.iter_mut().flatten() {
        o.owner = o.owner.as_ref().and(owner.clone());
    }
    Ok(resp)
}

pub(super) async fn list_objects_v2(
    gw: &Gateway,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let owner = gw.shown_owner(&req.input.bucket);
    let mut resp = forward!(gw, list_objects_v2, req)?;
    for o in resp.output.contents.iter_mut().flatten() {
        o.owner = o.owner.as_ref().and(owner.clone());
    }
    Ok(resp)
}

pub(super) async fn list_object_versions(
    gw: &Gateway,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let owner = gw.shown_owner(&req.input.bucket);
    let mut resp = forward!(gw, list_object_versions, req)?;
    for v in resp.output.versions.iter_mut().flatten() {
        v.owner = v.owner.as_ref().and(owner.clone());
    }
    for m in resp.output.delete_markers.iter_mut().flatten() {
        m.owner = m.owner.as_ref().and(owner.clone());
    }
    Ok(resp)
}

/// The owner as an upload's initiator.
fn initiator(owner: &Option<Owner>) -> Option<Initiator> {
    owner.as_ref().map(|o| Initiator {
        display_name: o.display_name.clone(),
        id: o.id.clone(),
    })
}

pub(super) async fn list_multipart_uploads(
    gw: &Gateway,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let owner = gw.shown_owner(&req.input.bucket);
    let mut resp = forward!(gw, list_multipart_uploads, req)?;
    for u in resp.output.uploads.iter_mut().flatten() {
        u.owner = u.owner.as_ref().and(owner.clone());
        u.initiator = u.initiator.as_ref().and(initiator(&owner));
    }
    Ok(resp)
}

pub(super) async fn list_parts(gw: &Gateway, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
    let owner = gw.shown_owner(&req.input.bucket);
    let mut resp = forward!(gw, list_parts, req)?;
    resp.output.owner = resp.output.owner.as_ref().and(owner.clone());
    resp.output.initiator = resp.output.initiator.as_ref().and(initiator(&owner));
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
}
