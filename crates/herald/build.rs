//! Puts the git commit into `herald --version` (`HERALD_GIT_COMMIT`): from
//! the environment when the builder sets it (a container build from a copy
//! without `.git`), else from this workspace's own git checkout, else
//! `unknown`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HERALD_GIT_COMMIT");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let commit = std::env::var("HERALD_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| own_checkout(&root).then(|| git(&root, &["rev-parse", "--short=12", "HEAD"]))?);
    if own_checkout(&root) {
        // Rebuild when HEAD moves: the files git keeps it in (worktrees
        // included), those that exist (a watched missing file would rerun
        // this script at every build).
        let mut watched = vec![git_path(&root, "HEAD")];
        if let Some(head) = git(&root, &["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git_path(&root, &head));
        }
        watched.push(git_path(&root, "packed-refs"));
        for path in watched.into_iter().flatten().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!(
        "cargo:rustc-env=HERALD_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_owned())
    );
}

/// Whether the workspace is the top of a git checkout (a source copy
/// unpacked inside some other repository must not take its commit).
fn own_checkout(root: &Path) -> bool {
    git(root, &["rev-parse", "--show-toplevel"])
        .map(PathBuf::from)
        .and_then(|top| top.canonicalize().ok())
        .is_some_and(|top| top == root)
}

fn git_path(root: &Path, name: &str) -> Option<PathBuf> {
    git(root, &["rev-parse", "--git-path", name]).map(|p| root.join(p))
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}
