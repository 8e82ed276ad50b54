//! `ReplayTopic` (Herald extension): push a persistent topic's events of a
//! time range again, to its endpoint or to another one (see
//! `herald_notify::replay`).
//!
//! Parameters: `TopicArn`, `StartTime`, optional `EndTime` (default: now)
//! and `PushEndpoint`. Times are RFC 3339 (`2026-12-07T10:00:00Z`) or
//! seconds since the epoch. Authorized like SetTopicAttributes; only the
//! topic's owner may send a replay elsewhere (a grantee may not choose
//! where the owner's events go, as it may not set the push-endpoint), and
//! that endpoint is checked like a push-endpoint (syntax, credentials only
//! over HTTPS, the operator's outbound policy).

use std::sync::Arc;
use std::time::SystemTime;

use http::StatusCode;

use super::topics::{check_attributes, required, topic_for};
use super::xml::{esc, response};
use super::{SnsError, SnsRequest};
use crate::notify::Notifier;
use herald_notify::replay::{ReplayError, ReplayRequest};

pub async fn replay_topic(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let arn = required(req, "TopicArn")?;
    let since = parse_time("StartTime", required(req, "StartTime")?)?;
    let until = match req.param("EndTime").filter(|v| !v.is_empty()) {
        Some(v) => parse_time("EndTime", v)?,
        None => SystemTime::now(),
    };
    let rec = topic_for(n, req, arn, "sns:SetTopicAttributes")?;
    let endpoint = req.param("PushEndpoint").filter(|v| !v.is_empty()).map(str::to_owned);
    let rate = match req.param("Rate").filter(|v| !v.is_empty()) {
        None => None,
        Some(v) => Some(
            v.parse::<u32>()
                .ok()
                .filter(|r| (1..=herald_notify::replay::MAX_RATE).contains(r))
                .ok_or_else(|| {
                    SnsError::invalid(format!(
                        "Rate must be a number of events per second from 1 to {}, not {v:?}",
                        herald_notify::replay::MAX_RATE
                    ))
                })?,
        ),
    };
    if let Some(ep) = &endpoint {
        if rec.owner != req.user {
            return Err(SnsError {
                code: "AuthorizationError",
                message: "only the topic's owner may replay to another endpoint than the topic's".into(),
                status: StatusCode::FORBIDDEN,
            });
        }
        let mut attrs = rec.attributes.clone();
        attrs.insert("push-endpoint".into(), ep.clone());
        check_attributes(n, &rec.owner, &attrs, req.meta.conn.tls).await?;
    }
    let status = n
        .start_replay(
            &rec.arn,
            ReplayRequest {
                since,
                until,
                endpoint,
                rate,
            },
        )
        .map_err(|e| match e {
            ReplayError::Invalid(m) => SnsError::invalid(m),
            ReplayError::Busy(m) => SnsError {
                code: "ConcurrentAccess",
                message: m,
                status: StatusCode::CONFLICT,
            },
        })?;
    tracing::info!(topic = %rec.arn, user = %req.user, replay = %status.id, "replay requested");
    let body = format!(
        "<ReplayId>{}</ReplayId><TopicArn>{}</TopicArn><StartTime>{}</StartTime><EndTime>{}</EndTime><EstimatedEvents>{}</EstimatedEvents><Status>{}</Status>",
        esc(&status.id),
        esc(&rec.arn),
        esc(&status.since),
        esc(&status.until),
        status.estimated,
        esc(&status.state),
    );
    Ok(response("ReplayTopic", Some(&body), &req.meta.request_id))
}

/// `CancelReplay` (Herald extension): stops the topic's running replay.
/// Authorized like `ReplayTopic`; answers whether one was running (a
/// replay that just ended is no error).
pub async fn cancel_replay(n: &Arc<Notifier>, req: &SnsRequest) -> Result<String, SnsError> {
    let arn = required(req, "TopicArn")?;
    let rec = topic_for(n, req, arn, "sns:SetTopicAttributes")?;
    let cancelled = n.cancel_replay(&rec.arn);
    if cancelled {
        tracing::info!(topic = %rec.arn, user = %req.user, "replay cancelled");
    }
    Ok(response(
        "CancelReplay",
        Some(&format!("<Cancelled>{cancelled}</Cancelled>")),
        &req.meta.request_id,
    ))
}

/// `value` as a time (see [`herald_notify::replay::parse_time`]).
fn parse_time(name: &str, value: &str) -> Result<SystemTime, SnsError> {
    herald_notify::replay::parse_time(value).map_err(|e| SnsError::invalid(format!("{name}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        let t = parse_time("StartTime", "2026-12-07T10:00:00Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_796_637_600
        );
        let e = parse_time("StartTime", "1796637600.5").unwrap();
        assert_eq!(
            e.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis(),
            1_796_637_600_500
        );
        assert!(parse_time("StartTime", "2026-12-07T10:00:00+01:00").unwrap() < t);
        let ago = parse_time("StartTime", "2h").unwrap();
        let two_hours = SystemTime::now().duration_since(ago).unwrap().as_secs();
        assert!((7199..=7201).contains(&two_hours), "{two_hours}");
        for bad in [
            "yesterday",
            "-5",
            "1e300",
            "NaN",
            "2026-13-01T00:00:00Z",
            "",
            "5w",
            "99999999d",
        ] {
            assert!(parse_time("StartTime", bad).is_err(), "{bad}");
        }
    }
}
