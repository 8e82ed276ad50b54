//! `herald serve --compat ceph`: where Ceph's answers differ from AWS's,
//! checked with the clients Ceph's own notification suite uses (boto3 for
//! topics, a hand-made SigV2 request for GetTopic/ListTopics, the AWS SDK
//! for S3) and a real HTTP receiver. The AWS-mode side of each point is in
//! `compat_aws.rs`.

use herald_testkit::*;
use serde_json::Value;

const ALICE_AK: &str = "ALICEACCESSKEY000001";
const ALICE_SK: &str = "aliceSecretKey/0123456789abcdefghijklmno";
const BOB_AK: &str = "BOBACCESSKEY00000001";
const BOB_SK: &str = "bobSecretKey/0123456789abcdefghijklmnop";
const CAROL_AK: &str = "CAROLACCESSKEY000001";
const CAROL_SK: &str = "carolSecretKey/0123456789abcdefghijklmno";

fn ceph_server() -> TestServer {
    let srv = TestServer::start_with_args(&["--compat", "ceph", "--allow-sigv2"]);
    for (name, ak, sk, tenant) in [
        ("alice", ALICE_AK, ALICE_SK, Some("kaboom")),
        ("bob", BOB_AK, BOB_SK, Some("kaboom")),
        ("carol", CAROL_AK, CAROL_SK, None),
    ] {
        let mut args = vec!["user", "create", name, "--access-key", ak, "--secret-key", sk];
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        let out = srv.cli(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    srv
}

/// Topics, tenants and topic policies, as the suite's topic tests drive
/// them (boto3), plus SigV2-signed GetTopic and ListTopics as its api.py
/// signs them.
const TENANT_SCRIPT: &str = r#"
import base64, hashlib, hmac, json, os, sys, time, urllib.parse, urllib.request
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

URL = os.environ["T_URL"]
failures = []

def sns(ak, sk):
    return boto3.client("sns", endpoint_url=URL, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=Config(retries={"max_attempts": 1}))

def s3(ak, sk):
    return boto3.client("s3", endpoint_url=URL, region_name="us-east-1", aws_access_key_id=ak,
                        aws_secret_access_key=sk, config=Config(retries={"max_attempts": 1}))

def check(cond, msg):
    if not cond:
        failures.append(msg)

def error_of(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None

def sigv2(ak, sk, params):
    """POST / signed with SigV2, exactly as Ceph's api.py does it."""
    body = urllib.parse.urlencode(params).encode()
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    ctype = "application/x-www-form-urlencoded; charset=utf-8"
    sts = "POST\n\n" + ctype + "\n" + date + "\n/"
    sig = base64.b64encode(hmac.new(sk.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    req = urllib.request.Request(URL + "/", data=body, method="POST",
                                 headers={"Authorization": "AWS " + ak + ":" + sig, "Date": date, "Content-Type": ctype})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

env = os.environ
root = sns(env["T_ROOT_AK"], env["T_ROOT_SK"])
alice = sns(env["T_ALICE_AK"], env["T_ALICE_SK"])
bob = sns(env["T_BOB_AK"], env["T_BOB_SK"])
carol = sns(env["T_CAROL_AK"], env["T_CAROL_SK"])
ep = {"push-endpoint": "http://127.0.0.1:9/never"}

# ARNs carry the tenant; the empty tenant is shared by users without one.
arn_root = root.create_topic(Name="t1", Attributes=dict(ep, time_to_live="None", max_retries="None",
                                                       retry_sleep_duration="None"))["TopicArn"]
check(arn_root == "arn:aws:sns:us-east-1::t1", "root's ARN: %s" % arn_root)
arn_alice = alice.create_topic(Name="t1", Attributes=ep)["TopicArn"]
check(arn_alice == "arn:aws:sns:us-east-1:kaboom:t1", "alice's ARN: %s" % arn_alice)

# None means the server's default, shown as None (Ceph's form).
a = root.get_topic_attributes(TopicArn=arn_root)["Attributes"]
check(a.get("TimeToLive") == "None" and a.get("MaxRetries") == "None", "None shown: %r" % a)

# Names are unique per tenant: another user of the tenant (or of the empty
# tenant) reaches the topic only through its policy.
check(error_of(lambda: bob.create_topic(Name="t1", Attributes=ep)) == ("AuthorizationError", 403),
      "bob overwrote alice's topic")
check(error_of(lambda: carol.create_topic(Name="t1", Attributes=ep)) == ("AuthorizationError", 403),
      "carol overwrote root's topic")
check(error_of(lambda: bob.get_topic_attributes(TopicArn=arn_alice)) == ("AuthorizationError", 403),
      "bob read alice's topic without a policy")
check(error_of(lambda: bob.delete_topic(TopicArn=arn_alice)) == ("AuthorizationError", 403),
      "bob deleted alice's topic")
check(arn_alice not in [t["TopicArn"] for t in bob.list_topics()["Topics"]], "bob lists alice's topic")
check(error_of(lambda: carol.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:kaboom:nope"))
      == ("AuthorizationError", 403), "another tenant's missing topic is not told apart")
check(error_of(lambda: alice.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:kaboom:nope"))
      == ("NoSuchEntity", 404), "a missing topic of one's own tenant")

# With a policy, bob may read, list and re-create (overwrite) it; it stays
# alice's, policy included. The policy never shows in EndpointArgs.
# Policies name a tenant's user as Ceph does: arn:aws:iam::<tenant>:user/<uid>.
policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"AWS": ["arn:aws:iam::kaboom:user/bob"]},
    "Action": ["sns:GetTopicAttributes", "sns:CreateTopic"], "Resource": [arn_alice]}]})
alice.set_topic_attributes(TopicArn=arn_alice, AttributeName="Policy", AttributeValue=policy)
a = bob.get_topic_attributes(TopicArn=arn_alice)["Attributes"]
check(a["User"] == "alice", "owner: %r" % a.get("User"))
check("Policy" not in json.loads(a["EndPoint"])["EndpointArgs"], "Policy in EndpointArgs: %r" % a["EndPoint"])
check(arn_alice in [t["TopicArn"] for t in bob.list_topics()["Topics"]], "bob does not list the shared topic")
check(bob.create_topic(Name="t1", Attributes={"OpaqueData": "from-bob"})["TopicArn"] == arn_alice, "overwrite ARN")
# ... but like SetTopicAttributes, never the endpoint (which would take alice's events), and
# not even with alice's own value: an equal value accepted would be an oracle for her secrets.
check(error_of(lambda: bob.create_topic(Name="t1", Attributes={"push-endpoint": "http://127.0.0.1:9/bob"}))
      == ("AuthorizationError", 403), "bob moved alice's endpoint")
check(error_of(lambda: bob.create_topic(Name="t1", Attributes=dict(ep, OpaqueData="x")))
      == ("AuthorizationError", 403), "bob's CreateTopic compared his endpoint with alice's")
a = alice.get_topic_attributes(TopicArn=arn_alice)["Attributes"]
check(a["User"] == "alice" and a["OpaqueData"] == "from-bob", "after bob's overwrite: %r" % a)
check(json.loads(a.get("Policy", "{}")) == json.loads(policy), "the policy survived bob's overwrite")

# Publishing: a tenant's buckets may use its topics unless the policy
# denies it (Ceph's rgw_topic_require_publish_policy=false); another
# tenant's need an Allow. A refused attach is AccessDenied.
c3 = s3(env["T_CAROL_AK"], env["T_CAROL_SK"])
c3.create_bucket(Bucket="carols")
def attach(arn):
    cfg = {"TopicConfigurations": [{"Id": "n", "TopicArn": arn, "Events": ["s3:ObjectCreated:*"]}]}
    return error_of(lambda: c3.put_bucket_notification_configuration(Bucket="carols", NotificationConfiguration=cfg))
check(attach(arn_root) is None, "carol could not use root's topic of their shared (empty) tenant")
check(attach(arn_alice) == ("AccessDenied", 403), "carol used another tenant's topic: %r" % (attach(arn_alice),))
check(attach("arn:aws:sns:us-east-1:kaboom:no-such") == ("AccessDenied", 403),
      "another tenant's missing topic is told apart from a refusing one")
deny = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny",
    "Principal": {"AWS": "arn:aws:iam:::user/carol"}, "Action": ["sns:Publish"], "Resource": arn_root}]})
root.set_topic_attributes(TopicArn=arn_root, AttributeName="Policy", AttributeValue=deny)
check(attach(arn_root) == ("AccessDenied", 403), "a Deny for carol still let her attach")
alice.set_topic_attributes(TopicArn=arn_alice, AttributeName="Policy", AttributeValue=json.dumps({"Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam:::user/carol"}, "Action": ["sns:Publish"],
                   "Resource": arn_alice}]}))
check(attach(arn_alice) is None, "an Allow did not let carol's bucket publish across tenants")

# SigV2 (with --allow-sigv2), as the suite signs GetTopic and ListTopics.
status, body = sigv2(env["T_ALICE_AK"], env["T_ALICE_SK"], {"Action": "GetTopic", "TopicArn": arn_alice})
check(status == 200 and "<TopicArn>" + arn_alice + "</TopicArn>" in body, "SigV2 GetTopic: %s %s" % (status, body))
status, body = sigv2(env["T_ALICE_AK"], env["T_ALICE_SK"], {"Action": "ListTopics"})
check(status == 200 and arn_alice in body, "SigV2 ListTopics: %s %s" % (status, body))
status, body = sigv2(env["T_ALICE_AK"], "wrong-secret", {"Action": "ListTopics"})
check(status == 403 and "SignatureDoesNotMatch" in body, "SigV2 with a wrong secret: %s %s" % (status, body))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn tenants_own_topic_arns_and_share_names_only_through_policies() {
    let srv = ceph_server();
    run_boto3(
        &srv,
        TENANT_SCRIPT,
        &[
            ("T_ROOT_AK", ROOT_ACCESS_KEY),
            ("T_ROOT_SK", ROOT_SECRET_KEY),
            ("T_ALICE_AK", ALICE_AK),
            ("T_ALICE_SK", ALICE_SK),
            ("T_BOB_AK", BOB_AK),
            ("T_BOB_SK", BOB_SK),
            ("T_CAROL_AK", CAROL_AK),
            ("T_CAROL_SK", CAROL_SK),
        ],
    );
    // `herald topic get` as radosgw-admin shows it: Ceph's owner and
    // queue names; a missing topic exits with 2.
    let t = topic_cli_json(&srv, &["get", "t1", "--tenant", "kaboom"]);
    assert_eq!(t["owner"], "kaboom$alice", "{t}");
    assert_eq!(t["arn"], "arn:aws:sns:us-east-1:kaboom:t1", "{t}");
    let root_t1 = topic_cli_json(&srv, &["get", "t1", "--tenant", ""]);
    assert_eq!(root_t1["owner"], "root", "{root_t1}");
    let listed = topic_cli_json(&srv, &["list", "--tenant", "kaboom"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let missing = srv.cli(&["topic", "get", "no-such-topic"]);
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).lines().count(),
        1,
        "{missing:?}"
    );
}

fn records_of(rx: &Receiver) -> Vec<Value> {
    rx.delivered_records()
}

#[tokio::test(flavor = "multi_thread")]
async fn notifications_follow_ceph_test_event_ids_arns_tags_and_multipart() {
    let srv = ceph_server();
    let rx = Receiver::start_new();
    let s3 = srv.s3();
    s3.create_bucket().bucket("ceph-cfg").send().await.unwrap();
    let topic = Sns::root(&srv).create_topic("push", &[("push-endpoint", &rx.url("ceph"))]);
    assert_eq!(topic, "arn:aws:sns:us-east-1::push");

    // PUT ?notification adds or replaces by Id; no TestEvent is sent.
    let put = |cfgs: &[String]| must_put_notification_xml(&srv, "ceph-cfg", &notification_xml(cfgs));
    put(&[topic_config_xml("n1", &topic, &["s3:ObjectRemoved:*"], None)]);
    put(&[topic_config_xml("n2", &topic, &["s3:ObjectCreated:*"], None)]);
    put(&[topic_config_xml("n1", &topic, &["s3:ObjectCreated:Copy"], None)]);
    let now = get_notification_xml(&srv, "ceph-cfg").body_str();
    let ids = xml_all(&now, "Id");
    assert_eq!(ids, vec!["n1", "n2"], "{now}");
    assert!(
        now.contains("s3:ObjectCreated:Copy") && !now.contains("ObjectRemoved"),
        "{now}"
    );

    // Duplicate tag keys are accepted; the record's bucket ARN carries the
    // zonegroup.
    s3.put_object()
        .bucket("ceph-cfg")
        .key("tagged")
        .tagging("hello=world&hello=there")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    rx.wait_for("the tagged object's event", 30, |r| !records_of(r).is_empty())
        .await;
    let rec = &records_of(&rx)[0];
    assert_eq!(rec["s3"]["bucket"]["arn"], "arn:aws:s3:us-east-1::ceph-cfg", "{rec}");
    assert_eq!(rec["awsRegion"], "us-east-1", "{rec}");
    assert_eq!(rec["s3"]["configurationId"], "n2", "{rec}");

    // No event when a multipart upload starts; one when it completes.
    let up = s3
        .create_multipart_upload()
        .bucket("ceph-cfg")
        .key("mpu")
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("ceph-cfg")
        .key("mpu")
        .upload_id(upload_id)
        .part_number(1)
        .body(b"part".to_vec().into())
        .send()
        .await
        .unwrap();
    let done = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    s3.complete_multipart_upload()
        .bucket("ceph-cfg")
        .key("mpu")
        .upload_id(upload_id)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();
    rx.wait_for("the completed upload's event", 30, |r| {
        records_of(r).iter().any(|x| x["s3"]["object"]["key"] == "mpu")
    })
    .await;
    let mpu: Vec<String> = records_of(&rx)
        .iter()
        .filter(|x| x["s3"]["object"]["key"] == "mpu")
        .map(|x| x["eventName"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(mpu, vec!["ObjectCreated:CompleteMultipartUpload"], "{mpu:?}");
    assert!(
        rx.test_events().is_empty(),
        "a TestEvent reached the topic in ceph mode"
    );

    // An empty configuration removes every notification.
    must_put_notification_xml(&srv, "ceph-cfg", "<NotificationConfiguration/>");
    let now = get_notification_xml(&srv, "ceph-cfg").body_str();
    assert!(xml_all(&now, "Id").is_empty(), "{now}");
}

/// `--topic-require-publish-policy` (Ceph's
/// `rgw_topic_require_publish_policy`): within the tenant too, another
/// user's bucket needs the topic policy's Allow.
#[tokio::test(flavor = "multi_thread")]
async fn require_publish_policy_closes_the_tenant() {
    let srv = TestServer::start_with_args(&["--compat", "ceph", "--topic-require-publish-policy"]);
    srv.create_user("carol", CAROL_AK, CAROL_SK);
    let topic = Sns::root(&srv).create_topic("closed", &[("push-endpoint", "http://127.0.0.1:9/x")]);
    srv.s3_as(CAROL_AK, CAROL_SK)
        .create_bucket()
        .bucket("carol-b")
        .send()
        .await
        .unwrap();
    let xml = notification_xml(&[topic_config_xml("n", &topic, &["s3:ObjectCreated:*"], None)]);
    let r = put_notification_xml_as(&srv, CAROL_AK, CAROL_SK, "carol-b", &xml);
    assert_eq!(r.status, 403, "{}", r.body_str());
    assert_eq!(xml_first(&r.body_str(), "Code").as_deref(), Some("AccessDenied"));
}

/// A lifecycle expiration goes by Ceph's and AWS's names; a Ceph entry
/// selecting both gets a record for each (`radosgw-admin lc process`
/// here is `herald lifecycle process`). Every entry needs an Id, and
/// DELETE ?notification=<id> answers 200.
#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_names_ids_and_delete_status_follow_ceph() {
    use aws_sdk_s3::types::{
        BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter,
    };
    let srv = ceph_server();
    let rx = Receiver::start_new();
    let s3 = srv.s3();
    s3.create_bucket().bucket("ceph-lc").send().await.unwrap();
    let topic = Sns::root(&srv).create_topic("lc", &[("push-endpoint", &rx.url("lc")), ("persistent", "true")]);

    let unnamed = "<NotificationConfiguration><TopicConfiguration><Topic>TOPIC</Topic></TopicConfiguration></NotificationConfiguration>"
        .replace("TOPIC", &topic);
    let r = put_notification_xml(&srv, "ceph-lc", &unnamed);
    assert_eq!(r.status, 400, "an entry without Id: {}", r.body_str());
    assert_eq!(xml_first(&r.body_str(), "Code").as_deref(), Some("InvalidArgument"));

    must_put_notification_xml(
        &srv,
        "ceph-lc",
        &notification_xml(&[topic_config_xml(
            "both",
            &topic,
            &["s3:ObjectLifecycle:Expiration:*", "s3:LifecycleExpiration:*"],
            None,
        )]),
    );
    s3.put_object()
        .bucket("ceph-lc")
        .key("old/a")
        .body(b"a".to_vec().into())
        .send()
        .await
        .unwrap();
    let yesterday = aws_sdk_s3::primitives::DateTime::from_secs(
        (time::OffsetDateTime::now_utc().unix_timestamp() / 86_400 - 1) * 86_400,
    );
    let rule = LifecycleRule::builder()
        .id("old")
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix("old/").build())
        .expiration(LifecycleExpiration::builder().date(yesterday).build())
        .build()
        .unwrap();
    s3.put_bucket_lifecycle_configuration()
        .bucket("ceph-lc")
        .lifecycle_configuration(BucketLifecycleConfiguration::builder().rules(rule).build().unwrap())
        .send()
        .await
        .unwrap();
    let out = srv.cli(&["lifecycle", "process", "--bucket", "ceph-lc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    rx.wait_for("both names of the expiration", 30, |r| r.delivered_records().len() >= 2)
        .await;
    let mut names: Vec<String> = rx
        .delivered_records()
        .iter()
        .map(|x| x["eventName"].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["LifecycleExpiration:Delete", "ObjectLifecycle:Expiration:Current"],
        "{names:?}"
    );

    let r = s3_raw(
        &srv,
        ROOT_ACCESS_KEY,
        ROOT_SECRET_KEY,
        "DELETE",
        "/ceph-lc?notification=both",
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.body_str());
}
