//! SFTP access (`herald serve --sftp-listen`): SSH keys of users
//! (`herald user add-key|keys|rm-key`), and the real OpenSSH `sftp` and
//! `ssh` clients listing and downloading objects uploaded with the AWS SDK,
//! refused without a registered key, and refused every write.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, NotificationConfiguration, TopicConfiguration};
use herald_testkit::{TestServer, body_bytes, list_all_keys, seeded_bytes};

/// Makes an ed25519 key pair with the real `ssh-keygen`; returns the
/// private key path (the public key is next to it, `.pub`).
fn keygen(dir: &Path, name: &str) -> PathBuf {
    keygen_typed(dir, name, "ed25519")
}

fn keygen_typed(dir: &Path, name: &str, key_type: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", key_type, "-N", "", "-C"])
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

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey0123456789");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey0123456789");
const NESTED: &str = "main_stream/2026/11/23/13/x.ndjson";

/// Options that make the OpenSSH clients hermetic: no agent, no user
/// config or known hosts, only the given key, never a prompt.
fn ssh_opts(server: &TestServer, key: &Path) -> Vec<String> {
    let mut opts = client_opts(key);
    opts.extend(["-P".into(), server.sftp_port().to_string()]);
    opts
}

fn client_opts(key: &Path) -> Vec<String> {
    [
        "-F",
        "/dev/null",
        "-i",
        key.to_str().unwrap(),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=20",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs the real `sftp` client in batch mode with `commands`, as `user`
/// with `key`, in `cwd` (where `get` writes).
fn sftp(server: &TestServer, user: &str, key: &Path, cwd: &Path, commands: &str) -> Output {
    let batch = cwd.join("commands.sftp");
    std::fs::write(&batch, commands).unwrap();
    // A stalled transfer fails the test (exit 124) instead of hanging it.
    Command::new("timeout")
        .args(["300", "sftp", "-b"])
        .arg(&batch)
        .args(ssh_opts(server, key))
        .arg(format!("{user}@127.0.0.1"))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run sftp (install openssh-client)")
}

fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// alice owns `batches` (a nested batch file, a 3 MiB object, a small one);
/// bob owns `bobs-bucket`. Each has one registered key.
struct Setup {
    server: TestServer,
    keys_dir: tempfile::TempDir,
    alice_key: PathBuf,
    bob_key: PathBuf,
    big: Vec<u8>,
}

async fn setup() -> Setup {
    let server = TestServer::start_with_sftp();
    server.create_user("alice", ALICE.0, ALICE.1);
    server.create_user("bob", BOB.0, BOB.1);
    let dir = tempfile::tempdir().unwrap();
    let alice_key = keygen(dir.path(), "alice");
    let bob_key = keygen(dir.path(), "bob");
    ok(add_key(&server, "alice", &alice_key));
    ok(add_key(&server, "bob", &bob_key));

    let alice = server.s3_as(ALICE.0, ALICE.1);
    alice.create_bucket().bucket("batches").send().await.unwrap();
    let ndjson: String = (0..500)
        .map(|i| format!("{{\"eventName\":\"ObjectCreated:Put\",\"seq\":{i}}}\n"))
        .collect();
    // Not a multiple of any read size, so the last read is a short one.
    let big = seeded_bytes(7, 3 * 1024 * 1024 + 12_345);
    for (key, body) in [
        (NESTED, ndjson.into_bytes()),
        ("big/blob.bin", big.clone()),
        ("readme.txt", b"hello over sftp\n".to_vec()),
    ] {
        alice
            .put_object()
            .bucket("batches")
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
    }
    let bob = server.s3_as(BOB.0, BOB.1);
    bob.create_bucket().bucket("bobs-bucket").send().await.unwrap();
    bob.put_object()
        .bucket("bobs-bucket")
        .key("secret.txt")
        .body(ByteStream::from_static(b"bob only"))
        .send()
        .await
        .unwrap();
    Setup {
        server,
        keys_dir: dir,
        alice_key,
        bob_key,
        big,
    }
}

async fn s3_bytes(server: &TestServer, bucket: &str, key: &str) -> Vec<u8> {
    let out = server
        .s3_as(ALICE.0, ALICE.1)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    body_bytes(out).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_lists_and_downloads_what_s3_stored() {
    let s = setup().await;
    let work = tempfile::tempdir().unwrap();
    // A partial local copy, for `reget` to resume at an offset.
    std::fs::write(work.path().join("resumed.bin"), &s.big[..1_000_000]).unwrap();
    let out = sftp(
        &s.server,
        "alice",
        &s.alice_key,
        work.path(),
        "ls -l /\n\
         cd batches\n\
         pwd\n\
         ls\n\
         cd main_stream/2026/11/23/13\n\
         ls -l\n\
         get x.ndjson nested.ndjson\n\
         cd /batches/big\n\
         get blob.bin big.bin\n\
         reget blob.bin resumed.bin\n\
         get /batches/readme.txt\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    let listing = text(&out.stdout);

    // `ls -l /`: alice's bucket as a directory, never bob's.
    let root_line = listing
        .lines()
        .find(|l| l.ends_with(" batches"))
        .unwrap_or_else(|| panic!("no batches directory in:\n{listing}"));
    assert!(root_line.starts_with("dr-xr-xr-x"), "{root_line}");
    assert!(!listing.contains("bobs-bucket"), "{listing}");
    assert!(listing.contains("Remote working directory: /batches"), "{listing}");
    // `ls` in the bucket: the key tree's first level.
    for name in ["big", "main_stream", "readme.txt"] {
        assert!(
            listing.lines().any(|l| l.split_whitespace().any(|w| w == name)),
            "{name} in:\n{listing}"
        );
    }
    // `ls -l` in the nested directory: the file with its size.
    let nested = s3_bytes(&s.server, "batches", NESTED).await;
    let file_line = listing
        .lines()
        .find(|l| l.ends_with(" x.ndjson"))
        .unwrap_or_else(|| panic!("no x.ndjson in:\n{listing}"));
    assert!(file_line.starts_with("-r--r--r--"), "{file_line}");
    assert!(
        file_line.split_whitespace().any(|w| w == nested.len().to_string()),
        "size {} in {file_line}",
        nested.len()
    );

    // The downloaded bytes are the S3 object's.
    assert_eq!(std::fs::read(work.path().join("nested.ndjson")).unwrap(), nested);
    let big = s3_bytes(&s.server, "batches", "big/blob.bin").await;
    assert_eq!(big, s.big);
    assert!(
        std::fs::read(work.path().join("big.bin")).unwrap() == big,
        "big.bin differs"
    );
    assert!(
        std::fs::read(work.path().join("resumed.bin")).unwrap() == big,
        "reget differs"
    );
    assert_eq!(
        std::fs::read(work.path().join("readme.txt")).unwrap(),
        b"hello over sftp\n"
    );

    // A download much larger than the SSH window, with OpenSSH reading
    // 255 KiB per request and 64 requests in flight, completes: this once
    // stalled at ~30 MB when the SFTP processor read its own requests.
    let large = seeded_bytes(11, 48 * 1024 * 1024 + 7);
    s.server
        .s3_as(ALICE.0, ALICE.1)
        .put_object()
        .bucket("batches")
        .key("big/large.bin")
        .body(ByteStream::from(large.clone()))
        .send()
        .await
        .unwrap();
    let out = sftp(
        &s.server,
        "alice",
        &s.alice_key,
        work.path(),
        "get /batches/big/large.bin\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        std::fs::read(work.path().join("large.bin")).unwrap() == large,
        "large.bin differs"
    );

    // ECDSA and RSA keys log in too (OpenSSH's other common key types).
    for key_type in ["ecdsa", "rsa"] {
        let key = keygen_typed(s.keys_dir.path(), &format!("alice-{key_type}"), key_type);
        ok(add_key(&s.server, "alice", &key));
        let out = sftp(&s.server, "alice", &key, work.path(), "ls /\n");
        assert!(out.status.success(), "{key_type}: {}", describe(&out));
        assert!(text(&out.stdout).contains("batches"), "{key_type}: {}", describe(&out));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_keys_and_passwords_are_refused() {
    let s = setup().await;
    let work = tempfile::tempdir().unwrap();
    let stranger = keygen(s.keys_dir.path(), "stranger");

    // A key nobody registered, and bob's key for alice's account.
    for key in [&stranger, &s.bob_key] {
        let out = sftp(&s.server, "alice", key, work.path(), "ls /\n");
        assert!(!out.status.success(), "{}", describe(&out));
        assert!(
            text(&out.stderr).contains("Permission denied (publickey)"),
            "{}",
            describe(&out)
        );
        assert!(!text(&out.stdout).contains("batches"), "{}", describe(&out));
    }

    // Asked for a password (or a keyboard-interactive prompt), the server
    // offers public keys only, so the client gives up without prompting.
    let out = Command::new("ssh")
        .arg("-v")
        .args(client_opts(&s.bob_key))
        .args(["-o", "PreferredAuthentications=password,keyboard-interactive"])
        .args(["-o", "NumberOfPasswordPrompts=1", "-p"])
        .arg(s.server.sftp_port().to_string())
        .arg("alice@127.0.0.1")
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    let log = text(&out.stderr);
    let offered: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("Authentications that can continue:"))
        .collect();
    assert!(!offered.is_empty(), "{log}");
    for line in offered {
        assert!(
            line.trim_end().ends_with("continue: publickey"),
            "only publickey offered: {line}"
        );
    }
    assert!(log.contains("Permission denied (publickey)"), "{log}");

    // With a valid key, commands and shells are refused: SFTP only.
    let out = Command::new("ssh")
        .args(client_opts(&s.bob_key))
        .arg("-p")
        .arg(s.server.sftp_port().to_string())
        .args(["bob@127.0.0.1", "cat", "/etc/hostname"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    assert!(text(&out.stderr).contains("exec request failed"), "{}", describe(&out));

    // A removed key stops working at once (no restart).
    let ok_before = sftp(&s.server, "bob", &s.bob_key, work.path(), "ls /\n");
    assert!(ok_before.status.success(), "{}", describe(&ok_before));
    ok(s.server
        .cli(&["user", "rm-key", "bob", &fingerprint(&pub_of(&s.bob_key))]));
    let after = sftp(&s.server, "bob", &s.bob_key, work.path(), "ls /\n");
    assert!(!after.status.success(), "{}", describe(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_refused_and_users_see_only_their_own_buckets() {
    let s = setup().await;
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("local.txt"), b"should never arrive").unwrap();
    let keys_before = herald_testkit::list_all_keys(&s.server.s3_as(ALICE.0, ALICE.1), "batches", None).await;

    // `-` lets the batch go on after a failed command.
    let writes = [
        "put local.txt /batches/new.txt",
        "put local.txt /batches/readme.txt",
        "mkdir /batches/newdir",
        "rm /batches/readme.txt",
        "rmdir /batches/big",
        "rename /batches/readme.txt /batches/moved.txt",
        "chmod 777 /batches/readme.txt",
        "ln -s /batches/readme.txt /batches/link",
    ];
    let batch: String = writes.iter().map(|w| format!("-{w}\n")).collect();
    let out = sftp(&s.server, "alice", &s.alice_key, work.path(), &batch);
    let err = text(&out.stderr);
    let denied = err.lines().filter(|l| l.ends_with("Permission denied")).count();
    assert_eq!(denied, writes.len(), "every write is denied:\n{}", describe(&out));
    // Without `-`, a refused write fails the batch.
    let out = sftp(&s.server, "alice", &s.alice_key, work.path(), "mkdir /batches/d\n");
    assert!(!out.status.success(), "{}", describe(&out));

    let s3 = s.server.s3_as(ALICE.0, ALICE.1);
    assert_eq!(herald_testkit::list_all_keys(&s3, "batches", None).await, keys_before);
    assert_eq!(s3_bytes(&s.server, "batches", "readme.txt").await, b"hello over sftp\n");

    // bob sees his bucket only; alice's paths do not exist for him.
    let out = sftp(
        &s.server,
        "bob",
        &s.bob_key,
        work.path(),
        "ls /\nget /bobs-bucket/secret.txt\n",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).contains("bobs-bucket"), "{}", describe(&out));
    assert!(!text(&out.stdout).contains("batches"), "{}", describe(&out));
    assert_eq!(std::fs::read(work.path().join("secret.txt")).unwrap(), b"bob only");
    for cmd in ["cd /batches", "get /batches/readme.txt", "ls /batches"] {
        let out = sftp(&s.server, "bob", &s.bob_key, work.path(), &format!("{cmd}\n"));
        assert!(!out.status.success(), "{cmd}: {}", describe(&out));
        let err = text(&out.stderr);
        assert!(
            err.contains("not found") || err.contains("No such file"),
            "{cmd}: {err}"
        );
    }
    assert!(!work.path().join("readme.txt").exists());
}

/// The flow of issue 7 end to end: events batched into a file by a
/// `batch://` topic, and that file fetched with `sftp` byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_file_is_fetched_over_sftp() {
    let server = TestServer::start_with_sftp();
    let s3 = server.s3();
    for b in ["events-src", "event-files"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let arn = herald_testkit::Sns::root(&server).create_topic(
        "files",
        &[
            ("push-endpoint", "batch://event-files/main_stream/"),
            ("batch-max-seconds", "1"),
        ],
    );
    let topic = TopicConfiguration::builder()
        .topic_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket("events-src")
        .notification_configuration(NotificationConfiguration::builder().topic_configurations(topic).build())
        .send()
        .await
        .unwrap();
    for i in 0..3 {
        s3.put_object()
            .bucket("events-src")
            .key(format!("in/{i}.json"))
            .body(ByteStream::from_static(b"{}"))
            .send()
            .await
            .unwrap();
    }
    // The age limit (1 s) writes the file; wait for it generously.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let key = loop {
        if let Some((key, _)) = list_all_keys(&s3, "event-files", Some("main_stream/"))
            .await
            .into_iter()
            .next()
        {
            break key;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no batch file; log:\n{}",
            server.logs()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let (dir, name) = key.rsplit_once('/').unwrap();

    let keys_dir = tempfile::tempdir().unwrap();
    let key_path = keygen(keys_dir.path(), "root");
    ok(add_key(&server, "root", &key_path));
    let work = tempfile::tempdir().unwrap();
    let out = sftp(
        &server,
        "root",
        &key_path,
        work.path(),
        &format!("cd /event-files/{dir}\nls -l\nget {name}\n"),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).contains(name), "{}", describe(&out));
    let got = s3.get_object().bucket("event-files").key(&key).send().await.unwrap();
    let bytes = body_bytes(got).await;
    assert_eq!(std::fs::read(work.path().join(name)).unwrap(), bytes);
    // One event record per line (how many per file depends on timing).
    let text_body = String::from_utf8_lossy(&bytes);
    assert!(text_body.lines().count() >= 1, "{text_body}");
    for line in text_body.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(line.contains("ObjectCreated:Put"), "{record}");
    }
}

/// Buckets shared through S3 access control show up over SFTP as far as
/// they are shared: a bucket policy granting bob `s3:ListBucket` on the
/// `main_stream/` prefix and `s3:GetObject` under it lets him see
/// `/batches`, walk down to the batch file and fetch it, but not read
/// `readme.txt` or list elsewhere; a public-read bucket ACL lets him list
/// everything and an object ACL read one more file; revoking hides it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_shared_by_policy_or_acl_are_visible_as_far_as_shared() {
    let s = setup().await;
    let work = tempfile::tempdir().unwrap();
    let alice = s.server.s3_as(ALICE.0, ALICE.1);
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::batches",
         "Condition":{"StringLike":{"s3:prefix":["","main_stream/*"]}}},
        {"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::batches/main_stream/*"}]}"#;
    alice
        .put_bucket_policy()
        .bucket("batches")
        .policy(policy)
        .send()
        .await
        .unwrap();
    let bob_runs = |cmd: &str| sftp(&s.server, "bob", &s.bob_key, work.path(), &format!("{cmd}\n"));

    let out = bob_runs("ls /");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("batches"),
        "shared bucket listed: {}",
        describe(&out)
    );
    assert!(text(&out.stdout).contains("bobs-bucket"), "{}", describe(&out));
    let out = bob_runs(&format!("get /batches/{NESTED} got.ndjson"));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        std::fs::read(work.path().join("got.ndjson")).unwrap(),
        s3_bytes(&s.server, "batches", NESTED).await
    );
    let out = bob_runs("ls /batches/main_stream/2026/11/23/13");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).contains("x.ndjson"), "{}", describe(&out));
    for cmd in [
        "get /batches/readme.txt",
        "ls /batches/big",
        "get /batches/big/blob.bin",
    ] {
        let out = bob_runs(cmd);
        assert!(!out.status.success(), "{cmd} must fail: {}", describe(&out));
    }
    assert!(!work.path().join("readme.txt").exists());
    assert!(!work.path().join("blob.bin").exists());

    // An ACL instead of the policy: the whole bucket listable, one more
    // object readable.
    alice.delete_bucket_policy().bucket("batches").send().await.unwrap();
    alice
        .put_bucket_acl()
        .bucket("batches")
        .acl(aws_sdk_s3::types::BucketCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    alice
        .put_object_acl()
        .bucket("batches")
        .key("readme.txt")
        .grant_read("id=bob")
        .send()
        .await
        .unwrap();
    let out = bob_runs("ls /batches/big\nget /batches/readme.txt");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).contains("blob.bin"), "{}", describe(&out));
    assert_eq!(
        std::fs::read(work.path().join("readme.txt")).unwrap(),
        b"hello over sftp\n"
    );
    let out = bob_runs("get /batches/big/blob.bin");
    assert!(!out.status.success(), "listing is not reading: {}", describe(&out));

    // Revoked: the bucket is gone from bob's view again.
    alice
        .put_bucket_acl()
        .bucket("batches")
        .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    let out = bob_runs("ls /");
    assert!(!text(&out.stdout).contains("batches"), "{}", describe(&out));
    let out = bob_runs("ls /batches");
    assert!(!out.status.success(), "{}", describe(&out));
}
