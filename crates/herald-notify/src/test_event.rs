//! AWS's `s3:TestEvent`: sent to a topic when a configuration starts
//! using it, and on demand from the console.

use herald_model::record;
use herald_store::EventEntry;
use time::OffsetDateTime;

use super::{Notifier, is_queue_arn, plan};

/// Longest wait for a test push's answer (see [`Notifier::push_test_event`]).
pub const TEST_PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

impl Notifier {
    /// Pushes AWS's `s3:TestEvent` (for `bucket`, which may be empty) to a
    /// topic's endpoint now, not through its queue, and answers the
    /// endpoint's description or why the push failed: the console's "send
    /// a test event". Not counted as an event. At most [`TEST_PUSH_TIMEOUT`].
    pub async fn push_test_event(&self, arn: &str, bucket: &str, request_id: &str) -> Result<String, String> {
        let topic = self.topic(arn).ok_or_else(|| "no such topic".to_owned())?;
        if topic.batch.is_some() {
            return Err("a batch topic writes event records only; it takes no test event".into());
        }
        let endpoint = topic
            .endpoint
            .clone()
            .map_err(|reason| format!("no endpoint: {reason}"))?;
        if !topic.is_active() {
            return Err("the subscription is not confirmed: nothing is pushed until it is".into());
        }
        let body = bytes::Bytes::from(record::test_event(
            bucket,
            OffsetDateTime::now_utc(),
            request_id,
            &self.site.host_id,
        ));
        match tokio::time::timeout(TEST_PUSH_TIMEOUT, endpoint.push_keyed(&body, &format!("{bucket}/"))).await {
            Ok(Ok(())) => Ok(endpoint.describe()),
            Ok(Err(e)) => Err(format!("{}: {e}", endpoint.describe())),
            Err(_) => Err(format!(
                "{}: no answer within {} s",
                endpoint.describe(),
                TEST_PUSH_TIMEOUT.as_secs()
            )),
        }
    }

    /// Sends AWS's `s3:TestEvent` to a newly configured topic.
    /// Persistent topics and queues get it through the event journal, like
    /// any event.
    pub async fn send_test_event(&self, bucket: &str, arn: &str, request_id: &str) {
        let body = record::test_event(bucket, OffsetDateTime::now_utc(), request_id, &self.site.host_id);
        let log = if is_queue_arn(arn) {
            self.ensure_queue_worker(arn);
            arn.to_owned()
        } else {
            let Some(topic) = self.topic(arn) else { return };
            if topic.batch.is_some() {
                return; // a batch file holds event records only
            }
            if !topic.persistent {
                return plan::push_rendered(topic, body).await;
            }
            topic.log_name().to_owned()
        };
        let entry = EventEntry {
            log,
            key: format!("{bucket}/"),
            payload: body,
        };
        if let Err(e) = self.store.write_events(vec![entry]).await {
            tracing::warn!(destination = %arn, error = %e, "could not queue the test event");
        }
    }
}
