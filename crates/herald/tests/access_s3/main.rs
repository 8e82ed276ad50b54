//! S3 bucket policies end to end (issue 13): Put/Get/Delete/StatusOf a
//! bucket policy, and the access decision every S3 request goes through
//! (explicit deny, then the owner, then an allow in the bucket policy,
//! else `AccessDenied`), played by alice (owner), bob (granted by a
//! policy), carol (another user, never granted) and anonymous (unsigned
//! requests) with the AWS SDK for Rust, the `aws` CLI, boto3 and raw HTTP.
//!
//! Each test starts its own server; the cross-user matrix is a table per
//! operation group, and reports every wrong cell at once.
//!
//! The tests are split by concern, one file each: `matrix` (the
//! cross-user table, and `matrix/ops` the operations it runs), `cli`
//! (the `aws` CLI and boto3), `policies` (malformed policies, explicit
//! deny, public read), `conditions` (condition keys, policy variables,
//! expected owner) and `requests` (events, DeleteObjects, CopyObject).
//! This file keeps the helpers they share; it stays one test binary.

use std::process::Output;
use std::sync::Mutex;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, Event, NotificationConfiguration,
    ObjectIdentifier, Tag, Tagging, TopicConfiguration, VersioningConfiguration,
};
use herald_testkit::*;
use serde_json::{Value, json};

mod cli;
mod conditions;
mod matrix;
mod policies;
mod requests;

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");
const CAROL: (&str, &str) = ("CAROLACCESSKEY000001", "carolSecretKey/0123456789abcdefghijklmn");

fn users(srv: &TestServer) {
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    srv.create_user("carol", CAROL.0, CAROL.1);
}

/// A server with alice and bob, and alice's bucket `b` holding `keys`
/// (each with the body `x`).
async fn alice_bucket_with(b: &str, keys: &[&str]) -> (TestServer, Client, Client) {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    alice.create_bucket().bucket(b).send().await.unwrap();
    for k in keys {
        alice
            .put_object()
            .bucket(b)
            .key(*k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    (srv, alice, bob)
}

/// An SDK client that signs nothing: every request it sends is anonymous.
fn anonymous_client(srv: &TestServer) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(srv.url())
        .force_path_style(true)
        .allow_no_auth()
        .build();
    Client::from_conf(conf)
}

// ---------------------------------------------------------------------------
// Policy documents.

fn doc(statements: Vec<Value>) -> String {
    json!({ "Version": "2012-10-17", "Statement": statements }).to_string()
}

fn allow(sid: &str, principal: Value, actions: &[&str], resources: &[String]) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Principal": principal, "Action": actions, "Resource": resources })
}

fn deny(sid: &str, principal: Value, actions: &[&str], resources: &[String]) -> Value {
    json!({ "Sid": sid, "Effect": "Deny", "Principal": principal, "Action": actions, "Resource": resources })
}

fn bucket_arn(b: &str) -> String {
    format!("arn:aws:s3:::{b}")
}

fn objects_arn(b: &str, pattern: &str) -> String {
    format!("arn:aws:s3:::{b}/{pattern}")
}

fn with_condition(mut stmt: Value, condition: Value) -> Value {
    stmt["Condition"] = condition;
    stmt
}

async fn must_put_policy(c: &Client, bucket: &str, policy: &str) {
    if let Err(e) = c.put_bucket_policy().bucket(bucket).policy(policy).send().await {
        panic!("PutBucketPolicy on {bucket} failed: {e:?}\npolicy: {policy}");
    }
}

fn p_read(b: &str) -> String {
    doc(vec![allow(
        "BobReads",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetObject"],
        &[objects_arn(b, "*")],
    )])
}

// ---------------------------------------------------------------------------
// Outcomes.

/// What one call gave: Ok, or (error code, HTTP status). A key refused
/// inside a 200 DeleteObjects answer is (its code, 200).
type Res = Result<(), (String, u16)>;

fn ei<E, R>(e: SdkError<E, R>) -> (String, u16)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    err_info(&e)
}

fn res<T, E, R>(r: Result<T, SdkError<E, R>>) -> Res
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    r.map(|_| ()).map_err(ei)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exp {
    /// The call succeeds (and did what it says).
    Ok,
    /// 403 AccessDenied (HEAD answers carry no body: 403 is all there is).
    Denied,
    /// DeleteObjects answers 200 but lists the key in Errors as AccessDenied.
    KeyDenied,
}
const O: Exp = Exp::Ok;
const D: Exp = Exp::Denied;
const K: Exp = Exp::KeyDenied;

fn matches(exp: Exp, got: &Res, head: bool) -> bool {
    match (exp, got) {
        (Exp::Ok, Ok(())) => true,
        (Exp::Denied, Err((code, 403))) => code == "AccessDenied" || head,
        (Exp::KeyDenied, Err((code, 200))) => code == "AccessDenied",
        _ => false,
    }
}

fn show(r: &Res) -> String {
    match r {
        Ok(()) => "Ok".into(),
        Err((c, s)) => format!("{s} {c:?}"),
    }
}
