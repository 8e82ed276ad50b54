//! Topic policies (issue 13, Ceph Squid semantics): a topic is its
//! creator's; its `Policy` lets other users read or change its attributes,
//! delete it, or have their buckets publish into it (`sns:Publish`).

use herald_testkit::{REGION, TestServer};
use herald_testkit::{Receiver, Signer, Sns, notification_xml, signed_request, topic_config_xml};

const ALICE: (&str, &str) = ("ALICEACCESSKEY000001", "aliceSecretKey/0123456789abcdefghijklmn");
const BOB: (&str, &str) = ("BOBACCESSKEY00000001", "bobSecretKey/0123456789abcdefghijklmnopq");
const CAROL: (&str, &str) = ("CAROLACCESSKEY000001", "carolSecretKey/0123456789abcdefghijklmn");

/// Bob may read the topic's attributes, and his bucket `bob-data` (only)
/// may publish into it.
fn policy(topic_arn: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Sid":"BobReads","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::bob:user/bob"}},
          "Action":"sns:GetTopicAttributes","Resource":"{topic_arn}"}},
        {{"Sid":"BobsBucketPublishes","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam:::user/bob"}},
          "Action":"sns:Publish","Resource":"{topic_arn}",
          "Condition":{{"ArnEquals":{{"aws:SourceArn":"arn:aws:s3:::bob-data"}}}}}}]}}"#
    )
}

/// PUT ?notification as `key`; the status and body.
fn put_notification(srv: &TestServer, key: (&str, &str), bucket: &str, arn: &str) -> (u16, String) {
    let xml = notification_xml(&[topic_config_xml("to-alice", arn, &["s3:ObjectCreated:*"], None)]);
    let r = signed_request(
        Signer {
            addr: srv.addr(),
            service: "s3",
            access: key.0,
            secret: key.1,
        },
        "PUT",
        &format!("/{bucket}?notification"),
        &[("content-type", "application/xml")],
        xml.as_bytes(),
    );
    (r.status, r.body_str())
}

/// Bob reads the topic's attributes, but never alice's webhook token, which she sees.
fn check_bob_reads_without_alices_token(alice: &Sns, bob: &Sns, arn: &str) {
    let attrs = bob.get_topic_attributes(arn).expect("bob may read");
    assert_eq!(attrs["TopicArn"], arn);
    // ... but not alice's webhook token, in no answer he may get.
    for (action, params) in [
        ("GetTopicAttributes", [("TopicArn", arn)]),
        ("GetTopic", [("TopicArn", arn)]),
    ] {
        let body = bob.call(action, &params).body_str();
        assert!(body.contains(arn), "{action}: {body}");
        assert!(
            !body.contains("ALICESECRETTOKEN"),
            "{action} shows alice's token: {body}"
        );
    }
    let own = alice.call("GetTopicAttributes", &[("TopicArn", arn)]).body_str();
    assert!(
        own.contains("ALICESECRETTOKEN"),
        "the owner sees her own endpoint: {own}"
    );
}

/// Bob may not redirect, re-police or delete the topic (even with SetTopicAttributes); carol may not read it.
fn check_bob_and_carol_change_nothing(alice: &Sns, bob: &Sns, carol: &Sns, arn: &str) {
    // Even a grant of sns:SetTopicAttributes never lets another user
    // redirect the owner's events or rewrite the policy.
    let mut grant: serde_json::Value = serde_json::from_str(&policy(arn)).unwrap();
    grant["Statement"][0]["Action"] = serde_json::json!(["sns:GetTopicAttributes", "sns:SetTopicAttributes"]);
    alice.set_topic_attribute(arn, "Policy", &grant.to_string()).unwrap();
    for (name, value) in [
        ("push-endpoint", "http://127.0.0.1:9/stolen"),
        ("push-secret", "mine"),
        (
            "Policy",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sns:*","Resource":"*"}]}"#,
        ),
    ] {
        let e = bob.set_topic_attribute(arn, name, value).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "AuthorizationError"),
            "{name}: {e:?}"
        );
    }
    bob.set_topic_attribute(arn, "OpaqueData", "bob was here")
        .expect("a harmless attribute may be set by a grantee");
    alice.set_topic_attribute(arn, "Policy", &policy(arn)).unwrap();
    let e = bob.set_topic_attribute(arn, "OpaqueData", "x").unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "AuthorizationError"), "{e:?}");
    let r = bob.call("DeleteTopic", &[("TopicArn", arn)]);
    assert_eq!(r.status, 403, "{}", r.body_str());
    let e = carol.get_topic_attributes(arn).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "AuthorizationError"), "{e:?}");
    // Another user's missing topic reads the same as a refused one.
    let e = bob
        .get_topic_attributes(&format!("arn:aws:sns:{REGION}:alice:nothing"))
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "AuthorizationError"), "{e:?}");
}

/// bob-data may name alice's topic and its events reach her endpoint; bob-other may not; returns bob's client.
async fn check_only_bob_data_publishes(srv: &TestServer, receiver: &Receiver, arn: &str) -> aws_sdk_s3::Client {
    let bob_s3 = srv.s3_as(BOB.0, BOB.1);
    for b in ["bob-data", "bob-other"] {
        bob_s3.create_bucket().bucket(b).send().await.unwrap();
    }
    let (status, body) = put_notification(srv, BOB, "bob-other", arn);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("Unable to validate the following destination configurations"),
        "{body}"
    );
    let (status, body) = put_notification(srv, BOB, "bob-data", arn);
    assert_eq!(status, 200, "{body}");
    bob_s3
        .put_object()
        .bucket("bob-data")
        .key("granted")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let event = receiver.wait_event("granted", "ObjectCreated:Put").await;
    assert_eq!(event["userIdentity"]["principalId"], "bob");
    assert_eq!(event["s3"]["bucket"]["ownerIdentity"]["principalId"], "bob");
    bob_s3
}

/// Once alice withdraws the policy, bob-data's events stop while her own marker still arrives.
async fn check_a_withdrawn_policy_stops_bobs_events(
    srv: &TestServer,
    alice: &Sns,
    bob_s3: &aws_sdk_s3::Client,
    receiver: &Receiver,
    arn: &str,
) {
    alice.set_topic_attribute(arn, "Policy", "").unwrap();
    bob_s3
        .put_object()
        .bucket("bob-data")
        .key("after-revoke")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap();
    // A marker through alice's own bucket proves delivery is running.
    let alice_s3 = srv.s3_as(ALICE.0, ALICE.1);
    alice_s3.create_bucket().bucket("alice-data").send().await.unwrap();
    let (status, body) = put_notification(srv, ALICE, "alice-data", arn);
    assert_eq!(status, 200, "{body}");
    alice_s3
        .put_object()
        .bucket("alice-data")
        .key("marker")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap();
    receiver.wait_event("marker", "ObjectCreated:Put").await;
    let leaked = receiver.requests().iter().any(|r| {
        r.records()
            .iter()
            .any(|rec| rec["s3"]["object"]["key"] == "after-revoke")
    });
    assert!(!leaked, "an event arrived after the policy was withdrawn");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_policy_lets_another_user_read_it_and_publish_into_it() {
    let srv = TestServer::start();
    srv.create_user("alice", ALICE.0, ALICE.1);
    srv.create_user("bob", BOB.0, BOB.1);
    srv.create_user("carol", CAROL.0, CAROL.1);
    let (alice, bob, carol) = (
        Sns::new(&srv, ALICE.0, ALICE.1),
        Sns::new(&srv, BOB.0, BOB.1),
        Sns::new(&srv, CAROL.0, CAROL.1),
    );
    let receiver = Receiver::start_new();
    let arn = format!("arn:aws:sns:{REGION}:alice:shared");
    alice
        .try_create_topic(
            "shared",
            &[
                (
                    "push-endpoint",
                    &format!("{}?token=ALICESECRETTOKEN", receiver.url("/alice")),
                ),
                ("Policy", &policy(&arn)),
            ],
        )
        .expect("alice's topic");

    // Reading is granted to bob, changing and deleting are not; carol gets nothing.
    check_bob_reads_without_alices_token(&alice, &bob, &arn);
    check_bob_and_carol_change_nothing(&alice, &bob, &carol, &arn);

    // bob-data may publish into alice's topic; bob-other may not.
    let bob_s3 = check_only_bob_data_publishes(&srv, &receiver, &arn).await;

    // Alice withdraws the policy: bob's bucket no longer reaches her endpoint.
    check_a_withdrawn_policy_stops_bobs_events(&srv, &alice, &bob_s3, &receiver, &arn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_topic_policy_is_refused() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    for bad in [
        "{not json",
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}"#,
    ] {
        let e = sns.try_create_topic("t", &[("Policy", bad)]).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "InvalidArgument"), "{bad}: {e:?}");
        assert!(e.body.contains("Policy"), "{e:?}");
    }
}
