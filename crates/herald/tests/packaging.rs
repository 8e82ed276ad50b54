//! What an operator installs: `herald --version` names its commit, shell
//! completions, `herald health`, the example configuration actually
//! serving, the systemd unit (checked by systemd-analyze, offline) and the
//! Containerfile (linted by hadolint). The tools are installed by
//! `.ci/run`; a missing one fails its test, naming it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn herald() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    // Only what each test sets: an operator's HERALD_* must not leak in.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HERALD_")) {
        cmd.env_remove(k);
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs an external checker, failing with its name when it is missing.
fn tool(name: &str, args: &[&str]) -> Output {
    Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name} ({e}); .ci/run installs it"))
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = herald().arg("--version").output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(shown, format!("herald {} (commit {commit})", env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions_for_three_shells() {
    for shell in ["bash", "zsh", "fish"] {
        let out = herald().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["serve", "replay", "cancel-replay", "watch", "data-dir"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    // The bash script is valid bash.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("herald.bash");
    let out = herald().args(["completions", "bash"]).output().unwrap();
    std::fs::write(&path, &out.stdout).unwrap();
    let check = tool("bash", &["-n", path.to_str().unwrap()]);
    assert!(check.status.success(), "{}", text(&check));
    assert!(herald().args(["completions", "tcsh"]).output().unwrap().status.code() == Some(2));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `packaging/herald.toml` as shipped starts a server (the data dir, listen
/// and metrics addresses moved by the environment, which beats the file),
/// and `herald health` tells a live server from a dead one.
#[test]
fn the_example_configuration_serves_and_health_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (port, metrics) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{port}/health");
    let dead = herald()
        .args(["health", "--url", &url, "--timeout", "2"])
        .output()
        .unwrap();
    assert!(!dead.status.success(), "nothing listens yet: {}", text(&dead));
    assert!(
        String::from_utf8_lossy(&dead.stderr).contains("cannot reach"),
        "{}",
        text(&dead)
    );

    let config = repo().join("packaging/herald.toml");
    let mut server = herald()
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("HERALD_DATA_DIR", dir.path())
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .env("HERALD_ROOT_ACCESS_KEY", "packagingkey")
        .env("HERALD_ROOT_SECRET_KEY", "packaging-secret-0001")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let healthy = loop {
        let out = herald()
            .args(["health", "--url", &url, "--timeout", "2"])
            .output()
            .unwrap();
        if out.status.success() {
            break out;
        }
        if let Some(status) = server.try_wait().unwrap() {
            let out = server.wait_with_output().unwrap();
            panic!(
                "herald serve --config packaging/herald.toml exited {status}: {}",
                text(&out)
            );
        }
        assert!(Instant::now() < deadline, "never healthy: {}", text(&out));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(String::from_utf8_lossy(&healthy.stdout).trim(), "ok");
    // As systemd and container engines stop it: SIGTERM, a clean exit.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    let out = server.wait_with_output().unwrap();
    assert!(out.status.success(), "SIGTERM ends it cleanly: {}", text(&out));
    // The file's log_format = "json" is in force.
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.lines().next().is_some_and(|l| l.starts_with('{')), "{logs}");
}

/// The unit is valid and hardened: `systemd-analyze verify`, and an
/// exposure of at most 2.0 ("OK") by `systemd-analyze security`, offline.
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(repo().join("packaging/herald.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/bin/herald serve --config /etc/herald/herald.toml"));
    // verify wants the executable to exist: point it at this build.
    let unit = unit.replace("/usr/local/bin/herald", env!("CARGO_BIN_EXE_herald"));
    let path = dir.path().join("herald.service");
    std::fs::write(&path, unit).unwrap();
    let p = path.to_str().unwrap();
    let verify = tool("systemd-analyze", &["verify", "--man=no", "--generators=no", p]);
    assert!(verify.status.success() && verify.stderr.is_empty(), "{}", text(&verify));
    let security = tool(
        "systemd-analyze",
        &["security", "--offline=yes", "--man=no", "--threshold=20", p],
    );
    assert!(security.status.success(), "{}", text(&security));
    let report = String::from_utf8_lossy(&security.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split("exposure level for herald.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {report}"));
    assert!(level <= 2.0, "exposure {level}: {report}");
}

#[test]
fn the_containerfile_passes_hadolint() {
    let file = repo().join("packaging/Containerfile");
    let out = tool("hadolint", &["--failure-threshold", "info", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let content = std::fs::read_to_string(&file).unwrap();
    for needed in [
        "USER 65532",
        "VOLUME",
        "HEALTHCHECK",
        "herald\", \"health\"",
        "AS build",
    ] {
        assert!(content.contains(needed), "Containerfile lacks {needed}");
    }
}

/// With no server running, the command line refuses a data dir owned by
/// another user (root administering the systemd unit's dynamic user's
/// directory would leave files the server cannot open).
#[test]
fn the_command_line_refuses_another_users_data_dir() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test chowns a directory: run it as root (CI does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let created = herald()
        .args(["user", "create", "alice", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(created.status.success(), "{}", text(&created));
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let out = herald()
        .args(["user", "list", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("belongs to uid 65534"),
        "{}",
        text(&out)
    );
    std::os::unix::fs::chown(&data, Some(0), Some(0)).unwrap();
    let out = herald()
        .args(["user", "list", "--data-dir", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "its owner may: {}", text(&out));
}
