//! `http`: POST each change to a URL, e.g. the resync endpoint of a
//! metadata service (the Jibe agent asks Access Anywhere to resync).
//!
//! The body is a small JSON document describing the change; the
//! `x-herald-event-id` header (and `event_id` field) stays the same across
//! redeliveries, so the receiver can drop duplicates.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Outcome;
use crate::event::Change;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

pub struct HttpAction {
    client: Client<Https, Full<Bytes>>,
    url: http::Uri,
    shown: String,
    auth: Option<String>,
    retries: u32,
    timeout: Duration,
}

impl HttpAction {
    pub fn new(
        url: &str,
        login: Option<&str>,
        password: Option<&str>,
        retries: u32,
        timeout: Duration,
    ) -> Result<HttpAction, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("http action: bad url {url:?}: {e}"))?;
        // Explicit provider: the binary links both ring and aws-lc, so
        // rustls cannot pick a process default by itself.
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| format!("http action: TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let auth = login.map(|l| {
            use base64::Engine as _;
            let pair = format!("{l}:{}", password.unwrap_or(""));
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
        });
        Ok(HttpAction {
            client: Client::builder(TokioExecutor::new()).build(https),
            shown: format!(
                "{}://{}{}",
                uri.scheme_str().unwrap_or("http"),
                uri.authority().map(|a| a.as_str()).unwrap_or(""),
                uri.path()
            ),
            url: uri,
            auth,
            retries,
            timeout,
        })
    }

    pub async fn apply(&self, source: &str, c: &Change) -> Result<Outcome, String> {
        let body = serde_json::json!({
            "source": source,
            "action": c.op.verb(),
            "event_name": c.event_name,
            "bucket": c.bucket,
            "key": c.key,
            "size": c.size,
            "etag": c.etag,
            "version_id": c.version_id,
            "sequencer": c.sequencer,
            "event_time": c.event_time.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            "principal_id": c.principal,
            "event_id": c.event_id,
        })
        .to_string();
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 << attempt.min(6))).await;
            }
            match self.post(&body, &c.event_id).await {
                Ok(()) => return Ok(Outcome::Applied),
                Err(e) => last = e,
            }
        }
        Err(format!(
            "POST {} failed after {} attempts: {last}",
            self.shown,
            self.retries + 1
        ))
    }

    async fn post(&self, body: &str, event_id: &str) -> Result<(), String> {
        let mut req = http::Request::post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-herald-event-id", event_id);
        if let Some(a) = &self.auth {
            req = req.header(http::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| e.to_string())?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| super::error_chain(&e))?;
            let status = resp.status();
            // The answer is not used: read at most 64 KiB of it (a
            // service that streams forever costs no memory) and drop it.
            let _ = http_body_util::Limited::new(resp.into_body(), 64 << 10).collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("HTTP {}", status.as_u16()))
            }
        };
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
    }
}
