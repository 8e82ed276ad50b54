//! `herald health`: asks a server's `/health` and exits 0 only when it
//! answers 200 within the timeout, for container HEALTHCHECKs and probes
//! that have no curl (the runtime image holds nothing but the binary).

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The health URL (http or https; a server certificate must be trusted by the system's roots).
    #[arg(long, env = "HERALD_HEALTH_URL", default_value = "http://127.0.0.1:9000/health")]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let uri: http::Uri = args.url.parse().with_context(|| format!("bad --url {:?}", args.url))?;
    let get = async {
        if uri.scheme_str() == Some("https") {
            // The system's roots (SSL_CERT_FILE names a private CA's).
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
                .context("no trusted CA certificates for https (set SSL_CERT_FILE)")?
                .https_only()
                .enable_http1()
                .build();
            let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
            client
                .get(uri)
                .await
                .with_context(|| format!("cannot reach {}", args.url))
        } else {
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build(hyper_util::client::legacy::connect::HttpConnector::new());
            client
                .get(uri)
                .await
                .with_context(|| format!("cannot reach {}", args.url))
        }
    };
    let answer = tokio::time::timeout(Duration::from_secs(args.timeout), get)
        .await
        .with_context(|| format!("{} did not answer within {} s", args.url, args.timeout))??;
    if !answer.status().is_success() {
        bail!("{} answered {}", args.url, answer.status());
    }
    println!("ok");
    Ok(())
}
