//! S3 API coverage through the AWS SDK for Rust against a real `herald serve`.
//!
//! The tests are split by operation group, one file each: `buckets`,
//! `objects`, `more_objects`, `listing`, `multipart`, `versioning` and
//! `addressing` (presigned URLs, virtual-host style). This file keeps the
//! helpers they share; it stays one test binary.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, MetadataDirective, ObjectIdentifier, Tag,
    Tagging, VersioningConfiguration,
};
use herald_testkit::*;

mod addressing;
mod buckets;
mod listing;
mod more_objects;
mod multipart;
mod objects;
mod versioning;

const MIB: usize = 1024 * 1024;

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let out = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {bucket}/{key}: {e:?}"));
    out.e_tag().expect("PutObject returns ETag").to_string()
}

async fn get(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    let out = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetObject {bucket}/{key}: {e:?}"));
    body_bytes(out).await
}

/// A header of a failed call's response.
fn header<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>, name: &str) -> Option<String> {
    e.raw_response().and_then(|r| r.headers().get(name)).map(str::to_owned)
}

async fn mk_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
}
