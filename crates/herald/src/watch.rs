//! `herald watch s3://BUCKET`: the live tail in a terminal. One line per
//! event as it happens (time, event, key, size, principal), or the raw
//! records with `--json`, read from the server's `ListenBucketNotification`
//! stream (any server that speaks it: Herald, MinIO). Credentials, region
//! and endpoint come from the usual `AWS_*` variables, as the aws CLI
//! takes them.

use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use clap::Args;
use herald_bench::signing::Signer;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// Longest line accepted from the server (a record with the most metadata
/// S3 allows is far smaller).
const MAX_LINE: usize = 1024 * 1024;

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// `s3://BUCKET`, or `s3://` for every bucket of yours.
    target: String,
    /// The S3 endpoint.
    #[arg(long, env = "AWS_ENDPOINT_URL", default_value = "http://127.0.0.1:9000")]
    endpoint_url: String,
    /// Events to show: `put`, `delete`, `get`, `tag` or full names
    /// (`s3:ObjectCreated:Copy`), comma-separated; all changes when absent.
    #[arg(long, value_delimiter = ',')]
    events: Vec<String>,
    /// Only keys that start with this.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Only keys that end with this.
    #[arg(long, default_value = "")]
    suffix: String,
    /// Print each record set as the server sends it (one JSON document per line).
    #[arg(long)]
    json: bool,
    /// The region requests are signed for (else `AWS_REGION`, `AWS_DEFAULT_REGION`, `us-east-1`).
    #[arg(long)]
    region: Option<String>,
}

/// An event shorthand as the server's name for it.
fn event_name(e: &str) -> String {
    match e.trim().to_ascii_lowercase().as_str() {
        "put" | "create" | "created" => "s3:ObjectCreated:*".into(),
        "delete" | "remove" | "removed" => "s3:ObjectRemoved:*".into(),
        "get" | "read" | "access" => "s3:ObjectAccessed:*".into(),
        "tag" | "tagging" => "s3:ObjectTagging:*".into(),
        _ => e.trim().to_owned(),
    }
}

/// The request target: `/<bucket>?events=...&prefix=...&suffix=...`.
fn target(args: &WatchArgs) -> anyhow::Result<String> {
    let bucket = args
        .target
        .strip_prefix("s3://")
        .with_context(|| format!("{:?} is not s3://BUCKET", args.target))?
        .trim_end_matches('/');
    if bucket.contains('/') {
        bail!(
            "watch a bucket (s3://BUCKET) and narrow it with --prefix, not {:?}",
            args.target
        );
    }
    let mut q = form_urlencoded::Serializer::new(String::new());
    if args.events.is_empty() {
        q.append_pair("events", "");
    }
    for e in &args.events {
        q.append_pair("events", &event_name(e));
    }
    q.append_pair("prefix", &args.prefix);
    q.append_pair("suffix", &args.suffix);
    // `form_urlencoded` writes spaces as `+`, which SigV4 would sign as a
    // literal plus: percent-encode them instead.
    Ok(format!("/{bucket}?{}", q.finish().replace('+', "%20")))
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let access = env("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID is not set")?;
    let secret = env("AWS_SECRET_ACCESS_KEY").context("AWS_SECRET_ACCESS_KEY is not set")?;
    let region = args
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".into());
    let signer = Signer::s3(&access, &secret, &region);
    let base = args.endpoint_url.trim_end_matches('/').to_owned();
    let target = target(&args)?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .context("TLS roots")?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    loop {
        match watch_once(&client, &signer, &base, &target, args.json).await? {
            Ended::CutOff(why) | Ended::Broken(why) => eprintln!("herald watch: {why}; reconnecting"),
            Ended::Closed => bail!("the server ended the stream"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How a stream ended.
enum Ended {
    /// The server cut the watcher off (it fell behind): reconnect.
    CutOff(String),
    /// The connection closed.
    Closed,
    /// The connection broke or went silent (no keep-alive line for
    /// [`SILENCE`]): reconnect.
    Broken(String),
}

/// Longest wait for any byte: the server sends a keep-alive line every
/// 10 s by default.
const SILENCE: Duration = Duration::from_secs(60);

async fn watch_once<C>(
    client: &Client<C, Empty<Bytes>>,
    signer: &Signer,
    base: &str,
    target: &str,
    json: bool,
) -> anyhow::Result<Ended>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let uri: http::Uri = format!("{base}{target}").parse().context("the endpoint URL")?;
    let host = uri
        .authority()
        .map(|a| a.to_string())
        .context("no host in the endpoint URL")?;
    let mut req = http::Request::get(uri)
        .header(http::header::HOST, host)
        .body(Empty::new())?;
    signer
        .sign(&mut req, b"", SystemTime::now())
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let resp = client
        .request(req)
        .await
        .with_context(|| format!("connecting to {base}"))?;
    let status = resp.status();
    let mut body = resp.into_body();
    if !status.is_success() {
        let text = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        bail!("{status}: {}", String::from_utf8_lossy(&text).trim());
    }
    let mut buf = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(SILENCE, body.frame()).await {
            Err(_) => return Ok(Ended::Broken(format!("nothing from the server for {SILENCE:?}"))),
            Ok(None) => return Ok(Ended::Closed),
            Ok(Some(Err(e))) => return Ok(Ended::Broken(format!("the stream broke: {e}"))),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        while let Some(i) = buf.iter().position(|b| *b == b'\n') {
            let line = buf.split_to(i + 1);
            if let Some(ended) = show(&line[..i], json) {
                return Ok(ended);
            }
        }
        if buf.len() > MAX_LINE {
            bail!("a line of more than {MAX_LINE} bytes from the server");
        }
    }
}

/// Prints one line of the stream; `Some` when it says the stream ends.
fn show(line: &[u8], json: bool) -> Option<Ended> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return None; // keep-alive
    }
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        eprintln!("herald watch: not JSON: {text}");
        return None;
    };
    if let Some(e) = v.get("Error") {
        return Some(Ended::CutOff(
            e["Message"].as_str().unwrap_or("cut off by the server").to_owned(),
        ));
    }
    if json {
        println!("{text}");
        return None;
    }
    for r in v["Records"].as_array().into_iter().flatten() {
        println!("{}", summary(r));
    }
    None
}

/// `time  event  bucket/key  size  principal`.
fn summary(r: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    // Keys are anyone's bytes: control characters (terminal escapes) are
    // shown escaped, never sent to the terminal.
    let key: String = herald_bench::notify::receiver::url_decode(r["s3"]["object"]["key"].as_str().unwrap_or(""))
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    let size = r["s3"]["object"]["size"]
        .as_u64()
        .map_or_else(|| "-".to_owned(), |n| n.to_string());
    format!(
        "{}  {}  {}/{}  {}  {}",
        s(&r["eventTime"]),
        s(&r["eventName"]),
        s(&r["s3"]["bucket"]["name"]),
        key,
        size,
        s(&r["userIdentity"]["principalId"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_and_targets() {
        let args = |t: &str, events: &[&str]| WatchArgs {
            target: t.into(),
            endpoint_url: String::new(),
            events: events.iter().map(|e| e.to_string()).collect(),
            prefix: "a b/".into(),
            suffix: String::new(),
            json: false,
            region: None,
        };
        assert_eq!(
            target(&args("s3://photos", &["put", "s3:ObjectRemoved:Delete"])).unwrap(),
            "/photos?events=s3%3AObjectCreated%3A*&events=s3%3AObjectRemoved%3ADelete&prefix=a%20b%2F&suffix="
        );
        assert_eq!(
            target(&args("s3://", &[])).unwrap(),
            "/?events=&prefix=a%20b%2F&suffix="
        );
        assert!(target(&args("photos", &[])).is_err());
        assert!(target(&args("s3://photos/dir", &[])).is_err());
    }

    #[test]
    fn a_record_becomes_one_line() {
        let r = serde_json::json!({"eventTime": "2026-12-07T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "alice"},
            "s3": {"bucket": {"name": "photos"}, "object": {"key": "img/a+b%2Bc.png", "size": 7}}});
        assert_eq!(
            summary(&r),
            "2026-12-07T10:00:00.000Z  ObjectCreated:Put  photos/img/a b+c.png  7  alice"
        );
        let evil = serde_json::json!({"s3": {"object": {"key": "a%1B%5B2Jb"}}});
        assert!(summary(&evil).contains("a\\u{1b}[2Jb"), "{}", summary(&evil));
    }
}
