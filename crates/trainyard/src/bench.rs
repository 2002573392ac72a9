//! `trainyard bench`: synthetic data (`bench gen`), the job-list benchmark (`bench list`), the web
//! console's list-page benchmark (`bench console`, in `bench/console.rs`) and the abuse benchmark
//! (`bench abuse`, in [`abuse`]).
//!
//! `bench list --jobs N` starts this binary's own server (`serve --insecure-no-auth` on
//! 127.0.0.1 with a fresh data directory), imports N generated jobs through the history import
//! (reporting jobs/s), measures the query table of issue 6 (p50/p99 over bounded repetitions
//! after a warm-up, rows, body bytes), checks a few hundred random queries against the plain
//! SQL evaluation of `list.md` (`Store::list_jobs_sql` on the server's SQLite file), measures
//! throughput with `wrk` when installed, the server's RSS, and restart-to-serving time.
//! `bash bench/list.sh [N]` runs it in release mode.

mod abuse;
mod console;
mod create;
mod probe;
mod replicas;

use crate::traces;
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trainyard_api::list::{JobListQuery, JobListResponse, SortKey};
use trainyard_store::{Location, Store};

/// `trainyard bench ...`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    cmd: BenchCmd,
}

#[derive(Debug, Subcommand)]
enum BenchCmd {
    /// Write N synthetic history records as NDJSON (deterministic for a seed).
    ///
    /// Example: `trainyard bench gen --jobs 100000 --seed 1 --out jobs.ndjson`
    Gen(GenArgs),
    /// Run the job-list benchmark against a fresh server of this binary.
    ///
    /// Example: `trainyard bench list --jobs 1000000`
    List(ListArgs),
    /// Run the web console's job-list benchmark (page time, size, first paint) at N jobs.
    ///
    /// Example: `trainyard bench console --jobs 1000000 --paint-script tests/console/first_paint.py`
    Console(console::ConsoleArgs),
    /// Attack a fresh server with authentication (login floods, unauthenticated bodies) and
    /// measure the list latency and the server's memory meanwhile (issue 9 §2).
    ///
    /// Example: `trainyard bench abuse --flood-clients 256 --body-clients 32`
    Abuse(abuse::AbuseArgs),
    /// Two replicas on one PostgreSQL database: create latency, cross-replica visibility,
    /// leader failover after SIGKILL.
    ///
    /// Example: `trainyard bench replicas --database postgres://127.0.0.1/bench`
    Replicas(replicas::ReplicasArgs),
    /// Create latency on an idle server (one create at a time, each job ended before the
    /// next), on SQLite and optionally PostgreSQL in the same run.
    ///
    /// Example: `trainyard bench create --creates 1000 --database postgres://127.0.0.1/bench`
    Create(create::CreateArgs),
    /// Measure a running server's job list, one request at a time, until standard input
    /// closes; prints N, median, p99 and max per query as JSON lines (for bench scripts).
    ///
    /// Example: `trainyard bench probe --endpoint http://127.0.0.1:8080 --query per_page=10`
    Probe(probe::ProbeArgs),
}

#[derive(Debug, Args)]
struct GenArgs {
    /// Number of records.
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    /// PRNG seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file [default: stdout].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Jobs to generate and import.
    #[arg(long, default_value_t = 100_000)]
    jobs: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Project id to use.
    #[arg(long, default_value = "bench0123456789")]
    project: String,
    /// Data directory [default: a fresh directory under the system temp dir, removed after].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the data directory.
    #[arg(long)]
    keep: bool,
    /// Measured repetitions per query (after warm-up); slow queries get fewer.
    #[arg(long, default_value_t = 200)]
    reps: usize,
    /// Random queries of the differential check [default: 300, or 60 above 200,000 jobs].
    #[arg(long)]
    diff_queries: Option<usize>,
    /// Seconds of each wrk run (0 skips wrk).
    #[arg(long, default_value_t = 8)]
    wrk_secs: u64,
    /// Records per import request (at most 100,000).
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Import requests in flight.
    #[arg(long, default_value_t = 2)]
    import_concurrency: usize,
    /// Serve from this PostgreSQL database instead of SQLite in the data directory
    /// (`serve --database URL`; the differential check runs `list_jobs_sql` on it). Use an
    /// empty database: a database that already holds jobs skips the import.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Stop after the import (and its RSS): for profiling the import.
    #[arg(long)]
    import_only: bool,
    /// Also run the query table while 100 jobs are created per second and 50 versions run
    /// (`sleep` jobs in the same project and workspace; the server runs with quotas 50).
    #[arg(long)]
    under_load: bool,
}

/// Runs a `bench` subcommand.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.cmd {
        BenchCmd::Gen(g) => gen_cmd(&g),
        BenchCmd::List(l) => list_cmd(l).await,
        BenchCmd::Console(c) => console::run(c).await,
        BenchCmd::Abuse(a) => abuse::run(a).await,
        BenchCmd::Replicas(r) => replicas::run(r).await,
        BenchCmd::Create(c) => create::run(c).await,
        // its own thread and runtime: nothing of this process's runtime shares its thread
        BenchCmd::Probe(p) => std::thread::spawn(move || probe::run(p))
            .join()
            .map_err(|_| anyhow::anyhow!("the probe thread panicked"))?,
    }
}

fn gen_cmd(g: &GenArgs) -> anyhow::Result<()> {
    let out: Box<dyn Write> = match &g.out {
        Some(p) => {
            Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    for rec in traces::generate(g.jobs, g.seed) {
        serde_json::to_writer(&mut out, &rec)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// The spawned server.
struct Server {
    child: Child,
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
}

impl Server {
    fn spawn(exe: &Path, args: &[String], log: &Path) -> anyhow::Result<Server> {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)?;
        let child = Command::new(exe)
            .args(args)
            .env(
                "TRAINYARD_LOG",
                "warn,trainyard_server::routes::history=info",
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .context("starting the server")?;
        Ok(Server {
            child,
            exe: exe.to_owned(),
            args: args.to_vec(),
            log: log.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait.
    fn stop(&mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        self.stop()?;
        *self = Server::spawn(&self.exe.clone(), &self.args.clone(), &self.log.clone())?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Resident set size of a process in KiB (`VmRSS`), and its peak (`VmHWM`).
fn rss_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let get = |k: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("VmHWM:"))
}

async fn wait_ready(client: &reqwest::Client, url: &str, limit: Duration) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            let _ = r.bytes().await;
            return Ok(());
        }
        if t0.elapsed() > limit {
            bail!("the server did not answer {url} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// One row of the result table.
struct Measured {
    section: &'static str,
    label: String,
    p50: Duration,
    p99: Duration,
    reps: usize,
    rows: usize,
    total: u64,
    bytes: usize,
    target: Option<(f64, f64)>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Ctx {
    client: reqwest::Client,
    list_url: String,
    reps: usize,
}

impl Ctx {
    async fn get(&self, pairs: &[(String, String)]) -> anyhow::Result<(Duration, Vec<u8>)> {
        let t0 = Instant::now();
        let r = self.client.get(&self.list_url).query(pairs).send().await?;
        let status = r.status();
        let body = r.bytes().await?;
        let dt = t0.elapsed();
        if !status.is_success() {
            bail!(
                "{pairs:?}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok((dt, body.to_vec()))
    }

    async fn measure(
        &self,
        section: &'static str,
        label: String,
        pairs: Vec<(String, String)>,
        target: Option<(f64, f64)>,
    ) -> anyhow::Result<Measured> {
        // warm-up; slow queries get fewer repetitions (bounded ~3 s per row)
        let (first, body) = self.get(&pairs).await?;
        for _ in 0..5 {
            self.get(&pairs).await?;
        }
        let reps = if first > Duration::from_millis(5) {
            ((3000.0 / ms(first).max(1.0)) as usize).clamp(20.min(self.reps), self.reps)
        } else {
            self.reps
        };
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            times.push(self.get(&pairs).await?.0);
        }
        times.sort_unstable();
        let resp: JobListResponse = serde_json::from_slice(&body)?;
        Ok(Measured {
            section,
            label,
            p50: pct(&times, 0.5),
            p99: pct(&times, 0.99),
            reps,
            rows: resp.jobs.len(),
            total: resp.job_total_count,
            bytes: body.len(),
            target,
        })
    }
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Search terms over the generator's vocabulary (3+ characters, 0.1 %–10 % of jobs each).
const SEARCH_TERMS: &[&str] = &[
    "roberta",
    "imagenet",
    "clip-coco",
    "ölfeld",
    "lr3e4",
    "STRASSE-",
];
/// Short search terms (1–2 characters).
const SHORT_TERMS: &[&str] = &["a", "x", "7", "ö", "-2"];

async fn query_table(ctx: &Ctx, n: u64) -> anyhow::Result<Vec<Measured>> {
    let mut out = Vec::new();
    let t_fast = Some((2.0, 10.0));
    for key in SortKey::ALL {
        for order in ["asc", "desc"] {
            let p = pairs(&[("sortBy", key.as_str()), ("order", order)]);
            out.push(
                ctx.measure("default p1 pp10", format!("{key} {order}"), p, t_fast)
                    .await?,
            );
        }
    }
    for status in ["11", "3,5,6,13"] {
        for key in SortKey::ALL {
            for order in ["asc", "desc"] {
                let p = pairs(&[
                    ("status", status),
                    ("sortBy", key.as_str()),
                    ("order", order),
                ]);
                out.push(
                    ctx.measure(
                        "status filter",
                        format!("status={status} {key} {order}"),
                        p,
                        t_fast,
                    )
                    .await?,
                );
            }
        }
    }
    let deep_page = (n / 1000).clamp(1, 1000).to_string();
    for key in SortKey::ALL {
        let p = pairs(&[
            ("per_page", "1000"),
            ("page", &deep_page),
            ("sortBy", key.as_str()),
        ]);
        out.push(
            ctx.measure(
                "deep page",
                format!("pp1000 page {deep_page} {key}"),
                p,
                Some((20.0, 50.0)),
            )
            .await?,
        );
    }
    for term in SEARCH_TERMS {
        for (key, order) in [
            ("job_name", "asc"),
            ("create_time", "desc"),
            ("duration", "desc"),
        ] {
            let p = pairs(&[("search_content", term), ("sortBy", key), ("order", order)]);
            out.push(
                ctx.measure(
                    "search 3+",
                    format!("{term:?} {key} {order}"),
                    p,
                    Some((10.0, 50.0)),
                )
                .await?,
            );
        }
    }
    for term in SHORT_TERMS {
        for (key, order) in [("job_name", "asc"), ("create_time", "desc")] {
            let p = pairs(&[("search_content", term), ("sortBy", key), ("order", order)]);
            out.push(
                ctx.measure(
                    "search 1-2",
                    format!("{term:?} {key} {order}"),
                    p,
                    Some((50.0, 150.0)),
                )
                .await?,
            );
        }
    }
    for key in SortKey::ALL {
        let p = pairs(&[
            ("per_page", "1000"),
            ("sortBy", key.as_str()),
            ("order", "desc"),
        ]);
        out.push(
            ctx.measure(
                "pp1000 page 1",
                format!("{key} desc"),
                p,
                Some((10.0, 25.0)),
            )
            .await?,
        );
    }
    // issue 2's grid: each key, page 1 and 100, per_page 10 and 1000, with and without search
    for key in SortKey::ALL {
        for page in ["1", "100"] {
            for pp in ["10", "1000"] {
                for search in ["", "roberta"] {
                    let mut p =
                        pairs(&[("sortBy", key.as_str()), ("page", page), ("per_page", pp)]);
                    if !search.is_empty() {
                        p.push(("search_content".into(), search.into()));
                    }
                    out.push(
                        ctx.measure(
                            "issue-2 grid",
                            format!("{key} page {page} pp {pp} search {search:?}"),
                            p,
                            None,
                        )
                        .await?,
                    );
                }
            }
        }
    }
    Ok(out)
}

/// Creates one `sleep 60` job every 10 ms until `stop`; returns (created, failed).
async fn create_load(
    client: reqwest::Client,
    list_url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> (u64, u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sent = Vec::new();
    let mut i = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        tick.tick().await;
        i += 1;
        let body = serde_json::json!({"job_name": format!("load-{}-{i}", std::process::id()),
            "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "sleep 60"}});
        let (c, u) = (client.clone(), list_url.clone());
        sent.push(tokio::spawn(async move {
            matches!(c.post(&u).json(&body).send().await, Ok(r) if r.status().is_success())
        }));
    }
    let mut ok = 0;
    for h in sent {
        if h.await.unwrap_or(false) {
            ok += 1;
        }
    }
    (ok, i - ok)
}

fn print_table(n: u64, rows: &[Measured]) {
    println!(
        "| section | query | N | p50 ms | p99 ms | reps | rows | total | body bytes | target p50/p99 | ok |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for m in rows {
        let (t, ok) = match m.target {
            Some((a, b)) => {
                let ok = ms(m.p50) <= a && ms(m.p99) <= b;
                (format!("{a}/{b}"), if ok { "yes" } else { "NO" })
            }
            None => ("-".into(), "-"),
        };
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} |",
            m.section,
            m.label,
            n,
            ms(m.p50),
            ms(m.p99),
            m.reps,
            m.rows,
            m.total,
            m.bytes,
            t,
            ok
        );
    }
    let missed = rows
        .iter()
        .filter(|m| {
            m.target
                .is_some_and(|(a, b)| ms(m.p50) > a || ms(m.p99) > b)
        })
        .count();
    println!("rows missing their target: {missed}");
}

/// A random list query for the differential check.
fn random_query(rng: &mut traces::SplitMix, n: u64, names: &[String]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    match rng.below(4) {
        0 | 1 => {}
        2 => {
            let codes = [3, 5, 6, 10, 11, 12, 13, 14, 8];
            p.push(("status".into(), codes[rng.below(codes.len())].to_string()));
        }
        _ => {
            let k = 1 + rng.below(5);
            let codes: Vec<String> = (0..k).map(|_| rng.below(23).to_string()).collect();
            p.push(("status".into(), codes.join(",")));
        }
    }
    let pp = [1u64, 7, 10, 50, 100, 1000][rng.below(6)];
    let pages = (n / pp).clamp(1, 65_534);
    let page = match rng.below(4) {
        0 => 1,
        1 => pages + 1 - (rng.below(3) as u64).min(pages),
        _ => 1 + (rng.next() % pages),
    };
    p.push(("per_page".into(), pp.to_string()));
    p.push(("page".into(), page.min(65_535).to_string()));
    p.push(("sortBy".into(), SortKey::ALL[rng.below(7)].as_str().into()));
    p.push(("order".into(), ["asc", "desc", "DESC"][rng.below(3)].into()));
    match rng.below(5) {
        0 => p.push((
            "search_content".into(),
            SEARCH_TERMS[rng.below(SEARCH_TERMS.len())].into(),
        )),
        1 => p.push((
            "search_content".into(),
            SHORT_TERMS[rng.below(SHORT_TERMS.len())].into(),
        )),
        2 if !names.is_empty() => {
            // a random piece of a real name, case flipped at random
            let name: Vec<char> = names[rng.below(names.len())].chars().collect();
            let a = rng.below(name.len());
            let b = (a + 1 + rng.below(8)).min(name.len());
            let s: String = name[a..b]
                .iter()
                .map(|c| {
                    if rng.below(2) == 0 {
                        c.to_uppercase().next().unwrap_or(*c)
                    } else {
                        *c
                    }
                })
                .collect();
            p.push(("search_content".into(), s));
        }
        _ => {}
    }
    p
}

async fn differential(
    ctx: &Ctx,
    location: Location,
    project: &str,
    n: u64,
    count: usize,
    seed: u64,
) -> anyhow::Result<(usize, usize)> {
    let store = tokio::task::spawn_blocking(move || Store::open(&location)).await??;
    let store = std::sync::Arc::new(store);
    let names: Vec<String> = traces::generate(n.min(5000), seed)
        .filter_map(|v| v["job_name"].as_str().map(str::to_owned))
        .collect();
    let mut rng = traces::SplitMix::new(seed ^ 0xd1ff);
    let mut mismatches = 0;
    for i in 0..count {
        let p = random_query(&mut rng, n, &names);
        let (_, body) = ctx.get(&p).await?;
        let got: JobListResponse = serde_json::from_slice(&body)?;
        let q = JobListQuery::from_pairs(p.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| anyhow::anyhow!("{p:?}: {}", e.message))?;
        let st = store.clone();
        let project = project.to_owned();
        let now = now_ms();
        let (total, rows) =
            tokio::task::spawn_blocking(move || st.list_jobs_sql(&project, &q, now)).await??;
        if got.job_total_count != total || got.jobs != rows {
            mismatches += 1;
            if mismatches <= 5 {
                eprintln!(
                    "MISMATCH #{i} {p:?}: server total {} rows {:?}; SQL total {total} rows {:?}",
                    got.job_total_count,
                    got.jobs
                        .iter()
                        .map(|r| r.job_id)
                        .take(10)
                        .collect::<Vec<_>>(),
                    rows.iter().map(|r| r.job_id).take(10).collect::<Vec<_>>()
                );
            }
        }
    }
    Ok((count, mismatches))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs wrk on `url`; returns requests/s.
fn wrk(url: &str, secs: u64) -> Option<f64> {
    let out = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{secs}s"), url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Generates every batch body first (timed apart), then uploads them with `concurrency`
/// requests in flight (the server parses one batch while it commits another). Returns
/// (generation time, upload wall time).
async fn import(
    client: &reqwest::Client,
    url: &str,
    jobs: u64,
    seed: u64,
    batch: usize,
    concurrency: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut bodies: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    let mut buf = Vec::with_capacity(batch * 250);
    let mut k = 0;
    for rec in traces::generate(jobs, seed) {
        serde_json::to_writer(&mut buf, &rec)?;
        buf.push(b'\n');
        k += 1;
        if k == batch {
            bodies.push_back(std::mem::take(&mut buf));
            k = 0;
        }
    }
    if k > 0 {
        bodies.push_back(buf);
    }
    let generation = t0.elapsed();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(bodies));
    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let client = client.clone();
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            loop {
                let body = match queue.lock() {
                    Ok(mut q) => q.pop_front(),
                    Err(_) => None,
                };
                let Some(body) = body else { break };
                let r = client
                    .post(&url)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await?;
                let status = r.status();
                let text = r.text().await?;
                if !status.is_success() {
                    bail!("import failed: HTTP {status}: {text}");
                }
                let v: serde_json::Value = serde_json::from_str(&text)?;
                done += v["imported"].as_u64().unwrap_or(0);
            }
            Ok::<u64, anyhow::Error>(done)
        }));
    }
    let mut done = 0;
    for t in tasks {
        done += t.await??;
    }
    if done != jobs {
        bail!("imported {done} of {jobs}");
    }
    Ok((generation, t1.elapsed()))
}

async fn list_cmd(a: ListArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let (dir, fresh) = match &a.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("trainyard-bench-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--data-dir".into(),
        dir.display().to_string(),
        "--insecure-no-auth".into(),
        "--max-jobs".into(),
        (a.jobs * 2 + 100_000).to_string(),
        "--quotas".into(),
        "50".into(),
        "--max-running".into(),
        "50".into(),
    ];
    let mut args = args;
    if let Some(url) = &a.database {
        args.extend(["--database".to_owned(), url.clone()]);
    }
    let log = dir.join("bench-server.log");
    let p = &a.project;
    let list_url = format!("{base}/v1/{p}/training-jobs");
    let trivial_url = format!("{base}/v1/{p}/job/ai-engines");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut server = Server::spawn(&exe, &args, &log)?;
    wait_ready(&client, &trivial_url, Duration::from_secs(120)).await?;
    println!(
        "# trainyard list benchmark, N = {}, store {}",
        a.jobs,
        if a.database.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    println!("server pid {}, data dir {}", server.pid(), dir.display());

    let existing: JobListResponse =
        serde_json::from_slice(&client.get(&list_url).send().await?.bytes().await?)?;
    if existing.job_total_count == 0 {
        let url = format!("{base}/trainyard/v1/{p}/job-history");
        let (generation, upload) = import(
            &client,
            &url,
            a.jobs,
            a.seed,
            a.batch.clamp(1, 100_000),
            a.import_concurrency,
        )
        .await?;
        println!(
            "import: {} jobs in {:.2} s = {:.0} jobs/s ({} requests of {} records, {} in flight; generating the NDJSON beforehand took {:.2} s)",
            a.jobs,
            upload.as_secs_f64(),
            a.jobs as f64 / upload.as_secs_f64(),
            (a.jobs as usize).div_ceil(a.batch.clamp(1, 100_000)),
            a.batch.clamp(1, 100_000),
            a.import_concurrency,
            generation.as_secs_f64()
        );
    } else {
        println!(
            "data dir already holds {} jobs: import skipped",
            existing.job_total_count
        );
    }
    let (rss, hwm) = rss_kib(server.pid());
    println!(
        "RSS after import: {:.0} MiB (peak {:.0} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );

    if a.import_only {
        server.stop()?;
        if fresh && !a.keep {
            let _ = std::fs::remove_dir_all(&dir);
        }
        return Ok(());
    }
    let ctx = Ctx {
        client: client.clone(),
        list_url: list_url.clone(),
        reps: a.reps,
    };
    let table = query_table(&ctx, a.jobs).await?;
    print_table(a.jobs, &table);
    let (rss, hwm) = rss_kib(server.pid());
    println!(
        "RSS after queries: {:.0} MiB (peak {:.0} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );

    let dq = a
        .diff_queries
        .unwrap_or(if a.jobs > 200_000 { 60 } else { 300 });
    let t = Instant::now();
    let location = match &a.database {
        Some(url) => Location::Postgres(url.clone()),
        None => Location::Sqlite(dir.join("trainyard.db")),
    };
    let (checked, mismatches) = differential(&ctx, location, p, a.jobs, dq, a.seed).await?;
    println!(
        "differential: {checked} random queries vs Store::list_jobs_sql: {mismatches} mismatches ({:.1} s)",
        t.elapsed().as_secs_f64()
    );

    if a.under_load {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let load = tokio::spawn(create_load(client.clone(), list_url.clone(), stop.clone()));
        // let the first 50 versions start
        tokio::time::sleep(Duration::from_secs(2)).await;
        let started = Instant::now();
        let table = query_table(&ctx, a.jobs).await?;
        println!("## the same queries while 100 jobs/s are created and 50 versions run");
        print_table(a.jobs, &table);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (created, failed) = load.await?;
        let running: JobListResponse = serde_json::from_slice(
            &client
                .get(format!("{list_url}?status=8&per_page=1"))
                .send()
                .await?
                .bytes()
                .await?,
        )?;
        println!(
            "load: {created} jobs created in {:.1} s ({:.0}/s, {failed} failed); {} versions running at the end",
            started.elapsed().as_secs_f64() + 2.0,
            created as f64 / (started.elapsed().as_secs_f64() + 2.0),
            running.job_total_count
        );
        // delete the load's jobs: that stops their runs (no `sleep` outlives the benchmark)
        let search = format!(
            "{list_url}?search_content=load-{}-&per_page=1000",
            std::process::id()
        );
        let mut deleted = 0u64;
        for _ in 0..1000 {
            let page: JobListResponse =
                serde_json::from_slice(&client.get(&search).send().await?.bytes().await?)?;
            if page.jobs.is_empty() {
                break;
            }
            for j in page.jobs {
                client
                    .delete(format!("{list_url}/{}", j.job_id))
                    .send()
                    .await?;
                deleted += 1;
            }
        }
        println!("load: {deleted} load jobs deleted (their runs stopped)");
    }

    if a.wrk_secs > 0 {
        let default_q = format!("{list_url}?per_page=10");
        match (wrk(&default_q, a.wrk_secs), wrk(&trivial_url, a.wrk_secs)) {
            (Some(list), Some(trivial)) => println!(
                "throughput (wrk -t2 -c32 -d{}s): default list {list:.0} req/s, trivial endpoint {trivial:.0} req/s, ratio {:.0}%",
                a.wrk_secs,
                100.0 * list / trivial
            ),
            _ => println!("throughput: wrk not installed or failed (apt-get install -y wrk)"),
        }
    }

    let t = Instant::now();
    server.restart()?;
    let restart_pid = server.pid();
    wait_ready(&client, &list_url, Duration::from_secs(600)).await?;
    let restart = t.elapsed();
    let (rss, hwm) = rss_kib(restart_pid);
    println!(
        "restart-to-serving: {:.2} s (SIGTERM, start, first list answer); RSS after restart {:.0} MiB (peak {:.0} MiB)",
        restart.as_secs_f64(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    let after: JobListResponse =
        serde_json::from_slice(&client.get(&list_url).send().await?.bytes().await?)?;
    println!("after restart: job_total_count {}", after.job_total_count);
    server.stop()?;
    if fresh && !a.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if mismatches > 0 {
        bail!("{mismatches} differential mismatches");
    }
    Ok(())
}
