//! S3 bucket policies end to end (issue 13): Put/Get/Delete/StatusOf a
//! bucket policy, and the access decision every S3 request goes through
//! (explicit deny, then the owner, then an allow in the bucket policy,
//! else `AccessDenied`), played by alice (owner), bob (granted by a
//! policy), carol (another user, never granted) and anonymous (unsigned
//! requests) with the AWS SDK for Rust, the `aws` CLI, boto3 and raw HTTP.
//!
//! Each test starts its own server; the cross-user matrix is a table per
//! operation group, and reports every wrong cell at once.

mod common;
mod notify_common;

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
use common::*;
use notify_common::*;
use serde_json::{Value, json};

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

// ---------------------------------------------------------------------------
// The cross-user matrix.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Alice,
    Bob,
    Carol,
    Anonymous,
}
/// Column order of every row: owner, granted user, other user, anonymous.
const WHO: [Who; 4] = [Who::Alice, Who::Bob, Who::Carol, Who::Anonymous];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Alice => "alice",
            Who::Bob => "bob",
            Who::Carol => "carol",
            Who::Anonymous => "anonymous",
        }
    }
}

struct Ctx {
    alice: Client,
    bob: Client,
    carol: Client,
    anon: Client,
    /// A topic of each user's. Notification configurations of alice's
    /// buckets name alice's topic, whoever writes them: a destination must
    /// accept the bucket owner's events (bob's topic would need a policy
    /// letting alice's bucket publish).
    topics: [String; 4],
    /// Side effects that contradict the answer (a refused delete that
    /// deleted, a wrong body...).
    problems: Mutex<Vec<String>>,
}

impl Ctx {
    fn client(&self, w: Who) -> &Client {
        match w {
            Who::Alice => &self.alice,
            Who::Bob => &self.bob,
            Who::Carol => &self.carol,
            Who::Anonymous => &self.anon,
        }
    }

    fn topic(&self, w: Who) -> &str {
        &self.topics[WHO.iter().position(|x| *x == w).unwrap()]
    }

    fn note(&self, p: String) {
        self.problems.lock().unwrap().push(p);
    }

    async fn exists(&self, b: &str, k: &str) -> bool {
        match self.alice.head_object().bucket(b).key(k).send().await {
            Ok(_) => true,
            Err(e) => {
                let (_, status) = err_info(&e);
                assert_eq!(status, 404, "alice's HeadObject {b}/{k}: {e:?}");
                false
            }
        }
    }

    /// Notes a problem unless `b/k` exists exactly when `want`.
    async fn expect_exists(&self, b: &str, k: &str, want: bool, here: &str) {
        let got = self.exists(b, k).await;
        if got != want {
            self.note(format!(
                "{here}: afterwards {b}/{k} {} (the answer said otherwise)",
                if got { "exists" } else { "does not exist" }
            ));
        }
    }

    async fn alice_put(&self, b: &str, k: &str, body: &'static [u8]) {
        self.alice
            .put_object()
            .bucket(b)
            .key(k)
            .body(ByteStream::from_static(body))
            .send()
            .await
            .unwrap_or_else(|e| panic!("alice's PutObject {b}/{k}: {e:?}"));
    }

    async fn alice_upload(&self, b: &str, k: &str) -> String {
        self.alice
            .create_multipart_upload()
            .bucket(b)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("alice's CreateMultipartUpload {b}/{k}: {e:?}"))
            .upload_id()
            .expect("UploadId")
            .to_string()
    }

    async fn alice_abort(&self, b: &str, k: &str, id: &str) {
        let _ = self
            .alice
            .abort_multipart_upload()
            .bucket(b)
            .key(k)
            .upload_id(id)
            .send()
            .await;
    }
}

type Row = (&'static str, [Exp; 4]);

struct Group {
    name: &'static str,
    bucket: &'static str,
    /// The group's bucket policy, for a bucket name: it grants bob exactly
    /// the actions of the group.
    policy: fn(&str) -> String,
    rows: &'static [Row],
}

fn p_read(b: &str) -> String {
    doc(vec![allow(
        "BobReads",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetObject"],
        &[objects_arn(b, "*")],
    )])
}

fn p_write(b: &str) -> String {
    // Ceph's principal form; a copy also reads its source (src/ only).
    doc(vec![
        allow(
            "BobWrites",
            json!({ "AWS": ["arn:aws:iam:::user/bob"] }),
            &["s3:PutObject"],
            &[objects_arn(b, "*")],
        ),
        allow(
            "BobReadsSources",
            json!({ "AWS": ["arn:aws:iam:::user/bob"] }),
            &["s3:GetObject"],
            &[objects_arn(b, "src/*")],
        ),
    ])
}

fn p_delete(b: &str) -> String {
    doc(vec![allow(
        "BobDeletes",
        json!({ "AWS": "arn:aws:iam::bob:root" }),
        &["s3:DeleteObject"],
        &[objects_arn(b, "*")],
    )])
}

fn p_list(b: &str) -> String {
    // A bare account id.
    doc(vec![allow(
        "BobLists",
        json!({ "AWS": "bob" }),
        &["s3:ListBucket"],
        &[bucket_arn(b)],
    )])
}

fn p_tagging(b: &str) -> String {
    doc(vec![allow(
        "BobTags",
        json!({ "AWS": ["arn:aws:iam::bob:user/bob"] }),
        &["s3:GetObjectTagging", "s3:PutObjectTagging"],
        &[objects_arn(b, "*")],
    )])
}

fn p_notification(b: &str) -> String {
    doc(vec![allow(
        "BobConfiguresNotifications",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetBucketNotification", "s3:PutBucketNotification"],
        &[bucket_arn(b)],
    )])
}

fn p_policy(b: &str) -> String {
    doc(vec![allow(
        "BobReadsThePolicy",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetBucketPolicy", "s3:GetBucketPolicyStatus"],
        &[bucket_arn(b)],
    )])
}

fn p_bucket(b: &str) -> String {
    doc(vec![allow(
        "BobBucketLevel",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &[
            "s3:GetBucketLocation",
            "s3:GetBucketVersioning",
            "s3:ListBucketVersions",
            "s3:ListBucketMultipartUploads",
            "s3:DeleteBucket",
        ],
        &[bucket_arn(b)],
    )])
}

const GROUPS: &[Group] = &[
    Group {
        name: "object read",
        bucket: "m-read",
        policy: p_read,
        rows: &[
            ("GetObject", [O, O, D, D]),
            ("HeadObject", [O, O, D, D]),
            // The grant is for reading only.
            ("PutObject", [O, D, D, D]),
            ("ListObjectsV2", [O, D, D, D]),
        ],
    },
    Group {
        name: "object write",
        bucket: "m-write",
        policy: p_write,
        rows: &[
            ("PutObject", [O, O, D, D]),
            ("CopyObject", [O, O, D, D]),
            ("Multipart", [O, O, D, D]),
            ("UploadPart", [O, O, D, D]),
            ("ListParts", [O, D, D, D]),
            ("AbortMultipartUpload", [O, D, D, D]),
            ("GetObject", [O, D, D, D]),
        ],
    },
    Group {
        name: "delete",
        bucket: "m-delete",
        policy: p_delete,
        rows: &[
            ("DeleteObject", [O, O, D, D]),
            ("DeleteObjects", [O, O, K, K]),
            ("GetObject", [O, D, D, D]),
        ],
    },
    Group {
        name: "listing",
        bucket: "m-list",
        policy: p_list,
        rows: &[
            ("ListObjectsV2", [O, O, D, D]),
            ("ListObjects", [O, O, D, D]),
            ("HeadBucket", [O, O, D, D]),
            ("GetObject", [O, D, D, D]),
        ],
    },
    Group {
        name: "tagging",
        bucket: "m-tagging",
        policy: p_tagging,
        rows: &[("PutObjectTagging", [O, O, D, D]), ("GetObjectTagging", [O, O, D, D])],
    },
    Group {
        name: "notification config",
        bucket: "m-notify",
        policy: p_notification,
        rows: &[
            ("PutBucketNotification", [O, O, D, D]),
            ("GetBucketNotification", [O, O, D, D]),
        ],
    },
    Group {
        name: "bucket policy",
        bucket: "m-policy",
        policy: p_policy,
        rows: &[
            ("GetBucketPolicy", [O, O, D, D]),
            ("GetBucketPolicyStatus", [O, O, D, D]),
            ("PutBucketPolicy", [O, D, D, D]),
            ("DeleteBucketPolicy", [O, D, D, D]),
        ],
    },
    Group {
        name: "bucket level",
        bucket: "m-bucket",
        policy: p_bucket,
        rows: &[
            ("GetBucketLocation", [O, O, D, D]),
            ("GetBucketVersioning", [O, O, D, D]),
            ("PutBucketVersioning", [O, D, D, D]),
            ("ListObjectVersions", [O, O, D, D]),
            ("ListMultipartUploads", [O, O, D, D]),
            ("DeleteBucket", [O, O, D, D]),
        ],
    },
];

async fn multipart(c: &Client, b: &str, k: &str) -> Res {
    let id = c
        .create_multipart_upload()
        .bucket(b)
        .key(k)
        .send()
        .await
        .map_err(ei)?
        .upload_id()
        .unwrap_or_default()
        .to_string();
    let etag = c
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .map_err(ei)?
        .e_tag()
        .unwrap_or_default()
        .to_string();
    c.complete_multipart_upload()
        .bucket(b)
        .key(k)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .map_err(ei)?;
    Ok(())
}

/// Runs one cell: `op` on the group's bucket as `who`, with whatever
/// set-up (as alice) and after-check it needs.
async fn run_op(cx: &Ctx, g: &Group, op: &str, who: Who) -> Res {
    let b = g.bucket;
    let c = cx.client(who);
    let a = &cx.alice;
    let w = who.name();
    let here = format!("[{}] {op} as {w}", g.name);
    match op {
        "GetObject" => {
            let out = c.get_object().bucket(b).key("obj").send().await.map_err(ei)?;
            let body = body_bytes(out).await;
            if body != b"hello" {
                cx.note(format!("{here}: body {:?}", String::from_utf8_lossy(&body)));
            }
            Ok(())
        }
        "HeadObject" => res(c.head_object().bucket(b).key("obj").send().await),
        "PutObject" => {
            let k = format!("w/put-{w}");
            let r = res(c
                .put_object()
                .bucket(b)
                .key(&k)
                .body(ByteStream::from_static(b"put"))
                .send()
                .await);
            cx.expect_exists(b, &k, r.is_ok(), &here).await;
            r
        }
        "CopyObject" => {
            let k = format!("w/copy-{w}");
            let r = res(c
                .copy_object()
                .bucket(b)
                .key(&k)
                .copy_source(format!("{b}/src/orig"))
                .send()
                .await);
            cx.expect_exists(b, &k, r.is_ok(), &here).await;
            r
        }
        "Multipart" => {
            let k = format!("w/mpu-{w}");
            let r = multipart(c, b, &k).await;
            cx.expect_exists(b, &k, r.is_ok(), &here).await;
            r
        }
        "UploadPart" => {
            // A part into an upload alice started.
            let k = format!("w/part-{w}");
            let id = cx.alice_upload(b, &k).await;
            let r = res(c
                .upload_part()
                .bucket(b)
                .key(&k)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from_static(b"part"))
                .send()
                .await);
            cx.alice_abort(b, &k, &id).await;
            r
        }
        "ListParts" => {
            let k = format!("w/parts-{w}");
            let id = cx.alice_upload(b, &k).await;
            let r = res(c.list_parts().bucket(b).key(&k).upload_id(&id).send().await);
            cx.alice_abort(b, &k, &id).await;
            r
        }
        "AbortMultipartUpload" => {
            let k = format!("w/abort-{w}");
            let id = cx.alice_upload(b, &k).await;
            let r = res(c.abort_multipart_upload().bucket(b).key(&k).upload_id(&id).send().await);
            let still = a.list_parts().bucket(b).key(&k).upload_id(&id).send().await.is_ok();
            if still == r.is_ok() {
                cx.note(format!(
                    "{here}: afterwards the upload {}",
                    if still { "is still there" } else { "is gone" }
                ));
            }
            cx.alice_abort(b, &k, &id).await;
            r
        }
        "DeleteObject" => {
            let k = format!("d/one-{w}");
            cx.alice_put(b, &k, b"doomed").await;
            let r = res(c.delete_object().bucket(b).key(&k).send().await);
            cx.expect_exists(b, &k, r.is_err(), &here).await;
            r
        }
        "DeleteObjects" => {
            let k = format!("d/many-{w}");
            cx.alice_put(b, &k, b"doomed").await;
            let out = c
                .delete_objects()
                .bucket(b)
                .delete(
                    Delete::builder()
                        .objects(ObjectIdentifier::builder().key(&k).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .map_err(ei)?;
            let deleted = out.deleted().iter().any(|d| d.key() == Some(k.as_str()));
            let error = out.errors().iter().find(|e| e.key() == Some(k.as_str()));
            cx.expect_exists(b, &k, !deleted, &here).await;
            match (deleted, error) {
                (true, None) => Ok(()),
                (false, Some(e)) => Err((e.code().unwrap_or_default().to_string(), 200)),
                _ => Err((format!("key neither/both deleted and in Errors: {out:?}"), 200)),
            }
        }
        "ListObjectsV2" => {
            let out = c.list_objects_v2().bucket(b).send().await.map_err(ei)?;
            if !out.contents().iter().any(|o| o.key() == Some("obj")) {
                cx.note(format!("{here}: listing without obj: {:?}", out.contents()));
            }
            Ok(())
        }
        "ListObjects" => res(c.list_objects().bucket(b).send().await),
        "HeadBucket" => res(c.head_bucket().bucket(b).send().await),
        "PutObjectTagging" => {
            let r = res(c
                .put_object_tagging()
                .bucket(b)
                .key("obj")
                .tagging(
                    Tagging::builder()
                        .tag_set(Tag::builder().key("by").value(w).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .send()
                .await);
            let tags = a
                .get_object_tagging()
                .bucket(b)
                .key("obj")
                .send()
                .await
                .unwrap_or_else(|e| panic!("alice's GetObjectTagging: {e:?}"));
            let by = tags.tag_set().iter().find(|t| t.key() == "by").map(|t| t.value());
            if r.is_ok() != (by == Some(w)) {
                cx.note(format!("{here}: afterwards the tag `by` is {by:?}"));
            }
            r
        }
        "GetObjectTagging" => res(c.get_object_tagging().bucket(b).key("obj").send().await),
        "PutBucketNotification" => res(c
            .put_bucket_notification_configuration()
            .bucket(b)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .topic_configurations(
                        TopicConfiguration::builder()
                            .id(format!("by-{w}"))
                            .topic_arn(cx.topic(Who::Alice))
                            .events(Event::from("s3:ObjectCreated:*"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await),
        "GetBucketNotification" => res(c.get_bucket_notification_configuration().bucket(b).send().await),
        "GetBucketPolicy" => {
            let out = c.get_bucket_policy().bucket(b).send().await.map_err(ei)?;
            let want = (g.policy)(b);
            if out.policy() != Some(want.as_str()) {
                cx.note(format!(
                    "{here}: the policy is not the text put: {:?}, want {want}",
                    out.policy()
                ));
            }
            Ok(())
        }
        "GetBucketPolicyStatus" => {
            let out = c.get_bucket_policy_status().bucket(b).send().await.map_err(ei)?;
            let public = out.policy_status().and_then(|s| s.is_public());
            if public != Some(false) {
                cx.note(format!("{here}: IsPublic {public:?} for a policy naming bob only"));
            }
            Ok(())
        }
        "PutBucketPolicy" => res(c.put_bucket_policy().bucket(b).policy((g.policy)(b)).send().await),
        "DeleteBucketPolicy" => {
            let r = res(c.delete_bucket_policy().bucket(b).send().await);
            let now = a.get_bucket_policy().bucket(b).send().await;
            match (&r, now) {
                (Ok(()), Ok(_)) => cx.note(format!("{here}: the policy is still there")),
                (Err(_), Err(e)) => cx.note(format!("{here}: refused, but the policy is gone ({e:?})")),
                (Ok(()), Err(e)) => {
                    let (code, status) = err_info(&e);
                    if (code.as_str(), status) != ("NoSuchBucketPolicy", 404) {
                        cx.note(format!(
                            "{here}: GetBucketPolicy after delete: {status} {code}, want 404 NoSuchBucketPolicy"
                        ));
                    }
                }
                (Err(_), Ok(_)) => {}
            }
            // Back in force for the next cells.
            must_put_policy(a, b, &(g.policy)(b)).await;
            r
        }
        "GetBucketLocation" => res(c.get_bucket_location().bucket(b).send().await),
        "GetBucketVersioning" => res(c.get_bucket_versioning().bucket(b).send().await),
        "PutBucketVersioning" => res(c
            .put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await),
        "ListObjectVersions" => res(c.list_object_versions().bucket(b).send().await),
        "ListMultipartUploads" => res(c.list_multipart_uploads().bucket(b).send().await),
        "DeleteBucket" => {
            // A fresh empty bucket per cell, under the group's policy.
            let nb = format!("{b}-{w}");
            a.create_bucket()
                .bucket(&nb)
                .send()
                .await
                .unwrap_or_else(|e| panic!("alice's CreateBucket {nb}: {e:?}"));
            must_put_policy(a, &nb, &(g.policy)(&nb)).await;
            let r = res(c.delete_bucket().bucket(&nb).send().await);
            let exists = a.head_bucket().bucket(&nb).send().await.is_ok();
            if exists == r.is_ok() {
                cx.note(format!(
                    "{here}: afterwards the bucket {}",
                    if exists { "exists" } else { "is gone" }
                ));
            }
            r
        }
        other => panic!("no operation {other:?} in the matrix"),
    }
}

async fn run_group(cx: &Ctx, g: &Group) -> Vec<String> {
    let b = g.bucket;
    cx.alice
        .create_bucket()
        .bucket(b)
        .send()
        .await
        .unwrap_or_else(|e| panic!("alice's CreateBucket {b}: {e:?}"));
    cx.alice_put(b, "obj", b"hello").await;
    cx.alice_put(b, "src/orig", b"source").await;
    must_put_policy(&cx.alice, b, &(g.policy)(b)).await;
    let mut bad = Vec::new();
    for (op, exps) in g.rows {
        for (who, exp) in WHO.iter().zip(exps) {
            let got = run_op(cx, g, op, *who).await;
            let head = matches!(*op, "HeadObject" | "HeadBucket");
            if !matches(*exp, &got, head) {
                bad.push(format!(
                    "[{}] {op} as {}: expected {exp:?}, got {}",
                    g.name,
                    who.name(),
                    show(&got)
                ));
            }
        }
    }
    bad
}

/// Every operation group × owner / granted user / other user / anonymous;
/// bob's grant holds just the group's actions. All wrong cells are listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_user_matrix() {
    let srv = TestServer::start();
    users(&srv);
    // Topics push to a receiver (each new one gets s3:TestEvent).
    let rx = Receiver::start_new();
    let topic = |key: (&str, &str), user: &str| {
        Sns::new(&srv, key.0, key.1).create_topic("matrix", &[("push-endpoint", &rx.url(user))])
    };
    let alice_topic = topic(ALICE, "alice");
    let cx = Ctx {
        alice: srv.s3_as(ALICE.0, ALICE.1),
        bob: srv.s3_as(BOB.0, BOB.1),
        carol: srv.s3_as(CAROL.0, CAROL.1),
        anon: anonymous_client(&srv),
        topics: [
            alice_topic.clone(),
            topic(BOB, "bob"),
            topic(CAROL, "carol"),
            alice_topic,
        ],
        problems: Mutex::new(Vec::new()),
    };
    let mut bad = Vec::new();
    for g in GROUPS {
        bad.extend(run_group(&cx, g).await);
    }
    bad.extend(cx.problems.lock().unwrap().drain(..));

    // Positive control: the anonymous client really is anonymous and can
    // read and write where "*" is allowed.
    cx.alice.create_bucket().bucket("m-public").send().await.unwrap();
    cx.alice_put("m-public", "public/r", b"open").await;
    let open = doc(vec![allow(
        "Everyone",
        json!("*"),
        &["s3:GetObject", "s3:PutObject"],
        &[objects_arn("m-public", "public/*")],
    )]);
    must_put_policy(&cx.alice, "m-public", &open).await;
    match cx.anon.get_object().bucket("m-public").key("public/r").send().await {
        Ok(o) => assert_eq!(body_bytes(o).await, b"open"),
        Err(e) => bad.push(format!("anonymous GetObject where * may: {:?}", err_info(&e))),
    }
    let got = res(cx
        .anon
        .put_object()
        .bucket("m-public")
        .key("public/w")
        .body(ByteStream::from_static(b"by anyone"))
        .send()
        .await);
    if got.is_err() {
        bad.push(format!("anonymous PutObject where * may: {}", show(&got)));
    }
    let got = res(cx.anon.get_object().bucket("m-public").key("private").send().await);
    if !matches(D, &got, false) {
        bad.push(format!("anonymous GetObject outside public/: {}", show(&got)));
    }

    // A bucket that does not exist is 404 NoSuchBucket, as before.
    let got = res(cx.bob.get_object().bucket("no-such-bucket").key("k").send().await);
    if got != Err(("NoSuchBucket".into(), 404)) {
        bad.push(format!("bob's GetObject on a missing bucket: {}", show(&got)));
    }
    // ListBuckets shows one's own buckets only, grants or not.
    let bobs = bucket_names(&cx.bob).await;
    if !bobs.is_empty() {
        bad.push(format!("bob's ListBuckets shows {bobs:?}; he owns none"));
    }
    let alices = bucket_names(&cx.alice).await;
    if !alices.contains(&"m-read".to_string()) {
        bad.push(format!("alice's ListBuckets misses her bucket: {alices:?}"));
    }
    // An unsigned ListBuckets owns nothing: an empty list (S3 and Ceph).
    match cx.anon.list_buckets().send().await {
        Ok(out) if out.buckets().is_empty() => {}
        Ok(out) => bad.push(format!("anonymous ListBuckets lists {:?}", out.buckets())),
        Err(e) => bad.push(format!("anonymous ListBuckets: {:?}", err_info(&e))),
    }

    assert!(
        bad.is_empty(),
        "{} wrong cells:\n{}\nserver log tail:\n{}",
        bad.len(),
        bad.join("\n"),
        tail(&srv.logs())
    );
    assert_healthy(&srv);
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

// ---------------------------------------------------------------------------
// Lifecycle through the aws CLI and boto3.

fn aws_s3api(srv: &TestServer, key: (&str, &str), args: &[&str]) -> Output {
    let mut c = aws_cli_command(srv);
    c.env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_MAX_ATTEMPTS", "1")
        .arg("--output")
        .arg("json")
        .arg("s3api")
        .args(args);
    match c.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run the aws CLI ({e}); install it with `pip install awscli`"),
    }
}

#[track_caller]
fn cli_ok(out: &Output, what: &str) -> Value {
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
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("aws {what} printed non-JSON ({e}): {stdout}"))
    }
}

#[track_caller]
fn cli_err(out: &Output, code: &str, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(code),
        "aws {what}: expected failure with {code}, got {}:\nstdout: {}\nstderr: {stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

const BOTO3_SCRIPT: &str = r#"
import json, os, sys
import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

url = os.environ["T_URL"]
bucket = os.environ["T_BUCKET"]

def client(ak=None, sk=None):
    if ak is None:
        cfg = Config(signature_version=UNSIGNED, s3={"addressing_style": "path"}, retries={"max_attempts": 1})
        return boto3.client("s3", endpoint_url=url, region_name="us-east-1", config=cfg)
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk, config=cfg)

alice = client(os.environ["T_ALICE_AK"], os.environ["T_ALICE_SK"])
bob = client(os.environ["T_BOB_AK"], os.environ["T_BOB_SK"])
anon = client()
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)

def expect_error(fn, code, status, what):
    try:
        r = fn()
        failures.append("%s: expected %s (%d), got success %r" % (what, code, status, r))
    except ClientError as e:
        got = (e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"])
        check(got == (code, status), "%s: expected %s (%d), got %r" % (what, code, status, got))

try:
    st = alice.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]
    check(st.get("IsPublic") is True, "GetBucketPolicyStatus of the public policy: %r" % st)
except ClientError as e:
    failures.append("alice's GetBucketPolicyStatus: %s" % e)
expect_error(lambda: bob.get_bucket_policy(Bucket=bucket), "AccessDenied", 403, "bob's GetBucketPolicy")
expect_error(lambda: bob.delete_bucket_policy(Bucket=bucket), "AccessDenied", 403, "bob's DeleteBucketPolicy")
expect_error(lambda: anon.get_bucket_policy(Bucket=bucket), "AccessDenied", 403, "anonymous GetBucketPolicy")
try:
    body = anon.get_object(Bucket=bucket, Key="public/x")["Body"].read()
    check(body == b"public body", "anonymous GetObject public/x: body %r" % body)
except ClientError as e:
    failures.append("anonymous GetObject public/x: %s" % e)
expect_error(lambda: anon.get_object(Bucket=bucket, Key="private/y"), "AccessDenied", 403, "anonymous GetObject private/y")

restricted = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Sid": "LocalOnly", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::%s/public/*" % bucket,
    "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.1/32"}}}]}, indent=2)
try:
    alice.put_bucket_policy(Bucket=bucket, Policy=restricted)
    got = alice.get_bucket_policy(Bucket=bucket)["Policy"]
    check(got == restricted, "GetBucketPolicy must return the text put: %r" % got)
    st = alice.get_bucket_policy_status(Bucket=bucket)["PolicyStatus"]
    check(st.get("IsPublic") is False, "IsPublic with an aws:SourceIp condition: %r" % st)
    body = anon.get_object(Bucket=bucket, Key="public/x")["Body"].read()
    check(body == b"public body", "anonymous GetObject from 127.0.0.1: body %r" % body)
except ClientError as e:
    failures.append("restricted policy: %s" % e)
expect_error(lambda: alice.put_bucket_policy(Bucket=bucket, Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::%s/*"}]}' % bucket),
             "MalformedPolicy", 400, "Effect Maybe through boto3")

print(json.dumps(failures, indent=1))
sys.exit(1 if failures else 0)
"#;

/// Put / get / status / delete through the aws CLI (`file://`), the same
/// and the anonymous view through boto3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_lifecycle_through_aws_cli_and_boto3() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let b = "cli-policy";
    alice.create_bucket().bucket(b).send().await.unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("public/x")
        .body(ByteStream::from_static(b"public body"))
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("private/y")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();

    let out = aws_s3api(&srv, ALICE, &["get-bucket-policy", "--bucket", b]);
    cli_err(&out, "NoSuchBucketPolicy", "get-bucket-policy before any put");
    // Without a policy the status is "not public" (Ceph's answer).
    let out = aws_s3api(&srv, ALICE, &["get-bucket-policy-status", "--bucket", b]);
    let status = cli_ok(&out, "get-bucket-policy-status before any put");
    assert_eq!(status["PolicyStatus"]["IsPublic"], false, "{status}");

    // Pretty-printed on purpose: the text comes back exactly as put.
    let policy = format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {{\n      \"Sid\": \"PublicRead\",\n      \"Effect\": \"Allow\",\n      \"Principal\": \"*\",\n      \"Action\": \"s3:GetObject\",\n      \"Resource\": \"arn:aws:s3:::{b}/public/*\"\n    }}\n  ]\n}}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.json");
    std::fs::write(&file, &policy).unwrap();
    let file_arg = format!("file://{}", file.display());
    let out = aws_s3api(
        &srv,
        ALICE,
        &["put-bucket-policy", "--bucket", b, "--policy", &file_arg],
    );
    cli_ok(&out, "put-bucket-policy");
    let got = cli_ok(
        &aws_s3api(&srv, ALICE, &["get-bucket-policy", "--bucket", b]),
        "get-bucket-policy",
    );
    assert_eq!(
        got["Policy"].as_str(),
        Some(policy.as_str()),
        "get-bucket-policy: {got}"
    );
    let got = cli_ok(
        &aws_s3api(&srv, ALICE, &["get-bucket-policy-status", "--bucket", b]),
        "get-bucket-policy-status",
    );
    assert_eq!(
        got["PolicyStatus"]["IsPublic"],
        json!(true),
        "get-bucket-policy-status: {got}"
    );
    // Only the owner manages it.
    let out = aws_s3api(&srv, BOB, &["put-bucket-policy", "--bucket", b, "--policy", &file_arg]);
    cli_err(&out, "AccessDenied", "bob's put-bucket-policy");
    let out = aws_s3api(&srv, BOB, &["get-bucket-policy", "--bucket", b]);
    cli_err(&out, "AccessDenied", "bob's get-bucket-policy");

    // boto3.
    run_boto3(
        &srv,
        BOTO3_SCRIPT,
        &[
            ("T_BUCKET", b),
            ("T_ALICE_AK", ALICE.0),
            ("T_ALICE_SK", ALICE.1),
            ("T_BOB_AK", BOB.0),
            ("T_BOB_SK", BOB.1),
        ],
    );

    // Delete through the CLI: gone, and the objects are private again.
    cli_ok(
        &aws_s3api(&srv, ALICE, &["delete-bucket-policy", "--bucket", b]),
        "delete-bucket-policy",
    );
    let out = aws_s3api(&srv, ALICE, &["get-bucket-policy", "--bucket", b]);
    cli_err(&out, "NoSuchBucketPolicy", "get-bucket-policy after delete");
    let out = aws_s3api(&srv, ALICE, &["get-bucket-policy-status", "--bucket", b]);
    let status = cli_ok(&out, "get-bucket-policy-status after delete");
    assert_eq!(status["PolicyStatus"]["IsPublic"], false, "{status}");
    let r = raw_request(srv.addr(), "GET", &format!("/{b}/public/x"), &[], b"").unwrap();
    assert_eq!(
        r.status,
        403,
        "anonymous GET after the policy was deleted: {}",
        r.body_str()
    );
}

// ---------------------------------------------------------------------------
// Malformed policies.

/// Each malformed document is 400 MalformedPolicy with a reason, and the
/// policy in force before stays in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_policies_are_refused_and_the_old_one_stays() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let b = "mal";
    alice.create_bucket().bucket(b).send().await.unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("obj")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let good = p_read(b);
    must_put_policy(&alice, b, &good).await;

    let obj = objects_arn(b, "*");
    let stmt = |extra: Value| {
        let mut s = json!({ "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": obj });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        doc(vec![s])
    };
    let many_resources: Vec<String> = (0..800)
        .map(|i| format!("arn:aws:s3:::{b}/some/long/prefix/{i:05}"))
        .collect();
    let big = doc(vec![allow("Big", json!("*"), &["s3:GetObject"], &many_resources)]);
    assert!(big.len() > 20 * 1024, "the big policy is only {} bytes", big.len());
    let too_many: Vec<Value> = (0..101)
        .map(|i| {
            allow(
                &format!("S{i}"),
                json!("*"),
                &["s3:GetObject"],
                &[objects_arn(b, &format!("k{i}"))],
            )
        })
        .collect();
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        (
            "bad JSON",
            "{\"Version\": \"2012-10-17\", \"Statement\": [".into(),
            None,
        ),
        ("not an object", "[]".into(), None),
        ("missing Effect", stmt(json!({ "Effect": null })), None),
        ("missing Resource", stmt(json!({ "Resource": null })), None),
        ("missing Principal", stmt(json!({ "Principal": null })), None),
        (
            "unknown condition operator",
            stmt(json!({ "Condition": { "StringEqualsSometimes": { "aws:username": "bob" } } })),
            None,
        ),
        ("Effect Maybe", stmt(json!({ "Effect": "Maybe" })), None),
        (
            "action without service prefix",
            stmt(json!({ "Action": "GetObject" })),
            None,
        ),
        (
            "resource of another bucket",
            stmt(json!({ "Resource": "arn:aws:s3:::other-bucket/*" })),
            Some("Policy has invalid resource"),
        ),
        ("over 20 KiB", big, None),
        ("101 statements", doc(too_many), None),
        (
            "nesting deeper than 8",
            stmt(json!({ "Condition": { "StringEquals": { "aws:username": [[[[[[[["bob"]]]]]]]] } } })),
            None,
        ),
        (
            "duplicate keys",
            format!(
                "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"{obj}\"}}]}}"
            ),
            None,
        ),
    ];
    let mut bad = Vec::new();
    for (what, text, must_say) in &cases {
        match alice.put_bucket_policy().bucket(b).policy(text.as_str()).send().await {
            Ok(_) => bad.push(format!("{what}: accepted")),
            Err(e) => {
                let (code, status) = err_info(&e);
                let msg = e.message().unwrap_or_default().to_string();
                if (code.as_str(), status) != ("MalformedPolicy", 400) {
                    bad.push(format!("{what}: {status} {code} ({msg}), want 400 MalformedPolicy"));
                } else if msg.trim().is_empty() {
                    bad.push(format!("{what}: MalformedPolicy without a reason"));
                } else if let Some(s) = must_say
                    && !msg.contains(s)
                {
                    bad.push(format!("{what}: message {msg:?} does not say {s:?}"));
                }
            }
        }
        // The old policy stays, text and effect.
        match alice.get_bucket_policy().bucket(b).send().await {
            Ok(o) if o.policy() == Some(good.as_str()) => {}
            other => bad.push(format!("after {what}: GetBucketPolicy gives {other:?}")),
        }
        if let Err(e) = bob.get_object().bucket(b).key("obj").send().await {
            bad.push(format!("after {what}: bob's grant lost: {:?}", err_info(&e)));
        }
    }
    assert!(bad.is_empty(), "{} problems:\n{}", bad.len(), bad.join("\n"));
}

// ---------------------------------------------------------------------------
// Explicit deny.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_deny_wins_even_over_the_owner_who_can_still_repair_the_policy() {
    let b = "denied";
    let (srv, alice, bob) = alice_bucket_with(b, &["a", "b"]).await;

    // The owner denied DeleteObject.
    let no_delete = doc(vec![deny(
        "NoDeletes",
        json!("*"),
        &["s3:DeleteObject"],
        &[objects_arn(b, "*")],
    )]);
    must_put_policy(&alice, b, &no_delete).await;
    assert_err(
        alice.delete_object().bucket(b).key("a").send().await,
        "AccessDenied",
        403,
    );
    alice
        .head_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("a survives the refused delete");
    alice
        .get_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("reading is not denied");

    // Deny unless from 10.0.0.0/8: nobody from 127.0.0.1, even granted bob.
    let from_network = doc(vec![
        allow(
            "BobReads",
            json!({ "AWS": "bob" }),
            &["s3:GetObject"],
            &[objects_arn(b, "*")],
        ),
        with_condition(
            deny(
                "OnlyFromTheNetwork",
                json!({ "AWS": "*" }),
                &["s3:*"],
                &[bucket_arn(b), objects_arn(b, "*")],
            ),
            json!({ "NotIpAddress": { "aws:SourceIp": "10.0.0.0/8" } }),
        ),
    ]);
    must_put_policy(&alice, b, &from_network).await;
    assert_err(alice.get_object().bucket(b).key("a").send().await, "AccessDenied", 403);
    assert_err(bob.get_object().bucket(b).key("a").send().await, "AccessDenied", 403);
    assert_err(alice.list_objects_v2().bucket(b).send().await, "AccessDenied", 403);
    assert_err(
        alice
            .put_object()
            .bucket(b)
            .key("c")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    let r = raw_request(srv.addr(), "GET", &format!("/{b}/a"), &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous: {}", r.body_str());

    // The owner still manages the policy (s3:* covers it, but no self-lockout).
    let got = alice
        .get_bucket_policy()
        .bucket(b)
        .send()
        .await
        .expect("owner's GetBucketPolicy under deny");
    assert_eq!(got.policy(), Some(from_network.as_str()));
    let st = alice
        .get_bucket_policy_status()
        .bucket(b)
        .send()
        .await
        .expect("owner's GetBucketPolicyStatus under deny");
    assert_eq!(st.policy_status().and_then(|s| s.is_public()), Some(false));
    must_put_policy(&alice, b, &from_network).await;
    // ... but a user the policy denies gets nothing of it.
    assert_err(bob.get_bucket_policy().bucket(b).send().await, "AccessDenied", 403);
    alice
        .delete_bucket_policy()
        .bucket(b)
        .send()
        .await
        .expect("owner deletes the policy under deny");
    alice
        .get_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("owner reads again");
    alice
        .delete_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("owner deletes again");
    assert_err(bob.get_object().bucket(b).key("b").send().await, "AccessDenied", 403);
}

// ---------------------------------------------------------------------------
// Public read.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_on_a_prefix_for_anonymous_requests() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let b = "site";
    alice.create_bucket().bucket(b).send().await.unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("public/x")
        .body(ByteStream::from_static(b"public body"))
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("private/y")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
    let anon = |method: &str, target: &str| {
        raw_request(srv.addr(), method, target, &[], b"").unwrap_or_else(|e| panic!("{method} {target}: {e}"))
    };
    let denied = |r: &RawResponse, what: &str| {
        assert_eq!(r.status, 403, "{what}: {}", r.body_str());
        assert_eq!(
            xml_first(&r.body_str(), "Code").as_deref(),
            Some("AccessDenied"),
            "{what}: {}",
            r.body_str()
        );
    };

    // Before any policy: nothing for anonymous.
    denied(&anon("GET", "/site/public/x"), "anonymous GET without a policy");

    let public = doc(vec![allow(
        "PublicRead",
        json!("*"),
        &["s3:GetObject"],
        &[objects_arn(b, "public/*")],
    )]);
    must_put_policy(&alice, b, &public).await;
    let r = anon("GET", "/site/public/x");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "public body"),
        "anonymous GET public/x"
    );
    assert_eq!(anon("HEAD", "/site/public/x").status, 200, "anonymous HEAD public/x");
    denied(&anon("GET", "/site/private/y"), "anonymous GET private/y");
    denied(&anon("GET", "/site"), "anonymous ListObjects without a grant");
    denied(
        &anon("GET", "/site?list-type=2"),
        "anonymous ListObjectsV2 without a grant",
    );
    denied(&anon("PUT", "/site/public/new"), "anonymous PUT");
    denied(&anon("DELETE", "/site/public/x"), "anonymous DELETE");
    denied(&anon("GET", "/site?policy"), "anonymous GetBucketPolicy");
    // "*" is every user too.
    let got = bob
        .get_object()
        .bucket(b)
        .key("public/x")
        .send()
        .await
        .expect("bob reads public/x");
    assert_eq!(body_bytes(got).await, b"public body");
    assert_err(
        bob.get_object().bucket(b).key("private/y").send().await,
        "AccessDenied",
        403,
    );
    let st = alice.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(st.policy_status().and_then(|s| s.is_public()), Some(true), "{st:?}");

    // Listing granted to everyone ({"AWS":"*"} form).
    let listing = doc(vec![
        allow(
            "PublicRead",
            json!("*"),
            &["s3:GetObject"],
            &[objects_arn(b, "public/*")],
        ),
        allow(
            "PublicList",
            json!({ "AWS": "*" }),
            &["s3:ListBucket"],
            &[bucket_arn(b)],
        ),
    ]);
    must_put_policy(&alice, b, &listing).await;
    let r = anon("GET", "/site?list-type=2");
    assert_eq!(r.status, 200, "anonymous ListObjectsV2 granted: {}", r.body_str());
    let keys = xml_all(&r.body_str(), "Key");
    assert_eq!(
        keys,
        vec!["private/y".to_string(), "public/x".to_string()],
        "{}",
        r.body_str()
    );

    // Restricted to an address: not public any more (still works from it).
    let local = doc(vec![with_condition(
        allow(
            "LocalRead",
            json!("*"),
            &["s3:GetObject"],
            &[objects_arn(b, "public/*")],
        ),
        json!({ "IpAddress": { "aws:SourceIp": "127.0.0.1/32" } }),
    )]);
    must_put_policy(&alice, b, &local).await;
    let st = alice.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(st.policy_status().and_then(|s| s.is_public()), Some(false), "{st:?}");
    let r = anon("GET", "/site/public/x");
    assert_eq!(
        r.status,
        200,
        "anonymous GET from 127.0.0.1 under IpAddress: {}",
        r.body_str()
    );
    let elsewhere = doc(vec![with_condition(
        allow("OtherNet", json!("*"), &["s3:GetObject"], &[objects_arn(b, "public/*")]),
        json!({ "IpAddress": { "aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"] } }),
    )]);
    must_put_policy(&alice, b, &elsewhere).await;
    denied(
        &anon("GET", "/site/public/x"),
        "anonymous GET from outside the allowed networks",
    );
}

// ---------------------------------------------------------------------------
// Conditions and policy variables.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_condition_and_username_variable() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let carol = srv.s3_as(CAROL.0, CAROL.1);
    let b = "shared";
    alice.create_bucket().bucket(b).send().await.unwrap();
    for k in ["home/bob/a", "home/carol/c", "top"] {
        alice
            .put_object()
            .bucket(b)
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let both = json!({ "AWS": ["arn:aws:iam::bob:user/bob", "arn:aws:iam::carol:user/carol"] });
    let policy = doc(vec![
        with_condition(
            allow(
                "BobListsHisHome",
                json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
                &["s3:ListBucket"],
                &[bucket_arn(b)],
            ),
            json!({ "StringLike": { "s3:prefix": ["home/bob/", "home/bob/*"] } }),
        ),
        allow(
            "OwnHome",
            both,
            &["s3:GetObject", "s3:PutObject"],
            &[format!("arn:aws:s3:::{b}/home/${{aws:username}}/*")],
        ),
        with_condition(
            deny(
                "TlsOnlyForSecure",
                json!("*"),
                &["s3:PutObject"],
                &[objects_arn(b, "secure/*")],
            ),
            json!({ "Bool": { "aws:SecureTransport": "false" } }),
        ),
    ]);
    must_put_policy(&alice, b, &policy).await;

    // s3:prefix.
    let out = bob
        .list_objects_v2()
        .bucket(b)
        .prefix("home/bob/")
        .send()
        .await
        .expect("bob lists home/bob/");
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["home/bob/a"]);
    assert_err(
        bob.list_objects_v2().bucket(b).prefix("home/carol/").send().await,
        "AccessDenied",
        403,
    );
    assert_err(bob.list_objects_v2().bucket(b).send().await, "AccessDenied", 403);
    assert_err(
        carol.list_objects_v2().bucket(b).prefix("home/carol/").send().await,
        "AccessDenied",
        403,
    );

    // ${aws:username} in the Resource.
    let put = |c: &Client, k: &str| {
        c.put_object()
            .bucket(b)
            .key(k)
            .body(ByteStream::from_static(b"mine"))
            .send()
    };
    put(&bob, "home/bob/new").await.expect("bob writes under home/bob/");
    assert_err(put(&bob, "home/carol/new").await, "AccessDenied", 403);
    assert_err(put(&bob, "top").await, "AccessDenied", 403);
    put(&carol, "home/carol/new")
        .await
        .expect("carol writes under home/carol/");
    assert_err(put(&carol, "home/bob/evil").await, "AccessDenied", 403);
    bob.get_object()
        .bucket(b)
        .key("home/bob/a")
        .send()
        .await
        .expect("bob reads his home");
    assert_err(
        carol.get_object().bucket(b).key("home/bob/a").send().await,
        "AccessDenied",
        403,
    );
    // The variable is not a literal.
    assert_err(put(&bob, "home/${aws:username}/x").await, "AccessDenied", 403);
    // aws:SecureTransport is "false" over plain HTTP: even the owner is refused.
    assert_err(put(&alice, "secure/x").await, "AccessDenied", 403);
    put(&alice, "insecure/x").await.expect("the deny is for secure/ only");
}

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

/// `x-amz-expected-bucket-owner`: a request naming another owner than the
/// bucket's is refused, even by the owner (a guard against writing into a
/// bucket someone else re-created under the same name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_bucket_owner_is_checked() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    alice.create_bucket().bucket("owned").send().await.unwrap();
    alice
        .put_object()
        .bucket("owned")
        .key("k")
        .expected_bucket_owner("alice")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("the right owner");
    let e = alice
        .get_object()
        .bucket("owned")
        .key("k")
        .expected_bucket_owner("bob")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("AccessDenied".to_owned(), 403));
}

/// `s3:ExistingObjectTag/<key>` (the object's stored tags),
/// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` (the tags a
/// PutObject header or a PutObjectTagging body sets) as conditions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tag_conditions() {
    let (_srv, alice, bob) = alice_bucket_with("tagged", &[]).await;
    for (k, class) in [("pub", "public"), ("sec", "secret")] {
        alice
            .put_object()
            .bucket("tagged")
            .key(k)
            .tagging(format!("classification={class}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let bob_p = json!({ "AWS": "bob" });
    let objects = vec![objects_arn("tagged", "*")];
    let policy = doc(vec![
        with_condition(
            allow("ReadPublicTagged", bob_p.clone(), &["s3:GetObject"], &objects),
            json!({ "StringEquals": { "s3:ExistingObjectTag/classification": "public" } }),
        ),
        with_condition(
            allow("WriteBlue", bob_p.clone(), &["s3:PutObject"], &objects),
            json!({ "StringEquals": { "s3:RequestObjectTag/team": "blue" } }),
        ),
        with_condition(
            allow("TagBlueOnly", bob_p.clone(), &["s3:PutObjectTagging"], &objects),
            json!({
                "StringEquals": { "s3:RequestObjectTag/team": "blue" },
                "ForAllValues:StringEquals": { "s3:RequestObjectTagKeys": ["team"] }
            }),
        ),
    ]);
    must_put_policy(&alice, "tagged", &policy).await;
    let get = |k: &'static str| bob.get_object().bucket("tagged").key(k).send();
    let put = |k: &'static str, tagging: Option<&'static str>| {
        bob.put_object()
            .bucket("tagged")
            .key(k)
            .set_tagging(tagging.map(str::to_owned))
            .body(ByteStream::from_static(b"y"))
            .send()
    };
    let tag = |k: &'static str, tags: &[(&str, &str)]| {
        let set: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
            .collect();
        bob.put_object_tagging()
            .bucket("tagged")
            .key(k)
            .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
            .send()
    };
    let mut f = Vec::new();
    let mut want = |what: &str, got: Res, ok: bool| {
        if got.is_ok() != ok {
            f.push(format!(
                "{what}: want {}, got {}",
                if ok { "ok" } else { "denied" },
                show(&got)
            ));
        }
    };
    want("bob reads the object tagged public", res(get("pub").await), true);
    want("bob reads the object tagged secret", res(get("sec").await), false);
    want(
        "bob writes with team=blue",
        res(put("b1", Some("team=blue")).await),
        true,
    );
    want(
        "bob writes with team=red",
        res(put("b2", Some("team=red")).await),
        false,
    );
    want("bob writes without tags", res(put("b3", None).await), false);
    want(
        "bob tags with team=blue",
        res(tag("b1", &[("team", "blue")]).await),
        true,
    );
    want(
        "bob tags with team=red",
        res(tag("b1", &[("team", "red")]).await),
        false,
    );
    want(
        "bob tags with another key too",
        res(tag("b1", &[("team", "blue"), ("owner", "bob")]).await),
        false,
    );
    // Retagging changes what the ExistingObjectTag condition sees.
    alice
        .put_object_tagging()
        .bucket("tagged")
        .key("sec")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("classification").value("public").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    want("bob reads once it is retagged public", res(get("sec").await), true);
    let tags = alice
        .get_object_tagging()
        .bucket("tagged")
        .key("b1")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "blue");
    assert!(f.is_empty(), "{}", f.join("\n"));
}
