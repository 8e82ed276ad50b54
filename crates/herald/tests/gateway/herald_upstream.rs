//! Against a second Herald in embedded mode: versions, tenants, access
//! decisions that fail closed, hang-ups, an unreachable upstream.

use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;

use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_herald_upstream_gets_versions_and_tenants_stay_apart() {
    let upstream = TestServer::start();
    let gw = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    let receiver = Receiver::start_new();
    let topic = Sns::root(&gw).create_topic("ver-events", &[("push-endpoint", &receiver.url("v"))]);
    let s3 = gw.s3();
    s3.create_bucket().bucket("versioned").send().await.unwrap();
    s3.put_bucket_versioning()
        .bucket("versioned")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let seen = upstream
        .s3()
        .get_bucket_versioning()
        .bucket("versioned")
        .send()
        .await
        .unwrap();
    assert_eq!(
        seen.status().map(|s| s.as_str()),
        Some("Enabled"),
        "versioning is the upstream's"
    );
    notify_everything(&s3, "versioned", &topic, None).await;

    let v1 = s3
        .put_object()
        .bucket("versioned")
        .key("k")
        .body(ByteStream::from_static(b"one"))
        .send()
        .await
        .unwrap();
    let v1_id = v1.version_id().expect("a version id from the upstream").to_owned();
    let put = receiver.wait_event("k", "ObjectCreated:Put").await;
    assert_eq!(object_field(&put, "versionId"), v1_id.as_str());
    let del = s3.delete_object().bucket("versioned").key("k").send().await.unwrap();
    assert_eq!(del.delete_marker(), Some(true));
    let marker = receiver.wait_event("k", "ObjectRemoved:DeleteMarkerCreated").await;
    assert_eq!(object_field(&marker, "versionId"), del.version_id().unwrap());
    // The old version is still there, by its id, through the gateway.
    let old = s3
        .get_object()
        .bucket("versioned")
        .key("k")
        .version_id(&v1_id)
        .send()
        .await
        .unwrap();
    assert_eq!(body_of(old).await, b"one");
    s3.delete_object()
        .bucket("versioned")
        .key("k")
        .version_id(&v1_id)
        .send()
        .await
        .unwrap();
    receiver
        .wait_for("the version's removal", 30, |r| {
            r.delivered_for_key("k")
                .iter()
                .any(|e| e["eventName"] == "ObjectRemoved:Delete" && object_field(e, "versionId") == v1_id.as_str())
        })
        .await;

    // Another Herald user: Herald's access decision holds in gateway mode.
    gw.create_user("bob", "BOBACCESSKEY0000001", "bobSecretKey0000000000000000000000000001");
    let bob = gw.s3_as("BOBACCESSKEY0000001", "bobSecretKey0000000000000000000000000001");
    let denied = bob.get_object().bucket("versioned").key("k").send().await;
    assert_eq!(status_of(&denied), Some(403), "bob reads alice's object: {denied:?}");
    let denied = bob
        .put_object()
        .bucket("versioned")
        .key("bob")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&denied), Some(403));
    bob.create_bucket().bucket("bobs").send().await.unwrap();
    let denied = bob
        .copy_object()
        .bucket("bobs")
        .key("stolen")
        .copy_source("versioned/k")
        .send()
        .await;
    assert_eq!(
        status_of(&denied),
        Some(403),
        "a copy from someone else's bucket: {denied:?}"
    );
    s3.put_object()
        .bucket("versioned")
        .key("keep")
        .body(ByteStream::from_static(b"mine"))
        .send()
        .await
        .unwrap();
    let out = bob
        .delete_objects()
        .bucket("versioned")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("keep").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await;
    // Refused outright (bob may not even ask) or per key: never deleted.
    if let Ok(out) = out {
        assert!(out.deleted().is_empty(), "bob deleted alice's object: {out:?}");
        assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    }
    assert!(
        s3.head_object().bucket("versioned").key("keep").send().await.is_ok(),
        "alice's object survives bob's DeleteObjects"
    );
    let listed = bob.list_buckets().send().await.unwrap();
    let names: Vec<&str> = listed.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["bobs"], "bob lists only his own bucket");

    // A bucket that already exists upstream is not handed to whoever names it.
    upstream
        .s3()
        .create_bucket()
        .bucket("pre-existing")
        .send()
        .await
        .unwrap();
    let taken = bob.create_bucket().bucket("pre-existing").send().await;
    assert_eq!(status_of(&taken), Some(409), "adopted an upstream bucket: {taken:?}");
    assert!(
        bob.head_bucket().bucket("pre-existing").send().await.is_err(),
        "a refused bucket is not left half-made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_upstream_is_a_503_and_no_event() {
    let port = free_loopback_port();
    let gw = gateway_to(&format!("http://127.0.0.1:{port}"), "k", "s", &[]);
    let receiver = Receiver::start_new();
    let s3 = gw.s3_no_retry();
    let made = s3.create_bucket().bucket("nowhere").send().await;
    assert_eq!(status_of(&made), Some(503), "{made:?}");
    assert!(
        s3.head_bucket().bucket("nowhere").send().await.is_err(),
        "the bucket is not kept when the upstream could not make it"
    );
    // A bucket Herald has (made while the upstream was there, say): writes
    // to it fail with 503 and send nothing.
    let mut upstream = TestServer::start();
    let gw2 = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    gw2.s3().create_bucket().bucket("soon-gone").send().await.unwrap();
    let topic2 = Sns::root(&gw2).create_topic("gone-events", &[("push-endpoint", &receiver.url("g"))]);
    notify_everything(&gw2.s3(), "soon-gone", &topic2, None).await;
    upstream.kill9();
    let put = gw2
        .s3_no_retry()
        .put_object()
        .bucket("soon-gone")
        .key("lost")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&put), Some(503), "{put:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        receiver.delivered_for_key("lost").is_empty(),
        "an event for a refused write"
    );
    // Its outcome could not be learnt: the intent waits for the upstream,
    // and the operator sees it.
    let text = metrics_text(&gw2);
    assert_eq!(
        metric(&text, "herald_gateway_intents_unsettled", None),
        Some(1.0),
        "{text}"
    );
    assert_eq!(metric(&text, "herald_gateway_detached_mutations", None), Some(0.0));
    // The upstream comes back: the background round asks it, finds no
    // object, and drops the intent without an event.
    upstream.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = metrics_text(&gw2);
        if metric(&text, "herald_gateway_intents_unsettled", None) == Some(0.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the intent was not settled within 30 s of the upstream's return:\n{}",
            gw2.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        receiver.delivered_for_key("lost").is_empty(),
        "an event for a write that never happened"
    );
    assert!(
        upstream
            .s3()
            .head_object()
            .bucket("soon-gone")
            .key("lost")
            .send()
            .await
            .is_err(),
        "the refused write is not upstream"
    );
}

/// The access decision in gateway mode cannot look at objects (they are
/// upstream): where embedded mode would consult them, it fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_that_would_need_the_objects_fails_closed() {
    let upstream = TestServer::start();
    let gw = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    gw.create_user("bob", BOB_KEY, BOB_SECRET);
    let s3 = gw.s3();
    let bob = gw.s3_as(BOB_KEY, BOB_SECRET);
    s3.create_bucket().bucket("shared").send().await.unwrap();
    for key in ["public/open.txt", "private/secret.txt"] {
        s3.put_object()
            .bucket("shared")
            .key(key)
            .body(ByteStream::from_static(b"data"))
            .send()
            .await
            .unwrap();
    }
    // Everybody may list and read public/*; nothing else.
    let policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::shared"},
        {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/public/*"}]}"#;
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(policy)
        .send()
        .await
        .unwrap();
    let open = bob.get_object().bucket("shared").key("public/open.txt").send().await;
    assert!(open.is_ok(), "the policy's grant works through the gateway: {open:?}");
    let secret = bob.get_object().bucket("shared").key("private/secret.txt").send().await;
    assert_eq!(
        status_of(&secret),
        Some(403),
        "ListBucket alone read an object: {secret:?}"
    );
    let head = bob
        .head_object()
        .bucket("shared")
        .key("private/secret.txt")
        .send()
        .await;
    assert_eq!(status_of(&head), Some(403));
    let anonymous = raw_request(gw.addr(), "GET", "/shared/private/secret.txt", &[], b"").unwrap();
    assert_eq!(anonymous.status, 403, "an anonymous read: {}", anonymous.body_str());
    bob.create_bucket().bucket("bobs-copies").send().await.unwrap();
    let copy = bob
        .copy_object()
        .bucket("bobs-copies")
        .key("loot")
        .copy_source("shared/private/secret.txt")
        .send()
        .await;
    assert_eq!(
        status_of(&copy),
        Some(403),
        "a copy of an object bob may not read: {copy:?}"
    );

    // Object tags are upstream: a policy that tests them is refused.
    let tag_policy = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*",
         "Condition":{"StringEquals":{"s3:ExistingObjectTag/class":"secret"}}}]}"#;
    let refused = s3.put_bucket_policy().bucket("shared").policy(tag_policy).send().await;
    assert_eq!(status_of(&refused), Some(400), "{refused:?}");

    // GetObjectAttributes needs GetObject too; several attributes in one header work.
    let deny_get = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Principal":{"AWS":["bob"]},"Action":"s3:GetObjectAttributes","Resource":"arn:aws:s3:::shared/*"},
        {"Effect":"Deny","Principal":{"AWS":["bob"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::shared/*"}]}"#;
    s3.put_bucket_policy()
        .bucket("shared")
        .policy(deny_get)
        .send()
        .await
        .unwrap();
    let attrs = bob
        .get_object_attributes()
        .bucket("shared")
        .key("public/open.txt")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await;
    assert_eq!(
        status_of(&attrs),
        Some(403),
        "attributes past a Deny of GetObject: {attrs:?}"
    );
    let mine = s3
        .get_object_attributes()
        .bucket("shared")
        .key("public/open.txt")
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::Etag)
        .object_attributes(aws_sdk_s3::types::ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.object_size(), Some(4));
    assert_eq!(mine.e_tag(), Some(md5_hex(b"data").as_str()));

    // Object ACLs and Object Lock would be applied upstream with the
    // operator's account: refused.
    let public = s3
        .put_object()
        .bucket("shared")
        .key("made-public")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&public), Some(501), "{public:?}");
    let granted = s3
        .put_object()
        .bucket("shared")
        .key("granted")
        .grant_read("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await;
    assert_eq!(status_of(&granted), Some(501), "{granted:?}");
    let locked = s3
        .create_multipart_upload()
        .bucket("shared")
        .key("locked")
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .send()
        .await;
    assert_eq!(status_of(&locked), Some(501), "{locked:?}");
    assert!(
        upstream
            .s3()
            .head_object()
            .bucket("shared")
            .key("made-public")
            .send()
            .await
            .is_err(),
        "a refused PUT reached the upstream"
    );

    // A key another store (or a proxy) might resolve into another bucket.
    let dotted = bob
        .put_object()
        .bucket("bobs-copies")
        .key("x/../../shared/private/secret.txt")
        .body(ByteStream::from_static(b"overwrite"))
        .send()
        .await;
    assert_eq!(status_of(&dotted), Some(400), "{dotted:?}");
    let object_lock_bucket = s3
        .create_bucket()
        .bucket("locked-bucket")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await;
    assert_eq!(status_of(&object_lock_bucket), Some(501), "{object_lock_bucket:?}");

    // Listings show Herald's owner, not the upstream's account.
    let listed = s3
        .list_objects_v2()
        .bucket("shared")
        .fetch_owner(true)
        .send()
        .await
        .unwrap();
    let owner_ids: Vec<Option<&str>> = listed
        .contents()
        .iter()
        .map(|o| o.owner().and_then(|w| w.id()))
        .collect();
    let root_profile = s3.list_buckets().send().await.unwrap();
    let root_id = root_profile.owner().and_then(|o| o.id());
    assert!(
        !owner_ids.is_empty() && owner_ids.iter().all(|id| *id == root_id),
        "owners {owner_ids:?}, bucket owner {root_id:?}"
    );
}

/// A client that hangs up right after sending its PUT: the mutation runs
/// to its end anyway, and its event is sent without waiting for a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_hangs_up_still_gets_the_event_of_its_put() {
    use std::io::Write;
    let upstream = TestServer::start();
    let gw = gateway_to(&upstream.url(), ROOT_ACCESS_KEY, ROOT_SECRET_KEY, &[]);
    let receiver = Receiver::start_new();
    let topic = Sns::root(&gw).create_topic(
        "hangup-events",
        &[("push-endpoint", &receiver.url("h")), ("persistent", "true")],
    );
    let s3 = gw.s3();
    s3.create_bucket().bucket("hangups").send().await.unwrap();
    notify_everything(&s3, "hangups", &topic, None).await;
    let mut keys = Vec::new();
    for n in 0..10 {
        let key = format!("gone-{n}");
        let presigned = s3
            .put_object()
            .bucket("hangups")
            .key(&key)
            .presigned(aws_sdk_s3::presigning::PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
            .await
            .unwrap();
        let uri = presigned.uri().to_owned();
        let target = &uri[uri.find("/hangups").unwrap()..];
        let body = seeded_bytes(n, 64 * 1024);
        let mut conn = std::net::TcpStream::connect(gw.addr()).unwrap();
        write!(
            conn,
            "PUT {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            gw.addr(),
            body.len()
        )
        .unwrap();
        conn.write_all(&body).unwrap();
        drop(conn);
        keys.push(key);
    }
    // Every object the upstream took has its event, from this run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let up = upstream.s3();
    let mut stored = 0;
    for key in &keys {
        if up.head_object().bucket("hangups").key(key).send().await.is_ok() {
            stored += 1;
            receiver.wait_event(key, "ObjectCreated:Put").await;
        }
    }
    eprintln!("{stored} of {} abandoned PUTs reached the upstream", keys.len());
    assert!(
        stored > 0,
        "no abandoned PUT reached the upstream: the test proves nothing"
    );
    // And nothing is left open for the next start.
    assert!(
        !gw.logs().contains("settling later"),
        "an intent was left unsettled:\n{}",
        gw.logs()
    );
}
