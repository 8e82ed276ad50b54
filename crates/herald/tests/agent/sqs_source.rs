//! The agent reading its events from a Herald SQS queue: index and
//! mirror kept equal to the bucket through duplicates, reordering, kills,
//! retries and slow changes.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_source_keeps_index_and_mirror_equal_to_the_bucket() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    queue_for_bucket(&src, "jibe-source-activity", "photos").await;
    s3.create_bucket().bucket("reports").send().await.unwrap();
    dst.s3().create_bucket().bucket("backup").send().await.unwrap();
    let index = tmp.path().join("agent-index.sqlite");
    let cfg = json!({
        "upload_folder": "reports/jibe-reports",
        "report_interval_seconds": 1,
        "flavor": "SQS",
        "sources": [sqs_source(&src, "photos", "jibe-source-activity", json!([
            {"type": "index", "path": "agent-index.sqlite"},
            mirror_action(&dst, "backup"),
        ]))],
    });
    let config = write_config(tmp.path(), &cfg);
    let mut agent = Agent::start(&config, &[]);

    put(&s3, "photos", "a.txt", b"first a").await;
    put(&s3, "photos", "dir/b with space.txt", b"b").await;
    put(&s3, "photos", "c.txt", b"c").await;
    put(&s3, "photos", "a.txt", b"second a, longer").await;
    s3.delete_object().bucket("photos").key("c.txt").send().await.unwrap();
    // Parts the mirror's own part size (5 MiB) would cut differently, and
    // a one-part upload below its multipart threshold.
    let big = [seeded_bytes(1, 7 << 20), seeded_bytes(2, 5 << 20)];
    multipart_upload(&s3, "photos", "big.bin", &big).await;
    multipart_upload(&s3, "photos", "one-part.bin", &[seeded_bytes(3, 1024)]).await;
    let dst_s3 = dst.s3();
    converge(&mut agent, "index and mirror", || async {
        let want = listing(&s3, "photos").await;
        if let Some(d) = diff("index", &index_ls(&index), &want) {
            return Some(d);
        }
        let src_c = contents(&s3, "photos").await;
        diff("mirror", &contents(&dst_s3, "backup").await, &src_c)
    })
    .await;
    mirror_kept_the_part_layout(&s3, &dst_s3).await;

    logs_and_index_stat(&agent, &index);

    // A report lands in upload_folder with counts per action.
    converge(&mut agent, "report", || async {
        let keys = list_all_keys(&s3, "reports", Some("jibe-reports/herald-agent-photos-")).await;
        let Some(last) = keys.last() else {
            return Some("no report yet".into());
        };
        let body = body_bytes(s3.get_object().bucket("reports").key(&last.0).send().await.unwrap()).await;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // 1 s3:TestEvent + 9 changes: 3 puts, 1 overwrite, 1 delete, and
        // two multipart uploads' starts (ignored: nothing to sync) and
        // completions.
        let c = &v["counts"];
        let per_action = |a: &str| {
            c["actions"][a]["applied"].as_u64().unwrap_or(0) + c["actions"][a]["skipped"].as_u64().unwrap_or(0)
        };
        let got = (
            c["messages"].as_u64(),
            c["changes"].as_u64(),
            c["ignored"].as_u64(),
            per_action("index"),
            per_action("mirror"),
        );
        (got != (Some(10), Some(9), Some(2), 7, 7) || c["message_failures"] != 0).then(|| format!("report {v}"))
    })
    .await;

    // SIGTERM: a clean exit, with the totals logged and a last report.
    assert!(agent.terminate().success(), "{}", agent.logs());
    let logs = agent.logs();
    assert!(
        logs.contains("shutting down") && logs.contains("source 'photos': totals"),
        "{logs}"
    );
    let reports = list_all_keys(&s3, "reports", None).await;
    assert!(
        reports.iter().any(|(k, _)| k.ends_with("-final.json")),
        "{reports:?}\n{logs}"
    );
}

/// The source objects are multipart, and the mirror kept their part
/// layout, so it has the same ETags.
async fn mirror_kept_the_part_layout(s3: &aws_sdk_s3::Client, dst_s3: &aws_sdk_s3::Client) {
    let want = listing(s3, "photos").await;
    assert_eq!(want.len(), 4, "{want:?}");
    assert!(
        want["photos/big.bin"].1.ends_with("-2") && want["photos/one-part.bin"].1.ends_with("-1"),
        "the source objects are multipart: {want:?}"
    );
    // The mirror kept the source's part layout, so it has the same ETags.
    let mirrored = dst_s3.list_objects_v2().bucket("backup").send().await.unwrap();
    let etag_of = |k: &str| {
        mirrored
            .contents()
            .iter()
            .find(|o| o.key() == Some(k))
            .and_then(|o| o.e_tag())
            .map(|e| e.trim_matches('"').to_owned())
    };
    for k in ["big.bin", "one-part.bin", "a.txt"] {
        assert_eq!(
            etag_of(k).as_deref(),
            Some(want[&format!("photos/{k}")].1.as_str()),
            "{k}"
        );
    }
}

/// The agent logs each sync; `herald agent index stat` counts the index.
fn logs_and_index_stat(agent: &Agent, index: &Path) {
    let logs = agent.logs();
    assert!(
        logs.contains("Sync: s3:ObjectCreated:Put->create '/photos/photos/a.txt' ('photos' event ")
            && logs.contains("{'principal_id': 'root'}"),
        "{logs}"
    );
    assert!(
        logs.contains("Sync: s3:ObjectRemoved:Delete->delete '/photos/photos/c.txt'"),
        "{logs}"
    );
    let stat = Command::new(herald_bin())
        .args(["agent", "index", "stat", "--index"])
        .arg(index)
        .output()
        .unwrap();
    let stat = String::from_utf8_lossy(&stat.stdout).into_owned();
    assert!(stat.contains("objects: 4\n") && stat.contains("deleted: 1\n"), "{stat}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_and_out_of_order_delivery_leave_index_and_mirror_correct() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    let url = queue_for_bucket(&src, "events", "data").await;
    dst.s3().create_bucket().bucket("copy").send().await.unwrap();
    put(&s3, "data", "k1", b"v1").await;
    put(&s3, "data", "k1", b"version two").await;
    put(&s3, "data", "k2", b"short-lived").await;
    s3.delete_object().bucket("data").key("k2").send().await.unwrap();
    put(&s3, "data", "k3", b"k3 v1").await;
    s3.delete_object().bucket("data").key("k3").send().await.unwrap();
    put(&s3, "data", "k3", b"k3 v2, recreated").await;

    // Take the 7 events off the queue as Herald delivered them...
    let q = sqs(&src);
    let mut bodies: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while bodies.len() < 7 {
        assert!(Instant::now() < deadline, "only {} events arrived", bodies.len());
        let r = q
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in r.messages() {
            q.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            let b = m.body().unwrap().to_string();
            if b.contains("Records") {
                bodies.push(b);
            }
        }
    }
    // ...and deliver them again newest first, each twice, then once more
    // in the original order.
    let mut replay: Vec<String> = Vec::new();
    for b in bodies.iter().rev() {
        replay.push(b.clone());
        replay.push(b.clone());
    }
    replay.extend(bodies.iter().cloned());
    // An event caused by the skipped principal (as the mirror writer's own
    // writes would be) must not reach the actions.
    let mut own: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    own["Records"][0]["userIdentity"]["principalId"] = json!("mirror-writer");
    own["Records"][0]["s3"]["object"]["key"] = json!("written-by-mirror");
    replay.push(own.to_string());
    for b in &replay {
        q.send_message().queue_url(&url).message_body(b).send().await.unwrap();
    }

    let index = tmp.path().join("index.sqlite");
    let mut source = sqs_source(
        &src,
        "data",
        "events",
        json!([
            {"type": "index", "path": index},
            mirror_action(&dst, "copy"),
        ]),
    );
    source["skip_principal_id"] = json!("mirror-writer");
    source["workers"] = json!(1);
    let config = write_config(tmp.path(), &json!({"sources": [source]}));
    let mut agent = Agent::start(&config, &["--log-format", "json"]);
    converge(&mut agent, "queue", || async {
        (!queue_drained(&q, &url).await).then(|| "messages left".to_string())
    })
    .await;
    let want = listing(&s3, "data").await;
    assert_eq!(want.keys().cloned().collect::<Vec<_>>(), ["data/k1", "data/k3"]);
    assert_eq!(index_ls(&index), want, "agent log:\n{}", agent.logs());
    assert_eq!(
        contents(&dst.s3(), "copy").await,
        contents(&s3, "data").await,
        "agent log:\n{}",
        agent.logs()
    );
    // JSON logs: one object per line; sync lines carry the change's facts.
    let lines: Vec<serde_json::Value> = agent
        .logs()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let syncs: Vec<&serde_json::Value> = lines.iter().filter(|l| l["msg"] == "sync").collect();
    let skipped = syncs
        .iter()
        .find(|l| l["key"] == "written-by-mirror")
        .expect("a sync line for the skipped change");
    assert_eq!(skipped["principal_id"], "mirror-writer");
    assert_eq!(skipped["outcome"], "skipped: skip_principal_id");
    let stale = syncs
        .iter()
        .filter(|l| l["outcome"].as_str().is_some_and(|o| o.contains("mirror: stale")))
        .count();
    assert!(stale > 0, "older events must be recognised as stale:\n{}", agent.logs());
    let k3 = syncs
        .iter()
        .find(|l| l["key"] == "k3" && l["op"] == "create")
        .expect("a create of k3");
    assert_eq!(
        (k3["event"].as_str(), k3["bucket"].as_str(), k3["source"].as_str()),
        (Some("s3:ObjectCreated:Put"), Some("data"), Some("data"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_killed_mid_batch_loses_and_duplicates_no_effect() {
    let src = TestServer::start();
    let dst = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    let url = queue_for_bucket(&src, "batch", "bulk").await;
    dst.s3().create_bucket().bucket("bulk-copy").send().await.unwrap();
    const N: usize = 120;
    const DELETED: usize = 20;
    for i in 0..N {
        put(&s3, "bulk", &format!("obj-{i:03}"), format!("content {i}").as_bytes()).await;
    }
    for i in 0..DELETED {
        s3.delete_object()
            .bucket("bulk")
            .key(format!("obj-{i:03}"))
            .send()
            .await
            .unwrap();
    }
    // The script's effect is keyed by the event id, which stays the same
    // when a message is redelivered; every run is also logged.
    let effects = tmp.path().join("effects");
    std::fs::create_dir(&effects).unwrap();
    let script = tmp.path().join("on-change.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = -- ] && shift\necho \"$HERALD_EVENT_ID $1 $2 $3\" >> {dir}/runs.log\necho \"$1 $2 $3\" > {dir}/$HERALD_EVENT_ID\nsleep 0.05\n",
            dir = effects.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let index = tmp.path().join("index.sqlite");
    let mut source = sqs_source(
        &src,
        "bulk",
        "batch",
        json!([
            {"type": "index", "path": index},
            mirror_action(&dst, "bulk-copy"),
            {"type": "exec", "command": script, "timeout_seconds": 30},
        ]),
    );
    source["workers"] = json!(4);
    let config = write_config(tmp.path(), &json!({"sources": [source]}));
    let mut agent = Agent::start(&config, &[]);
    let runs = effects.join("runs.log");
    let count_runs = || std::fs::read_to_string(&runs).map(|s| s.lines().count()).unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while count_runs() < 25 {
        assert!(
            Instant::now() < deadline,
            "the agent made no progress:\n{}",
            agent.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    agent.kill9();
    let at_kill = count_runs();
    assert!(at_kill < N + DELETED, "the kill came after the batch ({at_kill} runs)");
    agent.spawn();
    let q = sqs(&src);
    converge(&mut agent, "queue", || async {
        (!queue_drained(&q, &url).await).then(|| "messages left".to_string())
    })
    .await;
    assert_eq!(index_ls(&index), listing(&s3, "bulk").await);
    assert_eq!(contents(&dst.s3(), "bulk-copy").await, contents(&s3, "bulk").await);
    // Every change had its effect exactly once.
    let mut per_change: BTreeMap<String, usize> = BTreeMap::new();
    for e in std::fs::read_dir(&effects).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "runs.log" {
            continue;
        }
        let line = std::fs::read_to_string(e.path()).unwrap();
        *per_change.entry(line.trim().to_string()).or_default() += 1;
    }
    let mut want: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..N {
        want.insert(format!("bulk obj-{i:03} copy"), 1);
    }
    for i in 0..DELETED {
        want.insert(format!("bulk obj-{i:03} delete"), 1);
    }
    assert_eq!(per_change, want, "agent log:\n{}", agent.logs());
    assert!(count_runs() >= N + DELETED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_keeps_failing_is_retried_then_lands_in_the_dead_letter_queue() {
    let src = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = src.s3();
    let url = queue_for_bucket(&src, "work", "files").await;
    let q = sqs(&src);
    let dlq = q
        .create_queue()
        .queue_name("work-dlq")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    q.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": format!("arn:aws:sqs:{REGION}:root:work-dlq"), "maxReceiveCount": 3})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    // The script refuses one key; every other change succeeds.
    let script = tmp.path().join("refuse-poison.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ \"$1\" = -- ] && shift\n[ \"$2\" != poison ] || { echo \"cannot handle $2\" >&2; exit 3; }\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let index = tmp.path().join("index.sqlite");
    let config = write_config(
        tmp.path(),
        &json!({"sources": [sqs_source(&src, "files", "work", json!([
            {"type": "index", "path": index},
            {"type": "exec", "command": script},
        ]))]}),
    );
    let mut agent = Agent::start(&config, &[]);
    put(&s3, "files", "fine", b"ok").await;
    put(&s3, "files", "poison", b"bad").await;
    let dead = std::sync::Mutex::new(Vec::<String>::new());
    converge(&mut agent, "dead-letter queue", || async {
        let r = q
            .receive_message()
            .queue_url(&dlq)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        dead.lock()
            .unwrap()
            .extend(r.messages().iter().map(|m| m.body().unwrap().to_string()));
        let none_yet = dead.lock().unwrap().is_empty();
        (none_yet || !queue_drained(&q, &url).await).then(|| format!("dead letters: {:?}", dead.lock().unwrap()))
    })
    .await;
    let dead = dead.into_inner().unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].contains("\"key\":\"poison\""), "{}", dead[0]);
    let logs = agent.logs();
    let failures = logs.matches("message failed, retried in 1 s").count();
    assert!(
        failures >= 3,
        "each receive of the poison message failed and was retried:\n{logs}"
    );
    assert!(logs.contains("cannot handle poison"), "{logs}");
    // The index action ran before exec failed; both keys are indexed, and
    // the good message was deleted after its actions.
    assert_eq!(
        index_ls(&index).keys().cloned().collect::<Vec<_>>(),
        ["files/fine", "files/poison"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_outlasts_the_visibility_timeout_is_not_delivered_twice() {
    let src = TestServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let url = queue_for_bucket(&src, "slow", "big").await;
    let q = sqs(&src);
    q.set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout, "3")
        .send()
        .await
        .unwrap();
    // Takes longer than the queue's visibility timeout, like a large copy.
    let runs = tmp.path().join("runs.log");
    let script = tmp.path().join("slow.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = -- ] && shift\necho \"$2\" >> {}\nsleep 5\n",
            runs.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = write_config(
        tmp.path(),
        &json!({"sources": [sqs_source(&src, "big", "slow", json!([{"type": "exec", "command": script}]))]}),
    );
    let mut agent = Agent::start(&config, &[]);
    put(&src.s3(), "big", "huge.iso", b"pretend this is large").await;
    converge(&mut agent, "queue", || async {
        let ran = std::fs::read_to_string(&runs).unwrap_or_default();
        (ran.is_empty() || !queue_drained(&q, &url).await).then(|| format!("runs: {ran:?}"))
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&runs).unwrap(),
        "huge.iso\n",
        "{}",
        agent.logs()
    );
}
