//! Sign-in throttling that no caller can grow without bound:
//!
//! - **per address**: failed sign-ins from one client address (after
//!   trusted proxies, see `client_ip`) spend a token bucket, whatever the
//!   user name: spraying one password over many names is refused with 429;
//! - **per account**: after [`FREE_FAILURES`] failures in a row, each further
//!   attempt on that account must wait a delay (from [`FIRST_DELAY_SECS`])
//!   that doubles up to
//!   [`MAX_DELAY_SECS`]; a success resets it. A delay, never a lockout: the
//!   owner gets in once it has passed;
//! - **globally**: failed sign-ins from all addresses together spend one
//!   bucket, so spraying from many addresses is slowed too.
//!
//! Accounts are keyed by a salted SHA-256 of the user name (never the name
//! itself), addresses by their IP; each map holds at most [`MAX_KEYS`]
//! entries, dropping expired ones first and then the least recently used.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Failures in a row before an account's delay starts.
pub const FREE_FAILURES: u32 = 5;
/// The first delay, seconds; each further failure doubles it.
pub const FIRST_DELAY_SECS: u64 = 4;
/// Longest delay between attempts on one account, seconds.
pub const MAX_DELAY_SECS: u64 = 60;
/// Failed sign-ins one address may make at once, then one per
/// [`ADDRESS_REFILL_SECS`].
pub const ADDRESS_BURST: f64 = 20.0;
pub const ADDRESS_REFILL_SECS: f64 = 30.0;
/// Failed sign-ins all addresses together may make at once, then
/// [`GLOBAL_PER_MINUTE`] a minute.
pub const GLOBAL_BURST: f64 = 300.0;
pub const GLOBAL_PER_MINUTE: f64 = 120.0;
/// Most entries in each map.
pub const MAX_KEYS: usize = 10_000;
/// An account's failures are forgotten after this long without one.
const ACCOUNT_MEMORY: Duration = Duration::from_secs(15 * 60);

/// Why a sign-in attempt may not go ahead now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    /// Too many failures from this address.
    Address { retry_after_secs: u64 },
    /// This account is in its back-off delay.
    Account { retry_after_secs: u64 },
    /// Too many failures across the whole server.
    Global { retry_after_secs: u64 },
}

impl Throttled {
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Throttled::Address { retry_after_secs }
            | Throttled::Account { retry_after_secs }
            | Throttled::Global { retry_after_secs } => retry_after_secs.max(1),
        }
    }
    /// For logs.
    pub fn scope(self) -> &'static str {
        match self {
            Throttled::Address { .. } => "address",
            Throttled::Account { .. } => "account",
            Throttled::Global { .. } => "global",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn level(&self, now: Instant, burst: f64, per_sec: f64) -> f64 {
        (self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * per_sec).min(burst)
    }
}

#[derive(Debug, Clone, Copy)]
struct Account {
    failures: u32,
    last: Instant,
}

/// A map of at most [`MAX_KEYS`] entries with a last-used time.
#[derive(Debug)]
struct Bounded<K, V> {
    map: HashMap<K, (V, Instant)>,
}

impl<K: Hash + Eq + Clone, V: Copy> Bounded<K, V> {
    fn new() -> Self {
        Bounded {
            map: HashMap::new(),
        }
    }
    fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).map(|(v, _)| *v)
    }
    /// Inserts, first making room: drop entries `expired` says are done,
    /// then the least recently used.
    fn put(&mut self, k: K, v: V, now: Instant, expired: impl Fn(&V, Instant) -> bool) {
        if self.map.len() >= MAX_KEYS && !self.map.contains_key(&k) {
            self.map.retain(|_, (v, at)| !expired(v, *at));
            if self.map.len() >= MAX_KEYS {
                if let Some(oldest) = self
                    .map
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    self.map.remove(&oldest);
                }
            }
        }
        self.map.insert(k, (v, now));
    }
    fn remove(&mut self, k: &K) {
        self.map.remove(k);
    }
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Debug)]
struct Inner {
    addresses: Bounded<IpAddr, Bucket>,
    accounts: Bounded<[u8; 16], Account>,
    global: Bucket,
}

/// The sign-in throttle of one server.
#[derive(Debug)]
pub struct LoginThrottle {
    salt: [u8; 16],
    inner: Mutex<Inner>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginThrottle {
    pub fn new() -> Self {
        let mut salt = [0u8; 16];
        // A fixed salt still keeps names out of memory; a random one also
        // keeps the keys from being precomputed.
        let _ = getrandom::fill(&mut salt);
        LoginThrottle {
            salt,
            inner: Mutex::new(Inner {
                addresses: Bounded::new(),
                accounts: Bounded::new(),
                global: Bucket {
                    tokens: GLOBAL_BURST,
                    at: Instant::now(),
                },
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key of a user name: case-folded, salted, hashed, truncated.
    fn account_key(&self, username: &str) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(username.trim().to_lowercase().as_bytes());
        let d = h.finalize();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
    }

    /// May `ip` try to sign in as `username` now?
    pub fn check(&self, ip: IpAddr, username: &str) -> Result<(), Throttled> {
        self.check_at(ip, username, Instant::now())
    }

    /// Records the outcome of an attempt that was allowed.
    pub fn record(&self, ip: IpAddr, username: &str, success: bool) {
        self.record_at(ip, username, success, Instant::now())
    }

    fn check_at(&self, ip: IpAddr, username: &str, now: Instant) -> Result<(), Throttled> {
        let key = self.account_key(username);
        let g = self.lock();
        let wait = |level: f64, per_sec: f64| ((1.0 - level) / per_sec).ceil().max(1.0) as u64;
        let global_rate = GLOBAL_PER_MINUTE / 60.0;
        let level = g.global.level(now, GLOBAL_BURST, global_rate);
        if level < 1.0 {
            return Err(Throttled::Global {
                retry_after_secs: wait(level, global_rate),
            });
        }
        if let Some(b) = g.addresses.get(&ip) {
            let rate = 1.0 / ADDRESS_REFILL_SECS;
            let level = b.level(now, ADDRESS_BURST, rate);
            if level < 1.0 {
                return Err(Throttled::Address {
                    retry_after_secs: wait(level, rate),
                });
            }
        }
        if let Some(a) = g.accounts.get(&key) {
            let delay = account_delay(a.failures);
            let since = now.saturating_duration_since(a.last);
            if since < delay && now.saturating_duration_since(a.last) < ACCOUNT_MEMORY {
                return Err(Throttled::Account {
                    retry_after_secs: (delay - since).as_secs_f64().ceil().max(1.0) as u64,
                });
            }
        }
        Ok(())
    }

    fn record_at(&self, ip: IpAddr, username: &str, success: bool, now: Instant) {
        let key = self.account_key(username);
        let mut g = self.lock();
        if success {
            g.accounts.remove(&key);
            return;
        }
        let global_rate = GLOBAL_PER_MINUTE / 60.0;
        let level = g.global.level(now, GLOBAL_BURST, global_rate);
        g.global = Bucket {
            tokens: (level - 1.0).max(0.0),
            at: now,
        };
        let rate = 1.0 / ADDRESS_REFILL_SECS;
        let level = g
            .addresses
            .get(&ip)
            .map_or(ADDRESS_BURST, |b| b.level(now, ADDRESS_BURST, rate));
        g.addresses.put(
            ip,
            Bucket {
                tokens: (level - 1.0).max(0.0),
                at: now,
            },
            now,
            |b, _| b.level(now, ADDRESS_BURST, rate) >= ADDRESS_BURST,
        );
        let failures = match g.accounts.get(&key) {
            Some(a) if now.saturating_duration_since(a.last) < ACCOUNT_MEMORY => {
                a.failures.saturating_add(1)
            }
            _ => 1,
        };
        g.accounts.put(
            key,
            Account {
                failures,
                last: now,
            },
            now,
            |a, _| now.saturating_duration_since(a.last) >= ACCOUNT_MEMORY,
        );
    }

    /// Entries held (addresses, accounts).
    #[cfg(test)]
    pub fn sizes(&self) -> (usize, usize) {
        let g = self.lock();
        (g.addresses.len(), g.accounts.len())
    }
}

/// The wait after `failures` failures in a row: none for the first
/// [`FREE_FAILURES`], then 4, 8, 16 … seconds up to [`MAX_DELAY_SECS`].
fn account_delay(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let exp = (failures - FREE_FAILURES).min(16);
    Duration::from_secs((FIRST_DELAY_SECS << exp).min(MAX_DELAY_SECS))
}

/// The client's address: the peer, unless the peer is a trusted proxy; then
/// `X-Forwarded-For` read from the right, skipping trusted hops, up to the
/// first address that is not one (a malformed entry stops the walk there and
/// the last trusted hop is the client).
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(xff) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn spraying_many_names_from_one_address_is_refused() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        let a = ip("192.0.2.1");
        let mut refused = None;
        for i in 0..50 {
            let name = format!("user{i}");
            match t.check_at(a, &name, now) {
                Ok(()) => t.record_at(a, &name, false, now),
                Err(e) => {
                    refused = Some((i, e));
                    break;
                }
            }
        }
        let (i, e) = refused.expect("spraying must be refused");
        assert_eq!(i, ADDRESS_BURST as usize);
        assert!(matches!(e, Throttled::Address { .. }));
        // Another address is not affected.
        assert!(t.check_at(ip("192.0.2.2"), "user0", now).is_ok());
    }

    #[test]
    fn an_account_backs_off_then_lets_its_owner_in() {
        let t = LoginThrottle::new();
        let start = Instant::now();
        // Failures from many addresses (an attacker behind a botnet), each
        // after the previous delay has passed.
        let mut t0 = start;
        for i in 0..FREE_FAILURES + 2 {
            t0 = start + Duration::from_secs(u64::from(i) * (MAX_DELAY_SECS + 1));
            let a = ip(&format!("198.51.100.{i}"));
            assert!(t.check_at(a, "Alice", t0).is_ok(), "attempt {i}");
            t.record_at(a, "alice", false, t0);
        }
        let owner = ip("203.0.113.9");
        match t.check_at(owner, "alice", t0) {
            Err(Throttled::Account { retry_after_secs }) => assert_eq!(retry_after_secs, 16),
            other => panic!("expected a delay, got {other:?}"),
        }
        // A delay, not a lockout: after it the owner signs in, which resets it.
        let later = t0 + Duration::from_secs(16);
        assert!(t.check_at(owner, "alice", later).is_ok());
        t.record_at(owner, "alice", true, later);
        assert!(t.check_at(owner, "alice", later).is_ok());
        assert_eq!(account_delay(100), Duration::from_secs(MAX_DELAY_SECS));
    }

    #[test]
    fn the_store_stays_bounded_and_holds_no_names() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        let a = ip("192.0.2.7");
        let long = "x".repeat(300);
        for i in 0..(MAX_KEYS + 50) {
            t.record_at(a, &format!("{long}{i}"), false, now);
        }
        let (addresses, accounts) = t.sizes();
        assert_eq!(addresses, 1);
        assert_eq!(accounts, MAX_KEYS);
        assert!(!format!("{:?}", t.inner.lock().unwrap().accounts).contains("xxx"));
    }

    #[test]
    fn global_failures_are_limited() {
        let t = LoginThrottle::new();
        let now = Instant::now();
        for i in 0..GLOBAL_BURST as u32 {
            let a = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            t.record_at(a, &format!("u{i}"), false, now);
        }
        assert!(matches!(
            t.check_at(ip("10.9.9.9"), "someone", now),
            Err(Throttled::Global { .. })
        ));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted = [proxy];
        let xff = Some("203.0.113.5, 198.51.100.7");
        // Untrusted peer: its header is ignored.
        assert_eq!(client_ip(ip("192.0.2.9"), xff, &trusted), ip("192.0.2.9"));
        // Trusted peer: the rightmost hop it saw.
        assert_eq!(client_ip(proxy, xff, &trusted), ip("198.51.100.7"));
        // Chained trusted proxies are skipped.
        let two = [proxy, ip("10.0.0.2")];
        assert_eq!(
            client_ip(proxy, Some("203.0.113.5, 10.0.0.2"), &two),
            ip("203.0.113.5")
        );
        // Garbage stops the walk: the proxy itself is the client.
        assert_eq!(client_ip(proxy, Some("not-an-ip"), &trusted), proxy);
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
    }
}
