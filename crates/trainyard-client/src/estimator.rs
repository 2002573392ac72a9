//! [`Estimator`]: the training-job calls, named after the ModelArts Python SDK
//! (`sdk.md` "SDK", `training-jobs.md`, `list.md`, `import.md`).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures::stream::{self, Stream, TryStreamExt};
use reqwest::Method;
use serde_json::{Map, Value};
use trainyard_api::history::{ImportResponse, MAX_BODY_BYTES, MAX_RECORDS};
use trainyard_api::jobs::{
    CreateJobResponse, EngineListResponse, JobConfig, LogFileNamesResponse, LogLinesResponse,
    SpecListResponse, SuccessResponse, VersionDetailResponse, VersionInfo, VersionListResponse,
};
use trainyard_api::list::MAX_PAGE;
use trainyard_api::params::{JobName, WorkspaceId, check_desc};
use trainyard_api::{JobListResponse, JobRow, Order};

use crate::error::{Error, Result};
use crate::params::{ConfigListParams, ToJobListQuery, query_pairs};
use crate::session::{ApiRequest, Session};

/// Most lines one `aom-log` call returns (`training-jobs.md` §11).
pub const MAX_LOG_LINES: u32 = 500;

/// The training-job calls, as associated functions taking a [`Session`], like the ModelArts
/// Python SDK's `Estimator` (`Estimator.get_job_list(modelarts_session=session, ...)`).
///
/// Every call returns [`Error::InvalidArgument`] for arguments the server would refuse (same
/// rules, same message, nothing sent), [`Error::Api`] for the server's error envelope (e.g. 404
/// `ModelArts.2775` for a job or version that does not exist in the session's project),
/// [`Error::Transport`] when the server cannot be reached, [`Error::Decode`] for an unexpected
/// body and, for password sessions, [`Error::Auth`] when no token can be had. `GET` calls are
/// retried per the session's [`RetryPolicy`](crate::RetryPolicy); the others are not (a create
/// is never sent twice).
#[derive(Clone, Copy, Debug, Default)]
pub struct Estimator;

fn id(v: i64) -> String {
    v.to_string()
}

/// Serialises a [`JobConfig`], with its pass-through `extra` fields flattened into the object.
fn config_object(config: &JobConfig) -> Map<String, Value> {
    let mut obj = match serde_json::to_value(config) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Some(Value::Object(extra)) = obj.remove("extra") {
        for (k, v) in extra {
            obj.entry(k).or_insert(v);
        }
    }
    obj
}

fn check_lines(lines: u32) -> Result<()> {
    if lines > MAX_LOG_LINES {
        return Err(Error::InvalidArgument(format!(
            "lines must be an integer 0-500, got \"{lines}\""
        )));
    }
    Ok(())
}

fn check_config_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::InvalidArgument(format!(
            "config_name must be 1-64 characters of A-Z a-z 0-9 _ -, got {:?}",
            trainyard_api::params::clip(name)
        )));
    }
    Ok(())
}

impl Estimator {
    /// Lists jobs, one row per job showing its latest version: `GET /v1/{project_id}/training-jobs`
    /// (`list.md`). The ModelArts SDK's `Estimator.get_job_list`.
    ///
    /// `query` is a [`JobListParams`](crate::JobListParams) (SDK defaults: **descending**
    /// order, 10 per page) or a [`JobListQuery`](crate::JobListQuery) (sent as given). The
    /// response has `job_total_count` (jobs passing the filters), `job_count_limit`, `quotas` and
    /// the page of `jobs`.
    ///
    /// Errors: [`Error::InvalidArgument`] before sending for per_page outside 1–1000, page
    /// outside 1–65535, search_content over 100 characters, a bad workspace_id; see [`Estimator`]
    /// for the rest.
    ///
    /// ```no_run
    /// use trainyard_client::{Estimator, JobListParams, JobStatus, Order, Session};
    /// # async fn run() -> trainyard_client::Result<()> {
    /// let session = Session::from_env()?;
    /// let resp = Estimator::get_job_list(
    ///     &session,
    ///     &JobListParams::new().status(JobStatus::Running).per_page(10).page(1).order(Order::Asc).search_content("job"),
    /// )
    /// .await?;
    /// for job in &resp.jobs {
    ///     println!("{} {} {}", job.job_id, job.job_name, job.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn get_job_list<Q: ToJobListQuery + ?Sized>(
        session: &Session,
        query: &Q,
    ) -> Result<JobListResponse> {
        let q = query.to_job_list_query(10)?;
        let mut req = ApiRequest::get(session.v1_path(&["training-jobs"]));
        req.query = query_pairs(&q);
        session.call(req).await
    }

    /// Every job matching `query`, page after page: a stream of rows that ends after the first
    /// short page (fewer rows than the page size) or when `job_total_count` is reached.
    ///
    /// Pages hold 1000 rows unless `query` sets `per_page`; the walk starts at `query`'s page
    /// (default 1). When no job is created or deleted meanwhile, each job is yielded exactly once,
    /// in the query's order. A job seen on an earlier page is never yielded again (jobs created
    /// during the walk may shift rows to later pages); jobs deleted during the walk may shift
    /// rows to earlier pages and be missed (`list.md` "Semantics" 7).
    ///
    /// The stream owns a clone of the session (`'static`). Its first item is the
    /// [`Error::InvalidArgument`] of a bad query; after any error it ends.
    ///
    /// ```no_run
    /// use futures::TryStreamExt;
    /// use trainyard_client::{Estimator, JobListParams, JobStatus, Session};
    /// # async fn run() -> trainyard_client::Result<()> {
    /// let session = Session::from_env()?;
    /// let failed: Vec<_> = Estimator::list_all(&session, &JobListParams::new().status(JobStatus::Failed))
    ///     .try_collect()
    ///     .await?;
    /// println!("{} failed jobs", failed.len());
    /// # Ok(()) }
    /// ```
    pub fn list_all<Q: ToJobListQuery + ?Sized>(
        session: &Session,
        query: &Q,
    ) -> impl Stream<Item = Result<JobRow>> + Send + 'static {
        struct Walk {
            session: Session,
            query: trainyard_api::JobListQuery,
            seen: HashSet<i64>,
            done: bool,
        }
        let start = query.to_job_list_query(1000);
        let session = session.clone();
        stream::once(async move { start })
            .map_ok(move |query| {
                let walk = Walk {
                    session: session.clone(),
                    query,
                    seen: HashSet::new(),
                    done: false,
                };
                stream::try_unfold(walk, |mut w| async move {
                    if w.done {
                        return Ok::<_, Error>(None);
                    }
                    let resp = Estimator::get_job_list(&w.session, &w.query).await?;
                    let n = resp.jobs.len() as u64;
                    let reached = w.query.offset() + n >= resp.job_total_count;
                    w.done = n < u64::from(w.query.per_page) || reached || w.query.page >= MAX_PAGE;
                    w.query.page += 1;
                    let rows: Vec<JobRow> = resp
                        .jobs
                        .into_iter()
                        .filter(|r| w.seen.insert(r.job_id))
                        .collect();
                    Ok(Some((rows, w)))
                })
            })
            .try_flatten()
            .map_ok(|rows| stream::iter(rows.into_iter().map(Ok::<_, Error>)))
            .try_flatten()
    }

    /// Creates a job and its first version, which starts at once (asynchronously): `POST
    /// /v1/{project_id}/training-jobs` (`training-jobs.md` §1). The ModelArts SDK's `fit`.
    ///
    /// `workspace_id` `None` means `"0"`. `config` needs `worker_server_num` and `spec_id`, and
    /// `app_url`, `boot_file_url` and `engine_id` unless `user_command` is given. Returns the new
    /// `job_id`, `version_id` (`V0001`) and status 1 (INIT); follow it with
    /// [`wait`](Estimator::wait) or [`follow_log`](Estimator::follow_log). Never retried.
    ///
    /// Errors: [`Error::InvalidArgument`] before sending for a job_name that is not 1–64
    /// letters, digits, `_` or `-` after NFC, a job_desc over 256 characters, a bad
    /// workspace_id or an incomplete config; from the server, 400 `ModelArts.0103` (name taken),
    /// `ModelArts.2780` (engine), `ModelArts.2781` (spec), `ModelArts.2815` (job quota).
    ///
    /// ```no_run
    /// use trainyard_client::{Estimator, JobConfig, Session};
    /// # async fn run() -> trainyard_client::Result<()> {
    /// let session = Session::from_env()?;
    /// let config = JobConfig {
    ///     worker_server_num: Some(1),
    ///     spec_id: Some(1),
    ///     engine_id: Some(1),
    ///     app_url: Some("/home/me/code".into()),
    ///     boot_file_url: Some("train.py".into()),
    ///     ..JobConfig::default()
    /// };
    /// let created = Estimator::create_job(&session, "resnet50", "lr sweep", None, &config).await?;
    /// println!("job {} version {}", created.job_id, created.version_id);
    /// # Ok(()) }
    /// ```
    pub async fn create_job(
        session: &Session,
        job_name: &str,
        job_desc: &str,
        workspace_id: Option<&str>,
        config: &JobConfig,
    ) -> Result<CreateJobResponse> {
        let name = JobName::parse(job_name).map_err(Error::invalid)?;
        let desc = check_desc("job_desc", job_desc).map_err(Error::invalid)?;
        let workspace = match workspace_id {
            Some(w) => WorkspaceId::parse(w).map_err(Error::invalid)?,
            None => WorkspaceId::default(),
        };
        config.check_complete().map_err(Error::invalid)?;
        let body = serde_json::json!({
            "job_name": name.as_str(),
            "job_desc": desc,
            "workspace_id": workspace.as_str(),
            "config": config_object(config),
        });
        session
            .call(ApiRequest::new(Method::POST, session.v1_path(&["training-jobs"])).json(&body))
            .await
    }

    /// A version's details: `GET /v1/{project_id}/training-jobs/{job_id}/versions/{version_id}`
    /// (`training-jobs.md` §3). Times are epoch ms, `duration` is ms (live while running).
    ///
    /// Errors: 404 `ModelArts.2775` when the job or version does not exist in this project
    /// ([`Error::is_not_found`]); see [`Estimator`].
    pub async fn get_job_version(
        session: &Session,
        job_id: i64,
        version_id: i64,
    ) -> Result<VersionInfo> {
        let path = session.v1_path(&["training-jobs", &id(job_id), "versions", &id(version_id)]);
        let resp: VersionDetailResponse = session.call(ApiRequest::get(path)).await?;
        Ok(resp.version)
    }

    /// A job's versions, newest first: `GET /v1/{project_id}/training-jobs/{job_id}/versions`
    /// (`training-jobs.md` §5). `per_page` 1–1000; `page` 0 = all versions, 1–65535 = that page.
    ///
    /// Errors: [`Error::InvalidArgument`] for per_page or page out of range; 404
    /// `ModelArts.2775` for an unknown job.
    pub async fn list_versions(
        session: &Session,
        job_id: i64,
        per_page: u32,
        page: u32,
    ) -> Result<VersionListResponse> {
        if !(1..=1000).contains(&per_page) {
            return Err(Error::InvalidArgument(format!(
                "per_page must be an integer 1-1000, got \"{per_page}\""
            )));
        }
        if page > u32::from(u16::MAX) {
            return Err(Error::InvalidArgument(format!(
                "page must be an integer 0-65535, got \"{page}\""
            )));
        }
        let req = ApiRequest::get(session.v1_path(&["training-jobs", &id(job_id), "versions"]))
            .query("per_page", per_page.to_string())
            .query("page", page.to_string());
        session.call(req).await
    }

    /// Creates a new version of a job from `pre_version_id`, which starts at once:
    /// `POST /v1/{project_id}/training-jobs/{job_id}/versions` (`training-jobs.md` §6).
    ///
    /// Fields absent from `overrides` are inherited from `pre_version_id` (pass
    /// `&JobConfig::default()` to rerun it unchanged). `version_desc` (0–256 characters) becomes
    /// the version's `version_desc`; it does not change the job's description. Never retried.
    ///
    /// Errors: [`Error::InvalidArgument`] for a version_desc over 256 characters; 404
    /// `ModelArts.2775` for an unknown job; 400 `ModelArts.0101` for an unknown pre_version_id.
    pub async fn create_version(
        session: &Session,
        job_id: i64,
        pre_version_id: i64,
        version_desc: &str,
        overrides: &JobConfig,
    ) -> Result<CreateJobResponse> {
        let desc = check_desc("job_desc", version_desc).map_err(Error::invalid)?;
        let mut config = config_object(overrides);
        config.insert("pre_version_id".into(), Value::from(pre_version_id));
        let mut body = Map::new();
        if !desc.is_empty() {
            body.insert("job_desc".into(), Value::String(desc));
        }
        body.insert("config".into(), Value::Object(config));
        let path = session.v1_path(&["training-jobs", &id(job_id), "versions"]);
        session
            .call(ApiRequest::new(Method::POST, path).json(&Value::Object(body)))
            .await
    }

    /// Stops a version: `POST .../training-jobs/{job_id}/versions/{version_id}/stop`
    /// (`training-jobs.md` §7). From 1, 2, 4, 7 it becomes 13 CANCELED; from 8 it becomes
    /// 9 KILLING, then 12 KILLED; stopping a KILLING version changes nothing. The new status is
    /// stored when this returns.
    ///
    /// Errors: 409 `ModelArts.2796` when the status does not allow a stop (a terminal one);
    /// 404 `ModelArts.2775`.
    pub async fn stop_version(session: &Session, job_id: i64, version_id: i64) -> Result<()> {
        let path = session.v1_path(&[
            "training-jobs",
            &id(job_id),
            "versions",
            &id(version_id),
            "stop",
        ]);
        let _: SuccessResponse = session.call(ApiRequest::new(Method::POST, path)).await?;
        Ok(())
    }

    /// Changes a job's description: `PUT /v1/{project_id}/training-jobs/{job_id}` with
    /// `{"job_desc": ...}` (`training-jobs.md` §8).
    ///
    /// Errors: [`Error::InvalidArgument`] for more than 256 characters; 404 `ModelArts.2775`.
    pub async fn update_job_desc(session: &Session, job_id: i64, job_desc: &str) -> Result<()> {
        let desc = check_desc("job_desc", job_desc).map_err(Error::invalid)?;
        let path = session.v1_path(&["training-jobs", &id(job_id)]);
        let body = serde_json::json!({ "job_desc": desc });
        let _: SuccessResponse = session
            .call(ApiRequest::new(Method::PUT, path).json(&body))
            .await?;
        Ok(())
    }

    /// Deletes a job and all its versions, stopping what still runs:
    /// `DELETE /v1/{project_id}/training-jobs/{job_id}` (`training-jobs.md` §9). Its name is free
    /// again at once; its ids are never reused.
    ///
    /// Errors: 404 `ModelArts.2775`.
    pub async fn delete_job(session: &Session, job_id: i64) -> Result<()> {
        let path = session.v1_path(&["training-jobs", &id(job_id)]);
        let _: SuccessResponse = session.call(ApiRequest::new(Method::DELETE, path)).await?;
        Ok(())
    }

    /// Deletes one version, stopping it if it runs:
    /// `DELETE .../training-jobs/{job_id}/versions/{version_id}` (`training-jobs.md` §4).
    /// Deleting a job's last version deletes the job.
    ///
    /// Errors: 404 `ModelArts.2775`.
    pub async fn delete_version(session: &Session, job_id: i64, version_id: i64) -> Result<()> {
        let path = session.v1_path(&["training-jobs", &id(job_id), "versions", &id(version_id)]);
        let _: SuccessResponse = session.call(ApiRequest::new(Method::DELETE, path)).await?;
        Ok(())
    }

    /// A version's log file names, one per worker (`{job_name}-{version_name}.{worker_index}`):
    /// `GET .../versions/{version_id}/log/file-names` (`training-jobs.md` §10).
    ///
    /// Errors: 404 `ModelArts.2775`.
    pub async fn log_file_names(
        session: &Session,
        job_id: i64,
        version_id: i64,
    ) -> Result<Vec<String>> {
        let path = session.v1_path(&[
            "training-jobs",
            &id(job_id),
            "versions",
            &id(version_id),
            "log",
            "file-names",
        ]);
        let resp: LogFileNamesResponse = session.call(ApiRequest::get(path)).await?;
        Ok(resp.log_file_list)
    }

    /// A page of log lines: `GET .../versions/{version_id}/aom-log` (`training-jobs.md` §11).
    ///
    /// `log_file` is a name from [`log_file_names`](Estimator::log_file_names). `base_line` is a
    /// cursor from a previous response (`""` = the newest lines). `lines` is 0–500. With
    /// [`Order::Desc`] you get the lines after `base_line` (pass the previous `end_line` to go
    /// on), with [`Order::Asc`] the lines before it (pass `start_line` to go back); the
    /// `base_line` line itself is never repeated. Every line of `content` ends with `\n`; a log
    /// that does not exist yet gives empty content.
    ///
    /// Errors: [`Error::InvalidArgument`] for an empty log_file or lines over 500; 404
    /// `ModelArts.2775`.
    pub async fn log_lines(
        session: &Session,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        base_line: &str,
        lines: u32,
        order: Order,
    ) -> Result<LogLinesResponse> {
        if log_file.is_empty() {
            return Err(Error::InvalidArgument("log_file is required".into()));
        }
        check_lines(lines)?;
        let path = session.v1_path(&[
            "training-jobs",
            &id(job_id),
            "versions",
            &id(version_id),
            "aom-log",
        ]);
        let req = ApiRequest::get(path)
            .query("log_file", log_file)
            .query("base_line", base_line)
            .query("lines", lines.to_string())
            .query("order", order.as_str());
        session.call(req).await
    }

    /// Follows a log like `tail -f` with the defaults of [`FollowOptions`]: first the newest 50
    /// lines, then new lines as they come (polling every 500 ms), ending once the version has
    /// reached a terminal status and no more lines come. Each item is a chunk of whole lines,
    /// each ending with `\n`.
    ///
    /// Errors (as items, after which the stream ends): those of
    /// [`log_lines`](Estimator::log_lines) and [`get_job_version`](Estimator::get_job_version).
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use trainyard_client::{Estimator, Session};
    /// # async fn run() -> trainyard_client::Result<()> {
    /// let session = Session::from_env()?;
    /// let files = Estimator::log_file_names(&session, 12, 31).await?;
    /// let mut log = std::pin::pin!(Estimator::follow_log(&session, 12, 31, &files[0]));
    /// while let Some(chunk) = log.next().await {
    ///     print!("{}", chunk?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn follow_log(
        session: &Session,
        job_id: i64,
        version_id: i64,
        log_file: &str,
    ) -> impl Stream<Item = Result<String>> + Send + 'static {
        Estimator::follow_log_with(
            session,
            job_id,
            version_id,
            log_file,
            FollowOptions::default(),
        )
    }

    /// [`follow_log`](Estimator::follow_log) with explicit options.
    ///
    /// The walk: one `aom-log` call with `base_line=""` gives the newest `tail` lines and the
    /// cursor; then calls with `base_line=<end_line>`, `order=desc`, `lines=500` give what came
    /// after (a full page is followed at once, an empty one by a pause of `poll`). After an
    /// empty page the version's status is read; once it is terminal, one more page is read and
    /// the stream ends when that page is empty. While the log does not exist yet, the first
    /// lines to appear are read from the start (up to 500 at once).
    pub fn follow_log_with(
        session: &Session,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        options: FollowOptions,
    ) -> impl Stream<Item = Result<String>> + Send + 'static {
        struct Follow {
            session: Session,
            job_id: i64,
            version_id: i64,
            log_file: String,
            options: FollowOptions,
            cursor: Option<String>,
            first: bool,
            terminal: bool,
        }
        let state = Follow {
            session: session.clone(),
            job_id,
            version_id,
            log_file: log_file.to_owned(),
            options,
            cursor: None,
            first: true,
            terminal: false,
        };
        stream::try_unfold(state, |mut s| async move {
            if s.first {
                check_lines(s.options.tail)?;
                if s.log_file.is_empty() {
                    return Err(Error::InvalidArgument("log_file is required".into()));
                }
            }
            loop {
                let (base, lines) = match &s.cursor {
                    Some(c) => (c.clone(), MAX_LOG_LINES),
                    // The first call: the newest `tail` lines (at least 1, to learn the cursor).
                    None if s.first => (String::new(), s.options.tail.max(1)),
                    // The log did not exist at the first call: read it from its start.
                    None => (String::new(), MAX_LOG_LINES),
                };
                let page = Estimator::log_lines(
                    &s.session,
                    s.job_id,
                    s.version_id,
                    &s.log_file,
                    &base,
                    lines,
                    Order::Desc,
                )
                .await?;
                let was_first = std::mem::replace(&mut s.first, false);
                if page.lines > 0 {
                    s.cursor = Some(page.end_line.clone());
                    // With `tail` 0 the first page only served to learn the cursor.
                    let content = if was_first && s.options.tail == 0 {
                        String::new()
                    } else {
                        page.content
                    };
                    if !content.is_empty() {
                        return Ok(Some((content, s)));
                    }
                    continue;
                }
                if s.terminal {
                    return Ok(None);
                }
                let v = Estimator::get_job_version(&s.session, s.job_id, s.version_id).await?;
                if v.status.is_terminal() {
                    // Drain what was written before the end, then stop.
                    s.terminal = true;
                    continue;
                }
                tokio::time::sleep(s.options.poll_interval).await;
            }
        })
    }

    /// Waits until a version reaches a terminal status (`statuses.md`) and returns its final
    /// details, reading them every `poll` (at least 10 ms).
    ///
    /// Errors: [`Error::WaitTimeout`] with the last status seen when `timeout` passes first;
    /// those of [`get_job_version`](Estimator::get_job_version).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use trainyard_client::{Estimator, JobStatus, Session};
    /// # async fn run() -> trainyard_client::Result<()> {
    /// let session = Session::from_env()?;
    /// let v = Estimator::wait(&session, 12, 31, Duration::from_secs(600), Duration::from_secs(2)).await?;
    /// if v.status != JobStatus::Completed {
    ///     eprintln!("{}: exit code {:?}, {}", v.status, v.exit_code, v.status_reason);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait(
        session: &Session,
        job_id: i64,
        version_id: i64,
        timeout: Duration,
        poll: Duration,
    ) -> Result<VersionInfo> {
        let poll = poll.max(Duration::from_millis(10));
        let start = Instant::now();
        loop {
            let v = Estimator::get_job_version(session, job_id, version_id).await?;
            if v.status.is_terminal() {
                return Ok(v);
            }
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(Error::WaitTimeout {
                    job_id,
                    version_id,
                    status: v.status,
                    waited,
                });
            }
            tokio::time::sleep(poll.min(timeout - waited)).await;
        }
    }

    /// The resource specs jobs may use: `GET /v1/{project_id}/job/resource-specs?job_type=train`
    /// (`training-jobs.md` §12, `runtime.md`).
    pub async fn specs(session: &Session) -> Result<SpecListResponse> {
        let req =
            ApiRequest::get(session.v1_path(&["job", "resource-specs"])).query("job_type", "train");
        session.call(req).await
    }

    /// The engines jobs may use: `GET /v1/{project_id}/job/ai-engines?job_type=train`
    /// (`training-jobs.md` §13, `runtime.md`).
    pub async fn engines(session: &Session) -> Result<EngineListResponse> {
        let req =
            ApiRequest::get(session.v1_path(&["job", "ai-engines"])).query("job_type", "train");
        session.call(req).await
    }

    /// Imports finished jobs from history records: `POST /trainyard/v1/{project_id}/job-history`
    /// with one JSON object per line (`import.md`). All or nothing; job ids are assigned in
    /// record order. Never retried.
    ///
    /// ```no_run
    /// use serde_json::json;
    /// use trainyard_client::{Estimator, Session};
    /// # async fn run() -> trainyard_client::Result<()> {
    /// let session = Session::from_env()?;
    /// let records = vec![json!({"job_name": "old-run-1", "status": 10, "create_time": 1700000000000_i64,
    ///                           "start_time": 1700000001000_i64, "end_time": 1700000061000_i64})];
    /// let resp = Estimator::import_history(&session, records).await?;
    /// println!("imported {} (ids {}..={})", resp.imported, resp.first_job_id, resp.last_job_id);
    /// # Ok(()) }
    /// ```
    ///
    /// Errors: [`Error::InvalidArgument`] for a record that is not a JSON object, no records,
    /// more than 100,000 records or more than 64 MiB; from the server, 400 `ModelArts.0101` naming
    /// the first bad line and field, `ModelArts.0103` for a duplicate name, `ModelArts.2815`
    /// when the batch exceeds the job quota.
    pub async fn import_history<I>(session: &Session, records: I) -> Result<ImportResponse>
    where
        I: IntoIterator<Item = Value>,
    {
        let mut body = Vec::new();
        for (i, r) in records.into_iter().enumerate() {
            if !r.is_object() {
                return Err(Error::InvalidArgument(format!(
                    "line {}: a history record must be a JSON object",
                    i + 1
                )));
            }
            if i >= MAX_RECORDS {
                return Err(Error::InvalidArgument(format!(
                    "at most {MAX_RECORDS} records may be imported at once"
                )));
            }
            serde_json::to_writer(&mut body, &r)
                .map_err(|e| Error::InvalidArgument(e.to_string()))?;
            body.push(b'\n');
            if body.len() > MAX_BODY_BYTES {
                return Err(Error::InvalidArgument(
                    "the import body must be at most 64 MiB".into(),
                ));
            }
        }
        Estimator::import_history_ndjson(session, body).await
    }

    /// [`import_history`](Estimator::import_history) with a ready NDJSON body (one JSON object
    /// per line, a trailing newline optional), sent as is with
    /// `Content-Type: application/x-ndjson`.
    ///
    /// Errors: [`Error::InvalidArgument`] for an empty body, more than 100,000 lines or more than
    /// 64 MiB; the server's as for [`import_history`](Estimator::import_history).
    pub async fn import_history_ndjson(
        session: &Session,
        ndjson: impl Into<Vec<u8>>,
    ) -> Result<ImportResponse> {
        let body = ndjson.into();
        if body.len() > MAX_BODY_BYTES {
            return Err(Error::InvalidArgument(
                "the import body must be at most 64 MiB".into(),
            ));
        }
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
        if lines == 0 {
            return Err(Error::InvalidArgument(
                "the import body has no records".into(),
            ));
        }
        if lines > MAX_RECORDS {
            return Err(Error::InvalidArgument(format!(
                "at most {MAX_RECORDS} records may be imported at once, got {lines}"
            )));
        }
        let path = session.project_path("trainyard/v1", &["job-history"]);
        session
            .call(ApiRequest::new(Method::POST, path).raw_body("application/x-ndjson", body))
            .await
    }

    /// Lists training-job configs: `GET /v1/{project_id}/training-job-configs`
    /// (`training-jobs.md` §14). Returns the body as JSON (`config_total_count`, `configs`).
    ///
    /// Errors: [`Error::InvalidArgument`] for parameters out of range (see
    /// [`ConfigListParams`]).
    pub async fn list_configs(session: &Session, params: &ConfigListParams) -> Result<Value> {
        let mut req = ApiRequest::get(session.v1_path(&["training-job-configs"]));
        req.query = params.to_pairs()?;
        session.call(req).await
    }

    /// Creates a named config: `POST /v1/{project_id}/training-job-configs` (§14). `config` is a
    /// JSON object with `config_name` (1–64 of `A-Z a-z 0-9 _ -`), optional `config_desc` and the
    /// flat fields of a job `config`. Never retried.
    ///
    /// Errors: [`Error::InvalidArgument`] when `config` is not an object or its `config_name`
    /// is missing or invalid; the server's 400s.
    pub async fn create_config(session: &Session, config: &Value) -> Result<Value> {
        let name = config
            .as_object()
            .ok_or_else(|| Error::InvalidArgument("the config must be a JSON object".into()))?
            .get("config_name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::InvalidArgument("config_name is required".into()))?;
        check_config_name(name)?;
        session
            .call(
                ApiRequest::new(Method::POST, session.v1_path(&["training-job-configs"]))
                    .json(config),
            )
            .await
    }

    /// A config by name: `GET /v1/{project_id}/training-job-configs/{config_name}` (§14).
    ///
    /// Errors: [`Error::InvalidArgument`] for an invalid name; 404 when it does not exist.
    pub async fn get_config(session: &Session, config_name: &str) -> Result<Value> {
        check_config_name(config_name)?;
        session
            .call(ApiRequest::get(
                session.v1_path(&["training-job-configs", config_name]),
            ))
            .await
    }

    /// Replaces a config: `PUT /v1/{project_id}/training-job-configs/{config_name}` with the JSON
    /// object `config` (§14).
    ///
    /// Errors: [`Error::InvalidArgument`] for an invalid name or a non-object body; 404.
    pub async fn update_config(
        session: &Session,
        config_name: &str,
        config: &Value,
    ) -> Result<Value> {
        check_config_name(config_name)?;
        if !config.is_object() {
            return Err(Error::InvalidArgument(
                "the config must be a JSON object".into(),
            ));
        }
        let path = session.v1_path(&["training-job-configs", config_name]);
        session
            .call(ApiRequest::new(Method::PUT, path).json(config))
            .await
    }

    /// Deletes a config: `DELETE /v1/{project_id}/training-job-configs/{config_name}` (§14).
    ///
    /// Errors: [`Error::InvalidArgument`] for an invalid name; 404.
    pub async fn delete_config(session: &Session, config_name: &str) -> Result<()> {
        check_config_name(config_name)?;
        let path = session.v1_path(&["training-job-configs", config_name]);
        let _: SuccessResponse = session.call(ApiRequest::new(Method::DELETE, path)).await?;
        Ok(())
    }
}

/// Options of [`Estimator::follow_log_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FollowOptions {
    /// How many of the newest lines to show first, 0–500 (default 50).
    pub tail: u32,
    /// Pause between two polls that found nothing new (default 500 ms).
    pub poll_interval: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            tail: 50,
            poll_interval: Duration::from_millis(500),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_extra_fields_are_flattened() {
        let mut c = JobConfig {
            worker_server_num: Some(2),
            spec_id: Some(1),
            user_command: Some("echo hi".into()),
            ..JobConfig::default()
        };
        c.extra.insert("pool_id".into(), Value::from("p1"));
        let o = config_object(&c);
        assert_eq!(
            Value::Object(o),
            serde_json::json!({"worker_server_num": 2, "spec_id": 1, "user_command": "echo hi", "pool_id": "p1"})
        );
    }

    #[test]
    fn argument_checks() {
        assert!(check_lines(500).is_ok());
        assert!(matches!(check_lines(501), Err(Error::InvalidArgument(m)) if m.contains("lines")));
        assert!(check_config_name("cfg_1-a").is_ok());
        for bad in ["", "a b", "a.b", &"c".repeat(65)] {
            assert!(check_config_name(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn invalid_arguments_send_nothing() {
        // Port 9 (discard) on loopback: nothing listens, so any request would be a Transport error.
        let s = Session::without_auth("http://127.0.0.1:9", "p").unwrap();
        let cfg = JobConfig {
            worker_server_num: Some(1),
            spec_id: Some(1),
            user_command: Some("true".into()),
            ..JobConfig::default()
        };
        let e = Estimator::create_job(&s, "bad name", "", None, &cfg)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains("job_name")),
            "{e}"
        );
        let e = Estimator::create_job(&s, "ok", &"d".repeat(257), None, &cfg)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains("job_desc")),
            "{e}"
        );
        let e = Estimator::create_job(&s, "ok", "", Some("w/1"), &cfg)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains("workspace_id")),
            "{e}"
        );
        let e = Estimator::create_job(&s, "ok", "", None, &JobConfig::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains("config.worker_server_num")),
            "{e}"
        );
        let e = Estimator::get_job_list(&s, &crate::JobListParams::new().per_page(1001))
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ModelArts.0101: per_page must be an integer 1-1000, got \"1001\""
        );
        let e = Estimator::list_versions(&s, 1, 0, 0).await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        let e = Estimator::log_lines(&s, 1, 1, "f", "", 501, Order::Desc)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        let e = Estimator::import_history(&s, vec![serde_json::json!([1])])
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument(m) if m.contains("line 1")),
            "{e}"
        );
        let e = Estimator::import_history_ndjson(&s, b"\n\n".to_vec())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        let e = Estimator::create_config(&s, &serde_json::json!({"config_name": "a b"}))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)));
        let mut first = std::pin::pin!(Estimator::list_all(
            &s,
            &crate::JobListParams::new().page(0)
        ));
        let item = futures::StreamExt::next(&mut first).await.unwrap();
        assert!(matches!(item, Err(Error::InvalidArgument(m)) if m.contains("page")));
        assert!(futures::StreamExt::next(&mut first).await.is_none());
    }
}
