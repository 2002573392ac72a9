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
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(data_dir: &std::path::Path) -> Server {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["serve", "--insecure-no-auth", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wait for the "listening" log line (bounded)
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("trainyard listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30)).expect("server did not start listening within 30 s");
    Server { child, base: format!("http://127.0.0.1:{port}") }
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
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
            let r = c.post(format!("{}/v1/{PROJECT}/training-jobs", server.base)).json(&body).send().unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let v: serde_json::Value = r.json().unwrap();
            acked.push(v["job_id"].as_i64().unwrap());
        }
        // and a batch through the import
        let rows: String = (0..40).map(|i| format!("{{\"job_name\":\"imported-{i:03}\",\"status\":10,\"create_time\":{}}}\n", 1_700_000_000_000i64 + i)).collect();
        let r = c.post(format!("{}/trainyard/v1/{PROJECT}/job-history", server.base)).body(rows).send().unwrap();
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
        .get(format!("{}/v1/{PROJECT}/training-jobs?per_page=1000&sortBy=create_time", server.base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let mut listed: Vec<i64> = r["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_i64().unwrap()).collect();
    listed.sort_unstable();
    let mut want = acked.clone();
    want.sort_unstable();
    assert_eq!(r["job_total_count"].as_u64(), Some(want.len() as u64));
    assert_eq!(listed, want, "every acknowledged job is listed after the restart");
    assert!(started.elapsed() < Duration::from_secs(60));
}
