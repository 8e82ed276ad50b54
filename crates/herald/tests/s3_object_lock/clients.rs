//! Object Lock through the `aws` CLI and boto3, and the events it leaves.

use super::*;

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
