//! RabbitMQ: exchanges, ack levels, outages.

use super::*;

async fn amqp_consumer(exchange: &str, routing_key: &str, inbox: Inbox) -> lapin::Connection {
    use lapin::options::*;
    use lapin::types::FieldTable;
    let conn = lapin::Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{RABBITMQ}/%2f"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("connect to RabbitMQ");
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions {
            auto_delete: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    if routing_key.is_empty() {
        return conn; // an exchange nothing is bound to
    }
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        exchange.into(),
        routing_key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().clone(),
            "test".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            inbox.add(Some(d.routing_key.to_string()), &d.data);
        }
    });
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_events_reach_rabbitmq_and_survive_an_outage() {
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-{s}"), format!("herald-test-{s}"));
    let inbox = Inbox::default();
    let _consumer = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    let proxy = Proxy::start(RABBITMQ).await;
    let endpoint = format!("amqp://127.0.0.1:{}", proxy.port);
    let (s3, bucket) = setup(&srv, &topic, &endpoint, &[("amqp-exchange", &exchange)]).await;
    first_events(&s3, &bucket, &inbox).await;
    // The routing key is the topic name.
    assert!(inbox.keyed().iter().all(|(k, _)| k.as_deref() == Some(topic.as_str())));

    proxy.down();
    let n = write_backlog(&s3, &bucket).await;
    wait_pending(&srv, &topic).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(inbox.records().len(), 3, "nothing delivered while RabbitMQ is away");
    proxy.up();
    let got = inbox.wait_for("backlog after RabbitMQ came back", 3 + n, 60).await;
    check_backlog(&got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_routable_fails_until_a_queue_is_bound() {
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-r-{s}"), format!("herald-test-r-{s}"));
    let unbound = amqp_consumer(&exchange, "", Inbox::default()).await;
    let (s3, bucket) = setup(
        &srv,
        &topic,
        &format!("amqp://127.0.0.1:{RABBITMQ}"),
        &[("amqp-exchange", &exchange), ("amqp-ack-level", "routable")],
    )
    .await;
    put(&s3, &bucket, "unroutable", b"1").await;
    // Unroutable: the push fails and the event stays pending.
    wait_push_failures(&srv, &topic, 1.0, "an unroutable message must count as a failed push").await;
    assert!(
        topic_stats_entries(&srv, &topic, "root") >= 1,
        "the event waits in the log"
    );
    // Once a queue is bound, the retried event is delivered.
    let inbox = Inbox::default();
    let _bound = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    let got = inbox.wait_for("the retried event", 1, 30).await;
    assert_eq!(object_key(&got[0]), "unroutable");
    drop(unbound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_topic_without_exchange_is_refused() {
    let srv = TestServer::start();
    let err = Sns::root(&srv)
        .try_create_topic("no-exchange", &[("push-endpoint", "amqp://127.0.0.1")])
        .unwrap_err();
    assert_eq!(err.code, "InvalidArgument", "{}", err.body);
    assert!(err.body.contains("amqp-exchange"), "{}", err.body);
    let err = Sns::root(&srv)
        .try_create_topic(
            "bad-ack",
            &[("push-endpoint", "kafka://127.0.0.1"), ("kafka-ack-level", "routable")],
        )
        .unwrap_err();
    assert_eq!(err.code, "InvalidArgument", "{}", err.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_missing_exchange_keeps_events_until_it_exists() {
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-x-{s}"), format!("herald-test-late-{s}"));
    // The exchange does not exist yet: RabbitMQ closes the channel (404)
    // at every publish; the events wait.
    let (s3, bucket) = setup(
        &srv,
        &topic,
        &format!("amqp://127.0.0.1:{RABBITMQ}"),
        &[("amqp-exchange", &exchange)],
    )
    .await;
    for key in ["early-1", "early-2"] {
        put(&s3, &bucket, key, b"1").await;
    }
    wait_push_failures(&srv, &topic, 2.0, "publishing to a missing exchange must fail").await;
    // (The s3:TestEvent of the new configuration waits with them.)
    assert!(
        topic_stats_entries(&srv, &topic, "root") >= 2,
        "both events wait in the log"
    );
    // Once the exchange exists (and routes to a queue), the same topic
    // delivers both, over a fresh channel.
    let inbox = Inbox::default();
    let _consumer = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    let got = inbox.wait_for("events after the exchange appeared", 2, 30).await;
    let keys: HashSet<String> = got.iter().map(object_key).collect();
    assert_eq!(keys, HashSet::from(["early-1".to_owned(), "early-2".to_owned()]));
}

/// Ceph's `user-name`/`password` topic attributes log a broker in instead
/// of credentials in the URI: set only over HTTPS (the aws CLI against a
/// TLS Herald), never shown back, and used for real: RabbitMQ refuses the
/// wrong password and takes the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_credentials_as_attributes_log_in_and_stay_secret() {
    require("RabbitMQ", RABBITMQ);
    let tmp = tempfile::tempdir().unwrap();
    let srv = TlsServer::start(tmp.path(), &[]);
    let aws = |args: &[&str]| {
        let out = aws_over_tls(srv.port, &srv.cert, args);
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let s = suffix();
    let (topic, exchange) = (format!("creds-{s}"), format!("herald-creds-{s}"));
    let inbox = Inbox::default();
    let _consumer = amqp_consumer(&exchange, &topic, inbox.clone()).await;
    // The wrong password first, and no URI credentials (which would default
    // to guest/guest): only the attributes can log in.
    let attrs = format!(
        r#"{{"push-endpoint":"amqp://127.0.0.1:{RABBITMQ}","amqp-exchange":"{exchange}","user-name":"guest","password":"wr0ngpass","persistent":"true"}}"#
    );
    let created: Value =
        serde_json::from_slice(&aws(&["sns", "create-topic", "--name", &topic, "--attributes", &attrs])).unwrap();
    let arn = created["TopicArn"].as_str().unwrap().to_owned();
    let got = aws(&["sns", "get-topic-attributes", "--topic-arn", &arn]);
    assert!(
        !String::from_utf8_lossy(&got).contains("wr0ngpass"),
        "the password must never be shown"
    );
    let shown: Value = serde_json::from_slice(&got).unwrap();
    let endpoint: Value = serde_json::from_str(shown["Attributes"]["EndPoint"].as_str().unwrap()).unwrap();
    assert_eq!(endpoint["HasStoredSecret"], "true", "{endpoint}");
    aws(&["s3", "mb", "s3://creds"]);
    let notif =
        format!(r#"{{"TopicConfigurations":[{{"Id":"c","TopicArn":"{arn}","Events":["s3:ObjectCreated:*"]}}]}}"#);
    aws(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        "creds",
        "--notification-configuration",
        &notif,
    ]);
    let file = tmp.path().join("f.txt");
    std::fs::write(&file, b"x").unwrap();
    aws(&["s3", "cp", file.to_str().unwrap(), "s3://creds/one"]);
    // RabbitMQ refuses the login: nothing arrives.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(inbox.records().is_empty(), "an event arrived with the wrong password");

    // The right password: the event that waited is delivered.
    aws(&[
        "sns",
        "set-topic-attributes",
        "--topic-arn",
        &arn,
        "--attribute-name",
        "password",
        "--attribute-value",
        "guest",
    ]);
    let got = inbox.wait_for("the event after the password was fixed", 1, 30).await;
    assert_eq!(object_key(&got[0]), "one");
}

/// A replay reaches RabbitMQ marked as one: the message header
/// `x-herald-replay` = `true` (live messages carry none), body unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_replay_carries_the_replay_header() {
    use lapin::options::*;
    use lapin::types::{AMQPValue, FieldTable};
    require("RabbitMQ", RABBITMQ);
    let srv = TestServer::start();
    let s = suffix();
    let (topic, exchange) = (format!("amqp-rp-{s}"), format!("herald-test-rp-{s}"));
    let conn = lapin::Connection::connect(
        &format!("amqp://guest:guest@127.0.0.1:{RABBITMQ}/%2f"),
        lapin::ConnectionProperties::default(),
    )
    .await
    .expect("connect to RabbitMQ");
    let ch = conn.create_channel().await.unwrap();
    let auto_delete = ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    ch.exchange_declare(
        exchange.as_str().into(),
        lapin::ExchangeKind::Topic,
        auto_delete,
        FieldTable::default(),
    )
    .await
    .unwrap();
    let exclusive = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let q = ch
        .queue_declare("".into(), exclusive, FieldTable::default())
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        exchange.as_str().into(),
        topic.as_str().into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let no_ack = BasicConsumeOptions {
        no_ack: true,
        ..Default::default()
    };
    let mut consumer = ch
        .basic_consume(q.name().clone(), "replay-test".into(), no_ack, FieldTable::default())
        .await
        .unwrap();
    let got: Arc<Mutex<Vec<Marked>>> = Arc::default();
    let got2 = got.clone();
    tokio::spawn(async move {
        while let Some(Ok(d)) = consumer.next().await {
            let marker = d.properties.headers().as_ref().and_then(|h| {
                h.inner()
                    .iter()
                    .find(|(k, _)| k.as_str() == "x-herald-replay")
                    .map(|(_, v)| match v {
                        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
                        other => format!("{other:?}"),
                    })
            });
            got2.lock().unwrap().push((marker, d.data.clone()));
        }
    });
    let endpoint = format!("amqp://127.0.0.1:{RABBITMQ}");
    let (s3, bucket) = setup(
        &srv,
        &topic,
        &endpoint,
        &[("amqp-exchange", &exchange), ("retention", "600")],
    )
    .await;
    for k in ["r1", "r2", "r3"] {
        put(&s3, &bucket, k, b"replay").await;
    }
    let wait = |n: usize| {
        let got = got.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while got.lock().unwrap().len() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "only {}",
                    got.lock().unwrap().len()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // The configuration's test event is one of the topic's events too.
    wait(4).await;
    let sns = Sns::root(&srv);
    let arn = sns.list_topic_arns().into_iter().find(|a| a.ends_with(&topic)).unwrap();
    let answer = sns.call("ReplayTopic", &[("TopicArn", &arn), ("StartTime", "10m")]);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
    wait(8).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = got.lock().unwrap().clone();
    check_replayed(all);
    drop(conn);
}
