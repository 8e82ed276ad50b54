//! GetObjectAttributes: an object's ETag, checksum, parts, size and
//! storage class in one call, without its bytes (what a checker or a
//! replicator asks before deciding to copy).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::object::reported_version;
use super::{HeraldS3, ok, ts};

/// Parts listed per answer unless `x-amz-max-parts` asks for fewer (S3's).
const DEFAULT_MAX_PARTS: usize = 1000;

pub async fn get_object_attributes(
    s3: &HeraldS3,
    req: S3Request<GetObjectAttributesInput>,
) -> S3Result<S3Response<GetObjectAttributesOutput>> {
    // S3 also requires the read permission itself (s3:GetObject, or
    // GetObjectVersion): an explicit Deny of it must not leak a size, an
    // ETag and a SHA-256.
    if !super::access::also_allowed(
        s3,
        &req,
        "GetObject",
        &req.input.bucket,
        Some(&req.input.key),
        req.input.version_id.as_deref(),
    ) {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    let input = req.input;
    let bucket = s3.granted_bucket(&req.extensions, &input.bucket)?;
    let v = super::access::decided_version(
        s3,
        &req.extensions,
        &input.bucket,
        &input.key,
        input.version_id.as_deref(),
    )?;
    // One header value may list several (`ETag,ObjectSize`), as clients send it.
    let wants = |a: &str| {
        input
            .object_attributes
            .iter()
            .flat_map(|x| x.as_str().split(','))
            .any(|x| x.trim() == a)
    };
    if input.object_attributes.is_empty() {
        return Err(s3_error!(
            InvalidArgument,
            "x-amz-object-attributes must name at least one attribute"
        ));
    }
    let mut out = GetObjectAttributesOutput {
        last_modified: Some(ts(v.last_modified_ms)),
        version_id: reported_version(bucket.versioning, &v.version_id),
        ..Default::default()
    };
    if wants(ObjectAttributes::ETAG) {
        out.e_tag = Some(ETag::Strong(v.etag.as_str().to_owned()));
    }
    if wants(ObjectAttributes::OBJECT_SIZE) {
        out.object_size = Some(v.size as i64);
    }
    if wants(ObjectAttributes::STORAGE_CLASS) {
        out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
    }
    if wants(ObjectAttributes::CHECKSUM)
        && let Some(c) = &v.checksum
    {
        let mut sum = Checksum {
            checksum_type: Some(super::checksum::type_dto(c)),
            ..Default::default()
        };
        super::checksum::set_checksum!(sum, c);
        out.checksum = Some(sum);
    }
    if wants(ObjectAttributes::OBJECT_PARTS)
        && let Some(count) = v.parts_count
    {
        // At least one part per answer, so a paginating client advances.
        let max = input.max_parts.map_or(DEFAULT_MAX_PARTS, |m| {
            usize::try_from(m).unwrap_or(0).clamp(1, DEFAULT_MAX_PARTS)
        });
        let marker = input.part_number_marker.map_or(0, |m| usize::try_from(m).unwrap_or(0));
        let algorithm = v.checksum.as_ref().map(|c| c.algorithm);
        let parts: Vec<ObjectPart> = v
            .segments
            .iter()
            .enumerate()
            .skip(marker)
            .take(max)
            .map(|(i, seg)| {
                let mut p = ObjectPart {
                    part_number: Some(i as i32 + 1),
                    size: Some(seg.len as i64),
                    ..Default::default()
                };
                if let (Some(a), Some(value)) = (algorithm, &seg.checksum) {
                    let c = herald_model::checksum::ObjectChecksum {
                        algorithm: a,
                        kind: herald_model::checksum::ChecksumType::Composite,
                        value: value.clone(),
                    };
                    super::checksum::set_checksum!(p, &c);
                }
                p
            })
            .collect();
        let last = parts.last().and_then(|p| p.part_number);
        let truncated = marker + parts.len() < v.segments.len();
        out.object_parts = Some(GetObjectAttributesParts {
            total_parts_count: Some(count as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: last,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(parts),
        });
    }
    ok(out)
}
