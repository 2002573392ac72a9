//! Prometheus metrics through the `metrics` facade (`metrics-exporter-prometheus` renders them).
//!
//! Anywhere in the server, emit with the macros and a name from this module, no plumbing:
//!
//! ```ignore
//! metrics::counter!(trainyard_server::metrics::IMPORT_RECORDS).increment(n);
//! ```
//!
//! The recorder is process-global and installed once ([`install`]); while none is installed
//! (metrics `off`) the macros cost a branch. What is exported (`GET /metrics`, see README
//! "Operations"):
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `trainyard_http_requests_total` | counter | `method`, `route`, `status` | requests answered; `route` is the route template (`/v1/{project_id}/training-jobs`), `unmatched` for 404s of unknown paths |
//! | `trainyard_http_request_duration_seconds` | histogram | `method`, `route`, `status` | time to the response head |
//! | `trainyard_auth_failures_total` | counter | `kind` | refused credentials: `no_credentials`, `token_expired`, `token_invalid`, `signature`, `forbidden`, `login` |
//! | `trainyard_import_records_total` | counter | | history records imported |
//! | `trainyard_executor_poll_duration_seconds` | histogram | `executor` | one scheduler pass: read the queue, submit what has a slot |
//! | `trainyard_list_index_jobs` | gauge | | jobs in the list index |
//! | `trainyard_jobs` | gauge | `status` | jobs by the status of their latest version (what the list shows) |
//! | `trainyard_versions` | gauge | `status` | every version (all jobs, all projects, not only the latest) by status: one aggregate store query per scrape |
//! | `trainyard_versions_queued` | gauge | `status` | versions waiting for a slot (1/2/4/7): the queue depth |
//! | `trainyard_versions_running` | gauge | `project` | versions holding a slot, per project |
//! | `process_*` | | | CPU seconds, resident memory, open fds, threads, start time (`metrics-process`) |
//!
//! Gauges are computed when `/metrics` is scraped, from the index, the supervisor and (for
//! `trainyard_versions`) the store, on the blocking pool ([`render_blocking`]).

use crate::state::AppState;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;

/// Counter: requests answered, by `method`, `route` (template) and `status`.
pub const HTTP_REQUESTS: &str = "trainyard_http_requests_total";
/// Histogram (seconds): time to the response head, by `method`, `route` and `status`.
pub const HTTP_DURATION: &str = "trainyard_http_request_duration_seconds";
/// Counter: refused credentials, by `kind`.
pub const AUTH_FAILURES: &str = "trainyard_auth_failures_total";
/// Counter: refusals that went through the tarpit (`crate::auth::tarpit`), label `outcome`:
/// `held` (held before the answer) or `full` (answered at once: `tarpit_max_held` reached).
pub const TARPIT: &str = "trainyard_auth_tarpit_total";
/// Counter: history records imported.
pub const IMPORT_RECORDS: &str = "trainyard_import_records_total";
/// Histogram (seconds): one scheduler pass over the queue (submits included), by `executor`.
pub const EXECUTOR_POLL: &str = "trainyard_executor_poll_duration_seconds";
/// Gauge: jobs in the list index.
pub const LIST_INDEX_JOBS: &str = "trainyard_list_index_jobs";
/// Gauge: jobs by their latest version's `status` name.
pub const JOBS_BY_STATUS: &str = "trainyard_jobs";
/// Gauge: every version by its `status` name (not only the latest of each job).
pub const VERSIONS_BY_STATUS: &str = "trainyard_versions";
/// Gauge: versions waiting for a slot, by `status` name.
pub const VERSIONS_QUEUED: &str = "trainyard_versions_queued";
/// Gauge: versions holding a slot, by `project`.
pub const VERSIONS_RUNNING: &str = "trainyard_versions_running";

/// Histogram buckets (seconds) of request and poll durations: 0.5 ms … 30 s.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();
/// Projects given a `trainyard_versions_running` value at the last scrape (to zero them).
static RUNNING_PROJECTS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Installs the process-global Prometheus recorder (once; later calls return the same handle).
/// `None` when another global recorder was installed first (then nothing is exported).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match built {
                Ok(h) => {
                    describe();
                    spawn_upkeep(h.clone());
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Name of the thread that runs the exporter's upkeep.
const UPKEEP_THREAD: &str = "metrics-upkeep";

/// Runs the exporter's upkeep every [`UPKEEP_EVERY`] for the life of the process. The recorder
/// keeps every histogram observation (a request's latency) in a lock-free list until upkeep
/// folds the list into the buckets; `install_recorder` starts no upkeep of its own (the
/// exporter's docs leave it to the caller), so without this the list of a server nobody
/// scrapes grows by 8 bytes per request, without bound, and the next scrape folds all of it.
fn spawn_upkeep(handle: PrometheusHandle) {
    let started = std::thread::Builder::new()
        .name(UPKEEP_THREAD.into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(e) = started {
        tracing::warn!(error = %e, "metrics upkeep thread not started; histograms are folded at scrapes only");
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "time from the request to the response head"
    );
    describe_counter!(
        AUTH_FAILURES,
        "requests refused for their credentials, by kind"
    );
    describe_counter!(
        TARPIT,
        "throttled or busy refusals held before their 429 (held) or answered at once because the tarpit was full (full)"
    );
    describe_counter!(IMPORT_RECORDS, "history records imported");
    describe_histogram!(
        EXECUTOR_POLL,
        Unit::Seconds,
        "one scheduler pass: read the queue and submit what has a slot"
    );
    describe_gauge!(LIST_INDEX_JOBS, "jobs in the list index");
    describe_gauge!(JOBS_BY_STATUS, "jobs by the status of their latest version");
    describe_gauge!(
        VERSIONS_BY_STATUS,
        "versions of every job by status (not only the latest version)"
    );
    describe_gauge!(VERSIONS_QUEUED, "versions waiting for a slot, by status");
    describe_gauge!(VERSIONS_RUNNING, "versions holding a slot, by project");
    let collector = PROCESS.get_or_init(metrics_process::Collector::default);
    collector.describe();
}

/// Layer: counts every request and times it to the response head, labelled with the route
/// template ([`MatchedPath`]), the method and the status. Add it as a router layer so routing
/// has happened (the template is known).
///
/// A plain Tower layer rather than `axum::middleware::from_fn`: no boxed future and no clone of
/// the inner service per request; and each thread keeps its own map of the registered handles,
/// so a request takes no lock and touches no shared cache line but the counter and histogram
/// themselves (see `bench/metrics.sh` for what it costs).
#[derive(Clone, Copy, Debug, Default)]
pub struct TrackLayer;

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track { inner }
    }
}

/// The service of [`TrackLayer`].
#[derive(Clone, Debug)]
pub struct Track<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let start = Instant::now();
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        TrackFuture {
            inner: self.inner.call(req),
            start,
            method,
            route,
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Track`]: records the request when the response head is ready.
    pub struct TrackFuture<F> {
        #[pin]
        inner: F,
        start: Instant,
        method: &'static str,
        route: Option<MatchedPath>,
    }
}

impl<F, E> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = std::task::ready!(this.inner.poll(cx));
        if let Ok(resp) = &res {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            record(
                route,
                this.method,
                resp.status().as_u16(),
                this.start.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(res)
    }
}

/// Counts one request and records its latency (seconds). The handles of a (route, method,
/// status) are registered once per thread and then reused: no label allocation, no registry
/// lookup, no lock.
fn record(route: &str, method: &'static str, status: u16, seconds: f64) {
    REQUEST_HANDLES.with_borrow_mut(|by_route| {
        if let Some((counter, histogram)) =
            by_route.get(route).and_then(|m| m.get(&(method, status)))
        {
            counter.increment(1);
            histogram.record(seconds);
            return;
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let counter = metrics::counter!(HTTP_REQUESTS, &labels);
        let histogram = metrics::histogram!(HTTP_DURATION, &labels);
        counter.increment(1);
        histogram.record(seconds);
        by_route
            .entry(route.to_owned())
            .or_default()
            .insert((method, status), (counter, histogram));
    });
}

/// Per route template, per (method, status): the request counter and latency histogram.
type RequestHandles =
    HashMap<String, HashMap<(&'static str, u16), (metrics::Counter, metrics::Histogram)>>;

thread_local! {
    /// This thread's registered request handles (the registry hands every thread the same
    /// underlying counter and histogram for the same labels).
    static REQUEST_HANDLES: RefCell<RequestHandles> = RefCell::new(HashMap::new());
}

fn method_label(m: &axum::http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        // bounded cardinality: any other method is one label value
        _ => "other",
    }
}

/// Counts one refused credential of `kind` (see [`AUTH_FAILURES`]).
pub fn auth_failure(kind: &'static str) {
    metrics::counter!(AUTH_FAILURES, "kind" => kind).increment(1);
}

/// Counts one refusal through the tarpit, `outcome` `held` or `full` (see [`TARPIT`]).
pub fn tarpit(outcome: &'static str) {
    metrics::counter!(TARPIT, "outcome" => outcome).increment(1);
}

/// Counts a refused request under its [`AUTH_FAILURES`] kind, if `code` is an authentication
/// or authorisation failure (other codes are not counted).
pub fn auth_failure_code(code: trainyard_api::ErrorCode) {
    use trainyard_api::ErrorCode as C;
    let kind = match code {
        C::NoCredentials => "no_credentials",
        C::TokenExpired => "token_expired",
        C::TokenInvalid => "token_invalid",
        C::SignatureInvalid => "signature",
        C::ProjectForbidden => "forbidden",
        C::IamAuthFailed => "login",
        _ => return,
    };
    auth_failure(kind);
}

/// Sets the gauges computed at scrape time from the index and the supervisor.
fn update_gauges(s: &AppState) {
    let (total, by_status) = {
        let ix = s.store.index().read();
        (ix.len(), ix.status_counts())
    };
    metrics::gauge!(LIST_INDEX_JOBS).set(total as f64);
    for st in trainyard_api::status::ALL_STATUSES {
        metrics::gauge!(JOBS_BY_STATUS, "status" => st.name())
            .set(by_status[usize::from(st.code())] as f64);
    }
    match s.store.version_status_counts() {
        Ok(counts) => {
            for st in trainyard_api::status::ALL_STATUSES {
                let n = counts.iter().find(|(c, _)| *c == st).map_or(0, |(_, n)| *n);
                metrics::gauge!(VERSIONS_BY_STATUS, "status" => st.name()).set(n as f64);
            }
        }
        // the scrape still answers; the gauge keeps its last values
        Err(e) => tracing::warn!(error = %e, "versions by status: the store did not answer"),
    }
    let sched = s.supervisor.stats();
    for st in crate::supervisor::QUEUED_STATUSES {
        let n = sched
            .queued
            .iter()
            .find(|(q, _)| *q == st)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(VERSIONS_QUEUED, "status" => st.name()).set(n as f64);
    }
    let mut seen = RUNNING_PROJECTS.lock();
    let now: BTreeSet<String> = sched.running.iter().map(|(p, _)| p.clone()).collect();
    for gone in seen.difference(&now) {
        metrics::gauge!(VERSIONS_RUNNING, "project" => gone.clone()).set(0.0);
    }
    for (p, n) in sched.running {
        metrics::gauge!(VERSIONS_RUNNING, "project" => p).set(n as f64);
    }
    *seen = now;
}

/// [`render`] on the blocking pool (the scrape makes one store query): what the `/metrics`
/// handlers answer.
pub async fn render_blocking(s: AppState) -> Response {
    match tokio::task::spawn_blocking(move || render(&s)).await {
        Ok(resp) => resp,
        Err(e) => crate::error::HttpError::internal(&e).into_response(),
    }
}

/// The Prometheus text format (0.0.4) of every metric; 500 when no recorder could be installed.
pub fn render(s: &AppState) -> Response {
    let Some(handle) = HANDLE.get().and_then(Option::as_ref) else {
        return crate::error::HttpError::internal(&"the metrics recorder is not installed")
            .into_response();
    };
    update_gauges(s);
    if let Some(c) = PROCESS.get() {
        c.collect();
    }
    handle.run_upkeep();
    let mut resp = (StatusCode::OK, handle.render()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names of this process's threads.
    fn thread_names() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
            .map(|s| s.trim_end().to_owned())
            .collect()
    }

    /// Regression: histogram samples were folded into buckets only when `/metrics` was scraped.
    #[test]
    fn install_starts_the_upkeep() {
        assert!(install().is_some());
        assert!(
            install().is_some(),
            "a second install returns the same handle"
        );
        // a new thread names itself once it runs (until then it has its parent's name)
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut names = thread_names();
        while !names.iter().any(|n| n == UPKEEP_THREAD) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
            names = thread_names();
        }
        assert_eq!(
            names.iter().filter(|n| *n == UPKEEP_THREAD).count(),
            1,
            "{names:?}"
        );
    }

    /// The value of the sample `name{labels}` in a Prometheus text rendering.
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let prefix = format!("{name}{{{labels}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Requests answered on several threads add up in one counter and one histogram per route
    /// template, method and status (each thread keeps its own handles to the same series).
    #[test]
    fn requests_are_counted_by_route_and_status_across_threads() {
        use axum::routing::get;
        use tower::ServiceExt;
        let handle = install().unwrap();
        let app = axum::Router::new()
            .route(
                "/track-test/{id}",
                get(
                    |axum::extract::Path(id): axum::extract::Path<u32>| async move {
                        if id % 4 == 0 {
                            StatusCode::NOT_FOUND
                        } else {
                            StatusCode::OK
                        }
                    },
                ),
            )
            .layer(TrackLayer);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for id in 0..200u32 {
                let app = app.clone();
                tasks.push(tokio::spawn(async move {
                    let req = Request::get(format!("/track-test/{id}"))
                        .body(axum::body::Body::empty())
                        .unwrap();
                    app.oneshot(req).await.unwrap().status()
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        });
        let text = handle.render();
        let labels = |status: &str| {
            format!("method=\"GET\",route=\"/track-test/{{id}}\",status=\"{status}\"")
        };
        // ids 0..200: 50 multiples of 4 (404), 150 others (200)
        assert_eq!(
            sample(&text, HTTP_REQUESTS, &labels("200")),
            Some(150.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, HTTP_REQUESTS, &labels("404")),
            Some(50.0),
            "{text}"
        );
        let count = format!("{HTTP_DURATION}_count");
        assert_eq!(sample(&text, &count, &labels("200")), Some(150.0), "{text}");
        assert_eq!(sample(&text, &count, &labels("404")), Some(50.0), "{text}");
    }
}
