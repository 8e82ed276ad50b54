//! Test certificates made with the `openssl` CLI: a CA with server and
//! client certificates it signed (mutual TLS), and self-signed ones.

use std::path::Path;

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl CLI is needed to make test certificates (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed certificate with subject `CN=<cn>` (and `-addext` options
/// in `extra`), valid two days, written to `key` and `cert` in `dir`.
pub fn self_signed(dir: &Path, cn: &str, extra: &[&str], key: &str, cert: &str) {
    let subject = format!("/CN={cn}");
    let mut args = vec![
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", &subject,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["-keyout", key, "-out", cert]);
    openssl(dir, &args);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate per
/// name, all signed by the CA (`ca.pem`, `server.pem`/`.key`,
/// `<name>.pem`/`.key`).
pub fn make_pki(dir: &Path, clients: &[&str]) {
    self_signed(dir, "herald-test-ca", &[], "ca.key", "ca.pem");
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let sign = |name: &str, ext: &str| {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                ext,
                "-out",
                &pem,
            ],
        );
    };
    sign("server", "server.ext");
    for c in clients {
        sign(c, "client.ext");
    }
}
