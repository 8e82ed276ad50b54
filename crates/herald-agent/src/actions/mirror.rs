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

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::Outcome;
use crate::config::MirrorConfig;
use crate::event::{Change, Op, sequencer_key};

const META_ETAG: &str = "herald-source-etag";
const META_SEQ: &str = "herald-source-sequencer";

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

    /// Copies the source object if it still is the event's version (the
    /// GET carries `If-Match` with the event's eTag, so a newer or deleted
    /// object answers 412/404 and the event is stale).
    async fn copy(&self, c: &Change, tkey: &str, held: Option<&str>) -> Result<Outcome, String> {
        let got = match self
            .source
            .get_object()
            .bucket(&c.bucket)
            .key(&c.key)
            .set_if_match(c.etag.as_ref().map(|e| format!("\"{e}\"")))
            .send()
            .await
        {
            Ok(g) => g,
            Err(e) if status(&e) == Some(404) => {
                return Ok(Outcome::Skipped("stale: the object is gone at the source"));
            }
            Err(e) if status(&e) == Some(412) => {
                return Ok(Outcome::Skipped("stale: the source holds another version"));
            }
            Err(e) => return Err(describe(&format!("GET source {}/{}", c.bucket, c.key), &e)),
        };
        let etag = got.e_tag().unwrap_or_default().trim_matches('"').to_string();
        if held == Some(etag.as_str()) {
            return Ok(Outcome::Skipped("already mirrored"));
        }
        let size = got.content_length().unwrap_or(0).max(0) as u64;
        let mut meta = got.metadata().cloned().unwrap_or_default();
        meta.insert(META_ETAG.into(), etag);
        if let Some(s) = &c.sequencer {
            meta.insert(META_SEQ.into(), s.clone());
        }
        let content_type = got.content_type().map(String::from);
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
        match result {
            Ok(parts) => {
                self.target
                    .complete_multipart_upload()
                    .bucket(bucket)
                    .key(tkey)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await
                    .map_err(|e| describe(&format!("CompleteMultipartUpload target {bucket}/{tkey}"), &e))?;
                Ok(Outcome::Applied)
            }
            Err(e) => {
                let _ = self
                    .target
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(tkey)
                    .upload_id(&upload_id)
                    .send()
                    .await;
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
