//! Decisions inside requests: events naming the requester, DeleteObjects
//! per key, CopyObject reading its source.

use super::*;

// ---------------------------------------------------------------------------
// Events.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_name_the_requester_and_the_owner() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let rx = Receiver::start_new();
    let arn = Sns::new(&srv, ALICE.0, ALICE.1).create_topic("ev", &[("push-endpoint", &rx.url("ev"))]);
    let b = "evb";
    alice.create_bucket().bucket(b).send().await.unwrap();
    let r = put_notification_xml_as(
        &srv,
        ALICE.0,
        ALICE.1,
        b,
        &notification_xml(&[topic_config_xml("all", &arn, &["s3:ObjectCreated:*"], None)]),
    );
    assert_eq!(r.status, 200, "alice's notification configuration: {}", r.body_str());
    let grant = doc(vec![allow(
        "BobWrites",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:PutObject"],
        &[objects_arn(b, "*")],
    )]);
    must_put_policy(&alice, b, &grant).await;

    bob.put_object()
        .bucket(b)
        .key("from-bob")
        .body(ByteStream::from_static(b"b"))
        .send()
        .await
        .expect("bob's put");
    alice
        .put_object()
        .bucket(b)
        .key("from-alice")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    let ev = rx.wait_event("from-bob", "ObjectCreated:Put").await;
    assert_eq!(ev["userIdentity"]["principalId"], "bob", "requester: {ev}");
    assert_eq!(
        ev["s3"]["bucket"]["ownerIdentity"]["principalId"], "alice",
        "owner: {ev}"
    );
    let ev = rx.wait_event("from-alice", "ObjectCreated:Put").await;
    assert_eq!(ev["userIdentity"]["principalId"], "alice", "requester: {ev}");
    assert_eq!(
        ev["s3"]["bucket"]["ownerIdentity"]["principalId"], "alice",
        "owner: {ev}"
    );
}

// ---------------------------------------------------------------------------
// DeleteObjects per key.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_objects_is_decided_per_key() {
    let b = "dob";
    let (_srv, alice, bob) = alice_bucket_with(b, &["tmp/a", "keep/b"]).await;
    let grant = doc(vec![allow(
        "BobCleansTmp",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:DeleteObject"],
        &[objects_arn(b, "tmp/*")],
    )]);
    must_put_policy(&alice, b, &grant).await;
    let out = bob
        .delete_objects()
        .bucket(b)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("tmp/a").build().unwrap())
                .objects(ObjectIdentifier::builder().key("keep/b").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("DeleteObjects answers 200");
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    let errors: Vec<(&str, &str)> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap_or_default(), e.code().unwrap_or_default()))
        .collect();
    assert_eq!(deleted, vec!["tmp/a"], "{out:?}");
    assert_eq!(errors, vec![("keep/b", "AccessDenied")], "{out:?}");
    assert_status(alice.head_object().bucket(b).key("tmp/a").send().await, 404);
    alice
        .head_object()
        .bucket(b)
        .key("keep/b")
        .send()
        .await
        .expect("keep/b survives");
}

// ---------------------------------------------------------------------------
// CopyObject reads its source.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_needs_read_on_the_source() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    alice.create_bucket().bucket("src-a").send().await.unwrap();
    bob.create_bucket().bucket("dst-b").send().await.unwrap();
    for k in ["shared", "other"] {
        alice
            .put_object()
            .bucket("src-a")
            .key(k)
            .body(ByteStream::from_static(b"alice's data"))
            .send()
            .await
            .unwrap();
    }
    let copy = |src: &str| {
        bob.copy_object()
            .bucket("dst-b")
            .key("copy")
            .copy_source(format!("src-a/{src}"))
            .send()
    };
    assert_err(copy("shared").await, "AccessDenied", 403);
    assert_status(bob.head_object().bucket("dst-b").key("copy").send().await, 404);

    let grant = doc(vec![allow(
        "BobReadsShared",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetObject"],
        &[objects_arn("src-a", "shared")],
    )]);
    must_put_policy(&alice, "src-a", &grant).await;
    copy("shared").await.expect("copy with s3:GetObject on the source");
    let got = bob.get_object().bucket("dst-b").key("copy").send().await.unwrap();
    assert_eq!(body_bytes(got).await, b"alice's data");
    assert_err(copy("other").await, "AccessDenied", 403);
    // Reading does not let bob write into alice's bucket.
    assert_err(
        bob.copy_object()
            .bucket("src-a")
            .key("mine")
            .copy_source("dst-b/copy")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // ListBuckets: one's own buckets only, grants or not.
    assert_eq!(bucket_names(&bob).await, vec!["dst-b".to_string()]);
    assert_eq!(bucket_names(&alice).await, vec!["src-a".to_string()]);
}
