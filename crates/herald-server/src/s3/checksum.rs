//! Verification of the flexible checksums (`x-amz-checksum-*`) clients send
//! with a body, in a header or in an `aws-chunked` trailer.
//!
//! The body is checked while it streams into the store: at its end, a
//! mismatch turns into a stream error, so the store drops the blob and the
//! old object stays in place.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::Checksum;
use s3s::{S3Error, TrailingHeaders, s3_error};

/// Prefix of the stream error raised on a mismatch; the error mapping
/// recognises it.
pub const MISMATCH: &str = "ChecksumMismatch";

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

/// What the client promised.
pub struct Expected {
    header: Checksum,
    /// Algorithms announced for the trailer (`x-amz-trailer`).
    trailer_algorithms: Vec<&'static str>,
    trailers: Option<TrailingHeaders>,
}

impl Expected {
    pub fn new(header: Checksum, headers: &HeaderMap, trailers: Option<TrailingHeaders>) -> Self {
        let announced = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let trailer_algorithms = ALGORITHMS
            .into_iter()
            .filter(|a| announced.split(',').any(|t| t.trim() == format!("x-amz-checksum-{a}")))
            .collect();
        Expected {
            header,
            trailer_algorithms,
            trailers,
        }
    }

    fn is_empty(&self) -> bool {
        let h = &self.header;
        h.checksum_crc32.is_none()
            && h.checksum_crc32c.is_none()
            && h.checksum_crc64nvme.is_none()
            && h.checksum_sha1.is_none()
            && h.checksum_sha256.is_none()
            && self.trailer_algorithms.is_empty()
    }

    fn hasher(&self) -> ChecksumHasher {
        let wants = |alg: &str, have: bool| have || self.trailer_algorithms.contains(&alg);
        let h = &self.header;
        ChecksumHasher {
            crc32: wants("crc32", h.checksum_crc32.is_some()).then(Crc32::default),
            crc32c: wants("crc32c", h.checksum_crc32c.is_some()).then(Crc32c::default),
            crc64nvme: wants("crc64nvme", h.checksum_crc64nvme.is_some()).then(Crc64Nvme::default),
            sha1: wants("sha1", h.checksum_sha1.is_some()).then(Sha1::default),
            sha256: wants("sha256", h.checksum_sha256.is_some()).then(Sha256::default),
        }
    }

    /// Compares the computed sums with the header values and the trailer.
    fn check(&self, got: &Checksum) -> Result<(), String> {
        let pairs = [
            ("crc32", &self.header.checksum_crc32, &got.checksum_crc32),
            ("crc32c", &self.header.checksum_crc32c, &got.checksum_crc32c),
            ("crc64nvme", &self.header.checksum_crc64nvme, &got.checksum_crc64nvme),
            ("sha1", &self.header.checksum_sha1, &got.checksum_sha1),
            ("sha256", &self.header.checksum_sha256, &got.checksum_sha256),
        ];
        for (alg, want, have) in pairs {
            let trailer = if self.trailer_algorithms.contains(&alg) {
                self.trailers.as_ref().and_then(|t| {
                    t.read(|h| {
                        h.get(format!("x-amz-checksum-{alg}"))
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    })
                    .flatten()
                })
            } else {
                None
            };
            for expected in [want.clone(), trailer].into_iter().flatten() {
                if have.as_deref() != Some(expected.as_str()) {
                    return Err(format!(
                        "{MISMATCH}: the {} you specified did not match the calculated checksum",
                        alg.to_ascii_uppercase()
                    ));
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct StreamError(String);

/// A request body as the store consumes it.
pub type VerifiedBody = std::pin::Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The checksums a PutObject or UploadPart request promised (both inputs
/// carry the same `checksum_*` fields).
macro_rules! expected_from {
    ($req:expr) => {
        $crate::s3::checksum::Expected::new(
            s3s::dto::Checksum {
                checksum_crc32: $req.input.checksum_crc32.clone(),
                checksum_crc32c: $req.input.checksum_crc32c.clone(),
                checksum_crc64nvme: $req.input.checksum_crc64nvme.clone(),
                checksum_sha1: $req.input.checksum_sha1.clone(),
                checksum_sha256: $req.input.checksum_sha256.clone(),
                ..Default::default()
            },
            &$req.headers,
            $req.trailing_headers.clone(),
        )
    };
}
pub(crate) use expected_from;

/// Wraps a body so that its checksums are verified when it ends.
pub fn verify<S, E>(body: S, expected: Expected) -> VerifiedBody
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError>,
{
    if expected.is_empty() {
        return Box::pin(body.map(|r| r.map_err(Into::into)));
    }
    let hasher = expected.hasher();
    let state = (body, Some(hasher), expected);
    Box::pin(futures::stream::unfold(
        state,
        |(mut body, hasher, expected)| async move {
            let mut hasher = hasher?;
            match body.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    Some((Ok(chunk), (body, Some(hasher), expected)))
                }
                Some(Err(e)) => Some((Err(e.into()), (body, None, expected))),
                None => {
                    let got = hasher.finalize();
                    match expected.check(&got) {
                        Ok(()) => None,
                        Err(msg) => Some((Err(Box::new(StreamError(msg)) as _), (body, None, expected))),
                    }
                }
            }
        },
    ))
}

/// The S3 error for a body that failed verification or could not be read.
pub fn body_error(msg: &str) -> S3Error {
    if msg.contains("Sha256Mismatch") {
        let mut e = S3Error::with_message(
            s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        e.set_status_code(http::StatusCode::BAD_REQUEST);
        e
    } else if let Some(rest) = msg.strip_prefix(MISMATCH) {
        S3Error::with_message(s3s::S3ErrorCode::BadDigest, rest.trim_start_matches(": ").to_owned())
    } else {
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header ({msg})"
        )
    }
}
