//! The list index sees every committed write, in commit order.
//!
//! Every engine write that can change the job list returns a [`Committed<T>`]: the committed
//! value together with its [`IndexOp`] and its commit number. The value can only be taken out
//! through [`Committed::publish`], which first applies the change to the store's index, so a
//! write whose change the index never sees cannot be written (and a `Committed` dropped on an
//! early return or a panic still applies its change in its `Drop`).
//!
//! Commit numbers are issued by [`Feed::issue`] while the engine still holds its writer (so in
//! commit order), and [`Feed`] applies changes strictly in number order: a change waits until
//! every earlier commit's change is applied. The writer is released before the change is
//! applied, so the next transaction commits while this one's change (e.g. an import's merge)
//! is applied.

use parking_lot::{Condvar, Mutex, RwLock};
use std::sync::Arc;
use trainyard_index::{IndexOp, ListIndex};

/// The store's list index and the order in which committed changes reach it.
#[derive(Debug, Default)]
pub(crate) struct Feed {
    index: Arc<RwLock<ListIndex>>,
    numbers: Mutex<Numbers>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct Numbers {
    /// Last number issued.
    issued: u64,
    /// Every change numbered up to this one is in the index.
    applied: u64,
}

impl Feed {
    /// The index the changes are applied to.
    pub(crate) fn index(&self) -> &Arc<RwLock<ListIndex>> {
        &self.index
    }

    /// The next commit number. Call it after the commit while the engine's writer is still
    /// held, so numbers follow commit order.
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
}

/// A committed write: its value, and the change it makes to the list index (see module docs).
#[must_use = "a committed write's change must reach the index: call publish()"]
pub(crate) struct Committed<T> {
    value: Option<T>,
    change: Option<IndexOp>,
    number: u64,
    feed: Arc<Feed>,
}

impl<T> Committed<T> {
    /// A write committed as `number` (from [`Feed::issue`]).
    pub(crate) fn new(value: T, change: IndexOp, number: u64, feed: &Arc<Feed>) -> Committed<T> {
        Committed {
            value: Some(value),
            change: Some(change),
            number,
            feed: feed.clone(),
        }
    }

    /// Applies the change to the index in commit order, then returns the value.
    pub(crate) fn publish(mut self) -> T {
        self.apply_change();
        match self.value.take() {
            Some(v) => v,
            None => unreachable!("the value is taken only here, once"),
        }
    }

    /// The write did not commit after all: its number's turn passes with no change.
    pub(crate) fn discard(mut self) {
        self.change = Some(IndexOp::None);
        self.apply_change();
    }

    fn apply_change(&mut self) {
        if let Some(op) = self.change.take() {
            self.feed.apply(self.number, op);
        }
    }
}

impl<T> Drop for Committed<T> {
    fn drop(&mut self) {
        self.apply_change();
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
}
