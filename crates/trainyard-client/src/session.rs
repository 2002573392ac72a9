//! [`Session`]: where the server is and how to authenticate (`sdk.md` "SDK", `auth.md`).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trainyard_api::params::ProjectId;

use crate::encode::{encode_component, encode_query};
use crate::env;
use crate::error::{Error, Result};

/// Default server when none is configured: a local `trainyard serve`.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8080";
/// Default project id when none is configured: the local server's project (`auth.md`
/// "Local development mode").
pub const DEFAULT_PROJECT_ID: &str = "default";
/// Default TCP/TLS connect timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout of one HTTP exchange, from sending to the end of the response body: 60 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default renewal margin of a token: renew when less than 5 min of its life is left.
pub const DEFAULT_TOKEN_RENEW_BEFORE: Duration = Duration::from_secs(300);

/// How a [`Session`] authenticates.
///
/// `Debug` never shows the secret key or the password, only `"[REDACTED]"`.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials: requests go unsigned. Only a server started with `--insecure-no-auth`
    /// accepts them; any other answers 401 `ModelArts.0201` (`errors.md`).
    #[default]
    None,
    /// AK/SK: every request is signed with SDK-HMAC-SHA256 (`auth.md` "AK/SK signing").
    AccessKey {
        /// The access key (AK), sent in the clear in `Authorization`.
        access_key: String,
        /// The secret key (SK), the HMAC key; never sent.
        secret_key: SecretString,
    },
    /// Keystone password: a token is obtained from `POST /v3/auth/tokens`, cached and renewed
    /// (`auth.md` "Tokens").
    Password {
        /// The user's domain name (for a local server, usually the user name).
        domain: String,
        /// The user name.
        username: String,
        /// The password; sent only in the token request body.
        password: SecretString,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::AccessKey { access_key, .. } => f
                .debug_struct("AccessKey")
                .field("access_key", access_key)
                .field("secret_key", &"[REDACTED]")
                .finish(),
            Credentials::Password {
                domain, username, ..
            } => f
                .debug_struct("Password")
                .field("domain", domain)
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
        }
    }
}

/// The kind of authentication a [`Session`] uses (see [`Session::auth_method`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// Unsigned requests (`--insecure-no-auth` servers only).
    None,
    /// AK/SK request signing (`Authorization: SDK-HMAC-SHA256 ...`).
    AccessKey,
    /// `X-Auth-Token` from a password login.
    Token,
}

/// Retries with exponential backoff and jitter (see the crate docs, "Retries").
///
/// A `GET` is tried at most [`max_tries`](RetryPolicy::max_tries) times when the connection
/// fails, the exchange times out or breaks, or the server answers 429, 502, 503 or 504. Any other
/// method (a create, a stop, an update, a delete) is retried only when the connection could not
/// even be established, i.e. when nothing was sent: a create is never sent twice.
///
/// The wait before try `n + 1` is a random duration between half and all of
/// `min(max_delay, base_delay * 2^(n-1))`, or the server's `Retry-After` (in seconds, capped at
/// `max_delay`) when it sent one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Most tries of one call, first included (default 3; 1 = no retry; 0 is taken as 1).
    pub max_tries: u32,
    /// Backoff before the first retry, before jitter (default 200 ms).
    pub base_delay: Duration,
    /// Longest wait between two tries (default 5 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one try per call).
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_tries: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait after failed try number `attempt` (1-based), honouring a `Retry-After`.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max_delay);
        let r = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let frac = 0.5 + (r % 1_000_000) as f64 / 2_000_000.0;
        exp.mul_f64(frac)
    }

    fn tries(&self) -> u32 {
        self.max_tries.max(1)
    }
}

/// Builds a [`Session`] with non-default timeouts, retries or credentials.
///
/// ```
/// use std::time::Duration;
/// use trainyard_client::{RetryPolicy, SessionBuilder};
///
/// let session = SessionBuilder::new("http://127.0.0.1:8080")
///     .project_id("default")
///     .access_key("QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc")
///     .connect_timeout(Duration::from_secs(2))
///     .request_timeout(Duration::from_secs(30))
///     .retry_policy(RetryPolicy { max_tries: 5, ..RetryPolicy::default() })
///     .build()?;
/// assert_eq!(session.project_id(), "default");
/// # Ok::<(), trainyard_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct SessionBuilder {
    endpoint: String,
    project_id: String,
    credentials: Credentials,
    connect_timeout: Duration,
    request_timeout: Duration,
    retry: RetryPolicy,
    token_renew_before: Duration,
    user_agent: String,
}

impl SessionBuilder {
    /// A builder for the server at `endpoint` (e.g. `http://127.0.0.1:8080`, or an https URL,
    /// optionally with a path prefix), project [`DEFAULT_PROJECT_ID`], no credentials and the
    /// default timeouts and retries.
    pub fn new(endpoint: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            endpoint: endpoint.into(),
            project_id: DEFAULT_PROJECT_ID.to_owned(),
            credentials: Credentials::None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            token_renew_before: DEFAULT_TOKEN_RENEW_BEFORE,
            user_agent: concat!("trainyard-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// A builder configured like [`Session::from_env`] (environment, then the credentials file);
    /// adjust it and call [`build`](SessionBuilder::build).
    ///
    /// Errors: [`Error::Config`] for a credentials file that is named but missing, unreadable
    /// or malformed, or half a key pair or login.
    pub fn from_env() -> Result<SessionBuilder> {
        env::builder_from_env()
    }

    /// Replaces the server URL (e.g. a `--endpoint` flag over [`SessionBuilder::from_env`]);
    /// checked by [`build`](SessionBuilder::build).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> SessionBuilder {
        self.endpoint = endpoint.into();
        self
    }

    /// The project id used in every path (`/v1/{project_id}/...`): 1–64 letters, digits and `-`
    /// (checked by [`build`](SessionBuilder::build)).
    pub fn project_id(mut self, project_id: impl Into<String>) -> SessionBuilder {
        self.project_id = project_id.into();
        self
    }

    /// Signs every request with this access key and secret key (`auth.md` "AK/SK signing").
    pub fn access_key(
        mut self,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> SessionBuilder {
        self.credentials = Credentials::AccessKey {
            access_key: access_key.into(),
            secret_key: SecretString::from(secret_key.into()),
        };
        self
    }

    /// Authenticates with a token obtained by password (`auth.md` "Tokens").
    pub fn password(
        mut self,
        domain: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> SessionBuilder {
        self.credentials = Credentials::Password {
            domain: domain.into(),
            username: username.into(),
            password: SecretString::from(password.into()),
        };
        self
    }

    /// Sets the credentials (replacing any set before).
    pub fn credentials(mut self, credentials: Credentials) -> SessionBuilder {
        self.credentials = credentials;
        self
    }

    /// Timeout for establishing a TCP (and TLS) connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> SessionBuilder {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for one HTTP exchange, from sending the request to the end of the response body
    /// (default 60 s). Each retry gets the full timeout again.
    pub fn request_timeout(mut self, timeout: Duration) -> SessionBuilder {
        self.request_timeout = timeout;
        self
    }

    /// Retry policy (default: 3 tries for `GET`, see [`RetryPolicy`]).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> SessionBuilder {
        self.retry = retry;
        self
    }

    /// Renew a cached token when less than this much of its life is left (default 5 min; a
    /// token that lives less than twice this is renewed at half its life).
    pub fn token_renew_before(mut self, margin: Duration) -> SessionBuilder {
        self.token_renew_before = margin;
        self
    }

    /// The `User-Agent` header (default `trainyard-client/{version}`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> SessionBuilder {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the session. No request is sent (a token is fetched on first use).
    ///
    /// Errors: [`Error::InvalidArgument`] for an endpoint that is not an `http://` or
    /// `https://` URL with a host (and no query, fragment or user info), a project id outside
    /// 1–64 letters, digits and `-`, or an empty access key, secret key, user name or password;
    /// [`Error::Transport`] if the HTTP client cannot be created.
    pub fn build(self) -> Result<Session> {
        let endpoint = Endpoint::parse(&self.endpoint)?;
        let project_id = ProjectId::parse(&self.project_id)
            .map_err(Error::invalid)?
            .as_str()
            .to_owned();
        let auth = match self.credentials {
            Credentials::None => AuthState::None,
            Credentials::AccessKey {
                access_key,
                secret_key,
            } => {
                if access_key.is_empty() || secret_key.expose_secret().is_empty() {
                    return Err(Error::InvalidArgument(
                        "access key and secret key must not be empty".into(),
                    ));
                }
                AuthState::AccessKey {
                    access_key,
                    secret_key,
                }
            }
            Credentials::Password {
                domain,
                username,
                password,
            } => {
                if username.is_empty() || password.expose_secret().is_empty() {
                    return Err(Error::InvalidArgument(
                        "username and password must not be empty".into(),
                    ));
                }
                let domain = if domain.is_empty() {
                    username.clone()
                } else {
                    domain
                };
                AuthState::Token {
                    domain,
                    username,
                    password,
                    cache: tokio::sync::Mutex::new(TokenCache::default()),
                }
            }
        };
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(self.user_agent)
            .build()?;
        Ok(Session {
            inner: Arc::new(Inner {
                http,
                endpoint,
                project_id,
                auth,
                retry: self.retry,
                token_renew_before: self.token_renew_before,
                connect_timeout: self.connect_timeout,
                request_timeout: self.request_timeout,
            }),
        })
    }
}

/// Where the server is and how to authenticate: the `modelarts.session.Session` of the
/// ModelArts Python SDK (`sdk.md` "SDK").
///
/// Cheap to clone (one shared HTTP connection pool and token cache); `Send + Sync`.
/// `Debug` shows the endpoint, project and access key or user name, never a secret key,
/// password or token.
///
/// ```no_run
/// use trainyard_client::{Estimator, JobListParams, Session};
/// # async fn run() -> trainyard_client::Result<()> {
/// let session = Session::from_env()?;
/// let page = Estimator::get_job_list(&session, &JobListParams::new()).await?;
/// println!("{} jobs", page.job_total_count);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    project_id: String,
    auth: AuthState,
    retry: RetryPolicy,
    token_renew_before: Duration,
    connect_timeout: Duration,
    request_timeout: Duration,
}

enum AuthState {
    None,
    AccessKey {
        access_key: String,
        secret_key: SecretString,
    },
    Token {
        domain: String,
        username: String,
        password: SecretString,
        cache: tokio::sync::Mutex<TokenCache>,
    },
}

#[derive(Default)]
struct TokenCache {
    current: Option<CachedToken>,
    generation: u64,
}

struct CachedToken {
    value: SecretString,
    generation: u64,
    renew_at: Instant,
    expires: Instant,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Session");
        d.field("endpoint", &i.endpoint.display)
            .field("project_id", &i.project_id);
        match &i.auth {
            AuthState::None => d.field("auth", &"None"),
            AuthState::AccessKey { access_key, .. } => d
                .field("auth", &"AccessKey")
                .field("access_key", access_key)
                .field("secret_key", &"[REDACTED]"),
            AuthState::Token {
                domain, username, ..
            } => d
                .field("auth", &"Token")
                .field("domain", domain)
                .field("username", username)
                .field("password", &"[REDACTED]")
                .field("token", &"[REDACTED]"),
        };
        d.field("connect_timeout", &i.connect_timeout)
            .field("request_timeout", &i.request_timeout)
            .field("retry", &i.retry)
            .finish()
    }
}

/// The parsed endpoint: `origin` = `scheme://host[:port]`, `base_path` = `""` or `/prefix`.
#[derive(Clone, Debug)]
struct Endpoint {
    origin: String,
    base_path: String,
    host: String,
    display: String,
}

impl Endpoint {
    fn parse(raw: &str) -> Result<Endpoint> {
        let bad = |why: &str| {
            Error::InvalidArgument(format!(
                "endpoint must be an http:// or https:// URL{why}, got {raw:?}"
            ))
        };
        let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad(""))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(""));
        }
        let host_str = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(" with a host"))?;
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(bad(" without query, fragment or user info"));
        }
        let host = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.to_owned(),
        };
        let origin = format!("{}://{host}", url.scheme());
        let base_path = url.path().trim_end_matches('/').to_owned();
        Ok(Endpoint {
            display: format!("{origin}{base_path}"),
            origin,
            base_path,
            host,
        })
    }
}

/// One API request, before auth headers: `path` is already percent-encoded and relative to
/// the endpoint's base path.
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: Option<(&'static str, Vec<u8>)>,
}

impl ApiRequest {
    pub(crate) fn get(path: String) -> ApiRequest {
        ApiRequest {
            method: Method::GET,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn new(method: Method, path: String) -> ApiRequest {
        ApiRequest {
            method,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn query<K: Into<String>, V: Into<String>>(mut self, k: K, v: V) -> ApiRequest {
        self.query.push((k.into(), v.into()));
        self
    }

    pub(crate) fn json(mut self, value: &serde_json::Value) -> ApiRequest {
        self.body = Some((
            "application/json",
            serde_json::to_vec(value).unwrap_or_default(),
        ));
        self
    }

    pub(crate) fn raw_body(mut self, content_type: &'static str, bytes: Vec<u8>) -> ApiRequest {
        self.body = Some((content_type, bytes));
        self
    }
}

/// A 2xx response.
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    pub(crate) fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            http_status: self.status,
            message: e.to_string(),
        })
    }
}

enum Auth<'a> {
    None,
    Sign(&'a str, &'a SecretString),
    Token(String, u64),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Session {
    /// The Notebook-style `Session()`: configuration from the environment, falling back to the
    /// credentials file that a local `trainyard serve` writes (see the crate docs,
    /// "Configuration from the environment", for the variables, the file's paths and format).
    ///
    /// With no credentials anywhere the session sends unsigned requests (only useful against a
    /// server started with `--insecure-no-auth`); with no project id anywhere it uses
    /// [`DEFAULT_PROJECT_ID`]; with no endpoint, [`DEFAULT_ENDPOINT`].
    ///
    /// Errors: [`Error::Config`] for a named but missing, unreadable or malformed credentials
    /// file, or half a key pair or login; [`Error::InvalidArgument`] for a bad endpoint or
    /// project id.
    pub fn from_env() -> Result<Session> {
        SessionBuilder::from_env()?.build()
    }

    /// A session that signs every request with SDK-HMAC-SHA256 (`auth.md` "AK/SK signing"):
    /// `X-Sdk-Date` and `Authorization` over `host`, `content-type`, `x-project-id` and
    /// `x-sdk-date`, the exact path and query sent, and the body's SHA-256.
    ///
    /// Errors: see [`SessionBuilder::build`].
    ///
    /// ```
    /// let session = trainyard_client::Session::with_access_key(
    ///     "http://127.0.0.1:8080", "default", "QTWAOYTTINDUT2QVKYUC", "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc")?;
    /// assert!(!format!("{session:?}").contains("MFyfvK41"));
    /// # Ok::<(), trainyard_client::Error>(())
    /// ```
    pub fn with_access_key(
        endpoint: impl Into<String>,
        project_id: impl Into<String>,
        access_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> Result<Session> {
        SessionBuilder::new(endpoint)
            .project_id(project_id)
            .access_key(access_key, secret_key)
            .build()
    }

    /// A session that logs in with a password: `POST /v3/auth/tokens` with the Keystone body
    /// scoped to `project_id` (`auth.md` "Tokens"), then `X-Auth-Token` on every request. The
    /// token is fetched on first use, cached, renewed when less than 5 minutes of its life are
    /// left (see [`SessionBuilder::token_renew_before`]), and renewed once more if a request is
    /// refused with 401 `ModelArts.0202` (expired) or `ModelArts.0203` (unknown), which is then
    /// retried once. An empty `domain` means the user name.
    ///
    /// Errors: see [`SessionBuilder::build`]; a refused login surfaces on the first call as
    /// [`Error::Auth`].
    pub fn with_password(
        endpoint: impl Into<String>,
        project_id: impl Into<String>,
        domain: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Session> {
        SessionBuilder::new(endpoint)
            .project_id(project_id)
            .password(domain, username, password)
            .build()
    }

    /// A session that sends unsigned requests (for servers started with `--insecure-no-auth`).
    ///
    /// Errors: see [`SessionBuilder::build`].
    pub fn without_auth(
        endpoint: impl Into<String>,
        project_id: impl Into<String>,
    ) -> Result<Session> {
        SessionBuilder::new(endpoint).project_id(project_id).build()
    }

    /// A builder for the server at `endpoint` (same as [`SessionBuilder::new`]).
    pub fn builder(endpoint: impl Into<String>) -> SessionBuilder {
        SessionBuilder::new(endpoint)
    }

    /// The endpoint, normalised: `scheme://host[:port][/prefix]` without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint.display
    }

    /// The project id used in every path.
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// How this session authenticates.
    pub fn auth_method(&self) -> AuthMethod {
        match self.inner.auth {
            AuthState::None => AuthMethod::None,
            AuthState::AccessKey { .. } => AuthMethod::AccessKey,
            AuthState::Token { .. } => AuthMethod::Token,
        }
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// `/{prefix}/{project_id}/{segments...}`, every segment percent-encoded.
    pub(crate) fn project_path(&self, prefix: &str, segments: &[&str]) -> String {
        let mut p = format!("/{prefix}/{}", encode_component(&self.inner.project_id));
        for s in segments {
            p.push('/');
            p.push_str(&encode_component(s));
        }
        p
    }

    /// `/v1/{project_id}/{segments...}`.
    pub(crate) fn v1_path(&self, segments: &[&str]) -> String {
        self.project_path("v1", segments)
    }

    /// Sends `req` and decodes a 2xx JSON body as `T`.
    pub(crate) async fn call<T: DeserializeOwned>(&self, req: ApiRequest) -> Result<T> {
        self.execute(&req, true).await?.decode()
    }

    /// Sends `req` with auth, retries and token renewal; returns the 2xx response or the error.
    pub(crate) async fn execute(
        &self,
        req: &ApiRequest,
        authenticate: bool,
    ) -> Result<RawResponse> {
        let query = encode_query(&req.query);
        let path = format!("{}{}", self.inner.endpoint.base_path, req.path);
        let url_text = if query.is_empty() {
            format!("{}{path}", self.inner.endpoint.origin)
        } else {
            format!("{}{path}?{query}", self.inner.endpoint.origin)
        };
        let url = reqwest::Url::parse(&url_text).map_err(|e| {
            Error::InvalidArgument(format!("cannot build the request URL {url_text:?}: {e}"))
        })?;
        let request_id = uuid::Uuid::new_v4().to_string();
        // Token requests are harmless to repeat (a spare token), so they retry like a GET.
        let idempotent = req.method == Method::GET || !authenticate;
        let (content_type, body): (&str, &[u8]) = match &req.body {
            Some((ct, b)) => (ct, b),
            None => ("application/json", &[]),
        };
        let tries = self.inner.retry.tries();
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            attempt += 1;
            let auth = if authenticate {
                self.auth_for_attempt().await?
            } else {
                Auth::None
            };
            let mut headers: Vec<(String, String)> = vec![
                ("Host".into(), self.inner.endpoint.host.clone()),
                ("Content-Type".into(), content_type.to_owned()),
            ];
            if authenticate {
                headers.push(("X-Project-Id".into(), self.inner.project_id.clone()));
            }
            let token_generation = match &auth {
                Auth::None => None,
                Auth::Sign(ak, sk) => {
                    let signer = trainyard_sign::Signer::new(*ak, sk.expose_secret().as_bytes());
                    let view: Vec<(&str, &str)> = headers
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect();
                    let date = trainyard_sign::sdk_date(now_ms());
                    let added = signer
                        .try_sign(req.method.as_str(), &path, &query, &view, body, &date)
                        .map_err(|e| {
                            Error::InvalidArgument(format!("cannot sign the request: {e}"))
                        })?;
                    headers.extend(added);
                    None
                }
                Auth::Token(token, generation) => {
                    headers.push(("X-Auth-Token".into(), token.clone()));
                    Some(*generation)
                }
            };
            let mut rb = self
                .inner
                .http
                .request(req.method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header("X-Request-Id", &request_id);
            for (k, v) in &headers {
                rb = rb.header(k.as_str(), v.as_str());
            }
            if req.body.is_some() {
                rb = rb.body(body.to_vec());
            }
            let outcome = async {
                let resp = rb.send().await?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, bytes))
            }
            .await;
            match outcome {
                Err(e) => {
                    let retryable = e.is_connect()
                        || (idempotent && (e.is_timeout() || e.is_request() || e.is_body()));
                    if retryable && attempt < tries {
                        tokio::time::sleep(self.inner.retry.delay(attempt, None)).await;
                        continue;
                    }
                    return Err(Error::Transport(e));
                }
                Ok((status, headers, bytes)) => {
                    if (200..300).contains(&status) {
                        return Ok(RawResponse {
                            status,
                            headers,
                            body: bytes.to_vec(),
                        });
                    }
                    let err = Error::from_response(status, &bytes, request_id_of(&headers));
                    if let Some(generation) = token_generation
                        && status == 401
                        && !renewed
                        && matches!(err.error_code(), Some("ModelArts.0202" | "ModelArts.0203"))
                    {
                        // Authentication comes first on the server: the request was not
                        // processed, so it is safe to send it again with a fresh token.
                        renewed = true;
                        self.invalidate_token(generation).await;
                        attempt -= 1;
                        continue;
                    }
                    if idempotent && matches!(status, 429 | 502 | 503 | 504) && attempt < tries {
                        tokio::time::sleep(self.inner.retry.delay(attempt, retry_after(&headers)))
                            .await;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    async fn auth_for_attempt(&self) -> Result<Auth<'_>> {
        Ok(match &self.inner.auth {
            AuthState::None => Auth::None,
            AuthState::AccessKey {
                access_key,
                secret_key,
            } => Auth::Sign(access_key, secret_key),
            AuthState::Token { .. } => {
                let (t, g) = self.token().await?;
                Auth::Token(t, g)
            }
        })
    }

    /// The cached token, fetched or renewed first when due. Concurrent callers wait for one fetch.
    async fn token(&self) -> Result<(String, u64)> {
        let AuthState::Token { cache, .. } = &self.inner.auth else {
            return Err(Error::Auth {
                error_code: None,
                message: "this session has no password".into(),
                http_status: None,
                request_id: None,
            });
        };
        let mut c = cache.lock().await;
        let now = Instant::now();
        if let Some(t) = &c.current
            && now < t.renew_at
        {
            return Ok((t.value.expose_secret().to_owned(), t.generation));
        }
        match self.fetch_token().await {
            Ok((value, renew_at, expires)) => {
                c.generation += 1;
                let generation = c.generation;
                let out = (value.expose_secret().to_owned(), generation);
                c.current = Some(CachedToken {
                    value,
                    generation,
                    renew_at,
                    expires,
                });
                Ok(out)
            }
            // A renewal that fails while the old token still lives: keep using the old one.
            Err(e) => match &c.current {
                Some(t) if Instant::now() < t.expires => {
                    Ok((t.value.expose_secret().to_owned(), t.generation))
                }
                _ => Err(e),
            },
        }
    }

    async fn invalidate_token(&self, generation: u64) {
        if let AuthState::Token { cache, .. } = &self.inner.auth {
            let mut c = cache.lock().await;
            if c.current
                .as_ref()
                .is_some_and(|t| t.generation == generation)
            {
                c.current = None;
            }
        }
    }

    /// `POST /v3/auth/tokens`; returns the token, when to renew it and when it expires.
    async fn fetch_token(&self) -> Result<(SecretString, Instant, Instant)> {
        let AuthState::Token {
            domain,
            username,
            password,
            ..
        } = &self.inner.auth
        else {
            return Err(Error::Auth {
                error_code: None,
                message: "this session has no password".into(),
                http_status: None,
                request_id: None,
            });
        };
        let body = serde_json::json!({
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {"user": {"name": username, "password": password.expose_secret(), "domain": {"name": domain}}}
                },
                "scope": {"project": {"id": self.inner.project_id}}
            }
        });
        let req = ApiRequest::new(Method::POST, "/v3/auth/tokens".to_owned()).json(&body);
        let sent = Instant::now();
        // Boxed: `execute` reaches this function through `token` (without auth it never recurses).
        let resp = match Box::pin(self.execute(&req, false)).await {
            Ok(r) => r,
            Err(Error::Api {
                error_code,
                error_msg,
                http_status,
                request_id,
            }) => {
                return Err(Error::Auth {
                    error_code: (!error_code.is_empty()).then_some(error_code),
                    message: if error_msg.is_empty() {
                        format!("HTTP {http_status}")
                    } else {
                        error_msg
                    },
                    http_status: Some(http_status),
                    request_id,
                });
            }
            Err(e) => return Err(e),
        };
        let token = resp
            .headers
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Auth {
                error_code: None,
                message: "the token response has no X-Subject-Token header".into(),
                http_status: None,
                request_id: None,
            })?
            .to_owned();
        let body: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|e| Error::Auth {
                error_code: None,
                message: format!("the token response body is not JSON: {e}"),
                http_status: None,
                request_id: None,
            })?;
        let parse_time = |key: &str| {
            body.pointer(&format!("/token/{key}"))
                .and_then(|v| v.as_str())
                .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        };
        let expires_at = parse_time("expires_at").ok_or_else(|| Error::Auth {
            error_code: None,
            message: "the token response has no RFC 3339 token.expires_at".into(),
            http_status: None,
            request_id: None,
        })?;
        let issued_at = parse_time("issued_at").unwrap_or_else(OffsetDateTime::now_utc);
        // The token's life, measured on the server's clock, applied to our monotonic clock from
        // the moment we sent the request: immune to clock skew between client and server.
        let life = expires_at - issued_at;
        let life = Duration::try_from(life)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::Auth {
                error_code: None,
                message: format!(
                    "the token expired before it was issued (expires_at {expires_at})"
                ),
                http_status: None,
                request_id: None,
            })?;
        let expires = sent + life;
        let margin = self.inner.token_renew_before.min(life / 2);
        Ok((SecretString::from(token), expires - margin, expires))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (e.origin.as_str(), e.base_path.as_str(), e.host.as_str()),
            ("http://127.0.0.1:8080", "", "127.0.0.1:8080")
        );
        let e = Endpoint::parse("https://ma.example.com:443/prefix/").unwrap();
        assert_eq!(
            (e.origin.as_str(), e.base_path.as_str(), e.host.as_str()),
            ("https://ma.example.com", "/prefix", "ma.example.com")
        );
        let e = Endpoint::parse("http://[::1]:9000/").unwrap();
        assert_eq!(e.host, "[::1]:9000");
        for bad in [
            "",
            "127.0.0.1:8080",
            "ftp://x",
            "http://x/?a=1",
            "http://u:p@x/",
            "http://x/#f",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(Error::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_are_encoded_per_segment() {
        let s = Session::without_auth("http://h:1/base", "p-1").unwrap();
        assert_eq!(
            s.v1_path(&["training-jobs", "12", "versions"]),
            "/v1/p-1/training-jobs/12/versions"
        );
        assert_eq!(
            s.project_path("trainyard/v1", &["job-history"]),
            "/trainyard/v1/p-1/job-history"
        );
        assert_eq!(
            s.v1_path(&["training-job-configs", "a b"]),
            "/v1/p-1/training-job-configs/a%20b"
        );
        assert_eq!(s.endpoint(), "http://h:1/base");
    }

    #[test]
    fn builder_validates() {
        assert!(
            matches!(Session::without_auth("http://h", "bad/project"), Err(Error::InvalidArgument(m)) if m.contains("project_id"))
        );
        assert!(Session::with_access_key("http://h", "p", "", "sk").is_err());
        assert!(Session::with_password("http://h", "p", "", "u", "").is_err());
        let s = Session::with_password("http://h", "p", "", "alice", "pw").unwrap();
        assert_eq!(s.auth_method(), AuthMethod::Token);
        assert!(format!("{s:?}").contains("domain: \"alice\""));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = Session::with_access_key("http://h", "p", "MYACCESSKEY", "TOPSECRETKEY").unwrap();
        let d = format!("{s:?}");
        assert!(
            d.contains("MYACCESSKEY") && d.contains("[REDACTED]") && !d.contains("TOPSECRETKEY"),
            "{d}"
        );
        let s =
            Session::with_password("http://h", "p", "dom", "alice", "hunter2-password").unwrap();
        let d = format!("{s:?}");
        assert!(d.contains("alice") && !d.contains("hunter2"), "{d}");
        let c = Credentials::AccessKey {
            access_key: "AK".into(),
            secret_key: "TOPSECRETKEY".into(),
        };
        assert!(!format!("{c:?}").contains("TOPSECRETKEY"));
        let c = Credentials::Password {
            domain: "d".into(),
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        let b = SessionBuilder::new("http://h")
            .access_key("AK", "TOPSECRETKEY")
            .password("d", "u", "hunter2");
        let d = format!("{b:?}");
        assert!(!d.contains("TOPSECRETKEY") && !d.contains("hunter2"), "{d}");
    }

    #[test]
    fn backoff_grows_with_jitter_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for attempt in 1..=6 {
            let full = p
                .base_delay
                .saturating_mul(1 << (attempt - 1))
                .min(p.max_delay);
            let d = p.delay(attempt, None);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(60))), p.max_delay);
        assert_eq!(RetryPolicy { max_tries: 0, ..p }.tries(), 1);
    }
}
