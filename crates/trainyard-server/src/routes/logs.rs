//! `.../versions/{version_id}/log/file-names` (§10) and `.../aom-log` (§11): a version's logs,
//! one file per worker, read in pages with opaque cursors (`trainyard_executor::logs`).
//!
//! API names are `{job_name}-{version_name}.{i}`; the files are wherever the executor keeps them
//! (`Executor::worker_log`, by ids: e.g. `<data_dir>/logs/<job_id>/<version_id>/worker-<i>.log`
//! for the local executor), so long Unicode job names never reach the file system. Reading goes
//! through the executor (`Executor::read_log`, `Executor::follow_log`); this module only maps
//! API names to workers. A log that does not exist yet is an empty page.
//!
//! **[trainyard]** `.../log/stream?log_file=&offset=` follows a log as server-sent events:
//! `log` events carry complete lines (`data` is the text, `id` the byte offset after it, so a
//! reconnect with `Last-Event-ID` resumes exactly); when the version has ended and the rest of
//! the log was sent, an `end` event carries its status code and the stream closes.

use crate::error::{HttpError, HttpResult};
use crate::extract::Path;
use crate::extract::{QueryPairs, id, project};
use crate::openapi::{ApiErrors, TAG_LOGS};
use crate::state::AppState;
use crate::supervisor::runspec;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use std::convert::Infallible;
use std::time::Duration;
use trainyard_api::error::ApiError;
use trainyard_api::jobs::{LogFileNamesResponse, LogLinesResponse};
use trainyard_api::params::parse_int_in;
use trainyard_executor::WorkerLog;
use trainyard_executor::logs::{LogError, LogFollower, LogOrder, MAX_LINES};
use trainyard_store::StoreError;

/// Default page size of `aom-log`.
const DEFAULT_LINES: i64 = 50;

/// `GET .../log/file-names`: `log_file_list`, one name per worker.
#[utoipa::path(get, path = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/log/file-names", tag = TAG_LOGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"), ("version_id" = i64, Path, description = "version id")),
    responses((status = 200, description = "one log file name per worker", body = LogFileNamesResponse), ApiErrors))]
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

/// Resolves `log_file` of a version to its worker's log (400 naming `log_file` when it is not
/// one; 404 for a version not in `project`). Read it through the executor
/// (`s.supervisor.executor()`), or follow it with [`follow`].
pub async fn worker_log(
    s: &AppState,
    project: String,
    job_id: i64,
    version_id: i64,
    log_file: &str,
) -> HttpResult<WorkerLog> {
    let (job, ver) = s
        .read(move |st| Ok(st.get_version(&project, job_id, version_id)?))
        .await?;
    let names = runspec::log_file_names(&job, &ver);
    let Some(worker) = names.iter().position(|n| n == log_file) else {
        return Err(ApiError::invalid(format!(
            "log_file {:?} is not a log of this version (see log/file-names)",
            truncate(log_file)
        ))
        .into());
    };
    Ok(WorkerLog {
        job_id,
        version_id,
        worker: u32::try_from(worker).unwrap_or(0),
    })
}

/// `GET .../log/stream?log_file=&offset=`: follows a log as server-sent events (module docs).
/// The start offset is `Last-Event-ID` if sent, else `offset` (default 0: the whole log).
#[utoipa::path(get, path = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/log/stream", tag = TAG_LOGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"), ("version_id" = i64, Path, description = "version id"),
        ("log_file" = String, Query, description = "a name from log/file-names"),
        ("offset" = Option<i64>, Query, description = "byte offset to start from (default 0)"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event (a byte offset); wins over offset")),
    responses((status = 200, description = "server-sent events: `log` (data = lines, id = byte offset after them), then `end` (data = the final status code)", body = String, content_type = "text/event-stream"), ApiErrors))]
pub async fn log_stream(
    State(s): State<AppState>,
    Path((p, j, v)): Path<(String, String, String)>,
    headers: HeaderMap,
    q: QueryPairs,
) -> HttpResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let project = project(&p)?.as_str().to_owned();
    let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
    let log_file = param(&q, "log_file")
        .ok_or_else(|| ApiError::invalid("log_file is required (a name from log/file-names)"))?
        .to_owned();
    let last_id = headers
        .get("last-event-id")
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty());
    let offset = match last_id.or_else(|| param(&q, "offset")) {
        None => 0,
        Some(o) => o.parse::<u64>().map_err(|_| {
            ApiError::invalid(format!(
                "offset (or Last-Event-ID) must be a byte offset, got {:?}",
                truncate(o)
            ))
        })?,
    };
    let log = worker_log(&s, project, job_id, version_id, &log_file).await?;
    Ok(follow(s, log, offset))
}

/// The server-sent event stream of a worker's log from byte `offset` (module docs): `log`
/// events until the version has ended and everything was sent, then `end`. The log is read
/// through the executor (`Executor::follow_log`). Used by [`log_stream`] and the console.
pub fn follow(
    s: AppState,
    log: WorkerLog,
    offset: u64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let version_id = log.version_id;
    let follower = s.supervisor.executor().follow_log(log, offset);
    let state = Follow {
        s,
        version_id,
        follower,
        ended: false,
    };
    let stream = futures::stream::unfold(state, |mut f| async move {
        if f.ended {
            return None;
        }
        let event = f.next_event().await;
        Some((Ok(event), f))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

struct Follow {
    s: AppState,
    version_id: i64,
    follower: LogFollower,
    ended: bool,
}

impl Follow {
    /// The next event: new lines, or `end` once the version has ended and everything was sent.
    async fn next_event(&mut self) -> Event {
        loop {
            match self.follower.try_next(false).await {
                Ok(Some(c)) => return log_event(c),
                Ok(None) => {}
                Err(e) => {
                    self.ended = true;
                    tracing::warn!(error = %e, "log stream read failed");
                    return Event::default()
                        .event("error")
                        .data("the log cannot be read");
                }
            }
            let vid = self.version_id;
            let status = self
                .s
                .read(move |st| match st.version_by_id(vid) {
                    Ok((_, v)) => Ok(Some(v.status)),
                    Err(StoreError::NotFound) => Ok(None),
                    Err(e) => Err(e.into()),
                })
                .await;
            let over = match status {
                Ok(Some(st)) if st.is_terminal() => Some(st.code().to_string()),
                Ok(Some(_)) | Err(_) => None,
                Ok(None) => Some("deleted".to_owned()),
            };
            if let Some(code) = over {
                // The writers are gone: whatever is left (even an unterminated line) is final.
                if let Ok(Some(c)) = self.follower.try_next(true).await {
                    return log_event(c);
                }
                self.ended = true;
                return Event::default().event("end").data(code);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

fn log_event(c: trainyard_executor::logs::LogChunk) -> Event {
    Event::default()
        .event("log")
        .id(c.end.to_string())
        .data(c.text)
}

/// `GET .../aom-log?log_file=&lines=&base_line=&order=`: one page of a worker's log.
#[utoipa::path(get, path = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/aom-log", tag = TAG_LOGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"), ("version_id" = i64, Path, description = "version id"),
        ("log_file" = String, Query, description = "a name from log/file-names"),
        ("lines" = Option<i64>, Query, description = "lines per page, 0-500 (default 50)"),
        ("base_line" = Option<String>, Query, description = "cursor: start_line or end_line of a previous page"),
        ("order" = Option<String>, Query, description = "desc (default: towards older lines) or asc")),
    responses((status = 200, description = "one page of the log", body = LogLinesResponse), ApiErrors))]
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
    let log = worker_log(&s, project, job_id, version_id, &log_file).await?;
    let page = s
        .supervisor
        .executor()
        .read_log(log, base_line, lines as usize, order)
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
