//! The bucket's Object Lock configuration: what may be set, and when.

use super::*;

/// Buckets without Object Lock refuse every lock operation; the
/// configuration needs versioning; bad configurations get S3's codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_lock_configuration_rules() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    plain_bucket_refuses_locks_until_enabled(&s3).await;

    locked_bucket_stays_versioned_and_checks_its_configuration(&s3).await;
}

/// A bucket created without Object Lock refuses every lock operation,
/// and takes a configuration only once versioning is Enabled.
async fn plain_bucket_refuses_locks_until_enabled(s3: &Client) {
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
}

/// A bucket created with Object Lock: versioned for good, no default rule,
/// and bad default retentions refused with S3's codes.
async fn locked_bucket_stays_versioned_and_checks_its_configuration(s3: &Client) {
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
