//! How a request names its target: presigned URLs and virtual-host style
//! addressing.

use super::*;

// ---------------------------------------------------------------------------
// Presigned URLs

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_get_and_put() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    mk_bucket(&s3, "presign").await;
    let cfg = || PresigningConfig::expires_in(Duration::from_secs(600)).unwrap();

    // Presigned PUT with a plain HTTP client.
    let body = random_bytes(50_000);
    let req = s3
        .put_object()
        .bucket("presign")
        .key("up/loaded.bin")
        .presigned(cfg())
        .await
        .expect("presign PUT");
    let resp = send_presigned(srv.addr(), &req, &body);
    assert_eq!(resp.status, 200, "presigned PUT: {} {}", resp.status, resp.body_str());
    assert_eq!(resp.header("etag"), Some(quoted_md5(&body).as_str()));
    assert_eq!(get(&s3, "presign", "up/loaded.bin").await, body);

    // Presigned GET.
    let req = s3
        .get_object()
        .bucket("presign")
        .key("up/loaded.bin")
        .presigned(cfg())
        .await
        .expect("presign GET");
    let resp = send_presigned(srv.addr(), &req, b"");
    assert_eq!(resp.status, 200, "presigned GET: {} {}", resp.status, resp.body_str());
    assert!(resp.body == body, "presigned GET body differs");

    // Tampered signature -> 403 SignatureDoesNotMatch.
    let uri = req.uri().to_string();
    let sig_at = uri.find("X-Amz-Signature=").expect("signature in presigned URL") + "X-Amz-Signature=".len();
    let mut bad = uri.clone();
    let first = &uri[sig_at..sig_at + 1];
    bad.replace_range(sig_at..sig_at + 1, if first == "0" { "1" } else { "0" });
    let target = &bad[bad.find("/presign").unwrap()..];
    let resp = raw_request(srv.addr(), "GET", target, &[], b"").unwrap();
    assert_eq!(resp.status, 403, "tampered presigned GET: {}", resp.body_str());
    assert!(
        resp.body_str().contains("SignatureDoesNotMatch"),
        "tampered presigned GET body: {}",
        resp.body_str()
    );

    // Presigned GET for a different key (signature covers the path).
    let target_other = uri[uri.find("/presign").unwrap()..].replace("up/loaded.bin", "up/other.bin");
    let resp = raw_request(srv.addr(), "GET", &target_other, &[], b"").unwrap();
    assert_eq!(
        resp.status,
        403,
        "presigned URL reused for another key: {}",
        resp.body_str()
    );

    // Expired URL -> 403 AccessDenied.
    let expired_cfg = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(7200))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let req = s3
        .get_object()
        .bucket("presign")
        .key("up/loaded.bin")
        .presigned(expired_cfg)
        .await
        .unwrap();
    let resp = send_presigned(srv.addr(), &req, b"");
    assert_eq!(resp.status, 403, "expired presigned GET: {}", resp.body_str());
    assert!(
        resp.body_str().contains("AccessDenied"),
        "expired presigned GET body: {}",
        resp.body_str()
    );
}

// ---------------------------------------------------------------------------
// Virtual-host style addressing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_host_style() {
    let srv = TestServer::start();
    let path_style = srv.s3();
    let vhost = srv.s3_virtual_host();

    mk_bucket(&path_style, "photos").await;
    put(&path_style, "photos", "2024/cat.jpg", b"meow").await;

    // Requests to photos.localhost:PORT reach bucket "photos".
    let g = vhost
        .get_object()
        .bucket("photos")
        .key("2024/cat.jpg")
        .send()
        .await
        .expect("vhost GetObject");
    assert_eq!(body_bytes(g).await, b"meow");
    vhost
        .put_object()
        .bucket("photos")
        .key("2024/dog.jpg")
        .body(ByteStream::from_static(b"woof"))
        .send()
        .await
        .expect("vhost PutObject");
    assert_eq!(get(&path_style, "photos", "2024/dog.jpg").await, b"woof");
    let l = vhost
        .list_objects_v2()
        .bucket("photos")
        .prefix("2024/")
        .send()
        .await
        .expect("vhost ListObjectsV2");
    let keys: Vec<&str> = l.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(keys, vec!["2024/cat.jpg", "2024/dog.jpg"]);
    vhost
        .head_bucket()
        .bucket("photos")
        .send()
        .await
        .expect("vhost HeadBucket");

    // Bucket creation and deletion through the virtual host.
    vhost
        .create_bucket()
        .bucket("vhost-made")
        .send()
        .await
        .expect("vhost CreateBucket");
    path_style
        .head_bucket()
        .bucket("vhost-made")
        .send()
        .await
        .expect("bucket made via vhost exists");
    vhost
        .delete_bucket()
        .bucket("vhost-made")
        .send()
        .await
        .expect("vhost DeleteBucket");
    assert_eq!(bucket_names(&path_style).await, vec!["photos"]);
}
