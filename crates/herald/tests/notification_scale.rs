//! Scale of configuration (Ceph's `test_1K_topics`, issue 16): one user's
//! 1,000 persistent topics (the default quota) created, listed and kept
//! across a restart; 100 notification configurations on one bucket (the
//! default per-bucket quota), of which a PUT reaches exactly the matching
//! one; one more of either is refused with the named limit.

use herald_testkit::*;

const TOPICS: usize = 1000;
const CONFIGS: usize = 100;

/// `persistent_topic_len`, summed over every topic (the total series).
fn queued_events(srv: &TestServer) -> u64 {
    let text = metrics_text(srv);
    text.lines()
        .find_map(|l| l.strip_prefix("persistent_topic_len ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no persistent_topic_len total in:\n{text}"))
}

fn put(srv: &TestServer, key: &str) {
    let r = s3_raw(
        srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "PUT",
        &format!("/scale/{key}"),
        b"x",
    );
    assert_eq!(r.status, 200, "PUT {key}: {}", r.body_str());
}

/// Every topic ARN ListTopics gives, following NextToken as the SDKs'
/// paginators do; each page holds 100 (AWS's page size) but the last.
fn list_all_topics(srv: &TestServer) -> Vec<String> {
    let sns = Sns::root(srv);
    let (mut all, mut token) = (Vec::new(), None::<String>);
    loop {
        let params: Vec<(&str, &str)> = token.iter().map(|t| ("NextToken", t.as_str())).collect();
        let r = sns.call("ListTopics", &params);
        assert_eq!(r.status, 200, "{}", r.body_str());
        let body = r.body_str();
        let page = xml_all(&body, "TopicArn");
        token = xml_first(&body, "NextToken");
        if token.is_some() {
            assert_eq!(page.len(), 100, "a page before the last holds 100 topics");
        }
        all.extend(page);
        if token.is_none() {
            break;
        }
        assert!(
            all.len() <= TOPICS,
            "pagination does not end: {} topics so far",
            all.len()
        );
    }
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "pages come in name order");
    all
}

#[test]
fn a_thousand_topics_and_a_hundred_configurations() {
    let mut srv = TestServer::start();
    let sns = Sns::root(&srv);
    let attrs = [("push-endpoint", "http://127.0.0.1:1/down"), ("persistent", "true")];
    let arns: Vec<String> = (0..TOPICS)
        .map(|i| sns.create_topic(&format!("scale-{i:04}"), &attrs))
        .collect();
    let e = sns
        .try_create_topic("one-too-many", &attrs)
        .expect_err("topic 1,001 created past the default quota");
    assert_eq!((e.status, e.code.as_str()), (403, "TopicLimitExceeded"), "{}", e.body);
    assert_eq!(list_all_topics(&srv), arns, "ListTopics, page by page");
    // The aws CLI follows NextToken itself, as a user's scripts rely on.
    let out = aws_cli_command(&srv)
        .args(["sns", "list-topics", "--output", "json"])
        .output()
        .expect("run the aws CLI (.ci/run installs it)");
    assert!(
        out.status.success(),
        "aws sns list-topics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        listed["Topics"].as_array().map(Vec::len),
        Some(TOPICS),
        "aws sns list-topics"
    );
    let r = Sns::root(&srv).call("ListTopics", &[("NextToken", "not-a-token")]);
    assert_eq!(r.status, 400, "a NextToken the server never gave: {}", r.body_str());

    let r = s3_raw(&srv, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, "PUT", "/scale", b"");
    assert_eq!(r.status, 200, "create bucket: {}", r.body_str());
    let config = |n: usize| {
        let entries: Vec<String> = (0..n)
            .map(|i| {
                let filter =
                    format!("<S3Key><FilterRule><Name>prefix</Name><Value>match-{i}/</Value></FilterRule></S3Key>");
                topic_config_xml(&format!("c{i}"), &arns[i], &["s3:ObjectCreated:*"], Some(&filter))
            })
            .collect();
        notification_xml(&entries)
    };
    let refused = put_notification_xml(&srv, "scale", &config(CONFIGS + 1));
    assert_eq!(refused.status, 400, "101 configurations: {}", refused.body_str());
    assert!(
        refused.body_str().contains("max-notification-configs-per-bucket"),
        "{}",
        refused.body_str()
    );
    must_put_notification_xml(&srv, "scale", &config(CONFIGS));

    // Each configured topic holds the configuration's s3:TestEvent already.
    let before = queued_events(&srv);
    let (before_77, before_99) = (
        topic_stats_entries(&srv, "scale-0077", "root"),
        topic_stats_entries(&srv, "scale-0099", "root"),
    );
    put(&srv, "none/x");
    assert_eq!(
        queued_events(&srv),
        before,
        "a key no configuration matches queued events"
    );
    put(&srv, "match-77/x");
    assert_eq!(queued_events(&srv), before + 1, "one matching configuration, one event");
    assert_eq!(topic_stats_entries(&srv, "scale-0077", "root"), before_77 + 1);

    // Everything comes back after a restart: the topics, the
    // configuration, the queued event.
    srv.restart();
    assert_eq!(list_all_topics(&srv), arns, "ListTopics after a restart");
    assert_eq!(topic_stats_entries(&srv, "scale-0077", "root"), before_77 + 1);
    put(&srv, "match-99/y");
    assert_eq!(topic_stats_entries(&srv, "scale-0099", "root"), before_99 + 1);
    assert_eq!(queued_events(&srv), before + 2);
}
