//! Queue policies (issue 13, AWS semantics): another user acts on a queue
//! only where its `Policy` allows the action; managing the queue stays the
//! owner's; a malformed policy is refused when it is set.

use aws_sdk_sqs::types::QueueAttributeName;
use herald_testkit::{REGION, TestServer, err_info};

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");
const CAROL: (&str, &str) = ("CAROLACCESSKEY000001", "carolSecretKey/0123456789abcdefghijklmn");

/// The bodies of one ReceiveMessage (up to 10, waiting `wait` seconds).
async fn received(c: &aws_sdk_sqs::Client, url: &str, wait: i32) -> Vec<String> {
    c.receive_message()
        .queue_url(url)
        .wait_time_seconds(wait)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

/// A policy letting bob send to alice's `inbox` and find its URL.
fn bob_may_send() -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"BobSends","Effect":"Allow",
        "Principal":{{"AWS":"arn:aws:iam::bob:user/bob"}},
        "Action":["sqs:SendMessage","sqs:GetQueueUrl","sqs:GetQueueAttributes"],
        "Resource":"arn:aws:sqs:{REGION}:alice:inbox"}},
        {{"Sid":"NoOneElse","Effect":"Deny","Principal":{{"AWS":"arn:aws:iam:::user/carol"}},
        "Action":"sqs:*","Resource":"arn:aws:sqs:{REGION}:alice:inbox"}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_policy_lets_another_user_send_and_nothing_more() {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    srv.create_user("carol", CAROL.0, CAROL.1);
    let (alice, bob, carol) = (
        srv.sqs_as(ALICE.0, ALICE.1),
        srv.sqs_as(BOB.0, BOB.1),
        srv.sqs_as(CAROL.0, CAROL.1),
    );
    let url = alice
        .create_queue()
        .queue_name("inbox")
        .attributes(QueueAttributeName::Policy, bob_may_send())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    // Bob finds the queue by name and owner, and sends.
    let found = bob
        .get_queue_url()
        .queue_name("inbox")
        .queue_owner_aws_account_id("alice")
        .send()
        .await
        .expect("GetQueueUrl granted")
        .queue_url
        .unwrap();
    assert_eq!(found, url);
    bob.send_message()
        .queue_url(&url)
        .message_body("from bob")
        .send()
        .await
        .expect("SendMessage granted");
    let attrs = bob
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("GetQueueAttributes granted");
    assert!(attrs.attributes.unwrap().contains_key(&QueueAttributeName::QueueArn));

    // Not granted: receiving, purging, and everything that manages the queue.
    let e = bob.receive_message().queue_url(&url).send().await.unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");
    let e = bob.purge_queue().queue_url(&url).send().await.unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");
    let e = bob
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, "")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");
    let e = bob.delete_queue().queue_url(&url).send().await.unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");

    // Carol is denied outright, and an unknown queue of alice's reads the same.
    let e = carol
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");
    let missing = url.replace("inbox", "nothing");
    let e = bob
        .send_message()
        .queue_url(&missing)
        .message_body("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");

    // Alice gets bob's message.
    assert_eq!(received(&alice, &url, 5).await, ["from bob"]);

    // Removing the policy closes the queue again.
    alice
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, "")
        .send()
        .await
        .unwrap();
    let e = bob
        .send_message()
        .queue_url(&url)
        .message_body("again")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_queue_policy_is_refused_with_the_reason() {
    let srv = TestServer::start();
    let sqs = srv.sqs_as(herald_testkit::ROOT_ACCESS_KEY, herald_testkit::ROOT_SECRET_KEY);
    for (bad, why) in [
        ("{not json", "JSON"),
        (
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}"#,
            "Effect",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}"#,
            "action",
        ),
    ] {
        let e = sqs
            .create_queue()
            .queue_name("q")
            .attributes(QueueAttributeName::Policy, bad)
            .send()
            .await
            .unwrap_err();
        let (code, status) = err_info(&e);
        let message = format!("{e:?}");
        assert_eq!(
            (code.as_str(), status),
            ("InvalidAttributeValue", 400),
            "{bad}: {message}"
        );
        assert!(message.to_lowercase().contains(&why.to_lowercase()), "{bad}: {message}");
    }
}

/// A policy letting S3 send bob's `bob-data` bucket's events into alice's
/// `feed` queue (AWS's documented form for S3 event destinations).
fn s3_may_send_from(bucket: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"S3Events","Effect":"Allow",
        "Principal":{{"Service":"s3.amazonaws.com"}},"Action":"sqs:SendMessage",
        "Resource":"arn:aws:sqs:{REGION}:alice:feed",
        "Condition":{{"ArnLike":{{"aws:SourceArn":"arn:aws:s3:::{bucket}"}},
                      "StringEquals":{{"aws:SourceAccount":"bob"}}}}}}]}}"#
    )
}

fn queue_config(arn: &str) -> aws_sdk_s3::types::NotificationConfiguration {
    aws_sdk_s3::types::NotificationConfiguration::builder()
        .queue_configurations(
            aws_sdk_s3::types::QueueConfiguration::builder()
                .id("to-alice")
                .queue_arn(arn)
                .events(aws_sdk_s3::types::Event::S3ObjectCreated)
                .build()
                .unwrap(),
        )
        .build()
}

/// The cross-team flow: bob's bucket publishes into alice's queue, only
/// where her queue's policy lets S3 send that bucket's events, and only
/// while it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_publishes_into_another_users_queue_only_as_its_policy_allows() {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    let alice = srv.sqs_as(ALICE.0, ALICE.1);
    let bob_s3 = srv.s3_as(BOB.0, BOB.1);
    for b in ["bob-data", "bob-other"] {
        bob_s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let url = alice
        .create_queue()
        .queue_name("feed")
        .attributes(QueueAttributeName::Policy, s3_may_send_from("bob-data"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = format!("arn:aws:sqs:{REGION}:alice:feed");

    // The policy names bob-data only.
    let e = bob_s3
        .put_bucket_notification_configuration()
        .bucket("bob-other")
        .notification_configuration(queue_config(&arn))
        .send()
        .await
        .unwrap_err();
    let (code, status) = err_info(&e);
    assert_eq!((code.as_str(), status), ("InvalidArgument", 400), "{e:?}");
    assert!(format!("{e:?}").contains("Unable to validate the following destination configurations"));
    bob_s3
        .put_bucket_notification_configuration()
        .bucket("bob-data")
        .notification_configuration(queue_config(&arn))
        .send()
        .await
        .expect("the policy lets bob-data publish");

    bob_s3
        .put_object()
        .bucket("bob-data")
        .key("report.csv")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"a,b"))
        .send()
        .await
        .unwrap();
    let mut records = Vec::new();
    for _ in 0..10 {
        for body in received(&alice, &url, 2).await {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            records.extend(v["Records"].as_array().cloned().unwrap_or_default());
        }
        if !records.is_empty() {
            break;
        }
    }
    let r = records
        .iter()
        .find(|r| r["s3"]["object"]["key"] == "report.csv")
        .unwrap_or_else(|| panic!("no event for report.csv in {records:?}"));
    assert_eq!(r["userIdentity"]["principalId"], "bob");
    assert_eq!(r["s3"]["bucket"]["name"], "bob-data");

    // Alice revokes: bob's later objects no longer reach her queue.
    alice
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, "")
        .send()
        .await
        .unwrap();
    bob_s3
        .put_object()
        .bucket("bob-data")
        .key("after-revoke.csv")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"c"))
        .send()
        .await
        .unwrap();
    let late: Vec<String> = received(&alice, &url, 2)
        .await
        .into_iter()
        .filter(|b| b.contains("after-revoke.csv"))
        .collect();
    assert!(
        late.is_empty(),
        "an event arrived after the grant was revoked: {late:?}"
    );
}

/// A batch action is the same permission as its single form: denying
/// `sqs:SendMessage` denies `SendMessageBatch` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_action_is_denied_in_its_batch_form_too() {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    let (alice, bob) = (srv.sqs_as(ALICE.0, ALICE.1), srv.sqs_as(BOB.0, BOB.1));
    let policy = format!(
        r#"{{"Statement":[
        {{"Effect":"Allow","Principal":{{"AWS":"bob"}},"Action":"sqs:*","Resource":"arn:aws:sqs:{REGION}:alice:box"}},
        {{"Effect":"Deny","Principal":{{"AWS":"bob"}},"Action":"sqs:SendMessage","Resource":"arn:aws:sqs:{REGION}:alice:box"}}]}}"#
    );
    let url = alice
        .create_queue()
        .queue_name("box")
        .attributes(QueueAttributeName::Policy, policy)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let e = bob
        .send_message_batch()
        .queue_url(&url)
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("1")
                .message_body("x")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e).0, "AccessDenied", "{e:?}");
    // What the policy does allow still works.
    bob.receive_message()
        .queue_url(&url)
        .send()
        .await
        .expect("sqs:* allows receiving");
}

/// The code of a failed SQS call, or "ok".
fn outcome<T, E, R>(r: Result<T, aws_sdk_sqs::error::SdkError<E, R>>) -> String
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug + herald_testkit::HasStatus,
{
    match r {
        Ok(_) => "ok".into(),
        Err(e) => err_info(&e).0,
    }
}

/// SendMessage of one message by `c`, as its outcome.
async fn send_outcome(c: &aws_sdk_sqs::Client, url: &str) -> String {
    outcome(c.send_message().queue_url(url).message_body("m").send().await)
}

/// An AddPermission by `c` for `label`, granting `actions` to `who`, ready to send.
fn add_permission(
    c: &aws_sdk_sqs::Client,
    url: &str,
    label: &str,
    who: &str,
    actions: &[&str],
) -> aws_sdk_sqs::operation::add_permission::builders::AddPermissionFluentBuilder {
    let mut b = c.add_permission().queue_url(url).label(label).aws_account_ids(who);
    for a in actions {
        b = b.actions(*a);
    }
    b
}

/// Alice grants bob SendMessage, which works for nothing else; bad or unauthorised edits are refused.
async fn check_a_grant_and_the_refusals(
    alice: &aws_sdk_sqs::Client,
    bob: &aws_sdk_sqs::Client,
    carol: &aws_sdk_sqs::Client,
    url: &str,
) {
    assert_eq!(send_outcome(bob, url).await, "AccessDenied");

    add_permission(alice, url, "BobSends", "bob", &["SendMessage", "GetQueueUrl"])
        .send()
        .await
        .expect("AddPermission");
    assert_eq!(send_outcome(bob, url).await, "ok", "bob sends once granted");
    assert_eq!(
        outcome(bob.receive_message().queue_url(url).send().await),
        "AccessDenied",
        "bob was granted SendMessage only"
    );
    assert_eq!(send_outcome(carol, url).await, "AccessDenied");

    // Refusals: a label twice, a bad label, an owner-only action, and a
    // grantee who is not the owner.
    assert_eq!(
        outcome(
            add_permission(alice, url, "BobSends", "carol", &["SendMessage"])
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        outcome(
            add_permission(alice, url, "has space", "carol", &["SendMessage"])
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        outcome(
            add_permission(alice, url, "Takeover", "carol", &["SetQueueAttributes"])
                .send()
                .await
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        outcome(
            add_permission(bob, url, "Mine", "bob", &["ReceiveMessage"])
                .send()
                .await
        ),
        "AccessDenied",
        "only the owner adds permissions"
    );
    assert_eq!(
        outcome(bob.remove_permission().queue_url(url).label("BobSends").send().await),
        "AccessDenied",
        "only the owner removes permissions"
    );
}

/// A second label lands as a second policy statement; removing the first leaves the second.
async fn check_the_policy_statements_and_a_removal(
    alice: &aws_sdk_sqs::Client,
    bob: &aws_sdk_sqs::Client,
    carol: &aws_sdk_sqs::Client,
    url: &str,
) {
    add_permission(alice, url, "CarolAll", "carol", &["*"])
        .send()
        .await
        .expect("AddPermission *");
    assert_eq!(outcome(carol.receive_message().queue_url(url).send().await), "ok");
    let policy = alice
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::Policy)
        .expect("a Policy attribute");
    let doc: serde_json::Value = serde_json::from_str(&policy).unwrap();
    let sids: Vec<&str> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    assert_eq!(sids, ["BobSends", "CarolAll"], "{policy}");
    assert_eq!(
        doc["Statement"][0]["Principal"]["AWS"][0], "arn:aws:iam::bob:root",
        "{policy}"
    );

    alice
        .remove_permission()
        .queue_url(url)
        .label("BobSends")
        .send()
        .await
        .expect("RemovePermission");
    assert_eq!(send_outcome(bob, url).await, "AccessDenied", "revoked");
    assert_eq!(send_outcome(carol, url).await, "ok", "the other label stays");
    assert_eq!(
        outcome(alice.remove_permission().queue_url(url).label("Nope").send().await),
        "InvalidParameterValue"
    );
}

/// `aws sqs ARGS...` as alice; panics unless it succeeds.
fn alice_cli(srv: &TestServer, args: &[&str]) {
    let out = herald_testkit::aws_cli_command(srv)
        .env("AWS_ACCESS_KEY_ID", ALICE.0)
        .env("AWS_SECRET_ACCESS_KEY", ALICE.1)
        .arg("sqs")
        .args(args)
        .output()
        .expect("the aws CLI runs");
    assert!(out.status.success(), "aws sqs {args:?}: {out:?}");
}

/// The aws CLI, as alice, adds a label for bob and removes the last two, and with them the Policy.
async fn check_the_cli_adds_and_removes(
    srv: &TestServer,
    alice: &aws_sdk_sqs::Client,
    bob: &aws_sdk_sqs::Client,
    url: &str,
) {
    alice_cli(
        srv,
        &[
            "add-permission",
            "--queue-url",
            url,
            "--label",
            "CliBob",
            "--aws-account-ids",
            "bob",
            "--actions",
            "SendMessage",
            "ReceiveMessage",
        ],
    );
    assert_eq!(send_outcome(bob, url).await, "ok", "granted through the CLI");
    alice_cli(srv, &["remove-permission", "--queue-url", url, "--label", "CliBob"]);
    alice_cli(srv, &["remove-permission", "--queue-url", url, "--label", "CarolAll"]);
    assert_eq!(send_outcome(bob, url).await, "AccessDenied");
    let attrs = alice
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    assert!(
        !attrs.contains_key(&QueueAttributeName::Policy),
        "removing the last label removes the Policy: {attrs:?}"
    );
}

/// AddPermission writes one statement per label into the queue's `Policy`
/// (the grant then works like any policy), RemovePermission takes it out,
/// and only the owner may do either; through the SDK and the aws CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_and_remove_permission_edit_the_queue_policy() {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    srv.create_user("carol", CAROL.0, CAROL.1);
    let (alice, bob, carol) = (
        srv.sqs_as(ALICE.0, ALICE.1),
        srv.sqs_as(BOB.0, BOB.1),
        srv.sqs_as(CAROL.0, CAROL.1),
    );
    let url = alice
        .create_queue()
        .queue_name("shared")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();

    check_a_grant_and_the_refusals(&alice, &bob, &carol, &url).await;
    check_the_policy_statements_and_a_removal(&alice, &bob, &carol, &url).await;
    // The aws CLI, as alice: add for bob, remove the last two labels.
    check_the_cli_adds_and_removes(&srv, &alice, &bob, &url).await;
}
