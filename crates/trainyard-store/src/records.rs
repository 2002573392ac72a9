//! Row types of the store (separate from the wire types, which they convert to).

use trainyard_api::jobs::{Engine, JobConfig, Spec, VersionInfo};
use trainyard_api::status::JobStatus;

/// A job as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// Job id.
    pub job_id: i64,
    /// Owning project.
    pub project_id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Name (NFC).
    pub job_name: String,
    /// Description.
    pub job_desc: String,
    /// Versions that exist.
    pub version_count: i64,
    /// Highest existing version id.
    pub latest_version_id: i64,
    /// Number of the next version (`V{next:04}`).
    pub next_version_no: i64,
    /// Creation time, epoch ms.
    pub created_at: i64,
}

/// A version as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionRecord {
    /// Version id.
    pub version_id: i64,
    /// Job id.
    pub job_id: i64,
    /// Per-job number (1 → `V0001`).
    pub version_no: i64,
    /// The version it was created from.
    pub pre_version_id: Option<i64>,
    /// Its own description.
    pub version_desc: String,
    /// Status.
    pub status: JobStatus,
    /// Creation time, epoch ms.
    pub create_time: i64,
    /// Start time, epoch ms.
    pub start_time: Option<i64>,
    /// End time, epoch ms.
    pub end_time: Option<i64>,
    /// Stored duration in ms (frozen at the end).
    pub duration: i64,
    /// Exit code (see `training-jobs.md` §3).
    pub exit_code: Option<i64>,
    /// One-line reason.
    pub status_reason: String,
    /// Engine snapshot at creation (None for custom commands without an engine).
    pub engine: Option<Engine>,
    /// Spec snapshot at creation.
    pub spec: Spec,
    /// Workers.
    pub worker_server_num: i64,
    /// The full config.
    pub config: JobConfig,
    /// Executor handle (JSON) while it runs.
    pub run_handle: Option<String>,
    /// True for imported history.
    pub imported: bool,
}

impl VersionRecord {
    /// `V` + 4 digits.
    pub fn version_name(&self) -> String {
        format!("V{:04}", self.version_no)
    }

    /// The duration shown at `now_ms`: live while RUNNING/KILLING, else the stored value.
    pub fn duration_at(&self, now_ms: i64) -> i64 {
        match self.start_time {
            Some(s) if self.status.is_live() => now_ms.saturating_sub(s).max(0),
            _ => self.duration.max(0),
        }
    }

    /// The stable opaque resource id of this version.
    pub fn resource_id(&self) -> String {
        format!("ty-{}-{}", self.job_id, self.version_id)
    }

    /// The wire version object (`training-jobs.md` §3) at `now_ms`.
    pub fn to_info(&self, job: &JobRecord, now_ms: i64) -> VersionInfo {
        let c = &self.config;
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        VersionInfo {
            job_id: self.job_id,
            job_name: job.job_name.clone(),
            job_desc: job.job_desc.clone(),
            version_id: self.version_id,
            version_name: self.version_name(),
            pre_version_id: self.pre_version_id,
            engine_type: self.engine.as_ref().map_or(0, |e| e.engine_type),
            engine_name: self
                .engine
                .as_ref()
                .map_or_else(String::new, |e| e.engine_name.clone()),
            engine_id: self.engine.as_ref().map(|e| e.engine_id),
            engine_version: self
                .engine
                .as_ref()
                .map_or_else(String::new, |e| e.engine_version.clone()),
            status: self.status,
            app_url: s(&c.app_url),
            boot_file_url: s(&c.boot_file_url),
            create_time: self.create_time,
            start_time: self.start_time,
            end_time: self.end_time,
            duration: self.duration_at(now_ms),
            parameter: c.parameter.clone().unwrap_or_default(),
            spec_id: self.spec.spec_id,
            spec_code: self.spec.spec_code.clone(),
            core: self.spec.core.clone(),
            cpu: self.spec.cpu.clone(),
            gpu_num: self.spec.gpu_num,
            gpu_type: self.spec.gpu_type.clone(),
            worker_server_num: self.worker_server_num,
            data_url: s(&c.data_url),
            train_url: s(&c.train_url),
            log_url: s(&c.log_url),
            user_image_url: s(&c.user_image_url),
            user_command: s(&c.user_command),
            resource_id: self.resource_id(),
            version_desc: self.version_desc.clone(),
            exit_code: self.exit_code,
            status_reason: self.status_reason.clone(),
        }
    }
}

/// A job to create.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Project.
    pub project_id: String,
    /// Workspace.
    pub workspace_id: String,
    /// Name (NFC, checked).
    pub job_name: String,
    /// Description.
    pub job_desc: String,
}

/// A version to create (status INIT).
#[derive(Clone, Debug)]
pub struct NewVersion {
    /// Creation time, epoch ms.
    pub create_time: i64,
    /// Its own description.
    pub version_desc: String,
    /// Engine snapshot.
    pub engine: Option<Engine>,
    /// Spec snapshot.
    pub spec: Spec,
    /// Full config (after inheritance).
    pub config: JobConfig,
}

/// A status change of a version. `None` fields keep their stored value.
#[derive(Clone, Debug)]
pub struct StatusUpdate {
    /// The new status.
    pub status: JobStatus,
    /// Set on entering RUNNING.
    pub start_time: Option<i64>,
    /// Set on entering a terminal status.
    pub end_time: Option<i64>,
    /// Frozen duration, set with `end_time`.
    pub duration: Option<i64>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Reason line.
    pub status_reason: Option<String>,
    /// `Some(x)` replaces the run handle with `x` (`Some(None)` clears it).
    pub run_handle: Option<Option<String>>,
    /// If set, the update applies only when the current status is one of these (compare-and-set).
    pub expect: Option<Vec<JobStatus>>,
    /// If set, the update is made for the scheduler leader of this epoch and applies only while
    /// that epoch holds the lease ([`crate::Store::try_lead`]; else `StoreError::Fenced`).
    /// Engines with one server per store (SQLite) have no lease and ignore it.
    pub fence: Option<u64>,
}

impl StatusUpdate {
    /// A bare status change.
    pub fn to(status: JobStatus) -> StatusUpdate {
        StatusUpdate {
            status,
            start_time: None,
            end_time: None,
            duration: None,
            exit_code: None,
            status_reason: None,
            run_handle: None,
            expect: None,
            fence: None,
        }
    }
}

/// A version the supervisor must resume or reconcile at start.
#[derive(Clone, Debug)]
pub struct RunningVersion {
    /// Version id.
    pub version_id: i64,
    /// Job id.
    pub job_id: i64,
    /// Project.
    pub project_id: String,
    /// Stored status.
    pub status: JobStatus,
    /// Creation time (FIFO order).
    pub create_time: i64,
    /// Executor handle JSON, if it was submitted.
    pub run_handle: Option<String>,
}
