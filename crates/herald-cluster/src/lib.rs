//! Herald nodes sharing NATS JetStream.
//!
//! Nodes in gateway mode against one upstream S3 become interchangeable
//! when they share two things through JetStream:
//!
//! - the metadata (users and keys, buckets, topics, notification
//!   configurations, bucket policies): one key-value bucket,
//!   `<prefix>-meta`, mirrored into every node's own database by
//!   [`meta::MetaSync`];
//! - each persistent topic's queue: a stream every node delivers from
//!   (`herald_notify::shared_log`).
//!
//! Everything this crate creates in NATS is named by the cluster prefix,
//! so several deployments (or test runs) can share one NATS.

pub mod meta;

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream;

pub use meta::MetaSync;

/// How long connecting (at start) may take before Herald gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the cluster's NATS.
#[derive(Debug, Clone, Default)]
pub struct ClusterSettings {
    /// `nats://host:port` (or `tls://`) URLs of the NATS servers.
    pub servers: Vec<String>,
    /// Names every stream and key-value bucket (`[A-Za-z0-9_-]`, 1-32).
    pub prefix: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    /// A PEM file of the CA that signed the NATS servers' certificates
    /// (TLS is then required).
    pub tls_ca: Option<PathBuf>,
    /// Key-value and stream replicas (1 for a single NATS server).
    pub replicas: usize,
    /// Bytes one topic's shared stream may hold (`--cluster-max-topic-bytes`).
    pub max_topic_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("invalid cluster settings: {0}")]
    Settings(String),
    #[error("cannot reach the cluster's NATS at {servers}: {error}")]
    Connect { servers: String, error: String },
    #[error("NATS JetStream: {0}")]
    JetStream(String),
}

/// The servers as logs and errors show them: a `nats://user:password@…`
/// URL without its credentials.
pub fn servers_for_logs(servers: &[String]) -> String {
    servers
        .iter()
        .map(|s| herald_endpoints::redact(s))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `prefix` can name streams, key-value buckets and subjects.
pub fn valid_prefix(prefix: &str) -> bool {
    (1..=32).contains(&prefix.len())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A node's connection to the cluster.
#[derive(Clone)]
pub struct Cluster {
    js: jetstream::Context,
    prefix: String,
    replicas: usize,
    max_topic_bytes: u64,
    node: String,
}

impl Cluster {
    /// Connects to NATS (failing within [`CONNECT_TIMEOUT`] when no server
    /// answers; once connected, the client reconnects by itself).
    pub async fn connect(settings: &ClusterSettings, node: &str) -> Result<Cluster, ClusterError> {
        if !valid_prefix(&settings.prefix) {
            return Err(ClusterError::Settings(format!(
                "cluster prefix {:?}: use 1-32 letters, digits, '-' or '_'",
                settings.prefix
            )));
        }
        if settings.servers.is_empty() {
            return Err(ClusterError::Settings("no NATS server given".into()));
        }
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("herald {node}"))
            .connection_timeout(CONNECT_TIMEOUT);
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            options = options.user_and_password(user.clone(), password.clone());
        }
        if let Some(token) = &settings.token {
            options = options.token(token.clone());
        }
        if let Some(ca) = &settings.tls_ca {
            options = options.add_root_certificates(ca.clone()).require_tls(true);
        }
        let servers = servers_for_logs(&settings.servers);
        let addrs: Vec<async_nats::ServerAddr> =
            settings
                .servers
                .iter()
                .map(|s| s.parse())
                .collect::<Result<_, _>>()
                .map_err(|e| ClusterError::Settings(format!("NATS server address: {e}")))?;
        let client = tokio::time::timeout(CONNECT_TIMEOUT * 2, options.connect(addrs))
            .await
            .map_err(|_| ClusterError::Connect {
                servers: servers.clone(),
                error: "timed out".into(),
            })?
            .map_err(|e| ClusterError::Connect {
                servers: servers.clone(),
                error: e.to_string(),
            })?;
        Ok(Cluster {
            js: jetstream::new(client),
            prefix: settings.prefix.clone(),
            replicas: settings.replicas.max(1),
            max_topic_bytes: settings.max_topic_bytes,
            node: node.to_owned(),
        })
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Copies NATS keeps of each stream and of the key-value bucket.
    pub fn replicas(&self) -> usize {
        self.replicas
    }

    /// Bytes one topic's shared stream may hold.
    pub fn max_topic_bytes(&self) -> u64 {
        self.max_topic_bytes
    }

    /// This node's id (stable across restarts: see [`node_id`]).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The key-value bucket of the shared metadata, made if missing.
    ///
    /// Its stream is made here with the key-value conventions (`KV_<name>`,
    /// subjects `$KV.<name>.>`, one value per key, rollups)
    /// rather than by the client's `create_key_value`, which first asks for
    /// account details that NATS servers before 2.10 answer in a form it
    /// cannot read.
    pub async fn meta_bucket(&self) -> Result<jetstream::kv::Store, ClusterError> {
        let bucket = format!("{}-meta", self.prefix);
        let config = jetstream::stream::Config {
            name: format!("KV_{bucket}"),
            description: Some("Herald's shared metadata (users, buckets, topics, configurations, policies)".into()),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_message_size: 1024 * 1024,
            storage: jetstream::stream::StorageType::File,
            num_replicas: self.replicas,
            allow_rollup: true,
            deny_delete: true,
            // Reads go to the stream's leader: a replica that is behind
            // must not answer the read that settles a lost race.
            allow_direct: false,
            discard: jetstream::stream::DiscardPolicy::New,
            ..Default::default()
        };
        self.js
            .get_or_create_stream(config)
            .await
            .map_err(|e| ClusterError::JetStream(format!("the metadata bucket's stream: {e}")))?;
        self.js
            .get_key_value(&bucket)
            .await
            .map_err(|e| ClusterError::JetStream(format!("the metadata bucket: {e}")))
    }
}

/// This node's id, made once and kept in the data dir (`node-id`): the
/// events it publishes carry it, so a restart publishes the same ids.
pub fn node_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if valid_prefix(id.trim()) => return Ok(id.trim().to_owned()),
        Ok(_) => return Err(std::io::Error::other(format!("{} is not a node id", path.display()))),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let id: String = (0..12)
        .map(|_| char::from_digit(rand::random_range(0..36u32), 36).expect("a digit"))
        .collect();
    let tmp = data_dir.join("node-id.tmp");
    std::fs::write(&tmp, &id)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_name_only_what_nats_allows() {
        assert!(valid_prefix("herald"));
        assert!(valid_prefix("test-1_a"));
        assert!(!valid_prefix(""));
        assert!(!valid_prefix("a.b"), "a dot would split subjects");
        assert!(!valid_prefix("a*"));
        assert!(!valid_prefix(&"x".repeat(33)));
    }

    #[test]
    fn logged_servers_carry_no_credentials() {
        let servers = vec![
            "nats://herald:s3cret@nats-1:4222".to_owned(),
            "tls://nats-2:4222".to_owned(),
        ];
        assert_eq!(servers_for_logs(&servers), "nats://nats-1:4222,tls://nats-2:4222");
    }

    #[test]
    fn a_node_keeps_its_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = node_id(dir.path()).unwrap();
        assert_eq!(first.len(), 12);
        assert_eq!(node_id(dir.path()).unwrap(), first);
        std::fs::write(dir.path().join("node-id"), "bad.id").unwrap();
        assert!(node_id(dir.path()).is_err());
    }
}
