//! Operations endpoints, without authentication: `GET /healthz` (the process answers),
//! `GET /readyz` (store, index and executor usable) and `GET /metrics` (Prometheus).
//!
//! Both probes are cheap: `/healthz` touches nothing; `/readyz` runs one indexed read on the
//! store's reader connection (bounded by [`READY_TIMEOUT`]) and the executor's `check`.

use crate::config::MetricsAccess;
use crate::openapi::TAG_OPS;
use crate::state::AppState;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;
use trainyard_api::{ApiError, ErrorCode};
use utoipa::ToSchema;

/// Longest a readiness check waits for the store or the executor.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Answer of `/healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Answer of `/readyz`: `ready` (200) or `not ready` (503) with the first failing check.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: String,
    /// Why not ready (the first failing check), absent when ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `store`, `index`, `executor`: `ok`, `ok (detail)` or the failure.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// `GET /healthz`: 200 while the process serves requests. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = TAG_OPS, security(()),
    responses((status = 200, description = "the process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// `GET /readyz`: 200 when the store answers a read, the list index is built and the executor
/// is reachable; 503 with the reason otherwise.
#[utoipa::path(get, path = "/readyz", tag = TAG_OPS, security(()),
    responses(
        (status = 200, description = "ready to serve", body = Readiness),
        (status = 503, description = "not ready; `reason` says which check failed", body = Readiness),
    ))]
pub async fn readyz(State(s): State<AppState>) -> Response {
    let mut checks = std::collections::BTreeMap::new();
    let mut reason: Option<String> = None;
    let mut fail =
        |name: &str, why: String, checks: &mut std::collections::BTreeMap<String, String>| {
            if reason.is_none() {
                reason = Some(format!("{name}: {why}"));
            }
            checks.insert(name.to_owned(), why);
        };
    let store = s.store.clone();
    let read = tokio::time::timeout(
        READY_TIMEOUT,
        tokio::task::spawn_blocking(move || store.project_job_count("")),
    )
    .await;
    match read {
        Ok(Ok(Ok(_))) => {
            checks.insert("store".into(), "ok".into());
        }
        Ok(Ok(Err(e))) => {
            let cause = std::error::Error::source(&e).map_or(String::new(), |c| format!(": {c}"));
            fail("store", format!("read failed: {e}{cause}"), &mut checks);
        }
        Ok(Err(e)) => fail("store", format!("read failed: {e}"), &mut checks),
        Err(_) => fail(
            "store",
            format!("no answer within {} s", READY_TIMEOUT.as_secs()),
            &mut checks,
        ),
    }
    // The index is built before the server listens (`crate::build`); report its size.
    let jobs = s.store.index().read().len();
    checks.insert("index".into(), format!("ok ({jobs} jobs)"));
    match tokio::time::timeout(READY_TIMEOUT, s.supervisor.check_executor()).await {
        Ok((kind, Ok(()))) => {
            checks.insert("executor".into(), format!("ok ({kind})"));
        }
        Ok((kind, Err(e))) => fail("executor", format!("{kind}: {e}"), &mut checks),
        Err(_) => fail(
            "executor",
            format!("no answer within {} s", READY_TIMEOUT.as_secs()),
            &mut checks,
        ),
    }
    let ready = reason.is_none();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "not ready" }.into(),
        reason,
        checks,
    };
    (code, Json(body)).into_response()
}

/// `GET /metrics`: Prometheus text format. With `metrics = "loopback"`, clients from other
/// addresses get 403.
#[utoipa::path(get, path = "/metrics", tag = TAG_OPS, security(()),
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain"),
        (status = 403, description = "metrics are restricted to loopback clients", body = trainyard_api::ErrorBody),
        (status = 404, description = "metrics are off, or served on another listener", body = trainyard_api::ErrorBody),
    ))]
pub async fn metrics(State(s): State<AppState>, req: Request<axum::body::Body>) -> Response {
    if s.config.metrics == MetricsAccess::Off {
        return crate::error::error_response(&ApiError::new(
            ErrorCode::NoSuchPath,
            "metrics are off (metrics = \"off\")",
        ));
    }
    if let Some(addr) = s.config.metrics_listen {
        return crate::error::error_response(&ApiError::new(
            ErrorCode::NoSuchPath,
            format!("metrics are served on {addr} (metrics_listen)"),
        ));
    }
    if s.config.metrics == MetricsAccess::Loopback {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if !peer.is_some_and(|ip| ip.is_loopback()) {
            return crate::error::error_response(&ApiError::new(
                ErrorCode::ProjectForbidden,
                "metrics are restricted to loopback clients (metrics = \"loopback\")",
            ));
        }
    }
    crate::metrics::render_blocking(s).await
}
