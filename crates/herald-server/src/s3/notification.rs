//! Bucket notification configuration: `PUT|GET|DELETE /bucket?notification`
//! and Ceph's per-notification `?notification=<id>`.
//!
//! Served as an `s3s` custom route (after `s3s` has verified the
//! signature) because the typed `s3s` operation would drop Ceph's
//! extensions (S3Metadata and S3Tags filters, regex rules) and does not
//! know the per-id forms.

use herald_model::notification::{self, ConfigError, NotificationConfiguration};
use http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use s3s::route::S3Route;
use s3s::{Body, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};
use std::collections::HashSet;

use super::{HeraldS3, StoreResultExt};
use crate::host::HeraldHost;

/// Largest configuration document accepted.
const MAX_CONFIG_BYTES: usize = 1024 * 1024;

pub struct NotificationRoute {
    pub s3: HeraldS3,
    pub host: HeraldHost,
}

/// The `notification` query parameter: `None` when absent, `Some("")`
/// for the whole configuration, `Some(id)` for one notification.
fn notification_param(uri: &Uri) -> Option<String> {
    let q = uri.query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "notification")
        .map(|(_, v)| v.into_owned())
}

impl NotificationRoute {
    fn bucket_of(&self, uri: &Uri, headers: &HeaderMap) -> Option<String> {
        route_bucket(&self.host, uri, headers)
    }
}

/// The bucket a route's request names (virtual-host or path style), or
/// `None` for `/`.
pub(crate) fn route_bucket(host: &HeraldHost, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let host_header = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if let Some(b) = host.bucket_of(host_header) {
        return Some(b.to_owned());
    }
    let path = uri.path().trim_start_matches('/');
    let bucket = path.split('/').next().unwrap_or("");
    (!bucket.is_empty()).then(|| bucket.to_owned())
}

fn xml(status: StatusCode, body: String) -> S3Response<Body> {
    let mut r = S3Response::new(Body::from(body));
    r.status = Some(status);
    r.headers
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    r
}

fn config_error(e: ConfigError) -> S3Error {
    match e {
        ConfigError::MalformedXml(m) => S3Error::with_message(S3ErrorCode::MalformedXML, m),
        ConfigError::InvalidArgument(m) => S3Error::with_message(S3ErrorCode::InvalidArgument, m),
    }
}

#[async_trait::async_trait]
impl S3Route for NotificationRoute {
    fn is_match(&self, method: &Method, uri: &Uri, headers: &HeaderMap, _: &mut Extensions) -> bool {
        matches!(*method, Method::GET | Method::PUT | Method::DELETE)
            && notification_param(uri).is_some()
            && self.bucket_of(uri, headers).is_some()
    }

    /// The route's own access decision (it is no `s3s` operation):
    /// `s3:GetBucketNotification` to read, `s3:PutBucketNotification` to
    /// change or delete.
    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        let bucket = self
            .bucket_of(&req.uri, &req.headers)
            .ok_or_else(|| s3_error!(InvalidRequest, "no bucket"))?;
        let op = if req.method == Method::GET {
            "GetBucketNotificationConfiguration"
        } else {
            "PutBucketNotificationConfiguration"
        };
        super::access::authorize_route(&self.s3, req, &bucket, op)
    }

    async fn call(&self, mut req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let s3 = &self.s3;
        let user = s3.caller(&req)?;
        let request_id = super::events::req_info(&req).request_id;
        let bucket = self
            .bucket_of(&req.uri, &req.headers)
            .ok_or_else(|| s3_error!(InvalidRequest, "no bucket"))?;
        let bucket_record = s3.granted_bucket(&req.extensions, &bucket)?;
        let id = notification_param(&req.uri).unwrap_or_default();
        let current = || s3.notifier.config(&bucket).map(|c| (*c).clone()).unwrap_or_default();
        match req.method {
            Method::GET => {
                let current = current();
                let cfg = if id.is_empty() {
                    current
                } else {
                    let one = current.only(&id);
                    if one.is_empty() {
                        return Err(s3_error!(NoSuchKey, "no notification {id:?} on bucket {bucket}"));
                    }
                    one
                };
                Ok(xml(
                    StatusCode::OK,
                    notification::render_notification_configuration(&cfg),
                ))
            }
            Method::DELETE => {
                // Read, change and write with no other change between (see
                // `lock_config_writes`); held only for the store write.
                let changing = s3.notifier.lock_config_writes().await;
                let remaining = if id.is_empty() {
                    NotificationConfiguration::default()
                } else {
                    current().without(&id)
                };
                save(s3, &bucket_record, remaining).await?;
                drop(changing);
                let mut r = S3Response::new(Body::empty());
                // Ceph answers 200, as to the other notification requests.
                r.status = Some(if s3.notifier.compat().is_ceph() {
                    StatusCode::OK
                } else {
                    StatusCode::NO_CONTENT
                });
                Ok(r)
            }
            _ => {
                let mut body = std::mem::take(&mut req.input);
                let bytes = body.store_all_limited(MAX_CONFIG_BYTES).await.map_err(|_| {
                    s3_error!(
                        MaxMessageLengthExceeded,
                        "the configuration is larger than {MAX_CONFIG_BYTES} bytes"
                    )
                })?;
                // Decided again now that the body (which may have been
                // trickled) is here: a grant revoked meanwhile holds.
                super::access::authorize_route(s3, &mut req, &bucket, "PutBucketNotificationConfiguration")?;
                let bucket_record = s3.granted_bucket(&req.extensions, &bucket)?;
                // Ceph requires an Id on every entry; AWS names the
                // unnamed ones.
                let mut cfg =
                    notification::parse_notification_configuration_with(&bytes, s3.notifier.compat().is_ceph())
                        .map_err(config_error)?;
                // In AWS mode Ceph's empty-account topic ARN
                // (`arn:aws:sns:<region>::<name>`) names the caller's own
                // topic: stored in the full form. In Ceph mode the account
                // is the tenant, and empty is the empty tenant.
                if !s3.notifier.compat().is_ceph() {
                    for t in &mut cfg.topics {
                        if let Some(a) = crate::sns::parse_arn(&t.topic_arn)
                            && a.tenant.is_empty()
                        {
                            t.topic_arn = crate::sns::make_arn(&s3.region, &user, &a.name);
                        }
                    }
                }
                check_config_count(s3, &cfg)?;
                validate_destinations(s3, &bucket_record, &cfg)?;
                put_config(s3, &bucket_record, cfg, &request_id).await?;
                let mut r = S3Response::new(Body::empty());
                r.status = Some(StatusCode::OK);
                Ok(r)
            }
        }
    }
}

/// Stores a checked configuration: in place of the bucket's (AWS) or
/// merged into it by Id (Ceph; an empty one removes all, in both), then
/// sends AWS's `s3:TestEvent` to each newly named destination (Ceph sends
/// none to topics; queues are AWS's own).
async fn put_config(
    s3: &HeraldS3,
    bucket: &herald_store::BucketRecord,
    cfg: NotificationConfiguration,
    request_id: &str,
) -> S3Result<()> {
    // Only now, with the body read and checked, and only for the store
    // write: a slow client cannot hold up others.
    let changing = s3.notifier.lock_config_writes().await;
    let current = s3
        .notifier
        .config(&bucket.name)
        .map(|c| (*c).clone())
        .unwrap_or_default();
    let ceph = s3.notifier.compat().is_ceph();
    let cfg = if ceph && !cfg.is_empty() {
        current.merged_by_id(cfg)
    } else {
        cfg
    };
    // Merged, a topic entry may take a queue entry's Id (or the other way
    // round): Ids stay unique per bucket.
    if let Some(id) = cfg.duplicate_id() {
        return Err(s3_error!(InvalidArgument, "duplicate configuration Id {id:?}"));
    }
    check_config_count(s3, &cfg)?;
    let before: HashSet<&str> = current
        .topics
        .iter()
        .map(|t| t.topic_arn.as_str())
        .chain(current.queues.iter().map(|q| q.queue_arn.as_str()))
        .collect();
    let added: HashSet<String> = cfg
        .topics
        .iter()
        .filter(|_| !ceph)
        .map(|t| t.topic_arn.as_str())
        .chain(cfg.queues.iter().map(|q| q.queue_arn.as_str()))
        .filter(|a| !before.contains(a))
        .map(str::to_owned)
        .collect();
    save(s3, bucket, cfg).await?;
    drop(changing);
    for arn in added {
        s3.notifier.send_test_event(&bucket.name, &arn, request_id).await;
    }
    Ok(())
}

/// At most `--max-notification-configs-per-bucket` topic and queue
/// configurations in one bucket: each is matched on every change of the
/// bucket, so their number is what one PutObject costs.
fn check_config_count(s3: &HeraldS3, cfg: &NotificationConfiguration) -> S3Result<()> {
    let limit = s3.store.quotas().notification_configs_per_bucket;
    let n = (cfg.topics.len() + cfg.queues.len()) as u64;
    if n > limit {
        return Err(s3_error!(
            InvalidArgument,
            "Too many notification configurations: {n}, the limit is {limit} per bucket (max-notification-configs-per-bucket)"
        ));
    }
    Ok(())
}

/// Every destination must exist and belong to the caller (a user attaches
/// only its own topics to its own buckets).
/// Every destination must accept this bucket's events: a topic or queue
/// of the bucket owner's, or one whose `Policy` lets the bucket publish
/// (`sns:Publish` / `sqs:SendMessage` to the bucket's owner or to
/// `s3.amazonaws.com`, see [`crate::notify::Notifier::topic_takes`] and
/// [`crate::sqs::policy::s3_may_send`]).
fn validate_destinations(
    s3: &HeraldS3,
    bucket: &herald_store::BucketRecord,
    cfg: &NotificationConfiguration,
) -> S3Result<()> {
    for t in &cfg.topics {
        let Some(arn) = crate::sns::parse_arn(&t.topic_arn) else {
            return Err(s3_error!(InvalidArgument, "invalid topic ARN {:?}", t.topic_arn));
        };
        let accepted = match s3.store.get_topic(&arn.tenant, &arn.name).s3()? {
            Some(topic) => {
                let accepted = s3.notifier.topic_takes(&topic, &bucket.name, &bucket.owner);
                // Ceph answers a topic that exists but refuses the bucket
                // with AccessDenied (AWS's answer is the one below).
                if !accepted && s3.notifier.compat().is_ceph() {
                    return Err(refused_topic(&t.topic_arn, &bucket.name));
                }
                accepted
            }
            // Another tenant's missing topic is refused as one that exists
            // and refuses: nothing tells another tenant's names apart.
            None if s3.notifier.compat().is_ceph()
                && arn.tenant != s3.notifier.topic_account(&bucket.owner).s3()? =>
            {
                return Err(refused_topic(&t.topic_arn, &bucket.name));
            }
            None => false,
        };
        if !accepted || s3.notifier.topic(&t.topic_arn).is_none() {
            return Err(s3_error!(
                InvalidArgument,
                "Unable to validate the following destination configurations: topic {} does not exist, or does not let this bucket publish to it",
                t.topic_arn
            ));
        }
    }
    for q in &cfg.queues {
        let accepted = s3
            .notifier
            .queue_info(&q.queue_arn)
            .is_some_and(|info| crate::notify::policy::s3_may_send(&info, &bucket.name, &bucket.owner));
        if !accepted {
            return Err(s3_error!(
                InvalidArgument,
                "Unable to validate the following destination configurations: queue {} does not exist, or its policy does not let this bucket send to it",
                q.queue_arn
            ));
        }
    }
    Ok(())
}

/// Ceph mode's refusal of a topic the bucket may not publish to.
fn refused_topic(arn: &str, bucket: &str) -> S3Error {
    s3_error!(AccessDenied, "topic {arn} does not let bucket {bucket} publish to it")
}

/// Stores the configuration of the very bucket the request was allowed on
/// (not one re-created under its name meanwhile).
async fn save(s3: &HeraldS3, bucket: &herald_store::BucketRecord, cfg: NotificationConfiguration) -> S3Result<()> {
    let stored = (!cfg.is_empty()).then(|| notification::serialize_json(&cfg));
    let bucket_name = bucket.name.as_str();
    s3.store
        .set_notification_config(bucket_name, Some(&bucket.id), stored)
        .await
        .s3()?;
    s3.notifier.set_config(bucket_name, Some(cfg));
    Ok(())
}
