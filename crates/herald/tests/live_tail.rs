//! The live tail: MinIO's `ListenBucketNotification`, read by minio-py's
//! `listen_bucket_notification` (unchanged, from PyPI) and checked on the
//! wire: filters, the bucket-less form, keep-alive lines, who may watch,
//! and a slow watcher cut off without slowing writes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;

/// A minio-py watcher in a child process; prints each record's event name
/// and key, one per line, and stops after the key `stop`.
const WATCHER: &str = r#"
import os, sys
from minio import Minio
c = Minio(os.environ["T_HOST"], access_key=os.environ["T_AK"], secret_key=os.environ["T_SK"],
          secure=False, region="us-east-1")
with c.listen_bucket_notification(os.environ["T_BUCKET"], prefix=os.environ["T_PREFIX"], suffix="",
                                  events=os.environ["T_EVENTS"].split(",")) as events:
    for event in events:
        for r in event["Records"]:
            key = r["s3"]["object"]["key"]
            print(r["eventName"], key, r["s3"]["object"].get("size"), flush=True)
            if key.endswith("stop"):
                sys.exit(0)
"#;

struct PyWatcher {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl PyWatcher {
    fn start(srv: &TestServer, bucket: &str, prefix: &str, events: &str) -> PyWatcher {
        // Say so at once when the client is missing, not after the 30 s
        // the watch is given to start.
        let import = Command::new("python3").args(["-c", "import minio"]).output();
        assert!(
            import.as_ref().is_ok_and(|o| o.status.success()),
            "minio-py (PyPI `minio`) is not importable by python3; .ci/run installs it: {import:?}"
        );
        let mut child = Command::new("python3")
            .args(["-c", WATCHER])
            .env("T_HOST", format!("127.0.0.1:{}", srv.port()))
            .env("T_AK", ROOT_ACCESS_KEY)
            .env("T_SK", ROOT_SECRET_KEY)
            .env("T_BUCKET", bucket)
            .env("T_PREFIX", prefix)
            .env("T_EVENTS", events)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (minio-py is installed by .ci/run)");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        PyWatcher { child, lines }
    }

    fn next(&self, what: &str) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("minio-py saw no {what} in 30 s"))
    }
}

impl Drop for PyWatcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, len: usize) {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(vec![b'x'; len]))
        .send()
        .await
        .unwrap();
}

/// PUTs `ready-N` keys under `prefix` until the watcher reports one: the
/// watch is then surely registered.
async fn until_watching(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str, w: &PyWatcher) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for n in 0.. {
        assert!(Instant::now() < deadline, "minio-py never started watching");
        put(s3, bucket, &format!("{prefix}ready-{n}"), 1).await;
        if let Ok(line) = w.lines.recv_timeout(Duration::from_millis(500)) {
            assert!(line.contains(&format!("{prefix}ready-")), "{line}");
            // Drain the other ready lines still coming.
            while w.lines.recv_timeout(Duration::from_millis(300)).is_ok() {}
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minio_py_watches_a_bucket_with_its_filters() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("watched").send().await.unwrap();
    // No notification configuration at all: the tail needs none.
    let w = PyWatcher::start(&srv, "watched", "img/", "s3:ObjectCreated:*,s3:ObjectRemoved:*");
    until_watching(&s3, "watched", "img/", &w).await;
    put(&s3, "watched", "img/a.png", 7).await;
    put(&s3, "watched", "doc/b.txt", 1).await; // other prefix: not seen
    // A read: not asked for.
    s3.get_object().bucket("watched").key("img/a.png").send().await.unwrap();
    s3.delete_object()
        .bucket("watched")
        .key("img/a.png")
        .send()
        .await
        .unwrap();
    put(&s3, "watched", "img/stop", 1).await;
    assert_eq!(w.next("the PUT"), "ObjectCreated:Put img/a.png 7");
    assert_eq!(w.next("the DELETE"), "ObjectRemoved:Delete img/a.png None");
    assert_eq!(w.next("the last PUT"), "ObjectCreated:Put img/stop 1");
}

/// The stream on the wire: the bucket-less form sees every bucket of the
/// caller and no one else's, keep-alive lines come every `ping` seconds,
/// and the refusals are S3 errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wire_form_keep_alives_scope_and_refusals() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    srv.create_user("bob", "BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnop");
    let bob = srv.s3_as("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnop");
    for b in ["mine-1", "mine-2"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    bob.create_bucket().bucket("bobs").send().await.unwrap();

    // Bob may not watch root's bucket, not even where a policy lets him read
    // everything (`s3:Get*`): watching is its own permission,
    // `s3:ListenBucketNotification`. An anonymous caller may watch nothing,
    // whatever a policy says. A bad event name or ping is InvalidArgument.
    let granted_target = "/mine-1?events=s3:ObjectCreated:*&ping=1";
    let bob_signer = Signer {
        addr: srv.addr(),
        service: "s3",
        access: "BOBACCESSKEY00000001",
        secret: "bobSecretKey/0123456789abcdefghijklmnop",
    };
    // Opened without reading to the end: a granted watch never ends.
    let bob_listens = || {
        let headers = signed_headers(bob_signer, "GET", granted_target, &[], b"");
        LineStream::open(srv.addr(), granted_target, &headers).unwrap()
    };
    let policy = |principal: serde_json::Value, action: &str| {
        serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": principal, "Action": action,
             "Resource": ["arn:aws:s3:::mine-1", "arn:aws:s3:::mine-1/*"]}]})
        .to_string()
    };
    let bob_principal = || serde_json::json!({"AWS": "arn:aws:iam::bob:user/bob"});
    assert_eq!(bob_listens().status, 403, "no grant");
    s3.put_bucket_policy()
        .bucket("mine-1")
        .policy(policy(bob_principal(), "s3:Get*"))
        .send()
        .await
        .unwrap();
    assert_eq!(bob_listens().status, 403, "s3:Get* is not s3:ListenBucketNotification");
    s3.put_bucket_policy()
        .bucket("mine-1")
        .policy(policy(serde_json::json!("*"), "s3:*"))
        .send()
        .await
        .unwrap();
    let r = raw_request(srv.addr(), "GET", "/mine-1?events=s3:ObjectCreated:*", &[], b"").unwrap();
    assert_eq!(
        r.status,
        403,
        "anonymous, even with s3:* for everyone: {}",
        r.body_str()
    );
    s3.put_bucket_policy()
        .bucket("mine-1")
        .policy(policy(bob_principal(), "s3:ListenBucketNotification"))
        .send()
        .await
        .unwrap();
    let mut granted = bob_listens();
    assert_eq!(granted.status, 200, "granted s3:ListenBucketNotification");
    assert_eq!(granted.next_line(), "", "a keep-alive");
    drop(granted);
    s3.delete_bucket_policy().bucket("mine-1").send().await.unwrap();
    let r = raw_request(srv.addr(), "GET", "/?events=s3:ObjectCreated:*", &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous: {}", r.body_str());
    for bad in [
        "/mine-1?events=s3:ObjectMade:*",
        "/mine-1?events=s3:ObjectCreated:*&ping=0",
    ] {
        let r = s3_raw(&srv, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, "GET", bad, b"");
        assert_eq!(r.status, 400, "{bad}: {}", r.body_str());
        assert!(r.body_str().contains("InvalidArgument"), "{bad}: {}", r.body_str());
    }

    // The bucket-less form, read line by line off the socket.
    let target = "/?events=s3:ObjectCreated:*&ping=1";
    let signer = Signer {
        addr: srv.addr(),
        service: "s3",
        access: ROOT_ACCESS_KEY,
        secret: ROOT_SECRET_KEY,
    };
    let mut stream = LineStream::open(srv.addr(), target, &signed_headers(signer, "GET", target, &[], b"")).unwrap();
    assert_eq!(stream.status, 200);
    let started = Instant::now();
    let first = stream.next_line();
    assert_eq!(first, "", "a keep-alive line first");
    assert!(started.elapsed() >= Duration::from_millis(900), "after about a second");
    put(&s3, "mine-1", "k1", 1).await;
    put(&bob, "bobs", "secret", 1).await; // another user's bucket
    put(&s3, "mine-2", "k2", 1).await;
    let mut keys = Vec::new();
    while keys.len() < 2 {
        let line = stream.next_line();
        if line.is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        keys.push(format!(
            "{}/{}",
            v["Records"][0]["s3"]["bucket"]["name"].as_str().unwrap(),
            v["Records"][0]["s3"]["object"]["key"].as_str().unwrap()
        ));
    }
    assert_eq!(keys, ["mine-1/k1", "mine-2/k2"], "never bob's");
}

/// `herald watch` as an operator runs it: credentials and region from the
/// environment, one line per event, filtered by event kind and prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_watch_prints_one_line_per_event() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("watch-b").send().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "watch",
            "s3://watch-b",
            "--events",
            "put",
            "--prefix",
            "x/",
            "--endpoint-url",
            &srv.url(),
        ])
        .env("AWS_ACCESS_KEY_ID", ROOT_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", ROOT_SECRET_KEY)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let w = PyWatcher { child, lines };
    until_watching(&s3, "watch-b", "x/", &w).await;
    put(&s3, "watch-b", "x/a b.txt", 5).await;
    s3.delete_object()
        .bucket("watch-b")
        .key("x/a b.txt")
        .send()
        .await
        .unwrap(); // not a put
    put(&s3, "watch-b", "y/b", 1).await; // other prefix
    put(&s3, "watch-b", "x/stop", 2).await;
    let fields = |line: String| line.split("  ").skip(1).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        fields(w.next("the first put")),
        ["ObjectCreated:Put", "watch-b/x/a b.txt", "5", "root"]
    );
    assert_eq!(
        fields(w.next("the last put")),
        ["ObjectCreated:Put", "watch-b/x/stop", "2", "root"]
    );
}
