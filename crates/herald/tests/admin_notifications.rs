//! `herald notification list|get|rm` (radosgw-admin's `notification`
//! commands) and what `herald topic get|stats` show of a bucket's
//! subscriptions, against a running server: the operator's removal takes
//! effect on the next PUT and in the S3 API.

use herald_testkit::*;
use serde_json::Value;

/// Runs `herald ARGS`, which must succeed; its stdout.
fn cli_ok(srv: &TestServer, args: &[&str]) -> String {
    let out = srv.cli(args);
    assert!(
        out.status.success(),
        "herald {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cli_json(srv: &TestServer, args: &[&str]) -> Value {
    let text = cli_ok(srv, args);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("herald {args:?} printed non-JSON ({e}): {text}"))
}

/// The ids `herald notification list` prints, in order.
fn listed_ids(srv: &TestServer, bucket: &str) -> Vec<String> {
    let v = cli_json(srv, &["notification", "list", "--bucket", bucket]);
    v["notifications"]
        .as_array()
        .unwrap_or_else(|| panic!("no `notifications` array: {v}"))
        .iter()
        .map(|n| n["Id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The ids the S3 API returns for the bucket (GetBucketNotificationConfiguration).
async fn s3_ids(srv: &TestServer, bucket: &str) -> Vec<String> {
    let got = srv
        .s3()
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    got.topic_configurations()
        .iter()
        .filter_map(|t| t.id().map(str::to_owned))
        .collect()
}

async fn put(srv: &TestServer, bucket: &str, key: &str) {
    srv.s3()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
}

/// Ceph's `test_ps_s3_notification_configuration_admin_on_master`, with
/// Herald's CLI: three configurations listed with their filters, one got
/// by id, one removed, then all; the running server stops matching them at
/// once (a persistent topic whose endpoint is down counts what it got).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_list_get_rm_and_topic_subscriptions() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let arn = sns.create_topic(
        "admin-nt",
        &[("push-endpoint", "http://127.0.0.1:1/down"), ("persistent", "true")],
    );
    srv.s3().create_bucket().bucket("admin-nb").send().await.unwrap();
    let prefix = "<S3Key><FilterRule><Name>prefix</Name><Value>logs/</Value></FilterRule></S3Key>";
    let color = "<S3Metadata><FilterRule><Name>x-amz-meta-color</Name><Value>red</Value></FilterRule></S3Metadata>\
                 <HeraldObjectSize><FilterRule><Name>less-than</Name><Value>4096</Value></FilterRule></HeraldObjectSize>\
                 <HeraldContentType><FilterRule><Name>prefix</Name><Value>text/</Value></FilterRule></HeraldContentType>";
    must_put_notification_xml(
        &srv,
        "admin-nb",
        &notification_xml(&[
            topic_config_xml("n_1", &arn, &["s3:ObjectCreated:*"], Some(prefix)),
            topic_config_xml("n_2", &arn, &["s3:ObjectRemoved:*"], Some(color)),
            topic_config_xml("n_3", &arn, &[], None),
        ]),
    );

    assert_eq!(listed_ids(&srv, "admin-nb"), ["n_1", "n_2", "n_3"]);
    let one = cli_json(&srv, &["notification", "get", "--bucket", "admin-nb", "--id", "n_1"]);
    assert_eq!(one["Id"], "n_1", "{one}");
    assert_eq!(one["TopicArn"], arn.as_str(), "{one}");
    assert_eq!(one["Events"], serde_json::json!(["s3:ObjectCreated:*"]), "{one}");
    assert_eq!(
        one["Filter"]["S3Key"]["FilterRule"],
        serde_json::json!([{"Name": "prefix", "Value": "logs/"}]),
        "{one}"
    );
    // Metadata rules as GET ?notification shows them (with the prefix).
    let two = cli_json(&srv, &["notification", "get", "--bucket", "admin-nb", "--id", "n_2"]);
    assert_eq!(
        two["Filter"]["S3Metadata"]["FilterRule"],
        serde_json::json!([{"Name": "x-amz-meta-color", "Value": "red"}]),
        "{two}"
    );
    // Herald's content filters under their XML part names.
    assert_eq!(
        two["Filter"]["HeraldObjectSize"]["FilterRule"],
        serde_json::json!([{"Name": "less-than", "Value": "4096"}]),
        "{two}"
    );
    assert_eq!(
        two["Filter"]["HeraldContentType"]["FilterRule"],
        serde_json::json!([{"Name": "prefix", "Value": "text/"}]),
        "{two}"
    );
    for missing in [
        &["notification", "get", "--bucket", "admin-nb", "--id", "nope"][..],
        &["notification", "list", "--bucket", "no-such-bucket"][..],
        &["notification", "rm", "--bucket", "admin-nb", "--id", "nope"][..],
    ] {
        let out = srv.cli(missing);
        assert!(!out.status.success(), "herald {missing:?} succeeded");
    }

    let topic = cli_json(&srv, &["topic", "get", "admin-nt", "--user", "root"]);
    assert_eq!(topic["subscribed_buckets"], serde_json::json!(["admin-nb"]), "{topic}");
    // Ceph's queue name: `<account>:<topic>` (the account is the owner in AWS mode).
    assert_eq!(topic["dest"]["persistent_queue"], "root:admin-nt", "{topic}");
    assert_eq!(topic["owner"], "root", "{topic}");

    // n_3 (every event) and n_1 (created under logs/) match: two events
    // (on top of what is queued already, such as the configuration's test event).
    let before = topic_stats_entries(&srv, "admin-nt", "root");
    put(&srv, "admin-nb", "logs/a").await;
    let stats = cli_json(&srv, &["topic", "stats", "admin-nt", "--user", "root"]);
    assert_eq!(stats["Topic Stats"]["Entries"], before + 2, "{stats}");
    assert_eq!(stats["Topic Stats"]["Size"], stats["bytes"], "{stats}");

    cli_ok(&srv, &["notification", "rm", "--bucket", "admin-nb", "--id", "n_3"]);
    assert_eq!(listed_ids(&srv, "admin-nb"), ["n_1", "n_2"]);
    assert_eq!(s3_ids(&srv, "admin-nb").await, ["n_1", "n_2"]);
    put(&srv, "admin-nb", "logs/b").await;
    assert_eq!(
        topic_stats_entries(&srv, "admin-nt", "root"),
        before + 3,
        "only n_1 matched"
    );

    cli_ok(&srv, &["notification", "rm", "--bucket", "admin-nb"]);
    assert!(listed_ids(&srv, "admin-nb").is_empty());
    assert!(s3_ids(&srv, "admin-nb").await.is_empty());
    put(&srv, "admin-nb", "logs/c").await;
    assert_eq!(
        topic_stats_entries(&srv, "admin-nt", "root"),
        before + 3,
        "nothing matches any more"
    );
    let topic = cli_json(&srv, &["topic", "get", "admin-nt", "--user", "root"]);
    assert_eq!(topic["subscribed_buckets"], serde_json::json!([]), "{topic}");
}
