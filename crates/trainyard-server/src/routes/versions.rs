//! `/v1/{project_id}/training-jobs/{job_id}/versions...`: detail (§3), delete (§4), list (§5),
//! create (§6), stop (§7). Thin: parse the request, call `crate::service`, answer JSON.

use crate::error::HttpResult;
use crate::extract::Path;
use crate::extract::{Body, QueryPairs, id, project};
use crate::openapi::{ApiErrors, CreateVersionBody, TAG_VERSIONS};
use crate::service;
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use trainyard_api::jobs::{
    CreateJobResponse, CreateVersionRequest, SuccessResponse, VersionDetailResponse, VersionInfo,
    VersionListResponse, body_object,
};
use trainyard_api::params::parse_int_in;
use trainyard_api::status::JobStatus;

/// A WAITING version without a stored reason says why it waits, from the scheduler's view now
/// (`queued: 4 of 4 running in project P (quotas)`); computed at read time, never stored.
fn explain_waiting(s: &AppState, project: &str, v: &mut VersionInfo) {
    if v.status == JobStatus::Waiting && v.status_reason.is_empty() {
        v.status_reason = s.supervisor.waiting_reason(project);
    }
}

/// `GET .../versions/{version_id}`: the version object.
#[utoipa::path(get, path = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}", tag = TAG_VERSIONS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"), ("version_id" = i64, Path, description = "version id")),
    responses((status = 200, description = "the version", body = VersionDetailResponse), ApiErrors))]
pub async fn get_version(
    State(s): State<AppState>,
    Path((p, j, v)): Path<(String, String, String)>,
) -> HttpResult<Json<VersionDetailResponse>> {
    let project = project(&p)?;
    let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
    let (job, ver) = service::get_version(&s, project.as_str(), job_id, version_id).await?;
    let mut version = ver.to_info(&job, now_ms());
    explain_waiting(&s, project.as_str(), &mut version);
    Ok(Json(VersionDetailResponse {
        is_success: true,
        version,
    }))
}

/// `GET .../versions?per_page=&page=`: newest first; `page` 0 (default) = all.
#[utoipa::path(get, path = "/v1/{project_id}/training-jobs/{job_id}/versions", tag = TAG_VERSIONS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"),
        ("per_page" = Option<i64>, Query, description = "1-1000 (default 10)"),
        ("page" = Option<i64>, Query, description = "0-65535; 0 (default) = every version")),
    responses((status = 200, description = "the job's versions, newest first", body = VersionListResponse), ApiErrors))]
pub async fn list_versions(
    State(s): State<AppState>,
    Path((p, j)): Path<(String, String)>,
    q: QueryPairs,
) -> HttpResult<Json<VersionListResponse>> {
    let project = project(&p)?;
    let job_id = id("job_id", &j)?;
    let per_page = q
        .get("per_page")
        .map(|v| parse_int_in("per_page", v, 1, 1000))
        .transpose()?
        .unwrap_or(10);
    let page = q
        .get("page")
        .map(|v| parse_int_in("page", v, 0, 65535))
        .transpose()?
        .unwrap_or(0);
    let (job, versions) = service::list_versions(&s, project.as_str(), job_id).await?;
    let now = now_ms();
    let count = versions.len() as i64;
    let page_rows: Vec<_> = if page == 0 {
        versions.iter().collect()
    } else {
        versions
            .iter()
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .collect()
    };
    Ok(Json(VersionListResponse {
        is_success: true,
        job_id: job.job_id,
        job_name: job.job_name.clone(),
        job_desc: job.job_desc.clone(),
        version_count: count,
        versions: page_rows
            .into_iter()
            .map(|v| {
                let mut info = v.to_info(&job, now);
                explain_waiting(&s, project.as_str(), &mut info);
                info
            })
            .collect(),
    }))
}

/// `POST .../versions`: a new version inheriting absent config fields from `pre_version_id`.
#[utoipa::path(post, path = "/v1/{project_id}/training-jobs/{job_id}/versions", tag = TAG_VERSIONS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id")), request_body = CreateVersionBody,
    responses((status = 200, description = "the new version (status 1 INIT)", body = CreateJobResponse), ApiErrors))]
pub async fn create_version(
    State(s): State<AppState>,
    Path((p, j)): Path<(String, String)>,
    Body(body): Body,
) -> HttpResult<Json<CreateJobResponse>> {
    let project = project(&p)?;
    let job_id = id("job_id", &j)?;
    let req = CreateVersionRequest::from_json(&body_object(&body)?)?;
    Ok(Json(
        service::create_version(&s, project.as_str(), job_id, req).await?,
    ))
}

/// `DELETE .../versions/{version_id}`: stops it if it runs and removes it; the last version
/// takes the job with it.
#[utoipa::path(delete, path = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}", tag = TAG_VERSIONS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"), ("version_id" = i64, Path, description = "version id")),
    responses((status = 200, description = "the version is deleted (the job too if it was the last)", body = SuccessResponse), ApiErrors))]
pub async fn delete_version(
    State(s): State<AppState>,
    Path((p, j, v)): Path<(String, String, String)>,
) -> HttpResult<Json<SuccessResponse>> {
    let project = project(&p)?;
    let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
    service::delete_version(&s, project.as_str(), job_id, version_id).await?;
    Ok(Json(SuccessResponse { is_success: true }))
}

/// `POST .../versions/{version_id}/stop`: returns after the new status (13, or 9) is stored.
#[utoipa::path(post, path = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/stop", tag = TAG_VERSIONS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("job_id" = i64, Path, description = "job id"), ("version_id" = i64, Path, description = "version id")),
    responses((status = 200, description = "stopping: 13 CANCELED before it started, else 9 KILLING then 12 KILLED", body = SuccessResponse), ApiErrors))]
pub async fn stop_version(
    State(s): State<AppState>,
    Path((p, j, v)): Path<(String, String, String)>,
) -> HttpResult<Json<SuccessResponse>> {
    let project = project(&p)?;
    let (job_id, version_id) = (id("job_id", &j)?, id("version_id", &v)?);
    service::stop_version(&s, project.as_str(), job_id, version_id).await?;
    Ok(Json(SuccessResponse { is_success: true }))
}
