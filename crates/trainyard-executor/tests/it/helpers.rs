//! Shared helpers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use trainyard_executor::{
    Containment, LocalConfig, LocalExecutor, Resources, RunCommand, RunSpec, WorkerIdentity,
};

/// Upper bound for any single wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// The identity test workers run as: `nobody` (65534) when the tests run as root (workers are
/// never root), else the test's own user.
pub fn test_identity() -> Option<WorkerIdentity> {
    rustix::process::geteuid()
        .is_root()
        .then(|| WorkerIdentity::new(65534, 65534).expect("nobody"))
}

/// A temporary app directory (the workers' working directory, readable and, by the tests'
/// policy, writable by them: the scripts leave marker files there), a log directory that is the
/// "server's" (0700, not granted to workers) and a run-directory parent.
pub struct App {
    pub dir: tempfile::TempDir,
    server: tempfile::TempDir,
    runs: tempfile::TempDir,
    shared: tempfile::TempDir,
}

impl App {
    pub fn new() -> App {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        if let Some(id) = test_identity() {
            std::os::unix::fs::chown(dir.path(), Some(id.uid), Some(id.gid)).expect("chown");
        }
        let shared = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        App {
            dir,
            server: tempfile::tempdir().expect("tempdir"),
            runs: tempfile::tempdir().expect("tempdir"),
            shared,
        }
    }

    /// A directory for the Slurm executor's job files (0755, outside the app directory: no
    /// version path may overlap it).
    #[allow(dead_code)]
    pub fn shared(&self) -> &Path {
        self.shared.path()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The "server's" directory (not granted to workers).
    pub fn server_dir(&self) -> &Path {
        self.server.path()
    }

    /// The log directory of the test specs (in the "server's" directory).
    pub fn logs(&self) -> PathBuf {
        self.server.path().join("logs")
    }

    /// An executor with a short failure grace whose workers may also write the app directory.
    pub fn executor(&self) -> LocalExecutor {
        self.executor_in(&self.server.path().join("logs-root"))
    }

    /// [`App::executor`] with `logs_dir` as its logs root.
    pub fn executor_in(&self, logs_dir: &Path) -> LocalExecutor {
        LocalExecutor::new(LocalConfig {
            logs_dir: logs_dir.to_path_buf(),
            failure_grace: Duration::from_millis(500),
            containment: Containment {
                shared_read_write: vec![self.path().to_path_buf()],
                protected: vec![self.server.path().to_path_buf()],
                // one run-directory parent per logs root, as the server has per data directory
                runs_dir: Some(
                    self.runs
                        .path()
                        .join(logs_dir.to_string_lossy().replace('/', "_")),
                ),
                ..Containment::default()
            },
            ..LocalConfig::default()
        })
    }

    /// A spec running `cmd` through `sh -c` in this directory.
    pub fn shell(&self, version_id: i64, workers: u32, cmd: &str) -> RunSpec {
        self.spec(version_id, workers, RunCommand::Shell(cmd.to_owned()))
    }

    pub fn spec(&self, version_id: i64, workers: u32, command: RunCommand) -> RunSpec {
        RunSpec {
            job_id: 1,
            version_id,
            workers,
            command,
            working_dir: self.path().to_path_buf(),
            app_url: Some(self.path().to_path_buf()),
            boot_file: None,
            env: vec![],
            data_url: None,
            train_url: None,
            log_dir: self.logs(),
            resources: Resources::default(),
            identity: test_identity(),
            allowed_roots: vec![self.path().to_path_buf()],
        }
    }

    /// Waits until `name` in the app dir exists with a complete last line; returns its text.
    pub async fn wait_file(&self, name: &str) -> String {
        let path = self.path().join(name);
        let start = tokio::time::Instant::now();
        loop {
            if let Ok(s) = std::fs::read_to_string(&path)
                && s.ends_with('\n')
            {
                return s;
            }
            assert!(start.elapsed() < LIMIT, "{} did not appear", path.display());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads a pid written by a worker script.
    pub async fn wait_pid(&self, name: &str) -> i32 {
        self.wait_file(name).await.trim().parse().expect("pid")
    }
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next().map(str::to_owned));
            !matches!(state.as_deref(), Some("Z") | Some("X") | None)
        }
        Err(_) => false,
    }
}

/// Waits (bounded) until `pid` is gone; true if it went.
pub async fn gone_within(pid: i32, limit: Duration) -> bool {
    let start = tokio::time::Instant::now();
    while alive(pid) {
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Awaits `fut` for at most [`LIMIT`].
pub async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut).await.expect("timed out")
}
