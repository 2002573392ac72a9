//! The SDK's one error type ([`Error`]) and its decoding from the error envelope (`errors.md`).

use std::time::Duration;

use trainyard_api::{ErrorBody, JobStatus};

/// `Result<T, trainyard_client::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a call of this SDK.
///
/// [`Display`](std::fmt::Display) is always one line. For errors that carry a ModelArts code it is
/// `CODE: message`, exactly as the server's envelope says it, e.g.
/// `ModelArts.0101: per_page must be an integer 1-1000, got "1001"`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request could not be sent or its response could not be read (DNS, connection refused,
    /// TLS, connect timeout of [`SessionBuilder::connect_timeout`](crate::SessionBuilder::connect_timeout),
    /// request timeout of [`SessionBuilder::request_timeout`](crate::SessionBuilder::request_timeout),
    /// connection reset). Retryable failures are only reported after the retries of
    /// [`RetryPolicy`](crate::RetryPolicy) are used up.
    #[error("{}", transport_line(.0))]
    Transport(reqwest::Error),

    /// The server answered with a non-2xx HTTP status and (normally) the error envelope of
    /// `errors.md`: `{"is_success": false, "error_code": "...", "error_msg": "..."}`.
    ///
    /// When the body is not the envelope (a proxy's HTML page, say), `error_code` is empty and
    /// `error_msg` holds the start of the body or the HTTP reason phrase.
    #[error("{}", api_line(*.http_status, .error_code, .error_msg))]
    Api {
        /// The HTTP status code, e.g. `400`.
        http_status: u16,
        /// The envelope's `error_code`, e.g. `ModelArts.0101` (`errors.md` "Codes").
        error_code: String,
        /// The envelope's `error_msg` (or `error_message`): one line naming the offending
        /// parameter or field and the value allowed.
        error_msg: String,
        /// The `X-Request-Id` response header, to quote when asking the server's operator.
        request_id: Option<String>,
    },

    /// An argument was rejected before any request was sent, with the same rules and the same
    /// message as the server would use (`list.md` "Query parameters", `training-jobs.md`).
    /// Displays as `ModelArts.0101: {message}`, the code the server would have answered with.
    #[error("ModelArts.0101: {0}")]
    InvalidArgument(String),

    /// A 2xx response whose body is not what the contract promises (not JSON, or a missing or
    /// mistyped field).
    #[error("unexpected response body (HTTP {http_status}): {message}")]
    Decode {
        /// The HTTP status code of the response.
        http_status: u16,
        /// What did not match, e.g. serde's message with line and column.
        message: String,
    },

    /// A token could not be obtained from `POST /v3/auth/tokens` (`auth.md` "Tokens"): the
    /// server refused the user, domain, password or project (`IAM.0004`), or answered without an
    /// `X-Subject-Token` header or a parsable `token.expires_at`.
    #[error("authentication failed: {}", auth_line(.error_code.as_deref(), .message))]
    Auth {
        /// The server's `error_code` (e.g. `IAM.0004`) when it sent the envelope.
        error_code: Option<String>,
        /// One line saying what failed.
        message: String,
        /// The HTTP status of the refusal (e.g. `401`), when the server answered.
        http_status: Option<u16>,
        /// The `X-Request-Id` of the refusal, when the server answered.
        request_id: Option<String>,
    },

    /// The environment or the credentials file could not be used by
    /// [`Session::from_env`](crate::Session::from_env) (unreadable or malformed file, a bad
    /// endpoint URL, half a key pair).
    #[error("configuration: {0}")]
    Config(String),

    /// [`Estimator::wait`](crate::Estimator::wait) gave up before the version reached a terminal
    /// status (`statuses.md`).
    #[error(
        "timed out after {}s waiting for job {job_id} version {version_id} (status {status})",
        .waited.as_secs_f64()
    )]
    WaitTimeout {
        /// The job.
        job_id: i64,
        /// The version.
        version_id: i64,
        /// The last status seen.
        status: JobStatus,
        /// How long it waited.
        waited: Duration,
    },
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error::Transport(e)
    }
}

fn transport_line(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    one_line(&s)
}

fn api_line(http_status: u16, code: &str, msg: &str) -> String {
    if code.is_empty() {
        format!("HTTP {http_status}: {}", one_line(msg))
    } else {
        format!("{code}: {}", one_line(msg))
    }
}

fn auth_line(code: Option<&str>, msg: &str) -> String {
    match code {
        Some(c) => format!("{c}: {}", one_line(msg)),
        None => one_line(msg),
    }
}

/// Replaces line breaks so that a message always displays on one line.
pub(crate) fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r']) {
        s.split(['\n', '\r'])
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        s.to_owned()
    }
}

impl Error {
    /// The ModelArts error code: the envelope's for [`Error::Api`], `ModelArts.0101` for
    /// [`Error::InvalidArgument`], the server's for [`Error::Auth`] when it sent one; `None`
    /// otherwise.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Error::Api { error_code, .. } if !error_code.is_empty() => Some(error_code),
            Error::InvalidArgument(_) => Some("ModelArts.0101"),
            Error::Auth { error_code, .. } => error_code.as_deref(),
            _ => None,
        }
    }

    /// The message without the code (the envelope's `error_msg` for [`Error::Api`]).
    pub fn error_msg(&self) -> String {
        match self {
            Error::Api { error_msg, .. } => error_msg.clone(),
            Error::InvalidArgument(m) => m.clone(),
            Error::Auth { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The HTTP status of the response, for [`Error::Api`] and [`Error::Decode`] (and for
    /// [`Error::Auth`] and [`Error::Transport`] when there was one).
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Api { http_status, .. } | Error::Decode { http_status, .. } => {
                Some(*http_status)
            }
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            Error::Auth { http_status, .. } => *http_status,
            _ => None,
        }
    }

    /// The `X-Request-Id` of the failed response, when the server sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } | Error::Auth { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// True for 404 `ModelArts.2775`: the job or version does not exist in this project
    /// (`errors.md`; another project's job ids look the same).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { http_status: 404, error_code, .. } if error_code == "ModelArts.2775")
    }

    /// Builds [`Error::Api`] from a non-2xx response: the envelope when the body is one,
    /// otherwise the start of the body (at most 200 characters) or the HTTP reason phrase.
    pub fn from_response(http_status: u16, body: &[u8], request_id: Option<String>) -> Error {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(env) if !env.error_code.is_empty() => Error::Api {
                http_status,
                error_code: env.error_code.clone(),
                error_msg: one_line(env.message()),
                request_id,
            },
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                let error_msg = if text.is_empty() {
                    reqwest::StatusCode::from_u16(http_status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("no response body")
                        .to_owned()
                } else {
                    let clipped: String = text.chars().take(200).collect();
                    one_line(&clipped)
                };
                Error::Api {
                    http_status,
                    error_code: String::new(),
                    error_msg,
                    request_id,
                }
            }
        }
    }

    pub(crate) fn invalid(e: trainyard_api::error::ApiError) -> Error {
        Error::InvalidArgument(e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_decodes_and_displays_on_one_line() {
        let body = br#"{"is_success": false, "error_code": "ModelArts.0101", "error_message": "per_page must be 1-1000, got 1001", "error_msg": "per_page must be 1-1000, got 1001"}"#;
        let e = Error::from_response(400, body, Some("req-1".into()));
        assert_eq!(
            e.to_string(),
            "ModelArts.0101: per_page must be 1-1000, got 1001"
        );
        assert_eq!(e.error_code(), Some("ModelArts.0101"));
        assert_eq!(e.http_status(), Some(400));
        assert_eq!(e.request_id(), Some("req-1"));
        assert!(!e.is_not_found());
        match e {
            Error::Api {
                http_status,
                error_code,
                error_msg,
                request_id,
            } => {
                assert_eq!(
                    (http_status, error_code.as_str(), error_msg.as_str()),
                    (400, "ModelArts.0101", "per_page must be 1-1000, got 1001")
                );
                assert_eq!(request_id.as_deref(), Some("req-1"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn envelope_with_only_one_message_key() {
        let e = Error::from_response(404, br#"{"is_success":false,"error_code":"ModelArts.2775","error_message":"job 7 does not exist"}"#, None);
        assert_eq!(e.to_string(), "ModelArts.2775: job 7 does not exist");
        assert!(e.is_not_found());
        let e = Error::from_response(
            401,
            br#"{"is_success":false,"error_code":"APIG.0301","error_msg":"bad\nsignature"}"#,
            None,
        );
        assert_eq!(e.to_string(), "APIG.0301: bad signature");
    }

    #[test]
    fn non_envelope_bodies() {
        let e = Error::from_response(502, b"<html>\n<body>Bad Gateway</body>\n</html>", None);
        assert_eq!(
            e.to_string(),
            "HTTP 502: <html> <body>Bad Gateway</body> </html>"
        );
        assert_eq!(e.error_code(), None);
        let e = Error::from_response(503, b"", None);
        assert_eq!(e.to_string(), "HTTP 503: Service Unavailable");
        let long = "x".repeat(1000);
        let e = Error::from_response(500, long.as_bytes(), None);
        assert_eq!(e.error_msg().len(), 200);
    }

    #[test]
    fn other_variants_display_one_line() {
        let e = Error::InvalidArgument("per_page must be an integer 1-1000, got \"1001\"".into());
        assert_eq!(
            e.to_string(),
            "ModelArts.0101: per_page must be an integer 1-1000, got \"1001\""
        );
        assert_eq!(e.error_code(), Some("ModelArts.0101"));
        let e = Error::Auth {
            error_code: Some("IAM.0004".into()),
            message: "wrong user or password".into(),
            http_status: Some(401),
            request_id: Some("r-1".into()),
        };
        assert_eq!((e.http_status(), e.request_id()), (Some(401), Some("r-1")));
        assert_eq!(
            e.to_string(),
            "authentication failed: IAM.0004: wrong user or password"
        );
        let e = Error::WaitTimeout {
            job_id: 1,
            version_id: 2,
            status: JobStatus::Running,
            waited: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 1.5s waiting for job 1 version 2 (status JOBSTAT_RUNNING)"
        );
        let e = Error::Decode {
            http_status: 200,
            message: "missing field `jobs`".into(),
        };
        assert!(!e.to_string().contains('\n'));
    }
}
