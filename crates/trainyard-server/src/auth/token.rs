//! `POST /v3/auth/tokens` (Keystone password login → token) and `GET /v3`, and [`login`], the
//! one password-login path (the web console's sign-in calls it too).
//!
//! A login is checked in this order, cheapest first (issue 9 §2):
//! 1. the client address's failed logins ([`super::throttle::LOGIN_PER_ADDRESS`]): while it is
//!    blocked, 429 `ModelArts.2799` with `Retry-After`, before the body is even read, after
//!    holding the request in the [`super::tarpit`] (so a flood gets about one answer per
//!    connection per hold);
//! 2. the body (at most [`LOGIN_BODY_BYTES`], read within the unauthenticated-body budget and
//!    time limit), then the user name's failed logins ([`super::throttle::LOGIN_PER_USER`]; skipped
//!    for an address this user logged in from recently);
//! 3. the password, on the bounded low-priority password threads
//!    ([`super::password::PasswordChecks`]); when their queue is full, 429 (held in the tarpit
//!    for its 1 s `Retry-After` too);
//! 4. every refusal (unknown user or domain, wrong password, a project the user may not use)
//!    is the same 401 `IAM.0004` and counts one failure for the address and for the user name.

use super::throttle::ClientKey;
use super::{ClientAddr, count_failure, internal, too_many};
use crate::error::error_response;
use crate::state::{AppState, now_ms};
use axum::body::Body as AxumBody;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_store::auth::{IssuedToken, ProjectRef};

/// Largest `POST /v3/auth/tokens` body (a Keystone password body is a few hundred bytes).
pub const LOGIN_BODY_BYTES: usize = 16 * 1024;

const MSG_LOGIN: &str =
    "the user name, domain or password is wrong, or the user may not use this project";

fn rfc3339(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    ))
    .unwrap_or_default()
}

/// The `Host` the client used, when it is a plausible authority; else the listen address.
fn public_authority(state: &AppState, headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .map_or_else(|| state.config.listen.to_string(), str::to_owned)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str, ApiError> {
    str_at(v, path)
        .ok_or_else(|| ApiError::invalid(format!("{} must be a non-empty string", path.join("."))))
}

/// Which project a password login is scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginScope {
    /// `scope.project.id`.
    Id(String),
    /// `scope.project.name`.
    Name(String),
    /// None named: the user's first project (the web console's sign-in).
    FirstOfUser,
}

/// A password login (Keystone's password method), from `POST /v3/auth/tokens` or the web
/// console's sign-in form. Its `Debug` never shows the password.
pub struct Login {
    /// User name.
    pub user: String,
    /// Domain (defaults to the user name).
    pub domain: String,
    /// Password.
    pub password: String,
    /// The project the token is scoped to.
    pub scope: LoginScope,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &"<redacted>")
            .field("scope", &self.scope)
            .finish()
    }
}

fn parse_login(body: &[u8]) -> Result<Login, ApiError> {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidJsonBody,
                "the body must be a JSON object (Keystone password authentication)",
            ));
        }
    };
    let methods = v
        .pointer("/auth/identity/methods")
        .and_then(Value::as_array);
    if !methods.is_some_and(|m| m.iter().any(|x| x == "password")) {
        return Err(ApiError::invalid(
            "auth.identity.methods must include \"password\"",
        ));
    }
    let user = ["auth", "identity", "password", "user"];
    let name = required(&v, &[&user[..], &["name"]].concat())?.to_owned();
    let password = required(&v, &[&user[..], &["password"]].concat())?.to_owned();
    let domain = str_at(&v, &[&user[..], &["domain", "name"]].concat())
        .or_else(|| str_at(&v, &[&user[..], &["domain", "id"]].concat()))
        .unwrap_or(&name)
        .to_owned();
    let project_id = str_at(&v, &["auth", "scope", "project", "id"]).map(str::to_owned);
    let project_name = str_at(&v, &["auth", "scope", "project", "name"]).map(str::to_owned);
    let scope = match (project_id, project_name) {
        (Some(id), _) => LoginScope::Id(id),
        (None, Some(name)) => LoginScope::Name(name),
        (None, None) => {
            return Err(ApiError::invalid(
                "auth.scope.project.id or auth.scope.project.name is required",
            ));
        }
    };
    Ok(Login {
        user: name,
        domain,
        password,
        scope,
    })
}

/// Why a password login was refused.
#[derive(Debug)]
pub enum LoginError {
    /// Wrong user, domain or password, or a project the user may not use: 401 `IAM.0004`.
    Refused,
    /// Too many failed logins from this address or for this user: 429 `ModelArts.2799`,
    /// retry after this many ms.
    Throttled {
        /// Milliseconds until a new attempt is considered.
        retry_after_ms: i64,
        /// Whose failures (the address's or the user's).
        message: &'static str,
    },
    /// The password-check queue is full: 429 `ModelArts.2799`, retry after a second.
    Busy,
    /// The store failed: 500.
    Internal(String),
    /// The database cannot be reached: 503 with `Retry-After`.
    Unavailable,
}

impl From<trainyard_store::auth::AuthError> for LoginError {
    fn from(e: trainyard_store::auth::AuthError) -> LoginError {
        match e {
            trainyard_store::auth::AuthError::Store(trainyard_store::StoreError::Unavailable(
                source,
            )) => {
                tracing::warn!(error = %source, "the database is unavailable");
                LoginError::Unavailable
            }
            other => LoginError::Internal(other.to_string()),
        }
    }
}

impl LoginError {
    /// The envelope error of this refusal.
    pub fn api_error(&self) -> ApiError {
        match self {
            LoginError::Refused => {
                crate::metrics::auth_failure("login");
                ApiError::new(ErrorCode::IamAuthFailed, MSG_LOGIN)
            }
            LoginError::Throttled { message, .. } => {
                ApiError::new(ErrorCode::TooManyRequests, *message)
            }
            LoginError::Busy => ApiError::new(ErrorCode::TooManyRequests, MSG_BUSY),
            LoginError::Internal(_) => ApiError::new(
                ErrorCode::Internal,
                "internal error; see the server log for this request id",
            ),
            LoginError::Unavailable => ApiError::new(
                ErrorCode::Unavailable,
                "the database is unavailable; retry later",
            ),
        }
    }
}

const MSG_BUSY: &str = "the server is busy checking other passwords";

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        match self {
            LoginError::Throttled {
                retry_after_ms,
                message,
            } => too_many(retry_after_ms, message),
            LoginError::Busy => too_many(BUSY_RETRY_MS, MSG_BUSY),
            LoginError::Internal(cause) => {
                crate::error::HttpError::internal(&cause).into_response()
            }
            LoginError::Refused | LoginError::Unavailable => error_response(&self.api_error()),
        }
    }
}

/// Holds a throttled or busy refusal in the tarpit ([`super::tarpit`]) for its wait, then
/// returns it.
async fn held(state: &AppState, e: LoginError) -> LoginError {
    let wait = match &e {
        LoginError::Throttled { retry_after_ms, .. } => *retry_after_ms,
        LoginError::Busy => BUSY_RETRY_MS,
        _ => 0,
    };
    state.auth.tarpit.hold(wait).await;
    e
}

/// The `Retry-After` of [`LoginError::Busy`], ms.
const BUSY_RETRY_MS: i64 = 1000;

/// The client address's wait before a login is considered (step 1 of the module docs).
fn address_wait(state: &AppState, client: ClientKey, now: i64) -> Result<(), LoginError> {
    let wait = state.auth.login_failures_by_address.wait_ms(&client, now);
    if wait > 0 {
        count_failure("throttled_login");
        return Err(LoginError::Throttled {
            retry_after_ms: wait,
            message: "too many failed logins from this address",
        });
    }
    Ok(())
}

/// Checks a password login and issues a token (the one login path: `POST /v3/auth/tokens` and
/// the web console's sign-in both call it), throttled per client address and per user name
/// (module docs). Wrong user, domain or password, or a project the user may not use →
/// [`LoginError::Refused`], the same for all.
pub async fn login(
    state: &AppState,
    client: ClientAddr,
    login: Login,
) -> Result<IssuedToken, LoginError> {
    let client = client.key();
    let now = now_ms();
    if let Err(e) = address_wait(state, client, now) {
        return Err(held(state, e).await);
    }
    let auth = &state.auth;
    let user_key = auth.user_keys.key(&login.user, &login.domain);
    if !auth.trusted.contains(user_key, client, now) {
        let wait = auth.login_failures_by_user.wait_ms(&user_key, now);
        if wait > 0 {
            count_failure("throttled_login");
            let e = LoginError::Throttled {
                retry_after_ms: wait,
                message: "too many failed logins for this user",
            };
            return Err(held(state, e).await);
        }
    }
    // No room for a password check: refuse before the store lookup (the same answer as a full
    // queue below, which still decides when this looks fine).
    if !auth.passwords.has_room() {
        count_failure("busy");
        return Err(held(state, LoginError::Busy).await);
    }
    let Login {
        user,
        domain,
        password,
        scope,
    } = login;
    let store = state.store.clone();
    let candidate = tokio::task::spawn_blocking(move || {
        // a scope "id" that is a project's name (the SDKs send the configured project as the
        // id; names work wherever ids do) stands for that project's id
        let by_name = match &scope {
            LoginScope::Id(id) => match store.find_project(id) {
                Ok(Some(p)) if p.project_id != *id && p.name == *id => Some(p.project_id),
                _ => None,
            },
            _ => None,
        };
        let project = match &scope {
            LoginScope::Id(_) if by_name.is_some() => {
                ProjectRef::Id(by_name.as_deref().unwrap_or_default())
            }
            LoginScope::Id(id) => ProjectRef::Id(id),
            LoginScope::Name(name) => ProjectRef::Name(name),
            LoginScope::FirstOfUser => ProjectRef::FirstOfUser,
        };
        store.login_candidate(&user, &domain, project)
    })
    .await
    .map_err(|e| LoginError::Internal(e.to_string()))??;
    let verified = match auth
        .passwords
        .run(move || candidate.verify(&password))
        .await
    {
        Err(super::password::Busy) => {
            count_failure("busy");
            return Err(held(state, LoginError::Busy).await);
        }
        Ok(None) => return Err(LoginError::Internal("password check failed".into())),
        Ok(Some(v)) => v,
    };
    let ttl_ms =
        i64::try_from(state.config.token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let issued = match verified {
        None => None,
        Some(v) => {
            let store = state.store.clone();
            tokio::task::spawn_blocking(move || store.issue_token(&v, now_ms(), ttl_ms))
                .await
                .map_err(|e| LoginError::Internal(e.to_string()))??
        }
    };
    let now = now_ms();
    match issued {
        Some(t) => {
            auth.trusted.insert(user_key, client, now);
            Ok(t)
        }
        None => {
            count_failure("login");
            auth.login_failures_by_address.failure(&client, now);
            auth.login_failures_by_user.failure(&user_key, now);
            Err(LoginError::Refused)
        }
    }
}

/// `POST /v3/auth/tokens`: a Keystone password login scoped to one project → 201, the token
/// in `X-Subject-Token`, and the Keystone token body with a catalog pointing at this server.
/// Wrong user, domain or password, or a project the user may not use → 401 `IAM.0004`; too
/// many failures or a full password queue → 429 `ModelArts.2799` with `Retry-After`.
#[utoipa::path(post, path = "/v3/auth/tokens", tag = crate::openapi::TAG_IDENTITY, security(()),
    request_body = crate::openapi::TokenRequest,
    responses((status = 201, description = "the token is in X-Subject-Token", body = crate::openapi::TokenResponse,
        headers(("X-Subject-Token" = String, description = "the token, for X-Auth-Token"))),
        crate::openapi::PublicErrors))]
pub async fn issue_token(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    body: AxumBody,
) -> Response {
    if let Err(e) = address_wait(&state, client.key(), now_ms()) {
        return held(&state, e).await.into_response();
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = match state
        .auth
        .bodies
        .read(body, declared, LOGIN_BODY_BYTES)
        .await
    {
        Ok(b) => b.into_bytes(),
        Err(e) => return super::body_error(e),
    };
    let request = match parse_login(&body) {
        Ok(l) => l,
        Err(e) => return error_response(&e),
    };
    let issued = match login(&state, client, request).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let pid = &issued.project.project_id;
    let url = format!("http://{}/v1/{pid}", public_authority(&state, &headers));
    let service = |kind: &str| {
        json!({
            "type": kind,
            "name": kind,
            "id": kind,
            "endpoints": [{
                "id": format!("{kind}-{pid}"),
                "interface": "public",
                "region": "local",
                "region_id": "local",
                "url": url,
            }],
        })
    };
    let domain = &issued.identity.domain;
    let body = json!({
        "token": {
            "expires_at": rfc3339(issued.expires_at),
            "issued_at": rfc3339(issued.issued_at),
            "methods": ["password"],
            "project": {
                "id": pid,
                "name": issued.project.name,
                "domain": {"id": domain, "name": domain},
            },
            "user": {
                "id": issued.identity.user_id.to_string(),
                "name": issued.identity.user,
                "domain": {"id": domain, "name": domain},
            },
            "roles": [{"id": "member", "name": "member"}],
            "catalog": [service("modelartsv1"), service("modelarts")],
        }
    });
    let mut resp = (
        StatusCode::CREATED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    match HeaderValue::from_str(&issued.token) {
        Ok(mut v) => {
            v.set_sensitive(true);
            h.insert("x-subject-token", v);
        }
        Err(e) => return internal(&e),
    }
    resp
}

/// `GET /v3`: the Keystone version document, so OpenStack clients (keystoneauth) discover the
/// identity API at the `auth_url` they were given instead of guessing from the URL.
#[utoipa::path(get, path = "/v3", tag = crate::openapi::TAG_IDENTITY, security(()),
    responses((status = 200, description = "the Keystone version document", body = crate::openapi::IdentityVersion)))]
pub async fn identity_version(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let base = format!("http://{}/v3/", public_authority(&state, &headers));
    let body = json!({"version": {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": base}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    }});
    let mut resp = (
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_704_067_200_123), "2024-01-01T00:00:00.123000Z");
    }

    #[test]
    fn login_body_fields() {
        let ok = br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"u","password":"p","domain":{"name":"d"}}}},"scope":{"project":{"name":"default"}}}}"#;
        let l = parse_login(ok).unwrap();
        assert_eq!(
            (l.user.as_str(), l.domain.as_str(), l.password.as_str()),
            ("u", "d", "p")
        );
        assert_eq!(l.scope, LoginScope::Name("default".into()));
        let no_scope = br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"u","password":"p"}}}}}"#;
        let e = parse_login(no_scope).unwrap_err();
        assert!(e.message.contains("auth.scope.project"));
        let e = parse_login(b"[1]").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJsonBody);
        let no_pw = br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"u"}}},"scope":{"project":{"id":"x"}}}}"#;
        let e = parse_login(no_pw).unwrap_err();
        assert!(e.message.contains("auth.identity.password.user.password"));
    }
}
