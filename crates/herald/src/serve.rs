//! `herald serve`.

use std::time::Duration;

use anyhow::Context;
use herald_model::{AccessKey, ROOT_USER};
use herald_server::notify::Notifier;
use herald_server::{Server, ServerConfig, admin};
use herald_store::Store;

use crate::config::{LogFormat, ServeArgs, Settings};

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let settings = args.resolve()?;
    init_logging(&settings)?;
    let store = Store::open(&settings.data_dir).with_context(|| {
        format!(
            "cannot open the data dir {} (is another herald serving it?)",
            settings.data_dir.display()
        )
    })?;
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
    let notifier = Notifier::start(store.clone(), log, Some(queues.clone()), settings.region.clone())
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
        },
    )
    .await?;
    let admin_ctx = admin::AdminContext {
        store: store.clone(),
        log: Some(notifier.log().clone()),
        notifier: Some(notifier.clone()),
        queues: Some(queues.clone()),
    };
    let admin_task = tokio::spawn(admin::serve(admin_ctx, settings.data_dir.clone()));
    // Bound before the HTTP side serves, so a healthy server also answers SFTP.
    let sftp_task = match settings.sftp_listen {
        Some(listen) => {
            let sftp = herald_sftp::SftpServer::bind(store.clone(), listen, &settings.data_dir)
                .await
                .with_context(|| format!("cannot serve SFTP on {listen}"))?;
            tracing::info!(
                address = %sftp.local_addr()?,
                host_key = %sftp.host_key_fingerprint(),
                "sftp listening (read-only)"
            );
            Some(tokio::spawn(sftp.run(std::future::pending())))
        }
        None => None,
    };
    let addr = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    tracing::info!(
        address = %format!("{scheme}://{addr}"),
        region = %settings.region,
        data_dir = %settings.data_dir.display(),
        "herald listening"
    );
    server.run(shutdown_signal()).await;
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
            let user = store.create_user(ROOT_USER, None).await?;
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
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log_level)
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
