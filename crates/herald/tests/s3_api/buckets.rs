//! Unsigned endpoints and bucket operations: lifecycle, location,
//! tagging, listing buckets.

use super::*;

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
