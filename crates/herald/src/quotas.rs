//! The per-user quota settings of `herald serve` (flags, `HERALD_*`
//! environment, TOML keys of the same names in snake_case). Each limit
//! keeps one tenant from growing what every request or the metadata costs
//! for everyone; each refusal names its setting.

use clap::Args;
use herald_store::Quotas;

use crate::config::FileConfig;

#[derive(Debug, Args)]
pub struct QuotaArgs {
    /// Most buckets one user may own [default: 1000].
    #[arg(long, env = "HERALD_MAX_BUCKETS_PER_USER")]
    pub max_buckets_per_user: Option<u64>,
    /// Most topics one user may own [default: 1000].
    #[arg(long, env = "HERALD_MAX_TOPICS_PER_USER")]
    pub max_topics_per_user: Option<u64>,
    /// Most SQS queues one user may own [default: 1000].
    #[arg(long, env = "HERALD_MAX_QUEUES_PER_USER")]
    pub max_queues_per_user: Option<u64>,
    /// Most topic + queue configurations in one bucket's notification configuration [default: 100].
    #[arg(long, env = "HERALD_MAX_NOTIFICATION_CONFIGS_PER_BUCKET")]
    pub max_notification_configs_per_bucket: Option<u64>,
    /// Most multipart uploads one user may have in progress [default: 10000].
    #[arg(long, env = "HERALD_MAX_MULTIPART_UPLOADS_PER_USER")]
    pub max_multipart_uploads_per_user: Option<u64>,
    /// Most bytes of x-amz-meta-* names and values per object [default: 2048, as S3].
    #[arg(long, env = "HERALD_MAX_USER_METADATA_BYTES")]
    pub max_user_metadata_bytes: Option<u64>,
}

impl QuotaArgs {
    /// Flags (and environment) win over the file, the file over the defaults.
    pub fn resolve(&self, file: &FileConfig) -> Quotas {
        let d = Quotas::default();
        Quotas {
            buckets_per_user: self
                .max_buckets_per_user
                .or(file.max_buckets_per_user)
                .unwrap_or(d.buckets_per_user),
            topics_per_user: self
                .max_topics_per_user
                .or(file.max_topics_per_user)
                .unwrap_or(d.topics_per_user),
            queues_per_user: self
                .max_queues_per_user
                .or(file.max_queues_per_user)
                .unwrap_or(d.queues_per_user),
            notification_configs_per_bucket: self
                .max_notification_configs_per_bucket
                .or(file.max_notification_configs_per_bucket)
                .unwrap_or(d.notification_configs_per_bucket),
            multipart_uploads_per_user: self
                .max_multipart_uploads_per_user
                .or(file.max_multipart_uploads_per_user)
                .unwrap_or(d.multipart_uploads_per_user),
            user_metadata_bytes: self
                .max_user_metadata_bytes
                .or(file.max_user_metadata_bytes)
                .unwrap_or(d.user_metadata_bytes),
        }
    }
}
