//! Authentication and project isolation (`spec/auth.md`): the layer every `/v1/...` and
//! `/trainyard/v1/...` request passes first (`errors.md` "Order of checks": authentication,
//! then the project, then routing), the token endpoint `POST /v3/auth/tokens`, and the local
//! default account that `trainyard serve` creates on an empty store.
//!
//! - `X-Auth-Token` (wins when both are sent): none → 401 `ModelArts.0201`, expired → 401
//!   `ModelArts.0202`, unknown / malformed / revoked → 401 `ModelArts.0203`.
//! - `Authorization: SDK-HMAC-SHA256 ...`: every failure (malformed header, unknown or revoked
//!   AK, skewed `X-Sdk-Date`, wrong signature, locked-out AK) → 401 `APIG.0301` with the same
//!   message, so the answer never says which check failed. The body is buffered (within the
//!   route's limit, else 413) to hash it, unless the client sent
//!   `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`.
//! - Brute force: after [`MAX_FAILURES`] wrong signatures for one known AK within
//!   [`FAILURE_WINDOW_MS`], that AK is refused for [`LOCKOUT_MS`], whatever it signs. Only
//!   signature mismatches count (the only failure that tests a guess of the secret), and only
//!   for AKs that exist, so the table is bounded by the keys in the store (and by
//!   [`MAX_TRACKED_KEYS`]).
//! - Then the `{project_id}` path segment must be one of the credential's projects (a token:
//!   its project; an AK: every project of its user), else 403 `ModelArts.0210`, for any
//!   method and path under it, existing or not.
//! - The authenticated [`Principal`] is put in the request's extensions.
//!
//! With `insecure_no_auth` every request is let through (tests only).

use crate::error::{HttpError, error_response};
use crate::state::{AppState, now_ms};
use axum::body::{Body as AxumBody, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_store::Store;
use trainyard_store::auth::{Identity, IssuedToken, ProjectRef, Sealer, TokenCheck};

/// Wrong signatures for one AK, within [`FAILURE_WINDOW_MS`], that lock it out.
pub const MAX_FAILURES: usize = 5;
/// The window in which [`MAX_FAILURES`] failures lock an AK (1 minute).
pub const FAILURE_WINDOW_MS: i64 = 60_000;
/// How long a locked-out AK is refused (5 minutes).
pub const LOCKOUT_MS: i64 = 300_000;
/// Most AKs whose failures are tracked at once.
pub const MAX_TRACKED_KEYS: usize = 10_000;
/// The key file (in the data directory) that seals access-key secrets.
pub const KEY_FILE: &str = "auth.key";
/// The credentials file `trainyard serve` writes for the local default account.
pub const CREDENTIALS_FILE: &str = "credentials.json";

const MSG_NO_CREDENTIALS: &str =
    "authentication required: send X-Auth-Token or an SDK-HMAC-SHA256 Authorization header";
const MSG_TOKEN_EXPIRED: &str = "the token has expired; get a new one from /v3/auth/tokens";
const MSG_TOKEN_INVALID: &str = "the token is invalid";
const MSG_SIGNATURE: &str = "the request signature could not be verified";
const MSG_FORBIDDEN: &str = "the credentials do not give access to this project";
const MSG_LOGIN: &str =
    "the user name, domain or password is wrong, or the user may not use this project";

/// True for paths that need credentials.
pub fn requires_auth(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/trainyard/v1/")
}

/// How a request was authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `X-Auth-Token`.
    Token,
    /// AK/SK signature with this access key.
    AccessKey(String),
}

/// The authenticated caller, in the request's extensions after [`authenticate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user and the projects the credential may use.
    pub identity: Identity,
    /// How it authenticated.
    pub method: AuthMethod,
}

#[derive(Default)]
struct Failures {
    recent: VecDeque<i64>,
    locked_until: i64,
}

/// The server's authentication state: the secret sealer and the brute-force table.
pub struct AuthState {
    sealer: Sealer,
    failures: Mutex<HashMap<String, Failures>>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthState(..)")
    }
}

impl AuthState {
    /// Loads (or creates, mode 0600) the key file [`KEY_FILE`] of `data_dir`.
    pub fn open(data_dir: &Path) -> anyhow::Result<AuthState> {
        let sealer = Sealer::load_or_create(&data_dir.join(KEY_FILE))
            .map_err(|e| anyhow::anyhow!("{KEY_FILE} in the data directory: {e}"))?;
        Ok(AuthState::new(sealer))
    }

    /// The state for a sealer (see [`load_sealer`]).
    pub fn new(sealer: Sealer) -> AuthState {
        AuthState {
            sealer,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The sealer of access-key secrets.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// True while `ak` is locked out.
    pub fn is_locked(&self, ak: &str, now: i64) -> bool {
        self.failures
            .lock()
            .get(ak)
            .is_some_and(|f| f.locked_until > now)
    }

    /// Records a wrong signature for a known `ak`; the [`MAX_FAILURES`]th within the window
    /// locks it for [`LOCKOUT_MS`].
    pub fn record_failure(&self, ak: &str, now: i64) {
        let mut map = self.failures.lock();
        if !map.contains_key(ak) && map.len() >= MAX_TRACKED_KEYS {
            map.retain(|_, f| {
                f.locked_until > now
                    || f.recent
                        .back()
                        .is_some_and(|&t| now - t < FAILURE_WINDOW_MS)
            });
            if map.len() >= MAX_TRACKED_KEYS {
                tracing::warn!("brute-force table full; a failure was not tracked");
                return;
            }
        }
        let f = map.entry(ak.to_owned()).or_default();
        while f
            .recent
            .front()
            .is_some_and(|&t| now - t >= FAILURE_WINDOW_MS)
        {
            f.recent.pop_front();
        }
        f.recent.push_back(now);
        if f.recent.len() >= MAX_FAILURES {
            f.recent.clear();
            f.locked_until = now + LOCKOUT_MS;
            tracing::warn!(
                access_key = ak,
                "access key locked out after repeated bad signatures"
            );
        }
    }
}

/// Loads the access-key sealing key named by the configuration
/// ([`ServerConfig::auth_key_path`](crate::config::ServerConfig::auth_key_path)), creating the
/// file (mode 0600, a random key) when it does not exist. Every server sharing one database
/// must load the same key; the store refuses another one at start (`Store::check_sealer`).
pub fn load_sealer(config: &crate::config::ServerConfig) -> anyhow::Result<Sealer> {
    let path = config.auth_key_path();
    Sealer::load_or_create(&path)
        .map_err(|e| anyhow::anyhow!("the sealing key file {}: {e}", path.display()))
}

fn fail(code: ErrorCode, msg: &str) -> Response {
    crate::metrics::auth_failure_code(code);
    error_response(&ApiError::new(code, msg))
}

fn internal(cause: &dyn std::fmt::Display) -> Response {
    crate::error::HttpError::internal(cause).into_response()
}

/// The percent-decoded `{project_id}` segment of a `/v1/{p}/...` or `/trainyard/v1/{p}/...`
/// path, if any.
pub fn project_segment(path: &str) -> Option<String> {
    let rest = path
        .strip_prefix("/v1/")
        .or_else(|| path.strip_prefix("/trainyard/v1/"))?;
    let raw = rest.split('/').next().unwrap_or("");
    Some(
        percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The authentication middleware (see the module docs).
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.config.insecure_no_auth || !requires_auth(req.uri().path()) {
        return next.run(req).await;
    }
    match check(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(resp) => resp,
    }
}

async fn check(state: &AppState, req: Request) -> Result<Request, Response> {
    let (principal, mut req) = if req.headers().contains_key("x-auth-token") {
        (token_principal(state, req.headers()).await?, req)
    } else if req.headers().contains_key(header::AUTHORIZATION) {
        signature_principal(state, req).await?
    } else {
        return Err(fail(ErrorCode::NoCredentials, MSG_NO_CREDENTIALS));
    };
    if let Some(project) = project_segment(req.uri().path())
        && !principal.identity.projects.contains(&project)
    {
        return Err(fail(ErrorCode::ProjectForbidden, MSG_FORBIDDEN));
    }
    req.extensions_mut().insert(principal);
    Ok(req)
}

async fn token_principal(state: &AppState, headers: &HeaderMap) -> Result<Principal, Response> {
    let mut values = headers.get_all("x-auth-token").iter();
    let token = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().unwrap_or("").trim().to_owned(),
        _ => return Err(fail(ErrorCode::TokenInvalid, MSG_TOKEN_INVALID)),
    };
    let store = state.store.clone();
    let checked = tokio::task::spawn_blocking(move || store.check_token(&token, now_ms()))
        .await
        .map_err(|e| internal(&e))?
        .map_err(|e| internal(&e))?;
    match checked {
        TokenCheck::Valid(identity) => Ok(Principal {
            identity,
            method: AuthMethod::Token,
        }),
        TokenCheck::Expired => Err(fail(ErrorCode::TokenExpired, MSG_TOKEN_EXPIRED)),
        TokenCheck::Invalid => Err(fail(ErrorCode::TokenInvalid, MSG_TOKEN_INVALID)),
    }
}

fn signature_failure(reason: &dyn std::fmt::Display) -> Response {
    tracing::info!(reason = %reason, "AK/SK signature refused");
    fail(ErrorCode::SignatureInvalid, MSG_SIGNATURE)
}

/// The body limit of a path: the history import's, else the JSON routes'.
fn body_limit(state: &AppState, path: &str) -> usize {
    if path.starts_with("/trainyard/v1/") {
        trainyard_api::history::MAX_BODY_BYTES
    } else {
        state.config.max_body_bytes
    }
}

fn too_large() -> Response {
    fail(
        ErrorCode::BodyTooLarge,
        "the request body is over the size limit",
    )
}

async fn signature_principal(
    state: &AppState,
    req: Request,
) -> Result<(Principal, Request), Response> {
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (Some(v), None) => v.to_str().map_err(|_| signature_failure(&"not ASCII"))?,
        _ => return Err(signature_failure(&"repeated Authorization header")),
    };
    let auth = trainyard_sign::parse_authorization(value).map_err(|e| signature_failure(&e))?;
    let now = now_ms();
    let ak = auth.access_key.clone();
    if state.auth.is_locked(&ak, now) {
        return Err(signature_failure(&"access key locked out"));
    }
    let store = state.store.clone();
    let auth_state = state.auth.clone();
    let lookup_ak = ak.clone();
    let key = tokio::task::spawn_blocking(move || {
        store.access_key_secret(auth_state.sealer(), &lookup_ak)
    })
    .await
    .map_err(|e| internal(&e))?
    .map_err(|e| internal(&e))?
    .ok_or_else(|| signature_failure(&"unknown access key"))?;

    let (parts, body) = req.into_parts();
    let headers: Vec<(&str, &str)> = {
        let mut h: Vec<(&str, &str)> = parts
            .headers
            .iter()
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str(), v)))
            .collect();
        if !parts.headers.contains_key(header::HOST)
            && let Some(a) = parts.uri.authority()
        {
            h.push(("host", a.as_str()));
        }
        h
    };
    let unsigned = trainyard_sign::is_unsigned_payload(&headers);
    let (body, body_hash) = if unsigned {
        (body, String::new())
    } else {
        let limit = body_limit(state, parts.uri.path());
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let bytes: Bytes = match Limited::new(body, limit).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
            Err(_) => {
                return Err(fail(
                    ErrorCode::InvalidParameter,
                    "the request body could not be read",
                ));
            }
        };
        let hash = trainyard_sign::sha256_hex(&bytes);
        (AxumBody::from(bytes), hash)
    };
    let request_parts = trainyard_sign::RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body_sha256_hex: &body_hash,
    };
    let verified = trainyard_sign::verify(
        &request_parts,
        &auth,
        &key.secret,
        now,
        trainyard_sign::DEFAULT_MAX_SKEW_MS,
    );
    if let Err(e) = verified {
        if e == trainyard_sign::SignError::SignatureMismatch {
            state.auth.record_failure(&ak, now);
        }
        return Err(signature_failure(&e));
    }
    drop(headers);
    Ok((
        Principal {
            identity: key.identity,
            method: AuthMethod::AccessKey(ak),
        },
        Request::from_parts(parts, body),
    ))
}

// ---------------------------------------------------------------------------------------------
// POST /v3/auth/tokens
// ---------------------------------------------------------------------------------------------

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

/// Checks a password login and issues a token (the one login path: `POST /v3/auth/tokens` and
/// the web console's sign-in both call it). Wrong user, domain or password, or a project the
/// user may not use → 401 `IAM.0004`, the same for all.
pub async fn login(state: &AppState, login: Login) -> Result<IssuedToken, HttpError> {
    let store = state.store.clone();
    let ttl_ms =
        i64::try_from(state.config.token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let issued = tokio::task::spawn_blocking(move || {
        let project = match &login.scope {
            LoginScope::Id(id) => ProjectRef::Id(id),
            LoginScope::Name(name) => ProjectRef::Name(name),
            LoginScope::FirstOfUser => ProjectRef::FirstOfUser,
        };
        store.login(
            &login.user,
            &login.domain,
            &login.password,
            project,
            now_ms(),
            ttl_ms,
        )
    })
    .await?;
    match issued {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(HttpError(ApiError::new(
            ErrorCode::IamAuthFailed,
            MSG_LOGIN,
        ))),
        Err(e) => Err(HttpError::internal(&e)),
    }
}

/// `POST /v3/auth/tokens`: a Keystone password login scoped to one project → 201, the token
/// in `X-Subject-Token`, and the Keystone token body with a catalog pointing at this server.
/// Wrong user, domain or password, or a project the user may not use → 401 `IAM.0004`.
#[utoipa::path(post, path = "/v3/auth/tokens", tag = crate::openapi::TAG_IDENTITY, security(()),
    request_body = crate::openapi::TokenRequest,
    responses((status = 201, description = "the token is in X-Subject-Token", body = crate::openapi::TokenResponse,
        headers(("X-Subject-Token" = String, description = "the token, for X-Auth-Token"))),
        crate::openapi::PublicErrors))]
pub async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::Body(body): crate::extract::Body,
) -> Response {
    let request = match parse_login(&body) {
        Ok(l) => l,
        Err(e) => return error_response(&e),
    };
    let issued = match login(&state, request).await {
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

// ---------------------------------------------------------------------------------------------
// Local default account
// ---------------------------------------------------------------------------------------------

/// What [`ensure_local_default`] created.
#[derive(Clone, Debug)]
pub struct LocalDefault {
    /// Where the credentials were written (mode 0600).
    pub credentials_file: PathBuf,
    /// The project id.
    pub project_id: String,
    /// The user name (its domain is the same).
    pub username: String,
    /// The access key (the secret is only in the file).
    pub access_key: String,
}

/// Name of the project, user and domain of the local default account.
pub const DEFAULT_PROJECT: &str = "default";
/// User (and domain) of the local default account.
pub const DEFAULT_USER: &str = "admin";

/// Writes `contents` to `path` with mode 0600 (through a temporary file and a rename).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// On a store without users: creates the project [`DEFAULT_PROJECT`] (random 32-hex id), the
/// user [`DEFAULT_USER`] with a random password, and an access key, and writes them with
/// `endpoint` to `<data dir>/credentials.json` (mode 0600), the file the SDK reads. `None`
/// when the store already has users (nothing is touched).
pub async fn ensure_local_default(
    state: &AppState,
    endpoint: &str,
) -> anyhow::Result<Option<LocalDefault>> {
    let store = state.store.clone();
    let auth = state.auth.clone();
    let file = state.config.data_dir.join(CREDENTIALS_FILE);
    let endpoint = endpoint.to_owned();
    tokio::task::spawn_blocking(move || create_local_default(&store, &auth, &file, &endpoint))
        .await?
}

fn create_local_default(
    store: &Store,
    auth: &AuthState,
    file: &Path,
    endpoint: &str,
) -> anyhow::Result<Option<LocalDefault>> {
    if store.active_user_count()? > 0 {
        return Ok(None);
    }
    let now = now_ms();
    let project = match store.find_project(DEFAULT_PROJECT)? {
        Some(p) => p,
        None => store.add_project(None, DEFAULT_PROJECT, now)?,
    };
    let password = trainyard_store::auth::new_password();
    store.add_user(
        DEFAULT_USER,
        DEFAULT_USER,
        &password,
        std::slice::from_ref(&project.project_id),
        now,
    )?;
    let key = store.create_access_key(auth.sealer(), DEFAULT_USER, DEFAULT_USER, now)?;
    let creds = json!({
        "endpoint": endpoint,
        "project_id": project.project_id,
        "access_key": key.access_key,
        "secret_key": key.secret_key,
        "username": DEFAULT_USER,
        "password": password,
        "domain": DEFAULT_USER,
    });
    let mut text = serde_json::to_vec_pretty(&creds)?;
    text.push(b'\n');
    write_private(file, &text)?;
    Ok(Some(LocalDefault {
        credentials_file: file.to_path_buf(),
        project_id: project.project_id,
        username: DEFAULT_USER.to_owned(),
        access_key: key.access_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_segment_of_paths() {
        assert_eq!(
            project_segment("/v1/abc/training-jobs").as_deref(),
            Some("abc")
        );
        assert_eq!(project_segment("/v1/abc").as_deref(), Some("abc"));
        assert_eq!(project_segment("/v1/%61bc/x").as_deref(), Some("abc"));
        assert_eq!(project_segment("/v1//x").as_deref(), Some(""));
        assert_eq!(
            project_segment("/trainyard/v1/p1/job-history").as_deref(),
            Some("p1")
        );
        assert_eq!(project_segment("/v3/auth/tokens"), None);
        assert_eq!(project_segment("/v1"), None);
    }

    #[test]
    fn lockout_after_five_failures_in_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let a = AuthState::open(dir.path()).unwrap();
        // Four failures, then one more after the window: no lock.
        for i in 0..4 {
            a.record_failure("AK1", 1_000 + i);
        }
        a.record_failure("AK1", 1_000 + FAILURE_WINDOW_MS + 10);
        assert!(!a.is_locked("AK1", 1_000 + FAILURE_WINDOW_MS + 11));
        // Five within a minute: locked for 5 minutes, other keys unaffected.
        let t = 500_000;
        for i in 0..5 {
            a.record_failure("AK2", t + i * 1000);
        }
        let locked_at = t + 4000;
        assert!(a.is_locked("AK2", locked_at));
        assert!(a.is_locked("AK2", locked_at + LOCKOUT_MS - 1));
        assert!(!a.is_locked("AK2", locked_at + LOCKOUT_MS));
        assert!(!a.is_locked("AK1", locked_at));
    }

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
