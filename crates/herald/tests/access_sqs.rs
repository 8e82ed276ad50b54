//! Queue policies (issue 13, AWS semantics): another user acts on a queue
//! only where its `Policy` allows the action; managing the queue stays the
//! owner's; a malformed policy is refused when it is set.

mod common;

use aws_sdk_sqs::types::QueueAttributeName;
use common::{REGION, TestServer, err_info};

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");
const CAROL: (&str, &str) = ("CAROLACCESSKEY000001", "carolSecretKey/0123456789abcdefghijklmn");

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
    let got = alice
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap();
    let bodies: Vec<String> = got
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect();
    assert_eq!(bodies, ["from bob"]);

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
    let sqs = srv.sqs_as(common::ROOT_ACCESS_KEY, common::ROOT_SECRET_KEY);
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
