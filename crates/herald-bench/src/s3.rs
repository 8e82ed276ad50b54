//! A minimal path-style S3 client: just the calls the bench makes, signed with
//! [`crate::signing`] (`aws-sigv4`) and sent over a pooled hyper HTTP/1.1 client.
//!
//! Connection reuse matters here: without keep-alive every operation would
//! also measure a TCP handshake, which is not what an S3 client in production
//! does. The legacy hyper-util client pools idle connections per host, so with
//! N workers the bench settles on N persistent connections.

use std::fmt;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::encode;
use crate::signing::Signer;

#[cfg(test)]
mod tests;

/// How much of an error response body is kept for the error message.
const ERROR_BODY_LIMIT: usize = 2048;

/// How much of a successful response body [`S3Client::call`] and
/// [`S3Client::sns`] return (setup answers are small XML documents).
pub const KEPT_BODY_LIMIT: usize = 1024 * 1024;

/// The content type of SNS query-API requests.
pub const SNS_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The content type of SQS requests in the AWS JSON 1.0 protocol.
pub const SQS_CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// How much of an SQS answer [`S3Client::sqs`] keeps: a ReceiveMessage of 10
/// messages of up to 1 MiB each, with JSON escaping, stays below it. A
/// truncated answer fails to parse and counts as an error.
pub const SQS_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Why a single operation failed. Every variant counts as one error in the
/// report; the first one is also printed so misconfiguration is obvious.
#[derive(Debug)]
pub enum OpError {
    /// The server answered with a non-2xx status.
    Status { status: StatusCode, body: String },
    /// Connecting, sending or receiving failed.
    Transport(String),
    /// The operation did not finish within `--timeout`.
    Timeout(Duration),
    /// A GET returned fewer/more bytes than were uploaded.
    WrongLength { expected: u64, got: u64 },
    /// A 2xx answer that does not say what the protocol requires (e.g. an
    /// SQS response that is not the expected JSON document).
    Protocol(String),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Status { status, body } => {
                write!(f, "HTTP {status}")?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            OpError::Transport(e) => write!(f, "transport error: {e}"),
            OpError::Timeout(d) => write!(f, "timed out after {d:?}"),
            OpError::WrongLength { expected, got } => {
                write!(f, "body length mismatch: expected {expected} bytes, got {got}")
            }
            OpError::Protocol(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

impl std::error::Error for OpError {}

/// A path-style S3 endpoint plus credentials. Cheap to share behind an `Arc`;
/// the underlying hyper client is itself a handle to a shared pool.
pub struct S3Client {
    http: Client<HttpConnector, Full<Bytes>>,
    signer: Signer,
    /// Same credentials, scoped to service `sns` (topic API, same endpoint).
    sns_signer: Signer,
    /// Same credentials, scoped to service `sqs` (queue API, same endpoint).
    sqs_signer: Signer,
    /// `host[:port]` exactly as sent in the `Host` header (and signed).
    authority: String,
}

impl S3Client {
    /// Builds a client for `endpoint` (`http://host:port`). TLS is not
    /// supported on purpose: the bench targets loopback/LAN servers and a TLS
    /// stack would bloat the `herald` binary for no measurement benefit.
    pub fn new(
        endpoint: &str,
        access_key: &str,
        secret_key: &str,
        region: &str,
        pool_size: usize,
    ) -> anyhow::Result<Self> {
        let uri: Uri = endpoint
            .parse()
            .with_context(|| format!("invalid --endpoint {endpoint:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => bail!("--endpoint {endpoint:?}: https is not supported by the bench client; use http"),
            _ => bail!("--endpoint {endpoint:?} must look like http://host:port"),
        }
        let authority = uri
            .authority()
            .with_context(|| format!("--endpoint {endpoint:?} has no host"))?
            .as_str()
            .to_owned();
        if !matches!(uri.path(), "" | "/") {
            bail!("--endpoint {endpoint:?} must not contain a path (requests are path-style)");
        }

        let mut connector = HttpConnector::new();
        // Small requests would otherwise wait on Nagle's algorithm.
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(pool_size.max(1))
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(S3Client {
            http,
            signer: Signer::s3(access_key, secret_key, region),
            sns_signer: Signer::api(access_key, secret_key, region, "sns"),
            sqs_signer: Signer::api(access_key, secret_key, region, "sqs"),
            authority,
        })
    }

    /// Creates `bucket`, treating "already exists" (409, e.g.
    /// BucketAlreadyOwnedByYou) as success so reruns work.
    pub async fn ensure_bucket(&self, bucket: &str, region: &str) -> anyhow::Result<()> {
        // Outside us-east-1 real S3 insists on a location constraint body.
        let body = if region == "us-east-1" {
            Bytes::new()
        } else {
            Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
            ))
        };
        match self.send(Method::PUT, &format!("/{bucket}"), body).await {
            Ok(_) => Ok(()),
            Err(OpError::Status { status, .. }) if status == StatusCode::CONFLICT => Ok(()),
            Err(e) => bail!("creating bucket {bucket:?} failed: {e}"),
        }
    }

    /// Uploads `body` to `bucket/key`; returns the bytes sent.
    pub async fn put_object(&self, bucket: &str, key: &str, body: Bytes) -> Result<u64, OpError> {
        let len = body.len() as u64;
        self.send(Method::PUT, &format!("/{bucket}/{key}"), body).await?;
        Ok(len)
    }

    /// Downloads `bucket/key`, checking that exactly `expected_len` bytes
    /// arrive so a truncated response cannot inflate throughput.
    pub async fn get_object(&self, bucket: &str, key: &str, expected_len: u64) -> Result<u64, OpError> {
        let got = self
            .send(Method::GET, &format!("/{bucket}/{key}"), Bytes::new())
            .await?;
        if got != expected_len {
            return Err(OpError::WrongLength {
                expected: expected_len,
                got,
            });
        }
        Ok(got)
    }

    /// Signs and sends one S3 request. On success the response body is
    /// drained (so the connection can be reused) and its length returned; on
    /// a non-2xx status the start of the body is kept for the error message.
    pub async fn send(&self, method: Method, path: &str, body: Bytes) -> Result<u64, OpError> {
        let request = RequestToSend {
            method,
            path,
            query: &[],
            headers: &[],
            body,
        };
        self.exchange(&self.signer, request, 0).await.map(|(len, _)| len)
    }

    /// Like [`send`](Self::send) with raw (unencoded) query parameters —
    /// e.g. `[("notification", "")]` for `?notification` — and returning the
    /// response body (up to [`KEPT_BODY_LIMIT`] bytes). For setup calls, not
    /// the hot path.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Bytes, OpError> {
        let request = RequestToSend {
            method,
            path,
            query,
            headers: &[],
            body,
        };
        self.exchange(&self.signer, request, KEPT_BODY_LIMIT)
            .await
            .map(|(_, body)| body)
    }

    /// Sends a form-encoded SNS query-API request (`POST /`, signed with
    /// service `sns` over host, content-type and x-amz-date, payload hash =
    /// SHA-256 of the body) and returns the response body (the XML result).
    pub async fn sns(&self, form_body: String) -> Result<Bytes, OpError> {
        let headers = [("content-type", SNS_CONTENT_TYPE)];
        let request = RequestToSend::api_post(&headers, Bytes::from(form_body));
        self.exchange(&self.sns_signer, request, KEPT_BODY_LIMIT)
            .await
            .map(|(_, body)| body)
    }

    /// Sends one SQS request in the AWS JSON 1.0 protocol: `POST /` with
    /// `X-Amz-Target: AmazonSQS.<operation>` and the JSON `body`, signed with
    /// service `sqs` over host, content-type, x-amz-date and x-amz-target
    /// (payload hash = SHA-256 of the body). Returns the response body (up to
    /// [`SQS_BODY_LIMIT`] bytes).
    pub async fn sqs(&self, operation: &str, body: Vec<u8>) -> Result<Bytes, OpError> {
        let target = format!("AmazonSQS.{operation}");
        let headers = [("content-type", SQS_CONTENT_TYPE), ("x-amz-target", target.as_str())];
        let request = RequestToSend::api_post(&headers, Bytes::from(body));
        self.exchange(&self.sqs_signer, request, SQS_BODY_LIMIT)
            .await
            .map(|(_, body)| body)
    }

    /// Builds the wire form of `request`: the encoded path and query, `host`
    /// and the call's own headers, signed with `signer` as of `time`, then
    /// `content-length` (not signed).
    fn build(
        &self,
        signer: &Signer,
        request: RequestToSend<'_>,
        time: SystemTime,
    ) -> Result<Request<Full<Bytes>>, OpError> {
        let mut uri = format!("http://{}{}", self.authority, encode::path(request.path));
        for (i, (k, v)) in request.query.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&encode::component(k));
            if !v.is_empty() {
                uri.push('=');
                uri.push_str(&encode::component(v));
            }
        }
        let mut builder = Request::builder()
            .method(request.method)
            .uri(uri)
            .header(header::HOST, &self.authority);
        for &(name, value) in request.headers {
            builder = builder.header(name, value);
        }
        let mut wire = builder
            .body(Full::new(request.body.clone()))
            .map_err(|e| OpError::Transport(e.to_string()))?;
        signer
            .sign(&mut wire, &request.body, time)
            .map_err(|e| OpError::Transport(format!("signing the request failed: {e}")))?;
        wire.headers_mut()
            .insert(header::CONTENT_LENGTH, request.body.len().into());
        Ok(wire)
    }

    /// Signs (with `signer`) and sends one request. Returns the response body
    /// length, plus its first `keep` bytes (0: the body is only counted).
    async fn exchange(
        &self,
        signer: &Signer,
        request: RequestToSend<'_>,
        keep: usize,
    ) -> Result<(u64, Bytes), OpError> {
        let request = self.build(signer, request, SystemTime::now())?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|e| OpError::Transport(error_chain(&e)))?;
        let status = response.status();
        let mut body = response.into_body();

        if status.is_success() {
            let mut total = 0u64;
            let mut kept = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| OpError::Transport(error_chain(&e)))?;
                if let Some(data) = frame.data_ref() {
                    total += data.len() as u64;
                    if keep > 0 {
                        let room = keep.saturating_sub(kept.len());
                        kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
            }
            Ok((total, Bytes::from(kept)))
        } else {
            let mut kept = Vec::new();
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    let room = ERROR_BODY_LIMIT.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
            }
            Err(OpError::Status {
                status,
                body: String::from_utf8_lossy(&kept).trim().to_owned(),
            })
        }
    }
}

/// One call as the caller describes it — before the client adds `host`, the
/// signature and `content-length` — so [`S3Client::exchange`] does not take
/// each part as a separate argument.
struct RequestToSend<'a> {
    method: Method,
    /// Raw path (`/bucket/key`), encoded by the client.
    path: &'a str,
    /// Raw query parameters; an empty value is sent as a bare key.
    query: &'a [(&'a str, &'a str)],
    /// Headers the call adds (content type, SQS target); all are signed.
    headers: &'a [(&'a str, &'a str)],
    body: Bytes,
}

impl<'a> RequestToSend<'a> {
    /// A `POST /` to one of the APIs served next to S3 (SNS, SQS).
    fn api_post(headers: &'a [(&'a str, &'a str)], body: Bytes) -> Self {
        RequestToSend {
            method: Method::POST,
            path: "/",
            query: &[],
            headers,
            body,
        }
    }
}

/// hyper's errors hide the useful part ("connection refused") in `source()`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
