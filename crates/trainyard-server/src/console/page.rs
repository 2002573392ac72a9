//! Pieces every console page shares: the page frame ([`Chrome`]), rendering, error pages
//! ([`ConsoleError`]: errors are pages, never stack traces), form bodies ([`Form`]) and the
//! security headers.

use super::session::Viewer;
use crate::error::HttpError;
use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use trainyard_api::error::ErrorCode;

/// The Content-Security-Policy of every console response: scripts, styles, images and
/// connections only from this server, no inline script or style, no framing, forms only to
/// this server.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A project the viewer may open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectChoice {
    /// Its id (in paths).
    pub id: String,
    /// Its name.
    pub name: String,
}

/// The frame around every page: title, user, project switcher, sign-out form.
#[derive(Clone, Debug)]
pub struct Chrome {
    /// The page's title (without the site name).
    pub title: String,
    /// The signed-in user (`None` on an open server or before sign-in).
    pub user: Option<String>,
    /// Projects for the switcher (shown when there are several).
    pub projects: Vec<ProjectChoice>,
    /// The project this page belongs to.
    pub current: Option<ProjectChoice>,
    /// The CSRF token of forms on this page.
    pub csrf: String,
    /// The server's time when the page was made, epoch ms (the browser corrects live
    /// durations by its clock's difference to it).
    pub now_ms: i64,
}

impl Chrome {
    /// Path of the current project's job list (`/console` without one).
    pub fn jobs_href(&self) -> String {
        match &self.current {
            Some(p) => format!("/console/p/{}/jobs", path_segment(&p.id)),
            None => "/console".to_owned(),
        }
    }

    /// True when the switcher is worth showing.
    pub fn several_projects(&self) -> bool {
        self.projects.len() > 1
    }

    /// True for the current project (the switcher's selected option).
    pub fn is_current(&self, id: &str) -> bool {
        self.current.as_ref().is_some_and(|p| p.id == id)
    }

    /// Asset path with a content hash (cached for a year).
    pub fn asset(&self, name: &str) -> String {
        super::assets::href(name)
    }
}

/// Percent-encodes one path segment.
pub fn path_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// An error shown as a page: its HTTP status, a title and a message (for 4xx the API's own
/// message; for 5xx a generic one, the cause being in the server log).
#[derive(Clone, Debug)]
pub struct ConsoleError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short title.
    pub title: String,
    /// What happened, for the user.
    pub message: String,
}

impl ConsoleError {
    /// An error page.
    pub fn new(status: StatusCode, title: &str, message: impl Into<String>) -> ConsoleError {
        ConsoleError {
            status,
            title: title.to_owned(),
            message: message.into(),
        }
    }

    /// 404 page.
    pub fn not_found(message: impl Into<String>) -> ConsoleError {
        ConsoleError::new(StatusCode::NOT_FOUND, "Not found", message)
    }

    /// 500 page; the cause goes to the log only.
    pub fn internal(cause: &dyn std::fmt::Display) -> ConsoleError {
        let e = HttpError::internal(cause);
        ConsoleError::from(e)
    }
}

impl From<HttpError> for ConsoleError {
    fn from(e: HttpError) -> Self {
        let status = StatusCode::from_u16(e.0.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let title = match e.0.code {
            ErrorCode::NotFound | ErrorCode::NoSuchPath => "Not found",
            ErrorCode::StatusConflict => "Not possible now",
            ErrorCode::Internal => "Something went wrong",
            _ if status.is_client_error() => "Not accepted",
            _ => "Something went wrong",
        };
        let message = match e.0.code {
            ErrorCode::NotFound => "There is no such job or version in this project.".to_owned(),
            _ => e.0.message,
        };
        ConsoleError::new(status, title, message)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    error: &'a ConsoleError,
}

/// Renders a template with `status` (a render failure becomes a plain 500 page).
pub fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            )],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            bare(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
        }
    }
}

/// A minimal page that cannot fail to render.
fn bare(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{text}</title><h1>{text}</h1><p><a href=\"/console\">Back to the console</a></p></html>"
        ),
    )
        .into_response()
}

/// The error page in the viewer's frame.
pub fn error_page(viewer: &Viewer, e: ConsoleError) -> Response {
    let chrome = viewer.chrome(None, e.title.clone());
    viewer.finish(render(&ErrorPage { chrome, error: &e }, e.status))
}

/// The error page without a viewer (sign-in, framework rejections).
pub fn plain_error(e: ConsoleError) -> Response {
    let chrome = Chrome {
        title: e.title.clone(),
        user: None,
        projects: Vec::new(),
        current: None,
        csrf: String::new(),
        now_ms: crate::state::now_ms(),
    };
    render(&ErrorPage { chrome, error: &e }, e.status)
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        plain_error(self)
    }
}

/// Handlers' result: a response, or an error page in the viewer's frame.
pub type PageResult = Result<Response, ConsoleError>;

/// Finishes a handler: the response, or the error page in the viewer's frame.
pub fn respond(viewer: &Viewer, r: PageResult) -> Response {
    match r {
        Ok(resp) => viewer.finish(resp),
        Err(e) => error_page(viewer, e),
    }
}

/// `/console/...` paths that are no page: the 404 page.
pub async fn not_found() -> Response {
    plain_error(ConsoleError::not_found("There is no such page."))
}

/// A method a console path does not take: the 405 page.
pub async fn method_not_allowed() -> Response {
    plain_error(ConsoleError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Not allowed",
        "This page does not take that kind of request.",
    ))
}

/// A handler panicked: a 500 page (the panic is logged, never shown).
pub fn panic_page(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let what = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("panic");
    tracing::error!(panic = what, "console handler panicked");
    bare(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
}

/// Adds the security headers to every console response; pages (not assets) are never cached.
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// Decoded `application/x-www-form-urlencoded` pairs (a POST body or a query string), in
/// order, repeats kept. Invalid UTF-8 is a 400 page.
#[derive(Clone, Debug, Default)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// Parses a query string leniently (undecodable pairs are dropped).
    pub fn from_query(raw: &str) -> Form {
        Form(
            form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<S: Send + Sync> FromRequest<S> for Form {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            let status = e.status();
            plain_error(ConsoleError::new(
                status,
                "Not accepted",
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "The form is over the size limit."
                } else {
                    "The form could not be read."
                },
            ))
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            plain_error(ConsoleError::new(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                "The form must be UTF-8.",
            ))
        })?;
        crate::extract::parse_query(text)
            .map(Form)
            .map_err(|e| plain_error(e.into()))
    }
}

/// Hostile strings for the templates' escaping tests.
#[cfg(test)]
pub(crate) mod hostile {
    use super::{Chrome, ProjectChoice};

    /// A script element.
    pub const SCRIPT: &str = "<script>alert(1)</script>";
    /// An attribute break-out.
    pub const ATTR: &str = "\"><img src=x onerror=alert(2)>";
    /// A single-quoted attribute break-out.
    pub const QUOTE: &str = "' onmouseover='alert(3)";

    /// A frame whose every text is hostile.
    pub fn chrome() -> Chrome {
        Chrome {
            title: SCRIPT.into(),
            user: Some(ATTR.into()),
            projects: vec![
                ProjectChoice {
                    id: "p1".into(),
                    name: SCRIPT.into(),
                },
                ProjectChoice {
                    id: "p2".into(),
                    name: QUOTE.into(),
                },
            ],
            current: Some(ProjectChoice {
                id: "p1".into(),
                name: SCRIPT.into(),
            }),
            csrf: "t".into(),
            now_ms: 0,
        }
    }

    /// Asserts that none of the hostile strings reached the page as markup, and that each
    /// `shown` one is there as text.
    pub fn assert_inert(html: &str, shown: &[&str]) {
        for bad in [
            "<script>alert",
            "<img src=x",
            "onerror=alert(2)>",
            "' onmouseover='",
        ] {
            assert!(!html.contains(bad), "{bad:?} reached the page as markup");
        }
        for s in shown {
            let escaped = s
                .replace('&', "&#38;")
                .replace('<', "&#60;")
                .replace('>', "&#62;")
                .replace('"', "&#34;")
                .replace('\'', "&#39;");
            assert!(html.contains(&escaped), "{s:?} is shown as text");
        }
        // the only scripts are the embedded files
        assert_eq!(html.matches("<script").count(), 2);
        assert!(!html.contains(" style="));
    }
}
