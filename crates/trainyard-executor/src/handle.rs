//! [`RunHandle`]: what the supervisor persists to find a run again, even after a restart.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A submitted run, as stored by the supervisor (serialise it with serde, e.g. to JSON, next to
/// the version) and handed back to [`crate::Executor`] methods, or to
/// [`crate::Executor::adopt`] after a server restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHandle {
    /// The job id of the run.
    pub job_id: i64,
    /// The version id of the run.
    pub version_id: i64,
    /// The log directory of the run ([`crate::RunSpec::log_dir`]).
    pub log_dir: PathBuf,
    /// Number of workers.
    pub workers: u32,
    /// The identity the workers run as ([`crate::RunSpec::identity`]); helpers working for the
    /// run after it ended (the `log_url` copy) use it too.
    #[serde(default)]
    pub identity: Option<crate::WorkerIdentity>,
    /// The allowed roots of the run's version paths ([`crate::RunSpec::allowed_roots`]).
    #[serde(default)]
    pub allowed_roots: Vec<PathBuf>,
    /// The executor-specific part.
    pub backend: BackendHandle,
}

/// The executor-specific part of a [`RunHandle`]; one variant per executor kind
/// (serialised with a `kind` tag, e.g. `{"kind":"local","workers":[...]}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackendHandle {
    /// Processes on this machine ([`crate::LocalExecutor`]).
    Local {
        /// One entry per worker, in worker order.
        workers: Vec<LocalWorker>,
    },
    /// One batch job on a Slurm cluster ([`crate::SlurmExecutor`]), `{"kind":"slurm",...}`.
    Slurm {
        /// The Slurm job id (`sbatch --parsable`).
        job_id: u64,
        /// The job name (`<prefix>-<job_id>-<version_id>`), the key that finds the job again.
        name: String,
    },
}

/// One local worker process: the `sh` wrapper that leads the worker's session and process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalWorker {
    /// Worker index (0-based).
    pub index: u32,
    /// Pid of the worker's wrapper process (the session and process-group leader).
    pub pid: i32,
    /// Process group id (equal to `pid`: every worker leads its own session).
    pub pgid: i32,
    /// Start time of `pid` in clock ticks since boot (field 22 of `/proc/<pid>/stat`); guards
    /// against pid reuse when adopting.
    pub start_time: u64,
}

impl RunHandle {
    /// The local workers of this handle, or `None` for another executor kind.
    pub fn local_workers(&self) -> Option<&[LocalWorker]> {
        match &self.backend {
            BackendHandle::Local { workers } => Some(workers),
            BackendHandle::Slurm { .. } => None,
        }
    }

    /// The Slurm job id of this handle, or `None` for another executor kind.
    pub fn slurm_job_id(&self) -> Option<u64> {
        match &self.backend {
            BackendHandle::Slurm { job_id, .. } => Some(*job_id),
            BackendHandle::Local { .. } => None,
        }
    }

    /// Serialises the handle to JSON (for the store).
    pub fn to_json(&self) -> String {
        // A struct of integers, strings and paths always serialises; paths that are not UTF-8
        // are the only failure and are written lossily instead.
        serde_json::to_string(self).unwrap_or_else(|_| {
            let mut lossy = self.clone();
            lossy.log_dir = PathBuf::from(self.log_dir.to_string_lossy().into_owned());
            serde_json::to_string(&lossy).unwrap_or_default()
        })
    }

    /// Parses a handle stored with [`RunHandle::to_json`].
    pub fn from_json(s: &str) -> Result<RunHandle, serde_json::Error> {
        serde_json::from_str(s)
    }
}
