//! Evaluation: effects, actions, resources, negated elements, variables.

use herald_policy::{Context, Decision, Principal, Request};

use crate::common::*;

#[test]
fn allow_and_not_applicable() {
    let p = one("Allow", "s3:GetObject", "arn:aws:s3:::photos/*", "");
    let ctx = Context::new();
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::Allow);
    assert_eq!(decide(&p, BOB, "s3:PutObject", OBJ, &ctx), Decision::NotApplicable);
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::other/cat.jpg", &ctx),
        Decision::NotApplicable
    );
}

#[test]
fn explicit_deny_wins_whatever_the_order() {
    for (first, second) in [("Allow", "Deny"), ("Deny", "Allow")] {
        let p = policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":[
                {{"Effect":"{first}","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::photos/*"}},
                {{"Effect":"{second}","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/cat.jpg"}}]}}"#
        ));
        let ctx = Context::new();
        let expect_get = Decision::ExplicitDeny;
        let expect_put = if first == "Allow" {
            Decision::Allow
        } else {
            Decision::ExplicitDeny
        };
        assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), expect_get, "{first}/{second}");
        assert_eq!(
            decide(&p, BOB, "s3:PutObject", OBJ, &ctx),
            expect_put,
            "{first}/{second}"
        );
    }
}

#[test]
fn deny_alone_is_explicit() {
    let p = one("Deny", "s3:DeleteObject", "*", "");
    let ctx = Context::new();
    assert_eq!(decide(&p, BOB, "s3:DeleteObject", OBJ, &ctx), Decision::ExplicitDeny);
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::NotApplicable);
}

#[test]
fn deny_with_condition_applies_only_when_it_holds() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"all","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"},
            {"Sid":"tls","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*",
             "Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}"#,
    );
    let plain = Context::new().with("aws:SecureTransport", "false");
    let tls = Context::new().with("aws:SecureTransport", "true");
    assert_eq!(decide(&p, BOB, GET, OBJ, &plain), Decision::ExplicitDeny);
    assert_eq!(decide(&p, BOB, GET, OBJ, &tls), Decision::Allow);
}

#[test]
fn wildcard_actions() {
    let ctx = Context::new();
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "s3:Get*",
            &[
                ("s3:GetObject", true),
                ("s3:getobjecttagging", true),
                ("s3:PutObject", false),
                ("sqs:GetQueueUrl", false),
            ],
        ),
        (
            "sqs:*",
            &[
                ("sqs:SendMessage", true),
                ("SQS:ReceiveMessage", true),
                ("sns:Publish", false),
            ],
        ),
        ("*", &[("s3:GetObject", true), ("sns:Publish", true)]),
        (
            "s3:?etObject",
            &[("s3:GetObject", true), ("s3:SetObject", true), ("s3:GetObjects", false)],
        ),
        ("S3:GETOBJECT", &[("s3:GetObject", true), ("s3:GetObjectAcl", false)]),
        (
            "s3:*Object*",
            &[("s3:GetObjectTagging", true), ("s3:ListBucket", false)],
        ),
    ];
    for (pattern, checks) in cases {
        let p = one("Allow", pattern, "*", "");
        for (action, expect) in *checks {
            let d = decide(&p, BOB, action, OBJ, &ctx);
            assert_eq!(d == Decision::Allow, *expect, "{pattern} vs {action}");
        }
    }
}

#[test]
fn action_arrays() {
    let p = policy(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}}"#,
    );
    let ctx = Context::new();
    assert_eq!(
        decide(&p, BOB, "s3:ListBucket", "arn:aws:s3:::photos", &ctx),
        Decision::Allow
    );
    assert_eq!(decide(&p, BOB, "s3:PutObject", OBJ, &ctx), Decision::NotApplicable);
}

#[test]
fn wildcard_resources() {
    let ctx = Context::new();
    let cases: &[(&str, &[(&str, bool)])] = &[
        (
            "arn:aws:s3:::photos/*",
            &[
                ("arn:aws:s3:::photos/cat.jpg", true),
                ("arn:aws:s3:::photos/a/b/c", true),
                ("arn:aws:s3:::photos", false),
                ("arn:aws:s3:::Photos/cat.jpg", false),
                ("arn:aws:s3:::photos2/cat.jpg", false),
            ],
        ),
        (
            "arn:aws:s3:::photos/*.jpg",
            &[
                ("arn:aws:s3:::photos/x/cat.jpg", true),
                ("arn:aws:s3:::photos/cat.JPG", false),
            ],
        ),
        (
            "arn:aws:s3:::photos/cat?.jpg",
            &[
                ("arn:aws:s3:::photos/cat1.jpg", true),
                ("arn:aws:s3:::photos/cat.jpg", false),
            ],
        ),
        (
            "arn:aws:s3:::*",
            &[("arn:aws:s3:::anything/at/all", true), ("arn:aws:sqs:r:a:q", false)],
        ),
        (
            "arn:aws:sqs:*:alice:queue",
            &[
                ("arn:aws:sqs:us-east-1:alice:queue", true),
                ("arn:aws:sqs:default:alice:queue", true),
                ("arn:aws:sqs:us-east-1:bob:queue", false),
                ("arn:aws:sqs:us-east-1:alice:queue2", false),
            ],
        ),
        ("*", &[("arn:aws:sns:r:alice:t", true), ("arn:aws:s3:::b", true)]),
    ];
    for (pattern, checks) in cases {
        let p = one("Allow", "*", pattern, "");
        for (resource, expect) in *checks {
            let d = decide(&p, BOB, GET, resource, &ctx);
            assert_eq!(d == Decision::Allow, *expect, "{pattern} vs {resource}");
        }
    }
}

#[test]
fn resource_arrays() {
    let p = policy(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*",
            "Resource":["arn:aws:s3:::photos","arn:aws:s3:::photos/*"]}}"#,
    );
    let ctx = Context::new();
    assert_eq!(
        decide(&p, BOB, "s3:ListBucket", "arn:aws:s3:::photos", &ctx),
        Decision::Allow
    );
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::Allow);
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::docs/x", &ctx),
        Decision::NotApplicable
    );
}

#[test]
fn not_action() {
    let p =
        policy(r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":["s3:Get*","s3:List*"],"Resource":"*"}}"#);
    let ctx = Context::new();
    assert_eq!(decide(&p, BOB, "s3:PutObject", OBJ, &ctx), Decision::ExplicitDeny);
    assert_eq!(decide(&p, BOB, "s3:DeleteObject", OBJ, &ctx), Decision::ExplicitDeny);
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::NotApplicable);
    assert_eq!(decide(&p, BOB, "s3:ListBucket", OBJ, &ctx), Decision::NotApplicable);
}

#[test]
fn not_resource() {
    let p = policy(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","NotResource":"arn:aws:s3:::photos/private/*"}}"#,
    );
    let ctx = Context::new();
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::Allow);
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::photos/private/x", &ctx),
        Decision::NotApplicable
    );
}

#[test]
fn not_principal() {
    let p = policy(
        r#"{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::bob:user/bob"},"Action":"s3:*","Resource":"*"}}"#,
    );
    let ctx = Context::new();
    assert_eq!(decide(&p, BOB, GET, OBJ, &ctx), Decision::NotApplicable);
    assert_eq!(decide(&p, ALICE, GET, OBJ, &ctx), Decision::ExplicitDeny);
    assert_eq!(decide(&p, Principal::Anonymous, GET, OBJ, &ctx), Decision::ExplicitDeny);
    assert_eq!(
        decide(&p, Principal::Service("s3.amazonaws.com"), GET, OBJ, &ctx),
        Decision::ExplicitDeny
    );
}

#[test]
fn resource_variables() {
    let p = one("Allow", "s3:*", "arn:aws:s3:::home/${aws:username}/*", "");
    let ctx = Context::new();
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::home/bob/notes.txt", &ctx),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::home/alice/notes.txt", &ctx),
        Decision::NotApplicable
    );
    assert_eq!(
        decide(&p, ALICE, GET, "arn:aws:s3:::home/alice/notes.txt", &ctx),
        Decision::Allow
    );
    // Anonymous has no user name: the variable does not resolve and the
    // resource matches nothing (not even `home//…`).
    assert_eq!(
        decide(&p, Principal::Anonymous, GET, "arn:aws:s3:::home//x", &ctx),
        Decision::NotApplicable
    );
    assert_eq!(
        decide(
            &p,
            Principal::Anonymous,
            GET,
            "arn:aws:s3:::home/${aws:username}/x",
            &ctx
        ),
        Decision::NotApplicable
    );
    // A context key stands in as well, when single-valued.
    let p = one("Allow", "s3:*", "arn:aws:s3:::logs/${s3:prefix}", "");
    let one_value = Context::new().with("s3:prefix", "2024");
    let two_values = Context::new().with("s3:prefix", "2024").with("s3:prefix", "2025");
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::logs/2024", &one_value),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::logs/2024", &two_values),
        Decision::NotApplicable
    );
}

#[test]
fn resource_variable_defaults_and_escapes() {
    let p = one("Allow", "s3:*", "arn:aws:s3:::home/${aws:username, 'guest'}/*", "");
    let ctx = Context::new();
    assert_eq!(
        decide(&p, Principal::Anonymous, GET, "arn:aws:s3:::home/guest/x", &ctx),
        Decision::Allow
    );
    assert_eq!(decide(&p, BOB, GET, "arn:aws:s3:::home/bob/x", &ctx), Decision::Allow);
    let p = one("Allow", "s3:*", "arn:aws:s3:::odd/${*}${?}${$}", "");
    assert_eq!(decide(&p, BOB, GET, "arn:aws:s3:::odd/*?$", &ctx), Decision::Allow);
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::odd/ab$", &ctx),
        Decision::NotApplicable
    );
}

#[test]
fn version_2008_keeps_variables_literal() {
    let p = policy(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::home/${aws:username}/*"}}"#,
    );
    let ctx = Context::new();
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::home/bob/x", &ctx),
        Decision::NotApplicable
    );
    assert_eq!(
        decide(&p, BOB, GET, "arn:aws:s3:::home/${aws:username}/x", &ctx),
        Decision::Allow
    );
}

#[test]
fn realistic_bucket_policy() {
    let p = policy(
        r#"{
          "Version": "2012-10-17",
          "Id": "photos-policy",
          "Statement": [
            {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
             "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/public/*"},
            {"Sid": "AliceWrites", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::alice:user/alice"]},
             "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "arn:aws:s3:::photos/*",
             "Condition": {"StringEquals": {"s3:x-amz-acl": "private"}}},
            {"Sid": "ListPrefix", "Effect": "Allow", "Principal": {"AWS": "alice"},
             "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::photos",
             "Condition": {"StringLike": {"s3:prefix": ["", "public/*", "alice/*"]}}},
            {"Sid": "NoPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
          ]
        }"#,
    );
    let tls = Context::new().with("aws:SecureTransport", "true");
    let public = "arn:aws:s3:::photos/public/a.jpg";
    assert_eq!(decide(&p, Principal::Anonymous, GET, public, &tls), Decision::Allow);
    assert_eq!(
        decide(&p, Principal::Anonymous, GET, OBJ, &tls),
        Decision::NotApplicable
    );
    let plain = Context::new().with("aws:SecureTransport", "false");
    assert_eq!(
        decide(&p, Principal::Anonymous, GET, public, &plain),
        Decision::ExplicitDeny
    );

    let put_private = Context::new()
        .with("aws:SecureTransport", "true")
        .with("s3:x-amz-acl", "private");
    let put_public = Context::new()
        .with("aws:SecureTransport", "true")
        .with("s3:x-amz-acl", "public-read");
    assert_eq!(decide(&p, ALICE, "s3:PutObject", OBJ, &put_private), Decision::Allow);
    assert_eq!(
        decide(&p, ALICE, "s3:PutObject", OBJ, &put_public),
        Decision::NotApplicable
    );
    assert_eq!(
        decide(&p, BOB, "s3:PutObject", OBJ, &put_private),
        Decision::NotApplicable
    );

    let list_root = Context::new().with("aws:SecureTransport", "true").with("s3:prefix", "");
    let list_bob = Context::new()
        .with("aws:SecureTransport", "true")
        .with("s3:prefix", "bob/");
    assert_eq!(
        decide(&p, ALICE, "s3:ListBucket", "arn:aws:s3:::photos", &list_root),
        Decision::Allow
    );
    assert_eq!(
        decide(&p, ALICE, "s3:ListBucket", "arn:aws:s3:::photos", &list_bob),
        Decision::NotApplicable
    );

    assert_eq!(p.id(), Some("photos-policy"));
    assert_eq!(p.statement_count(), 4);
    let sids: Vec<_> = p.sids().collect();
    assert_eq!(
        sids,
        [
            Some("PublicRead"),
            Some("AliceWrites"),
            Some("ListPrefix"),
            Some("NoPlainHttp")
        ]
    );
}

#[test]
fn sqs_and_sns_policies() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},
            "Action":"sqs:SendMessage","Resource":"arn:aws:sqs:*:alice:jobs",
            "Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:*:alice:uploads"}}}}"#,
    );
    let from_topic = Context::new().with("aws:SourceArn", "arn:aws:sns:default:alice:uploads");
    let from_other = Context::new().with("aws:SourceArn", "arn:aws:sns:default:mallory:uploads");
    let sns = Principal::Service("sns.amazonaws.com");
    let queue = "arn:aws:sqs:default:alice:jobs";
    assert_eq!(decide(&p, sns, "sqs:SendMessage", queue, &from_topic), Decision::Allow);
    assert_eq!(
        decide(&p, sns, "sqs:SendMessage", queue, &from_other),
        Decision::NotApplicable
    );
    assert_eq!(
        decide(&p, BOB, "sqs:SendMessage", queue, &from_topic),
        Decision::NotApplicable
    );
}

#[test]
fn request_builder_defaults() {
    let p = one("Allow", "*", "*", "");
    let r = Request::new(BOB, GET, OBJ);
    assert!(r.context.is_empty());
    assert!(r.now.is_none());
    assert_eq!(p.evaluate(&r), Decision::Allow);
    let ctx: Context<'_> = [("a", "1"), ("A", "2")].into_iter().collect();
    assert_eq!(ctx.values("a").collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(ctx.len(), 2);
    let mut ctx = Context::with_capacity(3);
    ctx.insert_all("s3:RequestObjectTagKeys", ["x", "y"])
        .insert("k", String::from("owned"));
    assert!(ctx.contains("S3:REQUESTOBJECTTAGKEYS"));
    assert_eq!(ctx.values("k").collect::<Vec<_>>(), ["owned"]);
    assert!(!ctx.contains("missing"));
}
