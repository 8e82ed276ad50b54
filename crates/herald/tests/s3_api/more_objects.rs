//! More object behaviour: copies, standard headers and response
//! overrides, streaming and large uploads, concurrent writers, and the
//! details Ceph answers.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_object() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "src").await;
    mk_bucket(&s3, "dst").await;
    let body = random_bytes(100_000);
    s3.put_object()
        .bucket("src")
        .key("orig")
        .body(ByteStream::from(body.clone()))
        .content_type("application/x-test")
        .metadata("k1", "v1")
        .send()
        .await
        .unwrap();

    // COPY directive (default) keeps metadata.
    let out = s3
        .copy_object()
        .bucket("src")
        .key("copy1")
        .copy_source("src/orig")
        .send()
        .await
        .expect("CopyObject same bucket");
    let cr = out.copy_object_result().expect("CopyObjectResult");
    assert_eq!(cr.e_tag(), Some(quoted_md5(&body).as_str()), "CopyObjectResult ETag");
    assert!(cr.last_modified().is_some());
    let h = s3.head_object().bucket("src").key("copy1").send().await.unwrap();
    assert_eq!(
        h.metadata().and_then(|m| m.get("k1")).map(String::as_str),
        Some("v1"),
        "COPY keeps metadata"
    );
    assert_eq!(h.content_type(), Some("application/x-test"), "COPY keeps content-type");
    assert_eq!(get(&s3, "src", "copy1").await, body);

    // Explicit COPY directive.
    s3.copy_object()
        .bucket("src")
        .key("copy2")
        .copy_source("src/orig")
        .metadata_directive(MetadataDirective::Copy)
        .send()
        .await
        .expect("CopyObject COPY");
    let h = s3.head_object().bucket("src").key("copy2").send().await.unwrap();
    assert_eq!(
        h.metadata().cloned().unwrap_or_default().get("k1").map(String::as_str),
        Some("v1")
    );

    // REPLACE directive replaces metadata.
    s3.copy_object()
        .bucket("src")
        .key("copy3")
        .copy_source("src/orig")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("k2", "v2")
        .content_type("text/x-replaced")
        .send()
        .await
        .expect("CopyObject REPLACE");
    let h = s3.head_object().bucket("src").key("copy3").send().await.unwrap();
    let m = h.metadata().cloned().unwrap_or_default();
    assert_eq!(m.get("k2").map(String::as_str), Some("v2"), "REPLACE sets new metadata");
    assert!(!m.contains_key("k1"), "REPLACE must drop old metadata: {m:?}");
    assert_eq!(h.content_type(), Some("text/x-replaced"));
    assert_eq!(get(&s3, "src", "copy3").await, body);

    // Across buckets, with a key needing encoding.
    s3.copy_object()
        .bucket("dst")
        .key("other/name with space")
        .copy_source("src/orig")
        .send()
        .await
        .expect("CopyObject across buckets");
    assert_eq!(get(&s3, "dst", "other/name with space").await, body);
    s3.copy_object()
        .bucket("src")
        .key("back")
        .copy_source("dst/other/name%20with%20space")
        .send()
        .await
        .expect("CopyObject from URL-encoded source key");
    assert_eq!(get(&s3, "src", "back").await, body);

    // Source object unchanged.
    assert_eq!(get(&s3, "src", "orig").await, body);

    // Missing source.
    assert_err(
        s3.copy_object()
            .bucket("dst")
            .key("x")
            .copy_source("src/does-not-exist")
            .send()
            .await,
        "NoSuchKey",
        404,
    );
    // Copy to itself without changing anything is invalid in S3.
    assert_err(
        s3.copy_object()
            .bucket("src")
            .key("orig")
            .copy_source("src/orig")
            .send()
            .await,
        "InvalidRequest",
        400,
    );
}

// ---------------------------------------------------------------------------
// More object behaviour

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_headers_and_response_overrides() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "hdrs").await;
    let expires = DateTime::from_secs(1_900_000_000);
    s3.put_object()
        .bucket("hdrs")
        .key("page.html")
        .body(ByteStream::from_static(b"<html></html>"))
        .content_type("text/html")
        .cache_control("max-age=60")
        .content_disposition("inline")
        .content_encoding("identity")
        .content_language("en-GB")
        .expires(expires)
        .send()
        .await
        .unwrap();
    let h = s3.head_object().bucket("hdrs").key("page.html").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/html"));
    assert_eq!(h.cache_control(), Some("max-age=60"));
    assert_eq!(h.content_disposition(), Some("inline"));
    assert_eq!(h.content_encoding(), Some("identity"));
    assert_eq!(h.content_language(), Some("en-GB"));
    assert_eq!(
        h.expires_string(),
        Some("Sun, 17 Mar 2030 17:46:40 GMT"),
        "Expires header"
    );

    // response-* query overrides on GET.
    let g = s3
        .get_object()
        .bucket("hdrs")
        .key("page.html")
        .response_content_type("application/octet-stream")
        .response_content_disposition("attachment; filename=\"page.html\"")
        .response_cache_control("no-cache")
        .send()
        .await
        .expect("GET with response overrides");
    assert_eq!(g.content_type(), Some("application/octet-stream"));
    assert_eq!(g.content_disposition(), Some("attachment; filename=\"page.html\""));
    assert_eq!(g.cache_control(), Some("no-cache"));
    assert_eq!(body_bytes(g).await, b"<html></html>");
    // Stored headers unchanged by the override.
    let h = s3.head_object().bucket("hdrs").key("page.html").send().await.unwrap();
    assert_eq!(h.content_type(), Some("text/html"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_upload_from_file_and_large_put() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "stream").await;
    let dir = tempfile::tempdir().unwrap();
    // A file-backed body makes the SDK send aws-chunked encoding with a
    // trailing checksum instead of a plain body.
    let data = random_bytes(3 * MIB + 12345);
    let path = dir.path().join("upload.bin");
    std::fs::write(&path, &data).unwrap();
    let out = s3
        .put_object()
        .bucket("stream")
        .key("from-file")
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("streaming PutObject (aws-chunked with trailer)");
    assert_eq!(out.e_tag(), Some(quoted_md5(&data).as_str()));
    let got = get(&s3, "stream", "from-file").await;
    assert!(
        got == data,
        "streamed object differs ({} vs {} bytes)",
        got.len(),
        data.len()
    );
    let h = s3.head_object().bucket("stream").key("from-file").send().await.unwrap();
    assert_eq!(h.content_length(), Some(data.len() as i64));

    // Streaming UploadPart too.
    let up = s3
        .create_multipart_upload()
        .bucket("stream")
        .key("mp")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let e = s3
        .upload_part()
        .bucket("stream")
        .key("mp")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_path(&path).await.unwrap())
        .send()
        .await
        .expect("streaming UploadPart");
    assert_eq!(e.e_tag(), Some(quoted_md5(&data).as_str()));
    s3.complete_multipart_upload()
        .bucket("stream")
        .key("mp")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(e.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(get(&s3, "stream", "mp").await == data);

    // A 12 MiB single PUT.
    let big = random_bytes(12 * MIB);
    assert_eq!(put(&s3, "stream", "big", &big).await, quoted_md5(&big));
    assert!(get(&s3, "stream", "big").await == big);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_to_one_key_leave_one_intact_winner() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "race").await;
    let bodies: Vec<Vec<u8>> = (0..8u8)
        .map(|i| seeded_bytes(i as u64 + 1, 200_000 + i as usize * 1000))
        .collect();
    let mut tasks = Vec::new();
    for b in bodies.clone() {
        let s3 = s3.clone();
        tasks.push(tokio::spawn(async move {
            s3.put_object()
                .bucket("race")
                .key("contended")
                .body(ByteStream::from(b))
                .send()
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().expect("concurrent PUT");
    }
    let got = get(&s3, "race", "contended").await;
    assert!(
        bodies.contains(&got),
        "object after concurrent PUTs is none of the bodies ({} bytes)",
        got.len()
    );
    let h = s3.head_object().bucket("race").key("contended").send().await.unwrap();
    assert_eq!(h.e_tag(), Some(quoted_md5(&got).as_str()));
    assert_eq!(
        list_all_keys(&s3, "race", None).await,
        vec![("contended".to_string(), got.len() as i64)]
    );
}

/// Details Ceph's test suite holds clients to: HEAD reports
/// `x-amz-tagging-count`, tags come back ordered by key, an empty
/// delimiter is not echoed, a write into a suspended bucket reports no
/// version id, and re-creating one's bucket is a 200 in us-east-1 unless
/// it asks for another ACL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_details_as_ceph_answers_them() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("details").send().await.unwrap();
    s3.put_object()
        .bucket("details")
        .key("t")
        .tagging("zeta=1&alpha=2&mid=")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // A presigned HEAD read raw, to see the header the SDK does not model.
    let url = s3
        .head_object()
        .bucket("details")
        .key("t")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri: http::Uri = url.uri().parse().unwrap();
    let r = raw_request(srv.addr(), "HEAD", uri.path_and_query().unwrap().as_str(), &[], b"").unwrap();
    assert_eq!(r.status, 200);
    let count = r.header("x-amz-tagging-count");
    assert_eq!(count, Some("3"), "x-amz-tagging-count on HEAD");
    let tags = s3.get_object_tagging().bucket("details").key("t").send().await.unwrap();
    let keys: Vec<&str> = tags.tag_set().iter().map(|t| t.key()).collect();
    assert_eq!(keys, ["alpha", "mid", "zeta"]);

    let listed = s3
        .list_objects_v2()
        .bucket("details")
        .delimiter("")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.delimiter(), None, "an empty delimiter is not echoed");

    s3.put_bucket_versioning()
        .bucket("details")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let put = s3
        .put_object()
        .bucket("details")
        .key("s")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.version_id(), None, "no version id from a suspended bucket's PUT");

    s3.create_bucket()
        .bucket("details")
        .send()
        .await
        .expect("us-east-1 re-create is a 200");
    let e = s3
        .create_bucket()
        .bucket("details")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("BucketAlreadyExists".to_owned(), 409));
}
