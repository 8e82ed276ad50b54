//! Events for built-in queues (QueueConfigurations): committed with their
//! change into the delivery log under the queue's ARN, like a persistent
//! topic's, then moved into the queue by one worker per queue, in log
//! order, a batch at a time.
//!
//! The move is idempotent: the queue recognises a body it already stored
//! ([`herald_queue::QueueEngine::send_events`]), so a move cut short by a
//! crash after the queue stored the events and before the log heard so
//! leaves no second copy. A queue that does not exist (deleted) loses its
//! events, as S3 does, and its worker stops (planning starts one again if
//! the queue comes back); a queue that cannot write keeps them in the log
//! and the worker tries again.

use std::sync::Weak;
use std::time::Duration;

use herald_log::Lease;
use herald_queue::QueueError;

use super::Notifier;

/// Events moved per round (one durable write in the queue).
const BATCH: usize = 256;
/// How long an idle worker sleeps before looking again (commits wake it).
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Pause after the queue failed to store (disk trouble).
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// Moves `arn`'s events from the delivery log into the queue, until the
/// queue is deleted or the server stops.
pub(super) async fn run(notifier: Weak<Notifier>, arn: String) {
    // Leased in id order and held until the queue took them.
    let mut held: Vec<Lease> = Vec::new();
    let mut after = 0;
    loop {
        let Some(n) = notifier.upgrade() else { return };
        let log = n.log.clone();
        if held.is_empty() {
            held = log.lease_in_order(&arn, after, BATCH);
            if held.is_empty() {
                drop(n);
                log.wait_ready(&arn, IDLE_WAIT).await;
                continue;
            }
            after = held.last().map_or(after, |l| l.id);
        }
        let ids: Vec<u64> = held.iter().map(|l| l.id).collect();
        let (Some(queue), Some(engine)) = (n.queue_info(&arn), n.queues.clone()) else {
            return queue_gone(&n, &arn, &ids);
        };
        let counters = n.metrics.for_topic(&queue.owner, &queue.name);
        drop(n);
        let bodies = held
            .iter()
            .map(|l| String::from_utf8_lossy(&l.payload).into_owned())
            .collect();
        let results = match engine.send_events(&queue.owner, &queue.name, bodies).await {
            Ok(results) => results,
            Err(QueueError::QueueDoesNotExist) => match notifier.upgrade() {
                Some(n) => return queue_gone(&n, &arn, &ids),
                None => return,
            },
            Err(e) => {
                tracing::error!(queue = %arn, error = %e, "cannot store events in the queue; will retry");
                tokio::time::sleep(FAILURE_PAUSE).await;
                continue;
            }
        };
        // A write failure keeps the whole batch for the next try (what was
        // stored is recognised then); a refused event is lost.
        if let Some(Err(e)) = results.iter().find(|r| matches!(r, Err(QueueError::Io(_)))) {
            tracing::error!(queue = %arn, error = %e, "cannot store events in the queue; will retry");
            tokio::time::sleep(FAILURE_PAUSE).await;
            continue;
        }
        for r in &results {
            match r {
                Ok(_) => counters.ok(),
                Err(e) => {
                    tracing::error!(queue = %arn, error = %e, "event refused by the queue: lost");
                    counters.fail(format_args!("refused by the queue: {e}"));
                    counters.lost(1);
                }
            }
        }
        log.ack(&arn, &ids);
        held.clear();
    }
}

/// The queue was deleted: its events are lost (as S3 loses them), its log
/// goes, and the worker stops.
fn queue_gone(n: &Notifier, arn: &str, held: &[u64]) {
    let pending = n.log.stats(arn).entries.max(held.len() as u64);
    tracing::warn!(queue = %arn, events = pending, "queue deleted: its events are lost");
    n.log.remove_topic(arn);
}
