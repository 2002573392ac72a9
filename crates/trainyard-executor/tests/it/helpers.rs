//! Shared helpers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use trainyard_executor::{LocalConfig, LocalExecutor, Resources, RunCommand, RunSpec};

/// Upper bound for any single wait in these tests.
pub const LIMIT: Duration = Duration::from_secs(10);

/// An executor with a short failure grace.
pub fn executor() -> LocalExecutor {
    LocalExecutor::new(LocalConfig {
        failure_grace: Duration::from_millis(500),
        ..LocalConfig::default()
    })
}

/// A temporary app directory with `logs/` as log dir.
pub struct App {
    pub dir: tempfile::TempDir,
}

impl App {
    pub fn new() -> App {
        App {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
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
