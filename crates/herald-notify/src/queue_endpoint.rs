//! A topic whose push-endpoint is `sqs://<queue name>`: its events go into
//! the topic owner's built-in queue of that name, through the topic's
//! delivery worker like any push. As for QueueConfigurations, the queue
//! recognises an event it already stored
//! ([`herald_queue::QueueEngine::send_events`]), so a push repeated after a
//! crash leaves no second copy.

use bytes::Bytes;

/// Delivers a topic's events into a built-in queue (`push-endpoint=sqs://<queue>`).
pub(crate) struct QueueEndpoint {
    pub(crate) engine: herald_queue::QueueEngine,
    pub(crate) owner: String,
    pub(crate) name: String,
}

#[async_trait::async_trait]
impl herald_endpoints::Endpoint for QueueEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), herald_endpoints::PushError> {
        let fail = |e: String| herald_endpoints::PushError::Other(format!("queue {}: {e}", self.name));
        let body = String::from_utf8_lossy(body).into_owned();
        let results = self
            .engine
            .send_events(&self.owner, &self.name, vec![body])
            .await
            .map_err(|e| fail(e.to_string()))?;
        match results.into_iter().next() {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(fail(e.to_string())),
            None => Err(fail("no answer".to_owned())),
        }
    }

    fn describe(&self) -> String {
        format!("sqs://{}", self.name)
    }
}
