//! The SSH side of a connection: public-key login against the keys in the
//! store, and the `sftp` subsystem as the only thing a session can open.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use herald_model::ssh_key::fingerprint;
use herald_store::Store;
use russh::keys::PublicKey;
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId};

use crate::fs::ReadOnlyFs;

/// One client connection.
pub struct Connection {
    store: Store,
    access: Arc<dyn crate::access::BucketAccess>,
    peer: Option<SocketAddr>,
    /// The Herald user, once logged in.
    user: Option<String>,
    /// Session channels opened but not yet bound to a subsystem.
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// Set at login, read by the accept loop's login deadline.
    logged_in: Arc<AtomicBool>,
}

impl Connection {
    pub fn new(store: Store, access: Arc<dyn crate::access::BucketAccess>, peer: Option<SocketAddr>) -> Connection {
        Connection {
            store,
            access,
            peer,
            user: None,
            channels: HashMap::new(),
            logged_in: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether this connection has logged in (shared with the accept
    /// loop, which closes connections that do not in time).
    pub fn logged_in(&self) -> Arc<AtomicBool> {
        self.logged_in.clone()
    }

    /// Whether `key` is one of `user`'s registered keys. The fingerprint
    /// finds the record; the blob comparison makes the match exact.
    fn registered(&self, user: &str, key: &PublicKey) -> bool {
        let Ok(blob) = key.to_bytes() else { return false };
        match self.store.get_ssh_key(user, &fingerprint(&blob)) {
            Ok(Some(k)) => k.blob() == blob,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up SSH keys");
                false
            }
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    /// Spares the client a signature for a key that would be refused anyway.
    async fn auth_publickey_offered(&mut self, user: &str, offer: PublicKeyOffer<'_>) -> Result<Auth, Self::Error> {
        Ok(if self.registered(user, offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(&mut self, user: &str, key: VerifiedPublicKey<'_>) -> Result<Auth, Self::Error> {
        let fp = key.public_key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
        if self.registered(user, key.public_key) {
            tracing::info!(user, key = %fp, peer = ?self.peer, "sftp login");
            self.user = Some(user.to_owned());
            self.logged_in.store(true, Ordering::Relaxed);
            Ok(Auth::Accept)
        } else {
            tracing::info!(user, key = %fp, peer = ?self.peer, "sftp login refused: key not registered for this user");
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel_id: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        match (name, self.user.clone(), self.channels.remove(&channel_id)) {
            ("sftp", Some(user), Some(channel)) => {
                session.channel_success(channel_id)?;
                let viewer = crate::access::Viewer {
                    user,
                    peer: self.peer,
                    access: self.access.clone(),
                };
                let fs = ReadOnlyFs::new(self.store.clone(), viewer);
                russh_sftp::server::run(crate::pump::pumped(channel), fs).await;
            }
            _ => session.channel_failure(channel_id)?,
        }
        Ok(())
    }

    /// Shells and commands are not offered: this server speaks SFTP only.
    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        refuse(channel, session)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        refuse(channel, session)
    }

    async fn channel_eof(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.close(channel)?;
        Ok(())
    }
}

fn refuse(channel: ChannelId, session: &mut Session) -> Result<(), russh::Error> {
    session.extended_data(channel, 1, &b"This server offers SFTP only.\r\n"[..])?;
    session.channel_failure(channel)?;
    session.close(channel)
}
