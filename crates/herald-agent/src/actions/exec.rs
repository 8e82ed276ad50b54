//! `exec`: run a script per change with `-- <bucket> <key> <copy|delete>`
//! as arguments, as the webhook article's receiver does (plus the `--`),
//! bounded by a timeout.
//!
//! Bucket and key come from whoever could write into the queue or the
//! webhook: `--` ends the options, so a key like `-rf` reaches the script
//! (and whatever it passes `"$@"` to) as an operand, never as an option;
//! and a change whose values hold a control character (a newline would
//! split the script's lines, a NUL cannot be an argument at all) is
//! refused, logged and counted as done, so it is not retried forever.
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
use crate::{fields, log};

/// Bytes of the script's stderr kept for the log (the tail).
const STDERR_TAIL_BYTES: usize = 4096;

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
        if let Some((what, value)) = control_character(c) {
            log::warn(
                &format!(
                    "exec {}: refused a change whose {what} has a control character: {} (dropped, not run)",
                    self.command.display(),
                    log::quoted(value, 256)
                ),
                fields! {"source" => source, "event_id" => log::quoted(&c.event_id, 256), "field" => what},
            );
            return Ok(Outcome::Skipped("refused: control character in the change"));
        }
        let mut cmd = tokio::process::Command::new(&self.command);
        cmd.arg("--")
            .arg(&c.bucket)
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
            let err = match stderr.as_mut() {
                Some(s) => stderr_tail(s).await,
                None => Vec::new(),
            };
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
                Err(format!(
                    "exec {shown} -- {} {} {verb}: {status}: {tail}",
                    c.bucket, c.key
                ))
            }
        }
    }
}

/// The first value of the change passed to the script (argument or
/// environment) that holds a C0 control character or DEL, with its name.
fn control_character(c: &Change) -> Option<(&'static str, &str)> {
    let fields = [
        ("bucket", Some(c.bucket.as_str())),
        ("key", Some(c.key.as_str())),
        ("event id", Some(c.event_id.as_str())),
        ("event name", Some(c.event_name.as_str())),
        ("eTag", c.etag.as_deref()),
        ("sequencer", c.sequencer.as_deref()),
        ("version id", c.version_id.as_deref()),
        ("principal id", c.principal.as_deref()),
    ];
    fields.into_iter().find_map(|(what, v)| {
        v.filter(|v| v.chars().any(|ch| ch.is_ascii_control()))
            .map(|v| (what, v))
    })
}

/// Reads the script's stderr to its end, keeping only the last
/// [`STDERR_TAIL_BYTES`]: a chatty script costs no memory.
async fn stderr_tail(s: &mut tokio::process::ChildStderr) -> Vec<u8> {
    let mut tail = Vec::with_capacity(STDERR_TAIL_BYTES);
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return tail,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > STDERR_TAIL_BYTES {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(key: &str) -> Change {
        Change {
            event_name: "s3:ObjectCreated:Put".into(),
            op: Op::Create,
            bucket: "b".into(),
            key: key.into(),
            size: None,
            etag: None,
            version_id: None,
            sequencer: None,
            event_time: None,
            principal: None,
            event_id: "id".into(),
        }
    }

    #[test]
    fn control_characters_anywhere_are_found() {
        for bad in ["a\nb", "a\0b", "\x1b[31m", "tab\there", "del\x7f", "cr\r"] {
            assert_eq!(control_character(&change(bad)), Some(("key", bad)), "{bad:?}");
        }
        for good in ["-rf", "--help", "a b/c é", "*", "$(id)"] {
            assert_eq!(control_character(&change(good)), None, "{good:?}");
        }
        let mut c = change("k");
        c.etag = Some("e\n".into());
        assert_eq!(control_character(&c), Some(("eTag", "e\n")));
    }

    #[tokio::test]
    async fn arguments_follow_a_double_dash_and_refused_changes_are_done() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("argv");
        let script = dir.path().join("s.sh");
        std::fs::write(&script, format!("#!/bin/sh\nprintf '%s|' \"$@\" > {}\n", out.display())).unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let a = ExecAction {
            command: script,
            timeout: Duration::from_secs(30),
        };
        assert_eq!(a.apply("src", &change("-rf")).await, Ok(Outcome::Applied));
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "--|b|-rf|copy|");
        std::fs::remove_file(&out).unwrap();
        assert!(matches!(a.apply("src", &change("a\nb")).await, Ok(Outcome::Skipped(_))));
        assert!(!out.exists(), "the script ran for a refused key");
    }
}
