//! Error types.

/// A run could not be started (→ 5 JOBSTAT_SUBMIT_FAILED with `reason` as `status_reason`).
///
/// Nothing of the run is left running when this is returned: workers started before the
/// failure have been killed and reaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SubmitError {
    /// One line saying what failed, e.g. `engine command "pythn3" not found on PATH`.
    pub reason: String,
    /// The engine could not be reached (e.g. `slurmctld` is down): nothing was refused, so the
    /// supervisor keeps the version waiting and submits it again later instead of failing it.
    pub retry_later: bool,
}

impl SubmitError {
    pub(crate) fn new(reason: impl Into<String>) -> SubmitError {
        SubmitError {
            reason: one_line(reason.into()),
            retry_later: false,
        }
    }

    pub(crate) fn unreachable(reason: impl Into<String>) -> SubmitError {
        SubmitError {
            reason: one_line(reason.into()),
            retry_later: true,
        }
    }
}

/// A run cannot be adopted after a restart (→ 14 JOBSTAT_LOST with `reason` as
/// `status_reason`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Lost {
    /// One line, e.g. `worker 0 (pid 1234) is gone`.
    pub reason: String,
    /// When every worker ended while the server was away and all of them recorded their exit
    /// status, the outcome they would have produced (informational: the version is still lost
    /// per `runtime.md`, but its `exit_code` can be kept).
    pub recorded: Option<crate::RunOutcome>,
}

/// Errors of [`crate::Executor::wait`], [`crate::Executor::stop`] and friends.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The handle is not known to this executor (not submitted or adopted by it, or forgotten).
    #[error("run of job {job_id} version {version_id} is not known to this executor")]
    UnknownRun {
        /// The job id of the handle.
        job_id: i64,
        /// The version id of the handle.
        version_id: i64,
    },
    /// The handle belongs to another executor kind.
    #[error("handle belongs to another executor")]
    WrongExecutor,
    /// The run's processes are gone and cannot be found again (stop of an unknown run).
    #[error(transparent)]
    Lost(#[from] Lost),
    /// The run's monitor ended without an outcome (the executor is shutting down).
    #[error("executor shut down before the run ended")]
    ShutDown,
}

/// Collapses a message to one line (newlines become spaces).
pub(crate) fn one_line(s: String) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s
    }
}

/// Which step of `statuses.md` a pre-flight refusal belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreflightStage {
    /// The run environment cannot be prepared (`app_url` or the boot file is missing):
    /// 2 IMAGE_CREATING → 3 JOBSTAT_IMAGE_FAILED.
    Image,
    /// The executor cannot start it (the engine command cannot be found, the cluster refuses
    /// the request): 4 SUBMIT_TRYING → 5 JOBSTAT_SUBMIT_FAILED.
    Submit,
}

/// A version that cannot run, found before anything was started ([`crate::Executor::preflight`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PreflightError {
    /// The step that refuses it (→ 3 or 5).
    pub stage: PreflightStage,
    /// One line naming what is wrong, e.g. `boot file /srv/code/train.py does not exist`.
    pub reason: String,
}

impl PreflightError {
    /// A refusal of the image step (→ 3 JOBSTAT_IMAGE_FAILED).
    pub fn image(reason: impl Into<String>) -> PreflightError {
        PreflightError {
            stage: PreflightStage::Image,
            reason: one_line(reason.into()),
        }
    }

    /// A refusal of the submit step (→ 5 JOBSTAT_SUBMIT_FAILED).
    pub fn submit(reason: impl Into<String>) -> PreflightError {
        PreflightError {
            stage: PreflightStage::Submit,
            reason: one_line(reason.into()),
        }
    }
}
