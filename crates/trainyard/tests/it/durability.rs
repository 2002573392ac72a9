//! Durability: every job a server acknowledged survives a SIGKILL of the server (the store
//! commits with WAL + synchronous=FULL before answering).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A `trainyard serve` child process, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(data_dir: &std::path::Path) -> Server {
    start_with(data_dir, &[])
}

/// Starts `trainyard serve --insecure-no-auth` on a free port with extra flags, waiting
/// (bounded) for its "listening" log line.
fn start_with(data_dir: &std::path::Path, extra: &[&str]) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args([
            "serve",
            "--insecure-no-auth",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("trainyard listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("server did not start listening within 30 s");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn sigkill_loses_no_acknowledged_job() {
    let dir = tempfile::tempdir().unwrap();
    let n = 60;
    let acked: Vec<i64> = {
        let server = start(dir.path());
        let c = client();
        let mut acked = Vec::new();
        for i in 0..n {
            let body = serde_json::json!({"job_name": format!("durable-{i:03}"), "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "exit 0"}});
            let r = c
                .post(format!("{}/v1/{PROJECT}/training-jobs", server.base))
                .json(&body)
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: serde_json::Value = r.json().unwrap();
            acked.push(v["job_id"].as_i64().unwrap());
        }
        // and a batch through the import
        let rows: String = (0..40)
            .map(|i| {
                format!(
                    "{{\"job_name\":\"imported-{i:03}\",\"status\":10,\"create_time\":{}}}\n",
                    1_700_000_000_000i64 + i
                )
            })
            .collect();
        let r = c
            .post(format!(
                "{}/trainyard/v1/{PROJECT}/job-history",
                server.base
            ))
            .body(rows)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: serde_json::Value = r.json().unwrap();
        acked.extend(v["first_job_id"].as_i64().unwrap()..=v["last_job_id"].as_i64().unwrap());
        // SIGKILL right after the last acknowledgement (Child::kill sends SIGKILL)
        drop(server);
        acked
    };
    let started = Instant::now();
    let server = start(dir.path());
    let c = client();
    let r: serde_json::Value = c
        .get(format!(
            "{}/v1/{PROJECT}/training-jobs?per_page=1000&sortBy=create_time",
            server.base
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut listed: Vec<i64> = r["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect();
    listed.sort_unstable();
    let mut want = acked.clone();
    want.sort_unstable();
    assert_eq!(r["job_total_count"].as_u64(), Some(want.len() as u64));
    assert_eq!(
        listed, want,
        "every acknowledged job is listed after the restart"
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

fn version_status(c: &reqwest::blocking::Client, base: &str, job: i64, version: i64) -> i64 {
    let v: serde_json::Value = c
        .get(format!(
            "{base}/v1/{PROJECT}/training-jobs/{job}/versions/{version}"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["status"].as_i64().unwrap()
}

/// runtime.md "Restarts and crashes" (issue 3): a server killed with SIGKILL while 3 versions
/// run and 2 wait ends, after a restart, with every version COMPLETED, each run exactly once.
#[test]
fn sigkill_with_3_running_and_2_waiting_recovers_each_version_once() {
    let dir = tempfile::tempdir().unwrap();
    // where the runs leave their marks: writable by the workers' user, and shared with every
    // worker by a test policy ([sandbox] read_write)
    let marks = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(marks.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let policy = dir.path().join("test.toml");
    std::fs::write(
        &policy,
        format!("[sandbox]\nread_write = [{:?}]\n", marks.path()),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let marker = marks.path().join("runs.txt");
    let data = dir.path().join("data");
    let c = client();
    let server = start_with(&data, &["--quotas", "3", "--config", policy]);
    // each run appends its version id once, then sleeps 4 s
    let cmd = format!(
        "echo $TRAINYARD_VERSION_ID >> '{}'; sleep 4; exit 0",
        marker.display()
    );
    let mut made = Vec::new();
    for i in 0..5 {
        let body = serde_json::json!({"job_name": format!("crash-{i}"), "config": {"worker_server_num": 1, "spec_id": 1, "user_command": cmd}});
        let v: serde_json::Value = c
            .post(format!("{}/v1/{PROJECT}/training-jobs", server.base))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        made.push((
            v["job_id"].as_i64().unwrap(),
            v["version_id"].as_i64().unwrap(),
        ));
    }
    // wait (bounded) until 3 run and 2 wait
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st: Vec<i64> = made
            .iter()
            .map(|(j, v)| version_status(&c, &server.base, *j, *v))
            .collect();
        if st.iter().filter(|s| **s == 8).count() == 3
            && st.iter().filter(|s| **s == 7).count() == 2
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "expected 3 RUNNING and 2 WAITING, got {st:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server); // SIGKILL
    let server = start_with(&data, &["--quotas", "3", "--config", policy]);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let st: Vec<i64> = made
            .iter()
            .map(|(j, v)| version_status(&c, &server.base, *j, *v))
            .collect();
        if st.iter().all(|s| *s == 10) {
            break;
        }
        assert!(
            st.iter().all(|s| [7, 8, 10].contains(s)),
            "unexpected status after the restart: {st:?}"
        );
        assert!(
            Instant::now() < deadline,
            "versions did not all complete after the restart: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&marker).unwrap();
    let mut runs: Vec<i64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    runs.sort_unstable();
    let mut want: Vec<i64> = made.iter().map(|(_, v)| *v).collect();
    want.sort_unstable();
    assert_eq!(
        runs, want,
        "each version ran exactly once (none duplicated, none lost)"
    );
}

/// Issue 9 §3 / issue 12 §5: a second `trainyard serve` on the same data directory is refused
/// at start with a clear message, and never touches the first server's runs (no adoption, no
/// orphan kill, no LOST): the running version goes on and completes on the first server.
#[test]
fn second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let c = client();
    let first = start(&data);
    let body = serde_json::json!({"job_name": "live", "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "sleep 3; exit 0"}});
    let v: serde_json::Value = c
        .post(format!("{}/v1/{PROJECT}/training-jobs", first.base))
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let (job, version) = (
        v["job_id"].as_i64().unwrap(),
        v["version_id"].as_i64().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while version_status(&c, &first.base, job, version) != 8 {
        assert!(Instant::now() < deadline, "the version did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = free_port();
    let mut second = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["serve", "--insecure-no-auth", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = second.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            panic!("the second server did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut second.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "the second server must fail: {err}");
    assert!(
        err.contains("already using the data directory"),
        "clear message: {err}"
    );
    assert!(
        err.contains(&format!("pid {}", first.child.id())),
        "names the server holding it: {err}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the second server never listened"
    );
    // the first server's run was left alone: still running, then completes
    assert_eq!(version_status(&c, &first.base, job, version), 8);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = version_status(&c, &first.base, job, version);
        if st == 10 {
            break;
        }
        assert_eq!(st, 8, "the live run was disturbed");
        assert!(Instant::now() < deadline, "the version did not complete");
        std::thread::sleep(Duration::from_millis(100));
    }
    // once the first server is gone, the directory can be used again
    drop(first);
    let again = start(&data);
    assert_eq!(version_status(&c, &again.base, job, version), 10);
    // issue 9 §1: the data directory is 0700 and the database files 0600, owned by the server
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    let mode = |p: &std::path::Path| {
        let m = std::fs::metadata(p).unwrap();
        assert_eq!(m.uid(), me, "{} owned by the server's user", p.display());
        m.mode() & 0o777
    };
    assert_eq!(mode(&data), 0o700);
    for f in [
        "trainyard.db",
        "trainyard.db-wal",
        "trainyard.db-shm",
        "auth.key",
    ] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
}
