//! `GET /job/resource-specs` and `GET /job/ai-engines` (`training-jobs.md` §12–13).

use crate::error::HttpResult;
use crate::extract::Path;
use crate::extract::project;
use crate::openapi::{ApiErrors, TAG_META};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use trainyard_api::jobs::{EngineListResponse, SpecListResponse};

/// Lists the configured resource specs.
#[utoipa::path(get, path = "/v1/{project_id}/job/resource-specs", tag = TAG_META,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)")),
    responses((status = 200, description = "the resource specs", body = SpecListResponse), ApiErrors))]
pub async fn list_specs(
    State(s): State<AppState>,
    Path(p): Path<String>,
) -> HttpResult<Json<SpecListResponse>> {
    project(&p)?;
    let specs = s.config.specs.clone();
    Ok(Json(SpecListResponse {
        is_success: true,
        spec_total_count: specs.len() as i64,
        specs,
    }))
}

/// Lists the configured engines.
#[utoipa::path(get, path = "/v1/{project_id}/job/ai-engines", tag = TAG_META,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)")),
    responses((status = 200, description = "the engines", body = EngineListResponse), ApiErrors))]
pub async fn list_engines(
    State(s): State<AppState>,
    Path(p): Path<String>,
) -> HttpResult<Json<EngineListResponse>> {
    project(&p)?;
    let engines = s.config.engines.iter().map(|e| e.engine.clone()).collect();
    Ok(Json(EngineListResponse {
        is_success: true,
        engines,
    }))
}
