//! The router: every route in one place, with its OpenAPI documentation (utoipa-axum's
//! `OpenApiRouter`: a route and its document come from the handler's `#[utoipa::path]`), and
//! the middleware stack around it.
//!
//! Middleware, outermost first: request id (`X-Request-Id`, kept or made) → its propagation to
//! the answer → the request span (method, route template, request id) → metrics (count and
//! latency by route template and status) → authentication (401/403 before routing) → body
//! limits → the handler. Unknown paths and methods get the error envelope (404/405).
//!
//! Other routers (e.g. a web console) merge into [`router`] as plain axum `Router`s; routes that
//! belong to the REST API go into [`api`] with a `#[utoipa::path]` so the document follows.

use crate::auth;
use crate::config::MetricsAccess;
use crate::error::error_response;
use crate::routes::{configs, health, history, jobs, logs, meta, versions};
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::history::MAX_BODY_BYTES;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

async fn no_such_path() -> Response {
    error_response(&ApiError::new(ErrorCode::NoSuchPath, "no such path"))
}

async fn method_not_allowed() -> Response {
    error_response(&ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this path",
    ))
}

/// Every documented route (the REST API, identity, history import, health, readiness and
/// metrics), JSON bodies limited to `json_limit` bytes and the history import to 64 MiB.
pub fn api(json_limit: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jobs::list_jobs, jobs::create_job))
        .routes(routes!(jobs::update_job, jobs::delete_job))
        .routes(routes!(versions::list_versions, versions::create_version))
        .routes(routes!(versions::get_version, versions::delete_version))
        .routes(routes!(versions::stop_version))
        .routes(routes!(logs::log_file_names))
        .routes(routes!(logs::aom_log))
        .routes(routes!(logs::log_stream))
        .routes(routes!(meta::list_specs))
        .routes(routes!(meta::list_engines))
        .routes(routes!(configs::list_configs, configs::create_config))
        .routes(routes!(
            configs::get_config,
            configs::update_config,
            configs::delete_config
        ))
        .routes(routes!(auth::token::identity_version))
        .routes(routes!(auth::token::issue_token))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .layer(DefaultBodyLimit::max(json_limit))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(history::import_history))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
}

/// The OpenAPI 3.1 document of [`api`] (what `GET /openapi.json` serves and `openapi.json`
/// at the repository root holds).
pub fn openapi() -> utoipa::openapi::OpenApi {
    crate::openapi::finish(api(1).into_openapi())
}

/// The request's span: method, path, route template and request id, so every log line of the
/// request (e.g. an internal error) carries the id the client was told to quote.
fn request_span(req: &Request) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        route,
        request_id,
    )
}

/// Builds the router with its middleware (see the module docs). Wrap it in
/// [`crate::normalize_path`] to accept trailing slashes (see [`crate::serve`]).
pub fn router(state: AppState) -> Router {
    let (api, doc) = api(state.config.max_body_bytes).split_for_parts();
    let doc = crate::openapi::finish(doc);
    let app = Router::new()
        .merge(api)
        .merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", doc))
        .merge(crate::console::router(
            &state,
            std::sync::Arc::new(crate::console::Keys::for_data_dir(&state.config.data_dir)),
        ))
        .fallback(no_such_path)
        .method_not_allowed_fallback(method_not_allowed);
    // One `Router::layer` call with the whole stack: axum wraps (and per request clones) every
    // route once per `layer` call, so separate calls would cost a boxed clone each.
    let metrics =
        (state.config.metrics != MetricsAccess::Off).then_some(crate::metrics::TrackLayer);
    app.layer(
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
            )
            .option_layer(metrics)
            .layer(middleware::from_fn_with_state(
                state.clone(),
                auth::authenticate,
            )),
    )
    .with_state(state)
}

/// The router of a separate metrics listener (`metrics_listen`): `GET /metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(
                |axum::extract::State(s): axum::extract::State<AppState>| async move {
                    crate::metrics::render_blocking(s).await
                },
            ),
        )
        .fallback(no_such_path)
        .with_state(state)
}
