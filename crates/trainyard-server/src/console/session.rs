//! Who is looking at the console: the session cookie, sign-in and sign-out, the project
//! switcher, and CSRF tokens (module docs of `crate::console`, "Security").
//!
//! - [`Viewer`]: a signed-in user (or anyone on an `--insecure-no-auth` server), extracted
//!   from the cookies of every console request; without a valid session a page request is
//!   redirected to the sign-in page (`?next=` brings it back).
//! - [`Visitor`]: anyone (the sign-in page), with a pre-session CSRF cookie.
//! - CSRF: a form's token is `hex(HMAC-SHA256(key, binding))`, where the binding is the session
//!   token (or the pre-session cookie); a POST must carry it in the `csrf` field, and must not
//!   come from another origin (`Origin`, `Sec-Fetch-Site`).

use super::format::safe_next;
use super::page::{self, Chrome, ConsoleError, ProjectChoice};
use crate::auth::{self, CREDENTIALS_FILE, Login, LoginScope};
use crate::state::{AppState, now_ms};
use askama::Template;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, KeyInit, Mac};
use std::path::Path;
use std::sync::Arc;
use trainyard_api::params::ProjectId;
use trainyard_store::auth::TokenCheck;

/// The session cookie: the API token of the signed-in user.
pub const SESSION_COOKIE: &str = "trainyard_session";
/// The pre-session cookie a CSRF token is bound to before sign-in (and on open servers).
pub const ANON_COOKIE: &str = "trainyard_csrf";
/// The key file (in the data directory) that signs CSRF tokens.
pub const KEY_FILE: &str = "console.key";

const MSG_CSRF: &str =
    "This form has expired or did not come from this console. Reload the page and try again.";

type HmacSha256 = Hmac<sha2::Sha256>;

/// The console's secret: signs CSRF tokens.
pub struct Keys {
    csrf: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

impl Keys {
    /// Loads (or creates, mode 0600) `<data_dir>/console.key`: 32 random bytes, hex. Errors:
    /// an unreadable or malformed file.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Keys> {
        let path = data_dir.join(KEY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::fill(&mut key[..]);
                auth::write_private(&path, hex::encode(key).as_bytes())?;
                hex::encode(key)
            }
            Err(e) => return Err(anyhow::anyhow!("{}: {e}", path.display())),
        };
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| anyhow::anyhow!("{} is not 64 hex digits", path.display()))?;
        let mut csrf = [0u8; 32];
        csrf.copy_from_slice(&bytes);
        Ok(Keys { csrf })
    }

    /// [`Keys::load_or_create`], or, when the file cannot be used, a random key for this run
    /// only (logged: forms opened before a restart then need a reload).
    pub fn for_data_dir(data_dir: &Path) -> Keys {
        Keys::load_or_create(data_dir).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "console key file unusable; using a key for this run only");
            let mut csrf = [0u8; 32];
            rand::fill(&mut csrf[..]);
            Keys { csrf }
        })
    }

    /// Keys from fixed bytes (tests).
    pub fn from_bytes(csrf: [u8; 32]) -> Keys {
        Keys { csrf }
    }

    fn mac(&self, binding: &str) -> HmacSha256 {
        let mut m = <HmacSha256 as KeyInit>::new_from_slice(&self.csrf)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(b"trainyard-console-csrf\0");
        m.update(binding.as_bytes());
        m
    }

    /// The CSRF token of a binding (session token or pre-session cookie).
    pub fn csrf_token(&self, binding: &str) -> String {
        hex::encode(self.mac(binding).finalize().into_bytes())
    }

    /// True when `token` is the CSRF token of `binding` (constant-time comparison).
    pub fn csrf_ok(&self, binding: &str, token: &str) -> bool {
        match hex::decode(token) {
            Ok(raw) => self.mac(binding).verify_slice(&raw).is_ok(),
            Err(_) => false,
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// True when the request reached us over TLS: an `https` URI, or a TLS proxy's
/// `X-Forwarded-Proto: https` / `Forwarded: proto=https`. Cookies then get `Secure`.
pub fn is_tls(headers: &HeaderMap, uri: &Uri) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
        || headers
            .get(header::FORWARDED)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split([';', ','])
                    .any(|p| p.trim().eq_ignore_ascii_case("proto=https"))
            });
    forwarded || uri.scheme_str() == Some("https")
}

/// A `Set-Cookie` value for the console's cookies: `HttpOnly`, `SameSite=Strict`, path
/// `/console`, `Secure` over TLS; `max_age_secs` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age_secs: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("trainyard_invalid=; Max-Age=0"))
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The pre-session binding: the request's cookie, or a new random one to set.
fn anon_binding(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, ANON_COOKIE).filter(|v| is_hex(v, 32)) {
        Some(v) => (v.to_owned(), false),
        None => {
            let mut b = [0u8; 16];
            rand::fill(&mut b[..]);
            (hex::encode(b), true)
        }
    }
}

fn keys_of(parts: &Parts) -> Result<Arc<Keys>, ConsoleError> {
    parts
        .extensions
        .get::<Arc<Keys>>()
        .cloned()
        .ok_or_else(|| ConsoleError::internal(&"console keys missing"))
}

/// A signed-in user, or anyone on an `--insecure-no-auth` server (see module docs).
#[derive(Clone, Debug)]
pub struct Viewer {
    /// The user's name (`None` on an open server).
    pub user: Option<String>,
    /// The projects this viewer may open, by id.
    pub projects: Vec<ProjectChoice>,
    /// The CSRF token forms carry.
    pub csrf: String,
    binding: String,
    session: Option<String>,
    new_anon_cookie: bool,
    /// The request came over TLS (cookies get `Secure`).
    pub secure: bool,
    keys: Arc<Keys>,
    open: bool,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let keys = keys_of(parts).map_err(IntoResponse::into_response)?;
        let secure = is_tls(&parts.headers, &parts.uri);
        if s.config.insecure_no_auth {
            let (binding, new_anon_cookie) = anon_binding(&parts.headers);
            let projects = open_projects(s)
                .await
                .map_err(IntoResponse::into_response)?;
            return Ok(Viewer {
                user: None,
                projects,
                csrf: keys.csrf_token(&binding),
                binding,
                session: None,
                new_anon_cookie,
                secure,
                keys,
                open: true,
            });
        }
        let to_login = || {
            let next = if parts.method == axum::http::Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map_or("/console", |pq| pq.as_str())
            } else {
                "/console"
            };
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("next", next)
                .finish();
            let mut r = Redirect::to(&format!("/console/login?{q}")).into_response();
            if parts.headers.contains_key("hx-request") {
                // htmx follows redirects inside the page: make it load the sign-in page
                if let Ok(v) = HeaderValue::from_str(&format!("/console/login?{q}")) {
                    r.headers_mut().insert("hx-redirect", v);
                }
            }
            r
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| is_hex(t, 64))
            .map(str::to_owned)
        else {
            return Err(to_login());
        };
        let tok = token.clone();
        let found = s
            .read(move |st| {
                let identity = match st
                    .check_token(&tok, now_ms())
                    .map_err(|e| crate::error::HttpError::internal(&e))?
                {
                    TokenCheck::Valid(i) => i,
                    TokenCheck::Expired | TokenCheck::Invalid => return Ok(None),
                };
                let projects = st
                    .projects_of_user(identity.user_id)
                    .map_err(|e| crate::error::HttpError::internal(&e))?;
                Ok(Some((identity.user, projects)))
            })
            .await
            .map_err(|e| ConsoleError::from(e).into_response())?;
        let Some((user, projects)) = found else {
            return Err(to_login());
        };
        Ok(Viewer {
            user: Some(user),
            projects: projects
                .into_iter()
                .map(|p| ProjectChoice {
                    id: p.project_id,
                    name: p.name,
                })
                .collect(),
            csrf: keys.csrf_token(&token),
            binding: token.clone(),
            session: Some(token),
            new_anon_cookie: false,
            secure,
            keys,
            open: false,
        })
    }
}

/// On an open server: the store's projects and every project that has jobs.
async fn open_projects(s: &AppState) -> Result<Vec<ProjectChoice>, ConsoleError> {
    let mut out: Vec<ProjectChoice> = s
        .read(|st| {
            st.projects()
                .map_err(|e| crate::error::HttpError::internal(&e))
        })
        .await?
        .into_iter()
        .map(|p| ProjectChoice {
            id: p.project_id,
            name: p.name,
        })
        .collect();
    {
        let ix = s.store.index().read();
        for p in ix.projects() {
            if !out.iter().any(|c| c.id == p) {
                out.push(ProjectChoice {
                    id: p.to_owned(),
                    name: p.to_owned(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

impl Viewer {
    /// The project `raw` if this viewer may open it; otherwise the 404 page (the same as for a
    /// project that does not exist). An open server opens any well-formed project id.
    pub fn project(&self, raw: &str) -> Result<ProjectChoice, ConsoleError> {
        if let Some(p) = self.projects.iter().find(|p| p.id == raw) {
            return Ok(p.clone());
        }
        if self.open && ProjectId::parse(raw).is_ok() {
            return Ok(ProjectChoice {
                id: raw.to_owned(),
                name: raw.to_owned(),
            });
        }
        Err(ConsoleError::not_found(
            "There is no such project, or it is not yours.",
        ))
    }

    /// The page frame (header, project switcher, sign-out) for a page of `current`.
    pub fn chrome(&self, current: Option<&ProjectChoice>, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: self.user.clone(),
            projects: self.projects.clone(),
            current: current.cloned(),
            csrf: self.csrf.clone(),
            now_ms: now_ms(),
        }
    }

    /// Checks a POST: its `csrf` field is this viewer's token, and it does not come from
    /// another origin. Error: 403 page.
    pub fn check_post(&self, headers: &HeaderMap, form: &page::Form) -> Result<(), ConsoleError> {
        check_origin(headers)?;
        let token = form.get("csrf").unwrap_or("");
        if self.keys.csrf_ok(&self.binding, token) {
            Ok(())
        } else {
            Err(ConsoleError::new(
                StatusCode::FORBIDDEN,
                "Refused",
                MSG_CSRF,
            ))
        }
    }

    /// Adds the viewer's new cookies (a first pre-session cookie) to a response.
    pub fn finish(&self, mut resp: Response) -> Response {
        if self.new_anon_cookie {
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(ANON_COOKIE, &self.binding, 86_400 * 365, self.secure),
            );
        }
        resp
    }
}

/// Refuses requests another site sent: `Sec-Fetch-Site: cross-site` or an `Origin` whose host
/// is not the `Host` the request was sent to.
fn check_origin(headers: &HeaderMap) -> Result<(), ConsoleError> {
    let refused = || ConsoleError::new(StatusCode::FORBIDDEN, "Refused", MSG_CSRF);
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err(refused());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.trim_end_matches('/'));
        if origin_host != Some(host) {
            return Err(refused());
        }
    }
    Ok(())
}

/// Anyone (the sign-in page): a pre-session CSRF binding.
#[derive(Clone, Debug)]
pub struct Visitor {
    binding: String,
    new_cookie: bool,
    secure: bool,
    keys: Arc<Keys>,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _s: &S) -> Result<Self, Self::Rejection> {
        let keys = keys_of(parts).map_err(IntoResponse::into_response)?;
        let (binding, new_cookie) = anon_binding(&parts.headers);
        Ok(Visitor {
            binding,
            new_cookie,
            secure: is_tls(&parts.headers, &parts.uri),
            keys,
        })
    }
}

impl Visitor {
    fn finish(&self, mut resp: Response) -> Response {
        if self.new_cookie {
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(ANON_COOKIE, &self.binding, 86_400 * 365, self.secure),
            );
        }
        resp
    }
}

/// `GET /console`: the first project's job list, or the sign-in page.
pub async fn home(viewer: Viewer) -> Response {
    let to = match viewer.projects.first() {
        Some(p) => format!("/console/p/{}/jobs", page::path_segment(&p.id)),
        None if viewer.open => "/console/p/default/jobs".to_owned(),
        None => {
            return page::error_page(
                &viewer,
                ConsoleError::not_found(
                    "Your user has no project. Ask an administrator to add one.",
                ),
            );
        }
    };
    viewer.finish(Redirect::to(&to).into_response())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    next: String,
    error: Option<String>,
    user: String,
    domain: String,
    project: String,
    credentials_file: String,
}

fn login_form(
    s: &AppState,
    v: &Visitor,
    next: &str,
    error: Option<String>,
    fields: (&str, &str, &str),
) -> LoginPage {
    LoginPage {
        chrome: Chrome {
            title: "Sign in".into(),
            user: None,
            projects: Vec::new(),
            current: None,
            csrf: v.keys.csrf_token(&v.binding),
            now_ms: now_ms(),
        },
        next: safe_next(next).to_owned(),
        error,
        user: fields.0.to_owned(),
        domain: fields.1.to_owned(),
        project: fields.2.to_owned(),
        credentials_file: s
            .config
            .data_dir
            .join(CREDENTIALS_FILE)
            .display()
            .to_string(),
    }
}

/// `GET /console/login?next=`: the sign-in form (an open server goes straight to `next`).
pub async fn login_page(State(s): State<AppState>, v: Visitor, uri: Uri) -> Response {
    let q = page::Form::from_query(uri.query().unwrap_or(""));
    let next = q.get("next").unwrap_or("/console");
    if s.config.insecure_no_auth {
        return Redirect::to(safe_next(next)).into_response();
    }
    let page = login_form(&s, &v, next, None, ("", "", ""));
    v.finish(page::render(&page, StatusCode::OK))
}

/// `POST /console/login`: checks the password through [`auth::login`] (the code of
/// `POST /v3/auth/tokens`, throttled the same way per client address and per user), sets the
/// session cookie and goes to `next`. A refused or throttled login shows the form again with
/// the API's message (401, or 429 with `Retry-After`).
pub async fn login(
    State(s): State<AppState>,
    v: Visitor,
    client: auth::ClientAddr,
    headers: HeaderMap,
    form: page::Form,
) -> Response {
    let next = form.get("next").unwrap_or("/console").to_owned();
    if let Err(e) = check_origin(&headers) {
        return page::plain_error(e);
    }
    if !v.keys.csrf_ok(&v.binding, form.get("csrf").unwrap_or("")) {
        return page::plain_error(ConsoleError::new(
            StatusCode::FORBIDDEN,
            "Refused",
            MSG_CSRF,
        ));
    }
    if s.config.insecure_no_auth {
        return Redirect::to(safe_next(&next)).into_response();
    }
    let user = form.get("user").unwrap_or("").trim().to_owned();
    let domain = form.get("domain").unwrap_or("").trim().to_owned();
    let project = form.get("project").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("").to_owned();
    let fields = (user.as_str(), domain.as_str(), project.as_str());
    if user.is_empty() || password.is_empty() {
        let page = login_form(
            &s,
            &v,
            &next,
            Some("Enter your user name and password.".into()),
            fields,
        );
        return v.finish(page::render(&page, StatusCode::BAD_REQUEST));
    }
    let scope = if project.is_empty() {
        LoginScope::FirstOfUser
    } else {
        // a project named by id or by name; an unknown one is refused like a wrong password
        let p = project.clone();
        match s
            .read(move |st| {
                st.find_project(&p)
                    .map_err(|e| crate::error::HttpError::internal(&e))
            })
            .await
        {
            Ok(Some(found)) => LoginScope::Id(found.project_id),
            Ok(None) => LoginScope::Id(project.clone()),
            Err(e) => return page::plain_error(e.into()),
        }
    };
    let request = Login {
        domain: if domain.is_empty() {
            user.clone()
        } else {
            domain.clone()
        },
        user: user.clone(),
        password,
        scope,
    };
    match auth::login(&s, client, request).await {
        Ok(issued) => {
            let to = if next == "/console" || safe_next(&next) != next {
                format!(
                    "/console/p/{}/jobs",
                    page::path_segment(&issued.project.project_id)
                )
            } else {
                next
            };
            let mut r = Redirect::to(&to).into_response();
            let ttl = u64::try_from((issued.expires_at - issued.issued_at) / 1000).unwrap_or(0);
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, &issued.token, ttl, v.secure),
            );
            r
        }
        Err(auth::LoginError::Internal(cause)) => page::plain_error(ConsoleError::internal(&cause)),
        Err(e) => {
            // refused (401) or throttled (429): the API's message, the form again
            let api = e.api_error();
            let status =
                StatusCode::from_u16(api.code.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let page = login_form(&s, &v, &next, Some(api.message.clone()), fields);
            let mut r = v.finish(page::render(&page, status));
            let retry_ms = match e {
                auth::LoginError::Throttled { retry_after_ms, .. } => Some(retry_after_ms),
                auth::LoginError::Busy => Some(1000),
                _ => None,
            };
            if let Some(ms) = retry_ms
                && let Ok(v) = HeaderValue::from_str(&((ms + 999) / 1000).max(1).to_string())
            {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
    }
}

/// `POST /console/logout`: revokes the session's token, deletes the cookie, back to sign-in.
pub async fn logout(
    State(s): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    form: page::Form,
) -> Response {
    if let Err(e) = viewer.check_post(&headers, &form) {
        return page::error_page(&viewer, e);
    }
    if let Some(token) = viewer.session.clone() {
        let revoked = s
            .read(move |st| {
                st.revoke_token(&token, now_ms())
                    .map_err(|e| crate::error::HttpError::internal(&e))
            })
            .await;
        if let Err(e) = revoked {
            return page::error_page(&viewer, e.into());
        }
    }
    let to = if viewer.open {
        "/console"
    } else {
        "/console/login"
    };
    let mut r = Redirect::to(to).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, viewer.secure),
    );
    r
}

/// `GET /console/switch?project=`: the project switcher's target (a GET form, so it works
/// without JavaScript).
pub async fn switch(viewer: Viewer, uri: Uri) -> Response {
    let q = page::Form::from_query(uri.query().unwrap_or(""));
    match viewer.project(q.get("project").unwrap_or("")) {
        Ok(p) => {
            Redirect::to(&format!("/console/p/{}/jobs", page::path_segment(&p.id))).into_response()
        }
        Err(e) => page::error_page(&viewer, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_bind_to_their_session() {
        let k = Keys::from_bytes([3; 32]);
        let t = k.csrf_token("session-a");
        assert_eq!(t.len(), 64);
        assert!(k.csrf_ok("session-a", &t));
        assert!(!k.csrf_ok("session-b", &t));
        assert!(!k.csrf_ok("session-a", ""));
        assert!(!k.csrf_ok("session-a", "zz"));
        // another server key gives other tokens
        assert!(!Keys::from_bytes([4; 32]).csrf_ok("session-a", &t));
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = Keys::load_or_create(dir.path()).unwrap();
        let b = Keys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.csrf_token("x"), b.csrf_token("x"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(KEY_FILE), "short").unwrap();
        assert!(Keys::load_or_create(dir.path()).is_err());
    }

    #[test]
    fn cookies_and_tls() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; trainyard_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        let uri: Uri = "/console".parse().unwrap();
        assert!(!is_tls(&h, &uri));
        h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS"));
        assert!(is_tls(&h, &uri));
        let mut f = HeaderMap::new();
        f.insert(
            header::FORWARDED,
            HeaderValue::from_static("for=1.2.3.4;proto=https"),
        );
        assert!(is_tls(&f, &uri));
        let c = set_cookie(SESSION_COOKIE, "tok", 60, true);
        assert_eq!(
            c.to_str().unwrap(),
            "trainyard_session=tok; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
        let c = set_cookie(SESSION_COOKIE, "tok", 60, false);
        assert!(!c.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn hostile_sign_in_values_are_text() {
        use super::super::page::hostile::{self, ATTR, QUOTE, SCRIPT};
        let page = LoginPage {
            chrome: Chrome {
                user: None,
                ..hostile::chrome()
            },
            next: ATTR.into(),
            error: Some(SCRIPT.into()),
            user: ATTR.into(),
            domain: QUOTE.into(),
            project: SCRIPT.into(),
            credentials_file: ATTR.into(),
        };
        let html = page.render().unwrap();
        hostile::assert_inert(&html, &[SCRIPT, ATTR, QUOTE]);
        let e = super::super::page::ConsoleError::not_found(SCRIPT);
        let r = super::super::page::plain_error(e);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(check_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(check_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(check_origin(&h).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(check_origin(&h).is_err());
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(check_origin(&h).is_err());
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(check_origin(&h).is_ok());
    }
}
