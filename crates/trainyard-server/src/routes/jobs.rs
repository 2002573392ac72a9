//! `/v1/{project_id}/training-jobs`: the list (`list.md`), create (§1), update (§8), delete (§9).
//! Thin: parse the request, call `crate::service`, answer JSON.

use crate::error::HttpResult;
use crate::extract::Path;
use crate::extract::{Body, QueryPairs, id, project};
use crate::openapi::{ApiErrors, CreateJobBody, TAG_JOBS, UpdateJobBody};
use crate::service;
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use trainyard_api::jobs::{
    CreateJobRequest, CreateJobResponse, SuccessResponse, body_object, parse_update_desc,
};
use trainyard_api::list::{JobListQuery, JobListResponse};

/// `GET /v1/{project_id}/training-jobs`: one page of the job list, answered from the index.
#[utoipa::path(get, path = "/v1/{project_id}/training-jobs", tag = TAG_JOBS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"),
        ("status" = Option<String>, Query, description = "status codes 0-22, comma-separated or repeated (union); absent = all"),
        ("per_page" = Option<i64>, Query, description = "rows per page, 1-1000 (default 10)"),
        ("page" = Option<i64>, Query, description = "page, 1-65535 (default 1)"),
        ("sortBy" = Option<String>, Query, description = "job_name (default), job_desc, status, duration, create_time, version_count, engine_type"),
        ("order" = Option<String>, Query, description = "asc (default) or desc"),
        ("search_content" = Option<String>, Query, description = "literal, case-insensitive substring of job_name (0-64 characters)"),
        ("workspace_id" = Option<String>, Query, description = "workspace (default 0)")),
    responses((status = 200, description = "one page of the job list (list.md)", body = JobListResponse), ApiErrors))]
pub async fn list_jobs(
    State(s): State<AppState>,
    Path(p): Path<String>,
    q: QueryPairs,
) -> HttpResult<Json<JobListResponse>> {
    let project = project(&p)?;
    let query = JobListQuery::from_pairs(q.iter())?;
    Ok(Json(
        service::list_jobs(&s, project.as_str(), &query, now_ms()).await?,
    ))
}

/// `POST /v1/{project_id}/training-jobs`: creates a job and its version 1, then schedules it.
#[utoipa::path(post, path = "/v1/{project_id}/training-jobs", tag = TAG_JOBS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)")), request_body = CreateJobBody,
    responses((status = 200, description = "the job and its version 1 (status 1 INIT)", body = CreateJobResponse), ApiErrors))]
pub async fn create_job(
    State(s): State<AppState>,
    Path(p): Path<String>,
    Body(body): Body,
) -> HttpResult<Json<CreateJobResponse>> {
    let project = project(&p)?;
    let req = CreateJobRequest::from_json(&body_object(&body)?)?;
    Ok(Json(service::create_job(&s, project.as_str(), req).await?))
}

/// `PUT /v1/{project_id}/training-jobs/{job_id}`: changes the job's description.
#[utoipa::path(put, path = "/v1/{project_id}/training-jobs/{job_id}", tag = TAG_JOBS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id")), request_body = UpdateJobBody,
    responses((status = 200, description = "description changed", body = SuccessResponse), ApiErrors))]
pub async fn update_job(
    State(s): State<AppState>,
    Path((p, j)): Path<(String, String)>,
    Body(body): Body,
) -> HttpResult<Json<SuccessResponse>> {
    let project = project(&p)?;
    let job_id = id("job_id", &j)?;
    let desc = parse_update_desc(&body_object(&body)?)?;
    service::update_job_desc(&s, project.as_str(), job_id, desc).await?;
    Ok(Json(SuccessResponse { is_success: true }))
}

/// `DELETE /v1/{project_id}/training-jobs/{job_id}`: stops what still runs, then removes the
/// job and its versions; gone from the list and counts at once.
#[utoipa::path(delete, path = "/v1/{project_id}/training-jobs/{job_id}", tag = TAG_JOBS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id")),
    responses((status = 200, description = "the job and its versions are deleted (running ones stopped)", body = SuccessResponse), ApiErrors))]
pub async fn delete_job(
    State(s): State<AppState>,
    Path((p, j)): Path<(String, String)>,
) -> HttpResult<Json<SuccessResponse>> {
    let project = project(&p)?;
    let job_id = id("job_id", &j)?;
    service::delete_job(&s, project.as_str(), job_id).await?;
    Ok(Json(SuccessResponse { is_success: true }))
}
