//! The front door under attack (issue 12, items 6 to 10 and the
//! connection, signature, metrics, body-limit and file-mode rules): each
//! test reproduces what a hostile client did, asserts the refusal, and
//! that `/health` still answers afterwards.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, UriPathNormalizationMode,
    sign,
};
use herald_testkit::*;
use hmac::{KeyInit, Mac};

const TENANT: &str = "zqtenant";
const TENANT_KEY: &str = "ZQTENANTACCESSKEY001";
const TENANT_SECRET: &str = "zqTenantSecretKey/0123456789abcdefghijkl";

/// Reads from `stream` until the server closes it; `Err` if it is still
/// open when the read timeout passes.
fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Result<Vec<u8>, String> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(got),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(format!("still open after {wait:?} ({} bytes read)", got.len()));
            }
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Connections.

#[test]
fn slow_and_silent_clients_are_disconnected_after_the_header_timeout() {
    let srv = TestServer::start_with_args(&["--header-read-timeout-secs", "2"]);
    let mut slow = TcpStream::connect(srv.addr()).unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut silent = TcpStream::connect(srv.addr()).unwrap();
    // Generous: the server must close them on its own, well before this.
    let wait = Duration::from_secs(60);
    read_until_closed(&mut slow, wait).expect("a client that never finishes its headers is disconnected");
    read_until_closed(&mut silent, wait).expect("a client that never sends anything is disconnected");
    assert_healthy(&srv);
}

/// A request head that announces a body, then nothing: on every API the
/// request fails after the stall timeout and the connection is closed, so
/// such clients cannot hold the connection slots. With a cap of 3, three
/// stalled clients would otherwise lock everybody out.
#[test]
fn a_body_that_never_comes_frees_its_connection_after_the_stall_timeout() {
    let srv = TestServer::start_with_args(&["--stall-timeout-secs", "2", "--max-connections", "3"]);
    let s3 = srv.s3();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(s3.create_bucket().bucket("stalls").send()).unwrap();
    let heads = [
        // S3 PutObject (anonymous: refused only once the body is read, or
        // not; either way the slot must come back).
        "PUT /stalls/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
        // SQS query protocol, read whole before authentication.
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n",
        // SQS JSON, chunked and never finished.
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.ListQueues\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":",
    ];
    let mut stalled: Vec<TcpStream> = heads
        .iter()
        .map(|h| {
            let mut c = TcpStream::connect(srv.addr()).unwrap();
            c.write_all(h.as_bytes()).unwrap();
            c
        })
        .collect();
    for (c, head) in stalled.iter_mut().zip(heads) {
        let got = read_until_closed(c, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{head:?}: {e}"));
        let answer = String::from_utf8_lossy(&got);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
            "{head:?} got {answer}"
        );
        if head.contains("x-www-form-urlencoded") {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
            assert!(answer.contains("RequestTimeout"), "{answer}");
        }
    }
    // The three slots are free again.
    assert_healthy(&srv);
}

/// A client that asks for an object and never reads the answer loses its
/// connection once the server's writes have waited the stall timeout.
#[test]
fn a_client_that_stops_reading_is_disconnected_after_the_stall_timeout() {
    let srv = TestServer::start_with_args(&["--stall-timeout-secs", "2", "--max-connections", "2"]);
    let s3 = srv.s3();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(s3.create_bucket().bucket("big").send()).unwrap();
    let body = vec![7u8; 32 * 1024 * 1024];
    rt.block_on(
        s3.put_object()
            .bucket("big")
            .key("o")
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send(),
    )
    .unwrap();
    let url = rt
        .block_on(
            s3.get_object()
                .bucket("big")
                .key("o")
                .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap()),
        )
        .unwrap();
    let target = url.uri().trim_start_matches(&srv.url()).to_string();
    let mut readers: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(srv.addr()).unwrap();
            // 32 MiB is more than the kernel buffers of both ends hold.
            c.write_all(format!("GET {target} HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr()).as_bytes())
                .unwrap();
            c
        })
        .collect();
    // Neither reads. Both slots are taken, then given back by the server.
    std::thread::sleep(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let r = raw_request(srv.addr(), "GET", "/health", &[], b"").expect("served once a slot is free");
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(60));
    // And the stalled readers were cut off (reading now ends before 32 MiB).
    for c in readers.iter_mut() {
        let got = read_until_closed(c, Duration::from_secs(60)).expect("closed by the server");
        assert!(got.len() < 32 * 1024 * 1024, "the whole object was sent");
    }
}

#[test]
fn the_connection_cap_makes_new_clients_wait_instead_of_dropping_them() {
    let srv = TestServer::start_with_args(&["--max-connections", "4"]);
    // Four kept-alive connections, each proven served (so each holds a slot).
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(srv.addr()).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "{}",
                String::from_utf8_lossy(&buf[..n])
            );
            s
        })
        .collect();
    // A fifth connects (the kernel queues it) but is not served while four are open.
    let mut fifth = TcpStream::connect(srv.addr()).unwrap();
    fifth
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    fifth.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 1024];
    match fifth.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!("the fifth connection was served (or dropped) while four were open: {other:?}"),
    }
    // One leaves: the fifth is served, not dropped.
    drop(held.pop());
    let answer = read_until_closed(&mut fifth, Duration::from_secs(30)).expect("the fifth is served");
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "the waiting client got: {}",
        String::from_utf8_lossy(&answer)
    );
    drop(held);
    assert_healthy(&srv);
}

// ---------------------------------------------------------------------------
// Signatures.

fn http_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(f).unwrap()
}

/// `GET /` (ListBuckets) signed with SigV2 (HMAC-SHA1) as root, dated `date`.
fn sigv2_list_buckets(srv: &TestServer, date: &str) -> RawResponse {
    let string_to_sign = format!("GET\n\n\n{date}\n/");
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(ROOT_SECRET_KEY.as_bytes()).unwrap();
    mac.update(string_to_sign.as_bytes());
    let signature = b64(&mac.finalize().into_bytes());
    let auth = format!("AWS {ROOT_ACCESS_KEY}:{signature}");
    raw_request(srv.addr(), "GET", "/", &[("Date", date), ("Authorization", &auth)], b"").unwrap()
}

fn assert_error(r: &RawResponse, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.body_str());
    assert!(
        r.body_str().contains(&format!("<Code>{code}</Code>")),
        "want {code}: {}",
        r.body_str()
    );
    assert!(r.body_str().contains("<RequestId>"), "{}", r.body_str());
}

#[test]
fn sigv2_is_off_by_default_and_a_replayed_one_is_refused_when_on() {
    let old = "Mon, 01 Jan 2001 00:00:00 GMT";
    let fresh = http_date(SystemTime::now());

    let srv = TestServer::start();
    let r = sigv2_list_buckets(&srv, old);
    assert_error(&r, 403, "AccessDenied");
    assert!(r.body_str().contains("SigV2 is disabled"), "{}", r.body_str());
    assert_error(&sigv2_list_buckets(&srv, &fresh), 403, "AccessDenied");
    assert_healthy(&srv);

    let srv = TestServer::start_with_args(&["--allow-sigv2"]);
    assert_error(&sigv2_list_buckets(&srv, old), 403, "RequestTimeTooSkewed");
    let ok = sigv2_list_buckets(&srv, &fresh);
    assert_eq!(
        ok.status,
        200,
        "a fresh SigV2 request with --allow-sigv2: {}",
        ok.body_str()
    );
    assert!(ok.body_str().contains("ListAllMyBucketsResult"), "{}", ok.body_str());
    assert_healthy(&srv);
}

/// `method target` presigned (query-string SigV4) for `service` as root,
/// valid for `expires` seconds; returns the target with the signature.
fn presign(addr: SocketAddr, service: &str, method: &str, target: &str, expires: Duration) -> String {
    let identity = aws_credential_types::Credentials::new(ROOT_ACCESS_KEY, ROOT_SECRET_KEY, None, None, "t").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires);
    if service == "s3" {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("http://{addr}{target}");
    let host = addr.to_string();
    let body = if service == "s3" {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(b"")
    };
    let signable = SignableRequest::new(method, &uri, [("host", host.as_str())].into_iter(), body).unwrap();
    let (instr, _) = sign(signable, &params).unwrap().into_parts();
    let mut out = target.to_owned();
    for (k, v) in instr.params() {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(v.as_bytes()));
    }
    out
}

#[test]
fn presigned_urls_valid_longer_than_a_week_are_refused() {
    let srv = TestServer::start();
    let forever = Duration::from_secs(999_999_999);

    let target = presign(srv.addr(), "s3", "GET", "/", forever);
    assert!(target.contains("X-Amz-Expires=999999999"), "{target}");
    let r = raw_request(srv.addr(), "GET", &target, &[], b"").unwrap();
    assert_error(&r, 400, "AuthorizationQueryParametersError");
    // The same URL valid for a week is served: the cap, not presigning, is refused.
    let week = presign(srv.addr(), "s3", "GET", "/", Duration::from_secs(604_800));
    let r = raw_request(srv.addr(), "GET", &week, &[], b"").unwrap();
    assert_eq!(r.status, 200, "a week-long presigned URL: {}", r.body_str());

    let target = presign(
        srv.addr(),
        "sqs",
        "GET",
        "/?Action=ListQueues&Version=2012-11-05",
        forever,
    );
    let r = raw_request(srv.addr(), "GET", &target, &[], b"").unwrap();
    assert_eq!(r.status, 400, "{}", r.body_str());
    assert!(
        r.body_str().contains("AuthorizationQueryParametersError"),
        "{}",
        r.body_str()
    );
    let week = presign(
        srv.addr(),
        "sqs",
        "GET",
        "/?Action=ListQueues&Version=2012-11-05",
        Duration::from_secs(604_800),
    );
    let r = raw_request(srv.addr(), "GET", &week, &[], b"").unwrap();
    assert_eq!(r.status, 200, "a week-long presigned SQS URL: {}", r.body_str());
    assert_healthy(&srv);
}

// ---------------------------------------------------------------------------
// A tenant with a queue, a persistent topic and a bucket whose events go to
// both, and one object put: names to look for, and files on disk.

const QUEUE: &str = "zq-queue-7";
const TOPIC: &str = "zq-topic-7";
const BUCKET: &str = "zq-bucket-7";

fn tenant_call(srv: &TestServer, service: &str, form: &str) -> RawResponse {
    let r = signed_request(
        Signer {
            addr: srv.addr(),
            service,
            access: TENANT_KEY,
            secret: TENANT_SECRET,
        },
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    assert_eq!(r.status, 200, "{service} {form}: {}", r.body_str());
    r
}

fn populate(srv: &TestServer) {
    srv.create_user(TENANT, TENANT_KEY, TENANT_SECRET);
    tenant_call(
        srv,
        "sqs",
        &format!("Action=CreateQueue&QueueName={QUEUE}&Version=2012-11-05"),
    );
    let created = tenant_call(
        srv,
        "sns",
        &format!(
            "Action=CreateTopic&Name={TOPIC}\
             &Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=http%3A%2F%2F127.0.0.1%3A9%2F\
             &Attributes.entry.2.key=persistent&Attributes.entry.2.value=true"
        ),
    );
    let topic_arn = xml_first(&created.body_str(), "TopicArn").expect("TopicArn");
    let r = s3_raw(srv, TENANT_KEY, TENANT_SECRET, "PUT", &format!("/{BUCKET}"), b"");
    assert_eq!(r.status, 200, "create bucket: {}", r.body_str());
    let queue_arn = format!("arn:aws:sqs:{REGION}:{TENANT}:{QUEUE}");
    let xml = format!(
        "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
         <TopicConfiguration><Id>t</Id><Topic>{topic_arn}</Topic><Event>s3:ObjectCreated:*</Event></TopicConfiguration>\
         <QueueConfiguration><Id>q</Id><Queue>{queue_arn}</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>\
         </NotificationConfiguration>"
    );
    let r = put_notification_xml_as(srv, TENANT_KEY, TENANT_SECRET, BUCKET, &xml);
    assert_eq!(r.status, 200, "notification configuration: {}", r.body_str());
    let r = s3_raw(srv, TENANT_KEY, TENANT_SECRET, "PUT", &format!("/{BUCKET}/k"), b"hello");
    assert_eq!(r.status, 200, "put object: {}", r.body_str());
}

// ---------------------------------------------------------------------------
// Metrics.

#[test]
fn public_metrics_name_no_tenant_and_the_metrics_port_has_the_detail() {
    let srv = TestServer::start();
    populate(&srv);
    let public = raw_request(srv.addr(), "GET", "/metrics", &[], b"").unwrap();
    assert_eq!(public.status, 200);
    let public = public.body_str();
    assert!(public.contains("pubsub_event_triggered"), "{public}");
    for name in [TENANT, TOPIC, QUEUE, BUCKET, "tenant=", "topic="] {
        assert!(
            !public.contains(name),
            "the S3 port's /metrics shows {name:?}:\n{public}"
        );
    }
    let detailed = metrics_text(&srv);
    for name in [TENANT, TOPIC, QUEUE] {
        assert!(detailed.contains(name), "--metrics-listen lacks {name:?}:\n{detailed}");
    }
    // Ceph's persistent queue gauges: the total on both ports, the
    // topic's own series only on the operator's, both equal to what
    // `herald topic stats` counts (the endpoint is down: the event waits).
    let waiting = topic_stats_entries(&srv, TOPIC, TENANT);
    assert!(waiting >= 1, "the PUT's event waits in the topic's queue");
    let value = |text: &str, series: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    };
    assert_eq!(value(&public, "persistent_topic_len"), Some(waiting), "{public}");
    let labelled = format!("persistent_topic_len{{tenant=\"{TENANT}\",topic=\"{TOPIC}\"}}");
    assert_eq!(value(&detailed, &labelled), Some(waiting), "{detailed}");
    let size = value(
        &detailed,
        &format!("persistent_topic_size{{tenant=\"{TENANT}\",topic=\"{TOPIC}\"}}"),
    );
    assert!(size.is_some_and(|b| b > 0), "{detailed}");
    assert_healthy(&srv);
}

// ---------------------------------------------------------------------------
// Files on disk.

/// Every file and directory under `dir` whose mode lets anyone but the
/// owner in, and the number of entries seen.
fn loose_entries(dir: &Path) -> (Vec<String>, usize) {
    let mut loose = Vec::new();
    let mut seen = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        seen += 1;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            loose.push(format!("{} {mode:o}", p.display()));
        }
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    (loose, seen)
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The first file under `dir` whose name starts with `prefix`.
fn find_file(dir: &Path, prefix: &str) -> Option<std::path::PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).ok()?.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if e.file_name().to_string_lossy().starts_with(prefix) {
                return Some(path);
            }
        }
    }
    None
}

#[test]
fn data_dir_and_secrets_are_owner_only_from_the_start() {
    let srv = TestServer::start_with_sftp();
    populate(&srv);
    let dir = srv.data_dir();
    assert_eq!(mode(dir), 0o700, "data dir");
    assert_eq!(mode(&dir.join("meta.redb")), 0o600, "meta.redb holds every secret key");
    assert_eq!(mode(&dir.join("ssh_host_ed25519_key")), 0o600, "SFTP host key");
    let sock = dir.join("admin.sock");
    assert!(std::fs::symlink_metadata(&sock).unwrap().file_type().is_socket());
    assert_eq!(mode(&sock), 0o600, "admin socket");
    let log_segment = find_file(&dir.join("log"), "seg-").expect("a delivery-log file after a persistent event");
    assert_eq!(mode(&log_segment), 0o600, "{}", log_segment.display());
    let queue_segment = find_file(&dir.join("queues"), "seg-").expect("a queue segment after an event");
    assert_eq!(mode(&queue_segment), 0o600, "{}", queue_segment.display());
    let (loose, seen) = loose_entries(dir);
    assert!(seen > 10, "walked only {seen} entries");
    assert!(loose.is_empty(), "readable by others: {loose:#?}");
    assert_healthy(&srv);
}

#[test]
fn a_data_dir_left_open_to_others_is_tightened_at_start() {
    let mut srv = TestServer::start();
    let dir = srv.data_dir().to_path_buf();
    srv.terminate();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.join("meta.redb"), std::fs::Permissions::from_mode(0o644)).unwrap();
    srv.restart();
    assert_eq!(mode(&dir), 0o700, "data dir after restart");
    assert_eq!(mode(&dir.join("meta.redb")), 0o600, "meta.redb after restart");
    assert!(srv.logs().contains("tightened permissions"), "{}", srv.logs());
    assert_healthy(&srv);
}

// ---------------------------------------------------------------------------
// Request bodies.

/// Sends a request head declaring a 100 MB body and a few bytes of it, and
/// reads the answer while the rest is never sent.
fn oversized(srv: &TestServer, headers: &str) -> String {
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Length: 100000000\r\n{headers}\r\n",
        srv.addr()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(b"Action=SendMessage&").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("RequestEntityTooLarge") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "no answer while the body was still coming ({e}); got: {}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn an_oversized_sns_or_sqs_body_is_refused_before_it_is_read() {
    let srv = TestServer::start();
    let date = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]"))
        .unwrap();
    let auth = |service: &str| {
        format!(
            "Authorization: AWS4-HMAC-SHA256 Credential={ROOT_ACCESS_KEY}/{date}/{REGION}/{service}/aws4_request, \
             SignedHeaders=host, Signature={}\r\n",
            "0".repeat(64)
        )
    };
    let cases = [
        (
            "SQS JSON",
            format!(
                "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n{}",
                auth("sqs")
            ),
        ),
        (
            "SQS query",
            format!("Content-Type: application/x-www-form-urlencoded\r\n{}", auth("sqs")),
        ),
        (
            "SNS query",
            format!("Content-Type: application/x-www-form-urlencoded\r\n{}", auth("sns")),
        ),
        (
            "unsigned",
            "Content-Type: application/x-www-form-urlencoded\r\n".to_owned(),
        ),
    ];
    for (what, headers) in cases {
        let answer = oversized(&srv, &headers);
        assert!(answer.starts_with("HTTP/1.1 413"), "{what}: {answer}");
        assert!(answer.contains("RequestEntityTooLarge"), "{what}: {answer}");
    }
    assert_healthy(&srv);
}
