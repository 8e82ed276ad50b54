//! Retention and legal holds on versions, and the deletes they refuse
//! until released.

use super::*;

/// Retention and legal holds protect versions from permanent deletes
/// (one by one and in DeleteObjects), not from delete markers; GOVERNANCE
/// gives way to a bypass, COMPLIANCE to nothing; all of it survives a
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_versions_refuse_deletes_until_released() {
    let mut srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket()
        .bucket("vault")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    s3.put_object_lock_configuration()
        .bucket("vault")
        .object_lock_configuration(governance_days(1))
        .send()
        .await
        .unwrap();

    let v1 = default_retention_refuses_permanent_deletes(&s3).await;

    retention_changes_then_a_legal_hold(&s3, &v1).await;

    compliance_gives_way_to_nothing(&s3).await;

    multipart_locks_and_delete_objects_per_entry(&s3).await;

    // Everything above is in the store, not in memory.
    srv.restart();
    let s3 = srv.s3();
    assert_eq!(delete_version(&s3, "vault", "doc", &v1, true).await, denied());
    let h = s3
        .get_object_legal_hold()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(h.legal_hold.unwrap().status, Some(ObjectLockLegalHoldStatus::On));
    s3.put_object_legal_hold()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(delete_version(&s3, "vault", "doc", &v1, false).await, denied());
    delete_version(&s3, "vault", "doc", &v1, true).await.unwrap();
    assert_err(
        s3.head_object().bucket("vault").key("doc").version_id(&v1).send().await,
        "NotFound",
        404,
    );
    // A locked bucket cannot be deleted while it holds versions.
    assert_status(s3.delete_bucket().bucket("vault").send().await, 409);
}

/// The default retention (GOVERNANCE for a day) on a new version: no
/// permanent delete, but a delete marker on top is fine. The version's id.
async fn default_retention_refuses_permanent_deletes(s3: &Client) -> String {
    // The default retention: GOVERNANCE for a day from the write.
    let before = now_s();
    let v1 = put(s3, "vault", "doc").await;
    let head = s3
        .head_object()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode, Some(ObjectLockMode::Governance));
    let until = head.object_lock_retain_until_date.unwrap().secs();
    assert!(
        (before + 86_400 - 5..=now_s() + 86_400 + 5).contains(&until),
        "retain until {until}, written at {before}"
    );
    assert!(head.object_lock_legal_hold_status.is_none());

    assert_eq!(delete_version(s3, "vault", "doc", &v1, false).await, denied());
    // A delete marker on top is fine; the version stays readable by id.
    let marker = s3.delete_object().bucket("vault").key("doc").send().await.unwrap();
    assert_eq!(marker.delete_marker, Some(true));
    let body = s3
        .get_object()
        .bucket("vault")
        .key("doc")
        .version_id(&v1)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&body[..], b"locked bytes");
    // Removing the marker is a delete of an unprotected version.
    delete_version(s3, "vault", "doc", marker.version_id.as_deref().unwrap(), false)
        .await
        .unwrap();
    v1
}

/// Retention may be extended, not shortened or changed, without bypass;
/// then a legal hold, which beats even a bypass.
async fn retention_changes_then_a_legal_hold(s3: &Client, v1: &str) {
    // Retention may be extended, not shortened or changed, without bypass.
    let far = now_s() + 7 * 86_400;
    let set = |mode: ObjectLockRetentionMode, until: i64, bypass: bool| {
        s3.put_object_retention()
            .bucket("vault")
            .key("doc")
            .version_id(v1)
            .retention(retention(mode, until))
            .bypass_governance_retention(bypass)
            .send()
    };
    set(ObjectLockRetentionMode::Governance, far, false).await.unwrap();
    assert_err(
        set(ObjectLockRetentionMode::Governance, far - 3600, false).await,
        "AccessDenied",
        403,
    );
    assert_err(
        set(ObjectLockRetentionMode::Compliance, far, false).await,
        "AccessDenied",
        403,
    );
    set(ObjectLockRetentionMode::Governance, far - 3600, true)
        .await
        .unwrap();
    let r = s3
        .get_object_retention()
        .bucket("vault")
        .key("doc")
        .version_id(v1)
        .send()
        .await
        .unwrap()
        .retention
        .unwrap();
    assert_eq!(r.mode, Some(ObjectLockRetentionMode::Governance));
    assert_eq!(r.retain_until_date.unwrap().secs(), far - 3600);
    assert_err(
        set(ObjectLockRetentionMode::Governance, now_s() - 10, true).await,
        "InvalidArgument",
        400,
    );
    // Nor more than 200 years ahead: no tenant locks bytes forever.
    assert_err(
        set(ObjectLockRetentionMode::Governance, now_s() + 201 * 365 * 86_400, false).await,
        "InvalidArgument",
        400,
    );

    // A legal hold beats even a bypass; the default retention still runs.
    assert_err(
        s3.get_object_legal_hold().bucket("vault").key("doc").send().await,
        "NoSuchObjectLockConfiguration",
        404,
    );
    let hold = |on: bool| {
        s3.put_object_legal_hold()
            .bucket("vault")
            .key("doc")
            .version_id(v1)
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(if on {
                        ObjectLockLegalHoldStatus::On
                    } else {
                        ObjectLockLegalHoldStatus::Off
                    })
                    .build(),
            )
            .send()
    };
    hold(true).await.unwrap();
    assert_eq!(delete_version(s3, "vault", "doc", v1, true).await, denied());
}

/// COMPLIANCE from the request headers: no bypass, no shortening.
async fn compliance_gives_way_to_nothing(s3: &Client) {
    // COMPLIANCE from the request headers: no bypass, no shortening.
    let c_until = now_s() + 3600;
    let vc = s3
        .put_object()
        .bucket("vault")
        .key("audit")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(DateTime::from_secs(c_until))
        .body(ByteStream::from_static(b"audit"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();
    assert_eq!(delete_version(s3, "vault", "audit", &vc, true).await, denied());
    assert_err(
        s3.put_object_retention()
            .bucket("vault")
            .key("audit")
            .retention(retention(ObjectLockRetentionMode::Governance, c_until + 60))
            .bypass_governance_retention(true)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_err(
        s3.put_object_retention()
            .bucket("vault")
            .key("audit")
            .retention(ObjectLockRetention::builder().build())
            .bypass_governance_retention(true)
            .send()
            .await,
        "AccessDenied",
        403,
    );
}

/// The lock asked at a multipart upload's creation lands on the completed
/// object; DeleteObjects fails the protected entry alone.
async fn multipart_locks_and_delete_objects_per_entry(s3: &Client) {
    // Multipart: the lock asked at creation lands on the completed object.
    let up = s3
        .create_multipart_upload()
        .bucket("vault")
        .key("big")
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let id = up.upload_id.unwrap();
    let part = s3
        .upload_part()
        .bucket("vault")
        .key("big")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    let done = s3
        .complete_multipart_upload()
        .bucket("vault")
        .key("big")
        .upload_id(&id)
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
        .await
        .unwrap();
    let vbig = done.version_id.unwrap();
    let head = s3.head_object().bucket("vault").key("big").send().await.unwrap();
    assert_eq!(head.object_lock_legal_hold_status, Some(ObjectLockLegalHoldStatus::On));
    assert_eq!(
        head.object_lock_mode,
        Some(ObjectLockMode::Governance),
        "the default applies too"
    );

    // DeleteObjects: the protected entry fails alone.
    let free = put(s3, "vault", "free").await;
    s3.put_object_retention()
        .bucket("vault")
        .key("free")
        .retention(ObjectLockRetention::builder().build())
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    let ident = |k: &str, v: &str| ObjectIdentifier::builder().key(k).version_id(v).build().unwrap();
    let out = s3
        .delete_objects()
        .bucket("vault")
        .delete(
            Delete::builder()
                .objects(ident("big", &vbig))
                .objects(ident("free", &free))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().map(|d| d.key().unwrap().to_owned()).collect();
    assert_eq!(deleted, ["free"]);
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].key(), Some("big"));
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert_eq!(out.errors()[0].version_id(), Some(vbig.as_str()));
}
