//! Users and access keys.

use herald_model::user::{ANONYMOUS_NAME, valid_access_key_id, valid_user_name};
use herald_model::{AccessKey, User, UserProfile};
use redb::{ReadableTable, ReadableTableMetadata};

use crate::Store;
use crate::commit::Applied;
use crate::error::{StoreError, StoreResult};
use crate::records::{BucketRecord, now_ms};
use crate::tables::{BUCKETS, KEYS, RETIRED_NAMES, USERS};

/// Generates a key pair shaped like AWS's (20-char id, 40-char secret).
pub fn generate_access_key() -> AccessKey {
    const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let pick = |alphabet: &[u8], n: usize| -> String {
        (0..n)
            .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
            .collect()
    };
    AccessKey {
        access_key_id: format!("HK{}", pick(ID_CHARS, 18)),
        secret_access_key: pick(SECRET_CHARS, 40),
    }
}

impl Store {
    /// Creates a user with the given key, or a generated one, and its S3
    /// profile: e-mail address, display name, canonical id (the address
    /// and the id are unique: ACL grants find users by them).
    pub async fn create_user(&self, name: &str, key: Option<AccessKey>, profile: UserProfile) -> StoreResult<User> {
        if name == ANONYMOUS_NAME {
            return Err(StoreError::InvalidArgument(format!(
                "{ANONYMOUS_NAME:?} is reserved: unsigned requests go by it"
            )));
        }
        if let Some(e) = &profile.email
            && !herald_model::user::valid_email(e)
        {
            return Err(StoreError::InvalidArgument(format!("invalid e-mail address {e:?}")));
        }
        if let Some(d) = &profile.display_name
            && !herald_model::user::valid_display_name(d)
        {
            return Err(StoreError::InvalidArgument(format!("invalid display name {d:?}")));
        }
        if let Some(c) = &profile.canonical_id
            && !herald_model::user::valid_canonical_id(c)
        {
            return Err(StoreError::InvalidArgument(format!(
                "invalid canonical id {c:?}: use 1-128 letters, digits or $-_."
            )));
        }
        if let Some(t) = &profile.tenant
            && !herald_model::user::valid_tenant(t)
        {
            return Err(StoreError::InvalidArgument(format!(
                "invalid tenant {t:?}: use 1-64 letters, digits, - or _"
            )));
        }
        if !valid_user_name(name) {
            return Err(StoreError::InvalidArgument(format!(
                "invalid user name {name:?}: use 1-64 letters, digits or +=,.@_-"
            )));
        }
        let key = key.unwrap_or_else(generate_access_key);
        check_key(&key)?;
        let user = User {
            name: name.to_owned(),
            keys: vec![key],
            created_ms: now_ms(),
            email: profile.email,
            display_name: profile.display_name,
            canonical_id: profile.canonical_id,
            tenant: profile.tenant,
        };
        let reuse_name = profile.reuse_name;
        let u = user.clone();
        self.write_shared(move |txn| {
            let mut users = txn.open_table(USERS)?;
            let mut keys = txn.open_table(KEYS)?;
            if users.get(u.name.as_str())?.is_some() {
                return Err(StoreError::UserExists(u.name.clone()));
            }
            // (Checks only: the shared transaction must not be written
            // before every check has passed.)
            let mut reused: Vec<String> = Vec::new();
            let retired = txn.open_table(RETIRED_NAMES)?;
            for id in [u.name.as_str(), u.canonical_id()] {
                if retired.get(id)?.is_some() {
                    if !reuse_name {
                        return Err(StoreError::InvalidArgument(format!(
                            "{id:?} belonged to a removed user: objects it wrote in other users' buckets and ACL grants to it still name it. Pass --reuse-name to give them to the new user, or choose another name"
                        )));
                    }
                    reused.push(id.to_owned());
                }
            }
            drop(retired);
            // Names and canonical ids are one namespace: `id="x"` grants
            // and owners must never be able to mean two users.
            for row in users.iter()? {
                let (_, v) = row?;
                let other: User = serde_json::from_slice(v.value())?;
                if other.name == u.canonical_id() || other.canonical_id() == u.name {
                    return Err(StoreError::InvalidArgument(format!(
                        "{} is user {}'s name or canonical id",
                        if other.name == u.canonical_id() { u.canonical_id() } else { u.name.as_str() },
                        other.name
                    )));
                }
                if u.email.is_some() && other.email == u.email {
                    return Err(StoreError::InvalidArgument(format!(
                        "e-mail address {} is already user {}'s",
                        other.email.unwrap_or_default(),
                        other.name
                    )));
                }
                if other.canonical_id() == u.canonical_id() {
                    return Err(StoreError::InvalidArgument(format!(
                        "canonical id {} is already user {}'s",
                        u.canonical_id(),
                        other.name
                    )));
                }
            }
            let k = &u.keys[0].access_key_id;
            if keys.get(k.as_str())?.is_some() {
                return Err(StoreError::AccessKeyInUse(k.clone()));
            }
            users.insert(u.name.as_str(), serde_json::to_vec(&u)?.as_slice())?;
            keys.insert(k.as_str(), u.name.as_str())?;
            let mut retired = txn.open_table(RETIRED_NAMES)?;
            for id in &reused {
                retired.remove(id.as_str())?;
            }
            Ok(Applied::new(()))
        })
        .await?;
        self.reload_keys()?;
        Ok(user)
    }

    /// Gives an existing user one more access key (generated if `None`).
    pub async fn add_access_key(&self, name: &str, key: Option<AccessKey>) -> StoreResult<AccessKey> {
        let key = key.unwrap_or_else(generate_access_key);
        check_key(&key)?;
        let (name, k) = (name.to_owned(), key.clone());
        self.write_shared(move |txn| {
            let mut users = txn.open_table(USERS)?;
            let mut keys = txn.open_table(KEYS)?;
            let mut user: User = match users.get(name.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchUser(name.clone())),
            };
            if keys.get(k.access_key_id.as_str())?.is_some() {
                return Err(StoreError::AccessKeyInUse(k.access_key_id.clone()));
            }
            user.keys.push(k.clone());
            users.insert(name.as_str(), serde_json::to_vec(&user)?.as_slice())?;
            keys.insert(k.access_key_id.as_str(), name.as_str())?;
            Ok(Applied::new(()))
        })
        .await?;
        self.reload_keys()?;
        Ok(key)
    }

    /// Sets the root user's only key to `key`, creating the user if needed.
    /// Used at start when `HERALD_ROOT_*` is set, so the environment wins.
    pub async fn set_user_key(&self, name: &str, key: AccessKey) -> StoreResult<()> {
        check_key(&key)?;
        let name = name.to_owned();
        self.write_shared(move |txn| {
            let mut users = txn.open_table(USERS)?;
            let mut keys = txn.open_table(KEYS)?;
            if let Some(owner) = keys.get(key.access_key_id.as_str())?
                && owner.value() != name
            {
                return Err(StoreError::AccessKeyInUse(key.access_key_id.clone()));
            }
            let old: Option<User> = match users.get(name.as_str())? {
                Some(v) => Some(serde_json::from_slice(v.value())?),
                None => None,
            };
            let created_ms = old.as_ref().map(|u| u.created_ms).unwrap_or_else(now_ms);
            let (email, display_name, canonical_id, tenant) = match &old {
                Some(u) => (
                    u.email.clone(),
                    u.display_name.clone(),
                    u.canonical_id.clone(),
                    u.tenant.clone(),
                ),
                None => (None, None, None, None),
            };
            for k in old.iter().flat_map(|u| u.keys.iter()) {
                keys.remove(k.access_key_id.as_str())?;
            }
            let user = User {
                name: name.clone(),
                keys: vec![key.clone()],
                created_ms,
                email,
                display_name,
                canonical_id,
                tenant,
            };
            users.insert(name.as_str(), serde_json::to_vec(&user)?.as_slice())?;
            keys.insert(key.access_key_id.as_str(), name.as_str())?;
            Ok(Applied::new(()))
        })
        .await?;
        self.reload_keys()
    }

    /// Every user, by name.
    pub fn list_users(&self) -> StoreResult<Vec<User>> {
        let txn = self.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        let mut out = Vec::with_capacity(users.len()? as usize);
        for row in users.iter()? {
            let (_, v) = row?;
            out.push(serde_json::from_slice(v.value())?);
        }
        Ok(out)
    }

    /// One user.
    pub fn get_user(&self, name: &str) -> StoreResult<Option<User>> {
        let txn = self.db().begin_read()?;
        let users = txn.open_table(USERS)?;
        match users.get(name)? {
            Some(v) => Ok(Some(serde_json::from_slice(v.value())?)),
            None => Ok(None),
        }
    }

    /// Removes a user and its keys. Refused while the user owns buckets or
    /// topics, so none is ever left without an owner (or handed to the next
    /// user of the same name).
    pub async fn remove_user(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.write_shared(move |txn| {
            let mut users = txn.open_table(USERS)?;
            let mut keys = txn.open_table(KEYS)?;
            let buckets = txn.open_table(BUCKETS)?;
            let user: User = match users.get(name.as_str())? {
                Some(v) => serde_json::from_slice(v.value())?,
                None => return Err(StoreError::NoSuchUser(name.clone())),
            };
            let mut owned = 0;
            for row in buckets.iter()? {
                let (_, v) = row?;
                let b: BucketRecord = serde_json::from_slice(v.value())?;
                if b.owner == name {
                    owned += 1;
                }
            }
            if owned > 0 {
                return Err(StoreError::UserOwnsBuckets {
                    user: name.clone(),
                    buckets: owned,
                });
            }
            let topics = crate::quota::count(txn, crate::quota::TOPICS_KIND, &name)?;
            if topics > 0 {
                return Err(StoreError::UserOwnsTopics {
                    user: name.clone(),
                    topics,
                });
            }
            for k in &user.keys {
                keys.remove(k.access_key_id.as_str())?;
            }
            crate::ssh_keys::remove_all(txn, &name)?;
            users.remove(name.as_str())?;
            let mut retired = txn.open_table(RETIRED_NAMES)?;
            retired.insert(name.as_str(), now_ms())?;
            retired.insert(user.canonical_id(), now_ms())?;
            Ok(Applied::new(()))
        })
        .await?;
        self.reload_keys()
    }

    /// The user and secret behind an access key id.
    pub fn lookup_key(&self, access_key_id: &str) -> Option<(String, String)> {
        self.inner.keys.read().ok()?.get(access_key_id).cloned()
    }

    pub(crate) fn reload_keys(&self) -> StoreResult<()> {
        let mut map = std::collections::HashMap::new();
        for user in self.list_users()? {
            for k in user.keys {
                map.insert(k.access_key_id, (user.name.clone(), k.secret_access_key));
            }
        }
        if let Ok(mut keys) = self.inner.keys.write() {
            *keys = map;
        }
        Ok(())
    }
}

fn check_key(key: &AccessKey) -> StoreResult<()> {
    if !valid_access_key_id(&key.access_key_id) {
        return Err(StoreError::InvalidArgument(format!(
            "invalid access key id {:?}: use 3-128 printable characters without '/', ',' or '='",
            key.access_key_id
        )));
    }
    if key.secret_access_key.len() < 8 || key.secret_access_key.chars().any(char::is_whitespace) {
        return Err(StoreError::InvalidArgument(
            "secret key must be at least 8 characters without whitespace".into(),
        ));
    }
    Ok(())
}
