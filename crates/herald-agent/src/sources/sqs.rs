//! `sqs` source: long-polls one queue (Herald's, AWS's, Cloudian's or any
//! SQS-compatible service's) and hands each message to the pipeline.
//!
//! A message is deleted only after the pipeline applied it; a failed one is
//! made visible again after `retry_delay_seconds` (and reaches the queue's
//! dead-letter queue after its redrive policy's maxReceiveCount, if one is
//! set). Deletes are batched (DeleteMessageBatch) off the workers' path.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::config::SourceConfig;
use crate::event;
use crate::pipeline::{Disposition, Pipeline};
use crate::self_test::explain_sqs;
use crate::{fields, log};

pub struct SqsSource {
    pub client: aws_sdk_sqs::Client,
    pub cfg: SourceConfig,
}

impl SqsSource {
    pub fn endpoint(&self) -> String {
        self.cfg
            .sqs_endpoint_url
            .clone()
            .unwrap_or_else(|| "the AWS endpoint of the region".into())
    }

    /// The queue URL: `queue_url` as given, else GetQueueUrl(`queue_name`).
    pub async fn queue_url(&self) -> Result<String, String> {
        if let Some(u) = &self.cfg.queue_url {
            // Checks the queue exists and the credentials are accepted.
            self.client
                .get_queue_attributes()
                .queue_url(u)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| explain_sqs(&e, &self.endpoint(), u))?;
            return Ok(u.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(&self.cfg.queue_name)
            .send()
            .await
            .map_err(|e| explain_sqs(&e, &self.endpoint(), &self.cfg.queue_name))?;
        out.queue_url()
            .map(String::from)
            .ok_or_else(|| format!("GetQueueUrl for {:?} answered without a QueueUrl", self.cfg.queue_name))
    }

    /// The queue's VisibilityTimeout (SQS's default, 30 s, if it cannot be read).
    async fn visibility_timeout(&self, url: &str) -> i32 {
        self.client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .ok()
            .and_then(|o| {
                o.attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(30)
    }

    /// Resolves the queue (retrying while it cannot), then polls until shutdown.
    pub async fn run(self: Arc<Self>, pipeline: Arc<Pipeline>, mut shutdown: watch::Receiver<bool>) {
        let name = self.cfg.name.clone();
        let retry = Duration::from_secs(self.cfg.retry_delay_seconds.max(1) as u64);
        let url = loop {
            match self.queue_url().await {
                Ok(u) => break u,
                Err(e) => {
                    log::error(
                        &format!("source '{name}': cannot use the queue: {e}"),
                        fields! {"source" => name, "retry_in_seconds" => retry.as_secs()},
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(retry) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        };
        let visibility = self.visibility_timeout(&url).await;
        log::info(
            &format!("source '{name}': polling {url}"),
            fields! {"source" => name, "queue_url" => url, "workers" => self.cfg.workers, "visibility_timeout" => visibility},
        );
        let workers = self.cfg.workers;
        let sem = Arc::new(Semaphore::new(workers));
        let (del_tx, del_rx) = mpsc::unbounded_channel::<String>();
        let deleter = tokio::spawn(delete_batches(self.client.clone(), url.clone(), name.clone(), del_rx));
        let wait = self.cfg.poll_interval_seconds.min(20) as i32;
        let mut backoff = Duration::from_millis(500);
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Take no more messages than there are free workers, so none
            // waits out its visibility timeout in memory.
            let Ok(first) = sem.clone().acquire_owned().await else {
                break;
            };
            let n = (1 + sem.available_permits()).min(self.cfg.max_messages as usize);
            drop(first);
            let recv = self
                .client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(n as i32)
                .wait_time_seconds(wait)
                .send();
            let out = tokio::select! {
                r = recv => r,
                _ = shutdown.changed() => break,
            };
            let messages = match out {
                Ok(o) => {
                    backoff = Duration::from_millis(500);
                    o.messages.unwrap_or_default()
                }
                Err(e) => {
                    log::error(
                        &format!(
                            "source '{name}': ReceiveMessage failed: {}",
                            explain_sqs(&e, &self.endpoint(), &url)
                        ),
                        fields! {"source" => name},
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => break,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            if messages.is_empty() && wait == 0 {
                tokio::time::sleep(Duration::from_secs(self.cfg.poll_interval_seconds.max(1))).await;
            }
            for m in messages {
                let Ok(permit) = sem.clone().acquire_owned().await else {
                    break;
                };
                let (Some(body), Some(handle)) = (m.body, m.receipt_handle) else {
                    continue;
                };
                let this = self.clone();
                let pipeline = pipeline.clone();
                let del_tx = del_tx.clone();
                let url = url.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    this.handle(&pipeline, &url, body, handle, del_tx, visibility).await;
                });
            }
            if pipeline.self_test_only {
                // Released messages are visible again at once: don't spin on them.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        // Let the messages in hand finish, then flush the deletes.
        let _ = sem.acquire_many(workers as u32).await;
        drop(del_tx);
        let _ = deleter.await;
        log::info(&format!("source '{name}': stopped"), fields! {"source" => name});
    }

    async fn handle(
        &self,
        pipeline: &Pipeline,
        url: &str,
        body: String,
        handle: String,
        del_tx: mpsc::UnboundedSender<String>,
        visibility: i32,
    ) {
        let name = &self.cfg.name;
        let work = async {
            match event::parse(body.as_bytes()) {
                Ok(msg) => pipeline.process(&msg).await,
                Err(e) => Err(format!(
                    "not an S3 event message ({e}); left in the queue for its dead-letter queue: {}",
                    log::quoted(&body, 200)
                )),
            }
        };
        // Keep the message hidden while its actions run (a large mirror
        // copy can outlast the queue's visibility timeout), so no second
        // worker or agent starts on it.
        let heartbeat = async {
            let every = Duration::from_millis((visibility.max(1) as u64 * 1000) / 3);
            loop {
                tokio::time::sleep(every).await;
                let _ = self
                    .client
                    .change_message_visibility()
                    .queue_url(url)
                    .receipt_handle(&handle)
                    .visibility_timeout(visibility)
                    .send()
                    .await;
            }
        };
        let result = tokio::select! {
            r = work => r,
            _ = heartbeat => unreachable!("the heartbeat never ends"),
        };
        let visibility = match result {
            Ok(Disposition::Done) => {
                let _ = del_tx.send(handle);
                return;
            }
            Ok(Disposition::Release) => 1,
            Err(e) => {
                pipeline.stats.message_failed(&e);
                log::error(
                    &format!(
                        "source '{name}': message failed, retried in {} s: {e}",
                        self.cfg.retry_delay_seconds
                    ),
                    fields! {"source" => name},
                );
                self.cfg.retry_delay_seconds
            }
        };
        if let Err(e) = self
            .client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(visibility)
            .send()
            .await
        {
            log::warn(
                &format!(
                    "source '{name}': ChangeMessageVisibility failed (the message comes back after the queue's visibility timeout): {}",
                    explain_sqs(&e, &self.endpoint(), url)
                ),
                fields! {"source" => name},
            );
        }
    }
}

async fn delete_batches(
    client: aws_sdk_sqs::Client,
    url: String,
    source: String,
    mut rx: mpsc::UnboundedReceiver<String>,
) {
    while let Some(first) = rx.recv().await {
        let mut handles = vec![first];
        while handles.len() < 10 {
            match rx.try_recv() {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        let entries: Vec<_> = handles
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .ok()
            })
            .collect();
        let res = client
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await;
        let problem = match res {
            Ok(o) if o.failed().is_empty() => None,
            Ok(o) => Some(format!(
                "{} of {} deletes failed: {:?}",
                o.failed().len(),
                handles.len(),
                o.failed()[0]
            )),
            Err(e) => Some(crate::actions::error_chain(&e)),
        };
        if let Some(p) = problem {
            // The actions were applied; a redelivery finds them done.
            log::warn(
                &format!(
                    "source '{source}': DeleteMessageBatch: {p} (those messages will be redelivered; their actions are idempotent)"
                ),
                fields! {"source" => source},
            );
        }
    }
}
