//! Crash consistency: kill -9 the server while PUTs are in flight, restart on
//! the same data dir, and check that every acknowledged write is intact and
//! that nothing torn is visible.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use herald_testkit::*;
use md5::{Digest, Md5};

const BUCKET: &str = "crashy";
const WRITERS: usize = 16;
const MIN_SIZE: usize = 1024;
const MAX_SIZE: usize = 300 * 1024;

fn seed_for(key: &str, generation: u64) -> u64 {
    let mut h = Md5::new();
    h.update(key.as_bytes());
    h.update(generation.to_le_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap())
}

/// Body for (key, generation): 8-byte little-endian generation header, then
/// deterministic bytes; the size (1 KiB..=300 KiB) is derived from the seed too.
fn body_for(key: &str, generation: u64) -> Vec<u8> {
    let seed = seed_for(key, generation);
    let size = MIN_SIZE + (seed % (MAX_SIZE - MIN_SIZE + 1) as u64) as usize;
    let mut v = generation.to_le_bytes().to_vec();
    v.extend_from_slice(&seeded_bytes(seed, size - 8));
    v
}

/// The generation whose body `data` is exactly, if any.
fn verify_body(key: &str, data: &[u8]) -> Result<u64, String> {
    if data.len() < 8 {
        return Err(format!(
            "{key}: body of {} bytes is shorter than the header",
            data.len()
        ));
    }
    let generation = u64::from_le_bytes(data[..8].try_into().unwrap());
    if generation > 1_000_000 {
        return Err(format!("{key}: implausible generation header {generation}"));
    }
    let expect = body_for(key, generation);
    if expect.len() != data.len() {
        return Err(format!(
            "{key}: generation {generation} should be {} bytes, got {}",
            expect.len(),
            data.len()
        ));
    }
    if expect != data {
        let first = expect.iter().zip(data).position(|(a, b)| a != b).unwrap();
        return Err(format!(
            "{key}: generation {generation} content differs from byte {first} (torn write?)"
        ));
    }
    Ok(generation)
}

#[derive(Default)]
struct WriterLog {
    /// Fresh keys: key -> acknowledged?
    fresh: BTreeMap<String, bool>,
    /// Hot key overwritten repeatedly: last acknowledged generation and the
    /// highest generation attempted.
    hot_key: String,
    hot_acked: Option<u64>,
    hot_attempted: Option<u64>,
    errors: usize,
}

async fn writer(s3: aws_sdk_s3::Client, cycle: usize, id: usize, stop: Arc<AtomicBool>) -> WriterLog {
    let mut log = WriterLog {
        hot_key: format!("c{cycle}/hot/w{id:02}"),
        ..Default::default()
    };
    let mut n = 0u64;
    let mut hot_gen = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        // Every 4th write overwrites this writer's hot key.
        let (key, generation) = if n.is_multiple_of(4) {
            hot_gen += 1;
            log.hot_attempted = Some(hot_gen);
            (log.hot_key.clone(), hot_gen)
        } else {
            (format!("c{cycle}/w{id:02}/obj-{n:05}"), 0)
        };
        let body = body_for(&key, generation);
        let res = s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(body.clone()))
            .send()
            .await;
        let ok = match res {
            Ok(out) => {
                assert_eq!(
                    out.e_tag(),
                    Some(quoted_md5(&body).as_str()),
                    "acknowledged PUT {key} returned wrong ETag"
                );
                true
            }
            Err(_) => {
                log.errors += 1;
                false
            }
        };
        if generation == 0 {
            log.fresh.insert(key, ok);
        } else if ok {
            log.hot_acked = Some(generation);
        }
        if !ok {
            // The server is (being) killed; stop after the first failure.
            break;
        }
    }
    log
}

/// After restart: check acknowledged writes are present and every listed
/// object is intact. Returns the number of objects verified.
async fn verify_after_restart(srv: &TestServer, cycle: usize, logs: &[WriterLog]) -> usize {
    let s3 = srv.s3();
    let prefix = format!("c{cycle}/");
    let listed = list_all_keys(&s3, BUCKET, Some(&prefix)).await;
    let listed_map: HashMap<String, i64> = listed.iter().cloned().collect();
    assert_eq!(
        listed_map.len(),
        listed.len(),
        "listing after restart has duplicate keys"
    );
    let mut sorted = listed.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(
        sorted,
        listed.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        "listing not sorted"
    );

    // Every acknowledged fresh key is listed.
    let mut acked = 0;
    for log in logs {
        for (key, ok) in &log.fresh {
            if *ok {
                acked += 1;
                assert!(
                    listed_map.contains_key(key),
                    "cycle {cycle}: acknowledged PUT of {key} is missing after kill -9 + restart"
                );
            }
        }
        if log.hot_acked.is_some() {
            assert!(
                listed_map.contains_key(&log.hot_key),
                "cycle {cycle}: acknowledged hot key {} missing after restart",
                log.hot_key
            );
        }
    }
    assert!(
        acked > 0,
        "cycle {cycle}: no PUT was acknowledged before the kill; server too slow or broken"
    );

    // Every listed key must be one we attempted.
    let attempted: HashMap<&str, &WriterLog> = logs
        .iter()
        .flat_map(|l| {
            l.fresh
                .keys()
                .map(move |k| (k.as_str(), l))
                .chain(std::iter::once((l.hot_key.as_str(), l)))
        })
        .collect();

    // GET + HEAD every listed object, 8 at a time.
    let keys: Vec<(String, i64)> = listed.clone();
    let mut verified = 0;
    for chunk in keys.chunks(8) {
        let mut tasks = Vec::new();
        for (key, size) in chunk.iter().cloned() {
            let s3 = s3.clone();
            tasks.push(tokio::spawn(async move {
                let got = s3.get_object().bucket(BUCKET).key(&key).send().await;
                let got = match got {
                    Ok(g) => g,
                    Err(e) => return Err(format!("{key}: listed but GET failed: {e:?}")),
                };
                let data = body_bytes(got).await;
                if data.len() as i64 != size {
                    return Err(format!(
                        "{key}: listed size {size} but GET returned {} bytes",
                        data.len()
                    ));
                }
                let generation = verify_body(&key, &data)?;
                let head = s3
                    .head_object()
                    .bucket(BUCKET)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| format!("{key}: HEAD failed: {e:?}"))?;
                let want = quoted_md5(&data);
                if head.e_tag() != Some(want.as_str()) {
                    return Err(format!("{key}: HEAD ETag {:?} != MD5 of body {want}", head.e_tag()));
                }
                if head.content_length() != Some(data.len() as i64) {
                    return Err(format!(
                        "{key}: HEAD Content-Length {:?} != {}",
                        head.content_length(),
                        data.len()
                    ));
                }
                Ok((key, generation))
            }));
        }
        for t in tasks {
            let (key, generation) = t.await.unwrap().unwrap_or_else(|e| panic!("cycle {cycle}: {e}"));
            let log = attempted
                .get(key.as_str())
                .unwrap_or_else(|| panic!("cycle {cycle}: listed key {key} was never written"));
            if key == log.hot_key {
                let lo = log.hot_acked.unwrap_or(1);
                let hi = log.hot_attempted.unwrap_or(0);
                assert!(
                    generation >= lo && generation <= hi,
                    "cycle {cycle}: {key} has generation {generation}; last acknowledged {:?}, last attempted {:?} \
                     (an acknowledged overwrite was lost or an old version resurfaced)",
                    log.hot_acked,
                    log.hot_attempted
                );
            } else {
                assert_eq!(generation, 0, "{key}");
            }
            verified += 1;
        }
    }
    verified
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_puts_keeps_acknowledged_writes() {
    let mut srv = TestServer::start();
    srv.s3()
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");

    let mut all_logs: Vec<(usize, Vec<WriterLog>)> = Vec::new();
    for cycle in 1..=2usize {
        let stop = Arc::new(AtomicBool::new(false));
        let s3 = srv.s3_no_retry();
        let handles: Vec<_> = (0..WRITERS)
            .map(|id| tokio::spawn(writer(s3.clone(), cycle, id, stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // kill -9 while uploads are in flight.
        srv.kill9();
        stop.store(true, Ordering::Relaxed);
        let mut logs = Vec::new();
        for h in handles {
            logs.push(h.await.expect("writer task panicked"));
        }
        drop(s3);
        let acked: usize = logs.iter().map(|l| l.fresh.values().filter(|v| **v).count()).sum();
        let failed: usize = logs.iter().map(|l| l.errors).sum();
        eprintln!("cycle {cycle}: {acked} fresh PUTs acknowledged, {failed} failed at the kill");

        srv.restart();
        let n = verify_after_restart(&srv, cycle, &logs).await;
        eprintln!("cycle {cycle}: verified {n} listed objects after restart");
        all_logs.push((cycle, logs));
    }

    // After the second crash the first cycle's data is still intact.
    let n = verify_after_restart(&srv, 1, &all_logs[0].1).await;
    assert!(n > 0);

    // The server still accepts writes after two crashes.
    let s3 = srv.s3();
    let body = body_for("after/crash", 0);
    s3.put_object()
        .bucket(BUCKET)
        .key("after/crash")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PUT after restarts");
    let g = s3.get_object().bucket(BUCKET).key("after/crash").send().await.unwrap();
    assert!(body_bytes(g).await == body);
}

/// Uploads `p1` and `p2` as the two parts of `mpcrash/done` and completes it.
async fn complete_a_two_part_upload(s3: &aws_sdk_s3::Client, p1: &[u8], p2: &[u8]) {
    let id = s3
        .create_multipart_upload()
        .bucket("mpcrash")
        .key("done")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let mut parts = Vec::new();
    for (i, p) in [p1, p2].iter().enumerate() {
        let e = s3
            .upload_part()
            .bucket("mpcrash")
            .key("done")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(p.to_vec()))
            .send()
            .await
            .unwrap()
            .e_tag()
            .unwrap()
            .to_string();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(e)
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket("mpcrash")
        .key("done")
        .upload_id(&id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Starts `mpcrash/pending` and uploads `p1` as its part 1; returns the upload id and the part's ETag.
async fn start_an_upload_with_one_part(s3: &aws_sdk_s3::Client, p1: &[u8]) -> (String, String) {
    let pending = s3
        .create_multipart_upload()
        .bucket("mpcrash")
        .key("pending")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let pe = s3
        .upload_part()
        .bucket("mpcrash")
        .key("pending")
        .upload_id(&pending)
        .part_number(1)
        .body(ByteStream::from(p1.to_vec()))
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_string();
    (pending, pe)
}

/// After the crash: the pending upload still lists its part, completes, and reads back as `p1`.
async fn check_the_pending_upload_completes(s3: &aws_sdk_s3::Client, pending: &str, pe: &str, p1: &[u8]) {
    // The acknowledged part of the pending upload survives and can be completed.
    let lp = s3
        .list_parts()
        .bucket("mpcrash")
        .key("pending")
        .upload_id(pending)
        .send()
        .await
        .expect("ListParts after crash");
    assert_eq!(lp.parts().len(), 1);
    assert_eq!(lp.parts()[0].e_tag(), Some(pe));
    s3.complete_multipart_upload()
        .bucket("mpcrash")
        .key("pending")
        .upload_id(pending)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(pe)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("complete pending upload after crash");
    let g = s3.get_object().bucket("mpcrash").key("pending").send().await.unwrap();
    assert!(body_bytes(g).await == p1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_multipart_keeps_completed_uploads() {
    let mut srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("mpcrash").send().await.unwrap();
    // A completed multipart upload and an in-progress one with one part.
    let p1 = random_bytes(5 * 1024 * 1024);
    let p2 = random_bytes(1234);
    complete_a_two_part_upload(&s3, &p1, &p2).await;
    let (pending, pe) = start_an_upload_with_one_part(&s3, &p1).await;
    drop(s3);

    srv.kill9();
    srv.restart();
    let s3 = srv.s3();

    let g = s3
        .get_object()
        .bucket("mpcrash")
        .key("done")
        .send()
        .await
        .expect("completed MPU after crash");
    assert_eq!(g.e_tag(), Some(multipart_etag(&[&p1, &p2]).as_str()));
    let data = body_bytes(g).await;
    assert!(data.len() == p1.len() + p2.len() && data[..p1.len()] == p1[..] && data[p1.len()..] == p2[..]);

    check_the_pending_upload_completes(&s3, &pending, &pe, &p1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_and_data_survives() {
    let mut srv = TestServer::start();
    let s3 = srv.s3();
    s3.create_bucket().bucket("graceful").send().await.unwrap();
    let body = random_bytes(70_000);
    s3.put_object()
        .bucket("graceful")
        .key("k")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    drop(s3);

    let status = srv.terminate();
    assert!(
        status.success(),
        "herald serve exited with {status} on SIGTERM; output:\n{}",
        srv.logs()
    );
    let logs = srv.logs();
    assert!(
        logs.contains("listening"),
        "server never printed a `listening` line:\n{logs}"
    );

    srv.restart();
    let s3 = srv.s3();
    let g = s3
        .get_object()
        .bucket("graceful")
        .key("k")
        .send()
        .await
        .expect("GET after graceful restart");
    assert!(body_bytes(g).await == body);
}

/// Writes fresh keys `c<cycle>-w<id>-<n>` until the server stops answering;
/// returns the keys whose PUT was acknowledged.
async fn event_writer(s3: aws_sdk_s3::Client, cycle: usize, id: usize, stop: Arc<AtomicBool>) -> Vec<String> {
    let mut acked = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let key = format!("c{cycle}-w{id}-{n}");
        match s3
            .put_object()
            .bucket("events-crash")
            .key(&key)
            .body(ByteStream::from_static(b"event"))
            .send()
            .await
        {
            Ok(_) => acked.push(key),
            Err(_) => break,
        }
    }
    acked
}

/// Object keys of the event records in `bodies` (`{"Records":[...]}`),
/// test events left out.
fn event_keys(bodies: impl IntoIterator<Item = serde_json::Value>) -> Vec<String> {
    bodies
        .into_iter()
        .flat_map(|b| b["Records"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["s3"]["object"]["key"].as_str().map(String::from))
        .collect()
}

/// Keys seen more than once.
fn repeated(keys: &[String]) -> Vec<(&String, usize)> {
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for k in keys {
        *counts.entry(k).or_default() += 1;
    }
    counts.into_iter().filter(|(_, n)| *n > 1).collect()
}

/// A persistent topic to `receiver`, a queue, bucket `events-crash` notifying both; returns the SQS client, queue URL.
async fn set_up_topic_queue_and_bucket(srv: &TestServer, receiver: &Receiver) -> (aws_sdk_sqs::Client, String) {
    let topic = Sns::root(srv).create_topic(
        "crash-events",
        &[
            ("push-endpoint", &receiver.url("events")),
            ("persistent", "true"),
            ("retry_sleep_duration", "1"),
        ],
    );
    let sqs = srv.sqs_as(ROOT_ACCESS_KEY, ROOT_SECRET_KEY);
    let queue_url = sqs
        .create_queue()
        .queue_name("crash-events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:{REGION}:root:crash-events");
    let s3 = srv.s3();
    s3.create_bucket().bucket("events-crash").send().await.unwrap();
    let created = aws_sdk_s3::types::Event::S3ObjectCreated;
    let config = aws_sdk_s3::types::NotificationConfiguration::builder()
        .topic_configurations(
            aws_sdk_s3::types::TopicConfiguration::builder()
                .id("to-topic")
                .topic_arn(&topic)
                .events(created.clone())
                .build()
                .unwrap(),
        )
        .queue_configurations(
            aws_sdk_s3::types::QueueConfiguration::builder()
                .id("to-queue")
                .queue_arn(&queue_arn)
                .events(created)
                .build()
                .unwrap(),
        )
        .build();
    s3.put_bucket_notification_configuration()
        .bucket("events-crash")
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
    (sqs, queue_url)
}

/// Ten rounds of PUT load cut by kill -9 and a restart; returns the acknowledged keys.
async fn put_through_ten_kills(srv: &mut TestServer) -> Vec<String> {
    let mut acked: Vec<String> = Vec::new();
    for cycle in 0..10 {
        let stop = Arc::new(AtomicBool::new(false));
        let s3 = srv.s3_no_retry();
        let writers: Vec<_> = (0..8)
            .map(|id| tokio::spawn(event_writer(s3.clone(), cycle, id, stop.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        srv.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            acked.extend(w.await.unwrap());
        }
        srv.restart();
    }
    acked
}

/// Receives (and deletes) until three empty rounds; returns the object keys of the queued events.
async fn drain_the_queue(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<String> {
    let mut in_queue: Vec<String> = Vec::new();
    let mut empty_rounds = 0;
    while empty_rounds < 3 {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            empty_rounds += 1;
            continue;
        }
        empty_rounds = 0;
        for m in messages {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            in_queue.extend(event_keys([body]));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    in_queue
}

/// Every acknowledged PUT is queued, none twice, and an unacknowledged one only with its object.
async fn check_the_queued_events(srv: &TestServer, acked: &[String], in_queue: &[String]) {
    let missing: Vec<&String> = acked.iter().filter(|k| !in_queue.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged PUTs without a queue event: {missing:?}"
    );
    assert_eq!(repeated(in_queue), vec![], "events queued twice");
    // An event of a PUT that was not acknowledged is there only if its
    // object is: a commit cut short by the kill leaves no event behind.
    let s3 = srv.s3();
    for key in in_queue.iter().filter(|k| !acked.contains(k)) {
        let head = s3.head_object().bucket("events-crash").key(key).send().await;
        assert!(head.is_ok(), "event for {key}, whose object was never committed");
    }
}

/// kill -9 under PUT load, ten times, with a persistent HTTP topic and a
/// QueueConfiguration on the bucket: every acknowledged PUT has its event
/// in both, and no event is there twice (the pipeline writes an event once,
/// with its object, and its move into the queue is idempotent). The webhook
/// receiver is down during the kills, so no push can be delivered and then
/// repeated for want of an acknowledgement (the one repeat at-least-once
/// delivery allows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_event_load_loses_and_duplicates_no_event() {
    let mut srv = TestServer::start();
    let mut receiver = Receiver::reserved();
    let (sqs, queue_url) = set_up_topic_queue_and_bucket(&srv, &receiver).await;

    let acked = put_through_ten_kills(&mut srv).await;
    eprintln!("{} PUTs acknowledged over 10 kills", acked.len());
    assert!(
        acked.len() >= 50,
        "too few PUTs acknowledged ({}) for the test to mean anything",
        acked.len()
    );

    // The queue: every acknowledged PUT's event, none twice.
    let in_queue = drain_the_queue(&sqs, &queue_url).await;
    check_the_queued_events(&srv, &acked, &in_queue).await;

    // The topic: the receiver comes up, everything is pushed once.
    receiver.start();
    receiver
        .wait_for("every acknowledged PUT's event pushed", 120, |r| {
            let got = event_keys(r.requests().iter().filter_map(|q| q.json()));
            acked.iter().all(|k| got.contains(k))
        })
        .await;
    receiver
        .wait_for("the topic's log drained", 60, |_| {
            herald_testkit::topic_stats_entries(&srv, "crash-events", "root") == 0
        })
        .await;
    let pushed = event_keys(receiver.requests().iter().filter_map(|q| q.json()));
    assert_eq!(repeated(&pushed), vec![], "events pushed twice");
    assert!(
        in_queue.len() == pushed.len(),
        "the queue and the topic got different events: {} vs {}",
        in_queue.len(),
        pushed.len()
    );
}
