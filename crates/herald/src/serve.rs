//! `herald serve`.

use std::time::Duration;

use anyhow::Context;
use herald_model::{AccessKey, ROOT_USER};
use herald_server::notify::Notifier;
use herald_server::{Server, ServerConfig};

use crate::admin;
use herald_store::Store;

use crate::config::{LogFormat, ServeArgs, Settings};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.resolve()?;
    if settings.upstream.is_some() && settings.sftp_listen.is_some() {
        // SFTP serves the objects of Herald's own store, which a gateway
        // does not keep.
        anyhow::bail!("--sftp-listen is not available in gateway mode (--upstream-endpoint)");
    }
    if settings.cluster.is_some() && settings.upstream.is_none() {
        // Embedded mode keeps each node's objects in its own data dir: the
        // nodes would not be interchangeable.
        anyhow::bail!(
            "--cluster needs gateway mode (--upstream-endpoint): nodes share objects only through an upstream S3"
        );
    }
    init_logging(&settings)?;
    tighten_data_dir(&settings.data_dir)?;
    let connections = fit_fd_limit(settings.connections);
    let store = Store::open(&settings.data_dir).with_context(|| {
        format!(
            "cannot open the data dir {} (is another herald serving it?)",
            settings.data_dir.display()
        )
    })?;
    store.set_quotas(settings.quotas.clone());
    // The cluster's users come in before the root user is made, so a
    // joining node does not make a second root.
    let membership = match &settings.cluster {
        Some(c) => Some(crate::cluster::Membership::join(c, &settings.data_dir, &store).await?),
        None => None,
    };
    ensure_root(&store, &settings).await?;

    // Blobs orphaned by a crash are removed in the background; new blobs
    // are never touched, so this can overlap with serving.
    let gc_store = store.clone();
    tokio::task::spawn_blocking(move || match gc_store.collect_garbage() {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed blobs left over by an interrupted write"),
        Err(e) => tracing::warn!(error = %e, "garbage collection of blobs failed"),
    });

    let log = herald_log::DeliveryLog::open(herald_log::LogConfig::new(settings.data_dir.join("log"))).with_context(
        || {
            format!(
                "cannot open the delivery log in {}",
                settings.data_dir.join("log").display()
            )
        },
    )?;
    // SQS queues (the `sqs` API on the same port).
    let queues = herald_queue::QueueEngine::open(herald_queue::QueueConfig {
        dir: settings.data_dir.join("queues"),
        region: settings.region.clone(),
    })
    .with_context(|| {
        format!(
            "cannot open the queues in {}",
            settings.data_dir.join("queues").display()
        )
    })?;
    queues.set_max_queues_per_user(usize::try_from(settings.quotas.queues_per_user).unwrap_or(usize::MAX));
    let notifier = Notifier::start(
        store.clone(),
        log,
        Some(queues.clone()),
        herald_server::notify::NotifierSettings {
            region: settings.region.clone(),
            compat: settings.compat,
            topic_defaults: settings.topic_defaults,
            require_publish_policy: settings.topic_require_publish_policy,
            objects_upstream: settings.upstream.is_some(),
            shared_log: membership.as_ref().map(|m| m.shared_log()),
        },
        endpoint_policy(&settings),
    )
    .context("cannot load topics")?;
    let server = Server::bind(
        store.clone(),
        notifier.clone(),
        queues.clone(),
        ServerConfig {
            listen: settings.listen,
            region: settings.region.clone(),
            domains: settings.domains.clone(),
            tls: settings.tls.clone(),
            shutdown_grace: settings.shutdown_grace,
            connections,
            allow_sigv2: settings.allow_sigv2,
            metrics_listen: settings.metrics_listen,
            console: settings.console.clone(),
            upstream: settings.upstream.clone(),
        },
    )
    .await?;
    if let Some(m) = &membership {
        m.meta.set_listener(server.shared_change_listener());
        server.set_cluster_status(m.status());
    }
    // Expires objects by each bucket's lifecycle rules, with their events.
    // (Gateway mode keeps no objects here: the upstream's own lifecycle
    // applies, and PutBucketLifecycleConfiguration answers NotImplemented.)
    let lifecycle = herald_lifecycle::LifecycleWorker::new(store.clone(), notifier.clone(), settings.lifecycle_clock);
    let lifecycle_task = match &settings.upstream {
        None => lifecycle.spawn(),
        Some(up) => {
            tracing::info!(upstream = %up.endpoint, "gateway mode: objects are kept upstream");
            tokio::spawn(async {})
        }
    };
    let admin_ctx = admin::AdminContext {
        store: store.clone(),
        log: Some(notifier.log().clone()),
        notifier: Some(notifier.clone()),
        queues: Some(queues.clone()),
        lifecycle: Some(lifecycle.clone()),
    };
    let admin_task = tokio::spawn(admin::serve(admin_ctx, settings.data_dir.clone()));
    // Bound before the HTTP side serves, so a healthy server also answers SFTP.
    let sftp_task = start_sftp(&settings, &store, &server).await?;
    let addr = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(
        address = %format!("{scheme}://{addr}"),
        region = %settings.region,
        data_dir = %settings.data_dir.display(),
        "herald listening"
    );
    server.run(shutdown_signal()).await;
    // Stopped between removals (one under way ends with its events); its
    // progress is saved page by page, so the next start resumes the pass.
    lifecycle.stop();
    if tokio::time::timeout(Duration::from_secs(10), lifecycle_task)
        .await
        .is_err()
    {
        tracing::warn!("the lifecycle worker did not stop within 10 s");
    }
    // Batch topics write their pending events to files before we exit.
    notifier
        .shutdown(settings.shutdown_grace.max(Duration::from_secs(10)))
        .await;
    if let Some(task) = sftp_task {
        task.abort();
    }
    admin_task.abort();
    let _ = std::fs::remove_file(admin::socket_path(&settings.data_dir));
    tracing::info!("herald stopped");
    Ok(())
}

/// The read-only SFTP service, when `--sftp-listen` asks for it.
async fn start_sftp(
    settings: &Settings,
    store: &Store,
    server: &Server,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(listen) = settings.sftp_listen else {
        return Ok(None);
    };
    let sftp = herald_sftp::SftpServer::bind(store.clone(), listen, &settings.data_dir)
        .await
        .with_context(|| format!("cannot serve SFTP on {listen}"))?
        .with_access(std::sync::Arc::new(SftpGrants(server.access_decider())));
    tracing::info!(
        address = %sftp.local_addr()?,
        host_key = %sftp.host_key_fingerprint(),
        "sftp listening (read-only)"
    );
    Ok(Some(tokio::spawn(sftp.run(std::future::pending()))))
}

/// The outbound policy every endpoint is built under: the operator's lists,
/// the CA directory, and Herald's own listen addresses (which no endpoint
/// may reach).
fn endpoint_policy(settings: &Settings) -> std::sync::Arc<herald_endpoints::EndpointPolicy> {
    let own: Vec<std::net::SocketAddr> = std::iter::once(settings.listen)
        .chain(settings.sftp_listen)
        .chain(settings.metrics_listen)
        .collect();
    if let Some(dir) = &settings.ca_dir
        && !dir.is_dir()
    {
        tracing::warn!(ca_dir = %dir.display(), "the CA directory does not exist: every ca-location is refused");
    }
    std::sync::Arc::new(herald_endpoints::EndpointPolicy::new(
        settings.endpoint_allow.clone(),
        settings.endpoint_deny.clone(),
        own,
        settings.ca_dir.clone(),
    ))
}

/// Files in the data dir that hold secrets (every user's keys, the SSH
/// host key), and its subdirectories.
const PRIVATE_FILES: [&str; 2] = ["meta.redb", "ssh_host_ed25519_key"];
const PRIVATE_DIRS: [&str; 3] = ["blobs", "log", "queues"];

/// Makes the data dir the owner's alone: created 0700 when new; an
/// existing one (from an older Herald, or made by hand) that other users
/// could read is tightened, with a notice, together with its secret files
/// (0600) and top-level subdirectories (0700). Everything Herald creates
/// afterwards is created with those modes.
fn tighten_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data dir {}", dir.display()))?;
    let targets = std::iter::once((dir.to_path_buf(), 0o700))
        .chain(PRIVATE_DIRS.iter().map(|d| (dir.join(d), 0o700)))
        .chain(PRIVATE_FILES.iter().map(|f| (dir.join(f), 0o600)));
    for (path, wanted) in targets {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if meta.file_type().is_symlink() || mode & !wanted == 0 {
            continue;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))
            .with_context(|| format!("cannot restrict the permissions of {}", path.display()))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{mode:o}"),
            now = format!("{wanted:o}"),
            "tightened permissions: other users could read Herald's data"
        );
    }
    Ok(())
}

/// File descriptors kept for everything but client connections: the
/// database, log and queue segments, blobs being written, endpoints.
const FD_RESERVE: u64 = 1024;

/// Raises the soft open-files limit to the hard limit, and lowers the
/// connection cap (with a warning) if the limit still cannot hold it: past
/// the limit, accept fails with EMFILE and so does every file the server
/// opens, for every tenant.
fn fit_fd_limit(mut limits: herald_server::ConnectionLimits) -> herald_server::ConnectionLimits {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return limits;
    }
    if rl.rlim_cur < rl.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: rl.rlim_max,
            rlim_max: rl.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            rl.rlim_cur = rl.rlim_max;
        }
    }
    let room = rl.rlim_cur.saturating_sub(FD_RESERVE).max(16);
    if limits.max_connections as u64 > room {
        tracing::warn!(
            max_connections = limits.max_connections,
            open_files_limit = rl.rlim_cur,
            now = room,
            "the open-files limit cannot hold --max-connections; serving fewer connections at once"
        );
        limits.max_connections = room as usize;
    }
    limits
}

/// Makes sure the `root` user exists with the configured keys; generates
/// and prints keys once when none are configured and none exist yet.
async fn ensure_root(store: &Store, settings: &Settings) -> anyhow::Result<()> {
    let existing = store.get_user(ROOT_USER)?;
    match (&settings.root_key, existing) {
        (Some((access, secret)), existing) => {
            let key = AccessKey {
                access_key_id: access.clone(),
                secret_access_key: secret.clone(),
            };
            if existing.is_none_or(|u| u.keys != vec![key.clone()]) {
                store
                    .set_user_key(ROOT_USER, key)
                    .await
                    .context("cannot set the root credentials")?;
                tracing::info!(access_key = %access, "root credentials taken from the environment");
            }
        }
        (None, Some(_)) => {}
        (None, None) => {
            let user = store.create_user(ROOT_USER, None, Default::default()).await?;
            let key = &user.keys[0];
            // Printed once, on stdout, so it can be captured; kept in the data dir.
            println!(
                "Generated root credentials (shown once; stored in {}):",
                settings.data_dir.display()
            );
            println!("  AWS_ACCESS_KEY_ID={}", key.access_key_id);
            println!("  AWS_SECRET_ACCESS_KEY={}", key.secret_access_key);
            println!("Set HERALD_ROOT_ACCESS_KEY/HERALD_ROOT_SECRET_KEY to choose them instead.");
        }
    }
    Ok(())
}

fn init_logging(settings: &Settings) -> anyhow::Result<()> {
    // The gateway's proxy (`s3s_aws`) logs whole requests at debug level,
    // SSE-C keys included: kept at info unless the filter names it.
    let level = if settings.log_level.contains("s3s_aws") {
        settings.log_level.clone()
    } else {
        format!("{},s3s_aws=info", settings.log_level)
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&level)
        .with_context(|| format!("invalid log filter {:?}", settings.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// SFTP sees other users' buckets as the S3 access decision allows:
/// listing a directory is `ListObjects` with its prefix, reading a file is
/// `GetObject`.
struct SftpGrants(herald_server::AccessDecider);

impl herald_sftp::access::BucketAccess for SftpGrants {
    fn may_list(
        &self,
        user: &str,
        peer: Option<std::net::SocketAddr>,
        bucket: &herald_store::BucketRecord,
        prefix: &str,
    ) -> bool {
        self.0
            .allows(user, peer, "ListObjects", &bucket.name, None, Some(prefix))
    }

    fn may_read(
        &self,
        user: &str,
        peer: Option<std::net::SocketAddr>,
        bucket: &herald_store::BucketRecord,
        key: &str,
    ) -> bool {
        self.0.allows(user, peer, "GetObject", &bucket.name, Some(key), None)
    }
}
