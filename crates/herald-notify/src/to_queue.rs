//! Events for built-in queues (QueueConfigurations): committed with their
//! change into the delivery log under the queue's ARN, like a persistent
//! topic's, then moved into the queue by one worker per queue.
//!
//! The move is idempotent: the queue recognises a body it already stored
//! ([`herald_queue::QueueEngine::send_events`]), so a move cut short by a
//! crash after the queue stored the events and before the log heard so
//! leaves no second copy. A queue that does not exist (deleted) loses its
//! events, as S3 does; a queue that cannot write keeps them in the log.

use std::sync::Weak;
use std::time::Duration;

use super::Notifier;

/// Events moved per round (one durable write in the queue).
const BATCH: usize = 256;
/// How long an idle worker sleeps before looking again (commits wake it).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Pause after the queue failed to store (disk trouble).
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// Moves `arn`'s events from the delivery log into the queue, for the
/// server's life.
pub(super) async fn run(notifier: Weak<Notifier>, arn: String) {
    loop {
        let Some(n) = notifier.upgrade() else { return };
        let log = n.log.clone();
        let leases = log.lease(&arn, BATCH);
        if leases.is_empty() {
            drop(n);
            log.wait_ready(&arn, IDLE_WAIT).await;
            continue;
        }
        let ids: Vec<u64> = leases.iter().map(|l| l.id).collect();
        let Some(queue) = n.queue_info(&arn) else {
            tracing::warn!(queue = %arn, events = ids.len(), "queue deleted: its events are lost");
            log.drop_entries(&arn, &ids);
            continue;
        };
        let Some(engine) = n.queues.clone() else { return };
        let counters = n.metrics.for_topic(&queue.owner, &queue.name);
        drop(n);
        let bodies = leases
            .iter()
            .map(|l| String::from_utf8_lossy(&l.payload).into_owned())
            .collect();
        match engine.send_events(&queue.owner, &queue.name, bodies).await {
            Ok(results) => {
                for r in &results {
                    match r {
                        Ok(_) => counters.ok(),
                        Err(e) => {
                            tracing::error!(queue = %arn, error = %e, "event refused by the queue: lost");
                            counters.fail();
                            counters.lost(1);
                        }
                    }
                }
                log.ack(&arn, &ids);
            }
            Err(herald_queue::QueueError::QueueDoesNotExist) => {
                tracing::warn!(queue = %arn, events = ids.len(), "queue deleted: its events are lost");
                log.drop_entries(&arn, &ids);
            }
            Err(e) => {
                tracing::error!(queue = %arn, error = %e, "cannot store events in the queue; will retry");
                let again = std::time::SystemTime::now() + FAILURE_PAUSE;
                for id in ids {
                    log.retry(&arn, id, again);
                }
                tokio::time::sleep(FAILURE_PAUSE).await;
            }
        }
    }
}
