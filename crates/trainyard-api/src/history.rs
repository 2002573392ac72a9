//! History import records (`import.md`).

use crate::error::ApiError;
use crate::jobs::type_name;
use crate::params::{JobName, WorkspaceId, check_desc};
use crate::status::JobStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most records per import request.
pub const MAX_RECORDS: usize = 100_000;
/// Largest import body, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A validated history record: an ordinary job with one finished version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Job name (NFC).
    pub job_name: JobName,
    /// Description, 0–256 characters.
    pub job_desc: String,
    /// Workspace (default `"0"`).
    pub workspace_id: WorkspaceId,
    /// A terminal status.
    pub status: JobStatus,
    /// Epoch ms, ≥ 0.
    pub create_time: i64,
    /// Epoch ms, ≥ `create_time`.
    pub start_time: Option<i64>,
    /// Epoch ms, ≥ `start_time` (and ≥ `create_time`).
    pub end_time: Option<i64>,
    /// Engine family (default 0).
    pub engine_type: i64,
    /// Workers (default 1).
    pub worker_server_num: i64,
}

impl HistoryRecord {
    /// `end_time - start_time`, or 0 when either is absent.
    pub fn duration(&self) -> i64 {
        match (self.start_time, self.end_time) {
            (Some(s), Some(e)) => e - s,
            _ => 0,
        }
    }

    /// Parses one NDJSON line. Errors name the field (the caller adds the line number).
    pub fn from_json(obj: &Map<String, Value>) -> Result<HistoryRecord, ApiError> {
        let int = |field: &str| -> Result<Option<i64>, ApiError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                    ApiError::invalid(format!("{field} must be an integer, got {n}"))
                }),
                Some(other) => Err(ApiError::invalid(format!(
                    "{field} must be an integer, got {}",
                    type_name(other)
                ))),
            }
        };
        let string = |field: &str| -> Result<Option<&str>, ApiError> {
            match obj.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(ApiError::invalid(format!(
                    "{field} must be a string, got {}",
                    type_name(other)
                ))),
            }
        };
        let job_name = JobName::parse(
            string("job_name")?.ok_or_else(|| ApiError::invalid("job_name is required"))?,
        )?;
        let job_desc = match string("job_desc")? {
            Some(d) => check_desc("job_desc", d)?,
            None => String::new(),
        };
        let workspace_id = match string("workspace_id")? {
            Some(w) => WorkspaceId::parse(w)?,
            None => WorkspaceId::default(),
        };
        // a code (10) or a name (`COMPLETED`, `JOBSTAT_COMPLETED`, any case) [trainyard]
        let status = match obj.get("status") {
            Some(Value::String(name)) => JobStatus::parse_loose(name)
                .filter(|s| s.is_terminal())
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "status must be a terminal status code or name (COMPLETED, FAILED, KILLED, ...), got {:?}",
                        name.chars().take(40).collect::<String>()
                    ))
                })?,
            _ => {
                let code = int("status")?.ok_or_else(|| ApiError::invalid("status is required"))?;
                JobStatus::from_code(code)
                    .filter(|s| s.is_terminal())
                    .ok_or_else(|| {
                        ApiError::invalid(format!(
                            "status must be a terminal status code, got {code}"
                        ))
                    })?
            }
        };
        let create_time =
            int("create_time")?.ok_or_else(|| ApiError::invalid("create_time is required"))?;
        if create_time < 0 {
            return Err(ApiError::invalid(format!(
                "create_time must be >= 0, got {create_time}"
            )));
        }
        let start_time = int("start_time")?;
        if let Some(s) = start_time
            && s < create_time
        {
            return Err(ApiError::invalid(format!(
                "start_time must be >= create_time, got {s}"
            )));
        }
        let end_time = int("end_time")?;
        if let Some(e) = end_time {
            if e < create_time {
                return Err(ApiError::invalid(format!(
                    "end_time must be >= create_time, got {e}"
                )));
            }
            if let Some(s) = start_time
                && e < s
            {
                return Err(ApiError::invalid(format!(
                    "end_time must be >= start_time, got {e}"
                )));
            }
        }
        let engine_type = int("engine_type")?.unwrap_or(0);
        if !(0..=1_000_000).contains(&engine_type) {
            return Err(ApiError::invalid(format!(
                "engine_type must be 0-1000000, got {engine_type}"
            )));
        }
        let worker_server_num = int("worker_server_num")?.unwrap_or(1);
        if !(1..=1_000_000).contains(&worker_server_num) {
            return Err(ApiError::invalid(format!(
                "worker_server_num must be 1-1000000, got {worker_server_num}"
            )));
        }
        Ok(HistoryRecord {
            job_name,
            job_desc,
            workspace_id,
            status,
            create_time,
            start_time,
            end_time,
            engine_type,
            worker_server_num,
        })
    }
}

/// Response of `POST /trainyard/v1/{project_id}/job-history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportResponse {
    /// Always `true`.
    pub is_success: bool,
    /// Records imported.
    pub imported: u64,
    /// Id of the first line's job.
    pub first_job_id: i64,
    /// Id of the last line's job.
    pub last_job_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: Value) -> Result<HistoryRecord, ApiError> {
        let v = serde_json::json!({"job_name": "a", "create_time": 1, "status": status});
        HistoryRecord::from_json(v.as_object().unwrap())
    }

    #[test]
    fn status_by_code_or_name() {
        for (given, want) in [
            (Value::from(10), JobStatus::Completed),
            (Value::from("COMPLETED"), JobStatus::Completed),
            (Value::from("jobstat_failed"), JobStatus::Failed),
            (Value::from("Killed"), JobStatus::Killed),
        ] {
            assert_eq!(rec(given.clone()).unwrap().status, want, "{given}");
        }
        // not terminal, unknown, wrong type: 400 naming the field
        for bad in [
            Value::from("RUNNING"),
            Value::from("DONE"),
            Value::from(8),
            Value::from(true),
        ] {
            let e = rec(bad.clone()).unwrap_err();
            assert!(
                e.message.starts_with("status must be"),
                "{bad}: {}",
                e.message
            );
        }
    }
}
