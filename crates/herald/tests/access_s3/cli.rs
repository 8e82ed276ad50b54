//! Policy lifecycle through the `aws` CLI and boto3.

use super::*;

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
