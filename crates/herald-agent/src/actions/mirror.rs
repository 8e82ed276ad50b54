//! `mirror`: replicate creates and deletes into another bucket, on any S3
//! endpoint (the backup-bucket job of the webhook article, done properly).
//!
//! An event is a hint, not an instruction: before copying, the agent checks
//! that the source still holds the version the event describes (eTag), and
//! before deleting, that the source really has no object any more. Each
//! mirrored object carries the source's eTag and sequencer in its metadata,
//! so a duplicate or older event finds the work already done. Together
//! with the per-key lock of the pipeline, any order of delivery converges
//! on the source's current state.
//!
//! A multipart source keeps its part layout (each part read with GET
//! `partNumber` and uploaded as the same part), so the mirror has the
//! source's ETag (`md5(part md5s)-N`), as AWS replication does, and a
//! checker comparing ETags across the two buckets sees equal objects.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::Outcome;
use crate::config::MirrorConfig;
use crate::event::{Change, Op, sequencer_key};

const META_ETAG: &str = "herald-source-etag";
const META_SEQ: &str = "herald-source-sequencer";

/// The largest source part the mirror copies as one part (it holds one
/// part in memory at a time). Sources with larger parts are re-chunked
/// into `part_size_bytes` parts, and the mirror's ETag then differs.
const MAX_KEPT_PART_BYTES: i64 = 128 * 1024 * 1024;

/// The part count of a multipart ETag (`<md5>-N`).
fn multipart_parts(etag: &str) -> Option<i32> {
    let (md5, n) = etag.rsplit_once('-')?;
    (md5.len() == 32 && md5.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| n.parse().ok())
        .flatten()
        .filter(|&n| (1..=10_000).contains(&n))
}

/// Whether a `Content-Range` (`bytes 0-9/10`) covers the whole object.
fn is_whole(content_range: Option<&str>) -> bool {
    let Some(r) = content_range else { return true };
    let parse = || -> Option<bool> {
        let (span, total) = r.strip_prefix("bytes ")?.split_once('/')?;
        let (start, end) = span.split_once('-')?;
        let (start, end, total): (u64, u64, u64) = (start.parse().ok()?, end.parse().ok()?, total.parse().ok()?);
        Some(start == 0 && end.checked_add(1) == Some(total))
    };
    parse().unwrap_or(false)
}

/// What a copy learned from the source's first answer.
#[derive(Clone)]
struct SourceObject {
    etag: String,
    meta: std::collections::HashMap<String, String>,
    content_type: Option<String>,
}

pub struct Mirror {
    pub source: Client,
    pub target: Client,
    pub cfg: MirrorConfig,
}

fn describe<E: ProvideErrorMetadata + std::error::Error + 'static>(what: &str, e: &SdkError<E>) -> String {
    match e {
        SdkError::ServiceError(se) => format!(
            "{what}: {} ({})",
            se.err().code().unwrap_or("error"),
            se.err().message().unwrap_or("no message")
        ),
        other => format!("{what}: {}", crate::actions::error_chain(other)),
    }
}

fn status<E, R: HasStatus>(e: &SdkError<E, R>) -> Option<u16> {
    e.raw_response().map(HasStatus::status)
}

trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}

impl Mirror {
    fn target_key(&self, c: &Change) -> String {
        format!("{}{}", self.cfg.prefix, c.key)
    }

    pub async fn apply(&self, c: &Change) -> Result<Outcome, String> {
        let tkey = self.target_key(c);
        // What the mirror holds now: the sequencer it was written from.
        let target = match self
            .target
            .head_object()
            .bucket(&self.cfg.bucket)
            .key(&tkey)
            .send()
            .await
        {
            Ok(h) => Some(h),
            Err(e) if status(&e) == Some(404) => None,
            Err(e) => return Err(describe(&format!("HEAD target {}/{tkey}", self.cfg.bucket), &e)),
        };
        let target_meta = |k: &str| {
            target
                .as_ref()
                .and_then(|t| t.metadata())
                .and_then(|m| m.get(k))
                .cloned()
        };
        if let (Some(seq), Some(held)) = (c.sequencer.as_deref(), target_meta(META_SEQ))
            && sequencer_key(seq) < sequencer_key(&held)
        {
            return Ok(Outcome::Skipped("stale: the mirror holds a newer version"));
        }
        let held = target_meta(META_ETAG).or_else(|| {
            target
                .as_ref()
                .and_then(|t| t.e_tag())
                .map(|e| e.trim_matches('"').to_string())
        });
        match c.op {
            Op::Other => Ok(Outcome::Skipped("nothing to mirror")),
            Op::Delete => {
                let source = match self.source.head_object().bucket(&c.bucket).key(&c.key).send().await {
                    Ok(h) => Some(h),
                    Err(e) if status(&e) == Some(404) => None,
                    Err(e) => return Err(describe(&format!("HEAD source {}/{}", c.bucket, c.key), &e)),
                };
                if source.is_some() {
                    return Ok(Outcome::Skipped("stale: the object exists again at the source"));
                }
                if target.is_none() {
                    return Ok(Outcome::Skipped("already deleted"));
                }
                self.target
                    .delete_object()
                    .bucket(&self.cfg.bucket)
                    .key(&tkey)
                    .send()
                    .await
                    .map_err(|e| describe(&format!("DELETE target {}/{tkey}", self.cfg.bucket), &e))?;
                Ok(Outcome::Applied)
            }
            Op::Create => {
                if c.etag.is_some() && held == c.etag {
                    return Ok(Outcome::Skipped("already mirrored"));
                }
                self.copy(c, &tkey, held.as_deref()).await
            }
        }
    }

    /// GETs the source object (or one part of it) if it still is the
    /// version of the event, or of the first part read (`If-Match` with
    /// that eTag: a newer or deleted object answers 412/404, and the event
    /// is stale). `Ok(Err(outcome))`: nothing to copy.
    async fn get_source(
        &self,
        c: &Change,
        etag: Option<&str>,
        part: Option<i32>,
    ) -> Result<Result<aws_sdk_s3::operation::get_object::GetObjectOutput, Outcome>, String> {
        match self
            .source
            .get_object()
            .bucket(&c.bucket)
            .key(&c.key)
            .set_if_match(etag.map(|e| format!("\"{e}\"")))
            .set_part_number(part)
            .send()
            .await
        {
            Ok(g) => Ok(Ok(g)),
            Err(e) if status(&e) == Some(404) => Ok(Err(Outcome::Skipped("stale: the object is gone at the source"))),
            Err(e) if status(&e) == Some(412) => Ok(Err(Outcome::Skipped("stale: the source holds another version"))),
            Err(e) => Err(describe(&format!("GET source {}/{}", c.bucket, c.key), &e)),
        }
    }

    /// Copies the source object if it still is the event's version.
    async fn copy(&self, c: &Change, tkey: &str, held: Option<&str>) -> Result<Outcome, String> {
        // Part 1 first: for a plain object that is all of it.
        let got = match self.get_source(c, c.etag.as_deref(), Some(1)).await? {
            Ok(g) => g,
            Err(outcome) => return Ok(outcome),
        };
        let etag = got.e_tag().unwrap_or_default().trim_matches('"').to_string();
        if held == Some(etag.as_str()) {
            return Ok(Outcome::Skipped("already mirrored"));
        }
        let mut meta = got.metadata().cloned().unwrap_or_default();
        meta.insert(META_ETAG.into(), etag.clone());
        if let Some(s) = &c.sequencer {
            meta.insert(META_SEQ.into(), s.clone());
        }
        let source = SourceObject {
            etag,
            meta,
            content_type: got.content_type().map(String::from),
        };
        let layout = multipart_parts(&source.etag).filter(|&n| got.parts_count() == Some(n));
        if let Some(parts) = layout
            && got.content_length().unwrap_or(i64::MAX) <= MAX_KEPT_PART_BYTES
        {
            return self.copy_parts(c, tkey, source, got, parts).await;
        }
        let got = if layout.is_none() && is_whole(got.content_range()) {
            got
        } else {
            // Only a part came back (or one too large to keep): read the
            // whole object, the same version.
            match self.get_source(c, Some(&source.etag), None).await? {
                Ok(g) => g,
                Err(outcome) => return Ok(outcome),
            }
        };
        self.copy_whole(c, tkey, source, got).await
    }

    /// Writes a whole source object: one PUT when small, else streamed
    /// through in `part_size_bytes` parts.
    async fn copy_whole(
        &self,
        c: &Change,
        tkey: &str,
        source: SourceObject,
        got: aws_sdk_s3::operation::get_object::GetObjectOutput,
    ) -> Result<Outcome, String> {
        let SourceObject { meta, content_type, .. } = source;
        let size = got.content_length().unwrap_or(0).max(0) as u64;
        let bucket = &self.cfg.bucket;
        if size <= self.cfg.multipart_threshold_bytes {
            let body = got
                .body
                .collect()
                .await
                .map_err(|e| format!("GET source {}/{}: reading the body: {e}", c.bucket, c.key))?
                .into_bytes();
            self.target
                .put_object()
                .bucket(bucket)
                .key(tkey)
                .set_metadata(Some(meta))
                .set_content_type(content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| describe(&format!("PUT target {bucket}/{tkey}"), &e))?;
            return Ok(Outcome::Applied);
        }
        // Large object: stream it through in parts, holding one part in memory.
        let up = self
            .target
            .create_multipart_upload()
            .bucket(bucket)
            .key(tkey)
            .set_metadata(Some(meta))
            .set_content_type(content_type)
            .send()
            .await
            .map_err(|e| describe(&format!("CreateMultipartUpload target {bucket}/{tkey}"), &e))?;
        let upload_id = up.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts(got.body, bucket, tkey, &upload_id).await;
        self.finish_upload(tkey, &upload_id, result).await
    }

    /// Copies a multipart source part by part, each part the same as the
    /// source's (`first` is part 1, already read). Every read carries the
    /// first one's eTag, so a source overwritten meanwhile aborts the copy
    /// as stale instead of mixing two versions.
    async fn copy_parts(
        &self,
        c: &Change,
        tkey: &str,
        source: SourceObject,
        first: aws_sdk_s3::operation::get_object::GetObjectOutput,
        count: i32,
    ) -> Result<Outcome, String> {
        let bucket = &self.cfg.bucket;
        let whole = source.clone();
        let up = self
            .target
            .create_multipart_upload()
            .bucket(bucket)
            .key(tkey)
            .set_metadata(Some(source.meta))
            .set_content_type(source.content_type)
            .send()
            .await
            .map_err(|e| describe(&format!("CreateMultipartUpload target {bucket}/{tkey}"), &e))?;
        let upload_id = up.upload_id().unwrap_or_default().to_string();
        let mut next = Some(first);
        let mut parts = Vec::with_capacity(count as usize);
        let mut result = Ok(());
        for n in 1..=count {
            let got = match next.take() {
                Some(g) => g,
                None => match self.get_source(c, Some(&source.etag), Some(n)).await {
                    Ok(Ok(g)) => g,
                    Ok(Err(outcome)) => {
                        result = Err(Ok(outcome));
                        break;
                    }
                    Err(e) => {
                        result = Err(Err(e));
                        break;
                    }
                },
            };
            if got.content_length().unwrap_or(i64::MAX) > MAX_KEPT_PART_BYTES {
                // Too large to hold: the whole object, re-chunked.
                self.abort_upload(tkey, &upload_id).await;
                return match self.get_source(c, Some(&whole.etag), None).await? {
                    Ok(g) => self.copy_whole(c, tkey, whole, g).await,
                    Err(outcome) => Ok(outcome),
                };
            }
            match self.upload_one(got.body, bucket, tkey, &upload_id, n).await {
                Ok(p) => parts.push(p),
                Err(e) => {
                    result = Err(Err(e));
                    break;
                }
            }
        }
        match result {
            Ok(()) => self.finish_upload(tkey, &upload_id, Ok(parts)).await,
            Err(stop) => {
                self.abort_upload(tkey, &upload_id).await;
                stop
            }
        }
    }

    /// Reads one part's body and uploads it as part `n`.
    async fn upload_one(
        &self,
        body: ByteStream,
        bucket: &str,
        tkey: &str,
        upload_id: &str,
        n: i32,
    ) -> Result<CompletedPart, String> {
        let bytes = body
            .collect()
            .await
            .map_err(|e| format!("GET source part {n}: reading the body: {e}"))?
            .into_bytes();
        let out = self
            .target
            .upload_part()
            .bucket(bucket)
            .key(tkey)
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| describe(&format!("UploadPart {n} target {bucket}/{tkey}"), &e))?;
        Ok(CompletedPart::builder()
            .part_number(n)
            .set_e_tag(out.e_tag().map(String::from))
            .build())
    }

    async fn abort_upload(&self, tkey: &str, upload_id: &str) {
        let _ = self
            .target
            .abort_multipart_upload()
            .bucket(&self.cfg.bucket)
            .key(tkey)
            .upload_id(upload_id)
            .send()
            .await;
    }

    /// Completes a target upload with `parts`, or aborts it on error.
    async fn finish_upload(
        &self,
        tkey: &str,
        upload_id: &str,
        result: Result<Vec<CompletedPart>, String>,
    ) -> Result<Outcome, String> {
        let bucket = &self.cfg.bucket;
        match result {
            Ok(parts) => {
                self.target
                    .complete_multipart_upload()
                    .bucket(bucket)
                    .key(tkey)
                    .upload_id(upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await
                    .map_err(|e| describe(&format!("CompleteMultipartUpload target {bucket}/{tkey}"), &e))?;
                Ok(Outcome::Applied)
            }
            Err(e) => {
                self.abort_upload(tkey, upload_id).await;
                Err(e)
            }
        }
    }

    async fn upload_parts(
        &self,
        mut body: ByteStream,
        bucket: &str,
        tkey: &str,
        upload_id: &str,
    ) -> Result<Vec<CompletedPart>, String> {
        let part_size = self.cfg.part_size_bytes as usize;
        let mut parts = Vec::new();
        let mut buf: Vec<u8> = Vec::with_capacity(part_size);
        let mut done = false;
        while !done {
            match body.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Some(Err(e)) => return Err(format!("GET source body: {e}")),
                None => done = true,
            }
            while buf.len() >= part_size || (done && !buf.is_empty()) {
                let take = buf.len().min(part_size);
                let rest = buf.split_off(take);
                let part = std::mem::replace(&mut buf, rest);
                let n = parts.len() as i32 + 1;
                let out = self
                    .target
                    .upload_part()
                    .bucket(bucket)
                    .key(tkey)
                    .upload_id(upload_id)
                    .part_number(n)
                    .body(ByteStream::from(part))
                    .send()
                    .await
                    .map_err(|e| describe(&format!("UploadPart {n} target {bucket}/{tkey}"), &e))?;
                parts.push(
                    CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(out.e_tag().map(String::from))
                        .build(),
                );
            }
        }
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etags_name_their_part_count() {
        assert_eq!(multipart_parts("0123456789abcdef0123456789abcdef-2"), Some(2));
        assert_eq!(multipart_parts("0123456789abcdef0123456789abcdef"), None);
        assert_eq!(multipart_parts("0123456789abcdef0123456789abcdef-0"), None);
        assert_eq!(multipart_parts("not-an-etag-3"), None);
        assert_eq!(multipart_parts("0123456789abcdef0123456789abcdef-10001"), None);
    }

    #[test]
    fn a_content_range_is_whole_only_from_first_to_last_byte() {
        assert!(is_whole(None));
        assert!(is_whole(Some("bytes 0-9/10")));
        assert!(!is_whole(Some("bytes 0-4/10")));
        assert!(!is_whole(Some("bytes 5-9/10")));
        assert!(!is_whole(Some("garbage")));
        assert!(!is_whole(Some("bytes 0-18446744073709551615/0")));
    }
}
