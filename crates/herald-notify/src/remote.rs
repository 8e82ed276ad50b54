//! Cluster mode: what another node changed in the shared metadata, made
//! live here (its rows are already in this node's store).

use std::sync::Arc;

use herald_model::notification;
use herald_store::SharedChange;

use super::Notifier;

impl Notifier {
    /// Brings the caches and topics up to date with changes another node
    /// made: a bucket's configuration (or the bucket itself, whose owner
    /// the planner caches), a topic created, changed or deleted.
    pub fn apply_shared_changes(self: &Arc<Self>, changes: &[SharedChange]) {
        for change in changes {
            match change {
                SharedChange::Bucket(bucket) | SharedChange::Notification(bucket) => self.reload_config(bucket),
                SharedChange::Topic { account, name } => self.reload_topic(account, name),
                SharedChange::User | SharedChange::BucketPolicy(_) => {}
            }
        }
    }

    fn reload_config(&self, bucket: &str) {
        let config = match self.store.get_notification_config(bucket) {
            Ok(Some(bytes)) => match notification::deserialize_json(&bytes) {
                Ok(cfg) => Some(cfg),
                Err(e) => {
                    tracing::error!(%bucket, error = %e, "unreadable notification configuration from the cluster");
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                tracing::error!(%bucket, error = %e, "cannot read a notification configuration the cluster changed");
                return;
            }
        };
        self.set_config(bucket, config);
    }

    fn reload_topic(self: &Arc<Self>, account: &str, name: &str) {
        match self.store.get_topic(account, name) {
            Ok(Some(record)) => {
                let n = self.clone();
                tokio::spawn(async move { n.install_written_topic(record).await });
            }
            Ok(None) => {
                let gone: Vec<String> = self
                    .topics()
                    .into_iter()
                    .filter(|t| t.record.account() == account && t.record.name == name)
                    .map(|t| t.record.arn.clone())
                    .collect();
                for arn in gone {
                    tracing::info!(topic = %arn, "topic deleted on another node");
                    self.remove_topic(&arn);
                }
            }
            Err(e) => tracing::error!(%account, topic = %name, error = %e, "cannot read a topic the cluster changed"),
        }
    }
}
