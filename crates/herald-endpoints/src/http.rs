//! HTTP(S) webhooks: a POST of the event JSON per push, pipelined over
//! keep-alive connections ([`crate::pipeline`]) whose every new
//! connection goes through the operator's outbound policy
//! ([`PolicyConnector`]). The subscription handshake goes through hyper's
//! pooled client (one request, answer read as a document).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use crate::pipeline::{Connect, Io, Pipeline};
use crate::policy::{EndpointPolicy, REFUSED};
use crate::{Endpoint, EndpointError, EndpointOptions, PushError};

type HttpsConnector = hyper_rustls::HttpsConnector<PolicyConnector>;
type HttpsClient = Client<HttpsConnector, Full<Bytes>>;

/// Most bytes of a response body Herald reads: the handshake answer is a
/// small JSON document and push answers are not looked at, so an endpoint
/// streaming forever costs at most this much memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// A webhook endpoint.
pub struct HttpEndpoint {
    client: HttpsClient,
    /// Where pushes go.
    pipeline: Pipeline,
    /// Every push's request line and fixed headers.
    head: Bytes,
    uri: Uri,
    opts: EndpointOptions,
    shown: String,
}

/// What a receiver answered: the status and at most
/// [`MAX_RESPONSE_BYTES`] of the body.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// The body went on beyond the cap (the rest was not read).
    pub truncated: bool,
}

impl HttpEndpoint {
    pub fn new(uri: &str, opts: EndpointOptions) -> Result<Self, EndpointError> {
        let bad = |why: String| EndpointError::InvalidUri(crate::log_form(uri), why);
        let parsed: Uri = uri.parse().map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        if parsed.host().is_none() {
            return Err(bad("no host".into()));
        }
        let shown = crate::log_form(uri);
        let connector = connector(&opts, shown.clone())?;
        let pipeline = Pipeline::new(
            connect_with(connector.clone(), parsed.clone(), shown.clone()),
            opts.timeout,
            shown.clone(),
            crate::DEFAULT_IN_FLIGHT,
        );
        Ok(HttpEndpoint {
            client: client(connector),
            pipeline,
            head: request_head(&parsed),
            shown,
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

    /// POSTs `body` with extra headers; the push timeout covers the whole
    /// exchange, reading the (capped) body included.
    pub(crate) async fn post(&self, body: Bytes, headers: &[(&str, String)]) -> Result<Answer, PushError> {
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
                reason: connect_reason(&e),
            })?;
            let status = resp.status().as_u16();
            let (body, truncated) =
                read_capped(resp.into_body(), MAX_RESPONSE_BYTES)
                    .await
                    .map_err(|e| PushError::Connect {
                        endpoint: self.shown.clone(),
                        reason: format!("reading the answer: {e}"),
                    })?;
            Ok::<_, PushError>(Answer {
                status,
                body,
                truncated,
            })
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

/// Reads a body up to `cap` bytes; the rest is left unread (the
/// connection is then dropped instead of reused).
async fn read_capped<B>(mut body: B, cap: usize) -> Result<(Bytes, bool), B::Error>
where
    B: hyper::body::Body + Unpin,
    B::Data: AsRef<[u8]>,
{
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        let data = data.as_ref();
        if buf.len() + data.len() > cap {
            buf.extend_from_slice(&data[..cap - buf.len()]);
            return Ok((buf.freeze(), true));
        }
        buf.extend_from_slice(data);
    }
    Ok((buf.freeze(), false))
}

/// Why a request could not be made, short: a policy refusal says only
/// that; other failures keep the error chain (no response bytes in it).
fn connect_reason(e: &dyn std::error::Error) -> String {
    let chain = error_chain(e);
    if chain.contains(REFUSED) {
        REFUSED.to_owned()
    } else {
        chain
    }
}

/// Makes every new connection of a webhook client: resolves the host
/// then (never earlier: a name that now points elsewhere is caught),
/// keeps the addresses the policy allows and connects to the first that
/// answers. An address literal in the URL goes through the same check.
#[derive(Clone)]
pub(crate) struct PolicyConnector {
    policy: Arc<EndpointPolicy>,
    timeout: Duration,
    shown: String,
}

impl tower_service::Service<Uri> for PolicyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = PushError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, PushError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PushError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let port = uri
                .port_u16()
                .unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
            let addrs = this.policy.resolve(host, port, &this.shown).await?;
            let stream = connect_any(&addrs, this.timeout, &this.shown).await?;
            let _ = stream.set_nodelay(true);
            Ok(TokioIo::new(stream))
        })
    }
}

/// Connects to the first of `addrs` that accepts, each try bounded by
/// `timeout`.
pub(crate) async fn connect_any(addrs: &[SocketAddr], timeout: Duration, shown: &str) -> Result<TcpStream, PushError> {
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "connect timed out".into(),
        }
    }
    Err(PushError::Connect {
        endpoint: shown.to_owned(),
        reason: last,
    })
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
        if self.opts.replay {
            headers.push((crate::REPLAY_HEADER, "true".to_owned()));
        }
        let mut request = BytesMut::with_capacity(self.head.len() + body.len() + 256);
        request.extend_from_slice(&self.head);
        // Written in place (no string per header): this runs per event.
        use std::fmt::Write as _;
        let _ = write!(request, "content-length: {}\r\n", body.len());
        for (name, value) in &headers {
            // A value that is not a valid header (say, an object key with
            // control characters in a CloudEvents header) is left out, as
            // hyper's client did.
            if HeaderValue::from_str(value).is_ok() {
                let _ = write!(request, "{name}: {value}\r\n");
            }
        }
        request.extend_from_slice(b"\r\n");
        request.extend_from_slice(body);
        let status = self.pipeline.send(request.freeze()).await?.status;
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

/// `POST <path> HTTP/1.1`, `host` and `content-type`: what every push
/// to this endpoint starts with.
fn request_head(uri: &Uri) -> Bytes {
    let host = uri.host().unwrap_or_default();
    // As hyper's client: the port only when it is not the scheme's own.
    let default_port = if uri.scheme_str() == Some("https") { 443 } else { 80 };
    let host = match uri.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    };
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let path = if uri.path().is_empty() { "/" } else { uri.path() };
    Bytes::from(format!(
        "POST {path}{query} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
    ))
}

/// The pipeline's way to a new connection: the same connector (policy,
/// TLS) as the handshake's client.
fn connect_with(connector: HttpsConnector, uri: Uri, shown: String) -> Connect {
    Box::new(move || {
        let (mut connector, uri, shown) = (connector.clone(), uri.clone(), shown.clone());
        Box::pin(async move {
            let failed = |e: Box<dyn std::error::Error + Send + Sync>| PushError::Connect {
                endpoint: shown.clone(),
                reason: connect_reason(&*e),
            };
            std::future::poll_fn(|cx| tower_service::Service::<Uri>::poll_ready(&mut connector, cx))
                .await
                .map_err(failed)?;
            let io = tower_service::Service::call(&mut connector, uri)
                .await
                .map_err(failed)?;
            Ok(Box::new(TokioIo::new(io)) as Box<dyn Io>)
        })
    })
}

fn connector(opts: &EndpointOptions, shown: String) -> Result<HttpsConnector, EndpointError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = tls_config(opts)?;
    let connector = PolicyConnector {
        policy: opts.policy.clone(),
        timeout: opts.timeout,
        shown,
    };
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector))
}

fn client(connector: HttpsConnector) -> HttpsClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .pool_max_idle_per_host(4)
        .build(connector)
}

pub(crate) fn tls_config(opts: &EndpointOptions) -> Result<rustls::ClientConfig, EndpointError> {
    tls_config_for(opts, None)
}

/// The TLS client configuration of an endpoint. `verify_as`: the broker's
/// host name when the connection is made to an address the policy
/// checked (the client library then knows only the address): the
/// certificate is verified against that name all the same.
pub(crate) fn tls_config_for(
    opts: &EndpointOptions,
    verify_as: Option<&str>,
) -> Result<rustls::ClientConfig, EndpointError> {
    // An explicit provider: with both ring and aws-lc-rs compiled in (other
    // crates of the binary enable the latter), rustls cannot pick a
    // process default by itself and `ClientConfig::builder()` would panic.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| EndpointError::InvalidAttribute("tls".into(), e.to_string()))?;
    let identity = client_identity(opts)?;
    let finish = |b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>| match identity {
        Some((certs, key)) => b
            .with_client_auth_cert(certs, key)
            .map_err(|e| EndpointError::InvalidAttribute("client-key-location".into(), e.to_string())),
        None => Ok(b.with_no_client_auth()),
    };
    if !opts.verify_ssl {
        return finish(builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify)));
    }
    let mut roots = rustls::RootCertStore::empty();
    match opts.read_ca()? {
        Some(pem) => {
            let bad = |e: String| EndpointError::InvalidAttribute("ca-location".into(), e);
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("no certificate found in the file".into()));
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let name = verify_as
        .filter(|h| h.parse::<std::net::IpAddr>().is_err())
        .and_then(|h| rustls::pki_types::ServerName::try_from(h.to_owned()).ok());
    match name {
        None => finish(builder.with_root_certificates(roots)),
        Some(name) => {
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| EndpointError::InvalidAttribute("tls".into(), e.to_string()))?;
            finish(
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(VerifyAs { inner, name })),
            )
        }
    }
}

/// The endpoint's client certificate chain and key for mutual TLS, parsed.
type ClientIdentity = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

pub(crate) fn client_identity(opts: &EndpointOptions) -> Result<Option<ClientIdentity>, EndpointError> {
    let Some((cert_pem, key_pem)) = opts.read_client_identity()? else {
        return Ok(None);
    };
    let bad = |attribute: &str, e: String| EndpointError::InvalidAttribute(attribute.into(), e);
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("client-cert-location", e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("client-cert-location", "no certificate found in the file".into()));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(|e| bad("client-key-location", e.to_string()))?
        .ok_or_else(|| bad("client-key-location", "no private key found in the file".into()))?;
    Ok(Some((certs, key)))
}

/// Verifies a server's certificate against a fixed host name, whatever
/// name (or address) the connection was made with.
#[derive(Debug)]
struct VerifyAs {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: rustls::pki_types::ServerName<'static>,
}

impl rustls::client::danger::ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        ocsp: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
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
    fn the_request_head_names_the_host_as_hyper_did() {
        let head = |uri: &str| String::from_utf8(request_head(&uri.parse().unwrap()).to_vec()).unwrap();
        assert_eq!(
            head("http://h.example:80/hook?x=1"),
            "POST /hook?x=1 HTTP/1.1\r\nhost: h.example\r\ncontent-type: application/json\r\n"
        );
        assert!(head("https://h.example:443").starts_with("POST / HTTP/1.1\r\nhost: h.example\r\n"));
        assert!(head("https://h.example:80/a").contains("host: h.example:80\r\n"));
        assert!(head("http://[::1]:8080/a").contains("host: [::1]:8080\r\n"));
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
