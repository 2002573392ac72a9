//! The one place that writes the error envelope (`errors.md`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_store::StoreError;

/// An error leaving a handler: becomes the envelope with the code's HTTP status.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(e: ApiError) -> Self {
        HttpError(e)
    }
}

impl HttpError {
    /// An internal error: logged with its cause, answered with a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> HttpError {
        tracing::error!(error = %cause, "internal error");
        HttpError(ApiError::new(
            ErrorCode::Internal,
            "internal error; see the server log for this request id",
        ))
    }
}

impl From<StoreError> for HttpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                HttpError(ApiError::not_found("the job or version does not exist"))
            }
            StoreError::DuplicateName { name, .. } => HttpError(ApiError::new(
                ErrorCode::DuplicateJobName,
                format!("job_name {name:?} is already used by a job in this workspace"),
            )),
            StoreError::QuotaExceeded { max_jobs } => HttpError(ApiError::new(
                ErrorCode::JobQuotaExceeded,
                format!(
                    "the project's job quota is used up (max_jobs {max_jobs}); delete jobs to create more"
                ),
            )),
            StoreError::Conflict(st) => HttpError(ApiError::new(
                ErrorCode::StatusConflict,
                format!(
                    "the version's status {} ({}) does not allow this",
                    st.name(),
                    st.code()
                ),
            )),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "the database is unavailable");
                HttpError(ApiError::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; retry later",
                ))
            }
            other => {
                let source = std::error::Error::source(&other)
                    .map(ToString::to_string)
                    .unwrap_or_default();
                HttpError::internal(&format_args!("{other}: {source}"))
            }
        }
    }
}

impl From<tokio::task::JoinError> for HttpError {
    fn from(e: tokio::task::JoinError) -> Self {
        HttpError::internal(&e)
    }
}

/// Seconds a client is told to wait (`Retry-After`) after a 503 for an unavailable database.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u32 = 1;

/// Builds the JSON error response for an [`ApiError`] (503s carry `Retry-After`).
pub fn error_response(e: &ApiError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&e.body()).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if e.code == ErrorCode::Unavailable {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    resp
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

/// Result of a handler.
pub type HttpResult<T> = Result<T, HttpError>;
