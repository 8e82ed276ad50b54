//! Herald's content filters: object size and content type, in the XML
//! parts beside Ceph's (`<HeraldObjectSize>`, `<HeraldContentType>`) and in
//! the `S3Key` rule form the AWS SDKs can send and read back; decided for
//! every way an object is created (PUT, copy, multipart), for synchronous
//! and persistent topics and for queues alike.

use super::*;

fn rule(name: &str, value: &str) -> String {
    format!(
        "<FilterRule><Name>{name}</Name><Value>{}</Value></FilterRule>",
        xml_escape(value)
    )
}

/// The configuration ids each key's events reached, per receiver path.
fn reached(rx: &Receiver) -> BTreeSet<(String, String)> {
    rx.delivered_records()
        .iter()
        .map(|r| {
            (
                r["s3"]["configurationId"].as_str().unwrap_or("?").to_owned(),
                r["s3"]["object"]["key"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

/// PUTs `len` bytes with a Content-Type (none when `None`).
async fn put_typed(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, len: usize, content_type: Option<&str>) {
    let mut r = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(vec![b'x'; len]));
    if let Some(ct) = content_type {
        r = r.content_type(ct);
    }
    r.send().await.unwrap();
}

fn pairs(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_and_content_type_filters_pick_exactly_their_objects() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let sync_arn = sns.create_topic("cf-sync", &[("push-endpoint", &rx.url("sync"))]);
    let rx_p = Receiver::start_new();
    let persistent_arn = sns.create_topic(
        "cf-persistent",
        &[("push-endpoint", &rx_p.url("p")), ("persistent", "true")],
    );
    let sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let queue_url = sqs.create_queue().queue_name("cf-queue").send().await.unwrap();
    let queue_url = queue_url.queue_url().unwrap().to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned())
        .unwrap();
    s3.create_bucket().bucket("cfilters").send().await.unwrap();

    let created = ["s3:ObjectCreated:*"];
    let big = format!("<HeraldObjectSize>{}</HeraldObjectSize>", rule("greater-than", "1000"));
    let small = format!("<HeraldObjectSize>{}</HeraldObjectSize>", rule("less-than", "100"));
    let images = format!("<HeraldContentType>{}</HeraldContentType>", rule("prefix", "image/"));
    let docs = format!(
        "<HeraldContentType>{}{}</HeraldContentType>",
        rule("equals", "application/pdf"),
        rule("equals", "application/json")
    );
    let combo = format!(
        "<S3Key>{}</S3Key><HeraldObjectSize>{}</HeraldObjectSize>{docs}",
        rule("prefix", "docs/"),
        rule("greater-than", "10")
    );
    let queue = format!(
        "<QueueConfiguration><Id>q-big-images</Id><Queue>{queue_arn}</Queue><Event>s3:ObjectCreated:*</Event>\
         <Filter>{big}{images}</Filter></QueueConfiguration>"
    );
    let mut configs = vec![
        topic_config_xml("big", &sync_arn, &created, Some(&big)),
        topic_config_xml("small", &sync_arn, &created, Some(&small)),
        topic_config_xml("images", &sync_arn, &created, Some(&images)),
        topic_config_xml("docs", &sync_arn, &created, Some(&docs)),
        topic_config_xml("combo", &sync_arn, &created, Some(&combo)),
        topic_config_xml("p-big", &persistent_arn, &created, Some(&big)),
    ];
    configs.push(queue);
    must_put_notification_xml(&srv, "cfilters", &notification_xml(&configs));
    let raw = get_notification_xml(&srv, "cfilters").body_str();
    for needle in [
        "<HeraldObjectSize><FilterRule><Name>greater-than</Name><Value>1000</Value>",
        "<HeraldContentType><FilterRule><Name>prefix</Name><Value>image/</Value>",
        "<Name>equals</Name><Value>application/json</Value>",
    ] {
        assert!(raw.contains(needle), "GET ?notification lacks {needle}: {raw}");
    }

    let put = |key: &'static str, len: usize, content_type: Option<&'static str>| {
        let s3 = s3.clone();
        async move { put_typed(&s3, "cfilters", key, len, content_type).await }
    };
    put("note.txt", 10, Some("text/plain")).await; // small
    put("photo.png", 2000, Some("image/png")).await; // big, images, q, p-big
    put("thumb.jpg", 50, Some("IMAGE/JPEG; q=0.9")).await; // small, images
    put("docs/a.pdf", 500, Some("application/pdf")).await; // docs, combo
    put("docs/tiny.json", 5, Some("application/json; charset=utf-8")).await; // small, docs (combo wants > 10)
    put("blob.bin", 1500, None).await; // big (binary/octet-stream: no type rule)
    put("edge.bin", 1000, Some("text/plain")).await; // nothing: 1000 is not > 1000
    // Copies and multipart uploads are decided on the size committed.
    s3.copy_object()
        .bucket("cfilters")
        .key("copy.png")
        .copy_source("cfilters/photo.png")
        .send()
        .await
        .unwrap(); // big, images, q, p-big
    let up = s3
        .create_multipart_upload()
        .bucket("cfilters")
        .key("multi.gif")
        .content_type("image/gif")
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("cfilters")
        .key("multi.gif")
        .upload_id(upload_id)
        .part_number(1)
        .body(ByteStream::from(vec![b'g'; 3000]))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("cfilters")
        .key("multi.gif")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap(); // big, images, q, p-big (and ObjectCreated:Post at the start: size 0, images, small)

    // The synchronous topic pushed before each request was answered.
    let mut want = pairs(&[
        ("small", "note.txt"),
        ("big", "photo.png"),
        ("images", "photo.png"),
        ("small", "thumb.jpg"),
        ("images", "thumb.jpg"),
        ("docs", "docs/a.pdf"),
        ("combo", "docs/a.pdf"),
        ("small", "docs/tiny.json"),
        ("docs", "docs/tiny.json"),
        ("big", "blob.bin"),
        ("big", "copy.png"),
        ("images", "copy.png"),
        ("big", "multi.gif"),
        ("images", "multi.gif"),
    ]);
    // Herald (not Ceph) announces a multipart upload's start as
    // ObjectCreated:Post, with size 0: small and images take it.
    want.insert(("small".into(), "multi.gif".into()));
    assert_eq!(reached(&rx), want, "synchronous topic");

    // The persistent topic and the queue get exactly the big ones.
    let big_keys = ["photo.png", "blob.bin", "copy.png", "multi.gif"];
    rx_p.wait_for("the persistent topic's big objects", 30, |r| {
        big_keys.iter().all(|k| !r.delivered_for_key(k).is_empty())
    })
    .await;
    let mut queued = BTreeSet::new();
    for _ in 0..20 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let v: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            for r in v["Records"].as_array().into_iter().flatten() {
                queued.insert(r["s3"]["object"]["key"].as_str().unwrap().to_owned());
            }
        }
        if queued.len() >= 3 {
            break;
        }
    }
    // A later sentinel proves nothing else is on its way.
    put("sentinel.png", 4000, Some("image/png")).await;
    rx_p.wait_for("the persistent sentinel", 30, |r| {
        !r.delivered_for_key("sentinel.png").is_empty()
    })
    .await;
    let p_want: BTreeSet<(String, String)> = big_keys
        .iter()
        .chain(["sentinel.png"].iter())
        .map(|k| ("p-big".to_owned(), k.to_string()))
        .collect();
    assert_eq!(reached(&rx_p), p_want, "persistent topic");
    assert_eq!(
        queued,
        ["copy.png", "multi.gif", "photo.png"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        "queue (big images)"
    );
}

/// The AWS SDK can only send `Filter.Key.FilterRules`: Herald's rules
/// under `herald-` names there work, read back as they were sent, and bad
/// ones are refused with InvalidArgument naming the rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_key_form_round_trips_and_bad_rules_are_refused() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let sns = Sns::root(&srv);
    let rx = Receiver::start_new();
    let arn = sns.create_topic("cf-sdk", &[("push-endpoint", &rx.url("sdk"))]);
    s3.create_bucket().bucket("cfsdk").send().await.unwrap();
    let rules = [
        ("prefix", "media/"),
        ("herald-size-greater-than", "100"),
        ("herald-content-type-prefix", "video/"),
    ];
    let key_filter = rules.iter().fold(S3KeyFilter::builder(), |b, (n, v)| {
        b.filter_rules(FilterRule::builder().name(FilterRuleName::from(*n)).value(*v).build())
    });
    let cfg = NotificationConfiguration::builder()
        .topic_configurations(
            TopicConfiguration::builder()
                .id("videos")
                .topic_arn(&arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .filter(
                    NotificationConfigurationFilter::builder()
                        .key(key_filter.build())
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration()
        .bucket("cfsdk")
        .notification_configuration(cfg)
        .send()
        .await
        .unwrap();
    let got = s3
        .get_bucket_notification_configuration()
        .bucket("cfsdk")
        .send()
        .await
        .unwrap();
    let back: Vec<(String, String)> = got.topic_configurations()[0]
        .filter()
        .and_then(|f| f.key())
        .map(|k| {
            k.filter_rules()
                .iter()
                .map(|r| (r.name().unwrap().as_str().to_owned(), r.value().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let sent: Vec<(String, String)> = rules.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(back, sent, "read back as sent");

    for (key, len, ct) in [
        ("media/clip.mp4", 500, "video/mp4"),  // yes
        ("media/short.mp4", 100, "video/mp4"), // not > 100
        ("media/song.mp3", 500, "audio/mpeg"), // not video
        ("other/clip.mp4", 500, "video/mp4"),  // not under media/
    ] {
        put_typed(&s3, "cfsdk", key, len, Some(ct)).await;
    }
    assert_eq!(reached(&rx), pairs(&[("videos", "media/clip.mp4")]));

    for (bad, why) in [
        (rule("herald-size-greater-than", "big"), "number of bytes"),
        (
            rule("herald-content-type", "text/plain; charset=utf-8"),
            "without parameters",
        ),
        (rule("herald-weight", "1"), "unknown key filter rule name"),
    ] {
        let xml = notification_xml(&[topic_config_xml(
            "bad",
            &arn,
            &[],
            Some(&format!("<S3Key>{bad}</S3Key>")),
        )]);
        let r = put_notification_xml(&srv, "cfsdk", &xml);
        assert_eq!(r.status, 400, "{bad}: {}", r.body_str());
        let body = r.body_str();
        assert!(
            body.contains("<Code>InvalidArgument</Code>") && body.contains(why),
            "{bad}: {body}"
        );
    }
    // The refused configurations changed nothing.
    let still = get_notification_xml(&srv, "cfsdk").body_str();
    assert!(still.contains("herald-content-type-prefix"), "{still}");
}

/// The aws CLI with the example of docs/notifications.md, as an operator
/// would paste it: put, read back, and only a big enough video under
/// `media/` is announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aws_cli_puts_and_reads_the_documented_content_filter() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    let rx = Receiver::start_new();
    let arn = Sns::root(&srv).create_topic("uploads", &[("push-endpoint", &rx.url("u"))]);
    assert_eq!(arn, "arn:aws:sns:us-east-1:root:uploads", "the ARN the example names");
    s3.create_bucket().bucket("photos").send().await.unwrap();
    let doc = include_str!("../../../../docs/notifications.md");
    let json: String = doc
        .split("cat > big-videos.json <<'JSON'\n")
        .nth(1)
        .and_then(|rest| rest.split("\n  JSON\n").next())
        .expect("the example in docs/notifications.md")
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big-videos.json"), &json).unwrap();
    let run = |args: &[&str]| {
        let out = aws_cli_command(&srv)
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "aws {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        "photos",
        "--notification-configuration",
        "file://big-videos.json",
    ]);
    let got: Value = serde_json::from_str(&run(&[
        "s3api",
        "get-bucket-notification-configuration",
        "--bucket",
        "photos",
    ]))
    .unwrap();
    let sent: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        got["TopicConfigurations"][0]["Filter"], sent["TopicConfigurations"][0]["Filter"],
        "read back as sent: {got}"
    );
    // 100 MB objects are too slow for a test: the same rules, 100 bytes.
    let small = json.replace("104857600", "100");
    std::fs::write(dir.path().join("big-videos.json"), small).unwrap();
    run(&[
        "s3api",
        "put-bucket-notification-configuration",
        "--bucket",
        "photos",
        "--notification-configuration",
        "file://big-videos.json",
    ]);
    for (key, len, ct) in [
        ("media/a.mp4", 101, "video/mp4"),
        ("media/b.mp4", 100, "video/mp4"),
        ("media/c.png", 500, "image/png"),
    ] {
        put_typed(&s3, "photos", key, len, Some(ct)).await;
    }
    assert_eq!(reached(&rx), pairs(&[("big-videos", "media/a.mp4")]));
}
