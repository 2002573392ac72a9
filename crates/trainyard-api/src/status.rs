//! Status codes of a training-job version (`statuses.md`).

use serde_repr::{Deserialize_repr, Serialize_repr};
use std::fmt;

/// The status of a version, serialised as its integer code (0–22), as in `statuses.md`.
///
/// A job shows the status of its latest version.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize_repr, Deserialize_repr,
)]
#[repr(u8)]
pub enum JobStatus {
    /// 0 `JOBSTAT_UNKNOWN`.
    Unknown = 0,
    /// 1 `JOBSTAT_INIT`: accepted, being initialised.
    Init = 1,
    /// 2 `JOBSTAT_IMAGE_CREATING`: preparing the run environment.
    ImageCreating = 2,
    /// 3 `JOBSTAT_IMAGE_FAILED`: the run environment could not be prepared (terminal).
    ImageFailed = 3,
    /// 4 `JOBSTAT_SUBMIT_TRYING`: being submitted to the executor.
    SubmitTrying = 4,
    /// 5 `JOBSTAT_SUBMIT_FAILED`: the executor refused or could not start it (terminal).
    SubmitFailed = 5,
    /// 6 `JOBSTAT_DELETE_FAILED` (terminal).
    DeleteFailed = 6,
    /// 7 `JOBSTAT_WAITING`: queued.
    Waiting = 7,
    /// 8 `JOBSTAT_RUNNING`.
    Running = 8,
    /// 9 `JOBSTAT_KILLING`: stop requested.
    Killing = 9,
    /// 10 `JOBSTAT_COMPLETED`: all workers exited 0 (terminal).
    Completed = 10,
    /// 11 `JOBSTAT_FAILED` (terminal).
    Failed = 11,
    /// 12 `JOBSTAT_KILLED`: stopped by a user (terminal).
    Killed = 12,
    /// 13 `JOBSTAT_CANCELED`: cancelled before it started (terminal).
    Canceled = 13,
    /// 14 `JOBSTAT_LOST`: the server lost track of it (terminal).
    Lost = 14,
    /// 15 `JOBSTAT_SCALING`.
    Scaling = 15,
    /// 16 `JOBSTAT_SUBMIT_MODEL_FAILED` (terminal).
    SubmitModelFailed = 16,
    /// 17 `JOBSTAT_DEPLOY_SERVICE_FAILED` (terminal).
    DeployServiceFailed = 17,
    /// 18 `JOBSTAT_CHECK_INIT`.
    CheckInit = 18,
    /// 19 `JOBSTAT_CHECK_RUNNING`.
    CheckRunning = 19,
    /// 20 `JOBSTAT_CHECK_RUNNING_COMPLETED` (terminal).
    CheckRunningCompleted = 20,
    /// 21 `JOBSTAT_CHECK_FAILED` (terminal).
    CheckFailed = 21,
    /// 22 `JOBSTAT_MOUNT_FAILED` (terminal).
    MountFailed = 22,
}

/// Every status, indexed by its code.
pub const ALL_STATUSES: [JobStatus; 23] = [
    JobStatus::Unknown,
    JobStatus::Init,
    JobStatus::ImageCreating,
    JobStatus::ImageFailed,
    JobStatus::SubmitTrying,
    JobStatus::SubmitFailed,
    JobStatus::DeleteFailed,
    JobStatus::Waiting,
    JobStatus::Running,
    JobStatus::Killing,
    JobStatus::Completed,
    JobStatus::Failed,
    JobStatus::Killed,
    JobStatus::Canceled,
    JobStatus::Lost,
    JobStatus::Scaling,
    JobStatus::SubmitModelFailed,
    JobStatus::DeployServiceFailed,
    JobStatus::CheckInit,
    JobStatus::CheckRunning,
    JobStatus::CheckRunningCompleted,
    JobStatus::CheckFailed,
    JobStatus::MountFailed,
];

const NAMES: [&str; 23] = [
    "JOBSTAT_UNKNOWN",
    "JOBSTAT_INIT",
    "JOBSTAT_IMAGE_CREATING",
    "JOBSTAT_IMAGE_FAILED",
    "JOBSTAT_SUBMIT_TRYING",
    "JOBSTAT_SUBMIT_FAILED",
    "JOBSTAT_DELETE_FAILED",
    "JOBSTAT_WAITING",
    "JOBSTAT_RUNNING",
    "JOBSTAT_KILLING",
    "JOBSTAT_COMPLETED",
    "JOBSTAT_FAILED",
    "JOBSTAT_KILLED",
    "JOBSTAT_CANCELED",
    "JOBSTAT_LOST",
    "JOBSTAT_SCALING",
    "JOBSTAT_SUBMIT_MODEL_FAILED",
    "JOBSTAT_DEPLOY_SERVICE_FAILED",
    "JOBSTAT_CHECK_INIT",
    "JOBSTAT_CHECK_RUNNING",
    "JOBSTAT_CHECK_RUNNING_COMPLETED",
    "JOBSTAT_CHECK_FAILED",
    "JOBSTAT_MOUNT_FAILED",
];

impl JobStatus {
    /// The integer code (0–22).
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The status with this code, or `None` outside 0–22.
    pub fn from_code(code: i64) -> Option<JobStatus> {
        usize::try_from(code)
            .ok()
            .and_then(|i| ALL_STATUSES.get(i).copied())
    }

    /// The `JOBSTAT_*` name, e.g. `JOBSTAT_RUNNING`.
    pub const fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The name without the `JOBSTAT_` prefix, e.g. `RUNNING`.
    pub fn short_name(self) -> &'static str {
        &self.name()["JOBSTAT_".len()..]
    }

    /// Parses a code (`8`), a full name (`JOBSTAT_RUNNING`) or a short name (`RUNNING`,
    /// case-insensitive). Used by the CLI; the REST API accepts codes only.
    pub fn parse_loose(s: &str) -> Option<JobStatus> {
        let s = s.trim();
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<i64>().ok().and_then(JobStatus::from_code);
        }
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("JOBSTAT_").unwrap_or(&upper);
        ALL_STATUSES
            .iter()
            .copied()
            .find(|st| st.short_name() == bare)
    }

    /// True for statuses that never change again (`statuses.md`, "terminal" column).
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::ImageFailed
                | JobStatus::SubmitFailed
                | JobStatus::DeleteFailed
                | JobStatus::Completed
                | JobStatus::Failed
                | JobStatus::Killed
                | JobStatus::Canceled
                | JobStatus::Lost
                | JobStatus::SubmitModelFailed
                | JobStatus::DeployServiceFailed
                | JobStatus::CheckRunningCompleted
                | JobStatus::CheckFailed
                | JobStatus::MountFailed
        )
    }

    /// True while the duration is live (`now - start_time`): RUNNING (8) and KILLING (9).
    pub const fn is_live(self) -> bool {
        matches!(self, JobStatus::Running | JobStatus::Killing)
    }

    /// True for statuses from which a stop cancels the version (1, 2, 4, 7 → 13).
    pub const fn is_cancelable(self) -> bool {
        matches!(
            self,
            JobStatus::Init
                | JobStatus::ImageCreating
                | JobStatus::SubmitTrying
                | JobStatus::Waiting
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// OpenAPI: an integer 0–22 (`statuses.md`), the names in the description.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for JobStatus {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let names: Vec<String> = ALL_STATUSES
            .iter()
            .map(|s| format!("{} {}", s.code(), s.name()))
            .collect();
        ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Integer))
            .minimum(Some(0))
            .maximum(Some(22))
            .description(Some(format!(
                "Version status code (statuses.md): {}",
                names.join(", ")
            )))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for JobStatus {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for (i, st) in ALL_STATUSES.iter().enumerate() {
            assert_eq!(st.code() as usize, i);
            assert_eq!(JobStatus::from_code(i as i64), Some(*st));
            assert_eq!(JobStatus::parse_loose(st.name()), Some(*st));
            assert_eq!(JobStatus::parse_loose(&i.to_string()), Some(*st));
        }
        assert_eq!(JobStatus::from_code(23), None);
        assert_eq!(JobStatus::from_code(-1), None);
        assert_eq!(JobStatus::parse_loose("running"), Some(JobStatus::Running));
        assert_eq!(JobStatus::Running.name(), "JOBSTAT_RUNNING");
        assert_eq!(JobStatus::parse_loose("bogus"), None);
    }

    #[test]
    fn terminal_set_matches_statuses_md() {
        let terminal: Vec<u8> = ALL_STATUSES
            .iter()
            .filter(|s| s.is_terminal())
            .map(|s| s.code())
            .collect();
        assert_eq!(
            terminal,
            vec![3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 20, 21, 22]
        );
    }

    #[test]
    fn serialises_as_integer() {
        assert_eq!(serde_json::to_string(&JobStatus::Failed).unwrap(), "11");
        assert_eq!(
            serde_json::from_str::<JobStatus>("8").unwrap(),
            JobStatus::Running
        );
    }
}
