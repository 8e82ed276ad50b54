//! Another tenant trying to remove or shorten a lock.

use super::*;

/// Another tenant with a policy that lets it delete versions and set
/// retention still cannot bypass GOVERNANCE until it is granted
/// `s3:BypassGovernanceRetention`, and without grants touches nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tenants_cannot_bypass_or_shorten_locks() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB.0, BOB.1);
    let s3 = srv.s3();
    let bob = srv.s3_as(BOB.0, BOB.1);
    s3.create_bucket()
        .bucket("shared")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until = now_s() + 3600;
    let v = s3
        .put_object()
        .bucket("shared")
        .key("k")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(until))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap()
        .version_id
        .unwrap();

    no_grant_touches_no_lock(&bob, &v).await;

    retention_rights_without_the_bypass(&s3, &bob, &v, until).await;

    a_writer_cannot_lock_its_upload(&s3, &bob).await;

    the_granted_bypass_is_decided_per_key(&s3, &bob, &v).await;
}

/// No grant at all: every lock operation is refused.
async fn no_grant_touches_no_lock(bob: &Client, v: &str) {
    // No grant at all: every lock operation is refused.
    assert_status(bob.get_object_retention().bucket("shared").key("k").send().await, 403);
    assert_status(
        bob.put_object_legal_hold()
            .bucket("shared")
            .key("k")
            .legal_hold(
                ObjectLockLegalHold::builder()
                    .status(ObjectLockLegalHoldStatus::Off)
                    .build(),
            )
            .send()
            .await,
        403,
    );
    assert_status(
        bob.put_object_lock_configuration()
            .bucket("shared")
            .object_lock_configuration(governance_days(1))
            .send()
            .await,
        403,
    );
    assert_eq!(delete_version(bob, "shared", "k", v, true).await, denied());
}

/// A bucket policy allowing bob `actions` on every object of `shared`.
fn policy(actions: &[&str]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam:::user/bob"]},
            "Action": actions,
            "Resource": ["arn:aws:s3:::shared/*"],
        }]
    })
    .to_string()
}

/// Allowed to delete and set retention, yet the bypass is not bob's;
/// extending needs none.
async fn retention_rights_without_the_bypass(s3: &Client, bob: &Client, v: &str, until: i64) {
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy(&[
            "s3:DeleteObjectVersion",
            "s3:PutObjectRetention",
            "s3:GetObjectRetention",
        ]))
        .send()
        .await
        .unwrap();
    // Allowed to delete and set retention, yet the bypass is not his.
    let r = bob
        .get_object_retention()
        .bucket("shared")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.retention.unwrap().retain_until_date.unwrap().secs(), until);
    assert_eq!(delete_version(bob, "shared", "k", v, true).await, denied());
    assert_err(
        bob.put_object_retention()
            .bucket("shared")
            .key("k")
            .retention(retention(ObjectLockRetentionMode::Governance, until - 60))
            .bypass_governance_retention(true)
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // Extending needs no bypass.
    bob.put_object_retention()
        .bucket("shared")
        .key("k")
        .retention(retention(ObjectLockRetentionMode::Governance, until + 60))
        .send()
        .await
        .unwrap();
}

/// A writer allowed only s3:PutObject cannot make its upload undeletable
/// for the bucket's owner.
async fn a_writer_cannot_lock_its_upload(s3: &Client, bob: &Client) {
    // A writer allowed only s3:PutObject cannot make its upload
    // undeletable for the bucket's owner.
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy(&["s3:PutObject"]))
        .send()
        .await
        .unwrap();
    let bob_put = |mode: Option<ObjectLockMode>, hold: Option<ObjectLockLegalHoldStatus>| {
        let mut r = bob
            .put_object()
            .bucket("shared")
            .key("bobs")
            .body(ByteStream::from_static(b"b"))
            .set_object_lock_legal_hold_status(hold);
        if let Some(m) = mode {
            r = r
                .object_lock_mode(m)
                .object_lock_retain_until_date(DateTime::from_secs(now_s() + 3600));
        }
        r.send()
    };
    assert_err(
        bob_put(Some(ObjectLockMode::Compliance), None).await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob_put(None, Some(ObjectLockLegalHoldStatus::On)).await,
        "AccessDenied",
        403,
    );
    let plain = bob_put(None, None).await.unwrap().version_id.unwrap();
    delete_version(s3, "shared", "bobs", &plain, false).await.unwrap();
}

/// Granted s3:BypassGovernanceRetention (and no s3:GetObjectRetention):
/// the lock stays hidden from bob, and DeleteObjects decides the bypass
/// per key.
async fn the_granted_bypass_is_decided_per_key(s3: &Client, bob: &Client, v: &str) {
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy(&[
            "s3:GetObject",
            "s3:DeleteObjectVersion",
            "s3:BypassGovernanceRetention",
        ]))
        .send()
        .await
        .unwrap();
    // A reader of the bytes is not a reader of the lock (no
    // s3:GetObjectRetention now).
    let head = bob.head_object().bucket("shared").key("k").send().await.unwrap();
    assert!(head.object_lock_mode.is_none() && head.object_lock_retain_until_date.is_none());
    let head = s3.head_object().bucket("shared").key("k").send().await.unwrap();
    assert_eq!(head.object_lock_mode, Some(ObjectLockMode::Governance));
    assert_eq!(delete_version(bob, "shared", "k", v, false).await, denied());
    // The bypass is decided per key in DeleteObjects.
    let out = bob
        .delete_objects()
        .bucket("shared")
        .bypass_governance_retention(true)
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("k").version_id(v).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.errors().is_empty(), "{:?}", out.errors());
    assert_eq!(out.deleted().len(), 1);
}
