//! Gateway mode (`--upstream-endpoint`): Herald in front of another S3
//! that keeps the objects, adding its events. Tested against a real,
//! different implementation (SeaweedFS) and against a second Herald in
//! embedded mode.

mod herald_upstream;
mod seaweedfs;

use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration, TopicConfiguration};
use herald_testkit::*;
use serde_json::Value;

pub(crate) fn args_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A gateway in front of `endpoint` with the given upstream keys.
pub(crate) fn gateway_to(endpoint: &str, access: &str, secret: &str, more: &[&str]) -> TestServer {
    let mut args = vec![
        "--upstream-endpoint",
        endpoint,
        "--upstream-access-key",
        access,
        "--upstream-secret-key",
        secret,
    ];
    args.extend_from_slice(more);
    TestServer::start_with_args(&args)
}

/// Every event kind to `topic` (and, when given, created ones to `queue_arn`).
pub(crate) async fn notify_everything(s3: &aws_sdk_s3::Client, bucket: &str, topic: &str, queue_arn: Option<&str>) {
    let mut config = NotificationConfiguration::builder().topic_configurations(
        TopicConfiguration::builder()
            .id("everything")
            .topic_arn(topic)
            .events(Event::from("s3:ObjectCreated:*"))
            .events(Event::from("s3:ObjectRemoved:*"))
            .events(Event::from("s3:ObjectTagging:*"))
            .events(Event::from("s3:ObjectAccessed:*"))
            .build()
            .unwrap(),
    );
    if let Some(arn) = queue_arn {
        config = config.queue_configurations(
            QueueConfiguration::builder()
                .id("created-to-queue")
                .queue_arn(arn)
                .events(Event::S3ObjectCreated)
                .build()
                .unwrap(),
        );
    }
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(config.build())
        .send()
        .await
        .unwrap();
}

pub(crate) async fn body_of(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

pub(crate) fn object_field<'a>(record: &'a Value, field: &str) -> &'a Value {
    &record["s3"]["object"][field]
}

/// `docs/a b+c.txt` as event records spell keys (URL-encoded, as S3's).
pub(crate) const ENCODED_KEY: &str = "docs/a+b%2Bc.txt";

/// The HTTP status of a failed SDK call.
pub(crate) fn status_of<T, E>(
    r: &Result<T, aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>>,
) -> Option<u16> {
    match r {
        Ok(_) => None,
        Err(e) => e.raw_response().map(|r| r.status().as_u16()),
    }
}

pub(crate) const BOB_KEY: &str = "BOBACCESSKEY0000002";
pub(crate) const BOB_SECRET: &str = "bobSecretKey0000000000000000000000000002";
