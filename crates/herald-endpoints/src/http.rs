//! HTTP(S) webhooks: a POST of the event JSON per push, over a pooled
//! keep-alive client.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio_rustls::rustls;

use crate::{Endpoint, EndpointError, EndpointOptions, PushError};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A webhook endpoint.
pub struct HttpEndpoint {
    client: HttpsClient,
    uri: Uri,
    opts: EndpointOptions,
    shown: String,
}

impl HttpEndpoint {
    pub fn new(uri: &str, opts: EndpointOptions) -> Result<Self, EndpointError> {
        let parsed: Uri = uri
            .parse()
            .map_err(|e: http::uri::InvalidUri| EndpointError::InvalidUri(uri.into(), e.to_string()))?;
        if parsed.host().is_none() {
            return Err(EndpointError::InvalidUri(uri.into(), "no host".into()));
        }
        let client = client(&opts)?;
        Ok(HttpEndpoint {
            client,
            shown: crate::redact(uri),
            uri: parsed,
            opts,
        })
    }

    /// The URL as a receiver sees it (scheme, authority and path), which
    /// the subscription handshake signs.
    pub fn url_for_signature(&self) -> String {
        format!(
            "{}://{}{}",
            self.uri.scheme_str().unwrap_or("http"),
            self.uri.authority().map(|a| a.as_str()).unwrap_or(""),
            self.uri.path()
        )
    }

    /// POSTs `body` with extra headers and returns the status and body.
    pub(crate) async fn post(&self, body: Bytes, headers: &[(&str, String)]) -> Result<(u16, Bytes), PushError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json");
        for (k, v) in headers {
            if let Ok(v) = HeaderValue::from_str(v) {
                req = req.header(*k, v);
            }
        }
        let req = req.body(Full::new(body)).map_err(|e| PushError::Other(e.to_string()))?;
        let fut = async {
            let resp = self.client.request(req).await.map_err(|e| PushError::Connect {
                endpoint: self.shown.clone(),
                reason: error_chain(&e),
            })?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| PushError::Connect {
                    endpoint: self.shown.clone(),
                    reason: e.to_string(),
                })?;
            Ok::<_, PushError>((status, body))
        };
        match tokio::time::timeout(self.opts.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(PushError::Timeout {
                endpoint: self.shown.clone(),
                timeout: self.opts.timeout,
            }),
        }
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[async_trait::async_trait]
impl Endpoint for HttpEndpoint {
    async fn push(&self, body: &Bytes) -> Result<(), PushError> {
        let mut headers: Vec<(&str, String)> = Vec::new();
        if self.opts.cloudevents {
            headers.extend(cloudevents_headers(body));
        }
        if let Some(secret) = &self.opts.signing_secret {
            headers.push(("x-herald-signature", sign_body(secret, body, now_unix())));
        }
        let (status, _) = self.post(body.clone(), &headers).await?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(PushError::Status {
                endpoint: self.shown.clone(),
                status,
            })
        }
    }

    fn describe(&self) -> String {
        self.shown.clone()
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `x-herald-signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`:
/// the receiver recomputes it with the shared secret, and the timestamp
/// lets it refuse replays.
pub fn sign_body(secret: &str, body: &[u8], t: i64) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// CloudEvents binary-mode headers for an S3 event body, as Ceph sends them.
fn cloudevents_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let r = &v["Records"][0];
    let s = |p: &serde_json::Value| p.as_str().unwrap_or("").to_owned();
    vec![
        ("ce-specversion", "1.0".to_owned()),
        ("ce-type", format!("com.amazonaws.{}", s(&r["eventName"]))),
        ("ce-time", s(&r["eventTime"])),
        (
            "ce-id",
            format!(
                "{}.{}",
                s(&r["responseElements"]["x-amz-request-id"]),
                s(&r["responseElements"]["x-amz-id-2"])
            ),
        ),
        (
            "ce-source",
            format!(
                "{}.{}.{}",
                s(&r["eventSource"]),
                s(&r["awsRegion"]),
                s(&r["s3"]["bucket"]["name"])
            ),
        ),
        ("ce-subject", s(&r["s3"]["object"]["key"])),
    ]
}

fn client(opts: &EndpointOptions) -> Result<HttpsClient, EndpointError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = tls_config(opts)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(opts.timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build(https))
}

pub(crate) fn tls_config(opts: &EndpointOptions) -> Result<rustls::ClientConfig, EndpointError> {
    // An explicit provider: with both ring and aws-lc-rs compiled in (other
    // crates of the binary enable the latter), rustls cannot pick a
    // process default by itself and `ClientConfig::builder()` would panic.
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| EndpointError::InvalidAttribute("tls".into(), e.to_string()))?;
    if !opts.verify_ssl {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify))
            .with_no_client_auth());
    }
    let mut roots = rustls::RootCertStore::empty();
    match &opts.ca_location {
        Some(path) => {
            let bad = |e: String| EndpointError::InvalidAttribute("ca-location".into(), format!("{path}: {e}"));
            let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
            for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("no certificate found".into()));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(builder.with_root_certificates(roots).with_no_client_auth())
}

/// `verify-ssl=false`: accept any server certificate (the operator asked
/// for it, e.g. for a self-signed receiver on a private network).
#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_signature_is_stable() {
        let s = sign_body("secret", b"{}", 1700000000);
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s, sign_body("secret", b"{}", 1700000000));
        assert_ne!(s, sign_body("other", b"{}", 1700000000));
    }

    #[test]
    fn cloudevents_headers_follow_the_record() {
        let body = br#"{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"2026-01-01T00:00:00.000000Z","eventSource":"ceph:s3","awsRegion":"us-east-1","responseElements":{"x-amz-request-id":"R","x-amz-id-2":"H"},"s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}"#;
        let h = cloudevents_headers(body);
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("ce-type"), "com.amazonaws.ObjectCreated:Put");
        assert_eq!(get("ce-source"), "ceph:s3.us-east-1.b");
        assert_eq!(get("ce-id"), "R.H");
        assert_eq!(get("ce-subject"), "k");
    }
}
