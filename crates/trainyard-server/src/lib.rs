//! The trainyard server: the ModelArts v1 training-job REST API (`shared/spec/`) over the
//! SQLite store, the in-memory list index and the supervisor that runs versions.
//!
//! [`build`] opens the data directory and returns the application; [`serve`] runs it on a
//! listener until a shutdown future resolves. Only the binary reads signals and flags.

pub mod app;
pub mod auth;
pub mod config;
pub mod conn;
pub mod console;
pub mod datadir;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod sandbox;
pub mod service;
pub mod state;
pub mod supervisor;

use anyhow::Context;
use config::ServerConfig;
use state::AppState;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower::Layer;
use trainyard_store::Store;

/// Opens (or creates) the data directory and its store, rebuilds the list index from the
/// store, and starts the supervisor. Errors: an unusable data directory or database, an
/// invalid configuration, or a data directory already used by another running server
/// ([`datadir::DataDirLock`]: checked before anything else touches the directory).
///
/// Also makes this process non-dumpable (`PR_SET_DUMPABLE` 0), so that processes of the same
/// user (workers included) cannot read its `/proc/<pid>/environ` or memory.
pub async fn build(mut config: ServerConfig) -> anyhow::Result<AppState> {
    config.validate().map_err(anyhow::Error::msg)?;
    if let Err(e) =
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
    {
        tracing::warn!(error = %e, "cannot make the server process non-dumpable");
    }
    let lock = datadir::DataDirLock::acquire(&config.data_dir)?;
    // workers run in other directories: every path handed to them must be absolute (and
    // canonical, so that path checks compare like with like)
    config.data_dir = lock.dir().to_path_buf();
    if config.metrics != config::MetricsAccess::Off {
        metrics::install();
    }
    let db = config.db_path();
    let sqlite = config.uses_sqlite();
    if sqlite {
        datadir::precreate_db(&db)?;
    }
    let sealer = auth::load_sealer(&config)?;
    let location = config.store_location().map_err(anyhow::Error::msg)?;
    tracing::info!(store = ?location, "opening the store");
    let store = tokio::task::spawn_blocking(move || Store::open(&location))
        .await?
        .context("opening the store")?;
    if sqlite {
        datadir::secure_db_files(&db)?;
    }
    let store = Arc::new(store);
    let st = store.clone();
    let sealer =
        tokio::task::spawn_blocking(move || -> anyhow::Result<trainyard_store::auth::Sealer> {
            st.check_sealer(&sealer).map_err(|e| {
                anyhow::anyhow!(
                    "the access-key sealing key (auth_key_file) does not fit this database: {e}"
                )
            })?;
            Ok(sealer)
        })
        .await??;
    let auth = Arc::new(auth::AuthState::new(sealer, &config)?);
    let started = std::time::Instant::now();
    let st = store.clone();
    tokio::task::spawn_blocking(move || st.load_index())
        .await?
        .context("loading the list index")?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "list index rebuilt"
    );
    let workers = Arc::new(sandbox::WorkerPolicy::resolve(&config)?);
    let executor = make_executor(&config, &workers)?;
    executor
        .check_ready()
        .await
        .map_err(|e| anyhow::anyhow!("the {} executor is not usable: {e}", executor.kind()))?;
    let supervisor = Arc::new(supervisor::Supervisor::new(
        store.clone(),
        executor,
        supervisor::Settings::from_config(&config, workers.clone()),
    ));
    supervisor.start().await.context("recovering runs")?;
    Ok(AppState {
        config: Arc::new(config),
        store,
        supervisor,
        auth,
        data_lock: Arc::new(lock),
        workers,
    })
}

/// The executor chosen by `[executor] kind` (`--executor`, `TRAINYARD_EXECUTOR`).
fn make_executor(
    config: &ServerConfig,
    workers: &sandbox::WorkerPolicy,
) -> anyhow::Result<Arc<dyn trainyard_executor::Executor>> {
    match config.executor.kind {
        config::ExecutorKind::Local => Ok(Arc::new(trainyard_executor::LocalExecutor::new(
            trainyard_executor::LocalConfig {
                logs_dir: config.logs_dir(),
                failure_grace: supervisor::grace(config.stop_grace_secs),
                containment: workers.containment(),
                ..Default::default()
            },
        ))),
        config::ExecutorKind::Slurm => {
            let mut c = config.executor.slurm.clone();
            let dir = match c.shared_dir.clone() {
                Some(d) => d,
                None => {
                    // jobs write there as the worker user: never inside the (0700) data
                    // directory; the default only serves a cluster whose one node is this host
                    let d = default_slurm_dir(&config.data_dir);
                    if let Some(parent) = d.parent() {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::create_dir_all(parent).with_context(|| {
                            format!("creating the Slurm shared directory {}", d.display())
                        })?;
                        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711))
                            .with_context(|| format!("chmod {}", parent.display()))?;
                    }
                    d
                }
            };
            std::fs::create_dir_all(&dir).with_context(|| {
                format!("creating the Slurm shared directory {}", dir.display())
            })?;
            c.shared_dir = Some(
                std::path::absolute(&dir)
                    .with_context(|| format!("resolving {}", dir.display()))?,
            );
            Ok(Arc::new(trainyard_executor::SlurmExecutor::new(
                c,
                workers.containment(),
            )))
        }
    }
}

/// The Slurm executor's shared directory when `[executor.slurm] shared_dir` is not set:
/// `<temp>/trainyard-slurm-<euid>/<16 hex digits of SHA-256 of the data directory>` (outside the
/// data directory, which jobs may not enter; stable across restarts).
fn default_slurm_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    std::env::temp_dir()
        .join(format!(
            "trainyard-slurm-{}",
            rustix::process::geteuid().as_raw()
        ))
        .join(tag)
}

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests and
/// stops supervising (the workers keep running; the next start adopts them). Connections are
/// served within the configuration's limits (connection cap, header read and idle timeouts:
/// [`conn`]). With `metrics_listen`, `/metrics` is served on that
/// address instead (bound here).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let supervisor = state.supervisor.clone();
    let lock = state.data_lock.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let metrics_task = match state.config.metrics_listen {
        Some(addr) if state.config.metrics != config::MetricsAccess::Off => {
            let l = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the metrics listener {addr}"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics listening");
            let app = app::metrics_router(state.clone());
            let mut rx = stop_rx.clone();
            Some(tokio::spawn(async move {
                axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|v| *v).await;
                    })
                    .await
            }))
        }
        _ => None,
    };
    let mut limits = conn::Limits::from_config(&state.config);
    limits.max_connections = conn::fit_open_files(limits.max_connections);
    let app = axum::middleware::from_fn_with_state(state.clone(), auth::resolve_project_names)
        .layer(app::router(state));
    let app = tower::util::MapRequestLayer::new(normalize_path).layer(app);
    let served = conn::serve(listener, app, limits, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await
    .context("serving");
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    // Runs keep going without a server; the next start adopts them.
    supervisor.shutdown().await;
    lock.release();
    served
}

/// Trims one or more trailing slashes from the path (`/v1/p/training-jobs/` is
/// `/v1/p/training-jobs`), except under `/docs/`, where Swagger UI's pages need theirs.
pub fn normalize_path<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let path = req.uri().path();
    if path.len() <= 1 || !path.ends_with('/') || path.starts_with("/docs/") {
        return req;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let pq = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}
