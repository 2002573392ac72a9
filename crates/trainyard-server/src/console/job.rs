//! The job page (`GET /console/p/{project}/jobs/{job_id}`): every version with its status,
//! reason, exit code, times, spec, engine, command and parameters; a worker's log, paged
//! without JavaScript (`?before=`, `?after=` line cursors, `?from=` byte offset; the newest
//! lines by default) and followed live with it (server-sent events from
//! `.../log/stream`, the same stream as the API's `log/stream`). Actions: stop a version, edit
//! the description, delete the job (a confirmation page that names it).

use super::format::{self, status_family};
use super::page::{Chrome, ConsoleError, Form, PageResult, path_segment, render, respond};
use super::session::Viewer;
use crate::extract::id;
use crate::routes::logs;
use crate::service;
use crate::state::{AppState, now_ms};
use crate::supervisor::runspec;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use trainyard_api::jobs::parse_update_desc;
use trainyard_executor::logs::LogOrder;
use trainyard_store::{JobRecord, VersionRecord};

/// Lines per log page.
const LOG_LINES: usize = 200;

/// A time shown on the page.
pub struct TimeView {
    /// RFC 3339.
    pub iso: String,
    /// UTC text (rewritten in the browser's zone by script).
    pub utc: String,
}

fn time_view(ms: i64) -> TimeView {
    TimeView {
        iso: format::iso(ms),
        utc: format::utc(ms),
    }
}

/// One version, as the page shows it.
pub struct VersionView {
    /// Version id.
    pub id: i64,
    /// `V0001`...
    pub name: String,
    /// Status short name.
    pub status: &'static str,
    /// Colour family.
    pub family: &'static str,
    /// One-line reason.
    pub reason: String,
    /// Exit code, when ended.
    pub exit_code: Option<i64>,
    /// Created.
    pub created: TimeView,
    /// Started.
    pub started: Option<TimeView>,
    /// Ended.
    pub ended: Option<TimeView>,
    /// Duration text.
    pub duration: String,
    /// Start of a running version (ticks on the page).
    pub live_start: Option<i64>,
    /// Spec text.
    pub spec: String,
    /// Engine text.
    pub engine: String,
    /// Workers.
    pub workers: i64,
    /// Custom command.
    pub command: String,
    /// Code directory.
    pub app_url: String,
    /// Boot file.
    pub boot_file: String,
    /// Hyper-parameters.
    pub parameters: Vec<(String, String)>,
    /// Input, output and log-copy directories.
    pub data_url: String,
    /// Output directory.
    pub train_url: String,
    /// Log copy directory.
    pub log_url: String,
    /// The version's own description.
    pub version_desc: String,
    /// The version it was made from.
    pub pre_version: Option<String>,
    /// Stop form action, when it can be stopped.
    pub stop_action: Option<String>,
    /// New version prefilled from this one.
    pub new_version_href: String,
    /// Show this version's logs.
    pub logs_href: String,
    /// Its logs are shown.
    pub selected: bool,
}

/// A worker tab of the log panel.
pub struct WorkerTab {
    /// Label.
    pub label: String,
    /// Link.
    pub href: String,
    /// Shown.
    pub current: bool,
}

/// The log panel.
pub struct LogView {
    /// Version name.
    pub version_name: String,
    /// API log file name.
    pub file_name: String,
    /// Worker tabs.
    pub workers: Vec<WorkerTab>,
    /// The lines shown.
    pub text: String,
    /// What is shown (`the newest lines`, ...).
    pub what: String,
    /// Older lines.
    pub older: Option<String>,
    /// Newer lines.
    pub newer: Option<String>,
    /// From the start.
    pub start: String,
    /// The newest lines.
    pub newest: String,
    /// SSE URL (following live, in the newest-lines view of a version that has not ended).
    pub stream: Option<String>,
    /// Byte offset the stream starts at (the first line shown: the stream replaces the text).
    pub offset: u64,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    chrome: Chrome,
    name: String,
    desc: String,
    desc_action: String,
    delete_href: String,
    new_version_href: String,
    versions: Vec<VersionView>,
    logs: Option<LogView>,
}

/// The job's base path.
fn job_base(project: &str, job_id: i64) -> String {
    format!("/console/p/{}/jobs/{job_id}", path_segment(project))
}

fn version_view(
    base: &str,
    job: &JobRecord,
    v: &VersionRecord,
    now: i64,
    selected: bool,
) -> VersionView {
    let info = v.to_info(job, now);
    let stoppable = v.status.is_cancelable() || v.status == trainyard_api::JobStatus::Running;
    let spec = format!(
        "{} ({} CPU, {} GiB{})",
        info.spec_code,
        info.core,
        info.cpu,
        if info.gpu_num > 0 {
            format!(", {} GPU {}", info.gpu_num, info.gpu_type)
        } else {
            String::new()
        }
    );
    let engine = match &v.engine {
        Some(e) => format!("{} {}", e.engine_name, e.engine_version),
        None => "none (custom command)".to_owned(),
    };
    VersionView {
        id: v.version_id,
        name: v.version_name(),
        status: v.status.short_name(),
        family: status_family(v.status),
        reason: info.status_reason.clone(),
        exit_code: info.exit_code,
        created: time_view(info.create_time),
        started: info.start_time.map(time_view),
        ended: info.end_time.map(time_view),
        duration: format::duration(info.duration),
        live_start: (v.status.is_live() && v.start_time.is_some()).then_some(now - info.duration),
        spec,
        engine,
        workers: info.worker_server_num,
        command: info.user_command.clone(),
        app_url: info.app_url.clone(),
        boot_file: info.boot_file_url.clone(),
        parameters: info
            .parameter
            .iter()
            .map(|p| (p.label.clone(), p.value.clone()))
            .collect(),
        data_url: info.data_url.clone(),
        train_url: info.train_url.clone(),
        log_url: info.log_url.clone(),
        version_desc: info.version_desc.clone(),
        pre_version: None,
        stop_action: stoppable.then(|| format!("{base}/versions/{}/stop", v.version_id)),
        new_version_href: format!("{base}/versions/new?from={}", v.version_id),
        logs_href: format!("{base}?version={}#logs", v.version_id),
        selected,
    }
}

/// Which part of a log to show (the job page's query).
enum LogMode {
    Newest,
    Before(String),
    After(String),
    From(u64),
}

async fn log_view(
    s: &AppState,
    project: &str,
    base: &str,
    job: &JobRecord,
    v: &VersionRecord,
    q: &Form,
) -> Result<LogView, ConsoleError> {
    let names = runspec::log_file_names(job, v);
    let worker = match q.get("worker") {
        Some(w) => trainyard_api::params::parse_int_in("worker", w, 0, names.len() as i64 - 1)
            .map_err(|e| ConsoleError::from(crate::error::HttpError(e)))?
            as usize,
        None => 0,
    };
    let file_name = names.get(worker).cloned().unwrap_or_default();
    let log = logs::worker_log(s, project.to_owned(), job.job_id, v.version_id, &file_name).await?;
    let here = |extra: &str| {
        format!(
            "{base}?version={}&worker={worker}{extra}#logs",
            v.version_id
        )
    };
    let cursor = |name: &str| -> Result<Option<String>, ConsoleError> {
        match q.get(name) {
            None => Ok(None),
            Some(c) if !c.is_empty() && c.len() <= 20 && c.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(Some(c.to_owned()))
            }
            Some(_) => Err(ConsoleError::new(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                format!("{name} must be a line cursor from a link of this page"),
            )),
        }
    };
    let mode = if let Some(c) = cursor("before")? {
        LogMode::Before(c)
    } else if let Some(c) = cursor("after")? {
        LogMode::After(c)
    } else if let Some(c) = cursor("from")? {
        LogMode::From(c.parse().unwrap_or(0))
    } else {
        LogMode::Newest
    };
    let read_err = |e: trainyard_executor::logs::LogError| match e {
        trainyard_executor::logs::LogError::InvalidCursor(_) => ConsoleError::new(
            StatusCode::BAD_REQUEST,
            "Not accepted",
            "The log position is not valid for this log.",
        ),
        other => ConsoleError::internal(&other),
    };
    let mut view = LogView {
        version_name: v.version_name(),
        file_name,
        workers: (0..names.len())
            .map(|i| WorkerTab {
                label: format!("worker {i}"),
                href: format!("{base}?version={}&worker={i}#logs", v.version_id),
                current: i == worker,
            })
            .collect(),
        text: String::new(),
        what: String::new(),
        older: None,
        newer: None,
        start: here("&from=0"),
        newest: here(""),
        stream: None,
        offset: 0,
    };
    match mode {
        LogMode::Newest | LogMode::Before(_) | LogMode::After(_) => {
            let (base_line, order, what) = match &mode {
                LogMode::Before(c) => (Some(c.clone()), LogOrder::Asc, "older lines"),
                LogMode::After(c) => (Some(c.clone()), LogOrder::Desc, "newer lines"),
                _ => (None, LogOrder::Desc, "the newest lines"),
            };
            let page = s
                .supervisor
                .executor()
                .read_log(log, base_line, LOG_LINES, order)
                .await
                .map_err(read_err)?;
            view.what = format!("{} ({} lines)", what, page.lines);
            if page.lines > 0 && page.start_line != "0" {
                view.older = Some(here(&format!("&before={}", page.start_line)));
            }
            if !matches!(mode, LogMode::Newest) && page.lines > 0 {
                view.newer = Some(here(&format!("&after={}", page.end_line)));
            }
            if matches!(mode, LogMode::Newest) && !v.status.is_terminal() {
                view.stream = Some(format!(
                    "{base}/versions/{}/log/stream?worker={worker}",
                    v.version_id
                ));
                view.offset = page.start_line.parse().unwrap_or(0);
            }
            view.text = page.content;
        }
        LogMode::From(offset) => {
            let ended = v.status.is_terminal();
            let chunk = s
                .supervisor
                .executor()
                .follow_log(log, offset)
                .try_next(ended)
                .await
                .map_err(|e| ConsoleError::internal(&e))?;
            match chunk {
                Some(c) => {
                    view.what = format!("bytes {}–{} of the log", c.start, c.end);
                    if c.start > 0 {
                        view.older = Some(here(&format!("&before={}", c.start)));
                    }
                    view.newer = Some(here(&format!("&from={}", c.end)));
                    view.text = c.text;
                }
                None => view.what = format!("nothing after byte {offset} yet"),
            }
        }
    }
    Ok(view)
}

/// `GET /console/p/{project}/jobs/{job_id}`: the job page (module docs).
pub async fn job_page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let q = Form::from_query(uri.query().unwrap_or(""));
    let r = build(&s, &viewer, &p, &j, &q).await;
    respond(&viewer, r)
}

async fn build(s: &AppState, viewer: &Viewer, p: &str, j: &str, q: &Form) -> PageResult {
    let project = viewer.project(p)?;
    let job_id = id("job_id", j)?;
    let (job, versions) = service::list_versions(s, &project.id, job_id).await?;
    let base = job_base(&project.id, job_id);
    let selected = match q.get("version") {
        Some(v) => Some(id("version", v)?),
        None => versions.first().map(|v| v.version_id),
    };
    let now = now_ms();
    let views: Vec<VersionView> = versions
        .iter()
        .map(|v| {
            let mut view = version_view(&base, &job, v, now, Some(v.version_id) == selected);
            view.pre_version = v.pre_version_id.and_then(|pre| {
                versions
                    .iter()
                    .find(|x| x.version_id == pre)
                    .map(VersionRecord::version_name)
                    .or_else(|| Some(format!("version {pre} (deleted)")))
            });
            view
        })
        .collect();
    let logs = match versions.iter().find(|v| Some(v.version_id) == selected) {
        Some(v) => Some(log_view(s, &project.id, &base, &job, v, q).await?),
        None => {
            return Err(ConsoleError::not_found(
                "There is no such version of this job.",
            ));
        }
    };
    let page = JobPage {
        chrome: viewer.chrome(Some(&project), job.job_name.clone()),
        name: job.job_name.clone(),
        desc: job.job_desc.clone(),
        desc_action: format!("{base}/desc"),
        delete_href: format!("{base}/delete"),
        new_version_href: views
            .first()
            .map(|v| v.new_version_href.clone())
            .unwrap_or_default(),
        versions: views,
        logs,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST .../jobs/{job_id}/desc`: changes the description (the API's parser and rules).
pub async fn update_desc(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let r = async {
        viewer.check_post(&headers, &form)?;
        let project = viewer.project(&p)?;
        let job_id = id("job_id", &j)?;
        let mut body = serde_json::Map::new();
        body.insert(
            "job_desc".into(),
            serde_json::Value::String(form.get("job_desc").unwrap_or("").to_owned()),
        );
        let desc = parse_update_desc(&body).map_err(crate::error::HttpError)?;
        service::update_job_desc(&s, &project.id, job_id, desc).await?;
        Ok(Redirect::to(&job_base(&project.id, job_id)).into_response())
    }
    .await;
    respond(&viewer, r)
}

#[derive(Template)]
#[template(path = "delete.html")]
struct DeletePage {
    chrome: Chrome,
    name: String,
    versions: usize,
    running: usize,
    action: String,
    back: String,
}

/// `GET .../jobs/{job_id}/delete`: the confirmation page, naming the job.
pub async fn delete_page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j)): Path<(String, String)>,
) -> Response {
    let r = async {
        let project = viewer.project(&p)?;
        let job_id = id("job_id", &j)?;
        let (job, versions) = service::list_versions(&s, &project.id, job_id).await?;
        let base = job_base(&project.id, job_id);
        let page = DeletePage {
            chrome: viewer.chrome(Some(&project), format!("Delete {}", job.job_name)),
            name: job.job_name,
            versions: versions.len(),
            running: versions.iter().filter(|v| !v.status.is_terminal()).count(),
            action: format!("{base}/delete"),
            back: base,
        };
        Ok(render(&page, StatusCode::OK))
    }
    .await;
    respond(&viewer, r)
}

/// `POST .../jobs/{job_id}/delete`: deletes the job (stopping what runs), back to the list.
pub async fn delete(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let r = async {
        viewer.check_post(&headers, &form)?;
        let project = viewer.project(&p)?;
        let job_id = id("job_id", &j)?;
        service::delete_job(&s, &project.id, job_id).await?;
        Ok(Redirect::to(&format!("/console/p/{}/jobs", path_segment(&project.id))).into_response())
    }
    .await;
    respond(&viewer, r)
}

/// `POST .../versions/{version_id}/stop`: stops the version, back to the job page.
pub async fn stop(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j, v)): Path<(String, String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let r = async {
        viewer.check_post(&headers, &form)?;
        let project = viewer.project(&p)?;
        let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
        service::stop_version(&s, &project.id, job_id, version_id).await?;
        Ok(Redirect::to(&format!(
            "{}?version={version_id}",
            job_base(&project.id, job_id)
        ))
        .into_response())
    }
    .await;
    respond(&viewer, r)
}

/// `GET .../versions/{version_id}/log/stream?worker=&offset=`: a worker's log as server-sent
/// events from byte `offset` (or `Last-Event-ID`), through the API's log stream
/// (`routes::logs::follow`): `log` events, then `end` with the status code.
pub async fn log_stream(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j, v)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let q = Form::from_query(uri.query().unwrap_or(""));
    let r = async {
        let project = viewer.project(&p)?;
        let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
        let (job, ver) = service::get_version(&s, &project.id, job_id, version_id).await?;
        let names = runspec::log_file_names(&job, &ver);
        let worker = trainyard_api::params::parse_int_in(
            "worker",
            q.get("worker").unwrap_or("0"),
            0,
            names.len() as i64 - 1,
        )
        .map_err(crate::error::HttpError)? as usize;
        let offset = headers
            .get("last-event-id")
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty())
            .or_else(|| q.get("offset"))
            .map_or(Ok(0), |o| {
                o.parse::<u64>().map_err(|_| {
                    ConsoleError::new(
                        StatusCode::BAD_REQUEST,
                        "Not accepted",
                        "offset must be a byte offset",
                    )
                })
            })?;
        let log =
            logs::worker_log(&s, project.id.clone(), job_id, version_id, &names[worker]).await?;
        Ok(logs::follow(s.clone(), log, offset).into_response())
    }
    .await;
    respond(&viewer, r)
}

#[cfg(test)]
mod tests {
    use super::super::page::hostile::{self, ATTR, QUOTE, SCRIPT};
    use super::*;

    fn t() -> TimeView {
        time_view(0)
    }

    #[test]
    fn hostile_job_text_and_logs_are_text() {
        let v = VersionView {
            id: 1,
            name: "V0001".into(),
            status: "FAILED",
            family: "bad",
            reason: SCRIPT.into(),
            exit_code: Some(1),
            created: t(),
            started: Some(t()),
            ended: Some(t()),
            duration: "1s".into(),
            live_start: None,
            spec: QUOTE.into(),
            engine: ATTR.into(),
            workers: 1,
            command: format!("echo {SCRIPT}"),
            app_url: ATTR.into(),
            boot_file: QUOTE.into(),
            parameters: vec![(SCRIPT.into(), ATTR.into())],
            data_url: SCRIPT.into(),
            train_url: ATTR.into(),
            log_url: QUOTE.into(),
            version_desc: SCRIPT.into(),
            pre_version: Some(ATTR.into()),
            stop_action: Some("/x/stop".into()),
            new_version_href: "/x/new".into(),
            logs_href: "/x/logs".into(),
            selected: true,
        };
        let page = JobPage {
            chrome: hostile::chrome(),
            name: SCRIPT.into(),
            desc: ATTR.into(),
            desc_action: "/x/desc".into(),
            delete_href: "/x/delete".into(),
            new_version_href: "/x/new".into(),
            versions: vec![v],
            logs: Some(LogView {
                version_name: "V0001".into(),
                file_name: SCRIPT.into(),
                workers: vec![WorkerTab {
                    label: "worker 0".into(),
                    href: "/x?worker=0".into(),
                    current: true,
                }],
                text: format!("{SCRIPT}\n{ATTR}\n{QUOTE}\n"),
                what: "the newest lines".into(),
                older: None,
                newer: None,
                start: "/x?from=0".into(),
                newest: "/x".into(),
                stream: Some("/x/log/stream?worker=0".into()),
                offset: 0,
            }),
        };
        let html = page.render().unwrap();
        hostile::assert_inert(&html, &[SCRIPT, ATTR, QUOTE]);
        let del = DeletePage {
            chrome: hostile::chrome(),
            name: ATTR.into(),
            versions: 2,
            running: 1,
            action: "/x/delete".into(),
            back: "/x".into(),
        }
        .render()
        .unwrap();
        hostile::assert_inert(&del, &[ATTR]);
    }
}
