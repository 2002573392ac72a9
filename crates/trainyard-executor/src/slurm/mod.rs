//! The `slurm` executor: one batch job per version on a Slurm cluster (`docs/executors.md`).
//!
//! * **Submit**: one `sbatch --parsable` per version ([`script`]); the job name
//!   `<prefix>-<job_id>-<version_id>` is the key that finds a submission again after a restart.
//! * **Watch**: ONE poller task for all runs. Every `poll_interval` it makes one `squeue` call for
//!   every tracked job (`-t all --jobs=<ids>`: state, reason, exit status, times, nodes), and only
//!   when some tracked job is no longer in squeue (purged after `MinJobAge`, or it ended while the
//!   server was down) one `sacct` call for those (the accounting database, or `sacct -c` over the
//!   job-completion log when there is no slurmdbd). Never a call per version, never on a
//!   request path. Between polls, runs submitted in the last 30 s are watched for their start
//!   marker file (written by the batch script on the shared file system), so a start is seen
//!   without asking Slurm: every 20 ms in the first 5 s after a submit (at most 64 such runs;
//!   a `stat` each), then every 100 ms. A submit wakes the poller at once, so the marker watch
//!   of a run submitted to an idle executor does not wait for the next poll. In the first 2 s
//!   after a submit, unstarted runs (at most 64) are also asked about with one `squeue` for all
//!   of them every 100 ms, so Slurm's RUNNING is seen as soon as a user's `squeue` would see it
//!   (the batch script may start a second or more after that): at most 20 extra calls after
//!   a burst of submits, none while nothing was submitted lately.
//! * **Stop**: `scancel --signal=TERM` (a pending job: `scancel`), then after the grace
//!   `scancel --signal=KILL --full`; returns when the poller has seen the job end.
//! * **Recovery**: [`SlurmExecutor::adopt`] takes any stored handle (the poller then finds the
//!   job running, pending, ended while the server was away (real outcome), or unknown to Slurm
//!   ([`Lost`]); [`SlurmExecutor::reconcile`] cancels jobs of this server (by name prefix) that no
//!   version accounts for and remembers those of waiting versions, which `submit` then returns
//!   instead of submitting twice.

mod cmd;
mod script;
mod state;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{ExecError, Lost, PreflightError, SubmitError};
use crate::handle::{BackendHandle, RunHandle};
use crate::local::sandbox::{Access3, Grant, Kind};
use crate::outcome::RunOutcome;
use crate::sandbox::{Containment, LandlockMode, WorkerIdentity};
use crate::spec::{RunSpec, check_run_paths};
use crate::{BoxFuture, Executor, KnownRuns, Reconciled, Started, worker_env};

use cmd::{CmdError, Commands};
use script::{JobScript, SCRIPT, STARTED_MARKER};
use state::{JobInfo, Phase, SACCT_FIELDS, SQUEUE_FORMAT};

/// Settings of the [`SlurmExecutor`] (`[executor.slurm]` in the server's TOML file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlurmConfig {
    /// Partition to submit to (`--partition`); `None`: the cluster's default.
    pub partition: Option<String>,
    /// Account to charge (`--account`), optional.
    pub account: Option<String>,
    /// Quality of service (`--qos`), optional.
    pub qos: Option<String>,
    /// Extra `sbatch` arguments, added after trainyard's own (e.g. `["--time=60"]`).
    pub sbatch_args: Vec<String>,
    /// Directory for job scripts and output files, on a file system the server and every node
    /// share (version `v` of job `j` uses `<shared_dir>/<j>/<v>/`). `None`: the server uses
    /// `<data_dir>/slurm`, which only works when the server's machine is the only node.
    pub shared_dir: Option<PathBuf>,
    /// How often the poller asks Slurm about the tracked jobs (ms, default 1000, at least 100).
    pub poll_interval_ms: u64,
    /// Directory of the Slurm commands (`sbatch`, `squeue`, ...); `None`: looked up on `PATH`.
    pub bin_dir: Option<PathBuf>,
    /// `SLURM_CONF` for the commands; `None`: inherited from the server's environment. (The
    /// only variable of the server's environment besides the `[sandbox] env_allow` list that a
    /// job receives, since the Slurm commands inside the batch script need it.)
    pub slurm_conf: Option<PathBuf>,
    /// Job-name prefix (`<prefix>-<job_id>-<version_id>`); it marks this server's jobs, so two
    /// servers on one cluster need different prefixes. `None`: `ty` + a hash of `shared_dir`.
    pub job_name_prefix: Option<String>,
    /// Give each worker a node of its own (`--nodes=N --ntasks-per-node=1`) when the partition
    /// has at least N nodes (default true); otherwise Slurm packs the N tasks.
    pub spread_workers: bool,
    /// Time limit of one Slurm command (ms, default 30000).
    pub command_timeout_ms: u64,
}

impl Default for SlurmConfig {
    fn default() -> SlurmConfig {
        SlurmConfig {
            partition: None,
            account: None,
            qos: None,
            sbatch_args: Vec::new(),
            shared_dir: None,
            poll_interval_ms: 1000,
            bin_dir: None,
            slurm_conf: None,
            job_name_prefix: None,
            spread_workers: true,
            command_timeout_ms: 30_000,
        }
    }
}

/// How long after a submit the start marker is checked between polls.
const MARKER_WATCH: Duration = Duration::from_secs(30);
/// How often the start markers of recent submissions are checked.
const MARKER_TICK: Duration = Duration::from_millis(100);
/// Runs submitted this recently have their start marker checked every [`FAST_MARKER_TICK`]:
/// Slurm starts most jobs on an idle cluster within its ~1 s scheduling cycle, and a start seen
/// 100 ms late would be most of trainyard's own share of create → RUNNING.
const FAST_MARKER_WATCH: Duration = Duration::from_secs(5);
/// The marker check interval for runs younger than [`FAST_MARKER_WATCH`].
const FAST_MARKER_TICK: Duration = Duration::from_millis(20);
/// At most this many runs are watched at [`FAST_MARKER_TICK`]; beyond it (a burst of submits),
/// all recent runs are checked every [`MARKER_TICK`], so a tick stays a few hundred `stat`s.
const FAST_MARKER_MAX: usize = 64;
/// Runs submitted this recently and not started yet are asked about with their own `squeue`
/// every [`FRESH_SQUEUE_EVERY`] (at most [`FAST_MARKER_MAX`] of them, the youngest): slurmctld
/// starts jobs from a ~1 s cycle, so most jobs on an idle cluster start within this window.
const FRESH_SQUEUE_WATCH: Duration = Duration::from_secs(2);
/// How often the runs younger than [`FRESH_SQUEUE_WATCH`] are asked about.
const FRESH_SQUEUE_EVERY: Duration = Duration::from_millis(100);
/// Consecutive polls (both sources answering) that must miss a job before it is lost.
const LOST_AFTER_MISSES: u32 = 2;

/// The end of a run as the poller saw it.
#[derive(Clone, Debug)]
enum End {
    Outcome(RunOutcome),
    Lost(Lost),
}

/// What the poller knows about a run (published on a `watch` channel).
#[derive(Clone, Debug, Default)]
struct View {
    /// When the batch script started (epoch ms), once known.
    start: Option<i64>,
    /// Set once the job is over.
    end: Option<End>,
}

struct Run {
    handle: RunHandle,
    slurm_id: u64,
    registered: Instant,
    /// When this server submitted the job (epoch ms); `None` for a job it adopted or found.
    submitted_ms: Option<i64>,
    view: Arc<watch::Sender<View>>,
    stop_requested: bool,
    misses: u32,
}

impl Run {
    fn marker(&self) -> PathBuf {
        self.handle.log_dir.join(STARTED_MARKER)
    }

    /// The start of a job seen running: its start marker's time, else Slurm's start time (whole
    /// seconds, so it can fall up to a second before the submit: never before this server's
    /// submit when it made one), else `now`.
    fn start_time(&self, marker: Option<i64>, slurm_start: Option<i64>, now: i64) -> i64 {
        marker
            .or(slurm_start.map(|t| self.submitted_ms.map_or(t, |s| t.max(s))))
            .unwrap_or(now)
    }
}

/// A run the poller found over: its channel, handle, new view and what Slurm said.
type Final = (Arc<watch::Sender<View>>, RunHandle, View, Option<JobInfo>);

struct Shared {
    cfg: SlurmConfig,
    /// The `[sandbox]` rules that carry to Slurm: environment allow-list, protected directories
    /// (never a version path, never the shared directory), the `log_url` copy helper's policy.
    containment: Containment,
    shared_dir: PathBuf,
    prefix: String,
    cmds: Commands,
    poll: Duration,
    base_env: Option<Vec<(OsString, OsString)>>,
    runs: Mutex<HashMap<(i64, i64), Run>>,
    /// Earlier submissions of waiting versions found by `reconcile` (version → Slurm job id).
    found: Mutex<HashMap<(i64, i64), u64>>,
    /// Versions whose last sbatch may have reached Slurm without an answer: look before
    /// submitting again.
    uncertain: Mutex<HashSet<(i64, i64)>>,
    /// Nodes in the partition (0: unknown).
    nodes: AtomicU32,
    /// The last squeue answered.
    reachable: AtomicBool,
    /// Why the last poll failed, while it fails.
    last_error: Mutex<Option<String>>,
    /// Wakes the poller: a new run to watch (its start marker is checked from then on).
    wake: Arc<tokio::sync::Notify>,
    /// 0: sacct source not chosen yet, 1: accounting database, 2: `sacct -c` (job completion log).
    sacct_mode: AtomicU8,
}

/// Runs versions as Slurm batch jobs (module docs). Must be created inside a tokio runtime
/// (it starts its poller task); dropping it stops the poller, not the jobs.
pub struct SlurmExecutor {
    shared: Arc<Shared>,
    poller: tokio::task::AbortHandle,
}

impl std::fmt::Debug for SlurmExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlurmExecutor")
            .field("cfg", &self.shared.cfg)
            .field("prefix", &self.shared.prefix)
            .finish_non_exhaustive()
    }
}

impl Drop for SlurmExecutor {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

/// FNV-1a (stable across builds, unlike `DefaultHasher`), for the default job-name prefix.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// `<prefix>-<job>-<version>` → `(job, version)`.
fn parse_name(prefix: &str, name: &str) -> Option<(i64, i64)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let (j, v) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(j) || !digits(v) {
        return None;
    }
    Some((j.parse().ok()?, v.parse().ok()?))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Modification time of the start marker (epoch ms), if it exists.
fn marker_time(path: &Path) -> Option<i64> {
    let m = std::fs::metadata(path).ok()?;
    let t = m.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_millis()).ok()
}

impl SlurmExecutor {
    /// Creates the executor and starts its poller. `shared_dir` must be set (the server fills
    /// in its default). `containment` is the server's `[sandbox]` (its environment allow-list
    /// and protected directories apply to Slurm jobs too; `docs/security.md`).
    pub fn new(cfg: SlurmConfig, containment: Containment) -> SlurmExecutor {
        SlurmExecutor::with_base_env(cfg, containment, None)
    }

    /// As [`SlurmExecutor::new`], with the environment workers start from (`None`: the server's
    /// own, read at each submit); for tests.
    pub fn with_base_env(
        cfg: SlurmConfig,
        containment: Containment,
        base_env: Option<Vec<(OsString, OsString)>>,
    ) -> SlurmExecutor {
        let shared_dir = cfg
            .shared_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("trainyard-data/slurm"));
        let prefix = cfg.job_name_prefix.clone().unwrap_or_else(|| {
            format!("ty{:08x}", fnv1a(shared_dir.as_os_str().as_encoded_bytes()))
        });
        let shared = Arc::new(Shared {
            cmds: Commands {
                bin_dir: cfg.bin_dir.clone(),
                slurm_conf: cfg.slurm_conf.clone(),
                timeout: Duration::from_millis(cfg.command_timeout_ms.max(1000)),
            },
            poll: Duration::from_millis(cfg.poll_interval_ms.max(100)),
            cfg,
            containment,
            shared_dir,
            prefix,
            base_env,
            runs: Mutex::new(HashMap::new()),
            found: Mutex::new(HashMap::new()),
            uncertain: Mutex::new(HashSet::new()),
            nodes: AtomicU32::new(0),
            reachable: AtomicBool::new(true),
            last_error: Mutex::new(None),
            wake: Arc::new(tokio::sync::Notify::new()),
            sacct_mode: AtomicU8::new(0),
        });
        let task = tokio::spawn(poller(Arc::downgrade(&shared), shared.wake.clone()));
        SlurmExecutor {
            shared,
            poller: task.abort_handle(),
        }
    }

    /// The job-name prefix of this server's jobs.
    pub fn job_name_prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// `<shared_dir>/<job_id>/<version_id>`.
    pub fn log_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        self.shared
            .shared_dir
            .join(job_id.to_string())
            .join(version_id.to_string())
    }

    /// Checks that Slurm answers (`scontrol ping`, `sinfo`) and learns the partition's size.
    pub async fn check_ready(&self) -> Result<(), String> {
        let s = &self.shared;
        let ping = s
            .cmds
            .run("scontrol", ["ping"])
            .await
            .map_err(|e| match e {
                CmdError::Spawn(m) => format!(
                    "{m} (install the Slurm client commands, or set [executor.slurm] bin_dir)"
                ),
                e => format!("`scontrol ping` failed: {e}"),
            })?;
        if !ping.contains("is UP") {
            return Err(format!(
                "`scontrol ping` does not report slurmctld UP: {}",
                ping.trim()
            ));
        }
        let sinfo = s
            .cmds
            .run("sinfo", ["-h", "-o", "%P %D"])
            .await
            .map_err(|e| format!("`sinfo` failed: {e}"))?;
        let mut nodes = None;
        for line in sinfo.lines() {
            let mut f = line.split_whitespace();
            let (Some(p), Some(n)) = (f.next(), f.next()) else {
                continue;
            };
            let default = p.ends_with('*');
            let name = p.trim_end_matches('*');
            let wanted = match &s.cfg.partition {
                Some(want) => want == name,
                None => default,
            };
            if wanted {
                nodes = n.parse::<u32>().ok();
            }
        }
        match (nodes, &s.cfg.partition) {
            (Some(n), _) => s.nodes.store(n, Ordering::Relaxed),
            (None, Some(p)) => tracing::warn!(
                partition = %p,
                "the configured Slurm partition does not exist; submits will fail until it does"
            ),
            (None, None) => tracing::warn!("Slurm reports no default partition"),
        }
        std::fs::create_dir_all(&s.shared_dir).map_err(|e| {
            format!(
                "cannot create the shared directory {}: {e}",
                s.shared_dir.display()
            )
        })?;
        let real = std::fs::canonicalize(&s.shared_dir).unwrap_or_else(|_| s.shared_dir.clone());
        for p in &s.containment.protected {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            if crate::local::sandbox::overlaps(&real, &p) {
                return Err(format!(
                    "the Slurm shared directory {} overlaps the server's directory {} \
                     (jobs write there as the worker user; set [executor.slurm] shared_dir \
                     outside it)",
                    real.display(),
                    p.display()
                ));
            }
        }
        tracing::info!(
            prefix = %s.prefix,
            shared_dir = %s.shared_dir.display(),
            partition_nodes = nodes,
            "Slurm answers"
        );
        Ok(())
    }

    /// Checks the paths of `spec` (they exist; their real paths lie under the run's allowed
    /// roots and outside the server's protected directories and the shared directory, as for
    /// the local executor) and its worker identity (never root; one the cluster knows by
    /// name); the program is looked up on the nodes, not here. See [`Executor::preflight`].
    pub async fn preflight(&self, spec: &RunSpec) -> Result<(), PreflightError> {
        let spec = spec.clone();
        let protected = self.protected();
        tokio::task::spawn_blocking(move || {
            check_run_paths(spec.app_url.as_deref(), spec.boot_file.as_deref())
                .map_err(PreflightError::image)?;
            job_user(spec.identity).map_err(PreflightError::submit)?;
            check_version_paths(&spec, &protected).map_err(PreflightError::image)
        })
        .await
        .unwrap_or_else(|e| Err(PreflightError::submit(format!("pre-flight failed: {e}"))))
    }

    /// Directories no version path may overlap: the server's protected ones and the shared
    /// directory (other versions' scripts and logs).
    fn protected(&self) -> Vec<PathBuf> {
        let mut p = self.shared.containment.protected.clone();
        p.push(self.shared.shared_dir.clone());
        p
    }

    fn handle_for(&self, spec: &RunSpec, slurm_id: u64) -> RunHandle {
        RunHandle {
            job_id: spec.job_id,
            version_id: spec.version_id,
            log_dir: spec.log_dir.clone(),
            workers: spec.workers.max(1),
            identity: spec.identity,
            allowed_roots: spec.allowed_roots.clone(),
            backend: BackendHandle::Slurm {
                job_id: slurm_id,
                name: self.name(spec.job_id, spec.version_id),
            },
        }
    }

    fn name(&self, job_id: i64, version_id: i64) -> String {
        format!("{}-{job_id}-{version_id}", self.shared.prefix)
    }

    /// Submits one batch job for `spec`; see [`Executor::submit`]. Safe to repeat: a version
    /// with a tracked job, or an earlier submission found by `reconcile`, is not submitted again.
    pub async fn submit(&self, spec: &RunSpec) -> Result<RunHandle, SubmitError> {
        let s = &self.shared;
        let key = (spec.job_id, spec.version_id);
        if let Some(r) = s.lock().get(&key)
            && r.view.borrow().end.is_none()
        {
            return Ok(r.handle.clone());
        }
        if spec.workers == 0 {
            return Err(SubmitError::new("worker_server_num must be at least 1"));
        }
        let name = self.name(spec.job_id, spec.version_id);
        let earlier = s
            .found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let earlier = match earlier {
            Some(id) => Some(id),
            None if s.uncertain_contains(&key) => {
                let found = self.find_by_name(&name).await?;
                s.uncertain
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&key);
                found
            }
            None => None,
        };
        if let Some(id) = earlier {
            tracing::info!(
                job_id = key.0,
                version_id = key.1,
                slurm_job = id,
                "found an earlier submission"
            );
            let h = self.handle_for(spec, id);
            s.register(h.clone(), id, false);
            return Ok(h);
        }
        if !s.reachable.load(Ordering::Relaxed) {
            return Err(SubmitError::unreachable(
                "Slurm does not answer (the last squeue failed); the version stays waiting",
            ));
        }
        let who = job_user(spec.identity)
            .map_err(SubmitError::new)?
            .map(|(id, _)| id);
        {
            // the same rules again at submit, on the real paths as they are now
            let (sp, protected) = (spec.clone(), self.protected());
            tokio::task::spawn_blocking(move || check_version_paths(&sp, &protected))
                .await
                .map_err(|e| SubmitError::new(e.to_string()))?
                .map_err(SubmitError::new)?;
        }
        let dir = spec.log_dir.clone();
        let base = match &s.base_env {
            Some(b) => b.clone(),
            None => std::env::vars_os().collect(),
        };
        let home = dir.join(script::HOME_DIR);
        let mut env = worker_env(base, &s.containment.env_allow, spec, 0, None, Some(&home));
        if let Some(conf) = s
            .cfg
            .slurm_conf
            .clone()
            .or_else(|| std::env::var_os("SLURM_CONF").map(PathBuf::from))
        {
            // srun inside the batch script needs the cluster's configuration
            env.push(("SLURM_CONF".into(), conf.into_os_string()));
        }
        let js = JobScript {
            spec,
            name: &name,
            dir: &dir,
            env: &env,
            nodes: Some(s.nodes.load(Ordering::Relaxed)).filter(|n| *n > 0),
            partition: s.cfg.partition.as_deref(),
            account: s.cfg.account.as_deref(),
            qos: s.cfg.qos.as_deref(),
            spread: s.cfg.spread_workers,
            extra: &s.cfg.sbatch_args,
            bin_dir: s.cfg.bin_dir.as_deref(),
            user: who,
        };
        let script_path = dir.join(SCRIPT);
        let text = js.script();
        let args = js.sbatch_args(&script_path);
        let (d, p, workers) = (dir.clone(), script_path.clone(), spec.workers.max(1));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            make_version_dir(&d, who)?;
            // a new submission of this directory: no start or exit of an earlier one counts
            let stale = std::iter::once(d.join(STARTED_MARKER))
                .chain((0..workers).map(|i| crate::logs::exit_status_path(&d, i)));
            for f in stale {
                match std::fs::remove_file(&f) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            std::fs::write(&p, text)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| {
            SubmitError::new(format!(
                "cannot write the job script in {}: {e}",
                dir.display()
            ))
        })?;
        let out = match s.cmds.run("sbatch", &args).await {
            Ok(out) => out,
            Err(e) if e.is_unreachable() => {
                // it may have reached slurmctld: look for it before submitting again
                s.uncertain
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key);
                s.reachable.store(false, Ordering::Relaxed);
                *s.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("sbatch failed: {e}"));
                return Err(SubmitError::unreachable(format!(
                    "Slurm does not answer: {e}"
                )));
            }
            Err(e) => {
                let msg = e.to_string();
                let msg = msg
                    .strip_prefix("sbatch: error: ")
                    .unwrap_or(&msg)
                    .to_owned();
                tracing::warn!(job_id = key.0, version_id = key.1, reason = %msg, "sbatch refused the job");
                return Err(SubmitError::new(format!("Slurm refused the job: {msg}")));
            }
        };
        let first = out.trim().split(';').next().unwrap_or("");
        let id: u64 = first.trim().parse().map_err(|_| {
            SubmitError::new(format!(
                "sbatch printed no job id: {:?}",
                out.trim().chars().take(200).collect::<String>()
            ))
        })?;
        let h = self.handle_for(spec, id);
        s.register(h.clone(), id, true);
        tracing::info!(job_id = key.0, version_id = key.1, slurm_job = id, %name, "submitted to Slurm");
        Ok(h)
    }

    /// Looks a job up by name (after an sbatch whose answer was lost); the newest id.
    async fn find_by_name(&self, name: &str) -> Result<Option<u64>, SubmitError> {
        let s = &self.shared;
        let out = s
            .cmds
            .run(
                "squeue",
                [
                    "-h".into(),
                    "-t".into(),
                    "all".into(),
                    format!("--name={name}"),
                    "-O".into(),
                    SQUEUE_FORMAT.into(),
                ],
            )
            .await
            .map_err(|e| SubmitError::unreachable(format!("Slurm does not answer: {e}")))?;
        Ok(out
            .lines()
            .filter_map(state::parse_squeue_line)
            .filter(|j| j.name == name)
            .map(|j| j.id)
            .max())
    }

    /// Registers a stored handle with the poller; see [`Executor::adopt`]. Always `Ok` for a
    /// Slurm handle: whether the job runs, waits, ended while the server was away, or is unknown
    /// to Slurm is what the poller finds out ([`Executor::wait`] then reports it).
    pub async fn adopt(&self, handle: &RunHandle) -> Result<(), Lost> {
        let Some(id) = handle.slurm_job_id() else {
            return Err(Lost {
                reason: "the run was not started by the slurm executor".to_owned(),
                recorded: None,
            });
        };
        self.shared.register(handle.clone(), id, false);
        Ok(())
    }

    /// Cancels this server's jobs that no known version accounts for and remembers those of
    /// waiting versions; see [`Executor::reconcile`]. One squeue call.
    pub async fn reconcile(&self, known: &KnownRuns) -> Reconciled {
        let s = &self.shared;
        let adopted: HashSet<(i64, i64)> = known
            .adopted
            .iter()
            .map(|h| (h.job_id, h.version_id))
            .collect();
        let waiting: HashSet<(i64, i64)> = known.waiting.iter().copied().collect();
        let out = match s
            .cmds
            .run("squeue", ["-h", "-t", "all", "-O", SQUEUE_FORMAT])
            .await
        {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list Slurm jobs to reconcile; waiting versions are submitted again");
                return Reconciled::default();
            }
        };
        let mut orphans: Vec<JobInfo> = Vec::new();
        {
            let mut found = s.found.lock().unwrap_or_else(|e| e.into_inner());
            for info in out.lines().filter_map(state::parse_squeue_line) {
                let Some(key) = parse_name(&s.prefix, &info.name) else {
                    continue;
                };
                if adopted.contains(&key) {
                    continue;
                }
                if waiting.contains(&key) {
                    let e = found.entry(key).or_insert(info.id);
                    *e = (*e).max(info.id);
                    continue;
                }
                if state::phase_of(&info.state) != Some(Phase::Ended) {
                    orphans.push(info);
                }
            }
        }
        let mut ended = 0;
        for info in orphans {
            tracing::warn!(slurm_job = info.id, name = %info.name, "cancelling a Slurm job no version accounts for");
            match s.cmds.run("scancel", [info.id.to_string()]).await {
                Ok(_) => ended += 1,
                Err(e) => tracing::warn!(slurm_job = info.id, error = %e, "scancel failed"),
            }
        }
        Reconciled {
            orphans_ended: ended,
        }
    }

    fn receiver(&self, handle: &RunHandle) -> Option<watch::Receiver<View>> {
        self.shared
            .lock()
            .get(&(handle.job_id, handle.version_id))
            .map(|r| r.view.subscribe())
    }

    /// Resolves once the job started (with its start time) or ended without starting; see
    /// [`Executor::started`].
    pub async fn started(&self, handle: &RunHandle) -> Result<Started, ExecError> {
        let Some(mut rx) = self.receiver(handle) else {
            return Err(unknown(handle));
        };
        let v = rx
            .wait_for(|v| v.start.is_some() || v.end.is_some())
            .await
            .map_err(|_| ExecError::ShutDown)?
            .clone();
        Ok(match v.start {
            Some(t) => Started::At(Some(t)),
            None => Started::Never,
        })
    }

    /// Waits for the end of the job; see [`Executor::wait`].
    pub async fn wait(&self, handle: &RunHandle) -> Result<RunOutcome, ExecError> {
        let Some(rx) = self.receiver(handle) else {
            return Err(unknown(handle));
        };
        wait_end(rx).await
    }

    /// The outcome if the job ended; see [`Executor::try_outcome`].
    pub fn try_outcome(&self, handle: &RunHandle) -> Result<Option<RunOutcome>, ExecError> {
        match self.shared.lock().get(&(handle.job_id, handle.version_id)) {
            Some(r) => match &r.view.borrow().end {
                Some(End::Outcome(o)) => Ok(Some(o.clone())),
                Some(End::Lost(l)) => Err(ExecError::Lost(l.clone())),
                None => Ok(None),
            },
            None => Err(unknown(handle)),
        }
    }

    /// Stops the job: TERM (or cancels it while pending), KILL after `grace`; returns once the
    /// poller has seen it end. See [`Executor::stop`].
    pub async fn stop(&self, handle: &RunHandle, grace: Duration) -> Result<RunOutcome, ExecError> {
        let Some(id) = handle.slurm_job_id() else {
            return Err(ExecError::WrongExecutor);
        };
        let s = &self.shared;
        let key = (handle.job_id, handle.version_id);
        if !s.lock().contains_key(&key) {
            self.adopt(handle).await?;
        }
        let rx = {
            let mut runs = s.lock();
            let Some(r) = runs.get_mut(&key) else {
                return Err(unknown(handle));
            };
            r.stop_requested = true;
            r.view.subscribe()
        };
        if rx.borrow().end.is_some() {
            return wait_end(rx).await;
        }
        tracing::info!(
            job_id = key.0,
            version_id = key.1,
            slurm_job = id,
            grace_ms = grace.as_millis() as u64,
            "stopping Slurm job"
        );
        let started = rx.borrow().start.is_some();
        let term: Vec<String> = if started {
            vec!["--signal=TERM".into(), id.to_string()]
        } else {
            vec![id.to_string()]
        };
        self.scancel(&rx, &term).await;
        if let Ok(r) = tokio::time::timeout(grace, wait_end(rx.clone())).await {
            return r;
        }
        self.scancel(
            &rx,
            &["--signal=KILL".into(), "--full".into(), id.to_string()],
        )
        .await;
        self.scancel(&rx, &[id.to_string()]).await;
        wait_end(rx).await
    }

    /// Runs `scancel args`, retrying while Slurm cannot be reached and the job has not ended.
    /// A job that cannot be signalled because it is pending is cancelled instead.
    async fn scancel(&self, rx: &watch::Receiver<View>, args: &[String]) {
        let s = &self.shared;
        loop {
            if rx.borrow().end.is_some() {
                return;
            }
            match s.cmds.run("scancel", args).await {
                Ok(_) => return,
                Err(e) if e.is_unreachable() && !e.to_string().contains("can not be altered") => {
                    tracing::warn!(error = %e, "scancel: Slurm does not answer; retrying");
                    tokio::time::sleep(s.poll).await;
                }
                Err(e) => {
                    let m = e.to_string();
                    if m.contains("can not be altered") || m.contains("pending") {
                        // a signal to a pending job: cancel it
                        if let Some(id) = args.last() {
                            let _ = s.cmds.run("scancel", [id]).await;
                        }
                    } else if !m.contains("Invalid job id") && !m.contains("already completing") {
                        tracing::warn!(error = %m, "scancel failed");
                    }
                    return;
                }
            }
        }
    }

    /// Forgets a run; see [`Executor::forget`].
    pub fn forget(&self, handle: &RunHandle) {
        self.shared
            .lock()
            .remove(&(handle.job_id, handle.version_id));
    }
}

fn unknown(handle: &RunHandle) -> ExecError {
    ExecError::UnknownRun {
        job_id: handle.job_id,
        version_id: handle.version_id,
    }
}

async fn wait_end(mut rx: watch::Receiver<View>) -> Result<RunOutcome, ExecError> {
    let v = rx
        .wait_for(|v| v.end.is_some())
        .await
        .map_err(|_| ExecError::ShutDown)?
        .clone();
    match v.end {
        Some(End::Outcome(o)) => Ok(o),
        Some(End::Lost(l)) => Err(ExecError::Lost(l)),
        None => Err(ExecError::ShutDown),
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, HashMap<(i64, i64), Run>> {
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn uncertain_contains(&self, key: &(i64, i64)) -> bool {
        self.uncertain
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Watches `slurm_id` for `handle`; `submitted`: this server has just submitted it.
    fn register(&self, handle: RunHandle, slurm_id: u64, submitted: bool) {
        let key = (handle.job_id, handle.version_id);
        let mut runs = self.lock();
        if runs.get(&key).is_some_and(|r| r.slurm_id == slurm_id) {
            return;
        }
        let (tx, _) = watch::channel(View::default());
        runs.insert(
            key,
            Run {
                handle,
                slurm_id,
                registered: Instant::now(),
                submitted_ms: submitted.then(now_ms),
                view: Arc::new(tx),
                stop_requested: false,
                misses: 0,
            },
        );
        drop(runs);
        self.wake.notify_one();
    }

    /// One poll: one squeue for every tracked job, one sacct for those squeue no longer has.
    async fn poll_once(&self) {
        let tracked: Vec<u64> = self
            .lock()
            .values()
            .filter(|r| r.view.borrow().end.is_none())
            .map(|r| r.slurm_id)
            .collect();
        if tracked.is_empty() {
            // nothing to watch, but submits wait for Slurm to answer again: ask it (one cheap
            // call per interval, only while it has not answered)
            if !self.reachable.load(Ordering::Relaxed) {
                match self.cmds.run("scontrol", ["ping"]).await {
                    Ok(out) if out.contains("is UP") => {
                        self.reachable.store(true, Ordering::Relaxed);
                        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                        tracing::info!("Slurm answers again");
                    }
                    Ok(out) => {
                        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(format!("scontrol ping: {}", out.trim()));
                    }
                    Err(e) => {
                        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                            Some(format!("scontrol ping failed: {e}"));
                    }
                }
            }
            return;
        }
        let mut seen: HashMap<u64, JobInfo> = match self.squeue(&tracked).await {
            Ok(seen) => seen,
            // every id purged: squeue refuses the whole list
            Err(CmdError::Failed { message, .. }) if message.contains("Invalid job id") => {
                HashMap::new()
            }
            Err(e) => {
                if self.reachable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "squeue failed; statuses resume when Slurm answers again");
                }
                *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("squeue failed: {e}"));
                return;
            }
        };
        if !self.reachable.swap(true, Ordering::Relaxed) {
            tracing::info!("Slurm answers again");
        }
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let missing: Vec<u64> = tracked
            .iter()
            .copied()
            .filter(|id| !seen.contains_key(id))
            .collect();
        let mut both_answered = true;
        if !missing.is_empty() {
            match self.sacct(&missing).await {
                Ok(found) => seen.extend(found),
                Err(e) => {
                    both_answered = false;
                    tracing::debug!(error = %e, "sacct failed");
                }
            }
        }
        self.apply(&seen, both_answered).await;
    }

    /// One `squeue -t all --jobs=<ids>` call: what Slurm says of each job it still has, by id.
    async fn squeue(&self, ids: &[u64]) -> Result<HashMap<u64, JobInfo>, CmdError> {
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let args = [
            "-h".to_owned(),
            "-t".to_owned(),
            "all".to_owned(),
            format!("--jobs={list}"),
            "-O".to_owned(),
            SQUEUE_FORMAT.to_owned(),
        ];
        let out = self.cmds.run("squeue", &args).await?;
        Ok(out
            .lines()
            .filter_map(state::parse_squeue_line)
            .map(|j| (j.id, j))
            .collect())
    }

    /// Asks the accounting database (or the job-completion log) about ended jobs.
    async fn sacct(&self, ids: &[u64]) -> Result<HashMap<u64, JobInfo>, CmdError> {
        let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let run = |completion_log: bool| {
            let mut a: Vec<String> = vec!["-n".into(), "-P".into()];
            if completion_log {
                a.push("-c".into());
            } else {
                a.push("-X".into());
            }
            a.extend(["-j".into(), list.clone(), "-o".into(), SACCT_FIELDS.into()]);
            async move { self.cmds.run("sacct", &a).await }
        };
        let out = match self.sacct_mode.load(Ordering::Relaxed) {
            2 => run(true).await?,
            mode => match run(false).await {
                Ok(o) => {
                    self.sacct_mode.store(1, Ordering::Relaxed);
                    o
                }
                Err(CmdError::Failed { message, .. })
                    if mode == 0 && message.contains("accounting storage is disabled") =>
                {
                    let o = run(true).await?;
                    self.sacct_mode.store(2, Ordering::Relaxed);
                    tracing::info!(
                        "no Slurm accounting database: finished jobs are read from the job completion log (sacct -c)"
                    );
                    o
                }
                Err(e) => return Err(e),
            },
        };
        let wanted: HashSet<u64> = ids.iter().copied().collect();
        let mut found: HashMap<u64, JobInfo> = HashMap::new();
        for j in out.lines().filter_map(state::parse_sacct_line) {
            if wanted.contains(&j.id) && state::phase_of(&j.state) == Some(Phase::Ended) {
                // the job completion log may hold a job twice (requeued): the last line wins
                found.insert(j.id, j);
            }
        }
        Ok(found)
    }

    /// Applies what Slurm said to the tracked runs.
    async fn apply(&self, seen: &HashMap<u64, JobInfo>, both_answered: bool) {
        let now = now_ms();
        let mut finals: Vec<Final> = Vec::new();
        {
            let mut runs = self.lock();
            for r in runs.values_mut() {
                let cur = r.view.borrow().clone();
                if cur.end.is_some() {
                    continue;
                }
                let Some(info) = seen.get(&r.slurm_id) else {
                    if both_answered {
                        r.misses += 1;
                        if r.misses >= LOST_AFTER_MISSES {
                            let reason = format!(
                                "Slurm no longer knows job {} ({}): it is neither in squeue nor in sacct",
                                r.slurm_id,
                                match &r.handle.backend {
                                    BackendHandle::Slurm { name, .. } => name.as_str(),
                                    BackendHandle::Local { .. } => "",
                                }
                            );
                            tracing::warn!(job_id = r.handle.job_id, version_id = r.handle.version_id, %reason, "run lost");
                            let v = View {
                                start: cur.start,
                                end: Some(End::Lost(Lost {
                                    reason,
                                    recorded: None,
                                })),
                            };
                            finals.push((r.view.clone(), r.handle.clone(), v, None));
                        }
                    }
                    continue;
                };
                r.misses = 0;
                let phase = state::phase_of(&info.state).unwrap_or(
                    if info.start_ms.is_some_and(|t| t <= now) && info.state != "PENDING" {
                        Phase::Running
                    } else {
                        Phase::Waiting
                    },
                );
                match phase {
                    Phase::Waiting => {}
                    Phase::Running => {
                        if cur.start.is_none() {
                            let start = r.start_time(marker_time(&r.marker()), info.start_ms, now);
                            r.view.send_modify(|v| v.start = Some(start));
                        }
                    }
                    Phase::Ended => {
                        let marker = marker_time(&r.marker());
                        let ran = cur.start.is_some()
                            || marker.is_some()
                            || state::certainly_ran(&info.state);
                        let start = cur.start.or(if ran {
                            Some(r.start_time(marker, info.start_ms.or(info.end_ms), now))
                        } else {
                            None
                        });
                        let mut outcome =
                            state::outcome_of(info, r.handle.workers, r.stop_requested);
                        outcome.ended_at_ms =
                            Some(info.end_ms.unwrap_or(now).max(start.unwrap_or(i64::MIN)));
                        let v = View {
                            start,
                            end: Some(End::Outcome(outcome)),
                        };
                        finals.push((r.view.clone(), r.handle.clone(), v, Some(info.clone())));
                    }
                }
            }
        }
        for (tx, handle, mut v, info) in finals {
            // the writers are gone: an unterminated last line becomes visible; a failed job's
            // output is searched for Slurm's report of a memory kill
            let dir = handle.log_dir.clone();
            let workers = handle.workers;
            let (evidence, ends) = tokio::task::spawn_blocking(move || {
                let mut evidence = None;
                let mut ends = Vec::new();
                for i in 0..workers {
                    let log = crate::logs::log_path(&dir, i);
                    let _ = crate::logs::finalize_log(&log);
                    evidence =
                        evidence.or_else(|| tail(&log).and_then(|t| state::oom_evidence(&t)));
                    ends.push(worker_end(&crate::logs::exit_status_path(&dir, i)));
                }
                let evidence = evidence.or_else(|| {
                    tail(&dir.join(script::BATCH_LOG)).and_then(|t| state::oom_evidence(&t))
                });
                (evidence, ends)
            })
            .await
            .unwrap_or_default();
            if let (Some(End::Outcome(o)), Some(info)) = (&mut v.end, &info) {
                state::apply_worker_exits(o, info, &ends);
                if let Some(line) = &evidence {
                    state::mark_out_of_memory(o, info, line);
                }
            }
            if let Some(End::Outcome(o)) = &v.end {
                tracing::info!(job_id = handle.job_id, version_id = handle.version_id, exit_code = o.exit_code, reason = %o.reason, "Slurm job ended");
            }
            tx.send_replace(v);
        }
    }

    /// Between polls: runs submitted in the last [`MARKER_WATCH`] whose start marker appeared.
    /// Returns when to look again (`None` when no recent run is still unstarted,
    /// [`FAST_MARKER_TICK`] while a few runs are younger than [`FAST_MARKER_WATCH`], else
    /// [`MARKER_TICK`]) and the Slurm ids of the unstarted runs younger than
    /// [`FRESH_SQUEUE_WATCH`] (at most [`FAST_MARKER_MAX`], youngest first).
    fn check_markers(&self) -> (Option<Duration>, Vec<u64>) {
        let (mut recent, mut fresh) = (0usize, 0usize);
        let mut just_submitted: Vec<(Duration, u64)> = Vec::new();
        let runs = self.lock();
        for r in runs.values() {
            let age = r.registered.elapsed();
            if age > MARKER_WATCH {
                continue;
            }
            {
                let v = r.view.borrow();
                if v.start.is_some() || v.end.is_some() {
                    continue;
                }
            }
            if let Some(t) = marker_time(&r.marker()) {
                r.view.send_modify(|v| v.start = Some(t));
                continue;
            }
            recent += 1;
            if age <= FAST_MARKER_WATCH {
                fresh += 1;
            }
            if age <= FRESH_SQUEUE_WATCH {
                just_submitted.push((age, r.slurm_id));
            }
        }
        just_submitted.sort_unstable();
        just_submitted.truncate(FAST_MARKER_MAX);
        (
            marker_tick(recent, fresh),
            just_submitted.into_iter().map(|(_, id)| id).collect(),
        )
    }

    /// One `squeue` for the just-submitted, unstarted runs `ids`: those Slurm runs now are
    /// started (their start: the marker's time, else Slurm's start time). Ends and misses are
    /// left to [`Shared::poll_once`]; a failed call is only logged (the next poll reports it).
    async fn check_fresh(&self, ids: &[u64]) {
        let seen = match self.squeue(ids).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::debug!(error = %e, "squeue of just-submitted jobs failed");
                return;
            }
        };
        let now = now_ms();
        let runs = self.lock();
        for r in runs.values() {
            let Some(info) = seen.get(&r.slurm_id) else {
                continue;
            };
            if state::phase_of(&info.state) != Some(Phase::Running) {
                continue;
            }
            let unstarted = {
                let v = r.view.borrow();
                v.start.is_none() && v.end.is_none()
            };
            if unstarted {
                let start = r.start_time(marker_time(&r.marker()), info.start_ms, now);
                r.view.send_modify(|v| v.start = Some(start));
            }
        }
    }
}

/// The identity a version's job runs as, with its user name: the spec's (never root; a server
/// running as root must have one), which Slurm must know by name (`sbatch --uid` refuses a uid
/// without a passwd entry, so per-project uids need real users on the cluster). `None`: the
/// server's own user (a server that is not root submits as itself).
fn job_user(identity: Option<WorkerIdentity>) -> Result<Option<(WorkerIdentity, String)>, String> {
    let Some(id) = crate::local::worker_identity(identity)? else {
        return Ok(None);
    };
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(id.uid)) {
        Ok(Some(u)) => Ok(Some((id, u.name))),
        Ok(None) => Err(format!(
            "the worker uid {} has no passwd entry: Slurm runs jobs only as users it knows \
             (sbatch --uid); create the user on the server and the nodes, or use one service \
             user ([sandbox] identity = \"user\")",
            id.uid
        )),
        Err(e) => Err(format!("cannot look up uid {}: {e}", id.uid)),
    }
}

/// Checks the version paths of `spec` by their real paths: each lies under one of the run's
/// allowed roots and overlaps none of `protected` (the same check, `local::sandbox::prepare`,
/// that the local executor makes before its Landlock rules). Missing `data_url`/`train_url`
/// are left to the job (`train_url` is made by the batch script, as the worker user).
fn check_version_paths(spec: &RunSpec, protected: &[PathBuf]) -> Result<(), String> {
    let version = |field: &'static str, optional: bool| Kind::Version { field, optional };
    let mut g = Vec::new();
    if let Some(a) = &spec.app_url {
        g.push(Grant::new(a, Access3::ReadExec, version("app_url", false)));
    }
    if let Some(b) = &spec.boot_file {
        g.push(Grant::new(
            b,
            Access3::Read,
            version("boot_file_url", false),
        ));
    }
    if let Some(d) = &spec.data_url {
        g.push(Grant::new(d, Access3::Read, version("data_url", true)));
    }
    if let Some(t) = &spec.train_url {
        let t = Path::new(t);
        if t.exists() {
            g.push(Grant::new(
                t,
                Access3::ReadWrite,
                version("train_url", false),
            ));
        } else {
            // made by the batch script: where it will be (the real path of its nearest
            // existing parent plus the rest) must qualify
            check_missing_path("train_url", t, &spec.allowed_roots, protected)?;
        }
    }
    crate::local::sandbox::prepare(&g, &spec.allowed_roots, protected, LandlockMode::BestEffort)
        .map(|_| ())
}

/// The check of [`check_version_paths`] for a path that does not exist yet: the real path of
/// its nearest existing parent joined with the remaining components lies under a root and
/// overlaps no protected directory.
fn check_missing_path(
    field: &str,
    path: &Path,
    roots: &[PathBuf],
    protected: &[PathBuf],
) -> Result<(), String> {
    let canon = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let anchor = crate::local::nearest_existing(path)
        .ok_or_else(|| format!("{field} {} has no existing parent", path.display()))?;
    let rest = path.strip_prefix(&anchor).unwrap_or(Path::new(""));
    if rest
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!("{field} {} is not a plain path", path.display()));
    }
    let full = canon(&anchor).join(rest);
    let roots: Vec<PathBuf> = roots.iter().map(canon).collect();
    if !roots.is_empty() && !roots.iter().any(|r| full.starts_with(r)) {
        let list: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        return Err(format!(
            "{field} {} resolves to {}, which is outside the allowed roots ({})",
            path.display(),
            full.display(),
            list.join(", ")
        ));
    }
    if let Some(p) = protected
        .iter()
        .map(canon)
        .find(|p| crate::local::sandbox::overlaps(&full, p))
    {
        return Err(format!(
            "{field} {} resolves to {}, which overlaps the server's directory {}",
            path.display(),
            full.display(),
            p.display()
        ));
    }
    Ok(())
}

/// Creates a version's directory on the shared file system for the job's user: `<shared>/<job>`
/// traversable only (0711), the version's own directory 0700 and owned by `user` (Slurm opens
/// the workers' output files there as that user), so other users' jobs cannot read it.
fn make_version_dir(dir: &Path, user: Option<WorkerIdentity>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711))?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    if let Some(u) = user {
        std::os::unix::fs::lchown(dir, Some(u.uid), Some(u.gid))?;
    }
    Ok(())
}

/// A worker's exit recorded by the task wrapper, with the time it was written (read without
/// following a symlink the job may have planted: the directory is the job's).
fn worker_end(path: &Path) -> Option<(crate::outcome::WorkerExit, std::time::SystemTime)> {
    use std::io::Read;
    let mut f = crate::logs::open_regular(path).ok()?;
    let mut text = String::new();
    f.by_ref().take(64).read_to_string(&mut text).ok()?;
    let code: i32 = text.trim().parse().ok()?;
    let at = f.metadata().ok()?.modified().ok()?;
    Some((crate::outcome::WorkerExit::from_wrapper_code(code), at))
}

/// The last 8 KiB of a file as text (`None` if it cannot be read; symlinks are not followed).
fn tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = crate::logs::open_regular(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(8192))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// How long until the next marker check: `recent` unstarted runs younger than
/// [`MARKER_WATCH`], `fresh` of them younger than [`FAST_MARKER_WATCH`].
fn marker_tick(recent: usize, fresh: usize) -> Option<Duration> {
    match (recent, fresh) {
        (0, _) => None,
        (_, 1..=FAST_MARKER_MAX) => Some(FAST_MARKER_TICK),
        _ => Some(MARKER_TICK),
    }
}

/// The poller task: [`Shared::poll_once`] every poll interval, start markers of recent
/// submissions every [`FAST_MARKER_TICK`] or [`MARKER_TICK`] ([`marker_tick`]), just-submitted
/// runs' Slurm state every [`FRESH_SQUEUE_EVERY`] ([`Shared::check_fresh`]); a submit (`wake`)
/// starts both watches at once. Ends when the executor is dropped.
async fn poller(shared: std::sync::Weak<Shared>, wake: Arc<tokio::sync::Notify>) {
    let mut next_poll = tokio::time::Instant::now();
    let mut next_fresh = next_poll;
    loop {
        let Some(s) = shared.upgrade() else {
            return;
        };
        let now = tokio::time::Instant::now();
        let polled = now >= next_poll;
        if polled {
            s.poll_once().await;
            next_poll = tokio::time::Instant::now() + s.poll;
        }
        let (tick, fresh) = s.check_markers();
        let now = tokio::time::Instant::now();
        if !fresh.is_empty() && now >= next_fresh {
            if !polled {
                s.check_fresh(&fresh).await;
            }
            next_fresh = now + FRESH_SQUEUE_EVERY;
        }
        let mut until = match tick {
            Some(tick) => next_poll.min(tokio::time::Instant::now() + tick),
            None => next_poll,
        };
        if !fresh.is_empty() {
            until = until.min(next_fresh);
        }
        drop(s);
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = wake.notified() => {}
        }
    }
}

impl Executor for SlurmExecutor {
    fn kind(&self) -> &'static str {
        "slurm"
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(SlurmExecutor::check_ready(self))
    }

    fn health(&self) -> Result<(), String> {
        let s = &self.shared;
        if s.reachable.load(Ordering::Relaxed) {
            return Ok(());
        }
        let why = s
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_else(|| "sbatch failed".to_owned());
        Err(format!("Slurm does not answer ({why})"))
    }

    fn log_dir(&self, job_id: i64, version_id: i64) -> PathBuf {
        SlurmExecutor::log_dir(self, job_id, version_id)
    }

    fn preflight<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<(), PreflightError>> {
        Box::pin(SlurmExecutor::preflight(self, spec))
    }

    fn queues(&self) -> bool {
        true
    }

    fn submit<'a>(&'a self, spec: &'a RunSpec) -> BoxFuture<'a, Result<RunHandle, SubmitError>> {
        Box::pin(SlurmExecutor::submit(self, spec))
    }

    fn started<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<Started, ExecError>> {
        Box::pin(SlurmExecutor::started(self, handle))
    }

    fn adopt<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<(), Lost>> {
        Box::pin(SlurmExecutor::adopt(self, handle))
    }

    fn reconcile<'a>(&'a self, known: &'a KnownRuns) -> BoxFuture<'a, Reconciled> {
        Box::pin(SlurmExecutor::reconcile(self, known))
    }

    fn wait<'a>(&'a self, handle: &'a RunHandle) -> BoxFuture<'a, Result<RunOutcome, ExecError>> {
        Box::pin(SlurmExecutor::wait(self, handle))
    }

    fn try_outcome(&self, handle: &RunHandle) -> Result<Option<RunOutcome>, ExecError> {
        SlurmExecutor::try_outcome(self, handle)
    }

    fn stop<'a>(
        &'a self,
        handle: &'a RunHandle,
        grace: Duration,
    ) -> BoxFuture<'a, Result<RunOutcome, ExecError>> {
        Box::pin(SlurmExecutor::stop(self, handle, grace))
    }

    fn forget(&self, handle: &RunHandle) {
        SlurmExecutor::forget(self, handle);
    }

    fn copy_logs<'a>(
        &'a self,
        handle: &'a RunHandle,
        dest_dir: &'a Path,
        file_names: &'a [String],
    ) -> BoxFuture<'a, std::io::Result<Vec<PathBuf>>> {
        // with the worker's rights, on the server's machine (log_url is on the shared file
        // system too), exactly as the local executor does
        Box::pin(crate::local::copy_logs_with_rights(
            &self.shared.containment,
            Path::new("/bin/sh"),
            handle,
            dest_dir,
            file_names,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Stand-in Slurm commands (unit test only; the real cluster is in tests/it/slurm.rs): while
    /// `<dir>/down` exists they fail as when slurmctld is unreachable.
    fn fake_slurm(dir: &Path) -> PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let down = dir.join("down");
        let calls = dir.join("calls");
        let script = |body: &str| {
            format!(
                "#!/bin/sh\necho \"$(basename \"$0\")\" >> '{}'\nif [ -e '{}' ]; then echo 'error: Unable to contact slurm controller (connect failure)' >&2; exit 1; fi\n{body}\n",
                calls.display(),
                down.display()
            )
        };
        for (name, body) in [
            ("sbatch", "echo 4242"),
            ("scontrol", "echo 'Slurmctld(primary) at vm is UP'"),
            ("squeue", "echo '4242|PENDING|Priority|0|N/A|N/A||1:00|x|'"),
            ("sinfo", "echo 'debug* 1'"),
            ("sacct", "true"),
            ("scancel", "true"),
        ] {
            let p = bin.join(name);
            std::fs::write(&p, script(body)).expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        bin
    }

    /// After an sbatch that could not reach Slurm, with nothing else to poll, submits stay
    /// "retry later" only until `scontrol ping` answers again (regression: they stayed refused).
    #[tokio::test]
    async fn an_unreachable_slurm_is_asked_again_while_idle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = fake_slurm(dir.path());
        let ex = SlurmExecutor::with_base_env(
            SlurmConfig {
                bin_dir: Some(bin),
                shared_dir: Some(dir.path().join("shared")),
                poll_interval_ms: 100,
                ..SlurmConfig::default()
            },
            Containment::default(),
            Some(vec![]),
        );
        ex.check_ready().await.expect("ready");
        let spec = RunSpec {
            job_id: 1,
            version_id: 2,
            workers: 1,
            command: crate::RunCommand::Shell("true".into()),
            working_dir: dir.path().to_path_buf(),
            app_url: None,
            boot_file: None,
            env: vec![],
            data_url: None,
            train_url: None,
            log_dir: ex.log_dir(1, 2),
            resources: crate::Resources::default(),
            // a server running as root submits as an unprivileged user
            identity: nix::unistd::geteuid()
                .is_root()
                .then(|| WorkerIdentity::lookup("nobody", None).expect("nobody")),
            allowed_roots: vec![],
        };
        std::fs::write(dir.path().join("down"), "").expect("down");
        let e = ex.submit(&spec).await.expect_err("unreachable");
        assert!(e.retry_later, "{e:?}");
        assert!(Executor::health(&ex).is_err());
        // still down: refused without calling sbatch again
        let e = ex.submit(&spec).await.expect_err("unreachable");
        assert!(e.retry_later);
        std::fs::remove_file(dir.path().join("down")).expect("up");
        let t = Instant::now();
        while Executor::health(&ex).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "never asked Slurm again"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // the lost sbatch answer is looked for by name before submitting again
        let h = ex.submit(&spec).await.expect("submitted");
        assert_eq!(h.slurm_job_id(), Some(4242));
        let calls = std::fs::read_to_string(dir.path().join("calls")).expect("calls");
        assert_eq!(
            calls.lines().filter(|l| *l == "sbatch").count(),
            2,
            "{calls}"
        );
    }

    /// A submit to an idle executor wakes the poller: the start marker is seen without waiting
    /// for the next poll (regression: with nothing to watch, the poller slept a whole poll
    /// interval, and a run submitted meanwhile was seen starting only at the next poll; here the
    /// interval is 10 minutes, so the old poller would not see it within the 60 s allowed).
    #[tokio::test]
    async fn a_start_marker_is_seen_without_waiting_for_the_next_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = fake_slurm(dir.path());
        let ex = SlurmExecutor::with_base_env(
            SlurmConfig {
                bin_dir: Some(bin),
                shared_dir: Some(dir.path().join("shared")),
                poll_interval_ms: 600_000,
                ..SlurmConfig::default()
            },
            Containment::default(),
            Some(vec![]),
        );
        ex.check_ready().await.expect("ready");
        // let the poller make its first pass and go to sleep for the interval
        tokio::time::sleep(Duration::from_millis(300)).await;
        let spec = RunSpec {
            job_id: 3,
            version_id: 4,
            workers: 1,
            command: crate::RunCommand::Shell("true".into()),
            working_dir: dir.path().to_path_buf(),
            app_url: None,
            boot_file: None,
            env: vec![],
            data_url: None,
            train_url: None,
            log_dir: ex.log_dir(3, 4),
            resources: crate::Resources::default(),
            identity: nix::unistd::geteuid()
                .is_root()
                .then(|| WorkerIdentity::lookup("nobody", None).expect("nobody")),
            allowed_roots: vec![],
        };
        let h = ex.submit(&spec).await.expect("submitted");
        // what the batch script's first line does on the node
        std::fs::write(spec.log_dir.join(STARTED_MARKER), "").expect("marker");
        let started = tokio::time::timeout(Duration::from_secs(60), ex.started(&h))
            .await
            .expect("the start marker was not seen before the next poll");
        assert!(started.is_ok(), "{started:?}");
    }

    /// A just-submitted job that Slurm reports RUNNING is started before its script's first
    /// line and before the next poll (a fresh-run `squeue`): here the script never writes its
    /// marker and the poll interval is 10 minutes.
    #[tokio::test]
    async fn slurms_running_is_seen_for_a_just_submitted_job_before_the_next_poll() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = fake_slurm(dir.path());
        let ex = SlurmExecutor::with_base_env(
            SlurmConfig {
                bin_dir: Some(bin.clone()),
                shared_dir: Some(dir.path().join("shared")),
                poll_interval_ms: 600_000,
                ..SlurmConfig::default()
            },
            Containment::default(),
            Some(vec![]),
        );
        ex.check_ready().await.expect("ready");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let spec = RunSpec {
            job_id: 5,
            version_id: 6,
            workers: 1,
            command: crate::RunCommand::Shell("true".into()),
            working_dir: dir.path().to_path_buf(),
            app_url: None,
            boot_file: None,
            env: vec![],
            data_url: None,
            train_url: None,
            log_dir: ex.log_dir(5, 6),
            resources: crate::Resources::default(),
            identity: nix::unistd::geteuid()
                .is_root()
                .then(|| WorkerIdentity::lookup("nobody", None).expect("nobody")),
            allowed_roots: vec![],
        };
        let before = now_ms();
        let h = ex.submit(&spec).await.expect("submitted");
        // Slurm starts the job (its start time in whole seconds like Slurm's, and earlier than
        // the submit: 2000-01-01T00:00:00)
        let squeue = bin.join("squeue");
        let text = std::fs::read_to_string(&squeue).expect("read");
        let text = text.replace(
            "4242|PENDING|Priority|0|N/A|N/A||1:00|x|",
            "4242|RUNNING|None|0|2000-01-01T00:00:00|N/A|n1|1:00|x|",
        );
        let tmp = bin.join("squeue.new");
        std::fs::write(&tmp, text).expect("write");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&tmp, &squeue).expect("rename");
        let started = tokio::time::timeout(Duration::from_secs(60), ex.started(&h))
            .await
            .expect("Slurm's RUNNING was not seen before the next poll");
        // never before the submit (regression: Slurm's whole-second start time was taken as
        // is, so a version could start up to a second before it was submitted)
        let slurm =
            state::parse_squeue_line("4242|RUNNING|None|0|2000-01-01T00:00:00|N/A|n1|1:00|x|")
                .and_then(|j| j.start_ms)
                .expect("parsed");
        assert!(slurm < before);
        let after = now_ms();
        assert!(
            matches!(started, Ok(Started::At(Some(t))) if (before..=after).contains(&t)),
            "{started:?}, want a time between the submit {before} and {after}"
        );
        // the fresh-run squeue ran only for the just-submitted job, a bounded number of times
        let calls = std::fs::read_to_string(dir.path().join("calls")).expect("calls");
        let squeues = calls.lines().filter(|l| *l == "squeue").count();
        assert!(
            squeues
                <= 1 + 2
                    * (FRESH_SQUEUE_WATCH.as_millis() / FRESH_SQUEUE_EVERY.as_millis()) as usize,
            "{squeues} squeue calls"
        );
    }

    #[test]
    fn marker_checks_are_fast_for_a_few_fresh_runs_only() {
        assert_eq!(marker_tick(0, 0), None);
        assert_eq!(marker_tick(3, 0), Some(MARKER_TICK));
        assert_eq!(marker_tick(3, 1), Some(FAST_MARKER_TICK));
        assert_eq!(marker_tick(100, FAST_MARKER_MAX), Some(FAST_MARKER_TICK));
        assert_eq!(marker_tick(100, FAST_MARKER_MAX + 1), Some(MARKER_TICK));
    }

    #[test]
    fn names_round_trip_and_prefixes_differ_per_shared_dir() {
        assert_eq!(parse_name("ty", "ty-12-345"), Some((12, 345)));
        assert_eq!(parse_name("ty", "tyx-12-345"), None);
        assert_eq!(parse_name("ty", "ty-12"), None);
        assert_eq!(parse_name("ty", "ty-12-3a"), None);
        assert_eq!(parse_name("ty", "other"), None);
        assert_ne!(fnv1a(b"/a/slurm"), fnv1a(b"/b/slurm"));
        // FNV-1a test vector
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }
}
