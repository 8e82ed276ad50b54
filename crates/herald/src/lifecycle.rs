//! `herald lifecycle list|process`, like `radosgw-admin lc list|process`:
//! where the lifecycle worker stands with each bucket, and a pass run now
//! (on every bucket with rules, or one), whatever the schedule.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use crate::admin::{AdminContext, AdminRequest, AdminResponse};
use crate::admin_client::send_and_print;
use crate::config::DEFAULT_DATA_DIR;

#[derive(Debug, Subcommand)]
pub enum LifecycleCommand {
    /// Every bucket with lifecycle rules: rules, last pass, progress.
    List {
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Run a lifecycle pass now (needs the running server: expirations send
    /// their events through it) and print what it did.
    Process {
        /// Only this bucket (default: every bucket with rules).
        #[arg(long)]
        bucket: Option<String>,
        #[arg(long, env = "HERALD_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
}

pub async fn run(cmd: LifecycleCommand) -> anyhow::Result<()> {
    let (data_dir, req) = match cmd {
        LifecycleCommand::List { data_dir } => (data_dir, AdminRequest::ListLifecycle),
        LifecycleCommand::Process { bucket, data_dir } => (data_dir, AdminRequest::ProcessLifecycle { bucket }),
    };
    send_and_print(&data_dir, req).await
}

/// Carries out a lifecycle request on the admin socket (`list` also
/// directly on a stopped server's data dir).
pub(crate) async fn execute(ctx: &AdminContext, req: AdminRequest) -> Result<AdminResponse, String> {
    match req {
        AdminRequest::ListLifecycle => {
            let buckets = ctx.store.lifecycle_buckets().map_err(|e| e.to_string())?;
            let value: Vec<_> = buckets
                .into_iter()
                .map(|b| {
                    let config = ctx.store.get_lifecycle(&b.bucket).ok().flatten().unwrap_or_default();
                    json!({
                        "bucket": b.bucket.name,
                        "owner": b.bucket.owner,
                        "rules": config.rules.len(),
                        "enabled_rules": config.enabled().count(),
                        "status": if b.run.in_progress() { "PROCESSING" } else if b.run.finished_ms > 0 { "COMPLETE" } else { "UNINITIAL" },
                        "started": time_of(b.run.started_ms),
                        "finished": time_of(b.run.finished_ms),
                        "after_key": b.run.after_key,
                    })
                })
                .collect();
            Ok(AdminResponse::Json {
                value: json!({ "buckets": value }),
            })
        }
        AdminRequest::ProcessLifecycle { bucket } => {
            let Some(worker) = &ctx.lifecycle else {
                return Err("herald lifecycle process needs the running server (its events go through it)".into());
            };
            let report = worker.process(bucket.as_deref()).await.map_err(|e| e.to_string())?;
            Ok(AdminResponse::Json {
                value: serde_json::to_value(report).map_err(|e| e.to_string())?,
            })
        }
        other => Err(format!("not a lifecycle request: {other:?}")),
    }
}

/// An instant in ms as RFC 3339, `null` for 0 (never).
fn time_of(ms: i64) -> serde_json::Value {
    if ms <= 0 {
        return serde_json::Value::Null;
    }
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .map_or(serde_json::Value::Null, serde_json::Value::String)
}
