//! The router: every route in one place, and the middleware stack around it.

use crate::auth;
use crate::error::error_response;
use crate::routes::{configs, history, jobs, logs, meta, versions};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::history::MAX_BODY_BYTES;

async fn no_such_path() -> Response {
    error_response(&ApiError::new(ErrorCode::NoSuchPath, "no such path"))
}

async fn method_not_allowed() -> Response {
    error_response(&ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this path",
    ))
}

/// Builds the router with its middleware (request id, tracing, authentication, body limits).
/// Wrap it in `NormalizePathLayer::trim_trailing_slash()` to accept trailing slashes (see
/// [`crate::serve`]).
pub fn router(state: AppState) -> Router {
    let v1 = "/v1/{project_id}";
    let job = "/v1/{project_id}/training-jobs/{job_id}";
    let version = "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}";
    let json_limit = state.config.max_body_bytes;
    Router::new()
        .route(
            &format!("{v1}/training-jobs"),
            get(jobs::list_jobs).post(jobs::create_job),
        )
        .route(
            job,
            axum::routing::put(jobs::update_job).delete(jobs::delete_job),
        )
        .route(
            &format!("{job}/versions"),
            get(versions::list_versions).post(versions::create_version),
        )
        .route(
            version,
            get(versions::get_version).delete(versions::delete_version),
        )
        .route(&format!("{version}/stop"), post(versions::stop_version))
        .route(
            &format!("{version}/log/file-names"),
            get(logs::log_file_names),
        )
        .route(&format!("{version}/aom-log"), get(logs::aom_log))
        .route(&format!("{version}/log/stream"), get(logs::log_stream))
        .route(&format!("{v1}/job/resource-specs"), get(meta::list_specs))
        .route(&format!("{v1}/job/ai-engines"), get(meta::list_engines))
        .route(
            &format!("{v1}/training-job-configs"),
            get(configs::list_configs).post(configs::create_config),
        )
        .route(
            &format!("{v1}/training-job-configs/{{config_name}}"),
            get(configs::get_config)
                .put(configs::update_config)
                .delete(configs::delete_config),
        )
        .route("/v3", get(auth::identity_version))
        .route("/v3/auth/tokens", post(auth::issue_token))
        .layer(DefaultBodyLimit::max(json_limit))
        .merge(
            Router::new()
                .route(
                    "/trainyard/v1/{project_id}/job-history",
                    post(history::import_history),
                )
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .fallback(no_such_path)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
