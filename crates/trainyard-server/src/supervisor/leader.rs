//! One scheduler among several servers on one database (issue 12 §4).
//!
//! On a store shared by several servers (PostgreSQL, [`trainyard_store::Store::is_shared`])
//! only the holder of the store's scheduler lease schedules and runs versions; every server
//! answers the API. Each server runs a **campaign** task:
//!
//! - **standby**: every [`LeaseTiming::retry_every`] it tries to take the lease
//!   ([`trainyard_store::Store::try_lead`]); the lease can be taken only once it expired
//!   (its holder died or stalled) or was given up (a clean shutdown);
//! - **leader of epoch E**: it starts a *term* (a cancellation token, child of the server's):
//!   recovery (adopt what the old leader ran, where the executor can see it; mark the rest
//!   lost) and the scheduler loop run under it. It renews the lease every
//!   [`LeaseTiming::renew_every`]. Every status write of the term carries E as its fencing value
//!   ([`trainyard_store::StatusUpdate::fence`]): once another server took the lease (E + 1),
//!   the store refuses them, so a paused old leader cannot overwrite the new one's decisions.
//!   The term ends when a renewal finds another epoch or a fenced write is refused; its runs
//!   are forgotten (not stopped: the new leader adopts them).
//! - **may submit**: a leader starts new runs only while its last confirmed renewal is younger
//!   than half the lease's time to live ([`Role::may_submit`]), so it stops starting anything
//!   well before another server could take the lease; a run started just before anyway is
//!   stopped when its fenced `RUNNING` write is refused (one `RUNNING` per version, by the
//!   status compare-and-set).
//! - on shutdown the leader gives the lease up, so another server takes over at once.
//!
//! Creates and stops on a server that does not lead reach the leader through the database:
//! the change log wakes its scheduler ([`trainyard_store::Store::subscribe_foreign_writes`]).

use super::Inner;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use trainyard_store::Store;

/// The scheduler lease's timing.
#[derive(Clone, Debug)]
pub struct LeaseTiming {
    /// How long a lease lasts without renewal (database clock): how long the servers wait for
    /// a leader that died before one of them takes over. Default 5 s.
    pub ttl: Duration,
    /// How often the leader renews. Default 1 s.
    pub renew_every: Duration,
    /// How often a standby server tries to take the lease. Default 1 s.
    pub retry_every: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            ttl: Duration::from_secs(5),
            renew_every: Duration::from_secs(1),
            retry_every: Duration::from_secs(1),
        }
    }
}

/// Whether, and as what, this server schedules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Another server leads (or none yet): this one only answers the API.
    Standby,
    /// The only server of its store (SQLite): schedules, no lease.
    Single,
    /// The scheduler leader of `epoch`; it may start runs until `submit_until`.
    Leader {
        /// The lease's epoch (the fencing value of this term's status writes).
        epoch: u64,
        /// Half the lease's time to live after the last renewal was sent.
        submit_until: Instant,
    },
}

impl Role {
    /// True when this server schedules.
    pub fn leads(&self) -> bool {
        !matches!(self, Role::Standby)
    }

    /// The fencing value for a status write of the scheduler.
    pub fn fence(&self) -> Option<u64> {
        match self {
            Role::Leader { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }

    /// True when this server may start a run now (see module docs).
    pub fn may_submit(&self) -> bool {
        match self {
            Role::Single => true,
            Role::Leader { submit_until, .. } => Instant::now() < *submit_until,
            Role::Standby => false,
        }
    }

    /// A short name for logs and `/readyz`: `single`, `leader`, `standby`.
    pub fn name(&self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Single => "single",
            Role::Leader { .. } => "leader",
        }
    }
}

/// This server's name in the lease (for operators): host name, listen address and pid.
pub fn replica_name(listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!("{host} {listen} pid {}", std::process::id())
}

/// Starts the campaign task and subscribes the scheduler to other servers' writes.
pub(super) fn start(inner: &Arc<Inner>) {
    let weak = Arc::downgrade(inner);
    inner.store.subscribe_foreign_writes(Arc::new(move || {
        if let Some(i) = weak.upgrade() {
            i.wake.notify_one();
        }
    }));
    let i = inner.clone();
    inner.tasks.spawn(async move { campaign(i).await });
}

/// A store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> trainyard_store::Result<T> + Send + 'static,
) -> Result<T, String> {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || f(&s)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

async fn campaign(inner: Arc<Inner>) {
    let t = inner.settings.lease.clone();
    let mut failing = false;
    loop {
        let name = inner.settings.replica_name.clone();
        let ttl = t.ttl;
        let sent = Instant::now();
        match blocking(&inner.store, move |s| s.try_lead(&name, ttl)).await {
            Ok(Some(epoch)) => {
                failing = false;
                lead(&inner, epoch, sent).await;
                if inner.cancel.is_cancelled() {
                    return;
                }
            }
            Ok(None) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the scheduler lease; retrying");
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = inner.cancel.cancelled() => return,
            _ = tokio::time::sleep(t.retry_every) => {}
        }
    }
}

/// One term as leader of `epoch` (the lease taken by a request sent at `sent`): returns when
/// it ends (lease lost, a fenced write, or shutdown, which gives the lease up).
async fn lead(inner: &Arc<Inner>, epoch: u64, sent: Instant) {
    let t = inner.settings.lease.clone();
    let term = inner.cancel.child_token();
    *inner.term.lock() = term.clone();
    *inner.role.lock() = Role::Leader {
        epoch,
        submit_until: sent + t.ttl / 2,
    };
    tracing::info!(epoch, "this server leads the scheduler now");
    {
        let i = inner.clone();
        inner.spawn(async move {
            if let Err(e) = i.recover().await {
                tracing::warn!(error = %e, "recovery as the new scheduler leader failed");
            }
            i.run().await;
        });
    }
    let mut failing = false;
    loop {
        tokio::select! {
            _ = term.cancelled() => break,
            _ = tokio::time::sleep(t.renew_every) => {}
        }
        let sent = Instant::now();
        let ttl = t.ttl;
        match blocking(&inner.store, move |s| s.renew_lead(epoch, ttl)).await {
            Ok(true) => {
                if failing {
                    tracing::info!(epoch, "the scheduler lease is renewed again");
                }
                failing = false;
                let mut role = inner.role.lock();
                if role.fence() == Some(epoch) {
                    *role = Role::Leader {
                        epoch,
                        submit_until: sent + ttl / 2,
                    };
                }
            }
            Ok(false) => {
                tracing::warn!(epoch, "another server took the scheduler lease over");
                break;
            }
            Err(e) => {
                // keep leading: the lease is ours until it expires and nobody else can take it
                // while the database is away; `may_submit` turns false meanwhile
                if !failing {
                    tracing::warn!(epoch, error = %e, "cannot renew the scheduler lease; retrying");
                }
                failing = true;
            }
        }
    }
    step_down(inner, &term);
    if inner.cancel.is_cancelled() {
        let resign = blocking(&inner.store, move |s| s.resign_lead(epoch));
        match tokio::time::timeout(Duration::from_secs(3), resign).await {
            Ok(Ok(())) => tracing::info!(epoch, "scheduler lease given up"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot give the scheduler lease up"),
            Err(_) => tracing::warn!("giving the scheduler lease up timed out"),
        }
    }
}

/// Ends the term: its tasks stop, its runs are forgotten (the next leader adopts them).
fn step_down(inner: &Arc<Inner>, term: &CancellationToken) {
    term.cancel();
    *inner.role.lock() = Role::Standby;
    let handles: Vec<_> = {
        let mut s = inner.sched.lock();
        s.queue.clear();
        s.per_project.clear();
        s.active.drain().filter_map(|(_, a)| a.handle).collect()
    };
    if !inner.cancel.is_cancelled() {
        for h in &handles {
            inner.executor.forget(h);
        }
        tracing::info!(
            runs = handles.len(),
            "this server no longer leads the scheduler"
        );
    }
}

impl Inner {
    /// Starts a scheduling term as `role` (the only server of its store): recovers, then runs
    /// the scheduler loop.
    pub(super) async fn begin_term(self: &Arc<Self>, role: Role) -> anyhow::Result<()> {
        *self.term.lock() = self.cancel.child_token();
        *self.role.lock() = role;
        self.recover().await?;
        let task = self.clone();
        self.spawn(async move { task.run().await });
        Ok(())
    }
}
