//! The list index sees every committed write, in commit order.
//!
//! Every engine write that can change the job list returns a [`Committed<T>`]: the committed
//! value together with its change to the index. The value can only be taken out through
//! [`Committed::publish`], which first makes sure the change is in the store's index, so a
//! write whose change the index never sees cannot be written (and a `Committed` dropped on an
//! early return or a panic still applies its change in its `Drop`).
//!
//! Two ways a change reaches the index, one per kind of engine:
//! - **Local** (SQLite: one process writes): commit numbers are issued by [`Feed::issue`] while
//!   the engine still holds its writer (so in commit order), and [`Feed`] applies changes
//!   strictly in number order: a change waits until every earlier commit's change is applied.
//!   The writer is released before the change is applied, so the next transaction commits
//!   while this one's change (e.g. an import's merge) is applied.
//! - **Tailed** (PostgreSQL: several replicas write): the number is the write's sequence
//!   number in the database's change log, and the index follows the log in sequence order
//!   ([`Feed::apply_tailed`], called by the engine's tailer), whoever wrote. The writer
//!   registers its own change under its number before committing ([`Feed::register_own`]), so
//!   the tailer applies the change as committed instead of reading the rows again; `publish`
//!   waits (bounded) until the index has applied the number.

use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trainyard_index::{IndexOp, ListIndex};

/// How long a tailed write waits for the index to apply its change before it returns anyway
/// (the change is committed; the index gets it when the database answers again).
pub(crate) const PUBLISH_WAIT: Duration = Duration::from_secs(10);

/// The store's list index and the order in which committed changes reach it.
#[derive(Default)]
pub(crate) struct Feed {
    index: Arc<RwLock<ListIndex>>,
    numbers: Mutex<Numbers>,
    turn: Condvar,
    /// Asks the engine's tailer to read the change log now (tailed engines).
    kick: parking_lot::RwLock<Option<Arc<dyn Fn() + Send + Sync>>>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.numbers.lock();
        f.debug_struct("Feed")
            .field("issued", &n.issued)
            .field("applied", &n.applied)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Numbers {
    /// Last number issued (local mode).
    issued: u64,
    /// Every change numbered up to this one is in the index.
    applied: u64,
    /// Tailed mode: this store's own changes by sequence number, with the write's tag (the
    /// tailer uses one only when the log entry carries the same tag).
    own: BTreeMap<u64, (u64, IndexOp)>,
}

/// One change-log entry as the tailer read it, in sequence order.
pub(crate) struct Tailed {
    /// Sequence number.
    pub(crate) seq: u64,
    /// The writing store's tag of the write (origin and write number), to match own changes.
    pub(crate) tag: u64,
    /// The change as read back from the database (rows as of the read, which is after the
    /// commit), used when the change is not this store's own.
    pub(crate) op: IndexOp,
}

/// What [`Feed::apply_tailed`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TailApplied {
    /// Entries applied.
    pub(crate) applied: usize,
    /// Entries applied that another store wrote.
    pub(crate) foreign: usize,
    /// The first entry was past the next number (an entry missing in between): nothing past
    /// the missing number was applied.
    pub(crate) gap: bool,
}

impl Feed {
    /// The index the changes are applied to.
    pub(crate) fn index(&self) -> &Arc<RwLock<ListIndex>> {
        &self.index
    }

    /// Every change up to this number is in the index.
    pub(crate) fn applied(&self) -> u64 {
        self.numbers.lock().applied
    }

    /// The next commit number (local mode). Call it after the commit while the engine's writer
    /// is still held, so numbers follow commit order.
    pub(crate) fn issue(&self) -> u64 {
        let mut n = self.numbers.lock();
        n.issued += 1;
        n.issued
    }

    /// Applies `op` as change number `number`: waits until every earlier change is applied.
    fn apply(&self, number: u64, op: IndexOp) {
        let mut n = self.numbers.lock();
        while n.applied + 1 != number {
            self.turn.wait(&mut n);
        }
        if !matches!(op, IndexOp::None) {
            self.index.write().apply(op);
        }
        n.applied = number;
        drop(n);
        self.turn.notify_all();
    }

    /// Replaces the whole index (start-up load). The caller holds the engine's writer, so no
    /// commit is issued meanwhile; waits until every issued change is applied first.
    pub(crate) fn replace(&self, index: ListIndex) {
        let mut n = self.numbers.lock();
        while n.applied != n.issued {
            self.turn.wait(&mut n);
        }
        *self.index.write() = index;
    }

    // ---- tailed mode ----

    /// Sets what asks the tailer to read the change log at once.
    pub(crate) fn set_kick(&self, kick: Arc<dyn Fn() + Send + Sync>) {
        *self.kick.write() = Some(kick);
    }

    fn kick(&self) {
        if let Some(k) = self.kick.read().as_ref() {
            k();
        }
    }

    /// Replaces the whole index with one read at change-log position `head` (every change up
    /// to `head` is in it, none after). The tailer goes on from `head`; changes after it that
    /// were already applied to the old index are applied again (every change is idempotent).
    pub(crate) fn replace_at(&self, index: ListIndex, head: u64) {
        let mut n = self.numbers.lock();
        *self.index.write() = index;
        n.applied = head;
        n.own = n.own.split_off(&(head + 1));
        drop(n);
        self.turn.notify_all();
    }

    /// Tailed mode, before the commit of a write numbered `seq` (its log entry tagged `tag`):
    /// remembers its change, so the tailer applies it as committed.
    pub(crate) fn register_own(&self, seq: u64, tag: u64, op: IndexOp) {
        let mut n = self.numbers.lock();
        if seq > n.applied {
            n.own.insert(seq, (tag, op));
        }
    }

    /// True when the tailer need not read the change numbered `seq` back: it is applied
    /// already (typically this store's own write, published by its writer before the tailer
    /// came to it: reading an import's 100,000 rows back for nothing cost the database as much
    /// as a sixth of the import), or this store registered it with this tag.
    pub(crate) fn has_own(&self, seq: u64, tag: u64) -> bool {
        let n = self.numbers.lock();
        n.applied >= seq || n.own.get(&seq).is_some_and(|(t, _)| *t == tag)
    }

    /// Tailed mode, after the commit of `seq`: when every earlier number is applied, applies
    /// this store's own change at once (no need to read the log for it).
    fn applied_own(&self, seq: u64) -> bool {
        let mut n = self.numbers.lock();
        if n.applied >= seq {
            return true;
        }
        if n.applied + 1 != seq {
            return false;
        }
        let Some((_, op)) = n.own.remove(&seq) else {
            return false;
        };
        if !matches!(op, IndexOp::None) {
            self.index.write().apply(op);
        }
        n.applied = seq;
        drop(n);
        self.turn.notify_all();
        true
    }

    /// Waits until every change up to `seq` is applied, asking the tailer to read the log;
    /// false when `deadline` passed first.
    pub(crate) fn wait_applied(&self, seq: u64, deadline: Instant) -> bool {
        let mut n = self.numbers.lock();
        if n.applied >= seq {
            return true;
        }
        drop(n);
        self.kick();
        n = self.numbers.lock();
        while n.applied < seq {
            if self.turn.wait_until(&mut n, deadline).timed_out() {
                return n.applied >= seq;
            }
        }
        true
    }

    /// The tailer's step: applies log entries in sequence order, from the one after the last
    /// applied. An entry that this store registered with the same tag is applied as registered;
    /// others as read back. Entries at or below the applied number are skipped (another path
    /// applied them); an entry past the next number stops the batch (`gap`): the tailer never
    /// moves past a number it has not seen.
    pub(crate) fn apply_tailed(&self, entries: Vec<Tailed>) -> TailApplied {
        let mut out = TailApplied::default();
        let mut n = self.numbers.lock();
        let mut ix = None;
        for e in entries {
            if e.seq <= n.applied {
                continue;
            }
            if e.seq != n.applied + 1 {
                out.gap = true;
                break;
            }
            let op = match n.own.remove(&e.seq) {
                Some((tag, op)) if tag == e.tag => op,
                _ => {
                    out.foreign += 1;
                    e.op
                }
            };
            if !matches!(op, IndexOp::None) {
                ix.get_or_insert_with(|| self.index.write()).apply(op);
            }
            n.applied = e.seq;
            out.applied += 1;
        }
        drop(ix);
        // own changes of numbers now passed were never committed under that tag
        let applied = n.applied;
        n.own = n.own.split_off(&(applied + 1));
        drop(n);
        if out.applied > 0 {
            self.turn.notify_all();
        }
        out
    }
}

/// How a committed write's change reaches the index.
enum Change {
    /// Applied by this store in commit-number order (local mode).
    Local { number: u64, op: IndexOp },
    /// Applied by the tailer at sequence number `seq` (tailed mode).
    Tailed { seq: u64 },
}

/// A committed write: its value, and the change it makes to the list index (see module docs).
#[must_use = "a committed write's change must reach the index: call publish()"]
pub(crate) struct Committed<T> {
    value: Option<T>,
    change: Option<Change>,
    feed: Arc<Feed>,
}

impl<T> Committed<T> {
    /// A write committed as `number` (from [`Feed::issue`]).
    pub(crate) fn new(value: T, change: IndexOp, number: u64, feed: &Arc<Feed>) -> Committed<T> {
        Committed {
            value: Some(value),
            change: Some(Change::Local { number, op: change }),
            feed: feed.clone(),
        }
    }

    /// A write committed as change-log entry `seq`, its change registered with
    /// [`Feed::register_own`] before the commit.
    pub(crate) fn tailed(value: T, seq: u64, feed: &Arc<Feed>) -> Committed<T> {
        Committed {
            value: Some(value),
            change: Some(Change::Tailed { seq }),
            feed: feed.clone(),
        }
    }

    /// Makes sure the change is in the index (applies it in commit order, or waits for the
    /// tailer), then returns the value.
    pub(crate) fn publish(mut self) -> T {
        self.apply_change(true);
        match self.value.take() {
            Some(v) => v,
            None => unreachable!("the value is taken only here, once"),
        }
    }

    fn apply_change(&mut self, wait: bool) {
        match self.change.take() {
            Some(Change::Local { number, op }) => self.feed.apply(number, op),
            Some(Change::Tailed { seq })
                if !self.feed.applied_own(seq)
                    && wait
                    && !self.feed.wait_applied(seq, Instant::now() + PUBLISH_WAIT) =>
            {
                tracing::warn!(
                    seq,
                    "a committed change is not in the list index yet: the database does not answer the tailer"
                );
            }
            Some(Change::Tailed { .. }) => {}
            None => {}
        }
    }
}

impl<T> Drop for Committed<T> {
    fn drop(&mut self) {
        self.apply_change(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainyard_api::status::JobStatus;
    use trainyard_index::Row;

    fn upsert(job_id: i64) -> IndexOp {
        IndexOp::Upsert {
            project: "p".into(),
            workspace: "0".into(),
            row: Row {
                job_id,
                job_name: format!("j{job_id}"),
                job_desc: String::new(),
                version_id: job_id,
                status: JobStatus::Init,
                create_time: 0,
                start_time: None,
                duration: 0,
                version_count: 1,
                engine_type: 0,
            },
        }
    }

    /// Later commits wait for earlier ones; a dropped `Committed` still applies its change
    /// and passes the turn on.
    #[test]
    fn changes_apply_in_commit_order() {
        let feed = Arc::new(Feed::default());
        let log = Mutex::new(Vec::new());
        let c1 = Committed::new(1, upsert(1), feed.issue(), &feed);
        let c2 = Committed::new(2, upsert(2), feed.issue(), &feed);
        let c3 = Committed::new(3, IndexOp::None, feed.issue(), &feed);
        std::thread::scope(|s| {
            let h3 = s.spawn(|| {
                let v = c3.publish();
                log.lock().push(v)
            });
            let h2 = s.spawn(|| {
                let v = c2.publish();
                // the first commit's change is in before the second's returns
                assert!(feed.index().read().get("p", "0", 1).is_some());
                log.lock().push(v)
            });
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(log.lock().is_empty(), "later commits wait for the first");
            drop(c1);
            h2.join().unwrap();
            h3.join().unwrap();
        });
        let mut got = log.lock().clone();
        got.sort_unstable();
        assert_eq!(got, vec![2, 3]);
        assert_eq!(feed.index().read().project_job_count("p"), 2);
        let c4 = Committed::new(4, upsert(4), feed.issue(), &feed);
        assert_eq!(c4.publish(), 4);
        assert_eq!(feed.index().read().project_job_count("p"), 3);
    }

    /// An own change its writer has already published (the usual case) needs no read-back by
    /// the tailer; a change neither applied nor registered, or registered with another tag,
    /// does.
    #[test]
    fn applied_own_changes_are_not_read_back() {
        let feed = Arc::new(Feed::default());
        feed.register_own(1, 7, upsert(1));
        assert!(feed.has_own(1, 7), "registered, not yet applied");
        assert!(!feed.has_own(1, 8), "another store's tag");
        // the writer publishes after its commit, before the tailer reads the entry
        Committed::<()>::tailed((), 1, &feed).publish();
        assert_eq!(feed.applied(), 1);
        assert!(feed.has_own(1, 7), "applied already: nothing to read back");
        assert!(!feed.has_own(2, 7), "not applied, not registered");
    }
}
