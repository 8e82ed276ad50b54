//! Policy documents and their effects: malformed ones refused, explicit
//! deny over the owner, public read for anonymous requests.

use super::*;

// ---------------------------------------------------------------------------
// Malformed policies.

/// Each malformed document is 400 MalformedPolicy with a reason, and the
/// policy in force before stays in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_policies_are_refused_and_the_old_one_stays() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let b = "mal";
    alice.create_bucket().bucket(b).send().await.unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("obj")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let good = p_read(b);
    must_put_policy(&alice, b, &good).await;

    let obj = objects_arn(b, "*");
    let stmt = |extra: Value| {
        let mut s = json!({ "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": obj });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                s.as_object_mut().unwrap().remove(k);
            } else {
                s[k] = v.clone();
            }
        }
        doc(vec![s])
    };
    let many_resources: Vec<String> = (0..800)
        .map(|i| format!("arn:aws:s3:::{b}/some/long/prefix/{i:05}"))
        .collect();
    let big = doc(vec![allow("Big", json!("*"), &["s3:GetObject"], &many_resources)]);
    assert!(big.len() > 20 * 1024, "the big policy is only {} bytes", big.len());
    let too_many: Vec<Value> = (0..101)
        .map(|i| {
            allow(
                &format!("S{i}"),
                json!("*"),
                &["s3:GetObject"],
                &[objects_arn(b, &format!("k{i}"))],
            )
        })
        .collect();
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        (
            "bad JSON",
            "{\"Version\": \"2012-10-17\", \"Statement\": [".into(),
            None,
        ),
        ("not an object", "[]".into(), None),
        ("missing Effect", stmt(json!({ "Effect": null })), None),
        ("missing Resource", stmt(json!({ "Resource": null })), None),
        ("missing Principal", stmt(json!({ "Principal": null })), None),
        (
            "unknown condition operator",
            stmt(json!({ "Condition": { "StringEqualsSometimes": { "aws:username": "bob" } } })),
            None,
        ),
        ("Effect Maybe", stmt(json!({ "Effect": "Maybe" })), None),
        (
            "action without service prefix",
            stmt(json!({ "Action": "GetObject" })),
            None,
        ),
        (
            "resource of another bucket",
            stmt(json!({ "Resource": "arn:aws:s3:::other-bucket/*" })),
            Some("Policy has invalid resource"),
        ),
        ("over 20 KiB", big, None),
        ("101 statements", doc(too_many), None),
        (
            "nesting deeper than 8",
            stmt(json!({ "Condition": { "StringEquals": { "aws:username": [[[[[[[["bob"]]]]]]]] } } })),
            None,
        ),
        (
            "duplicate keys",
            format!(
                "{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Effect\":\"Deny\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\",\"Resource\":\"{obj}\"}}]}}"
            ),
            None,
        ),
    ];
    let mut bad = Vec::new();
    for (what, text, must_say) in &cases {
        match alice.put_bucket_policy().bucket(b).policy(text.as_str()).send().await {
            Ok(_) => bad.push(format!("{what}: accepted")),
            Err(e) => {
                let (code, status) = err_info(&e);
                let msg = e.message().unwrap_or_default().to_string();
                if (code.as_str(), status) != ("MalformedPolicy", 400) {
                    bad.push(format!("{what}: {status} {code} ({msg}), want 400 MalformedPolicy"));
                } else if msg.trim().is_empty() {
                    bad.push(format!("{what}: MalformedPolicy without a reason"));
                } else if let Some(s) = must_say
                    && !msg.contains(s)
                {
                    bad.push(format!("{what}: message {msg:?} does not say {s:?}"));
                }
            }
        }
        // The old policy stays, text and effect.
        match alice.get_bucket_policy().bucket(b).send().await {
            Ok(o) if o.policy() == Some(good.as_str()) => {}
            other => bad.push(format!("after {what}: GetBucketPolicy gives {other:?}")),
        }
        if let Err(e) = bob.get_object().bucket(b).key("obj").send().await {
            bad.push(format!("after {what}: bob's grant lost: {:?}", err_info(&e)));
        }
    }
    assert!(bad.is_empty(), "{} problems:\n{}", bad.len(), bad.join("\n"));
}

// ---------------------------------------------------------------------------
// Explicit deny.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_deny_wins_even_over_the_owner_who_can_still_repair_the_policy() {
    let b = "denied";
    let (srv, alice, bob) = alice_bucket_with(b, &["a", "b"]).await;

    // The owner denied DeleteObject.
    let no_delete = doc(vec![deny(
        "NoDeletes",
        json!("*"),
        &["s3:DeleteObject"],
        &[objects_arn(b, "*")],
    )]);
    must_put_policy(&alice, b, &no_delete).await;
    assert_err(
        alice.delete_object().bucket(b).key("a").send().await,
        "AccessDenied",
        403,
    );
    alice
        .head_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("a survives the refused delete");
    alice
        .get_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("reading is not denied");

    // Deny unless from 10.0.0.0/8: nobody from 127.0.0.1, even granted bob.
    let from_network = doc(vec![
        allow(
            "BobReads",
            json!({ "AWS": "bob" }),
            &["s3:GetObject"],
            &[objects_arn(b, "*")],
        ),
        with_condition(
            deny(
                "OnlyFromTheNetwork",
                json!({ "AWS": "*" }),
                &["s3:*"],
                &[bucket_arn(b), objects_arn(b, "*")],
            ),
            json!({ "NotIpAddress": { "aws:SourceIp": "10.0.0.0/8" } }),
        ),
    ]);
    must_put_policy(&alice, b, &from_network).await;
    assert_err(alice.get_object().bucket(b).key("a").send().await, "AccessDenied", 403);
    assert_err(bob.get_object().bucket(b).key("a").send().await, "AccessDenied", 403);
    assert_err(alice.list_objects_v2().bucket(b).send().await, "AccessDenied", 403);
    assert_err(
        alice
            .put_object()
            .bucket(b)
            .key("c")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await,
        "AccessDenied",
        403,
    );
    let r = raw_request(srv.addr(), "GET", &format!("/{b}/a"), &[], b"").unwrap();
    assert_eq!(r.status, 403, "anonymous: {}", r.body_str());

    // The owner still manages the policy (s3:* covers it, but no self-lockout).
    let got = alice
        .get_bucket_policy()
        .bucket(b)
        .send()
        .await
        .expect("owner's GetBucketPolicy under deny");
    assert_eq!(got.policy(), Some(from_network.as_str()));
    let st = alice
        .get_bucket_policy_status()
        .bucket(b)
        .send()
        .await
        .expect("owner's GetBucketPolicyStatus under deny");
    assert_eq!(st.policy_status().and_then(|s| s.is_public()), Some(false));
    must_put_policy(&alice, b, &from_network).await;
    // ... but a user the policy denies gets nothing of it.
    assert_err(bob.get_bucket_policy().bucket(b).send().await, "AccessDenied", 403);
    alice
        .delete_bucket_policy()
        .bucket(b)
        .send()
        .await
        .expect("owner deletes the policy under deny");
    alice
        .get_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("owner reads again");
    alice
        .delete_object()
        .bucket(b)
        .key("a")
        .send()
        .await
        .expect("owner deletes again");
    assert_err(bob.get_object().bucket(b).key("b").send().await, "AccessDenied", 403);
}

// ---------------------------------------------------------------------------
// Public read.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_read_on_a_prefix_for_anonymous_requests() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let b = "site";
    alice.create_bucket().bucket(b).send().await.unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("public/x")
        .body(ByteStream::from_static(b"public body"))
        .send()
        .await
        .unwrap();
    alice
        .put_object()
        .bucket(b)
        .key("private/y")
        .body(ByteStream::from_static(b"private"))
        .send()
        .await
        .unwrap();
    let anon = |method: &str, target: &str| {
        raw_request(srv.addr(), method, target, &[], b"").unwrap_or_else(|e| panic!("{method} {target}: {e}"))
    };
    let denied = |r: &RawResponse, what: &str| {
        assert_eq!(r.status, 403, "{what}: {}", r.body_str());
        assert_eq!(
            xml_first(&r.body_str(), "Code").as_deref(),
            Some("AccessDenied"),
            "{what}: {}",
            r.body_str()
        );
    };

    // Before any policy: nothing for anonymous.
    denied(&anon("GET", "/site/public/x"), "anonymous GET without a policy");

    let public = doc(vec![allow(
        "PublicRead",
        json!("*"),
        &["s3:GetObject"],
        &[objects_arn(b, "public/*")],
    )]);
    must_put_policy(&alice, b, &public).await;
    let r = anon("GET", "/site/public/x");
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "public body"),
        "anonymous GET public/x"
    );
    assert_eq!(anon("HEAD", "/site/public/x").status, 200, "anonymous HEAD public/x");
    denied(&anon("GET", "/site/private/y"), "anonymous GET private/y");
    denied(&anon("GET", "/site"), "anonymous ListObjects without a grant");
    denied(
        &anon("GET", "/site?list-type=2"),
        "anonymous ListObjectsV2 without a grant",
    );
    denied(&anon("PUT", "/site/public/new"), "anonymous PUT");
    denied(&anon("DELETE", "/site/public/x"), "anonymous DELETE");
    denied(&anon("GET", "/site?policy"), "anonymous GetBucketPolicy");
    // "*" is every user too.
    let got = bob
        .get_object()
        .bucket(b)
        .key("public/x")
        .send()
        .await
        .expect("bob reads public/x");
    assert_eq!(body_bytes(got).await, b"public body");
    assert_err(
        bob.get_object().bucket(b).key("private/y").send().await,
        "AccessDenied",
        403,
    );
    let st = alice.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(st.policy_status().and_then(|s| s.is_public()), Some(true), "{st:?}");

    listing_and_address_conditions(&alice, b, &anon, &denied).await;
}

/// Listing granted to everyone; a grant restricted to an address is not
/// public, and works from that address only.
async fn listing_and_address_conditions(
    alice: &Client,
    b: &str,
    anon: &impl Fn(&str, &str) -> RawResponse,
    denied: &impl Fn(&RawResponse, &str),
) {
    // Listing granted to everyone ({"AWS":"*"} form).
    let listing = doc(vec![
        allow(
            "PublicRead",
            json!("*"),
            &["s3:GetObject"],
            &[objects_arn(b, "public/*")],
        ),
        allow(
            "PublicList",
            json!({ "AWS": "*" }),
            &["s3:ListBucket"],
            &[bucket_arn(b)],
        ),
    ]);
    must_put_policy(alice, b, &listing).await;
    let r = anon("GET", "/site?list-type=2");
    assert_eq!(r.status, 200, "anonymous ListObjectsV2 granted: {}", r.body_str());
    let keys = xml_all(&r.body_str(), "Key");
    assert_eq!(
        keys,
        vec!["private/y".to_string(), "public/x".to_string()],
        "{}",
        r.body_str()
    );

    // Restricted to an address: not public any more (still works from it).
    let local = doc(vec![with_condition(
        allow(
            "LocalRead",
            json!("*"),
            &["s3:GetObject"],
            &[objects_arn(b, "public/*")],
        ),
        json!({ "IpAddress": { "aws:SourceIp": "127.0.0.1/32" } }),
    )]);
    must_put_policy(alice, b, &local).await;
    let st = alice.get_bucket_policy_status().bucket(b).send().await.unwrap();
    assert_eq!(st.policy_status().and_then(|s| s.is_public()), Some(false), "{st:?}");
    let r = anon("GET", "/site/public/x");
    assert_eq!(
        r.status,
        200,
        "anonymous GET from 127.0.0.1 under IpAddress: {}",
        r.body_str()
    );
    let elsewhere = doc(vec![with_condition(
        allow("OtherNet", json!("*"), &["s3:GetObject"], &[objects_arn(b, "public/*")]),
        json!({ "IpAddress": { "aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"] } }),
    )]);
    must_put_policy(alice, b, &elsewhere).await;
    denied(
        &anon("GET", "/site/public/x"),
        "anonymous GET from outside the allowed networks",
    );
}
