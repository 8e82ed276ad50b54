//! SFTP access: SSH keys of users (`herald user add-key|keys|rm-key`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TestServer;

/// Makes an ed25519 key pair with the real `ssh-keygen`; returns the
/// private key path (the public key is next to it, `.pub`).
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("{name}@herald-tests"))
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run ssh-keygen (install openssh-client)");
    assert!(out.status.success(), "ssh-keygen failed: {}", text(&out.stderr));
    path
}

/// `ssh-keygen -l`'s SHA-256 fingerprint of a public key file.
fn fingerprint(pub_path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-l")
        .arg("-f")
        .arg(pub_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ssh-keygen -l failed: {}", text(&out.stderr));
    text(&out.stdout).split_whitespace().nth(1).unwrap().to_owned()
}

fn pub_of(key: &Path) -> PathBuf {
    key.with_extension("pub")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "herald failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn add_key(server: &TestServer, user: &str, key: &Path) -> Output {
    server.cli(&["user", "add-key", user, pub_of(key).to_str().unwrap()])
}

#[test]
fn ssh_keys_are_added_listed_limited_and_removed() {
    let server = TestServer::start();
    server.create_user("alice", "ALICEACCESSKEY000001", "aliceSecretKey0123456789");
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<PathBuf> = (0..9).map(|i| keygen(dir.path(), &format!("k{i}"))).collect();

    let added = ok(add_key(&server, "alice", &keys[0]));
    let fp0 = fingerprint(&pub_of(&keys[0]));
    assert!(
        added.contains(&fp0),
        "add-key prints the ssh-keygen fingerprint {fp0}: {added}"
    );

    // The same key twice is refused; so is a private key or a missing user.
    let again = add_key(&server, "alice", &keys[0]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already has the SSH key"),
        "{}",
        text(&again.stderr)
    );
    let private = server.cli(&["user", "add-key", "alice", keys[1].to_str().unwrap()]);
    assert!(!private.status.success());
    assert!(
        text(&private.stderr).contains("private key"),
        "{}",
        text(&private.stderr)
    );
    let nobody = add_key(&server, "nobody", &keys[1]);
    assert!(!nobody.status.success());
    assert!(
        text(&nobody.stderr).contains("no such user"),
        "{}",
        text(&nobody.stderr)
    );

    for k in &keys[1..8] {
        ok(add_key(&server, "alice", k));
    }
    let ninth = add_key(&server, "alice", &keys[8]);
    assert!(!ninth.status.success(), "a 9th key must be refused");
    let err = text(&ninth.stderr);
    assert!(err.contains("already has 8 SSH keys, the maximum"), "{err}");

    let listed = ok(server.cli(&["user", "keys", "alice"]));
    for k in &keys[..8] {
        assert!(listed.contains(&fingerprint(&pub_of(k))), "{listed}");
    }
    assert!(!listed.contains(&fingerprint(&pub_of(&keys[8]))), "{listed}");
    assert!(listed.contains("k3@herald-tests"), "comments are listed: {listed}");

    ok(server.cli(&["user", "rm-key", "alice", &fp0]));
    let listed = ok(server.cli(&["user", "keys", "alice"]));
    assert!(!listed.contains(&fp0), "{listed}");
    let gone = server.cli(&["user", "rm-key", "alice", &fp0]);
    assert!(!gone.status.success());
    assert!(text(&gone.stderr).contains("has no SSH key"), "{}", text(&gone.stderr));
    // With one removed, the 9th fits.
    ok(add_key(&server, "alice", &keys[8]));
}
