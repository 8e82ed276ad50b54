//! S3 API coverage through the AWS SDK for Rust against a real `herald serve`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier, Tag,
    Tagging, VersioningConfiguration,
};
use common::*;

const MIB: usize = 1024 * 1024;

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
    out.e_tag().expect("PutObject returns ETag").to_string()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"));
    body_bytes(out).await
}

/// A header of a failed call's response.
fn header<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>, name: &str) -> Option<String> {
    e.raw_response().and_then(|r| r.headers().get(name)).map(str::to_owned)
}

async fn mk_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
}

// ---------------------------------------------------------------------------
// Unsigned endpoints

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_are_unsigned() {
    let srv = TestServer::start();
    let h = raw_request(srv.addr(), "GET", "/health", &[], b"").unwrap();
    assert_eq!(h.status, 200, "GET /health: {h:?}");
    assert_eq!(h.body_str().trim(), "ok", "GET /health body");

    // Generate a little traffic first so metrics have something to say.
    let s3 = srv.s3();
    mk_bucket(&s3, "metrics-bkt").await;
    let m = raw_request(srv.addr(), "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(m.status, 200, "GET /metrics: {m:?}");
    let text = m.body_str();
    assert!(
        text.contains("# TYPE"),
        "GET /metrics does not look like Prometheus text exposition format:\n{text}"
    );
}

// ---------------------------------------------------------------------------
// Buckets

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_lifecycle() {
    let srv = TestServer::start();
    let s3 = srv.s3();

    assert_eq!(
        bucket_names(&s3).await,
        Vec::<String>::new(),
        "fresh server has no buckets"
    );

    mk_bucket(&s3, "alpha").await;
    mk_bucket(&s3, "beta-2").await;
    assert_eq!(bucket_names(&s3).await, vec!["alpha", "beta-2"]);

    let lb = s3.list_buckets().send().await.unwrap();
    for b in lb.buckets() {
        assert!(b.creation_date().is_some(), "bucket {:?} has no CreationDate", b.name());
    }

    s3.head_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("HeadBucket existing");
    assert_status(s3.head_bucket().bucket("nope-missing").send().await, 404);

    // Not empty -> BucketNotEmpty.
    put(&s3, "alpha", "obj", b"hello").await;

    // Creating an existing bucket again (same owner): us-east-1 S3 answers
    // 200 (no-op), other implementations 409 BucketAlreadyOwnedByYou; either
    // way the bucket and its contents must be untouched.
    if let Err(e) = s3.create_bucket().bucket("alpha").send().await {
        let (code, status) = err_info(&e);
        assert_eq!(
            (code.as_str(), status),
            ("BucketAlreadyOwnedByYou", 409),
            "re-creating own bucket: {e:?}"
        );
    }
    assert_eq!(
        get(&s3, "alpha", "obj").await,
        b"hello",
        "re-create must not wipe the bucket"
    );
    assert_err(s3.delete_bucket().bucket("alpha").send().await, "BucketNotEmpty", 409);
    assert_eq!(
        bucket_names(&s3).await,
        vec!["alpha", "beta-2"],
        "failed delete must keep the bucket"
    );
    assert_eq!(get(&s3, "alpha", "obj").await, b"hello");

    s3.delete_object().bucket("alpha").key("obj").send().await.unwrap();
    s3.delete_bucket()
        .bucket("alpha")
        .send()
        .await
        .expect("DeleteBucket empty");
    assert_eq!(bucket_names(&s3).await, vec!["beta-2"]);
    assert_status(s3.head_bucket().bucket("alpha").send().await, 404);
    assert_err(s3.delete_bucket().bucket("alpha").send().await, "NoSuchBucket", 404);

    // A deleted bucket's name can be reused, and it starts empty.
    mk_bucket(&s3, "alpha").await;
    assert!(list_all_keys(&s3, "alpha", None).await.is_empty());
}

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
    assert_eq!(get(&s3, "objs", "dir/fox.txt").await, body2);

    // Empty object.
    let e = put(&s3, "objs", "empty", b"").await;
    assert_eq!(e, quoted_md5(b""));
    assert_eq!(get(&s3, "objs", "empty").await, Vec::<u8>::new());
    let h = s3.head_object().bucket("objs").key("empty").send().await.unwrap();
    assert_eq!(h.content_length(), Some(0));

    // Keys with characters that need URL encoding.
    for key in ["with space/and+plus", "unicodé/ключ/鍵", "a=b&c?d#e", "trailing/"] {
        let data = format!("content of {key}").into_bytes();
        put(&s3, "objs", key, &data).await;
        assert_eq!(get(&s3, "objs", key).await, data, "round trip of key {key:?}");
    }
    let keys: Vec<String> = list_all_keys(&s3, "objs", None)
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
// Listing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_objects_v2_prefix_delimiter_pagination() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "list").await;
    let keys = [
        "a.txt",
        "b/1.txt",
        "b/2.txt",
        "b/sub/3.txt",
        "c/4.txt",
        "d.txt",
        "e/5.txt",
        "e/6.txt",
        "f.txt",
    ];
    for k in keys {
        put(&s3, "list", k, k.as_bytes()).await;
    }

    // Full listing, sorted, with sizes and ETags.
    let out = s3.list_objects_v2().bucket("list").send().await.expect("ListObjectsV2");
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got, keys.to_vec());
    assert_eq!(out.key_count(), Some(keys.len() as i32));
    assert_eq!(out.is_truncated(), Some(false));
    for o in out.contents() {
        let k = o.key().unwrap();
        assert_eq!(o.size(), Some(k.len() as i64), "size of {k}");
        assert_eq!(o.e_tag(), Some(quoted_md5(k.as_bytes()).as_str()), "ETag of {k}");
        assert!(o.last_modified().is_some());
    }

    // Prefix.
    let out = s3.list_objects_v2().bucket("list").prefix("b/").send().await.unwrap();
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got, vec!["b/1.txt", "b/2.txt", "b/sub/3.txt"]);

    // Delimiter.
    let out = s3.list_objects_v2().bucket("list").delimiter("/").send().await.unwrap();
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<&str> = out.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(got, vec!["a.txt", "d.txt", "f.txt"], "delimiter / contents");
    assert_eq!(cps, vec!["b/", "c/", "e/"], "delimiter / common prefixes");

    let out = s3
        .list_objects_v2()
        .bucket("list")
        .prefix("b/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    let cps: Vec<&str> = out.common_prefixes().iter().map(|p| p.prefix().unwrap()).collect();
    assert_eq!(got, vec!["b/1.txt", "b/2.txt"]);
    assert_eq!(cps, vec!["b/sub/"]);

    // Pagination: max-keys 2 through continuation tokens.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut req = s3.list_objects_v2().bucket("list").max_keys(2);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let out = req.send().await.expect("ListObjectsV2 page");
        pages += 1;
        assert!(
            out.contents().len() <= 2,
            "page {pages} has {} keys > max-keys 2",
            out.contents().len()
        );
        assert_eq!(out.max_keys(), Some(2));
        seen.extend(out.contents().iter().map(|o| o.key().unwrap().to_string()));
        if out.is_truncated() == Some(true) {
            let next = out
                .next_continuation_token()
                .expect("NextContinuationToken when truncated")
                .to_string();
            assert_eq!(out.contents().len(), 2, "truncated page must be full");
            token = Some(next);
        } else {
            assert!(out.next_continuation_token().is_none());
            break;
        }
        assert!(pages < 20, "pagination does not terminate");
    }
    assert_eq!(
        seen,
        keys.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "every key exactly once, in order"
    );
    assert_eq!(pages, 5);

    // Pagination with delimiter: common prefixes count towards max-keys and
    // appear exactly once.
    let mut entries = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..20 {
        let mut req = s3.list_objects_v2().bucket("list").delimiter("/").max_keys(2);
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let out = req.send().await.unwrap();
        assert!(out.contents().len() + out.common_prefixes().len() <= 2);
        let mut page: Vec<String> = out.contents().iter().map(|o| o.key().unwrap().to_string()).collect();
        page.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
        page.sort();
        entries.extend(page);
        if out.is_truncated() == Some(true) {
            token = Some(out.next_continuation_token().unwrap().to_string());
        } else {
            token = None;
            break;
        }
    }
    assert!(token.is_none(), "delimiter pagination does not terminate");
    assert_eq!(entries, vec!["a.txt", "b/", "c/", "d.txt", "e/", "f.txt"]);

    // start-after.
    let out = s3
        .list_objects_v2()
        .bucket("list")
        .start_after("b/sub/3.txt")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got, vec!["c/4.txt", "d.txt", "e/5.txt", "e/6.txt", "f.txt"]);
    let out = s3
        .list_objects_v2()
        .bucket("list")
        .start_after("c")
        .send()
        .await
        .unwrap();
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got, vec!["c/4.txt", "d.txt", "e/5.txt", "e/6.txt", "f.txt"]);

    // Prefix matching nothing.
    let out = s3.list_objects_v2().bucket("list").prefix("zzz").send().await.unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_objects_v1_marker() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "listv1").await;
    let keys = ["k1", "k2", "k3", "k4", "k5"];
    for k in keys {
        put(&s3, "listv1", k, b"x").await;
    }
    let out = s3.list_objects().bucket("listv1").send().await.expect("ListObjects");
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got, keys.to_vec());

    let out = s3
        .list_objects()
        .bucket("listv1")
        .marker("k2")
        .send()
        .await
        .expect("ListObjects marker");
    let got: Vec<&str> = out.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(got, vec!["k3", "k4", "k5"]);

    // Paginate by marker = last key of the previous page.
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let mut req = s3.list_objects().bucket("listv1").max_keys(2);
        if let Some(m) = &marker {
            req = req.marker(m);
        }
        let out = req.send().await.unwrap();
        let page: Vec<String> = out.contents().iter().map(|o| o.key().unwrap().to_string()).collect();
        seen.extend(page.clone());
        if out.is_truncated() == Some(true) {
            marker = Some(page.last().expect("truncated page is non-empty").clone());
        } else {
            marker = None;
            break;
        }
    }
    assert!(marker.is_none(), "v1 pagination does not terminate");
    assert_eq!(seen, keys.iter().map(|s| s.to_string()).collect::<Vec<_>>());

    // With a delimiter, a truncated v1 response carries NextMarker.
    for k in ["p/1", "p/2", "q/1"] {
        put(&s3, "listv1", k, b"y").await;
    }
    let out = s3
        .list_objects()
        .bucket("listv1")
        .delimiter("/")
        .max_keys(5)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    assert!(
        out.next_marker().is_some(),
        "NextMarker missing on truncated delimited v1 listing"
    );
    let out2 = s3
        .list_objects()
        .bucket("listv1")
        .delimiter("/")
        .marker(out.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    let mut all: Vec<String> = out.contents().iter().map(|o| o.key().unwrap().to_string()).collect();
    all.extend(out.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
    all.extend(out2.contents().iter().map(|o| o.key().unwrap().to_string()));
    all.extend(out2.common_prefixes().iter().map(|p| p.prefix().unwrap().to_string()));
    all.sort();
    assert_eq!(all, vec!["k1", "k2", "k3", "k4", "k5", "p/", "q/"]);
}

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
    assert_eq!(ups, vec![("big/file.bin".to_string(), upload_id.clone())]);

    // Upload parts out of order.
    let mut etags = vec![String::new(); 3];
    for i in [1usize, 0, 2] {
        let out = s3
            .upload_part()
            .bucket("mpu")
            .key("big/file.bin")
            .upload_id(&upload_id)
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
        .upload_id(&upload_id)
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

    let full: Vec<u8> = parts_data.concat();
    let head = s3.head_object().bucket("mpu").key("big/file.bin").send().await.unwrap();
    assert_eq!(
        head.e_tag(),
        Some(expected_etag.as_str()),
        "HeadObject ETag of multipart object"
    );
    assert_eq!(head.content_length(), Some(full.len() as i64));
    assert_eq!(head.content_type(), Some("application/octet-stream"));
    assert_eq!(
        head.metadata().and_then(|m| m.get("purpose")).map(String::as_str),
        Some("mpu-test")
    );

    let got = get(&s3, "mpu", "big/file.bin").await;
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
    assert_eq!(p2.e_tag(), Some(expected_etag.as_str()));
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
    put(&s3, "mpu", "plain", b"plain body").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_abort_and_errors() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "mpa").await;

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
        list_all_keys(&s3, "mpa", None).await.is_empty(),
        "aborted upload must not create an object"
    );

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
    assert_eq!(get(&s3, "mpa", "k2").await, small2);
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

// ---------------------------------------------------------------------------
// Versioning

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning_enabled() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "ver").await;

    let v = s3
        .get_bucket_versioning()
        .bucket("ver")
        .send()
        .await
        .expect("GetBucketVersioning");
    assert!(v.status().is_none(), "new bucket versioning status {:?}", v.status());

    s3.put_bucket_versioning()
        .bucket("ver")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning Enabled");
    let v = s3.get_bucket_versioning().bucket("ver").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Enabled));

    let p1 = s3
        .put_object()
        .bucket("ver")
        .key("doc")
        .body(ByteStream::from_static(b"version one"))
        .send()
        .await
        .unwrap();
    let p2 = s3
        .put_object()
        .bucket("ver")
        .key("doc")
        .body(ByteStream::from_static(b"version two!"))
        .send()
        .await
        .unwrap();
    let v1 = p1.version_id().expect("version id of first PUT").to_string();
    let v2 = p2.version_id().expect("version id of second PUT").to_string();
    assert_ne!(v1, v2, "two PUTs must yield distinct version ids");
    assert_ne!(v1, "null");
    assert_ne!(v2, "null");

    // Latest is v2.
    let g = s3.get_object().bucket("ver").key("doc").send().await.unwrap();
    assert_eq!(g.version_id(), Some(v2.as_str()));
    assert_eq!(body_bytes(g).await, b"version two!");
    // Each version by id.
    let g = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .expect("GET v1");
    assert_eq!(g.version_id(), Some(v1.as_str()));
    assert_eq!(body_bytes(g).await, b"version one");
    let g = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .version_id(&v2)
        .send()
        .await
        .expect("GET v2");
    assert_eq!(body_bytes(g).await, b"version two!");
    let h = s3
        .head_object()
        .bucket("ver")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .expect("HEAD v1");
    assert_eq!(h.e_tag(), Some(quoted_md5(b"version one").as_str()));

    // Delete without version id -> delete marker.
    let d = s3
        .delete_object()
        .bucket("ver")
        .key("doc")
        .send()
        .await
        .expect("DELETE creates marker");
    assert_eq!(
        d.delete_marker(),
        Some(true),
        "DeleteObject must report x-amz-delete-marker: true"
    );
    let marker = d.version_id().expect("delete marker version id").to_string();
    assert!(marker != v1 && marker != v2);
    assert_err(s3.get_object().bucket("ver").key("doc").send().await, "NoSuchKey", 404);
    // The 404 says a delete marker is why, and which one.
    let e = s3.head_object().bucket("ver").key("doc").send().await.unwrap_err();
    assert_eq!(header(&e, "x-amz-delete-marker").as_deref(), Some("true"));
    assert_eq!(header(&e, "x-amz-version-id").as_deref(), Some(marker.as_str()));
    let e = s3
        .head_object()
        .bucket("ver")
        .key("never-written")
        .send()
        .await
        .unwrap_err();
    assert_eq!(header(&e, "x-amz-delete-marker").as_deref(), Some("false"));
    let e = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .version_id(&marker)
        .send()
        .await
        .unwrap_err();
    assert_eq!(header(&e, "x-amz-delete-marker").as_deref(), Some("true"));
    assert!(header(&e, "last-modified").is_some());
    assert!(
        list_all_keys(&s3, "ver", None).await.is_empty(),
        "ListObjectsV2 must hide deleted key"
    );

    let lv = s3
        .list_object_versions()
        .bucket("ver")
        .send()
        .await
        .expect("ListObjectVersions");
    let vers: Vec<(String, String, bool)> = lv
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_string(),
                v.version_id().unwrap().to_string(),
                v.is_latest().unwrap(),
            )
        })
        .collect();
    let marks: Vec<(String, String, bool)> = lv
        .delete_markers()
        .iter()
        .map(|m| {
            (
                m.key().unwrap().to_string(),
                m.version_id().unwrap().to_string(),
                m.is_latest().unwrap(),
            )
        })
        .collect();
    assert_eq!(marks, vec![("doc".to_string(), marker.clone(), true)], "delete markers");
    let mut vers_sorted = vers.clone();
    vers_sorted.sort();
    let mut expected = vec![
        ("doc".to_string(), v1.clone(), false),
        ("doc".to_string(), v2.clone(), false),
    ];
    expected.sort();
    assert_eq!(vers_sorted, expected, "versions (none latest while a marker is latest)");
    // Newest first within a key.
    assert_eq!(
        vers.iter().map(|v| v.1.clone()).collect::<Vec<_>>(),
        vec![v2.clone(), v1.clone()]
    );
    for v in lv.versions() {
        let want: &[u8] = if v.version_id() == Some(v1.as_str()) {
            b"version one"
        } else {
            b"version two!"
        };
        assert_eq!(v.size(), Some(want.len() as i64));
        assert_eq!(v.e_tag(), Some(quoted_md5(want).as_str()));
    }

    // Old versions still readable.
    let g = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .expect("GET v1 after marker");
    assert_eq!(body_bytes(g).await, b"version one");
    // GET of the marker version -> 405 MethodNotAllowed.
    assert_status(
        s3.get_object()
            .bucket("ver")
            .key("doc")
            .version_id(&marker)
            .send()
            .await,
        405,
    );

    // Deleting the marker restores the object.
    let d = s3
        .delete_object()
        .bucket("ver")
        .key("doc")
        .version_id(&marker)
        .send()
        .await
        .expect("delete marker");
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some(marker.as_str()));
    let g = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .send()
        .await
        .expect("GET after removing marker");
    assert_eq!(g.version_id(), Some(v2.as_str()));
    assert_eq!(body_bytes(g).await, b"version two!");

    // Permanently delete v2 -> v1 becomes current.
    s3.delete_object()
        .bucket("ver")
        .key("doc")
        .version_id(&v2)
        .send()
        .await
        .expect("delete v2");
    assert_eq!(get(&s3, "ver", "doc").await, b"version one");
    assert_err(
        s3.get_object().bucket("ver").key("doc").version_id(&v2).send().await,
        "NoSuchVersion",
        404,
    );
    let lv = s3.list_object_versions().bucket("ver").send().await.unwrap();
    assert_eq!(lv.versions().len(), 1);
    assert_eq!(lv.versions()[0].version_id(), Some(v1.as_str()));
    assert_eq!(lv.versions()[0].is_latest(), Some(true));
    assert!(lv.delete_markers().is_empty());

    // A versioned bucket with versions left is not empty.
    assert_err(s3.delete_bucket().bucket("ver").send().await, "BucketNotEmpty", 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioning_suspended_writes_null_version() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "susp").await;
    s3.put_bucket_versioning()
        .bucket("susp")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let pv = s3
        .put_object()
        .bucket("susp")
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    let kept = pv.version_id().unwrap().to_string();

    s3.put_bucket_versioning()
        .bucket("susp")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("PutBucketVersioning Suspended");
    let v = s3.get_bucket_versioning().bucket("susp").send().await.unwrap();
    assert_eq!(v.status(), Some(&BucketVersioningStatus::Suspended));

    let p = s3
        .put_object()
        .bucket("susp")
        .key("k")
        .body(ByteStream::from_static(b"null one"))
        .send()
        .await
        .unwrap();
    assert!(
        p.version_id().is_none() || p.version_id() == Some("null"),
        "suspended PUT version id: expected null, got {:?}",
        p.version_id()
    );
    let h = s3.head_object().bucket("susp").key("k").send().await.unwrap();
    assert_eq!(h.version_id(), Some("null"), "HEAD of object written while suspended");
    // Overwrite replaces the null version rather than adding one.
    s3.put_object()
        .bucket("susp")
        .key("k")
        .body(ByteStream::from_static(b"null two"))
        .send()
        .await
        .unwrap();
    let lv = s3.list_object_versions().bucket("susp").send().await.unwrap();
    let mut ids: Vec<String> = lv
        .versions()
        .iter()
        .map(|v| v.version_id().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec!["null".to_string(), kept.clone()];
    want.sort();
    assert_eq!(ids, want, "versions after two suspended PUTs");
    assert_eq!(get(&s3, "susp", "k").await, b"null two");
    let g = s3
        .get_object()
        .bucket("susp")
        .key("k")
        .version_id("null")
        .send()
        .await
        .expect("GET versionId=null");
    assert_eq!(body_bytes(g).await, b"null two");
    let g = s3
        .get_object()
        .bucket("susp")
        .key("k")
        .version_id(&kept)
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unversioned_bucket_reports_no_version_ids() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "plain").await;
    let p = s3
        .put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
    assert!(
        p.version_id().is_none(),
        "unversioned PUT returned version id {:?}",
        p.version_id()
    );
    s3.put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"2"))
        .send()
        .await
        .unwrap();
    let lv = s3.list_object_versions().bucket("plain").send().await.unwrap();
    let ids: Vec<Option<&str>> = lv.versions().iter().map(|v| v.version_id()).collect();
    assert_eq!(ids, vec![Some("null")], "unversioned bucket keeps one (null) version");
    let d = s3.delete_object().bucket("plain").key("k").send().await.unwrap();
    assert_ne!(d.delete_marker(), Some(true));
    let lv = s3.list_object_versions().bucket("plain").send().await.unwrap();
    assert!(lv.versions().is_empty() && lv.delete_markers().is_empty());
}

// ---------------------------------------------------------------------------
// Presigned URLs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_and_put() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "presign").await;
    let cfg = || PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();

    // Presigned PUT with a plain HTTP client.
    let body = random_bytes(50_000);
    let req = s3
        .put_object()
        .bucket("presign")
        .key("up/loaded.bin")
        .presigned(cfg())
        .await
        .expect("presign PUT");
    let resp = send_presigned(srv.addr(), &req, &body);
    assert_eq!(resp.status, 200, "presigned PUT: {} {}", resp.status, resp.body_str());
    assert_eq!(resp.header("etag"), Some(quoted_md5(&body).as_str()));
    assert_eq!(get(&s3, "presign", "up/loaded.bin").await, body);

    // Presigned GET.
    let req = s3
        .get_object()
        .bucket("presign")
        .key("up/loaded.bin")
        .presigned(cfg())
        .await
        .expect("presign GET");
    let resp = send_presigned(srv.addr(), &req, b"");
    assert_eq!(resp.status, 200, "presigned GET: {} {}", resp.status, resp.body_str());
    assert!(resp.body == body, "presigned GET body differs");

    // Tampered signature -> 403 SignatureDoesNotMatch.
    let uri = req.uri().to_string();
    let sig_at = uri.find("X-Amz-Signature=").expect("signature in presigned URL") + "X-Amz-Signature=".len();
    let mut bad = uri.clone();
    let first = &uri[sig_at..sig_at + 1];
    bad.replace_range(sig_at..sig_at + 1, if first == "0" { "1" } else { "0" });
    let target = &bad[bad.find("/presign").unwrap()..];
    let resp = raw_request(srv.addr(), "GET", target, &[], b"").unwrap();
    assert_eq!(resp.status, 403, "tampered presigned GET: {}", resp.body_str());
    assert!(
        resp.body_str().contains("SignatureDoesNotMatch"),
        "tampered presigned GET body: {}",
        resp.body_str()
    );

    // Presigned GET for a different key (signature covers the path).
    let target_other = uri[uri.find("/presign").unwrap()..].replace("up/loaded.bin", "up/other.bin");
    let resp = raw_request(srv.addr(), "GET", &target_other, &[], b"").unwrap();
    assert_eq!(
        resp.status,
        403,
        "presigned URL reused for another key: {}",
        resp.body_str()
    );

    // Expired URL -> 403 AccessDenied.
    let expired_cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(7200))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let req = s3
        .get_object()
        .bucket("presign")
        .key("up/loaded.bin")
        .presigned(expired_cfg)
        .await
        .unwrap();
    let resp = send_presigned(srv.addr(), &req, b"");
    assert_eq!(resp.status, 403, "expired presigned GET: {}", resp.body_str());
    assert!(
        resp.body_str().contains("AccessDenied"),
        "expired presigned GET body: {}",
        resp.body_str()
    );
}

// ---------------------------------------------------------------------------
// Virtual-host style addressing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_host_style() {
    let srv = TestServer::start();
    let path_style = srv.s3();
    let vhost = srv.s3_virtual_host();

    mk_bucket(&path_style, "photos").await;
    put(&path_style, "photos", "2024/cat.jpg", b"meow").await;

    // Requests to photos.localhost:PORT reach bucket "photos".
    let g = vhost
        .get_object()
        .bucket("photos")
        .key("2024/cat.jpg")
        .send()
        .await
        .expect("vhost GetObject");
    assert_eq!(body_bytes(g).await, b"meow");
    vhost
        .put_object()
        .bucket("photos")
        .key("2024/dog.jpg")
        .body(ByteStream::from_static(b"woof"))
        .send()
        .await
        .expect("vhost PutObject");
    assert_eq!(get(&path_style, "photos", "2024/dog.jpg").await, b"woof");
    let l = vhost
        .list_objects_v2()
        .bucket("photos")
        .prefix("2024/")
        .send()
        .await
        .expect("vhost ListObjectsV2");
    let keys: Vec<&str> = l.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["2024/cat.jpg", "2024/dog.jpg"]);
    vhost
        .head_bucket()
        .bucket("photos")
        .send()
        .await
        .expect("vhost HeadBucket");

    // Bucket creation and deletion through the virtual host.
    vhost
        .create_bucket()
        .bucket("vhost-made")
        .send()
        .await
        .expect("vhost CreateBucket");
    path_style
        .head_bucket()
        .bucket("vhost-made")
        .send()
        .await
        .expect("bucket made via vhost exists");
    vhost
        .delete_bucket()
        .bucket("vhost-made")
        .send()
        .await
        .expect("vhost DeleteBucket");
    assert_eq!(bucket_names(&path_style).await, vec!["photos"]);
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
async fn get_bucket_location() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "where").await;
    let loc = s3
        .get_bucket_location()
        .bucket("where")
        .send()
        .await
        .expect("GetBucketLocation");
    // us-east-1 is reported as an empty/absent LocationConstraint.
    let c = loc
        .location_constraint()
        .map(|c| c.as_str().to_string())
        .unwrap_or_default();
    assert!(c.is_empty() || c == "us-east-1", "LocationConstraint {c:?}");
    assert_err(
        s3.get_bucket_location().bucket("nowhere").send().await,
        "NoSuchBucket",
        404,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_object_versions_pagination_and_delete_objects_markers() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "vpage").await;
    s3.put_bucket_versioning()
        .bucket("vpage")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut expected: Vec<(String, String)> = Vec::new(); // (key, version) in listing order
    for (key, n) in [("a", 3), ("b", 1), ("c", 2)] {
        let mut ids = Vec::new();
        for i in 0..n {
            let p = s3
                .put_object()
                .bucket("vpage")
                .key(key)
                .body(ByteStream::from(format!("{key}{i}").into_bytes()))
                .send()
                .await
                .unwrap();
            ids.push(p.version_id().unwrap().to_string());
        }
        ids.reverse(); // newest first
        expected.extend(ids.into_iter().map(|v| (key.to_string(), v)));
    }

    let all = s3.list_object_versions().bucket("vpage").send().await.unwrap();
    let listed: Vec<(String, String)> = all
        .versions()
        .iter()
        .map(|v| (v.key().unwrap().to_string(), v.version_id().unwrap().to_string()))
        .collect();
    assert_eq!(
        listed, expected,
        "ListObjectVersions order: keys ascending, newest version first"
    );
    let latest: Vec<bool> = all.versions().iter().map(|v| v.is_latest().unwrap()).collect();
    assert_eq!(latest, vec![true, false, false, true, true, false]);

    let mut paged = Vec::new();
    let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
    for _ in 0..20 {
        let mut req = s3.list_object_versions().bucket("vpage").max_keys(2);
        if let Some(k) = &km {
            req = req.key_marker(k);
        }
        if let Some(v) = &vm {
            req = req.version_id_marker(v);
        }
        let out = req.send().await.expect("ListObjectVersions page");
        assert!(out.versions().len() <= 2);
        paged.extend(
            out.versions()
                .iter()
                .map(|v| (v.key().unwrap().to_string(), v.version_id().unwrap().to_string())),
        );
        if out.is_truncated() == Some(true) {
            km = Some(out.next_key_marker().expect("NextKeyMarker").to_string());
            vm = out.next_version_id_marker().map(String::from);
        } else {
            km = None;
            break;
        }
    }
    assert!(km.is_none(), "ListObjectVersions pagination does not terminate");
    assert_eq!(paged, expected, "paginated ListObjectVersions (max-keys 2)");

    // DeleteObjects without version ids in a versioned bucket creates markers.
    let out = s3
        .delete_objects()
        .bucket("vpage")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").build().unwrap())
                .objects(ObjectIdentifier::builder().key("b").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 2);
    for d in out.deleted() {
        assert_eq!(
            d.delete_marker(),
            Some(true),
            "DeleteObjects entry {:?} should be a delete marker",
            d.key()
        );
        assert!(
            d.delete_marker_version_id().is_some(),
            "DeleteMarkerVersionId missing for {:?}",
            d.key()
        );
    }
    let keys: Vec<String> = list_all_keys(&s3, "vpage", None)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["c"]);
    let lv = s3.list_object_versions().bucket("vpage").send().await.unwrap();
    assert_eq!(lv.versions().len(), 6, "no version is lost by delete markers");
    assert_eq!(lv.delete_markers().len(), 2);

    // DeleteObjects with a version id removes exactly that version.
    let (_, a_oldest) = expected[2].clone();
    let out = s3
        .delete_objects()
        .bucket("vpage")
        .delete(
            Delete::builder()
                .objects(
                    ObjectIdentifier::builder()
                        .key("a")
                        .version_id(&a_oldest)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted()[0].version_id(), Some(a_oldest.as_str()));
    assert_err(
        s3.get_object()
            .bucket("vpage")
            .key("a")
            .version_id(&a_oldest)
            .send()
            .await,
        "NoSuchVersion",
        404,
    );
    assert_eq!(
        s3.list_object_versions()
            .bucket("vpage")
            .send()
            .await
            .unwrap()
            .versions()
            .len(),
        5
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
    let mut etags = Vec::new();
    for n in 1..=5 {
        let e = s3
            .upload_part()
            .bucket("mplist")
            .key(&key)
            .upload_id(&id)
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
        .key(&key)
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from(vec![42u8; 777]))
        .send()
        .await
        .unwrap();
    etags[2] = e3.e_tag().unwrap().to_string();

    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10 {
        let mut req = s3.list_parts().bucket("mplist").key(&key).upload_id(&id).max_parts(2);
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

/// Bucket tagging: NoSuchTagSet until set, the set as put (ordered by
/// key), 204 on delete, S3's limits, and owner-only without a policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_tagging_round_trip() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("tagged-bucket").send().await.unwrap();
    let e = s3
        .get_bucket_tagging()
        .bucket("tagged-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("NoSuchTagSet".to_owned(), 404));
    let tagging = |pairs: &[(&str, &str)]| {
        let set: Vec<Tag> = pairs
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
            .collect();
        Tagging::builder().set_tag_set(Some(set)).build().unwrap()
    };
    s3.put_bucket_tagging()
        .bucket("tagged-bucket")
        .tagging(tagging(&[("team", "data"), ("cost-center", "42")]))
        .send()
        .await
        .unwrap();
    let got = s3.get_bucket_tagging().bucket("tagged-bucket").send().await.unwrap();
    let pairs: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, [("cost-center", "42"), ("team", "data")]);

    let dup = s3
        .put_bucket_tagging()
        .bucket("tagged-bucket")
        .tagging(tagging(&[("a", "1"), ("a", "2")]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&dup).0, "InvalidTag");
    let many: Vec<(String, String)> = (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let too_many = s3
        .put_bucket_tagging()
        .bucket("tagged-bucket")
        .tagging(tagging(&many))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&too_many).0, "InvalidTag");

    // Another user may neither read nor change them.
    srv.create_user(
        "other",
        "OTHERACCESSKEY000001",
        "otherSecretKey/0123456789abcdefghijklm",
    );
    let other = srv.s3_as("OTHERACCESSKEY000001", "otherSecretKey/0123456789abcdefghijklm");
    let e = other
        .get_bucket_tagging()
        .bucket("tagged-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("AccessDenied".to_owned(), 403));
    let e = other
        .delete_bucket_tagging()
        .bucket("tagged-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("AccessDenied".to_owned(), 403));

    s3.delete_bucket_tagging().bucket("tagged-bucket").send().await.unwrap();
    let e = s3
        .get_bucket_tagging()
        .bucket("tagged-bucket")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("NoSuchTagSet".to_owned(), 404));
}

/// ListBuckets pages by name; names must be DNS labels; ListObjects v1
/// echoes its prefix as sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_buckets_pages_and_bucket_names_are_dns_labels() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    for bad in ["foo.-bar", "foo-.bar"] {
        assert_err(s3.create_bucket().bucket(bad).send().await, "InvalidBucketName", 400);
    }
    for b in ["page-a", "page-b", "page-c"] {
        mk_bucket(&s3, b).await;
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = s3
            .list_buckets()
            .max_buckets(2)
            .prefix("page-")
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.buckets().iter().map(|b| b.name().unwrap().to_owned()));
        token = page.continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
        assert!(seen.len() < 10, "pagination does not end: {seen:?}");
    }
    assert_eq!(seen, ["page-a", "page-b", "page-c"]);
    assert_status(s3.list_buckets().max_buckets(0).send().await, 400);
    assert_status(s3.list_buckets().continuation_token("zz").send().await, 400);

    let v1 = s3
        .list_objects()
        .bucket("page-a")
        .prefix("\n")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.prefix(), Some("\n"));
}
