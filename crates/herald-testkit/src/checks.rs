//! Assertions on SDK errors, test data (digests, random bytes), listing
//! helpers, and the `aws` CLI and boto3 as a user runs them.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use md5::{Digest, Md5};
use std::process::{Command, Output, Stdio};

use crate::*;

// ---------------------------------------------------------------------------
// Error helpers.

/// (error code, HTTP status) of a failed SDK call; panics if the call failed
/// without an HTTP response (e.g. connection error).
pub fn err_info<E, R>(err: &SdkError<E, R>) -> (String, u16)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    let status = match err.raw_response() {
        Some(r) => r.status_u16(),
        None => panic!("expected an HTTP error response, got {err:?}"),
    };
    let code = match err {
        SdkError::ServiceError(se) => se.err().code().unwrap_or("").to_string(),
        other => other.code().unwrap_or("").to_string(),
    };
    (code, status)
}

pub trait HasStatus {
    fn status_u16(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_u16(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Assert that `res` failed with the given code and HTTP status.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug, E, R>(res: Result<T, SdkError<E, R>>, code: &str, status: u16)
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    match res {
        Ok(v) => panic!("expected error {code} ({status}), got success: {v:?}"),
        Err(e) => {
            let (c, s) = err_info(&e);
            assert_eq!(
                (c.as_str(), s),
                (code, status),
                "expected error {code} ({status}), got {c:?} ({s}); full error: {e:?}"
            );
        }
    }
}

/// Assert that `res` failed with the given HTTP status (any code).
#[track_caller]
pub fn assert_status<T: std::fmt::Debug, E, R>(res: Result<T, SdkError<E, R>>, status: u16) -> String
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + HasStatus,
{
    match res {
        Ok(v) => panic!("expected HTTP {status}, got success: {v:?}"),
        Err(e) => {
            let (c, s) = err_info(&e);
            assert_eq!(
                s, status,
                "expected HTTP {status}, got {s} (code {c:?}); full error: {e:?}"
            );
            c
        }
    }
}

// ---------------------------------------------------------------------------
// Misc helpers.

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// `"<hex md5>"`, the ETag S3 gives a single-part object.
pub fn quoted_md5(data: &[u8]) -> String {
    format!("\"{}\"", md5_hex(data))
}

/// Multipart ETag: `"<md5 of the concatenated binary part md5s>-N"`.
pub fn multipart_etag(parts: &[&[u8]]) -> String {
    let mut cat = Vec::new();
    for p in parts {
        cat.extend_from_slice(&Md5::digest(p));
    }
    format!("\"{}-{}\"", md5_hex(&cat), parts.len())
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// Deterministic pseudo-random bytes from a seed (splitmix64).
pub fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Collect a GetObject body.
pub async fn body_bytes(out: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Vec<u8> {
    out.body
        .collect()
        .await
        .expect("read object body")
        .into_bytes()
        .to_vec()
}

/// All keys of a bucket (ListObjectsV2, paginated), in listing order.
pub async fn list_all_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: Option<&str>) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = s3.list_objects_v2().bucket(bucket);
        if let Some(p) = prefix {
            req = req.prefix(p);
        }
        if let Some(t) = &token {
            req = req.continuation_token(t);
        }
        let resp = req.send().await.expect("ListObjectsV2");
        for o in resp.contents() {
            out.push((o.key().unwrap().to_string(), o.size().unwrap_or(-1)));
        }
        if resp.is_truncated() == Some(true) {
            token = Some(
                resp.next_continuation_token()
                    .expect("truncated listing without NextContinuationToken")
                    .to_string(),
            );
        } else {
            return out;
        }
    }
}

pub async fn bucket_names(s3: &aws_sdk_s3::Client) -> Vec<String> {
    let resp = s3.list_buckets().send().await.expect("ListBuckets");
    let mut names: Vec<String> = resp
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(String::from))
        .collect();
    names.sort();
    names
}

/// Asserts that /health answers 200 right now: the server survived
/// whatever the test just did to it.
pub fn assert_healthy(srv: &TestServer) {
    let r = raw_request(srv.addr(), "GET", "/health", &[], b"").expect("GET /health answers");
    assert_eq!(r.status, 200, "/health: {}", r.body_str());
}

/// The `aws` CLI pointed at `srv` as root, with nothing taken from the
/// machine's AWS configuration (no profile, no metadata service, no pager).
pub fn aws_cli_command(srv: &TestServer) -> Command {
    let mut c = Command::new("aws");
    c.arg("--endpoint-url")
        .arg(srv.url())
        .env("AWS_ACCESS_KEY_ID", ROOT_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET_KEY)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null());
    c
}

/// Runs the aws CLI in `cwd` (for `file://` arguments), asserts that it
/// succeeded, and returns its standard output.
pub fn aws_cli_run(srv: &TestServer, cwd: &std::path::Path, args: &[&str]) -> String {
    let out = aws_cli_command(srv).current_dir(cwd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "aws {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a boto3 script (`python3 -c`) against `srv`: `T_URL` and the given
/// variables set, nothing taken from the machine's AWS configuration (no
/// profile, no metadata service). Panics, with both outputs and the
/// server's log, unless the script exits 0.
pub fn run_boto3(srv: &TestServer, script: &str, vars: &[(&str, &str)]) -> Output {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("T_URL", srv.url())
        .envs(vars.iter().copied())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); install python3 and `pip install boto3`"));
    assert!(
        out.status.success(),
        "boto3 script failed:\nstdout: {}\nstderr: {}\nserver:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    out
}
