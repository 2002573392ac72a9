//! `trainyard bench abuse`: the attacks of issue 9 §2 against a fresh server with
//! authentication, measured side by side in one run (`bash bench/abuse.sh`):
//!
//! 1. **idle**: the token-authenticated job list (per_page 10, `create_time desc`, over
//!    `--jobs` imported jobs), sequentially for `--flood-secs` before a flood (the same window
//!    as during it), `--list-reps` times before the body attacks: N, median, p99; the server's
//!    RSS.
//! 2. **login flood, one address**: `--flood-clients` clients send wrong passwords for the
//!    admin user back to back (ignoring `Retry-After`) for `--flood-secs`, while the list is
//!    measured as in 1; the server's peak RSS above idle (`VmHWM` after resetting it through
//!    `/proc/<pid>/clear_refs`), the answers by status.
//! 3. **login flood, many addresses**: the same, each client from its own 127.0.x.y address
//!    and with its own user names (password spraying: no per-address or per-user throttle
//!    applies at first, so the password-check cap does the work).
//! 4. **unauthenticated bodies**: `--body-clients` concurrent signed `POST .../job-history` of
//!    `--body-mib` MiB each with the admin's AK, (a) dated 20 minutes ago, (b) dated now with a
//!    wrong secret; peak RSS above idle, answers by status.
//!
//! `--server-exe` attacks another build (e.g. one from before issue 9) with the same client,
//! for before/after figures; it only needs `serve --listen --data-dir`.

use super::{Server, ms, pct, rss_kib};
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `trainyard bench abuse` options.
#[derive(Debug, Args)]
pub struct AbuseArgs {
    /// Server binary to attack [default: this binary]; it is started with `serve --listen
    /// 127.0.0.1:PORT --data-dir DIR` (authentication on).
    #[arg(long, value_name = "FILE")]
    server_exe: Option<PathBuf>,
    /// Jobs imported first, so that the measured list does real work.
    #[arg(long, default_value_t = 10_000)]
    jobs: u64,
    /// Idle list requests measured before the body attacks (before a login flood, the idle
    /// list is measured for `--flood-secs`, like the list during the flood).
    #[arg(long, default_value_t = 500)]
    list_reps: usize,
    /// Clients of each login flood.
    #[arg(long, default_value_t = 256)]
    flood_clients: usize,
    /// Seconds of each login flood.
    #[arg(long, default_value_t = 10)]
    flood_secs: u64,
    /// Concurrent unauthenticated posts.
    #[arg(long, default_value_t = 32)]
    body_clients: usize,
    /// MiB of each post.
    #[arg(long, default_value_t = 60)]
    body_mib: usize,
    /// Skip the flood from many addresses.
    #[arg(long)]
    one_address_only: bool,
}

/// Latencies of one phase, ms.
struct Latency {
    n: usize,
    p50: f64,
    p99: f64,
    errors: usize,
}

fn latency(mut times: Vec<Duration>, errors: usize) -> Latency {
    times.sort_unstable();
    Latency {
        n: times.len(),
        p50: ms(pct(&times, 0.5)),
        p99: ms(pct(&times, 0.99)),
        errors,
    }
}

/// One row of the result table: one attack on a freshly restarted server.
struct Row {
    phase: String,
    idle: Latency,
    during: Option<Latency>,
    idle_rss_kib: u64,
    peak_kib: u64,
    answers: BTreeMap<String, usize>,
}

/// Resets the server's peak RSS (`VmHWM`) to its current RSS (Linux `clear_refs` 5).
fn reset_peak(pid: u32) {
    if let Err(e) = std::fs::write(format!("/proc/{pid}/clear_refs"), "5") {
        eprintln!("note: cannot reset the peak RSS of {pid}: {e} (peaks are since start)");
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Measures the token list sequentially on its own thread (its own runtime, so the flood's
/// tasks do not delay the measuring client's polls) until `until`, or `reps` times.
fn measure_list(
    url: String,
    token: String,
    reps: Option<usize>,
    until: Option<Instant>,
) -> std::thread::JoinHandle<Latency> {
    std::thread::spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(_) => return latency(Vec::new(), 1),
        };
        rt.block_on(async move {
            let Ok(client) = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
            else {
                return latency(Vec::new(), 1);
            };
            let mut times = Vec::new();
            let mut errors = 0;
            let done = |n: usize| {
                reps.is_some_and(|r| n >= r) || until.is_some_and(|u| Instant::now() >= u)
            };
            while !done(times.len() + errors) {
                let t0 = Instant::now();
                let ok = match client.get(&url).header("X-Auth-Token", &token).send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        ok && r.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    times.push(t0.elapsed());
                } else {
                    errors += 1;
                }
            }
            latency(times, errors)
        })
    })
}

fn join(h: std::thread::JoinHandle<Latency>) -> anyhow::Result<Latency> {
    h.join()
        .map_err(|_| anyhow::anyhow!("the list thread panicked"))
}

fn login_body(user: &str, password: &str, project_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "password": password, "domain": {"name": user}}}},
        "scope": {"project": {"id": project_id}}}}))
    .unwrap_or_default()
}

/// `clients` attackers sending wrong logins back to back until `until`; answers by status.
async fn login_flood(
    base: &str,
    project_id: &str,
    clients: usize,
    until: Instant,
    many_addresses: bool,
) -> BTreeMap<String, usize> {
    let url = format!("{base}/v3/auth/tokens");
    let shared = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .ok();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let client = if many_addresses {
            let ip = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
            reqwest::Client::builder()
                .local_address(IpAddr::V4(ip))
                .timeout(Duration::from_secs(60))
                .build()
                .ok()
        } else {
            shared.clone()
        };
        let (url, pid) = (url.clone(), project_id.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut answers: BTreeMap<String, usize> = BTreeMap::new();
            let Some(client) = client else {
                return answers;
            };
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let user = if many_addresses {
                    format!("spray-{i}-{n}")
                } else {
                    "admin".to_owned()
                };
                let body = login_body(&user, &format!("guess-{i}-{n}"), &pid);
                let key = match client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => {
                        let s = r.status().as_u16().to_string();
                        let _ = r.bytes().await;
                        s
                    }
                    Err(e) if e.is_timeout() => "timeout".to_owned(),
                    Err(_) => "error".to_owned(),
                };
                *answers.entry(key).or_default() += 1;
            }
            answers
        }));
    }
    let mut total = BTreeMap::new();
    for t in tasks {
        if let Ok(a) = t.await {
            for (k, v) in a {
                *total.entry(k).or_default() += v;
            }
        }
    }
    total
}

/// The head of a signed history import announcing `len` bytes (signed over an empty body, so
/// wrong for any other body whatever the secret).
fn signed_head(
    addr: SocketAddr,
    project_id: &str,
    ak: &str,
    sk: &str,
    date_ms: i64,
    len: usize,
) -> String {
    let path = format!("/trainyard/v1/{project_id}/job-history");
    let host = addr.to_string();
    let headers = [
        ("Host", host.as_str()),
        ("Content-Type", "application/x-ndjson"),
    ];
    let signer = trainyard_sign::Signer::new(ak, sk.as_bytes().to_vec());
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

/// Sends one head + body over a raw socket while reading the answer; returns its status (or
/// what went wrong).
async fn raw_post(addr: SocketAddr, head: String, body: Arc<Vec<u8>>) -> String {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return "connect error".into();
    };
    let (mut rd, mut wr) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
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
    match tokio::time::timeout(Duration::from_secs(120), reader).await {
        Ok(Ok(s)) => s,
        _ => "no answer".into(),
    }
}

async fn body_flood(
    addr: SocketAddr,
    project_id: &str,
    ak: &str,
    sk: &str,
    date_ms: i64,
    clients: usize,
    body: Arc<Vec<u8>>,
) -> BTreeMap<String, usize> {
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let head = signed_head(addr, project_id, ak, sk, date_ms, body.len());
        tasks.push(tokio::spawn(raw_post(addr, head, body.clone())));
    }
    let mut answers = BTreeMap::new();
    for t in tasks {
        let s = t.await.unwrap_or_else(|_| "panic".into());
        *answers.entry(s).or_default() += 1;
    }
    answers
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the benchmark.
pub async fn run(a: AbuseArgs) -> anyhow::Result<()> {
    let exe = match &a.server_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let dir =
        TempDir(std::env::temp_dir().join(format!("trainyard-bench-abuse-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(dir.path());
    std::fs::create_dir_all(dir.path())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let base = format!("http://{addr}");
    let args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        addr.to_string(),
        "--data-dir".into(),
        dir.path().display().to_string(),
    ];
    let log = dir.path().join("bench-server.log");
    let mut server = Server::spawn(&exe, &args, &log)?;
    let creds_file = dir.path().join("credentials.json");
    let t0 = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    loop {
        let up = client.get(format!("{base}/v3")).send().await.is_ok();
        if up && creds_file.exists() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("the server did not start (log: {})", log.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let creds: serde_json::Value = serde_json::from_slice(&std::fs::read(&creds_file)?)?;
    let field = |k: &str| -> anyhow::Result<String> {
        creds[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{k} in credentials.json"))
    };
    let (project_id, ak, sk, password) = (
        field("project_id")?,
        field("access_key")?,
        field("secret_key")?,
        field("password")?,
    );
    println!("# trainyard abuse benchmark (issue 9 §2)");
    println!(
        "server {}, {} CPUs, load average before: {}",
        exe.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );

    // Jobs for the list.
    let session = trainyard_client::Session::with_access_key(&base, &project_id, &ak, &sk)?;
    let mut ndjson = Vec::new();
    for rec in crate::traces::generate(a.jobs, 1) {
        serde_json::to_writer(&mut ndjson, &rec)?;
        ndjson.push(b'\n');
    }
    trainyard_client::Estimator::import_history_ndjson(&session, ndjson).await?;
    drop(session);

    let list_url = format!(
        "{base}/v1/{project_id}/training-jobs?per_page=10&page=1&sortBy=create_time&order=desc"
    );

    #[derive(Clone, Copy)]
    enum Attack {
        Login { many: bool },
        Bodies { expired: bool },
    }
    let mut attacks = vec![Attack::Login { many: false }];
    if !a.one_address_only {
        attacks.push(Attack::Login { many: true });
    }
    attacks.push(Attack::Bodies { expired: true });
    attacks.push(Attack::Bodies { expired: false });
    let body = Arc::new(vec![b' '; a.body_mib << 20]);
    let wrong = format!("{sk}x");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let mut rows = Vec::new();
    for attack in attacks {
        // A fresh server for each attack: its idle figures are measured just before.
        server.restart()?;
        let pid = server.pid();
        let t0 = Instant::now();
        while client.get(format!("{base}/v3")).send().await.is_err() {
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("the server did not restart (log: {})", log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Warm-up as in normal use: a login (one password check) and list requests.
        let r = client
            .post(format!("{base}/v3/auth/tokens"))
            .header("content-type", "application/json")
            .body(login_body("admin", &password, &project_id))
            .send()
            .await?;
        if r.status().as_u16() != 201 {
            bail!("login of the admin user: HTTP {}", r.status());
        }
        let token = r
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .context("X-Subject-Token")?
            .to_owned();
        join(measure_list(
            list_url.clone(),
            token.clone(),
            Some(50),
            None,
        ))?;
        // Before a flood, the idle list is measured as long as the flood lasts, so both p99s
        // come from windows of the same length (on a shared machine, the p99 of a short idle
        // window is mostly the neighbours' noise); before the body attacks, `--list-reps`.
        let idle = match attack {
            Attack::Login { .. } => join(measure_list(
                list_url.clone(),
                token.clone(),
                None,
                Some(Instant::now() + Duration::from_secs(a.flood_secs)),
            ))?,
            Attack::Bodies { .. } => join(measure_list(
                list_url.clone(),
                token.clone(),
                Some(a.list_reps),
                None,
            ))?,
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (idle_rss_kib, _) = rss_kib(pid);
        reset_peak(pid);
        let (phase, during, answers) = match attack {
            Attack::Login { many } => {
                let until = Instant::now() + Duration::from_secs(a.flood_secs);
                let measuring = measure_list(list_url.clone(), token.clone(), None, Some(until));
                let answers = login_flood(&base, &project_id, a.flood_clients, until, many).await;
                (
                    format!(
                        "login flood: {} clients, {}, {} s",
                        a.flood_clients,
                        if many {
                            "one address and user name each"
                        } else {
                            "one address, the admin user"
                        },
                        a.flood_secs
                    ),
                    Some(join(measuring)?),
                    answers,
                )
            }
            Attack::Bodies { expired } => {
                let (secret, date_ms, label) = if expired {
                    (
                        sk.as_str(),
                        now() - 20 * 60_000,
                        "known AK, date 20 min old",
                    )
                } else {
                    (wrong.as_str(), now(), "known AK, date now, wrong secret")
                };
                let answers = body_flood(
                    addr,
                    &project_id,
                    &ak,
                    secret,
                    date_ms,
                    a.body_clients,
                    body.clone(),
                )
                .await;
                (
                    format!(
                        "{} concurrent {} MiB job-history posts: {label}",
                        a.body_clients, a.body_mib
                    ),
                    None,
                    answers,
                )
            }
        };
        let (_, peak_kib) = rss_kib(pid);
        rows.push(Row {
            phase,
            idle,
            during,
            idle_rss_kib,
            peak_kib,
            answers,
        });
    }
    let _ = server.stop();
    println!("load average after: {}", loadavg());
    println!();
    println!(
        "| attack (fresh server each) | list idle: N / median / p99 ms | list during: N / median / p99 ms (errors) | p99 during / idle | idle RSS MiB | peak RSS above idle MiB | answers to the attacker |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        let fmt = |l: &Latency| format!("{} / {:.2} / {:.2}", l.n, l.p50, l.p99);
        let (during, ratio) = match &r.during {
            Some(l) => (
                format!("{} ({})", fmt(l), l.errors),
                format!("{:.2}×", l.p99 / r.idle.p99.max(0.001)),
            ),
            None => (String::new(), String::new()),
        };
        let answers: Vec<String> = r.answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!(
            "| {} | {} | {during} | {ratio} | {:.1} | {:.1} | {} |",
            r.phase,
            fmt(&r.idle),
            mib(r.idle_rss_kib),
            mib(r.peak_kib.saturating_sub(r.idle_rss_kib)),
            answers.join(", ")
        );
    }
    println!();
    println!(
        "targets (issue 9): list p99 during a 256-client login flood within 2x idle; peak RSS during the flood <= 200 MB above idle; during 32 concurrent unauthenticated 60 MiB posts <= 100 MB above idle"
    );
    Ok(())
}
