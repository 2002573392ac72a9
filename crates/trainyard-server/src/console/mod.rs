//! The web console (issue 13): server-rendered HTML pages at `/console`, served by the same
//! `trainyard serve`, to find, watch and manage training jobs in a browser.
//!
//! Every operation calls the same internal function as the JSON API (`crate::service`, the list
//! index through `service::list_jobs_with_counts`, the login through `crate::auth::login`, logs
//! through `crate::routes::logs`), and every form is parsed into the API's own request types
//! (`trainyard_api::jobs::CreateJobRequest::from_json`, ...), so the console shows the API's
//! validation messages and cannot do anything the API would refuse.
//!
//! # Pages (all under `/console`; `/` redirects to `/console`)
//! | method, path | what |
//! |---|---|
//! | `GET /console` | to the first project's job list (or the sign-in page) |
//! | `GET/POST /console/login`, `POST /console/logout` | sign-in (user, password, optional project) and sign-out |
//! | `GET /console/switch?project=` | project switcher |
//! | `GET /console/p/{project}/jobs?status=&search_content=&sortBy=&order=&page=&per_page=` | job list; the URL holds the whole query (the API's parameter names) |
//! | `GET /console/p/{project}/jobs/new`, `POST /console/p/{project}/jobs` | create a job |
//! | `GET /console/p/{project}/jobs/{job_id}?version=&worker=&before=&from=` | job page: versions, logs |
//! | `POST .../jobs/{job_id}/desc`, `GET/POST .../jobs/{job_id}/delete` | edit description, delete (confirmation names the job) |
//! | `GET .../jobs/{job_id}/versions/new?from=`, `POST .../jobs/{job_id}/versions` | new version, prefilled from a version |
//! | `POST .../versions/{version_id}/stop` | stop a version |
//! | `GET .../versions/{version_id}/log/stream?worker=&offset=` | a worker's log as server-sent events |
//! | `GET /console/assets/{file}` | embedded CSS/JS (vendored htmx, see `assets/README.md`) |
//!
//! # Security
//! - Session: the password login issues an API token (`auth::login`, the code of
//!   `POST /v3/auth/tokens`), kept in an `HttpOnly`, `SameSite=Strict` cookie limited to
//!   `/console` (`Secure` when the request came over TLS, i.e. `X-Forwarded-Proto: https` from a
//!   TLS proxy). The session may open every project of its user (checked against the store on
//!   each request); sign-out revokes the token. `--insecure-no-auth` servers open directly.
//! - CSRF: every POST carries a token, HMAC-SHA256 (a key in `<data dir>/console.key`) of the
//!   session token (or of a random pre-session cookie); a POST whose `Origin` is another site
//!   is refused too (`session`).
//! - Content-Security-Policy without inline scripts or styles, no asset from outside the binary,
//!   `X-Frame-Options: DENY`, `no-store` caching of pages (`page::security_headers`).
//! - Another project's job is the same 404 page as a job that never existed; errors are pages,
//!   never stack traces (handler panics become a 500 page).

mod assets;
mod format;
mod forms;
mod job;
mod list;
mod page;
mod session;

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::Redirect;
use axum::routing::{get, post};
use std::sync::Arc;

pub use session::Keys;

/// The console's routes (see the module docs), with their own middleware: security headers,
/// gzip compression, panics as pages, a body limit. Merged into the API router by
/// `crate::app::router`; `keys` signs the CSRF tokens.
pub fn router(state: &AppState, keys: Arc<Keys>) -> Router<AppState> {
    let p = "/console/p/{project}";
    let job = "/console/p/{project}/jobs/{job_id}";
    let version = "/console/p/{project}/jobs/{job_id}/versions/{version_id}";
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(session::home))
        .route(
            "/console/login",
            get(session::login_page).post(session::login),
        )
        .route("/console/logout", post(session::logout))
        .route("/console/switch", get(session::switch))
        .route("/console/assets/{file}", get(assets::serve))
        .route(
            &format!("{p}/jobs"),
            get(list::list_page).post(forms::create_job),
        )
        .route(&format!("{p}/jobs/new"), get(forms::create_page))
        .route(job, get(job::job_page))
        .route(&format!("{job}/desc"), post(job::update_desc))
        .route(
            &format!("{job}/delete"),
            get(job::delete_page).post(job::delete),
        )
        .route(&format!("{job}/versions"), post(forms::create_version))
        .route(&format!("{job}/versions/new"), get(forms::version_page))
        .route(&format!("{version}/stop"), post(job::stop))
        .route(&format!("{version}/log/stream"), get(job::log_stream))
        .route(
            "/console/{*rest}",
            get(page::not_found).post(page::not_found),
        )
        .method_not_allowed_fallback(page::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(axum::middleware::map_response(page::security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            page::panic_page,
        ))
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        .layer(axum::Extension(keys))
}
