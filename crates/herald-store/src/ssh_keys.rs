//! SSH public keys of users, for the SFTP service.
//!
//! Kept in their own table, keyed by (user, fingerprint), so the SFTP
//! login looks one key up without reading the user record, and access keys
//! (SigV4) and SSH keys can change independently.

use herald_model::{MAX_SSH_KEYS_PER_USER, SshKey};
use redb::ReadableTable;

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::tables::{SSH_KEYS, USERS};

impl Store {
    /// Registers an SSH key for a user. Refused for an unknown user, a key
    /// the user already has, or a user who has the maximum number of keys.
    pub async fn add_ssh_key(&self, user: &str, key: SshKey) -> StoreResult<()> {
        let user = user.to_owned();
        self.write(vec![], move |txn| {
            if txn.open_table(USERS)?.get(user.as_str())?.is_none() {
                return Err(StoreError::NoSuchUser(user.clone()));
            }
            let mut table = txn.open_table(SSH_KEYS)?;
            if table.get((user.as_str(), key.fingerprint.as_str()))?.is_some() {
                return Err(StoreError::InvalidArgument(format!(
                    "user {user} already has the SSH key {}",
                    key.fingerprint
                )));
            }
            let count = fingerprints(&table, &user)?.len();
            if count >= MAX_SSH_KEYS_PER_USER {
                return Err(StoreError::InvalidArgument(format!(
                    "user {user} already has {count} SSH keys, the maximum; remove one first (herald user rm-key)"
                )));
            }
            table.insert(
                (user.as_str(), key.fingerprint.as_str()),
                serde_json::to_vec(&key)?.as_slice(),
            )?;
            Ok(Applied::new(()))
        })
        .await
    }

    /// The SSH keys of a user, by fingerprint.
    pub fn list_ssh_keys(&self, user: &str) -> StoreResult<Vec<SshKey>> {
        let txn = self.db().begin_read()?;
        if txn.open_table(USERS)?.get(user)?.is_none() {
            return Err(StoreError::NoSuchUser(user.to_owned()));
        }
        let table = txn.open_table(SSH_KEYS)?;
        let mut out = Vec::new();
        for row in table.range((user, "")..)? {
            let (k, v) = row?;
            if k.value().0 != user {
                break;
            }
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// One SSH key of a user, if registered (the SFTP login check).
    pub fn get_ssh_key(&self, user: &str, fingerprint: &str) -> StoreResult<Option<SshKey>> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(SSH_KEYS)?;
        match table.get((user, fingerprint))? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// Removes one SSH key of a user.
    pub async fn remove_ssh_key(&self, user: &str, fingerprint: &str) -> StoreResult<()> {
        let (user, fingerprint) = (user.to_owned(), fingerprint.to_owned());
        self.write(vec![], move |txn| {
            if txn.open_table(USERS)?.get(user.as_str())?.is_none() {
                return Err(StoreError::NoSuchUser(user.clone()));
            }
            let mut table = txn.open_table(SSH_KEYS)?;
            if table.remove((user.as_str(), fingerprint.as_str()))?.is_none() {
                return Err(StoreError::InvalidArgument(format!(
                    "user {user} has no SSH key {fingerprint} (see herald user keys {user})"
                )));
            }
            Ok(Applied::new(()))
        })
        .await
    }
}

/// Removes every SSH key of a user (inside the transaction removing it).
pub(crate) fn remove_all(txn: &redb::WriteTransaction, user: &str) -> StoreResult<()> {
    let mut table = txn.open_table(SSH_KEYS)?;
    for fp in fingerprints(&table, user)? {
        table.remove((user, fp.as_str()))?;
    }
    Ok(())
}

/// The fingerprints of a user's keys (rows are sorted by user first).
fn fingerprints(
    table: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
    user: &str,
) -> StoreResult<Vec<String>> {
    let mut out = Vec::new();
    for row in table.range((user, "")..)? {
        let (k, _) = row?;
        let (owner, fp) = k.value();
        if owner != user {
            break;
        }
        out.push(fp.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SshKey {
        // A syntactically valid ed25519 blob with a distinct last byte.
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[n; 32]);
        use base64::Engine;
        let line = format!(
            "ssh-ed25519 {} k{n}",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        SshKey::parse(&line, 0).unwrap()
    }

    #[tokio::test]
    async fn keys_are_per_user_limited_and_removed_with_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_user("alice", None, Default::default()).await.unwrap();
        store.create_user("bob", None, Default::default()).await.unwrap();
        for n in 0..MAX_SSH_KEYS_PER_USER as u8 {
            store.add_ssh_key("alice", key(n)).await.unwrap();
        }
        let err = store.add_ssh_key("alice", key(100)).await.unwrap_err().to_string();
        assert!(err.contains("maximum"), "{err}");
        // Another user may register the same key.
        store.add_ssh_key("bob", key(0)).await.unwrap();
        let dup = store.add_ssh_key("bob", key(0)).await.unwrap_err().to_string();
        assert!(dup.contains("already has the SSH key"), "{dup}");
        assert!(matches!(
            store.add_ssh_key("carol", key(1)).await,
            Err(StoreError::NoSuchUser(_))
        ));

        let alice = store.list_ssh_keys("alice").unwrap();
        assert_eq!(alice.len(), MAX_SSH_KEYS_PER_USER);
        assert_eq!(store.list_ssh_keys("bob").unwrap(), vec![key(0)]);
        let fp = key(3).fingerprint;
        assert_eq!(store.get_ssh_key("alice", &fp).unwrap(), Some(key(3)));
        assert_eq!(store.get_ssh_key("bob", &fp).unwrap(), None);

        store.remove_ssh_key("alice", &fp).await.unwrap();
        assert_eq!(store.get_ssh_key("alice", &fp).unwrap(), None);
        assert!(store.remove_ssh_key("alice", &fp).await.is_err());
        store.add_ssh_key("alice", key(100)).await.unwrap();

        store.remove_user("alice").await.unwrap();
        let reuse = herald_model::UserProfile {
            reuse_name: true,
            ..Default::default()
        };
        store.create_user("alice", None, reuse).await.unwrap();
        assert!(store.list_ssh_keys("alice").unwrap().is_empty());
        assert_eq!(store.list_ssh_keys("bob").unwrap().len(), 1);
    }
}
