//! Helpers of the tests that run real `trainyard serve` processes on a real PostgreSQL
//! (issue 12): a fresh database per test on the cluster at `TRAINYARD_TEST_PG_URL`, servers
//! started with `--database`, stopped (SIGKILL) on drop. Without that variable the tests say
//! so and pass, unless `TRAINYARD_REQUIRE_PG=1` (CI), where a missing database fails them.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The cluster's admin URL, or `None` when PostgreSQL tests are not asked for.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var("TRAINYARD_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("TRAINYARD_REQUIRE_PG").as_deref() != Ok("1"),
                "TRAINYARD_REQUIRE_PG=1 but TRAINYARD_TEST_PG_URL is not set"
            );
            eprintln!("{test}: PostgreSQL not available (TRAINYARD_TEST_PG_URL), not run");
            None
        }
    }
}

/// A fresh database of the cluster, dropped (with `FORCE`) when this is dropped.
pub struct Database {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
    /// The sealing key file every server of this database uses (`TRAINYARD_AUTH_KEY_FILE`;
    /// the first server started creates it).
    pub key_file: std::path::PathBuf,
    _key_dir: tempfile::TempDir,
}

impl Database {
    /// Creates a fresh, empty database.
    pub fn create(admin: &str) -> Database {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "ty_bin_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (admin, String::new()),
        };
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        let key_dir = tempfile::tempdir().unwrap();
        Database {
            admin: admin.to_owned(),
            url: format!("{prefix}/{name}{query}"),
            name,
            key_file: key_dir.path().join("auth.key"),
            _key_dir: key_dir,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// A `trainyard serve` child process, killed (SIGKILL) on drop.
pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub listen: String,
}

impl Server {
    /// SIGKILL, and wait for the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `trainyard serve --insecure-no-auth --database URL` with its own data directory and
/// extra flags, waiting (bounded) for its "listening" log line.
pub fn serve(db: &Database, data_dir: &Path, extra: &[&str]) -> Server {
    let url = &db.url;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["serve", "--insecure-no-auth", "--listen", &listen])
        .args(["--database", url])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .env("TRAINYARD_LOG", "info")
        .env("TRAINYARD_AUTH_KEY_FILE", &db.key_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&mut child);
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        listen,
    }
}

/// A blocking HTTP client with a generous timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Starts `trainyard serve --insecure-no-auth` on a SQLite data directory (the default store).
pub fn serve_sqlite(data_dir: &Path) -> Server {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["serve", "--insecure-no-auth", "--listen", &listen])
        .arg("--data-dir")
        .arg(data_dir)
        .env("TRAINYARD_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&mut child);
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        listen,
    }
}

/// Waits (bounded) for a server's "listening" log line; panics with its log otherwise.
fn wait_listening(child: &mut Child) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("trainyard listening") {
                let _ = tx.send(());
            }
            l.lock().unwrap().push(line);
        }
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        panic!(
            "server did not start listening within 60 s:\n{}",
            log.lock().unwrap().join("\n")
        );
    }
}
