//! trainyard executors: everything that touches the processes, the files of a run, or a
//! cluster. The supervisor (server crate) only schedules and records statuses; it reaches the
//! machine only through the [`Executor`] trait.
//!
//! The trait is dyn-compatible (`Arc<dyn Executor>`). [`LocalExecutor`] runs processes on this
//! machine; a cluster engine (Slurm) implements the same trait (see the crate README).
//!
//! Typical use by the supervisor:
//! 1. build a [`RunSpec`] (its log directory from [`Executor::log_dir`]), then
//!    [`Executor::preflight`] (→ 3 JOBSTAT_IMAGE_FAILED or 5 JOBSTAT_SUBMIT_FAILED),
//! 2. [`Executor::submit`] (failure → 5 JOBSTAT_SUBMIT_FAILED); persist the [`RunHandle`];
//!    status 8 RUNNING,
//! 3. [`Executor::wait`] in a task → [`RunOutcome`] → [`Executor::copy_logs`] to `log_url` →
//!    10/11/12,
//! 4. on a stop request: status 9, then [`Executor::stop`],
//! 5. after a restart: [`Executor::adopt`] each stored handle (failure → 14 JOBSTAT_LOST),
//!    then [`Executor::reconcile`] (what no stored run accounts for), then wait as in 3,
//! 6. logs for the API: [`Executor::read_log`] (`aom-log`), [`Executor::follow_log`] (SSE),
//!    [`Executor::worker_log`] (where a worker's log is).

mod env;
mod error;
mod handle;
pub(crate) mod local;
pub mod logs;
mod outcome;
mod procfs;
mod sandbox;
mod slurm;
mod spec;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

pub use env::{INHERITED_ENV, free_port, is_inherited_env_name, worker_env};
pub use error::{ExecError, Lost, PreflightError, PreflightStage, SubmitError};
pub use handle::{BackendHandle, LocalWorker, RunHandle};
pub use local::{LocalConfig, LocalExecutor, RUN_DIR_VAR};
pub use logs::{copy_logs, exit_status_path, log_path};
pub use outcome::{RunOutcome, WorkerExit, signal_name};
pub use sandbox::{Containment, LandlockMode, WorkerIdentity, landlock_support};
pub use slurm::{SlurmConfig, SlurmExecutor};
pub use spec::{
    Resources, RunCommand, RunSpec, boot_file_path, build_argv, check_paths, check_run_paths,
};

/// A boxed, sendable future (what the [`Executor`] methods return, so the trait stays
/// dyn-compatible).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the supervisor still accounts for after a restart, handed to
/// [`Executor::reconcile`] once every stored 8/9 run was adopted (or found lost).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownRuns {
    /// Runs adopted from their stored handle (they keep running).
    pub adopted: Vec<RunHandle>,
    /// `(job_id, version_id)` of versions in 1/2/4/7 that will be submitted again. An executor
    /// whose submit finds an earlier submission again (Slurm, by job name) keeps their runs; the
    /// local executor kills them (they run again from the start).
    pub waiting: Vec<(i64, i64)>,
}

/// When a submitted run started ([`Executor::started`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// It started, at this time (epoch ms) when the engine knows it.
    At(Option<i64>),
    /// It ended without ever starting (cancelled while queued, or the engine could not start
    /// it); [`Executor::wait`] gives its outcome.
    Never,
}

/// What [`Executor::reconcile`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Runs (process groups, cluster jobs) ended because no known version accounts for them.
    pub orphans_ended: usize,
}

/// One worker's log of a version: what the log routes ask an executor for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerLog {
    /// The job id.
    pub job_id: i64,
    /// The version id.
    pub version_id: i64,
    /// The worker index (0-based; the `.{i}` of the API log name).
    pub worker: u32,
}

/// An engine that runs versions: pre-flight, submit, observe, stop, adopt and reconcile after a
/// restart, and the logs of its runs.
///
/// Every method is keyed by `(job_id, version_id)` (through the [`RunHandle`] or a
/// [`WorkerLog`]) and is safe to repeat. Nothing here changes a version's status: the supervisor
/// maps results to statuses. No method is called on an API request path except the log ones,
/// which only read files.
pub trait Executor: Send + Sync {
    /// Short name of the executor kind (`local`, `slurm`, ...), for logs and config.
    fn kind(&self) -> &'static str;

    /// Checks that the executor can work (e.g. the cluster's commands answer): at server start,
    /// and on every `GET /readyz` probe (so keep it cheap). The error is one line for the
    /// operator. The default accepts.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether the executor works now, from what it already knows (never a call to a cluster:
    /// readiness probes use it on their request path). The error is one line. Default: `Ok`.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    /// The directory that holds the logs of version `version_id` of job `job_id` (one file per
    /// worker, [`log_path`]); what the supervisor puts in [`RunSpec::log_dir`].
    fn log_dir(&self, job_id: i64, version_id: i64) -> PathBuf;

    /// Checks, before anything is started, that `spec` can run here: its paths exist
    /// ([`PreflightStage::Image`] → 3) and its program can be found or the engine accepts it
    /// ([`PreflightStage::Submit`] → 5). Starts nothing.
    fn preflight<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<(), PreflightError>>;

    /// Starts every worker of `spec`. Returns once they are started (not when they end).
    ///
    /// On error nothing of the run is left running; the reason is one line for
    /// `status_reason` of 5 JOBSTAT_SUBMIT_FAILED.
    fn submit<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<RunHandle, SubmitError>>;

    /// Whether a submitted run may wait in the engine's own queue before it starts (a cluster).
    /// Then the supervisor keeps the version in 7 WAITING with its handle stored and moves it to
    /// 8 RUNNING when [`Executor::started`] resolves. `false` (the default): a run is running
    /// once `submit` returns.
    fn queues(&self) -> bool {
        false
    }

    /// Resolves once the run has started, or has ended without starting. The default (for
    /// executors that do not queue): started at once, time unknown.
    fn started<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<Started, ExecError>> {
        let _ = handle;
        Box::pin(async { Ok(Started::At(None)) })
    }

    /// Takes over a run from a stored handle after a server restart, so that
    /// [`Executor::wait`] and [`Executor::stop`] work on it again. `Ok` when at least one worker
    /// still runs (or the run is already monitored); [`Lost`] when none does.
    fn adopt<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<(), Lost>>;

    /// After the adoptions of a restart: ends whatever of this executor's runs no version in
    /// `known` accounts for (workers started but never recorded, workers of deleted versions).
    /// Never touches runs of another server.
    fn reconcile<'a>(&'a self, known: &'a KnownRuns) -> BoxFuture<'a, Reconciled>;

    /// Waits until the run ends and returns its outcome (immediately if it already ended).
    /// Any number of callers may wait on the same run. Fails with
    /// [`ExecError::UnknownRun`] for a run neither submitted nor adopted by this executor.
    fn wait<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<RunOutcome, ExecError>>;

    /// The outcome if the run has ended, `Ok(None)` while it runs (never blocks; for a
    /// supervisor driven by ticks).
    fn try_outcome(&self, handle: &RunHandle) -> Result<Option<RunOutcome>, ExecError>;

    /// Stops the run: SIGTERM (or the engine's equivalent) to every worker, anything still alive
    /// after `grace` is killed; returns the outcome once every worker is gone. The outcome has
    /// `stopped == true` unless the run had already ended or failed. An unknown handle is adopted
    /// first; if its processes are gone the result is [`ExecError::Lost`].
    fn stop<'a>(
        &'a self,
        handle: &'a RunHandle,
        grace: Duration,
    ) -> BoxFuture<'a, Result<RunOutcome, ExecError>>;

    /// Drops what the executor remembers about a run (call after recording its outcome).
    fn forget(&self, handle: &RunHandle);

    /// Where worker `worker` of the run writes its log (stdout and stderr interleaved).
    fn log_path(&self, handle: &RunHandle, worker: u32) -> PathBuf {
        log_path(&handle.log_dir, worker)
    }

    /// Where a worker's log is, whether or not the version ran yet (a log that does not exist
    /// reads as empty).
    fn worker_log(&self, log: WorkerLog) -> PathBuf {
        log_path(&self.log_dir(log.job_id, log.version_id), log.worker)
    }

    /// One `aom-log` page of a worker's log ([`logs::read_lines`], on the blocking pool).
    fn read_log(
        &self,
        log: WorkerLog,
        base_line: Option<String>,
        lines: usize,
        order: logs::LogOrder,
    ) -> BoxFuture<'static, Result<logs::LogPage, logs::LogError>> {
        Box::pin(logs::read_lines_async(
            self.worker_log(log),
            base_line,
            lines,
            order,
        ))
    }

    /// A follower of a worker's log from byte `offset` (for the SSE `log/stream`).
    fn follow_log(&self, log: WorkerLog, offset: u64) -> logs::LogFollower {
        logs::LogFollower::new(self.worker_log(log), offset)
    }

    /// Copies each worker's log of an ended run to `dest_dir/<file_names[i]>` (`log_url`);
    /// see [`copy_logs`]. Returns the files written.
    fn copy_logs<'a>(
        &'a self,
        handle: &'a RunHandle,
        dest_dir: &'a Path,
        file_names: &'a [String],
    ) -> BoxFuture<'a, std::io::Result<Vec<PathBuf>>> {
        let (dir, workers) = (handle.log_dir.clone(), handle.workers);
        let (dest, names) = (dest_dir.to_path_buf(), file_names.to_vec());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || copy_logs(&dir, workers, &dest, &names))
                .await
                .map_err(std::io::Error::other)?
        })
    }
}
