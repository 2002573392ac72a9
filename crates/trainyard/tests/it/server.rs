//! A `trainyard serve` child process for tests that need the real binary (its own pid, its
//! own environment, its own mount namespace): started from any [`Command`], its stderr kept,
//! killed (SIGKILL) and reaped on drop.

#![allow(dead_code)] // helpers shared by several test modules

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The project of `--insecure-no-auth` servers.
pub const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A running server.
pub struct ServerProc {
    /// The child (`trainyard serve`, or a wrapper that `exec`s it: same pid).
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every stderr line so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `trainyard serve --insecure-no-auth --listen 127.0.0.1:<port> --data-dir <data>` arguments.
pub fn serve_args(port: u16, data: &std::path::Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--insecure-no-auth".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--data-dir".into(),
        data.to_string_lossy().into_owned(),
    ]
}

impl ServerProc {
    /// Spawns `cmd` (which must end up running `trainyard serve` on `port`) and waits, bounded,
    /// for its "listening" line.
    pub fn spawn(mut cmd: Command, port: u16) -> ServerProc {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("trainyard listening") {
                    let _ = tx.send(());
                }
                sink.lock().unwrap().push(line);
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!(
                "server did not start listening within 30 s:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        ServerProc {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The pid of the server process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether some stderr line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    /// Waits (bounded) until a stderr line contains `needle`.
    pub fn wait_logged(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.logged(needle) {
            assert!(
                Instant::now() < deadline,
                "the server did not log {needle:?} within {within:?}:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `{base}/v1/{PROJECT}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{PROJECT}{path}", self.base)
    }

    /// GET as JSON (status, body).
    pub fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = client().get(self.url(path)).send().unwrap();
        let st = r.status().as_u16();
        (st, r.json().unwrap_or(serde_json::Value::Null))
    }

    /// POST JSON (status, body).
    pub fn post(&self, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
        let r = client().post(self.url(path)).json(body).send().unwrap();
        let st = r.status().as_u16();
        (st, r.json().unwrap_or(serde_json::Value::Null))
    }

    /// Creates a job running `command` (custom command, one worker, spec 1): (job, version).
    pub fn create_command_job(&self, name: &str, command: &str) -> (i64, i64) {
        let body = serde_json::json!({"job_name": name, "config": {
            "worker_server_num": 1, "spec_id": 1, "user_command": command}});
        let (st, v) = self.post("/training-jobs", &body);
        assert_eq!(st, 200, "{v}");
        (
            v["job_id"].as_i64().unwrap(),
            v["version_id"].as_i64().unwrap(),
        )
    }

    /// The version detail.
    pub fn version(&self, job: i64, version: i64) -> serde_json::Value {
        let (st, v) = self.get(&format!("/training-jobs/{job}/versions/{version}"));
        assert_eq!(st, 200, "{v}");
        v
    }

    /// Waits (bounded) until the version's status is one of `want`; returns the detail.
    pub fn wait_status(
        &self,
        job: i64,
        version: i64,
        want: &[i64],
        within: Duration,
    ) -> serde_json::Value {
        let deadline = Instant::now() + within;
        loop {
            let v = self.version(job, version);
            if want.contains(&v["status"].as_i64().unwrap_or(-1)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "status not in {want:?} within {within:?}: {v}\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A blocking HTTP client with a 10 s timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Whether tests that need root (another mount namespace, another uid) can run here; when
/// `TRAINYARD_REQUIRE_SANDBOX=1` (CI) a missing capability fails the test instead of skipping.
pub fn root_or_skip(test: &str) -> bool {
    let root = rustix_uid() == 0;
    if !root {
        assert!(
            std::env::var("TRAINYARD_REQUIRE_SANDBOX").as_deref() != Ok("1"),
            "{test}: needs root, and TRAINYARD_REQUIRE_SANDBOX=1"
        );
        eprintln!("SKIP {test}: needs root");
    }
    root
}

fn rustix_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}
