//! Conditional writes and deletes (issue 14), with the AWS SDK for Rust:
//! `If-None-Match`/`If-Match` on PutObject and CompleteMultipartUpload
//! (`*` or an ETag), `If-Match`, `x-amz-if-match-last-modified-time` and
//! `x-amz-if-match-size` on DeleteObject and per entry in DeleteObjects,
//! and a 304 that still names the version (ETag, Last-Modified).

use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, VersioningConfiguration,
};
use herald_testkit::*;

type Res = Result<(), (String, u16)>;

fn res<T, E, R>(r: Result<T, aws_sdk_s3::error::SdkError<E, R>>) -> Res
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    r.map(|_| ()).map_err(|e| err_info(&e))
}

fn failed() -> Res {
    Err(("PreconditionFailed".into(), 412))
}

async fn put(c: &Client, b: &str, k: &str, body: &'static [u8]) -> String {
    c.put_object()
        .bucket(b)
        .key(k)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_puts_compare_the_current_version() {
    let srv = TestServer::start();
    let c = srv.s3();
    c.create_bucket().bucket("cond").send().await.unwrap();
    let cput = |none: Option<&str>, any: Option<&str>| {
        c.put_object()
            .bucket("cond")
            .key("k")
            .set_if_none_match(none.map(str::to_owned))
            .set_if_match(any.map(str::to_owned))
            .body(ByteStream::from_static(b"v"))
            .send()
    };
    // No object yet: If-Match of anything is NoSuchKey; If-None-Match creates.
    assert_eq!(res(cput(None, Some("*")).await), Err(("NoSuchKey".into(), 404)));
    assert_eq!(res(cput(None, Some("\"abc\"")).await), Err(("NoSuchKey".into(), 404)));
    assert_eq!(res(cput(Some("*"), None).await), Ok(()));
    let etag = c
        .head_object()
        .bucket("cond")
        .key("k")
        .send()
        .await
        .unwrap()
        .e_tag
        .unwrap();
    // Now it exists.
    assert_eq!(res(cput(Some("*"), None).await), failed());
    assert_eq!(res(cput(Some(&etag), None).await), failed(), "If-None-Match: its ETag");
    assert_eq!(res(cput(Some("\"other\""), None).await), Ok(()));
    assert_eq!(res(cput(None, Some("*")).await), Ok(()));
    assert_eq!(res(cput(None, Some("\"other\"")).await), failed());
    assert_eq!(res(cput(None, Some(&etag)).await), Ok(()), "same body, same ETag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_completion_is_conditional_too() {
    let srv = TestServer::start();
    let c = srv.s3();
    c.create_bucket().bucket("cmpu").send().await.unwrap();
    let etag = put(&c, "cmpu", "k", b"first").await;
    let complete = |none: Option<&str>, any: Option<&str>| {
        let c = c.clone();
        let (none, any) = (none.map(str::to_owned), any.map(str::to_owned));
        async move {
            let up = c
                .create_multipart_upload()
                .bucket("cmpu")
                .key("k")
                .send()
                .await
                .unwrap();
            let id = up.upload_id.unwrap();
            let part = c
                .upload_part()
                .bucket("cmpu")
                .key("k")
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from_static(b"second"))
                .send()
                .await
                .unwrap();
            res(c
                .complete_multipart_upload()
                .bucket("cmpu")
                .key("k")
                .upload_id(&id)
                .set_if_none_match(none)
                .set_if_match(any)
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
                .await)
        }
    };
    assert_eq!(complete(Some("*"), None).await, failed());
    assert_eq!(complete(None, Some("\"nope\"")).await, failed());
    assert_eq!(complete(None, Some(&etag)).await, Ok(()));
    let body = c.get_object().bucket("cmpu").key("k").send().await.unwrap();
    assert_eq!(body_bytes(body).await, b"second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_deletes_check_etag_time_and_size_of_their_target() {
    let srv = TestServer::start();
    let c = srv.s3();
    c.create_bucket().bucket("cdel").send().await.unwrap();
    let etag = put(&c, "cdel", "k", b"12345").await;
    let head = c.head_object().bucket("cdel").key("k").send().await.unwrap();
    let mtime = head.last_modified.unwrap();
    let del = || c.delete_object().bucket("cdel").key("k");

    assert_eq!(res(del().if_match("\"bad\"").send().await), failed());
    assert_eq!(res(del().if_match_size(4).send().await), failed());
    assert_eq!(
        res(del()
            .if_match_last_modified_time(DateTime::from_secs(1_420_070_400))
            .send()
            .await),
        failed()
    );
    assert!(
        c.head_object().bucket("cdel").key("k").send().await.is_ok(),
        "still there"
    );
    assert_eq!(
        res(del()
            .if_match(&etag)
            .if_match_size(5)
            .if_match_last_modified_time(mtime)
            .send()
            .await),
        Ok(())
    );
    assert_eq!(
        res(c.head_object().bucket("cdel").key("k").send().await).map_err(|e| e.1),
        Err(404)
    );
    // Deleting nothing conditionally is no error.
    assert_eq!(res(del().if_match("\"bad\"").send().await), Ok(()));

    // Versioned: a conditional delete of a missing key leaves no marker;
    // a delete marker is a target (`*` matches it, an ETag does not).
    c.put_bucket_versioning()
        .bucket("cdel")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res(del().if_match("*").send().await), Ok(()));
    let versions = c.list_object_versions().bucket("cdel").send().await.unwrap();
    assert!(versions.delete_markers().is_empty(), "{versions:?}");
    let etag = put(&c, "cdel", "k", b"v2").await;
    let out = del().if_match(&etag).send().await.unwrap();
    assert_eq!(out.delete_marker, Some(true));
    assert_eq!(res(del().if_match("\"bad\"").send().await), failed());

    // DeleteObjects: each entry's own conditions.
    let a = put(&c, "cdel", "a", b"aa").await;
    put(&c, "cdel", "b", b"bb").await;
    let out = c
        .delete_objects()
        .bucket("cdel")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("a").e_tag(&a).size(2).build().unwrap())
                .objects(ObjectIdentifier::builder().key("b").e_tag("\"bad\"").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted: Vec<&str> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, ["a"]);
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].key(), Some("b"));
    assert_eq!(out.errors()[0].code(), Some("PreconditionFailed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_names_the_version() {
    let srv = TestServer::start();
    let c = srv.s3();
    c.create_bucket().bucket("not-modified").send().await.unwrap();
    let etag = put(&c, "not-modified", "k", b"body").await;
    let e = c
        .get_object()
        .bucket("not-modified")
        .key("k")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    let raw = e.raw_response().expect("a response");
    assert_eq!(raw.status().as_u16(), 304);
    assert_eq!(raw.headers().get("etag"), Some(etag.as_str()));
    assert!(raw.headers().get("last-modified").is_some());
}
