//! `exec`: run a script per change with `<bucket> <key> <copy|delete>` as
//! arguments, as the webhook article's receiver does, bounded by a timeout.
//!
//! More about the change is in the environment (`HERALD_EVENT_ID`, which
//! stays the same across redeliveries, `HERALD_EVENT_NAME`,
//! `HERALD_SOURCE`, `HERALD_ETAG`, `HERALD_SIZE`, `HERALD_SEQUENCER`,
//! `HERALD_VERSION_ID`, `HERALD_PRINCIPAL_ID`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::Outcome;
use crate::event::{Change, Op};

pub struct ExecAction {
    pub command: PathBuf,
    pub timeout: Duration,
}

impl ExecAction {
    pub async fn apply(&self, source: &str, c: &Change) -> Result<Outcome, String> {
        let verb = match c.op {
            Op::Create => "copy",
            Op::Delete => "delete",
            Op::Other => return Ok(Outcome::Skipped("nothing to run")),
        };
        let mut cmd = tokio::process::Command::new(&self.command);
        cmd.arg(&c.bucket)
            .arg(&c.key)
            .arg(verb)
            .env("HERALD_EVENT_ID", &c.event_id)
            .env("HERALD_EVENT_NAME", &c.event_name)
            .env("HERALD_SOURCE", source)
            .env("HERALD_ETAG", c.etag.as_deref().unwrap_or(""))
            .env("HERALD_SIZE", c.size.map(|s| s.to_string()).unwrap_or_default())
            .env("HERALD_SEQUENCER", c.sequencer.as_deref().unwrap_or(""))
            .env("HERALD_VERSION_ID", c.version_id.as_deref().unwrap_or(""))
            .env("HERALD_PRINCIPAL_ID", c.principal.as_deref().unwrap_or(""))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let shown = self.command.display();
        let mut child = cmd.spawn().map_err(|e| format!("exec {shown}: cannot start: {e}"))?;
        let mut stderr = child.stderr.take();
        let run = async {
            let mut err = Vec::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
            (child.wait().await, err)
        };
        match tokio::time::timeout(self.timeout, run).await {
            Err(_) => Err(format!(
                "exec {shown}: still running after {} s, killed",
                self.timeout.as_secs()
            )),
            Ok((Err(e), _)) => Err(format!("exec {shown}: {e}")),
            Ok((Ok(status), _)) if status.success() => Ok(Outcome::Applied),
            Ok((Ok(status), err)) => {
                let tail = String::from_utf8_lossy(&err);
                let tail: String = tail
                    .trim()
                    .chars()
                    .rev()
                    .take(300)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Err(format!("exec {shown} {} {} {verb}: {status}: {tail}", c.bucket, c.key))
            }
        }
    }
}
