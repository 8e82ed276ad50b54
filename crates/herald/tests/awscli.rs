//! Drive the real `aws` CLI against Herald.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use herald_testkit::*;

const MIB: usize = 1024 * 1024;

fn aws_cmd(srv: &TestServer, cwd: &Path) -> Command {
    let mut c = aws_cli_command(srv);
    c.current_dir(cwd);
    c
}

/// Run `aws --endpoint-url URL ARGS...`; panics with full output on failure.
fn aws(srv: &TestServer, cwd: &Path, args: &[&str]) -> String {
    let out: Output = match aws_cmd(srv, cwd).args(args).output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("the `aws` CLI is not installed or not on PATH ({e}); install it with `pip install awscli`")
        }
        Err(e) => panic!("failed to run aws: {e}"),
    };
    assert!(
        out.status.success(),
        "aws {} failed ({}):\nstdout: {}\nstderr: {}\nserver output:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        srv.logs()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn require_aws_cli() {
    match Command::new("aws").arg("--version").stdin(Stdio::null()).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "`aws --version` failed ({}): {}{}; install the CLI with `pip install awscli`",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("the `aws` CLI is not installed or not on PATH ({e}); install it with `pip install awscli`"),
    }
}

/// `mb`, then `cp` a small file that list-objects-v2, GET and head-object see; returns its bytes.
async fn make_bucket_and_copy_a_small_file(srv: &TestServer, w: &Path) -> Vec<u8> {
    // mb
    aws(srv, w, &["s3", "mb", "s3://photos"]);
    assert_eq!(bucket_names(&srv.s3()).await, vec!["photos"]);

    // cp small file
    let cat = random_bytes(5 * 1024 + 123);
    std::fs::write(w.join("cat.jpg"), &cat).unwrap();
    aws(srv, w, &["s3", "cp", "./cat.jpg", "s3://photos/2024/cat.jpg"]);

    // s3api list-objects-v2 JSON
    let json = aws(
        srv,
        w,
        &[
            "s3api",
            "list-objects-v2",
            "--bucket",
            "photos",
            "--prefix",
            "2024/",
            "--output",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("bad JSON ({e}): {json}"));
    let contents = v["Contents"]
        .as_array()
        .unwrap_or_else(|| panic!("no Contents in {json}"));
    assert_eq!(contents.len(), 1, "{json}");
    assert_eq!(contents[0]["Key"], "2024/cat.jpg", "{json}");
    assert_eq!(contents[0]["Size"].as_u64(), Some(cat.len() as u64), "{json}");
    assert_eq!(contents[0]["ETag"].as_str(), Some(quoted_md5(&cat).as_str()), "{json}");

    // Verify via the SDK too.
    let g = srv
        .s3()
        .get_object()
        .bucket("photos")
        .key("2024/cat.jpg")
        .send()
        .await
        .unwrap();
    assert_eq!(body_bytes(g).await, cat, "object uploaded by aws s3 cp");

    // s3api head-object
    let json = aws(
        srv,
        w,
        &[
            "s3api",
            "head-object",
            "--bucket",
            "photos",
            "--key",
            "2024/cat.jpg",
            "--output",
            "json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ContentLength"].as_u64(), Some(cat.len() as u64), "{json}");
    cat
}

/// `cp` 20 MiB up (multipart), then it and the small file down; returns the big file's bytes.
async fn copy_a_large_file_up_and_both_down(srv: &TestServer, w: &Path, cat: &[u8]) -> Vec<u8> {
    // Large file: the CLI switches to multipart (8 MiB parts by default).
    let big = random_bytes(20 * MIB);
    std::fs::write(w.join("big.bin"), &big).unwrap();
    aws(srv, w, &["s3", "cp", "./big.bin", "s3://photos/big/big.bin"]);
    let head = srv
        .s3()
        .head_object()
        .bucket("photos")
        .key("big/big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(big.len() as i64));
    let chunks: Vec<&[u8]> = big.chunks(8 * MIB).collect();
    assert_eq!(
        head.e_tag(),
        Some(multipart_etag(&chunks).as_str()),
        "`aws s3 cp` of 20 MiB should have produced a 3-part multipart object"
    );
    aws(srv, w, &["s3", "cp", "s3://photos/big/big.bin", "./big.down"]);
    let down = std::fs::read(w.join("big.down")).unwrap();
    assert!(
        down == big,
        "downloaded 20 MiB file differs ({} vs {} bytes)",
        down.len(),
        big.len()
    );
    aws(srv, w, &["s3", "cp", "s3://photos/2024/cat.jpg", "./cat.down"]);
    assert_eq!(std::fs::read(w.join("cat.down")).unwrap(), cat);
    big
}

/// `ls` of the buckets, of the bucket, and recursive with sizes.
fn check_listings(srv: &TestServer, w: &Path, cat_len: usize, big_len: usize) {
    let ls = aws(srv, w, &["s3", "ls"]);
    assert!(ls.contains("photos"), "aws s3 ls: {ls}");
    let ls = aws(srv, w, &["s3", "ls", "s3://photos/"]);
    assert!(
        ls.contains("PRE 2024/") && ls.contains("PRE big/"),
        "aws s3 ls s3://photos/: {ls}"
    );
    let ls = aws(srv, w, &["s3", "ls", "--recursive", "s3://photos"]);
    assert!(
        ls.contains("2024/cat.jpg") && ls.contains("big/big.bin"),
        "aws s3 ls --recursive: {ls}"
    );
    assert!(
        ls.contains(&format!("{cat_len} 2024/cat.jpg")),
        "size of cat.jpg in ls: {ls}"
    );
    assert!(
        ls.contains(&format!("{big_len} big/big.bin")),
        "size of big.bin in ls: {ls}"
    );
}

/// `sync` a tree (a URL-encoded key included) up, again with nothing to do, and back down.
async fn sync_a_tree_up_and_down(srv: &TestServer, w: &Path) {
    let dir = w.join("tree");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("one.txt"), b"one").unwrap();
    std::fs::write(dir.join("sub/two.txt"), b"two").unwrap();
    // Names that need URL encoding (the CLI lists with encoding-type=url).
    std::fs::write(dir.join("sub/a+b %25 é.txt"), b"three").unwrap();
    // Local files older than the uploads, so a second sync has nothing to do
    // regardless of timestamp rounding.
    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for f in ["one.txt", "sub/two.txt", "sub/a+b %25 é.txt"] {
        std::fs::File::options()
            .write(true)
            .open(dir.join(f))
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    aws(srv, w, &["s3", "sync", "./tree", "s3://photos/tree"]);
    let keys: Vec<String> = list_all_keys(&srv.s3(), "photos", Some("tree/"))
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec!["tree/one.txt", "tree/sub/a+b %25 é.txt", "tree/sub/two.txt"]);
    let ls = aws(srv, w, &["s3", "ls", "--recursive", "s3://photos/tree/"]);
    assert!(
        ls.contains("5 tree/sub/a+b %25 é.txt"),
        "aws s3 ls shows the special key verbatim: {ls}"
    );
    // A second sync finds nothing to do (listing round-trips every key).
    let again = aws(srv, w, &["s3", "sync", "./tree", "s3://photos/tree"]);
    assert!(again.trim().is_empty(), "second aws s3 sync re-uploaded: {again}");
    // Sync back down.
    aws(srv, w, &["s3", "sync", "s3://photos/tree", "./tree-down"]);
    assert_eq!(std::fs::read(w.join("tree-down/sub/a+b %25 é.txt")).unwrap(), b"three");
    assert_eq!(std::fs::read(w.join("tree-down/one.txt")).unwrap(), b"one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_end_to_end() {
    require_aws_cli();
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    let cat = make_bucket_and_copy_a_small_file(&srv, w).await;
    let big = copy_a_large_file_up_and_both_down(&srv, w, &cat).await;

    // ls
    check_listings(&srv, w, cat.len(), big.len());

    // sync a directory, then rm and rb --force.
    sync_a_tree_up_and_down(&srv, w).await;

    aws(&srv, w, &["s3", "rm", "s3://photos/2024/cat.jpg"]);
    assert_err(
        srv.s3().head_object().bucket("photos").key("2024/cat.jpg").send().await,
        "NotFound",
        404,
    );

    aws(&srv, w, &["s3", "rb", "--force", "s3://photos"]);
    assert!(bucket_names(&srv.s3()).await.is_empty(), "bucket left after rb --force");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_reports_errors() {
    require_aws_cli();
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let out = aws_cmd(&srv, work.path())
        .args([
            "s3api",
            "get-object",
            "--bucket",
            "nosuchbucket",
            "--key",
            "k",
            "out.bin",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NoSuchBucket"),
        "aws s3api get-object on missing bucket: {err}"
    );

    let out = aws_cmd(&srv, work.path())
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-wrong-secret-wrong-secret0")
        .args(["s3", "ls"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SignatureDoesNotMatch"),
        "aws s3 ls with wrong secret: {err}"
    );
}
