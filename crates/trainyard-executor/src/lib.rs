//! trainyard executors: run the workers of a training-job version, observe how they end, stop
//! them, and find their logs.
//!
//! The [`Executor`] trait is what the supervisor (in the server crate) drives; it is
//! dyn-compatible (`Arc<dyn Executor>`). [`LocalExecutor`] runs processes on this machine;
//! a cluster engine (Slurm) implements the same trait (see the crate README).
//!
//! Typical use by the supervisor:
//! 1. [`check_paths`] (failure → 3 JOBSTAT_IMAGE_FAILED),
//! 2. [`build_argv`] (or [`RunCommand::Shell`] for `user_command`) into a [`RunSpec`],
//! 3. [`Executor::submit`] (failure → 5 JOBSTAT_SUBMIT_FAILED); persist the [`RunHandle`];
//!    status 8 RUNNING,
//! 4. [`Executor::wait`] in a task → [`RunOutcome`] → 10/11/12,
//! 5. on a stop request: status 9, then [`Executor::stop`],
//! 6. after a restart: [`Executor::adopt`] each stored handle (failure → 14 JOBSTAT_LOST),
//!    then wait as in 4,
//! 7. logs: [`log_path`] + [`logs::read_lines`] for `aom-log`, [`logs::LogFollower`] for SSE,
//!    [`copy_logs`] for `log_url`.

mod env;
mod error;
mod handle;
mod local;
pub mod logs;
mod outcome;
mod procfs;
mod spec;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

pub use env::{free_port, is_secret_env_name, worker_env};
pub use error::{ExecError, Lost, SubmitError};
pub use handle::{BackendHandle, LocalWorker, RunHandle};
pub use local::{LocalConfig, LocalExecutor};
pub use logs::{copy_logs, exit_status_path, log_path};
pub use outcome::{RunOutcome, WorkerExit, signal_name};
pub use spec::{Resources, RunCommand, RunSpec, boot_file_path, build_argv, check_paths};

/// A boxed, sendable future (what the [`Executor`] methods return, so the trait stays
/// dyn-compatible).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An engine that runs versions: submit, observe, stop, adopt after a restart, log location.
///
/// Every method is keyed by `(job_id, version_id)` through the [`RunHandle`] and is safe to
/// repeat. Nothing here changes a version's status: the supervisor maps results to statuses.
pub trait Executor: Send + Sync {
    /// Short name of the executor kind (`local`, `slurm`, ...), for logs and config.
    fn kind(&self) -> &'static str;

    /// Starts every worker of `spec`. Returns once they are started (not when they end).
    ///
    /// On error nothing of the run is left running; the reason is one line for
    /// `status_reason` of 5 JOBSTAT_SUBMIT_FAILED.
    fn submit<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<RunHandle, SubmitError>>;

    /// Takes over a run from a stored handle after a server restart, so that
    /// [`Executor::wait`] and [`Executor::stop`] work on it again. `Ok` when at least one worker
    /// still runs (or the run is already monitored); [`Lost`] when none does.
    fn adopt<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<(), Lost>>;

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
}
