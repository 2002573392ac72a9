//! The operations on jobs and versions, one implementation each, shared by the JSON handlers
//! (`crate::routes`) and the web console (`crate::console`). A caller parses its own input
//! (JSON body, query, HTML form) into the `trainyard-api` request types, then calls one function
//! here; the answer and the errors (`HttpError` wrapping the API's `ApiError`, with the API's
//! messages) are the same whoever calls.
//!
//! Writes go through [`AppState::write`] (one committed transaction and its index change, in
//! commit order); status changes after creation go through the supervisor.

use crate::error::{HttpError, HttpResult};
use crate::state::{AppState, now_ms};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::jobs::{CreateJobRequest, CreateJobResponse, CreateVersionRequest, JobConfig};
use trainyard_api::list::{JobListQuery, JobListResponse};
use trainyard_index::{ListPage, StatusCounts};
use trainyard_store::{DeletedVersion, JobRecord, NewJob, NewVersion, VersionRecord};

/// One page of a project's job list, answered from the index at `now` (`list.md`), with
/// `job_count_limit` and `quotas` from the configuration and the index's project counter.
///
/// On a store shared by several servers (PostgreSQL) the index first catches up with every
/// write committed before this call, by any server ([`AppState::sync_index`]), so the answer
/// reflects every write acknowledged before the request. Errors: 503 when the database does
/// not answer (the index cannot know what it misses).
pub async fn list_jobs(
    s: &AppState,
    project: &str,
    query: &JobListQuery,
    now: i64,
) -> HttpResult<JobListResponse> {
    s.sync_index().await?;
    let (page, count) = {
        let ix = s.store.index().read();
        (ix.query(project, query, now), ix.project_job_count(project))
    };
    Ok(list_response(s, page, count))
}

/// [`list_jobs`], plus the jobs of each status that match the search (all statuses, whatever
/// the status filter): the counts the console shows beside its status filter
/// (`ListIndex::query_with_counts`), from the same index read. The caller first calls
/// [`AppState::sync_index`] (as [`list_jobs`] does) on a store shared by several servers.
pub fn list_jobs_with_counts(
    s: &AppState,
    project: &str,
    query: &JobListQuery,
    now: i64,
) -> (JobListResponse, StatusCounts) {
    let (page, counts, count) = {
        let ix = s.store.index().read();
        let (page, counts) = ix.query_with_counts(project, query, now);
        (page, counts, ix.project_job_count(project))
    };
    (list_response(s, page, count), counts)
}

fn list_response(s: &AppState, page: ListPage, project_jobs: u64) -> JobListResponse {
    JobListResponse {
        is_success: true,
        job_total_count: page.total,
        job_count_limit: s.config.max_jobs.saturating_sub(project_jobs),
        quotas: s.config.quotas,
        jobs: page.rows,
    }
}

/// Resolves the engine and spec of a complete config into the snapshot a version stores.
/// Errors: an incomplete config 400 `ModelArts.0101`; unknown engine 400 `ModelArts.2780`;
/// unknown spec or too many workers 400 `ModelArts.2781`.
pub fn new_version(
    s: &AppState,
    config: JobConfig,
    version_desc: String,
    now: i64,
) -> HttpResult<NewVersion> {
    config.check_complete()?;
    let engine = match config.engine_id {
        Some(id) => Some(
            s.config
                .engine(id)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::UnknownEngine,
                        format!("engine_id {id} is not a known engine (see /job/ai-engines)"),
                    )
                })?
                .engine
                .clone(),
        ),
        None => None,
    };
    let spec_id = config.spec_id.unwrap_or_default();
    let spec = s
        .config
        .spec(spec_id)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSpec,
                format!("spec_id {spec_id} is not a known resource spec (see /job/resource-specs)"),
            )
        })?
        .clone();
    let workers = config.worker_server_num.unwrap_or(1);
    if workers > spec.max_num {
        return Err(HttpError(ApiError::new(
            ErrorCode::InvalidSpec,
            format!(
                "worker_server_num {workers} is above the spec's max_num {}",
                spec.max_num
            ),
        )));
    }
    Ok(NewVersion {
        create_time: now,
        version_desc,
        engine,
        spec,
        config,
    })
}

/// The answer to a create job or create version (`training-jobs.md` §1, §6).
pub fn created(job: JobRecord, v: &VersionRecord) -> CreateJobResponse {
    CreateJobResponse {
        is_success: true,
        job_id: job.job_id,
        job_name: job.job_name,
        status: v.status,
        create_time: v.create_time,
        version_id: v.version_id,
        version_name: v.version_name(),
        resource_id: v.resource_id(),
    }
}

/// Creates a job and its version 1 in `project` (`training-jobs.md` §1), then wakes the
/// scheduler. Errors: engine/spec (see [`new_version`]), quota 400 `ModelArts.2815`, duplicate
/// name 400 `ModelArts.0103`.
pub async fn create_job(
    s: &AppState,
    project: &str,
    req: CreateJobRequest,
) -> HttpResult<CreateJobResponse> {
    let version = new_version(s, req.config, String::new(), now_ms())?;
    s.workers.check_config(project, &version.config)?;
    let new = NewJob {
        project_id: project.to_owned(),
        workspace_id: req.workspace_id.as_str().to_owned(),
        job_name: req.job_name.into_string(),
        job_desc: req.job_desc,
    };
    let max_jobs = s.config.max_jobs;
    let (job, v) = s
        .write(move |st| Ok(st.create_job(&new, &version, max_jobs)?))
        .await?;
    s.supervisor.wake();
    Ok(created(job, &v))
}

/// Changes a job's description (`training-jobs.md` §8). Errors: 404 `ModelArts.2775` for a job
/// not in `project`.
pub async fn update_job_desc(
    s: &AppState,
    project: &str,
    job_id: i64,
    desc: String,
) -> HttpResult<()> {
    let project = project.to_owned();
    s.write(move |st| {
        st.update_job_desc(&project, job_id, &desc)?;
        Ok(())
    })
    .await
}

/// Deletes a job and its versions (`training-jobs.md` §9): stops what still runs; gone from
/// the list and counts at once. Returns the deleted job.
pub async fn delete_job(s: &AppState, project: &str, job_id: i64) -> HttpResult<JobRecord> {
    let project = project.to_owned();
    let deleted = s
        .write(move |st| Ok(st.delete_job(&project, job_id)?))
        .await?;
    s.supervisor.forget(&deleted.versions).await;
    Ok(deleted.job)
}

/// A version of a job of `project` (`training-jobs.md` §3). Errors: 404 `ModelArts.2775`.
pub async fn get_version(
    s: &AppState,
    project: &str,
    job_id: i64,
    version_id: i64,
) -> HttpResult<(JobRecord, VersionRecord)> {
    let project = project.to_owned();
    s.read(move |st| Ok(st.get_version(&project, job_id, version_id)?))
        .await
}

/// A job of `project` and all its versions, newest first (`training-jobs.md` §5). Errors:
/// 404 `ModelArts.2775`.
pub async fn list_versions(
    s: &AppState,
    project: &str,
    job_id: i64,
) -> HttpResult<(JobRecord, Vec<VersionRecord>)> {
    let project = project.to_owned();
    s.read(move |st| Ok(st.list_versions(&project, job_id)?))
        .await
}

/// Creates a version (`training-jobs.md` §6): absent config fields are inherited from
/// `pre_version_id`; then wakes the scheduler. Errors: 404 for an unknown job or base version,
/// engine/spec as [`new_version`].
pub async fn create_version(
    s: &AppState,
    project: &str,
    job_id: i64,
    req: CreateVersionRequest,
) -> HttpResult<CreateJobResponse> {
    let pre = req.pre_version_id;
    let (_, base) = get_version(s, project, job_id, pre).await?;
    let config = req.config.inherit(&base.config);
    let version = new_version(s, config, req.version_desc, now_ms())?;
    s.workers.check_config(project, &version.config)?;
    let project = project.to_owned();
    let (job, v) = s
        .write(move |st| Ok(st.create_version(&project, job_id, pre, &version)?))
        .await?;
    s.supervisor.wake();
    Ok(created(job, &v))
}

/// Deletes a version (`training-jobs.md` §4): stops it if it runs; the last version takes the
/// job with it.
pub async fn delete_version(
    s: &AppState,
    project: &str,
    job_id: i64,
    version_id: i64,
) -> HttpResult<()> {
    let project = project.to_owned();
    let gone = s
        .write(
            move |st| match st.delete_version(&project, job_id, version_id)? {
                DeletedVersion::Remaining { version, .. } => Ok(vec![*version]),
                DeletedVersion::JobDeleted(dj) => Ok(dj.versions),
            },
        )
        .await?;
    s.supervisor.forget(&gone).await;
    Ok(())
}

/// Stops a version (`training-jobs.md` §7); returns after the new status (13, or 9) is stored.
/// Errors: 404, or 409 `ModelArts.2796` from a terminal status.
pub async fn stop_version(
    s: &AppState,
    project: &str,
    job_id: i64,
    version_id: i64,
) -> HttpResult<()> {
    s.supervisor.stop(project, job_id, version_id).await
}
