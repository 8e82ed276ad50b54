//! End-to-end agreement with a real AWS client: botocore (boto3's signer)
//! signs SNS and SQS requests, and `verify` must accept exactly what it
//! would put on the wire. This is the check that catches canonicalization
//! choices the published vectors leave open (double-encoded paths, `+` in
//! query strings, presigned payload hashes).
//!
//! python3 with boto3 is a hard requirement: the test fails, rather than
//! skips, when it is missing, so a CI image without it cannot silently lose
//! the coverage.

use std::io::Write;
use std::process::{Command, Stdio};

use herald_sigv4::{SigV4Error, SignedRequest, verify};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde_json::{Value, json};
use time::OffsetDateTime;

const KEY: &str = "AKIAHERALDBOTOCORE";
const SECRET: &str = "botocore/secret+key=";

fn lookup(key: &str) -> Option<String> {
    (key == KEY).then(|| SECRET.to_owned())
}

/// Runs tests/botocore_sign.py on `cases` and returns its signed requests.
fn botocore_sign(cases: Value) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/botocore_sign.py");
    let spec = json!({
        "access_key": KEY,
        "secret_key": SECRET,
        "region": "us-east-1",
        "cases": cases,
    });
    let mut child = Command::new("python3")
        .arg(script)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // Keep any ambient AWS configuration out of the signer.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); this test needs Python 3 with boto3: `pip install boto3`")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "botocore signing helper failed ({}); this test needs python3 with boto3: `pip install boto3`\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("helper prints a JSON array")
}

/// One request as a server would receive it.
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    /// `http1`: origin-form URI plus the `Host` header urllib3 adds (botocore
    /// signs it but leaves adding it to the transport). Otherwise the HTTP/2
    /// shape: absolute URI and no `Host` header.
    fn from_botocore(signed: &Value, http1: bool) -> Self {
        let full: Uri = signed["url"].as_str().unwrap().parse().unwrap();
        let mut headers = HeaderMap::new();
        for pair in signed["headers"].as_array().unwrap() {
            headers.append(
                HeaderName::from_bytes(pair[0].as_str().unwrap().as_bytes()).unwrap(),
                HeaderValue::from_str(pair[1].as_str().unwrap()).unwrap(),
            );
        }
        let uri = if http1 {
            headers.insert(
                "host",
                HeaderValue::from_str(full.authority().unwrap().as_str()).unwrap(),
            );
            full.path_and_query().unwrap().as_str().parse().unwrap()
        } else {
            full
        };
        Received {
            method: signed["method"].as_str().unwrap().parse().unwrap(),
            uri,
            headers,
            body: signed["body"].as_str().unwrap().as_bytes().to_vec(),
        }
    }

    fn verify(&self, services: &[&str]) -> Result<herald_sigv4::Verified, SigV4Error> {
        let req = SignedRequest {
            method: &self.method,
            uri: &self.uri,
            headers: &self.headers,
            body: &self.body,
        };
        verify(&req, lookup, services, OffsetDateTime::now_utc())
    }
}

fn by_name<'a>(signed: &'a [Value], name: &str) -> &'a Value {
    signed
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("helper returned no case {name}"))
}

#[test]
fn botocore_signed_requests_verify() {
    let form = "application/x-www-form-urlencoded; charset=utf-8";
    let signed = botocore_sign(json!([
        {
            "name": "sns-list-topics",
            "method": "POST",
            "url": "http://127.0.0.1:9000/",
            "service": "sns",
            "headers": {"Content-Type": form},
            "body": "Action=ListTopics&Version=2010-03-31",
        },
        {
            "name": "sqs-json-send-message",
            "method": "POST",
            "url": "http://127.0.0.1:9000/123456789012/my-queue",
            "service": "sqs",
            "headers": {
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": "AmazonSQS.SendMessage",
            },
            "body": "{\"QueueUrl\":\"http://127.0.0.1:9000/123456789012/my-queue\",\"MessageBody\":\"hi  there\"}",
        },
        {
            "name": "sqs-query-odd-path",
            "method": "POST",
            "url": "http://127.0.0.1:9000/123456789012/odd%20name/./q%2Bx//",
            "service": "sqs",
            "headers": {"Content-Type": form},
            "body": "Action=GetQueueAttributes&AttributeName.1=All",
        },
        {
            "name": "sns-get-with-params",
            "method": "GET",
            "url": "http://127.0.0.1:9000/",
            "service": "sns",
            "params": {"Action": "ListTopics", "NextToken": "a b+c/d~e*f", "Version": "2010-03-31"},
        },
        {
            "name": "sns-presigned",
            "method": "GET",
            "url": "http://127.0.0.1:9000/",
            "service": "sns",
            "params": {"Action": "ListTopics", "Version": "2010-03-31"},
            "presign": 900,
        },
    ]));
    assert_eq!(signed.len(), 5);

    for case in &signed {
        let name = case["name"].as_str().unwrap();
        let service = if name.starts_with("sqs") { "sqs" } else { "sns" };
        for http1 in [true, false] {
            let received = Received::from_botocore(case, http1);
            let verified = received
                .verify(&[service])
                .unwrap_or_else(|e| panic!("{name} (http1={http1}) rejected: {e:?}\n{case:#}"));
            assert_eq!(verified.access_key, KEY);
            assert_eq!(verified.region, "us-east-1");
            assert_eq!(verified.service, service);
        }
    }

    // The brief's canonical case, spelled out: botocore sends no
    // x-amz-content-sha256 to SNS, so the body hash is ours to compute.
    let list = Received::from_botocore(by_name(&signed, "sns-list-topics"), true);
    assert!(!list.headers.contains_key("x-amz-content-sha256"));
    assert!(list.headers.contains_key("authorization"));
}

#[test]
fn botocore_signed_request_fails_when_altered() {
    let signed = botocore_sign(json!([{
        "name": "sns-list-topics",
        "method": "POST",
        "url": "http://127.0.0.1:9000/",
        "service": "sns",
        "headers": {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        "body": "Action=ListTopics&Version=2010-03-31",
    }]));
    let mut received = Received::from_botocore(&signed[0], true);
    received.verify(&["sns"]).unwrap();

    assert_eq!(
        received.verify(&["sqs"]),
        Err(SigV4Error::WrongService { got: "sns".to_owned() })
    );
    received.body = b"Action=ListTopics&Version=2010-03-31&x=1".to_vec();
    assert_eq!(received.verify(&["sns"]), Err(SigV4Error::SignatureMismatch));

    let wrong_secret = SignedRequest {
        method: &received.method,
        uri: &received.uri,
        headers: &received.headers,
        body: b"Action=ListTopics&Version=2010-03-31",
    };
    assert_eq!(
        verify(
            &wrong_secret,
            |_| Some("another-secret".to_owned()),
            &["sns"],
            OffsetDateTime::now_utc()
        ),
        Err(SigV4Error::SignatureMismatch)
    );
}
