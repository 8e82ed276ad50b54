//! Tenant isolation and quotas (issue 12): each test plays a hostile
//! tenant (bob) against another (alice) or against a quota, with the AWS
//! SDK, the SNS query API and the real `herald user` command, and checks
//! the refusal and that `/health` still answers afterwards.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sqs::types::QueueAttributeName;
use herald_testkit::Sns;
use herald_testkit::{REGION, TestServer, assert_healthy, err_info};

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");

fn users(srv: &TestServer) {
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
}

fn sqs_as(srv: &TestServer, key: (&str, &str)) -> aws_sdk_sqs::Client {
    srv.sqs_as(key.0, key.1)
}

fn arn(owner: &str, name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{owner}:{name}")
}

fn redrive(target: &str) -> String {
    format!(r#"{{"deadLetterTargetArn":"{target}","maxReceiveCount":1}}"#)
}

async fn create_queue(
    c: &aws_sdk_sqs::Client,
    name: &str,
    attrs: &[(QueueAttributeName, &str)],
) -> Result<String, String> {
    let mut req = c.create_queue().queue_name(name);
    for (k, v) in attrs {
        req = req.attributes(k.clone(), *v);
    }
    req.send().await.map(|o| o.queue_url.unwrap_or_default()).map_err(|e| {
        let (code, status) = err_info(&e);
        let msg = e.into_service_error().meta().message().unwrap_or_default().to_owned();
        format!("{status} {code}: {msg}")
    })
}

async fn set_attr(c: &aws_sdk_sqs::Client, url: &str, k: QueueAttributeName, v: &str) -> Result<(), String> {
    c.set_queue_attributes()
        .queue_url(url)
        .attributes(k, v)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let (code, status) = err_info(&e);
            let msg = e.into_service_error().meta().message().unwrap_or_default().to_owned();
            format!("{status} {code}: {msg}")
        })
}

/// Issue 12, item 3: bob's RedrivePolicy naming alice's queue is refused at
/// CreateQueue and SetQueueAttributes, with exactly the error a
/// nonexistent queue gets (nothing tells bob that alice's queue exists).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redrive_policy_into_another_tenants_queue_is_refused_like_a_missing_one() {
    let srv = TestServer::start();
    users(&srv);
    let (alice, bob) = (sqs_as(&srv, ALICE), sqs_as(&srv, BOB));
    create_queue(&alice, "inbox", &[]).await.expect("alice's queue");
    let rp = |t: &str| [(QueueAttributeName::RedrivePolicy, redrive(t))];
    let attack = |t: String| {
        let bob = bob.clone();
        async move {
            let [(k, v)] = rp(&t);
            create_queue(&bob, "work", &[(k, &v)])
                .await
                .expect_err("must be refused")
        }
    };
    let to_alice = attack(arn("alice", "inbox")).await;
    let to_nothing = attack(arn("alice", "no-such-queue")).await;
    assert!(to_alice.starts_with("400 InvalidAttributeValue"), "{to_alice}");
    assert_eq!(
        to_alice.replace("inbox", "X"),
        to_nothing.replace("no-such-queue", "X"),
        "alice's queue must look like a missing one"
    );
    // The same through SetQueueAttributes on a queue of bob's.
    let url = create_queue(&bob, "work", &[]).await.expect("bob's queue");
    let set_alice = set_attr(
        &bob,
        &url,
        QueueAttributeName::RedrivePolicy,
        &redrive(&arn("alice", "inbox")),
    )
    .await
    .expect_err("must be refused");
    let set_nothing = set_attr(
        &bob,
        &url,
        QueueAttributeName::RedrivePolicy,
        &redrive(&arn("alice", "nope")),
    )
    .await
    .expect_err("must be refused");
    assert_eq!(set_alice.replace("inbox", "X"), set_nothing.replace("nope", "X"));
    // Nothing of bob's reaches alice's queue.
    bob.send_message()
        .queue_url(&url)
        .message_body("forged")
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        bob.receive_message()
            .queue_url(&url)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let inbox = alice
        .get_queue_url()
        .queue_name("inbox")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let got = alice.receive_message().queue_url(&inbox).send().await.unwrap();
    assert!(
        got.messages.unwrap_or_default().is_empty(),
        "bob's message reached alice's queue"
    );
    assert_healthy(&srv);
}

/// RedriveAllowPolicy on one's own dead-letter queue: denyAll refuses every
/// source, byQueue only the listed ones; checked again at move time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_allow_policy_is_honoured() {
    let srv = TestServer::start();
    users(&srv);
    let bob = sqs_as(&srv, BOB);
    let deny = r#"{"redrivePermission":"denyAll"}"#;
    create_queue(&bob, "dlq-closed", &[(QueueAttributeName::RedriveAllowPolicy, deny)])
        .await
        .expect("dlq");
    let err = create_queue(
        &bob,
        "src",
        &[(QueueAttributeName::RedrivePolicy, &redrive(&arn("bob", "dlq-closed")))],
    )
    .await
    .expect_err("denyAll must refuse");
    assert!(
        err.contains("InvalidAttributeValue") && err.contains("RedriveAllowPolicy"),
        "{err}"
    );
    let by_queue = format!(
        r#"{{"redrivePermission":"byQueue","sourceQueueArns":["{}"]}}"#,
        arn("bob", "src-ok")
    );
    let dlq = create_queue(&bob, "dlq", &[(QueueAttributeName::RedriveAllowPolicy, &by_queue)])
        .await
        .expect("dlq");
    let rp = redrive(&arn("bob", "dlq"));
    let ok = create_queue(&bob, "src-ok", &[(QueueAttributeName::RedrivePolicy, &rp)])
        .await
        .expect("a listed source is allowed");
    let err = create_queue(&bob, "src-other", &[(QueueAttributeName::RedrivePolicy, &rp)])
        .await
        .expect_err("an unlisted source is refused");
    assert!(err.contains("InvalidAttributeValue"), "{err}");
    let bad = r#"{"redrivePermission":"byQueue","sourceQueueArns":[]}"#;
    let err = set_attr(&bob, &dlq, QueueAttributeName::RedriveAllowPolicy, bad)
        .await
        .expect_err("byQueue needs sources");
    assert!(err.contains("InvalidAttributeValue"), "{err}");
    // The target closes after the source was set up: messages stay.
    set_attr(&bob, &dlq, QueueAttributeName::RedriveAllowPolicy, deny)
        .await
        .unwrap();
    bob.send_message()
        .queue_url(&ok)
        .message_body("m")
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        bob.receive_message()
            .queue_url(&ok)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let moved = bob.receive_message().queue_url(&dlq).send().await.unwrap();
    assert!(moved.messages.unwrap_or_default().is_empty(), "moved despite denyAll");
    assert_healthy(&srv);
}

/// Issue 12, item 11: bob's `batch://` topic into alice's bucket is refused
/// (the same answer as for a missing bucket), and alice's own topic for it
/// then succeeds; the errors name none of alice's resources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_topic_into_another_tenants_bucket_is_refused() {
    let srv = TestServer::start();
    users(&srv);
    srv.s3_as(ALICE.0, ALICE.1)
        .create_bucket()
        .bucket("alice-files")
        .send()
        .await
        .unwrap();
    let (alice, bob) = (Sns::new(&srv, ALICE.0, ALICE.1), Sns::new(&srv, BOB.0, BOB.1));
    let theirs = bob
        .try_create_topic("squat", &[("push-endpoint", "batch://alice-files/events/")])
        .expect_err("must be refused");
    let missing = bob
        .try_create_topic("squat", &[("push-endpoint", "batch://nobody-files/events/")])
        .expect_err("must be refused");
    assert_eq!(
        (theirs.status, theirs.code.as_str()),
        (400, "InvalidArgument"),
        "{}",
        theirs.body
    );
    let msg = |e: &herald_testkit::SnsError| herald_testkit::xml_first(&e.body, "Message").unwrap_or_default();
    assert_eq!(
        msg(&theirs).replace("alice-files", "X"),
        msg(&missing).replace("nobody-files", "X")
    );
    assert!(
        !theirs.body.contains(":alice:"),
        "names alice's resources: {}",
        theirs.body
    );
    // SetTopicAttributes is checked too.
    let arn = bob.try_create_topic("mine", &[]).expect("bob's plain topic");
    let r = bob.call(
        "SetTopicAttributes",
        &[
            ("TopicArn", &arn),
            ("AttributeName", "push-endpoint"),
            ("AttributeValue", "batch://alice-files/events/"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body_str());
    // Alice's own topic for her bucket is not blocked by anything of bob's.
    alice
        .try_create_topic("files", &[("push-endpoint", "batch://alice-files/events/")])
        .expect("alice's own batch topic");
    assert_healthy(&srv);
}

fn cli_ok(out: &std::process::Output) -> bool {
    out.status.success()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Gives carol a bucket with an object, a topic and a queue.
async fn carol_owns_things(srv: &TestServer, key: (&str, &str)) {
    let s3 = srv.s3_as(key.0, key.1);
    s3.create_bucket().bucket("carol-data").send().await.unwrap();
    s3.put_object()
        .bucket("carol-data")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    Sns::new(srv, key.0, key.1)
        .try_create_topic("carol-topic", &[])
        .expect("topic");
    let q = create_queue(&sqs_as(srv, key), "carol-queue", &[])
        .await
        .expect("queue");
    sqs_as(srv, key)
        .send_message()
        .queue_url(q)
        .message_body("m")
        .send()
        .await
        .unwrap();
}

/// `herald user rm` refuses while the user owns buckets, topics or queues
/// (through the running server and without one); `--purge` removes them,
/// so a new user of the same name starts with nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_rm_refuses_owners_and_purge_removes_everything() {
    let mut srv = TestServer::start();
    const CAROL: (&str, &str) = ("CAROLACCESSKEY000001", "carolSecretKey/0123456789abcdefghijklmn");
    srv.create_user("carol", CAROL.0, CAROL.1);
    // Only a topic and a queue (the case that used to be let through).
    Sns::new(&srv, CAROL.0, CAROL.1)
        .try_create_topic("t", &[])
        .expect("topic");
    create_queue(&sqs_as(&srv, CAROL), "q", &[]).await.expect("queue");
    let out = srv.cli(&["user", "rm", "carol"]);
    assert!(!cli_ok(&out), "removed a user owning a topic and a queue");
    assert!(stderr(&out).contains("1 topic(s) and 1 queue(s)"), "{}", stderr(&out));
    carol_owns_things(&srv, CAROL).await;
    let out = srv.cli(&["user", "rm", "carol", "--purge"]);
    assert!(cli_ok(&out), "purge failed: {}", stderr(&out));
    assert_healthy(&srv);
    // The name is retired: taking it again needs --reuse-name (objects
    // and grants elsewhere may still name it). A new carol inherits none
    // of what --purge removed.
    let out = srv.cli(&[
        "user",
        "create",
        "carol",
        "--access-key",
        CAROL.0,
        "--secret-key",
        CAROL.1,
    ]);
    assert!(!cli_ok(&out), "a retired name was taken without --reuse-name");
    assert!(stderr(&out).contains("--reuse-name"), "{}", stderr(&out));
    reuse_carol(&srv, CAROL);
    let queues = sqs_as(&srv, CAROL).list_queues().send().await.unwrap();
    assert!(queues.queue_urls.unwrap_or_default().is_empty());
    let topics = Sns::new(&srv, CAROL.0, CAROL.1).call("ListTopics", &[]).body_str();
    assert!(!topics.contains("carol-topic"), "{topics}");
    let buckets = srv.s3_as(CAROL.0, CAROL.1).list_buckets().send().await.unwrap();
    assert!(buckets.buckets.unwrap_or_default().is_empty());
    // Without a running server: the command opens the data dir itself.
    carol_owns_things(&srv, CAROL).await;
    srv.terminate();
    let out = srv.cli(&["user", "rm", "carol"]);
    assert!(!cli_ok(&out), "removed a user owning things (no server)");
    assert!(
        stderr(&out).contains("1 bucket(s), 1 topic(s) and 1 queue(s)"),
        "{}",
        stderr(&out)
    );
    let out = srv.cli(&["user", "rm", "carol", "--purge"]);
    assert!(cli_ok(&out), "purge without a server failed: {}", stderr(&out));
    srv.restart();
    reuse_carol(&srv, CAROL);
    let queues = sqs_as(&srv, CAROL).list_queues().send().await.unwrap();
    assert!(queues.queue_urls.unwrap_or_default().is_empty());
    assert_healthy(&srv);
}

/// `herald user create carol --reuse-name` (carol was removed before).
fn reuse_carol(srv: &TestServer, key: (&str, &str)) {
    let out = srv.cli(&[
        "user",
        "create",
        "carol",
        "--access-key",
        key.0,
        "--secret-key",
        key.1,
        "--reuse-name",
    ]);
    assert!(cli_ok(&out), "create carol --reuse-name: {}", stderr(&out));
}

/// Every quota, with a small configured limit, refused with an AWS-style
/// error naming the setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_with_the_named_limit() {
    let srv = TestServer::start_with_args(&[
        "--max-buckets-per-user",
        "2",
        "--max-topics-per-user",
        "1",
        "--max-queues-per-user",
        "1",
        "--max-notification-configs-per-bucket",
        "1",
        "--max-multipart-uploads-per-user",
        "1",
    ]);
    users(&srv);
    let s3 = srv.s3_as(BOB.0, BOB.1);
    for b in ["bob-1", "bob-2"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let e = s3
        .create_bucket()
        .bucket("bob-3")
        .send()
        .await
        .expect_err("third bucket");
    assert_eq!(err_info(&e), ("TooManyBuckets".to_owned(), 400));
    assert!(format!("{e:?}").contains("max-buckets-per-user"), "{e:?}");
    // Alice's quota is her own.
    srv.s3_as(ALICE.0, ALICE.1)
        .create_bucket()
        .bucket("alice-1")
        .send()
        .await
        .unwrap();

    let sns = Sns::new(&srv, BOB.0, BOB.1);
    sns.try_create_topic("t1", &[]).expect("first topic");
    sns.try_create_topic("t1", &[]).expect("re-creating is not a new topic");
    let e = sns.try_create_topic("t2", &[]).expect_err("second topic");
    assert_eq!((e.status, e.code.as_str()), (403, "TopicLimitExceeded"), "{}", e.body);
    assert!(e.body.contains("max-topics-per-user"), "{}", e.body);

    let sqs = sqs_as(&srv, BOB);
    create_queue(&sqs, "q1", &[]).await.expect("first queue");
    let e = create_queue(&sqs, "q2", &[]).await.expect_err("second queue");
    assert!(
        e.starts_with("403 OverLimit") && e.contains("max-queues-per-user"),
        "{e}"
    );

    s3.create_multipart_upload()
        .bucket("bob-1")
        .key("a")
        .send()
        .await
        .unwrap();
    let e = s3
        .create_multipart_upload()
        .bucket("bob-1")
        .key("b")
        .send()
        .await
        .expect_err("second upload");
    assert_eq!(err_info(&e), ("TooManyUploads".to_owned(), 400));

    let topic = format!("arn:aws:sns:{REGION}:bob:t1");
    let cfg = |n: usize| {
        let topics: Vec<_> = (0..n)
            .map(|i| {
                aws_sdk_s3::types::TopicConfiguration::builder()
                    .id(format!("n{i}"))
                    .topic_arn(&topic)
                    .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                    .build()
                    .unwrap()
            })
            .collect();
        aws_sdk_s3::types::NotificationConfiguration::builder()
            .set_topic_configurations(Some(topics))
            .build()
    };
    let put = |n| {
        s3.put_bucket_notification_configuration()
            .bucket("bob-2")
            .notification_configuration(cfg(n))
            .send()
    };
    put(1).await.expect("one configuration");
    let e = put(2).await.expect_err("two configurations");
    assert_eq!(err_info(&e), ("InvalidArgument".to_owned(), 400));
    assert!(
        format!("{e:?}").contains("max-notification-configs-per-bucket"),
        "{e:?}"
    );
    assert_healthy(&srv);
}

/// User metadata above S3's 2 KB (names + values) is `MetadataTooLarge`,
/// on PutObject and CreateMultipartUpload; exactly 2 KB is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_metadata_over_2kb_is_refused() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("meta").send().await.unwrap();
    // "k" + 2047 bytes = 2048.
    s3.put_object()
        .bucket("meta")
        .key("fits")
        .metadata("k", "v".repeat(2047))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("2 KB of metadata");
    let e = s3
        .put_object()
        .bucket("meta")
        .key("big")
        .metadata("k", "v".repeat(1024))
        .metadata("l", "v".repeat(1024))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("over 2 KB");
    assert_eq!(err_info(&e), ("MetadataTooLarge".to_owned(), 400));
    let e = s3
        .create_multipart_upload()
        .bucket("meta")
        .key("big")
        .metadata("k", "v".repeat(2048))
        .send()
        .await
        .expect_err("over 2 KB");
    assert_eq!(err_info(&e), ("MetadataTooLarge".to_owned(), 400));
    assert_healthy(&srv);
}
