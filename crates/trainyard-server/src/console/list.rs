//! The job list page: `GET /console/p/{project}/jobs?...`, answered by the list index through
//! `service::list_jobs_with_counts` (the API's list plus per-status counts).
//!
//! The query string uses the API's parameter names and parsers (`JobListQuery::from_pairs`,
//! so the same values are valid and the same messages explain the rest); the console's own
//! defaults, used only when a parameter is absent, are `sortBy=create_time&order=desc&per_page=50`.
//! Every link on the page (sorting, paging, filtering) carries the whole query, so any view
//! can be bookmarked and the back button works. The filter form is a plain GET form; with
//! JavaScript, htmx swaps the `#listing` region in place and pushes the URL.

use super::format::{self, status_family};
use super::page::{Chrome, ConsoleError, PageResult, path_segment, render, respond};
use super::session::Viewer;
use crate::service;
use crate::state::{AppState, now_ms};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use trainyard_api::list::{JobListQuery, MAX_PAGE, Order, SortKey};
use trainyard_api::status::ALL_STATUSES;

/// Console default sort key when the URL gives none (newest first).
pub const DEFAULT_SORT: SortKey = SortKey::CreateTime;
/// Console default rows per page when the URL gives none.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// Choices of the per-page selector.
const PER_PAGE_CHOICES: [u32; 6] = [10, 20, 50, 100, 200, 500];

/// One status of the filter, with its count.
pub struct StatusOption {
    /// Code (the checkbox value).
    pub code: u8,
    /// Short name, e.g. `RUNNING`.
    pub name: &'static str,
    /// Colour family (`format::status_family`).
    pub family: &'static str,
    /// Jobs with this status that match the search.
    pub count: u64,
    /// Selected.
    pub checked: bool,
}

/// A sortable column header.
pub struct Column {
    /// The sort key (an id for the header link, so focus stays on it after an in-place swap).
    pub key: &'static str,
    /// Header text.
    pub label: &'static str,
    /// The link that sorts by it (or reverses the order).
    pub href: String,
    /// `aria-sort`: `ascending`, `descending` or `none`.
    pub aria_sort: &'static str,
    /// Extra CSS class (hides minor columns on narrow screens).
    pub class: &'static str,
}

/// One row of the table.
pub struct RowView {
    /// Job page link.
    pub href: String,
    /// Job name.
    pub name: String,
    /// Status short name.
    pub status: &'static str,
    /// Status colour family.
    pub family: &'static str,
    /// Duration as text.
    pub duration: String,
    /// For a running version: when it started (epoch ms, at the server's clock), so the page
    /// can tick its duration.
    pub live_start: Option<i64>,
    /// Creation time, RFC 3339.
    pub created_iso: String,
    /// Creation time, UTC text.
    pub created: String,
    /// Versions.
    pub version_count: i64,
    /// Engine name (or its family code).
    pub engine: String,
    /// Description.
    pub desc: String,
}

/// A link of the pager.
pub struct PageLink {
    /// Text (a page number or `…`).
    pub label: String,
    /// Target (`None` for the gap).
    pub href: Option<String>,
    /// The page shown.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    new_href: String,
    search: String,
    statuses: Vec<StatusOption>,
    all_count: u64,
    all_href: String,
    filtered: bool,
    columns: Vec<Column>,
    rows: Vec<RowView>,
    total: u64,
    job_count_limit: u64,
    max_jobs: u64,
    quotas: u64,
    first_row: u64,
    last_row: u64,
    pages: Vec<PageLink>,
    prev: Option<String>,
    next: Option<String>,
    per_page: u32,
    per_page_choices: Vec<u32>,
    sort_by: &'static str,
    order: &'static str,
}

/// Parses the list query with the API's parser, after the console's defaults for absent
/// parameters. Errors are the API's (400 page naming the parameter).
pub fn parse_query(raw: &str) -> Result<JobListQuery, ConsoleError> {
    let pairs = super::page::Form::from_query(raw).0;
    let has = |n: &str| pairs.iter().any(|(k, _)| k == n);
    let mut all: Vec<(String, String)> = Vec::new();
    if !has("sortBy") && !has("sort_by") {
        all.push(("sortBy".into(), DEFAULT_SORT.as_str().into()));
        if !has("order") {
            all.push(("order".into(), "desc".into()));
        }
    }
    if !has("per_page") {
        all.push(("per_page".into(), DEFAULT_PER_PAGE.to_string()));
    }
    all.extend(pairs);
    JobListQuery::from_pairs(all.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| crate::error::HttpError(e).into())
}

/// The URL of the list with query `q` (every parameter written out).
pub fn href(base: &str, q: &JobListQuery) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    if !q.status.is_all() {
        for s in q.status.iter() {
            ser.append_pair("status", &s.code().to_string());
        }
    }
    if !q.search_content.is_empty() {
        ser.append_pair("search_content", &q.search_content);
    }
    ser.append_pair("sortBy", q.sort_by.as_str());
    ser.append_pair("order", q.order.as_str());
    ser.append_pair("per_page", &q.per_page.to_string());
    ser.append_pair("page", &q.page.to_string());
    if q.workspace_id.as_str() != "0" {
        ser.append_pair("workspace_id", q.workspace_id.as_str());
    }
    format!("{base}?{}", ser.finish())
}

fn column(base: &str, q: &JobListQuery, key: SortKey) -> Column {
    let (label, class) = match key {
        SortKey::JobName => ("Name", ""),
        SortKey::Status => ("Status", ""),
        SortKey::Duration => ("Duration", ""),
        SortKey::CreateTime => ("Created", "minor"),
        SortKey::VersionCount => ("Versions", "minor"),
        SortKey::EngineType => ("Engine", "minor"),
        SortKey::JobDesc => ("Description", "minor"),
    };
    let first_order = match key {
        SortKey::Duration | SortKey::CreateTime | SortKey::VersionCount => Order::Desc,
        _ => Order::Asc,
    };
    let (order, aria_sort) = if q.sort_by == key {
        match q.order {
            Order::Asc => (Order::Desc, "ascending"),
            Order::Desc => (Order::Asc, "descending"),
        }
    } else {
        (first_order, "none")
    };
    let target = JobListQuery {
        sort_by: key,
        order,
        page: 1,
        ..q.clone()
    };
    Column {
        key: key.as_str(),
        label,
        href: href(base, &target),
        aria_sort,
        class,
    }
}

/// Page numbers around `page` (1-based) among `last` pages, with gaps.
pub fn page_numbers(page: u32, last: u32) -> Vec<Option<u32>> {
    let mut out: Vec<Option<u32>> = Vec::new();
    let mut push = |p: u32| {
        if let Some(Some(prev)) = out.last()
            && p <= *prev
        {
            return;
        }
        if let Some(Some(prev)) = out.last()
            && p > *prev + 1
        {
            out.push(None);
        }
        out.push(Some(p));
    };
    push(1);
    for p in page.saturating_sub(2).max(1)..=(page + 2).min(last) {
        push(p);
    }
    if last > 1 {
        push(last);
    }
    out
}

/// The name of an engine family: a configured engine's name, `—` for none (a custom
/// command), else `type N`.
fn engine_name(s: &AppState, engine_type: i64) -> String {
    match s
        .config
        .engines
        .iter()
        .find(|e| e.engine.engine_type == engine_type)
    {
        Some(e) => e.engine.engine_name.clone(),
        None if engine_type == 0 => "—".to_owned(),
        None => format!("type {engine_type}"),
    }
}

/// `GET /console/p/{project}/jobs`: the job list (module docs).
pub async fn list_page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(p): Path<String>,
    uri: Uri,
) -> Response {
    // several servers on one database: the index first catches up with every write
    // acknowledged before this request (503 when the database does not answer)
    if let Err(e) = s.sync_index().await {
        return e.into_response();
    }
    let r = build(&s, &viewer, &p, uri.query().unwrap_or(""));
    respond(&viewer, r)
}

fn build(s: &AppState, viewer: &Viewer, p: &str, raw_query: &str) -> PageResult {
    let started = Instant::now();
    let project = viewer.project(p)?;
    let q = parse_query(raw_query)?;
    let now = now_ms();
    let (resp, counts) = service::list_jobs_with_counts(s, &project.id, &q, now);
    let queried = started.elapsed();
    let base = format!("/console/p/{}/jobs", path_segment(&project.id));

    let statuses: Vec<StatusOption> = ALL_STATUSES
        .into_iter()
        .filter(|st| {
            counts[st.code() as usize] > 0 || (!q.status.is_all() && q.status.contains(*st))
        })
        .map(|st| StatusOption {
            code: st.code(),
            name: st.short_name(),
            family: status_family(st),
            count: counts[st.code() as usize],
            checked: !q.status.is_all() && q.status.contains(st),
        })
        .collect();
    let all_q = JobListQuery {
        status: trainyard_api::list::StatusSet::all(),
        page: 1,
        ..q.clone()
    };
    let rows = resp
        .jobs
        .iter()
        .map(|j| RowView {
            href: format!("{base}/{}", j.job_id),
            name: j.job_name.clone(),
            status: j.status.short_name(),
            family: status_family(j.status),
            duration: format::duration(j.duration),
            live_start: j.status.is_live().then_some(now - j.duration),
            created_iso: format::iso(j.create_time),
            created: format::utc(j.create_time),
            version_count: j.version_count,
            engine: engine_name(s, j.engine_type),
            desc: j.job_desc.clone(),
        })
        .collect();
    let per_page = u64::from(q.per_page);
    let last = u32::try_from(
        resp.job_total_count
            .div_ceil(per_page)
            .clamp(1, u64::from(MAX_PAGE)),
    )
    .unwrap_or(MAX_PAGE);
    let at = |page: u32| href(&base, &JobListQuery { page, ..q.clone() });
    let pages = page_numbers(q.page.min(last.max(q.page)), last)
        .into_iter()
        .map(|n| match n {
            Some(n) => PageLink {
                label: n.to_string(),
                href: Some(at(n)),
                current: n == q.page,
            },
            None => PageLink {
                label: "…".into(),
                href: None,
                current: false,
            },
        })
        .collect();
    let mut per_page_choices = PER_PAGE_CHOICES.to_vec();
    if !per_page_choices.contains(&q.per_page) {
        per_page_choices.push(q.per_page);
        per_page_choices.sort_unstable();
    }
    let first_row = if resp.jobs.is_empty() {
        0
    } else {
        q.offset() + 1
    };
    let page = ListPage {
        chrome: viewer.chrome(Some(&project), "Jobs"),
        new_href: format!("{base}/new"),
        search: q.search_content.clone(),
        all_count: counts.iter().sum(),
        all_href: href(&base, &all_q),
        filtered: !q.status.is_all(),
        statuses,
        columns: [
            SortKey::JobName,
            SortKey::Status,
            SortKey::Duration,
            SortKey::CreateTime,
            SortKey::VersionCount,
            SortKey::EngineType,
            SortKey::JobDesc,
        ]
        .into_iter()
        .map(|k| column(&base, &q, k))
        .collect(),
        rows,
        total: resp.job_total_count,
        job_count_limit: resp.job_count_limit,
        max_jobs: s.config.max_jobs,
        quotas: resp.quotas,
        first_row,
        last_row: q.offset() + resp.jobs.len() as u64,
        prev: (q.page > 1).then(|| at(q.page - 1)),
        next: (q.page < last).then(|| at(q.page + 1)),
        pages,
        per_page: q.per_page,
        per_page_choices,
        sort_by: q.sort_by.as_str(),
        order: q.order.as_str(),
        base,
    };
    let mut out = render(&page, StatusCode::OK);
    let total = started.elapsed();
    let timing = format!(
        "index;dur={:.3}, render;dur={:.3}, total;dur={:.3}",
        queried.as_secs_f64() * 1000.0,
        (total - queried).as_secs_f64() * 1000.0,
        total.as_secs_f64() * 1000.0
    );
    if let Ok(v) = HeaderValue::from_str(&timing) {
        out.headers_mut().insert("server-timing", v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_defaults_only_when_absent() {
        let q = parse_query("").unwrap();
        assert_eq!(
            (q.sort_by, q.order, q.per_page, q.page),
            (SortKey::CreateTime, Order::Desc, 50, 1)
        );
        let q = parse_query("sort_by=duration").unwrap();
        assert_eq!((q.sort_by, q.order), (SortKey::Duration, Order::Asc));
        let q = parse_query(
            "sortBy=job_name&order=desc&per_page=10&page=3&status=8&status=11&search_content=a%20b",
        )
        .unwrap();
        assert_eq!(
            (
                q.sort_by,
                q.order,
                q.per_page,
                q.page,
                q.search_content.as_str()
            ),
            (SortKey::JobName, Order::Desc, 10, 3, "a b")
        );
        assert_eq!(q.status.len(), 2);
        // the API's messages
        let e = parse_query("per_page=5000").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("per_page"), "{}", e.message);
        let e = parse_query("sortBy=nope").unwrap_err();
        assert!(e.message.contains("sortBy"), "{}", e.message);
    }

    #[test]
    fn links_round_trip_the_whole_query() {
        let q = parse_query("status=8&status=12&search_content=r%C3%A9sum%C3%A9+x%26y&sortBy=duration&order=asc&per_page=20&page=4").unwrap();
        let h = href("/console/p/p1/jobs", &q);
        let (_, qs) = h.split_once('?').unwrap();
        assert_eq!(parse_query(qs).unwrap(), q);
        assert!(h.contains("status=8&status=12"));
        assert!(h.contains("search_content=r%C3%A9sum%C3%A9+x%26y"));
    }

    #[test]
    fn columns_toggle_and_mark_the_sort() {
        let q = parse_query("sortBy=duration&order=desc").unwrap();
        let c = column("/b", &q, SortKey::Duration);
        assert_eq!(c.aria_sort, "descending");
        assert!(c.href.contains("sortBy=duration&order=asc"));
        let c = column("/b", &q, SortKey::JobName);
        assert_eq!(c.aria_sort, "none");
        assert!(c.href.contains("sortBy=job_name&order=asc"));
        assert!(c.href.contains("page=1"));
    }

    #[test]
    fn hostile_names_descriptions_and_searches_are_text() {
        use super::super::page::hostile::{self, ATTR, QUOTE, SCRIPT};
        let q = parse_query(&format!(
            "search_content={}",
            form_urlencoded::byte_serialize(ATTR.as_bytes()).collect::<String>()
        ))
        .unwrap();
        let base = "/console/p/p1/jobs".to_owned();
        let page = ListPage {
            chrome: hostile::chrome(),
            new_href: format!("{base}/new"),
            search: q.search_content.clone(),
            statuses: Vec::new(),
            all_count: 1,
            all_href: href(&base, &q),
            filtered: false,
            columns: SortKey::ALL
                .into_iter()
                .map(|k| column(&base, &q, k))
                .collect(),
            rows: vec![RowView {
                href: format!("{base}/1"),
                name: SCRIPT.into(),
                status: "RUNNING",
                family: "run",
                duration: "1s".into(),
                live_start: Some(5),
                created_iso: format::iso(0),
                created: format::utc(0),
                version_count: 1,
                engine: QUOTE.into(),
                desc: ATTR.into(),
            }],
            total: 1,
            job_count_limit: 1,
            max_jobs: 2,
            quotas: 3,
            first_row: 1,
            last_row: 1,
            pages: Vec::new(),
            prev: None,
            next: None,
            per_page: 50,
            per_page_choices: vec![50],
            sort_by: "job_name",
            order: "asc",
            base,
        };
        let html = page.render().unwrap();
        hostile::assert_inert(&html, &[SCRIPT, ATTR, QUOTE]);
        // the search is in the links URL-encoded, and in the box as text
        assert!(html.contains("search_content=%22%3E%3Cimg+src%3Dx+onerror%3Dalert%282%29%3E"));
        assert!(html.contains(r#"value="&#34;&#62;&#60;img src=x onerror=alert(2)&#62;""#));
    }

    #[test]
    fn pager_windows() {
        let show = |p, l| {
            page_numbers(p, l)
                .into_iter()
                .map(|x| x.map_or("…".to_owned(), |n: u32| n.to_string()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(show(1, 1), "1");
        assert_eq!(show(1, 3), "1 2 3");
        assert_eq!(show(1, 100), "1 2 3 … 100");
        assert_eq!(show(50, 100), "1 … 48 49 50 51 52 … 100");
        assert_eq!(show(100, 100), "1 … 98 99 100");
        assert_eq!(show(4, 100), "1 2 3 4 5 6 … 100");
    }
}
