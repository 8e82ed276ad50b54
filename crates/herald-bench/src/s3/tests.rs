//! The wire form of the client's requests. The expected signatures were
//! produced by the hand-written signer `aws-sigv4` replaced, for the same
//! requests at the same instant, so the server checks exactly what it checked
//! before; only the `Authorization` header's separators changed (`, ` as the
//! SDKs send it, instead of `,`).

use std::time::{Duration, SystemTime};

use super::*;

const ACCESS: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// 2013-05-24T00:00:00Z, the date of the AWS documentation examples.
fn instant() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_369_353_600)
}

fn client(region: &str) -> S3Client {
    S3Client::new("http://127.0.0.1:9000", ACCESS, SECRET, region, 1).unwrap()
}

fn s3(method: Method, path: &'static str, query: &'static [(&'static str, &'static str)]) -> RequestToSend<'static> {
    RequestToSend {
        method,
        path,
        query,
        headers: &[],
        body: Bytes::from_static(b"0123456789"),
    }
}

fn header<'a>(request: &'a Request<Full<Bytes>>, name: &str) -> Option<&'a str> {
    request.headers().get(name).map(|v| v.to_str().unwrap())
}

fn signature(request: &Request<Full<Bytes>>) -> &str {
    header(request, "authorization")
        .unwrap()
        .rsplit_once("Signature=")
        .unwrap()
        .1
}

#[test]
fn s3_requests_carry_unsigned_payload_and_the_path_encoded_once() {
    let c = client("us-east-1");
    let put = c
        .build(
            &c.signer,
            s3(Method::PUT, "/bench-bucket/dir/my key+é$.bin", &[]),
            instant(),
        )
        .unwrap();
    assert_eq!(
        put.uri().to_string(),
        "http://127.0.0.1:9000/bench-bucket/dir/my%20key%2B%C3%A9%24.bin"
    );
    assert_eq!(header(&put, "host"), Some("127.0.0.1:9000"));
    assert_eq!(header(&put, "x-amz-date"), Some("20130524T000000Z"));
    assert_eq!(header(&put, "x-amz-content-sha256"), Some("UNSIGNED-PAYLOAD"));
    assert_eq!(header(&put, "content-length"), Some("10"));
    assert_eq!(
        header(&put, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, \
             Signature=55b04a30985314b1ef47cf92f9a86a634ad445f2b75de300c3b65e9cf3125aef"
        )
    );

    let get = c
        .build(&c.signer, s3(Method::GET, "/bench-bucket/obj-000001", &[]), instant())
        .unwrap();
    assert_eq!(
        signature(&get),
        "65e4a43f9d1b7a559fe5ee53913b3411c8a8b2104a90dbbe5c072d89bab3334c"
    );
}

#[test]
fn s3_query_parameters_are_sent_encoded_and_signed_sorted() {
    let c = client("us-east-1");
    let bare = c
        .build(
            &c.signer,
            s3(Method::PUT, "/bench-bucket", &[("notification", "")]),
            instant(),
        )
        .unwrap();
    assert_eq!(
        bare.uri().to_string(),
        "http://127.0.0.1:9000/bench-bucket?notification"
    );
    assert_eq!(
        signature(&bare),
        "2cf8cb7441ad72b50a4d9937494086628029f95c5a089923355b0301a567b83d"
    );

    let query = &[("prefix", "a b/c+d"), ("list-type", "2")];
    let list = c
        .build(&c.signer, s3(Method::GET, "/bench-bucket", query), instant())
        .unwrap();
    assert_eq!(
        list.uri().to_string(),
        "http://127.0.0.1:9000/bench-bucket?prefix=a%20b%2Fc%2Bd&list-type=2"
    );
    assert_eq!(
        signature(&list),
        "4dcabd6cbfa7535aa6859ba83a9bfcbcf410987ec141be918377a84729befe62"
    );
}

#[test]
fn sns_requests_sign_the_body_hash_and_content_type() {
    let c = client("eu-west-3");
    let headers = [("content-type", SNS_CONTENT_TYPE)];
    let body = "Action=CreateTopic&Version=2010-03-31&Name=bench%20topic";
    let request = RequestToSend::api_post(&headers, Bytes::from_static(body.as_bytes()));
    let sns = c.build(&c.sns_signer, request, instant()).unwrap();
    assert_eq!(header(&sns, "x-amz-content-sha256"), None);
    assert_eq!(
        header(&sns, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-west-3/sns/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=c14e25a0a1baa849a0e2d13731b28d59e73d4c7d3682a981e99b205cce764398"
        )
    );
}

#[test]
fn sqs_requests_sign_the_target_too() {
    let c = client("eu-west-3");
    let headers = [
        ("content-type", SQS_CONTENT_TYPE),
        ("x-amz-target", "AmazonSQS.SendMessageBatch"),
    ];
    let body = br#"{"QueueUrl":"http://127.0.0.1:9000/123456789012/bench"}"#;
    let request = RequestToSend::api_post(&headers, Bytes::from_static(body));
    let sqs = c.build(&c.sqs_signer, request, instant()).unwrap();
    assert_eq!(header(&sqs, "x-amz-content-sha256"), None);
    assert_eq!(
        header(&sqs, "authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/eu-west-3/sqs/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=2b0f1ad59f4dfcb883a2e4ee03048e74e170a2b9fbf1fb8556925584342b0e39"
        )
    );
}
