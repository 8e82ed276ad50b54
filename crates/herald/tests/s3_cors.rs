//! CORS: the configuration through the `aws` CLI, a browser's preflight
//! `OPTIONS` and the `Access-Control-*` headers on ordinary answers (raw
//! HTTP, as a browser sends them), and who may change the rules.

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use herald_testkit::*;

const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");

fn options(srv: &TestServer, path: &str, headers: &[(&str, &str)]) -> RawResponse {
    raw_request(srv.addr(), "OPTIONS", path, headers, b"").expect("OPTIONS answers")
}

/// A GET with an `Origin`, as a browser sends it.
fn get_with_origin(srv: &TestServer, path: &str, origin: &str) -> RawResponse {
    raw_request(srv.addr(), "GET", path, &[("Origin", origin)], b"").expect("GET answers")
}

/// With no rules a preflight is refused; then the CLI writes rules the SDK reads back.
async fn check_no_rules_then_write_them_with_the_cli(srv: &TestServer, s3: &aws_sdk_s3::Client) {
    // No rules yet: 404 for the configuration, 403 for a preflight.
    assert_status(s3.get_bucket_cors().bucket("site").send().await, 404);
    let r = options(
        srv,
        "/site/a.txt",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body_str());

    // The CLI writes the rules, the SDK reads them back.
    let out = aws_cli_command(srv)
        .args([
            "s3api",
            "put-bucket-cors",
            "--bucket",
            "site",
            "--cors-configuration",
            r#"{"CORSRules":[{"AllowedOrigins":["https://*.example"],"AllowedMethods":["GET","PUT"],"AllowedHeaders":["x-amz-meta-*","content-type"],"ExposeHeaders":["ETag"],"MaxAgeSeconds":600}]}"#,
        ])
        .output()
        .expect("the aws CLI runs");
    assert!(out.status.success(), "{out:?}");
    let got = s3.get_bucket_cors().bucket("site").send().await.unwrap();
    let rule = &got.cors_rules()[0];
    assert_eq!(rule.allowed_methods(), ["GET", "PUT"]);
    assert_eq!(rule.allowed_origins(), ["https://*.example"]);
    assert_eq!(rule.max_age_seconds(), Some(600));
}

/// Preflights: the one the rule allows, those it does not, and an OPTIONS that is none.
fn check_preflights(srv: &TestServer) {
    // A preflight the rule allows.
    let r = options(
        srv,
        "/site/a.txt",
        &[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type, x-amz-meta-owner"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-amz-meta-owner")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    // Another origin, a method or a header the rule does not allow: 403.
    for headers in [
        vec![
            ("Origin", "https://evil.test"),
            ("Access-Control-Request-Method", "GET"),
        ],
        vec![
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "DELETE"),
        ],
        vec![
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "authorization"),
        ],
    ] {
        let r = options(srv, "/site/a.txt", &headers);
        assert_eq!(r.status, 403, "{headers:?}: {}", r.body_str());
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
    // Not a preflight at all.
    assert_eq!(
        options(srv, "/site/a.txt", &[("Origin", "https://app.example")]).status,
        400
    );
}

/// Ordinary answers to an allowed origin carry the headers, errors included.
async fn check_answers_are_decorated(srv: &TestServer, s3: &aws_sdk_s3::Client) {
    // Ordinary requests with an Origin get the headers, errors included
    // (a page must be able to read its 404).
    s3.put_object()
        .bucket("site")
        .key("a.txt")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"hi"))
        .send()
        .await
        .unwrap();
    let r = get_with_origin(srv, "/site/a.txt", "https://app.example");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    assert_eq!(r.header("access-control-expose-headers"), Some("ETag"));
    let r = get_with_origin(srv, "/site/missing.txt", "https://app.example");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
    let r = get_with_origin(srv, "/site/a.txt", "https://evil.test");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
}

/// Bob may neither put nor delete the rules; the owner's bad rules are refused.
async fn check_who_may_change_the_rules(srv: &TestServer, s3: &aws_sdk_s3::Client) {
    // Only the owner (or a policy) changes the rules; bad rules are refused.
    let bob = srv.s3_as(BOB.0, BOB.1);
    let wide_open = CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .allowed_methods("GET")
                .allowed_origins("*")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_status(
        bob.put_bucket_cors()
            .bucket("site")
            .cors_configuration(wide_open)
            .send()
            .await,
        403,
    );
    assert_status(bob.delete_bucket_cors().bucket("site").send().await, 403);
    let bad = CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .allowed_methods("PATCH")
                .allowed_origins("*")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_err(
        s3.put_bucket_cors().bucket("site").cors_configuration(bad).send().await,
        "MalformedXML",
        400,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_rules_answer_preflights_and_decorate_answers() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB.0, BOB.1);
    let s3 = srv.s3();
    s3.create_bucket()
        .bucket("site")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();

    check_no_rules_then_write_them_with_the_cli(&srv, &s3).await;
    check_preflights(&srv);
    check_answers_are_decorated(&srv, &s3).await;
    check_who_may_change_the_rules(&srv, &s3).await;

    s3.delete_bucket_cors().bucket("site").send().await.unwrap();
    assert_status(s3.get_bucket_cors().bucket("site").send().await, 404);
    let r = get_with_origin(&srv, "/site/a.txt", "https://app.example");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
}
