//! The `sqs` topic kind: the bucket notification targets an SQS queue on the
//! endpoint under test, and [`SqsReceiver`] long-polls it with a few
//! concurrent pollers (ReceiveMessage of up to 10 messages, 1 s long poll,
//! then one DeleteMessageBatch of what arrived), logging every message body
//! at the instant its ReceiveMessage answer arrived.
//!
//! Queues are durable by nature, so there is no `persistent` switch: a
//! message is kept until a poller deletes it. A failed delete only means the
//! message comes back after its visibility timeout and counts as a
//! duplicate event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::s3::{OpError, S3Client};
use crate::sqs::api;
use crate::sqs::{RECEIVE_MAX, WAIT_SECONDS};

use super::receiver::{EventLog, Receiver};

/// Concurrent ReceiveMessage loops: enough to keep up with a server that
/// delivers tens of thousands of events per second (10 per call), few
/// enough not to compete with the PUT load for the server's cores.
pub const POLLERS: usize = 4;

/// Failed poller calls, counted; the first one is kept for the warning.
#[derive(Default)]
struct Problems {
    count: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Problems {
    fn record(&self, what: impl FnOnce() -> String) {
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            *self.first.lock().expect("problems lock") = Some(what());
        }
    }
}

/// Pollers draining one queue into an [`EventLog`]. Dropping it stops them.
pub struct SqsReceiver {
    url: String,
    pollers: Vec<tokio::task::JoinHandle<()>>,
    log: Arc<EventLog>,
    problems: Arc<Problems>,
}

impl SqsReceiver {
    /// Starts `pollers` loops on the queue at `url`. `client` should be one
    /// of their own, so their long polls do not hold connections of the
    /// PUT workers' pool. `op_timeout` bounds every call on top of the long
    /// poll.
    pub fn start(client: S3Client, url: String, pollers: usize, op_timeout: Duration) -> Self {
        let client = Arc::new(client);
        let log = Arc::new(EventLog::default());
        let problems = Arc::new(Problems::default());
        let url_shared: Arc<str> = Arc::from(url.as_str());
        let pollers = (0..pollers.max(1))
            .map(|_| {
                tokio::spawn(poll(
                    Arc::clone(&client),
                    Arc::clone(&url_shared),
                    Arc::clone(&log),
                    Arc::clone(&problems),
                    op_timeout + Duration::from_secs(WAIT_SECONDS.into()),
                ))
            })
            .collect();
        SqsReceiver {
            url,
            pollers,
            log,
            problems,
        }
    }
}

impl Drop for SqsReceiver {
    fn drop(&mut self) {
        for poller in &self.pollers {
            poller.abort();
        }
    }
}

impl Receiver for SqsReceiver {
    fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    fn describe(&self) -> String {
        format!("{} pollers on {}", self.pollers.len(), self.url)
    }

    fn problems(&self) -> Option<String> {
        let count = self.problems.count.load(Ordering::Relaxed);
        let first = self.problems.first.lock().expect("problems lock").clone()?;
        Some(format!(
            "{count} ReceiveMessage/DeleteMessageBatch calls or entries failed (first: {first})"
        ))
    }
}

/// One poller: receive, log, delete, forever (until aborted).
async fn poll(client: Arc<S3Client>, url: Arc<str>, log: Arc<EventLog>, problems: Arc<Problems>, timeout: Duration) {
    loop {
        let request = api::receive_message(&url, RECEIVE_MAX, WAIT_SECONDS);
        let answer = tokio::time::timeout(timeout, client.sqs("ReceiveMessage", request)).await;
        let at = Instant::now();
        let messages = match answer {
            Ok(Ok(body)) => api::parse_receive(&body),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(OpError::Timeout(timeout)),
        };
        let messages = match messages {
            Ok(messages) => messages,
            Err(e) => {
                problems.record(|| format!("ReceiveMessage: {e}"));
                // Do not spin against a server that fails fast.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        log.ingest_all(messages.iter().map(|m| m.body.as_bytes()), at);
        let request = api::delete_message_batch(&url, messages.iter().map(|m| m.receipt_handle.as_str()));
        let answer = tokio::time::timeout(timeout, client.sqs("DeleteMessageBatch", request)).await;
        let deleted = match answer {
            Ok(Ok(body)) => api::parse_batch("DeleteMessageBatch", &body, messages.len()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(OpError::Timeout(timeout)),
        };
        match deleted {
            Ok(batch) => {
                if let Some((_, code)) = batch.failed.first() {
                    problems.record(|| format!("DeleteMessageBatch entry: {code}"));
                    let more = batch.failed.len() as u64 - 1;
                    problems.count.fetch_add(more, Ordering::Relaxed);
                }
            }
            Err(e) => problems.record(|| format!("DeleteMessageBatch: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_keep_the_first() {
        let p = Problems::default();
        p.record(|| "one".into());
        p.record(|| unreachable!("only the first is formatted"));
        assert_eq!(p.count.load(Ordering::Relaxed), 2);
        assert_eq!(p.first.lock().unwrap().as_deref(), Some("one"));
    }
}
