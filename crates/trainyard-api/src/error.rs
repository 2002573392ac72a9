//! Error codes and the error envelope (`errors.md`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code trainyard answers with, with its HTTP status (`errors.md`, "Codes trainyard uses").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400 `ModelArts.0101`: a parameter or field is missing, malformed or out of range.
    /// Also used with 413 for a body over the limit (see [`ErrorCode::BodyTooLarge`]).
    InvalidParameter,
    /// 413 `ModelArts.0101`: request body over the limit.
    BodyTooLarge,
    /// 400 `ModelArts.2787`: the body is not valid JSON, or not a JSON object.
    InvalidJsonBody,
    /// 400 `ModelArts.2790`: unknown `sortBy`/`sort_by` key.
    InvalidSortKey,
    /// 400 `ModelArts.0103`: `job_name` already used in this project and workspace.
    DuplicateJobName,
    /// 400 `ModelArts.2780`: unknown `engine_id`.
    UnknownEngine,
    /// 400 `ModelArts.2781`: unknown `spec_id`, or `worker_server_num` above the spec's `max_num`.
    InvalidSpec,
    /// 400 `ModelArts.2815`: the project's job quota is used up.
    JobQuotaExceeded,
    /// 401 `ModelArts.0201`: no credentials.
    NoCredentials,
    /// 401 `ModelArts.0202`: token expired.
    TokenExpired,
    /// 401 `ModelArts.0203`: token unknown or malformed.
    TokenInvalid,
    /// 401 `IAM.0004`: wrong user, domain or password, or a project the user may not use.
    IamAuthFailed,
    /// 401 `APIG.0301`: AK/SK signature missing parts, unknown AK, bad signature, or skewed date.
    SignatureInvalid,
    /// 403 `ModelArts.0210`: the credentials belong to another project.
    ProjectForbidden,
    /// 404 `ModelArts.2775`: job or version does not exist in this project.
    NotFound,
    /// 404 `ModelArts.2836`: no such path.
    NoSuchPath,
    /// 405 `ModelArts.2803`: method not allowed on this path.
    MethodNotAllowed,
    /// 409 `ModelArts.2796`: stop asked of a version whose status does not allow it.
    StatusConflict,
    /// 429 `ModelArts.2799`: too many requests.
    TooManyRequests,
    /// 500 `ModelArts.0010`: internal error.
    Internal,
    /// 503 `ModelArts.0010` **[trainyard]**: the database cannot be reached right now (a
    /// PostgreSQL restart, a lost connection); nothing was changed, or for a write the outcome
    /// is unknown. Answered with `Retry-After`; the service resumes by itself.
    Unavailable,
}

impl ErrorCode {
    /// The `error_code` string, e.g. `"ModelArts.0101"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidParameter | ErrorCode::BodyTooLarge => "ModelArts.0101",
            ErrorCode::InvalidJsonBody => "ModelArts.2787",
            ErrorCode::InvalidSortKey => "ModelArts.2790",
            ErrorCode::DuplicateJobName => "ModelArts.0103",
            ErrorCode::UnknownEngine => "ModelArts.2780",
            ErrorCode::InvalidSpec => "ModelArts.2781",
            ErrorCode::JobQuotaExceeded => "ModelArts.2815",
            ErrorCode::NoCredentials => "ModelArts.0201",
            ErrorCode::TokenExpired => "ModelArts.0202",
            ErrorCode::TokenInvalid => "ModelArts.0203",
            ErrorCode::IamAuthFailed => "IAM.0004",
            ErrorCode::SignatureInvalid => "APIG.0301",
            ErrorCode::ProjectForbidden => "ModelArts.0210",
            ErrorCode::NotFound => "ModelArts.2775",
            ErrorCode::NoSuchPath => "ModelArts.2836",
            ErrorCode::MethodNotAllowed => "ModelArts.2803",
            ErrorCode::StatusConflict => "ModelArts.2796",
            ErrorCode::TooManyRequests => "ModelArts.2799",
            ErrorCode::Internal | ErrorCode::Unavailable => "ModelArts.0010",
        }
    }

    /// The HTTP status code that goes with this error.
    pub const fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidParameter
            | ErrorCode::InvalidJsonBody
            | ErrorCode::InvalidSortKey
            | ErrorCode::DuplicateJobName
            | ErrorCode::UnknownEngine
            | ErrorCode::InvalidSpec
            | ErrorCode::JobQuotaExceeded => 400,
            ErrorCode::BodyTooLarge => 413,
            ErrorCode::NoCredentials
            | ErrorCode::TokenExpired
            | ErrorCode::TokenInvalid
            | ErrorCode::IamAuthFailed
            | ErrorCode::SignatureInvalid => 401,
            ErrorCode::ProjectForbidden => 403,
            ErrorCode::NotFound | ErrorCode::NoSuchPath => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::StatusConflict => 409,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API error: a code and a one-line message naming the offending parameter or field and
/// the value allowed. Becomes an [`ErrorBody`] on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The error code (gives the HTTP status too).
    pub code: ErrorCode,
    /// The message, without secrets, paths or internals.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// 400 `ModelArts.0101`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidParameter, message)
    }

    /// 404 `ModelArts.2775` with a message that reveals nothing about other projects.
    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, what)
    }

    /// The envelope for this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody::new(self.code.as_str(), &self.message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// The error envelope, one flat JSON object (`errors.md`, "Envelope"):
/// `{"is_success": false, "error_code": "...", "error_message": "...", "error_msg": "..."}`.
/// Both message keys carry the same text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Always `false`.
    pub is_success: bool,
    /// E.g. `ModelArts.0101`.
    pub error_code: String,
    /// The message (v1 API pages' key).
    #[serde(default)]
    pub error_message: String,
    /// The same message (SDK pages' key; the only key Huawei's core SDK reads).
    #[serde(default)]
    pub error_msg: String,
}

impl ErrorBody {
    /// An envelope with both message keys set to `message`.
    pub fn new(code: &str, message: &str) -> ErrorBody {
        ErrorBody {
            is_success: false,
            error_code: code.to_owned(),
            error_message: message.to_owned(),
            error_msg: message.to_owned(),
        }
    }

    /// The message, whichever key carried it.
    pub fn message(&self) -> &str {
        if self.error_msg.is_empty() {
            &self.error_message
        } else {
            &self.error_msg
        }
    }
}
