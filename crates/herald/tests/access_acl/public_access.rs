//! The four Block Public Access switches.

use super::*;

async fn set_block(c: &Client, b: &str, acls: bool, ignore: bool, policy: bool, restrict: bool) -> Res {
    res(c
        .put_public_access_block()
        .bucket(b)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(acls)
                .ignore_public_acls(ignore)
                .block_public_policy(policy)
                .restrict_public_buckets(restrict)
                .build(),
        )
        .send()
        .await)
}

fn public_read_policy(b: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{b}/*"}}]}}"#
    )
}

/// Block Public Access: each of the four switches does what S3 says, and
/// only to public grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_public_access_switches() {
    let w = world();
    let mut f = Vec::new();
    w.alice.create_bucket().bucket("bpa").send().await.unwrap();
    check(
        &mut f,
        "never set",
        res(w.alice.get_public_access_block().bucket("bpa").send().await),
        error("NoSuchPublicAccessBlockConfiguration", 404),
    );
    put(&w.alice, "bpa", "pub", Some(ObjectCannedAcl::PublicRead))
        .await
        .unwrap();
    put(&w.alice, "bpa", "bobs", None).await.unwrap();
    res(w
        .alice
        .put_object_acl()
        .bucket("bpa")
        .key("bobs")
        .grant_read("id=bob")
        .send()
        .await)
    .unwrap();

    ignore_public_acls(&w, &mut f).await;

    block_public_acls(&w, &mut f).await;

    block_public_policy(&w, &mut f).await;

    restrict_public_buckets(&w, &mut f).await;

    res(w.alice.delete_public_access_block().bucket("bpa").send().await).unwrap();
    check(
        &mut f,
        "after DeletePublicAccessBlock",
        res(w.alice.get_public_access_block().bucket("bpa").send().await),
        error("NoSuchPublicAccessBlockConfiguration", 404),
    );
    check(
        &mut f,
        "anon after DeletePublicAccessBlock",
        get(&w.anon, "bpa", "x").await,
        ok(),
    );
    report(f);
}

/// IgnorePublicAcls: public grants count for nothing, user grants still do.
async fn ignore_public_acls(w: &World, f: &mut Vec<String>) {
    set_block(&w.alice, "bpa", false, true, false, false).await.unwrap();
    check(
        f,
        "anon under IgnorePublicAcls",
        get(&w.anon, "bpa", "pub").await,
        denied(),
    );
    check(
        f,
        "a grant to a user under IgnorePublicAcls",
        get(&w.bob, "bpa", "bobs").await,
        ok(),
    );
    let got = w.alice.get_public_access_block().bucket("bpa").send().await.unwrap();
    let c = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(false), Some(true), Some(false), Some(false))
    );
    check(
        f,
        "bob sets Block Public Access",
        set_block(&w.bob, "bpa", false, false, false, false).await,
        denied(),
    );
}

/// BlockPublicAcls: public ACLs refused, private ones fine.
async fn block_public_acls(w: &World, f: &mut Vec<String>) {
    set_block(&w.alice, "bpa", true, false, false, false).await.unwrap();
    check(
        f,
        "anon once IgnorePublicAcls is off",
        get(&w.anon, "bpa", "pub").await,
        ok(),
    );
    check(
        f,
        "a public-read PUT under BlockPublicAcls",
        put(&w.alice, "bpa", "x", Some(ObjectCannedAcl::PublicRead)).await,
        denied(),
    );
    check(
        f,
        "PutBucketAcl public-read under BlockPublicAcls",
        bucket_acl(&w.alice, "bpa", BucketCannedAcl::PublicRead).await,
        denied(),
    );
    check(
        f,
        "an AllUsers grant header under BlockPublicAcls",
        res(w
            .alice
            .put_object_acl()
            .bucket("bpa")
            .key("bobs")
            .grant_read(format!("uri=\"{ALL_USERS}\""))
            .send()
            .await),
        denied(),
    );
    check(
        f,
        "a private PUT under BlockPublicAcls",
        put(&w.alice, "bpa", "x", None).await,
        ok(),
    );
}

/// BlockPublicPolicy: a public policy refused, one for bob fine.
async fn block_public_policy(w: &World, f: &mut Vec<String>) {
    set_block(&w.alice, "bpa", false, false, true, false).await.unwrap();
    check(
        f,
        "a public policy under BlockPublicPolicy",
        res(w
            .alice
            .put_bucket_policy()
            .bucket("bpa")
            .policy(public_read_policy("bpa"))
            .send()
            .await),
        denied(),
    );
    let bob_only = public_read_policy("bpa").replace(r#""Principal":"*""#, r#""Principal":{"AWS":"bob"}"#);
    check(
        f,
        "a policy for bob under BlockPublicPolicy",
        res(w.alice.put_bucket_policy().bucket("bpa").policy(bob_only).send().await),
        ok(),
    );
}

/// RestrictPublicBuckets: a public policy allows only the owner; object
/// ACLs still count.
async fn restrict_public_buckets(w: &World, f: &mut Vec<String>) {
    res(w.alice.delete_public_access_block().bucket("bpa").send().await).unwrap();
    res(w
        .alice
        .put_bucket_policy()
        .bucket("bpa")
        .policy(public_read_policy("bpa"))
        .send()
        .await)
    .unwrap();
    check(f, "carol under a public policy", get(&w.carol, "bpa", "x").await, ok());
    set_block(&w.alice, "bpa", false, false, false, true).await.unwrap();
    check(
        f,
        "anon under RestrictPublicBuckets",
        get(&w.anon, "bpa", "x").await,
        denied(),
    );
    check(
        f,
        "carol under RestrictPublicBuckets",
        get(&w.carol, "bpa", "x").await,
        denied(),
    );
    check(
        f,
        "alice under RestrictPublicBuckets",
        get(&w.alice, "bpa", "x").await,
        ok(),
    );
    check(
        f,
        "the public-read object ACL under RestrictPublicBuckets",
        get(&w.anon, "bpa", "pub").await,
        ok(),
    );
}

/// Block Public Access is checked again when an object is installed: a
/// multipart upload started with `public-read` before BlockPublicAcls was
/// turned on cannot complete into a public object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_public_acls_holds_for_uploads_started_before_it() {
    let w = world();
    w.alice.create_bucket().bucket("late-block").send().await.unwrap();
    let up = w
        .alice
        .create_multipart_upload()
        .bucket("late-block")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = w
        .alice
        .upload_part()
        .bucket("late-block")
        .key("k")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap();
    set_block(&w.alice, "late-block", true, false, false, false)
        .await
        .unwrap();
    let done = res(w
        .alice
        .complete_multipart_upload()
        .bucket("late-block")
        .key("k")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await);
    assert_eq!(done, denied(), "the public upload completed under BlockPublicAcls");
    assert_eq!(get(&w.anon, "late-block", "k").await, denied());
    assert_eq!(get(&w.alice, "late-block", "k").await, error("NoSuchKey", 404));
}
