//! The operator's outbound policy: which addresses a tenant's endpoint may
//! reach, and where `ca-location` files may be read from.
//!
//! Tenants name the endpoints; the server makes the connections. Without a
//! policy a tenant could make Herald reach the cloud metadata service, a
//! multicast group or Herald's own ports. Every connection of every
//! endpoint kind asks [`EndpointPolicy::resolve`] for the addresses it may
//! use (a name is resolved here and each address checked, so a name that
//! later resolves elsewhere — DNS rebinding — is caught at connect time),
//! and topic creation checks the URI the same way ([`EndpointPolicy::check_uri`]).
//!
//! Precedence, first match wins:
//! 1. Herald's own listen addresses (S3, SFTP, metrics): refused, always.
//! 2. `--endpoint-allow`: allowed.
//! 3. `--endpoint-deny` and the default deny list ([`DEFAULT_DENY`]): refused.
//! 4. Anything else: allowed (loopback included, for on-host receivers).

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::PushError;

/// Refused unless `--endpoint-allow` names them: link-local (with the cloud
/// metadata address 169.254.169.254), AWS's IPv6 metadata address, "this
/// network" and the unspecified addresses (which reach the local host),
/// and multicast.
pub const DEFAULT_DENY: &[&str] = &[
    "169.254.0.0/16",
    "fe80::/10",
    "fd00:ec2::254/128",
    "0.0.0.0/8",
    "::/128",
    "224.0.0.0/4",
    "ff00::/8",
];

/// Largest `ca-location` file read (a CA bundle is a few hundred KiB).
pub const MAX_CA_BYTES: u64 = 1024 * 1024;

/// How long resolving a name may take at topic creation.
const CHECK_RESOLVE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long resolving a name may take when connecting.
const CONNECT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Name lookups in progress at once. The system resolver runs on the
/// blocking thread pool and a lookup abandoned at its timeout keeps its
/// thread until the resolver gives up, so a tenant naming hosts of a slow
/// DNS zone could otherwise fill the pool that file reads also need.
static LOOKUPS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(16);

/// Resolves `host:port` under [`LOOKUPS`] within `timeout` (waiting for a
/// lookup slot included).
async fn lookup(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let work = async {
        let _slot = LOOKUPS.acquire().await.map_err(|e| e.to_string())?;
        tokio::net::lookup_host((host, port))
            .await
            .map(|found| found.collect::<Vec<_>>())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

/// What a tenant is told when an address is refused: one message whatever
/// the rule, so refusals say nothing about what is behind them.
pub const REFUSED: &str = "address refused by the server's endpoint policy";

/// An IPv4 or IPv6 network, `addr/prefix` (a bare address is one host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0-{max}"))?,
        };
        Ok(Cidr {
            net: canonical(net),
            prefix,
        })
    }
}

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses
    /// count as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), self.prefix, 32) == masked(u32::from(a).into(), self.prefix, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), self.prefix, 128) == masked(u128::from(a), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(v: u128, prefix: u8, bits: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = bits - prefix;
    (v >> keep) << keep
}

/// `::ffff:a.b.c.d` is `a.b.c.d`: a mapped address must not slip past an
/// IPv4 rule.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The operator's outbound policy (see the module documentation).
#[derive(Debug, Clone)]
pub struct EndpointPolicy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    own: Vec<SocketAddr>,
    ca_dir: Option<PathBuf>,
}

impl Default for EndpointPolicy {
    /// The default deny list, no own addresses, no CA directory.
    fn default() -> Self {
        EndpointPolicy::new(Vec::new(), Vec::new(), Vec::new(), None)
    }
}

impl EndpointPolicy {
    /// `deny` comes on top of [`DEFAULT_DENY`]; `own` are Herald's listen
    /// addresses; `ca_dir` is where `ca-location` files may be read (none:
    /// `ca-location` is refused).
    pub fn new(allow: Vec<Cidr>, deny: Vec<Cidr>, own: Vec<SocketAddr>, ca_dir: Option<PathBuf>) -> EndpointPolicy {
        let mut all_deny: Vec<Cidr> = DEFAULT_DENY.iter().map(|c| c.parse().expect("valid default")).collect();
        all_deny.extend(deny);
        EndpointPolicy {
            allow,
            deny: all_deny,
            own: with_host_addresses(own),
            ca_dir,
        }
    }

    /// Parses a list of CIDR blocks (flags, TOML, environment).
    pub fn parse_list(items: &[String]) -> Result<Vec<Cidr>, String> {
        items
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect()
    }

    /// Why `addr` is refused, for the operator's log; `None` when allowed.
    pub fn refusal(&self, addr: SocketAddr) -> Option<&'static str> {
        let ip = canonical(addr.ip());
        if self.is_own(ip, addr.port()) {
            return Some("one of Herald's own listen addresses");
        }
        if self.allow.iter().any(|c| c.contains(ip)) {
            return None;
        }
        if self.deny.iter().any(|c| c.contains(ip)) {
            return Some("in the deny list");
        }
        None
    }

    /// Whether `ip:port` reaches one of Herald's own listeners (a wildcard
    /// listener is reached through loopback, the unspecified address and
    /// every address of the host, which [`with_host_addresses`] added).
    fn is_own(&self, ip: IpAddr, port: u16) -> bool {
        self.own.iter().any(|own| {
            let oip = canonical(own.ip());
            own.port() == port && (oip == ip || ip.is_unspecified() || (oip.is_unspecified() && ip.is_loopback()))
        })
    }

    /// Resolves `host` (or takes it as an address) and keeps the addresses
    /// the policy allows; fails, without connecting anywhere, when none is
    /// left. Called at every connection, so the answer is always current.
    pub async fn resolve(&self, host: &str, port: u16, endpoint: &str) -> Result<Vec<SocketAddr>, PushError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => lookup(host, port, CONNECT_RESOLVE_TIMEOUT)
                .await
                .map_err(|e| PushError::Connect {
                    endpoint: endpoint.to_owned(),
                    reason: format!("cannot resolve {host}: {e}"),
                })?,
        };
        let mut allowed = Vec::with_capacity(found.len());
        for addr in found {
            match self.refusal(addr) {
                None => allowed.push(addr),
                Some(why) => tracing::warn!(endpoint, %addr, why, "outbound connection refused by the endpoint policy"),
            }
        }
        if allowed.is_empty() {
            return Err(refused(endpoint));
        }
        Ok(allowed)
    }

    /// The check at topic creation: an address in the URI, or every
    /// address its name resolves to now, must be allowed. A name that does
    /// not resolve is accepted (it is checked again at every connection).
    pub async fn check_uri(&self, host: &str, port: u16) -> Result<(), String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => match lookup(host, port, CHECK_RESOLVE_TIMEOUT).await {
                Ok(found) => found,
                Err(_) => return Ok(()),
            },
        };
        match addrs.iter().find_map(|a| self.refusal(*a).map(|why| (a, why))) {
            None => Ok(()),
            Some((addr, why)) => {
                tracing::info!(host, %addr, why, "push-endpoint refused by the endpoint policy");
                Err(format!("{host}:{port}: {REFUSED}"))
            }
        }
    }

    /// Reads a `ca-location` file: only inside the operator's CA directory
    /// (relative paths are taken from there), only a regular file (never a
    /// FIFO or a device, which would block or never end), at most
    /// [`MAX_CA_BYTES`]. The tenant sees one message for every failure;
    /// the operator's log has the reason.
    pub fn read_ca(&self, location: &str) -> Result<Vec<u8>, String> {
        let Some(dir) = &self.ca_dir else {
            return Err(format!(
                "ca-location {location:?}: reading CA files is disabled on this server (the operator enables it with --ca-dir)"
            ));
        };
        // The tenants' client identities live under clients/: never a CA,
        // and not to be probed through ca-location.
        read_ca_in(dir, location, Some(CLIENTS_DIR)).map_err(|why| {
            tracing::info!(location, ca_dir = %dir.display(), why, "ca-location refused");
            format!("ca-location {location:?} is not a readable certificate file in the server's CA directory")
        })
    }

    /// Reads a client certificate or key file (`client-cert-location`,
    /// `client-key-location`): only from the topic owner's own directory,
    /// `<ca-dir>/clients/<owner>/`, with the checks of
    /// [`EndpointPolicy::read_ca`]. A tenant names its own identity files
    /// and never another tenant's (whose key would let it log in as them).
    pub fn read_client_file(&self, owner: &str, attribute: &str, location: &str) -> Result<Vec<u8>, String> {
        let Some(dir) = &self.ca_dir else {
            return Err(format!(
                "{attribute} {location:?}: reading client certificates is disabled on this server (the operator enables it with --ca-dir)"
            ));
        };
        let own = dir.join(CLIENTS_DIR).join(owner);
        let safe_owner = !owner.is_empty() && !owner.contains(['/', '\\']) && owner != "." && owner != "..";
        let read = if safe_owner {
            read_ca_in(&own, location, None)
        } else {
            Err("no such user directory".into())
        };
        read.map_err(|why| {
            tracing::info!(attribute, location, dir = %own.display(), why, "client certificate file refused");
            format!(
                "{attribute} {location:?} is not a readable file in your directory of the server's client certificates"
            )
        })
    }

    /// Whether `ca-location` may be used at all.
    pub fn ca_dir(&self) -> Option<&Path> {
        self.ca_dir.as_deref()
    }
}

/// Herald's listen addresses, plus, for each one on a wildcard address,
/// the same port on every address of the host's interfaces.
fn with_host_addresses(own: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let wildcard: Vec<u16> = own
        .iter()
        .filter(|a| a.ip().is_unspecified())
        .map(|a| a.port())
        .collect();
    if wildcard.is_empty() {
        return own;
    }
    let host = host_addresses();
    let mut all = own;
    for port in wildcard {
        all.extend(host.iter().map(|ip| SocketAddr::new(*ip, port)));
    }
    all
}

/// The addresses of the host's network interfaces (getifaddrs).
fn host_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we walk read-only and
    // free once with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            // Then a wildcard listener's own ports cannot be denied by
            // address: say so (a sandbox without AF_NETLINK does this).
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "cannot list the host's addresses (getifaddrs): endpoints are not kept off this server's own ports on them"
            );
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(addr as *const libc::sockaddr_in);
                        out.push(IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(addr as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// Whether `resolve` failed because the policy refused every address (not
/// because the name did not resolve).
pub fn is_refusal(e: &PushError) -> bool {
    matches!(e, PushError::Connect { reason, .. } if reason == REFUSED)
}

fn refused(endpoint: &str) -> PushError {
    PushError::Connect {
        endpoint: endpoint.to_owned(),
        reason: REFUSED.to_owned(),
    }
}

/// The subdirectory of the CA directory with each user's client
/// certificates and keys (`clients/<user>/`).
pub const CLIENTS_DIR: &str = "clients";

/// [`EndpointPolicy::read_ca`] once the directory is known; the error is
/// for the log.
fn read_ca_in(dir: &Path, location: &str, excluded: Option<&str>) -> Result<Vec<u8>, String> {
    let dir = dir.canonicalize().map_err(|e| format!("CA directory: {e}"))?;
    let wanted = Path::new(location);
    if wanted.is_absolute() && !wanted.starts_with(&dir) {
        // Not even looked at: whether it exists is none of the tenant's business.
        return Err("outside the CA directory".into());
    }
    let path = dir.join(wanted).canonicalize().map_err(|e| e.to_string())?;
    if !path.starts_with(&dir) {
        return Err("resolves outside the CA directory".into());
    }
    if excluded.is_some_and(|sub| path.starts_with(dir.join(sub))) {
        return Err("inside the client certificate directories".into());
    }
    let meta = std::fs::metadata(&path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    // O_NONBLOCK: should the file be swapped for a FIFO after the check,
    // opening it still does not wait for a writer.
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_CA_BYTES {
        return Err(format!("larger than {MAX_CA_BYTES} bytes"));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_CA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_CA_BYTES {
        return Err(format!("larger than {MAX_CA_BYTES} bytes"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(
            c.contains("::ffff:10.0.0.1".parse().unwrap()),
            "mapped IPv4 counts as IPv4"
        );
        let one: Cidr = "127.0.0.2".parse().unwrap();
        assert!(one.contains("127.0.0.2".parse().unwrap()) && !one.contains("127.0.0.1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00:ec2::254/128".parse().unwrap();
        assert!(v6.contains("fd00:ec2::254".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert_eq!(
            EndpointPolicy::parse_list(&["10.0.0.0/8,192.168.0.0/16".into(), "::1".into()])
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn precedence_own_then_allow_then_deny() {
        let p = EndpointPolicy::new(
            vec!["169.254.10.0/24".parse().unwrap()],
            vec!["127.0.0.2/32".parse().unwrap()],
            vec![addr("127.0.0.1:9000"), addr("0.0.0.0:2222")],
            None,
        );
        assert!(p.refusal(addr("169.254.169.254:80")).is_some(), "metadata address");
        assert!(
            p.refusal(addr("[::ffff:169.254.169.254]:80")).is_some(),
            "mapped metadata address"
        );
        assert!(p.refusal(addr("[fd00:ec2::254]:80")).is_some());
        assert!(p.refusal(addr("224.0.0.1:80")).is_some(), "multicast");
        assert!(p.refusal(addr("0.0.0.0:80")).is_some());
        assert!(
            p.refusal(addr("169.254.10.5:80")).is_none(),
            "allow overrides the default deny"
        );
        assert!(p.refusal(addr("127.0.0.2:80")).is_some(), "operator's deny");
        assert!(p.refusal(addr("127.0.0.1:8080")).is_none(), "loopback is allowed");
        assert!(p.refusal(addr("127.0.0.1:9000")).is_some(), "own S3 port");
        assert!(
            p.refusal(addr("127.0.0.3:2222")).is_some(),
            "own wildcard listener via loopback"
        );
        assert!(p.refusal(addr("8.8.8.8:443")).is_none());
        let allow_own = EndpointPolicy::new(
            vec!["127.0.0.0/8".parse().unwrap()],
            vec![],
            vec![addr("127.0.0.1:9000")],
            None,
        );
        assert!(
            allow_own.refusal(addr("127.0.0.1:9000")).is_some(),
            "own addresses even when allowed"
        );
        for ip in host_addresses() {
            assert!(
                p.refusal(SocketAddr::new(ip, 2222)).is_some(),
                "{ip}: the host's own address reaches the wildcard listener"
            );
        }
    }

    #[test]
    fn ca_files_only_from_the_directory_regular_and_small() {
        let none = EndpointPolicy::default();
        assert!(
            none.read_ca("/etc/ssl/certs/ca-certificates.crt")
                .unwrap_err()
                .contains("--ca-dir")
        );
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca");
        std::fs::create_dir(&ca).unwrap();
        std::fs::write(ca.join("good.pem"), b"pem").unwrap();
        std::fs::write(dir.path().join("outside.pem"), b"pem").unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside.pem"), ca.join("escape.pem")).unwrap();
        std::fs::write(ca.join("big.pem"), vec![b'x'; MAX_CA_BYTES as usize + 1]).unwrap();
        let fifo = ca.join("fifo.pem");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let p = EndpointPolicy::new(vec![], vec![], vec![], Some(ca.clone()));
        assert_eq!(p.read_ca("good.pem").unwrap(), b"pem");
        assert_eq!(p.read_ca(ca.join("good.pem").to_str().unwrap()).unwrap(), b"pem");
        for bad in [
            dir.path().join("outside.pem").to_str().unwrap(),
            "../outside.pem",
            "escape.pem",
            "big.pem",
            "fifo.pem",
            "/dev/zero",
            "missing.pem",
        ] {
            let e = p.read_ca(bad).unwrap_err();
            assert!(e.contains("not a readable certificate file"), "{bad}: {e}");
        }
    }
}
