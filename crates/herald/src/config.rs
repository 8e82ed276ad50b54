//! `herald serve` settings: embedded defaults, then an optional TOML file,
//! then `HERALD_*` environment variables, then flags (flags win).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

pub const DEFAULT_DATA_DIR: &str = "./herald-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9000";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_DOMAIN: &str = "localhost";
pub const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
/// `s3s` logs every client error (404s included) at ERROR level; Herald logs
/// what matters itself, so s3s is quiet unless asked for.
pub const DEFAULT_LOG_FILTER: &str = "info,s3s=off,rskafka=error";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Flags of `herald serve`. Every flag can also be given as a `HERALD_*`
/// environment variable or in the TOML file named by `--config`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys, e.g. `data_dir`).
    #[arg(long, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where objects and metadata live [default: ./herald-data].
    #[arg(long, env = "HERALD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:9000].
    #[arg(long, env = "HERALD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Region reported to clients and used in SigV4 scopes and ARNs [default: us-east-1].
    #[arg(long, env = "HERALD_REGION")]
    pub region: Option<String>,
    /// Base domain(s) for virtual-host-style requests (`bucket.DOMAIN`); repeat or comma-separate [default: localhost].
    #[arg(long = "domain", env = "HERALD_DOMAIN", value_delimiter = ',')]
    pub domains: Vec<String>,
    /// PEM certificate chain: serve HTTPS instead of HTTP (needs --tls-key).
    #[arg(long, env = "HERALD_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "HERALD_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `herald_server=debug,info` [default: info,s3s=off,rskafka=error].
    #[arg(long, env = "HERALD_LOG")]
    pub log_level: Option<String>,
    /// Seconds in-flight requests may take to finish after SIGTERM/SIGINT [default: 30].
    #[arg(long, env = "HERALD_SHUTDOWN_GRACE_SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// Also serve buckets read-only over SFTP on this address (SSH key logins; off by default).
    #[arg(long, env = "HERALD_SFTP_LISTEN")]
    pub sftp_listen: Option<SocketAddr>,
    /// Per-user quotas (`--max-buckets-per-user` etc., see quotas.rs).
    #[command(flatten)]
    pub quotas: crate::quotas::QuotaArgs,
    /// Seconds a client has to send a complete request head (also its first request after connecting) [default: 30].
    #[arg(long, env = "HERALD_HEADER_READ_TIMEOUT_SECS")]
    pub header_read_timeout_secs: Option<u64>,
    /// Seconds a client has to complete the TLS handshake [default: 10].
    #[arg(long, env = "HERALD_TLS_HANDSHAKE_TIMEOUT_SECS")]
    pub tls_handshake_timeout_secs: Option<u64>,
    /// Seconds a connection with no request in flight is kept open [default: 60].
    #[arg(long, env = "HERALD_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request body may send nothing, or a response wait for the client to read, before the connection is closed [default: 30].
    #[arg(long, env = "HERALD_STALL_TIMEOUT_SECS")]
    pub stall_timeout_secs: Option<u64>,
    /// Connections served at once; more clients wait until one closes [default: 4096].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Accept AWS Signature Version 2 on S3 (off by default; its Date must then be within 15 minutes).
    #[arg(long, env = "HERALD_ALLOW_SIGV2")]
    pub allow_sigv2: bool,
    /// Serve per-tenant, per-topic and per-queue metrics on this address (meant for loopback; off by default).
    #[arg(long, env = "HERALD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory tenants' `ca-location` files are read from (relative paths from here; unset: ca-location refused).
    #[arg(long, env = "HERALD_CA_DIR")]
    pub ca_dir: Option<PathBuf>,
    /// CIDR blocks no endpoint may connect to, on top of the default deny list; repeat or comma-separate.
    #[arg(long = "endpoint-deny", env = "HERALD_ENDPOINT_DENY", value_delimiter = ',')]
    pub endpoint_deny: Vec<String>,
    /// CIDR blocks endpoints may connect to even when denied (Herald's own listen addresses excepted); repeat or comma-separate.
    #[arg(long = "endpoint-allow", env = "HERALD_ENDPOINT_ALLOW", value_delimiter = ',')]
    pub endpoint_allow: Vec<String>,
    /// Seconds a lifecycle "day" lasts, for tests and demos (like Ceph's rgw_lc_debug_interval) [default: 86400, with S3's rounding to midnight UTC].
    #[arg(long, env = "HERALD_LIFECYCLE_DAY_SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub lifecycle_day_secs: Option<u64>,
    /// Follow AWS or Ceph where they disagree (TestEvent, PUT ?notification by Id, tenants in topic ARNs; see docs/notifications.md) [default: aws].
    #[arg(long, env = "HERALD_COMPAT")]
    pub compat: Option<herald_model::Compat>,
    /// Seconds an event of a topic that sets no time_to_live (or sets None) may wait; 0 = forever [default: 0].
    #[arg(long, env = "HERALD_TOPIC_DEFAULT_TIME_TO_LIVE")]
    pub topic_default_time_to_live: Option<u64>,
    /// Failed attempts before an event of a topic that sets no max_retries (or sets None) is dropped; 0 = retry forever [default: 0].
    #[arg(long, env = "HERALD_TOPIC_DEFAULT_MAX_RETRIES")]
    pub topic_default_max_retries: Option<u64>,
    /// Seconds between attempts for a topic that sets no retry_sleep_duration (or sets None) [default: 1].
    #[arg(long, env = "HERALD_TOPIC_DEFAULT_RETRY_SLEEP_DURATION")]
    pub topic_default_retry_sleep_duration: Option<u64>,
    /// The longest `retention` a topic may set, in seconds (at most 7776000 = 90 days) [default: 604800 = 7 days].
    #[arg(long, env = "HERALD_TOPIC_MAX_RETENTION", value_parser = clap::value_parser!(u64).range(0..=7_776_000))]
    pub topic_max_retention: Option<u64>,
    /// Bytes of delivered events one topic may retain at most, whatever its queue-max-bytes [default: 17179869184 = 16 GiB].
    #[arg(long, env = "HERALD_TOPIC_MAX_RETAINED_BYTES")]
    pub topic_max_retained_bytes: Option<u64>,
    /// With --compat ceph: a tenant's buckets publish to another user's topic of the tenant only where its policy allows sns:Publish (Ceph's rgw_topic_require_publish_policy; off: unless it denies).
    #[arg(long, env = "HERALD_TOPIC_REQUIRE_PUBLISH_POLICY")]
    pub topic_require_publish_policy: bool,
    /// Do not serve the web console under /console/ (it is on by default).
    #[arg(long, env = "HERALD_NO_CONSOLE")]
    pub no_console: bool,
    /// Seconds a console session may stay unused before it ends [default: 1800].
    #[arg(long, env = "HERALD_CONSOLE_SESSION_IDLE_SECS", value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub console_session_idle_secs: Option<u64>,
    /// Seconds between the console overview's samples of the counters (its charts keep one hour) [default: 30].
    #[arg(long, env = "HERALD_CONSOLE_SAMPLE_SECS", value_parser = clap::value_parser!(u64).range(5..=300))]
    pub console_sample_secs: Option<u64>,
    /// Mark the console's session cookie Secure even on plain HTTP (Herald behind a proxy that ends TLS).
    #[arg(long, env = "HERALD_CONSOLE_SECURE_COOKIE")]
    pub console_secure_cookie: bool,
    /// Gateway mode: the upstream S3 that keeps the objects (http(s)://host:port); Herald keeps none and adds its events (docs/gateway.md).
    #[arg(long, env = "HERALD_UPSTREAM_ENDPOINT")]
    pub upstream_endpoint: Option<String>,
    /// Gateway mode: the access key Herald signs upstream requests with.
    #[arg(long, env = "HERALD_UPSTREAM_ACCESS_KEY")]
    pub upstream_access_key: Option<String>,
    /// Gateway mode: the upstream secret key (prefer the environment or the file: flags show in `ps`).
    #[arg(long, env = "HERALD_UPSTREAM_SECRET_KEY", hide_env_values = true)]
    pub upstream_secret_key: Option<String>,
    /// Gateway mode: the region upstream requests are signed for [default: the server's --region].
    #[arg(long, env = "HERALD_UPSTREAM_REGION")]
    pub upstream_region: Option<String>,
    /// Gateway mode: let CreateBucket take over a bucket that already exists upstream (off: refused as BucketAlreadyExists).
    #[arg(long, env = "HERALD_UPSTREAM_ADOPT_EXISTING_BUCKETS")]
    pub upstream_adopt_existing_buckets: bool,
    /// Cluster mode (with gateway mode): NATS servers with JetStream the nodes share, comma-separated nats://host:port (docs/cluster.md).
    #[arg(long, env = "HERALD_CLUSTER")]
    pub cluster: Option<String>,
    /// Cluster mode: names every stream and key-value bucket, so deployments can share one NATS [default: herald].
    #[arg(long, env = "HERALD_CLUSTER_PREFIX")]
    pub cluster_prefix: Option<String>,
    /// Cluster mode: NATS user (with --cluster-password).
    #[arg(long, env = "HERALD_CLUSTER_USER")]
    pub cluster_user: Option<String>,
    /// Cluster mode: NATS password (prefer the environment or the file: flags show in `ps`).
    #[arg(long, env = "HERALD_CLUSTER_PASSWORD", hide_env_values = true)]
    pub cluster_password: Option<String>,
    /// Cluster mode: NATS token (prefer the environment or the file).
    #[arg(long, env = "HERALD_CLUSTER_TOKEN", hide_env_values = true)]
    pub cluster_token: Option<String>,
    /// Cluster mode: PEM file of the CA of the NATS servers' certificates (TLS is then required).
    #[arg(long, env = "HERALD_CLUSTER_TLS_CA")]
    pub cluster_tls_ca: Option<PathBuf>,
    /// Cluster mode: replicas of the shared streams and key-value bucket (NATS cluster size, up to 5) [default: 1].
    #[arg(long, env = "HERALD_CLUSTER_REPLICAS", value_parser = clap::value_parser!(u64).range(1..=5))]
    pub cluster_replicas: Option<u64>,
    /// Cluster mode: bytes one topic's shared stream may hold in NATS; a persistent topic's writes get 503 SlowDown beyond it (a topic's smaller queue-max-bytes applies too) [default: 1 GiB].
    #[arg(long, env = "HERALD_CLUSTER_MAX_TOPIC_BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub cluster_max_topic_bytes: Option<u64>,
}

/// The TOML file: the same settings, plus the root credentials (which are
/// never flags, so they do not show up in `ps`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub region: Option<String>,
    pub domains: Option<Vec<String>>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub shutdown_grace_secs: Option<u64>,
    pub sftp_listen: Option<SocketAddr>,
    pub header_read_timeout_secs: Option<u64>,
    pub tls_handshake_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub stall_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    pub allow_sigv2: Option<bool>,
    pub metrics_listen: Option<SocketAddr>,
    pub ca_dir: Option<PathBuf>,
    pub endpoint_deny: Option<Vec<String>>,
    pub endpoint_allow: Option<Vec<String>>,
    pub lifecycle_day_secs: Option<u64>,
    pub compat: Option<herald_model::Compat>,
    pub topic_default_time_to_live: Option<u64>,
    pub topic_default_max_retries: Option<u64>,
    pub topic_default_retry_sleep_duration: Option<u64>,
    pub topic_max_retention: Option<u64>,
    pub topic_max_retained_bytes: Option<u64>,
    pub topic_require_publish_policy: Option<bool>,
    pub no_console: Option<bool>,
    pub console_session_idle_secs: Option<u64>,
    pub console_sample_secs: Option<u64>,
    pub console_secure_cookie: Option<bool>,
    pub upstream_endpoint: Option<String>,
    pub upstream_access_key: Option<String>,
    pub upstream_secret_key: Option<String>,
    pub upstream_region: Option<String>,
    pub upstream_adopt_existing_buckets: Option<bool>,
    pub cluster: Option<String>,
    pub cluster_prefix: Option<String>,
    pub cluster_user: Option<String>,
    pub cluster_password: Option<String>,
    pub cluster_token: Option<String>,
    pub cluster_tls_ca: Option<PathBuf>,
    pub cluster_replicas: Option<u64>,
    pub cluster_max_topic_bytes: Option<u64>,
    pub max_buckets_per_user: Option<u64>,
    pub max_topics_per_user: Option<u64>,
    pub max_queues_per_user: Option<u64>,
    pub max_notification_configs_per_bucket: Option<u64>,
    pub max_multipart_uploads_per_user: Option<u64>,
    pub max_user_metadata_bytes: Option<u64>,
    pub root_access_key: Option<String>,
    pub root_secret_key: Option<String>,
}

/// Settings after merging every source.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub region: String,
    pub domains: Vec<String>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub shutdown_grace: Duration,
    /// Where the read-only SFTP service listens, if enabled.
    pub sftp_listen: Option<SocketAddr>,
    /// Root key pair from HERALD_ROOT_ACCESS_KEY/HERALD_ROOT_SECRET_KEY or the file.
    pub root_key: Option<(String, String)>,
    /// Per-user limits.
    pub quotas: herald_store::Quotas,
    /// Timeouts and the connection cap of the S3 port.
    pub connections: herald_server::ConnectionLimits,
    /// Whether SigV2-signed S3 requests are served.
    pub allow_sigv2: bool,
    /// Where the detailed (per-tenant) metrics are served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// The web console, unless turned off.
    pub console: Option<herald_server::ConsoleSettings>,
    /// Where `ca-location` files may be read from (none: refused).
    pub ca_dir: Option<PathBuf>,
    /// The operator's outbound deny and allow lists (the default deny list
    /// and Herald's own addresses are added by the policy itself).
    pub endpoint_deny: Vec<herald_endpoints::Cidr>,
    pub endpoint_allow: Vec<herald_endpoints::Cidr>,
    /// How long a lifecycle day is (a real one unless shortened).
    pub lifecycle_clock: herald_model::lifecycle::LifecycleClock,
    /// AWS's or Ceph's behaviour where they disagree.
    pub compat: herald_model::Compat,
    /// Retry settings of topics that leave them unset.
    pub topic_defaults: herald_server::notify::topic::TopicDefaults,
    /// Ceph mode: publishing within a tenant needs the topic policy too.
    pub topic_require_publish_policy: bool,
    /// Gateway mode's upstream (`None`: embedded mode).
    pub upstream: Option<herald_server::UpstreamSettings>,
    /// Cluster mode's NATS (`None`: a single node).
    pub cluster: Option<herald_cluster::ClusterSettings>,
}

/// Gateway mode's upstream from the flags and the file; `None` unless an
/// endpoint is given, and then both keys are required.
fn upstream_settings(
    flags: [Option<String>; 4],
    file: [Option<String>; 4],
    adopt_existing: bool,
    region: &str,
) -> anyhow::Result<Option<herald_server::UpstreamSettings>> {
    let [endpoint, access, secret, up_region] = flags;
    let [f_endpoint, f_access, f_secret, f_region] = file;
    let Some(endpoint) = endpoint.or(f_endpoint).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        anyhow::bail!("upstream_endpoint must be an http:// or https:// URL, not {endpoint:?}");
    }
    let (Some(access_key), Some(secret_key)) = (access.or(f_access), secret.or(f_secret)) else {
        anyhow::bail!("gateway mode needs upstream_access_key and upstream_secret_key with upstream_endpoint");
    };
    Ok(Some(herald_server::UpstreamSettings {
        endpoint: endpoint.trim_end_matches('/').to_owned(),
        access_key,
        secret_key,
        region: up_region.or(f_region).unwrap_or_else(|| region.to_owned()),
        adopt_existing,
    }))
}

/// Cluster mode's settings; `None` unless NATS servers are given.
fn cluster_settings(
    servers: Option<String>,
    prefix: Option<String>,
    [user, password, token]: [Option<String>; 3],
    tls_ca: Option<PathBuf>,
    [replicas, max_topic_bytes]: [Option<u64>; 2],
) -> anyhow::Result<Option<herald_cluster::ClusterSettings>> {
    let Some(servers) = servers.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let servers: Vec<String> = servers
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(bad) = servers
        .iter()
        .find(|s| !(s.starts_with("nats://") || s.starts_with("tls://")))
    {
        anyhow::bail!(
            "cluster servers must be nats:// or tls:// URLs, not {:?}",
            herald_endpoints::redact(bad)
        );
    }
    let prefix = prefix.unwrap_or_else(|| "herald".to_owned());
    if !herald_cluster::valid_prefix(&prefix) {
        anyhow::bail!("cluster_prefix {prefix:?}: use 1-32 letters, digits, '-' or '_'");
    }
    if user.is_some() != password.is_some() {
        anyhow::bail!("cluster_user and cluster_password go together");
    }
    Ok(Some(herald_cluster::ClusterSettings {
        servers,
        prefix,
        user,
        password,
        token,
        tls_ca,
        replicas: usize::try_from(replicas.unwrap_or(1)).unwrap_or(1),
        max_topic_bytes: match max_topic_bytes {
            Some(0) => anyhow::bail!("cluster_max_topic_bytes must be at least 1"),
            Some(n) => n,
            None => herald_server::notify::shared_log::DEFAULT_MAX_STREAM_BYTES,
        },
    }))
}

/// The topic retry defaults: time to live, max retries and retry sleep,
/// each from the flag, else the file, else the built-in value.
fn topic_defaults(flags: [Option<u64>; 5], file: [Option<u64>; 5]) -> herald_server::notify::topic::TopicDefaults {
    let built_in = herald_server::notify::topic::TopicDefaults::default();
    let [ttl, retries, sleep, retention, retained] = flags;
    let [file_ttl, file_retries, file_sleep, file_retention, file_retained] = file;
    herald_server::notify::topic::TopicDefaults {
        time_to_live: ttl.or(file_ttl).unwrap_or(built_in.time_to_live),
        max_retries: retries.or(file_retries).unwrap_or(built_in.max_retries),
        retry_sleep_duration: sleep.or(file_sleep).unwrap_or(built_in.retry_sleep_duration),
        max_retention: retention
            .or(file_retention)
            .unwrap_or(built_in.max_retention)
            .min(herald_server::notify::topic::MAX_RETENTION_SECS),
        max_retained_bytes: retained.or(file_retained).unwrap_or(built_in.max_retained_bytes),
    }
}

/// A lifecycle day of `secs` seconds (1 to 86,400; unset: a real day).
fn lifecycle_clock(secs: Option<u64>) -> anyhow::Result<herald_model::lifecycle::LifecycleClock> {
    use herald_model::lifecycle::LifecycleClock;
    match secs {
        None | Some(86_400) => Ok(LifecycleClock::default()),
        Some(s @ 1..86_400) => Ok(LifecycleClock {
            day_ms: i64::try_from(s * 1000).unwrap_or(i64::MAX),
        }),
        Some(s) => anyhow::bail!("lifecycle_day_secs must be 1 to 86400, not {s}"),
    }
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<Settings> {
        let file = match &self.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let quotas = self.quotas.resolve(&file);
        let env_root = (
            std::env::var("HERALD_ROOT_ACCESS_KEY").ok().filter(|s| !s.is_empty()),
            std::env::var("HERALD_ROOT_SECRET_KEY").ok().filter(|s| !s.is_empty()),
        );
        let root_key = match (env_root.0.or(file.root_access_key), env_root.1.or(file.root_secret_key)) {
            (Some(a), Some(s)) => Some((a, s)),
            (None, None) => None,
            _ => bail!("HERALD_ROOT_ACCESS_KEY and HERALD_ROOT_SECRET_KEY must be given together"),
        };
        let tls = match (self.tls_cert.or(file.tls_cert), self.tls_key.or(file.tls_key)) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key must be given together"),
        };
        let domains = if !self.domains.is_empty() {
            self.domains
        } else {
            file.domains.unwrap_or_else(|| vec![DEFAULT_DOMAIN.to_owned()])
        };
        let cidrs = |flag: Vec<String>, file: Option<Vec<String>>, name: &str| {
            let list = if flag.is_empty() {
                file.unwrap_or_default()
            } else {
                flag
            };
            herald_endpoints::EndpointPolicy::parse_list(&list).map_err(|e| anyhow::anyhow!("{name}: {e}"))
        };
        let endpoint_deny = cidrs(self.endpoint_deny, file.endpoint_deny, "--endpoint-deny")?;
        let endpoint_allow = cidrs(self.endpoint_allow, file.endpoint_allow, "--endpoint-allow")?;
        let self_limits = [
            self.header_read_timeout_secs,
            self.tls_handshake_timeout_secs,
            self.idle_timeout_secs,
            self.stall_timeout_secs,
        ];
        let self_limits = (self_limits, self.max_connections);
        let file_limits = (
            [
                file.header_read_timeout_secs,
                file.tls_handshake_timeout_secs,
                file.idle_timeout_secs,
                file.stall_timeout_secs,
            ],
            file.max_connections,
        );
        let region = self.region.or(file.region).unwrap_or_else(|| DEFAULT_REGION.to_owned());
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            bail!("invalid region {region:?}");
        }
        let region_for_console = region.clone();
        Ok(Settings {
            data_dir: self
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen: match self.listen.or(file.listen) {
                Some(a) => a,
                None => DEFAULT_LISTEN.parse().expect("valid default address"),
            },
            region,
            domains: domains
                .into_iter()
                .map(|d| d.trim().to_owned())
                .filter(|d| !d.is_empty())
                .collect(),
            tls,
            log_format: self.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            log_level: self
                .log_level
                .or(file.log_level)
                .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned()),
            shutdown_grace: Duration::from_secs(
                self.shutdown_grace_secs
                    .or(file.shutdown_grace_secs)
                    .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
            ),
            sftp_listen: self.sftp_listen.or(file.sftp_listen),
            root_key,
            quotas,
            connections: connection_limits(self_limits, file_limits)?,
            allow_sigv2: self.allow_sigv2 || file.allow_sigv2.unwrap_or(false),
            metrics_listen: self.metrics_listen.or(file.metrics_listen),
            console: console_settings(
                self.no_console || file.no_console.unwrap_or(false),
                self.console_session_idle_secs.or(file.console_session_idle_secs),
                self.console_sample_secs.or(file.console_sample_secs),
                self.console_secure_cookie || file.console_secure_cookie.unwrap_or(false),
                &region_for_console,
            )?,
            upstream: upstream_settings(
                [
                    self.upstream_endpoint,
                    self.upstream_access_key,
                    self.upstream_secret_key,
                    self.upstream_region,
                ],
                [
                    file.upstream_endpoint,
                    file.upstream_access_key,
                    file.upstream_secret_key,
                    file.upstream_region,
                ],
                self.upstream_adopt_existing_buckets || file.upstream_adopt_existing_buckets.unwrap_or(false),
                &region_for_console,
            )?,
            cluster: cluster_settings(
                self.cluster.or(file.cluster),
                self.cluster_prefix.or(file.cluster_prefix),
                [
                    self.cluster_user.or(file.cluster_user),
                    self.cluster_password.or(file.cluster_password),
                    self.cluster_token.or(file.cluster_token),
                ],
                self.cluster_tls_ca.or(file.cluster_tls_ca),
                [
                    self.cluster_replicas.or(file.cluster_replicas),
                    self.cluster_max_topic_bytes.or(file.cluster_max_topic_bytes),
                ],
            )?,
            ca_dir: self.ca_dir.or(file.ca_dir),
            endpoint_deny,
            endpoint_allow,
            lifecycle_clock: lifecycle_clock(self.lifecycle_day_secs.or(file.lifecycle_day_secs))?,
            compat: self.compat.or(file.compat).unwrap_or_default(),
            topic_require_publish_policy: self.topic_require_publish_policy
                || file.topic_require_publish_policy.unwrap_or(false),
            topic_defaults: topic_defaults(
                [
                    self.topic_default_time_to_live,
                    self.topic_default_max_retries,
                    self.topic_default_retry_sleep_duration,
                    self.topic_max_retention,
                    self.topic_max_retained_bytes,
                ],
                [
                    file.topic_default_time_to_live,
                    file.topic_default_max_retries,
                    file.topic_default_retry_sleep_duration,
                    file.topic_max_retention,
                    file.topic_max_retained_bytes,
                ],
            ),
        })
    }
}

/// The four connection timeouts (header read, TLS handshake, idle, stall; in
/// seconds) and the connection cap, as one source gives them.
type LimitSettings = ([Option<u64>; 4], Option<usize>);

/// The connection limits from the flags, else the file, else the
/// defaults. Zero is refused: a zero timeout or cap would make the server
/// unusable.
fn connection_limits(flags: LimitSettings, file: LimitSettings) -> anyhow::Result<herald_server::ConnectionLimits> {
    let d = herald_server::ConnectionLimits::default();
    let secs = |flag: Option<u64>, file: Option<u64>, default: Duration, name: &str| -> anyhow::Result<Duration> {
        match flag.or(file) {
            Some(0) => bail!("--{name} must be at least 1"),
            Some(n) => Ok(Duration::from_secs(n)),
            None => Ok(default),
        }
    };
    let ([header, tls, idle, stall], max) = flags;
    let ([file_header, file_tls, file_idle, file_stall], file_max) = file;
    let max_connections = match max.or(file_max) {
        Some(0) => bail!("--max-connections must be at least 1"),
        Some(n) => n,
        None => d.max_connections,
    };
    Ok(herald_server::ConnectionLimits {
        header_read_timeout: secs(header, file_header, d.header_read_timeout, "header-read-timeout-secs")?,
        tls_handshake_timeout: secs(tls, file_tls, d.tls_handshake_timeout, "tls-handshake-timeout-secs")?,
        idle_timeout: secs(idle, file_idle, d.idle_timeout, "idle-timeout-secs")?,
        stall_timeout: secs(stall, file_stall, d.stall_timeout, "stall-timeout-secs")?,
        max_connections,
    })
}

fn load_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

/// The console's settings: `None` when turned off.
fn console_settings(
    off: bool,
    idle_secs: Option<u64>,
    sample_secs: Option<u64>,
    secure_cookie: bool,
    region: &str,
) -> anyhow::Result<Option<herald_server::ConsoleSettings>> {
    if off {
        return Ok(None);
    }
    let mut c = herald_server::ConsoleSettings::new(region);
    if let Some(secs) = idle_secs {
        if !(60..=86_400).contains(&secs) {
            bail!("console_session_idle_secs must be between 60 and 86400, not {secs}");
        }
        c.sessions.idle = Duration::from_secs(secs);
    }
    if let Some(secs) = sample_secs {
        if !(5..=300).contains(&secs) {
            bail!("console_sample_secs must be between 5 and 300, not {secs}");
        }
        c.sample_every = Duration::from_secs(secs);
    }
    c.secure_cookie = secure_cookie;
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[test]
    fn defaults_apply_without_anything() {
        let s = T::parse_from(["t"]).args.resolve().unwrap();
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(s.region, DEFAULT_REGION);
        assert_eq!(s.domains, vec!["localhost".to_owned()]);
        assert_eq!(s.sftp_listen, None, "SFTP is off unless asked for");
    }

    #[test]
    fn sftp_listen_comes_from_the_file_or_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(&file, "sftp_listen = \"127.0.0.1:2222\"\n").unwrap();
        let cfg = file.to_str().unwrap();
        let s = T::parse_from(["t", "--config", cfg]).args.resolve().unwrap();
        assert_eq!(s.sftp_listen, Some("127.0.0.1:2222".parse().unwrap()));
        let s = T::parse_from(["t", "--config", cfg, "--sftp-listen", "127.0.0.1:2200"])
            .args
            .resolve()
            .unwrap();
        assert_eq!(s.sftp_listen, Some("127.0.0.1:2200".parse().unwrap()));
    }

    #[test]
    fn flags_win_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9100\"\nregion = \"eu-west-1\"\ndata_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        let s = T::parse_from(["t", "--config", file.to_str().unwrap(), "--region", "ap-south-1"])
            .args
            .resolve()
            .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:9100");
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn endpoint_policy_settings_come_from_the_file_or_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(
            &file,
            "ca_dir = \"/etc/herald/ca\"\nendpoint_deny = [\"10.0.0.0/8\"]\nendpoint_allow = [\"10.1.0.0/16\", \"::1\"]\n",
        )
        .unwrap();
        let cfg = file.to_str().unwrap();
        let s = T::parse_from(["t", "--config", cfg]).args.resolve().unwrap();
        assert_eq!(s.ca_dir, Some(PathBuf::from("/etc/herald/ca")));
        assert_eq!((s.endpoint_deny.len(), s.endpoint_allow.len()), (1, 2));
        let s = T::parse_from(["t", "--config", cfg, "--endpoint-deny", "127.0.0.2/32,192.168.0.0/16"])
            .args
            .resolve()
            .unwrap();
        assert_eq!(s.endpoint_deny.len(), 2, "the flag replaces the file's list");
        let err = T::parse_from(["t", "--endpoint-allow", "10.0.0.0/99"])
            .args
            .resolve()
            .unwrap_err();
        assert!(format!("{err:#}").contains("--endpoint-allow"), "{err:#}");
    }

    #[test]
    fn connection_and_signature_settings_come_from_the_file_or_the_flags() {
        let s = T::parse_from(["t"]).args.resolve().unwrap();
        assert_eq!(s.connections, herald_server::ConnectionLimits::default());
        assert!(!s.allow_sigv2, "SigV2 is off unless asked for");
        assert_eq!(s.metrics_listen, None);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(
            &file,
            "header_read_timeout_secs = 5\nmax_connections = 10\nallow_sigv2 = true\nmetrics_listen = \"127.0.0.1:9101\"\n",
        )
        .unwrap();
        let cfg = file.to_str().unwrap();
        let s = T::parse_from(["t", "--config", cfg, "--max-connections", "20"])
            .args
            .resolve()
            .unwrap();
        assert_eq!(s.connections.header_read_timeout, Duration::from_secs(5));
        assert_eq!(s.connections.max_connections, 20, "the flag wins");
        assert!(s.allow_sigv2);
        assert_eq!(s.metrics_listen, Some("127.0.0.1:9101".parse().unwrap()));
        assert!(T::parse_from(["t", "--idle-timeout-secs", "0"]).args.resolve().is_err());
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("herald.toml");
        std::fs::write(&file, "lissten = \"127.0.0.1:9100\"\n").unwrap();
        let err = T::parse_from(["t", "--config", file.to_str().unwrap()])
            .args
            .resolve()
            .unwrap_err();
        assert!(format!("{err:#}").contains("lissten"), "{err:#}");
    }
}
