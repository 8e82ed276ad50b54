//! Bucket-notification configurations as XML, `/metrics` parsing, the
//! `herald topic` CLI, and raw SQS JSON requests.

use serde_json::Value;
use std::net::SocketAddr;

use crate::*;

// ---------------------------------------------------------------------------
// S3 notification configuration as raw XML (Ceph extensions).

pub fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn s3_raw(srv: &TestServer, access: &str, secret: &str, method: &str, target: &str, body: &[u8]) -> RawResponse {
    use md5::Digest;
    let md5 = b64(&md5::Md5::digest(body));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if !body.is_empty() {
        headers.push(("content-md5", &md5));
        headers.push(("content-type", "application/xml"));
    }
    signed_request(
        Signer {
            addr: srv.addr(),
            service: "s3",
            access,
            secret,
        },
        method,
        target,
        &headers,
        body,
    )
}

/// PUT /bucket?notification with this XML, as root.
pub fn put_notification_xml(srv: &TestServer, bucket: &str, xml: &str) -> RawResponse {
    put_notification_xml_as(srv, crate::ROOT_ACCESS_KEY, crate::ROOT_SECRET_KEY, bucket, xml)
}

pub fn put_notification_xml_as(srv: &TestServer, access: &str, secret: &str, bucket: &str, xml: &str) -> RawResponse {
    s3_raw(
        srv,
        access,
        secret,
        "PUT",
        &format!("/{bucket}?notification"),
        xml.as_bytes(),
    )
}

/// Like `put_notification_xml` but panics unless the answer is 200.
pub fn must_put_notification_xml(srv: &TestServer, bucket: &str, xml: &str) {
    let r = put_notification_xml(srv, bucket, xml);
    assert_eq!(
        r.status,
        200,
        "PUT ?notification failed: {} {}\nXML: {xml}",
        r.status,
        r.body_str()
    );
}

pub fn get_notification_xml(srv: &TestServer, bucket: &str) -> RawResponse {
    s3_raw(
        srv,
        crate::ROOT_ACCESS_KEY,
        crate::ROOT_SECRET_KEY,
        "GET",
        &format!("/{bucket}?notification"),
        b"",
    )
}

/// One `<TopicConfiguration>`; `inner_filter` is the content of `<Filter>`
/// (None: no filter); `events` empty means none given (= all events).
pub fn topic_config_xml(id: &str, arn: &str, events: &[&str], inner_filter: Option<&str>) -> String {
    let mut s = format!(
        "<TopicConfiguration><Id>{}</Id><Topic>{}</Topic>",
        xml_escape(id),
        xml_escape(arn)
    );
    for e in events {
        s.push_str(&format!("<Event>{e}</Event>"));
    }
    if let Some(f) = inner_filter {
        s.push_str(&format!("<Filter>{f}</Filter>"));
    }
    s.push_str("</TopicConfiguration>");
    s
}

pub fn notification_xml(configs: &[String]) -> String {
    format!(
        "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{}</NotificationConfiguration>",
        configs.concat()
    )
}

// ---------------------------------------------------------------------------
// Metrics.

/// The detailed metrics (per-topic series live on `--metrics-listen`, not
/// on the S3 port).
pub fn metrics_text(srv: &TestServer) -> String {
    let r = raw_request(srv.metrics_addr(), "GET", "/metrics", &[], b"").expect("GET /metrics");
    assert_eq!(r.status, 200, "GET /metrics: {}", r.body_str());
    r.body_str()
}

/// Value of metric `name`: with `topic` = Some(t), the sum over lines
/// labelled `topic="t"`; with None, the unlabelled line (or the sum of the
/// lines without a topic label). None if no such line exists.
pub fn metric(text: &str, name: &str, topic: Option<&str>) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.find('}') else { continue };
            (&r[..end], r[end + 1..].trim())
        } else if rest.starts_with(' ') {
            ("", rest.trim())
        } else {
            continue;
        };
        let value: f64 = match value.split_whitespace().next().and_then(|v| v.parse().ok()) {
            Some(v) => v,
            None => continue,
        };
        let matches = match topic {
            Some(t) => labels.contains(&format!("topic=\"{t}\"")),
            None => !labels.contains("topic="),
        };
        if matches {
            found = Some(found.unwrap_or(0.0) + value);
        }
    }
    found
}

// ---------------------------------------------------------------------------
// CLI.

/// `herald topic ARGS... --data-dir D`; panics unless it succeeds; stdout.
pub fn topic_cli(srv: &TestServer, args: &[&str]) -> String {
    let mut full = vec!["topic"];
    full.extend_from_slice(args);
    let out = srv.cli(&full);
    assert!(
        out.status.success(),
        "herald {} failed ({}):\nstdout: {}\nstderr: {}",
        full.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn topic_cli_json(srv: &TestServer, args: &[&str]) -> Value {
    let out = topic_cli(srv, args);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("herald topic {args:?} printed non-JSON ({e}): {out}"))
}

/// `herald topic stats NAME --user U` -> `entries`.
pub fn topic_stats_entries(srv: &TestServer, name: &str, user: &str) -> u64 {
    let v = topic_cli_json(srv, &["stats", name, "--user", user]);
    v.get("entries")
        .and_then(|e| e.as_u64())
        .unwrap_or_else(|| panic!("herald topic stats {name}: no numeric `entries` in {v}"))
}

/// A root-signed SQS JSON-protocol POST of `body` for `target`
/// (`AmazonSQS.<Action>`), sent as is, so tests can send malformed JSON.
pub fn sqs_json_request(addr: SocketAddr, target: &str, body: &[u8]) -> RawResponse {
    signed_request(
        Signer {
            addr,
            service: "sqs",
            access: crate::ROOT_ACCESS_KEY,
            secret: crate::ROOT_SECRET_KEY,
        },
        "POST",
        "/",
        &[("content-type", "application/x-amz-json-1.0"), ("x-amz-target", target)],
        body,
    )
}
