//! The tarpit (issue 9 §2, "keep the list's latency unaffected during a login flood"): a
//! request that is going to be refused 429 because its client is throttled (failed logins or
//! failed signatures beyond the free allowance, per address or per user name) or because there
//! is no room for its password check, is *held* before that answer: an async sleep (a timer in
//! the runtime, no thread, no body read) of the announced wait, at most
//! [`Tarpit::max_hold`] (`tarpit_max_hold_ms`, default [`DEFAULT_MAX_HOLD_MS`]).
//!
//! Why: a throttled answer costs little, but a flood that ignores `Retry-After` asks for
//! thousands of them a second (measured: 5,000-9,000/s from 256 clients on 2 CPUs), and
//! answering at that rate takes the CPU from normal requests. Held, each attacking connection
//! gets at most one answer per hold, so 256 clients get about 256 answers a second.
//!
//! Bounds: at most [`Tarpit::max_held`] requests are held at once (`tarpit_max_held`, default
//! [`DEFAULT_MAX_HELD`]); beyond, the 429 is answered at once as before, so holding cannot pile
//! up connections or memory. Held requests are on connections already accepted within
//! `max_connections` (they count against it; a held request is in flight, so the idle and
//! header timers leave it alone, and it ends within `max_hold`). A request that would be served
//! (a correct login or signature from a client that is not throttled) never goes through here.
//!
//! The `Retry-After` of a held answer is the wait at the request's arrival (whole seconds,
//! rounded up), so it is never shorter than the block and a client that honours it never
//! meets the block again; it may be up to `max_hold` longer than needed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Default longest hold, ms.
pub const DEFAULT_MAX_HOLD_MS: u64 = 1_000;
/// Default most requests held at once (half the default `max_connections`, so held requests
/// alone never take every connection).
pub const DEFAULT_MAX_HELD: usize = 512;

/// The held requests (module docs).
#[derive(Debug)]
pub struct Tarpit {
    max_held: usize,
    max_hold: Duration,
    held: AtomicUsize,
    peak: AtomicUsize,
}

/// What [`Tarpit::hold`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Held this long, then released.
    Held(Duration),
    /// Not held: the tarpit was full (or off, or there was nothing to wait).
    NotHeld,
}

/// Releases a held slot, also when the held future is dropped (the client went away).
struct Slot<'a>(&'a AtomicUsize);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Tarpit {
    /// A tarpit holding at most `max_held` requests at once, each at most `max_hold_ms` ms
    /// (either 0: never hold).
    pub fn new(max_held: usize, max_hold_ms: u64) -> Tarpit {
        Tarpit {
            max_held,
            max_hold: Duration::from_millis(max_hold_ms),
            held: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }

    /// Most requests held at once.
    pub fn max_held(&self) -> usize {
        self.max_held
    }

    /// Longest hold.
    pub fn max_hold(&self) -> Duration {
        self.max_hold
    }

    /// How long a wait of `wait_ms` is held: `min(wait_ms, max_hold)` (0 for a wait <= 0).
    pub fn hold_for(&self, wait_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)).min(self.max_hold)
    }

    /// Holds the caller for [`Tarpit::hold_for`]`(wait_ms)` if fewer than `max_held` requests
    /// are held, else returns at once with [`Hold::NotHeld`]. Cancel-safe: dropping the
    /// future frees its slot.
    pub async fn hold(&self, wait_ms: i64) -> Hold {
        let d = self.hold_for(wait_ms);
        if d.is_zero() {
            return Hold::NotHeld;
        }
        let before = self.held.fetch_add(1, Ordering::AcqRel);
        let _slot = Slot(&self.held);
        if before >= self.max_held {
            crate::metrics::tarpit("full");
            return Hold::NotHeld;
        }
        self.peak.fetch_max(before + 1, Ordering::AcqRel);
        crate::metrics::tarpit("held");
        tokio::time::sleep(d).await;
        Hold::Held(d)
    }

    /// Requests held now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire).min(self.max_held)
    }

    /// The most requests ever held at once (never above [`Tarpit::max_held`]).
    pub fn peak_held(&self) -> usize {
        self.peak.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn holds_the_wait_up_to_the_cap() {
        let t = Tarpit::new(4, 1_000);
        assert_eq!(t.hold_for(0), Duration::ZERO);
        assert_eq!(t.hold_for(-5), Duration::ZERO);
        assert_eq!(t.hold_for(250), Duration::from_millis(250));
        assert_eq!(t.hold_for(1_000), Duration::from_millis(1_000));
        assert_eq!(t.hold_for(300_000), Duration::from_millis(1_000));
        assert_eq!(Tarpit::new(4, 0).hold_for(5_000), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_max_held_are_held_and_slots_come_back() {
        let t = Arc::new(Tarpit::new(3, 1_000));
        let mut held = Vec::new();
        for _ in 0..3 {
            let t = t.clone();
            held.push(tokio::spawn(async move { t.hold(5_000).await }));
        }
        tokio::task::yield_now().await;
        assert_eq!(t.held(), 3);
        // The fourth is not held: it returns without the clock moving.
        let start = tokio::time::Instant::now();
        assert_eq!(t.hold(5_000).await, Hold::NotHeld);
        assert_eq!(start.elapsed(), Duration::ZERO);
        for h in held {
            assert_eq!(h.await.unwrap(), Hold::Held(Duration::from_millis(1_000)));
        }
        assert_eq!(t.held(), 0);
        assert_eq!(t.peak_held(), 3);
        // A dropped (cancelled) hold frees its slot.
        let t2 = t.clone();
        let h = tokio::spawn(async move { t2.hold(1_000).await });
        tokio::task::yield_now().await;
        assert_eq!(t.held(), 1);
        h.abort();
        let _ = h.await;
        assert_eq!(t.held(), 0);
    }
}
