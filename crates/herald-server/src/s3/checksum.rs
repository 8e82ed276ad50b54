//! Verification of the flexible checksums (`x-amz-checksum-*`) clients send
//! with a body, in a header or in an `aws-chunked` trailer.
//!
//! The body is checked while it streams into the store: at its end, a
//! mismatch turns into a stream error, so the store drops the blob and the
//! old object stays in place.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use herald_model::checksum::{ChecksumAlgorithm, ChecksumType, ObjectChecksum, UploadChecksum};
use herald_store::{ChecksumSlot, PartRecord, StoreError};
use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
use s3s::dto::Checksum;
use s3s::{S3Error, TrailingHeaders, s3_error};

/// Prefix of the stream error raised on a mismatch; the error mapping
/// recognises it.
pub const MISMATCH: &str = "ChecksumMismatch";

/// What the client promised.
pub struct Expected {
    header: Checksum,
    /// Algorithms announced for the trailer (`x-amz-trailer`).
    trailer_algorithms: Vec<&'static str>,
    trailers: Option<TrailingHeaders>,
    /// The algorithm whose value the body keeps (see [`verify`]).
    keep: Option<ChecksumAlgorithm>,
}

/// The lower-case name the header and trailer use for an algorithm.
fn wire_name(a: ChecksumAlgorithm) -> &'static str {
    match a {
        ChecksumAlgorithm::Crc32 => "crc32",
        ChecksumAlgorithm::Crc32c => "crc32c",
        ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
        ChecksumAlgorithm::Sha1 => "sha1",
        ChecksumAlgorithm::Sha256 => "sha256",
    }
}

impl Expected {
    /// Nothing promised, nothing kept: the body passes through.
    pub fn nothing() -> Self {
        Expected {
            header: Checksum::default(),
            trailer_algorithms: Vec::new(),
            trailers: None,
            keep: None,
        }
    }

    /// Nothing promised; only `keep` computed (a part copy in an upload
    /// with a checksum).
    pub fn compute_only(keep: ChecksumAlgorithm) -> Self {
        Expected {
            header: Checksum::default(),
            trailer_algorithms: Vec::new(),
            trailers: None,
            keep: Some(keep),
        }
    }

    /// The algorithm the client sent a value of, in a header or announced
    /// for the trailer (the first, if several).
    pub fn sent_algorithm(&self) -> Option<ChecksumAlgorithm> {
        let h = &self.header;
        let in_header = [
            (ChecksumAlgorithm::Crc32, h.checksum_crc32.is_some()),
            (ChecksumAlgorithm::Crc32c, h.checksum_crc32c.is_some()),
            (ChecksumAlgorithm::Crc64Nvme, h.checksum_crc64nvme.is_some()),
            (ChecksumAlgorithm::Sha1, h.checksum_sha1.is_some()),
            (ChecksumAlgorithm::Sha256, h.checksum_sha256.is_some()),
        ];
        in_header
            .into_iter()
            .find(|(_, sent)| *sent)
            .map(|(a, _)| a)
            .or_else(|| {
                self.trailer_algorithms
                    .first()
                    .and_then(|name| ChecksumAlgorithm::ALL.into_iter().find(|a| wire_name(*a) == *name))
            })
    }

    /// Also computes `algorithm` and keeps its value (see [`verify`]).
    pub fn keeping(mut self, algorithm: Option<ChecksumAlgorithm>) -> Self {
        self.keep = algorithm;
        self
    }

    pub fn new(header: Checksum, headers: &HeaderMap, trailers: Option<TrailingHeaders>) -> Self {
        let announced = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let trailer_algorithms = ChecksumAlgorithm::ALL
            .into_iter()
            .map(wire_name)
            .filter(|a| announced.split(',').any(|t| t.trim() == format!("x-amz-checksum-{a}")))
            .collect();
        Expected {
            header,
            trailer_algorithms,
            trailers,
            keep: None,
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
            && self.keep.is_none()
    }

    fn hasher(&self) -> ChecksumHasher {
        let kept = self.keep.map(wire_name);
        let wants = |alg: &str, have: bool| have || self.trailer_algorithms.contains(&alg) || kept == Some(alg);
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

/// The value of one algorithm in a computed [`Checksum`].
fn value_of(c: &Checksum, a: ChecksumAlgorithm) -> Option<String> {
    match a {
        ChecksumAlgorithm::Crc32 => c.checksum_crc32.clone(),
        ChecksumAlgorithm::Crc32c => c.checksum_crc32c.clone(),
        ChecksumAlgorithm::Crc64Nvme => c.checksum_crc64nvme.clone(),
        ChecksumAlgorithm::Sha1 => c.checksum_sha1.clone(),
        ChecksumAlgorithm::Sha256 => c.checksum_sha256.clone(),
    }
}

/// Wraps a body so that its checksums are verified when it ends, and the
/// value of the kept algorithm ([`Expected::keeping`]) lands in the
/// returned slot (only when the body ended and verified).
pub fn verify_keeping<S, E>(body: S, expected: Expected) -> (VerifiedBody, Option<ChecksumSlot>)
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError>,
{
    let slot = expected.keep.map(|_| ChecksumSlot::default());
    let body = verify_into(body, expected, slot.clone());
    (body, slot)
}

/// Wraps a body so that its checksums are verified when it ends.
pub fn verify<S, E>(body: S, expected: Expected) -> VerifiedBody
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError>,
{
    verify_into(body, expected, None)
}

fn verify_into<S, E>(body: S, expected: Expected, slot: Option<ChecksumSlot>) -> VerifiedBody
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Into<BoxError>,
{
    if expected.is_empty() {
        return Box::pin(body.map(|r| r.map_err(Into::into)));
    }
    let hasher = expected.hasher();
    let state = (body, Some(hasher), expected, slot);
    Box::pin(futures::stream::unfold(
        state,
        |(mut body, hasher, expected, slot)| async move {
            let mut hasher = hasher?;
            match body.next().await {
                Some(Ok(chunk)) => {
                    hasher.update(&chunk);
                    Some((Ok(chunk), (body, Some(hasher), expected, slot)))
                }
                Some(Err(e)) => Some((Err(e.into()), (body, None, expected, slot))),
                None => {
                    let got = hasher.finalize();
                    match expected.check(&got) {
                        Ok(()) => {
                            if let (Some(slot), Some(a)) = (&slot, expected.keep)
                                && let Some(value) = value_of(&got, a)
                            {
                                let _ = slot.set(ObjectChecksum {
                                    algorithm: a,
                                    kind: ChecksumType::FullObject,
                                    value,
                                });
                            }
                            None
                        }
                        Err(msg) => Some((Err(Box::new(StreamError(msg)) as _), (body, None, expected, slot))),
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

/// A refused checksum (`400 BadDigest`), from inside a store transaction.
fn bad_digest(message: String) -> StoreError {
    StoreError::Refused {
        code: "BadDigest",
        status: 400,
        message,
    }
}

/// The checksum of a completed multipart object, from its parts' (run
/// inside the completion's transaction, on the parts it chose): a
/// checksum of the parts' checksums suffixed `-N` (`COMPOSITE`), or the
/// parts' CRCs combined into the whole object's (`FULL_OBJECT`). `None`
/// for uploads created without a checksum. `listed` are the values the
/// request gave per part (each must match), `whole` the value it gave for
/// the object (must match too).
pub fn multipart_checksum(
    upload: Option<UploadChecksum>,
    parts: &[PartRecord],
    listed: &[Option<String>],
    whole: Option<&str>,
) -> Result<Option<ObjectChecksum>, StoreError> {
    let Some(UploadChecksum { algorithm, kind }) = upload else {
        return Ok(None);
    };
    let mut values = Vec::with_capacity(parts.len());
    for (part, want) in parts.iter().zip(listed) {
        let Some(have) = &part.checksum else {
            return Err(bad_digest(format!(
                "part {} has no {} checksum",
                part.part_number,
                algorithm.as_str()
            )));
        };
        if want.as_ref().is_some_and(|w| w != have) {
            return Err(StoreError::InvalidPart(format!(
                "part {} has checksum {have}",
                part.part_number
            )));
        }
        let raw = B64
            .decode(have)
            .map_err(|_| StoreError::Corrupt(format!("part {} checksum is not base64", part.part_number)))?;
        values.push((raw, part.size));
    }
    let value = match kind {
        ChecksumType::Composite => {
            let joined: Vec<u8> = values.iter().flat_map(|(raw, _)| raw.iter().copied()).collect();
            format!("{}-{}", B64.encode(digest(algorithm, &joined)), values.len())
        }
        ChecksumType::FullObject => {
            let combined = combine_crcs(algorithm, &values)
                .ok_or_else(|| bad_digest(format!("{} cannot be a FULL_OBJECT checksum", algorithm.as_str())))?;
            B64.encode(combined)
        }
    };
    if let Some(w) = whole
        && w != value
    {
        return Err(bad_digest(format!(
            "the {} you specified did not match the calculated checksum",
            algorithm.as_str()
        )));
    }
    Ok(Some(ObjectChecksum { algorithm, kind, value }))
}

/// One algorithm's digest of `data`, as the bytes S3 base64-encodes.
fn digest(a: ChecksumAlgorithm, data: &[u8]) -> Vec<u8> {
    use s3s::crypto::Checksum as _;
    match a {
        ChecksumAlgorithm::Crc32 => Crc32::checksum(data).as_ref().to_vec(),
        ChecksumAlgorithm::Crc32c => Crc32c::checksum(data).as_ref().to_vec(),
        ChecksumAlgorithm::Crc64Nvme => Crc64Nvme::checksum(data).as_ref().to_vec(),
        ChecksumAlgorithm::Sha1 => Sha1::checksum(data).as_ref().to_vec(),
        ChecksumAlgorithm::Sha256 => Sha256::checksum(data).as_ref().to_vec(),
    }
}

/// The CRC of the concatenation of parts, from each part's CRC (big-endian
/// bytes) and length; `None` for algorithms that are not CRCs.
fn combine_crcs(a: ChecksumAlgorithm, parts: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
    let (alg, width) = match a {
        ChecksumAlgorithm::Crc32 => (crc_fast::CrcAlgorithm::Crc32IsoHdlc, 4),
        ChecksumAlgorithm::Crc32c => (crc_fast::CrcAlgorithm::Crc32Iscsi, 4),
        ChecksumAlgorithm::Crc64Nvme => (crc_fast::CrcAlgorithm::Crc64Nvme, 8),
        _ => return None,
    };
    let as_u64 = |raw: &[u8]| raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let mut iter = parts.iter();
    let (first, _) = iter.next()?;
    let mut crc = as_u64(first);
    for (raw, len) in iter {
        crc = crc_fast::checksum_combine(alg, crc, as_u64(raw), *len);
    }
    Some(crc.to_be_bytes()[8 - width..].to_vec())
}

/// Sets the `checksum_*` fields of an s3s output (or `Checksum`) from a
/// kept checksum, and `checksum_type` where the struct has one.
macro_rules! set_checksum {
    ($out:expr, $c:expr) => {{
        let c: &herald_model::checksum::ObjectChecksum = $c;
        let v = Some(c.value.clone());
        match c.algorithm {
            herald_model::checksum::ChecksumAlgorithm::Crc32 => $out.checksum_crc32 = v,
            herald_model::checksum::ChecksumAlgorithm::Crc32c => $out.checksum_crc32c = v,
            herald_model::checksum::ChecksumAlgorithm::Crc64Nvme => $out.checksum_crc64nvme = v,
            herald_model::checksum::ChecksumAlgorithm::Sha1 => $out.checksum_sha1 = v,
            herald_model::checksum::ChecksumAlgorithm::Sha256 => $out.checksum_sha256 = v,
        }
    }};
}
pub(crate) use set_checksum;

/// The `ChecksumType` DTO of a kept checksum.
pub fn type_dto(c: &ObjectChecksum) -> s3s::dto::ChecksumType {
    s3s::dto::ChecksumType::from(c.kind.as_str().to_owned())
}

/// The value a request gave for `algorithm` in its `checksum_*` fields.
macro_rules! given {
    ($input:expr, $alg:expr) => {{
        match $alg {
            herald_model::checksum::ChecksumAlgorithm::Crc32 => $input.checksum_crc32.clone(),
            herald_model::checksum::ChecksumAlgorithm::Crc32c => $input.checksum_crc32c.clone(),
            herald_model::checksum::ChecksumAlgorithm::Crc64Nvme => $input.checksum_crc64nvme.clone(),
            herald_model::checksum::ChecksumAlgorithm::Sha1 => $input.checksum_sha1.clone(),
            herald_model::checksum::ChecksumAlgorithm::Sha256 => $input.checksum_sha256.clone(),
        }
    }};
}
pub(crate) use given;

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, size: u64, checksum: &str) -> PartRecord {
        PartRecord {
            part_number: n,
            etag: herald_model::ETag::parse("0"),
            size,
            blob: String::new(),
            last_modified_ms: 0,
            checksum: Some(checksum.into()),
        }
    }

    /// The values of ceph/s3-tests' multipart checksum cases: three 5 MiB
    /// parts of 'A', 'B' and 'C'.
    #[test]
    fn multipart_values_match_s3s_reference_cases() {
        const MIB5: u64 = 5 * 1024 * 1024;
        let sha = [
            part(1, MIB5, "275VF5loJr1YYawit0XSHREhkFXYkkPKGuoK0x9VKxI="),
            part(2, MIB5, "mrHwOfjTL5Zwfj74F05HOQGLdUb7E5szdCbxgUSq6NM="),
            part(3, MIB5, "Vw7oB/nKQ5xWb3hNgbyfkvDiivl+U+/Dft48nfJfDow="),
        ];
        let up = |algorithm, kind| Some(UploadChecksum { algorithm, kind });
        let none = [None, None, None];
        let got = multipart_checksum(
            up(ChecksumAlgorithm::Sha256, ChecksumType::Composite),
            &sha,
            &none,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(got.value, "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3");
        let crc = [
            part(1, MIB5, "JRTCyQ=="),
            part(2, MIB5, "QoZTGg=="),
            part(3, MIB5, "YAgjqw=="),
        ];
        let got = multipart_checksum(
            up(ChecksumAlgorithm::Crc32, ChecksumType::FullObject),
            &crc,
            &none,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(got.value, "WgDhBQ==");
        // A wrong whole value, or a part that differs from the request's.
        assert!(matches!(
            multipart_checksum(
                up(ChecksumAlgorithm::Crc32, ChecksumType::FullObject),
                &crc,
                &none,
                Some("AAAAAA==")
            ),
            Err(StoreError::Refused { code: "BadDigest", .. })
        ));
        let listed = [Some("AAAAAA==".to_owned()), None, None];
        assert!(matches!(
            multipart_checksum(
                up(ChecksumAlgorithm::Crc32, ChecksumType::FullObject),
                &crc,
                &listed,
                None
            ),
            Err(StoreError::InvalidPart(_))
        ));
        assert_eq!(multipart_checksum(None, &crc, &none, None).unwrap(), None);
    }
}
