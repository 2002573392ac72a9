//! The `local` executor: every worker is a process (tree) on this machine, contained
//! (`sandbox`, `child`, `cgroup`, `identity`, `helper`; `docs/security.md`).

mod cgroup;
mod child;
mod helper;
pub(crate) mod identity;
mod monitor;
mod orphans;
pub(crate) mod sandbox;
mod wrapper;

pub(crate) use helper::nearest_existing;

use std::collections::HashMap;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use nix::sys::signal::Signal;
use process_wrap::tokio::{ChildWrapper, CommandWrap, ProcessSession};
use tokio::sync::{mpsc, watch};

use crate::env::{free_port, lookup, worker_env};
use crate::error::{ExecError, Lost, PreflightError, SubmitError};
use crate::handle::{BackendHandle, LocalWorker, RunHandle};
use crate::logs::{exit_status_path, log_path, open_regular};
use crate::outcome::{RunOutcome, WorkerExit, compose_outcome};
use crate::procfs;
use crate::sandbox::{Containment, WorkerIdentity};
use crate::spec::{RunCommand, RunSpec, check_run_paths};
use crate::{BoxFuture, Executor, KnownRuns, Reconciled};

use cgroup::{MemoryCgroups, WorkerCgroup};
use child::ChildSetup;
use monitor::{Cmd, MonitorWorker, Source, Timing, read_exit_file, signal_group};
use sandbox::{Access3, Grant, Kind, Prepared};
use wrapper::{WRAPPER_NAME, WRAPPER_SCRIPT, resolve_program};

pub use orphans::RUN_DIR_VAR;

/// Settings of the [`LocalExecutor`].
#[derive(Clone, Debug)]
pub struct LocalConfig {
    /// Root of the version log directories: version `v` of job `j` logs to
    /// `<logs_dir>/<j>/<v>/worker-<i>.log` ([`Executor::log_dir`]). The server passes
    /// `<data_dir>/logs` (absolute), in its own data directory, which workers cannot enter: a
    /// worker only gets its log file as an open descriptor (default `trainyard-data/logs`).
    pub logs_dir: PathBuf,
    /// The POSIX shell for the worker wrapper and for `user_command` (default `/bin/sh`).
    pub shell: PathBuf,
    /// When one worker fails, how long the others get between SIGTERM and SIGKILL
    /// (default 10 s, like a stop).
    pub failure_grace: Duration,
    /// Poll interval for adopted workers when `pidfd_open` is unavailable (default 500 ms;
    /// not used when pidfds work, Linux ≥ 5.3).
    pub adopt_poll_interval: Duration,
    /// The environment workers may inherit from, before the allow-list (`None`: the server's
    /// own environment, read at each submit). Mostly for tests.
    pub base_env: Option<Vec<(OsString, OsString)>>,
    /// How workers are contained (Landlock, protected directories, run directories,
    /// environment allow-list, memory limits).
    pub containment: Containment,
}

impl Default for LocalConfig {
    fn default() -> LocalConfig {
        LocalConfig {
            logs_dir: PathBuf::from("trainyard-data/logs"),
            shell: PathBuf::from("/bin/sh"),
            failure_grace: Duration::from_secs(10),
            adopt_poll_interval: Duration::from_millis(500),
            base_env: None,
            containment: Containment::default(),
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
///   and records the worker's exit status in `<log_dir>/worker-<i>.exit` (through an inherited
///   descriptor).
/// * stdout and stderr of worker `i` go straight to `<log_dir>/worker-<i>.log` (appended).
/// * Each worker runs as the run's identity, in its own Landlock domain, in its own memory
///   cgroup, with a private run directory as `HOME`/`TMPDIR` and an allow-listed environment.
/// * One monitor task per run awaits the workers, applies the fail-fast rule and carries out
///   stops; [`LocalExecutor::wait`] awaits its outcome.
///
/// Must be used inside a tokio runtime. Dropping the executor stops *monitoring* (its tasks are
/// aborted) but leaves the worker processes running, as a server restart would: a new executor
/// can [`LocalExecutor::adopt`] them.
pub struct LocalExecutor {
    cfg: LocalConfig,
    runs: Mutex<HashMap<(i64, i64), RunEntry>>,
    /// 16 hex digits of SHA-256 of `logs_dir`: names this executor's run directories and
    /// cgroups, stable across restarts.
    tag: String,
    /// Parent of the run directories.
    runs_dir: PathBuf,
    /// Memory cgroups, found on first use.
    cgroups: OnceLock<MemoryCgroups>,
    /// The Landlock summary was logged.
    said: std::sync::Once,
}

impl std::fmt::Debug for LocalExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalExecutor")
            .field("cfg", &self.cfg)
            .field("runs_dir", &self.runs_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalExecutor {
    fn drop(&mut self) {
        for entry in self.lock().values() {
            entry.task.abort();
        }
        // this executor's parents of run directories and memory groups, when nothing is left in
        // them (a running worker keeps them for the next executor)
        if let Some(MemoryCgroups::Available { base, .. }) = self.cgroups.get() {
            let _ = std::fs::remove_dir(base);
        }
        let _ = std::fs::remove_dir(&self.runs_dir);
    }
}

/// A worker spawned during a submit.
struct Spawned {
    child: Box<dyn ChildWrapper>,
    pid: i32,
}

/// Everything prepared for the workers of one submit.
struct RunPrep {
    /// The program (resolved for the worker) and its arguments.
    argv: Vec<OsString>,
    /// The Landlock policy.
    policy: Prepared,
    /// The private run directory.
    run_dir: PathBuf,
    /// The working directory.
    cwd: PathBuf,
}

/// The 16 hex digits naming an executor's directories and groups.
fn tag_of(logs_dir: &Path) -> String {
    use sha2::Digest;
    let abs = std::path::absolute(logs_dir).unwrap_or_else(|_| logs_dir.to_path_buf());
    let digest = sha2::Sha256::digest(abs.as_os_str().as_encoded_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Creates `dir` (mode `mode`) if missing and checks that it is a real directory owned by this
/// process's user and not writable by anyone else (so nobody else can plant names in it).
fn ensure_private_dir(dir: &Path, mode: u32) -> Result<(), String> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = rustix::process::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != me {
        return Err(format!(
            "{} must be a directory owned by uid {me} (it is not: refusing to use it)",
            dir.display()
        ));
    }
    if meta.mode() & 0o022 != 0 || meta.mode() & 0o777 != mode {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot set the mode of {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Opens a file the server owns for a worker's descriptor: never through a symlink, and only
/// a regular file. `append` for a log (kept), otherwise truncated (an exit-status file).
fn open_for_worker(path: &Path, append: bool) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    let f = o.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    // the worker writes through it in blocking mode
    let fl = rustix::fs::fcntl_getfl(&f)?;
    rustix::fs::fcntl_setfl(&f, fl - rustix::fs::OFlags::NONBLOCK)?;
    Ok(f)
}

impl LocalExecutor {
    /// Creates an executor with the given settings.
    pub fn new(cfg: LocalConfig) -> LocalExecutor {
        let tag = tag_of(&cfg.logs_dir);
        let runs_dir = cfg.containment.runs_dir.clone().unwrap_or_else(|| {
            std::env::temp_dir()
                .join(format!(
                    "trainyard-runs-{}",
                    rustix::process::geteuid().as_raw()
                ))
                .join(&tag)
        });
        LocalExecutor {
            cfg,
            runs: Mutex::new(HashMap::new()),
            tag,
            runs_dir,
            cgroups: OnceLock::new(),
            said: std::sync::Once::new(),
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

    /// The environment workers inherit from, before the allow-list ([`LocalConfig::base_env`]).
    fn base_env(&self) -> Vec<(OsString, OsString)> {
        match &self.cfg.base_env {
            Some(b) => b.clone(),
            None => std::env::vars_os().collect(),
        }
    }

    /// The memory cgroups (found on first use, said once in the log).
    fn cgroups(&self) -> &MemoryCgroups {
        self.cgroups.get_or_init(|| {
            let m = if self.cfg.containment.memory_limits {
                MemoryCgroups::detect(&self.tag)
            } else {
                MemoryCgroups::Unavailable("disabled by the configuration".to_owned())
            };
            match &m {
                MemoryCgroups::Available { .. } => tracing::info!("{}", m.describe()),
                MemoryCgroups::Unavailable(_) => tracing::warn!("{}", m.describe()),
            }
            m
        })
    }

    /// Where the private run directories are (`<runs_dir>/<job_id>/<version_id>`).
    pub fn runs_dir(&self) -> &Path {
        &self.runs_dir
    }

    /// The private run directory of a version: its workers' `HOME`, `TMPDIR`, and working
    /// directory when it has no `app_url`. Made at submit, removed when the run ends.
    pub fn run_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        self.runs_dir
            .join(job_id.to_string())
            .join(version_id.to_string())
    }

    /// `<logs_dir>/<job_id>/<version_id>`; see [`Executor::log_dir`].
    pub fn log_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        self.cfg
            .logs_dir
            .join(job_id.to_string())
            .join(version_id.to_string())
    }

    /// The directories no worker may be granted: the configured ones, the logs directory and
    /// the run directories' parent (a worker gets only its own run directory).
    fn protected(&self) -> Vec<PathBuf> {
        let mut p = self.cfg.containment.protected.clone();
        p.push(
            std::path::absolute(&self.cfg.logs_dir).unwrap_or_else(|_| self.cfg.logs_dir.clone()),
        );
        p
    }

    /// Says (once) what containment this machine gives, creates the run directories' parent,
    /// and finds the memory cgroups; errors when Landlock is required but missing, or the run
    /// directories cannot be made safely. See [`Executor::check_ready`] (also the `/readyz`
    /// probe).
    pub async fn check_ready(&self) -> Result<(), String> {
        let sup = sandbox::support();
        // said once (the readiness probe calls this again and again)
        self.said.call_once(|| {
            if sup.full {
                tracing::info!("{}", sup.summary);
            } else {
                tracing::warn!("{}", sup.summary);
            }
        });
        if self.cfg.containment.landlock == crate::sandbox::LandlockMode::Required && !sup.full {
            return Err(format!(
                "Landlock is required by the configuration: {}",
                sup.summary
            ));
        }
        self.prepare_runs_dir()?;
        let _ = self.cgroups();
        Ok(())
    }

    fn prepare_runs_dir(&self) -> Result<(), String> {
        self.prep()
            .prepare_runs_dir(self.cfg.containment.runs_dir.is_none())
    }

    /// What preparing a run needs (cloned into blocking tasks).
    fn prep(&self) -> Prep {
        Prep {
            containment: self.cfg.containment.clone(),
            shell: self.cfg.shell.clone(),
            runs_dir: self.runs_dir.clone(),
            protected: self.protected(),
        }
    }

    /// Checks the paths of `spec` (they exist, the workers' user can read them, their real
    /// paths lie under the allowed roots and outside the server's directories) and that its
    /// program can be found and executed by the workers; see [`Executor::preflight`].
    pub async fn preflight(&self, spec: &RunSpec) -> Result<(), PreflightError> {
        let spec = spec.clone();
        let base = self.base_env();
        let prep = self.prep();
        tokio::task::spawn_blocking(move || {
            check_run_paths(spec.app_url.as_deref(), spec.boot_file.as_deref())
                .map_err(PreflightError::image)?;
            let who = worker_identity(spec.identity).map_err(PreflightError::submit)?;
            if let Some(app) = &spec.app_url {
                check_readable_dir(app, "app_url", who).map_err(PreflightError::image)?;
            }
            let grants = prep.grants(&spec, None, false);
            let policy = sandbox::prepare(
                &grants,
                &spec.allowed_roots,
                &prep.protected,
                prep.containment.landlock,
            )
            .map_err(PreflightError::image)?;
            let exec_roots = sandbox::support()
                .any
                .then_some(policy.exec_roots.as_slice());
            let cwd = if spec.working_dir == spec.log_dir {
                prep.runs_dir.clone()
            } else {
                spec.working_dir.clone()
            };
            prep.resolve_argv(&spec, who, exec_roots, &cwd, &base)
                .map_err(|e| match &spec.command {
                    RunCommand::Argv(_) => PreflightError::submit(format!("engine {e}")),
                    RunCommand::Shell(_) => PreflightError::submit(e),
                })?;
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(PreflightError::submit(format!("pre-flight failed: {e}"))))
    }

    /// Kills the process groups of this executor's workers that no adopted run accounts for
    /// (found by [`RUN_DIR_VAR`] under the run directories), and removes the run directories
    /// and memory cgroups of runs that no longer exist; see [`Executor::reconcile`]. Waiting
    /// versions are not kept: they run again from the start.
    pub async fn reconcile(&self, known: &KnownRuns) -> Reconciled {
        let keep: HashSet<PathBuf> = known
            .adopted
            .iter()
            .map(|h| self.run_dir(h.job_id, h.version_id))
            .collect();
        let runs_dir = self.runs_dir.clone();
        let adopted: HashSet<(i64, i64)> = known
            .adopted
            .iter()
            .map(|h| (h.job_id, h.version_id))
            .collect();
        let stale: Vec<WorkerCgroup> = self
            .cgroups()
            .list()
            .into_iter()
            .filter(|(j, v, _)| !adopted.contains(&(*j, *v)))
            .filter_map(|(j, v, w)| self.cgroups().existing(j, v, w))
            .collect();
        let killed = tokio::task::spawn_blocking(move || {
            let killed = orphans::kill_orphans(&runs_dir, &keep);
            // memory groups of runs that are not adopted: what is left in them is an orphan
            for cg in stale {
                cg.kill_all();
                cg.remove();
            }
            // run directories of runs that are not adopted are leftovers: remove them
            if let Ok(jobs) = std::fs::read_dir(&runs_dir) {
                for j in jobs.flatten() {
                    if let Ok(versions) = std::fs::read_dir(j.path()) {
                        for v in versions.flatten() {
                            if !keep.contains(&v.path()) {
                                let _ = std::fs::remove_dir_all(v.path());
                            }
                        }
                    }
                    let _ = std::fs::remove_dir(j.path());
                }
            }
            killed
        })
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
        let who = worker_identity(spec.identity).map_err(SubmitError::new)?;
        // the log directory: the server's, in its data directory
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&spec.log_dir)
            .map_err(|e| {
                SubmitError::new(format!(
                    "cannot create log directory {}: {e}",
                    spec.log_dir.display()
                ))
            })?;
        let base = self.base_env();
        let prep = {
            let (p, sp, b) = (self.prep(), spec.clone(), base.clone());
            let default_runs_dir = self.cfg.containment.runs_dir.is_none();
            tokio::task::spawn_blocking(move || {
                p.prepare_runs_dir(default_runs_dir)?;
                p.prepare_run(&sp, who, &b)
            })
            .await
            .unwrap_or_else(|e| Err(format!("preparing the run failed: {e}")))
            .map_err(|reason| {
                tracing::warn!(job_id = spec.job_id, version_id = spec.version_id, %reason, "submit failed");
                SubmitError::new(reason)
            })?
        };
        let master_port =
            if spec.workers > 1 {
                Some(free_port().map_err(|e| {
                    SubmitError::new(format!("cannot find a free MASTER_PORT: {e}"))
                })?)
            } else {
                None
            };

        let mut spawned: Vec<Spawned> = Vec::with_capacity(spec.workers as usize);
        let mut cgroups: Vec<Option<WorkerCgroup>> = Vec::with_capacity(spec.workers as usize);
        for i in 0..spec.workers {
            let res = self
                .cgroups()
                .create(
                    spec.job_id,
                    spec.version_id,
                    i,
                    spec.resources.memory_gib.and_then(gib_to_bytes),
                )
                .and_then(|mut cg| {
                    let s = self.spawn_worker(spec, i, &prep, cg.as_ref(), &base, master_port, who);
                    if let Some(c) = cg.as_mut() {
                        c.close_procs();
                    }
                    s.map(|s| (s, cg))
                });
            match res {
                Ok((s, cg)) => {
                    spawned.push(s);
                    cgroups.push(cg);
                }
                Err(reason) => {
                    kill_all(spawned).await;
                    cleanup_after(cgroups, Some(prep.run_dir.clone())).await;
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
            cleanup_after(cgroups, Some(prep.run_dir.clone())).await;
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
            identity: who,
            allowed_roots: spec.allowed_roots.clone(),
            backend: BackendHandle::Local {
                workers: workers.clone(),
            },
        };
        let sources = spawned
            .into_iter()
            .zip(cgroups)
            .zip(&workers)
            .map(|((s, cg), w)| MonitorWorker {
                pgid: w.pgid,
                exit_file: exit_status_path(&spec.log_dir, w.index),
                log_file: log_path(&spec.log_dir, w.index),
                cgroup: cg,
                source: Source::Child(s.child),
            })
            .collect();
        self.start_monitor(handle.clone(), sources, Some(prep.run_dir.clone()));
        tracing::info!(
            job_id = spec.job_id,
            version_id = spec.version_id,
            workers = spec.workers,
            uid = who.map(|w| w.uid),
            pids = ?workers.iter().map(|w| w.pid).collect::<Vec<_>>(),
            "run submitted"
        );
        Ok(handle)
    }

    /// Spawns worker `i` under the wrapper; the error is a one-line reason.
    #[allow(clippy::too_many_arguments)]
    fn spawn_worker(
        &self,
        spec: &RunSpec,
        i: u32,
        prep: &RunPrep,
        cgroup: Option<&WorkerCgroup>,
        base: &[(OsString, OsString)],
        master_port: Option<u16>,
        who: Option<WorkerIdentity>,
    ) -> Result<Spawned, String> {
        let env = worker_env(
            base.iter().cloned(),
            &self.cfg.containment.env_allow,
            spec,
            i,
            master_port,
            Some(&prep.run_dir),
        );
        let exit_file = exit_status_path(&spec.log_dir, i);
        let exit = match open_for_worker(&exit_file, false) {
            Ok(f) => f,
            Err(e) => {
                // The run can still be watched (the server is the wrapper's parent); only a
                // restart would not find its status.
                tracing::warn!(path = %exit_file.display(), error = %e, "cannot create the exit-status file; the status is kept in memory only");
                File::options()
                    .write(true)
                    .open("/dev/null")
                    .map_err(|e| format!("cannot open /dev/null: {e}"))?
            }
        };
        let log = log_path(&spec.log_dir, i);
        let out = open_for_worker(&log, true)
            .map_err(|e| format!("cannot open log file {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot open log file {}: {e}", log.display()))?;

        let mut cmd = tokio::process::Command::new(&self.cfg.shell);
        cmd.arg("-c")
            .arg(WRAPPER_SCRIPT)
            .arg(WRAPPER_NAME)
            .args(&prep.argv)
            .current_dir(&prep.cwd)
            .env_clear()
            .envs(env)
            .env(RUN_DIR_VAR, &prep.run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        if let Some(w) = who {
            cmd.uid(w.uid).gid(w.gid);
        }
        child::install_tokio(
            &mut cmd,
            ChildSetup {
                cgroup_procs: cgroup.and_then(WorkerCgroup::procs_fd),
                ruleset: prep.policy.ruleset_fd(),
                exit_file: Some(exit.as_raw_fd()),
            },
        );
        let mut wrap = CommandWrap::from(cmd);
        wrap.wrap(ProcessSession);
        let child = wrap.spawn().map_err(|e| {
            format!(
                "cannot start worker {i} ({}): {e}",
                self.cfg.shell.display()
            )
        })?;
        drop(exit);
        let pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| format!("worker {i} has no pid"))?;
        Ok(Spawned { child, pid })
    }

    /// Registers a run and starts its monitor task.
    fn start_monitor(
        &self,
        handle: RunHandle,
        workers: Vec<MonitorWorker>,
        run_dir: Option<PathBuf>,
    ) {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (out_tx, out_rx) = watch::channel(None);
        let span = tracing::info_span!(
            "run",
            job_id = handle.job_id,
            version_id = handle.version_id
        );
        let task = tokio::spawn(tracing::Instrument::instrument(
            monitor::run(workers, cmd_rx, out_tx, self.timing(), run_dir),
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
            // Empty memory groups go now; anything still in one (and the run directory) is for
            // `reconcile`, which knows which runs were adopted.
            for w in workers {
                if let Some(cg) = self
                    .cgroups()
                    .existing(handle.job_id, handle.version_id, w.index)
                    && cg.is_empty()
                {
                    cg.remove();
                }
            }
            return Err(Lost { reason, recorded });
        }
        let sources = workers
            .iter()
            .zip(found)
            .map(|(w, f)| MonitorWorker {
                pgid: w.pgid,
                exit_file: exit_status_path(&handle.log_dir, w.index),
                log_file: log_path(&handle.log_dir, w.index),
                cgroup: self
                    .cgroups()
                    .existing(handle.job_id, handle.version_id, w.index),
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
        self.start_monitor(
            handle.clone(),
            sources,
            Some(self.run_dir(handle.job_id, handle.version_id)),
        );
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

    /// Copies each worker's log of an ended run to `dest_dir/<file_names[i]>` (`log_url`) with
    /// the workers' rights: a helper process runs as the run's identity, in a Landlock domain
    /// that may write only beneath `dest_dir` (or its nearest existing parent, checked against
    /// the run's allowed roots and the protected directories), and reads the log from a
    /// descriptor the server opened. The server itself writes nothing there. Workers without a
    /// log file are skipped; a name with a path separator, `.` or `..` is refused.
    pub async fn copy_logs(
        &self,
        handle: &RunHandle,
        dest_dir: &Path,
        file_names: &[String],
    ) -> std::io::Result<Vec<PathBuf>> {
        copy_logs_with_rights(
            &self.cfg.containment,
            &self.cfg.shell,
            handle,
            dest_dir,
            file_names,
        )
        .await
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

/// Copies each worker's log of an ended run to `dest_dir/<file_names[i]>` (`log_url`) with the
/// workers' rights (the run's identity, a Landlock domain that may write only beneath
/// `dest_dir`); the server writes nothing there. Used by every executor whose logs the server
/// can read (local, and Slurm's on the shared file system). Workers without a log file are
/// skipped; a name with a path separator, `.` or `..` is refused.
pub(crate) async fn copy_logs_with_rights(
    containment: &Containment,
    shell: &Path,
    handle: &RunHandle,
    dest_dir: &Path,
    file_names: &[String],
) -> std::io::Result<Vec<PathBuf>> {
    use std::io::{Error, ErrorKind};
    if file_names.len() != handle.workers as usize {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{} file names for {} workers",
                file_names.len(),
                handle.workers
            ),
        ));
    }
    for name in file_names {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("invalid log file name {name:?}"),
            ));
        }
    }
    let who =
        worker_identity(handle.identity).map_err(|e| Error::new(ErrorKind::PermissionDenied, e))?;
    let (h, dest, names) = (handle.clone(), dest_dir.to_path_buf(), file_names.to_vec());
    let (containment, shell) = (containment.clone(), shell.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let anchor = helper::nearest_existing(&dest).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("{} has no existing parent", dest.display()),
            )
        })?;
        let rights = helper::Rights {
            identity: who,
            roots: &h.allowed_roots,
            containment: &containment,
            shell: &shell,
        };
        let mut written = Vec::new();
        for (i, name) in (0..h.workers).zip(&names) {
            let src = match open_regular(&log_path(&h.log_dir, i)) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            helper::run(
                &rights,
                "log_url",
                &anchor,
                helper::COPY_SCRIPT,
                &[dest.clone().into_os_string(), OsString::from(name)],
                Some(src),
                Duration::from_secs(300),
            )
            .map_err(|e| {
                Error::other(format!("copying to {} as the worker: {e}", dest.display()))
            })?;
            written.push(dest.join(name));
        }
        Ok(written)
    })
    .await
    .map_err(Error::other)?
}

/// The settings a run's preparation needs (a clone, usable on a blocking thread).
#[derive(Clone, Debug)]
struct Prep {
    containment: Containment,
    shell: PathBuf,
    runs_dir: PathBuf,
    protected: Vec<PathBuf>,
}

/// The identity workers of `spec` run as, refusing root.
pub(crate) fn worker_identity(
    spec_identity: Option<WorkerIdentity>,
) -> Result<Option<WorkerIdentity>, String> {
    match spec_identity {
        Some(id) => WorkerIdentity::new(id.uid, id.gid).map(Some),
        None if rustix::process::geteuid().is_root() => Err(
            "refusing to run workers as root: configure a worker identity ([sandbox] user)"
                .to_owned(),
        ),
        None => Ok(None),
    }
}

/// Checks that `path` (a directory) can be entered and read by the worker's identity.
fn check_readable_dir(path: &Path, field: &str, who: Option<WorkerIdentity>) -> Result<(), String> {
    let Some(w) = who else { return Ok(()) };
    for dir in path.ancestors() {
        let m = std::fs::metadata(dir).map_err(|e| format!("{field} {}: {e}", path.display()))?;
        let mode = m.mode();
        let bits = if m.uid() == w.uid {
            mode >> 6
        } else if m.gid() == w.gid {
            mode >> 3
        } else {
            mode
        };
        let need = if dir == path { 0o5 } else { 0o1 };
        if bits & need != need {
            return Err(format!(
                "{field} {} is not readable by the workers' user (uid {}): {} has mode {:o}",
                path.display(),
                w.uid,
                dir.display(),
                mode & 0o7777
            ));
        }
    }
    Ok(())
}

impl Prep {
    /// Creates the run directories' parent (and, for the default location, its parent in the
    /// temporary directory), checking that they are ours and not writable by others.
    fn prepare_runs_dir(&self, default_location: bool) -> Result<(), String> {
        if let Some(parent) = self.runs_dir.parent()
            && default_location
        {
            ensure_private_dir(parent, 0o711)?;
        }
        ensure_private_dir(&self.runs_dir, 0o711)
    }

    fn run_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        self.runs_dir
            .join(job_id.to_string())
            .join(version_id.to_string())
    }

    /// The Landlock grants of a run: the system, the version's paths, its run directory.
    fn grants(&self, spec: &RunSpec, run_dir: Option<&Path>, train_required: bool) -> Vec<Grant> {
        let c = &self.containment;
        let mut g: Vec<Grant> = c
            .system_paths
            .iter()
            .chain(&c.extra_read_only)
            .map(|p| Grant::new(p, Access3::ReadExec, Kind::System))
            .collect();
        g.extend(
            c.device_files
                .iter()
                .chain(&c.shared_read_write)
                .map(|p| Grant::new(p, Access3::ReadWrite, Kind::System)),
        );
        if let Some(app) = &spec.app_url {
            g.push(Grant::new(
                app,
                Access3::ReadExec,
                Kind::Version {
                    field: "app_url",
                    optional: false,
                },
            ));
        }
        if let Some(boot) = &spec.boot_file
            && spec.app_url.as_ref().is_none_or(|a| !boot.starts_with(a))
        {
            g.push(Grant::new(
                boot,
                Access3::Read,
                Kind::Version {
                    field: "boot_file_url",
                    optional: false,
                },
            ));
        }
        if let Some(d) = &spec.data_url {
            g.push(Grant::new(
                d,
                Access3::Read,
                Kind::Version {
                    field: "data_url",
                    optional: true,
                },
            ));
        }
        if let Some(t) = &spec.train_url {
            g.push(Grant::new(
                t,
                Access3::ReadWrite,
                Kind::Version {
                    field: "train_url",
                    optional: !train_required,
                },
            ));
        }
        if let Some(r) = run_dir {
            g.push(Grant::new(r, Access3::ReadWrite, Kind::Private));
        }
        g
    }

    /// The program and arguments a worker runs, with the program resolved for the worker.
    fn resolve_argv(
        &self,
        spec: &RunSpec,
        who: Option<WorkerIdentity>,
        exec_roots: Option<&[PathBuf]>,
        cwd: &Path,
        base: &[(OsString, OsString)],
    ) -> Result<Vec<OsString>, String> {
        let argv: Vec<String> = match &spec.command {
            RunCommand::Argv(a) => a.clone(),
            RunCommand::Shell(cmd) => vec![
                self.shell.to_string_lossy().into_owned(),
                "-c".into(),
                cmd.clone(),
            ],
        };
        let Some(program) = argv.first() else {
            return Err("the command is empty".to_owned());
        };
        let env = worker_env(
            base.iter().cloned(),
            &self.containment.env_allow,
            spec,
            0,
            None,
            None,
        );
        let check = |p: &Path| identity::check_executable(p, who, exec_roots);
        let resolved = resolve_program(program, lookup(&env, "PATH"), cwd, &check)?;
        let mut out = vec![resolved.into_os_string()];
        out.extend(argv.into_iter().skip(1).map(OsString::from));
        Ok(out)
    }

    /// Makes the run directory of `spec` (empty, mode 0700, owned by the workers' user).
    fn make_run_dir(&self, spec: &RunSpec, who: Option<WorkerIdentity>) -> Result<PathBuf, String> {
        let job_dir = self.runs_dir.join(spec.job_id.to_string());
        ensure_private_dir(&job_dir, 0o711)?;
        let dir = self.run_dir(spec.job_id, spec.version_id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("cannot clear {}: {e}", dir.display())),
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create the run directory {}: {e}", dir.display()))?;
        if let Some(w) = who {
            std::os::unix::fs::chown(&dir, Some(w.uid), Some(w.gid))
                .map_err(|e| format!("cannot give {} to uid {}: {e}", dir.display(), w.uid))?;
        }
        Ok(dir)
    }

    /// Creates `train_url` with the workers' rights when it does not exist yet.
    fn make_train_url(&self, spec: &RunSpec, who: Option<WorkerIdentity>) -> Result<(), String> {
        let Some(t) = spec.train_url.as_deref() else {
            return Ok(());
        };
        let t = Path::new(t);
        if t.exists() {
            return Ok(());
        }
        let Some(anchor) = helper::nearest_existing(t) else {
            return Err(format!("train_url {} has no existing parent", t.display()));
        };
        let rights = helper::Rights {
            identity: who,
            roots: &spec.allowed_roots,
            containment: &self.containment,
            shell: &self.shell,
        };
        helper::run(
            &rights,
            "train_url",
            &anchor,
            helper::MKDIR_SCRIPT,
            &[t.as_os_str().to_owned()],
            None,
            Duration::from_secs(30),
        )
        .map_err(|e| format!("cannot create train_url {} as the worker: {e}", t.display()))
    }

    /// Everything a submit prepares before spawning (blocking: file system and helpers).
    fn prepare_run(
        &self,
        spec: &RunSpec,
        who: Option<WorkerIdentity>,
        base: &[(OsString, OsString)],
    ) -> Result<RunPrep, String> {
        if let Some(app) = &spec.app_url {
            match std::fs::metadata(app) {
                Ok(m) if m.is_dir() => {}
                _ => {
                    return Err(format!(
                        "working directory {} does not exist",
                        app.display()
                    ));
                }
            }
            check_readable_dir(app, "app_url", who)?;
        }
        self.make_train_url(spec, who)?;
        let run_dir = self.make_run_dir(spec, who)?;
        let grants = self.grants(spec, Some(&run_dir), true);
        let policy = sandbox::prepare(
            &grants,
            &spec.allowed_roots,
            &self.protected,
            self.containment.landlock,
        )?;
        let cwd = if spec.working_dir == spec.log_dir {
            // a run without app_url: its own private directory (workers cannot enter logs)
            run_dir.clone()
        } else {
            spec.working_dir.clone()
        };
        if !cwd.is_dir() {
            return Err(format!(
                "working directory {} does not exist",
                cwd.display()
            ));
        }
        let sup = sandbox::support();
        let exec_roots = sup.any.then_some(policy.exec_roots.as_slice());
        let argv = self.resolve_argv(spec, who, exec_roots, &cwd, base)?;
        Ok(RunPrep {
            argv,
            policy,
            run_dir,
            cwd,
        })
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

/// GiB (the spec's `cpu`) as bytes; `None` for a value that is not a positive number.
fn gib_to_bytes(gib: f64) -> Option<u64> {
    (gib.is_finite() && gib > 0.0).then(|| (gib * (1u64 << 30) as f64).min(u64::MAX as f64) as u64)
}

/// Removes what a run leaves behind: kills what remains in its memory cgroups and removes
/// them, and removes its private run directory.
async fn cleanup_after(cgroups: Vec<Option<WorkerCgroup>>, run_dir: Option<PathBuf>) {
    let _ = tokio::task::spawn_blocking(move || {
        for cg in cgroups.into_iter().flatten() {
            cg.kill_all();
            cg.remove();
        }
        if let Some(dir) = run_dir {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a run directory"),
            }
        }
    })
    .await;
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

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(LocalExecutor::check_ready(self))
    }

    fn copy_logs<'a>(
        &'a self,
        handle: &'a RunHandle,
        dest_dir: &'a Path,
        file_names: &'a [String],
    ) -> BoxFuture<'a, std::io::Result<Vec<PathBuf>>> {
        Box::pin(LocalExecutor::copy_logs(self, handle, dest_dir, file_names))
    }
}
