//! Listing objects: ListObjectsV2 and V1 with prefixes, delimiters and
//! pagination.

use super::*;

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

    paginate_with_max_keys(&s3, &keys).await;

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

/// Pagination by max-keys 2, without and with a delimiter: every key (or
/// common prefix) exactly once, in order.
async fn paginate_with_max_keys(s3: &aws_sdk_s3::Client, keys: &[&str]) {
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
