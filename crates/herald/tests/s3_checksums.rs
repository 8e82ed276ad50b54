//! Flexible checksums kept with objects and GetObjectAttributes, with the
//! AWS SDK for Rust. The expected values are ceph/s3-tests' (5 MiB parts
//! of 'A', 'B' and 'C'; 1 KiB of 'A'), computed by other implementations.

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart, ObjectAttributes,
};
use herald_testkit::*;

const MIB5: usize = 5 * 1024 * 1024;
const SHA256_1K_A: &str = "arcu6553sHVAiX4MjW0j7I7vD4w6R+Gz9Ok0Q9lTa+0=";
const CRC32_PARTS: [&str; 3] = ["JRTCyQ==", "QoZTGg==", "YAgjqw=="];
const CRC32_WHOLE: &str = "WgDhBQ==";
const SHA256_PARTS: [&str; 3] = [
    "275VF5loJr1YYawit0XSHREhkFXYkkPKGuoK0x9VKxI=",
    "mrHwOfjTL5Zwfj74F05HOQGLdUb7E5szdCbxgUSq6NM=",
    "Vw7oB/nKQ5xWb3hNgbyfkvDiivl+U+/Dft48nfJfDow=",
];
const SHA256_COMPOSITE: &str = "uWBwpe1dxI4Vw8Gf0X9ynOdw/SS6VBzfWm9giiv1sf4=-3";

fn part_body(i: usize) -> Vec<u8> {
    vec![b"ABC"[i]; MIB5]
}

/// Uploads the three reference parts; returns the upload id and each
/// part's (ETag, checksum) as UploadPart answered.
async fn three_parts(
    s3: &Client,
    key: &str,
    alg: ChecksumAlgorithm,
    kind: ChecksumType,
) -> (String, Vec<(String, String)>) {
    let up = s3
        .create_multipart_upload()
        .bucket("sums")
        .key(key)
        .checksum_algorithm(alg.clone())
        .checksum_type(kind.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.checksum_algorithm(), Some(&alg));
    assert_eq!(up.checksum_type(), Some(&kind));
    let id = up.upload_id().unwrap().to_owned();
    let mut parts = Vec::new();
    for i in 0..3 {
        let out = s3
            .upload_part()
            .bucket("sums")
            .key(key)
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(part_body(i)))
            .send()
            .await
            .unwrap();
        let sum = match alg {
            ChecksumAlgorithm::Crc32 => out.checksum_crc32(),
            _ => out.checksum_sha256(),
        };
        parts.push((
            out.e_tag().unwrap().to_owned(),
            sum.expect("UploadPart returns its checksum").to_owned(),
        ));
    }
    (id, parts)
}

fn completed(parts: &[(String, String)], alg: &ChecksumAlgorithm) -> CompletedMultipartUpload {
    let list = parts.iter().enumerate().map(|(i, (etag, sum))| {
        let p = CompletedPart::builder().part_number(i as i32 + 1).e_tag(etag);
        match alg {
            ChecksumAlgorithm::Crc32 => p.checksum_crc32(sum),
            _ => p.checksum_sha256(sum),
        }
        .build()
    });
    CompletedMultipartUpload::builder()
        .set_parts(Some(list.collect()))
        .build()
}

/// A single PUT keeps its SHA256, returned only when asked; a wrong one is refused; a copy has the same.
async fn check_a_single_put_keeps_its_checksum(s3: &Client) {
    // A single PUT keeps the checksum it was sent with.
    let put = s3
        .put_object()
        .bucket("sums")
        .key("one")
        .checksum_sha256(SHA256_1K_A)
        .body(ByteStream::from(vec![b'A'; 1024]))
        .send()
        .await
        .unwrap();
    assert_eq!(put.checksum_sha256(), Some(SHA256_1K_A));
    let head = s3.head_object().bucket("sums").key("one").send().await.unwrap();
    assert_eq!(head.checksum_sha256(), None, "only with x-amz-checksum-mode");
    let head = s3
        .head_object()
        .bucket("sums")
        .key("one")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(SHA256_1K_A));
    assert_eq!(head.checksum_type(), Some(&ChecksumType::FullObject));
    // A wrong one is refused and the object stays.
    assert_err(
        s3.put_object()
            .bucket("sums")
            .key("one")
            .checksum_sha256("ungrHrn8PyW3k9hdbyJ9hpHx9GOHeYQgLr7x/l4ByyA=")
            .body(ByteStream::from(vec![b'B'; 1024]))
            .send()
            .await,
        "BadDigest",
        400,
    );
    let got = s3
        .get_object()
        .bucket("sums")
        .key("one")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(got.checksum_sha256(), Some(SHA256_1K_A));
    // A copy has the same bytes, so the same whole-object checksum.
    s3.copy_object()
        .bucket("sums")
        .key("one-copy")
        .copy_source("sums/one")
        .send()
        .await
        .unwrap();
    let copy = s3
        .head_object()
        .bucket("sums")
        .key("one-copy")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(copy.checksum_sha256(), Some(SHA256_1K_A));
}

/// A CRC32 multipart upload gets the whole-object CRC32 combined from its parts, and each part keeps its own.
async fn check_a_full_object_crc32_upload(s3: &Client) {
    // CRC32 over the whole multipart object, combined from its parts.
    let (id, parts) = three_parts(s3, "crc", ChecksumAlgorithm::Crc32, ChecksumType::FullObject).await;
    let sums: Vec<&str> = parts.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(sums, CRC32_PARTS);
    let done = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("crc")
        .upload_id(&id)
        .checksum_crc32(CRC32_WHOLE)
        .multipart_upload(completed(&parts, &ChecksumAlgorithm::Crc32))
        .send()
        .await
        .unwrap();
    assert_eq!(done.checksum_crc32(), Some(CRC32_WHOLE));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::FullObject));
    let p2 = s3
        .get_object()
        .bucket("sums")
        .key("crc")
        .part_number(2)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.checksum_crc32(), Some(CRC32_PARTS[1]), "a part's own checksum");
}

/// A SHA256 multipart upload gets the composite checksum of its parts' checksums; a wrong one is refused.
async fn check_a_composite_sha256_upload(s3: &Client) {
    // SHA256 of the parts' SHA256s; a wrong whole value is refused first.
    let (id, parts) = three_parts(s3, "sha", ChecksumAlgorithm::Sha256, ChecksumType::Composite).await;
    let sums: Vec<&str> = parts.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(sums, SHA256_PARTS);
    let complete = |whole: &str| {
        s3.complete_multipart_upload()
            .bucket("sums")
            .key("sha")
            .upload_id(&id)
            .checksum_sha256(whole)
            .multipart_upload(completed(&parts, &ChecksumAlgorithm::Sha256))
            .send()
    };
    assert_err(complete("bad").await, "BadDigest", 400);
    let done = complete(SHA256_COMPOSITE).await.unwrap();
    assert_eq!(done.checksum_sha256(), Some(SHA256_COMPOSITE));
    assert_eq!(done.checksum_type(), Some(&ChecksumType::Composite));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checksums_are_kept_and_returned_when_asked() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("sums").send().await.unwrap();

    check_a_single_put_keeps_its_checksum(&s3).await;
    check_a_full_object_crc32_upload(&s3).await;
    check_a_composite_sha256_upload(&s3).await;

    // Hashes cannot be combined into a whole-object value.
    assert_err(
        s3.create_multipart_upload()
            .bucket("sums")
            .key("x")
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_type(ChecksumType::FullObject)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_object_attributes_pages_parts_and_is_access_checked() {
    let srv = TestServer::start();
    srv.create_user(
        "bob",
        "BOBACCESSKEY00000001",
        "bobSecretKey/0123456789abcdefghijklmnopq",
    );
    let s3 = srv.s3();
    s3.create_bucket().bucket("sums").send().await.unwrap();
    let (id, parts) = three_parts(&s3, "mp", ChecksumAlgorithm::Sha256, ChecksumType::Composite).await;
    let done = s3
        .complete_multipart_upload()
        .bucket("sums")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(completed(&parts, &ChecksumAlgorithm::Sha256))
        .send()
        .await
        .unwrap();
    let all = [
        ObjectAttributes::Etag,
        ObjectAttributes::Checksum,
        ObjectAttributes::ObjectParts,
        ObjectAttributes::StorageClass,
        ObjectAttributes::ObjectSize,
    ];
    let attrs = s3
        .get_object_attributes()
        .bucket("sums")
        .key("mp")
        .set_object_attributes(Some(all.to_vec()))
        .max_parts(1)
        .part_number_marker("1")
        .send()
        .await
        .unwrap();
    // GetObjectAttributes' ETag has no quotes, unlike every other ETag.
    assert_eq!(attrs.e_tag(), Some(done.e_tag().unwrap().trim_matches('"')));
    assert_eq!(attrs.object_size(), Some(3 * MIB5 as i64));
    assert_eq!(attrs.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    assert_eq!(
        attrs.checksum().and_then(|c| c.checksum_sha256()),
        Some(SHA256_COMPOSITE)
    );
    let op = attrs.object_parts().unwrap();
    assert_eq!(op.total_parts_count(), Some(3));
    assert_eq!(op.is_truncated(), Some(true));
    assert_eq!(op.next_part_number_marker(), Some("2"));
    let listed: Vec<_> = op
        .parts()
        .iter()
        .map(|p| (p.part_number(), p.size(), p.checksum_sha256()))
        .collect();
    assert_eq!(listed, [(Some(2), Some(MIB5 as i64), Some(SHA256_PARTS[1]))]);

    // Only what was asked; a plain object has no parts.
    s3.put_object()
        .bucket("sums")
        .key("plain")
        .body(ByteStream::from_static(b"foo"))
        .send()
        .await
        .unwrap();
    let attrs = s3
        .get_object_attributes()
        .bucket("sums")
        .key("plain")
        .object_attributes(ObjectAttributes::ObjectSize)
        .object_attributes(ObjectAttributes::ObjectParts)
        .send()
        .await
        .unwrap();
    assert_eq!((attrs.object_size(), attrs.e_tag()), (Some(3), None));
    assert!(attrs.object_parts().is_none());

    // Another tenant reads no attributes of a private object, nor with
    // only s3:GetObjectAttributes: S3 requires s3:GetObject as well.
    let bob = srv.s3_as("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");
    let bob_size = || {
        bob.get_object_attributes()
            .bucket("sums")
            .key("plain")
            .object_attributes(ObjectAttributes::ObjectSize)
            .send()
    };
    assert_status(bob_size().await, 403);
    let grant = |actions: &[&str]| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam:::user/bob"]}, "Action": actions,
            "Resource": ["arn:aws:s3:::sums/*"]}]})
        .to_string()
    };
    s3.put_bucket_policy()
        .bucket("sums")
        .policy(grant(&["s3:GetObjectAttributes"]))
        .send()
        .await
        .unwrap();
    assert_status(bob_size().await, 403);
    s3.put_bucket_policy()
        .bucket("sums")
        .policy(grant(&["s3:GetObjectAttributes", "s3:GetObject"]))
        .send()
        .await
        .unwrap();
    assert_eq!(bob_size().await.unwrap().object_size(), Some(3));
}
