//! Object Ownership: who owns uploaded objects, and `BucketOwnerEnforced`
//! turning ACLs off.

use super::*;

async fn set_ownership(c: &Client, b: &str, o: ObjectOwnership) -> Res {
    res(c
        .put_bucket_ownership_controls()
        .bucket(b)
        .ownership_controls(
            OwnershipControls::builder()
                .rules(OwnershipControlsRule::builder().object_ownership(o).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await)
}

async fn object_owner(c: &Client, b: &str, k: &str) -> String {
    let acl = c.get_object_acl().bucket(b).key(k).send().await.unwrap();
    acl.owner().and_then(|o| o.id()).unwrap_or_default().to_owned()
}

/// Object Ownership: ObjectWriter (the default) keeps the writer as owner,
/// BucketOwnerPreferred hands `bucket-owner-full-control` objects to the
/// bucket owner, BucketOwnerEnforced turns every ACL off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_controls_decide_object_owners_and_turn_acls_off() {
    let w = world();
    let mut f = Vec::new();
    w.alice.create_bucket().bucket("own").send().await.unwrap();
    check(
        &mut f,
        "ownership controls never set",
        res(w.alice.get_bucket_ownership_controls().bucket("own").send().await),
        error("OwnershipControlsNotFoundError", 404),
    );
    res(w
        .alice
        .put_bucket_acl()
        .bucket("own")
        .grant_full_control("id=alice")
        .grant_write("id=bob")
        .send()
        .await)
    .unwrap();
    put(&w.bob, "own", "w1", Some(ObjectCannedAcl::BucketOwnerFullControl))
        .await
        .unwrap();
    assert_eq!(object_owner(&w.alice, "own", "w1").await, "bob");
    let acl = w.alice.get_object_acl().bucket("own").key("w1").send().await.unwrap();
    assert_eq!(
        grant_list(acl.grants()),
        vec!["alice:FULL_CONTROL".to_owned(), "bob:FULL_CONTROL".to_owned()]
    );

    bucket_owner_preferred(&w, &mut f).await;

    bucket_owner_enforced_turns_acls_off(&w, &mut f).await;

    controls_deleted_and_created_enforced(&w, &mut f).await;
    report(f);
}

/// BucketOwnerPreferred hands `bucket-owner-full-control` objects to the
/// bucket owner; only the owner sets it.
async fn bucket_owner_preferred(w: &World, f: &mut Vec<String>) {
    set_ownership(&w.alice, "own", ObjectOwnership::BucketOwnerPreferred)
        .await
        .unwrap();
    check(
        f,
        "bob sets ownership controls",
        set_ownership(&w.bob, "own", ObjectOwnership::ObjectWriter).await,
        denied(),
    );
    put(&w.bob, "own", "w2", Some(ObjectCannedAcl::BucketOwnerFullControl))
        .await
        .unwrap();
    put(&w.bob, "own", "w3", None).await.unwrap();
    assert_eq!(object_owner(&w.alice, "own", "w2").await, "alice");
    assert_eq!(object_owner(&w.alice, "own", "w3").await, "bob");
    let got = w
        .alice
        .get_bucket_ownership_controls()
        .bucket("own")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.ownership_controls().unwrap().rules()[0].object_ownership(),
        &ObjectOwnership::BucketOwnerPreferred
    );
}

/// BucketOwnerEnforced: refused while the bucket ACL grants others, then
/// every ACL is off and the bucket owner owns every object.
async fn bucket_owner_enforced_turns_acls_off(w: &World, f: &mut Vec<String>) {
    put(&w.alice, "own", "pub", Some(ObjectCannedAcl::PublicRead))
        .await
        .unwrap();
    check(
        f,
        "anon reads public-read before Enforced",
        get(&w.anon, "own", "pub").await,
        ok(),
    );
    check(
        f,
        "Enforced while the bucket ACL grants bob",
        set_ownership(&w.alice, "own", ObjectOwnership::BucketOwnerEnforced).await,
        error("InvalidBucketAclWithObjectOwnership", 400),
    );
    bucket_acl(&w.alice, "own", BucketCannedAcl::Private).await.unwrap();
    set_ownership(&w.alice, "own", ObjectOwnership::BucketOwnerEnforced)
        .await
        .unwrap();
    check(
        f,
        "anon reads public-read under Enforced",
        get(&w.anon, "own", "pub").await,
        denied(),
    );
    check(
        f,
        "a public-read PUT under Enforced",
        put(&w.alice, "own", "x", Some(ObjectCannedAcl::PublicRead)).await,
        error("AccessControlListNotSupported", 400),
    );
    check(
        f,
        "a bucket-owner-full-control PUT under Enforced",
        put(&w.alice, "own", "x", Some(ObjectCannedAcl::BucketOwnerFullControl)).await,
        ok(),
    );
    check(
        f,
        "PutBucketAcl public-read under Enforced",
        bucket_acl(&w.alice, "own", BucketCannedAcl::PublicRead).await,
        error("AccessControlListNotSupported", 400),
    );
    check(
        f,
        "PutObjectAcl public-read under Enforced",
        res(w
            .alice
            .put_object_acl()
            .bucket("own")
            .key("pub")
            .acl(ObjectCannedAcl::PublicRead)
            .send()
            .await),
        error("AccessControlListNotSupported", 400),
    );
    assert_eq!(
        object_owner(&w.alice, "own", "w3").await,
        "alice",
        "under Enforced the bucket owner owns every object"
    );
}

/// Ownership controls deleted (ACLs count again), and a bucket created
/// Enforced.
async fn controls_deleted_and_created_enforced(w: &World, f: &mut Vec<String>) {
    res(w.alice.delete_bucket_ownership_controls().bucket("own").send().await).unwrap();
    check(
        f,
        "ownership controls after delete",
        res(w.alice.get_bucket_ownership_controls().bucket("own").send().await),
        error("OwnershipControlsNotFoundError", 404),
    );
    check(
        f,
        "anon reads public-read again",
        get(&w.anon, "own", "pub").await,
        ok(),
    );

    check(
        f,
        "CreateBucket Enforced with a public ACL",
        res(w
            .alice
            .create_bucket()
            .bucket("own2")
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .acl(BucketCannedAcl::PublicRead)
            .send()
            .await),
        error("InvalidBucketAclWithObjectOwnership", 400),
    );
    check(
        f,
        "CreateBucket Enforced",
        res(w
            .alice
            .create_bucket()
            .bucket("own2")
            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
            .send()
            .await),
        ok(),
    );
    check(
        f,
        "a public-read PUT into a bucket created Enforced",
        put(&w.alice, "own2", "x", Some(ObjectCannedAcl::PublicRead)).await,
        error("AccessControlListNotSupported", 400),
    );
}
