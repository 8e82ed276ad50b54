//! Versioning: enabled, suspended and never enabled, and paginated
//! version listings with delete markers.

use super::*;

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

    let marker = delete_marker_hides_the_key(&s3, &v1, &v2).await;

    marker_removed_then_a_version_deleted(&s3, &v1, &v2, &marker).await;

    // A versioned bucket with versions left is not empty.
    assert_err(s3.delete_bucket().bucket("ver").send().await, "BucketNotEmpty", 409);
}

/// A delete without a version id puts a delete marker on top: the key is
/// hidden, the 404 names the marker, both versions stay listed. The
/// marker's version id.
async fn delete_marker_hides_the_key(s3: &aws_sdk_s3::Client, v1: &str, v2: &str) -> String {
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
        list_all_keys(s3, "ver", None).await.is_empty(),
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
        ("doc".to_string(), v1.to_owned(), false),
        ("doc".to_string(), v2.to_owned(), false),
    ];
    expected.sort();
    assert_eq!(vers_sorted, expected, "versions (none latest while a marker is latest)");
    // Newest first within a key.
    assert_eq!(
        vers.iter().map(|v| v.1.clone()).collect::<Vec<_>>(),
        vec![v2.to_owned(), v1.to_owned()]
    );
    for v in lv.versions() {
        let want: &[u8] = if v.version_id() == Some(v1) {
            b"version one"
        } else {
            b"version two!"
        };
        assert_eq!(v.size(), Some(want.len() as i64));
        assert_eq!(v.e_tag(), Some(quoted_md5(want).as_str()));
    }
    marker
}

/// Old versions stay readable; removing the marker restores the object;
/// deleting v2 for good makes v1 current.
async fn marker_removed_then_a_version_deleted(s3: &aws_sdk_s3::Client, v1: &str, v2: &str, marker: &str) {
    // Old versions still readable.
    let g = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .version_id(v1)
        .send()
        .await
        .expect("GET v1 after marker");
    assert_eq!(body_bytes(g).await, b"version one");
    // GET of the marker version -> 405 MethodNotAllowed.
    assert_status(
        s3.get_object().bucket("ver").key("doc").version_id(marker).send().await,
        405,
    );

    // Deleting the marker restores the object.
    let d = s3
        .delete_object()
        .bucket("ver")
        .key("doc")
        .version_id(marker)
        .send()
        .await
        .expect("delete marker");
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(d.version_id(), Some(marker));
    let g = s3
        .get_object()
        .bucket("ver")
        .key("doc")
        .send()
        .await
        .expect("GET after removing marker");
    assert_eq!(g.version_id(), Some(v2));
    assert_eq!(body_bytes(g).await, b"version two!");

    // Permanently delete v2 -> v1 becomes current.
    s3.delete_object()
        .bucket("ver")
        .key("doc")
        .version_id(v2)
        .send()
        .await
        .expect("delete v2");
    assert_eq!(get(s3, "ver", "doc").await, b"version one");
    assert_err(
        s3.get_object().bucket("ver").key("doc").version_id(v2).send().await,
        "NoSuchVersion",
        404,
    );
    let lv = s3.list_object_versions().bucket("ver").send().await.unwrap();
    assert_eq!(lv.versions().len(), 1);
    assert_eq!(lv.versions()[0].version_id(), Some(v1));
    assert_eq!(lv.versions()[0].is_latest(), Some(true));
    assert!(lv.delete_markers().is_empty());
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

    paginate_versions(&s3, &expected).await;

    delete_objects_markers_and_versions(&s3, &expected).await;
}

/// ListObjectVersions paginated by max-keys 2 lists what one call does.
async fn paginate_versions(s3: &aws_sdk_s3::Client, expected: &[(String, String)]) {
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
}

/// DeleteObjects in a versioned bucket: without version ids it creates
/// markers, with one it removes exactly that version.
async fn delete_objects_markers_and_versions(s3: &aws_sdk_s3::Client, expected: &[(String, String)]) {
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
    let keys: Vec<String> = list_all_keys(s3, "vpage", None)
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
