//! The store on its own: real files in a temp dir, no server.

use bytes::Bytes;
use futures::StreamExt;
use herald_model::VersioningState;
use herald_store::{CompletedPart, ListEntry, ListParams, PutOptions, Store, StoreError, UploadRef};

fn body(data: &[u8]) -> futures::stream::Iter<std::vec::IntoIter<Result<Bytes, std::io::Error>>> {
    futures::stream::iter(vec![Ok(Bytes::copy_from_slice(data))])
}

async fn read_all(store: &Store, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let (_, mut stream) = store.open_object(bucket, key, version, None).await.unwrap();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

fn opts(writer: &str) -> PutOptions {
    PutOptions {
        writer: writer.to_owned(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_share_commits_and_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("alice", "photos").await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let data = format!("object number {i}");
            store
                .put_object("photos", &format!("k/{i:03}"), body(data.as_bytes()), opts("alice"))
                .await
                .unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().version.seq);
    }
    seqs.sort();
    seqs.dedup();
    assert_eq!(seqs.len(), 64, "every change gets its own sequence number");
    for i in 0..64 {
        assert_eq!(
            read_all(&store, "photos", &format!("k/{i:03}"), None).await,
            format!("object number {i}").as_bytes()
        );
    }
}

#[tokio::test]
async fn listing_folds_prefixes_and_pages_without_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("alice", "tree").await.unwrap();
    let keys = ["a/1", "a/2", "b", "c/x/1", "c/y", "d", "e/"];
    for k in keys {
        store.put_object("tree", k, body(b"x"), opts("alice")).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_objects(
                "tree",
                &ListParams {
                    prefix: String::new(),
                    delimiter: Some("/".into()),
                    after: after.clone(),
                    max_keys: 2,
                },
            )
            .unwrap();
        for e in &page.entries {
            seen.push(match e {
                ListEntry::Object { key, .. } => key.clone(),
                ListEntry::CommonPrefix(p) => format!("[{p}]"),
            });
        }
        if !page.is_truncated {
            break;
        }
        after = page.entries.last().map(|e| e.name().to_owned());
    }
    assert_eq!(seen, ["[a/]", "b", "[c/]", "d", "[e/]"]);
}

#[tokio::test]
async fn versioning_keeps_old_versions_and_delete_markers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("alice", "vers").await.unwrap();
    store.set_versioning("vers", VersioningState::Enabled).await.unwrap();
    let v1 = store
        .put_object("vers", "doc", body(b"one"), opts("alice"))
        .await
        .unwrap()
        .version
        .version_id;
    let v2 = store
        .put_object("vers", "doc", body(b"two"), opts("alice"))
        .await
        .unwrap()
        .version
        .version_id;
    assert_ne!(v1, v2);
    let del = store
        .delete_object("vers", "doc", None, "alice", &Default::default(), None)
        .await
        .unwrap();
    assert!(del.delete_marker && del.changed);
    assert!(
        store.head_object("vers", "doc", None).is_err(),
        "a delete marker hides the object"
    );
    assert_eq!(read_all(&store, "vers", "doc", Some(&v1)).await, b"one");
    // Removing the marker brings the latest version back.
    store
        .delete_object(
            "vers",
            "doc",
            del.version_id.as_deref(),
            "alice",
            &Default::default(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(read_all(&store, "vers", "doc", None).await, b"two");
    // Versioning can be suspended but never turned off.
    assert!(
        store
            .set_versioning("vers", VersioningState::Unversioned)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn multipart_links_parts_without_copying_and_checks_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("alice", "big").await.unwrap();
    let upload = store
        .create_multipart("big", "file", "alice", Default::default(), None)
        .await
        .unwrap();
    let part1 = vec![7u8; 5 * 1024 * 1024];
    let p1 = store
        .upload_part("big", "file", &upload.upload_id, 1, body(&part1), Default::default())
        .await
        .unwrap();
    let p2 = store
        .upload_part("big", "file", &upload.upload_id, 2, body(b"tail"), Default::default())
        .await
        .unwrap();
    // Out of order is refused and the upload stays usable.
    let bad = vec![
        CompletedPart {
            part_number: 2,
            etag: Some(p2.etag.clone()),
        },
        CompletedPart {
            part_number: 1,
            etag: Some(p1.etag.clone()),
        },
    ];
    assert!(
        store
            .complete_multipart(
                UploadRef {
                    bucket: "big",
                    key: "file",
                    upload_id: &upload.upload_id,
                },
                bad,
                "alice",
                Default::default(),
                |_, _| Ok(None),
                None
            )
            .await
            .is_err()
    );
    let good = vec![
        CompletedPart {
            part_number: 1,
            etag: Some(p1.etag.clone()),
        },
        CompletedPart {
            part_number: 2,
            etag: Some(p2.etag.clone()),
        },
    ];
    let out = store
        .complete_multipart(
            UploadRef {
                bucket: "big",
                key: "file",
                upload_id: &upload.upload_id,
            },
            good,
            "alice",
            Default::default(),
            |_, _| Ok(None),
            None,
        )
        .await
        .unwrap();
    assert!(out.version.etag.as_str().ends_with("-2"));
    assert_eq!(out.version.segments.len(), 2, "parts become segments: nothing copied");
    let data = read_all(&store, "big", "file", None).await;
    assert_eq!(data.len(), part1.len() + 4);
    assert_eq!(&data[part1.len()..], b"tail");
}

#[tokio::test]
async fn garbage_collection_removes_only_unreferenced_old_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("alice", "gc").await.unwrap();
    store
        .put_object("gc", "kept", body(b"keep me"), opts("alice"))
        .await
        .unwrap();
    // A blob written by a request that never committed (a crash).
    let orphan = dir
        .path()
        .join("blobs")
        .join("ab")
        .join("ab00000000000000000000000000orphan");
    std::fs::write(&orphan, b"torn").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(store.collect_garbage().unwrap(), 1);
    assert!(!orphan.exists());
    assert_eq!(read_all(&store, "gc", "kept", None).await, b"keep me");
}

/// Re-creating one's own bucket: `BucketAlreadyOwnedByYou`, unless the
/// request asks for another ACL than the bucket has (Ceph's
/// `BucketAlreadyExists`); another user's name is always
/// `BucketAlreadyExists`.
#[tokio::test]
async fn recreating_a_bucket_conflicts_as_ceph_says() {
    use herald_model::acl::CannedAcl;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.create_bucket("alice", "b1").await.unwrap();
    let err = store.create_bucket("alice", "b1").await.unwrap_err();
    assert!(matches!(err, StoreError::BucketAlreadyOwnedByYou), "{err:?}");
    let public = |rec: &mut herald_store::BucketRecord| rec.acl = Some(CannedAcl::PublicRead.expand("alice", "alice"));
    let err = store.create_bucket_with("alice", "b1", public).await.unwrap_err();
    assert!(matches!(err, StoreError::BucketAlreadyExists), "{err:?}");
    let err = store.create_bucket("bob", "b1").await.unwrap_err();
    assert!(matches!(err, StoreError::BucketAlreadyExists), "{err:?}");
    // An explicit private ACL is the same as none.
    let private = |rec: &mut herald_store::BucketRecord| rec.acl = Some(CannedAcl::Private.expand("alice", "alice"));
    let err = store.create_bucket_with("alice", "b1", private).await.unwrap_err();
    assert!(matches!(err, StoreError::BucketAlreadyOwnedByYou), "{err:?}");
}

#[tokio::test]
async fn topic_pages_read_one_owner_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (owner, name) in [
        ("alice", "c"),
        ("alice", "a"),
        ("bob", "b"),
        ("alice", "b"),
        ("al", "z"),
    ] {
        store
            .put_topic(
                herald_store::TopicRecord {
                    owner: owner.into(),
                    name: name.into(),
                    arn: format!("arn:aws:sns:r:{owner}:{name}"),
                    attributes: Default::default(),
                    endpoint_args: String::new(),
                    created_ms: 0,
                    updated_ms: 0,
                    subscription: String::new(),
                },
                herald_store::TopicExpectation::Any,
            )
            .await
            .unwrap();
    }
    let names = |page: &[herald_store::TopicRecord]| page.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let (first, more) = store.topics_page("alice", None, 2).unwrap();
    assert_eq!((names(&first), more), (vec!["a".to_owned(), "b".to_owned()], true));
    let (rest, more) = store.topics_page("alice", Some("b"), 2).unwrap();
    assert_eq!((names(&rest), more), (vec!["c".to_owned()], false));
    let (exact, more) = store.topics_page("alice", None, 3).unwrap();
    assert_eq!((exact.len(), more), (3, false));
    assert!(store.topics_page("carol", None, 10).unwrap().0.is_empty());
}

/// Topic writes check, in their own transaction, that the topic is as the
/// caller read it (two creators of one name in a shared tenant cannot
/// both win), and the topic quota counts each owner's topics, not the
/// account's (a tenant's users share one account).
#[tokio::test]
async fn topic_writes_expect_what_they_read_and_quotas_count_owners() {
    use herald_store::{StoreError, TopicExpectation, TopicRecord};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.set_quotas(herald_store::Quotas {
        topics_per_user: 2,
        ..Default::default()
    });
    let topic = |owner: &str, name: &str, updated_ms: i64| TopicRecord {
        owner: owner.into(),
        name: name.into(),
        arn: format!("arn:aws:sns:r:tenant:{name}"),
        attributes: Default::default(),
        endpoint_args: String::new(),
        created_ms: 0,
        updated_ms,
        subscription: String::new(),
    };
    store
        .put_topic(topic("alice", "t", 1), TopicExpectation::Absent)
        .await
        .unwrap();
    // Mallory decided on an empty slot; alice took it meanwhile.
    let late = store
        .put_topic(topic("mallory", "t", 2), TopicExpectation::Absent)
        .await;
    assert!(matches!(late, Err(StoreError::ConcurrentTopicChange(_))), "{late:?}");
    // An update made on a stale read is refused too.
    let read = TopicExpectation::Unchanged {
        owner: "alice".into(),
        updated_ms: 1,
    };
    store.put_topic(topic("alice", "t", 3), read.clone()).await.unwrap();
    let stale = store.put_topic(topic("alice", "t", 4), read).await;
    assert!(matches!(stale, Err(StoreError::ConcurrentTopicChange(_))), "{stale:?}");
    assert_eq!(store.get_topic("tenant", "t").unwrap().unwrap().updated_ms, 3);

    // Same account, two owners: each has its own two topics.
    store
        .put_topic(topic("alice", "u", 0), TopicExpectation::Absent)
        .await
        .unwrap();
    let third = store.put_topic(topic("alice", "v", 0), TopicExpectation::Absent).await;
    assert!(matches!(third, Err(StoreError::TooManyTopics(2))), "{third:?}");
    store
        .put_topic(topic("bob", "v", 0), TopicExpectation::Absent)
        .await
        .unwrap();
    store
        .put_topic(topic("bob", "w", 0), TopicExpectation::Absent)
        .await
        .unwrap();
    // Deleting gives the count back.
    assert!(store.delete_topic("tenant", "u", TopicExpectation::Any).await.unwrap());
    store
        .put_topic(topic("alice", "x", 0), TopicExpectation::Absent)
        .await
        .unwrap();
    let over = store.put_topic(topic("bob", "y", 0), TopicExpectation::Absent).await;
    assert!(matches!(over, Err(StoreError::TooManyTopics(2))), "{over:?}");

    // The owner re-creates its own topic whatever its version; others not.
    let again = TopicExpectation::AbsentOrOwnedBy("alice".into());
    let v1 = store.put_topic(topic("alice", "t", 0), again.clone()).await.unwrap();
    let v2 = store.put_topic(topic("alice", "t", 0), again).await.unwrap();
    assert!(
        v2 > v1 && v1 > 3,
        "versions only grow, even within a millisecond: {v1} {v2}"
    );
    let other = store
        .put_topic(
            topic("mallory", "t", 0),
            TopicExpectation::AbsentOrOwnedBy("mallory".into()),
        )
        .await;
    assert!(matches!(other, Err(StoreError::ConcurrentTopicChange(_))), "{other:?}");
    // A delete decided on another owner's topic leaves it alone.
    let gone = store
        .delete_topic("tenant", "t", TopicExpectation::OwnedBy("mallory".into()))
        .await;
    assert!(matches!(gone, Err(StoreError::ConcurrentTopicChange(_))), "{gone:?}");
    assert!(
        store
            .delete_topic("tenant", "t", TopicExpectation::OwnedBy("alice".into()))
            .await
            .unwrap()
    );
}
