//! TLS on the same listener (rustls).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls;

/// Builds a TLS acceptor from PEM files, offering HTTP/2 and HTTP/1.1.
pub fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, String> {
    // Several crypto backends can end up in the dependency graph; pick one
    // explicitly so rustls never has to guess (and panic).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = {
        let mut r = std::io::BufReader::new(std::fs::File::open(cert).map_err(|e| format!("{}: {e}", cert.display()))?);
        rustls_pemfile::certs(&mut r)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", cert.display()))?
    };
    if certs.is_empty() {
        return Err(format!("{}: no certificate found", cert.display()));
    }
    let key = {
        let mut r = std::io::BufReader::new(std::fs::File::open(key).map_err(|e| format!("{}: {e}", key.display()))?);
        rustls_pemfile::private_key(&mut r)
            .map_err(|e| format!("{}: {e}", key.display()))?
            .ok_or_else(|| format!("{}: no private key found", key.display()))?
    };
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
