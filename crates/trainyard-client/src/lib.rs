//! The Rust SDK of trainyard, a self-hosted service speaking the Huawei ModelArts v1
//! training-job REST API.
//!
//! It keeps the nouns of the ModelArts Python SDK (`sdk.md`): a [`Session`] says where the
//! server is and how to authenticate, and [`Estimator`] holds the training-job calls.
//!
//! ```no_run
//! use trainyard_client::{Estimator, JobListParams, JobStatus, Order, Session};
//!
//! # async fn run() -> trainyard_client::Result<()> {
//! // Python: session = Session()
//! let session = Session::from_env()?;
//! // Python: Estimator.get_job_list(modelarts_session=session, status=8, per_page=10, page=1,
//! //                                order="asc", search_content="job")
//! let resp = Estimator::get_job_list(
//!     &session,
//!     &JobListParams::new().status(JobStatus::Running).per_page(10).page(1).order(Order::Asc).search_content("job"),
//! )
//! .await?;
//! println!("{} of {} jobs", resp.jobs.len(), resp.job_total_count);
//! # Ok(()) }
//! ```
//!
//! # Authentication (`auth.md`)
//! - [`Session::with_access_key`]: every request is signed with SDK-HMAC-SHA256 (by
//!   [`trainyard_sign`]): `X-Sdk-Date` and `Authorization` over the headers `host`,
//!   `content-type`, `x-project-id` and `x-sdk-date`, the exact path and query string sent and
//!   the SHA-256 of the body. The SDK builds every URL itself, percent-encoding path segments and
//!   query pairs with the signer's RFC 3986 rules (only `A-Z a-z 0-9 - _ . ~` stay), so what is
//!   signed is what is sent.
//! - [`Session::with_password`]: a token from `POST /v3/auth/tokens`, sent as `X-Auth-Token`,
//!   cached, renewed when less than 5 minutes of its life are left, and renewed once more (with
//!   one retry of the request) when the server answers 401 `ModelArts.0202` or `ModelArts.0203`.
//! - [`Session::without_auth`]: unsigned requests, for servers started with
//!   `--insecure-no-auth`.
//!
//! Secrets (secret key, password, token) never appear in `Debug` output or error messages.
//!
//! # Configuration from the environment
//! [`Session::from_env`] reads, each variable falling back on its own:
//!
//! | variable | meaning | fallback |
//! |---|---|---|
//! | `TRAINYARD_ENDPOINT` | server URL | the file's `endpoint`, then `http://127.0.0.1:8080` |
//! | `TRAINYARD_PROJECT_ID` | project id | the file's `project_id`, then `default` |
//! | `TRAINYARD_ACCESS_KEY` + `TRAINYARD_SECRET_KEY` | AK/SK signing | |
//! | `TRAINYARD_USERNAME` + `TRAINYARD_PASSWORD` (+ `TRAINYARD_DOMAIN`, default the user name) | password login | |
//!
//! Credentials come from the environment as a whole (a key pair first, then a login); without
//! any there, from the credentials file ([`CredentialsFile`]: its `access_key` +
//! `secret_key` first, then `username` + `password` + `domain`); without any there either,
//! requests go unsigned. The file is `$TRAINYARD_CREDENTIALS_FILE` when set (and must then
//! exist), otherwise the first that exists of `$TRAINYARD_DATA_DIR/credentials.json` and
//! `./trainyard-data/credentials.json`, which a local `trainyard serve` writes.
//!
//! # Timeouts and retries
//! Connect timeout 5 s and request timeout 60 s by default ([`SessionBuilder`]). `GET` calls are
//! tried up to 3 times ([`RetryPolicy`]) on connection errors, timeouts, broken exchanges and
//! HTTP 429, 502, 503 and 504, with exponential backoff (200 ms, 400 ms, ... at most 5 s) and
//! jitter, or the server's `Retry-After`. `POST`, `PUT` and `DELETE` calls are retried only when
//! the connection could not be established (nothing was sent): a create is never sent twice.
//!
//! # Errors
//! One enum, [`Error`]: [`Error::Transport`], [`Error::Api`] (the server's envelope:
//! `error_code`, `error_msg`, HTTP status, `X-Request-Id`), [`Error::InvalidArgument`] (caught
//! before sending, with the server's own rules and message), [`Error::Decode`],
//! [`Error::Auth`], [`Error::Config`], [`Error::WaitTimeout`]. `Display` is one line, e.g.
//! `ModelArts.0101: per_page must be an integer 1-1000, got "1001"`.

mod encode;
mod env;
mod error;
mod estimator;
mod params;
mod session;

pub use encode::{encode_component, encode_query};
pub use env::{
    CREDENTIALS_FILE_NAME, CredentialsFile, DEFAULT_DATA_DIR, ENV_ACCESS_KEY, ENV_CREDENTIALS_FILE,
    ENV_DATA_DIR, ENV_DOMAIN, ENV_ENDPOINT, ENV_PASSWORD, ENV_PROJECT_ID, ENV_SECRET_KEY,
    ENV_USERNAME, user_credentials_path,
};
pub use error::{Error, Result};
pub use estimator::{Estimator, FollowOptions, MAX_LOG_LINES};
pub use params::{ConfigListParams, ConfigSortKey, JobListParams, ToJobListQuery};
pub use session::{
    AuthMethod, Credentials, DEFAULT_CONNECT_TIMEOUT, DEFAULT_ENDPOINT, DEFAULT_PROJECT_ID,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_TOKEN_RENEW_BEFORE, RetryPolicy, Session, SessionBuilder,
};

/// The wire types (`trainyard-api`), re-exported so that callers need no second dependency.
pub use trainyard_api as api;
pub use trainyard_api::history::ImportResponse;
pub use trainyard_api::jobs::{
    CreateJobResponse, Engine, EngineListResponse, JobConfig, LogFileNamesResponse,
    LogLinesResponse, Parameter, Spec, SpecListResponse, SuccessResponse, VersionDetailResponse,
    VersionInfo, VersionListResponse,
};
pub use trainyard_api::{
    ErrorBody, JobListQuery, JobListResponse, JobRow, JobStatus, Order, SortKey, StatusSet,
};

/// The README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
