//! The webhook subscription handshake (as the MCS/VK Cloud S3 webhooks
//! do): before a topic goes live, Herald POSTs a `SubscriptionConfirmation`
//! and the receiver proves it wants the events by answering
//! `{"signature": hex(HMAC(url, HMAC(TopicArn, HMAC(Timestamp, Token))))}`,
//! where `HMAC(msg, key)` is HMAC-SHA256 keyed with its second argument.

use bytes::Bytes;
use hmac::{KeyInit, Mac};

use crate::http::HttpEndpoint;
use crate::{Endpoint, PushError};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn hmac(message: &[u8], key: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The signature a receiver must answer with.
pub fn expected_signature(url: &str, topic_arn: &str, timestamp: &str, token: &str) -> String {
    let k1 = hmac(timestamp.as_bytes(), token.as_bytes());
    let k2 = hmac(topic_arn.as_bytes(), &k1);
    hex::encode(hmac(url.as_bytes(), &k2))
}

/// Why a handshake did not confirm the subscription. Shown to the tenant
/// (`SubscriptionStatus: failed: ...`), so it says what failed and never
/// carries a byte of what the receiver answered: the handshake must not
/// be a way to read an internal service's responses. Every failure short
/// of an HTTP answer (closed port, timeout, something that is not HTTP)
/// reads the same, so the status cannot tell open ports from closed ones;
/// the operator's log has the details.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    #[error("{}", crate::policy::REFUSED)]
    Refused,
    #[error("no HTTP answer")]
    NoAnswer,
    #[error("HTTP {0}")]
    Status(u16),
    #[error("HTTP {0} with an answer larger than {max} bytes", max = crate::http::MAX_RESPONSE_BYTES)]
    TooLarge(u16),
    #[error("HTTP {0} without a signature")]
    NoSignature(u16),
    #[error("HTTP {0} with a wrong signature")]
    WrongSignature(u16),
}

impl HandshakeError {
    /// The failure of the request itself, in a few words (the full error
    /// goes to the operator's log).
    fn from_push(e: &PushError) -> HandshakeError {
        match e {
            PushError::Connect { reason, .. } if reason.contains(crate::policy::REFUSED) => HandshakeError::Refused,
            _ => HandshakeError::NoAnswer,
        }
    }
}

/// Runs the handshake against a webhook; `Ok` means confirmed.
pub async fn confirm(endpoint: &HttpEndpoint, topic_arn: &str, token: &str) -> Result<(), HandshakeError> {
    let timestamp = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let message = serde_json::json!({
        "Timestamp": timestamp,
        "Type": "SubscriptionConfirmation",
        "Message": format!("You have chosen to subscribe to the topic {topic_arn}. To confirm the subscription you need to response with calculated signature"),
        "TopicArn": topic_arn,
        "SignatureVersion": 1,
        "Token": token,
    });
    let body = Bytes::from(serde_json::to_vec(&message).unwrap_or_default());
    let headers = [("x-amz-sns-messages-type", "SubscriptionConfirmation".to_owned())];
    let answer = endpoint.post(body, &headers).await.map_err(|e| {
        tracing::info!(topic = topic_arn, endpoint = %endpoint.describe(), error = %e, "subscription handshake: no answer");
        HandshakeError::from_push(&e)
    })?;
    let status = answer.status;
    if !(200..300).contains(&status) {
        return Err(HandshakeError::Status(status));
    }
    if answer.truncated {
        return Err(HandshakeError::TooLarge(status));
    }
    let got = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["signature"].as_str().map(str::to_owned))
        .ok_or(HandshakeError::NoSignature(status))?;
    let expected = expected_signature(&endpoint.url_for_signature(), topic_arn, &timestamp, token);
    if got.eq_ignore_ascii_case(&expected) {
        Ok(())
    } else {
        Err(HandshakeError::WrongSignature(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_chain_matches_the_reference_receiver() {
        // Computed independently with Python's hmac module:
        // k1 = HMAC(key=token, ts); k2 = HMAC(key=k1, arn); hex(HMAC(key=k2, url)).
        assert_eq!(
            expected_signature("http://h/webhook", "arn:x", "2019-12-26T19:29:12+03:00", "TOKEN"),
            "5228caf5eb7ea68428f65dbb746b276a9be36e600c753d847ab20fdedb2bb320"
        );
    }
}
