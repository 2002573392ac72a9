//! The store's errors: the same for every engine. Engine errors are kept as an opaque source
//! (for the server log), never as a type of the engine's driver.

use trainyard_api::status::JobStatus;

/// An engine's error, kept for the log.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Store errors. Messages never carry SQL, URLs or paths; the server logs the source of
/// `Unavailable` and `Backend`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The job, version or config does not exist (in this project).
    #[error("not found")]
    NotFound,
    /// `job_name` is already used in this project and workspace (or a config name in the
    /// project). For imports, `line` is the 0-based index of the first offending record.
    #[error("job_name {name:?} is already used in this workspace")]
    DuplicateName {
        /// The name.
        name: String,
        /// Record index, for imports.
        line: Option<usize>,
    },
    /// The project's `max_jobs` would be exceeded.
    #[error("the project may hold at most {max_jobs} jobs")]
    QuotaExceeded {
        /// The configured limit.
        max_jobs: u64,
    },
    /// A status change the state machine forbids (e.g. leaving a terminal status), or a
    /// compare-and-set whose expected status did not match.
    #[error("version status is {0}")]
    Conflict(JobStatus),
    /// A status write made for the scheduler leader of `epoch` was refused: another replica
    /// took the lease over since (its epoch is `current`). Nothing was changed.
    #[error("this replica is no longer the scheduler leader (epoch {epoch}, now {current})")]
    Fenced {
        /// The epoch the write was made for.
        epoch: u64,
        /// The lease's epoch now.
        current: u64,
    },
    /// The database cannot be reached right now (connection refused or lost, the server
    /// shutting down): nothing was changed, or the change's outcome is unknown; retry later.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// The database failed.
    #[error("storage error")]
    Backend(#[source] BoxError),
    /// A stored value could not be decoded.
    #[error("corrupt stored value")]
    Corrupt(#[source] BoxError),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(Box::new(e))
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
