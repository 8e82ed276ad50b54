//! The notification configuration: filters, and its CRUD, test event
//! and validation.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_deliver_exactly_the_matching_changes() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let arn = sns.create_topic("flt", &[("push-endpoint", &rx.url("f"))]);
    s3.create_bucket().bucket("flt").send().await.unwrap();
    let created = ["s3:ObjectCreated:*"];
    let rule = |n: &str, v: &str| {
        format!(
            "<FilterRule><Name>{n}</Name><Value>{}</Value></FilterRule>",
            xml_escape(v)
        )
    };
    let xml = notification_xml(&[
        topic_config_xml(
            "pre",
            &arn,
            &created,
            Some(&format!("<S3Key>{}</S3Key>", rule("prefix", "img/"))),
        ),
        topic_config_xml(
            "suf",
            &arn,
            &created,
            Some(&format!("<S3Key>{}</S3Key>", rule("suffix", ".jpg"))),
        ),
        topic_config_xml(
            "re",
            &arn,
            &created,
            Some(&format!("<S3Key>{}</S3Key>", rule("regex", "logs/[0-9]+\\.txt"))),
        ),
        topic_config_xml(
            "meta",
            &arn,
            &created,
            Some(&format!("<S3Metadata>{}</S3Metadata>", rule("x-amz-meta-color", "red"))),
        ),
        topic_config_xml(
            "tag",
            &arn,
            &created,
            Some(&format!("<S3Tags>{}</S3Tags>", rule("team", "ops"))),
        ),
        topic_config_xml("del", &arn, &["s3:ObjectRemoved:*"], None),
    ]);
    must_put_notification_xml(&srv, "flt", &xml);

    configuration_reads_back(&srv, &s3, &arn).await;

    let put = |key: &'static str, meta: Option<&'static str>, tags: Option<&'static str>| {
        let s3 = s3.clone();
        async move {
            let mut r = s3
                .put_object()
                .bucket("flt")
                .key(key)
                .body(ByteStream::from_static(b"data"));
            if let Some(m) = meta {
                r = r.metadata("color", m);
            }
            if let Some(t) = tags {
                r = r.tagging(t);
            }
            r.send().await.unwrap();
        }
    };
    put("img/a.png", None, None).await;
    put("doc/b.jpg", None, None).await;
    put("logs/123.txt", None, None).await;
    put("logs/abc.txt", None, None).await;
    put("xlogs/1.txt", None, None).await;
    put("logs/1.txt.bak", None, None).await;
    put("plain.bin", Some("red"), None).await;
    put("plain2.bin", Some("blue"), None).await;
    put("tagged.bin", None, Some("team=ops")).await;
    put("tagged2.bin", None, Some("team=dev")).await;
    put("IMG/upper.png", None, None).await;
    s3.delete_object().bucket("flt").key("plain.bin").send().await.unwrap();
    // Sentinel matching pre, suf, meta and tag.
    put("img/sentinel.jpg", Some("red"), Some("team=ops")).await;
    rx.wait_for("the sentinel for pre, suf, meta and tag", 30, |r| {
        let got: HashSet<String> = r
            .delivered_for_key("img/sentinel.jpg")
            .iter()
            .filter_map(|e| e["s3"]["configurationId"].as_str().map(String::from))
            .collect();
        ["pre", "suf", "meta", "tag"].iter().all(|c| got.contains(*c))
    })
    .await;

    check_deliveries_per_configuration(&rx);
}

/// The configuration reads back, extensions included.
async fn configuration_reads_back(srv: &TestServer, s3: &aws_sdk_s3::Client, arn: &str) {
    // The configuration reads back, extensions included.
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("flt")
        .send()
        .await
        .unwrap();
    let ids: BTreeSet<&str> = g.topic_configurations().iter().filter_map(|t| t.id()).collect();
    assert_eq!(ids, BTreeSet::from(["pre", "suf", "re", "meta", "tag", "del"]), "{g:?}");
    let pre = g.topic_configurations().iter().find(|t| t.id() == Some("pre")).unwrap();
    assert_eq!(pre.topic_arn(), arn);
    let rules = pre
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules().to_vec())
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "{pre:?}");
    assert_eq!(rules[0].value(), Some("img/"), "{pre:?}");
    let raw = get_notification_xml(srv, "flt").body_str();
    for needle in [
        "x-amz-meta-color",
        "<S3Metadata>",
        "<S3Tags>",
        "regex",
        "logs/[0-9]+\\.txt",
    ] {
        assert!(raw.contains(needle), "GET ?notification lacks {needle}: {raw}");
    }
}

/// Each configuration got exactly the changes its filter matches.
fn check_deliveries_per_configuration(rx: &Receiver) {
    let mut by_config: HashMap<String, BTreeSet<(String, String)>> = HashMap::new();
    for r in rx.delivered_records() {
        by_config
            .entry(r["s3"]["configurationId"].as_str().unwrap_or("?").to_string())
            .or_default()
            .insert((
                r["s3"]["object"]["key"].as_str().unwrap_or("?").to_string(),
                r["eventName"].as_str().unwrap_or("?").to_string(),
            ));
    }
    let put_ev = "ObjectCreated:Put";
    let want = |items: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    };
    let expected: Vec<(&str, BTreeSet<(String, String)>)> = vec![
        ("pre", want(&[("img/a.png", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("suf", want(&[("doc/b.jpg", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("re", want(&[("logs/123.txt", put_ev)])),
        ("meta", want(&[("plain.bin", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("tag", want(&[("tagged.bin", put_ev), ("img/sentinel.jpg", put_ev)])),
        ("del", want(&[("plain.bin", "ObjectRemoved:Delete")])),
    ];
    let mut failures = Vec::new();
    for (cfg, w) in &expected {
        let got = by_config.get(*cfg).cloned().unwrap_or_default();
        if &got != w {
            failures.push(format!("notification {cfg}: expected {w:?}, got {got:?}"));
        }
    }
    let known: HashSet<&str> = expected.iter().map(|(c, _)| *c).collect();
    for k in by_config.keys() {
        if !known.contains(k.as_str()) {
            failures.push(format!("unexpected configurationId {k}: {:?}", by_config[k]));
        }
    }
    assert!(failures.is_empty(), "filter mismatches:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_crud_test_event_and_validation() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB_AK, BOB_SK);
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let r1 = Receiver::start_new();
    let r2 = Receiver::start_new();
    let t1 = sns.create_topic("t1", &[("push-endpoint", &r1.url("one"))]);
    let t2 = sns.create_topic("t2", &[("push-endpoint", &r2.url("two"))]);
    s3.create_bucket().bucket("cfg").send().await.unwrap();

    put_config(
        &s3,
        "cfg",
        vec![tc("n1", &t1, &["s3:ObjectCreated:*"], Some("a/"), None)],
    )
    .await;
    r1.wait_for("TestEvent for n1", 30, |r| r.test_events().len() == 1)
        .await;
    let te = r1.test_events()[0].json().unwrap();
    assert_eq!(te["Service"], "Amazon S3", "{te}");
    assert_eq!(te["Event"], "s3:TestEvent", "{te}");
    assert_eq!(te["Bucket"], "cfg", "{te}");
    for k in ["Time", "RequestId", "HostId"] {
        assert!(te[k].is_string(), "TestEvent lacks {k}: {te}");
    }
    assert!(
        r1.test_events()[0]
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );

    reads_back_n1(&s3, &t1).await;

    put_config(
        &s3,
        "cfg",
        vec![
            tc("n1", &t1, &["s3:ObjectCreated:*"], Some("a/"), None),
            tc("n2", &t2, &["s3:ObjectRemoved:*"], None, Some(".log")),
        ],
    )
    .await;
    r2.wait_for("TestEvent for the newly added n2", 30, |r| r.test_events().len() == 1)
        .await;
    assert_eq!(
        r1.test_events().len(),
        1,
        "t1 was not newly added; it must not get another TestEvent"
    );

    get_and_delete_one_by_id(&srv, &s3, &t2).await;

    refused_configurations_change_nothing(&srv, &s3, &r2, &t1).await;

    // Delete all.
    let del = s3_raw(
        &srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "DELETE",
        "/cfg?notification",
        b"",
    );
    assert!(
        (200..300).contains(&del.status),
        "DELETE ?notification: {} {}",
        del.status,
        del.body_str()
    );
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert!(g.topic_configurations().is_empty(), "after DELETE ?notification: {g:?}");
}

/// The first configuration reads back as put: id, topic, events, filter.
async fn reads_back_n1(s3: &aws_sdk_s3::Client, t1: &str) {
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert_eq!(g.topic_configurations().len(), 1, "{g:?}");
    let c = &g.topic_configurations()[0];
    assert_eq!(c.id(), Some("n1"));
    assert_eq!(c.topic_arn(), t1);
    assert_eq!(
        c.events().iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        vec!["s3:ObjectCreated:*"]
    );
    let rules = c
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules().to_vec())
        .unwrap_or_default();
    assert_eq!(rules.len(), 1, "{c:?}");
    assert_eq!(
        rules[0].name().map(|n| n.as_str().to_ascii_lowercase()),
        Some("prefix".into())
    );
    assert_eq!(rules[0].value(), Some("a/"));
}

/// Ceph: GET/DELETE one notification by id.
async fn get_and_delete_one_by_id(srv: &TestServer, s3: &aws_sdk_s3::Client, t2: &str) {
    // Ceph: GET/DELETE one notification by id.
    let one = s3_raw(
        srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        "/cfg?notification=n2",
        b"",
    );
    let body = one.body_str();
    assert_eq!(one.status, 200, "GET ?notification=n2: {body}");
    assert!(
        body.contains("<Id>n2</Id>") && !body.contains("<Id>n1</Id>"),
        "GET ?notification=n2: {body}"
    );
    assert!(body.contains(t2), "{body}");
    let missing = s3_raw(
        srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "GET",
        "/cfg?notification=nope",
        b"",
    );
    assert_eq!(missing.status, 404, "GET ?notification=nope: {}", missing.body_str());
    let del = s3_raw(
        srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "DELETE",
        "/cfg?notification=n2",
        b"",
    );
    assert!(
        (200..300).contains(&del.status),
        "DELETE ?notification=n2: {} {}",
        del.status,
        del.body_str()
    );
    let g = s3
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    let ids: Vec<&str> = g.topic_configurations().iter().filter_map(|t| t.id()).collect();
    assert_eq!(ids, vec!["n1"], "after DELETE ?notification=n2");
}

/// Validation errors keep the old configuration; topics are per user.
async fn refused_configurations_change_nothing(srv: &TestServer, s3: &aws_sdk_s3::Client, r2: &Receiver, t1: &str) {
    // Validation errors keep the old configuration.
    let snapshot = get_notification_xml(srv, "cfg").body_str();
    assert!(snapshot.contains("<Id>n1</Id>"), "{snapshot}");
    let unchanged = |what: &str| {
        let now = get_notification_xml(srv, "cfg").body_str();
        assert_eq!(now, snapshot, "configuration changed after the refused {what}");
    };

    let res = s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(tc(
                    "bad",
                    "arn:aws:sns:us-east-1:root:no-such-topic",
                    &["s3:ObjectCreated:*"],
                    None,
                    None,
                ))
                .build(),
        )
        .send()
        .await;
    let e = res.expect_err("unknown topic ARN accepted");
    let (code, status) = err_info(&e);
    assert!(
        (400..500).contains(&status) && (code == "NoSuchKey" || code == "InvalidArgument"),
        "unknown topic ARN: expected 4xx NoSuchKey/InvalidArgument, got {code} ({status})"
    );
    unchanged("unknown topic ARN");

    let res = s3
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .topic_configurations(tc("bad-event", t1, &["s3:NoSuchEvent"], None, None))
                .build(),
        )
        .send()
        .await;
    assert_err(res, "InvalidArgument", 400);
    unchanged("bad event name");

    // (An empty configuration is "remove all", tested in compat_aws.rs.)
    let r = put_notification_xml(srv, "cfg", "<NotificationConfiguration><TopicConfiguration><Id>x</Id>");
    assert_eq!(
        (r.status, xml_first(&r.body_str(), "Code").unwrap_or_default()),
        (400, "MalformedXML".to_string()),
        "malformed XML: {}",
        r.body_str()
    );
    unchanged("malformed XML");

    // Topics are per user: root cannot use bob's, bob cannot use root's.
    let bob = Sns::new(srv, BOB_AK, BOB_SK);
    let bt = bob.create_topic("bt", &[("push-endpoint", &r2.url("bob"))]);
    let r = put_notification_xml(
        srv,
        "cfg",
        &notification_xml(&[topic_config_xml("x", &bt, &["s3:ObjectCreated:*"], None)]),
    );
    assert!(
        (400..500).contains(&r.status),
        "root used bob's topic: {} {}",
        r.status,
        r.body_str()
    );
    unchanged("configuration with another user's topic");
    let bob_s3 = srv.s3_as(BOB_AK, BOB_SK);
    bob_s3.create_bucket().bucket("bob-cfg").send().await.unwrap();
    let r = put_notification_xml_as(
        srv,
        BOB_AK,
        BOB_SK,
        "bob-cfg",
        &notification_xml(&[topic_config_xml("x", t1, &["s3:ObjectCreated:*"], None)]),
    );
    assert!(
        (400..500).contains(&r.status),
        "bob used root's topic: {} {}",
        r.status,
        r.body_str()
    );
}
