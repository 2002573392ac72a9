//! Server configuration, layered: built-in defaults → TOML file → `TRAINYARD_*` environment
//! variables → command-line flags (applied by the binary).

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use trainyard_api::jobs::{Engine, Spec};

/// An engine as configured: the wire fields plus the command that starts a boot file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Wire fields (`/job/ai-engines`).
    #[serde(flatten)]
    pub engine: Engine,
    /// Command prefix, split on whitespace, e.g. `python3 -u` (`runtime.md` "Engines").
    pub command: String,
}

/// Which executor runs the versions (`runtime.md`): `[executor] kind` in the TOML file,
/// `TRAINYARD_EXECUTOR`, or `--executor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutorKind {
    /// Processes on the server's machine (the default).
    #[default]
    Local,
    /// Jobs on a Slurm cluster (`docs/executors.md`).
    Slurm,
}

impl std::str::FromStr for ExecutorKind {
    type Err = String;

    fn from_str(s: &str) -> Result<ExecutorKind, String> {
        match s {
            "local" => Ok(ExecutorKind::Local),
            "slurm" => Ok(ExecutorKind::Slurm),
            other => Err(format!(
                "unknown executor {other:?}: expected \"local\" or \"slurm\""
            )),
        }
    }
}

/// Who may read `GET /metrics` (README "Operations").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsAccess {
    /// Anyone who reaches the listener, without credentials (like `/healthz`).
    #[default]
    Public,
    /// Only clients connecting from a loopback address (127.0.0.0/8, ::1); others get 403.
    Loopback,
    /// No metrics: no recorder, no request counting, `/metrics` is 404.
    Off,
}

impl MetricsAccess {
    /// Parses `public`, `loopback` or `off`.
    pub fn parse(s: &str) -> Option<MetricsAccess> {
        match s {
            "public" => Some(MetricsAccess::Public),
            "loopback" => Some(MetricsAccess::Loopback),
            "off" => Some(MetricsAccess::Off),
            _ => None,
        }
    }
}

/// The `[executor]` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecutorConfig {
    /// `local` (default) or `slurm`.
    pub kind: ExecutorKind,
    /// `[executor.slurm]`: partition, account, QOS, extra sbatch arguments, shared directory,
    /// poll interval, commands (`docs/executors.md`); used when `kind = "slurm"`.
    pub slurm: trainyard_executor::SlurmConfig,
}

/// A database URL; its password never shows in `Debug` (logs, error messages).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&trainyard_store::redact_url(&self.0))
    }
}

/// The server's configuration (`trainyard serve`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Data directory: SQLite file, logs, credentials (default `./trainyard-data`).
    pub data_dir: PathBuf,
    /// The database, when not the data directory's SQLite file: a `postgres://` URL (several
    /// servers may share it; `database` in TOML, `TRAINYARD_DATABASE`, `--database`).
    pub database: Option<DatabaseUrl>,
    /// Jobs a project may hold, all workspaces (default 10000): `job_count_limit`.
    pub max_jobs: u64,
    /// Versions of a project that may run at once (default 4): `quotas`.
    pub quotas: u64,
    /// Versions that may run at once on this machine, all projects (default: CPU count × 4).
    pub max_running: u64,
    /// Seconds between SIGTERM and SIGKILL on stop (default 10).
    pub stop_grace_secs: f64,
    /// Accept requests without credentials (tests only; refused on a non-loopback address).
    pub insecure_no_auth: bool,
    /// Largest JSON body in bytes (default 1 MiB); larger bodies get 413.
    pub max_body_bytes: usize,
    /// Token lifetime in seconds (default 24 h).
    pub token_ttl_secs: u64,
    /// On an empty store, create the local default account even when `listen` is not a
    /// loopback address (default false: on a non-loopback address an administrator creates the
    /// first account with `trainyard projects|users|keys`).
    pub create_default_account: bool,
    /// Connections served at once (default 1024). Above, a new connection gets one 429
    /// `ModelArts.2799` answer and is closed.
    pub max_connections: usize,
    /// Milliseconds a client has to send a complete request head, from its first byte
    /// (default 10 000); then the connection is closed.
    pub header_read_timeout_ms: u64,
    /// Milliseconds a connection with no request in flight may stay silent (default 60 000);
    /// then it is closed.
    pub idle_timeout_ms: u64,
    /// Who may read `GET /metrics` (default `public`).
    pub metrics: MetricsAccess,
    /// Serve `/metrics` on this address instead of the main listener (default: none).
    pub metrics_listen: Option<SocketAddr>,
    /// The file with the key that seals access-key secrets (64 hex digits, created with a
    /// random key when missing) [default: `<data_dir>/auth.key`]. Servers sharing one database
    /// must use the same key.
    pub auth_key_file: Option<PathBuf>,
    /// Bytes of request bodies that may be held, server-wide, before their AK/SK signature is
    /// verified (default 72 MiB: one history import of 64 MiB and some JSON bodies).
    pub unverified_body_bytes: usize,
    /// Milliseconds a signed request waits for room in `unverified_body_bytes` before it is
    /// answered 429 `ModelArts.2799` (default 10 000).
    pub unverified_body_wait_ms: u64,
    /// Milliseconds allowed to receive a body that is not yet authenticated (a signed
    /// request's body, a token request's body) (default 60 000); then 400 and the body is
    /// dropped.
    pub body_read_timeout_ms: u64,
    /// Password checks (argon2) that may run at once (default: half the CPUs, at least 1);
    /// they run on their own low-priority threads.
    pub password_check_threads: usize,
    /// Token requests that may wait for a password check (default 64); beyond, 429
    /// `ModelArts.2799` at once.
    pub password_check_queue: usize,
    /// Nice value (0-19) of the password-check threads (default 10: the API's requests take
    /// the CPU first; 0: password checks compete equally).
    pub password_check_nice: i32,
    /// Longest hold, ms, of a request that is refused 429 because its client is throttled or
    /// the password checks are full (default 1000; 0: answer at once): the tarpit
    /// (`crate::auth::tarpit`, `docs/security.md`).
    pub tarpit_max_hold_ms: u64,
    /// Requests held at once by the tarpit (default 512); beyond, the 429 is answered at once.
    pub tarpit_max_held: usize,
    /// Resource specs (`/job/resource-specs`).
    pub specs: Vec<Spec>,
    /// Engines (`/job/ai-engines`).
    pub engines: Vec<EngineConfig>,
    /// The executor (`[executor]`).
    pub executor: ExecutorConfig,
    /// Worker containment (`[sandbox]`: allowed roots, worker identity, Landlock, memory
    /// limits, environment allow-list; `docs/security.md`).
    #[serde(default)]
    pub sandbox: crate::sandbox::SandboxConfig,
}

fn engine(id: i64, ty: i64, name: &str, version: &str, command: &str) -> EngineConfig {
    EngineConfig {
        engine: Engine {
            engine_id: id,
            engine_type: ty,
            engine_name: name.into(),
            engine_version: version.into(),
        },
        command: command.into(),
    }
}

fn spec(id: i64, code: &str, core: &str, cpu: &str, max_num: i64) -> Spec {
    Spec {
        spec_id: id,
        spec_code: code.into(),
        core: core.into(),
        cpu: cpu.into(),
        gpu_num: 0,
        gpu_type: String::new(),
        max_num,
        no_resource: false,
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("trainyard-data"),
            database: None,
            max_jobs: 10_000,
            quotas: 4,
            max_running: cpus * 4,
            stop_grace_secs: 10.0,
            insecure_no_auth: false,
            max_body_bytes: 1024 * 1024,
            token_ttl_secs: 24 * 3600,
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            metrics: MetricsAccess::Public,
            metrics_listen: None,
            auth_key_file: None,
            create_default_account: false,
            unverified_body_bytes: 72 * 1024 * 1024,
            unverified_body_wait_ms: 10_000,
            body_read_timeout_ms: 60_000,
            password_check_threads: (cpus / 2).max(1) as usize,
            password_check_queue: 64,
            password_check_nice: 10,
            tarpit_max_hold_ms: crate::auth::tarpit::DEFAULT_MAX_HOLD_MS,
            tarpit_max_held: crate::auth::tarpit::DEFAULT_MAX_HELD,
            specs: vec![
                spec(1, "local.cpu.1u", "1", "2", 4),
                spec(2, "local.cpu.2u", "2", "4", 2),
                spec(3, "local.cpu.4u", "4", "8", 1),
            ],
            engines: vec![
                engine(1, 13, "Python", "python3", "python3 -u"),
                engine(2, 14, "Bash", "bash", "bash"),
                engine(3, 10, "PyTorch", "python3", "python3 -u"),
                engine(4, 6, "Scikit_Learn", "python3", "python3 -u"),
            ],
            executor: ExecutorConfig::default(),
            sandbox: crate::sandbox::SandboxConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Loads defaults, then `file` (if given and present), then `TRAINYARD_*` variables
    /// (`TRAINYARD_LISTEN`, `TRAINYARD_DATA_DIR`, `TRAINYARD_MAX_JOBS`, ...,
    /// `TRAINYARD_EXECUTOR` for `[executor] kind`).
    pub fn load(file: Option<&Path>) -> Result<ServerConfig, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(ServerConfig::default()));
        if let Some(f) = file {
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Env::prefixed("TRAINYARD_").only(&[
            "listen",
            "data_dir",
            "database",
            "max_jobs",
            "quotas",
            "max_running",
            "stop_grace_secs",
            "insecure_no_auth",
            "max_body_bytes",
            "token_ttl_secs",
            "max_connections",
            "header_read_timeout_ms",
            "idle_timeout_ms",
            "metrics",
            "metrics_listen",
            "auth_key_file",
            "create_default_account",
            "unverified_body_bytes",
            "unverified_body_wait_ms",
            "body_read_timeout_ms",
            "password_check_threads",
            "password_check_queue",
            "password_check_nice",
            "tarpit_max_hold_ms",
            "tarpit_max_held",
        ]));
        fig = fig.merge(
            Env::prefixed("TRAINYARD_")
                .only(&["executor"])
                .map(|_| "executor.kind".into()),
        );
        fig.extract().map_err(Box::new)
    }

    /// Checks the combination: `insecure_no_auth` only on loopback; ids unique; limits sane.
    pub fn validate(&self) -> Result<(), String> {
        self.store_location()?;
        if self.insecure_no_auth && !self.listen.ip().is_loopback() {
            return Err(format!(
                "--insecure-no-auth is refused with a non-loopback listen address ({}): bind 127.0.0.1",
                self.listen
            ));
        }
        let mut ids: Vec<i64> = self.specs.iter().map(|s| s.spec_id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.specs.len() || self.specs.is_empty() {
            return Err("specs must be non-empty with unique spec_id".into());
        }
        let mut ids: Vec<i64> = self.engines.iter().map(|e| e.engine.engine_id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.engines.len() || self.engines.is_empty() {
            return Err("engines must be non-empty with unique engine_id".into());
        }
        if self.max_running == 0 || self.quotas == 0 {
            return Err("quotas and max_running must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        for (name, v) in [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("idle_timeout_ms", self.idle_timeout_ms),
            ("unverified_body_wait_ms", self.unverified_body_wait_ms),
            ("body_read_timeout_ms", self.body_read_timeout_ms),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.unverified_body_bytes < self.max_body_bytes
            || u32::try_from(self.unverified_body_bytes).is_err()
        {
            return Err(format!(
                "unverified_body_bytes must be at least max_body_bytes ({}) and below 4 GiB, got {}",
                self.max_body_bytes, self.unverified_body_bytes
            ));
        }
        if !(1..=256).contains(&self.password_check_threads) {
            return Err("password_check_threads must be 1-256".into());
        }
        if !(0..=19).contains(&self.password_check_nice) {
            return Err("password_check_nice must be 0-19".into());
        }
        if self.tarpit_max_hold_ms > 60_000 {
            return Err(format!(
                "tarpit_max_hold_ms must be at most 60000, got {}",
                self.tarpit_max_hold_ms
            ));
        }
        Ok(())
    }

    /// The SQLite file.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("trainyard.db")
    }

    /// Where the store lives: `database` when set, else the SQLite file of the data
    /// directory. Errors: a `database` URL that is not `postgres://` (see [`Self::validate`]).
    pub fn store_location(&self) -> Result<trainyard_store::Location, String> {
        trainyard_store::Location::choose(
            self.database.as_ref().map(|d| d.0.as_str()),
            &self.data_dir,
        )
    }

    /// True when the store is the data directory's SQLite file.
    pub fn uses_sqlite(&self) -> bool {
        matches!(
            self.store_location(),
            Ok(trainyard_store::Location::Sqlite(_))
        )
    }

    /// The sealing key file: `auth_key_file`, else `<data_dir>/auth.key`.
    pub fn auth_key_path(&self) -> PathBuf {
        self.auth_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::auth::KEY_FILE))
    }

    /// Where version logs live.
    pub fn logs_dir(&self) -> PathBuf {
        self.data_dir.join("logs")
    }

    /// The engine with this id.
    pub fn engine(&self, id: i64) -> Option<&EngineConfig> {
        self.engines.iter().find(|e| e.engine.engine_id == id)
    }

    /// The spec with this id.
    pub fn spec(&self, id: i64) -> Option<&Spec> {
        self.specs.iter().find(|s| s.spec_id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_kind_from_toml_defaults_to_local() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("trainyard.toml");
        std::fs::write(&f, "quotas = 3\n").unwrap();
        let c = ServerConfig::load(Some(&f)).unwrap();
        assert_eq!(c.executor.kind, ExecutorKind::Local);
        std::fs::write(&f, "[executor]\nkind = \"slurm\"\n").unwrap();
        let c = ServerConfig::load(Some(&f)).unwrap();
        assert_eq!(c.executor.kind, ExecutorKind::Slurm);
        std::fs::write(&f, "[executor]\nkind = \"kubernetes\"\n").unwrap();
        let e = ServerConfig::load(Some(&f)).unwrap_err().to_string();
        assert!(e.contains("kubernetes"), "{e}");
    }

    #[test]
    fn executor_kind_parses_flag_values() {
        assert_eq!("local".parse::<ExecutorKind>(), Ok(ExecutorKind::Local));
        assert_eq!("slurm".parse::<ExecutorKind>(), Ok(ExecutorKind::Slurm));
        let e = "Slurm".parse::<ExecutorKind>().unwrap_err();
        assert!(e.contains("\"local\" or \"slurm\""), "{e}");
    }
}
