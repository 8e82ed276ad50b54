//! S3 Object Lock end to end: the bucket configuration, retention and
//! legal holds and the deletes they refuse, with the AWS SDK for Rust, the
//! `aws` CLI and boto3; another tenant trying to remove or shorten a lock;
//! and the events (none for lock changes, the usual ones for deletes).
//!
//! The tests are split by what they exercise, one file each:
//! `configuration` (the bucket setting), `deletes` (retention and legal
//! holds refusing deletes), `tenants` (another user against the locks) and
//! `clients` (the `aws` CLI and boto3, with events). This file keeps the
//! helpers they share; it stays one test binary.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, DefaultRetention, Delete, ObjectIdentifier, ObjectLockConfiguration,
    ObjectLockEnabled, ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, ObjectLockRule, VersioningConfiguration,
};
use herald_testkit::*;

mod clients;
mod configuration;
mod deletes;
mod tenants;

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
