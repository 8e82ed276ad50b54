//! Sign-in sessions: who a browser is, kept in memory on the server.
//!
//! The browser holds only a random session id in an `HttpOnly` cookie; the
//! user's secret key never leaves the server after sign-in. Each session
//! also has its own random CSRF token, which the console's script reads
//! from `GET /console/api/session` (same origin only) and sends back in a
//! header on every call. Sessions end on sign-out, after
//! [`SessionLimits::idle`] without a request, after
//! [`SessionLimits::lifetime`] in any case, when the user's access key is
//! removed (checked on every request), and when the server restarts.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;
use subtle::ConstantTimeEq;

/// How long sessions live and how many there may be.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// A session unused this long is gone.
    pub idle: Duration,
    /// A session this old is gone, used or not.
    pub lifetime: Duration,
    /// Sessions on the whole server; the least recently used goes first.
    pub max_sessions: usize,
    /// Sessions of one user (several browsers); the oldest goes first.
    pub max_per_user: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 3600),
            max_sessions: 4096,
            max_per_user: 16,
        }
    }
}

/// Failed sign-ins allowed in [`FAILURE_WINDOW`] for one access key from
/// one source address, and from one source address in all (IPv6 counted
/// per /64). Past either, sign-in from that address answers 429 until the
/// window ends, before the key pair is even checked, so guessing is slow.
/// A key's owner signing in from another address is never held up:
/// failing on purpose with someone's key id cannot lock them out.
pub const MAX_FAILURES: u32 = 10;
pub const MAX_FAILURES_PER_ADDRESS: u32 = 30;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);
/// Addresses and keys remembered for throttling (oldest dropped first).
const MAX_FAILURE_RECORDS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub access_key: String,
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailureKey {
    Address(IpAddr),
    Pair(IpAddr, String),
}

/// The address failures are counted under: an IPv6 client controls its
/// whole /64, so that is one address here.
fn source(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[8..].fill(0);
            IpAddr::V6(o.into())
        }
        v4 => v4,
    }
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    failures: HashMap<FailureKey, (u32, Instant)>,
}

/// The server's sessions.
pub struct Sessions {
    limits: SessionLimits,
    inner: Mutex<Inner>,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Sessions {
        Sessions {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn limits(&self) -> SessionLimits {
        self.limits
    }

    /// Starts a session for `user`, making room within the limits.
    pub fn create(&self, user: &str, access_key: &str) -> Session {
        let now = Instant::now();
        let session = Session {
            id: random_token(),
            user: user.to_owned(),
            access_key: access_key.to_owned(),
            csrf: random_token(),
            created: now,
            last_seen: now,
        };
        let mut inner = self.inner.lock().expect("sessions lock");
        let limits = self.limits;
        inner.sessions.retain(|_, s| !expired(s, now, limits));
        let mut own: Vec<(Instant, String)> = inner
            .sessions
            .values()
            .filter(|s| s.user == user)
            .map(|s| (s.created, s.id.clone()))
            .collect();
        if own.len() >= limits.max_per_user.max(1) {
            own.sort();
            for (_, id) in own.iter().take(own.len() + 1 - limits.max_per_user.max(1)) {
                inner.sessions.remove(id);
            }
        }
        while inner.sessions.len() >= limits.max_sessions.max(1) {
            let Some(oldest) = inner
                .sessions
                .values()
                .min_by_key(|s| s.last_seen)
                .map(|s| s.id.clone())
            else {
                break;
            };
            inner.sessions.remove(&oldest);
        }
        inner.sessions.insert(session.id.clone(), session.clone());
        session
    }

    /// The live session with this id, marked used now.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut inner = self.inner.lock().expect("sessions lock");
        let limits = self.limits;
        let session = inner.sessions.get_mut(id)?;
        if expired(session, now, limits) {
            inner.sessions.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    pub fn remove(&self, id: &str) {
        self.inner.lock().expect("sessions lock").sessions.remove(id);
    }

    /// Users with a live session now (the overview records their figures).
    pub fn users(&self) -> Vec<String> {
        let now = Instant::now();
        let inner = self.inner.lock().expect("sessions lock");
        let mut users: Vec<String> = inner
            .sessions
            .values()
            .filter(|s| !expired(s, now, self.limits))
            .map(|s| s.user.clone())
            .collect();
        users.sort();
        users.dedup();
        users
    }

    /// How long sign-in from `addr` with `access_key` stays refused, if it
    /// does (asked before the key pair is checked).
    pub fn throttled(&self, addr: IpAddr, access_key: &str) -> Option<Duration> {
        let now = Instant::now();
        let addr = source(addr);
        let inner = self.inner.lock().expect("sessions lock");
        [
            (FailureKey::Address(addr), MAX_FAILURES_PER_ADDRESS),
            (FailureKey::Pair(addr, access_key.to_owned()), MAX_FAILURES),
        ]
        .iter()
        .filter_map(|(k, max)| inner.failures.get(k).map(|f| (f, *max)))
        .filter(|((n, since), max)| *n >= *max && now.duration_since(*since) < FAILURE_WINDOW)
        .map(|((_, since), _)| FAILURE_WINDOW.saturating_sub(now.duration_since(*since)))
        .max()
    }

    /// Counts a failed sign-in against the address and the (address, key)
    /// pair. The table is pruned only when full, so a failure costs a
    /// lookup, not a scan.
    pub fn failed(&self, addr: IpAddr, access_key: &str) {
        let now = Instant::now();
        let addr = source(addr);
        let mut inner = self.inner.lock().expect("sessions lock");
        if inner.failures.len() >= MAX_FAILURE_RECORDS {
            inner
                .failures
                .retain(|_, (_, since)| now.duration_since(*since) < FAILURE_WINDOW);
            while inner.failures.len() >= MAX_FAILURE_RECORDS {
                let Some(oldest) = inner
                    .failures
                    .iter()
                    .min_by_key(|(_, (_, s))| *s)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                inner.failures.remove(&oldest);
            }
        }
        // An access key longer than any real one is counted by address only.
        let mut keys = vec![FailureKey::Address(addr)];
        if access_key.len() <= 128 {
            keys.push(FailureKey::Pair(addr, access_key.to_owned()));
        }
        for key in keys {
            let entry = inner.failures.entry(key).or_insert((0, now));
            if now.duration_since(entry.1) >= FAILURE_WINDOW {
                *entry = (0, now);
            }
            entry.0 += 1;
        }
    }
}

fn expired(s: &Session, now: Instant, limits: SessionLimits) -> bool {
    now.duration_since(s.last_seen) >= limits.idle || now.duration_since(s.created) >= limits.lifetime
}

/// 256 random bits from `rand`'s thread generator (a CSPRNG seeded and
/// reseeded from the operating system), in hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two tokens in time independent of where they differ
/// (`subtle`, the comparison the HMAC crates already use here).
pub fn same_token(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SessionLimits {
        SessionLimits {
            idle: Duration::from_secs(60),
            lifetime: Duration::from_secs(600),
            max_sessions: 4,
            max_per_user: 2,
        }
    }

    #[test]
    fn tokens_are_distinct_and_long() {
        let s = Sessions::new(limits());
        let a = s.create("alice", "AK1");
        let b = s.create("alice", "AK1");
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, a.csrf);
        assert_eq!(a.id.len(), 64);
        assert!(s.touch(&a.id).is_some());
        assert!(s.touch("nope").is_none());
    }

    #[test]
    fn per_user_and_total_caps_evict_the_oldest() {
        let s = Sessions::new(limits());
        let a1 = s.create("alice", "AK1");
        let a2 = s.create("alice", "AK1");
        let a3 = s.create("alice", "AK1");
        assert!(s.touch(&a1.id).is_none(), "third session of one user evicts the first");
        assert!(s.touch(&a2.id).is_some() && s.touch(&a3.id).is_some());
        let b1 = s.create("bob", "BK");
        let c1 = s.create("carol", "CK");
        assert!(s.touch(&b1.id).is_some());
        // Five would exceed the total of four: the least recently used goes.
        let d1 = s.create("dave", "DK");
        assert!(s.touch(&d1.id).is_some());
        let alive = [&a2, &a3, &b1, &c1].iter().filter(|x| s.touch(&x.id).is_some()).count();
        assert_eq!(alive, 3);
    }

    #[test]
    fn removed_sessions_are_gone() {
        let s = Sessions::new(limits());
        let a = s.create("alice", "AK1");
        s.remove(&a.id);
        assert!(s.touch(&a.id).is_none());
        assert!(s.users().is_empty());
    }

    #[test]
    fn idle_and_old_sessions_expire() {
        let s = Sessions::new(limits());
        let a = s.create("alice", "AK1");
        let now = a.last_seen + Duration::from_secs(61);
        assert!(expired(&a, now, limits()));
        assert!(!expired(&a, a.last_seen + Duration::from_secs(59), limits()));
        assert!(expired(&a, a.created + Duration::from_secs(600), limits()));
    }

    #[test]
    fn failures_throttle_the_address_and_the_pair_not_the_key() {
        let s = Sessions::new(limits());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(s.throttled(ip, "AK").is_none());
            s.failed(ip, "AK");
        }
        assert!(s.throttled(ip, "AK").is_some(), "the pair is throttled");
        assert!(
            s.throttled(ip, "OTHER").is_none(),
            "the address may still try other keys"
        );
        assert!(
            s.throttled(other, "AK").is_none(),
            "the key's owner elsewhere is not held up"
        );
        for i in 0..(MAX_FAILURES_PER_ADDRESS - MAX_FAILURES) {
            s.failed(ip, &format!("K{i}"));
        }
        assert!(
            s.throttled(ip, "FRESH").is_some(),
            "the address as a whole is throttled"
        );
        // IPv6: one /64 is one source.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            s.failed(a, "AK");
        }
        assert!(s.throttled(b, "AK").is_some());
    }

    #[test]
    fn token_comparison() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "abcd"));
    }
}
