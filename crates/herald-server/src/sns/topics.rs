//! Topic actions: CreateTopic, GetTopicAttributes, GetTopic, ListTopics,
//! DeleteTopic, SetTopicAttributes.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

use herald_store::{TopicExpectation, TopicRecord};
use http::StatusCode;

use super::xml::{esc, response};
use super::{SnsError, SnsRequest};
use crate::notify::Notifier;
use crate::notify::topic::{
    TopicDefaults, has_stored_secret, shown_endpoint_args, validate_attribute, without_secrets,
};

/// A topic ARN: `arn:aws:sns:<region>:<tenant>:<name>`.
pub struct TopicArn {
    pub tenant: String,
    pub name: String,
}

pub fn parse_arn(arn: &str) -> Option<TopicArn> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
        return None;
    }
    Some(TopicArn {
        tenant: parts[4].to_owned(),
        name: parts[5].to_owned(),
    })
}

pub fn make_arn(region: &str, tenant: &str, name: &str) -> String {
    format!("arn:aws:sns:{region}:{tenant}:{name}")
}

fn valid_topic_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// `Attributes.entry.N.key` / `.value` pairs, under the topic attribute
/// limits of [`herald_model::query`] (count, key and value sizes); a
/// broken limit is Ceph's `InvalidArgument`, naming the limit.
fn attributes(req: &SnsRequest) -> Result<BTreeMap<String, String>, SnsError> {
    herald_model::query::sns_attributes(&req.params).map_err(|e| SnsError::invalid(e.message()))
}

/// Checks a topic's attributes before it is stored: each attribute, then
/// the endpoint as a whole under the operator's policy (its address, its
/// `ca-location`), so a topic that could never deliver is refused now.
pub(super) async fn check_attributes(
    n: &Notifier,
    owner: &str,
    attrs: &BTreeMap<String, String>,
    over_tls: bool,
) -> Result<(), SnsError> {
    for (k, v) in attrs {
        validate_attribute(k, v).map_err(SnsError::invalid)?;
    }
    // Only a persistent topic's log holds events to keep: a retention
    // anywhere else would promise replays that can never happen.
    let retention = attrs
        .get(herald_notify::topic::RETENTION)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let retains = retention > 0;
    let persistent = attrs.get("persistent").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if retains && !persistent {
        return Err(SnsError::invalid(
            "retention keeps a persistent topic's delivered events: set persistent=true as well (or retention=0)",
        ));
    }
    let endpoint = attrs.get("push-endpoint").map_or("", String::as_str);
    if retains && (endpoint.starts_with("batch://") || endpoint.starts_with("sqs://")) {
        return Err(SnsError::invalid(
            "retention is for topics that push: batch files and built-in queues keep their events themselves",
        ));
    }
    if let Some(ep) = attrs.get("push-endpoint")
        && herald_endpoints::has_credentials(ep)
        && !over_tls
    {
        return Err(SnsError::invalid(
            "a push-endpoint with user/password must be configured over HTTPS",
        ));
    }
    if let Some(location) = attrs.get("ca-location").filter(|l| !l.is_empty()) {
        // Whatever the endpoint kind: only the operator's CA directory,
        // read off the async threads.
        let (policy, location) = (n.policy().clone(), location.clone());
        tokio::task::spawn_blocking(move || policy.read_ca(&location))
            .await
            .map_err(|e| SnsError::internal(e.to_string()))?
            .map_err(SnsError::invalid)?;
    }
    if let Some(ep) = attrs.get("push-endpoint") {
        // An endpoint that could never deliver (no amqp-exchange, a bad ack
        // level, an address the outbound policy refuses) is refused now.
        // The owner's ARN: client certificate files are the owner's own.
        herald_endpoints::check(ep, attrs, &format!("arn:aws:sns::{owner}:topic"), n.policy().clone())
            .await
            .map_err(|e| SnsError::invalid(e.to_string()))?;
    }
    if attrs.get("push-secret").is_some_and(|s| !s.is_empty()) && !over_tls {
        // Accepted (receivers on a private network are common) but worth a
        // warning: the shared secret travelled in clear.
        tracing::warn!("push-secret set over plain HTTP");
    }
    Ok(())
}

/// A `retention` being set must be within the operator's bound. Checked
/// only where it is set (CreateTopic by the owner, SetTopicAttributes of
/// `retention`): a bound lowered later caps stored values at install and
/// must not block changing the topic's other attributes.
fn check_retention_bound(n: &Notifier, value: Option<&str>) -> Result<(), SnsError> {
    let retention = value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let max = n.topic_defaults().max_retention;
    if retention > max {
        return Err(SnsError::invalid(format!(
            "retention {retention} is longer than this server allows: at most {max} seconds (herald serve --topic-max-retention)"
        )));
    }
    Ok(())
}

/// A broker password travels only over TLS (Ceph's rule for credentials).
fn password_over_tls(password: Option<&str>, over_tls: bool) -> Result<(), SnsError> {
    if password.is_some_and(|p| !p.is_empty()) && !over_tls {
        return Err(SnsError::invalid("a topic's password must be configured over HTTPS"));
    }
    Ok(())
}

/// Ceph's `EndpointArgs`: the request's parameters plus the attributes,
/// sorted by name and joined as a query string, without secrets (the
/// `push-secret` and `password` attributes, in either form, and URI
/// credentials).
fn endpoint_args(params: &[(String, String)], attrs: &BTreeMap<String, String>) -> String {
    let mut all: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in params {
        if k == "Action" || k == "Name" || k == "TopicArn" || k == "AttributeName" || k == "AttributeValue" {
            continue;
        }
        all.insert(k, v);
    }
    for (k, v) in attrs {
        all.insert(k, v);
    }
    let pairs: Vec<(&str, &str)> = all.into_iter().collect();
    without_secrets(&pairs)
        .iter()
        .map(|(k, v)| format!("{k}={}", herald_endpoints::redact(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A topic ARN of the request. In AWS mode Ceph's empty-account form
/// (`arn:aws:sns:<region>::<name>`) means the caller's own topic; in Ceph
/// mode the account is the tenant, and empty is the empty tenant.
fn parse_callers_arn(n: &Notifier, req: &SnsRequest, arn: &str) -> Result<TopicArn, SnsError> {
    let mut parsed = parse_arn(arn).ok_or_else(|| SnsError::invalid(format!("invalid topic ARN {arn:?}")))?;
    if parsed.tenant.is_empty() && !n.compat().is_ceph() {
        parsed.tenant = req.user.clone();
    }
    Ok(parsed)
}

fn concurrent(e: herald_store::StoreError) -> SnsError {
    SnsError {
        code: "ConcurrentAccess",
        message: e.to_string(),
        status: StatusCode::BAD_REQUEST,
    }
}

fn internal(e: herald_store::StoreError) -> SnsError {
    SnsError::internal(e.to_string())
}

pub(super) fn unauthorized(req: &SnsRequest, arn: &str) -> SnsError {
    SnsError {
        code: "AuthorizationError",
        message: format!("user {} is not authorized to access topic {arn}", req.user),
        status: StatusCode::FORBIDDEN,
    }
}

/// The topic as `user` may see it: whole for its owner; for a user the
/// topic's policy lets read it, its endpoint without the query string
/// (where webhook URLs carry tokens), as the server's logs show it.
fn seen_by(mut rec: TopicRecord, user: &str) -> TopicRecord {
    if rec.owner == user {
        return rec;
    }
    if let Some(ep) = rec.attributes.get_mut("push-endpoint") {
        *ep = herald_endpoints::log_form(ep);
    }
    rec.endpoint_args = rec
        .endpoint_args
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if v.contains("://") => format!("{k}={}", herald_endpoints::log_form(v)),
            _ => p.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&");
    rec
}

/// The topic `arn` names, once the caller may take `action` on it: its
/// owner may; another user where the topic's `Policy` allows it (see
/// [`crate::sns::policy`]), in Ceph mode also a user of the same tenant.
/// A topic that does not exist is `NoSuchEntity` in the caller's own
/// account; in another's it is the same `AuthorizationError` as one that
/// does not allow the action (nothing tells them apart).
pub(super) fn topic_for(n: &Notifier, req: &SnsRequest, arn: &str, action: &str) -> Result<TopicRecord, SnsError> {
    let parsed = parse_callers_arn(n, req, arn)?;
    let found = n
        .store()
        .get_topic(&parsed.tenant, &parsed.name)
        .map_err(|e| SnsError::internal(e.to_string()))?;
    let context = crate::grants::caller_context(&req.user, &req.meta.conn);
    let principal = n.policy_principal(&req.user).map_err(internal)?;
    let own_account = n.topic_account(&req.user).map_err(internal)?;
    match found {
        Some(rec) if rec.owner == req.user => Ok(rec),
        Some(rec) if crate::sns::policy::allows(&rec, &principal, action, &context) => Ok(rec),
        None if parsed.tenant == own_account => Err(SnsError::not_found(format!("topic {arn} does not exist"))),
        _ => Err(unauthorized(req, arn)),
    }
}

pub(super) fn required<'a>(req: &'a SnsRequest, name: &str) -> Result<&'a str, SnsError> {
    req.param(name).filter(|v| !v.is_empty()).ok_or_else(|| SnsError {
        code: "MissingParameter",
        message: format!("The request must contain the parameter {name}."),
        status: StatusCode::BAD_REQUEST,
    })
}

/// Who is writing a topic: its owner (whose request's parameters become
/// the EndpointArgs, and who may restart the subscription handshake), or
/// a grantee of its policy (who changes neither: it cannot touch the
/// endpoint, so the owner's handshake and arguments stand).
enum Writer<'a> {
    Owner(&'a [(String, String)]),
    Grantee,
}

/// Stores a topic, makes it live, and starts the handshake if asked.
/// `expected`: the topic as the caller's decision read it (see
/// [`TopicExpectation`]); another request's change meanwhile fails this
/// one with `ConcurrentAccess` instead of being overwritten.
async fn save(
    n: &Arc<Notifier>,
    mut rec: TopicRecord,
    writer: Writer<'_>,
    expected: TopicExpectation,
) -> Result<(), SnsError> {
    if let Some(reason) = n.batch_target_taken(&rec) {
        return Err(SnsError::invalid(reason));
    }
    let mut wants_handshake = false;
    if let Writer::Owner(params) = writer {
        rec.endpoint_args = endpoint_args(params, &rec.attributes);
        wants_handshake = rec
            .attributes
            .get("subscription-confirmation")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        rec.subscription = if wants_handshake {
            "pending".into()
        } else {
            "none".into()
        };
    }
    let stored = n.store().put_topic(rec.clone(), expected).await.map_err(|e| match e {
        herald_store::StoreError::ConcurrentTopicChange(_) => concurrent(e),
        // AWS SNS: TopicLimitExceeded, HTTP 403 (the message names the setting).
        herald_store::StoreError::TooManyTopics(_) => SnsError {
            code: "TopicLimitExceeded",
            message: e.to_string(),
            status: StatusCode::FORBIDDEN,
        },
        e => SnsError::internal(e.to_string()),
    })?;
    rec.updated_ms = stored;
    n.install_written_topic(rec.clone()).await;
    if wants_handshake {
        n.start_handshake(rec.arn.clone());
    }
    Ok(())
}

pub async fn create_topic(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let name = required(req, "Name")?;
    if !valid_topic_name(name) {
        return Err(SnsError::invalid(format!(
            "invalid topic name {name:?}: use 1-256 letters, digits, '-', '_' or '.'"
        )));
    }
    let mut attrs = attributes(req)?;
    let account = n.topic_account(&req.user).map_err(internal)?;
    let existing = n
        .store()
        .get_topic(&account, name)
        .map_err(|e| SnsError::internal(e.to_string()))?;
    let arn = make_arn(n.region(), &account, name);
    // Another user's topic of the tenant (Ceph mode): changed only where
    // its Policy allows sns:CreateTopic, and it stays theirs (as Ceph's
    // Squid does). Like SetTopicAttributes, the grantee changes only
    // what a grantee may set: the endpoint, its secrets and the policy
    // stay the owner's (sent again unchanged, or left out).
    let owner = match &existing {
        Some(e) if e.owner != req.user => {
            let context = crate::grants::caller_context(&req.user, &req.meta.conn);
            let principal = n.policy_principal(&req.user).map_err(internal)?;
            if !crate::sns::policy::allows(e, &principal, "sns:CreateTopic", &context) {
                return Err(unauthorized(req, &arn));
            }
            // Any other attribute is refused whatever its value: comparing
            // it with the owner's would tell the grantee, guess by guess,
            // the owner's push-secret, password or endpoint token.
            let grantee_settable = |k: &str| crate::sns::policy::GRANTEE_SETTABLE.contains(&k);
            if let Some(k) = attrs.keys().find(|k| !grantee_settable(k)) {
                return Err(SnsError {
                    code: "AuthorizationError",
                    message: format!(
                        "only the topic's owner may set {k}; others may set {}",
                        crate::sns::policy::GRANTEE_SETTABLE.join(", ")
                    ),
                    status: StatusCode::FORBIDDEN,
                });
            }
            let mut kept = e.attributes.clone();
            kept.extend(attrs.into_iter().filter(|(k, _)| grantee_settable(k)));
            attrs = kept;
            e.owner.clone()
        }
        _ => req.user.clone(),
    };
    password_over_tls(attrs.get("password").map(String::as_str), req.meta.conn.tls)?;
    check_attributes(n, &owner, &attrs, req.meta.conn.tls).await?;
    // Only the owner sets it (a grantee's request carries the owner's
    // stored value, which must not be re-checked: that would tell the
    // grantee whether the owner's queue still exists).
    if owner == req.user
        && let Some(dlq) = attrs.get(herald_notify::topic::DEAD_LETTER_QUEUE)
    {
        n.check_dead_letter_queue(&owner, dlq).map_err(SnsError::invalid)?;
    }
    if owner == req.user {
        check_retention_bound(n, attrs.get(herald_notify::topic::RETENTION).map(String::as_str))?;
    }
    let now = herald_store::records::now_ms();
    // The owner re-creates its topic at will (CreateTopic is idempotent,
    // concurrent calls too); a grantee's overwrite holds only if nothing
    // changed since its decision (a policy revoked meanwhile wins), and
    // keeps the owner's EndpointArgs and handshake state.
    let grantee = owner != req.user;
    let (expected, writer) = match &existing {
        Some(e) if grantee => (
            TopicExpectation::Unchanged {
                owner: e.owner.clone(),
                updated_ms: e.updated_ms,
            },
            Writer::Grantee,
        ),
        _ => (
            TopicExpectation::AbsentOrOwnedBy(owner.clone()),
            Writer::Owner(&req.params),
        ),
    };
    let rec = TopicRecord {
        owner,
        name: name.to_owned(),
        arn: arn.clone(),
        attributes: attrs,
        endpoint_args: existing.as_ref().map(|e| e.endpoint_args.clone()).unwrap_or_default(),
        created_ms: existing.as_ref().map(|t| t.created_ms).unwrap_or(now),
        updated_ms: now,
        subscription: existing.as_ref().map(|e| e.subscription.clone()).unwrap_or_default(),
    };
    save(n, rec, writer, expected).await?;
    tracing::info!(topic = %arn, user = %req.user, "topic created");
    Ok(response(
        "CreateTopic",
        Some(&format!("<TopicArn>{}</TopicArn>", esc(&arn))),
        &req.meta.request_id,
    ))
}

pub async fn set_topic_attributes(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    // Each attempt reads, decides and writes one attribute over the topic
    // as read; a concurrent change of another attribute makes the write
    // fail, and the attempt is made again on the new version (so neither
    // change is lost).
    let mut attempts = 0;
    loop {
        attempts += 1;
        match set_topic_attribute_once(n, req).await {
            Err(e) if e.code == "ConcurrentAccess" && attempts < 3 => continue,
            other => return other,
        }
    }
}

async fn set_topic_attribute_once(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let arn = required(req, "TopicArn")?;
    let name = required(req, "AttributeName")?;
    let value = req.param("AttributeValue").unwrap_or("");
    let mut rec = topic_for(n, req, arn, "sns:SetTopicAttributes")?;
    let expected = TopicExpectation::Unchanged {
        owner: rec.owner.clone(),
        updated_ms: rec.updated_ms,
    };
    let grantee = rec.owner != req.user;
    if grantee && !crate::sns::policy::GRANTEE_SETTABLE.contains(&name) {
        return Err(SnsError {
            code: "AuthorizationError",
            message: format!(
                "only the topic's owner may set {name}; others may set {}",
                crate::sns::policy::GRANTEE_SETTABLE.join(", ")
            ),
            status: StatusCode::FORBIDDEN,
        });
    }
    // Only a request that carries a password needs HTTPS (its other
    // attributes can be changed over plain HTTP, as before it was set).
    if name == "password" {
        password_over_tls(Some(value), req.meta.conn.tls)?;
    }
    // Checked only when set: a queue deleted since must not block changing
    // other attributes (its events are then lost, logged).
    if name == herald_notify::topic::DEAD_LETTER_QUEUE {
        n.check_dead_letter_queue(&rec.owner, value)
            .map_err(SnsError::invalid)?;
    }
    if name == herald_notify::topic::RETENTION {
        check_retention_bound(n, Some(value))?;
    }
    let mut attrs = rec.attributes.clone();
    if value.is_empty() {
        attrs.remove(name);
    } else {
        attrs.insert(name.to_owned(), value.to_owned());
    }
    check_attributes(n, &rec.owner, &attrs, req.meta.conn.tls).await?;
    rec.attributes = attrs;
    rec.updated_ms = herald_store::records::now_ms();
    let params: Vec<(String, String)> = rec.attributes.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let writer = if grantee {
        Writer::Grantee
    } else {
        Writer::Owner(&params)
    };
    save(n, rec, writer, expected).await?;
    Ok(response("SetTopicAttributes", None, &req.meta.request_id))
}

pub async fn delete_topic(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let arn = required(req, "TopicArn")?;
    // Deleting an unknown topic of one's own account is not an error (as
    // SNS); another user's topic must exist and allow sns:DeleteTopic.
    let rec = match topic_for(n, req, arn, "sns:DeleteTopic") {
        Ok(rec) => rec,
        Err(e) if e.code == "NoSuchEntity" => return Ok(response("DeleteTopic", None, &req.meta.request_id)),
        Err(e) => return Err(e),
    };
    // What was decided on: the owner's topic (whatever its version), or
    // for a grantee the very version whose policy allowed it.
    let expected = if rec.owner == req.user {
        TopicExpectation::OwnedBy(rec.owner.clone())
    } else {
        TopicExpectation::Unchanged {
            owner: rec.owner.clone(),
            updated_ms: rec.updated_ms,
        }
    };
    let existed = n
        .store()
        .delete_topic(rec.account(), &rec.name, expected)
        .await
        .map_err(|e| match e {
            herald_store::StoreError::ConcurrentTopicChange(_) => concurrent(e),
            e => SnsError::internal(e.to_string()),
        })?;
    if existed {
        // Runtime topics are keyed by the stored (canonical) ARN, whatever
        // region the caller wrote in its ARN.
        n.remove_topic(&rec.arn);
        tracing::info!(topic = %arn, user = %req.user, "topic deleted");
    }
    Ok(response("DeleteTopic", None, &req.meta.request_id))
}

/// Values shown for a topic, Ceph's names.
struct Shown {
    address: String,
    args: String,
    has_secret: bool,
    persistent: bool,
    ttl: String,
    max_retries: String,
    retry_sleep: String,
    opaque: String,
}

/// `d`: the server's retry defaults, shown for attributes the topic leaves
/// unset (one set to `None` shows `None`, as Ceph shows it).
fn shown(rec: &TopicRecord, d: &TopicDefaults) -> Shown {
    let a = &rec.attributes;
    let ep = a.get("push-endpoint").cloned().unwrap_or_default();
    Shown {
        address: herald_endpoints::redact(&ep),
        args: shown_endpoint_args(rec),
        has_secret: has_stored_secret(rec),
        persistent: a.get("persistent").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        ttl: a
            .get("time_to_live")
            .cloned()
            .unwrap_or_else(|| d.time_to_live.to_string()),
        max_retries: a
            .get("max_retries")
            .cloned()
            .unwrap_or_else(|| d.max_retries.to_string()),
        retry_sleep: a
            .get("retry_sleep_duration")
            .cloned()
            .unwrap_or_else(|| d.retry_sleep_duration.to_string()),
        opaque: a.get("OpaqueData").cloned().unwrap_or_default(),
    }
}

fn endpoint_json(rec: &TopicRecord, d: &TopicDefaults) -> String {
    let s = shown(rec, d);
    serde_json::json!({
        "EndpointAddress": s.address,
        "EndpointArgs": s.args,
        "EndpointTopic": rec.name,
        "HasStoredSecret": s.has_secret.to_string(),
        "Persistent": s.persistent.to_string(),
        "TimeToLive": s.ttl,
        "MaxRetries": s.max_retries,
        "RetrySleepDuration": s.retry_sleep,
    })
    .to_string()
}

fn subscription_status(rec: &TopicRecord) -> &str {
    if rec.subscription.is_empty() {
        "none"
    } else {
        &rec.subscription
    }
}

pub fn get_topic_attributes(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let arn = required(req, "TopicArn")?;
    let rec = seen_by(topic_for(n, req, arn, "sns:GetTopicAttributes")?, &req.user);
    let s = shown(&rec, n.topic_defaults());
    let mut entries: Vec<(&str, String)> = vec![
        ("User", rec.owner.clone()),
        ("Name", rec.name.clone()),
        ("EndPoint", endpoint_json(&rec, n.topic_defaults())),
        ("TopicArn", rec.arn.clone()),
        ("OpaqueData", s.opaque.clone()),
        ("Persistent", s.persistent.to_string()),
        ("TimeToLive", s.ttl.clone()),
        ("MaxRetries", s.max_retries.clone()),
        ("RetrySleepDuration", s.retry_sleep.clone()),
        ("SubscriptionStatus", subscription_status(&rec).to_owned()),
    ];
    // Why the endpoint is not live (refused by the policy, unreadable
    // ca-location, ...): its events wait until the topic is fixed.
    if let Some(reason) = n.topic(&rec.arn).as_deref().and_then(crate::notify::install_error) {
        entries.push(("InstallError", reason.to_owned()));
    }
    // Shown under the names they are set with (the dead-letter queue is
    // Herald's own: Ceph has no capitalised form to follow).
    for (k, v) in &rec.attributes {
        let own_names = [
            "Policy",
            "DisplayName",
            herald_notify::topic::DEAD_LETTER_QUEUE,
            herald_notify::topic::RETENTION,
        ];
        if own_names.contains(&k.as_str()) {
            entries.push((k.as_str(), v.clone()));
        }
    }
    // For the owner only: what the retention keeps (a grantee would learn
    // the owner's event volume), and the latest replay (it may name an
    // endpoint only the owner may choose).
    if rec.owner == req.user && rec.attributes.contains_key(herald_notify::topic::RETENTION) {
        let stats = n.log().stats(&rec.arn);
        entries.push(("RetainedEvents", stats.retained_entries.to_string()));
        entries.push(("RetainedBytes", stats.retained_bytes.to_string()));
    }
    if rec.owner == req.user {
        owner_figures(n, &rec, &mut entries);
    }
    if rec.owner == req.user
        && let Some(last) = n.replays(&rec.arn).pop()
    {
        entries.push(("Replay", serde_json::to_string(&last).unwrap_or_default()));
    }
    let mut body = String::from("<Attributes>");
    for (k, v) in entries {
        let _ = write!(body, "<entry><key>{}</key><value>{}</value></entry>", esc(k), esc(&v));
    }
    body.push_str("</Attributes>");
    Ok(response("GetTopicAttributes", Some(&body), &req.meta.request_id))
}

/// For the owner only (they tell the owner's event volume, and an
/// endpoint's error may quote its answer): what waits in a persistent
/// topic's queue, the topic's counters since start, and its latest failure.
fn owner_figures(n: &Notifier, rec: &TopicRecord, entries: &mut Vec<(&str, String)>) {
    let Some(rt) = n.topic(&rec.arn) else { return };
    if rt.persistent {
        let stats = n.log().stats(rt.log_name());
        entries.push(("PendingEvents", stats.entries.to_string()));
        entries.push(("PendingBytes", stats.bytes.to_string()));
        if let Some(age) = stats.oldest_age {
            entries.push(("OldestPendingAgeSeconds", age.as_secs().to_string()));
        }
    }
    let c = rt.counters.topic();
    let read = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed).to_string();
    entries.push(("EventsTriggered", read(&c.event_triggered)));
    entries.push(("PushOk", read(&c.push_ok)));
    entries.push(("PushFailed", read(&c.push_fail)));
    entries.push(("EventsLost", read(&c.event_lost)));
    if let Some((at, why)) = c.last_error.lock().ok().and_then(|l| l.clone()) {
        let at = time::OffsetDateTime::from(at)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        entries.push(("LastError", format!("{at} {why}")));
    }
}

/// The `<EndPoint>` element of GetTopic and ListTopics (Ceph capitalises
/// the booleans there).
fn endpoint_xml(rec: &TopicRecord, d: &TopicDefaults) -> String {
    let s = shown(rec, d);
    let cap = |b: bool| if b { "True" } else { "False" };
    format!(
        "<EndPoint><EndpointAddress>{}</EndpointAddress><EndpointArgs>{}</EndpointArgs><EndpointTopic>{}</EndpointTopic><HasStoredSecret>{}</HasStoredSecret><Persistent>{}</Persistent></EndPoint>",
        esc(&s.address),
        esc(&s.args),
        esc(&rec.name),
        cap(s.has_secret),
        cap(s.persistent)
    )
}

fn topic_xml(rec: &TopicRecord, d: &TopicDefaults) -> String {
    format!(
        "<User>{}</User><Name>{}</Name>{}<TopicArn>{}</TopicArn><OpaqueData>{}</OpaqueData>",
        esc(&rec.owner),
        esc(&rec.name),
        endpoint_xml(rec, d),
        esc(&rec.arn),
        esc(&shown(rec, d).opaque)
    )
}

pub fn get_topic(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let arn = required(req, "TopicArn")?;
    let rec = seen_by(topic_for(n, req, arn, "sns:GetTopicAttributes")?, &req.user);
    Ok(response(
        "GetTopic",
        Some(&format!("<Topic>{}</Topic>", topic_xml(&rec, n.topic_defaults()))),
        &req.meta.request_id,
    ))
}

/// Topics per ListTopics page, as AWS SNS pages them; the rest follow
/// with `NextToken`.
const LIST_TOPICS_PAGE: usize = 100;

/// The caller's topics in name order, a page at a time: `NextToken` (when
/// there are more) names the last topic of the page, hex-encoded, and the
/// next page starts after it, so topics created or deleted between pages
/// neither repeat nor hide the others.
pub fn list_topics(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let after = match req.param("NextToken").filter(|t| !t.is_empty()) {
        None => None,
        Some(token) => Some(
            hex::decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| SnsError::invalid("NextToken is not one this server gave"))?,
        ),
    };
    // Only the page's rows are read (the table is ordered by account,
    // name). In Ceph mode the account is the tenant: its other users'
    // topics are listed where their policy lets the caller read them.
    let (page, more) = n
        .store()
        .topics_page(
            &n.topic_account(&req.user).map_err(internal)?,
            after.as_deref(),
            LIST_TOPICS_PAGE,
        )
        .map_err(|e| SnsError::internal(e.to_string()))?;
    let context = crate::grants::caller_context(&req.user, &req.meta.conn);
    let principal = n.policy_principal(&req.user).map_err(internal)?;
    let mut body = String::from("<Topics>");
    for t in &page {
        if t.owner != req.user && !crate::sns::policy::allows(t, &principal, "sns:GetTopicAttributes", &context) {
            continue;
        }
        let t = seen_by(t.clone(), &req.user);
        let _ = write!(body, "<member>{}</member>", topic_xml(&t, n.topic_defaults()));
    }
    body.push_str("</Topics>");
    // The token names the page's last row, shown or not, so a page of
    // topics the caller may not see still leads to the next one.
    if more && let Some(last) = page.last() {
        let _ = write!(body, "<NextToken>{}</NextToken>", hex::encode(&last.name));
    }
    Ok(response("ListTopics", Some(&body), &req.meta.request_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arn = make_arn("us-east-1", "alice", "t1");
        assert_eq!(arn, "arn:aws:sns:us-east-1:alice:t1");
        let p = parse_arn(&arn).unwrap();
        assert_eq!((p.tenant.as_str(), p.name.as_str()), ("alice", "t1"));
        assert!(parse_arn("arn:aws:sqs:us-east-1:alice:t1").is_none());
        assert!(parse_arn("nonsense").is_none());
        // Ceph's form with an empty tenant parses too.
        assert_eq!(parse_arn("arn:aws:sns:default::wire-topic").unwrap().tenant, "");
    }

    #[test]
    fn endpoint_args_never_hold_the_push_secret() {
        let params = vec![
            ("Attributes.entry.1.key".to_owned(), "push-secret".to_owned()),
            ("Attributes.entry.1.value".to_owned(), "s3cr3t".to_owned()),
            ("Attributes.entry.3.key".to_owned(), "password".to_owned()),
            ("Attributes.entry.3.value".to_owned(), "br0kerpw".to_owned()),
            ("Attributes.entry.4.key".to_owned(), "user-name".to_owned()),
            ("Attributes.entry.4.value".to_owned(), "alice".to_owned()),
            ("Attributes.entry.2.key".to_owned(), "push-endpoint".to_owned()),
            (
                "Attributes.entry.2.value".to_owned(),
                "amqp://u:pw@127.0.0.1/".to_owned(),
            ),
        ];
        let mut attrs = BTreeMap::new();
        attrs.insert("push-secret".to_owned(), "s3cr3t".to_owned());
        attrs.insert("password".to_owned(), "br0kerpw".to_owned());
        attrs.insert("user-name".to_owned(), "alice".to_owned());
        attrs.insert("push-endpoint".to_owned(), "amqp://u:pw@127.0.0.1/".to_owned());
        let args = endpoint_args(&params, &attrs);
        assert!(!args.contains("s3cr3t") && !args.contains("pw"), "{args}");
        assert!(!args.contains("br0kerpw"), "{args}");
        assert!(args.contains("user-name=alice"), "{args}");
        assert!(args.contains("Attributes.entry.2.value=amqp://127.0.0.1/"), "{args}");
    }

    #[test]
    fn endpoint_args_are_sorted_like_ceph() {
        let params = vec![
            ("Action".to_owned(), "CreateTopic".to_owned()),
            ("Name".to_owned(), "wire-topic".to_owned()),
            ("Version".to_owned(), "2010-03-31".to_owned()),
            ("Attributes.entry.1.key".to_owned(), "push-endpoint".to_owned()),
            (
                "Attributes.entry.1.value".to_owned(),
                "http://127.0.0.1:10900/wire".to_owned(),
            ),
        ];
        let mut attrs = BTreeMap::new();
        attrs.insert("push-endpoint".to_owned(), "http://127.0.0.1:10900/wire".to_owned());
        assert_eq!(
            endpoint_args(&params, &attrs),
            "Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=http://127.0.0.1:10900/wire&Version=2010-03-31&push-endpoint=http://127.0.0.1:10900/wire"
        );
    }
}
