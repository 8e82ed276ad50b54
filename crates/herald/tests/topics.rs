//! The SNS-style topic API of bucket notifications, driven by boto3 (a
//! Python script run from the test), by the real `aws sns` CLI, by raw
//! signed requests (the deprecated GetTopic), and the `herald topic` CLI.

use std::process::Stdio;

use herald_testkit::*;
use serde_json::Value;

const BOB_AK: &str = "BOBACCESSKEY00000001";
const BOB_SK: &str = "bobSecretKey/0123456789abcdefghijklmnop";

const BOTO3_SCRIPT: &str = r#"
import json, os, sys
try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as e:
    print("boto3 is not installed (%s): pip install boto3" % e)
    sys.exit(3)

URL = os.environ["T_URL"]
failures = []

def client(ak, sk):
    return boto3.client("sns", endpoint_url=URL, region_name="us-east-1",
                        aws_access_key_id=ak, aws_secret_access_key=sk,
                        config=Config(retries={"max_attempts": 1}))

def check(cond, msg):
    if not cond:
        failures.append(msg)

def expect_error(fn, code, status, what):
    try:
        r = fn()
    except ClientError as e:
        got_code = e.response.get("Error", {}).get("Code")
        got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        check(got_code == code and (status is None or got_status == status),
              "%s: expected %s (%s), got %r (%r)" % (what, code, status, got_code, got_status))
        return
    failures.append("%s: expected %s (%s), got success %r" % (what, code, status, r))

def attrs(c, arn):
    return c.get_topic_attributes(TopicArn=arn)["Attributes"]

def endpoint(a):
    try:
        return json.loads(a.get("EndPoint", ""))
    except Exception as e:
        failures.append("EndPoint is not JSON (%s): %r" % (e, a.get("EndPoint")))
        return {}

def truthy(v):
    return str(v).lower() == "true"

root = client(os.environ["T_ROOT_AK"], os.environ["T_ROOT_SK"])
bob = client(os.environ["T_BOB_AK"], os.environ["T_BOB_SK"])

# --- create + attributes
arn = root.create_topic(Name="t1", Attributes={
    "push-endpoint": "http://127.0.0.1:1/x", "persistent": "true", "OpaqueData": "abc",
    "time_to_live": "100", "max_retries": "5", "retry_sleep_duration": "2"})["TopicArn"]
check(arn == "arn:aws:sns:us-east-1:root:t1", "CreateTopic ARN: expected arn:aws:sns:us-east-1:root:t1, got %r" % arn)
a = attrs(root, arn)
check(a.get("User") == "root", "User: expected 'root', got %r" % a.get("User"))
check(a.get("Name") == "t1", "Name: expected 't1', got %r" % a.get("Name"))
check(a.get("TopicArn") == arn, "TopicArn attribute: expected %r, got %r" % (arn, a.get("TopicArn")))
check(a.get("OpaqueData") == "abc", "OpaqueData: expected 'abc', got %r" % a.get("OpaqueData"))
ep = endpoint(a)
check(ep.get("EndpointAddress") == "http://127.0.0.1:1/x", "EndPoint.EndpointAddress: got %r" % ep.get("EndpointAddress"))
check(ep.get("EndpointTopic") == "t1", "EndPoint.EndpointTopic: expected 't1', got %r" % ep.get("EndpointTopic"))
check("push-endpoint=http://127.0.0.1:1/x" in str(ep.get("EndpointArgs")), "EndPoint.EndpointArgs lacks push-endpoint: %r" % ep.get("EndpointArgs"))
check(str(ep.get("HasStoredSecret")).lower() == "false", "EndPoint.HasStoredSecret: expected false, got %r" % ep.get("HasStoredSecret"))
check(truthy(ep.get("Persistent")), "EndPoint.Persistent: expected true, got %r" % ep.get("Persistent"))
check(truthy(a.get("Persistent")), "Persistent attribute: expected true, got %r" % a.get("Persistent"))
check(a.get("TimeToLive") == "100", "TimeToLive: expected '100', got %r" % a.get("TimeToLive"))
check(a.get("MaxRetries") == "5", "MaxRetries: expected '5', got %r" % a.get("MaxRetries"))
check(a.get("RetrySleepDuration") == "2", "RetrySleepDuration: expected '2', got %r" % a.get("RetrySleepDuration"))
check("SubscriptionStatus" in a, "SubscriptionStatus attribute missing; got keys %r" % sorted(a.keys()))

# --- list
arn2 = root.create_topic(Name="t2", Attributes={"push-endpoint": "http://127.0.0.1:1/y"})["TopicArn"]
arns = [t["TopicArn"] for t in root.list_topics()["Topics"]]
check(arn in arns and arn2 in arns, "ListTopics: expected %r and %r in %r" % (arn, arn2, arns))
check(len(arns) == len(set(arns)), "ListTopics has duplicates: %r" % arns)
check(not truthy(attrs(root, arn2).get("Persistent")), "t2 Persistent should default to false: %r" % attrs(root, arn2).get("Persistent"))

# --- set-topic-attributes
root.set_topic_attributes(TopicArn=arn, AttributeName="OpaqueData", AttributeValue="xyz")
check(attrs(root, arn).get("OpaqueData") == "xyz", "SetTopicAttributes OpaqueData: got %r" % attrs(root, arn).get("OpaqueData"))
root.set_topic_attributes(TopicArn=arn, AttributeName="push-endpoint", AttributeValue="http://127.0.0.1:3/z")
check(endpoint(attrs(root, arn)).get("EndpointAddress") == "http://127.0.0.1:3/z",
      "SetTopicAttributes push-endpoint: EndpointAddress %r" % endpoint(attrs(root, arn)).get("EndpointAddress"))
root.set_topic_attributes(TopicArn=arn, AttributeName="max_retries", AttributeValue="7")
check(attrs(root, arn).get("MaxRetries") == "7", "SetTopicAttributes max_retries: MaxRetries %r" % attrs(root, arn).get("MaxRetries"))
expect_error(lambda: root.set_topic_attributes(TopicArn=arn, AttributeName="persistent", AttributeValue="maybe"),
             "InvalidArgument", 400, "SetTopicAttributes persistent=maybe")
check(attrs(root, arn).get("OpaqueData") == "xyz", "failed SetTopicAttributes changed the topic: %r" % attrs(root, arn))
expect_error(lambda: root.set_topic_attributes(TopicArn="arn:aws:sns:us-east-1:root:nope", AttributeName="OpaqueData", AttributeValue="q"),
             "NoSuchEntity", 404, "SetTopicAttributes on an unknown topic")

# --- re-create updates
arn_again = root.create_topic(Name="t1", Attributes={"push-endpoint": "http://127.0.0.1:2/y", "OpaqueData": "def", "persistent": "false"})["TopicArn"]
check(arn_again == arn, "re-create changed the ARN: %r vs %r" % (arn_again, arn))
a = attrs(root, arn)
check(a.get("OpaqueData") == "def", "re-create OpaqueData: expected 'def', got %r" % a.get("OpaqueData"))
check(endpoint(a).get("EndpointAddress") == "http://127.0.0.1:2/y", "re-create EndpointAddress: got %r" % endpoint(a).get("EndpointAddress"))
check(not truthy(a.get("Persistent")), "re-create persistent=false: Persistent %r" % a.get("Persistent"))
arns = [t["TopicArn"] for t in root.list_topics()["Topics"]]
check(arns.count(arn) == 1, "after re-create ListTopics should list t1 once: %r" % arns)

# --- unknown topic
expect_error(lambda: root.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:root:no-such-topic"),
             "NoSuchEntity", 404, "GetTopicAttributes on an unknown topic")

# --- invalid values
bad = [
    {"persistent": "maybe"},
    {"amqp-ack-level": "bogus"},
    {"kafka-ack-level": "bogus"},
    {"mechanism": "BOGUS-MECH"},
    {"time_to_live": "abc"},
    {"max_retries": "-1"},
    {"retry_sleep_duration": "soon"},
    {"verify-ssl": "maybe"},
    {"use-ssl": "maybe"},
    {"cloudevents": "maybe"},
    {"push-timeout": "abc"},
    {"subscription-confirmation": "maybe"},
]
for i, extra in enumerate(bad):
    name = "bad%d" % i
    at = {"push-endpoint": "http://127.0.0.1:1/x"}
    at.update(extra)
    expect_error(lambda: root.create_topic(Name=name, Attributes=at), "InvalidArgument", 400, "CreateTopic with %r" % extra)
    expect_error(lambda: root.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:root:" + name),
                 "NoSuchEntity", 404, "topic refused for %r must not exist" % extra)

# valid enumerations are accepted
for extra in [{"amqp-ack-level": "routable"}, {"kafka-ack-level": "broker"}, {"mechanism": "SCRAM-SHA-512"},
              {"verify-ssl": "false"}, {"cloudevents": "true"}, {"push-timeout": "5"}, {"time_to_live": "0"}]:
    at = {"push-endpoint": "http://127.0.0.1:1/x"}
    at.update(extra)
    try:
        root.create_topic(Name="good", Attributes=at)
    except ClientError as e:
        failures.append("CreateTopic with valid %r refused: %s" % (extra, e))

# user:password over plain HTTP is refused
expect_error(lambda: root.create_topic(Name="secret-http", Attributes={"push-endpoint": "http://user:password@127.0.0.1:1/x"}),
             "InvalidArgument", 400, "CreateTopic with user:password@ in an http:// push-endpoint")
expect_error(lambda: root.get_topic_attributes(TopicArn="arn:aws:sns:us-east-1:root:secret-http"),
             "NoSuchEntity", 404, "refused secret-http topic must not exist")

expect_error(lambda: root.set_topic_attributes(TopicArn=arn2, AttributeName="push-endpoint", AttributeValue="http://user:password@127.0.0.1:1/x"),
             "InvalidArgument", 400, "SetTopicAttributes push-endpoint with user:password@ over http://")
check("user:password" not in str(endpoint(attrs(root, arn2)).get("EndpointAddress")), "refused credentials were stored on t2")

# --- per-user isolation
shared_root = root.create_topic(Name="shared", Attributes={"push-endpoint": "http://127.0.0.1:1/root", "OpaqueData": "root-data"})["TopicArn"]
bob_arns = [t["TopicArn"] for t in bob.list_topics()["Topics"]]
check(all(":root:" not in x for x in bob_arns), "bob's ListTopics shows root's topics: %r" % bob_arns)
try:
    r = bob.get_topic_attributes(TopicArn=shared_root)
    failures.append("bob could read root's topic: %r" % r.get("Attributes"))
except ClientError as e:
    st = e.response["ResponseMetadata"]["HTTPStatusCode"]
    check(st in (403, 404), "bob GetTopicAttributes(root's topic): expected 403/404, got %r" % st)
try:
    bob.delete_topic(TopicArn=shared_root)
except ClientError:
    pass
try:
    check(attrs(root, shared_root).get("OpaqueData") == "root-data", "root's topic changed after bob's DeleteTopic")
except ClientError as e:
    failures.append("bob deleted root's topic (root now gets %s)" % e)
try:
    r = bob.set_topic_attributes(TopicArn=shared_root, AttributeName="OpaqueData", AttributeValue="bob-was-here")
except ClientError:
    pass
check(attrs(root, shared_root).get("OpaqueData") == "root-data", "bob's SetTopicAttributes changed root's topic: %r" % attrs(root, shared_root).get("OpaqueData"))
shared_bob = bob.create_topic(Name="shared", Attributes={"push-endpoint": "http://127.0.0.1:1/bob", "OpaqueData": "bob-data"})["TopicArn"]
check(shared_bob == "arn:aws:sns:us-east-1:bob:shared", "bob's ARN: expected arn:aws:sns:us-east-1:bob:shared, got %r" % shared_bob)
check(attrs(root, shared_root).get("OpaqueData") == "root-data", "bob's CreateTopic of the same name changed root's topic")
check(attrs(bob, shared_bob).get("User") == "bob", "bob's topic User: %r" % attrs(bob, shared_bob).get("User"))
bob_arns = [t["TopicArn"] for t in bob.list_topics()["Topics"]]
check(bob_arns == [shared_bob], "bob's ListTopics: expected only %r, got %r" % (shared_bob, bob_arns))

# --- delete twice
root.delete_topic(TopicArn=arn)
try:
    root.delete_topic(TopicArn=arn)
except ClientError as e:
    failures.append("second DeleteTopic is an error: %s" % e)
expect_error(lambda: root.get_topic_attributes(TopicArn=arn), "NoSuchEntity", 404, "GetTopicAttributes after DeleteTopic")
arns = [t["TopicArn"] for t in root.list_topics()["Topics"]]
check(arn not in arns and arn2 in arns, "ListTopics after delete: %r" % arns)

print(json.dumps(failures, indent=1))
sys.exit(1 if failures else 0)
"#;

#[test]
fn boto3_topic_api() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB_AK, BOB_SK);
    run_boto3(
        &srv,
        BOTO3_SCRIPT,
        &[
            ("T_ROOT_AK", ROOT_ACCESS_KEY),
            ("T_ROOT_SK", ROOT_SECRET_KEY),
            ("T_BOB_AK", BOB_AK),
            ("T_BOB_SK", BOB_SK),
        ],
    );
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn aws_sns(srv: &TestServer, args: &[&str]) -> std::process::Output {
    let mut c = aws_cli_command(srv);
    c.arg("--output")
        .arg("json")
        .arg("sns")
        .args(args)
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdin(Stdio::null());
    match c.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run the aws CLI ({e}); install it with `pip install awscli`"),
    }
}

fn aws_sns_ok(srv: &TestServer, args: &[&str]) -> Value {
    let out = aws_sns(srv, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "aws sns {} failed ({}):\nstdout: {stdout}\nstderr: {}\nserver log tail:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr),
        tail(&srv.logs())
    );
    if stdout.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("aws output not JSON ({e}): {stdout}"))
    }
}

#[test]
fn aws_cli_sns() {
    let srv = TestServer::start();
    let v = aws_sns_ok(
        &srv,
        &[
            "create-topic",
            "--name",
            "t",
            "--attributes",
            "push-endpoint=http://127.0.0.1:1/x,persistent=true,OpaqueData=abc",
        ],
    );
    let arn = v["TopicArn"].as_str().unwrap_or_default().to_string();
    assert_eq!(arn, "arn:aws:sns:us-east-1:root:t", "create-topic output: {v}");

    let v = aws_sns_ok(&srv, &["get-topic-attributes", "--topic-arn", &arn]);
    let a = &v["Attributes"];
    assert_eq!(a["Name"], "t", "{v}");
    assert_eq!(a["User"], "root", "{v}");
    assert_eq!(a["TopicArn"], arn.as_str(), "{v}");
    assert_eq!(a["OpaqueData"], "abc", "{v}");
    let ep: Value = serde_json::from_str(a["EndPoint"].as_str().unwrap_or(""))
        .unwrap_or_else(|e| panic!("EndPoint is not a JSON string ({e}): {v}"));
    assert_eq!(ep["EndpointAddress"], "http://127.0.0.1:1/x", "{ep}");
    assert_eq!(ep["EndpointTopic"], "t", "{ep}");
    assert_eq!(
        ep["Persistent"].to_string().trim_matches('"').to_lowercase(),
        "true",
        "{ep}"
    );

    let v = aws_sns_ok(&srv, &["list-topics"]);
    let arns: Vec<&str> = v["Topics"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["TopicArn"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(arns, vec![arn.as_str()], "list-topics: {v}");

    aws_sns_ok(
        &srv,
        &[
            "set-topic-attributes",
            "--topic-arn",
            &arn,
            "--attribute-name",
            "OpaqueData",
            "--attribute-value",
            "changed",
        ],
    );
    let v = aws_sns_ok(&srv, &["get-topic-attributes", "--topic-arn", &arn]);
    assert_eq!(v["Attributes"]["OpaqueData"], "changed", "{v}");

    // Re-create updates.
    let v = aws_sns_ok(
        &srv,
        &[
            "create-topic",
            "--name",
            "t",
            "--attributes",
            "push-endpoint=http://127.0.0.1:2/y,persistent=false,OpaqueData=again",
        ],
    );
    assert_eq!(v["TopicArn"], arn.as_str());
    let v = aws_sns_ok(&srv, &["get-topic-attributes", "--topic-arn", &arn]);
    assert_eq!(v["Attributes"]["OpaqueData"], "again", "{v}");
    let ep: Value = serde_json::from_str(v["Attributes"]["EndPoint"].as_str().unwrap_or("")).unwrap();
    assert_eq!(ep["EndpointAddress"], "http://127.0.0.1:2/y", "{ep}");

    // Invalid value.
    let out = aws_sns(
        &srv,
        &["create-topic", "--name", "bad", "--attributes", "persistent=maybe"],
    );
    assert!(!out.status.success(), "persistent=maybe accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("InvalidArgument"), "expected InvalidArgument, got: {err}");

    aws_sns_ok(&srv, &["delete-topic", "--topic-arn", &arn]);
    aws_sns_ok(&srv, &["delete-topic", "--topic-arn", &arn]);
    let out = aws_sns(&srv, &["get-topic-attributes", "--topic-arn", &arn]);
    assert!(!out.status.success(), "topic still readable after delete-topic");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NoSuchEntity"), "expected NoSuchEntity, got: {err}");
    let v = aws_sns_ok(&srv, &["list-topics"]);
    assert_eq!(v["Topics"].as_array().map(|a| a.len()).unwrap_or(0), 0, "{v}");
}

#[test]
fn raw_sns_get_topic_and_error_document() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let arn = sns.create_topic(
        "raw",
        &[("push-endpoint", "http://127.0.0.1:1/raw"), ("OpaqueData", "od")],
    );
    assert_eq!(arn, "arn:aws:sns:us-east-1:root:raw");

    // Deprecated GetTopic.
    let r = sns.call("GetTopic", &[("TopicArn", &arn)]);
    let body = r.body_str();
    assert_eq!(r.status, 200, "GetTopic: {body}");
    assert_eq!(xml_first(&body, "TopicArn").as_deref(), Some(arn.as_str()), "{body}");
    assert_eq!(xml_first(&body, "Name").as_deref(), Some("raw"), "{body}");
    assert_eq!(
        xml_first(&body, "EndpointAddress").as_deref(),
        Some("http://127.0.0.1:1/raw"),
        "{body}"
    );
    assert_eq!(xml_first(&body, "OpaqueData").as_deref(), Some("od"), "{body}");

    // CreateTopic answer shape.
    let r = sns.call("CreateTopic", &[("Name", "raw2")]);
    let body = r.body_str();
    assert_eq!(r.status, 200, "{body}");
    assert!(body.contains("<CreateTopicResponse"), "{body}");
    assert!(body.contains("<RequestId>"), "{body}");
    assert!(
        r.header("content-type").unwrap_or("").contains("xml"),
        "Content-Type {:?}",
        r.header("content-type")
    );

    // Unknown topic: 404 NoSuchEntity.
    let r = sns.call("GetTopicAttributes", &[("TopicArn", "arn:aws:sns:us-east-1:root:nope")]);
    assert_eq!(r.status, 404, "{}", r.body_str());
    assert_eq!(
        xml_first(&r.body_str(), "Code").as_deref(),
        Some("NoSuchEntity"),
        "{}",
        r.body_str()
    );
    let r = sns.call("GetTopic", &[("TopicArn", "arn:aws:sns:us-east-1:root:nope")]);
    assert_eq!(r.status, 404, "GetTopic unknown: {}", r.body_str());

    // Signed with a wrong secret: refused.
    let bad = Sns::new(&srv, ROOT_ACCESS_KEY, "wrong-secret-wrong-secret-wrong-secret00");
    let r = bad.call("ListTopics", &[]);
    assert_eq!(r.status, 403, "badly signed ListTopics: {}", r.body_str());
    // Unsigned: refused.
    let r = raw_request(
        srv.addr(),
        "POST",
        "/",
        &[("content-type", "application/x-www-form-urlencoded")],
        b"Action=ListTopics&Version=2010-03-31",
    )
    .unwrap();
    assert!(
        r.status == 403 || r.status == 401,
        "unsigned ListTopics: {} {}",
        r.status,
        r.body_str()
    );
}

#[test]
fn herald_topic_cli() {
    let srv = TestServer::start();
    srv.create_user("bob", BOB_AK, BOB_SK);
    let root = Sns::root(&srv);
    let bob = Sns::new(&srv, BOB_AK, BOB_SK);
    let root_arn = root.create_topic(
        "cli-t",
        &[("push-endpoint", "http://127.0.0.1:1/r"), ("OpaqueData", "r")],
    );
    let bob_arn = bob.create_topic(
        "cli-t",
        &[("push-endpoint", "http://127.0.0.1:1/b"), ("OpaqueData", "b")],
    );
    bob.create_topic("bob-only", &[("push-endpoint", "http://127.0.0.1:1/b2")]);

    let list = topic_cli_json(&srv, &["list"]);
    let arr = list
        .as_array()
        .unwrap_or_else(|| panic!("topic list is not a JSON array: {list}"));
    let text = list.to_string();
    assert_eq!(arr.len(), 3, "topic list: {list}");
    for a in [&root_arn, &bob_arn, "arn:aws:sns:us-east-1:bob:bob-only"] {
        assert!(text.contains(a), "topic list lacks {a}: {list}");
    }

    let got = topic_cli_json(&srv, &["get", "cli-t", "--user", "bob"]);
    let t = got.to_string();
    assert!(t.contains(&bob_arn), "topic get --user bob: {got}");
    assert!(t.contains("http://127.0.0.1:1/b"), "topic get --user bob: {got}");
    assert!(!t.contains(&root_arn), "topic get --user bob shows root's: {got}");
    let got = topic_cli_json(&srv, &["get", "cli-t", "--user", "root"]);
    assert!(got.to_string().contains(&root_arn), "topic get --user root: {got}");

    // Unknown topic: non-zero exit.
    let out = srv.cli(&["topic", "get", "nope", "--user", "root"]);
    assert!(
        !out.status.success(),
        "topic get nope succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    topic_cli(&srv, &["rm", "cli-t", "--user", "bob"]);
    let e = bob
        .get_topic_attributes(&bob_arn)
        .expect_err("bob's topic still there after topic rm");
    assert_eq!((e.status, e.code.as_str()), (404, "NoSuchEntity"), "{e:?}");
    root.get_topic_attributes(&root_arn)
        .expect("topic rm --user bob removed root's topic of the same name");
    let list = topic_cli_json(&srv, &["list"]);
    assert_eq!(list.as_array().map(|a| a.len()), Some(2), "after rm: {list}");
}

/// Ceph's empty-account topic ARN (`arn:aws:sns:<region>::<name>`) names
/// the caller's own topic: in the topic API and in notification
/// configurations (stored in the full form).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_empty_account_arn_names_the_callers_own_topic() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    let full = sns.create_topic("ceph-form", &[("push-endpoint", "http://127.0.0.1:1/")]);
    let short = format!("arn:aws:sns:{REGION}::ceph-form");
    let attrs = sns
        .get_topic_attributes(&short)
        .expect("the empty-account form is the caller's");
    assert_eq!(attrs["TopicArn"], full);
    srv.s3().create_bucket().bucket("ceph-arn").send().await.unwrap();
    must_put_notification_xml(
        &srv,
        "ceph-arn",
        &notification_xml(&[topic_config_xml("c", &short, &["s3:ObjectCreated:*"], None)]),
    );
    let got = signed_request(
        Signer {
            addr: srv.addr(),
            service: "s3",
            access: ROOT_ACCESS_KEY,
            secret: ROOT_SECRET_KEY,
        },
        "GET",
        "/ceph-arn?notification",
        &[],
        b"",
    )
    .body_str();
    assert!(got.contains(&format!("<Topic>{full}</Topic>")), "{got}");
    let r = sns.call("DeleteTopic", &[("TopicArn", &short)]);
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(sns.get_topic_attributes(&full).is_err(), "deleted");
}
