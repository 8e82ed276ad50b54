//! S3 ACLs, Object Ownership and Block Public Access end to end (issue
//! 13): canned and explicit ACLs on buckets and objects, grants by user
//! id, e-mail address and group, `BucketOwnerEnforced` turning ACLs off,
//! `BucketOwnerPreferred` handing objects to the bucket owner, and the four
//! Block Public Access switches, played by alice (bucket owner), bob and
//! carol (other users) and anonymous requests, with the AWS SDK for Rust,
//! the `aws` CLI and boto3.

mod common;

use std::process::Output;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership, Owner, OwnershipControls,
    OwnershipControlsRule, Permission, PublicAccessBlockConfiguration, Type,
};
use common::*;
use serde_json::Value;

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");
const CAROL: (&str, &str) = ("CAROLACCESSKEY000001", "carolSecretKey/0123456789abcdefghijklmn");
const CAROL_EMAIL: &str = "carol@example.com";
const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

struct World {
    srv: TestServer,
    alice: Client,
    bob: Client,
    carol: Client,
    anon: Client,
}

/// A server with alice, bob and carol (carol has an e-mail address).
fn world() -> World {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    let out = srv.cli(&[
        "user",
        "create",
        "carol",
        "--access-key",
        CAROL.0,
        "--secret-key",
        CAROL.1,
        "--email",
        CAROL_EMAIL,
    ]);
    assert!(out.status.success(), "user create carol: {out:?}");
    let anon = Client::from_conf(
        aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(srv.url())
            .force_path_style(true)
            .allow_no_auth()
            .build(),
    );
    World {
        alice: srv.s3_as(ALICE.0, ALICE.1),
        bob: srv.s3_as(BOB.0, BOB.1),
        carol: srv.s3_as(CAROL.0, CAROL.1),
        anon,
        srv,
    }
}

/// Ok, or (error code, HTTP status).
type Res = Result<(), (String, u16)>;

fn res<T, E, R>(r: Result<T, SdkError<E, R>>) -> Res
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    r.map(|_| ()).map_err(|e| err_info(&e))
}

fn ok() -> Res {
    Ok(())
}

fn denied() -> Res {
    Err(("AccessDenied".into(), 403))
}

fn error(code: &str, status: u16) -> Res {
    Err((code.into(), status))
}

async fn put(c: &Client, b: &str, k: &str, acl: Option<ObjectCannedAcl>) -> Res {
    res(c
        .put_object()
        .bucket(b)
        .key(k)
        .set_acl(acl)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await)
}

async fn get(c: &Client, b: &str, k: &str) -> Res {
    res(c.get_object().bucket(b).key(k).send().await)
}

async fn list(c: &Client, b: &str) -> Res {
    res(c.list_objects_v2().bucket(b).send().await)
}

async fn bucket_acl(c: &Client, b: &str, acl: BucketCannedAcl) -> Res {
    res(c.put_bucket_acl().bucket(b).acl(acl).send().await)
}

fn user_grantee(id: &str) -> Grantee {
    Grantee::builder().r#type(Type::CanonicalUser).id(id).build().unwrap()
}

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant::builder().grantee(grantee).permission(permission).build()
}

/// The grants of an ACL answer as (grantee, permission) strings, sorted.
fn grant_list(grants: &[Grant]) -> Vec<String> {
    let mut v: Vec<String> = grants
        .iter()
        .map(|g| {
            let ge = g.grantee().unwrap();
            let who = ge.id().or(ge.uri()).unwrap_or("?");
            format!("{who}:{}", g.permission().unwrap().as_str())
        })
        .collect();
    v.sort();
    v
}

#[track_caller]
fn check(failures: &mut Vec<String>, what: &str, got: Res, want: Res) {
    if got != want {
        failures.push(format!("{what}: want {want:?}, got {got:?}"));
    }
}

fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

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

    bucket_acl(&w.alice, "pub", BucketCannedAcl::AuthenticatedRead)
        .await
        .unwrap();
    check(
        &mut f,
        "anon lists authenticated-read",
        list(&w.anon, "pub").await,
        denied(),
    );
    check(
        &mut f,
        "carol lists authenticated-read",
        list(&w.carol, "pub").await,
        ok(),
    );
    check(
        &mut f,
        "anon reads a missing key of a bucket it may not list",
        get(&w.anon, "pub", "nope").await,
        denied(),
    );

    bucket_acl(&w.alice, "pub", BucketCannedAcl::PublicReadWrite)
        .await
        .unwrap();
    check(
        &mut f,
        "anon writes into public-read-write",
        put(&w.anon, "pub", "a", None).await,
        ok(),
    );
    check(
        &mut f,
        "alice reads what anon wrote",
        get(&w.alice, "pub", "a").await,
        ok(),
    );
    check(
        &mut f,
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

    bucket_acl(&w.alice, "pub", BucketCannedAcl::Private).await.unwrap();
    check(&mut f, "anon lists after private", list(&w.anon, "pub").await, denied());
    check(
        &mut f,
        "carol lists after private",
        list(&w.carol, "pub").await,
        denied(),
    );
    check(
        &mut f,
        "carol sets the bucket ACL",
        bucket_acl(&w.carol, "pub", BucketCannedAcl::PublicReadWrite).await,
        denied(),
    );
    check(
        &mut f,
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
    report(f);
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
    check(&mut f, "bob reads with READ", get(&w.bob, "docs", "secret").await, ok());
    check(
        &mut f,
        "carol reads without a grant",
        get(&w.carol, "docs", "secret").await,
        denied(),
    );
    check(
        &mut f,
        "bob reads the ACL without READ_ACP",
        res(w.bob.get_object_acl().bucket("docs").key("secret").send().await),
        denied(),
    );
    check(
        &mut f,
        "bob deletes with only object READ",
        res(w.bob.delete_object().bucket("docs").key("secret").send().await),
        denied(),
    );

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
        &mut f,
        "carol reads, granted by e-mail",
        get(&w.carol, "docs", "secret").await,
        ok(),
    );
    check(
        &mut f,
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
        &mut f,
        "anon reads the ACL (AllUsers READ_ACP)",
        res(w.anon.get_object_acl().bucket("docs").key("secret").send().await),
        ok(),
    );
    check(
        &mut f,
        "anon reads the object (READ_ACP is not READ)",
        get(&w.anon, "docs", "secret").await,
        denied(),
    );

    // Grants nobody can resolve, and ambiguous requests.
    let acl_req = |g: &str| {
        w.alice
            .put_object_acl()
            .bucket("docs")
            .key("secret")
            .grant_read(g.to_owned())
    };
    check(
        &mut f,
        "grant to an unknown id",
        res(acl_req("id=nobody").send().await),
        error("InvalidArgument", 400),
    );
    check(
        &mut f,
        "grant to an unknown e-mail",
        res(acl_req("emailAddress=\"nobody@example.com\"").send().await),
        error("UnresolvableGrantByEmailAddress", 400),
    );
    check(
        &mut f,
        "grant to an unknown group",
        res(acl_req("uri=\"http://acs.amazonaws.com/groups/global/Everyone\"")
            .send()
            .await),
        error("InvalidArgument", 400),
    );
    check(
        &mut f,
        "canned ACL and grant headers together",
        res(acl_req("id=bob").acl(ObjectCannedAcl::PublicRead).send().await),
        error("InvalidRequest", 400),
    );
    let many = vec!["id=bob"; 101].join(",");
    check(
        &mut f,
        "101 grants",
        res(acl_req(&many).send().await),
        error("InvalidArgument", 400),
    );

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
        &mut f,
        "bob reads before granting himself",
        get(&w.bob, "docs", "secret").await,
        denied(),
    );
    check(
        &mut f,
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
        &mut f,
        "bob reads after granting himself",
        get(&w.bob, "docs", "secret").await,
        ok(),
    );
    check(
        &mut f,
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
        &mut f,
        "bob rewrites the bucket ACL",
        bucket_acl(&w.bob, "docs", BucketCannedAcl::PublicReadWrite).await,
        denied(),
    );

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
        &mut f,
        "bob writes with bucket WRITE",
        put(&w.bob, "docs", "bobs", None).await,
        ok(),
    );
    check(
        &mut f,
        "bob reads his own object",
        get(&w.bob, "docs", "bobs").await,
        ok(),
    );
    check(
        &mut f,
        "bob reads alice's object",
        get(&w.bob, "docs", "other").await,
        denied(),
    );
    check(
        &mut f,
        "bob lists without bucket READ",
        list(&w.bob, "docs").await,
        denied(),
    );
    check(
        &mut f,
        "carol reads bob's object",
        get(&w.carol, "docs", "bobs").await,
        denied(),
    );
    check(
        &mut f,
        "alice reads bob's object",
        get(&w.alice, "docs", "bobs").await,
        ok(),
    );
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
        &mut f,
        "carol writes without a grant",
        put(&w.carol, "docs", "c", None).await,
        denied(),
    );
    report(f);
}

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

    set_ownership(&w.alice, "own", ObjectOwnership::BucketOwnerPreferred)
        .await
        .unwrap();
    check(
        &mut f,
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

    put(&w.alice, "own", "pub", Some(ObjectCannedAcl::PublicRead))
        .await
        .unwrap();
    check(
        &mut f,
        "anon reads public-read before Enforced",
        get(&w.anon, "own", "pub").await,
        ok(),
    );
    check(
        &mut f,
        "Enforced while the bucket ACL grants bob",
        set_ownership(&w.alice, "own", ObjectOwnership::BucketOwnerEnforced).await,
        error("InvalidBucketAclWithObjectOwnership", 400),
    );
    bucket_acl(&w.alice, "own", BucketCannedAcl::Private).await.unwrap();
    set_ownership(&w.alice, "own", ObjectOwnership::BucketOwnerEnforced)
        .await
        .unwrap();
    check(
        &mut f,
        "anon reads public-read under Enforced",
        get(&w.anon, "own", "pub").await,
        denied(),
    );
    check(
        &mut f,
        "a public-read PUT under Enforced",
        put(&w.alice, "own", "x", Some(ObjectCannedAcl::PublicRead)).await,
        error("AccessControlListNotSupported", 400),
    );
    check(
        &mut f,
        "a bucket-owner-full-control PUT under Enforced",
        put(&w.alice, "own", "x", Some(ObjectCannedAcl::BucketOwnerFullControl)).await,
        ok(),
    );
    check(
        &mut f,
        "PutBucketAcl public-read under Enforced",
        bucket_acl(&w.alice, "own", BucketCannedAcl::PublicRead).await,
        error("AccessControlListNotSupported", 400),
    );
    check(
        &mut f,
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

    res(w.alice.delete_bucket_ownership_controls().bucket("own").send().await).unwrap();
    check(
        &mut f,
        "ownership controls after delete",
        res(w.alice.get_bucket_ownership_controls().bucket("own").send().await),
        error("OwnershipControlsNotFoundError", 404),
    );
    check(
        &mut f,
        "anon reads public-read again",
        get(&w.anon, "own", "pub").await,
        ok(),
    );

    check(
        &mut f,
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
        &mut f,
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
        &mut f,
        "a public-read PUT into a bucket created Enforced",
        put(&w.alice, "own2", "x", Some(ObjectCannedAcl::PublicRead)).await,
        error("AccessControlListNotSupported", 400),
    );
    report(f);
}

async fn set_block(c: &Client, b: &str, acls: bool, ignore: bool, policy: bool, restrict: bool) -> Res {
    res(c
        .put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(acls)
                .ignore_public_acls(ignore)
                .block_public_policy(policy)
                .restrict_public_buckets(restrict)
                .build(),
        )
        .send()
        .await)
}

fn public_read_policy(b: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    )
}

/// Block Public Access: each of the four switches does what S3 says, and
/// only to public grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_public_access_switches() {
    let w = world();
    let mut f = Vec::new();
    w.alice.create_bucket().bucket("bpa").send().await.unwrap();
    check(
        &mut f,
        "never set",
        res(w.alice.get_public_access_block().bucket("bpa").send().await),
        error("NoSuchPublicAccessBlockConfiguration", 404),
    );
    put(&w.alice, "bpa", "pub", Some(ObjectCannedAcl::PublicRead))
        .await
        .unwrap();
    put(&w.alice, "bpa", "bobs", None).await.unwrap();
    res(w
        .alice
        .put_object_acl()
        .bucket("bpa")
        .key("bobs")
        .grant_read("id=bob")
        .send()
        .await)
    .unwrap();

    set_block(&w.alice, "bpa", false, true, false, false).await.unwrap();
    check(
        &mut f,
        "anon under IgnorePublicAcls",
        get(&w.anon, "bpa", "pub").await,
        denied(),
    );
    check(
        &mut f,
        "a grant to a user under IgnorePublicAcls",
        get(&w.bob, "bpa", "bobs").await,
        ok(),
    );
    let got = w.alice.get_public_access_block().bucket("bpa").send().await.unwrap();
    let c = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(false), Some(true), Some(false), Some(false))
    );
    check(
        &mut f,
        "bob sets Block Public Access",
        set_block(&w.bob, "bpa", false, false, false, false).await,
        denied(),
    );

    set_block(&w.alice, "bpa", true, false, false, false).await.unwrap();
    check(
        &mut f,
        "anon once IgnorePublicAcls is off",
        get(&w.anon, "bpa", "pub").await,
        ok(),
    );
    check(
        &mut f,
        "a public-read PUT under BlockPublicAcls",
        put(&w.alice, "bpa", "x", Some(ObjectCannedAcl::PublicRead)).await,
        denied(),
    );
    check(
        &mut f,
        "PutBucketAcl public-read under BlockPublicAcls",
        bucket_acl(&w.alice, "bpa", BucketCannedAcl::PublicRead).await,
        denied(),
    );
    check(
        &mut f,
        "an AllUsers grant header under BlockPublicAcls",
        res(w
            .alice
            .put_object_acl()
            .bucket("bpa")
            .key("bobs")
            .grant_read(format!("uri=\"{ALL_USERS}\""))
            .send()
            .await),
        denied(),
    );
    check(
        &mut f,
        "a private PUT under BlockPublicAcls",
        put(&w.alice, "bpa", "x", None).await,
        ok(),
    );

    set_block(&w.alice, "bpa", false, false, true, false).await.unwrap();
    check(
        &mut f,
        "a public policy under BlockPublicPolicy",
        res(w
            .alice
            .put_bucket_policy()
            .bucket("bpa")
            .policy(public_read_policy("bpa"))
            .send()
            .await),
        denied(),
    );
    let bob_only = public_read_policy("bpa").replace(r#""Principal":"*""#, r#""Principal":{"AWS":"bob"}"#);
    check(
        &mut f,
        "a policy for bob under BlockPublicPolicy",
        res(w.alice.put_bucket_policy().bucket("bpa").policy(bob_only).send().await),
        ok(),
    );

    res(w.alice.delete_public_access_block().bucket("bpa").send().await).unwrap();
    res(w
        .alice
        .put_bucket_policy()
        .bucket("bpa")
        .policy(public_read_policy("bpa"))
        .send()
        .await)
    .unwrap();
    check(
        &mut f,
        "carol under a public policy",
        get(&w.carol, "bpa", "x").await,
        ok(),
    );
    set_block(&w.alice, "bpa", false, false, false, true).await.unwrap();
    check(
        &mut f,
        "anon under RestrictPublicBuckets",
        get(&w.anon, "bpa", "x").await,
        denied(),
    );
    check(
        &mut f,
        "carol under RestrictPublicBuckets",
        get(&w.carol, "bpa", "x").await,
        denied(),
    );
    check(
        &mut f,
        "alice under RestrictPublicBuckets",
        get(&w.alice, "bpa", "x").await,
        ok(),
    );
    check(
        &mut f,
        "the public-read object ACL under RestrictPublicBuckets",
        get(&w.anon, "bpa", "pub").await,
        ok(),
    );

    res(w.alice.delete_public_access_block().bucket("bpa").send().await).unwrap();
    check(
        &mut f,
        "after DeletePublicAccessBlock",
        res(w.alice.get_public_access_block().bucket("bpa").send().await),
        error("NoSuchPublicAccessBlockConfiguration", 404),
    );
    check(
        &mut f,
        "anon after DeletePublicAccessBlock",
        get(&w.anon, "bpa", "x").await,
        ok(),
    );
    report(f);
}

fn aws_s3api(srv: &TestServer, key: (&str, &str), args: &[&str]) -> Output {
    let mut c = aws_cli_command(srv);
    c.env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(["--output", "json", "s3api"])
        .args(args);
    c.output()
        .unwrap_or_else(|e| panic!("cannot run the aws CLI ({e}); install it with `pip install awscli`"))
}

#[track_caller]
fn cli_json(out: &Output, what: &str) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aws {what} failed ({}):\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("aws {what}: not JSON ({e}): {stdout}"))
    }
}

const BOTO3_SCRIPT: &str = r#"
import json, os, sys
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

url, bucket = os.environ["T_URL"], os.environ["T_BUCKET"]
def client(ak=None, sk=None):
    base = dict(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    if ak is None:
        return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED, **base))
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=Config(**base))
alice = client(os.environ["T_ALICE_AK"], os.environ["T_ALICE_SK"])
anon = client()
failures = []

acl = alice.get_object_acl(Bucket=bucket, Key="cli-obj")
grants = sorted((g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"]) for g in acl["Grants"])
if grants != [("alice", "FULL_CONTROL"), ("http://acs.amazonaws.com/groups/global/AllUsers", "READ")]:
    failures.append("boto3 GetObjectAcl after the CLI's public-read: %r" % grants)
if anon.get_object(Bucket=bucket, Key="cli-obj")["Body"].read() != b"hello":
    failures.append("anonymous boto3 GetObject of the public-read object")

alice.put_object_acl(Bucket=bucket, Key="cli-obj", AccessControlPolicy={
    "Owner": acl["Owner"],
    "Grants": [{"Grantee": {"Type": "CanonicalUser", "ID": "alice"}, "Permission": "FULL_CONTROL"}]})
try:
    anon.get_object(Bucket=bucket, Key="cli-obj")
    failures.append("anonymous boto3 GetObject after the ACL went private")
except ClientError as e:
    if e.response["Error"]["Code"] != "AccessDenied":
        failures.append("anonymous GetObject after private: %r" % e.response["Error"])

print(json.dumps(failures))
sys.exit(1 if failures else 0)
"#;

/// The same features through the `aws` CLI (canned ACLs, grants, Block
/// Public Access, ownership controls) and boto3 (an AccessControlPolicy
/// body, anonymous reads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_through_aws_cli_and_boto3() {
    let w = world();
    let a = ALICE;
    cli_json(
        &aws_s3api(&w.srv, a, &["create-bucket", "--bucket", "cli", "--acl", "public-read"]),
        "create-bucket --acl public-read",
    );
    let acl = cli_json(
        &aws_s3api(&w.srv, a, &["get-bucket-acl", "--bucket", "cli"]),
        "get-bucket-acl",
    );
    assert_eq!(acl["Owner"]["ID"], "alice", "{acl}");
    let grants = acl["Grants"].as_array().unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g["Grantee"]["URI"] == ALL_USERS && g["Permission"] == "READ"),
        "{acl}"
    );
    let body = std::env::temp_dir().join(format!("acl-cli-{}", std::process::id()));
    std::fs::write(&body, b"hello").unwrap();
    cli_json(
        &aws_s3api(
            &w.srv,
            a,
            &[
                "put-object",
                "--bucket",
                "cli",
                "--key",
                "cli-obj",
                "--body",
                body.to_str().unwrap(),
                "--acl",
                "public-read",
            ],
        ),
        "put-object --acl public-read",
    );
    std::fs::remove_file(&body).ok();
    cli_json(
        &aws_s3api(
            &w.srv,
            a,
            &[
                "put-bucket-acl",
                "--bucket",
                "cli",
                "--grant-read",
                "emailAddress=carol@example.com",
            ],
        ),
        "put-bucket-acl --grant-read emailAddress=",
    );
    let acl = cli_json(
        &aws_s3api(&w.srv, a, &["get-bucket-acl", "--bucket", "cli"]),
        "get-bucket-acl",
    );
    assert_eq!(acl["Grants"].as_array().unwrap().len(), 1, "{acl}");
    assert_eq!(acl["Grants"][0]["Grantee"]["ID"], "carol", "{acl}");
    check_ok(list(&w.carol, "cli").await, "carol lists after the e-mail grant");
    assert_eq!(list(&w.anon, "cli").await, denied(), "anon no longer lists");

    cli_json(
        &aws_s3api(
            &w.srv,
            a,
            &[
                "put-public-access-block",
                "--bucket",
                "cli",
                "--public-access-block-configuration",
                "BlockPublicAcls=true,IgnorePublicAcls=false,BlockPublicPolicy=true,RestrictPublicBuckets=false",
            ],
        ),
        "put-public-access-block",
    );
    let pab = cli_json(
        &aws_s3api(&w.srv, a, &["get-public-access-block", "--bucket", "cli"]),
        "get-public-access-block",
    );
    assert_eq!(pab["PublicAccessBlockConfiguration"]["BlockPublicAcls"], true, "{pab}");
    assert_eq!(
        pab["PublicAccessBlockConfiguration"]["IgnorePublicAcls"], false,
        "{pab}"
    );
    let refused = aws_s3api(
        &w.srv,
        a,
        &["put-bucket-acl", "--bucket", "cli", "--acl", "public-read"],
    );
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("AccessDenied"),
        "put-bucket-acl public-read under BlockPublicAcls: {refused:?}"
    );
    cli_json(
        &aws_s3api(&w.srv, a, &["delete-public-access-block", "--bucket", "cli"]),
        "delete-public-access-block",
    );

    cli_json(
        &aws_s3api(
            &w.srv,
            a,
            &[
                "put-bucket-ownership-controls",
                "--bucket",
                "cli",
                "--ownership-controls",
                "Rules=[{ObjectOwnership=BucketOwnerPreferred}]",
            ],
        ),
        "put-bucket-ownership-controls",
    );
    let oc = cli_json(
        &aws_s3api(&w.srv, a, &["get-bucket-ownership-controls", "--bucket", "cli"]),
        "get-bucket-ownership-controls",
    );
    assert_eq!(
        oc["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerPreferred",
        "{oc}"
    );

    run_boto3(
        &w.srv,
        BOTO3_SCRIPT,
        &[("T_BUCKET", "cli"), ("T_ALICE_AK", a.0), ("T_ALICE_SK", a.1)],
    );
}

#[track_caller]
fn check_ok(r: Res, what: &str) {
    assert!(r.is_ok(), "{what}: {r:?}");
}

/// A user's S3 profile: a canonical id and display name other than the
/// user name show in ACLs, owners and listings, `id=` grants name the
/// canonical id, and `CanonicalUser` policy principals match it. The
/// name `anonymous` and a taken canonical id are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canonical_ids_and_display_names() {
    let w = world();
    let dave = ("DAVEACCESSKEY0000001", "daveSecretKey/0123456789abcdefghijklmno");
    let out = w.srv.cli(&[
        "user",
        "create",
        "dave",
        "--access-key",
        dave.0,
        "--secret-key",
        dave.1,
        "--display-name",
        "Dave D.",
        "--canonical-id",
        "d4e5f6aa",
    ]);
    assert!(out.status.success(), "{out:?}");
    let dave = w.srv.s3_as(dave.0, dave.1);
    for (args, why) in [
        (vec!["user", "create", "anonymous"], "the anonymous name"),
        (
            vec!["user", "create", "eve", "--canonical-id", "d4e5f6aa"],
            "a taken canonical id",
        ),
        (
            vec!["user", "create", "eve", "--canonical-id", "bob"],
            "another user's name as id",
        ),
        (vec!["user", "create", "eve", "--email", CAROL_EMAIL], "a taken e-mail"),
        (
            vec!["user", "create", "d4e5f6aa"],
            "another user's canonical id as name",
        ),
    ] {
        let out = w.srv.cli(&args);
        assert!(!out.status.success(), "{why} must be refused: {out:?}");
    }

    // A removed user's name (and canonical id) is retired: grants and
    // objects elsewhere may still name it.
    for args in [
        vec!["user", "create", "frank", "--canonical-id", "f00f"],
        vec!["user", "rm", "frank"],
    ] {
        let out = w.srv.cli(&args);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    for args in [
        vec!["user", "create", "frank"],
        vec!["user", "create", "gina", "--canonical-id", "f00f"],
    ] {
        let out = w.srv.cli(&args);
        assert!(!out.status.success(), "{args:?} took a retired name: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--reuse-name"), "{out:?}");
    }
    let out = w.srv.cli(&["user", "create", "frank", "--reuse-name"]);
    assert!(out.status.success(), "--reuse-name: {out:?}");

    dave.create_bucket().bucket("daves").send().await.unwrap();
    put(&dave, "daves", "k", None).await.unwrap();
    let acl = dave.get_bucket_acl().bucket("daves").send().await.unwrap();
    let owner = acl.owner().unwrap();
    assert_eq!((owner.id(), owner.display_name()), (Some("d4e5f6aa"), Some("Dave D.")));
    let listed = dave.list_objects().bucket("daves").send().await.unwrap();
    assert_eq!(listed.contents()[0].owner().and_then(|o| o.id()), Some("d4e5f6aa"));
    let buckets = dave.list_buckets().send().await.unwrap();
    assert_eq!(buckets.owner().and_then(|o| o.display_name()), Some("Dave D."));

    // Grants name dave by canonical id, never by user name.
    alice_grants(&w.alice, "id=dave")
        .await
        .expect_err("the user name is not an id");
    alice_grants(&w.alice, "id=d4e5f6aa").await.expect("the canonical id");
    check_ok(get(&dave, "shared", "k").await, "dave reads, granted by canonical id");
    let acl = w.alice.get_object_acl().bucket("shared").key("k").send().await.unwrap();
    assert!(
        acl.grants()
            .iter()
            .any(|g| g.grantee().and_then(|g| g.display_name()) == Some("Dave D.")),
        "{acl:?}"
    );

    // A CanonicalUser principal in a bucket policy.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"CanonicalUser":"d4e5f6aa"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared"}]}"#;
    w.alice
        .put_bucket_policy()
        .bucket("shared")
        .policy(policy)
        .send()
        .await
        .unwrap();
    check_ok(list(&dave, "shared").await, "dave lists, granted as CanonicalUser");
    assert_eq!(list(&w.bob, "shared").await, denied());
}

/// alice's bucket `shared` with object `k`, whose ACL grants READ to `who`.
async fn alice_grants(alice: &Client, who: &str) -> Res {
    if alice.head_bucket().bucket("shared").send().await.is_err() {
        alice.create_bucket().bucket("shared").send().await.unwrap();
        put(alice, "shared", "k", None).await.unwrap();
    }
    res(alice
        .put_object_acl()
        .bucket("shared")
        .key("k")
        .grant_read(who.to_owned())
        .send()
        .await)
}

/// A hostile ACL body: more grants than S3 allows is `MalformedACLError`;
/// a body over the 8 MiB XML limit is refused before it is parsed; the
/// object's ACL is unchanged either way and the server stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_acl_bodies_are_refused() {
    let w = world();
    w.alice.create_bucket().bucket("big-acl").send().await.unwrap();
    put(&w.alice, "big-acl", "k", None).await.unwrap();
    let body = |n: usize| {
        let mut p = AccessControlPolicy::builder().owner(Owner::builder().id("alice").build());
        for _ in 0..n {
            p = p.grants(grant(user_grantee("bob"), Permission::Read));
        }
        p.build()
    };
    let got = res(w
        .alice
        .put_object_acl()
        .bucket("big-acl")
        .key("k")
        .access_control_policy(body(101))
        .send()
        .await);
    assert_eq!(got, error("MalformedACLError", 400));
    // About 9 MiB of XML.
    let got = res(w
        .alice
        .put_object_acl()
        .bucket("big-acl")
        .key("k")
        .access_control_policy(body(60_000))
        .send()
        .await);
    assert_eq!(got, error("MaxMessageLengthExceeded", 400), "a 9 MiB ACL body");
    assert_healthy(&w.srv);
    check_ok(get(&w.alice, "big-acl", "k").await, "the owner still reads");
    assert_eq!(get(&w.bob, "big-acl", "k").await, denied(), "no grant landed");
}

/// Block Public Access is checked again when an object is installed: a
/// multipart upload started with `public-read` before BlockPublicAcls was
/// turned on cannot complete into a public object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_public_acls_holds_for_uploads_started_before_it() {
    let w = world();
    w.alice.create_bucket().bucket("late-block").send().await.unwrap();
    let up = w
        .alice
        .create_multipart_upload()
        .bucket("late-block")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = w
        .alice
        .upload_part()
        .bucket("late-block")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap();
    set_block(&w.alice, "late-block", true, false, false, false)
        .await
        .unwrap();
    let done = res(w
        .alice
        .complete_multipart_upload()
        .bucket("late-block")
        .key("k")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await);
    assert_eq!(done, denied(), "the public upload completed under BlockPublicAcls");
    assert_eq!(get(&w.anon, "late-block", "k").await, denied());
    assert_eq!(get(&w.alice, "late-block", "k").await, error("NoSuchKey", 404));
}
