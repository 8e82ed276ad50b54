//! `herald agent` hardening (issue 12, "Agent"): each test reproduces one
//! attack on the real `herald agent` binary (a `herald serve` signs the
//! events where a signature matters) and asserts the refusal and that the
//! agent still answers `/ping` afterwards.

use std::net::SocketAddr;
use std::path::Path;

use herald_testkit::*;
use herald_testkit::{Receiver, Sns, must_put_notification_xml, notification_xml, topic_config_xml};
use serde_json::{Value, json};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Waits until the agent answers `GET /ping`.
async fn wait_ping(agent: &mut Agent, addr: SocketAddr) {
    converge(agent, "ping", || async { ping_problem(addr) }).await;
}

/// None when `/ping` answers `Pong`, else what it answered.
fn ping_problem(addr: SocketAddr) -> Option<String> {
    match raw_request(addr, "GET", "/ping", &[], b"") {
        Ok(r) if r.status == 200 && r.body_str() == "Pong\n" => None,
        other => Some(format!("{other:?}")),
    }
}

fn assert_pings(addr: SocketAddr) {
    if let Some(p) = ping_problem(addr) {
        panic!("the agent stopped answering /ping: {p}");
    }
}

/// A webhook source on `listen` with one exec action and one worker (so
/// spooled events are applied in arrival order).
fn webhook_source(listen: &str, script: &Path, extra: Value) -> Value {
    let mut src = json!({
        "name": "hooks",
        "flavor": "webhook",
        "listen": listen,
        "workers": 1,
        "retry_delay_seconds": 1,
        "actions": [{"type": "exec", "command": script, "timeout_seconds": 30}],
    });
    for (k, v) in extra.as_object().unwrap() {
        src[k] = v.clone();
    }
    json!({"sources": [src]})
}

/// A script that appends its arguments, `|`-separated, as one line of `runs`.
fn recording_script(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let runs = dir.join("runs");
    let script = dir.join("on-change.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nprintf '%s|' \"$@\" >> {0}\necho >> {0}\n", runs.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    (script, runs)
}

fn runs(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// An S3 event message for one created key (URL-encoded as producers send it).
fn event(bucket: &str, encoded_key: &str) -> Vec<u8> {
    json!({"Records": [{
        "eventName": "ObjectCreated:Put",
        "eventId": format!("id-{encoded_key}"),
        "s3": {"bucket": {"name": bucket}, "object": {"key": encoded_key, "eTag": "e", "size": 1}},
    }]})
    .to_string()
    .into_bytes()
}

fn post(addr: SocketAddr, headers: &[(&str, &str)], body: &[u8]) -> RawResponse {
    raw_request(addr, "POST", "/webhook", headers, body).expect("POST /webhook")
}

/// Event files waiting in a webhook spool.
fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
            })
            .count()
        })
        .unwrap_or(0)
}

/// Waits until every spooled event was applied (and its file removed).
async fn wait_spool_empty(agent: &mut Agent, dir: &Path) {
    converge(agent, "spool emptied", || async {
        let left = spooled(dir);
        (left > 0).then(|| format!("{left} spooled"))
    })
    .await;
}

/// Waits until `runs` has `n` lines.
async fn wait_runs(agent: &mut Agent, path: &Path, n: usize) {
    converge(agent, &format!("{n} script runs"), || async {
        let got = runs(path);
        (got.len() < n).then(|| format!("{got:?}"))
    })
    .await;
}

/// A running agent with one loopback webhook source whose exec action
/// records each run (see [`recording_script`]), spooling in `spool`.
struct ExecHook {
    agent: Agent,
    addr: SocketAddr,
    runs_file: std::path::PathBuf,
    spool: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

impl ExecHook {
    /// Starts it with `extra` source settings and waits for `/ping`.
    async fn start(extra: Value) -> ExecHook {
        let tmp = tempfile::tempdir().unwrap();
        let (script, runs_file) = recording_script(tmp.path());
        let addr = loopback(free_port());
        let spool = tmp.path().join("spool");
        let mut extra = extra;
        extra["spool_dir"] = json!(spool);
        let config = write_config(tmp.path(), &webhook_source(&addr.to_string(), &script, extra));
        let mut agent = Agent::start(&config, &[]);
        wait_ping(&mut agent, addr).await;
        ExecHook {
            agent,
            addr,
            runs_file,
            spool,
            _tmp: tmp,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_webhook_on_a_public_address_is_refused_unless_insecure_is_explicit() {
    let tmp = tempfile::tempdir().unwrap();
    let (script, _) = recording_script(tmp.path());
    let port = free_port();
    let public = format!("0.0.0.0:{port}");

    // No secret on 0.0.0.0: refused at start, naming the file and the key.
    let config = write_config(tmp.path(), &webhook_source(&public, &script, json!({})));
    let mut agent = Agent::start(&config, &[]);
    let st = agent.wait_exit(60);
    let logs = agent.logs();
    assert!(!st.success(), "{logs}");
    let want = format!(
        "{}: sources[0].secret: missing: the webhook listens on {public}, which is not a loopback address",
        config.display()
    );
    assert!(logs.contains(&want), "{logs}");
    assert!(logs.contains("\"insecure_no_signature\": true"), "{logs}");
    assert!(
        ping_problem(loopback(port)).is_some(),
        "something listens after the refusal"
    );

    // The same through `--listen` on a loopback config.
    let config = write_config(tmp.path(), &webhook_source("127.0.0.1:1", &script, json!({})));
    let mut agent = Agent::start(&config, &["--listen", &public]);
    assert!(!agent.wait_exit(60).success());
    let logs = agent.logs();
    assert!(
        logs.contains(&format!("--listen {public}: ")) && logs.contains("secret: missing"),
        "{logs}"
    );

    // Said explicitly, it starts, and takes unsigned events.
    let config = write_config(
        tmp.path(),
        &webhook_source(&public, &script, json!({"insecure_no_signature": true})),
    );
    let mut agent = Agent::start(&config, &[]);
    wait_ping(&mut agent, loopback(port)).await;
    let r = post(loopback(port), &[], &event("b", "k"));
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert_pings(loopback(port));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_signed_event_is_dropped_even_after_a_restart() {
    // Herald signs a real event; the "attacker" captured that request.
    let srv = TestServer::start();
    let capture = Receiver::start_new();
    let sns = Sns::root(&srv);
    let topic = sns.create_topic(
        "to-agent",
        &[("push-endpoint", &capture.url("/webhook")), ("push-secret", "s3cret")],
    );
    srv.s3().create_bucket().bucket("signed").send().await.unwrap();
    must_put_notification_xml(
        &srv,
        "signed",
        &notification_xml(&[topic_config_xml("a", &topic, &["s3:ObjectCreated:*"], None)]),
    );
    let put = |key: &'static str| {
        let s3 = srv.s3();
        async move {
            s3.put_object()
                .bucket("signed")
                .key(key)
                .body(b"x".to_vec().into())
                .send()
                .await
                .unwrap();
        }
    };
    put("first").await;
    put("second").await;
    capture
        .wait_for("two signed events", 30, |r| r.delivered_records().len() >= 2)
        .await;
    let captured: Vec<(Vec<u8>, String)> = capture
        .requests()
        .iter()
        .filter(|r| !r.records().is_empty())
        .map(|r| (r.body.clone(), r.header("x-herald-signature").unwrap().to_string()))
        .collect();
    let key_of =
        |body: &[u8]| serde_json::from_slice::<Value>(body).unwrap()["Records"][0]["s3"]["object"]["key"].clone();
    let (first, second) = if key_of(&captured[0].0) == "first" {
        (&captured[0], &captured[1])
    } else {
        (&captured[1], &captured[0])
    };

    let ExecHook {
        mut agent,
        addr,
        runs_file,
        spool,
        _tmp,
    } = ExecHook::start(json!({"secret": "s3cret"})).await;
    let send = |(body, sig): &(Vec<u8>, String)| post(addr, &[("x-herald-signature", sig)], body);

    let r = send(first);
    assert_eq!((r.status, r.body_str()), (200, "OK\n".to_string()));
    let r = send(first);
    assert_eq!(
        (r.status, r.body_str()),
        (200, "OK (replay dropped)\n".to_string()),
        "a replay must be answered 200 (so the publisher does not retry it) and dropped"
    );
    // The guard outlives the process (killed once the first event is
    // applied, so that no spooled copy of it is replayed at the restart).
    wait_runs(&mut agent, &runs_file, 1).await;
    wait_spool_empty(&mut agent, &spool).await;
    agent.kill9();
    agent.spawn();
    wait_ping(&mut agent, addr).await;
    assert_eq!(send(first).body_str(), "OK (replay dropped)\n");
    // A different signed event is taken; with one worker it runs after
    // anything spooled before it, so once it ran, a spooled replay would have.
    assert_eq!(send(second).body_str(), "OK\n");
    wait_runs(&mut agent, &runs_file, 2).await;
    assert_eq!(runs(&runs_file), ["--|signed|first|copy|", "--|signed|second|copy|"]);
    assert_eq!(agent.logs().matches("dropped a replayed event").count(), 2);
    // Unsigned and badly signed events are still refused.
    assert_eq!(post(addr, &[], &event("signed", "forged")).status, 401);
    let bad = first.1.replace("v1=", "v1=00");
    assert_eq!(post(addr, &[("x-herald-signature", &bad)], &first.0).status, 401);
    assert_pings(addr);
    let health = raw_request(srv.addr(), "GET", "/health", &[], b"").unwrap();
    assert_eq!(health.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_gets_keys_after_a_double_dash_and_refuses_control_characters() {
    let ExecHook {
        mut agent,
        addr,
        runs_file,
        spool,
        _tmp,
    } = ExecHook::start(json!({})).await;
    for key in ["-rf", "a%0Ab", "after"] {
        let r = post(addr, &[], &event("bkt", key));
        assert_eq!(r.status, 200, "{key}: {}", r.body_str());
    }
    wait_runs(&mut agent, &runs_file, 2).await;
    // `-rf` reached the script as an operand after `--`; the key with a
    // newline never ran it, and was acked (the spool is empty, and the
    // refusal was logged once: it is not retried).
    assert_eq!(runs(&runs_file), ["--|bkt|-rf|copy|", "--|bkt|after|copy|"]);
    wait_spool_empty(&mut agent, &spool).await;
    let logs = agent.logs();
    assert_eq!(
        logs.matches("refused a change whose key has a control character: \"a\\nb\"")
            .count(),
        1,
        "{logs}"
    );
    // No forged line: the key's newline is escaped in the log too.
    assert!(!logs.lines().any(|l| l.starts_with('b')), "{logs}");
    assert_pings(addr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_webhook_body_is_refused_with_413_before_it_is_read() {
    let ExecHook { agent, addr, _tmp, .. } = ExecHook::start(json!({})).await;
    // Announces 2 GB and sends none of it: refused on the header alone
    // (the default max_body_bytes is 1 MiB), nothing is buffered.
    let r = raw_request(addr, "POST", "/webhook", &[("Content-Length", "2000000000")], b"").unwrap();
    assert_eq!(r.status, 413, "{}", r.body_str());
    assert!(r.body_str().contains("max_body_bytes (1048576)"), "{}", r.body_str());
    assert_pings(addr);
    assert!(agent.logs().contains("refused a POST larger than 1048576 bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_fetches_nothing_and_echoes_nothing() {
    let ExecHook { agent, addr, _tmp, .. } = ExecHook::start(json!({"secret": "s3cret"})).await;
    // An internal service the hostile publisher would like fetched.
    let internal = Receiver::start_new();
    let hello = json!({
        "Type": "SubscriptionConfirmation",
        "TopicArn": "arn:aws:sns:us-east-1:root:t\nINFO forged line",
        "Token": "TOKEN-secret-looking",
        "Timestamp": "2026-12-02T00:00:00Z",
        "SubscribeURL": internal.url("/steal"),
        "Message": "ECHO-ME",
    });
    let r = post(addr, &[], hello.to_string().as_bytes());
    assert_eq!(r.status, 200);
    let answer: Value = serde_json::from_slice(&r.body).unwrap();
    let keys: Vec<&String> = answer.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["signature"], "{answer}");
    for field in ["TOKEN-secret-looking", "ECHO-ME", "steal"] {
        assert!(!r.body_str().contains(field), "{field} echoed: {}", r.body_str());
    }
    // The agent answered before returning; a fetch would have happened by now.
    assert_pings(addr);
    assert!(internal.requests().is_empty(), "{:?}", internal.requests());
    let logs = agent.logs();
    assert!(logs.contains("t\\nINFO forged line"), "{logs}");
    assert!(!logs.lines().any(|l| l.starts_with("INFO forged")), "{logs}");
}
