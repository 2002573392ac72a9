//! `.../versions/{version_id}/log/file-names` (§10) and `.../aom-log` (§11): a version's logs,
//! one file per worker, read in pages with opaque cursors (`trainyard_executor::logs`).
//!
//! API names are `{job_name}-{version_name}.{i}`; the files are
//! `<logs_dir>/<job_id>/<version_id>/worker-<i>.log` on disk, so long Unicode job names never
//! reach the file system. A log that does not exist yet is an empty page.

use crate::error::{HttpError, HttpResult};
use crate::extract::{QueryPairs, id, project};
use crate::state::AppState;
use crate::supervisor::{runspec, worker_log_path};
use axum::Json;
use axum::extract::{Path, State};
use trainyard_api::error::ApiError;
use trainyard_api::jobs::{LogFileNamesResponse, LogLinesResponse};
use trainyard_api::params::parse_int_in;
use trainyard_executor::logs::{LogError, LogOrder, MAX_LINES, read_lines_async};

/// Default page size of `aom-log`.
const DEFAULT_LINES: i64 = 50;

/// `GET .../log/file-names`: `log_file_list`, one name per worker.
pub async fn log_file_names(
    State(s): State<AppState>,
    Path((p, j, v)): Path<(String, String, String)>,
) -> HttpResult<Json<LogFileNamesResponse>> {
    let project = project(&p)?.as_str().to_owned();
    let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
    let (job, ver) = s
        .read(move |st| Ok(st.get_version(&project, job_id, version_id)?))
        .await?;
    Ok(Json(LogFileNamesResponse {
        is_success: true,
        log_file_list: runspec::log_file_names(&job, &ver),
    }))
}

/// A query value, `None` when absent or empty.
fn param<'a>(q: &'a QueryPairs, name: &str) -> Option<&'a str> {
    q.get(name).filter(|v| !v.is_empty())
}

/// `GET .../aom-log?log_file=&lines=&base_line=&order=`: one page of a worker's log.
pub async fn aom_log(
    State(s): State<AppState>,
    Path((p, j, v)): Path<(String, String, String)>,
    q: QueryPairs,
) -> HttpResult<Json<LogLinesResponse>> {
    let project = project(&p)?.as_str().to_owned();
    let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
    let log_file = param(&q, "log_file")
        .ok_or_else(|| ApiError::invalid("log_file is required (a name from log/file-names)"))?
        .to_owned();
    let lines = param(&q, "lines")
        .map(|v| parse_int_in("lines", v, 0, MAX_LINES as i64))
        .transpose()?
        .unwrap_or(DEFAULT_LINES);
    let order = match param(&q, "order") {
        None => LogOrder::Desc,
        Some(o) => LogOrder::parse(o).ok_or_else(|| {
            ApiError::invalid(format!("order must be asc or desc, got {:?}", truncate(o)))
        })?,
    };
    let base_line = param(&q, "base_line").map(str::to_owned);
    let (job, ver) = s
        .read(move |st| Ok(st.get_version(&project, job_id, version_id)?))
        .await?;
    let names = runspec::log_file_names(&job, &ver);
    let Some(worker) = names.iter().position(|n| *n == log_file) else {
        return Err(ApiError::invalid(format!(
            "log_file {:?} is not a log of this version (see log/file-names)",
            truncate(&log_file)
        ))
        .into());
    };
    let path = worker_log_path(
        &s.config.logs_dir(),
        job_id,
        version_id,
        u32::try_from(worker).unwrap_or(0),
    );
    let page = read_lines_async(path, base_line, lines as usize, order)
        .await
        .map_err(|e| match e {
            LogError::InvalidCursor(c) => HttpError(ApiError::invalid(format!(
                "base_line {c:?} is not a cursor of this log (use start_line or end_line of a previous page)"
            ))),
            LogError::TooManyLines(n) => HttpError(ApiError::invalid(format!(
                "lines must be between 0 and {MAX_LINES}, got {n}"
            ))),
            LogError::Io(e) => HttpError::internal(&e),
        })?;
    Ok(Json(page.into_response()))
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}
