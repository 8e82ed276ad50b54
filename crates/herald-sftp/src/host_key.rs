//! The server's persistent host key: generated once, kept in the data dir,
//! so clients that recorded it in `known_hosts` keep trusting the server
//! across restarts.

use std::io;
use std::path::Path;

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};

/// File name of the host key inside the data dir (as OpenSSH names it).
pub const HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// Loads the host key from `dir`, generating and saving it (mode 0600)
/// on first start.
pub fn load_or_generate(dir: &Path) -> io::Result<PrivateKey> {
    let path = dir.join(HOST_KEY_FILE);
    if path.exists() {
        return PrivateKey::read_openssh_file(&path)
            .map_err(|e| io::Error::other(format!("cannot read the SSH host key {}: {e}", path.display())));
    }
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&rand::random::<[u8; 32]>()));
    // Written under a temporary name and renamed, so a crash never leaves
    // half a key that would stop the next start.
    let tmp = dir.join(format!("{HOST_KEY_FILE}.tmp"));
    key.write_openssh_file(&tmp, LineEnding::LF)
        .map_err(|e| io::Error::other(format!("cannot write the SSH host key {}: {e}", tmp.display())))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    tracing::info!(path = %path.display(), "generated the SSH host key");
    Ok(key)
}

/// The host key's fingerprint as `ssh-keygen -l` and clients show it.
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_generate(dir.path()).unwrap();
        let again = load_or_generate(dir.path()).unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&again));
        assert!(fingerprint(&first).starts_with("SHA256:"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(HOST_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only the owner may read the host key");
    }
}
