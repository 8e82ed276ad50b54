//! `herald agent`'s self-test and its configuration checks.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_test_passes_against_herald_and_explains_wrong_endpoints() {
    let src = TestServer::start();
    let other = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    queue_for_bucket(&src, "jibe-source-activity", "photos").await;
    // Credentials from AWS-format profile files, as the Jibe guide sets them up.
    std::fs::write(
        tmp.path().join("aws_credentials"),
        format!("[Cloudian]\naws_access_key_id = {ROOT_ACCESS_KEY}\naws_secret_access_key = {ROOT_SECRET_KEY}\n"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("aws_config"),
        format!("[profile Cloudian]\nregion = {REGION}\n"),
    )
    .unwrap();
    let mut source = sqs_source(&src, "photos", "jibe-source-activity", json!([]));
    let s = source.as_object_mut().unwrap();
    for k in ["aws_access_key_id", "aws_secret_access_key", "aws_region"] {
        s.remove(k);
    }
    source["sqs_profile"] = json!("Cloudian");
    source["self_test_folder"] = json!("photos/jibe_test");
    source["self_test_timeout_seconds"] = json!(20);
    let with_profiles = |source: &serde_json::Value| json!({"aws_credentials_file": "aws_credentials", "aws_config_file": "aws_config", "sources": [source]});
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(ok, "{out}");
    for step in [
        "PASS configuration: credentials and region",
        "PASS sqs: queue reachable",
        "PASS s3: write test object",
        "PASS event: ObjectCreated arrived through the source",
        "PASS s3: delete test object",
        "PASS event: ObjectRemoved arrived through the source",
        "=> PASSED",
    ] {
        assert!(out.contains(step), "missing {step:?}:\n{out}");
    }
    // The test object is gone again.
    assert!(list_all_keys(&src.s3(), "photos", None).await.is_empty());

    // SQS pointed at another Herald, which has no such queue.
    source["sqs_endpoint_url"] = json!(other.url());
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL sqs: queue reachable")
            && out.contains("queue \"jibe-source-activity\" does not exist at")
            && out.contains("sqs create-queue --queue-name jibe-source-activity"),
        "{out}"
    );
    // SQS pointed at a port nothing listens on.
    source["sqs_endpoint_url"] = json!(format!("http://127.0.0.1:{}", free_port()));
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(!ok && out.contains("cannot reach the SQS endpoint"), "{out}");
    // Right queue, but the bucket written to sends its events elsewhere.
    src.s3().create_bucket().bucket("unwatched").send().await.unwrap();
    source["sqs_endpoint_url"] = json!(src.url());
    source["self_test_folder"] = json!("unwatched/t");
    source["self_test_timeout_seconds"] = json!(2);
    let config = write_config(tmp.path(), &with_profiles(&source));
    let (ok, out) = self_test(&config);
    assert!(!ok, "{out}");
    assert!(
        out.contains("FAIL event: ObjectCreated arrived through the source")
            && out.contains("get-bucket-notification-configuration --bucket unwatched"),
        "{out}"
    );
}

#[test]
fn the_issue_example_config_is_accepted_and_bad_keys_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    // The issue's example, byte for byte (also parsed by herald-agent's unit tests).
    let example = include_str!("../../../herald-agent/testdata/issue-example.json");
    std::fs::create_dir(tmp.path().join("scripts")).unwrap();
    std::fs::write(tmp.path().join("scripts/on-change.sh"), "#!/bin/sh\n").unwrap();
    let config = tmp.path().join("agent.json");
    std::fs::write(&config, example).unwrap();
    let mut agent = Agent::start(&config, &["--log-format", "json"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !agent.logs().contains("cannot use the queue") {
        agent.assert_running();
        assert!(Instant::now() < deadline, "{}", agent.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
    agent.assert_running();
    let logs = agent.logs();
    let first: serde_json::Value = serde_json::from_str(logs.lines().next().unwrap()).expect("JSON log lines");
    assert_eq!(first["level"], "INFO", "{logs}");
    assert!(logs.contains("herald agent started with 1 source(s)"), "{logs}");
    assert!(tmp.path().join("agent-index.sqlite").exists());
    drop(agent);

    // No credentials anywhere: a clear error naming the source, at start.
    let no_keys = example
        .replace(
            "\"aws_access_key_id\": \"AKEXAMPLE\",",
            "\"sqs_profile\": \"Cloudian\",",
        )
        .replace("\"aws_secret_access_key\": \"SECRETEXAMPLE\",", "");
    std::fs::write(&config, no_keys).unwrap();
    let out = Command::new(herald_bin())
        .args(["agent", "--config"])
        .arg(&config)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("source 'photos' (SQS access): no credentials") && err.contains("profile \"Cloudian\""),
        "{err}"
    );

    std::fs::write(&config, example.replace("\"queue_name\"", "\"queue_nme\"")).unwrap();
    let out = Command::new(herald_bin())
        .args(["agent", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: sources[0].queue_nme: unknown key (did you mean \"queue_name\"?)",
            config.display()
        )),
        "{err}"
    );
}
