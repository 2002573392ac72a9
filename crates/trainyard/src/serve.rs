//! `trainyard serve`: configuration layering, logging, signals.

use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use trainyard_server::config::{MetricsAccess, ServerConfig};

/// Flags of `trainyard serve`. Each overrides the TOML file and `TRAINYARD_*` variables.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:8080; env TRAINYARD_LISTEN].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Data directory for the SQLite store, logs and credentials [default: ./trainyard-data; env TRAINYARD_DATA_DIR].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The database instead of the data directory's SQLite file: a postgres:// URL, shared by
    /// every replica [env TRAINYARD_DATABASE; TOML `database`]. The data directory still holds
    /// this replica's logs and lock.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Jobs a project may hold, all workspaces [default: 10000; env TRAINYARD_MAX_JOBS].
    #[arg(long, value_name = "N")]
    max_jobs: Option<u64>,
    /// Versions of a project that may run at once [default: 4; env TRAINYARD_QUOTAS].
    #[arg(long, value_name = "N")]
    quotas: Option<u64>,
    /// Versions that may run at once on this machine [default: 4 per CPU; env TRAINYARD_MAX_RUNNING].
    #[arg(long, value_name = "N")]
    max_running: Option<u64>,
    /// Seconds between SIGTERM and SIGKILL when a version is stopped [default: 10].
    #[arg(long, value_name = "SECS")]
    stop_grace_secs: Option<f64>,
    /// Which executor runs the versions: local processes or a Slurm cluster
    /// [default: local; env TRAINYARD_EXECUTOR; TOML `[executor] kind`].
    #[arg(long, value_name = "KIND")]
    executor: Option<trainyard_server::config::ExecutorKind>,
    /// One more directory under which job paths (app_url, data_url, train_url, log_url) may lie;
    /// repeat for several [added to TOML `[sandbox] allowed_roots`, default /tmp, /var/tmp and
    /// the working directory; env TRAINYARD_ALLOWED_ROOTS, colon-separated].
    #[arg(long = "allowed-root", value_name = "DIR")]
    allowed_roots: Vec<PathBuf>,
    /// The user workers run as when the server runs as root: a name or uid [default: nobody;
    /// env TRAINYARD_WORKER_USER; TOML `[sandbox] user`].
    #[arg(long, value_name = "USER")]
    worker_user: Option<String>,
    /// Accept requests without credentials (tests only; refused with a non-loopback --listen).
    #[arg(long)]
    insecure_no_auth: bool,
    /// On an empty store, create the default account (project default, user admin, one access key) even on a non-loopback --listen [env TRAINYARD_CREATE_DEFAULT_ACCOUNT].
    #[arg(long)]
    create_default_account: bool,
    /// Connections served at once; more are answered 429 and closed [default: 1024; env TRAINYARD_MAX_CONNECTIONS].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Milliseconds to send a complete request head, from its first byte [default: 10000; env TRAINYARD_HEADER_READ_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    header_read_timeout_ms: Option<u64>,
    /// Milliseconds a connection without a request in flight may stay silent [default: 60000; env TRAINYARD_IDLE_TIMEOUT_MS].
    #[arg(long, value_name = "MS")]
    idle_timeout_ms: Option<u64>,
    /// Who may read GET /metrics: public, loopback or off [default: public; env TRAINYARD_METRICS].
    #[arg(long, value_name = "WHO", value_parser = ["public", "loopback", "off"])]
    metrics: Option<String>,
    /// Serve /metrics on this address instead of the main listener [env TRAINYARD_METRICS_LISTEN].
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<SocketAddr>,
    /// Bytes of request bodies held server-wide before their signature is verified [default: 75497472 (72 MiB); env TRAINYARD_UNVERIFIED_BODY_BYTES].
    #[arg(long, value_name = "BYTES")]
    unverified_body_bytes: Option<usize>,
    /// Password checks (argon2) run at once, on low-priority threads [default: half the CPUs; env TRAINYARD_PASSWORD_CHECK_THREADS].
    #[arg(long, value_name = "N")]
    password_check_threads: Option<usize>,
    /// Token requests that may wait for a password check; more get 429 [default: 64; env TRAINYARD_PASSWORD_CHECK_QUEUE].
    #[arg(long, value_name = "N")]
    password_check_queue: Option<usize>,
    /// TOML configuration file [default: <data-dir>/trainyard.toml if present].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log format on stderr: text (colours only on a terminal) or json (one object per line,
    /// with the request span's fields, e.g. request_id) [filter: env TRAINYARD_LOG].
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

fn init_logging(format: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAINYARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    // colours only for a person at a terminal (NO_COLOR, https://no-color.org, turns them off)
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        builder.init();
    }
}

fn load_config(args: &ServeArgs) -> anyhow::Result<ServerConfig> {
    let file = args.config.clone().or_else(|| {
        let dir = args
            .data_dir
            .clone()
            .or_else(|| std::env::var_os("TRAINYARD_DATA_DIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("trainyard-data"));
        let f = dir.join("trainyard.toml");
        f.exists().then_some(f)
    });
    let mut c = ServerConfig::load(file.as_deref()).context("reading the configuration")?;
    if let Some(v) = args.listen {
        c.listen = v;
    }
    if let Some(v) = &args.data_dir {
        c.data_dir = v.clone();
    }
    if let Some(v) = &args.database {
        c.database = Some(trainyard_server::config::DatabaseUrl(v.clone()));
    }
    if let Some(v) = args.max_jobs {
        c.max_jobs = v;
    }
    if let Some(v) = args.quotas {
        c.quotas = v;
    }
    if let Some(v) = args.max_running {
        c.max_running = v;
    }
    if let Some(v) = args.stop_grace_secs {
        c.stop_grace_secs = v;
    }
    if let Some(v) = std::env::var_os("TRAINYARD_ALLOWED_ROOTS") {
        c.sandbox
            .allowed_roots
            .extend(std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()));
    }
    c.sandbox
        .allowed_roots
        .extend(args.allowed_roots.iter().cloned());
    if let Some(v) = std::env::var("TRAINYARD_WORKER_USER")
        .ok()
        .filter(|v| !v.is_empty())
    {
        c.sandbox.user = v;
    }
    if let Some(v) = &args.worker_user {
        c.sandbox.user = v.clone();
    }
    if let Some(v) = args.executor {
        c.executor.kind = v;
    }
    if args.insecure_no_auth {
        c.insecure_no_auth = true;
    }
    if args.create_default_account {
        c.create_default_account = true;
    }
    if let Some(v) = args.max_connections {
        c.max_connections = v;
    }
    if let Some(v) = args.header_read_timeout_ms {
        c.header_read_timeout_ms = v;
    }
    if let Some(v) = args.idle_timeout_ms {
        c.idle_timeout_ms = v;
    }
    if let Some(v) = args.metrics.as_deref().and_then(MetricsAccess::parse) {
        c.metrics = v;
    }
    if let Some(v) = args.metrics_listen {
        c.metrics_listen = Some(v);
    }
    if let Some(v) = args.unverified_body_bytes {
        c.unverified_body_bytes = v;
    }
    if let Some(v) = args.password_check_threads {
        c.password_check_threads = v;
    }
    if let Some(v) = args.password_check_queue {
        c.password_check_queue = v;
    }
    c.validate().map_err(anyhow::Error::msg)?;
    Ok(c)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; draining requests");
}

/// On a store without users: on a loopback address (or with `--create-default-account`),
/// creates the local default account (project `default`, user `admin`, one access key) and says
/// on stderr where its credentials were written; on any other address, creates nothing and
/// says how to create the first account.
async fn local_default(
    state: &trainyard_server::state::AppState,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    use trainyard_server::auth::{AccountSetup, DEFAULT_PROJECT, prepare_accounts};
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => {
            SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
        _ => addr,
    };
    let endpoint = format!("http://{host}");
    match prepare_accounts(state, addr, &endpoint)
        .await
        .context("creating the local default account")?
    {
        AccountSetup::Existing => {}
        AccountSetup::Created(d) => eprintln!(
            "trainyard: no users yet, so created project {} (id {}), user {} and access key {}.\n\
             trainyard: the secret key and password are in {} (mode 0600; the SDK reads it).",
            DEFAULT_PROJECT,
            d.project_id,
            d.username,
            d.access_key,
            d.credentials_file.display()
        ),
        AccountSetup::NeedsAdmin => {
            let dir = state.config.data_dir.display();
            tracing::warn!(%addr, "no users and a non-loopback address: no default account was created; every request is 401 until an administrator creates one");
            eprintln!(
                "trainyard: no users yet, and {addr} is not a loopback address, so no default account was created\n\
                 trainyard: (its generated secret would guard a server others can reach). Every request is 401 until\n\
                 trainyard: you create the first account (this works while the server runs):\n\
                 trainyard:   trainyard projects add NAME --data-dir {dir}\n\
                 trainyard:   trainyard users add USER --projects NAME --data-dir {dir}\n\
                 trainyard:   trainyard keys create --user USER --data-dir {dir}\n\
                 trainyard: or restart with --create-default-account to create project default and user admin\n\
                 trainyard: (secrets in {dir}/credentials.json, mode 0600)."
            );
        }
    }
    Ok(())
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(&args.log_format);
    let config = load_config(&args)?;
    let listen = config.listen;
    let state = trainyard_server::build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    if !state.config.insecure_no_auth {
        local_default(&state, addr).await?;
    }
    tracing::info!(%addr, data_dir = %state.config.data_dir.display(), insecure_no_auth = state.config.insecure_no_auth, "trainyard listening");
    eprintln!("trainyard: web console at http://{addr}/console");
    trainyard_server::serve(listener, state, shutdown_signal()).await
}
