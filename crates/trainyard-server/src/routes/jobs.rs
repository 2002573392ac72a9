//! `/v1/{project_id}/training-jobs`: the list (`list.md`), create (§1), update (§8), delete (§9).

use crate::error::{HttpError, HttpResult};
use crate::extract::{Body, QueryPairs, id, project};
use crate::state::{AppState, IndexOp, now_ms};
use axum::Json;
use axum::extract::{Path, State};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::jobs::{
    CreateJobRequest, CreateJobResponse, JobConfig, SuccessResponse, body_object, parse_update_desc,
};
use trainyard_api::list::{JobListQuery, JobListResponse};
use trainyard_store::{JobRecord, NewJob, NewVersion, VersionRecord};

/// `GET /v1/{project_id}/training-jobs`: one page of the job list, answered from the index.
pub async fn list_jobs(
    State(s): State<AppState>,
    Path(p): Path<String>,
    q: QueryPairs,
) -> HttpResult<Json<JobListResponse>> {
    let project = project(&p)?;
    let query = JobListQuery::from_pairs(q.iter())?;
    let now = now_ms();
    let (page, count) = {
        let ix = s.index.read();
        (
            ix.query(project.as_str(), &query, now),
            ix.project_job_count(project.as_str()),
        )
    };
    Ok(Json(JobListResponse {
        is_success: true,
        job_total_count: page.total,
        job_count_limit: s.config.max_jobs.saturating_sub(count),
        quotas: s.config.quotas,
        jobs: page.rows,
    }))
}

/// Resolves the engine and spec of a complete config into the snapshot a version stores.
/// Errors: unknown engine 400 `ModelArts.2780`; unknown spec or too many workers 400 `ModelArts.2781`.
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

/// `POST /v1/{project_id}/training-jobs`: creates a job and its version 1, then schedules it.
pub async fn create_job(
    State(s): State<AppState>,
    Path(p): Path<String>,
    Body(body): Body,
) -> HttpResult<Json<CreateJobResponse>> {
    let project = project(&p)?;
    let req = CreateJobRequest::from_json(&body_object(&body)?)?;
    let version = new_version(&s, req.config, String::new(), now_ms())?;
    let new = NewJob {
        project_id: project.as_str().to_owned(),
        workspace_id: req.workspace_id.as_str().to_owned(),
        job_name: req.job_name.into_string(),
        job_desc: req.job_desc,
    };
    let max_jobs = s.config.max_jobs;
    let (job, v) = s
        .write(move |w| {
            let (job, v, row) = w.create_job(&new, &version, max_jobs)?;
            let op = IndexOp::Upsert {
                project: job.project_id.clone(),
                workspace: job.workspace_id.clone(),
                row,
            };
            Ok(((job, v), op))
        })
        .await?;
    s.supervisor.wake();
    Ok(Json(created(job, &v)))
}

/// `PUT /v1/{project_id}/training-jobs/{job_id}`: changes the job's description.
pub async fn update_job(
    State(s): State<AppState>,
    Path((p, j)): Path<(String, String)>,
    Body(body): Body,
) -> HttpResult<Json<SuccessResponse>> {
    let project = project(&p)?.as_str().to_owned();
    let job_id = id("job_id", &j)?;
    let desc = parse_update_desc(&body_object(&body)?)?;
    s.write(move |w| {
        let (job, row) = w.update_job_desc(&project, job_id, &desc)?;
        Ok((
            (),
            IndexOp::Upsert {
                project,
                workspace: job.workspace_id,
                row,
            },
        ))
    })
    .await?;
    Ok(Json(SuccessResponse { is_success: true }))
}

/// `DELETE /v1/{project_id}/training-jobs/{job_id}`: stops what still runs, then removes the
/// job and its versions; gone from the list and counts at once.
pub async fn delete_job(
    State(s): State<AppState>,
    Path((p, j)): Path<(String, String)>,
) -> HttpResult<Json<SuccessResponse>> {
    let project = project(&p)?.as_str().to_owned();
    let job_id = id("job_id", &j)?;
    let deleted = s
        .write(move |w| {
            let d = w.delete_job(&project, job_id)?;
            let op = IndexOp::Remove {
                project,
                workspace: d.job.workspace_id.clone(),
                job_id,
            };
            Ok((d, op))
        })
        .await?;
    s.supervisor.forget(&deleted.versions).await;
    Ok(Json(SuccessResponse { is_success: true }))
}
