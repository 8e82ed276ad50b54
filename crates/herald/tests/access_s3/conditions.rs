//! Conditions and policy variables: prefixes, user names, object tags,
//! and the expected bucket owner.

use super::*;

// ---------------------------------------------------------------------------
// Conditions and policy variables.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_condition_and_username_variable() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    let bob = srv.s3_as(BOB.0, BOB.1);
    let carol = srv.s3_as(CAROL.0, CAROL.1);
    let b = "shared";
    alice.create_bucket().bucket(b).send().await.unwrap();
    for k in ["home/bob/a", "home/carol/c", "top"] {
        alice
            .put_object()
            .bucket(b)
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let both = json!({ "AWS": ["arn:aws:iam::bob:user/bob", "arn:aws:iam::carol:user/carol"] });
    let policy = doc(vec![
        with_condition(
            allow(
                "BobListsHisHome",
                json!({ "AWS": "arn:aws:iam::bob:user/bob" }),
                &["s3:ListBucket"],
                &[bucket_arn(b)],
            ),
            json!({ "StringLike": { "s3:prefix": ["home/bob/", "home/bob/*"] } }),
        ),
        allow(
            "OwnHome",
            both,
            &["s3:GetObject", "s3:PutObject"],
            &[format!("arn:aws:s3:::{b}/home/${{aws:username}}/*")],
        ),
        with_condition(
            deny(
                "TlsOnlyForSecure",
                json!("*"),
                &["s3:PutObject"],
                &[objects_arn(b, "secure/*")],
            ),
            json!({ "Bool": { "aws:SecureTransport": "false" } }),
        ),
    ]);
    must_put_policy(&alice, b, &policy).await;

    // s3:prefix.
    let out = bob
        .list_objects_v2()
        .bucket(b)
        .prefix("home/bob/")
        .send()
        .await
        .expect("bob lists home/bob/");
    let keys: Vec<&str> = out.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["home/bob/a"]);
    assert_err(
        bob.list_objects_v2().bucket(b).prefix("home/carol/").send().await,
        "AccessDenied",
        403,
    );
    assert_err(bob.list_objects_v2().bucket(b).send().await, "AccessDenied", 403);
    assert_err(
        carol.list_objects_v2().bucket(b).prefix("home/carol/").send().await,
        "AccessDenied",
        403,
    );

    // ${aws:username} in the Resource.
    let put = |c: &Client, k: &str| {
        c.put_object()
            .bucket(b)
            .key(k)
            .body(ByteStream::from_static(b"mine"))
            .send()
    };
    put(&bob, "home/bob/new").await.expect("bob writes under home/bob/");
    assert_err(put(&bob, "home/carol/new").await, "AccessDenied", 403);
    assert_err(put(&bob, "top").await, "AccessDenied", 403);
    put(&carol, "home/carol/new")
        .await
        .expect("carol writes under home/carol/");
    assert_err(put(&carol, "home/bob/evil").await, "AccessDenied", 403);
    bob.get_object()
        .bucket(b)
        .key("home/bob/a")
        .send()
        .await
        .expect("bob reads his home");
    assert_err(
        carol.get_object().bucket(b).key("home/bob/a").send().await,
        "AccessDenied",
        403,
    );
    // The variable is not a literal.
    assert_err(put(&bob, "home/${aws:username}/x").await, "AccessDenied", 403);
    // aws:SecureTransport is "false" over plain HTTP: even the owner is refused.
    assert_err(put(&alice, "secure/x").await, "AccessDenied", 403);
    put(&alice, "insecure/x").await.expect("the deny is for secure/ only");
}

/// `x-amz-expected-bucket-owner`: a request naming another owner than the
/// bucket's is refused, even by the owner (a guard against writing into a
/// bucket someone else re-created under the same name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_bucket_owner_is_checked() {
    let srv = TestServer::start();
    users(&srv);
    let alice = srv.s3_as(ALICE.0, ALICE.1);
    alice.create_bucket().bucket("owned").send().await.unwrap();
    alice
        .put_object()
        .bucket("owned")
        .key("k")
        .expected_bucket_owner("alice")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"x"))
        .send()
        .await
        .expect("the right owner");
    let e = alice
        .get_object()
        .bucket("owned")
        .key("k")
        .expected_bucket_owner("bob")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_info(&e), ("AccessDenied".to_owned(), 403));
}

/// `s3:ExistingObjectTag/<key>` (the object's stored tags),
/// `s3:RequestObjectTag/<key>` and `s3:RequestObjectTagKeys` (the tags a
/// PutObject header or a PutObjectTagging body sets) as conditions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_tag_conditions() {
    let (_srv, alice, bob) = alice_bucket_with("tagged", &[]).await;
    tagged_objects_and_tag_conditions(&alice).await;
    let get = |k: &'static str| bob.get_object().bucket("tagged").key(k).send();
    let put = |k: &'static str, tagging: Option<&'static str>| {
        bob.put_object()
            .bucket("tagged")
            .key(k)
            .set_tagging(tagging.map(str::to_owned))
            .body(ByteStream::from_static(b"y"))
            .send()
    };
    let tag = |k: &'static str, tags: &[(&str, &str)]| {
        let set: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build().unwrap())
            .collect();
        bob.put_object_tagging()
            .bucket("tagged")
            .key(k)
            .tagging(Tagging::builder().set_tag_set(Some(set)).build().unwrap())
            .send()
    };
    let mut f = Vec::new();
    let mut want = |what: &str, got: Res, ok: bool| {
        if got.is_ok() != ok {
            f.push(format!(
                "{what}: want {}, got {}",
                if ok { "ok" } else { "denied" },
                show(&got)
            ));
        }
    };
    want("bob reads the object tagged public", res(get("pub").await), true);
    want("bob reads the object tagged secret", res(get("sec").await), false);
    want(
        "bob writes with team=blue",
        res(put("b1", Some("team=blue")).await),
        true,
    );
    want(
        "bob writes with team=red",
        res(put("b2", Some("team=red")).await),
        false,
    );
    want("bob writes without tags", res(put("b3", None).await), false);
    want(
        "bob tags with team=blue",
        res(tag("b1", &[("team", "blue")]).await),
        true,
    );
    want(
        "bob tags with team=red",
        res(tag("b1", &[("team", "red")]).await),
        false,
    );
    want(
        "bob tags with another key too",
        res(tag("b1", &[("team", "blue"), ("owner", "bob")]).await),
        false,
    );
    // Retagging changes what the ExistingObjectTag condition sees.
    alice
        .put_object_tagging()
        .bucket("tagged")
        .key("sec")
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("classification").value("public").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    want("bob reads once it is retagged public", res(get("sec").await), true);
    let tags = alice
        .get_object_tagging()
        .bucket("tagged")
        .key("b1")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_eq!(tags.tag_set()[0].value(), "blue");
    assert!(f.is_empty(), "{}", f.join("\n"));
}

/// Two objects tagged public and secret, and a policy granting bob by
/// existing and request tags.
async fn tagged_objects_and_tag_conditions(alice: &Client) {
    for (k, class) in [("pub", "public"), ("sec", "secret")] {
        alice
            .put_object()
            .bucket("tagged")
            .key(k)
            .tagging(format!("classification={class}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let bob_p = json!({ "AWS": "bob" });
    let objects = vec![objects_arn("tagged", "*")];
    let policy = doc(vec![
        with_condition(
            allow("ReadPublicTagged", bob_p.clone(), &["s3:GetObject"], &objects),
            json!({ "StringEquals": { "s3:ExistingObjectTag/classification": "public" } }),
        ),
        with_condition(
            allow("WriteBlue", bob_p.clone(), &["s3:PutObject"], &objects),
            json!({ "StringEquals": { "s3:RequestObjectTag/team": "blue" } }),
        ),
        with_condition(
            allow("TagBlueOnly", bob_p.clone(), &["s3:PutObjectTagging"], &objects),
            json!({
                "StringEquals": { "s3:RequestObjectTag/team": "blue" },
                "ForAllValues:StringEquals": { "s3:RequestObjectTagKeys": ["team"] }
            }),
        ),
    ]);
    must_put_policy(alice, "tagged", &policy).await;
}
