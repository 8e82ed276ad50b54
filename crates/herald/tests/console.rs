//! The web console: the whole operator journey in headless Chromium
//! (tests/console/console.mjs, driven by Playwright), and, over raw HTTP,
//! what a hostile browser or script can try against its sessions.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herald_testkit::*;

const ALICE: (&str, &str) = ("AKCONSOLEALICE", "alice-secret-alice-secret-alice-secret");
const BOB: (&str, &str) = ("AKCONSOLEBOB", "bob-secret-bob-secret-bob-secret-bob");

fn browser_test_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// Node, Chromium and playwright-core, or a panic that names what is
/// missing and how to get it (`.ci/run` installs all three).
fn browser_tools() -> (String, PathBuf) {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        chromium.exists(),
        "the console's browser test needs Chromium at {} (Debian: apt-get install chromium)",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "the console's browser test needs Node.js (`node`) on PATH"
    );
    let module = browser_test_dir().join("node_modules/playwright-core");
    assert!(
        module.exists(),
        "the console's browser test needs playwright-core: npm ci --prefix {}",
        browser_test_dir().display()
    );
    ("node".to_owned(), chromium)
}

fn start_with_users() -> TestServer {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    srv
}

/// Sign-in, a bucket, a topic and its notification, an upload seen in the
/// live view and in the topic's counters, replay, a test event, a queue,
/// sign-out; then a second user who sees none of it.
#[test]
fn operator_journey_in_a_real_browser() {
    let (node, chromium) = browser_tools();
    let srv = start_with_users();
    let mut cmd = Command::new(node);
    cmd.current_dir(browser_test_dir())
        .arg("console.mjs")
        .env("HERALD_URL", srv.url())
        .env("ALICE_KEY", ALICE.0)
        .env("ALICE_SECRET", ALICE.1)
        .env("BOB_KEY", BOB.0)
        .env("BOB_SECRET", BOB.1)
        .env("CHROMIUM", chromium)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Ok(dir) = std::env::var("HERALD_CONSOLE_SCREENSHOTS") {
        cmd.env("SCREENSHOTS", dir);
    }
    let mut child = cmd.spawn().expect("run node");
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().expect("reap node");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut out = String::new();
    let mut err = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    println!("{out}");
    assert!(
        status.success() && out.contains("all console checks passed"),
        "browser test failed ({status}):\n{out}\n{err}\nserver log:\n{}",
        srv.logs()
    );
}

/// Signs in over raw HTTP; answers the session cookie and CSRF token.
fn sign_in(srv: &TestServer, key: &str, secret: &str) -> (String, String) {
    let body = format!(r#"{{"accessKey":"{key}","secretKey":"{secret}"}}"#);
    let r = raw_request(
        srv.addr(),
        "POST",
        "/console/api/session",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    let cookie = r.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"));
    assert!(
        !cookie.contains("Secure"),
        "no Secure flag over plain HTTP (the browser would drop it)"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let v: serde_json::Value = serde_json::from_str(&r.body_str()).unwrap();
    (cookie, v["csrf"].as_str().unwrap().to_owned())
}

fn get(srv: &TestServer, target: &str, headers: &[(&str, &str)]) -> RawResponse {
    raw_request(srv.addr(), "GET", target, headers, b"").unwrap()
}

fn get_as(srv: &TestServer, cookie: &str, target: &str, extra: &[(&str, &str)]) -> RawResponse {
    let mut h = vec![("Cookie", cookie)];
    h.extend_from_slice(extra);
    get(srv, target, &h)
}

#[test]
fn the_app_is_served_with_a_strict_policy() {
    let srv = TestServer::start();
    let r = get(&srv, "/console", &[]);
    assert_eq!(r.status, 308);
    assert_eq!(r.header("location"), Some("/console/"));
    let r = get(&srv, "/console/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("<title>Herald console</title>"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(get(&srv, "/console/app.js", &[]).status, 200);
    assert_eq!(get(&srv, "/console/../etc/passwd", &[]).status, 404);
    assert_eq!(get(&srv, "/console/api/overview", &[]).status, 401);
}

#[test]
fn hostile_requests_are_refused() {
    let srv = start_with_users();
    let (cookie, csrf) = sign_in(&srv, ALICE.0, ALICE.1);
    // No token, a wrong token, a forged cookie.
    assert_eq!(get_as(&srv, &cookie, "/console/api/overview", &[]).status, 403);
    assert_eq!(
        get_as(&srv, &cookie, "/console/api/overview", &[("x-herald-csrf", "00")]).status,
        403
    );
    assert_eq!(
        get_as(&srv, &cookie, "/console/api/overview", &[("x-herald-csrf", &csrf)]).status,
        200
    );
    let forged = format!("herald_console={}", "ab".repeat(32));
    assert_eq!(
        get(
            &srv,
            "/console/api/overview",
            &[("Cookie", &forged), ("x-herald-csrf", &csrf)]
        )
        .status,
        401
    );
    // Another site's page, by Origin or by Fetch Metadata.
    let r = get_as(
        &srv,
        &cookie,
        "/console/api/overview",
        &[("x-herald-csrf", &csrf), ("Origin", "http://evil.example")],
    );
    assert_eq!(r.status, 403, "{}", r.body_str());
    let r = get_as(
        &srv,
        &cookie,
        "/console/api/overview",
        &[("x-herald-csrf", &csrf), ("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(r.status, 403);
    // Sign-in must be JSON (a cross-site form cannot send it).
    let r = raw_request(
        srv.addr(),
        "POST",
        "/console/api/session",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"accessKey=a&secretKey=b",
    )
    .unwrap();
    assert_eq!(r.status, 415);
    // An SNS body over the proxy's limit is refused before it is read whole.
    let big = vec![b'a'; 2 * 1024 * 1024];
    let r = raw_request(
        srv.addr(),
        "POST",
        "/console/api/sns",
        &[
            ("Cookie", &cookie),
            ("x-herald-csrf", &csrf),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        &big,
    )
    .unwrap();
    assert_eq!(r.status, 413, "{}", r.body_str());
    // A request carrying its own credentials is an S3 request, never the
    // console's: the session does not sign it.
    let r = get_as(
        &srv,
        &cookie,
        "/console/api/s3",
        &[
            ("x-herald-csrf", &csrf),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=AKROOT/x, Signature=0"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body_str());
    assert!(!r.body_str().contains("ListAllMyBucketsResult"));
    // A presigned query is dropped from a proxied call: the call is alice's.
    let r = get_as(
        &srv,
        &cookie,
        "/console/api/s3?x-id=ListBuckets",
        &[("x-herald-csrf", &csrf)],
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(r.body_str().contains("<ID>alice</ID>"), "{}", r.body_str());
    // The answer of a proxied call carries no cookie of its own and is sandboxed.
    assert!(r.header("set-cookie").is_none());
    assert!(r.header("content-security-policy").unwrap().contains("sandbox"));
}

/// A tenant's object opened in a browser must never run as the console's
/// origin: S3 answers are sandboxed (opaque origin) while the console is on.
#[test]
fn tenant_objects_are_sandboxed_away_from_the_console() {
    let srv = start_with_users();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bob = srv.s3_as(BOB.0, BOB.1);
    rt.block_on(async {
        bob.create_bucket().bucket("bob-pages").send().await.unwrap();
        bob.put_object()
            .bucket("bob-pages")
            .key("evil.html")
            .content_type("text/html")
            .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
            .body(b"<script>fetch('/console/api/session')</script>".to_vec().into())
            .send()
            .await
            .unwrap();
    });
    let r = get(&srv, "/bob-pages/evil.html", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    // No service worker can be fetched from a bucket while the console is on.
    let sw = get(&srv, "/bob-pages/evil.html", &[("Service-Worker", "script")]);
    assert_eq!(sw.status, 403, "{}", sw.body_str());
    let csp = r.header("content-security-policy").expect("a sandbox");
    assert!(
        csp.starts_with("sandbox") && !csp.contains("allow-same-origin"),
        "{csp}"
    );
    // Without the console there is no origin to protect, and no header.
    let off = TestServer::start_with_args(&["--no-console"]);
    let r = get(&off, "/", &[]);
    assert!(r.header("content-security-policy").is_none());
}

/// Keys with `.` and `..` segments reach exactly their object.
#[test]
fn object_keys_with_dot_segments_are_not_normalized() {
    let srv = start_with_users();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    rt.block_on(async {
        alice.create_bucket().bucket("dots").send().await.unwrap();
        for (key, body) in [("a/../b.txt", "dotted"), ("b.txt", "plain")] {
            let body = body.as_bytes().to_vec();
            alice
                .put_object()
                .bucket("dots")
                .key(key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
    });
    let (cookie, _) = sign_in(&srv, ALICE.0, ALICE.1);
    let r = get_as(&srv, &cookie, "/console/api/s3/dots?herald-key=a%2F..%2Fb.txt", &[]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_eq!(r.body_str(), "dotted");
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename*=UTF-8''b.txt")
    );
}

#[test]
fn two_session_cookies_are_refused() {
    let srv = start_with_users();
    let (alice, csrf) = sign_in(&srv, ALICE.0, ALICE.1);
    let (bob, _) = sign_in(&srv, BOB.0, BOB.1);
    let both = format!("{bob}; {alice}");
    let r = get(
        &srv,
        "/console/api/session",
        &[("Cookie", &both), ("x-herald-csrf", &csrf)],
    );
    assert_eq!(r.status, 401, "a tossed cookie makes the request ambiguous: refused");
}

#[test]
fn sign_in_is_throttled_after_repeated_failures() {
    let srv = start_with_users();
    let wrong = format!(r#"{{"accessKey":"{}","secretKey":"nope"}}"#, ALICE.0);
    let headers = [("Content-Type", "application/json")];
    for _ in 0..10 {
        let r = raw_request(srv.addr(), "POST", "/console/api/session", &headers, wrong.as_bytes()).unwrap();
        assert_eq!(r.status, 403);
    }
    let r = raw_request(srv.addr(), "POST", "/console/api/session", &headers, wrong.as_bytes()).unwrap();
    assert_eq!(r.status, 429, "the 11th guess waits: {}", r.body_str());
    // From this address even the right pair waits (a guess is a guess);
    // another key from here is not held up yet. (That the key's owner
    // elsewhere is never held up is checked in herald-console's unit tests.)
    let right = format!(r#"{{"accessKey":"{}","secretKey":"{}"}}"#, ALICE.0, ALICE.1);
    let r = raw_request(srv.addr(), "POST", "/console/api/session", &headers, right.as_bytes()).unwrap();
    assert_eq!(r.status, 429, "{}", r.body_str());
    let bob = format!(r#"{{"accessKey":"{}","secretKey":"{}"}}"#, BOB.0, BOB.1);
    let r = raw_request(srv.addr(), "POST", "/console/api/session", &headers, bob.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(r.header("clear-site-data").is_some_and(|v| v.contains("storage")));
}

#[test]
fn removing_a_user_ends_their_sessions() {
    let srv = TestServer::start();
    srv.create_user("carol", "AKCONSOLECAROL", "carol-secret-carol-secret-carol");
    let (cookie, csrf) = sign_in(&srv, "AKCONSOLECAROL", "carol-secret-carol-secret-carol");
    let h = [("Cookie", cookie.as_str()), ("x-herald-csrf", csrf.as_str())];
    assert_eq!(get(&srv, "/console/api/overview", &h).status, 200);
    let out = srv.cli(&["user", "rm", "carol"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&srv, "/console/api/overview", &h).status != 401 {
        assert!(Instant::now() < deadline, "the removed user's session still works");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_console_can_be_turned_off() {
    let srv = TestServer::start_with_args(&["--no-console"]);
    let r = get(&srv, "/console/", &[]);
    assert_ne!(r.status, 200);
    assert!(!r.body_str().contains("Herald console"));
    assert!(r.body_str().contains("<Error>"), "S3 answers instead: {}", r.body_str());
}

#[test]
fn the_session_cookie_is_secure_over_https() {
    let tmp = tempfile::tempdir().unwrap();
    let srv = TlsServer::start(tmp.path(), &[]);
    let body = format!(r#"{{"accessKey":"{ROOT_ACCESS_KEY}","secretKey":"{ROOT_SECRET_KEY}"}}"#);
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "-o", "/dev/null", "--cacert"])
        .arg(&srv.cert)
        .args(["-H", "Content-Type: application/json", "--data", &body])
        .arg(format!("https://127.0.0.1:{}/console/api/session", srv.port))
        .output()
        .expect("curl is needed");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        head.starts_with("http/1.1 200") || head.starts_with("http/2 200"),
        "{head}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cookie = head.lines().find(|l| l.starts_with("set-cookie:")).expect("a cookie");
    assert!(
        cookie.contains("; secure") && cookie.contains("httponly") && cookie.contains("samesite=strict"),
        "{cookie}"
    );
}

/// Behind a proxy that ends TLS, Herald sees plain HTTP: the operator
/// asks for the Secure flag, and sign-in and sign-out both carry it.
#[test]
fn the_session_cookie_can_be_forced_secure_behind_a_tls_proxy() {
    let srv = TestServer::start_with_args(&["--console-secure-cookie"]);
    let body = format!(r#"{{"accessKey":"{ROOT_ACCESS_KEY}","secretKey":"{ROOT_SECRET_KEY}"}}"#);
    let headers = [("Content-Type", "application/json")];
    let r = raw_request(srv.addr(), "POST", "/console/api/session", &headers, body.as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.body_str());
    let cookie = r.header("set-cookie").expect("a session cookie").to_owned();
    assert!(cookie.contains("; Secure") && cookie.contains("HttpOnly"), "{cookie}");
    let csrf = serde_json::from_str::<serde_json::Value>(&r.body_str()).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = cookie.split(';').next().unwrap().to_owned();
    let out = raw_request(
        srv.addr(),
        "DELETE",
        "/console/api/session",
        &[("Cookie", &session), ("x-herald-csrf", &csrf)],
        b"",
    )
    .unwrap();
    assert_eq!(out.status, 200, "{}", out.body_str());
    let cleared = out.header("set-cookie").expect("the cookie cleared").to_owned();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Secure"),
        "{cleared}"
    );
}

/// A console call is one request in the S3 port's metrics (the signed
/// call it makes in-process is not counted again).
#[test]
fn a_console_call_counts_once_in_the_metrics() {
    let srv = start_with_users();
    let (cookie, csrf) = sign_in(&srv, ALICE.0, ALICE.1);
    let ok_count = || {
        let text = get(&srv, "/metrics", &[]).body_str();
        text.lines()
            .find(|l| l.starts_with("herald_http_responses_total{class=\"2xx\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("the 2xx counter")
    };
    let before = ok_count();
    let r = get_as(&srv, &cookie, "/console/api/s3", &[("x-herald-csrf", &csrf)]);
    assert_eq!(r.status, 200);
    let after = ok_count();
    // The first /metrics request itself, and the console call.
    assert_eq!(after - before, 2.0);
}
