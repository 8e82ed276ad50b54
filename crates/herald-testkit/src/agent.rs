//! The `herald agent` harness shared by the agent test binaries (agent.rs,
//! hardening_agent.rs): the agent as a child process with its log in a
//! file, its config file, and waiting for a condition.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::*;

/// The `herald agent` process; killed on drop.
pub struct Agent {
    child: Option<Child>,
    config: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
}

impl Agent {
    pub fn start(config: &Path, extra: &[&str]) -> Agent {
        let log = config.with_extension("log");
        let mut a = Agent {
            child: None,
            config: config.to_path_buf(),
            log,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        a.spawn();
        a
    }

    pub fn spawn(&mut self) {
        let log = OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = Command::new(herald_bin())
            .arg("agent")
            .arg("--config")
            .arg(&self.config)
            .args(&self.extra)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn herald agent");
        self.child = Some(child);
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for the exit (the agent finishes the messages in hand).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        if let Some(c) = self.child.as_ref() {
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        self.wait_exit(60)
    }

    /// Waits (at most `secs`) for the agent to exit by itself, e.g. after
    /// refusing its config; panics with its log if it keeps running.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("agent not running");
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return st;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("the agent did not exit within {secs} s:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn assert_running(&mut self) {
        if let Some(c) = self.child.as_mut()
            && let Ok(Some(st)) = c.try_wait()
        {
            panic!("herald agent exited ({st}):\n{}", self.logs());
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn write_config(dir: &Path, cfg: &serde_json::Value) -> PathBuf {
    let p = dir.join("agent.json");
    std::fs::write(&p, serde_json::to_vec_pretty(cfg).unwrap()).unwrap();
    p
}

/// Waits (at most 90 s) until `check` returns no difference; panics with
/// the last difference and the agent's log otherwise.
pub async fn converge<F, Fut>(agent: &mut Agent, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<String>>,
{
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        agent.assert_running();
        let diff = check().await;
        match diff {
            None => return,
            Some(d) if Instant::now() > deadline => {
                panic!("{what} did not converge: {d}\nagent log:\n{}", agent.logs())
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub fn agent_logs_contain(config: &Path, needle: &str) -> bool {
    std::fs::read_to_string(config.with_extension("log")).is_ok_and(|l| l.contains(needle))
}
