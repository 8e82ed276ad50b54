//! A node killed while a backlog waits, and NATS itself going away.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald_testkit::*;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_backlog_loses_no_acknowledged_event() {
    let weed = Seaweed::start();
    let nats = NatsPrefix::new(NATS_URL);
    let mut nodes = start_nodes(&weed, &nats, 3);
    // The endpoint fails at first: the events pile up in the shared stream.
    let receiver = Receiver::start_new();
    receiver.set_mode(Mode::Status(503));
    let topic = Sns::root(&nodes[0]).create_topic(
        "backlog",
        &[
            ("push-endpoint", &receiver.url("backlog")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    nodes[0].s3().create_bucket().bucket("backlog").send().await.unwrap();
    notify_to(&nodes[0].s3(), "backlog", &topic).await;
    for node in &nodes {
        eventually("every node has the configuration", 10, || sees_config(node, "backlog")).await;
    }

    let all: Vec<&TestServer> = nodes.iter().collect();
    let acked = put_spread(&all, "backlog", "k", 150).await;
    assert_eq!(acked.len(), 150, "every PUT is acknowledged");
    receiver
        .wait_for("pushes being tried", 30, |r| r.attempted_records().len() >= 10)
        .await;
    // Each node's relay moves its committed events into the shared stream
    // shortly after they commit; under load "shortly" can be seconds. An
    // event still in node 1's own log when it dies is delivered when node 1
    // comes back (cluster.md), which this test checks only at its end: so
    // the kill waits until the stream holds every event (none is acked
    // while the endpoint answers 503).
    eventually("every event relayed into the shared stream", 60, || async {
        topic_stream_messages(&nats).await >= 150
    })
    .await;

    // Node 1 dies holding events (the one each partition it pulled had
    // in flight); the endpoint comes back. Its events were in the shared
    // stream already: the two nodes left deliver all of them, node 1's
    // held ones once the stream's ack wait gives them back.
    nodes[1].kill9();
    let killed = std::time::Instant::now();
    receiver.set_mode(Mode::Ok);
    receiver
        .wait_for("the backlog delivered by the two nodes left", 90, |r| {
            let got = delivered_by_key(r);
            acked.iter().all(|k| got.contains_key(k))
        })
        .await;
    println!("every event delivered {:?} after node 1 was killed", killed.elapsed());

    // Node 1 comes back and delivers nothing twice but the same events.
    nodes[1].restart();
    Sns::root(&nodes[1])
        .get_topic_attributes(&topic)
        .expect("node 1 has the topic again");
    let repeated = assert_each_delivered(&receiver, &acked);
    println!("150 events, {repeated} delivered twice (the same event both times)");
}

/// A NATS server of the test's own (so stopping it disturbs no one).
struct OwnNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnNats {
    fn start() -> OwnNats {
        let mut n = OwnNats {
            port: free_loopback_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        n.spawn();
        n
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        // Debian installs it in /usr/sbin, which a user's PATH may lack.
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nats-server");
        let child = Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian package nats-server; scripts/brokers.sh installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not listen on {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_nats_is_down_writes_are_refused_and_nothing_acknowledged_is_lost() {
    let weed = Seaweed::start();
    let mut nats = OwnNats::start();
    let prefix = NatsPrefix::new(&nats.url());
    let nodes = start_nodes(&weed, &prefix, 1);
    let node = &nodes[0];
    let receiver = Receiver::start_new();
    let topic = Sns::root(node).create_topic(
        "outage",
        &[("push-endpoint", &receiver.url("outage")), ("persistent", "true")],
    );
    let s3 = node.s3_no_retry();
    s3.create_bucket().bucket("outage").send().await.unwrap();
    notify_to(&s3, "outage", &topic).await;
    let mut acked: HashSet<String> = put_spread(&[node], "outage", "before", 5).await;
    receiver
        .wait_for("the events before the outage", 30, |r| r.delivered_records().len() >= 5)
        .await;

    let text = metrics_text(node);
    assert_eq!(metric(&text, "herald_cluster_connected", None), Some(1.0), "{text}");
    assert_eq!(metric(&text, "herald_cluster_unsettled_changes", None), Some(0.0));

    nats.stop();
    eventually("/metrics shows the NATS connection down", 10, || async {
        metric(&metrics_text(node), "herald_cluster_connected", None) == Some(0.0)
    })
    .await;
    // Writes with events for a persistent topic are refused (SlowDown)
    // once the node knows NATS is gone; any it acknowledged meanwhile
    // keep their events in its log.
    let mut refused = None;
    for i in 0..100 {
        let key = format!("during-{i}");
        match s3
            .put_object()
            .bucket("outage")
            .key(&key)
            .body(vec![1u8; 10].into())
            .send()
            .await
        {
            Ok(_) => {
                acked.insert(key);
            }
            Err(e) => {
                refused = Some(e.raw_response().map(|r| r.status().as_u16()));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused, Some(Some(503)), "a PUT is refused with 503 while NATS is down");
    // Metadata changes are refused before anything is made.
    let made = s3.create_bucket().bucket("made-during-outage").send().await;
    assert_eq!(
        made.as_ref()
            .err()
            .and_then(|e| e.raw_response())
            .map(|r| r.status().as_u16()),
        Some(503),
        "CreateBucket while NATS is down: {made:?}"
    );
    assert!(
        s3.head_bucket().bucket("made-during-outage").send().await.is_err(),
        "a refused CreateBucket made nothing"
    );

    nats.spawn();
    eventually("PUTs are taken again once NATS is back", 30, || {
        put_taken(&s3, "outage", "after")
    })
    .await;
    acked.insert("after".into());
    assert_eq!(metric(&metrics_text(node), "herald_cluster_connected", None), Some(1.0));
    wait_each_delivered(&receiver, &acked, "every acknowledged event after the outage").await;
}
