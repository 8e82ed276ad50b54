//! The byte stream of an SFTP channel, read ahead by a task of its own.
//!
//! The SFTP processor answers one request at a time, and an answer may
//! wait for the client's window. If the processor also had to take the
//! client's next requests off the channel itself, a client that pipelines
//! many of them could fill russh's channel buffer; russh's session loop
//! then waits to deliver more, stops reading the socket, never sees the
//! window adjustment the answer waits for, and the session hangs. Here a
//! task keeps taking requests off the channel into a larger queue, so the
//! session loop always gets on to the window adjustments.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use russh::server::Msg;
use russh::{Channel, ChannelStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf, WriteHalf};
use tokio::sync::mpsc;

/// Reads (of at most 64 KiB each) queued ahead of the processor: bounds a
/// session's memory while leaving room for far more pipelined requests
/// than clients send.
const READ_AHEAD: usize = 1024;

/// Reads what the pump task queued; writes straight to the channel.
pub struct PumpedStream<W> {
    queue: mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
    writer: W,
}

/// Splits `channel` and starts the task that reads it ahead.
pub fn pumped(channel: Channel<Msg>) -> PumpedStream<WriteHalf<ChannelStream<Msg>>> {
    let (mut reader, writer) = tokio::io::split(channel.into_stream());
    let (tx, queue) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(bytes::Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    PumpedStream {
        queue,
        current: bytes::Bytes::new(),
        writer,
    }
}

impl<W: Unpin> AsyncRead for PumpedStream<W> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            match self.queue.poll_recv(cx) {
                Poll::Ready(Some(data)) => self.current = data,
                // End of the channel: a zero-byte read is EOF.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.current.len().min(buf.remaining());
        let chunk = self.current.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for PumpedStream<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}
