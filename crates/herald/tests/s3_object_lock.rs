//! S3 Object Lock end to end: the bucket configuration, retention and
//! legal holds and the deletes they refuse, with the AWS SDK for Rust, the
//! `aws` CLI and boto3; another tenant trying to remove or shorten a lock;
//! and the events (none for lock changes, the usual ones for deletes).

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, DefaultRetention, Delete, ObjectIdentifier, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use common::*;

const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");

fn now_s() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn governance_days(days: i32) -> ObjectLockConfiguration {
    lock_config(ObjectLockRetentionMode::Governance, Some(days), None)
}

fn lock_config(mode: ObjectLockRetentionMode, days: Option<i32>, years: Option<i32>) -> ObjectLockConfiguration {
    ObjectLockConfiguration::builder()
        .object_lock_enabled(ObjectLockEnabled::Enabled)
        .rule(
            ObjectLockRule::builder()
                .default_retention(
                    DefaultRetention::builder()
                        .mode(mode)
                        .set_days(days)
                        .set_years(years)
                        .build(),
                )
                .build(),
        )
        .build()
}

fn retention(mode: ObjectLockRetentionMode, until_s: i64) -> ObjectLockRetention {
    ObjectLockRetention::builder()
        .mode(mode)
        .retain_until_date(DateTime::from_secs(until_s))
        .build()
}

async fn put(c: &Client, bucket: &str, key: &str) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"locked bytes"))
        .send()
        .await
        .unwrap()
        .version_id
        .expect("a lock bucket is versioned")
}

async fn delete_version(c: &Client, bucket: &str, key: &str, v: &str, bypass: bool) -> Result<(), (String, u16)> {
    let mut req = c.delete_object().bucket(bucket).key(key).version_id(v);
    if bypass {
        req = req.bypass_governance_retention(true);
    }
    req.send().await.map(|_| ()).map_err(|e| err_info(&e))
}

fn denied() -> Result<(), (String, u16)> {
    Err(("AccessDenied".into(), 403))
}

/// Buckets without Object Lock refuse every lock operation; the
/// configuration needs versioning; bad configurations get S3's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_configuration_rules() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("plain").send().await.unwrap();
    s3.put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let head = s3.head_object().bucket("plain").key("k").send().await.unwrap();
    assert!(head.object_lock_mode.is_none() && head.object_lock_legal_hold_status.is_none());
    assert_err(
        s3.get_object_lock_configuration().bucket("plain").send().await,
        "ObjectLockConfigurationNotFoundError",
        404,
    );
    let until = now_s() + 3600;
    assert_err(
        s3.put_object_retention()
            .bucket("plain")
            .key("k")
            .retention(retention(ObjectLockRetentionMode::Governance, until))
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_err(
        s3.get_object_legal_hold().bucket("plain").key("k").send().await,
        "InvalidRequest",
        400,
    );
    assert_err(
        s3.put_object()
            .bucket("plain")
            .key("k2")
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(DateTime::from_secs(until))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    assert_err(
        s3.create_multipart_upload()
            .bucket("plain")
            .key("k3")
            .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
            .send()
            .await,
        "InvalidRequest",
        400,
    );
    // Enabling it on an existing bucket needs versioning Enabled.
    let enable = || {
        s3.put_object_lock_configuration()
            .bucket("plain")
            .object_lock_configuration(governance_days(1))
            .send()
    };
    assert_err(enable().await, "InvalidBucketState", 409);
    s3.put_bucket_versioning()
        .bucket("plain")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    enable().await.unwrap();
    let got = s3.get_object_lock_configuration().bucket("plain").send().await.unwrap();
    assert_eq!(got.object_lock_configuration, Some(governance_days(1)));

    // Created with Object Lock: versioned, and versioning stays on.
    s3.create_bucket()
        .bucket("locked")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let vs = s3.get_bucket_versioning().bucket("locked").send().await.unwrap();
    assert_eq!(vs.status, Some(aws_sdk_s3::types::BucketVersioningStatus::Enabled));
    assert_err(
        s3.put_bucket_versioning()
            .bucket("locked")
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await,
        "InvalidBucketState",
        409,
    );
    let no_rule = s3
        .get_object_lock_configuration()
        .bucket("locked")
        .send()
        .await
        .unwrap()
        .object_lock_configuration
        .unwrap();
    assert_eq!(no_rule.object_lock_enabled, Some(ObjectLockEnabled::Enabled));
    assert!(no_rule.rule.is_none());

    let put_conf = |c: ObjectLockConfiguration| {
        s3.put_object_lock_configuration()
            .bucket("locked")
            .object_lock_configuration(c)
            .send()
    };
    assert_err(put_conf(governance_days(0)).await, "InvalidRetentionPeriod", 400);
    assert_err(
        put_conf(lock_config(ObjectLockRetentionMode::Compliance, None, Some(101))).await,
        "InvalidRetentionPeriod",
        400,
    );
    assert_err(
        put_conf(lock_config(ObjectLockRetentionMode::Compliance, Some(1), Some(1))).await,
        "MalformedXML",
        400,
    );
    assert_err(
        put_conf(lock_config(ObjectLockRetentionMode::from("governance"), Some(1), None)).await,
        "MalformedXML",
        400,
    );
    put_conf(lock_config(ObjectLockRetentionMode::Compliance, None, Some(1)))
        .await
        .unwrap();
    let got = s3
        .get_object_lock_configuration()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.object_lock_configuration,
        Some(lock_config(ObjectLockRetentionMode::Compliance, None, Some(1)))
    );
}

/// Retention and legal holds protect versions from permanent deletes
/// (one by one and in DeleteObjects), not from delete markers; GOVERNANCE
/// gives way to a bypass, COMPLIANCE to nothing; all of it survives a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_versions_refuse_deletes_until_released() {
    let mut srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket()
        .bucket("vault")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket("vault")
        .object_lock_configuration(governance_days(1))
        .send()
        .await
        .unwrap();

    // The default retention: GOVERNANCE for a day from the write.
    let before = now_s();
    let v1 = put(&s3, "vault", "doc").await;
    let head = s3
        .head_object()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode, Some(ObjectLockMode::Governance));
    let until = head.object_lock_retain_until_date.unwrap().secs();
    assert!(
        (before + 86_400 - 5..=now_s() + 86_400 + 5).contains(&until),
        "retain until {until}, written at {before}"
    );
    assert!(head.object_lock_legal_hold_status.is_none());

    assert_eq!(delete_version(&s3, "vault", "doc", &v1, false).await, denied());
    // A delete marker on top is fine; the version stays readable by id.
    let marker = s3.delete_object().bucket("vault").key("doc").send().await.unwrap();
    assert_eq!(marker.delete_marker, Some(true));
    let body = s3
        .get_object()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"locked bytes");
    // Removing the marker is a delete of an unprotected version.
    delete_version(&s3, "vault", "doc", marker.version_id.as_deref().unwrap(), false)
        .await
        .unwrap();

    // Retention may be extended, not shortened or changed, without bypass.
    let far = now_s() + 7 * 86_400;
    let set = |mode: ObjectLockRetentionMode, until: i64, bypass: bool| {
        s3.put_object_retention()
            .bucket("vault")
            .key("doc")
            .version_id(&v1)
            .retention(retention(mode, until))
            .bypass_governance_retention(bypass)
            .send()
    };
    set(ObjectLockRetentionMode::Governance, far, false).await.unwrap();
    assert_err(
        set(ObjectLockRetentionMode::Governance, far - 3600, false).await,
        "AccessDenied",
        403,
    );
    assert_err(
        set(ObjectLockRetentionMode::Compliance, far, false).await,
        "AccessDenied",
        403,
    );
    set(ObjectLockRetentionMode::Governance, far - 3600, true)
        .await
        .unwrap();
    let r = s3
        .get_object_retention()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap()
        .retention
        .unwrap();
    assert_eq!(r.mode, Some(ObjectLockRetentionMode::Governance));
    assert_eq!(r.retain_until_date.unwrap().secs(), far - 3600);
    assert_err(
        set(ObjectLockRetentionMode::Governance, now_s() - 10, true).await,
        "InvalidArgument",
        400,
    );
    // Nor more than 200 years ahead: no tenant locks bytes forever.
    assert_err(
        set(ObjectLockRetentionMode::Governance, now_s() + 201 * 365 * 86_400, false).await,
        "InvalidArgument",
        400,
    );

    // A legal hold beats even a bypass; the default retention still runs.
    assert_err(
        s3.get_object_legal_hold().bucket("vault").key("doc").send().await,
        "NoSuchObjectLockConfiguration",
        404,
    );
    let hold = |on: bool| {
        s3.put_object_legal_hold()
            .bucket("vault")
            .key("doc")
            .version_id(&v1)
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(if on {
                        ObjectLockLegalHoldStatus::On
                    } else {
                        ObjectLockLegalHoldStatus::Off
                    })
                    .build(),
            )
            .send()
    };
    hold(true).await.unwrap();
    assert_eq!(delete_version(&s3, "vault", "doc", &v1, true).await, denied());

    // COMPLIANCE from the request headers: no bypass, no shortening.
    let c_until = now_s() + 3600;
    let vc = s3
        .put_object()
        .bucket("vault")
        .key("audit")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(DateTime::from_secs(c_until))
        .body(ByteStream::from_static(b"audit"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert_eq!(delete_version(&s3, "vault", "audit", &vc, true).await, denied());
    assert_err(
        s3.put_object_retention()
            .bucket("vault")
            .key("audit")
            .retention(retention(ObjectLockRetentionMode::Governance, c_until + 60))
            .bypass_governance_retention(true)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_err(
        s3.put_object_retention()
            .bucket("vault")
            .key("audit")
            .retention(ObjectLockRetention::builder().build())
            .bypass_governance_retention(true)
            .send()
            .await,
        "AccessDenied",
        403,
    );

    // Multipart: the lock asked at creation lands on the completed object.
    let up = s3
        .create_multipart_upload()
        .bucket("vault")
        .key("big")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let id = up.upload_id.unwrap();
    let part = s3
        .upload_part()
        .bucket("vault")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket("vault")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag.unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vbig = done.version_id.unwrap();
    let head = s3.head_object().bucket("vault").key("big").send().await.unwrap();
    assert_eq!(head.object_lock_legal_hold_status, Some(ObjectLockLegalHoldStatus::On));
    assert_eq!(
        head.object_lock_mode,
        Some(ObjectLockMode::Governance),
        "the default applies too"
    );

    // DeleteObjects: the protected entry fails alone.
    let free = put(&s3, "vault", "free").await;
    s3.put_object_retention()
        .bucket("vault")
        .key("free")
        .retention(ObjectLockRetention::builder().build())
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    let ident = |k: &str, v: &str| ObjectIdentifier::builder().key(k).version_id(v).build().unwrap();
    let out = s3
        .delete_objects()
        .bucket("vault")
        .delete(
            Delete::builder()
                .objects(ident("big", &vbig))
                .objects(ident("free", &free))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap().to_owned()).collect();
    assert_eq!(deleted, ["free"]);
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].key(), Some("big"));
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert_eq!(out.errors()[0].version_id(), Some(vbig.as_str()));

    // Everything above is in the store, not in memory.
    srv.restart();
    let s3 = srv.s3();
    assert_eq!(delete_version(&s3, "vault", "doc", &v1, true).await, denied());
    let h = s3
        .get_object_legal_hold()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(h.legal_hold.unwrap().status, Some(ObjectLockLegalHoldStatus::On));
    s3.put_object_legal_hold()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(delete_version(&s3, "vault", "doc", &v1, false).await, denied());
    delete_version(&s3, "vault", "doc", &v1, true).await.unwrap();
    assert_err(
        s3.head_object().bucket("vault").key("doc").version_id(&v1).send().await,
        "NotFound",
        404,
    );
    // A locked bucket cannot be deleted while it holds versions.
    assert_status(s3.delete_bucket().bucket("vault").send().await, 409);
}

/// Another tenant with a policy that lets it delete versions and set
/// retention still cannot bypass GOVERNANCE until it is granted
/// `s3:BypassGovernanceRetention`, and without grants touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tenants_cannot_bypass_or_shorten_locks() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB.0, BOB.1);
    let s3 = srv.s3();
    let bob = srv.s3_as(BOB.0, BOB.1);
    s3.create_bucket()
        .bucket("shared")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until = now_s() + 3600;
    let v = s3
        .put_object()
        .bucket("shared")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(until))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();

    // No grant at all: every lock operation is refused.
    assert_status(bob.get_object_retention().bucket("shared").key("k").send().await, 403);
    assert_status(
        bob.put_object_legal_hold()
            .bucket("shared")
            .key("k")
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(ObjectLockLegalHoldStatus::Off)
                    .build(),
            )
            .send()
            .await,
        403,
    );
    assert_status(
        bob.put_object_lock_configuration()
            .bucket("shared")
            .object_lock_configuration(governance_days(1))
            .send()
            .await,
        403,
    );
    assert_eq!(delete_version(&bob, "shared", "k", &v, true).await, denied());

    let policy = |actions: &[&str]| {
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam:::user/bob"]},
                "Action": actions,
                "Resource": ["arn:aws:s3:::shared/*"],
            }]
        })
        .to_string()
    };
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy(&[
            "s3:DeleteObjectVersion",
            "s3:PutObjectRetention",
            "s3:GetObjectRetention",
        ]))
        .send()
        .await
        .unwrap();
    // Allowed to delete and set retention, yet the bypass is not his.
    let r = bob
        .get_object_retention()
        .bucket("shared")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.retention.unwrap().retain_until_date.unwrap().secs(), until);
    assert_eq!(delete_version(&bob, "shared", "k", &v, true).await, denied());
    assert_err(
        bob.put_object_retention()
            .bucket("shared")
            .key("k")
            .retention(retention(ObjectLockRetentionMode::Governance, until - 60))
            .bypass_governance_retention(true)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // Extending needs no bypass.
    bob.put_object_retention()
        .bucket("shared")
        .key("k")
        .retention(retention(ObjectLockRetentionMode::Governance, until + 60))
        .send()
        .await
        .unwrap();

    // A writer allowed only s3:PutObject cannot make its upload
    // undeletable for the bucket's owner.
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy(&["s3:PutObject"]))
        .send()
        .await
        .unwrap();
    let bob_put = |mode: Option<ObjectLockMode>, hold: Option<ObjectLockLegalHoldStatus>| {
        let mut r = bob
            .put_object()
            .bucket("shared")
            .key("bobs")
            .body(ByteStream::from_static(b"b"))
            .set_object_lock_legal_hold_status(hold);
        if let Some(m) = mode {
            r = r
                .object_lock_mode(m)
                .object_lock_retain_until_date(DateTime::from_secs(now_s() + 3600));
        }
        r.send()
    };
    assert_err(
        bob_put(Some(ObjectLockMode::Compliance), None).await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob_put(None, Some(ObjectLockLegalHoldStatus::On)).await,
        "AccessDenied",
        403,
    );
    let plain = bob_put(None, None).await.unwrap().version_id.unwrap();
    delete_version(&s3, "shared", "bobs", &plain, false).await.unwrap();

    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy(&[
            "s3:GetObject",
            "s3:DeleteObjectVersion",
            "s3:BypassGovernanceRetention",
        ]))
        .send()
        .await
        .unwrap();
    // A reader of the bytes is not a reader of the lock (no
    // s3:GetObjectRetention now).
    let head = bob.head_object().bucket("shared").key("k").send().await.unwrap();
    assert!(head.object_lock_mode.is_none() && head.object_lock_retain_until_date.is_none());
    let head = s3.head_object().bucket("shared").key("k").send().await.unwrap();
    assert_eq!(head.object_lock_mode, Some(ObjectLockMode::Governance));
    assert_eq!(delete_version(&bob, "shared", "k", &v, false).await, denied());
    // The bypass is decided per key in DeleteObjects.
    let out = bob
        .delete_objects()
        .bucket("shared")
        .bypass_governance_retention(true)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("k").version_id(&v).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(out.deleted().len(), 1);
}

const BOTO3_SCRIPT: &str = r#"
import datetime, json, os, sys
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

s3 = boto3.client("s3", endpoint_url=os.environ["T_URL"], region_name="us-east-1",
                  aws_access_key_id=os.environ["T_AK"], aws_secret_access_key=os.environ["T_SK"],
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
b = os.environ["T_BUCKET"]
failures = []
until = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(hours=2)
r = s3.put_object(Bucket=b, Key="py", Body=b"py", ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=until, ObjectLockLegalHoldStatus="OFF")
vid = r["VersionId"]
h = s3.head_object(Bucket=b, Key="py")
if (h.get("ObjectLockMode"), h.get("ObjectLockRetainUntilDate"), h.get("ObjectLockLegalHoldStatus")) != ("GOVERNANCE", until, "OFF"):
    failures.append("head_object lock fields: %r" % ({k: v for k, v in h.items() if k.startswith("ObjectLock")},))
got = s3.get_object_retention(Bucket=b, Key="py")["Retention"]
if got != {"Mode": "GOVERNANCE", "RetainUntilDate": until}:
    failures.append("get_object_retention: %r" % got)
s3.put_object_legal_hold(Bucket=b, Key="py", LegalHold={"Status": "ON"})
if s3.get_object_legal_hold(Bucket=b, Key="py")["LegalHold"] != {"Status": "ON"}:
    failures.append("legal hold not ON")
try:
    s3.delete_object(Bucket=b, Key="py", VersionId=vid, BypassGovernanceRetention=True)
    failures.append("delete under legal hold succeeded")
except ClientError as e:
    if e.response["Error"]["Code"] != "AccessDenied":
        failures.append("delete under legal hold: %r" % e.response["Error"])
s3.put_object_legal_hold(Bucket=b, Key="py", LegalHold={"Status": "OFF"})
try:
    s3.put_object_retention(Bucket=b, Key="py", Retention={"Mode": "governance", "RetainUntilDate": until})
    failures.append("lower-case mode accepted")
except ClientError as e:
    if e.response["Error"]["Code"] != "MalformedXML":
        failures.append("lower-case mode: %r" % e.response["Error"])
d = s3.delete_object(Bucket=b, Key="py", VersionId=vid, BypassGovernanceRetention=True)
if d["ResponseMetadata"]["HTTPStatusCode"] != 204:
    failures.append("bypass delete: %r" % d["ResponseMetadata"])
print(json.dumps(failures))
sys.exit(1 if failures else 0)
"#;

/// The `aws` CLI sets the bucket's configuration and boto3 drives a
/// version through retention, a legal hold and a bypass delete. The
/// bucket's queue gets the write and the delete, and nothing for the
/// lock changes (S3 and Ceph send no event for them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_through_aws_cli_and_boto3_with_events() {
    let srv = TestServer::start();
    let cli = |args: &[&str]| {
        let out = aws_cli_command(&srv)
            .args(["--output", "json"])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run the aws CLI ({e}); install it with `pip install awscli`"));
        assert!(
            out.status.success(),
            "aws {} failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
    };
    cli(&[
        "s3api",
        "create-bucket",
        "--bucket",
        "cli-lock",
        "--object-lock-enabled-for-bucket",
    ]);
    cli(&[
        "s3api",
        "put-object-lock-configuration",
        "--bucket",
        "cli-lock",
        "--object-lock-configuration",
        r#"{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":3}}}"#,
    ]);
    let conf = cli(&["s3api", "get-object-lock-configuration", "--bucket", "cli-lock"]);
    assert_eq!(
        conf["ObjectLockConfiguration"]["Rule"]["DefaultRetention"],
        serde_json::json!({"Mode": "GOVERNANCE", "Days": 3})
    );

    let q = cli(&["sqs", "create-queue", "--queue-name", "lock-events"]);
    let url = q["QueueUrl"].as_str().unwrap().to_owned();
    let arn = "arn:aws:sqs:us-east-1:root:lock-events";
    cli(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        "cli-lock",
        "--notification-configuration",
        &format!(
            r#"{{"QueueConfigurations":[{{"Id":"lk","QueueArn":"{arn}","Events":["s3:ObjectCreated:*","s3:ObjectRemoved:*"]}}]}}"#
        ),
    ]);

    run_boto3(
        &srv,
        BOTO3_SCRIPT,
        &[
            ("T_BUCKET", "cli-lock"),
            ("T_AK", ROOT_ACCESS_KEY),
            ("T_SK", ROOT_SECRET_KEY),
        ],
    );

    // Events: the put and the delete, nothing for the four lock changes.
    let sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut names = Vec::new();
    while !names.iter().any(|n: &String| n.starts_with("ObjectRemoved")) {
        assert!(Instant::now() < deadline, "events so far: {names:?}");
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            if let Some(rs) = body["Records"].as_array() {
                names.extend(rs.iter().map(|r| r["eventName"].as_str().unwrap().to_owned()));
            }
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    // Anything else queued by now would have been sent before the delete.
    let rest = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(rest.messages().is_empty(), "unexpected events: {:?}", rest.messages());
    names.sort();
    assert_eq!(names, ["ObjectCreated:Put", "ObjectRemoved:Delete"]);
}
