//! Canned and explicit ACLs on buckets and objects, grants by user id,
//! e-mail address and group.

use super::*;

/// Canned bucket ACLs: public-read lets anyone list, authenticated-read any
/// signed user, public-read-write anyone write; object reads still need
/// the object's ACL; a missing key is 404 to who may list, 403 to others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canned_bucket_acls_grant_listing_and_writing() {
    let w = world();
    let mut f = Vec::new();
    res(w
        .alice
        .create_bucket()
        .bucket("pub")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await)
    .unwrap();
    put(&w.alice, "pub", "k", None).await.unwrap();

    check(
        &mut f,
        "anon lists a public-read bucket",
        list(&w.anon, "pub").await,
        ok(),
    );
    check(
        &mut f,
        "carol lists a public-read bucket",
        list(&w.carol, "pub").await,
        ok(),
    );
    check(
        &mut f,
        "anon reads a private object in it",
        get(&w.anon, "pub", "k").await,
        denied(),
    );
    check(
        &mut f,
        "anon reads a missing key of a listable bucket",
        get(&w.anon, "pub", "nope").await,
        error("NoSuchKey", 404),
    );
    check(
        &mut f,
        "anon writes into public-read",
        put(&w.anon, "pub", "a", None).await,
        denied(),
    );
    check(
        &mut f,
        "carol reads the bucket ACL (no READ_ACP)",
        res(w.carol.get_bucket_acl().bucket("pub").send().await),
        denied(),
    );
    authenticated_read_then_public_read_write(&w, &mut f).await;

    private_again_and_refusals(&w, &mut f).await;
    report(f);
}

/// authenticated-read lets any signed user list; public-read-write lets
/// anyone write and delete.
async fn authenticated_read_then_public_read_write(w: &World, f: &mut Vec<String>) {
    bucket_acl(&w.alice, "pub", BucketCannedAcl::AuthenticatedRead)
        .await
        .unwrap();
    check(f, "anon lists authenticated-read", list(&w.anon, "pub").await, denied());
    check(f, "carol lists authenticated-read", list(&w.carol, "pub").await, ok());
    check(
        f,
        "anon reads a missing key of a bucket it may not list",
        get(&w.anon, "pub", "nope").await,
        denied(),
    );

    bucket_acl(&w.alice, "pub", BucketCannedAcl::PublicReadWrite)
        .await
        .unwrap();
    check(
        f,
        "anon writes into public-read-write",
        put(&w.anon, "pub", "a", None).await,
        ok(),
    );
    check(f, "alice reads what anon wrote", get(&w.alice, "pub", "a").await, ok());
    check(
        f,
        "anon deletes in public-read-write",
        res(w.anon.delete_object().bucket("pub").key("a").send().await),
        ok(),
    );
    let acl = w.alice.get_bucket_acl().bucket("pub").send().await.unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some("alice"));
    assert_eq!(
        grant_list(acl.grants()),
        vec![
            "alice:FULL_CONTROL".to_owned(),
            format!("{ALL_USERS}:READ"),
            format!("{ALL_USERS}:WRITE"),
        ]
    );
}

/// Back to private; carol may not set the bucket ACL; an unknown canned
/// ACL is refused.
async fn private_again_and_refusals(w: &World, f: &mut Vec<String>) {
    bucket_acl(&w.alice, "pub", BucketCannedAcl::Private).await.unwrap();
    check(f, "anon lists after private", list(&w.anon, "pub").await, denied());
    check(f, "carol lists after private", list(&w.carol, "pub").await, denied());
    check(
        f,
        "carol sets the bucket ACL",
        bucket_acl(&w.carol, "pub", BucketCannedAcl::PublicReadWrite).await,
        denied(),
    );
    check(
        f,
        "an unknown canned ACL",
        res(w
            .alice
            .put_bucket_acl()
            .bucket("pub")
            .acl(BucketCannedAcl::from("public-write"))
            .send()
            .await),
        error("InvalidArgument", 400),
    );
}

/// Object ACLs, grants by id (header and body), by e-mail address and by
/// group; what a grantee of one permission can and cannot do; a bucket
/// WRITE grantee owns what it writes and reads nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_acls_and_explicit_grants() {
    let w = world();
    let mut f = Vec::new();
    w.alice.create_bucket().bucket("docs").send().await.unwrap();
    put(&w.alice, "docs", "doc", Some(ObjectCannedAcl::PublicRead))
        .await
        .unwrap();
    put(&w.alice, "docs", "secret", None).await.unwrap();
    put(&w.alice, "docs", "other", None).await.unwrap();

    check(
        &mut f,
        "anon reads a public-read object",
        get(&w.anon, "docs", "doc").await,
        ok(),
    );
    check(
        &mut f,
        "anon reads a private object",
        get(&w.anon, "docs", "secret").await,
        denied(),
    );
    check(
        &mut f,
        "anon lists the private bucket",
        list(&w.anon, "docs").await,
        denied(),
    );

    header_grant_by_id(&w, &mut f).await;

    body_grants_by_id_email_and_group(&w, &mut f).await;

    unresolvable_and_ambiguous_grants(&w, &mut f).await;

    write_acp_on_one_object(&w, &mut f).await;

    bucket_write_owns_what_it_writes(&w, &mut f).await;
    report(f);
}

/// A header grant by id: READ reads, and nothing more.
async fn header_grant_by_id(w: &World, f: &mut Vec<String>) {
    // A header grant by id.
    res(w
        .alice
        .put_object_acl()
        .bucket("docs")
        .key("secret")
        .grant_read("id=bob")
        .send()
        .await)
    .unwrap();
    check(f, "bob reads with READ", get(&w.bob, "docs", "secret").await, ok());
    check(
        f,
        "carol reads without a grant",
        get(&w.carol, "docs", "secret").await,
        denied(),
    );
    check(
        f,
        "bob reads the ACL without READ_ACP",
        res(w.bob.get_object_acl().bucket("docs").key("secret").send().await),
        denied(),
    );
    check(
        f,
        "bob deletes with only object READ",
        res(w.bob.delete_object().bucket("docs").key("secret").send().await),
        denied(),
    );
}

/// A body with a user id, an e-mail address and a group.
async fn body_grants_by_id_email_and_group(w: &World, f: &mut Vec<String>) {
    // A body with a user id, an e-mail address and a group.
    let policy = AccessControlPolicy::builder()
        .owner(Owner::builder().id("alice").build())
        .grants(grant(user_grantee("bob"), Permission::ReadAcp))
        .grants(grant(
            Grantee::builder()
                .r#type(Type::AmazonCustomerByEmail)
                .email_address(CAROL_EMAIL)
                .build()
                .unwrap(),
            Permission::Read,
        ))
        .grants(grant(
            Grantee::builder().r#type(Type::Group).uri(ALL_USERS).build().unwrap(),
            Permission::ReadAcp,
        ))
        .build();
    res(w
        .alice
        .put_object_acl()
        .bucket("docs")
        .key("secret")
        .access_control_policy(policy)
        .send()
        .await)
    .unwrap();
    check(
        f,
        "carol reads, granted by e-mail",
        get(&w.carol, "docs", "secret").await,
        ok(),
    );
    check(
        f,
        "bob reads after the ACL replaced his",
        get(&w.bob, "docs", "secret").await,
        denied(),
    );
    let acl = w
        .bob
        .get_object_acl()
        .bucket("docs")
        .key("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some("alice"));
    assert_eq!(
        grant_list(acl.grants()),
        vec![
            "bob:READ_ACP".to_owned(),
            "carol:READ".to_owned(),
            format!("{ALL_USERS}:READ_ACP"),
        ],
        "e-mail grants are shown as the user's id"
    );
    check(
        f,
        "anon reads the ACL (AllUsers READ_ACP)",
        res(w.anon.get_object_acl().bucket("docs").key("secret").send().await),
        ok(),
    );
    check(
        f,
        "anon reads the object (READ_ACP is not READ)",
        get(&w.anon, "docs", "secret").await,
        denied(),
    );
}

/// Grants nobody can resolve, and ambiguous requests.
async fn unresolvable_and_ambiguous_grants(w: &World, f: &mut Vec<String>) {
    // Grants nobody can resolve, and ambiguous requests.
    let acl_req = |g: &str| {
        w.alice
            .put_object_acl()
            .bucket("docs")
            .key("secret")
            .grant_read(g.to_owned())
    };
    check(
        f,
        "grant to an unknown id",
        res(acl_req("id=nobody").send().await),
        error("InvalidArgument", 400),
    );
    check(
        f,
        "grant to an unknown e-mail",
        res(acl_req("emailAddress=\"nobody@example.com\"").send().await),
        error("UnresolvableGrantByEmailAddress", 400),
    );
    check(
        f,
        "grant to an unknown group",
        res(acl_req("uri=\"http://acs.amazonaws.com/groups/global/Everyone\"")
            .send()
            .await),
        error("InvalidArgument", 400),
    );
    check(
        f,
        "canned ACL and grant headers together",
        res(acl_req("id=bob").acl(ObjectCannedAcl::PublicRead).send().await),
        error("InvalidRequest", 400),
    );
    let many = vec!["id=bob"; 101].join(",");
    check(
        f,
        "101 grants",
        res(acl_req(&many).send().await),
        error("InvalidArgument", 400),
    );
}

/// WRITE_ACP on one object: bob can rewrite that ACL (S3 semantics: it is
/// as good as full control of the object) and nothing else.
async fn write_acp_on_one_object(w: &World, f: &mut Vec<String>) {
    // WRITE_ACP on one object: bob can rewrite that ACL (S3 semantics: it
    // is as good as full control of the object) and nothing else.
    res(w
        .alice
        .put_object_acl()
        .bucket("docs")
        .key("secret")
        .grant_write_acp("id=bob")
        .send()
        .await)
    .unwrap();
    check(
        f,
        "bob reads before granting himself",
        get(&w.bob, "docs", "secret").await,
        denied(),
    );
    check(
        f,
        "bob grants himself READ with WRITE_ACP",
        res(w
            .bob
            .put_object_acl()
            .bucket("docs")
            .key("secret")
            .grant_read("id=bob")
            .send()
            .await),
        ok(),
    );
    check(
        f,
        "bob reads after granting himself",
        get(&w.bob, "docs", "secret").await,
        ok(),
    );
    check(
        f,
        "bob rewrites another object's ACL",
        res(w
            .bob
            .put_object_acl()
            .bucket("docs")
            .key("other")
            .grant_read("id=bob")
            .send()
            .await),
        denied(),
    );
    check(
        f,
        "bob rewrites the bucket ACL",
        bucket_acl(&w.bob, "docs", BucketCannedAcl::PublicReadWrite).await,
        denied(),
    );
}

/// Bucket WRITE for bob: he writes, owns what he writes, and reads nothing
/// of alice's.
async fn bucket_write_owns_what_it_writes(w: &World, f: &mut Vec<String>) {
    // Bucket WRITE for bob: he writes, owns what he writes, and reads
    // nothing of alice's.
    res(w
        .alice
        .put_bucket_acl()
        .bucket("docs")
        .grant_full_control("id=alice")
        .grant_write("id=bob")
        .send()
        .await)
    .unwrap();
    check(
        f,
        "bob writes with bucket WRITE",
        put(&w.bob, "docs", "bobs", None).await,
        ok(),
    );
    check(f, "bob reads his own object", get(&w.bob, "docs", "bobs").await, ok());
    check(
        f,
        "bob reads alice's object",
        get(&w.bob, "docs", "other").await,
        denied(),
    );
    check(f, "bob lists without bucket READ", list(&w.bob, "docs").await, denied());
    check(
        f,
        "carol reads bob's object",
        get(&w.carol, "docs", "bobs").await,
        denied(),
    );
    check(f, "alice reads bob's object", get(&w.alice, "docs", "bobs").await, ok());
    let acl = w
        .alice
        .get_object_acl()
        .bucket("docs")
        .key("bobs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        acl.owner().and_then(|o| o.id()),
        Some("bob"),
        "the writer owns the object"
    );
    assert_eq!(grant_list(acl.grants()), vec!["bob:FULL_CONTROL".to_owned()]);
    check(
        f,
        "carol writes without a grant",
        put(&w.carol, "docs", "c", None).await,
        denied(),
    );
}
