//! SSH public keys that let a user log in to the SFTP service.
//!
//! Keys arrive in the OpenSSH one-line format (`ssh-ed25519 AAAA… comment`,
//! what `ssh-keygen` writes to `*.pub`). Herald stores the key blob and its
//! SHA-256 fingerprint, shown exactly as `ssh-keygen -l` shows it, so an
//! operator can match `herald user keys` against what a client has.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How many SSH keys one user may have: enough for a few machines, few
/// enough that a forgotten key is noticed.
pub const MAX_SSH_KEYS_PER_USER: usize = 8;

/// Key types the SFTP service accepts (what OpenSSH offers by default).
const ALGORITHMS: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

/// One registered SSH public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKey {
    /// `SHA256:<base64>`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key type, e.g. `ssh-ed25519`.
    pub algorithm: String,
    /// The key blob, base64 (the middle field of the OpenSSH line).
    pub key: String,
    /// The free-text comment of the OpenSSH line (often `user@host`).
    pub comment: String,
    /// When it was registered, milliseconds since the Unix epoch.
    pub added_ms: i64,
}

impl SshKey {
    /// Parses one OpenSSH public key line. Options before the key type (as
    /// in `authorized_keys`) and private keys are refused with a message
    /// that says what was expected.
    pub fn parse(line: &str, added_ms: i64) -> Result<SshKey, String> {
        let line = line.trim();
        if line.starts_with("-----BEGIN") {
            return Err("this is a private key; give the public key (the .pub file)".into());
        }
        let mut fields = line.splitn(3, char::is_whitespace);
        let algorithm = fields.next().unwrap_or_default();
        let encoded = fields.next().unwrap_or_default().trim();
        let comment = fields.next().unwrap_or_default().trim();
        if !ALGORITHMS.contains(&algorithm) {
            return Err(format!(
                "not an OpenSSH public key of a supported type (expected one of {}, got {:?})",
                ALGORITHMS.join(", "),
                algorithm.chars().take(40).collect::<String>()
            ));
        }
        let blob = STANDARD
            .decode(encoded)
            .map_err(|e| format!("the key is not valid base64: {e}"))?;
        // The blob starts with its own type as an SSH string; a mismatch
        // means a damaged or hand-edited line.
        if embedded_algorithm(&blob) != Some(algorithm.as_bytes()) {
            return Err(format!("the key data does not hold a {algorithm} key"));
        }
        Ok(SshKey {
            fingerprint: fingerprint(&blob),
            algorithm: algorithm.to_owned(),
            key: encoded.to_owned(),
            comment: comment.to_owned(),
            added_ms,
        })
    }

    /// The key blob (SSH wire encoding), as clients offer it.
    pub fn blob(&self) -> Vec<u8> {
        STANDARD.decode(&self.key).unwrap_or_default()
    }
}

/// The OpenSSH SHA-256 fingerprint of a key blob: `SHA256:` and the
/// unpadded base64 of the digest.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

fn embedded_algorithm(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Generated with `ssh-keygen -t ed25519 -C test@herald`; the fingerprint
    // is what `ssh-keygen -l -f` prints for it.
    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFaodLDhNdClszCso3EXuOMHOAUVfVRGhxXbuscS7iXe test@herald";
    const ED25519_FP: &str = "SHA256:o3BrzSqM9NBbcz0fiG43csDWa6pv6uUAihtj04A+ZKQ";

    #[test]
    fn parses_an_openssh_line_and_fingerprints_it_like_ssh_keygen() {
        let k = SshKey::parse(&format!("{ED25519}\n"), 7).unwrap();
        assert_eq!(k.algorithm, "ssh-ed25519");
        assert_eq!(k.comment, "test@herald");
        assert_eq!(k.fingerprint, ED25519_FP);
        assert_eq!(k.added_ms, 7);
        assert_eq!(fingerprint(&k.blob()), ED25519_FP);
    }

    #[test]
    fn refuses_what_is_not_a_public_key() {
        assert!(
            SshKey::parse("-----BEGIN OPENSSH PRIVATE KEY-----", 0)
                .unwrap_err()
                .contains("private")
        );
        assert!(SshKey::parse("ssh-dss AAAA", 0).unwrap_err().contains("supported type"));
        assert!(SshKey::parse("ssh-ed25519 !!!", 0).unwrap_err().contains("base64"));
        // An RSA type with an ed25519 blob.
        let swapped = ED25519.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(SshKey::parse(&swapped, 0).unwrap_err().contains("does not hold"));
    }
}
