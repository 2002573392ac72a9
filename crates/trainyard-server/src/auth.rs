//! Authentication and project isolation (`spec/auth.md`): the layer every `/v1/...` and
//! `/trainyard/v1/...` request passes first (`errors.md` "Order of checks": authentication,
//! then the project, then routing), the token endpoint `POST /v3/auth/tokens` ([`token`]), and
//! the local default account that `trainyard serve` creates on an empty store ([`local`]).
//!
//! - `X-Auth-Token` (wins when both are sent): none → 401 `ModelArts.0201`, expired → 401
//!   `ModelArts.0202`, unknown / malformed / revoked → 401 `ModelArts.0203`.
//! - `Authorization: SDK-HMAC-SHA256 ...`: every failure (malformed header, unknown or revoked
//!   AK, skewed `X-Sdk-Date`, wrong signature) → 401 `APIG.0301` with the same message, so the
//!   answer never says which check failed. Everything that does not need the body (header
//!   form, signed headers, date skew, the AK) is checked *before* the body is read; the body is
//!   then read within the server-wide budget for unauthenticated bodies ([`body`]) and hashed,
//!   unless the client sent `X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD`.
//! - Brute force (issue 9 §2): failed signatures are counted per *client address*
//!   ([`throttle::SIGNATURE_PER_ADDRESS`]); an address over the limit is answered 429
//!   `ModelArts.2799` with `Retry-After` before any check (before the body is read), after
//!   being held in the [`tarpit`], with growing delays. There is no
//!   per-access-key lockout: a correct signature from another address is always accepted.
//!   Token requests are throttled per address and per user ([`token`]).
//! - Then the `{project_id}` path segment must be one of the credential's projects (a token:
//!   its project; an AK: every project of its user), else 403 `ModelArts.0210`, for any
//!   method and path under it, existing or not. The segment may also be the project's *name*
//!   (`/v1/default/training-jobs`): the request is then served as the project's id.
//! - The authenticated [`Principal`] is put in the request's extensions.
//!
//! With `insecure_no_auth` every request is let through (tests only).

pub mod body;
pub mod local;
pub mod password;
pub mod tarpit;
pub mod throttle;
pub mod token;

pub use local::{
    AccountSetup, CREDENTIALS_FILE, DEFAULT_PROJECT, DEFAULT_USER, LocalDefault,
    ensure_local_default, prepare_accounts, write_private,
};
pub use token::{Login, LoginError, LoginScope, identity_version, issue_token, login};

use crate::config::ServerConfig;
use crate::error::error_response;
use crate::state::{AppState, now_ms};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use body::{BodyBudget, BodyError};
use password::PasswordChecks;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use throttle::{ClientKey, Throttle, TrustedPairs, UserKey, UserKeys};
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_store::auth::{Identity, Sealer, TokenCheck};

/// The key file (in the data directory) that seals access-key secrets.
pub const KEY_FILE: &str = "auth.key";

const MSG_NO_CREDENTIALS: &str =
    "authentication required: send X-Auth-Token or an SDK-HMAC-SHA256 Authorization header";
const MSG_TOKEN_EXPIRED: &str = "the token has expired; get a new one from /v3/auth/tokens";
const MSG_TOKEN_INVALID: &str = "the token is invalid";
const MSG_SIGNATURE: &str = "the request signature could not be verified";
const MSG_FORBIDDEN: &str = "the credentials do not give access to this project";

/// True for paths that need credentials: `/v1`, `/trainyard/v1` and everything under them.
pub fn requires_auth(path: &str) -> bool {
    ["/v1", "/trainyard/v1"].iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
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

/// The client's address, from the connection ([`crate::conn`] puts it in every request);
/// `None` for requests that did not come through it (router tests). Never fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address of a request, from its extensions.
    pub fn of(extensions: &axum::http::Extensions) -> ClientAddr {
        ClientAddr(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        )
    }

    /// Its throttle key.
    pub fn key(self) -> ClientKey {
        ClientKey::of(self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(&parts.extensions))
    }
}

/// Counts a refusal that no 401/403 code tells apart (`crate::metrics::AUTH_FAILURES`, by
/// kind): `login` (a refused password login), `throttled_signature`, `throttled_login` (429
/// from a throttle) and `busy` (429: no room for a password check or an unauthenticated body).
/// 401/403 answers written by this module are counted by their code.
pub fn count_failure(kind: &'static str) {
    crate::metrics::auth_failure(kind);
}

/// The server's authentication state: the secret sealer, the throttles, the password-check
/// threads and the budget for unauthenticated bodies.
pub struct AuthState {
    sealer: Sealer,
    /// Failed signatures per client address.
    pub signature_failures: Throttle<ClientKey>,
    /// Failed token requests per client address.
    pub login_failures_by_address: Throttle<ClientKey>,
    /// Failed token requests per user name and domain.
    pub login_failures_by_user: Throttle<UserKey>,
    /// Hashes user names for [`AuthState::login_failures_by_user`].
    pub user_keys: UserKeys,
    /// Addresses users logged in from recently (exempt from the per-user throttle).
    pub trusted: TrustedPairs,
    /// The password-check threads.
    pub passwords: PasswordChecks,
    /// The budget for bodies read before authentication.
    pub bodies: BodyBudget,
    /// Holds throttled and busy refusals before their 429 ([`tarpit`]).
    pub tarpit: tarpit::Tarpit,
    /// Project ids and names seen in paths (names are rewritten to ids before routing).
    projects: parking_lot::RwLock<ProjectNames>,
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthState(..)")
    }
}

impl AuthState {
    /// Loads (or creates, mode 0600) the sealing key the configuration names
    /// ([`load_sealer`]) and builds the state with the configuration's limits.
    pub fn open(config: &ServerConfig) -> anyhow::Result<AuthState> {
        AuthState::new(load_sealer(config)?, config)
    }

    /// The state for a sealer (see [`load_sealer`]), with the configuration's limits: starts
    /// the password-check threads.
    pub fn new(sealer: Sealer, config: &ServerConfig) -> anyhow::Result<AuthState> {
        let ttl_ms = i64::try_from(config.token_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        Ok(AuthState {
            sealer,
            signature_failures: Throttle::new(
                throttle::SIGNATURE_PER_ADDRESS,
                throttle::MAX_ENTRIES,
            ),
            login_failures_by_address: Throttle::new(
                throttle::LOGIN_PER_ADDRESS,
                throttle::MAX_ENTRIES,
            ),
            login_failures_by_user: Throttle::new(throttle::LOGIN_PER_USER, throttle::MAX_ENTRIES),
            user_keys: UserKeys::default(),
            trusted: TrustedPairs::new(ttl_ms, throttle::MAX_ENTRIES),
            passwords: PasswordChecks::start(
                config.password_check_threads,
                config.password_check_queue,
                config.password_check_nice,
            )?,
            bodies: BodyBudget::new(
                config.unverified_body_bytes,
                Duration::from_millis(config.unverified_body_wait_ms),
                Duration::from_millis(config.body_read_timeout_ms),
            ),
            tarpit: tarpit::Tarpit::new(config.tarpit_max_held, config.tarpit_max_hold_ms),
            projects: parking_lot::RwLock::new(ProjectNames::default()),
        })
    }

    /// The sealer of access-key secrets.
    pub fn sealer(&self) -> &Sealer {
        &self.sealer
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

/// A store failure while checking credentials: 503 when the database is unavailable, else 500.
fn store_failure(e: trainyard_store::auth::AuthError) -> Response {
    match e {
        trainyard_store::auth::AuthError::Store(e) => crate::error::HttpError::from(e),
        other => crate::error::HttpError::internal(&other),
    }
    .into_response()
}

/// 429 `ModelArts.2799` with `Retry-After` (whole seconds, at least 1) for a wait of `wait_ms`.
pub fn too_many(wait_ms: i64, message: &str) -> Response {
    let secs = (wait_ms.max(1) + 999) / 1000;
    let mut resp = fail(
        ErrorCode::TooManyRequests,
        &format!("{message}; retry in {secs} s"),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

/// [`too_many`] after holding the request in the tarpit for `wait_ms` (at most the
/// configured hold; at once when the tarpit is full): the answer to a throttled client.
pub async fn held_too_many(auth: &AuthState, wait_ms: i64, message: &str) -> Response {
    auth.tarpit.hold(wait_ms).await;
    too_many(wait_ms, message)
}

/// The answer to a body that could not be read before authentication.
fn body_error(e: BodyError) -> Response {
    match e {
        BodyError::TooLarge => fail(
            ErrorCode::BodyTooLarge,
            "the request body is over the size limit",
        ),
        BodyError::Busy => {
            count_failure("busy");
            too_many(
                1000,
                "the server is busy reading other unauthenticated request bodies",
            )
        }
        BodyError::Timeout => fail(
            ErrorCode::InvalidParameter,
            "the request body did not arrive in time (body_read_timeout_ms)",
        ),
        BodyError::Read => fail(
            ErrorCode::InvalidParameter,
            "the request body could not be read",
        ),
    }
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

/// Project ids and names seen so far (`None`: the segment is no project's name).
#[derive(Default)]
struct ProjectNames {
    ids: std::collections::HashSet<String>,
    names: std::collections::HashMap<String, Option<String>>,
}

/// Most distinct path segments remembered as "not a project name" (beyond, they are looked up
/// each time).
const MAX_UNKNOWN_NAMES: usize = 10_000;

/// Middleware run **before routing** (around the router, see `crate::serve`): a `/v1/{p}/...`
/// or `/trainyard/v1/{p}/...` whose `{p}` is a project's *name* (`/v1/default/...`) is
/// rewritten to the project's id, so names work wherever ids do (CLI, SDKs, curl). Whether the
/// credentials cover the project is then checked on the id by [`authenticate`] as usual. Off
/// with `insecure_no_auth` (projects are free-form there). Ids and names are cached; only a
/// segment never seen before costs a store read.
pub async fn resolve_project_names(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if !state.config.insecure_no_auth
        && let Some(seg) = project_segment(req.uri().path())
        && !seg.is_empty()
        && let Some(id) = project_id_for_name(&state, &seg).await
    {
        rewrite_project_segment(&mut req, &id);
    }
    next.run(req).await
}

/// The id of the project named `seg`, when `seg` is a project's name and not an id.
async fn project_id_for_name(state: &AppState, seg: &str) -> Option<String> {
    {
        let cache = state.auth.projects.read();
        if cache.ids.contains(seg) {
            return None;
        }
        if let Some(known) = cache.names.get(seg) {
            return known.clone();
        }
    }
    let store = state.store.clone();
    let wanted = seg.to_owned();
    let found = tokio::task::spawn_blocking(move || store.find_project(&wanted))
        .await
        .ok()?
        .ok()?;
    let mut cache = state.auth.projects.write();
    match found {
        Some(p) if p.project_id == seg => {
            cache.ids.insert(p.project_id);
            None
        }
        Some(p) if p.name == seg => {
            cache.names.insert(p.name, Some(p.project_id.clone()));
            Some(p.project_id)
        }
        _ => {
            if cache.names.len() < MAX_UNKNOWN_NAMES {
                cache.names.insert(seg.to_owned(), None);
            }
            None
        }
    }
}

/// The path as the client sent it, before a project name in it was replaced by the id: what an
/// AK/SK signature covers.
#[derive(Clone, Debug)]
struct SignedPath(String);

/// The path an AK/SK signature covers: as the client sent it.
fn signed_path(parts: &axum::http::request::Parts) -> &str {
    parts
        .extensions
        .get::<SignedPath>()
        .map_or(parts.uri.path(), |p| p.0.as_str())
}

/// Replaces the `{project_id}` segment of a `/v1/{p}/...` or `/trainyard/v1/{p}/...` path.
fn rewrite_project_segment(req: &mut Request, id: &str) {
    let original = SignedPath(req.uri().path().to_owned());
    req.extensions_mut().insert(original);
    let uri = req.uri();
    let path = uri.path();
    let prefix = if path.starts_with("/v1/") {
        "/v1/"
    } else {
        "/trainyard/v1/"
    };
    let rest = &path[prefix.len()..];
    let tail = rest.find('/').map_or("", |i| &rest[i..]);
    let mut pq = format!("{prefix}{id}{tail}");
    if let Some(q) = uri.query() {
        pq.push('?');
        pq.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
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
        .map_err(store_failure)?;
    match checked {
        TokenCheck::Valid(identity) => Ok(Principal {
            identity,
            method: AuthMethod::Token,
        }),
        TokenCheck::Expired => Err(fail(ErrorCode::TokenExpired, MSG_TOKEN_EXPIRED)),
        TokenCheck::Invalid => Err(fail(ErrorCode::TokenInvalid, MSG_TOKEN_INVALID)),
    }
}

/// A refused signature: counted against the client's address, answered with the one message.
fn signature_failure(
    state: &AppState,
    client: ClientKey,
    reason: &dyn std::fmt::Display,
) -> Response {
    let blocked_ms = state.auth.signature_failures.failure(&client, now_ms());
    tracing::info!(reason = %reason, ?client, blocked_ms, "AK/SK signature refused");
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

/// The request's headers as (name, value) pairs, with `host` from the URI when absent.
fn header_pairs(parts: &Parts) -> Vec<(&str, &str)> {
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
}

async fn signature_principal(
    state: &AppState,
    req: Request,
) -> Result<(Principal, Request), Response> {
    let client = ClientAddr::of(req.extensions()).key();
    let now = now_ms();
    let wait = state.auth.signature_failures.wait_ms(&client, now);
    if wait > 0 {
        count_failure("throttled_signature");
        return Err(held_too_many(
            &state.auth,
            wait,
            "too many failed signatures from this address",
        )
        .await);
    }
    let mut values = req.headers().get_all(header::AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (Some(v), None) => v
            .to_str()
            .map_err(|_| signature_failure(state, client, &"not ASCII"))?,
        _ => {
            return Err(signature_failure(
                state,
                client,
                &"repeated Authorization header",
            ));
        }
    };
    let auth = trainyard_sign::parse_authorization(value)
        .map_err(|e| signature_failure(state, client, &e))?;
    let (parts, body) = req.into_parts();
    // Everything that does not need the body, before reading it.
    {
        let headers = header_pairs(&parts);
        let request_parts = trainyard_sign::RequestParts {
            method: parts.method.as_str(),
            path: signed_path(&parts),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            body_sha256_hex: "",
        };
        trainyard_sign::check_before_body(
            &request_parts,
            &auth,
            now,
            trainyard_sign::DEFAULT_MAX_SKEW_MS,
        )
        .map_err(|e| signature_failure(state, client, &e))?;
    }
    let ak = auth.access_key.clone();
    let store = state.store.clone();
    let auth_state = state.auth.clone();
    let lookup_ak = ak.clone();
    let key = tokio::task::spawn_blocking(move || {
        store.access_key_secret(auth_state.sealer(), &lookup_ak)
    })
    .await
    .map_err(|e| internal(&e))?
    .map_err(store_failure)?
    .ok_or_else(|| signature_failure(state, client, &"unknown access key"))?;

    let unsigned = trainyard_sign::is_unsigned_payload(&header_pairs(&parts));
    let (body, buffered) = if unsigned {
        (body, None)
    } else {
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let limit = body_limit(state, parts.uri.path());
        let read = state
            .auth
            .bodies
            .read(body, declared, limit)
            .await
            .map_err(body_error)?;
        (axum::body::Body::empty(), Some(read))
    };
    let verified = {
        let headers = header_pairs(&parts);
        let request_parts = trainyard_sign::RequestParts {
            method: parts.method.as_str(),
            path: signed_path(&parts),
            query: parts.uri.query().unwrap_or(""),
            headers: &headers,
            body_sha256_hex: buffered.as_ref().map_or("", |b| b.sha256_hex()),
        };
        trainyard_sign::verify(
            &request_parts,
            &auth,
            &key.secret,
            now,
            trainyard_sign::DEFAULT_MAX_SKEW_MS,
        )
    };
    if let Err(e) = verified {
        drop(buffered);
        return Err(signature_failure(state, client, &e));
    }
    let body = match buffered {
        Some(b) => b.into_body(),
        None => body,
    };
    Ok((
        Principal {
            identity: key.identity,
            method: AuthMethod::AccessKey(ak),
        },
        Request::from_parts(parts, body),
    ))
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
    fn paths_that_need_credentials() {
        for p in [
            "/v1",
            "/v1/",
            "/v1/x",
            "/trainyard/v1",
            "/trainyard/v1/p/job-history",
        ] {
            assert!(requires_auth(p), "{p}");
        }
        for p in [
            "/",
            "/v10",
            "/v1x/y",
            "/v3/auth/tokens",
            "/trainyard",
            "/healthz",
        ] {
            assert!(!requires_auth(p), "{p}");
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up() {
        for (ms, secs) in [
            (0, "1"),
            (1, "1"),
            (999, "1"),
            (1_000, "1"),
            (1_001, "2"),
            (60_000, "60"),
        ] {
            let r = too_many(ms, "x");
            assert_eq!(r.status().as_u16(), 429);
            assert_eq!(r.headers()[header::RETRY_AFTER], secs, "{ms} ms");
        }
    }
}
