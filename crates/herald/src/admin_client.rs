//! How command-line subcommands reach the data dir: through the running
//! server's admin socket, or, when none runs, by opening it directly.

use std::path::Path;

use crate::admin::{self, AdminContext, AdminRequest, AdminResponse};
use anyhow::{anyhow, bail};
use herald_store::Store;

/// Sends a request and prints its JSON answer (pretty) on stdout, as the
/// `herald topic|queue|notification` commands do; `Done` prints nothing.
pub async fn send_and_print(data_dir: &Path, req: AdminRequest) -> anyhow::Result<()> {
    match send(data_dir, req).await? {
        AdminResponse::Json { value } => {
            println!("{}", serde_json::to_string_pretty(&value)?);
            Ok(())
        }
        AdminResponse::Done => Ok(()),
        other => bail!("unexpected answer from the server: {other:?}"),
    }
}

/// Sends a request to the running server, or carries it out directly.
pub async fn send(data_dir: &Path, req: AdminRequest) -> anyhow::Result<AdminResponse> {
    let response = match admin::call(data_dir, &req).await? {
        Some(r) => r,
        None => {
            if !data_dir.join("meta.redb").exists() && !matches!(req, AdminRequest::CreateUser { .. }) {
                bail!("no Herald data in {} (use --data-dir)", data_dir.display());
            }
            refuse_foreign_data_dir(data_dir)?;
            let store = Store::open(data_dir).map_err(|e| {
                anyhow!(
                    "cannot open {}: {e} (is a server running without its admin socket?)",
                    data_dir.display()
                )
            })?;
            let log = herald_log::DeliveryLog::open(herald_log::LogConfig::new(data_dir.join("log")))
                .map_err(|e| anyhow!("cannot open the delivery log in {}: {e}", data_dir.display()))?;
            let queues = herald_queue::QueueEngine::open(herald_queue::QueueConfig {
                dir: data_dir.join("queues"),
                region: std::env::var("HERALD_REGION").unwrap_or_else(|_| crate::config::DEFAULT_REGION.to_owned()),
            })
            .map_err(|e| anyhow!("cannot open the queues in {}: {e}", data_dir.display()))?;
            admin::execute(
                &AdminContext {
                    store,
                    log: Some(log),
                    notifier: None,
                    queues: Some(queues),
                    lifecycle: None,
                },
                req,
            )
            .await
        }
    };
    match response {
        AdminResponse::Error { message } => Err(anyhow!(message)),
        AdminResponse::NotFound { message } => Err(anyhow::Error::new(NotFound(message))),
        ok => Ok(ok),
    }
}

/// With no server running, the command line writes the data dir's files
/// itself: as another user (root on the systemd unit's dynamic user's
/// directory, say) those files would end up owned by that user, and the
/// server could no longer open them at its next start.
fn refuse_foreign_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::metadata(data_dir) else {
        return Ok(()); // a data dir about to be created is the caller's
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        bail!(
            "{} belongs to uid {}, not to you (uid {me}), and no server answers on its admin socket: \
             start the server and retry, or run this as the data dir's owner \
             (systemd: sudo systemd-run --pty -p DynamicUser=yes -p StateDirectory=herald /usr/local/bin/herald ...)",
            data_dir.display(),
            meta.uid()
        );
    }
    Ok(())
}

/// A command's failure because what it names does not exist: `herald`
/// exits with status 2 for it (as radosgw-admin does with ENOENT), so
/// scripts tell "no such topic" from a failure.
#[derive(Debug)]
pub struct NotFound(pub String);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotFound {}
