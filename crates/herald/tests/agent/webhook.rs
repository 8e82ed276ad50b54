//! The agent as a webhook: confirming a Herald topic and spooling pushes
//! until they are applied.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_source_confirms_a_herald_topic_and_spools_until_applied() {
    use herald_testkit::{Receiver, Sns};
    let src = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    s3.create_bucket().bucket("hooked").send().await.unwrap();
    let resync = Receiver::start_new();
    let port = free_port();
    let index = tmp.path().join("index.sqlite");
    let spool = tmp.path().join("spool");
    let cfg = json!({
        "endpoint": resync.url("/resync"),
        "login": "admin@company",
        "password": "secret",
        "sources": [{
            "name": "hooks",
            "flavor": "webhook",
            "listen": format!("127.0.0.1:{port}"),
            "secret": "s3cret",
            "spool_dir": spool,
            "retry_delay_seconds": 1,
            "aws_endpoint_url": src.url(),
            "aws_access_key_id": ROOT_ACCESS_KEY,
            "aws_secret_access_key": ROOT_SECRET_KEY,
            "aws_region": REGION,
            "self_test_enabled": true,
            "self_test_folder": "hooked/jibe_test",
            "self_test_timeout_seconds": 60,
            "actions": [{"type": "index", "path": index}, {"type": "http", "retries": 0}],
        }],
    });
    let config = write_config(tmp.path(), &cfg);
    let mut agent = Agent::start(&config, &[]);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    converge(&mut agent, "ping", || async {
        match raw_request(addr, "GET", "/ping", &[], b"") {
            Ok(r) if r.status == 200 && r.body_str() == "Pong\n" => None,
            other => Some(format!("{other:?}")),
        }
    })
    .await;

    let sns = Sns::root(&src);
    let topic = sns.create_topic(
        "agent-hook",
        &[
            ("push-endpoint", &format!("http://127.0.0.1:{port}/webhook")),
            ("persistent", "true"),
            ("subscription-confirmation", "true"),
            ("push-secret", "s3cret"),
            ("retry_sleep_duration", "1"),
        ],
    );
    s3.put_bucket_notification_configuration()
        .bucket("hooked")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(
                    TopicConfiguration::builder()
                        .id("agent")
                        .topic_arn(&topic)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .events(Event::from("s3:ObjectRemoved:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    put(&s3, "hooked", "x1", b"one").await;
    put(&s3, "hooked", "x2", b"two").await;
    put(&s3, "hooked", "x1", b"one, again").await;
    s3.delete_object().bucket("hooked").key("x2").send().await.unwrap();
    converge(&mut agent, "index", || async {
        let want: BTreeMap<_, _> = listing(&s3, "hooked").await;
        diff("index", &index_ls(&index), &want)
    })
    .await;
    let status = sns.get_topic_attributes(&topic).unwrap()["SubscriptionStatus"].clone();
    assert_eq!(status, "confirmed");
    assert!(agent.logs().contains("confirming the subscription of topic"));

    resync_requests_and_authorization(&mut agent, &resync).await;

    // Unsigned or wrongly signed POSTs are refused.
    let body = br#"{"Records":[]}"#;
    let unsigned = raw_request(addr, "POST", "/webhook", &[], body).unwrap();
    assert_eq!(unsigned.status, 401, "{}", unsigned.body_str());
    let forged = raw_request(addr, "POST", "/webhook", &[("x-herald-signature", "t=1,v1=00")], body).unwrap();
    assert_eq!(forged.status, 401);

    spooled_across_a_kill(&mut agent, &resync, &s3, &spool, &index).await;

    self_test_went_through_the_webhook(&mut agent, &config, &index).await;
}

/// The http action told the "metadata service" about each change, with
/// its credentials and the event id.
async fn resync_requests_and_authorization(agent: &mut Agent, resync: &herald_testkit::Receiver) {
    // The http action told the "metadata service" about each change.
    converge(agent, "resync requests", || async {
        let got: BTreeSet<(String, String)> = resync
            .requests()
            .iter()
            .filter_map(|r| r.json())
            .map(|v| {
                (
                    v["action"].as_str().unwrap_or("").to_string(),
                    v["key"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let want: BTreeSet<(String, String)> = [("create", "x1"), ("create", "x2"), ("delete", "x2")]
            .iter()
            .map(|(a, k)| (a.to_string(), k.to_string()))
            .collect();
        diff(
            "resync",
            &got.intersection(&want).cloned().collect::<BTreeSet<_>>(),
            &want,
        )
    })
    .await;
    let r = &resync.requests()[0];
    assert_eq!(r.header("authorization"), Some("Basic YWRtaW5AY29tcGFueTpzZWNyZXQ="));
    assert!(r.header("x-herald-event-id").is_some_and(|id| !id.is_empty()));
}

/// Accepted means spooled: with the resync service failing, an event stays
/// in the spool across a kill -9 and is applied after the restart.
async fn spooled_across_a_kill(
    agent: &mut Agent,
    resync: &herald_testkit::Receiver,
    s3: &aws_sdk_s3::Client,
    spool: &Path,
    index: &Path,
) {
    use herald_testkit::Mode;
    // Accepted means spooled: with the resync service failing, an event
    // stays in the spool across a kill -9 and is applied after the restart.
    resync.set_mode(Mode::Status(503));
    put(s3, "hooked", "x3", b"three").await;
    converge(agent, "x3 spooled and failing", || async {
        let spooled = spooled_messages(spool);
        let failed = resync.requests().iter().any(|r| r.status == 503);
        (spooled == 0 || !failed).then(|| format!("spooled {spooled}, failed {failed}"))
    })
    .await;
    agent.kill9();
    assert!(spooled_messages(spool) > 0);
    resync.set_mode(Mode::Ok);
    agent.spawn();
    converge(agent, "spool replayed", || async {
        let applied = resync
            .requests()
            .iter()
            .any(|r| r.status == 200 && r.json().is_some_and(|v| v["key"] == "x3"));
        let spooled = spooled_messages(spool);
        (!applied || spooled > 0).then(|| format!("x3 applied {applied}, spooled {spooled}"))
    })
    .await;
    assert!(index_ls(index).contains_key("hooked/x3"));
}

/// At this start the bucket was configured: the self test
/// (self_test_enabled) went through the webhook, and its objects never
/// reached the index; `herald agent self-test` listens on the webhook's
/// address itself while the agent is stopped.
async fn self_test_went_through_the_webhook(agent: &mut Agent, config: &Path, index: &Path) {
    // At this start the bucket was configured: the self test
    // (self_test_enabled) went through the webhook, and its objects never
    // reached the index.
    converge(agent, "self test", || async {
        (!agent_logs_contain(config, "self test 'hooks': passed")).then(|| "not yet".to_string())
    })
    .await;
    let logs = agent.logs();
    assert!(
        logs.contains("self test 'hooks': PASS event: ObjectRemoved arrived through the source"),
        "{logs}"
    );
    assert!(index_ls(index).keys().all(|k| !k.contains("self-test")));

    // `herald agent self-test` listens on the webhook's address itself
    // while the agent is stopped.
    agent.kill9();
    let (ok, out) = self_test(config);
    assert!(ok, "{out}");
    assert!(
        out.contains("PASS webhook: listening") && out.contains("PASS event: ObjectRemoved arrived through the source"),
        "{out}"
    );
}

/// Messages waiting in a webhook source's spool: its `*.json` files (the
/// directory also holds the signature replay guard).
fn spooled_messages(spool: &std::path::Path) -> usize {
    std::fs::read_dir(spool)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count()
}
