//! Listing: ListObjects (v1), ListObjectsV2 and ListObjectVersions.

use herald_store::{ListEntry, ListParams, VersionEntry};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{HeraldS3, StoreResultExt, etag_dto, ok, ts};

const DEFAULT_MAX_KEYS: i32 = 1000;

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    match m {
        None => Ok(DEFAULT_MAX_KEYS as usize),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(n) => Ok(n.min(DEFAULT_MAX_KEYS) as usize),
    }
}

/// Whether the client asked for `encoding-type=url` (the AWS CLI always
/// does): keys and prefixes in the answer must then be percent-encoded.
fn wants_url_encoding(e: &Option<EncodingType>) -> S3Result<bool> {
    match e.as_ref().map(|e| e.as_str()) {
        None => Ok(false),
        Some(EncodingType::URL) => Ok(true),
        Some(other) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request: {other}"
        )),
    }
}

/// Percent-encodes everything but unreserved characters and `/`, which
/// both `unquote` and `unquote_plus` (botocore) decode back exactly.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Encoder(bool);

impl Encoder {
    fn enc(&self, s: String) -> String {
        if self.0 { url_encode(&s) } else { s }
    }
    fn opt(&self, s: Option<String>) -> Option<String> {
        s.map(|s| self.enc(s))
    }
}

/// Continuation tokens are the hex of the last key or prefix returned:
/// opaque to clients, stateless for us.
fn encode_token(s: &str) -> String {
    hex::encode(s.as_bytes())
}

fn decode_token(t: &str) -> S3Result<String> {
    hex::decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| s3_error!(InvalidArgument, "The continuation token provided is incorrect"))
}

fn split(
    entries: Vec<ListEntry>,
    enc: &Encoder,
    bucket: &herald_store::BucketRecord,
    mut owners: Option<&mut super::Owners<'_>>,
) -> (Vec<Object>, Vec<CommonPrefix>) {
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for e in entries {
        match e {
            ListEntry::Object { key, version } => contents.push(Object {
                key: Some(enc.enc(key)),
                size: Some(version.size as i64),
                e_tag: Some(etag_dto(&version.etag)),
                last_modified: Some(ts(version.last_modified_ms)),
                storage_class: Some(ObjectStorageClass::from_static(ObjectStorageClass::STANDARD)),
                owner: owners.as_deref_mut().map(|o| o.get(bucket.object_owner(&version))),
                ..Default::default()
            }),
            ListEntry::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc.enc(p)),
            }),
        }
    }
    (contents, prefixes)
}

pub async fn list_objects_v2(
    s3: &HeraldS3,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let enc = Encoder(wants_url_encoding(&input.encoding_type)?);
    let max = max_keys(input.max_keys)?;
    let after = match &input.continuation_token {
        Some(t) => Some(decode_token(t)?),
        None => input.start_after.clone().filter(|s| !s.is_empty()),
    };
    let params = ListParams {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        after,
        max_keys: max,
    };
    let page = s3.store.list_objects(&input.bucket, &params).s3()?;
    let next = page
        .is_truncated
        .then(|| page.entries.last().map(|e| encode_token(e.name())))
        .flatten();
    let key_count = page.entries.len() as i32;
    let (contents, prefixes) = split(
        page.entries,
        &enc,
        &bucket,
        input
            .fetch_owner
            .unwrap_or(false)
            .then_some(&mut super::Owners::new(s3)),
    );
    ok(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(enc.enc(input.prefix.unwrap_or_default())),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        max_keys: Some(max as i32),
        key_count: Some(key_count),
        is_truncated: Some(page.is_truncated),
        continuation_token: input.continuation_token,
        next_continuation_token: next,
        start_after: enc.opt(input.start_after),
        encoding_type: input.encoding_type,
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        ..Default::default()
    })
}

pub async fn list_objects(s3: &HeraldS3, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let enc = Encoder(wants_url_encoding(&input.encoding_type)?);
    let max = max_keys(input.max_keys)?;
    let params = ListParams {
        prefix: input.prefix.clone().unwrap_or_default(),
        delimiter: input.delimiter.clone().filter(|d| !d.is_empty()),
        after: input.marker.clone().filter(|m| !m.is_empty()),
        max_keys: max,
    };
    let page = s3.store.list_objects(&input.bucket, &params).s3()?;
    // S3 returns NextMarker only when a delimiter was given; otherwise
    // clients continue from the last key.
    let next_marker = (page.is_truncated && params.delimiter.is_some())
        .then(|| page.entries.last().map(|e| e.name().to_owned()))
        .flatten();
    let (contents, prefixes) = split(page.entries, &enc, &bucket, Some(&mut super::Owners::new(s3)));
    ok(ListObjectsOutput {
        name: Some(input.bucket),
        // ListObjects v1 echoes its prefix as sent, even with
        // `encoding-type=url` (Ceph; botocore does not decode it in v1).
        prefix: Some(input.prefix.unwrap_or_default()),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        marker: Some(enc.enc(input.marker.unwrap_or_default())),
        next_marker: enc.opt(next_marker),
        max_keys: Some(max as i32),
        is_truncated: Some(page.is_truncated),
        encoding_type: input.encoding_type,
        contents: Some(contents),
        common_prefixes: Some(prefixes),
        ..Default::default()
    })
}

pub async fn list_object_versions(
    s3: &HeraldS3,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let enc = Encoder(wants_url_encoding(&input.encoding_type)?);
    let max = max_keys(input.max_keys)?;
    let page = s3
        .store
        .list_object_versions(
            &input.bucket,
            input.prefix.as_deref().unwrap_or(""),
            input.delimiter.as_deref(),
            input.key_marker.as_deref().filter(|k| !k.is_empty()),
            input.version_id_marker.as_deref().filter(|k| !k.is_empty()),
            max,
        )
        .s3()?;
    let mut owners = super::Owners::new(s3);
    let mut versions = Vec::new();
    let mut markers = Vec::new();
    let mut prefixes = Vec::new();
    for e in page.entries {
        match e {
            VersionEntry::Version {
                key,
                version,
                is_latest,
            } if version.delete_marker => markers.push(DeleteMarkerEntry {
                key: Some(enc.enc(key)),
                version_id: Some(version.version_id.clone()),
                is_latest: Some(is_latest),
                last_modified: Some(ts(version.last_modified_ms)),
                owner: Some(owners.get(bucket.object_owner(&version))),
            }),
            VersionEntry::Version {
                key,
                version,
                is_latest,
            } => versions.push(ObjectVersion {
                key: Some(enc.enc(key)),
                version_id: Some(version.version_id.clone()),
                is_latest: Some(is_latest),
                last_modified: Some(ts(version.last_modified_ms)),
                e_tag: Some(etag_dto(&version.etag)),
                size: Some(version.size as i64),
                owner: Some(owners.get(bucket.object_owner(&version))),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                ..Default::default()
            }),
            VersionEntry::CommonPrefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc.enc(p)),
            }),
        }
    }
    ok(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(enc.enc(input.prefix.unwrap_or_default())),
        delimiter: enc.opt(input.delimiter.filter(|d| !d.is_empty())),
        key_marker: Some(enc.enc(input.key_marker.unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        next_key_marker: enc.opt(page.next_key_marker),
        next_version_id_marker: page.next_version_id_marker,
        max_keys: Some(max as i32),
        is_truncated: Some(page.is_truncated),
        encoding_type: input.encoding_type,
        versions: Some(versions),
        delete_markers: Some(markers),
        common_prefixes: Some(prefixes),
        ..Default::default()
    })
}
