//! A loopback SOCKS5 relay that puts the outbound policy in front of the
//! Kafka client's own connections.
//!
//! A Kafka client dials the bootstrap broker, then whatever brokers the
//! cluster names in its metadata. A tenant's "cluster" can name any
//! address (the cloud metadata service, Herald's own ports), and rskafka
//! has no connect hook, only a SOCKS5 proxy setting. So each Kafka
//! endpoint gets this relay: rskafka asks it for every broker, and the
//! relay resolves the name under [`EndpointPolicy::resolve`] (refused:
//! SOCKS reply 2, "not allowed by ruleset"; nothing is dialled) before it
//! connects and copies bytes both ways. TLS still runs end to end between
//! rskafka and the broker, verifying the broker's name.
//!
//! The relay also takes away a 40 ms stall per request: rskafka writes
//! each request as two writes (the 4-byte length, then the body) on a
//! socket without `TCP_NODELAY`, so Nagle holds the body until the length
//! is acknowledged, and the receiver, having nothing to answer yet, delays
//! that ACK by up to 40 ms. The relay re-arms `TCP_QUICKACK` on each
//! socket after every read, so the ACK leaves at once and the body
//! follows within microseconds (brokers that write their answers the same
//! way are helped on the broker side of the relay too).
//!
//! Only CONNECT with no authentication is spoken; the relay listens on
//! 127.0.0.1 on a port of the kernel's choosing and lives as long as its
//! endpoint's connection. Whoever else reaches that port gets exactly the
//! policy Herald's endpoints have.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::policy::EndpointPolicy;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const NO_ACCEPTABLE_METHOD: u8 = 0xff;
const CONNECT: u8 = 1;
const REPLY_OK: u8 = 0;
const REPLY_NOT_ALLOWED: u8 = 2;
const REPLY_REFUSED: u8 = 5;
const REPLY_COMMAND_UNSUPPORTED: u8 = 7;
const REPLY_ADDRESS_UNSUPPORTED: u8 = 8;

/// A running relay; stopped when dropped. Public for Herald's own Kafka
/// consumers (the bench), which want the quick ACKs too.
pub struct PolicyRelay {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for PolicyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PolicyRelay {
    /// Starts a relay for one endpoint: `shown` names it in the policy's
    /// log lines, `timeout` bounds each handshake and each connect.
    pub async fn start(policy: Arc<EndpointPolicy>, shown: String, timeout: Duration) -> std::io::Result<PolicyRelay> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        let (policy, shown) = (policy.clone(), shown.clone());
                        relays.spawn(async move {
                            if let Err(e) = relay(client, &policy, &shown, timeout).await {
                                tracing::debug!(endpoint = %shown, error = %e, "kafka broker connection not relayed");
                            }
                        });
                    }
                    // Reap finished relays so the set does not grow.
                    Some(_) = relays.join_next(), if !relays.is_empty() => {}
                }
            }
        });
        Ok(PolicyRelay { addr, task })
    }

    /// Where the client is to send its SOCKS5 requests.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// One client connection: the SOCKS5 handshake (bounded by `timeout`),
/// the policy, the connect, then bytes both ways until either side ends.
async fn relay(mut client: TcpStream, policy: &EndpointPolicy, shown: &str, timeout: Duration) -> Result<(), String> {
    let _ = client.set_nodelay(true);
    let (host, port) = tokio::time::timeout(timeout, handshake(&mut client))
        .await
        .map_err(|_| "SOCKS handshake timed out".to_owned())??;
    let addrs = match policy.resolve(&host, port, shown).await {
        Ok(a) => a,
        Err(e) => {
            reply(&mut client, REPLY_NOT_ALLOWED).await;
            return Err(e.to_string());
        }
    };
    let upstream = match crate::http::connect_any(&addrs, timeout, shown).await {
        Ok(s) => s,
        Err(e) => {
            reply(&mut client, REPLY_REFUSED).await;
            return Err(e.to_string());
        }
    };
    let _ = upstream.set_nodelay(true);
    reply(&mut client, REPLY_OK).await;
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let up = pump(client_read, upstream_write);
    let down = pump(upstream_read, client_write);
    tokio::pin!(up, down);
    // When one side has ended, the other gets `timeout` to finish: a
    // broker (a tenant's) that never closes cannot keep the connection's
    // descriptors and buffers for the endpoint's whole life.
    let rest = tokio::select! {
        r = &mut up => { r.map_err(|e| e.to_string())?; tokio::time::timeout(timeout, &mut down).await }
        r = &mut down => { r.map_err(|e| e.to_string())?; tokio::time::timeout(timeout, &mut up).await }
    };
    match rest {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err("the other side did not close in time".to_owned()),
    }
}

/// Copies one direction until its end, then ends the other side's writing
/// (as `copy_bidirectional` does), acknowledging every read at once (see
/// the module's doc).
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        quick_ack(from.as_ref());
        to.write_all(&buf[..n]).await?;
    }
}

/// Asks the kernel to acknowledge received data immediately rather than
/// after the delayed-ACK timer. Linux falls back to delayed ACKs on its
/// own, hence a call after every read. Best effort: a failure only costs
/// latency.
#[cfg(target_os = "linux")]
fn quick_ack(socket: &TcpStream) {
    use std::os::fd::AsRawFd as _;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket descriptor and a c_int option of its size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_QUICKACK,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Only Linux has `TCP_QUICKACK`; elsewhere ACKs keep their timer.
#[cfg(not(target_os = "linux"))]
fn quick_ack(_socket: &TcpStream) {}

/// Reads the greeting and the CONNECT request; returns the target.
async fn handshake(client: &mut TcpStream) -> Result<(String, u16), String> {
    let io = |e: std::io::Error| e.to_string();
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.map_err(io)?;
    if head[0] != VERSION {
        return Err(format!("not SOCKS5 (version {})", head[0]));
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await.map_err(io)?;
    if !methods.contains(&NO_AUTH) {
        let _ = client.write_all(&[VERSION, NO_ACCEPTABLE_METHOD]).await;
        return Err("the client offers no unauthenticated method".into());
    }
    client.write_all(&[VERSION, NO_AUTH]).await.map_err(io)?;
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await.map_err(io)?;
    if request[0] != VERSION || request[1] != CONNECT {
        reply(client, REPLY_COMMAND_UNSUPPORTED).await;
        return Err(format!("unsupported SOCKS command {}", request[1]));
    }
    let host = match request[3] {
        1 => {
            let mut a = [0u8; 4];
            client.read_exact(&mut a).await.map_err(io)?;
            Ipv4Addr::from(a).to_string()
        }
        3 => {
            let len = client.read_u8().await.map_err(io)?;
            let mut name = vec![0u8; usize::from(len)];
            client.read_exact(&mut name).await.map_err(io)?;
            String::from_utf8(name).map_err(|_| "a broker name that is not UTF-8".to_owned())?
        }
        4 => {
            let mut a = [0u8; 16];
            client.read_exact(&mut a).await.map_err(io)?;
            Ipv6Addr::from(a).to_string()
        }
        other => {
            reply(client, REPLY_ADDRESS_UNSUPPORTED).await;
            return Err(format!("unsupported SOCKS address type {other}"));
        }
    };
    let port = client.read_u16().await.map_err(io)?;
    Ok((host, port))
}

/// A reply with an empty bound address (the client does not use it).
async fn reply(client: &mut TcpStream, code: u8) {
    let _ = client.write_all(&[VERSION, code, 0, 1, 0, 0, 0, 0, 0, 0]).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a SOCKS5 CONNECT for `host:port` through `relay`; the reply code.
    async fn connect_via(relay: SocketAddr, host: &str, port: u16) -> (u8, TcpStream) {
        let mut s = TcpStream::connect(relay).await.unwrap();
        s.write_all(&[5, 1, 0]).await.unwrap();
        let mut method = [0u8; 2];
        s.read_exact(&mut method).await.unwrap();
        assert_eq!(method, [5, 0]);
        let mut req = vec![5, 1, 0, 3, host.len() as u8];
        req.extend_from_slice(host.as_bytes());
        req.extend_from_slice(&port.to_be_bytes());
        s.write_all(&req).await.unwrap();
        let mut answer = [0u8; 10];
        s.read_exact(&mut answer).await.unwrap();
        (answer[1], s)
    }

    #[tokio::test]
    async fn allowed_targets_are_relayed_and_denied_ones_never_dialled() {
        let target = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = target.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = target.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let policy = Arc::new(EndpointPolicy::new(
            Vec::new(),
            vec!["127.0.0.2/32".parse().unwrap()],
            Vec::new(),
            None,
        ));
        let relay = PolicyRelay::start(policy, "kafka://test".into(), Duration::from_secs(5))
            .await
            .unwrap();
        let (code, mut s) = connect_via(relay.addr(), "127.0.0.1", port).await;
        assert_eq!(code, REPLY_OK);
        s.write_all(b"ping").await.unwrap();
        let mut echo = [0u8; 4];
        s.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo, b"ping");
        for denied in ["169.254.169.254", "127.0.0.2"] {
            let (code, _) = connect_via(relay.addr(), denied, port).await;
            assert_eq!(code, REPLY_NOT_ALLOWED, "{denied}");
        }
    }

    /// Kafka-style framed requests written in two pieces (length, then
    /// body) arrive whole and in order; the client's end of writing reaches
    /// the broker as EOF while the broker's last answer still comes back,
    /// and the broker's close ends the client's reading.
    #[tokio::test]
    async fn framed_exchanges_and_half_closes_pass_through() {
        let broker = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = broker.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let (mut s, _) = broker.accept().await.unwrap();
            let mut bodies = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).await.is_err() {
                    break; // the client ended its writing
                }
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                s.read_exact(&mut body).await.unwrap();
                s.write_all(&len).await.unwrap();
                s.write_all(&body).await.unwrap();
                bodies.push(body);
            }
            s.write_all(b"bye").await.unwrap();
            bodies
        });
        let relay = PolicyRelay::start(
            Arc::new(EndpointPolicy::default()),
            "kafka://test".into(),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        let (code, s) = connect_via(relay.addr(), "127.0.0.1", port).await;
        assert_eq!(code, REPLY_OK);
        let (mut rd, mut wr) = s.into_split();
        let sent: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 1 + 997 * i as usize]).collect();
        for body in &sent {
            wr.write_all(&(body.len() as u32).to_be_bytes()).await.unwrap();
            wr.write_all(body).await.unwrap();
            let mut len = [0u8; 4];
            rd.read_exact(&mut len).await.unwrap();
            let mut echo = vec![0u8; u32::from_be_bytes(len) as usize];
            rd.read_exact(&mut echo).await.unwrap();
            assert_eq!(&echo, body);
        }
        wr.shutdown().await.unwrap();
        let mut rest = Vec::new();
        rd.read_to_end(&mut rest).await.unwrap();
        assert_eq!(
            rest, b"bye",
            "the broker's answer after the client's EOF, then its close"
        );
        assert_eq!(served.await.unwrap(), sent);
    }
}
