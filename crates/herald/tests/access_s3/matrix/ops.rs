//! The operations the cross-user matrix runs, one S3 call each, grouped
//! by kind; apart from the table so each file stays readable.

use super::*;

async fn multipart(c: &Client, b: &str, k: &str) -> Res {
    let id = c
        .create_multipart_upload()
        .bucket(b)
        .key(k)
        .send()
        .await
        .map_err(ei)?
        .upload_id()
        .unwrap_or_default()
        .to_string();
    let etag = c
        .upload_part()
        .bucket(b)
        .key(k)
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"one part"))
        .send()
        .await
        .map_err(ei)?
        .e_tag()
        .unwrap_or_default()
        .to_string();
    c.complete_multipart_upload()
        .bucket(b)
        .key(k)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .map_err(ei)?;
    Ok(())
}

/// Runs one cell: `op` on the group's bucket as `who`, with whatever
/// set-up (as alice) and after-check it needs.
pub(super) async fn run_op(cx: &Ctx, g: &Group, op: &str, who: Who) -> Res {
    match op {
        "GetObject" | "HeadObject" | "PutObject" | "CopyObject" | "Multipart" => run_object_op(cx, g, op, who).await,
        "UploadPart" | "ListParts" | "AbortMultipartUpload" | "DeleteObject" | "DeleteObjects" => {
            run_upload_or_delete_op(cx, g, op, who).await
        }
        "ListObjectsV2" | "ListObjects" | "HeadBucket" | "PutObjectTagging" | "GetObjectTagging" => {
            run_listing_or_tagging_op(cx, g, op, who).await
        }
        "PutBucketNotification"
        | "GetBucketNotification"
        | "GetBucketPolicy"
        | "GetBucketPolicyStatus"
        | "PutBucketPolicy"
        | "DeleteBucketPolicy"
        | "GetBucketLocation"
        | "GetBucketVersioning"
        | "PutBucketVersioning"
        | "ListObjectVersions"
        | "ListMultipartUploads"
        | "DeleteBucket" => run_bucket_op(cx, g, op, who).await,
        other => panic!("no operation {other:?} in the matrix"),
    }
}

/// The object reads and writes of the matrix (GetObject to multipart).
async fn run_object_op(cx: &Ctx, g: &Group, op: &str, who: Who) -> Res {
    let b = g.bucket;
    let c = cx.client(who);
    let w = who.name();
    let here = format!("[{}] {op} as {w}", g.name);
    match op {
        "GetObject" => {
            let out = c.get_object().bucket(b).key("obj").send().await.map_err(ei)?;
            let body = body_bytes(out).await;
            if body != b"hello" {
                cx.note(format!("{here}: body {:?}", String::from_utf8_lossy(&body)));
            }
            Ok(())
        }
        "HeadObject" => res(c.head_object().bucket(b).key("obj").send().await),
        "PutObject" => {
            let k = format!("w/put-{w}");
            let r = res(c
                .put_object()
                .bucket(b)
                .key(&k)
                .body(ByteStream::from_static(b"put"))
                .send()
                .await);
            cx.expect_exists(b, &k, r.is_ok(), &here).await;
            r
        }
        "CopyObject" => {
            let k = format!("w/copy-{w}");
            let r = res(c
                .copy_object()
                .bucket(b)
                .key(&k)
                .copy_source(format!("{b}/src/orig"))
                .send()
                .await);
            cx.expect_exists(b, &k, r.is_ok(), &here).await;
            r
        }
        "Multipart" => {
            let k = format!("w/mpu-{w}");
            let r = multipart(c, b, &k).await;
            cx.expect_exists(b, &k, r.is_ok(), &here).await;
            r
        }
        other => panic!("no operation {other:?} in the matrix"),
    }
}

/// Parts of an upload alice started, and deletes of objects she put.
async fn run_upload_or_delete_op(cx: &Ctx, g: &Group, op: &str, who: Who) -> Res {
    let b = g.bucket;
    let c = cx.client(who);
    let a = &cx.alice;
    let w = who.name();
    let here = format!("[{}] {op} as {w}", g.name);
    match op {
        "UploadPart" => {
            // A part into an upload alice started.
            let k = format!("w/part-{w}");
            let id = cx.alice_upload(b, &k).await;
            let r = res(c
                .upload_part()
                .bucket(b)
                .key(&k)
                .upload_id(&id)
                .part_number(1)
                .body(ByteStream::from_static(b"part"))
                .send()
                .await);
            cx.alice_abort(b, &k, &id).await;
            r
        }
        "ListParts" => {
            let k = format!("w/parts-{w}");
            let id = cx.alice_upload(b, &k).await;
            let r = res(c.list_parts().bucket(b).key(&k).upload_id(&id).send().await);
            cx.alice_abort(b, &k, &id).await;
            r
        }
        "AbortMultipartUpload" => {
            let k = format!("w/abort-{w}");
            let id = cx.alice_upload(b, &k).await;
            let r = res(c.abort_multipart_upload().bucket(b).key(&k).upload_id(&id).send().await);
            let still = a.list_parts().bucket(b).key(&k).upload_id(&id).send().await.is_ok();
            if still == r.is_ok() {
                cx.note(format!(
                    "{here}: afterwards the upload {}",
                    if still { "is still there" } else { "is gone" }
                ));
            }
            cx.alice_abort(b, &k, &id).await;
            r
        }
        "DeleteObject" => {
            let k = format!("d/one-{w}");
            cx.alice_put(b, &k, b"doomed").await;
            let r = res(c.delete_object().bucket(b).key(&k).send().await);
            cx.expect_exists(b, &k, r.is_err(), &here).await;
            r
        }
        "DeleteObjects" => {
            let k = format!("d/many-{w}");
            cx.alice_put(b, &k, b"doomed").await;
            let out = c
                .delete_objects()
                .bucket(b)
                .delete(
                    Delete::builder()
                        .objects(ObjectIdentifier::builder().key(&k).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .map_err(ei)?;
            let deleted = out.deleted().iter().any(|d| d.key() == Some(k.as_str()));
            let error = out.errors().iter().find(|e| e.key() == Some(k.as_str()));
            cx.expect_exists(b, &k, !deleted, &here).await;
            match (deleted, error) {
                (true, None) => Ok(()),
                (false, Some(e)) => Err((e.code().unwrap_or_default().to_string(), 200)),
                _ => Err((format!("key neither/both deleted and in Errors: {out:?}"), 200)),
            }
        }
        other => panic!("no operation {other:?} in the matrix"),
    }
}

/// Listings, HeadBucket and object tagging.
async fn run_listing_or_tagging_op(cx: &Ctx, g: &Group, op: &str, who: Who) -> Res {
    let b = g.bucket;
    let c = cx.client(who);
    let a = &cx.alice;
    let w = who.name();
    let here = format!("[{}] {op} as {w}", g.name);
    match op {
        "ListObjectsV2" => {
            let out = c.list_objects_v2().bucket(b).send().await.map_err(ei)?;
            if !out.contents().iter().any(|o| o.key() == Some("obj")) {
                cx.note(format!("{here}: listing without obj: {:?}", out.contents()));
            }
            Ok(())
        }
        "ListObjects" => res(c.list_objects().bucket(b).send().await),
        "HeadBucket" => res(c.head_bucket().bucket(b).send().await),
        "PutObjectTagging" => {
            let r = res(c
                .put_object_tagging()
                .bucket(b)
                .key("obj")
                .tagging(
                    Tagging::builder()
                        .tag_set(Tag::builder().key("by").value(w).build().unwrap())
                        .build()
                        .unwrap(),
                )
                .send()
                .await);
            let tags = a
                .get_object_tagging()
                .bucket(b)
                .key("obj")
                .send()
                .await
                .unwrap_or_else(|e| panic!("alice's GetObjectTagging: {e:?}"));
            let by = tags.tag_set().iter().find(|t| t.key() == "by").map(|t| t.value());
            if r.is_ok() != (by == Some(w)) {
                cx.note(format!("{here}: afterwards the tag `by` is {by:?}"));
            }
            r
        }
        "GetObjectTagging" => res(c.get_object_tagging().bucket(b).key("obj").send().await),
        other => panic!("no operation {other:?} in the matrix"),
    }
}

/// Bucket configuration: notifications, policy, versioning, location,
/// listings of versions and uploads, DeleteBucket.
async fn run_bucket_op(cx: &Ctx, g: &Group, op: &str, who: Who) -> Res {
    let b = g.bucket;
    let c = cx.client(who);
    let a = &cx.alice;
    let w = who.name();
    let here = format!("[{}] {op} as {w}", g.name);
    match op {
        "PutBucketNotification" => res(c
            .put_bucket_notification_configuration()
            .bucket(b)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .topic_configurations(
                        TopicConfiguration::builder()
                            .id(format!("by-{w}"))
                            .topic_arn(cx.topic(Who::Alice))
                            .events(Event::from("s3:ObjectCreated:*"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await),
        "GetBucketNotification" => res(c.get_bucket_notification_configuration().bucket(b).send().await),
        "GetBucketPolicy" => {
            let out = c.get_bucket_policy().bucket(b).send().await.map_err(ei)?;
            let want = (g.policy)(b);
            if out.policy() != Some(want.as_str()) {
                cx.note(format!(
                    "{here}: the policy is not the text put: {:?}, want {want}",
                    out.policy()
                ));
            }
            Ok(())
        }
        "GetBucketPolicyStatus" => {
            let out = c.get_bucket_policy_status().bucket(b).send().await.map_err(ei)?;
            let public = out.policy_status().and_then(|s| s.is_public());
            if public != Some(false) {
                cx.note(format!("{here}: IsPublic {public:?} for a policy naming bob only"));
            }
            Ok(())
        }
        "PutBucketPolicy" => res(c.put_bucket_policy().bucket(b).policy((g.policy)(b)).send().await),
        "DeleteBucketPolicy" => {
            let r = res(c.delete_bucket_policy().bucket(b).send().await);
            let now = a.get_bucket_policy().bucket(b).send().await;
            match (&r, now) {
                (Ok(()), Ok(_)) => cx.note(format!("{here}: the policy is still there")),
                (Err(_), Err(e)) => cx.note(format!("{here}: refused, but the policy is gone ({e:?})")),
                (Ok(()), Err(e)) => {
                    let (code, status) = err_info(&e);
                    if (code.as_str(), status) != ("NoSuchBucketPolicy", 404) {
                        cx.note(format!(
                            "{here}: GetBucketPolicy after delete: {status} {code}, want 404 NoSuchBucketPolicy"
                        ));
                    }
                }
                (Err(_), Ok(_)) => {}
            }
            // Back in force for the next cells.
            must_put_policy(a, b, &(g.policy)(b)).await;
            r
        }
        "GetBucketLocation" => res(c.get_bucket_location().bucket(b).send().await),
        "GetBucketVersioning" => res(c.get_bucket_versioning().bucket(b).send().await),
        "PutBucketVersioning" => res(c
            .put_bucket_versioning()
            .bucket(b)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await),
        "ListObjectVersions" => res(c.list_object_versions().bucket(b).send().await),
        "ListMultipartUploads" => res(c.list_multipart_uploads().bucket(b).send().await),
        "DeleteBucket" => {
            // A fresh empty bucket per cell, under the group's policy.
            let nb = format!("{b}-{w}");
            a.create_bucket()
                .bucket(&nb)
                .send()
                .await
                .unwrap_or_else(|e| panic!("alice's CreateBucket {nb}: {e:?}"));
            must_put_policy(a, &nb, &(g.policy)(&nb)).await;
            let r = res(c.delete_bucket().bucket(&nb).send().await);
            let exists = a.head_bucket().bucket(&nb).send().await.is_ok();
            if exists == r.is_ok() {
                cx.note(format!(
                    "{here}: afterwards the bucket {}",
                    if exists { "exists" } else { "is gone" }
                ));
            }
            r
        }
        other => panic!("no operation {other:?} in the matrix"),
    }
}
