//! Raw HTTP/1.1 over a std `TcpStream`: for requests the SDKs cannot
//! express (malformed input, presigned URLs, protocol corner cases).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Raw HTTP/1.1 over std TcpStream.

#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send one request (with `Connection: close`) and read the whole response.
/// `Host` defaults to the address; `Content-Length` is always sent for
/// PUT/POST or a non-empty body.
pub fn raw_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<RawResponse> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        && (!body.is_empty() || method == "PUT" || method == "POST")
    {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf)?;
    parse_response(&buf, method == "HEAD")
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn parse_response(buf: &[u8], head: bool) -> io::Result<RawResponse> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut slots);
    let end = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(bad(format!("incomplete response head in {} bytes", buf.len()))),
        Err(e) => return Err(bad(format!("bad response head: {e}"))),
    };
    let status = parsed.code.ok_or_else(|| bad("no status code"))?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string()))
        .collect();
    let rest = &buf[end..];
    let resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .map(|v| v.to_ascii_lowercase().contains("chunked"))
        .unwrap_or(false);
    let body = if chunked {
        decode_chunked(rest)?
    } else if let Some(cl) = resp.header("content-length") {
        let n: usize = cl.parse().map_err(|_| bad("bad content-length"))?;
        if rest.len() < n {
            return Err(bad(format!("short body: {} < {n}", rest.len())));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(RawResponse { body, ..resp })
}

fn decode_chunked(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let (skip, size) = match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete((skip, size))) => (skip, size as usize),
            _ => return Err(bad("truncated or bad chunk size")),
        };
        data = &data[skip..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Send a presigned request produced by the SDK with a raw HTTP client.
pub fn send_presigned(addr: SocketAddr, req: &aws_sdk_s3::presigning::PresignedRequest, body: &[u8]) -> RawResponse {
    let uri = req.uri();
    let after_scheme = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let target = match after_scheme.find('/') {
        Some(i) => &after_scheme[i..],
        None => "/",
    };
    let host = &after_scheme[..after_scheme.find('/').unwrap_or(after_scheme.len())];
    let mut headers: Vec<(&str, &str)> = req.headers().collect();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        headers.push(("Host", host));
    }
    raw_request(addr, req.method(), target, &headers, body)
        .unwrap_or_else(|e| panic!("presigned {} {uri} failed: {e}", req.method()))
}

/// A response read as it comes (a long-lived stream such as the live
/// tail): the head, then the body line by line, chunked encoding undone.
pub struct LineStream {
    pub status: u16,
    reader: io::BufReader<TcpStream>,
    chunked: bool,
    pending: Vec<u8>,
}

impl LineStream {
    /// Sends a GET with these headers (`Host` included by the caller) and
    /// reads the response head.
    pub fn open(addr: SocketAddr, target: &str, headers: &[(String, String)]) -> io::Result<LineStream> {
        use std::io::BufRead as _;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut req = format!("GET {target} HTTP/1.1\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes())?;
        let mut reader = io::BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Err(bad("the connection closed in the response head"));
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("no status in {head:?}")))?;
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Ok(LineStream {
            status,
            reader,
            chunked,
            pending: Vec::new(),
        })
    }

    /// The next line of the body (without its newline); panics after 30 s
    /// without one or at the end of the stream.
    pub fn next_line(&mut self) -> String {
        use std::io::BufRead as _;
        loop {
            if let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                return String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            }
            if !self.chunked {
                let mut buf = [0u8; 4096];
                let n = self.reader.read(&mut buf).expect("reading the stream");
                assert!(n > 0, "the stream ended");
                self.pending.extend_from_slice(&buf[..n]);
                continue;
            }
            let mut size = String::new();
            self.reader.read_line(&mut size).expect("reading a chunk size");
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
            assert!(n > 0, "the stream ended");
            let mut chunk = vec![0u8; n + 2];
            self.reader.read_exact(&mut chunk).expect("reading a chunk");
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}
