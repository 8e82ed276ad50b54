//! Synchronous topics: pushed inline, never queued.

use super::*;

/// Pushes inline for a synchronous topic; failures are counted, never
/// retried, and never fail the S3 request.
pub(super) async fn push_sync(topic: Arc<TopicRuntime>, body: Bytes, key: &str) {
    let endpoint = match (&topic.endpoint, topic.is_active()) {
        (Ok(e), true) => e.clone(),
        (Ok(_), false) => {
            tracing::debug!(topic = %topic.record.name, "subscription not confirmed: event not pushed");
            topic.counters.fail("subscription not confirmed: event not pushed");
            topic.counters.lost(1);
            return;
        }
        (Err(reason), _) => {
            tracing::warn!(topic = %topic.record.name, %reason, "cannot push");
            topic.counters.fail(reason);
            topic.counters.lost(1);
            return;
        }
    };
    topic.counters.pending(1);
    let result = endpoint.push_keyed(&body, key).await;
    topic.counters.pending(-1);
    match result {
        Ok(()) => topic.counters.ok(),
        Err(e) => {
            tracing::warn!(topic = %topic.record.name, error = %e, "synchronous push failed");
            topic.counters.fail(&e);
            topic.counters.lost(1);
        }
    }
}

/// Pushes an already rendered body to a synchronous topic (the test event).
pub(crate) async fn push_rendered(topic: Arc<TopicRuntime>, body: Vec<u8>) {
    push_sync(topic, Bytes::from(body), "").await
}
