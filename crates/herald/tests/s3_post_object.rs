//! Browser form uploads (POST object) driven by boto3's
//! `generate_presigned_post`, as a web page would use it: the policy's
//! conditions, anonymous uploads to a bucket whose ACL allows writes,
//! another tenant's signature, the size limit that keeps a form in memory
//! bounded, and the `ObjectCreated:Post` event.

use std::time::{Duration, Instant};

use herald_testkit::*;

const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");

const SCRIPT: &str = r#"
import json, os, sys
import boto3, urllib3
from botocore.config import Config

url = os.environ["T_URL"]
def client(ak, sk):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=Config(s3={"addressing_style": "path"},
                        signature_version="s3v4", retries={"max_attempts": 1}))
root = client(os.environ["T_ROOT_AK"], os.environ["T_ROOT_SK"])
bob = client(os.environ["T_BOB_AK"], os.environ["T_BOB_SK"])
http = urllib3.PoolManager()
failures = []

def post(post, filename, data, extra=None):
    fields = dict(post["fields"])
    fields.update(extra or {})
    fields["file"] = (filename, data, "text/plain")
    r = http.request("POST", post["url"], fields=fields)
    return r.status, r.data.decode(errors="replace")

def expect(what, got, status, needle=""):
    if got[0] != status or needle not in got[1]:
        failures.append("%s: wanted %d %s, got %d %s" % (what, status, needle, got[0], got[1][:300]))

conditions = [["starts-with", "$key", "uploads/"], ["content-length-range", 1, 1024],
              {"Content-Type": "text/plain"}]
signed = root.generate_presigned_post("forms", "uploads/hello.txt", Fields={"Content-Type": "text/plain"},
                                      Conditions=conditions, ExpiresIn=600)
expect("signed form", post(signed, "hello.txt", b"hello form"), 204)
got = root.get_object(Bucket="forms", Key="uploads/hello.txt")
if got["Body"].read() != b"hello form" or got["ContentType"] != "text/plain":
    failures.append("uploaded object: %r" % got)
expect("over content-length-range", post(signed, "big.txt", b"x" * 2048), 400, "EntityTooLarge")
other = root.generate_presigned_post("forms", "elsewhere/x", Conditions=conditions, ExpiresIn=600)
expect("key outside the policy", post(other, "x", b"x", {"Content-Type": "text/plain"}), 403)

# A form signed with SigV2 is refused: SigV2 is off unless --allow-sigv2.
v2 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=os.environ["T_ROOT_AK"],
                  aws_secret_access_key=os.environ["T_ROOT_SK"],
                  config=Config(s3={"addressing_style": "path"}, signature_version="s3"))
v2post = v2.generate_presigned_post("forms", "uploads/v2.txt", ExpiresIn=600)
if "signature" not in v2post["fields"]:
    failures.append("boto3 did not make a SigV2 form: %r" % v2post["fields"])
expect("SigV2 form", post(v2post, "v2.txt", b"v2"), 403, "SigV2 is disabled")

# Another tenant's signature grants nothing on this bucket.
bobs = bob.generate_presigned_post("forms", "uploads/bob.txt", ExpiresIn=600)
expect("bob's form", post(bobs, "bob.txt", b"bob"), 403, "AccessDenied")

# Anonymous forms: refused on a private bucket, accepted where the ACL lets anyone write.
anon = {"url": url + "/forms", "fields": {"key": "anon.txt"}}
expect("anonymous on private", post(anon, "a.txt", b"anon"), 403, "AccessDenied")
anon_open = {"url": url + "/open", "fields": {"key": "anon.txt"}}
expect("anonymous on public-read-write", post(anon_open, "a.txt", b"anon"), 204)
# A form is held in memory to check its policy: its file is capped.
expect("oversized form", post(anon_open, "huge.bin", b"\0" * (17 * 1024 * 1024)), 400, "EntityTooLarge")

print(json.dumps(failures))
sys.exit(1 if failures else 0)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_form_uploads_with_boto3_presigned_post() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB.0, BOB.1);
    let s3 = srv.s3();
    s3.create_bucket().bucket("forms").send().await.unwrap();
    s3.create_bucket()
        .bucket("open")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    let sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let url = sqs
        .create_queue()
        .queue_name("form-events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let out = aws_cli_command(&srv)
        .args([
            "s3api",
            "put-bucket-notification-configuration",
            "--bucket",
            "forms",
            "--notification-configuration",
            r#"{"QueueConfigurations":[{"QueueArn":"arn:aws:sqs:us-east-1:root:form-events","Events":["s3:ObjectCreated:*"]}]}"#,
        ])
        .output()
        .expect("the aws CLI runs");
    assert!(out.status.success(), "{out:?}");

    run_boto3(
        &srv,
        SCRIPT,
        &[
            ("T_ROOT_AK", ROOT_ACCESS_KEY),
            ("T_ROOT_SK", ROOT_SECRET_KEY),
            ("T_BOB_AK", BOB.0),
            ("T_BOB_SK", BOB.1),
        ],
    );
    assert_healthy(&srv);

    // The one accepted form upload to the watched bucket is an
    // ObjectCreated:Post, with the key the form resolved.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut records = Vec::new();
    while records.is_empty() {
        assert!(Instant::now() < deadline, "no ObjectCreated event arrived");
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
            records.extend(body["Records"].as_array().cloned().unwrap_or_default());
        }
    }
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["eventName"], "ObjectCreated:Post");
    assert_eq!(records[0]["s3"]["object"]["key"], "uploads/hello.txt");
    assert_eq!(records[0]["s3"]["object"]["size"], 10);
}
