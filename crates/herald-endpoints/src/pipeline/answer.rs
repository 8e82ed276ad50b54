//! Reading a receiver's answers off a pipelined connection: status line
//! and headers (httparse), then the body by its framing, every part
//! bounded (see the limits in the parent module).

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncReadExt;

use super::{Io, MAX_CHUNK_LINE, MAX_HEAD_BYTES, MAX_HEADERS, MAX_INTERIM};
use crate::http::{Answer, MAX_RESPONSE_BYTES};

/// An open connection and the bytes read from it but not yet used.
pub(super) struct Conn {
    pub(super) io: Box<dyn Io>,
    pub(super) buf: BytesMut,
    /// Answers read on this connection so far.
    pub(super) answers: usize,
    /// A final answer's head was read and its body not yet: a read cut
    /// here leaves the connection unusable.
    pub(super) in_body: bool,
}

/// Why reading an answer stopped.
pub(super) enum ReadError {
    /// The receiver closed (or reset) the connection before any byte of
    /// this answer: the requests behind it were most likely not read.
    Closed,
    /// Anything else: a broken or hostile answer, or a connection lost
    /// in the middle of one.
    Broken(String),
}

/// How an answer's body ends.
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    /// Until the receiver closes the connection.
    Close,
}

impl Conn {
    pub(super) fn new(io: Box<dyn Io>) -> Conn {
        Conn {
            io,
            buf: BytesMut::with_capacity(8 * 1024),
            answers: 0,
            in_body: false,
        }
    }

    /// Whether a kept connection can carry the next batch: nothing to
    /// read on it (a closed one reads its end; a receiver's unasked-for
    /// bytes, such as a 408 on an idle connection, would pass for the next
    /// answer). Looks once, without waiting.
    pub(super) async fn still_open(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        // Polled once by hand: pending means quiet. (A zero timeout would
        // wait for the timer's next 1 ms tick when the read is pending.)
        let mut read = std::pin::pin!(self.io.read_buf(&mut self.buf));
        let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(read.as_mut().poll(cx))).await;
        polled.is_pending()
    }

    /// Reads more bytes; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        self.buf.reserve(8 * 1024);
        self.io.read_buf(&mut self.buf).await
    }

    /// Reads one final answer (skipping informational ones): its status,
    /// at most [`MAX_RESPONSE_BYTES`] of its body, and whether the
    /// connection ends after it.
    pub(super) async fn read_answer(&mut self) -> Result<(Answer, bool), ReadError> {
        let mut interim = 0;
        loop {
            let (status, mut close, framing) = self.read_head(interim == 0).await?;
            if (100..200).contains(&status) {
                if status == 101 {
                    return Err(ReadError::Broken("the receiver switched protocols".into()));
                }
                interim += 1;
                if interim > MAX_INTERIM {
                    return Err(ReadError::Broken("too many informational answers".into()));
                }
                continue;
            }
            self.in_body = true;
            let (body, truncated) = match framing {
                Framing::Empty => (Bytes::new(), false),
                Framing::Length(n) => self.read_length(n).await?,
                Framing::Chunked => self.read_chunked().await?,
                Framing::Close => {
                    close = true;
                    self.read_to_close().await?
                }
            };
            self.in_body = false;
            // The rest of a capped body is not read: the connection cannot
            // carry another answer.
            let close = close || truncated;
            return Ok((
                Answer {
                    status,
                    body,
                    truncated,
                },
                close,
            ));
        }
    }

    /// Parses a status line and headers: (status, connection closes after
    /// this answer, body framing). `first`: no byte of this answer was
    /// read yet, so a close here is a clean one.
    async fn read_head(&mut self, first: bool) -> Result<(u16, bool, Framing), ReadError> {
        loop {
            if !self.buf.is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Response::new(&mut headers);
                match parsed.parse(&self.buf) {
                    Ok(httparse::Status::Complete(len)) => {
                        let head = read_fields(&parsed)?;
                        self.buf.advance(len);
                        return Ok(head);
                    }
                    Ok(httparse::Status::Partial) if self.buf.len() > MAX_HEAD_BYTES => {
                        return Err(ReadError::Broken("the answer's head is over 16 KiB".into()));
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => return Err(ReadError::Broken(format!("malformed answer: {e}"))),
                }
            }
            let was_empty = self.buf.is_empty();
            match self.fill().await {
                Ok(0) if first && was_empty => return Err(ReadError::Closed),
                Ok(0) => {
                    return Err(ReadError::Broken(
                        "the connection closed in the middle of an answer".into(),
                    ));
                }
                Ok(_) => {}
                Err(e) if first && was_empty && is_reset(&e) => return Err(ReadError::Closed),
                Err(e) => return Err(ReadError::Broken(format!("reading the answer: {e}"))),
            }
        }
    }

    async fn need(&mut self, n: usize) -> Result<(), ReadError> {
        while self.buf.len() < n {
            match self.fill().await {
                Ok(0) => {
                    return Err(ReadError::Broken(
                        "the connection closed in the middle of an answer".into(),
                    ));
                }
                Ok(_) => {}
                Err(e) => return Err(ReadError::Broken(format!("reading the answer: {e}"))),
            }
        }
        Ok(())
    }

    async fn read_length(&mut self, n: u64) -> Result<(Bytes, bool), ReadError> {
        let keep = n.min(MAX_RESPONSE_BYTES as u64) as usize;
        self.need(keep).await?;
        let body = self.buf.split_to(keep).freeze();
        Ok((body, n > keep as u64))
    }

    async fn read_to_close(&mut self) -> Result<(Bytes, bool), ReadError> {
        while self.buf.len() <= MAX_RESPONSE_BYTES {
            match self.fill().await {
                Ok(0) => break,
                // TLS closed without close_notify: the end all the same.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Ok(_) => {}
                Err(e) => return Err(ReadError::Broken(format!("reading the answer: {e}"))),
            }
        }
        let truncated = self.buf.len() > MAX_RESPONSE_BYTES;
        let keep = self.buf.len().min(MAX_RESPONSE_BYTES);
        let body = self.buf.split_to(keep).freeze();
        Ok((body, truncated))
    }

    /// One CRLF-ended line of chunked framing, without its CRLF.
    async fn read_line(&mut self) -> Result<BytesMut, ReadError> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(at);
                self.buf.advance(2);
                return Ok(line);
            }
            if self.buf.len() > MAX_CHUNK_LINE {
                return Err(ReadError::Broken("a chunk's framing line is too long".into()));
            }
            let n = self.buf.len() + 1;
            self.need(n).await?;
        }
    }

    async fn read_chunked(&mut self) -> Result<(Bytes, bool), ReadError> {
        let mut body = BytesMut::new();
        loop {
            let line = self.read_line().await?;
            let size = std::str::from_utf8(&line)
                .ok()
                .map(|l| l.split(';').next().unwrap_or("").trim())
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .ok_or_else(|| ReadError::Broken("malformed chunk size".into()))?;
            if size == 0 {
                let mut trailers = 0;
                loop {
                    let line = self.read_line().await?;
                    if line.is_empty() {
                        return Ok((body.freeze(), false));
                    }
                    trailers += line.len() + 2;
                    if trailers > MAX_HEAD_BYTES {
                        return Err(ReadError::Broken("the answer's trailers are over 16 KiB".into()));
                    }
                }
            }
            let room = (MAX_RESPONSE_BYTES - body.len()) as u64;
            if size > room {
                let keep = room as usize;
                self.need(keep).await?;
                body.extend_from_slice(&self.buf.split_to(keep));
                return Ok((body.freeze(), true));
            }
            let size = size as usize;
            self.need(size + 2).await?;
            body.extend_from_slice(&self.buf.split_to(size));
            if &self.buf[..2] != b"\r\n" {
                return Err(ReadError::Broken("a chunk does not end with CRLF".into()));
            }
            self.buf.advance(2);
        }
    }
}

/// A connection ended under the reader: reset, or (TLS) closed without
/// `close_notify`.
fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof
    )
}

/// The status, whether the connection closes after this answer, and how
/// its body is framed.
fn read_fields(parsed: &httparse::Response<'_, '_>) -> Result<(u16, bool, Framing), ReadError> {
    let status = parsed.code.unwrap_or(0);
    let http10 = parsed.version == Some(0);
    let mut close = http10;
    let mut length: Option<u64> = None;
    // The last coding of the last Transfer-Encoding line decides (the
    // codings of several lines form one list).
    let mut last_coding: Option<String> = None;
    let has = |v: &[u8], token: &str| {
        String::from_utf8_lossy(v)
            .split(',')
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    for h in parsed.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            if has(h.value, "close") {
                close = true;
            } else if http10 && has(h.value, "keep-alive") {
                close = false;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ReadError::Broken("malformed Content-Length".into()))?;
            if length.is_some_and(|l| l != n) {
                return Err(ReadError::Broken("conflicting Content-Length headers".into()));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            last_coding = String::from_utf8_lossy(h.value)
                .rsplit(',')
                .next()
                .map(|t| t.trim().to_ascii_lowercase());
        }
    }
    let framing = if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::Empty
    } else if last_coding.as_deref() == Some("chunked") {
        Framing::Chunked
    } else if last_coding.is_some() {
        Framing::Close
    } else if let Some(n) = length {
        if n == 0 { Framing::Empty } else { Framing::Length(n) }
    } else {
        Framing::Close
    };
    Ok((status, close, framing))
}
