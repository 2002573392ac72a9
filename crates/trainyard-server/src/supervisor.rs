//! The supervisor: the single owner of every status change of a version after it is created
//! (`statuses.md` "Transitions"). Handlers create versions and [`Supervisor::wake`] it, or ask
//! it to [`Supervisor::stop`] or [`Supervisor::forget`] versions.
//!
//! # Life of a version
//! ```text
//! 1 INIT -> 2 IMAGE_CREATING -> 4 SUBMIT_TRYING -> 7 WAITING -> 8 RUNNING -> 10 / 11 / 12
//!           (app_url, boot file    (engine command     (a slot:     (handle stored
//!            exist? else 3)         found? else 5)      submit,      with the 8)
//!                                                       else 5)
//! ```
//! The supervisor only schedules and records. Everything that touches processes, the files of
//! a run or a cluster is the [`Executor`]'s: the checks of 2 and 4 are
//! [`Executor::preflight`] over the [`RunSpec`](trainyard_executor::RunSpec) built by
//! [`runspec::run_spec`], log directories come from [`Executor::log_dir`], and logs are copied
//! to `log_url` by [`Executor::copy_logs`].
//!
//! An executor with a queue of its own ([`Executor::queues`], Slurm) returns from `submit`
//! before the run starts: the version then stays 7 WAITING with its run handle stored (it holds
//! its slot: it is in the cluster's queue) and moves to 8 when [`Executor::started`] resolves,
//! with the engine's start time. If it ends without ever starting, it ends from 7: 13 CANCELED
//! when it was stopped (a stop of a queued version cancels its cluster job), else 5 SUBMIT_FAILED.
//! An executor that cannot be reached (`SubmitError::retry_later`) leaves the version waiting;
//! the pass stops there (FIFO) and the next pass comes with the next event or the fallback tick.
//!
//! One scheduler task walks the versions waiting in 1/2/4/7 in `version_id` order (FIFO): it
//! prepares each (1 → 2 → 4 → 7) and starts those for which a slot is free: fewer than
//! `quotas` versions of the project and fewer than `max_running` versions in all hold a slot.
//! A slot is held from the submit until the version's end is stored (9 KILLING still holds one).
//! It sleeps on a [`Notify`] woken by creates, stops, deletes and run ends (plus a slow
//! fallback tick); it never polls.
//!
//! Every change goes through `Store::update_status` with a compare-and-set on the expected
//! status (`StatusUpdate::expect`); the store applies the job's new list row to the index in
//! commit order before it returns, so the list shows live statuses in commit order. A version that was stopped
//! (13) or deleted while the scheduler worked on it makes the next compare-and-set fail; the
//! scheduler then drops it (and stops the workers it may have just started).
//!
//! Each run has a watcher task awaiting [`Executor::wait`]; the outcome becomes 10 COMPLETED,
//! 11 FAILED or 12 KILLED (always 12 when the version is in 9 KILLING) with `end_time`,
//! `duration`, `exit_code` and `status_reason`. Before that status is stored, the logs are copied
//! to `log_url` when it is set. A version deleted meanwhile has nothing left to record
//! (`update_status` is NotFound, ignored).
//!
//! # Restarts
//! [`Supervisor::start`] runs before the server answers: versions stored as 8/9, and 7 with a run
//! handle (queued in a cluster), are adopted from their stored run handle (`9` ones are stopped
//! again). A run whose workers all ended while
//! the server was down and recorded their exit status gets its real end from those records:
//! 10/11 (12 if it was in 9), its exit code, and the recorded end time (`ended_at_ms`, not the
//! recovery time). A run that cannot be adopted otherwise becomes 14 JOBSTAT_LOST with the
//! executor's reason, ended at the recovery time. Versions in 1/2/4/7 are scheduled again in FIFO order. The run handle is stored in the
//! same transaction as status 8, right after the workers were spawned; a server killed in
//! between leaves a 7 WAITING version with unknown workers. So at start, after adoption,
//! [`Executor::reconcile`] gets the adopted runs and the waiting versions and ends whatever of
//! the executor's runs none of them accounts for (the local executor: processes found by the
//! `TRAINYARD_RUN_DIR` variable each worker gets; such a version then runs again from the
//! start, its log keeping the earlier output), so the workers of a version deleted while the
//! server died during their stop grace do not run on.
//!
//! [`Supervisor::shutdown`] (called when `serve` ends) stops the tasks but leaves the workers
//! running, exactly as a crash would: the next start adopts them.

pub mod leader;
pub mod runspec;

use crate::config::{EngineConfig, ServerConfig};
use crate::error::{HttpError, HttpResult};
use crate::state::now_ms;
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::status::JobStatus;
use trainyard_executor::{
    ExecError, Executor, KnownRuns, Lost, PreflightError, PreflightStage, RunHandle, RunOutcome,
    RunSpec, Started,
};
use trainyard_store::{JobRecord, StatusUpdate, Store, StoreError, VersionRecord};

/// Statuses of versions that are not finished, exactly as in the store's partial index
/// `versions_active`, so the start-up and refresh queries use it.
const UNFINISHED: [JobStatus; 6] = [
    JobStatus::Init,
    JobStatus::ImageCreating,
    JobStatus::SubmitTrying,
    JobStatus::Waiting,
    JobStatus::Running,
    JobStatus::Killing,
];

/// Statuses of versions waiting for a slot (the queue), in order.
pub const QUEUED_STATUSES: [JobStatus; 4] = [
    JobStatus::Init,
    JobStatus::ImageCreating,
    JobStatus::SubmitTrying,
    JobStatus::Waiting,
];

/// A snapshot of the scheduler, for metrics and readiness.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedStats {
    /// Versions waiting for a slot, by status (only statuses with at least one).
    pub queued: Vec<(JobStatus, usize)>,
    /// Versions holding a slot, by project (only projects with at least one).
    pub running: Vec<(String, u64)>,
}

/// What the supervisor needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Versions of one project holding a slot at once (`quotas`).
    pub quotas: u64,
    /// Versions holding a slot at once, all projects (`max_running`).
    pub max_running: u64,
    /// Time between SIGTERM and SIGKILL on a stop.
    pub stop_grace: Duration,
    /// Engines and their commands.
    pub engines: Vec<EngineConfig>,
    /// How often the scheduler looks at the store without being woken (a safety net).
    pub fallback_interval: Duration,
    /// Who each project's workers run as and where their paths may lie.
    pub workers: Arc<crate::sandbox::WorkerPolicy>,
    /// Several servers on one database: how this server names itself in the scheduler lease
    /// (host, listen address, pid), and the lease's timing ([`leader::LeaseTiming`]).
    pub replica_name: String,
    /// See [`leader::LeaseTiming`].
    pub lease: leader::LeaseTiming,
}

impl Settings {
    /// The settings of a server configuration, with its resolved worker policy.
    pub fn from_config(c: &ServerConfig, workers: Arc<crate::sandbox::WorkerPolicy>) -> Settings {
        Settings {
            quotas: c.quotas.max(1),
            max_running: c.max_running.max(1),
            stop_grace: grace(c.stop_grace_secs),
            engines: c.engines.clone(),
            fallback_interval: Duration::from_secs(10),
            workers,
            replica_name: leader::replica_name(c.listen),
            lease: leader::LeaseTiming::default(),
        }
    }
}

/// `stop_grace_secs` as a duration (negative or not a number → 0, absurdly large → 1 day).
pub fn grace(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs.min(86_400.0)).unwrap_or(Duration::from_secs(10))
    }
}

/// See module docs.
pub struct Supervisor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.inner.sched.lock();
        f.debug_struct("Supervisor")
            .field("executor", &self.inner.executor.kind())
            .field("queued", &s.queue.len())
            .field("active", &s.active.len())
            .finish_non_exhaustive()
    }
}

struct Inner {
    store: Arc<Store>,
    executor: Arc<dyn Executor>,
    settings: Settings,
    wake: Notify,
    sched: Mutex<Sched>,
    /// The server's life: cancelled by [`Supervisor::shutdown`].
    cancel: CancellationToken,
    tasks: TaskTracker,
    /// This server's scheduling term (see [`leader`]): a child of `cancel`, cancelled when the
    /// server stops leading; every scheduling task runs under it.
    term: Mutex<CancellationToken>,
    /// Whether (and as which epoch) this server schedules.
    role: Mutex<leader::Role>,
}

/// Scheduling state (never held across an await).
#[derive(Default)]
struct Sched {
    /// Versions in 1/2/4/7 by id (FIFO): last known status and project.
    queue: BTreeMap<i64, (JobStatus, String)>,
    /// Versions holding a slot: from the submit until their end is stored.
    active: HashMap<i64, Active>,
    /// Slots held per project.
    per_project: HashMap<String, u64>,
}

struct Active {
    project: String,
    /// `None` while the workers are being started.
    handle: Option<RunHandle>,
    /// Its run ended and the end is being recorded, or a stop was asked of it: a scheduling
    /// pass does not stop it (again).
    settled: bool,
}

impl Sched {
    fn take(&mut self, version_id: i64, project: &str) {
        if self
            .active
            .insert(
                version_id,
                Active {
                    project: project.to_owned(),
                    handle: None,
                    settled: false,
                },
            )
            .is_none()
        {
            *self.per_project.entry(project.to_owned()).or_default() += 1;
        }
    }

    fn release(&mut self, version_id: i64) {
        if let Some(a) = self.active.remove(&version_id)
            && let Some(n) = self.per_project.get_mut(&a.project)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_project.remove(&a.project);
            }
        }
    }
}

/// Why a status change did not happen.
#[derive(Debug)]
enum Refused {
    /// The version no longer exists (deleted).
    Gone,
    /// The version is not in the expected status (stopped, or terminal).
    Conflict(JobStatus),
    /// The store failed.
    Failed(String),
    /// Another server leads the scheduler now (a fenced write was refused).
    NotLeader,
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Refused {
        match e {
            StoreError::NotFound => Refused::Gone,
            StoreError::Conflict(s) => Refused::Conflict(s),
            StoreError::Fenced { .. } => Refused::NotLeader,
            other => Refused::Failed(other.to_string()),
        }
    }
}

fn ended(status: JobStatus, expect: &[JobStatus], reason: String) -> StatusUpdate {
    let mut up = StatusUpdate::to(status);
    up.end_time = Some(now_ms());
    up.duration = Some(0);
    up.status_reason = Some(reason);
    up.expect = Some(expect.to_vec());
    up
}

/// The status change that records the end of a run of `v` (in 8 RUNNING or 9 KILLING):
/// 12 KILLED when a stop was asked (by the user: `v` is in 9, or the executor stopped it),
/// else 10 COMPLETED / 11 FAILED from the outcome, 14 LOST when the executor lost the run
/// ([`RunOutcome::final_status`]). A version still in 7 (a queued cluster job that never
/// started) ends 13 CANCELED when it was stopped, else 5 SUBMIT_FAILED.
/// `end_time` is the end the executor recorded (`RunOutcome::ended_at_ms`, e.g. the time the
/// workers wrote their exit status while the server was down), else now; never before the
/// start. `note` is appended to the reason.
fn end_update(v: &VersionRecord, res: Result<RunOutcome, ExecError>, note: &str) -> StatusUpdate {
    // a version still in 7 never ran: a cluster job cancelled or refused in the queue
    let ran = v.status != JobStatus::Waiting;
    let stopping = v.status == JobStatus::Killing;
    let now = now_ms();
    let mut end = now;
    let (status, exit_code, reason) = match res {
        Ok(o) => {
            end = o.ended_at_ms.unwrap_or(now);
            let status = o.final_status(ran, stopping);
            let reason = if stopping && !o.stopped {
                format!("stopped on request after the run had ended: {}", o.reason)
            } else {
                o.reason
            };
            let code = match status {
                JobStatus::Completed => Some(0),
                JobStatus::Canceled => None,
                _ => Some(o.exit_code),
            };
            (status, code, reason)
        }
        Err(e) => (JobStatus::Lost, None, format!("the run was lost: {e}")),
    };
    let start = v.start_time.unwrap_or(end);
    let end = end.max(start);
    let mut up = StatusUpdate::to(status);
    up.end_time = Some(end);
    up.duration = Some(if ran { end - start } else { 0 });
    up.exit_code = exit_code.map(i64::from);
    up.status_reason = Some(format!("{reason}{note}"));
    up.expect = Some(if ran {
        vec![JobStatus::Running, JobStatus::Killing]
    } else {
        vec![JobStatus::Waiting]
    });
    up
}

fn non_empty(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.trim().is_empty())
}

impl Supervisor {
    /// A supervisor over this store, running versions with `executor`. Call
    /// [`Supervisor::start`] to recover and begin scheduling.
    pub fn new(store: Arc<Store>, executor: Arc<dyn Executor>, settings: Settings) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                store,
                executor,
                settings,
                wake: Notify::new(),
                sched: Mutex::new(Sched::default()),
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
                term: Mutex::new(CancellationToken::new()),
                role: Mutex::new(leader::Role::Standby),
            }),
        }
    }

    /// Reconciles the store with what still runs (adopts 8/9, marks lost runs 14, kills orphans
    /// of 1/2/4/7 versions), then starts the scheduler task. Returns once the reconciliation is
    /// stored, so the API never shows a stale 8 of a vanished run.
    ///
    /// On a store shared by several servers (PostgreSQL) only the leader schedules: this
    /// starts the campaign for the scheduler lease in the background and returns at once
    /// ([`leader`]); the recovery runs when this server takes the lease.
    pub async fn start(&self) -> anyhow::Result<()> {
        let inner = self.inner.clone();
        if inner.store.is_shared() {
            leader::start(&inner);
            return Ok(());
        }
        inner.begin_term(leader::Role::Single).await
    }

    /// Whether this server schedules now (see [`leader`]).
    pub fn role(&self) -> leader::Role {
        self.inner.role.lock().clone()
    }

    /// A version was created (or a slot freed): schedule.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Stops the background tasks and waits for them; the workers keep running (the next start
    /// adopts them).
    pub async fn shutdown(&self) {
        self.inner.cancel.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// The executor that runs the versions (the log routes read logs through it).
    pub fn executor(&self) -> &Arc<dyn Executor> {
        &self.inner.executor
    }

    /// Versions holding a slot now (submitted or running, not yet recorded as ended).
    pub fn active_count(&self) -> usize {
        self.inner.sched.lock().active.len()
    }

    /// The executor's health as it last saw it ([`Executor::health`], no call to a cluster:
    /// `/readyz` is a request path) and its kind.
    pub async fn check_executor(&self) -> (&'static str, Result<(), String>) {
        let e = &self.inner.executor;
        (e.kind(), e.health())
    }

    /// Queue depth by status and slots held per project, now.
    pub fn stats(&self) -> SchedStats {
        let s = self.inner.sched.lock();
        let mut queued: Vec<(JobStatus, usize)> = Vec::new();
        for (st, _) in s.queue.values() {
            match queued.iter_mut().find(|(q, _)| q == st) {
                Some((_, n)) => *n += 1,
                None => queued.push((*st, 1)),
            }
        }
        queued.sort();
        let mut running: Vec<(String, u64)> =
            s.per_project.iter().map(|(p, n)| (p.clone(), *n)).collect();
        running.sort();
        SchedStats { queued, running }
    }

    /// Why a WAITING version of `project` has not started, e.g. `queued: 4 of 4 running in
    /// project default` (its `status_reason` while it waits; computed, not stored).
    pub fn waiting_reason(&self, project: &str) -> String {
        let s = self.inner.sched.lock();
        let mine = s.per_project.get(project).copied().unwrap_or(0);
        let all = s.active.len() as u64;
        let (quotas, max_running) = (self.inner.settings.quotas, self.inner.settings.max_running);
        if mine >= quotas {
            format!("queued: {mine} of {quotas} running in project {project} (quotas)")
        } else if all >= max_running {
            format!("queued: {all} of {max_running} running on this server (max_running)")
        } else {
            let ahead = s.queue.len().saturating_sub(1);
            format!("queued: about to start ({ahead} other versions queued)")
        }
    }

    /// Stops a version of `project` (`training-jobs.md` §7). Returns once the new status (13, or
    /// 9) is stored. Errors: 404 if it does not exist in the project, 409 if its status forbids
    /// it; 9 is a no-op.
    pub async fn stop(&self, project: &str, job_id: i64, version_id: i64) -> HttpResult<()> {
        let inner = &self.inner;
        for _ in 0..32 {
            let store = inner.store.clone();
            let p = project.to_owned();
            let (_, v) =
                tokio::task::spawn_blocking(move || store.get_version(&p, job_id, version_id))
                    .await??;
            let result = match v.status {
                JobStatus::Killing => return Ok(()),
                s if s.is_cancelable() => {
                    let up = ended(
                        JobStatus::Canceled,
                        &[s],
                        "canceled by a user before it started".into(),
                    );
                    inner.user_transition(version_id, up).await.map(|v| {
                        // queued in the executor (a cluster job): the leader takes it out of
                        // the queue; on another server the change log wakes the leader
                        if inner.role.lock().leads()
                            && (v.run_handle.is_some() || inner.handle_of(version_id).is_some())
                        {
                            inner.kill(version_id, v.run_handle.as_deref());
                        }
                        inner.wake.notify_one();
                    })
                }
                JobStatus::Running => {
                    let mut up = StatusUpdate::to(JobStatus::Killing);
                    up.status_reason = Some("stop requested by a user".into());
                    up.expect = Some(vec![JobStatus::Running]);
                    inner.user_transition(version_id, up).await.map(|v| {
                        // the leader stops the run; on another server the change log wakes it
                        if inner.role.lock().leads() {
                            inner.kill(version_id, v.run_handle.as_deref());
                        }
                    })
                }
                s => return Err(conflict(s)),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(Refused::Conflict(s)) if s.is_terminal() => return Err(conflict(s)),
                // The status moved meanwhile (e.g. 2 → 4): look again.
                Err(Refused::Conflict(_)) => continue,
                Err(Refused::Gone) => return Err(StoreError::NotFound.into()),
                Err(Refused::Failed(e)) => return Err(HttpError::internal(&e)),
                Err(Refused::NotLeader) => {
                    return Err(HttpError::internal(&"a user's stop was fenced"));
                }
            }
        }
        Err(HttpError::internal(
            &"the version's status kept changing during a stop",
        ))
    }

    /// Versions were deleted (already removed from the store): stop whatever of them still runs.
    /// Returns once their workers were asked to stop (SIGTERM, SIGKILL after the grace);
    /// their end is not recorded (they no longer exist).
    pub async fn forget(&self, versions: &[VersionRecord]) {
        let inner = &self.inner;
        for v in versions {
            let handle = {
                let mut s = inner.sched.lock();
                s.queue.remove(&v.version_id);
                s.active.get(&v.version_id).map(|a| a.handle.clone())
            };
            match handle {
                Some(Some(h)) => inner.stop_run(h),
                // Being submitted: the scheduler finds the version gone and stops the workers.
                Some(None) => {}
                None => {}
            }
        }
        inner.wake.notify_one();
    }
}

fn conflict(st: JobStatus) -> HttpError {
    HttpError(ApiError::new(
        ErrorCode::StatusConflict,
        format!(
            "a version in status {} ({}) cannot be stopped",
            st.name(),
            st.code()
        ),
    ))
}

impl Inner {
    /// Runs a task of the current scheduling term (ended with the term or the server).
    fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let cancel = self.term();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = fut => {}
            }
        });
    }

    /// The current scheduling term's token.
    fn term(&self) -> CancellationToken {
        self.term.lock().clone()
    }

    /// Applies a status change of the scheduler (compare-and-set), fenced with this server's
    /// leader epoch: refused once another server took the lease over (which ends this term).
    async fn transition(
        &self,
        version_id: i64,
        mut up: StatusUpdate,
    ) -> Result<VersionRecord, Refused> {
        {
            let role = self.role.lock();
            if role.leads() {
                up.fence = role.fence();
            } else {
                // a task of an ended term: only the leader writes statuses
                return Err(Refused::NotLeader);
            }
        }
        let r = self.user_transition(version_id, up).await;
        if matches!(r, Err(Refused::NotLeader)) {
            tracing::warn!(
                version_id,
                "a status write was fenced: another server leads the scheduler; stepping down"
            );
            self.term().cancel();
        }
        r
    }

    /// Applies a status change asked by a user (a stop), on any server: not fenced, its
    /// compare-and-set is its guard.
    async fn user_transition(
        &self,
        version_id: i64,
        up: StatusUpdate,
    ) -> Result<VersionRecord, Refused> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let (_, v) = store.update_status(version_id, &up)?;
            Ok(v)
        })
        .await
        .unwrap_or_else(|e| Err(Refused::Failed(e.to_string())))
    }

    async fn load(&self, version_id: i64) -> Result<(JobRecord, VersionRecord), Refused> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.version_by_id(version_id))
            .await
            .map_err(|e| Refused::Failed(e.to_string()))?
            .map_err(Refused::from)
    }

    async fn unfinished(&self) -> Result<Vec<trainyard_store::RunningVersion>, Refused> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || store.versions_in(&UNFINISHED))
            .await
            .map_err(|e| Refused::Failed(e.to_string()))?
            .map_err(Refused::from)
    }

    fn release(&self, version_id: i64) {
        self.sched.lock().release(version_id);
        self.wake.notify_one();
    }

    /// Asks the executor to stop a run (in the background); its watcher records the end.
    fn stop_run(self: &Arc<Self>, handle: RunHandle) {
        let inner = self.clone();
        self.spawn(async move {
            if let Err(e) = inner
                .executor
                .stop(&handle, inner.settings.stop_grace)
                .await
            {
                tracing::warn!(version_id = handle.version_id, error = %e, "stop failed");
            }
        });
    }

    /// The handle of a version holding a slot, once its run was recorded.
    fn handle_of(&self, version_id: i64) -> Option<RunHandle> {
        self.sched
            .lock()
            .active
            .get(&version_id)
            .and_then(|a| a.handle.clone())
    }

    /// After 8 → 9 (or 7 → 13 of a queued run): stop the run of `version_id`.
    fn kill(self: &Arc<Self>, version_id: i64, stored: Option<&str>) {
        let known = self.sched.lock().active.get_mut(&version_id).and_then(|a| {
            a.settled = true;
            a.handle.clone()
        });
        match known.or_else(|| stored.and_then(|s| RunHandle::from_json(s).ok())) {
            Some(h) => self.stop_run(h),
            None => tracing::warn!(version_id, "stop of a version without a run handle"),
        }
    }

    // ---- scheduling ----

    async fn run(self: Arc<Self>) {
        let term = self.term();
        loop {
            let pass = std::time::Instant::now();
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = ?e, "scheduler: reading unfinished versions failed");
            }
            self.schedule().await;
            metrics::histogram!(crate::metrics::EXECUTOR_POLL, "executor" => self.executor.kind())
                .record(pass.elapsed().as_secs_f64());
            tokio::select! {
                _ = term.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.fallback_interval) => {}
            }
        }
    }

    /// Re-reads which versions wait in 1/2/4/7 (those not holding a slot).
    ///
    /// Runs holding a slot that a user stopped (9) or deleted meanwhile, on any server (the
    /// change log woke this one), are stopped here: a server that does not lead only stores
    /// the 9, or deletes the rows.
    async fn refresh(self: &Arc<Self>) -> Result<(), Refused> {
        let rows = self.unfinished().await?;
        let to_stop: Vec<RunHandle> = {
            let mut s = self.sched.lock();
            let status: HashMap<i64, JobStatus> =
                rows.iter().map(|r| (r.version_id, r.status)).collect();
            let queue: BTreeMap<i64, (JobStatus, String)> = rows
                .into_iter()
                .filter(|r| r.status.is_cancelable() && !s.active.contains_key(&r.version_id))
                .map(|r| (r.version_id, (r.status, r.project_id)))
                .collect();
            s.queue = queue;
            let mut stop = Vec::new();
            for (vid, a) in s.active.iter_mut() {
                let asked = match status.get(vid) {
                    Some(JobStatus::Killing) => true,
                    Some(_) => false,
                    // deleted (or ended by someone else): nothing may keep running
                    None => true,
                };
                if asked
                    && !a.settled
                    && let Some(h) = &a.handle
                {
                    a.settled = true;
                    stop.push(h.clone());
                }
            }
            stop
        };
        for h in to_stop {
            tracing::info!(
                version_id = h.version_id,
                "stopping a run stopped or deleted through another server"
            );
            self.stop_run(h);
        }
        Ok(())
    }

    /// One pass over the queue in id order: prepare, and start what has a slot.
    async fn schedule(self: &Arc<Self>) {
        let snapshot: Vec<(i64, JobStatus, String)> = self
            .sched
            .lock()
            .queue
            .iter()
            .map(|(id, (st, p))| (*id, *st, p.clone()))
            .collect();
        // Projects (and all, for `max_running`) found full during this pass stay full for the
        // rest of it, so a slot freed mid-pass cannot let a younger version overtake.
        let mut full: HashSet<String> = HashSet::new();
        let mut all_full = false;
        for (vid, status, project) in snapshot {
            if self.term().is_cancelled() {
                return;
            }
            let blocked = all_full || full.contains(&project);
            if status == JobStatus::Waiting && blocked {
                continue;
            }
            let Ok((job, v)) = self.load(vid).await else {
                self.sched.lock().queue.remove(&vid);
                continue;
            };
            let v = if v.status == JobStatus::Waiting {
                v
            } else if v.status.is_cancelable() {
                match self.prepare(&job, v).await {
                    Some(v) => {
                        if let Some(e) = self.sched.lock().queue.get_mut(&vid) {
                            e.0 = JobStatus::Waiting;
                        }
                        v
                    }
                    None => {
                        self.sched.lock().queue.remove(&vid);
                        continue;
                    }
                }
            } else {
                self.sched.lock().queue.remove(&vid);
                continue;
            };
            {
                let mut s = self.sched.lock();
                if all_full || full.contains(&project) {
                    continue;
                }
                if s.active.len() as u64 >= self.settings.max_running {
                    all_full = true;
                    continue;
                }
                if s.per_project.get(&project).copied().unwrap_or(0) >= self.settings.quotas {
                    full.insert(project);
                    continue;
                }
                s.queue.remove(&vid);
                s.take(vid, &project);
            }
            if !self.submit(&job, &v).await {
                // the executor cannot be reached: keep FIFO order, try again later
                return;
            }
        }
    }

    async fn step(&self, vid: i64, to: JobStatus, from: JobStatus) -> Option<VersionRecord> {
        let mut up = StatusUpdate::to(to);
        up.expect = Some(vec![from]);
        match self.transition(vid, up).await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(version_id = vid, error = ?e, ?to, "transition refused");
                None
            }
        }
    }

    async fn end_early(&self, vid: i64, to: JobStatus, from: JobStatus, reason: String) {
        tracing::info!(version_id = vid, status = to.code(), %reason, "version did not start");
        if let Err(e) = self.transition(vid, ended(to, &[from], reason)).await {
            tracing::debug!(version_id = vid, error = ?e, "end refused");
        }
    }

    /// The run spec of a version, with the executor's log directory, the project's worker
    /// identity and allowed roots.
    fn spec_of(&self, job: &JobRecord, v: &VersionRecord) -> Result<RunSpec, PreflightError> {
        let log_dir = self.executor.log_dir(job.job_id, v.version_id);
        let mut spec = runspec::run_spec(&self.settings.engines, log_dir, job, v)?;
        let w = &self.settings.workers;
        spec.identity = w
            .identity_for(&job.project_id)
            .map_err(PreflightError::submit)?;
        spec.allowed_roots = w.roots_for(&job.project_id);
        Ok(spec)
    }

    /// The checks of steps 2 and 4: the spec can be built and the executor's pre-flight passes.
    async fn check(&self, job: &JobRecord, v: &VersionRecord) -> Result<(), PreflightError> {
        let spec = self.spec_of(job, v)?;
        self.executor.preflight(&spec).await
    }

    /// 1 → 2 → 4 → 7 (or 3 / 5). `Some` = now WAITING.
    async fn prepare(&self, job: &JobRecord, mut v: VersionRecord) -> Option<VersionRecord> {
        let vid = v.version_id;
        if v.status == JobStatus::Init {
            v = self
                .step(vid, JobStatus::ImageCreating, JobStatus::Init)
                .await?;
        }
        let checked = match v.status {
            JobStatus::ImageCreating | JobStatus::SubmitTrying => Some(self.check(job, &v).await),
            _ => None,
        };
        if v.status == JobStatus::ImageCreating {
            if let Some(Err(e)) = &checked
                && e.stage == PreflightStage::Image
            {
                self.end_early(
                    vid,
                    JobStatus::ImageFailed,
                    JobStatus::ImageCreating,
                    e.reason.clone(),
                )
                .await;
                return None;
            }
            v = self
                .step(vid, JobStatus::SubmitTrying, JobStatus::ImageCreating)
                .await?;
        }
        if v.status == JobStatus::SubmitTrying {
            // (a version resumed in 4 after a restart reports a path problem as 5: 4 → 3 is not
            // a transition of statuses.md)
            if let Some(Err(e)) = checked {
                self.end_early(
                    vid,
                    JobStatus::SubmitFailed,
                    JobStatus::SubmitTrying,
                    e.reason,
                )
                .await;
                return None;
            }
            v = self
                .step(vid, JobStatus::Waiting, JobStatus::SubmitTrying)
                .await?;
        }
        (v.status == JobStatus::Waiting).then_some(v)
    }

    /// 7 → 8 (or 5), or for an executor that queues (Slurm) 7 with the handle stored, then 8
    /// when the run starts. The slot is already taken. Returns `false` when the executor cannot
    /// be reached (the version stays waiting, the slot is freed and this pass ends).
    async fn submit(self: &Arc<Self>, job: &JobRecord, v: &VersionRecord) -> bool {
        let vid = v.version_id;
        let spec = match self.spec_of(job, v) {
            Ok(s) => s,
            Err(e) => {
                self.end_early(vid, JobStatus::SubmitFailed, JobStatus::Waiting, e.reason)
                    .await;
                self.release(vid);
                return true;
            }
        };
        if !self.role.lock().may_submit() {
            // the lease is not confirmed (the database does not answer the renewals): start
            // nothing that another leader might start too
            self.release(vid);
            return false;
        }
        // taken before the spawn, so a version's duration is never shorter than its processes ran
        let start = now_ms();
        let handle = match self.executor.submit(&spec).await {
            Ok(h) => h,
            Err(e) if e.retry_later => {
                tracing::info!(version_id = vid, reason = %e.reason, "executor unreachable; the version stays waiting");
                // no wake: the next pass comes with the next event or the fallback tick
                self.sched.lock().release(vid);
                return false;
            }
            Err(e) => {
                self.end_early(vid, JobStatus::SubmitFailed, JobStatus::Waiting, e.reason)
                    .await;
                self.release(vid);
                return true;
            }
        };
        let queued = self.executor.queues();
        let mut up = if queued {
            StatusUpdate::to(JobStatus::Waiting)
        } else {
            let mut up = StatusUpdate::to(JobStatus::Running);
            up.start_time = Some(start);
            up
        };
        up.run_handle = Some(Some(handle.to_json()));
        up.expect = Some(vec![JobStatus::Waiting]);
        match self.transition(vid, up).await {
            Ok(_) => {
                if let Some(a) = self.sched.lock().active.get_mut(&vid) {
                    a.handle = Some(handle.clone());
                }
                if queued {
                    tracing::info!(
                        version_id = vid,
                        job_id = job.job_id,
                        "version queued in the executor"
                    );
                    self.watch_queued(handle);
                } else {
                    tracing::info!(version_id = vid, job_id = job.job_id, "version running");
                    self.watch(handle);
                }
            }
            Err(e) => {
                // Stopped (13) or deleted while the workers started, or the store failed: the
                // workers must not outlive this.
                tracing::info!(version_id = vid, error = ?e, "run not recorded; stopping its workers");
                if let Refused::Failed(msg) = &e {
                    let reason = format!("the run could not be recorded: {msg}");
                    self.end_early(vid, JobStatus::SubmitFailed, JobStatus::Waiting, reason)
                        .await;
                }
                // (not a task of the term: a fenced write has just ended it)
                let _ = self.executor.stop(&handle, Duration::ZERO).await;
                self.executor.forget(&handle);
                self.release(vid);
            }
        }
        true
    }

    /// The watcher of a run queued in the executor (7 with a handle): 7 → 8 when it starts,
    /// then as [`Inner::watch`].
    fn watch_queued(self: &Arc<Self>, handle: RunHandle) {
        let inner = self.clone();
        self.spawn(async move {
            let vid = handle.version_id;
            match inner.executor.started(&handle).await {
                Ok(Started::At(at)) => {
                    let mut up = StatusUpdate::to(JobStatus::Running);
                    up.start_time = Some(at.unwrap_or_else(now_ms));
                    up.expect = Some(vec![JobStatus::Waiting]);
                    match inner.transition(vid, up).await {
                        Ok(_) => tracing::info!(version_id = vid, "version running"),
                        // stopped (13) or deleted meanwhile: the stop already reached the run
                        Err(e) => {
                            tracing::debug!(version_id = vid, error = ?e, "start not recorded")
                        }
                    }
                }
                Ok(Started::Never) => {}
                Err(ExecError::ShutDown) => return,
                Err(e) => tracing::debug!(version_id = vid, error = %e, "start not observed"),
            }
            let res = inner.executor.wait(&handle).await;
            if matches!(res, Err(ExecError::ShutDown)) {
                return;
            }
            inner.finish(&handle, res).await;
        });
    }

    /// Starts the watcher of a run: its end becomes the version's status.
    fn watch(self: &Arc<Self>, handle: RunHandle) {
        let inner = self.clone();
        self.spawn(async move {
            let res = inner.executor.wait(&handle).await;
            if matches!(res, Err(ExecError::ShutDown)) {
                return;
            }
            inner.finish(&handle, res).await;
        });
    }

    /// Records the end of a run (copying its logs to `log_url` first), frees its slot.
    async fn finish(&self, handle: &RunHandle, res: Result<RunOutcome, ExecError>) {
        let vid = handle.version_id;
        if let Some(a) = self.sched.lock().active.get_mut(&vid) {
            a.settled = true;
        }
        match self.load(vid).await {
            Ok((job, v)) => {
                self.copy_logs(&job, &v, handle).await;
                self.record_end(vid, end_update(&v, res, "")).await;
            }
            Err(Refused::Gone) => tracing::debug!(version_id = vid, "deleted version ended"),
            Err(e) => tracing::warn!(version_id = vid, error = ?e, "cannot read an ended version"),
        }
        self.executor.forget(handle);
        self.release(vid);
    }

    /// Stores the end of a run. A store that fails (a full disk, an I/O error) does not lose
    /// it: the outcome the executor reported (our own children's exit status) is kept and the
    /// write retried, 0.5 s apart growing to 30 s, until it is stored, or the version is gone
    /// or already ended, or the server shuts down (the next start then recovers the run from
    /// its exit files). The caller keeps the slot meanwhile.
    async fn record_end(&self, vid: i64, up: StatusUpdate) {
        let mut pause = Duration::from_millis(500);
        let mut attempts = 0u32;
        loop {
            match self.transition(vid, up.clone()).await {
                Ok(_) => {
                    tracing::info!(
                        version_id = vid,
                        status = up.status.code(),
                        attempts = attempts + 1,
                        "version ended"
                    );
                    return;
                }
                Err(Refused::Failed(e)) => {
                    attempts += 1;
                    if attempts == 1 || attempts.is_power_of_two() {
                        tracing::warn!(
                            version_id = vid,
                            status = up.status.code(),
                            error = %e,
                            attempts,
                            "cannot record the end of a run; retrying"
                        );
                    }
                    let term = self.term();
                    tokio::select! {
                        _ = term.cancelled() => return,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(30));
                }
                Err(e) => {
                    tracing::debug!(version_id = vid, error = ?e, "end not recorded");
                    return;
                }
            }
        }
    }

    async fn copy_logs(&self, job: &JobRecord, v: &VersionRecord, handle: &RunHandle) {
        let Some(dest) = non_empty(&v.config.log_url) else {
            return;
        };
        let dest = PathBuf::from(dest.strip_prefix("file://").unwrap_or(dest));
        let names = runspec::log_file_names(job, v);
        if let Err(e) = self.executor.copy_logs(handle, &dest, &names).await {
            tracing::warn!(version_id = v.version_id, error = %e, "copying logs to log_url failed");
        }
    }

    // ---- restart ----

    async fn recover(self: &Arc<Self>) -> anyhow::Result<()> {
        let rows = self
            .unfinished()
            .await
            .map_err(|e| anyhow::anyhow!("reading unfinished versions: {e:?}"))?;
        let mut lost = 0usize;
        let mut known = KnownRuns::default();
        for r in &rows {
            let queued = r.status == JobStatus::Waiting && r.run_handle.is_some();
            if matches!(r.status, JobStatus::Running | JobStatus::Killing) || queued {
                match self.adopt(r).await {
                    Some(h) => known.adopted.push(h),
                    None => lost += 1,
                }
            } else if r.status.is_cancelable() {
                known.waiting.push((r.job_id, r.version_id));
            }
        }
        let reconciled = self.executor.reconcile(&known).await;
        tracing::info!(
            adopted = known.adopted.len(),
            lost,
            pending = known.waiting.len(),
            orphans_ended = reconciled.orphans_ended,
            "supervisor recovered"
        );
        Ok(())
    }

    /// Adopts a stored 8/9 run and returns its handle; `None` when it is lost (and recorded
    /// as 14).
    async fn adopt(self: &Arc<Self>, r: &trainyard_store::RunningVersion) -> Option<RunHandle> {
        let vid = r.version_id;
        let handle = match r.run_handle.as_deref().map(RunHandle::from_json) {
            Some(Ok(h)) => h,
            Some(Err(e)) => {
                self.mark_lost(
                    vid,
                    None,
                    format!("the stored run handle cannot be read: {e}"),
                )
                .await;
                return None;
            }
            None => {
                self.mark_lost(vid, None, "no run handle was recorded".into())
                    .await;
                return None;
            }
        };
        match self.executor.adopt(&handle).await {
            Ok(()) => {
                {
                    let mut s = self.sched.lock();
                    s.take(vid, &r.project_id);
                    if let Some(a) = s.active.get_mut(&vid) {
                        a.handle = Some(handle.clone());
                        a.settled = r.status == JobStatus::Killing;
                    }
                }
                tracing::info!(version_id = vid, "run adopted");
                if r.status == JobStatus::Killing {
                    self.stop_run(handle.clone());
                }
                if r.status == JobStatus::Waiting {
                    self.watch_queued(handle.clone());
                } else {
                    self.watch(handle.clone());
                }
                Some(handle)
            }
            Err(Lost {
                recorded: Some(outcome),
                ..
            }) => {
                // Every worker ended while the server was down and recorded its exit status:
                // that is the version's real end (issue 9 §3), not 14 LOST.
                match self.load(vid).await {
                    Ok((job, v)) => {
                        self.copy_logs(&job, &v, &handle).await;
                        let up = end_update(
                            &v,
                            Ok(outcome),
                            " (ended while the server was not running)",
                        );
                        // once: recovery must not wait for a store that cannot write
                        if let Err(e) = self.transition(vid, up).await {
                            tracing::warn!(version_id = vid, error = ?e, "end not recorded");
                        }
                    }
                    Err(e) => {
                        tracing::debug!(version_id = vid, error = ?e, "cannot read an ended version")
                    }
                }
                None
            }
            Err(lost) => {
                self.mark_lost(vid, Some(&handle), lost.reason).await;
                None
            }
        }
    }

    /// Records 14 LOST: the run's processes are gone and their end is unknown. The end time is
    /// the recovery time (the latest moment the run could have ended).
    async fn mark_lost(&self, vid: i64, handle: Option<&RunHandle>, reason: String) {
        let Ok((job, v)) = self.load(vid).await else {
            return;
        };
        if let Some(h) = handle {
            self.copy_logs(&job, &v, h).await;
        }
        let now = now_ms();
        let mut up = StatusUpdate::to(JobStatus::Lost);
        up.end_time = Some(now);
        up.duration = Some(now.saturating_sub(v.start_time.unwrap_or(now)).max(0));
        up.status_reason = Some(reason);
        up.expect = Some(vec![
            JobStatus::Running,
            JobStatus::Killing,
            JobStatus::Waiting,
        ]);
        if let Err(e) = self.transition(vid, up).await {
            tracing::debug!(version_id = vid, error = ?e, "lost not recorded");
        }
    }
}
