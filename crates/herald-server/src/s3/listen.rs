//! The live tail on the S3 port: MinIO's `ListenBucketNotification`
//! (`GET /<bucket>?events=...&prefix=...&suffix=...`, and `GET /?events=...`
//! for every bucket the caller owns). The answer never ends by itself: one
//! `{"Records":[...]}` line per committed change that matches, and a blank
//! line every `ping` seconds (10 by default) so proxies and clients know
//! the stream is alive. minio-py's `listen_bucket_notification` reads it
//! as it reads MinIO's (tested); `mc watch` uses the same API (untested).
//!
//! Needs a signed-in user; for one bucket the `s3:ListenBucketNotification`
//! permission (the owner has it; a policy may grant it), the bucket-less
//! form watches only that user's own buckets.
//! A watcher that falls behind is cut off (see `herald_notify::tail`) with
//! a final line `{"Records":[],"Error":{...}}` that MinIO clients skip
//! before they reconnect.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use herald_model::event::EventPattern;
use herald_notify::tail::{TailError, TailFilter, WATCHER_BUFFER, Watch};
use http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::StreamBody;
use hyper::body::Frame;
use s3s::route::S3Route;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};

use super::HeraldS3;
use crate::host::HeraldHost;

/// Most `events` parameters in one request.
const MAX_EVENT_PARAMS: usize = 64;
/// Longest prefix or suffix (an S3 key is at most 1,024 bytes).
const MAX_AFFIX_BYTES: usize = 1024;
/// Keep-alive interval unless `ping` asks otherwise, and its bounds.
const DEFAULT_PING: Duration = Duration::from_secs(10);
const MAX_PING_SECS: u64 = 600;

pub struct ListenRoute {
    pub s3: HeraldS3,
    pub host: HeraldHost,
}

/// What the query asks for.
struct ListenParams {
    events: Vec<String>,
    prefix: String,
    suffix: String,
    ping: Option<String>,
}

/// Whether a request is a watch: its query carries `events` (MinIO's
/// clients always send it) and it is no notification-configuration
/// request. Asked of every request with a query, so it copies nothing.
fn is_listen_query(uri: &Uri) -> bool {
    let Some(q) = uri.query() else { return false };
    let mut listen = false;
    for (k, _) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "events" => listen = true,
            "notification" => return false,
            _ => {}
        }
    }
    listen
}

/// The watch's parameters, `None` when the request is no watch.
fn listen_params(uri: &Uri) -> Option<ListenParams> {
    let q = uri.query()?;
    let mut p = ListenParams {
        events: Vec::new(),
        prefix: String::new(),
        suffix: String::new(),
        ping: None,
    };
    let mut listen = false;
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "events" => {
                listen = true;
                // An empty value (`events=`) asks for nothing in particular.
                if !v.is_empty() {
                    p.events.push(v.into_owned());
                }
            }
            "prefix" => p.prefix = v.into_owned(),
            "suffix" => p.suffix = v.into_owned(),
            "ping" => p.ping = Some(v.into_owned()),
            "notification" => return None,
            _ => {}
        }
    }
    listen.then_some(p)
}

impl ListenRoute {
    /// The bucket named by the request (host or path), `None` for `/`.
    fn bucket_of(&self, uri: &Uri, headers: &HeaderMap) -> Option<String> {
        super::notification::route_bucket(&self.host, uri, headers)
    }
}

#[async_trait::async_trait]
impl S3Route for ListenRoute {
    fn is_match(&self, method: &Method, uri: &Uri, _: &HeaderMap, _: &mut Extensions) -> bool {
        *method == Method::GET && is_listen_query(uri)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        // A signed-in user in every case: a live feed of a bucket's
        // activity is not for anonymous callers, whatever a policy allows.
        super::access::authorize_user(&self.s3, req)?;
        match self.bucket_of(&req.uri, &req.headers) {
            // Its own action (as MinIO's), which `s3:Get*` does not grant:
            // reading the configuration is not watching every change.
            Some(bucket) => super::access::authorize_route(&self.s3, req, &bucket, "ListenBucketNotification"),
            None => Ok(()),
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let s3 = &self.s3;
        let params = listen_params(&req.uri).ok_or_else(|| s3_error!(InvalidRequest, "no events parameter"))?;
        if params.events.len() > MAX_EVENT_PARAMS {
            return Err(s3_error!(
                InvalidArgument,
                "more than {MAX_EVENT_PARAMS} events parameters"
            ));
        }
        if params.prefix.len() > MAX_AFFIX_BYTES || params.suffix.len() > MAX_AFFIX_BYTES {
            return Err(s3_error!(
                InvalidArgument,
                "prefix and suffix are at most {MAX_AFFIX_BYTES} bytes"
            ));
        }
        let events = params
            .events
            .iter()
            .map(|e| EventPattern::parse(e).map_err(|err| s3_error!(InvalidArgument, "{err}")))
            .collect::<S3Result<Vec<_>>>()?;
        let ping = match params.ping.as_deref() {
            None => DEFAULT_PING,
            Some(s) => match s.parse::<u64>() {
                Ok(n) if (1..=MAX_PING_SECS).contains(&n) => Duration::from_secs(n),
                _ => {
                    return Err(s3_error!(
                        InvalidArgument,
                        "ping must be a number of seconds from 1 to {MAX_PING_SECS}"
                    ));
                }
            },
        };
        let owner = s3.caller(&req)?;
        let bucket = match self.bucket_of(&req.uri, &req.headers) {
            Some(name) => {
                let record = s3.granted_bucket(&req.extensions, &name)?;
                Some((record.name, record.id))
            }
            None => None,
        };
        let filter = TailFilter {
            owner,
            bucket,
            events,
            prefix: params.prefix,
            suffix: params.suffix,
        };
        let watch = s3.notifier.tail().watch(filter).map_err(|e| match e {
            TailError::TooMany(_) | TailError::TooManyOfUser(_) => s3_error!(SlowDown, "{e}"),
        })?;
        let mut r = S3Response::new(streamed(watch, ping));
        r.status = Some(StatusCode::OK);
        r.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-ndjson"),
        );
        Ok(r)
    }
}

/// The never-ending answer: the watch's lines as they come, a blank line
/// every `ping`, and after a cut-off the final error line.
fn streamed(watch: Watch, ping: Duration) -> Body {
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + ping, ping);
    let lines = futures::stream::unfold((watch, tick, false), |(mut watch, mut tick, ended)| async move {
        if ended {
            return None;
        }
        tokio::select! {
            line = watch.next_line() => match line {
                Some(line) => Some((line, (watch, tick, false))),
                None if watch.cut.load(Ordering::Acquire) => {
                    let last = format!(
                        "{{\"Records\":[],\"Error\":{{\"Code\":\"SlowDown\",\"Message\":\"the watcher fell {WATCHER_BUFFER} events behind and was cut off; reconnect\"}}}}\n"
                    );
                    Some((Bytes::from(last), (watch, tick, true)))
                }
                None => None,
            },
            _ = tick.tick() => Some((Bytes::from_static(b"\n"), (watch, tick, false))),
        }
    });
    Body::http_body_unsync(StreamBody::new(lines.map(|b| Ok::<_, Infallible>(Frame::data(b)))))
}

/// Herald's routes beside the `s3s` operations (s3s takes one): the
/// notification configuration and the live tail.
pub struct HeraldRoutes {
    pub notification: super::notification::NotificationRoute,
    pub listen: ListenRoute,
}

impl HeraldRoutes {
    fn is_listen(method: &Method, uri: &Uri) -> bool {
        *method == Method::GET && is_listen_query(uri)
    }
}

#[async_trait::async_trait]
impl S3Route for HeraldRoutes {
    fn is_match(&self, method: &Method, uri: &Uri, headers: &HeaderMap, ext: &mut Extensions) -> bool {
        self.listen.is_match(method, uri, headers, ext) || self.notification.is_match(method, uri, headers, ext)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        if Self::is_listen(&req.method, &req.uri) {
            self.listen.check_access(req).await
        } else {
            self.notification.check_access(req).await
        }
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        if Self::is_listen(&req.method, &req.uri) {
            self.listen.call(req).await
        } else {
            self.notification.call(req).await
        }
    }
}
