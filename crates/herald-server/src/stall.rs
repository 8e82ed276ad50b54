//! Transfers that stop moving: a request body that sends nothing more, and
//! a response the client never reads.
//!
//! The header-read and idle timeouts (see [`crate::conn`]) cover a
//! connection between requests. Once a request head is in, the request is
//! in flight and its connection is never idle, so a client that announces
//! a body and sends none of it, or asks for an object and stops reading,
//! would hold its connection slot forever; a few thousand of them take
//! every slot of `--max-connections`. Both guards here fail the transfer
//! after `--stall-timeout-secs` without progress (not after a total time:
//! a large upload on a slow link keeps going as long as bytes move).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use s3s::Body as S3Body;
use tokio::time::{Instant, Sleep};

/// The error a stalled request body ends with (S3 answers it as
/// `RequestTimeout`, SNS and SQS with their own 408).
#[derive(Debug)]
pub struct BodyStalled(pub Duration);

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the request body sent nothing for {} seconds; the upload was abandoned",
            self.0.as_secs()
        )
    }
}

impl std::error::Error for BodyStalled {}

/// Whether `err` (or what caused it) is a [`BodyStalled`].
pub fn is_stall(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyStalled>() {
            return true;
        }
        cur = e.source();
    }
    false
}

/// A request body that fails with [`BodyStalled`] when no frame arrives
/// for `timeout`. The timer restarts at every frame.
pub struct StallGuardBody<B> {
    inner: B,
    timeout: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<B> StallGuardBody<B> {
    pub fn new(inner: B, timeout: Duration) -> Self {
        StallGuardBody {
            inner,
            timeout,
            timer: Box::pin(tokio::time::sleep(timeout)),
        }
    }
}

impl<B> Body for StallGuardBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = Instant::now() + this.timeout;
                this.timer.as_mut().reset(deadline);
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(Box::new(BodyStalled(this.timeout)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection whose writes fail with `TimedOut` once one has waited
/// `timeout` for the client to make room (a client that stopped reading).
/// Reads are not timed here: between requests the idle timeout applies,
/// within a body [`StallGuardBody`] does.
pub struct StallGuardIo<T> {
    inner: T,
    timeout: Duration,
    /// Armed while a write is pending; cleared by any write that proceeds.
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl<T> StallGuardIo<T> {
    pub fn new(inner: T, timeout: Duration) -> Self {
        StallGuardIo {
            inner,
            timeout,
            write_timer: None,
        }
    }

    /// Polls the pending-write timer; `Ready` with an error once it fired.
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let timer = self
            .write_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {} seconds", timeout.as_secs()),
        ))
    }

    /// Wraps a write-side poll: progress disarms the timer, waiting arms it.
    fn guard<R>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        match poll {
            Poll::Ready(r) => {
                self.write_timer = None;
                Poll::Ready(r)
            }
            Poll::Pending => match self.poll_stalled(cx) {
                Poll::Ready(e) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for StallGuardIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for StallGuardIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, poll)
    }
}

/// A request body the front serves: a connection's (`Incoming`), or one
/// the console made ([`Body`]).
pub(crate) trait FrontBody:
    Body<Data = Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + Unpin + Sized + 'static
{
    /// The body for s3s, failing if the client stops sending for `stall`.
    fn guarded(self, stall: std::time::Duration) -> S3Body;
    /// The body for s3s as it is.
    fn whole(self) -> S3Body;
}

impl FrontBody for hyper::body::Incoming {
    fn guarded(self, stall: std::time::Duration) -> S3Body {
        if hyper::body::Body::is_end_stream(&self) {
            S3Body::from(self)
        } else {
            S3Body::http_body(StallGuardBody::new(self, stall))
        }
    }

    fn whole(self) -> S3Body {
        S3Body::from(self)
    }
}

impl FrontBody for S3Body {
    fn guarded(self, stall: std::time::Duration) -> S3Body {
        if hyper::body::Body::is_end_stream(&self) {
            self
        } else {
            S3Body::http_body_unsync(StallGuardBody::new(self, stall))
        }
    }

    fn whole(self) -> S3Body {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    /// A request body fed by the test, frame by frame.
    struct Fed(mpsc::Receiver<Bytes>);

    impl Body for Fed {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
        }
    }

    fn fed() -> (mpsc::Sender<Bytes>, Fed) {
        let (tx, rx) = mpsc::channel(4);
        (tx, Fed(rx))
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_sending_fails_after_the_timeout() {
        let (tx, body) = fed();
        let mut guarded = StallGuardBody::new(body, Duration::from_secs(30));
        tx.send(Bytes::from_static(b"abc")).await.unwrap();
        let first = guarded.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"abc"));
        // 29 s later a frame still arrives in time and restarts the timer.
        tokio::time::advance(Duration::from_secs(29)).await;
        tx.send(Bytes::from_static(b"d")).await.unwrap();
        assert!(guarded.frame().await.unwrap().is_ok());
        // Then nothing: the body fails, as a stall.
        let err = guarded.frame().await.unwrap().unwrap_err();
        assert!(is_stall(err.as_ref()), "{err}");
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_keeps_sending_is_never_cut() {
        let (tx, body) = fed();
        let guarded = StallGuardBody::new(body, Duration::from_secs(30));
        tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                tx.send(Bytes::from_static(b"x")).await.unwrap();
            }
        });
        let all = guarded.collect().await.unwrap().to_bytes();
        assert_eq!(all.len(), 10, "200 s in total, never 30 s without a byte");
    }
}
