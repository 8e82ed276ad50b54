//! Error responses: codes, statuses, and that failed requests leave the store
//! unchanged.

use aws_sdk_s3::config::http::HttpRequest;
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, VersioningConfiguration,
};
use herald_testkit::*;
use md5::{Digest, Md5};

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Replace the request body (before signing) with `body`, fixing up
/// Content-Length and any integrity headers the SDK computed for the original
/// body, so that the only thing wrong with the request is the body itself.
fn replace_body(body: &'static str) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    move |req: &mut HttpRequest| {
        *req.body_mut() = SdkBody::from(body);
        let h = req.headers_mut();
        h.insert("content-length", body.len().to_string());
        if h.get("content-md5").is_some() {
            h.insert("content-md5", b64(&Md5::digest(body.as_bytes())));
        }
        if h.get("x-amz-checksum-crc32").is_some() {
            h.insert("x-amz-checksum-crc32", b64(&crc32(body.as_bytes()).to_be_bytes()));
        }
        let others: Vec<String> = h
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .filter(|k| k.starts_with("x-amz-checksum-") && k != "x-amz-checksum-crc32")
            .collect();
        assert!(others.is_empty(), "test cannot recompute checksum headers {others:?}");
    }
}

#[test]
fn checksum_helpers_are_correct() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(b64(b"hello"), "aGVsbG8=");
    assert_eq!(b64(b""), "");
    assert_eq!(b64(b"hi!"), "aGkh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_such_bucket_and_no_such_key() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("exists").send().await.unwrap();
    s3.put_object()
        .bucket("exists")
        .key("here")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    assert_err(
        s3.get_object().bucket("missing-bucket").key("k").send().await,
        "NoSuchBucket",
        404,
    );
    assert_err(
        s3.list_objects_v2().bucket("missing-bucket").send().await,
        "NoSuchBucket",
        404,
    );
    assert_err(
        s3.put_object()
            .bucket("missing-bucket")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert_err(
        s3.delete_bucket().bucket("missing-bucket").send().await,
        "NoSuchBucket",
        404,
    );
    assert_err(
        s3.create_multipart_upload()
            .bucket("missing-bucket")
            .key("k")
            .send()
            .await,
        "NoSuchBucket",
        404,
    );
    assert_status(s3.head_bucket().bucket("missing-bucket").send().await, 404);

    let err = s3
        .get_object()
        .bucket("exists")
        .key("not-here")
        .send()
        .await
        .unwrap_err();
    let (code, status) = err_info(&err);
    assert_eq!((code.as_str(), status), ("NoSuchKey", 404), "{err:?}");
    let raw = err.raw_response().unwrap();
    assert!(
        raw.headers().get("x-amz-request-id").is_some(),
        "error response lacks x-amz-request-id: {raw:?}"
    );
    assert!(
        err.as_service_error()
            .and_then(|e| aws_sdk_s3::error::ProvideErrorMetadata::message(e))
            .is_some(),
        "error response lacks <Message>: {err:?}"
    );
    assert_status(s3.head_object().bucket("exists").key("not-here").send().await, 404);
    assert_err(
        s3.copy_object()
            .bucket("exists")
            .key("dst")
            .copy_source("exists/not-here")
            .send()
            .await,
        "NoSuchKey",
        404,
    );

    // Raw XML error body shape.
    let presigned = s3
        .get_object()
        .bucket("exists")
        .key("not-here")
        .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let r = send_presigned(srv.addr(), &presigned, b"");
    assert_eq!(r.status, 404);
    let body = r.body_str();
    assert!(
        body.contains("<Error>") && body.contains("<Code>NoSuchKey</Code>"),
        "error body: {body}"
    );
    assert!(
        r.header("content-type").map(|c| c.contains("xml")).unwrap_or(false),
        "error content-type: {:?}",
        r.header("content-type")
    );

    // Store unchanged.
    assert_eq!(bucket_names(&s3).await, vec!["exists"]);
    assert_eq!(list_all_keys(&s3, "exists", None).await, vec![("here".to_string(), 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_bucket_names() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("good-bucket").send().await.unwrap();
    for name in [
        "Bad_Name",
        "ab",
        "-leading-dash",
        "trailing-dash-",
        "192.168.5.4",
        "double..dot",
        &"x".repeat(64),
    ] {
        let res = s3.create_bucket().bucket(name).send().await;
        match res {
            Ok(v) => panic!("CreateBucket {name:?} should fail with InvalidBucketName, got {v:?}"),
            Err(e) => {
                let (code, status) = err_info(&e);
                assert_eq!(
                    (code.as_str(), status),
                    ("InvalidBucketName", 400),
                    "CreateBucket {name:?}: {e:?}"
                );
            }
        }
    }
    assert_eq!(
        bucket_names(&s3).await,
        vec!["good-bucket"],
        "invalid names must not create buckets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_put_bucket_versioning() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("ver").send().await.unwrap();

    let res = s3
        .put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .customize()
        .mutate_request(replace_body("<not xml"))
        .send()
        .await;
    assert_err(res, "MalformedXML", 400);

    let v = s3.get_bucket_versioning().bucket("ver").send().await.unwrap();
    assert!(
        v.status().is_none(),
        "malformed PutBucketVersioning changed the status to {:?}",
        v.status()
    );
    // A well-formed one still works afterwards.
    s3.put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("well-formed PutBucketVersioning");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_delete_objects() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("delx").send().await.unwrap();
    for k in ["a", "b"] {
        s3.put_object()
            .bucket("delx")
            .key(k)
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .unwrap();
    }
    let res = s3
        .delete_objects()
        .bucket("delx")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").build().unwrap())
                .objects(ObjectIdentifier::builder().key("b").build().unwrap())
                .build()
                .unwrap(),
        )
        .customize()
        .mutate_request(replace_body("<Delete><Object><Key>a</Key></Object><Obj"))
        .send()
        .await;
    assert_err(res, "MalformedXML", 400);
    assert_eq!(
        list_all_keys(&s3, "delx", None).await,
        vec![("a".to_string(), 4), ("b".to_string(), 4)],
        "malformed DeleteObjects must not delete anything"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_complete_multipart_upload() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("mpx").send().await.unwrap();
    let id = s3
        .create_multipart_upload()
        .bucket("mpx")
        .key("obj")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let data = random_bytes(4096);
    let etag = s3
        .upload_part()
        .bucket("mpx")
        .key("obj")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let complete = || {
        s3.complete_multipart_upload()
            .bucket("mpx")
            .key("obj")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(&etag).build())
                    .build(),
            )
    };
    let res = complete()
        .customize()
        .mutate_request(replace_body(
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        ))
        .send()
        .await;
    assert_err(res, "MalformedXML", 400);

    // Upload and part still there, no object created.
    assert_err(s3.get_object().bucket("mpx").key("obj").send().await, "NoSuchKey", 404);
    let parts = s3
        .list_parts()
        .bucket("mpx")
        .key("obj")
        .upload_id(&id)
        .send()
        .await
        .expect("ListParts after malformed complete");
    assert_eq!(parts.parts().len(), 1);
    let ups = s3.list_multipart_uploads().bucket("mpx").send().await.unwrap();
    assert_eq!(ups.uploads().len(), 1);

    // Proper completion still works.
    let done = complete()
        .send()
        .await
        .expect("CompleteMultipartUpload after malformed attempt");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[&data]).as_str()));
    let g = s3.get_object().bucket("mpx").key("obj").send().await.unwrap();
    assert_eq!(body_bytes(g).await, data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_errors_leave_store_unchanged() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("misc").send().await.unwrap();
    s3.put_object()
        .bucket("misc")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();

    // Key longer than 1024 bytes.
    let long_key = "k".repeat(1025);
    assert_err(
        s3.put_object()
            .bucket("misc")
            .key(&long_key)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await,
        "KeyTooLongError",
        400,
    );
    // UploadPart to an unknown upload id.
    assert_err(
        s3.upload_part()
            .bucket("misc")
            .key("k")
            .upload_id("no-such-upload-id")
            .part_number(1)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    // Tagging with a malformed body.
    let res = s3
        .put_object_tagging()
        .bucket("misc")
        .key("k")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(aws_sdk_s3::types::Tag::builder().key("a").value("b").build().unwrap())
                .build()
                .unwrap(),
        )
        .customize()
        .mutate_request(replace_body("<Tagging><TagSet><Tag><Key>a"))
        .send()
        .await;
    assert_err(res, "MalformedXML", 400);
    let t = s3.get_object_tagging().bucket("misc").key("k").send().await.unwrap();
    assert!(
        t.tag_set().is_empty(),
        "malformed PutObjectTagging set tags {:?}",
        t.tag_set()
    );

    // Content-MD5 mismatch -> BadDigest, object untouched.
    let res = s3
        .put_object()
        .bucket("misc")
        .key("k")
        .body(ByteStream::from_static(b"new value"))
        .content_md5(b64(&Md5::digest(b"something else")))
        .send()
        .await;
    assert_err(res, "BadDigest", 400);

    assert_eq!(list_all_keys(&s3, "misc", None).await, vec![("k".to_string(), 1)]);
    let g = s3.get_object().bucket("misc").key("k").send().await.unwrap();
    assert_eq!(body_bytes(g).await, b"v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_flexible_checksum_is_bad_digest() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("cks").send().await.unwrap();
    s3.put_object()
        .bucket("cks")
        .key("k")
        .body(ByteStream::from_static(b"old"))
        .send()
        .await
        .unwrap();
    // Correctly signed request whose x-amz-checksum-crc32 does not match the body.
    let res = s3
        .put_object()
        .bucket("cks")
        .key("k")
        .body(ByteStream::from_static(b"new body"))
        .checksum_crc32(b64(&crc32(b"some other body").to_be_bytes()))
        .customize()
        .mutate_request(|req: &mut HttpRequest| {
            req.headers_mut()
                .insert("x-amz-checksum-crc32", b64(&crc32(b"some other body").to_be_bytes()));
        })
        .send()
        .await;
    let g = s3.get_object().bucket("cks").key("k").send().await.unwrap();
    assert_eq!(
        body_bytes(g).await,
        b"old",
        "PUT with a wrong checksum replaced the object"
    );
    assert_err(res, "BadDigest", 400);
}
