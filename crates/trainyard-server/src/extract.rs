//! Request extractors that fail with the ModelArts envelope, never with axum's plain text.

use crate::error::HttpError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::params::{ProjectId, parse_int};

/// The raw body, within the route's limit (413 `ModelArts.0101` beyond it).
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(Body(b)),
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                Err(HttpError(ApiError::new(
                    ErrorCode::BodyTooLarge,
                    "the request body is over the size limit",
                )))
            }
            Err(_) => Err(HttpError(ApiError::invalid(
                "the request body could not be read",
            ))),
        }
    }
}

/// The path parameters, like axum's `Path`, but failing with the envelope: a segment that is
/// not UTF-8 after percent-decoding (`/training-jobs/%FF/...`) is 400 `ModelArts.0101` naming
/// the parameter, never axum's `text/plain` answer.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => match e.into_kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => Err(HttpError(ApiError::invalid(
                    format!("{key} must be UTF-8 text after percent-decoding"),
                ))),
                other => Err(HttpError(ApiError::invalid(format!(
                    "the path parameters are invalid: {other}"
                )))),
            },
            Err(e) => Err(HttpError::internal(&e)),
        }
    }
}

/// The decoded query pairs, in order, repeats kept. Invalid UTF-8 is 400 `ModelArts.0101`.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        Ok(QueryPairs(parse_query(raw)?))
    }
}

/// Parses a query string (`application/x-www-form-urlencoded`: `+` is a space).
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, HttpError> {
    let mut out = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((decode(k)?, decode(v)?));
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, HttpError> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| HttpError(ApiError::invalid("query parameters must be UTF-8")))
}

impl QueryPairs {
    /// The pairs as `&str`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The last value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Checks the `{project_id}` path segment.
pub fn project(raw: &str) -> Result<ProjectId, HttpError> {
    Ok(ProjectId::parse(raw)?)
}

/// Parses an id path segment (`job_id`, `version_id`): a positive 64-bit integer. Anything
/// else (not a decimal integer, 0, negative, beyond 2^63-1) is 400 `ModelArts.0101` naming it
/// (`errors.md`: a path parameter that is malformed or out of range); an id that is well
/// formed but does not exist is the handler's 404 `ModelArts.2775`.
pub fn id(name: &str, raw: &str) -> Result<i64, HttpError> {
    match parse_int(name, raw) {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(ApiError::invalid(format!(
            "{name} must be a positive integer, got {:?}",
            trainyard_api::params::clip(raw)
        ))
        .into()),
    }
}
