//! S3 ACLs, Object Ownership and Block Public Access end to end (issue
//! 13): canned and explicit ACLs on buckets and objects, grants by user
//! id, e-mail address and group, `BucketOwnerEnforced` turning ACLs off,
//! `BucketOwnerPreferred` handing objects to the bucket owner, and the four
//! Block Public Access switches, played by alice (bucket owner), bob and
//! carol (other users) and anonymous requests, with the AWS SDK for Rust,
//! the `aws` CLI and boto3.
//!
//! The tests are split by concern, one file each: `acls` (canned and
//! explicit ACLs), `ownership` (Object Ownership), `public_access` (Block
//! Public Access) and `clients` (the `aws` CLI and boto3, canonical ids,
//! oversized bodies). This file keeps the helpers they share; it stays one
//! test binary.

use std::process::Output;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, ObjectOwnership, Owner, OwnershipControls,
    OwnershipControlsRule, Permission, PublicAccessBlockConfiguration, Type,
};
use herald_testkit::*;
use serde_json::Value;

mod acls;
mod clients;
mod ownership;
mod public_access;

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

#[track_caller]
fn check_ok(r: Res, what: &str) {
    assert!(r.is_ok(), "{what}: {r:?}");
}
