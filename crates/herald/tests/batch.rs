//! Batch files (`push-endpoint=batch://<bucket>/<prefix>`): events of a
//! topic collected into NDJSON objects, cut by size and by age, written at
//! shutdown and after a crash, announced by the batch bucket's own
//! notifications, optionally gzip-compressed. Everything is driven with the
//! AWS SDK for Rust (S3, SQS) and the SNS query API, and checked by reading
//! the files back over S3.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::time::{Duration, Instant};

use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration, TopicConfiguration};
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use herald_testkit::Sns;
use herald_testkit::{REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, TestServer, body_bytes, list_all_keys};
use serde_json::Value;

const SOURCE: &str = "batch-src";
const FILES: &str = "batch-files";
const PREFIX: &str = "main_stream/";

/// One batch file as read back over S3.
struct BatchFile {
    key: String,
    /// Uncompressed NDJSON.
    body: Vec<u8>,
    meta: BTreeMap<String, String>,
    content_type: String,
}

impl BatchFile {
    fn lines(&self) -> Vec<&[u8]> {
        let body = self.body.strip_suffix(b"\n").expect("a batch file ends with a newline");
        body.split(|b| *b == b'\n').collect()
    }

    fn records(&self) -> Vec<Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_slice(l).unwrap_or_else(|e| panic!("{}: line is not JSON ({e})", self.key)))
            .collect()
    }
}

/// Creates the source and batch buckets, a batch topic with `attrs`, and
/// a notification on the source bucket feeding it. Returns the topic ARN.
async fn setup(srv: &TestServer, attrs: &[(&str, &str)]) -> String {
    let s3 = srv.s3();
    for b in [SOURCE, FILES] {
        s3.create_bucket().bucket(b).send().await.expect("CreateBucket");
    }
    let endpoint = format!("batch://{FILES}/{PREFIX}");
    let mut all = vec![("push-endpoint", endpoint.as_str())];
    all.extend_from_slice(attrs);
    let arn = Sns::root(srv).create_topic("files", &all);
    put_notifications(&s3, SOURCE, vec![topic_config("to-files", &arn)], vec![]).await;
    arn
}

fn topic_config(id: &str, arn: &str) -> TopicConfiguration {
    TopicConfiguration::builder()
        .id(id)
        .topic_arn(arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap()
}

async fn put_notifications(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    topics: Vec<TopicConfiguration>,
    queues: Vec<QueueConfiguration>,
) {
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_topic_configurations(Some(topics))
                .set_queue_configurations(Some(queues))
                .build(),
        )
        .send()
        .await
        .expect("PutBucketNotificationConfiguration");
}

/// PUTs `keys` into the source bucket, `parallel` at a time; each worker
/// takes every `parallel`-th key in order.
async fn put_all(srv: &TestServer, keys: &[String], parallel: usize) {
    let mut tasks = Vec::new();
    for w in 0..parallel {
        let s3 = srv.s3();
        let mine: Vec<String> = keys.iter().skip(w).step_by(parallel).cloned().collect();
        tasks.push(tokio::spawn(async move {
            for k in mine {
                s3.put_object()
                    .bucket(SOURCE)
                    .key(&k)
                    .body(k.clone().into_bytes().into())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PUT {k}: {e:?}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Every batch file, in key order, decompressed when it is `.gz`.
async fn read_files(srv: &TestServer) -> Vec<BatchFile> {
    let s3 = srv.s3();
    let mut out = Vec::new();
    for (key, _) in list_all_keys(&s3, FILES, Some(PREFIX)).await {
        let got = s3.get_object().bucket(FILES).key(&key).send().await.expect("GetObject");
        let meta: BTreeMap<String, String> = got.metadata().cloned().unwrap_or_default().into_iter().collect();
        let content_type = got.content_type().unwrap_or_default().to_owned();
        let raw = body_bytes(got).await;
        let body = if key.ends_with(".gz") {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_end(&mut plain)
                .unwrap_or_else(|e| panic!("{key} is not gzip: {e}"));
            plain
        } else {
            raw
        };
        out.push(BatchFile {
            key,
            body,
            meta,
            content_type,
        });
    }
    out
}

/// Polls until the files hold at least `want` records (or panics after a
/// generous deadline, with the server log).
async fn wait_records(srv: &TestServer, want: usize) -> Vec<BatchFile> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let files = read_files(srv).await;
        let n: usize = files.iter().map(|f| f.lines().len()).sum();
        if n >= want {
            return files;
        }
        assert!(
            Instant::now() < deadline,
            "only {n} of {want} events reached batch files; server log:\n{}",
            srv.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn sequencer(r: &Value) -> u64 {
    let s = r["s3"]["object"]["sequencer"].as_str().expect("sequencer");
    u64::from_str_radix(s, 16).expect("hex sequencer")
}

fn object_key(r: &Value) -> String {
    r["s3"]["object"]["key"].as_str().expect("object key").to_owned()
}

/// What every batch file must look like, whatever cut it: the name pattern
/// under the prefix, one bare record per line, and metadata that matches
/// the lines.
fn check_file_shape(f: &BatchFile, gzip: bool) {
    let name = f.key.strip_prefix(PREFIX).expect("file under the prefix");
    let parts: Vec<&str> = name.split('/').collect();
    assert_eq!(parts.len(), 5, "{}: <YYYY>/<MM>/<DD>/<HH>/<file>", f.key);
    let file = parts[4];
    let ext = if gzip { ".ndjson.gz" } else { ".ndjson" };
    assert!(file.ends_with(ext), "{}: extension {ext}", f.key);
    let stem = file.strip_suffix(ext).unwrap();
    let (time, seq) = stem.split_once('-').expect("<time>-<seq>");
    assert!(seq.len() == 20 && seq.bytes().all(|b| b.is_ascii_digit()), "{}", f.key);
    let records = f.records();
    let first = records[0]["eventTime"].as_str().expect("eventTime").to_owned();
    let last = records[records.len() - 1]["eventTime"].as_str().unwrap().to_owned();
    // The directories and the name carry the first event's time.
    let compact: String = first.chars().filter(|c| c.is_ascii_digit()).collect();
    assert_eq!(
        format!("{}/{}/{}/{}", parts[0], parts[1], parts[2], parts[3]),
        format!("{}/{}/{}/{}", &first[0..4], &first[5..7], &first[8..10], &first[11..13])
    );
    assert_eq!(
        time.chars().filter(|c| c.is_ascii_digit()).collect::<String>(),
        compact,
        "{}",
        f.key
    );
    assert_eq!(f.meta.get("event-count"), Some(&records.len().to_string()), "{}", f.key);
    assert_eq!(f.meta.get("first-event-time"), Some(&first), "{}", f.key);
    assert_eq!(f.meta.get("last-event-time"), Some(&last), "{}", f.key);
    assert_eq!(
        f.content_type,
        if gzip {
            "application/gzip"
        } else {
            "application/x-ndjson"
        }
    );
    for r in &records {
        assert!(r.get("Records").is_none(), "lines are bare records, not wrapped");
        assert_eq!(r["eventName"], "ObjectCreated:Put");
    }
}

/// 10,000 events with a 1 MB limit: every file is a greedy cut (full up to
/// the next event that would not fit), so the number of files is what the
/// event sizes dictate; together they hold every event exactly once, in
/// commit order. The last, partial batch is written at graceful shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_events_are_cut_by_size_in_order() {
    let mut srv = TestServer::start();
    let limit: usize = 1024 * 1024;
    setup(
        &srv,
        &[("batch-max-bytes", &limit.to_string()), ("batch-max-seconds", "3600")],
    )
    .await;
    let keys: Vec<String> = (0..10_000).map(|i| format!("obj/{:05}", i)).collect();
    put_all(&srv, &keys, 8).await;
    let status = srv.terminate();
    assert!(status.success(), "herald exited with {status}; log:\n{}", srv.logs());
    // Graceful shutdown wrote the last, partial batch: nothing is left.
    assert_eq!(herald_testkit::topic_stats_entries(&srv, "files", "root"), 0);
    srv.restart();

    let files = read_files(&srv).await;
    let lines: Vec<Vec<u8>> = files.iter().flat_map(|f| f.lines()).map(|l| l.to_vec()).collect();
    // The cut the sizes dictate, computed here from the lines themselves.
    let mut expected_counts = Vec::new();
    let (mut size, mut count) = (0usize, 0usize);
    for l in &lines {
        let len = l.len() + 1;
        if count > 0 && size + len > limit {
            expected_counts.push(count);
            (size, count) = (0, 0);
        }
        size += len;
        count += 1;
    }
    expected_counts.push(count);
    let counts: Vec<usize> = files.iter().map(|f| f.lines().len()).collect();
    assert!(
        files.len() >= 5,
        "10,000 events of ~600 bytes make several 1 MB files, got {}",
        files.len()
    );
    assert_eq!(counts, expected_counts, "files must be cut greedily at {limit} bytes");
    for f in &files {
        assert!(f.body.len() <= limit, "{} has {} bytes", f.key, f.body.len());
        check_file_shape(f, false);
    }

    // Every event exactly once, in commit order.
    let records: Vec<Value> = files.iter().flat_map(|f| f.records()).collect();
    assert_eq!(records.len(), keys.len());
    let seen: HashSet<String> = records.iter().map(object_key).collect();
    assert_eq!(
        seen,
        keys.iter().cloned().collect::<HashSet<_>>(),
        "every object exactly once"
    );
    let seqs: Vec<u64> = records.iter().map(sequencer).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "events in commit order across files"
    );
    // Each writer's PUTs were sequential: its keys appear in its order.
    let mut last_per_worker: BTreeMap<usize, usize> = BTreeMap::new();
    for r in &records {
        let i: usize = object_key(r)[4..].parse().unwrap();
        if let Some(prev) = last_per_worker.insert(i % 8, i) {
            assert!(prev < i, "key {i} after {prev}");
        }
    }
    // Names sort by time: listing order is file order is event order.
    let mut names: Vec<&str> = files.iter().map(|f| f.key.as_str()).collect();
    names.sort();
    assert_eq!(names, files.iter().map(|f| f.key.as_str()).collect::<Vec<_>>());
}

/// The age limit writes a small batch without any size pressure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_flushes_a_small_batch() {
    let srv = TestServer::start();
    setup(&srv, &[("batch-max-seconds", "1")]).await;
    let keys: Vec<String> = (0..3).map(|i| format!("small/{i}")).collect();
    put_all(&srv, &keys, 1).await;
    let files = wait_records(&srv, 3).await;
    let records: Vec<Value> = files.iter().flat_map(|f| f.records()).collect();
    assert_eq!(records.iter().map(object_key).collect::<Vec<_>>(), keys);
    for f in &files {
        check_file_shape(f, false);
    }
}

/// kill -9 with events acknowledged but no file written yet: after the
/// restart every one of them is in a file, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pending_at_kill9_are_written_after_restart() {
    let mut srv = TestServer::start();
    setup(&srv, &[("batch-max-seconds", "3600")]).await;
    let keys: Vec<String> = (0..200).map(|i| format!("crash/{i:03}")).collect();
    put_all(&srv, &keys, 4).await;
    assert!(
        read_files(&srv).await.is_empty(),
        "nothing is due before an hour or 10 MB"
    );
    srv.kill9();
    srv.restart();
    let files = wait_records(&srv, keys.len()).await;
    let records: Vec<Value> = files.iter().flat_map(|f| f.records()).collect();
    let got: Vec<String> = records.iter().map(object_key).collect();
    assert_eq!(got.len(), keys.len(), "no duplicates");
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>(),
        keys.iter().cloned().collect::<HashSet<_>>()
    );
    let seqs: Vec<u64> = records.iter().map(sequencer).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "events in commit order");
}

fn sqs(srv: &TestServer) -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            ROOT_ACCESS_KEY,
            ROOT_SECRET_KEY,
            None,
            None,
            "herald-tests",
        ))
        .endpoint_url(srv.url())
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

/// Receives (and deletes) what the queue has within a second; returns the
/// event records, skipping `s3:TestEvent`s.
async fn receive_records(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let got = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage");
    let mut out = Vec::new();
    for m in got.messages.unwrap_or_default() {
        sqs.delete_message()
            .queue_url(url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .expect("DeleteMessage");
        let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
        out.extend(body["Records"].as_array().cloned().unwrap_or_default());
    }
    out
}

/// A QueueConfiguration on the batch bucket announces every batch file as
/// an ObjectCreated event in a built-in SQS queue, read with the SDK. The
/// batch bucket also notifies the batch topic itself: the files must not
/// feed their own topic, so they hold source-bucket events only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_on_the_batch_bucket_announces_each_file() {
    let mut srv = TestServer::start();
    let arn = setup(&srv, &[("batch-max-bytes", "4096"), ("batch-max-seconds", "3600")]).await;
    let sqs = sqs(&srv);
    let url = sqs
        .create_queue()
        .queue_name("new-files")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    put_notifications(
        &srv.s3(),
        FILES,
        vec![topic_config("loop", &arn)],
        vec![
            QueueConfiguration::builder()
                .id("announce")
                .queue_arn(&queue_arn)
                .events(Event::from("s3:ObjectCreated:*"))
                .build()
                .unwrap(),
        ],
    )
    .await;
    let keys: Vec<String> = (0..40).map(|i| format!("announced/{i:02}")).collect();
    put_all(&srv, &keys, 2).await;
    // Flush the last partial batch, then look.
    assert!(srv.terminate().success());
    srv.restart();
    let files = read_files(&srv).await;
    assert!(
        files.len() >= 4,
        "40 events of ~600 bytes in 4 KB files, got {}",
        files.len()
    );
    let records: Vec<Value> = files.iter().flat_map(|f| f.records()).collect();
    assert!(
        records.iter().all(|r| r["s3"]["bucket"]["name"] == SOURCE),
        "batch files must not batch themselves: {:?}",
        records
            .iter()
            .map(|r| r["s3"]["bucket"]["name"].clone())
            .collect::<HashSet<_>>()
    );
    assert_eq!(records.len(), keys.len());

    let want: HashSet<String> = files.iter().map(|f| f.key.clone()).collect();
    let mut announced: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while announced.len() < want.len() && Instant::now() < deadline {
        for r in receive_records(&sqs, &url).await {
            assert_eq!(r["eventName"], "ObjectCreated:Put");
            assert_eq!(r["s3"]["bucket"]["name"], FILES);
            let f = files.iter().find(|f| f.key == object_key(&r));
            let f = f.unwrap_or_else(|| panic!("announced {} which is not a batch file", object_key(&r)));
            assert_eq!(r["s3"]["object"]["size"], f.body.len());
            announced.push(object_key(&r));
        }
    }
    // Nothing more: each file is announced once.
    let extra = receive_records(&sqs, &url).await;
    assert!(extra.is_empty(), "announced again: {extra:?}");
    announced.sort();
    let mut want: Vec<String> = want.into_iter().collect();
    want.sort();
    assert_eq!(announced, want, "one announcement per batch file");
}

/// `batch-compression=gzip`: `.ndjson.gz` objects whose content is the
/// same NDJSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_batches_decompress_to_the_events() {
    let mut srv = TestServer::start();
    setup(
        &srv,
        &[
            ("batch-compression", "gzip"),
            ("batch-max-bytes", "8192"),
            ("batch-max-seconds", "3600"),
        ],
    )
    .await;
    let keys: Vec<String> = (0..60).map(|i| format!("zipped/{i:02}")).collect();
    put_all(&srv, &keys, 1).await;
    assert!(srv.terminate().success());
    srv.restart();
    let files = read_files(&srv).await;
    assert!(files.len() >= 3, "60 events in 8 KB batches, got {}", files.len());
    for f in &files {
        check_file_shape(f, true);
        assert!(f.body.len() <= 8192);
    }
    let records: Vec<Value> = files.iter().flat_map(|f| f.records()).collect();
    assert_eq!(records.iter().map(object_key).collect::<Vec<_>>(), keys);
}

/// Bad batch attributes are refused with InvalidArgument and create nothing,
/// and so is a second topic writing where another one already does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_batch_attributes_are_refused() {
    let srv = TestServer::start();
    let sns = Sns::root(&srv);
    for attrs in [
        vec![("push-endpoint", "batch://Not_A_Bucket/x/")],
        vec![("push-endpoint", "batch://files//x")],
        vec![("push-endpoint", "batch://files/x/"), ("batch-max-seconds", "0")],
        vec![("push-endpoint", "batch://files/x/"), ("batch-max-bytes", "lots")],
        vec![("push-endpoint", "batch://files/x/"), ("batch-compression", "zstd")],
    ] {
        let err = sns.try_create_topic("bad", &attrs).expect_err("must be refused");
        assert_eq!(
            (err.status, err.code.as_str()),
            (400, "InvalidArgument"),
            "{attrs:?}: {}",
            err.body
        );
    }
    assert!(sns.list_topic_arns().is_empty());
    // Batch files go only into the topic owner's own buckets.
    srv.s3()
        .create_bucket()
        .bucket("files")
        .send()
        .await
        .expect("CreateBucket");
    // Two topics writing to one bucket + prefix would write files of the
    // same names; re-creating the same topic is fine.
    let endpoint = [("push-endpoint", "batch://files/shared/")];
    let first = sns.create_topic("first", &endpoint);
    assert_eq!(sns.create_topic("first", &endpoint), first);
    let err = sns.try_create_topic("second", &endpoint).expect_err("prefix taken");
    assert_eq!(
        (err.status, err.code.as_str()),
        (400, "InvalidArgument"),
        "{}",
        err.body
    );
    assert!(err.body.contains(&first), "{}", err.body);
    sns.create_topic("second", &[("push-endpoint", "batch://files/other/")]);
}

/// Events queued for a push endpoint that is down go into files once the
/// topic's endpoint is switched to `batch://` (the `{"Records":[...]}`
/// bodies queued for pushing become one line per record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_a_topic_to_batch_writes_its_queued_events() {
    let srv = TestServer::start();
    let s3 = srv.s3();
    for b in [SOURCE, FILES] {
        s3.create_bucket().bucket(b).send().await.expect("CreateBucket");
    }
    let sns = Sns::root(&srv);
    let arn = sns.create_topic(
        "switch",
        &[
            ("push-endpoint", "http://127.0.0.1:1/down"),
            ("persistent", "true"),
            ("retry_sleep_duration", "3600"),
        ],
    );
    put_notifications(&s3, SOURCE, vec![topic_config("to-switch", &arn)], vec![]).await;
    let keys: Vec<String> = (0..5).map(|i| format!("queued/{i}")).collect();
    put_all(&srv, &keys, 1).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while herald_testkit::topic_stats_entries(&srv, "switch", "root") < keys.len() as u64 {
        assert!(Instant::now() < deadline, "events not queued; log:\n{}", srv.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(read_files(&srv).await.is_empty());
    let endpoint = format!("batch://{FILES}/{PREFIX}");
    sns.set_topic_attribute(&arn, "push-endpoint", &endpoint)
        .expect("SetTopicAttributes");
    let files = wait_records(&srv, keys.len()).await;
    let records: Vec<Value> = files.iter().flat_map(|f| f.records()).collect();
    assert_eq!(records.iter().map(object_key).collect::<Vec<_>>(), keys);
    for f in &files {
        check_file_shape(f, false);
    }
}
