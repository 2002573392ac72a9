//! Failure throttles: growing delays after repeated failed authentications of one key (a
//! client address, a user), in bounded memory.
//!
//! A key may fail [`Policy::free_failures`] times; each further failure blocks it for
//! `base_delay_ms · 2^(n-1)` (n = failures beyond the free ones), at most `max_delay_ms`.
//! While blocked, the caller answers 429 `ModelArts.2799` with `Retry-After` *without* checking
//! the credential, so a blocked attacker learns nothing and costs nothing; refused attempts do
//! not count as failures. A key is forgotten `forget_after_ms` after its last failure.
//!
//! Memory: each table holds at most `max_entries` keys (a few dozen bytes each). When it is
//! full, forgotten keys are dropped first, then the eighth of the keys whose last failure is
//! oldest, so a flood of new keys costs amortised O(1) per failure and cannot grow the table.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

/// How failures of one key are throttled (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failures allowed before the first delay.
    pub free_failures: u32,
    /// The first delay, ms.
    pub base_delay_ms: i64,
    /// The longest delay, ms.
    pub max_delay_ms: i64,
    /// A key is forgotten this long after its last failure, ms.
    pub forget_after_ms: i64,
}

impl Policy {
    /// The block that the `failures`-th failure starts, ms (0 while within the free ones).
    pub fn delay_ms(&self, failures: u32) -> i64 {
        let Some(beyond) = failures.checked_sub(self.free_failures) else {
            return 0;
        };
        if beyond == 0 {
            return 0;
        }
        let doublings = (beyond - 1).min(40);
        self.base_delay_ms
            .saturating_mul(1i64 << doublings)
            .min(self.max_delay_ms)
    }
}

/// Failed token requests from one client address: 10 free, then 1 s doubling up to 5 minutes.
pub const LOGIN_PER_ADDRESS: Policy = Policy {
    free_failures: 10,
    base_delay_ms: 1_000,
    max_delay_ms: 300_000,
    forget_after_ms: 900_000,
};

/// Failed token requests for one user name and domain (whether it exists or not, so the
/// answers do not tell): 5 free, then 1 s doubling up to 1 minute. Addresses the user
/// recently logged in from are exempt ([`TrustedPairs`]), so an attacker elsewhere cannot
/// keep the owner out.
pub const LOGIN_PER_USER: Policy = Policy {
    free_failures: 5,
    base_delay_ms: 1_000,
    max_delay_ms: 60_000,
    forget_after_ms: 900_000,
};

/// Failed AK/SK signatures from one client address: 20 free, then 1 s doubling up to 5 minutes.
/// Never per access key: a correct signature from another address is always accepted.
pub const SIGNATURE_PER_ADDRESS: Policy = Policy {
    free_failures: 20,
    base_delay_ms: 1_000,
    max_delay_ms: 300_000,
    forget_after_ms: 900_000,
};

/// Keys a throttle table holds at most.
pub const MAX_ENTRIES: usize = 100_000;

/// A client address as throttled: an IPv4 address, or the /64 prefix of an IPv6 address (one
/// host usually has a whole /64). IPv4-mapped IPv6 addresses count as IPv4. `Unknown` when
/// the server does not know the peer (requests not from [`crate::conn`], e.g. tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 address.
    V4(u32),
    /// The upper 64 bits of an IPv6 address.
    V6Prefix(u64),
    /// No peer address.
    Unknown,
}

impl ClientKey {
    /// The key of a peer address.
    pub fn of(ip: Option<IpAddr>) -> ClientKey {
        match ip {
            None => ClientKey::Unknown,
            Some(IpAddr::V4(v4)) => ClientKey::V4(u32::from(v4)),
            Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: i64,
    blocked_until: i64,
}

/// One throttle table (module docs).
#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    max_entries: usize,
    map: Mutex<HashMap<K, Entry>>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    /// An empty table.
    pub fn new(policy: Policy, max_entries: usize) -> Throttle<K> {
        Throttle {
            policy,
            max_entries: max_entries.max(8),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Milliseconds until `key` may try again (0: now).
    pub fn wait_ms(&self, key: &K, now: i64) -> i64 {
        self.map
            .lock()
            .get(key)
            .map_or(0, |e| (e.blocked_until - now).max(0))
    }

    /// Records a failure of `key`; returns the wait it starts (0 while within the free ones).
    pub fn failure(&self, key: &K, now: i64) -> i64 {
        let mut map = self.map.lock();
        if !map.contains_key(key) && map.len() >= self.max_entries {
            self.evict(&mut map, now);
        }
        let policy = self.policy;
        let e = map.entry(key.clone()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            blocked_until: 0,
        });
        if now - e.last_failure >= policy.forget_after_ms && e.blocked_until <= now {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = now;
        let delay = policy.delay_ms(e.failures);
        if delay > 0 {
            e.blocked_until = now + delay;
        }
        delay
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// True when no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn evict(&self, map: &mut HashMap<K, Entry>, now: i64) {
        let forget = self.policy.forget_after_ms;
        map.retain(|_, e| e.blocked_until > now || now - e.last_failure < forget);
        if map.len() < self.max_entries {
            return;
        }
        let mut ages: Vec<i64> = map.values().map(|e| e.last_failure).collect();
        let cut = (ages.len() / 8).max(1);
        let (_, &mut threshold, _) = ages.select_nth_unstable(cut - 1);
        let mut dropped = 0;
        map.retain(|_, e| {
            if dropped < cut && e.last_failure <= threshold {
                dropped += 1;
                false
            } else {
                true
            }
        });
        tracing::warn!(
            dropped,
            "authentication throttle table full; dropped the oldest entries"
        );
    }
}

/// A user name and domain as a throttle key: a 64-bit keyed hash (so names of any length cost
/// the same few bytes and the table cannot be aimed at collisions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserKey(u64);

/// Hashes user names into [`UserKey`]s with a per-process random key.
#[derive(Debug, Default)]
pub struct UserKeys(std::collections::hash_map::RandomState);

impl UserKeys {
    /// The key of a user name and domain.
    pub fn key(&self, user: &str, domain: &str) -> UserKey {
        UserKey(self.0.hash_one((user, domain)))
    }
}

/// (user, client address) pairs that logged in successfully recently: those addresses skip the
/// per-user throttle (not the per-address one). Bounded like [`Throttle`].
#[derive(Debug)]
pub struct TrustedPairs {
    ttl_ms: i64,
    max_entries: usize,
    map: Mutex<HashMap<(UserKey, ClientKey), i64>>,
}

impl TrustedPairs {
    /// An empty table whose pairs last `ttl_ms` after their last successful login.
    pub fn new(ttl_ms: i64, max_entries: usize) -> TrustedPairs {
        TrustedPairs {
            ttl_ms,
            max_entries: max_entries.max(8),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// True if `user` logged in from `client` within the ttl.
    pub fn contains(&self, user: UserKey, client: ClientKey, now: i64) -> bool {
        client != ClientKey::Unknown
            && self
                .map
                .lock()
                .get(&(user, client))
                .is_some_and(|&until| until > now)
    }

    /// Records a successful login.
    pub fn insert(&self, user: UserKey, client: ClientKey, now: i64) {
        if client == ClientKey::Unknown {
            return;
        }
        let mut map = self.map.lock();
        if map.len() >= self.max_entries {
            map.retain(|_, until| *until > now);
            if map.len() >= self.max_entries {
                let mut ends: Vec<i64> = map.values().copied().collect();
                let cut = (ends.len() / 8).max(1);
                let (_, &mut threshold, _) = ends.select_nth_unstable(cut - 1);
                map.retain(|_, until| *until > threshold);
            }
        }
        map.insert((user, client), now + self.ttl_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        free_failures: 3,
        base_delay_ms: 1_000,
        max_delay_ms: 8_000,
        forget_after_ms: 60_000,
    };

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_cap() {
        let got: Vec<i64> = (1..=9).map(|n| P.delay_ms(n)).collect();
        assert_eq!(
            got,
            [0, 0, 0, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000],
            "3 free, then 1 s, 2 s, 4 s, capped at 8 s"
        );
        assert_eq!(P.delay_ms(u32::MAX), 8_000);
    }

    #[test]
    fn a_key_is_blocked_then_released_then_forgotten() {
        let t = Throttle::new(P, 100);
        let k = ClientKey::V4(1);
        let other = ClientKey::V4(2);
        for i in 0..3 {
            assert_eq!(t.failure(&k, 100 + i), 0);
            assert_eq!(t.wait_ms(&k, 100 + i), 0);
        }
        assert_eq!(t.failure(&k, 200), 1_000);
        assert_eq!(t.wait_ms(&k, 200), 1_000);
        assert_eq!(t.wait_ms(&k, 700), 500);
        assert_eq!(t.wait_ms(&k, 1_200), 0);
        assert_eq!(t.wait_ms(&other, 700), 0, "other keys are unaffected");
        assert_eq!(t.failure(&k, 1_300), 2_000, "the next failure doubles");
        // Long after the last failure, the count starts again.
        assert_eq!(t.failure(&k, 1_300 + 60_000), 0);
    }

    #[test]
    fn the_table_stays_bounded_and_keeps_recent_keys() {
        let t = Throttle::new(P, 64);
        for i in 0..10_000u32 {
            t.failure(&ClientKey::V4(i), i64::from(i));
            assert!(t.len() <= 64);
        }
        // The most recent keys are still tracked.
        let last = ClientKey::V4(9_999);
        for n in 0..3 {
            t.failure(&last, 10_000 + n);
        }
        assert_eq!(t.wait_ms(&last, 10_003), 1_000 - 1);
    }

    #[test]
    fn client_keys() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(
            ClientKey::of(Some(a.into())),
            ClientKey::of(Some(b.into())),
            "one /64"
        );
        assert_ne!(ClientKey::of(Some(a.into())), ClientKey::of(Some(c.into())));
        let v4 = Ipv4Addr::new(10, 0, 0, 7);
        assert_eq!(
            ClientKey::of(Some(v4.to_ipv6_mapped().into())),
            ClientKey::of(Some(v4.into()))
        );
        assert_eq!(ClientKey::of(None), ClientKey::Unknown);
    }

    #[test]
    fn trusted_pairs_expire_and_stay_bounded() {
        let keys = UserKeys::default();
        let alice = keys.key("alice", "alice");
        assert_ne!(alice, keys.key("alice", "other"));
        let t = TrustedPairs::new(1_000, 16);
        let home = ClientKey::V4(7);
        t.insert(alice, home, 0);
        assert!(t.contains(alice, home, 999));
        assert!(!t.contains(alice, home, 1_000));
        assert!(!t.contains(alice, ClientKey::V4(8), 10));
        t.insert(alice, ClientKey::Unknown, 0);
        assert!(!t.contains(alice, ClientKey::Unknown, 1));
        for i in 0..1_000 {
            t.insert(keys.key(&format!("u{i}"), "d"), home, i64::from(i));
            assert!(t.map.lock().len() <= 16);
        }
    }
}
