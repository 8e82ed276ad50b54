//! The cross-user matrix: who may run which operation group, as a table
//! per group, reporting every wrong cell at once.

use super::*;

mod ops;

use ops::run_op;

// ---------------------------------------------------------------------------
// The cross-user matrix.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Alice,
    Bob,
    Carol,
    Anonymous,
}
/// Column order of every row: owner, granted user, other user, anonymous.
const WHO: [Who; 4] = [Who::Alice, Who::Bob, Who::Carol, Who::Anonymous];

impl Who {
    fn name(self) -> &'static str {
        match self {
            Who::Alice => "alice",
            Who::Bob => "bob",
            Who::Carol => "carol",
            Who::Anonymous => "anonymous",
        }
    }
}

struct Ctx {
    alice: Client,
    bob: Client,
    carol: Client,
    anon: Client,
    /// A topic of each user's. Notification configurations of alice's
    /// buckets name alice's topic, whoever writes them: a destination must
    /// accept the bucket owner's events (bob's topic would need a policy
    /// letting alice's bucket publish).
    topics: [String; 4],
    /// Side effects that contradict the answer (a refused delete that
    /// deleted, a wrong body...).
    problems: Mutex<Vec<String>>,
}

impl Ctx {
    fn client(&self, w: Who) -> &Client {
        match w {
            Who::Alice => &self.alice,
            Who::Bob => &self.bob,
            Who::Carol => &self.carol,
            Who::Anonymous => &self.anon,
        }
    }

    fn topic(&self, w: Who) -> &str {
        &self.topics[WHO.iter().position(|x| *x == w).unwrap()]
    }

    fn note(&self, p: String) {
        self.problems.lock().unwrap().push(p);
    }

    async fn exists(&self, b: &str, k: &str) -> bool {
        match self.alice.head_object().bucket(b).key(k).send().await {
            Ok(_) => true,
            Err(e) => {
                let (_, status) = err_info(&e);
                assert_eq!(status, 404, "alice's HeadObject {b}/{k}: {e:?}");
                false
            }
        }
    }

    /// Notes a problem unless `b/k` exists exactly when `want`.
    async fn expect_exists(&self, b: &str, k: &str, want: bool, here: &str) {
        let got = self.exists(b, k).await;
        if got != want {
            self.note(format!(
                "{here}: afterwards {b}/{k} {} (the answer said otherwise)",
                if got { "exists" } else { "does not exist" }
            ));
        }
    }

    async fn alice_put(&self, b: &str, k: &str, body: &'static [u8]) {
        self.alice
            .put_object()
            .bucket(b)
            .key(k)
            .body(ByteStream::from_static(body))
            .send()
            .await
            .unwrap_or_else(|e| panic!("alice's PutObject {b}/{k}: {e:?}"));
    }

    async fn alice_upload(&self, b: &str, k: &str) -> String {
        self.alice
            .create_multipart_upload()
            .bucket(b)
            .key(k)
            .send()
            .await
            .unwrap_or_else(|e| panic!("alice's CreateMultipartUpload {b}/{k}: {e:?}"))
            .upload_id()
            .expect("UploadId")
            .to_string()
    }

    async fn alice_abort(&self, b: &str, k: &str, id: &str) {
        let _ = self
            .alice
            .abort_multipart_upload()
            .bucket(b)
            .key(k)
            .upload_id(id)
            .send()
            .await;
    }
}

type Row = (&'static str, [Exp; 4]);

struct Group {
    name: &'static str,
    bucket: &'static str,
    /// The group's bucket policy, for a bucket name: it grants bob exactly
    /// the actions of the group.
    policy: fn(&str) -> String,
    rows: &'static [Row],
}

fn p_write(b: &str) -> String {
    // Ceph's principal form; a copy also reads its source (src/ only).
    doc(vec![
        allow(
            "BobWrites",
            json!({ "AWS": ["arn:aws:iam:::user/bob"] }),
            &["s3:PutObject"],
            &[objects_arn(b, "*")],
        ),
        allow(
            "BobReadsSources",
            json!({ "AWS": ["arn:aws:iam:::user/bob"] }),
            &["s3:GetObject"],
            &[objects_arn(b, "src/*")],
        ),
    ])
}

fn p_delete(b: &str) -> String {
    doc(vec![allow(
        "BobDeletes",
        json!({ "AWS": "arn:aws:iam::bob:root" }),
        &["s3:DeleteObject"],
        &[objects_arn(b, "*")],
    )])
}

fn p_list(b: &str) -> String {
    // A bare account id.
    doc(vec![allow(
        "BobLists",
        json!({ "AWS": "bob" }),
        &["s3:ListBucket"],
        &[bucket_arn(b)],
    )])
}

fn p_tagging(b: &str) -> String {
    doc(vec![allow(
        "BobTags",
        json!({ "AWS": ["arn:aws:iam::bob:user/bob"] }),
        &["s3:GetObjectTagging", "s3:PutObjectTagging"],
        &[objects_arn(b, "*")],
    )])
}

fn p_notification(b: &str) -> String {
    doc(vec![allow(
        "BobConfiguresNotifications",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetBucketNotification", "s3:PutBucketNotification"],
        &[bucket_arn(b)],
    )])
}

fn p_policy(b: &str) -> String {
    doc(vec![allow(
        "BobReadsThePolicy",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &["s3:GetBucketPolicy", "s3:GetBucketPolicyStatus"],
        &[bucket_arn(b)],
    )])
}

fn p_bucket(b: &str) -> String {
    doc(vec![allow(
        "BobBucketLevel",
        json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
        &[
            "s3:GetBucketLocation",
            "s3:GetBucketVersioning",
            "s3:ListBucketVersions",
            "s3:ListBucketMultipartUploads",
            "s3:DeleteBucket",
        ],
        &[bucket_arn(b)],
    )])
}

const GROUPS: &[Group] = &[
    Group {
        name: "object read",
        bucket: "m-read",
        policy: p_read,
        rows: &[
            ("GetObject", [O, O, D, D]),
            ("HeadObject", [O, O, D, D]),
            // The grant is for reading only.
            ("PutObject", [O, D, D, D]),
            ("ListObjectsV2", [O, D, D, D]),
        ],
    },
    Group {
        name: "object write",
        bucket: "m-write",
        policy: p_write,
        rows: &[
            ("PutObject", [O, O, D, D]),
            ("CopyObject", [O, O, D, D]),
            ("Multipart", [O, O, D, D]),
            ("UploadPart", [O, O, D, D]),
            ("ListParts", [O, D, D, D]),
            ("AbortMultipartUpload", [O, D, D, D]),
            ("GetObject", [O, D, D, D]),
        ],
    },
    Group {
        name: "delete",
        bucket: "m-delete",
        policy: p_delete,
        rows: &[
            ("DeleteObject", [O, O, D, D]),
            ("DeleteObjects", [O, O, K, K]),
            ("GetObject", [O, D, D, D]),
        ],
    },
    Group {
        name: "listing",
        bucket: "m-list",
        policy: p_list,
        rows: &[
            ("ListObjectsV2", [O, O, D, D]),
            ("ListObjects", [O, O, D, D]),
            ("HeadBucket", [O, O, D, D]),
            ("GetObject", [O, D, D, D]),
        ],
    },
    Group {
        name: "tagging",
        bucket: "m-tagging",
        policy: p_tagging,
        rows: &[("PutObjectTagging", [O, O, D, D]), ("GetObjectTagging", [O, O, D, D])],
    },
    Group {
        name: "notification config",
        bucket: "m-notify",
        policy: p_notification,
        rows: &[
            ("PutBucketNotification", [O, O, D, D]),
            ("GetBucketNotification", [O, O, D, D]),
        ],
    },
    Group {
        name: "bucket policy",
        bucket: "m-policy",
        policy: p_policy,
        rows: &[
            ("GetBucketPolicy", [O, O, D, D]),
            ("GetBucketPolicyStatus", [O, O, D, D]),
            ("PutBucketPolicy", [O, D, D, D]),
            ("DeleteBucketPolicy", [O, D, D, D]),
        ],
    },
    Group {
        name: "bucket level",
        bucket: "m-bucket",
        policy: p_bucket,
        rows: &[
            ("GetBucketLocation", [O, O, D, D]),
            ("GetBucketVersioning", [O, O, D, D]),
            ("PutBucketVersioning", [O, D, D, D]),
            ("ListObjectVersions", [O, O, D, D]),
            ("ListMultipartUploads", [O, O, D, D]),
            ("DeleteBucket", [O, O, D, D]),
        ],
    },
];

async fn run_group(cx: &Ctx, g: &Group) -> Vec<String> {
    let b = g.bucket;
    cx.alice
        .create_bucket()
        .bucket(b)
        .send()
        .await
        .unwrap_or_else(|e| panic!("alice's CreateBucket {b}: {e:?}"));
    cx.alice_put(b, "obj", b"hello").await;
    cx.alice_put(b, "src/orig", b"source").await;
    must_put_policy(&cx.alice, b, &(g.policy)(b)).await;
    let mut bad = Vec::new();
    for (op, exps) in g.rows {
        for (who, exp) in WHO.iter().zip(exps) {
            let got = run_op(cx, g, op, *who).await;
            let head = matches!(*op, "HeadObject" | "HeadBucket");
            if !matches(*exp, &got, head) {
                bad.push(format!(
                    "[{}] {op} as {}: expected {exp:?}, got {}",
                    g.name,
                    who.name(),
                    show(&got)
                ));
            }
        }
    }
    bad
}

/// Every operation group × owner / granted user / other user / anonymous;
/// bob's grant holds just the group's actions. All wrong cells are listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_user_matrix() {
    let srv = TestServer::start();
    users(&srv);
    // Topics push to a receiver (each new one gets s3:TestEvent).
    let rx = Receiver::start_new();
    let topic = |key: (&str, &str), user: &str| {
        Sns::new(&srv, key.0, key.1).create_topic("matrix", &[("push-endpoint", &rx.url(user))])
    };
    let alice_topic = topic(ALICE, "alice");
    let cx = Ctx {
        alice: srv.s3_as(ALICE.0, ALICE.1),
        bob: srv.s3_as(BOB.0, BOB.1),
        carol: srv.s3_as(CAROL.0, CAROL.1),
        anon: anonymous_client(&srv),
        topics: [
            alice_topic.clone(),
            topic(BOB, "bob"),
            topic(CAROL, "carol"),
            alice_topic,
        ],
        problems: Mutex::new(Vec::new()),
    };
    let mut bad = Vec::new();
    for g in GROUPS {
        bad.extend(run_group(&cx, g).await);
    }
    bad.extend(cx.problems.lock().unwrap().drain(..));

    // Positive control: the anonymous client really is anonymous and can
    // read and write where "*" is allowed.
    cx.alice.create_bucket().bucket("m-public").send().await.unwrap();
    cx.alice_put("m-public", "public/r", b"open").await;
    let open = doc(vec![allow(
        "Everyone",
        json!("*"),
        &["s3:GetObject", "s3:PutObject"],
        &[objects_arn("m-public", "public/*")],
    )]);
    must_put_policy(&cx.alice, "m-public", &open).await;
    match cx.anon.get_object().bucket("m-public").key("public/r").send().await {
        Ok(o) => assert_eq!(body_bytes(o).await, b"open"),
        Err(e) => bad.push(format!("anonymous GetObject where * may: {:?}", err_info(&e))),
    }
    let got = res(cx
        .anon
        .put_object()
        .bucket("m-public")
        .key("public/w")
        .body(ByteStream::from_static(b"by anyone"))
        .send()
        .await);
    if got.is_err() {
        bad.push(format!("anonymous PutObject where * may: {}", show(&got)));
    }
    let got = res(cx.anon.get_object().bucket("m-public").key("private").send().await);
    if !matches(D, &got, false) {
        bad.push(format!("anonymous GetObject outside public/: {}", show(&got)));
    }

    // A bucket that does not exist is 404 NoSuchBucket, as before.
    let got = res(cx.bob.get_object().bucket("no-such-bucket").key("k").send().await);
    if got != Err(("NoSuchBucket".into(), 404)) {
        bad.push(format!("bob's GetObject on a missing bucket: {}", show(&got)));
    }
    // ListBuckets shows one's own buckets only, grants or not.
    let bobs = bucket_names(&cx.bob).await;
    if !bobs.is_empty() {
        bad.push(format!("bob's ListBuckets shows {bobs:?}; he owns none"));
    }
    let alices = bucket_names(&cx.alice).await;
    if !alices.contains(&"m-read".to_string()) {
        bad.push(format!("alice's ListBuckets misses her bucket: {alices:?}"));
    }
    // An unsigned ListBuckets owns nothing: an empty list (S3 and Ceph).
    match cx.anon.list_buckets().send().await {
        Ok(out) if out.buckets().is_empty() => {}
        Ok(out) => bad.push(format!("anonymous ListBuckets lists {:?}", out.buckets())),
        Err(e) => bad.push(format!("anonymous ListBuckets: {:?}", err_info(&e))),
    }

    assert!(
        bad.is_empty(),
        "{} wrong cells:\n{}\nserver log tail:\n{}",
        bad.len(),
        bad.join("\n"),
        tail(&srv.logs())
    );
    assert_healthy(&srv);
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
