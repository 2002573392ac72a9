//! Authentication: the layer every `/v1/...` and `/trainyard/v1/...` request passes first
//! (`errors.md` "Order of checks": authentication, then the project, then routing).
//!
//! With `insecure_no_auth` every request is let through (tests only). Otherwise a request
//! without credentials is 401 `ModelArts.0201`.

use crate::error::error_response;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use trainyard_api::error::{ApiError, ErrorCode};

/// True for paths that need credentials.
pub fn requires_auth(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/trainyard/v1/")
}

/// The authentication middleware.
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.config.insecure_no_auth || !requires_auth(req.uri().path()) {
        return next.run(req).await;
    }
    error_response(&ApiError::new(
        ErrorCode::NoCredentials,
        "authentication required: send X-Auth-Token or an SDK-HMAC-SHA256 Authorization header",
    ))
}
