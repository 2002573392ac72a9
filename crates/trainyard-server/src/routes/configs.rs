//! `/v1/{project_id}/training-job-configs`: named, reusable job configs (`training-jobs.md` §14).
//!
//! Decisions (see docs/API-COMPAT.md, "Training-job configs"):
//! - The config fields may come flat at the top level of the body (the ModelArts shape, what
//!   the SDK sends) or inside a `config` object; a field given in both places is 400.
//! - The fields are checked like a job's `config` (`JobConfig::from_json`), and `engine_id`,
//!   `spec_id` and `worker_server_num` against the server's engines and specs when given, but a
//!   config need not be complete: it is a template for jobs and versions, not a runnable
//!   version.
//! - `PUT` replaces `config_desc` when given and the whole field set when any field is given
//!   (no merge); a `config_name` in a `PUT` body must equal the path's (no renaming).
//! - Configs are not jobs: writes change nothing in the job list.

use crate::error::{HttpError, HttpResult};
use crate::extract::Path;
use crate::extract::{Body, QueryPairs, project};
use crate::openapi::{
    ApiErrors, ConfigBody, ConfigDetailResponse, ConfigListResponse, ConfigNameResponse,
    TAG_CONFIGS,
};
use crate::state::{AppState, now_ms};
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use trainyard_api::configs::{ConfigListQuery, parse_config_name};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::jobs::SuccessResponse;
use trainyard_api::jobs::{JobConfig, body_object, type_name};
use trainyard_api::params::{check_desc, clip};
use trainyard_store::StoreError;
use trainyard_store::configs::ConfigRecord;

/// Body keys that are not config fields.
const META_KEYS: [&str; 4] = ["config_name", "config_desc", "workspace_id", "config"];

/// The flat JSON form of a config: its known fields, with the pass-through ones at the same level.
fn flat(c: &JobConfig) -> HttpResult<Map<String, Value>> {
    let mut obj = match serde_json::to_value(c) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(HttpError::internal(
                &"a config did not serialise to an object",
            ));
        }
        Err(e) => return Err(HttpError::internal(&e)),
    };
    if let Some(Value::Object(extra)) = obj.remove("extra") {
        obj.extend(extra);
    }
    Ok(obj)
}

/// The config fields of a create/update body, checked and flattened: the top-level fields and
/// those of a `config` object (a field in both is 400). `None` when the body has none.
fn body_config(
    s: &AppState,
    project: &str,
    body: &Map<String, Value>,
) -> HttpResult<Option<Map<String, Value>>> {
    let top: Map<String, Value> = body
        .iter()
        .filter(|(k, _)| !META_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut fields = flat(&JobConfig::from_json(&top)?)?;
    match body.get("config") {
        None | Some(Value::Null) => {}
        Some(Value::Object(inner)) => {
            for (k, v) in flat(&JobConfig::from_json(inner)?)? {
                if fields.contains_key(&k) {
                    return Err(ApiError::invalid(format!(
                        "{k} is given both at the top level and in config; give it once"
                    ))
                    .into());
                }
                fields.insert(k, v);
            }
        }
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "config must be an object, got {}",
                type_name(other)
            ))
            .into());
        }
    }
    if fields.is_empty() {
        return Ok(None);
    }
    // parse the merged fields once more: the same checks, and the typed values to check
    // against the server's engines and specs
    let typed = JobConfig::from_json(&fields)?;
    check_refs(s, &typed)?;
    // paths under the allowed roots, as for a job (400 naming the field and the roots)
    s.workers.check_config(project, &typed)?;
    Ok(Some(fields))
}

/// Checks the engine and spec a config names, when it names them (like a job's create, but
/// without requiring a complete config). Errors: 400 `ModelArts.2780` / `ModelArts.2781`.
fn check_refs(s: &AppState, c: &JobConfig) -> Result<(), ApiError> {
    if let Some(id) = c.engine_id
        && s.config.engine(id).is_none()
    {
        return Err(ApiError::new(
            ErrorCode::UnknownEngine,
            format!("engine_id {id} is not a known engine (see /job/ai-engines)"),
        ));
    }
    if let Some(id) = c.spec_id {
        let spec = s.config.spec(id).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidSpec,
                format!("spec_id {id} is not a known resource spec (see /job/resource-specs)"),
            )
        })?;
        if let Some(n) = c.worker_server_num
            && n > spec.max_num
        {
            return Err(ApiError::new(
                ErrorCode::InvalidSpec,
                format!(
                    "worker_server_num {n} is above the spec's max_num {}",
                    spec.max_num
                ),
            ));
        }
    }
    Ok(())
}

/// `config_desc` of a body: `None` when absent or null.
fn body_desc(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("config_desc") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(d)) => check_desc("config_desc", d).map(Some),
        Some(other) => Err(ApiError::invalid(format!(
            "config_desc must be a string, got {}",
            type_name(other)
        ))),
    }
}

/// Maps store errors with config wording (the store's own mapping speaks of jobs).
fn store_error(e: StoreError, name: &str) -> HttpError {
    match e {
        StoreError::NotFound => ApiError::not_found(format!(
            "config_name {name:?} does not exist in this project"
        ))
        .into(),
        StoreError::DuplicateName { .. } => ApiError::new(
            ErrorCode::DuplicateJobName,
            format!("config_name {name:?} is already used by a config in this project"),
        )
        .into(),
        other => other.into(),
    }
}

/// A config as the API shows it: `config_name`, `config_desc`, `create_time` and its flat
/// fields.
fn config_json(rec: ConfigRecord) -> Map<String, Value> {
    let mut out = rec.config;
    out.insert("config_name".into(), Value::String(rec.config_name));
    out.insert("config_desc".into(), Value::String(rec.config_desc));
    out.insert("create_time".into(), Value::from(rec.create_time));
    out
}

/// `GET /v1/{project_id}/training-job-configs`: one page of the project's configs.
#[utoipa::path(get, path = "/v1/{project_id}/training-job-configs", tag = TAG_CONFIGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"),
        ("per_page" = Option<i64>, Query, description = "1-1000 (default 10)"),
        ("page" = Option<i64>, Query, description = "1-65535 (default 1)"),
        ("sortBy" = Option<String>, Query, description = "config_name or create_time"),
        ("order" = Option<String>, Query, description = "asc or desc (default desc)"),
        ("search_content" = Option<String>, Query, description = "case-insensitive substring of config_name")),
    responses((status = 200, description = "one page of the project's configs", body = ConfigListResponse), ApiErrors))]
pub async fn list_configs(
    State(s): State<AppState>,
    Path(p): Path<String>,
    q: QueryPairs,
) -> HttpResult<Json<Value>> {
    let project = project(&p)?.as_str().to_owned();
    let query = ConfigListQuery::from_pairs(q.iter())?;
    let (total, rows) = s
        .read(move |st| Ok(st.list_configs(&project, &query)?))
        .await?;
    let configs: Vec<Value> = rows
        .into_iter()
        .map(|r| Value::Object(config_json(r)))
        .collect();
    Ok(Json(json!({
        "is_success": true,
        "config_total_count": total,
        "configs": configs,
    })))
}

/// `POST /v1/{project_id}/training-job-configs`: creates a config.
#[utoipa::path(post, path = "/v1/{project_id}/training-job-configs", tag = TAG_CONFIGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)")), request_body = ConfigBody,
    responses((status = 200, description = "created", body = ConfigNameResponse), ApiErrors))]
pub async fn create_config(
    State(s): State<AppState>,
    Path(p): Path<String>,
    Body(body): Body,
) -> HttpResult<Json<Value>> {
    let project = project(&p)?.as_str().to_owned();
    let body = body_object(&body)?;
    let name = match body.get("config_name") {
        Some(Value::String(n)) => parse_config_name(n)?,
        None | Some(Value::Null) => return Err(ApiError::invalid("config_name is required").into()),
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "config_name must be a string, got {}",
                type_name(other)
            ))
            .into());
        }
    };
    let desc = body_desc(&body)?.unwrap_or_default();
    let config = body_config(&s, &project, &body)?.unwrap_or_default();
    let now = now_ms();
    let rec = s
        .write(move |st| {
            st.create_config(&project, &name, &desc, &config, now)
                .map_err(|e| store_error(e, &name))
        })
        .await?;
    Ok(Json(
        json!({"is_success": true, "config_name": rec.config_name}),
    ))
}

/// `GET /v1/{project_id}/training-job-configs/{config_name}`: one config.
#[utoipa::path(get, path = "/v1/{project_id}/training-job-configs/{config_name}", tag = TAG_CONFIGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("config_name" = String, Path, description = "config name")),
    responses((status = 200, description = "the config", body = ConfigDetailResponse), ApiErrors))]
pub async fn get_config(
    State(s): State<AppState>,
    Path((p, n)): Path<(String, String)>,
) -> HttpResult<Json<Value>> {
    let project = project(&p)?.as_str().to_owned();
    let name = parse_config_name(&n)?;
    let rec = s
        .read(move |st| {
            st.get_config(&project, &name)
                .map_err(|e| store_error(e, &name))
        })
        .await?;
    let mut out = config_json(rec);
    out.insert("is_success".into(), Value::Bool(true));
    Ok(Json(Value::Object(out)))
}

/// `PUT /v1/{project_id}/training-job-configs/{config_name}`: replaces the description and/or
/// the fields.
#[utoipa::path(put, path = "/v1/{project_id}/training-job-configs/{config_name}", tag = TAG_CONFIGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("config_name" = String, Path, description = "config name")), request_body = ConfigBody,
    responses((status = 200, description = "updated", body = ConfigNameResponse), ApiErrors))]
pub async fn update_config(
    State(s): State<AppState>,
    Path((p, n)): Path<(String, String)>,
    Body(body): Body,
) -> HttpResult<Json<Value>> {
    let project = project(&p)?.as_str().to_owned();
    let name = parse_config_name(&n)?;
    let body = body_object(&body)?;
    match body.get("config_name") {
        None | Some(Value::Null) => {}
        Some(Value::String(b)) if *b == name => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "config_name in the body must be the path's {name:?} (a config cannot be renamed), got {}",
                match other {
                    Value::String(b) => format!("{:?}", clip(b)),
                    v => type_name(v).to_owned(),
                }
            ))
            .into());
        }
    }
    let desc = body_desc(&body)?;
    let config = body_config(&s, &project, &body)?;
    if desc.is_none() && config.is_none() {
        return Err(
            ApiError::invalid("nothing to update: give config_desc and/or config fields").into(),
        );
    }
    let now = now_ms();
    let rec = s
        .write(move |st| {
            st.update_config(&project, &name, desc.as_deref(), config.as_ref(), now)
                .map_err(|e| store_error(e, &name))
        })
        .await?;
    Ok(Json(
        json!({"is_success": true, "config_name": rec.config_name}),
    ))
}

/// `DELETE /v1/{project_id}/training-job-configs/{config_name}`: removes a config.
#[utoipa::path(delete, path = "/v1/{project_id}/training-job-configs/{config_name}", tag = TAG_CONFIGS,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)"), ("config_name" = String, Path, description = "config name")),
    responses((status = 200, description = "deleted", body = SuccessResponse), ApiErrors))]
pub async fn delete_config(
    State(s): State<AppState>,
    Path((p, n)): Path<(String, String)>,
) -> HttpResult<Json<Value>> {
    let project = project(&p)?.as_str().to_owned();
    let name = parse_config_name(&n)?;
    s.write(move |st| {
        st.delete_config(&project, &name)
            .map_err(|e| store_error(e, &name))
    })
    .await?;
    Ok(Json(json!({"is_success": true})))
}
