//! Authentication and authorization: SigV4 failures, anonymous access, bucket
//! ownership between users, and the `herald user` CLI.

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn describe(o: &std::process::Output) -> String {
    format!(
        "status {}; stdout: {}; stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Extract `<Code>..</Code>` from an S3 XML error body.
fn xml_code(body: &str) -> Option<String> {
    let s = body.find("<Code>")? + "<Code>".len();
    let e = body[s..].find("</Code>")? + s;
    Some(body[s..e].to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_signature_does_not_match() {
    let srv = TestServer::start();
    srv.s3().create_bucket().bucket("authb").send().await.unwrap();
    let bad = srv.s3_as(ROOT_ACCESS_KEY, "definitely-not-the-right-secret-key-0000");
    assert_err(bad.list_buckets().send().await, "SignatureDoesNotMatch", 403);
    assert_err(
        bad.put_object()
            .bucket("authb")
            .key("k")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );
    // Nothing was written.
    assert!(list_all_keys(&srv.s3(), "authb", None).await.is_empty());
    // HEAD has no body; the status must still be 403.
    assert_status(bad.head_bucket().bucket("authb").send().await, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_access_key_is_invalid_access_key_id() {
    let srv = TestServer::start();
    let bad = srv.s3_as("AKIDOESNOTEXIST00000", "whatever-secret-whatever-secret-00000000");
    assert_err(bad.list_buckets().send().await, "InvalidAccessKeyId", 403);
    assert_err(
        bad.create_bucket().bucket("nope-bucket").send().await,
        "InvalidAccessKeyId",
        403,
    );
    assert!(
        bucket_names(&srv.s3()).await.is_empty(),
        "rejected CreateBucket must not create a bucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_denied() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("private").send().await.unwrap();
    s3.put_object()
        .bucket("private")
        .key("secret.txt")
        .body(ByteStream::from_static(b"s3cr3t"))
        .send()
        .await
        .unwrap();

    let r = raw_request(srv.addr(), "GET", "/private/secret.txt", &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous GET object: {}", r.body_str());
    assert_eq!(
        xml_code(&r.body_str()).as_deref(),
        Some("AccessDenied"),
        "body: {}",
        r.body_str()
    );
    assert!(!r.body_str().contains("s3cr3t"), "anonymous GET leaked the object");

    let r = raw_request(srv.addr(), "GET", "/private", &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous list: {}", r.body_str());
    assert_eq!(xml_code(&r.body_str()).as_deref(), Some("AccessDenied"));

    // An unsigned ListBuckets owns nothing: 200 with no bucket in it.
    let r = raw_request(srv.addr(), "GET", "/", &[], b"").unwrap();
    assert_eq!(r.status, 200, "anonymous ListBuckets: {}", r.body_str());
    assert!(
        !r.body_str().contains("<Name>"),
        "anonymous ListBuckets lists nothing: {}",
        r.body_str()
    );

    let r = raw_request(srv.addr(), "PUT", "/private/new.txt", &[], b"anonymous data").unwrap();
    assert_eq!(r.status, 403, "anonymous PUT: {}", r.body_str());
    let r = raw_request(srv.addr(), "DELETE", "/private/secret.txt", &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous DELETE: {}", r.body_str());
    let r = raw_request(srv.addr(), "PUT", "/anon-bucket", &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous CreateBucket: {}", r.body_str());

    // Garbage Authorization header.
    let r = raw_request(
        srv.addr(),
        "GET",
        "/private/secret.txt",
        &[("Authorization", "AWS4-HMAC-SHA256 garbage")],
        b"",
    )
    .unwrap();
    assert!(
        r.status == 400 || r.status == 403,
        "malformed Authorization header: status {} body {}",
        r.status,
        r.body_str()
    );

    // Store unchanged.
    assert_eq!(
        list_all_keys(&s3, "private", None).await,
        vec![("secret.txt".to_string(), 6)]
    );
    assert_eq!(bucket_names(&s3).await, vec!["private"]);
}

/// Creates users alice and bob, her bucket with `diary.txt` and his empty one; returns their clients.
async fn set_up_alice_and_bob(srv: &TestServer) -> (aws_sdk_s3::Client, aws_sdk_s3::Client) {
    let out = srv.create_user(
        "alice",
        "ALICEACCESSKEY000001",
        "alice-secret-key-0000000000000000000001",
    );
    assert!(
        stdout(&out).contains("ALICEACCESSKEY000001"),
        "`user create` should print the keys; got {}",
        describe(&out)
    );
    srv.create_user("bob", "BOBACCESSKEY00000002", "bob-secret-key-000000000000000000000002");
    let alice = srv.s3_as("ALICEACCESSKEY000001", "alice-secret-key-0000000000000000000001");
    let bob = srv.s3_as("BOBACCESSKEY00000002", "bob-secret-key-000000000000000000000002");

    alice
        .create_bucket()
        .bucket("alice-bkt")
        .send()
        .await
        .expect("alice creates a bucket");
    alice
        .put_object()
        .bucket("alice-bkt")
        .key("diary.txt")
        .body(ByteStream::from_static(b"dear diary"))
        .send()
        .await
        .expect("alice writes to her bucket");
    bob.create_bucket()
        .bucket("bob-bkt")
        .send()
        .await
        .expect("bob creates a bucket");
    (alice, bob)
}

/// Bob is denied every read, write and delete on alice-bkt, and cannot take its name.
async fn check_bob_is_denied_on_alices_bucket(bob: &aws_sdk_s3::Client) {
    assert_err(
        bob.list_objects_v2().bucket("alice-bkt").send().await,
        "AccessDenied",
        403,
    );
    assert_err(bob.list_objects().bucket("alice-bkt").send().await, "AccessDenied", 403);
    assert_err(
        bob.get_object().bucket("alice-bkt").key("diary.txt").send().await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob.get_object().bucket("alice-bkt").key("no-such-key").send().await,
        "AccessDenied",
        403,
    );
    assert_status(bob.head_object().bucket("alice-bkt").key("diary.txt").send().await, 403);
    assert_status(bob.head_bucket().bucket("alice-bkt").send().await, 403);
    assert_err(
        bob.put_object()
            .bucket("alice-bkt")
            .key("bob.txt")
            .body(ByteStream::from_static(b"hi"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob.delete_object().bucket("alice-bkt").key("diary.txt").send().await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob.delete_bucket().bucket("alice-bkt").send().await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob.copy_object()
            .bucket("bob-bkt")
            .key("stolen")
            .copy_source("alice-bkt/diary.txt")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    assert_err(
        bob.create_multipart_upload()
            .bucket("alice-bkt")
            .key("mpu")
            .send()
            .await,
        "AccessDenied",
        403,
    );
    // Bob cannot take the name either.
    let code = assert_status(bob.create_bucket().bucket("alice-bkt").send().await, 409);
    assert_eq!(code, "BucketAlreadyExists");
}

/// alice-bkt still holds just her diary, and bob-bkt is still empty.
async fn check_nothing_changed(alice: &aws_sdk_s3::Client, bob: &aws_sdk_s3::Client) {
    assert_eq!(
        list_all_keys(alice, "alice-bkt", None).await,
        vec![("diary.txt".to_string(), 10)]
    );
    let g = alice
        .get_object()
        .bucket("alice-bkt")
        .key("diary.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, b"dear diary");
    assert!(list_all_keys(bob, "bob-bkt", None).await.is_empty());
}

/// `herald user list` (through the admin socket) shows both users and no secret key.
fn check_user_list(srv: &TestServer) {
    let out = srv.cli(&["user", "list"]);
    assert!(out.status.success(), "user list failed: {}", describe(&out));
    let listed = stdout(&out);
    assert!(
        listed.contains("alice") && listed.contains("bob"),
        "user list: {listed}"
    );
    assert!(
        !listed.contains("alice-secret-key") && !listed.contains("bob-secret-key"),
        "user list must not print secret keys: {listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_isolated_by_bucket_ownership() {
    let srv = TestServer::start();
    let (alice, bob) = set_up_alice_and_bob(&srv).await;

    // ListBuckets is per owner.
    assert_eq!(bucket_names(&alice).await, vec!["alice-bkt"]);
    assert_eq!(bucket_names(&bob).await, vec!["bob-bkt"]);

    // Bob is denied everything on alice-bkt.
    check_bob_is_denied_on_alices_bucket(&bob).await;

    // Nothing changed for alice; bob's bucket got nothing.
    check_nothing_changed(&alice, &bob).await;

    // `herald user list` shows both users (server running -> via admin socket).
    check_user_list(&srv);

    // Users survive a restart.
    let mut srv = srv;
    srv.restart();
    let alice = srv.s3_as("ALICEACCESSKEY000001", "alice-secret-key-0000000000000000000001");
    assert_eq!(bucket_names(&alice).await, vec!["alice-bkt"], "alice after restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_rm_requires_no_buckets_and_revokes_keys() {
    let srv = TestServer::start();
    srv.create_user(
        "carol",
        "CAROLACCESSKEY000003",
        "carol-secret-key-0000000000000000000003",
    );
    let carol = srv.s3_as("CAROLACCESSKEY000003", "carol-secret-key-0000000000000000000003");
    carol.create_bucket().bucket("carol-bkt").send().await.unwrap();
    carol
        .put_object()
        .bucket("carol-bkt")
        .key("f")
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();

    // Duplicate user name is rejected.
    let dup = srv.cli(&[
        "user",
        "create",
        "carol",
        "--access-key",
        "CAROLACCESSKEY000099",
        "--secret-key",
        "carol-secret-key-0000000000000000000099",
    ]);
    assert!(
        !dup.status.success(),
        "creating a duplicate user must fail: {}",
        describe(&dup)
    );
    assert_err(
        srv.s3_as("CAROLACCESSKEY000099", "carol-secret-key-0000000000000000000099")
            .list_buckets()
            .send()
            .await,
        "InvalidAccessKeyId",
        403,
    );

    // An access key already owned by carol cannot be given to another user.
    let dup_key = srv.cli(&[
        "user",
        "create",
        "mallory",
        "--access-key",
        "CAROLACCESSKEY000003",
        "--secret-key",
        "mallory-secret-key-00000000000000000000",
    ]);
    assert!(
        !dup_key.status.success(),
        "reusing carol's access key for another user must fail: {}",
        describe(&dup_key)
    );
    assert_eq!(
        bucket_names(&carol).await,
        vec!["carol-bkt"],
        "carol's key still maps to carol"
    );
    assert_err(
        srv.s3_as("CAROLACCESSKEY000003", "mallory-secret-key-00000000000000000000")
            .list_buckets()
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );

    // rm refuses while carol owns a bucket.
    let rm = srv.cli(&["user", "rm", "carol"]);
    assert!(
        !rm.status.success(),
        "`user rm` of a user owning buckets must fail: {}",
        describe(&rm)
    );
    assert_eq!(
        bucket_names(&carol).await,
        vec!["carol-bkt"],
        "carol still works after refused rm"
    );
    let out = srv.cli(&["user", "list"]);
    assert!(stdout(&out).contains("carol"), "carol still listed: {}", describe(&out));

    // Empty and delete the bucket; then rm works.
    carol.delete_object().bucket("carol-bkt").key("f").send().await.unwrap();
    carol.delete_bucket().bucket("carol-bkt").send().await.unwrap();
    let rm = srv.cli(&["user", "rm", "carol"]);
    assert!(
        rm.status.success(),
        "`user rm` after deleting buckets: {}",
        describe(&rm)
    );

    assert_err(carol.list_buckets().send().await, "InvalidAccessKeyId", 403);
    let out = srv.cli(&["user", "list"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !stdout(&out).contains("carol"),
        "carol still listed after rm: {}",
        stdout(&out)
    );

    // rm of an unknown user fails.
    let rm = srv.cli(&["user", "rm", "nobody-here"]);
    assert!(
        !rm.status.success(),
        "`user rm` of unknown user must fail: {}",
        describe(&rm)
    );

    // Root still fine.
    srv.s3().list_buckets().send().await.expect("root unaffected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_created_offline_works_after_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(
        dir.path(),
        &[
            "user",
            "create",
            "dave",
            "--access-key",
            "DAVEACCESSKEY0000004",
            "--secret-key",
            "dave-secret-key-00000000000000000000004",
        ],
    );
    assert!(out.status.success(), "offline `user create`: {}", describe(&out));
    let out = run_cli(dir.path(), &["user", "list"]);
    assert!(
        out.status.success() && stdout(&out).contains("dave"),
        "offline `user list`: {}",
        describe(&out)
    );

    let srv = TestServer::start_in(dir.path());
    let dave = srv.s3_as("DAVEACCESSKEY0000004", "dave-secret-key-00000000000000000000004");
    dave.create_bucket()
        .bucket("dave-bkt")
        .send()
        .await
        .expect("offline-created user can use the server");
    assert_eq!(bucket_names(&dave).await, vec!["dave-bkt"]);
    assert_err(
        srv.s3_as("DAVEACCESSKEY0000004", "wrong-secret-00000000000000000000000000")
            .list_buckets()
            .send()
            .await,
        "SignatureDoesNotMatch",
        403,
    );
}

/// Replaces the body *after* signing (same length, different bytes), as a
/// man-in-the-middle would.
#[derive(Debug)]
struct TamperAfterSigning(&'static [u8]);

impl aws_sdk_s3::config::Intercept for TamperAfterSigning {
    fn name(&self) -> &'static str {
        "TamperAfterSigning"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _rc: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        *context.request_mut().body_mut() = aws_sdk_s3::primitives::SdkBody::from(self.0);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_tampered_after_signing_is_rejected() {
    let srv = TestServer::start();
    srv.s3().create_bucket().bucket("tamper").send().await.unwrap();
    // No flexible checksum header: only the signed x-amz-content-sha256
    // protects the payload.
    let conf = srv
        .s3()
        .config()
        .to_builder()
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    let res = s3
        .put_object()
        .bucket("tamper")
        .key("k")
        .body(ByteStream::from_static(b"original payload"))
        .customize()
        .interceptor(TamperAfterSigning(b"tampered payload"))
        .send()
        .await;
    if let Err(e) = &res
        && err_info(e).1 >= 500
    {
        eprintln!("server output:\n{}", srv.logs());
    }
    assert!(
        list_all_keys(&srv.s3(), "tamper", None).await.is_empty(),
        "tampered PUT was stored"
    );
    assert_err(res, "XAmzContentSHA256Mismatch", 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_tampered_after_signing_with_checksum_header_is_rejected() {
    let srv = TestServer::start();
    srv.s3().create_bucket().bucket("tamper").send().await.unwrap();
    // The SDK's default CRC32 checksum header is sent too: still a client
    // error (400), nothing stored.
    let res = srv
        .s3()
        .put_object()
        .bucket("tamper")
        .key("k2")
        .body(ByteStream::from_static(b"original payload"))
        .customize()
        .interceptor(TamperAfterSigning(b"tampered payload"))
        .send()
        .await;
    assert!(
        list_all_keys(&srv.s3(), "tamper", None).await.is_empty(),
        "tampered PUT was stored"
    );
    let code = assert_status(res, 400);
    assert!(
        ["XAmzContentSHA256Mismatch", "BadDigest", "XAmzContentChecksumMismatch"].contains(&code.as_str()),
        "tampered PUT with checksum header: unexpected code {code}"
    );
}

#[derive(Debug)]
struct SkewedClock(std::time::Duration);

impl aws_smithy_async::time::TimeSource for SkewedClock {
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now() - self.0
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_signed_an_hour_ago_is_too_skewed() {
    let srv = TestServer::start();
    let conf = srv
        .s3()
        .config()
        .to_builder()
        .time_source(SkewedClock(std::time::Duration::from_secs(3600)))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    // The SDK learns the server's clock from a response and corrects later
    // requests, so each check uses a fresh client.
    let s3 = aws_sdk_s3::Client::from_conf(conf.clone());
    assert_err(s3.list_buckets().send().await, "RequestTimeTooSkewed", 403);
    let s3 = aws_sdk_s3::Client::from_conf(conf);
    assert_err(
        s3.create_bucket().bucket("skewed").send().await,
        "RequestTimeTooSkewed",
        403,
    );
    assert!(bucket_names(&srv.s3()).await.is_empty());

    // Five minutes of skew is within S3's 15-minute window.
    let conf = srv
        .s3()
        .config()
        .to_builder()
        .time_source(SkewedClock(std::time::Duration::from_secs(300)))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
        .list_buckets()
        .send()
        .await
        .expect("5 minutes of skew is accepted");
}
