//! The `local` executor: every worker is a process (tree) on this machine.

mod monitor;
mod orphans;
mod wrapper;

use std::collections::HashMap;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use nix::sys::signal::Signal;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessSession};
use tokio::sync::{mpsc, watch};

use crate::env::{free_port, lookup, worker_env};
use crate::error::{ExecError, Lost, PreflightError, SubmitError};
use crate::handle::{BackendHandle, LocalWorker, RunHandle};
use crate::logs::{exit_status_path, log_path};
use crate::outcome::{RunOutcome, WorkerExit, compose_outcome};
use crate::procfs;
use crate::spec::{RunCommand, RunSpec, check_run_paths};
use crate::{BoxFuture, Executor, KnownRuns, Reconciled};

use monitor::{Cmd, MonitorWorker, Source, Timing, read_exit_file, signal_group};
use wrapper::{WRAPPER_NAME, WRAPPER_SCRIPT, resolve_program};

pub use orphans::RUN_DIR_VAR;

/// Settings of the [`LocalExecutor`].
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Root of the version log directories: version `v` of job `j` logs to
    /// `<logs_dir>/<j>/<v>/worker-<i>.log` ([`Executor::log_dir`]); also what
    /// [`Executor::reconcile`] looks for in the environment of orphaned workers
    /// (default `trainyard-data/logs`; the server passes `<data_dir>/logs`, absolute).
    pub logs_dir: PathBuf,
    /// The POSIX shell for the worker wrapper and for `user_command` (default `/bin/sh`).
    pub shell: PathBuf,
    /// When one worker fails, how long the others get between SIGTERM and SIGKILL
    /// (default 10 s, like a stop).
    pub failure_grace: Duration,
    /// Poll interval for adopted workers when `pidfd_open` is unavailable (default 500 ms;
    /// not used when pidfds work, Linux ≥ 5.3).
    pub adopt_poll_interval: Duration,
    /// The environment workers inherit before filtering (`None`: the server's own environment,
    /// read at each submit). Mostly for tests.
    pub base_env: Option<Vec<(OsString, OsString)>>,
}

impl Default for LocalConfig {
    fn default() -> LocalConfig {
        LocalConfig {
            logs_dir: PathBuf::from("trainyard-data/logs"),
            shell: PathBuf::from("/bin/sh"),
            failure_grace: Duration::from_secs(10),
            adopt_poll_interval: Duration::from_millis(500),
            base_env: None,
        }
    }
}

/// A run this executor monitors.
struct RunEntry {
    handle: RunHandle,
    cmds: mpsc::UnboundedSender<Cmd>,
    outcome: watch::Receiver<Option<RunOutcome>>,
    task: tokio::task::AbortHandle,
}

/// Runs versions as local processes (see the crate README).
///
/// * Each worker runs under a tiny `sh` wrapper that leads its own session and process group
///   and records the worker's exit status in `<log_dir>/worker-<i>.exit`.
/// * stdout and stderr of worker `i` go straight to `<log_dir>/worker-<i>.log` (appended).
/// * One monitor task per run awaits the workers, applies the fail-fast rule and carries out
///   stops; [`LocalExecutor::wait`] awaits its outcome.
///
/// Must be used inside a tokio runtime. Dropping the executor stops *monitoring* (its tasks are
/// aborted) but leaves the worker processes running, as a server restart would: a new executor
/// can [`LocalExecutor::adopt`] them.
pub struct LocalExecutor {
    cfg: LocalConfig,
    runs: Mutex<HashMap<(i64, i64), RunEntry>>,
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        for entry in self.lock().values() {
            entry.task.abort();
        }
    }
}

/// A worker spawned during a submit.
struct Spawned {
    child: Box<dyn ChildWrapper>,
    pid: i32,
}

impl LocalExecutor {
    /// Creates an executor with the given settings.
    pub fn new(cfg: LocalConfig) -> LocalExecutor {
        LocalExecutor {
            cfg,
            runs: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(i64, i64), RunEntry>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn timing(&self) -> Timing {
        Timing {
            failure_grace: self.cfg.failure_grace,
            poll: self.cfg.adopt_poll_interval.max(Duration::from_millis(100)),
        }
    }

    /// The environment workers inherit before filtering ([`LocalConfig::base_env`]).
    fn base_env(&self) -> Vec<(OsString, OsString)> {
        match &self.cfg.base_env {
            Some(b) => b.clone(),
            None => std::env::vars_os().collect(),
        }
    }

    /// `<logs_dir>/<job_id>/<version_id>`; see [`Executor::log_dir`].
    pub fn log_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        self.cfg
            .logs_dir
            .join(job_id.to_string())
            .join(version_id.to_string())
    }

    /// Checks the paths of `spec` and that its program can be found on the workers' `PATH`;
    /// see [`Executor::preflight`].
    pub async fn preflight(&self, spec: &RunSpec) -> Result<(), PreflightError> {
        let spec = spec.clone();
        let base = self.base_env();
        tokio::task::spawn_blocking(move || {
            check_run_paths(spec.app_url.as_deref(), spec.boot_file.as_deref())
                .map_err(PreflightError::image)?;
            if let RunCommand::Argv(argv) = &spec.command {
                let program = argv
                    .first()
                    .ok_or_else(|| PreflightError::submit("the engine command is empty"))?;
                let env = worker_env(base, &spec, 0, None);
                resolve_program(program, lookup(&env, "PATH"), &spec.working_dir)
                    .map_err(|e| PreflightError::submit(format!("engine {e}")))?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(PreflightError::submit(format!("pre-flight failed: {e}"))))
    }

    /// Kills the process groups of this executor's workers that no adopted run accounts for
    /// (found by [`RUN_DIR_VAR`] under [`LocalConfig::logs_dir`]); see
    /// [`Executor::reconcile`]. Waiting versions are not kept: they run again from the start.
    pub async fn reconcile(&self, known: &KnownRuns) -> Reconciled {
        let keep: HashSet<PathBuf> = known.adopted.iter().map(|h| h.log_dir.clone()).collect();
        let logs_dir = self.cfg.logs_dir.clone();
        let killed = tokio::task::spawn_blocking(move || orphans::kill_orphans(&logs_dir, &keep))
            .await
            .unwrap_or_default();
        Reconciled {
            orphans_ended: killed.len(),
        }
    }

    /// Starts every worker of `spec`; see [`Executor::submit`].
    ///
    /// Submitting a version whose run is still monitored returns that run's handle (submits are
    /// safe to repeat).
    pub async fn submit(&self, spec: &RunSpec) -> Result<RunHandle, SubmitError> {
        let key = (spec.job_id, spec.version_id);
        if let Some(e) = self.lock().get(&key)
            && e.outcome.borrow().is_none()
        {
            return Ok(e.handle.clone());
        }
        if spec.workers == 0 {
            return Err(SubmitError::new("worker_server_num must be at least 1"));
        }
        let argv: Vec<String> = match &spec.command {
            RunCommand::Argv(a) => a.clone(),
            RunCommand::Shell(cmd) => {
                vec![
                    self.cfg.shell.to_string_lossy().into_owned(),
                    "-c".into(),
                    cmd.clone(),
                ]
            }
        };
        let Some(program) = argv.first() else {
            return Err(SubmitError::new("the command is empty"));
        };
        // (first: a `user_command` run without `app_url` works in its log directory)
        std::fs::create_dir_all(&spec.log_dir).map_err(|e| {
            SubmitError::new(format!(
                "cannot create log directory {}: {e}",
                spec.log_dir.display()
            ))
        })?;
        match std::fs::metadata(&spec.working_dir) {
            Ok(m) if m.is_dir() => {}
            _ => {
                return Err(SubmitError::new(format!(
                    "working directory {} does not exist",
                    spec.working_dir.display()
                )));
            }
        }
        let master_port =
            if spec.workers > 1 {
                Some(free_port().map_err(|e| {
                    SubmitError::new(format!("cannot find a free MASTER_PORT: {e}"))
                })?)
            } else {
                None
            };
        let base = self.base_env();

        let mut spawned: Vec<Spawned> = Vec::with_capacity(spec.workers as usize);
        for i in 0..spec.workers {
            match self.spawn_worker(spec, i, program, &argv, &base, master_port) {
                Ok(s) => spawned.push(s),
                Err(reason) => {
                    kill_all(spawned).await;
                    tracing::warn!(job_id = spec.job_id, version_id = spec.version_id, worker = i, %reason, "submit failed");
                    return Err(SubmitError::new(reason));
                }
            }
        }
        // Not yet reaped, so /proc/<pid> exists even if a worker already exited (zombie).
        let stats: Vec<Option<procfs::ProcStat>> =
            spawned.iter().map(|s| procfs::stat(s.pid)).collect();
        if let Some(i) = stats.iter().position(Option::is_none) {
            let pid = spawned.get(i).map_or(0, |s| s.pid);
            kill_all(spawned).await;
            return Err(SubmitError::new(format!(
                "cannot read /proc/{pid}/stat of worker {i}"
            )));
        }
        let workers: Vec<LocalWorker> = (0u32..)
            .zip(&spawned)
            .zip(&stats)
            .map(|((i, s), st)| LocalWorker {
                index: i,
                pid: s.pid,
                pgid: s.pid,
                start_time: st.map_or(0, |st| st.start_time),
            })
            .collect();
        let handle = RunHandle {
            job_id: spec.job_id,
            version_id: spec.version_id,
            log_dir: spec.log_dir.clone(),
            workers: spec.workers,
            backend: BackendHandle::Local {
                workers: workers.clone(),
            },
        };
        let sources = spawned
            .into_iter()
            .zip(&workers)
            .map(|(s, w)| MonitorWorker {
                pgid: w.pgid,
                exit_file: exit_status_path(&spec.log_dir, w.index),
                log_file: log_path(&spec.log_dir, w.index),
                source: Source::Child(s.child),
            })
            .collect();
        self.start_monitor(handle.clone(), sources);
        tracing::info!(
            job_id = spec.job_id,
            version_id = spec.version_id,
            workers = spec.workers,
            pids = ?workers.iter().map(|w| w.pid).collect::<Vec<_>>(),
            "run submitted"
        );
        Ok(handle)
    }

    /// Spawns worker `i` under the wrapper; the error is a one-line reason.
    fn spawn_worker(
        &self,
        spec: &RunSpec,
        i: u32,
        program: &str,
        argv: &[String],
        base: &[(OsString, OsString)],
        master_port: Option<u16>,
    ) -> Result<Spawned, String> {
        let env = worker_env(base.iter().cloned(), spec, i, master_port);
        let resolved = resolve_program(program, lookup(&env, "PATH"), &spec.working_dir)?;
        let exit_file = exit_status_path(&spec.log_dir, i);
        match std::fs::remove_file(&exit_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot remove stale {}: {e}", exit_file.display())),
        }
        let log = log_path(&spec.log_dir, i);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open log file {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open log file {}: {e}", log.display()))?;

        let mut cmd = tokio::process::Command::new(&self.cfg.shell);
        cmd.arg("-c")
            .arg(WRAPPER_SCRIPT)
            .arg(WRAPPER_NAME)
            .arg(&exit_file)
            .arg(&resolved)
            .args(argv.iter().skip(1))
            .current_dir(&spec.working_dir)
            .env_clear()
            .envs(env)
            .env(RUN_DIR_VAR, &spec.log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let mut wrap = CommandWrap::from(cmd);
        wrap.wrap(ProcessSession);
        let child = wrap.spawn().map_err(|e| {
            format!(
                "cannot start worker {i} ({}): {e}",
                self.cfg.shell.display()
            )
        })?;
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| format!("worker {i} has no pid"))?;
        Ok(Spawned { child, pid })
    }

    /// Registers a run and starts its monitor task.
    fn start_monitor(&self, handle: RunHandle, workers: Vec<MonitorWorker>) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = watch::channel(None);
        let span = tracing::info_span!(
            "run",
            job_id = handle.job_id,
            version_id = handle.version_id
        );
        let task = tokio::spawn(tracing::Instrument::instrument(
            monitor::run(workers, cmd_rx, out_tx, self.timing()),
            span,
        ));
        let key = (handle.job_id, handle.version_id);
        let entry = RunEntry {
            handle,
            cmds: cmd_tx,
            outcome: out_rx,
            task: task.abort_handle(),
        };
        if let Some(old) = self.lock().insert(key, entry) {
            old.task.abort();
        }
    }

    /// Takes over a run started by an earlier executor (before a server restart); see
    /// [`Executor::adopt`].
    pub async fn adopt(&self, handle: &RunHandle) -> Result<(), Lost> {
        let key = (handle.job_id, handle.version_id);
        if self.lock().contains_key(&key) {
            return Ok(());
        }
        let lost = |reason: String| Lost {
            reason,
            recorded: None,
        };
        let Some(workers) = handle.local_workers() else {
            return Err(lost(
                "the run was not started by the local executor".to_owned(),
            ));
        };
        if workers.is_empty() || workers.len() != handle.workers as usize {
            return Err(lost("the stored run handle is malformed".to_owned()));
        }
        enum Found {
            Alive,
            Ended(WorkerExit),
            Gone,
        }
        let found: Vec<Found> = workers
            .iter()
            .map(|w| {
                if procfs::is_same_running(w.pid, w.start_time) {
                    Found::Alive
                } else {
                    match read_exit_file(&exit_status_path(&handle.log_dir, w.index)) {
                        Some(e) => Found::Ended(e),
                        None => Found::Gone,
                    }
                }
            })
            .collect();
        if !found.iter().any(|f| matches!(f, Found::Alive)) {
            // Leftovers of a group whose leader pid is unused (or still ours as a zombie) can
            // only be ours: a process group id is never reused while the group exists.
            for w in workers {
                match procfs::stat(w.pid) {
                    None => signal_group(w.pgid, Signal::SIGKILL),
                    Some(s) if s.start_time == w.start_time => {
                        signal_group(w.pgid, Signal::SIGKILL)
                    }
                    Some(_) => {}
                }
            }
            let exits: Vec<Option<WorkerExit>> = found
                .iter()
                .map(|f| match f {
                    Found::Ended(e) => Some(*e),
                    _ => None,
                })
                .collect();
            let details: Vec<String> = workers
                .iter()
                .zip(&exits)
                .map(|(w, e)| match e {
                    Some(e) => format!("worker {} (pid {}) {}", w.index, w.pid, e.describe()),
                    None => format!("worker {} (pid {}) left no exit status", w.index, w.pid),
                })
                .collect();
            let recorded = if exits.iter().all(Option::is_some) {
                let exits: Vec<WorkerExit> = exits.into_iter().flatten().collect();
                let order: Vec<u32> = (0..handle.workers).collect();
                let first_failed = exits.iter().position(|e| !e.is_success()).map(|i| i as u32);
                let mut o = compose_outcome(exits, &order, false, first_failed);
                // the run ended when the last worker wrote its exit status
                o.ended_at_ms = workers
                    .iter()
                    .filter_map(|w| exit_file_time_ms(&exit_status_path(&handle.log_dir, w.index)))
                    .max();
                Some(o)
            } else {
                None
            };
            let reason = format!(
                "worker processes ended while the server was not watching them: {}",
                details.join(", ")
            );
            tracing::warn!(job_id = handle.job_id, version_id = handle.version_id, %reason, "run lost");
            return Err(Lost { reason, recorded });
        }
        let sources = workers
            .iter()
            .zip(found)
            .map(|(w, f)| MonitorWorker {
                pgid: w.pgid,
                exit_file: exit_status_path(&handle.log_dir, w.index),
                log_file: log_path(&handle.log_dir, w.index),
                source: match f {
                    Found::Alive => Source::Adopted {
                        pid: w.pid,
                        start_time: w.start_time,
                    },
                    Found::Ended(e) => Source::Done(e),
                    Found::Gone => Source::Done(WorkerExit::Unknown),
                },
            })
            .collect();
        self.start_monitor(handle.clone(), sources);
        tracing::info!(
            job_id = handle.job_id,
            version_id = handle.version_id,
            "run adopted"
        );
        Ok(())
    }

    fn entry_parts(
        &self,
        handle: &RunHandle,
    ) -> Option<(
        mpsc::UnboundedSender<Cmd>,
        watch::Receiver<Option<RunOutcome>>,
    )> {
        self.lock()
            .get(&(handle.job_id, handle.version_id))
            .map(|e| (e.cmds.clone(), e.outcome.clone()))
    }

    /// Waits for the run to end; see [`Executor::wait`].
    pub async fn wait(&self, handle: &RunHandle) -> Result<RunOutcome, ExecError> {
        let Some((_, rx)) = self.entry_parts(handle) else {
            return Err(unknown(handle));
        };
        await_outcome(rx).await
    }

    /// The outcome if the run has ended, `None` while it runs; see [`Executor::try_outcome`].
    pub fn try_outcome(&self, handle: &RunHandle) -> Result<Option<RunOutcome>, ExecError> {
        match self.lock().get(&(handle.job_id, handle.version_id)) {
            Some(e) => Ok(e.outcome.borrow().clone()),
            None => Err(unknown(handle)),
        }
    }

    /// Stops the run and waits until every worker is gone; see [`Executor::stop`].
    pub async fn stop(&self, handle: &RunHandle, grace: Duration) -> Result<RunOutcome, ExecError> {
        if handle.local_workers().is_none() {
            return Err(ExecError::WrongExecutor);
        }
        if self.entry_parts(handle).is_none() {
            self.adopt(handle).await?;
        }
        let Some((cmds, rx)) = self.entry_parts(handle) else {
            return Err(unknown(handle));
        };
        tracing::info!(
            job_id = handle.job_id,
            version_id = handle.version_id,
            grace_ms = grace.as_millis() as u64,
            "stopping run"
        );
        // A closed channel means the monitor already finished: the outcome is there.
        let _ = cmds.send(Cmd::Stop { grace });
        await_outcome(rx).await
    }

    /// Forgets a run (its state and outcome). The processes of a run that is still going keep
    /// running, unmonitored; call it for ended runs.
    pub fn forget(&self, handle: &RunHandle) {
        if let Some(e) = self.lock().remove(&(handle.job_id, handle.version_id)) {
            e.task.abort();
        }
    }

    /// Handles of the runs this executor monitors that have not ended yet.
    pub fn active_runs(&self) -> Vec<RunHandle> {
        self.lock()
            .values()
            .filter(|e| e.outcome.borrow().is_none())
            .map(|e| e.handle.clone())
            .collect()
    }
}

/// The modification time of an exit file in epoch milliseconds (when the wrapper wrote it).
fn exit_file_time_ms(path: &std::path::Path) -> Option<i64> {
    let t = std::fs::symlink_metadata(path).ok()?.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

fn unknown(handle: &RunHandle) -> ExecError {
    ExecError::UnknownRun {
        job_id: handle.job_id,
        version_id: handle.version_id,
    }
}

async fn await_outcome(
    mut rx: watch::Receiver<Option<RunOutcome>>,
) -> Result<RunOutcome, ExecError> {
    match rx.wait_for(Option::is_some).await {
        Ok(o) => o.clone().ok_or(ExecError::ShutDown),
        Err(_) => Err(ExecError::ShutDown),
    }
}

/// Kills and reaps workers started by a submit that then failed.
async fn kill_all(spawned: Vec<Spawned>) {
    for mut s in spawned {
        signal_group(s.pid, Signal::SIGKILL);
        let _ = s.child.wait().await;
    }
}

impl Executor for LocalExecutor {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn log_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        LocalExecutor::log_dir(self, job_id, version_id)
    }

    fn preflight<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<(), PreflightError>> {
        Box::pin(LocalExecutor::preflight(self, spec))
    }

    fn reconcile<'a>(&'a self, known: &'a KnownRuns) -> BoxFuture<'a, Reconciled> {
        Box::pin(LocalExecutor::reconcile(self, known))
    }

    fn submit<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<RunHandle, SubmitError>> {
        Box::pin(LocalExecutor::submit(self, spec))
    }

    fn adopt<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<(), Lost>> {
        Box::pin(LocalExecutor::adopt(self, handle))
    }

    fn wait<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<RunOutcome, ExecError>> {
        Box::pin(LocalExecutor::wait(self, handle))
    }

    fn try_outcome(&self, handle: &RunHandle) -> Result<Option<RunOutcome>, ExecError> {
        LocalExecutor::try_outcome(self, handle)
    }

    fn stop<'a>(
        &'a self,
        handle: &'a RunHandle,
        grace: Duration,
    ) -> BoxFuture<'a, Result<RunOutcome, ExecError>> {
        Box::pin(LocalExecutor::stop(self, handle, grace))
    }

    fn forget(&self, handle: &RunHandle) {
        LocalExecutor::forget(self, handle);
    }
}
