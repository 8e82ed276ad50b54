//! Periodic reports: counts per source and action, and failures, written as
//! a JSON object into `upload_folder` (`bucket/prefix`) on each source's S3
//! endpoint, like the Jibe agent's reports folder.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::pipeline::Stats;
use crate::{fields, log};

pub struct ReportTarget {
    pub source: String,
    pub s3: aws_sdk_s3::Client,
    pub stats: Arc<Stats>,
}

/// `bucket/prefix` → (bucket, "prefix/").
pub fn split_folder(folder: &str) -> (String, String) {
    match folder.trim_matches('/').split_once('/') {
        Some((b, p)) => (b.to_string(), format!("{}/", p.trim_end_matches('/'))),
        None => (folder.trim_matches('/').to_string(), String::new()),
    }
}

fn stamp(t: OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap_or_default()
}

/// `last`: the report written at shutdown (its key ends in `-final.json`).
pub async fn write_all(targets: &[ReportTarget], folder: &str, started: OffsetDateTime, last: bool) {
    let (bucket, prefix) = split_folder(folder);
    let now = OffsetDateTime::now_utc();
    for t in targets {
        let key = format!(
            "{prefix}herald-agent-{}-{}{}.json",
            t.source.replace('/', "_"),
            stamp(now),
            if last { "-final" } else { "" }
        );
        let body = json!({
            "source": t.source,
            "started_at": started.unix_timestamp(),
            "written_at": now.unix_timestamp(),
            "counts": t.stats.snapshot(),
        });
        let res =
            t.s3.put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type("application/json")
                .body(serde_json::to_vec_pretty(&body).unwrap_or_default().into())
                .send()
                .await;
        match res {
            Ok(_) => log::info(
                &format!("report written to {bucket}/{key}"),
                fields! {"source" => t.source, "counts" => body["counts"]},
            ),
            Err(e) => log::warn(
                &format!(
                    "cannot write the report to {bucket}/{key}: {}",
                    crate::actions::error_chain(&e)
                ),
                fields! {"source" => t.source},
            ),
        }
    }
}

/// Writes reports every `interval` until shutdown (the caller writes the
/// last one once the sources have stopped).
pub async fn run(
    targets: Arc<Vec<ReportTarget>>,
    folder: String,
    started: OffsetDateTime,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => write_all(&targets, &folder, started, false).await,
            _ = shutdown.changed() => break,
        }
    }
}
