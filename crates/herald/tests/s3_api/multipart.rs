//! Multipart uploads: complete, abort, errors, UploadPartCopy and the
//! paginated part and upload listings.

use super::*;

// ---------------------------------------------------------------------------
// Multipart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_upload_complete() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "mpu").await;

    let parts_data: Vec<Vec<u8>> = (0..3).map(|_| random_bytes(5 * MIB)).collect();
    let create = s3
        .create_multipart_upload()
        .bucket("mpu")
        .key("big/file.bin")
        .content_type("application/octet-stream")
        .metadata("purpose", "mpu-test")
        .send()
        .await
        .expect("CreateMultipartUpload");
    let upload_id = create.upload_id().expect("UploadId").to_string();
    assert_eq!(create.key(), Some("big/file.bin"));

    let etags = upload_parts_out_of_order(&s3, &upload_id, &parts_data).await;

    // Object not visible before completion.
    assert_err(
        s3.get_object().bucket("mpu").key("big/file.bin").send().await,
        "NoSuchKey",
        404,
    );

    let parts: Vec<CompletedPart> = (0..3)
        .map(|i| {
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(&etags[i])
                .build()
        })
        .collect();
    let done = s3
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big/file.bin")
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .expect("CompleteMultipartUpload");
    let refs: Vec<&[u8]> = parts_data.iter().map(|p| p.as_slice()).collect();
    let expected_etag = multipart_etag(&refs);
    assert_eq!(
        done.e_tag(),
        Some(expected_etag.as_str()),
        "CompleteMultipartUpload ETag"
    );
    // A retried completion (its first answer lost) gets the same answer.
    let complete_again = || {
        s3.complete_multipart_upload()
            .bucket("mpu")
            .key("big/file.bin")
            .upload_id(&upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(&etags[0]).build())
                    .build(),
            )
            .send()
    };
    let again = complete_again().await.expect("retried CompleteMultipartUpload");
    assert_eq!(again.e_tag(), Some(expected_etag.as_str()));

    let full = check_the_completed_object(&s3, &parts_data, &expected_etag).await;
    s3.delete_object().bucket("mpu").key("plain").send().await.unwrap();
    // Once the object it made is overwritten, the upload is simply gone.
    put(&s3, "mpu", "big/file.bin", b"overwritten").await;
    assert_err(complete_again().await, "NoSuchUpload", 404);
    put(&s3, "mpu", "big/file.bin", &full).await;

    // Upload no longer listed; its parts are gone.
    let lmu = s3.list_multipart_uploads().bucket("mpu").send().await.unwrap();
    assert!(
        lmu.uploads().is_empty(),
        "completed upload still listed: {:?}",
        lmu.uploads()
    );
    assert_err(
        s3.list_parts()
            .bucket("mpu")
            .key("big/file.bin")
            .upload_id(&upload_id)
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    // Listing reports the full size.
    assert_eq!(
        list_all_keys(&s3, "mpu", None).await,
        vec![("big/file.bin".to_string(), full.len() as i64)]
    );
}

/// The upload is listed; its parts, uploaded out of order, are listed in
/// order with their sizes and ETags. The parts' ETags.
async fn upload_parts_out_of_order(s3: &aws_sdk_s3::Client, upload_id: &str, parts_data: &[Vec<u8>]) -> Vec<String> {
    // ListMultipartUploads shows it.
    let lmu = s3
        .list_multipart_uploads()
        .bucket("mpu")
        .send()
        .await
        .expect("ListMultipartUploads");
    let ups: Vec<(String, String)> = lmu
        .uploads()
        .iter()
        .map(|u| {
            (
                u.key().unwrap_or_default().to_string(),
                u.upload_id().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(ups, vec![("big/file.bin".to_string(), upload_id.to_owned())]);

    // Upload parts out of order.
    let mut etags = vec![String::new(); 3];
    for i in [1usize, 0, 2] {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("big/file.bin")
            .upload_id(upload_id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(parts_data[i].clone()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("UploadPart {}: {e:?}", i + 1));
        let etag = out.e_tag().expect("UploadPart ETag").to_string();
        assert_eq!(etag, quoted_md5(&parts_data[i]), "UploadPart {} ETag", i + 1);
        etags[i] = etag;
    }

    let lp = s3
        .list_parts()
        .bucket("mpu")
        .key("big/file.bin")
        .upload_id(upload_id)
        .send()
        .await
        .expect("ListParts");
    let listed: Vec<(i32, i64, String)> = lp
        .parts()
        .iter()
        .map(|p| {
            (
                p.part_number().unwrap(),
                p.size().unwrap(),
                p.e_tag().unwrap().to_string(),
            )
        })
        .collect();
    let expected: Vec<(i32, i64, String)> = (0..3)
        .map(|i| (i as i32 + 1, (5 * MIB) as i64, etags[i].clone()))
        .collect();
    assert_eq!(listed, expected, "ListParts");
    etags
}

/// The completed object: its head, its bytes, ranges across parts, GET and
/// HEAD by partNumber (and a plain object as one part). Its bytes.
async fn check_the_completed_object(s3: &aws_sdk_s3::Client, parts_data: &[Vec<u8>], expected_etag: &str) -> Vec<u8> {
    let full: Vec<u8> = parts_data.concat();
    let head = s3.head_object().bucket("mpu").key("big/file.bin").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(expected_etag), "HeadObject ETag of multipart object");
    assert_eq!(head.content_length(), Some(full.len() as i64));
    assert_eq!(head.content_type(), Some("application/octet-stream"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("purpose")).map(String::as_str),
        Some("mpu-test")
    );

    let got = get(s3, "mpu", "big/file.bin").await;
    assert!(
        got == full,
        "multipart GET returned {} bytes differing from the {} uploaded",
        got.len(),
        full.len()
    );

    // Range across the part 1 / part 2 boundary.
    let start = 5 * MIB - 100;
    let end = 5 * MIB + 99;
    let r = s3
        .get_object()
        .bucket("mpu")
        .key("big/file.bin")
        .range(format!("bytes={start}-{end}"))
        .send()
        .await
        .expect("ranged GET across part boundary");
    assert_eq!(
        r.content_range(),
        Some(format!("bytes {start}-{end}/{}", full.len()).as_str())
    );
    assert_eq!(body_bytes(r).await, full[start..=end].to_vec());

    // GET and HEAD by partNumber: that part's bytes, the object's ETag and
    // part count (what a replicator needs to keep the layout).
    let p2 = s3
        .get_object()
        .bucket("mpu")
        .key("big/file.bin")
        .part_number(2)
        .send()
        .await
        .expect("GET partNumber=2");
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(p2.e_tag(), Some(expected_etag));
    assert_eq!(
        p2.content_range(),
        Some(format!("bytes {}-{}/{}", 5 * MIB, 10 * MIB - 1, full.len()).as_str())
    );
    assert!(body_bytes(p2).await == parts_data[1], "part 2's bytes");
    let h3 = s3
        .head_object()
        .bucket("mpu")
        .key("big/file.bin")
        .part_number(3)
        .send()
        .await
        .expect("HEAD partNumber=3");
    assert_eq!((h3.content_length(), h3.parts_count()), (Some(5 * MIB as i64), Some(3)));
    assert_err(
        s3.get_object()
            .bucket("mpu")
            .key("big/file.bin")
            .part_number(4)
            .send()
            .await,
        "InvalidPart",
        400,
    );
    assert_err(
        s3.get_object()
            .bucket("mpu")
            .key("big/file.bin")
            .part_number(1)
            .range("bytes=0-1")
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    // A plain object is one part.
    put(s3, "mpu", "plain", b"plain body").await;
    let whole = s3
        .get_object()
        .bucket("mpu")
        .key("plain")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(whole).await, b"plain body");
    assert_err(
        s3.get_object().bucket("mpu").key("plain").part_number(2).send().await,
        "InvalidPart",
        400,
    );
    full
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_abort_and_errors() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "mpa").await;

    aborted_upload_leaves_nothing(&s3).await;

    failed_completions_leave_the_upload_usable(&s3).await;
}

/// An aborted upload: no parts, no listing, no further parts, no object.
async fn aborted_upload_leaves_nothing(s3: &aws_sdk_s3::Client) {
    let up = s3
        .create_multipart_upload()
        .bucket("mpa")
        .key("k")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    s3.upload_part()
        .bucket("mpa")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(random_bytes(1024)))
        .send()
        .await
        .unwrap();
    s3.abort_multipart_upload()
        .bucket("mpa")
        .key("k")
        .upload_id(&id)
        .send()
        .await
        .expect("AbortMultipartUpload");
    assert_err(
        s3.list_parts().bucket("mpa").key("k").upload_id(&id).send().await,
        "NoSuchUpload",
        404,
    );
    let lmu = s3.list_multipart_uploads().bucket("mpa").send().await.unwrap();
    assert!(lmu.uploads().is_empty());
    assert_err(
        s3.upload_part()
            .bucket("mpa")
            .key("k")
            .upload_id(&id)
            .part_number(2)
            .body(ByteStream::from(vec![1u8; 10]))
            .send()
            .await,
        "NoSuchUpload",
        404,
    );
    assert!(
        list_all_keys(s3, "mpa", None).await.is_empty(),
        "aborted upload must not create an object"
    );
}

/// Completing with a wrong ETag is InvalidPart, with a too-small
/// non-last part EntityTooSmall; the upload stays usable.
async fn failed_completions_leave_the_upload_usable(s3: &aws_sdk_s3::Client) {
    // Complete with a wrong ETag -> InvalidPart; a too-small non-last part -> EntityTooSmall.
    let up = s3
        .create_multipart_upload()
        .bucket("mpa")
        .key("k2")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let small1 = random_bytes(1024);
    let small2 = random_bytes(1024);
    let e1 = s3
        .upload_part()
        .bucket("mpa")
        .key("k2")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(small1.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    let e2 = s3
        .upload_part()
        .bucket("mpa")
        .key("k2")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(small2.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    assert_err(
        s3.complete_multipart_upload()
            .bucket("mpa")
            .key("k2")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(
                        CompletedPart::builder()
                            .part_number(1)
                            .e_tag("\"0123456789abcdef0123456789abcdef\"")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await,
        "InvalidPart",
        400,
    );
    assert_err(
        s3.complete_multipart_upload()
            .bucket("mpa")
            .key("k2")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(CompletedPart::builder().part_number(1).e_tag(&e1).build())
                    .parts(CompletedPart::builder().part_number(2).e_tag(&e2).build())
                    .build(),
            )
            .send()
            .await,
        "EntityTooSmall",
        400,
    );
    // Still usable after failed completes: a single small part is fine (last part may be small).
    let done = s3
        .complete_multipart_upload()
        .bucket("mpa")
        .key("k2")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(2).e_tag(&e2).build())
                .build(),
        )
        .send()
        .await
        .expect("complete with only part 2");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[&small2]).as_str()));
    assert_eq!(get(s3, "mpa", "k2").await, small2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_part_copy() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "upc").await;
    let src = random_bytes(7 * MIB);
    put(&s3, "upc", "source", &src).await;

    let up = s3
        .create_multipart_upload()
        .bucket("upc")
        .key("dest")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();

    // Part 1: bytes [1 MiB, 6 MiB) of the source via UploadPartCopy.
    let (a, b) = (MIB, 6 * MIB - 1);
    let out = s3
        .upload_part_copy()
        .bucket("upc")
        .key("dest")
        .upload_id(&id)
        .part_number(1)
        .copy_source("upc/source")
        .copy_source_range(format!("bytes={a}-{b}"))
        .send()
        .await
        .expect("UploadPartCopy");
    let part1 = &src[a..=b];
    let e1 = out
        .copy_part_result()
        .and_then(|r| r.e_tag())
        .expect("CopyPartResult ETag")
        .to_string();
    assert_eq!(e1, quoted_md5(part1), "UploadPartCopy ETag");

    // Part 2: regular upload.
    let part2 = random_bytes(1000);
    let e2 = s3
        .upload_part()
        .bucket("upc")
        .key("dest")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(part2.clone()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();

    let done = s3
        .complete_multipart_upload()
        .bucket("upc")
        .key("dest")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(&e1).build())
                .parts(CompletedPart::builder().part_number(2).e_tag(&e2).build())
                .build(),
        )
        .send()
        .await
        .expect("CompleteMultipartUpload with copied part");
    assert_eq!(done.e_tag(), Some(multipart_etag(&[part1, &part2]).as_str()));
    let mut expected = part1.to_vec();
    expected.extend_from_slice(&part2);
    let got = get(&s3, "upc", "dest").await;
    assert!(
        got == expected,
        "UploadPartCopy result differs ({} vs {} bytes)",
        got.len(),
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_parts_and_uploads_pagination() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "mplist").await;

    // Three uploads: two for the same key, one under another prefix.
    let mut ids = Vec::new();
    for key in ["x/one", "x/one", "y/two"] {
        let u = s3
            .create_multipart_upload()
            .bucket("mplist")
            .key(key)
            .send()
            .await
            .unwrap();
        ids.push((key.to_string(), u.upload_id().unwrap().to_string()));
    }
    assert_ne!(ids[0].1, ids[1].1, "two uploads of one key need distinct ids");
    let lmu = s3.list_multipart_uploads().bucket("mplist").send().await.unwrap();
    assert_eq!(lmu.uploads().len(), 3);
    let keys: Vec<&str> = lmu.uploads().iter().map(|u| u.key().unwrap()).collect();
    assert_eq!(keys, vec!["x/one", "x/one", "y/two"], "uploads sorted by key");
    let lmu = s3
        .list_multipart_uploads()
        .bucket("mplist")
        .prefix("y/")
        .send()
        .await
        .unwrap();
    let got: Vec<(String, String)> = lmu
        .uploads()
        .iter()
        .map(|u| (u.key().unwrap().to_string(), u.upload_id().unwrap().to_string()))
        .collect();
    assert_eq!(got, vec![ids[2].clone()], "ListMultipartUploads prefix y/");

    // Five small parts on the first upload, paginate ListParts by 2.
    let (key, id) = ids[0].clone();
    paginate_parts(&s3, &key, &id).await;

    // Aborting one upload of x/one leaves the other.
    s3.abort_multipart_upload()
        .bucket("mplist")
        .key(&key)
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let lmu = s3.list_multipart_uploads().bucket("mplist").send().await.unwrap();
    let left: Vec<String> = lmu
        .uploads()
        .iter()
        .map(|u| u.upload_id().unwrap().to_string())
        .collect();
    let mut want = vec![ids[1].1.clone(), ids[2].1.clone()];
    want.sort();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    assert_eq!(left_sorted, want);
}

/// Five small parts (part 3 uploaded twice), ListParts paginated by 2.
async fn paginate_parts(s3: &aws_sdk_s3::Client, key: &str, id: &str) {
    let mut etags = Vec::new();
    for n in 1..=5 {
        let e = s3
            .upload_part()
            .bucket("mplist")
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(vec![n as u8; 100 * n as usize]))
            .send()
            .await
            .unwrap();
        etags.push(e.e_tag().unwrap().to_string());
    }
    // Re-uploading part 3 replaces it.
    let e3 = s3
        .upload_part()
        .bucket("mplist")
        .key(key)
        .upload_id(id)
        .part_number(3)
        .body(ByteStream::from(vec![42u8; 777]))
        .send()
        .await
        .unwrap();
    etags[2] = e3.e_tag().unwrap().to_string();

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let mut req = s3.list_parts().bucket("mplist").key(key).upload_id(id).max_parts(2);
        if let Some(m) = &marker {
            req = req.part_number_marker(m);
        }
        let out = req.send().await.expect("ListParts page");
        assert!(out.parts().len() <= 2);
        seen.extend(out.parts().iter().map(|p| {
            (
                p.part_number().unwrap(),
                p.size().unwrap(),
                p.e_tag().unwrap().to_string(),
            )
        }));
        if out.is_truncated() == Some(true) {
            marker = Some(out.next_part_number_marker().expect("NextPartNumberMarker").to_string());
        } else {
            marker = None;
            break;
        }
    }
    assert!(marker.is_none(), "ListParts pagination does not terminate");
    let expected: Vec<(i32, i64, String)> = (1..=5)
        .map(|n| {
            (
                n,
                if n == 3 { 777 } else { 100 * n as i64 },
                etags[n as usize - 1].clone(),
            )
        })
        .collect();
    assert_eq!(seen, expected, "paginated ListParts");
}
