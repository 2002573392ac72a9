//! Issue 9 §2 through the real binary: floods by unauthenticated clients do not grow the
//! server's memory. Measured robustly on the server process itself: its peak RSS (`VmHWM`,
//! reset through `/proc/<pid>/clear_refs` before each attack) against its RSS just before, with
//! generous margins (before the fix, these attacks took gigabytes). Timing is not asserted
//! here; `trainyard bench abuse` measures it.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    creds: serde_json::Value,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn cred(&self, k: &str) -> String {
        self.creds[k].as_str().unwrap().to_owned()
    }

    /// `VmRSS` and `VmHWM` of the server, KiB.
    fn memory_kib(&self) -> (u64, u64) {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let get = |k: &str| -> u64 {
            s.lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap()
        };
        (get("VmRSS:"), get("VmHWM:"))
    }

    /// Resets the peak to the current RSS; returns the current RSS, KiB.
    fn reset_peak(&self) -> u64 {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").unwrap();
        let (rss, hwm) = self.memory_kib();
        assert!(
            hwm <= rss + 1024,
            "clear_refs reset the peak ({hwm} vs {rss})"
        );
        rss
    }
}

/// `trainyard serve` with authentication on 127.0.0.1 (the default account is created).
fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.path())
        // At most 8 logins wait for the one password thread (the rest are 429, held a second), at
        // normal priority: the tests share the machine with compilers.
        .args([
            "--password-check-threads",
            "1",
            "--password-check-queue",
            "8",
        ])
        .env("TRAINYARD_PASSWORD_CHECK_NICE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("trainyard listening")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the server listens within 60 s");
    let creds =
        serde_json::from_slice(&std::fs::read(dir.path().join("credentials.json")).unwrap())
            .unwrap();
    Server {
        child,
        addr,
        _dir: dir,
        creds,
    }
}

fn login_body(user: &str, password: &str, project_id: &str) -> String {
    serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": user}}}},
        "scope": {"project": {"id": project_id}}}})
    .to_string()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A signed job-history post of `len` bytes (signed over an empty body: wrong for this one).
fn signed_head(s: &Server, sk: &str, date_ms: i64, len: usize) -> String {
    let path = format!("/trainyard/v1/{}/job-history", s.cred("project_id"));
    let host = s.addr.to_string();
    let headers = [
        ("Host", host.as_str()),
        ("Content-Type", "application/x-ndjson"),
    ];
    let signer = trainyard_sign::Signer::new(s.cred("access_key"), sk.as_bytes().to_vec());
    let signed = signer.sign(
        "POST",
        &path,
        "",
        &headers,
        b"",
        &trainyard_sign::sdk_date(date_ms),
    );
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {len}\r\nConnection: close\r\n"
    );
    for (k, v) in signed {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Sends a head and a body from `from` while reading the answer; returns the status line's
/// code, or "closed" when the server closed without one.
async fn raw_post(from: Ipv4Addr, addr: SocketAddr, head: String, body: Arc<Vec<u8>>) -> String {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(IpAddr::V4(from), 0)).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        String::from_utf8_lossy(&buf)
            .split_whitespace()
            .nth(1)
            .unwrap_or("closed")
            .to_owned()
    });
    if wr.write_all(head.as_bytes()).await.is_ok() {
        for piece in body.chunks(256 * 1024) {
            if wr.write_all(piece).await.is_err() {
                break;
            }
        }
    }
    tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("an answer within 120 s")
        .unwrap()
}

const MIB: u64 = 1024;

#[test]
fn floods_keep_the_server_memory_bounded() {
    let s = start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let base = format!("http://{}", s.addr);
        let pid = s.cred("project_id");
        // Normal use first: one login (a password check) and a list.
        let client = reqwest::Client::new();
        let r = client
            .post(format!("{base}/v3/auth/tokens"))
            .header("content-type", "application/json")
            .body(login_body("admin", &s.cred("password"), &pid))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);

        let t = std::time::Instant::now();
        // 1. 128 wrong logins at once, from 128 addresses, for 128 user names.
        let before = s.reset_peak();
        let mut tasks = Vec::new();
        for i in 0..128u32 {
            let url = format!("{base}/v3/auth/tokens");
            let body = login_body(&format!("flood-{i}"), "wrong password", &pid);
            tasks.push(tokio::spawn(async move {
                let c = reqwest::Client::builder()
                    .local_address(IpAddr::V4(Ipv4Addr::new(127, 2, 0, 1 + i as u8)))
                    .build()
                    .unwrap();
                let r = c
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                r.status().as_u16()
            }));
        }
        for t in tasks {
            let status = t.await.unwrap();
            assert!(matches!(status, 401 | 429), "login flood answered {status}");
        }
        let (_, peak) = s.memory_kib();
        let grown = peak.saturating_sub(before);
        assert!(
            grown < 150 * MIB,
            "a login flood raised the server's peak RSS by {} MiB",
            grown / MIB
        );

        eprintln!("login flood: {:?}, +{} KiB", t.elapsed(), grown);
        let t = std::time::Instant::now();
        // 2. 16 concurrent 60 MiB posts with a known AK, a valid date and a wrong secret: the
        // bodies must be read to check the signature, within the budget (72 MiB).
        let body = Arc::new(vec![b' '; 60 << 20]);
        let wrong = format!("{}x", s.cred("secret_key"));
        let before = s.reset_peak();
        let mut tasks = Vec::new();
        // (From 16 addresses, so that no address reaches its failure throttle: every body is
        // really read.)
        for i in 0..16 {
            let head = signed_head(&s, &wrong, now_ms(), body.len());
            let from = Ipv4Addr::new(127, 3, 0, 1 + i);
            tasks.push(tokio::spawn(raw_post(from, s.addr, head, body.clone())));
        }
        let mut answers = std::collections::BTreeMap::<String, usize>::new();
        for t in tasks {
            *answers.entry(t.await.unwrap()).or_default() += 1;
        }
        assert!(
            answers.keys().all(|k| k == "401" || k == "429") && answers.contains_key("401"),
            "unauthenticated posts answered {answers:?}"
        );
        let (_, peak) = s.memory_kib();
        let grown = peak.saturating_sub(before);
        assert!(
            grown < 150 * MIB,
            "unauthenticated posts raised the server's peak RSS by {} MiB",
            grown / MIB
        );

        eprintln!("posts: {:?}, +{} KiB, {answers:?}", t.elapsed(), grown);
        let t = std::time::Instant::now();
        // 3. The same with a date 20 minutes old: refused from the head, nothing is held.
        let before = s.reset_peak();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let head = signed_head(
                &s,
                &s.cred("secret_key"),
                now_ms() - 20 * 60_000,
                body.len(),
            );
            let from = Ipv4Addr::new(127, 4, 0, 1 + i);
            tasks.push(tokio::spawn(raw_post(from, s.addr, head, body.clone())));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "401");
        }
        let (_, peak) = s.memory_kib();
        let grown = peak.saturating_sub(before);
        assert!(
            grown < 50 * MIB,
            "expired-date posts raised the server's peak RSS by {} MiB",
            grown / MIB
        );
        eprintln!("expired posts: {:?}, +{} KiB", t.elapsed(), grown);
    });
}
