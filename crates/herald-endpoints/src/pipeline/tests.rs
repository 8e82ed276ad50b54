//! The pipeline against raw TCP receivers, well-behaved and not.

use std::sync::atomic::AtomicUsize;

use bytes::Buf;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::http::MAX_RESPONSE_BYTES;

/// A receiver on a free port running `each` per accepted connection;
/// returns its address and the count of connections accepted.
async fn receiver<F, Fut>(each: F) -> (std::net::SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            count.fetch_add(1, SeqCst);
            tokio::spawn(each(s));
        }
    });
    (addr, accepted)
}

/// A pipeline to `addr` over plain TCP, 1 s per answer.
fn pipeline_to(addr: std::net::SocketAddr, lanes: usize) -> Pipeline {
    let connect: Connect = Box::new(move || {
        Box::pin(async move {
            let s = TcpStream::connect(addr).await.map_err(|e| PushError::Connect {
                endpoint: "test".into(),
                reason: e.to_string(),
            })?;
            Ok(Box::new(s) as Box<dyn Io>)
        })
    });
    Pipeline::new(connect, Duration::from_secs(1), "test".into(), lanes)
}

fn request(body: &str) -> Bytes {
    Bytes::from(format!(
        "POST / HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// Reads one request from `buf`/`s`; its body, or None at the end.
async fn next_request(s: &mut TcpStream, buf: &mut BytesMut) -> Option<String> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(n)) = req.parse(buf) {
            let len: usize = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap_or(0);
            if buf.len() >= n + len {
                buf.advance(n);
                return Some(String::from_utf8(buf.split_to(len).to_vec()).unwrap());
            }
        }
        if s.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
}

/// A receiver recording every request body it reads and answering
/// `answer(body)`; `one_per_connection`: it closes after the first.
async fn recording_receiver(
    answer: fn(&str) -> Vec<u8>,
    one_per_connection: bool,
) -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let (addr, _) = receiver(move |mut s| {
        let seen = seen.clone();
        async move {
            let mut buf = BytesMut::new();
            while let Some(body) = next_request(&mut s, &mut buf).await {
                seen.lock().await.push(body.clone());
                if s.write_all(&answer(&body)).await.is_err() || one_per_connection {
                    return;
                }
            }
        }
    })
    .await;
    (addr, received)
}

/// A keep-alive receiver answering each request with its body after
/// `delay`.
async fn echo_receiver(delay: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    receiver(move |mut s| async move {
        let mut buf = BytesMut::new();
        while let Some(body) = next_request(&mut s, &mut buf).await {
            tokio::time::sleep(delay).await;
            if s.write_all(&ok_echo(&body)).await.is_err() {
                return;
            }
        }
    })
    .await
}

fn ok_echo(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

async fn send_all(p: &Pipeline, bodies: &[String]) -> Vec<Result<Answer, PushError>> {
    futures::future::join_all(bodies.iter().map(|b| p.send(request(b)))).await
}

fn bodies(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("event-{i}")).collect()
}

/// The receiver answers only once it has read all eight requests from
/// its one connection: a client that waited for each answer before
/// the next request (or spread them over connections) would hang.
#[tokio::test]
async fn requests_ready_together_go_out_pipelined_and_get_their_own_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        while got.len() < 8 {
            got.push(next_request(&mut s, &mut buf).await.unwrap());
        }
        // Answered in order, each echoing its request's body; one
        // chunked, one after an interim answer.
        for (i, body) in got.iter().enumerate() {
            let answer = match i {
                3 => format!(
                    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\n{}\r\n{:x}\r\n{}\r\n0\r\nTrailer: t\r\n\r\n",
                    &body[..3],
                    body.len() - 3,
                    &body[3..]
                )
                .into_bytes(),
                5 => [b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(), ok_echo(body)].concat(),
                _ => ok_echo(body),
            };
            s.write_all(&answer).await.unwrap();
        }
        got
    });
    let p = pipeline_to(addr, 64);
    let sent = bodies(8);
    let answers = tokio::time::timeout(Duration::from_secs(10), send_all(&p, &sent))
        .await
        .expect("pipelined: every answer came");
    for (body, answer) in sent.iter().zip(answers) {
        let answer = answer.expect("answered");
        assert_eq!(answer.status, 200);
        assert_eq!(
            std::str::from_utf8(&answer.body).unwrap(),
            body,
            "each request gets its own answer"
        );
    }
    assert_eq!(server.await.unwrap(), sent, "the receiver got them in order");
    assert_eq!(p.lanes(), 1, "one connection was enough");
}

/// Codings over several `Transfer-Encoding` lines form one list: the
/// last line's `chunked` frames the body, so the next answer on the
/// connection is read as its own.
#[tokio::test]
async fn transfer_codings_over_several_lines_frame_the_body_as_chunked() {
    let chunked_over_two_lines = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len()
        )
        .into_bytes()
    };
    let (addr, received) = recording_receiver(chunked_over_two_lines, false).await;
    let p = pipeline_to(addr, 64);
    for body in bodies(2) {
        let answer = p.send(request(&body)).await.expect("answered");
        assert_eq!(std::str::from_utf8(&answer.body).unwrap(), body);
    }
    // Read as close-delimited, the first answer would run until the
    // timeout (the receiver keeps the connection open).
    assert_eq!(received.lock().await.len(), 2);
}

/// A receiver that answers one request and closes: every request is
/// answered all the same, and the pipeline stops pipelining to it.
#[tokio::test]
async fn a_receiver_closing_after_each_answer_still_gets_every_request_once() {
    let closing = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    // Dropped after one answer, with the other requests unread.
    let (addr, received) = recording_receiver(closing, true).await;
    let p = pipeline_to(addr, 64);
    let sent = bodies(6);
    for (body, answer) in sent.iter().zip(send_all(&p, &sent).await) {
        assert_eq!(std::str::from_utf8(&answer.expect("answered").body).unwrap(), body);
    }
    let mut got = received.lock().await.clone();
    got.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got, want, "each request reached the receiver once");
    assert!(p.shared.no_pipelining.load(SeqCst));
}

/// A receiver that closes idle connections: the next request, written
/// on the closed one, goes again on a fresh connection.
#[tokio::test]
async fn a_connection_the_receiver_closed_while_idle_is_replaced() {
    let (addr, accepted) = receiver(|mut s| async move {
        let mut buf = BytesMut::new();
        if let Some(body) = next_request(&mut s, &mut buf).await {
            s.write_all(&ok_echo(&body)).await.unwrap();
        }
        // Closes without a `connection: close` (an idle timeout).
    })
    .await;
    let p = pipeline_to(addr, 64);
    for body in bodies(3) {
        let answer = p.send(request(&body)).await.expect("answered");
        assert_eq!(std::str::from_utf8(&answer.body).unwrap(), body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(SeqCst), 3);
    assert!(
        !p.shared.no_pipelining.load(SeqCst),
        "an idle close says nothing about pipelining"
    );
}

/// An answer over the cap in the middle of a batch: Herald drops the
/// connection, and the requests behind it, which the receiver has, fail
/// rather than go again (no second copy).
#[tokio::test]
async fn requests_behind_a_capped_answer_fail_instead_of_going_twice() {
    let big_for_the_second = |body: &str| {
        if body == "event-1" {
            ok_echo(&"b".repeat(200_000))
        } else {
            ok_echo(body)
        }
    };
    let (addr, received) = recording_receiver(big_for_the_second, false).await;
    let p = pipeline_to(addr, 64);
    let sent = bodies(4);
    let results = send_all(&p, &sent).await;
    assert!(results[0].is_ok() && results[1].as_ref().unwrap().truncated);
    assert!(
        results[2].is_err() && results[3].is_err(),
        "not answered on the dropped connection"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut got = received.lock().await.clone();
    got.sort();
    assert_eq!(got, sent, "each request reached the receiver once");
}

/// Bytes the receiver sends unasked after an answer are not taken for
/// the next request's answer.
#[tokio::test]
async fn stray_bytes_after_an_answer_are_not_the_next_answer() {
    let (addr, _) = receiver(|mut s| async move {
        let mut buf = BytesMut::new();
        while let Some(body) = next_request(&mut s, &mut buf).await {
            let stray = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n";
            if s.write_all(&[ok_echo(&body), stray.to_vec()].concat()).await.is_err() {
                return;
            }
        }
    })
    .await;
    let p = pipeline_to(addr, 64);
    for body in bodies(3) {
        let answer = p.send(request(&body)).await.expect("answered");
        assert_eq!(
            (answer.status, std::str::from_utf8(&answer.body).unwrap()),
            (200, body.as_str())
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The push timeout bounds each request from its arrival, waiting behind
/// others included: a receiver answering every 250 ms cannot hold the
/// fifth of a pipelined batch for 1.25 s with a 1 s timeout.
#[tokio::test]
async fn a_request_waits_at_most_the_push_timeout_in_all() {
    let (addr, _) = echo_receiver(Duration::from_millis(250)).await;
    let p = pipeline_to(addr, 64);
    let results = send_all(&p, &bodies(5)).await;
    assert!(results[0].is_ok(), "the first is answered in time");
    assert!(
        matches!(results[4], Err(PushError::Timeout { .. })),
        "the fifth times out"
    );
}

/// A request that comes while the only lane waits on a receiver that
/// does not answer gets a lane of its own, however few requests wait:
/// it is answered before the stuck one times out.
#[tokio::test]
async fn a_request_behind_a_stuck_answer_gets_another_lane() {
    let (addr, _) = receiver(|mut s| async move {
        let mut buf = BytesMut::new();
        while let Some(body) = next_request(&mut s, &mut buf).await {
            if body == "stuck" {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            if s.write_all(&ok_echo(&body)).await.is_err() {
                return;
            }
        }
    })
    .await;
    let p = Arc::new(pipeline_to(addr, 64));
    let order = Arc::new(Mutex::new(Vec::new()));
    let push = |body: &'static str, after: Duration| {
        let (p, order) = (p.clone(), order.clone());
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let result = p.send(request(body)).await;
            order.lock().await.push((body, result.is_ok()));
        })
    };
    let stuck = push("stuck", Duration::ZERO);
    let quick = push("quick", Duration::from_millis(100));
    let _ = tokio::join!(stuck, quick);
    assert_eq!(
        *order.lock().await,
        vec![("quick", true), ("stuck", false)],
        "the second request did not wait for the first's timeout"
    );
}

/// Lanes end after IDLE_CLOSE without work and come back with it.
#[tokio::test]
async fn idle_lanes_end_and_come_back() {
    let (addr, accepted) = echo_receiver(Duration::ZERO).await;
    let p = pipeline_to(addr, 64);
    p.send(request("one")).await.expect("answered");
    assert_eq!(p.lanes(), 1);
    tokio::time::sleep(IDLE_CLOSE + Duration::from_millis(500)).await;
    assert_eq!(p.lanes(), 0, "the idle lane ended");
    p.send(request("two")).await.expect("answered by a new lane");
    assert_eq!(accepted.load(SeqCst), 2);
}

/// What a hostile receiver gets: an error per request, bounded in
/// time and memory, never a hang.
#[tokio::test]
async fn hostile_answers_fail_the_push_within_bounds() {
    let huge_head = format!("HTTP/1.1 200 OK\r\nx: {}\r\n", "a".repeat(20_000)).into_bytes();
    let endless_interim = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(20);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("head over 16 KiB", huge_head),
        ("malformed", b"HTTP/9.9 abc\r\n\r\n".to_vec()),
        ("too many interim answers", endless_interim),
        (
            "conflicting lengths",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab".to_vec(),
        ),
        (
            "bad chunk",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        ),
        ("no answer", Vec::new()),
    ];
    for (what, answer) in cases {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = BytesMut::new();
            next_request(&mut s, &mut buf).await;
            let _ = s.write_all(&answer).await;
            // Holds the connection open: the timeout must end the wait.
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let p = pipeline_to(addr, 64);
        // Far beyond the 1 s push timeout: a hang, not a slow machine.
        let result = tokio::time::timeout(Duration::from_secs(20), p.send(request("x")))
            .await
            .unwrap_or_else(|_| panic!("{what}: the push hung"));
        assert!(result.is_err(), "{what}: refused");
    }
}

/// A receiver that reads one request and drops whatever else came in
/// the same read (hand-written receivers do): the pipelined ones time
/// out once, then requests go one per write and all get through.
#[tokio::test]
async fn a_receiver_that_drops_pipelined_requests_gets_them_one_at_a_time() {
    let (addr, _) = receiver(|mut s| async move {
        loop {
            // One read, one request; the rest of the read is lost.
            let mut buf = BytesMut::with_capacity(64 * 1024);
            let Some(body) = next_request(&mut s, &mut buf).await else {
                return;
            };
            if s.write_all(&ok_echo(&body)).await.is_err() {
                return;
            }
        }
    })
    .await;
    let p = pipeline_to(addr, 64);
    let sent = bodies(8);
    let first = send_all(&p, &sent).await;
    assert!(first.iter().any(|r| r.is_err()), "the dropped ones time out");
    assert!(p.shared.no_pipelining.load(SeqCst));
    let again: Vec<String> = sent
        .iter()
        .zip(&first)
        .filter(|(_, r)| r.is_err())
        .map(|(b, _)| b.clone())
        .collect();
    for (body, answer) in again.iter().zip(send_all(&p, &again).await) {
        assert_eq!(
            std::str::from_utf8(&answer.expect("answered one at a time").body).unwrap(),
            body
        );
    }
}

/// A body over the cap is cut there and the connection is not reused
/// (its rest was never read); the next push uses a fresh one.
#[tokio::test]
async fn a_large_answer_body_is_capped_and_its_connection_dropped() {
    let (addr, accepted) = receiver(|mut s| async move {
        let mut buf = BytesMut::new();
        while let Some(body) = next_request(&mut s, &mut buf).await {
            let big = "b".repeat(200_000);
            let answer = if body == "big" { ok_echo(&big) } else { ok_echo(&body) };
            if s.write_all(&answer).await.is_err() {
                return;
            }
        }
    })
    .await;
    let p = pipeline_to(addr, 64);
    let big = p.send(request("big")).await.expect("answered");
    assert_eq!(big.body.len(), MAX_RESPONSE_BYTES);
    assert!(big.truncated);
    let next = p.send(request("small")).await.expect("answered");
    assert_eq!(&next.body[..], b"small");
    assert_eq!(
        accepted.load(SeqCst),
        2,
        "the capped answer's connection was not reused"
    );
}

/// A slow receiver gets more connections, one request each, rather
/// than a queue behind one (a pipelined connection is served in
/// order).
#[tokio::test]
async fn a_slow_receiver_gets_requests_on_more_connections() {
    let (addr, accepted) = echo_receiver(Duration::from_millis(50)).await;
    let p = pipeline_to(addr, 64);
    // The first exchange shows the receiver is slow.
    p.send(request("warm-up")).await.expect("answered");
    let sent = bodies(20);
    for answer in send_all(&p, &sent).await {
        answer.expect("answered");
    }
    assert!(accepted.load(SeqCst) >= 10, "requests spread over connections");
}
