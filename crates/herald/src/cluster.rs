//! `herald serve --cluster`: joining the nodes that share a NATS
//! JetStream (see `herald_cluster` and docs/cluster.md).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use herald_cluster::{Cluster, ClusterSettings, MetaSync};
use herald_server::notify::shared_log::{SharedLog, StreamLimits};
use herald_store::Store;

/// A node's membership: the connection and the metadata mirror.
pub struct Membership {
    pub cluster: Cluster,
    pub meta: Arc<MetaSync>,
}

impl Membership {
    /// Connects, loads the cluster's metadata into `store` and makes the
    /// store share its own changes from now on. Fails (and the server does
    /// not start) when NATS cannot be reached.
    pub async fn join(settings: &ClusterSettings, data_dir: &Path, store: &Store) -> anyhow::Result<Membership> {
        let node = herald_cluster::node_id(data_dir).context("cannot read or make this node's id")?;
        let cluster = Cluster::connect(settings, &node).await?;
        let meta = MetaSync::start(&cluster, store.clone())
            .await
            .context("cannot load the cluster's shared metadata")?;
        store.set_shared_sink(meta.clone());
        tracing::info!(node = %node, prefix = %settings.prefix, servers = %herald_cluster::servers_for_logs(&settings.servers), "joined the cluster");
        Ok(Membership { cluster, meta })
    }

    /// The pipeline's view: persistent topics' queues as shared streams.
    pub fn shared_log(&self) -> Arc<SharedLog> {
        Arc::new(SharedLog::new(
            self.cluster.jetstream().clone(),
            self.cluster.prefix(),
            self.cluster.node(),
            StreamLimits {
                replicas: self.cluster.replicas(),
                max_bytes: self.cluster.max_topic_bytes(),
            },
        ))
    }
}

/// `/metrics`' view of the membership.
struct Status(Arc<MetaSync>);

impl herald_server::ClusterStatus for Status {
    fn connected(&self) -> bool {
        self.0.connected()
    }

    fn unsettled_changes(&self) -> usize {
        self.0.unsettled_changes()
    }
}

impl Membership {
    /// What the server's `/metrics` reads of the cluster.
    pub fn status(&self) -> Arc<dyn herald_server::ClusterStatus> {
        Arc::new(Status(self.meta.clone()))
    }
}
