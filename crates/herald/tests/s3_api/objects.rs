//! Objects: put / get / head / delete, ranges, conditional reads and
//! object tagging.

use super::*;

// ---------------------------------------------------------------------------
// Objects: put / get / head / delete

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_head_with_metadata_and_tagging() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "objs").await;

    let body = b"The quick brown fox jumps over the lazy dog".to_vec();
    let put_out = s3
        .put_object()
        .bucket("objs")
        .key("dir/fox.txt")
        .body(ByteStream::from(body.clone()))
        .content_type("text/plain; charset=utf-8")
        .metadata("color", "red")
        .metadata("owner-name", "Ada")
        .tagging("a=1&b=2")
        .send()
        .await
        .expect("PutObject");
    assert_eq!(put_out.e_tag(), Some(quoted_md5(&body).as_str()), "PutObject ETag");

    let head = s3
        .head_object()
        .bucket("objs")
        .key("dir/fox.txt")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(
        head.content_length(),
        Some(body.len() as i64),
        "HeadObject Content-Length"
    );
    assert_eq!(head.e_tag(), Some(quoted_md5(&body).as_str()), "HeadObject ETag");
    assert_eq!(
        head.content_type(),
        Some("text/plain; charset=utf-8"),
        "HeadObject Content-Type"
    );
    let meta = head.metadata().cloned().unwrap_or_default();
    let expect: HashMap<String, String> = [("color", "red"), ("owner-name", "Ada")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(meta, expect, "HeadObject user metadata");
    assert!(head.last_modified().is_some(), "HeadObject Last-Modified");

    let got = s3
        .get_object()
        .bucket("objs")
        .key("dir/fox.txt")
        .send()
        .await
        .expect("GetObject");
    assert_eq!(got.e_tag(), Some(quoted_md5(&body).as_str()), "GetObject ETag");
    assert_eq!(got.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(got.content_length(), Some(body.len() as i64));
    assert_eq!(
        got.metadata().cloned().unwrap_or_default(),
        expect,
        "GetObject user metadata"
    );
    assert_eq!(got.tag_count(), Some(2), "GetObject x-amz-tagging-count");
    assert_eq!(body_bytes(got).await, body);

    let tags = s3
        .get_object_tagging()
        .bucket("objs")
        .key("dir/fox.txt")
        .send()
        .await
        .expect("GetObjectTagging");
    let mut tv: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    tv.sort();
    assert_eq!(
        tv,
        vec![("a".into(), "1".into()), ("b".into(), "2".into())],
        "tags from x-amz-tagging"
    );

    overwrite_empty_and_encoded_keys(&s3).await;
}

/// Overwriting replaces body and metadata; empty objects; keys that need
/// URL encoding.
async fn overwrite_empty_and_encoded_keys(s3: &aws_sdk_s3::Client) {
    // Overwrite replaces body and metadata.
    let body2 = b"second".to_vec();
    s3.put_object()
        .bucket("objs")
        .key("dir/fox.txt")
        .body(ByteStream::from(body2.clone()))
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket("objs").key("dir/fox.txt").send().await.unwrap();
    assert_eq!(head.e_tag(), Some(quoted_md5(&body2).as_str()));
    assert_eq!(head.content_length(), Some(body2.len() as i64));
    assert!(
        head.metadata().map(|m| m.is_empty()).unwrap_or(true),
        "overwrite must drop old metadata, got {:?}",
        head.metadata()
    );
    assert_eq!(get(s3, "objs", "dir/fox.txt").await, body2);

    // Empty object.
    let e = put(s3, "objs", "empty", b"").await;
    assert_eq!(e, quoted_md5(b""));
    assert_eq!(get(s3, "objs", "empty").await, Vec::<u8>::new());
    let h = s3.head_object().bucket("objs").key("empty").send().await.unwrap();
    assert_eq!(h.content_length(), Some(0));

    // Keys with characters that need URL encoding.
    for key in ["with space/and+plus", "unicodé/ключ/鍵", "a=b&c?d#e", "trailing/"] {
        let data = format!("content of {key}").into_bytes();
        put(s3, "objs", key, &data).await;
        assert_eq!(get(s3, "objs", key).await, data, "round trip of key {key:?}");
    }
    let keys: Vec<String> = list_all_keys(s3, "objs", None)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for key in ["with space/and+plus", "unicodé/ключ/鍵", "a=b&c?d#e", "trailing/"] {
        assert!(keys.contains(&key.to_string()), "listing lacks {key:?}: {keys:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_ranges() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "ranges").await;
    let body = b"0123456789".to_vec();
    put(&s3, "ranges", "digits", &body).await;

    let r = s3
        .get_object()
        .bucket("ranges")
        .key("digits")
        .range("bytes=2-5")
        .send()
        .await
        .expect("range 2-5");
    assert_eq!(r.content_range(), Some("bytes 2-5/10"), "Content-Range for bytes=2-5");
    assert_eq!(r.content_length(), Some(4));
    assert_eq!(body_bytes(r).await, b"2345");

    let r = s3
        .get_object()
        .bucket("ranges")
        .key("digits")
        .range("bytes=-3")
        .send()
        .await
        .expect("suffix range");
    assert_eq!(r.content_range(), Some("bytes 7-9/10"), "Content-Range for bytes=-3");
    assert_eq!(body_bytes(r).await, b"789");

    let r = s3
        .get_object()
        .bucket("ranges")
        .key("digits")
        .range("bytes=6-")
        .send()
        .await
        .expect("open range");
    assert_eq!(r.content_range(), Some("bytes 6-9/10"));
    assert_eq!(body_bytes(r).await, b"6789");

    // End past the object is clamped.
    let r = s3
        .get_object()
        .bucket("ranges")
        .key("digits")
        .range("bytes=8-100")
        .send()
        .await
        .expect("clamped range");
    assert_eq!(r.content_range(), Some("bytes 8-9/10"));
    assert_eq!(body_bytes(r).await, b"89");

    // Raw check of the 206 status line.
    let presigned = s3
        .get_object()
        .bucket("ranges")
        .key("digits")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let uri = presigned.uri().to_string();
    let target = &uri[uri.find("/ranges").unwrap()..];
    let raw = raw_request(srv.addr(), "GET", target, &[("Range", "bytes=2-5")], b"").unwrap();
    assert_eq!(raw.status, 206, "ranged GET status: {raw:?}");
    assert_eq!(raw.body, b"2345");

    // Unsatisfiable range.
    assert_err(
        s3.get_object()
            .bucket("ranges")
            .key("digits")
            .range("bytes=20-30")
            .send()
            .await,
        "InvalidRange",
        416,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_get() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "cond").await;
    let body = b"conditional body".to_vec();
    let etag = put(&s3, "cond", "k", &body).await;
    assert_eq!(etag, quoted_md5(&body));

    // If-Match (matching) -> 200.
    let r = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_match(&etag)
        .send()
        .await
        .expect("If-Match matching");
    assert_eq!(body_bytes(r).await, body);
    // If-Match (not matching) -> 412.
    assert_err(
        s3.get_object()
            .bucket("cond")
            .key("k")
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
    // If-None-Match (matching) -> 304.
    assert_status(
        s3.get_object()
            .bucket("cond")
            .key("k")
            .if_none_match(&etag)
            .send()
            .await,
        304,
    );
    // If-None-Match (not matching) -> 200.
    let r = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_none_match("\"00000000000000000000000000000000\"")
        .send()
        .await
        .expect("If-None-Match non-matching");
    assert_eq!(body_bytes(r).await, body);
    // HEAD honours them too.
    assert_status(
        s3.head_object()
            .bucket("cond")
            .key("k")
            .if_none_match(&etag)
            .send()
            .await,
        304,
    );
    assert_status(
        s3.head_object()
            .bucket("cond")
            .key("k")
            .if_match("\"00000000000000000000000000000000\"")
            .send()
            .await,
        412,
    );

    let lm = s3
        .head_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .unwrap()
        .last_modified()
        .cloned()
        .unwrap();
    // Not modified since its own Last-Modified -> 304.
    assert_status(
        s3.get_object()
            .bucket("cond")
            .key("k")
            .if_modified_since(lm)
            .send()
            .await,
        304,
    );
    // Modified since an hour before -> 200.
    let before = DateTime::from_secs(lm.secs() - 3600);
    let r = s3
        .get_object()
        .bucket("cond")
        .key("k")
        .if_modified_since(before)
        .send()
        .await
        .expect("If-Modified-Since an hour earlier");
    assert_eq!(body_bytes(r).await, body);
    // If-Unmodified-Since an hour before -> 412.
    assert_err(
        s3.get_object()
            .bucket("cond")
            .key("k")
            .if_unmodified_since(before)
            .send()
            .await,
        "PreconditionFailed",
        412,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_object_and_delete_objects() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "del").await;
    for k in ["a", "b", "c", "d"] {
        put(&s3, "del", k, k.as_bytes()).await;
    }

    s3.delete_object()
        .bucket("del")
        .key("a")
        .send()
        .await
        .expect("DeleteObject");
    assert_err(s3.get_object().bucket("del").key("a").send().await, "NoSuchKey", 404);
    // Deleting a missing key is a success (204) in S3.
    s3.delete_object()
        .bucket("del")
        .key("a")
        .send()
        .await
        .expect("DeleteObject of missing key succeeds");

    let ids: Vec<ObjectIdentifier> = ["b", "c", "missing"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let out = s3
        .delete_objects()
        .bucket("del")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .expect("DeleteObjects");
    let mut deleted: Vec<String> = out.deleted().iter().filter_map(|d| d.key().map(String::from)).collect();
    deleted.sort();
    assert_eq!(
        deleted,
        vec!["b", "c", "missing"],
        "DeleteObjects Deleted list (missing keys count as deleted)"
    );
    assert!(out.errors().is_empty(), "DeleteObjects errors: {:?}", out.errors());

    let keys: Vec<String> = list_all_keys(&s3, "del", None)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["d"]);

    // Quiet mode returns no Deleted entries.
    let out = s3
        .delete_objects()
        .bucket("del")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("d").build().unwrap())
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("DeleteObjects quiet");
    assert!(
        out.deleted().is_empty(),
        "quiet DeleteObjects listed {:?}",
        out.deleted()
    );
    assert!(list_all_keys(&s3, "del", None).await.is_empty());
}

// ---------------------------------------------------------------------------
// Tagging

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tagging() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "tags").await;
    put(&s3, "tags", "obj", b"tagged").await;

    let t = s3
        .get_object_tagging()
        .bucket("tags")
        .key("obj")
        .send()
        .await
        .expect("GetObjectTagging");
    assert!(t.tag_set().is_empty(), "new object has tags {:?}", t.tag_set());

    s3.put_object_tagging()
        .bucket("tags")
        .key("obj")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("env").value("prod").build().unwrap())
                .tag_set(Tag::builder().key("team").value("storage").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("PutObjectTagging");
    let t = s3.get_object_tagging().bucket("tags").key("obj").send().await.unwrap();
    let mut tv: Vec<(String, String)> = t.tag_set().iter().map(|t| (t.key().into(), t.value().into())).collect();
    tv.sort();
    assert_eq!(
        tv,
        vec![("env".into(), "prod".into()), ("team".into(), "storage".into())]
    );
    let h = s3.get_object().bucket("tags").key("obj").send().await.unwrap();
    assert_eq!(h.tag_count(), Some(2));
    // Body untouched.
    assert_eq!(body_bytes(h).await, b"tagged");

    // Replacing the tag set.
    s3.put_object_tagging()
        .bucket("tags")
        .key("obj")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("only").value("one").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let t = s3.get_object_tagging().bucket("tags").key("obj").send().await.unwrap();
    let tv: Vec<(String, String)> = t.tag_set().iter().map(|t| (t.key().into(), t.value().into())).collect();
    assert_eq!(tv, vec![("only".into(), "one".into())]);

    s3.delete_object_tagging()
        .bucket("tags")
        .key("obj")
        .send()
        .await
        .expect("DeleteObjectTagging");
    let t = s3.get_object_tagging().bucket("tags").key("obj").send().await.unwrap();
    assert!(
        t.tag_set().is_empty(),
        "tags after DeleteObjectTagging: {:?}",
        t.tag_set()
    );

    assert_err(
        s3.get_object_tagging().bucket("tags").key("missing").send().await,
        "NoSuchKey",
        404,
    );
}
