//! `trainyard bench probe`: measures the job list of a running server, one request at a time
//! on one keep-alive connection, until its standard input closes (or `--secs` pass), and prints
//! one JSON line per query: `{"query", "n", "median_ms", "p99_ms", "max_ms", "errors"}`.
//!
//! Benchmark scripts in other languages start it beside the load they create (for example
//! `bench/slurm.py` while versions churn through Slurm), so that the latency is measured by a
//! client of its own process: a Python thread beside the load's own thread waits for the GIL
//! (up to its 5 ms switch interval), which the server's p99 would otherwise be charged with.

use super::{ms, pct};
use clap::Args;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `trainyard bench probe` options.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Server base URL, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    endpoint: String,
    /// Project whose list is measured.
    #[arg(long, default_value = "0123456789abcdef0123456789abcdef")]
    project_id: String,
    /// A query string of the list (`per_page=10&status=8`); repeat for several, measured in turn.
    #[arg(long = "query", required = true)]
    queries: Vec<String>,
    /// `X-Auth-Token` to send (none: the server runs `--insecure-no-auth`).
    #[arg(long)]
    token: Option<String>,
    /// Stop after this many seconds [default: when standard input closes].
    #[arg(long)]
    secs: Option<f64>,
}

/// One query's latencies.
#[derive(serde::Serialize)]
struct QueryResult {
    query: String,
    n: usize,
    median_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    errors: usize,
}

/// Runs the probe (on its own current-thread runtime: nothing else shares its thread).
pub fn run(a: ProbeArgs) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = a.secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
    if deadline.is_none() {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            stop.store(true, Ordering::Relaxed);
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let base = a.endpoint.trim_end_matches('/');
    let urls: Vec<String> = a
        .queries
        .iter()
        .map(|q| format!("{base}/v1/{}/training-jobs?{q}", a.project_id))
        .collect();
    let times = rt.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); urls.len()];
        let mut errors = vec![0usize; urls.len()];
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
            let k = i % urls.len();
            i += 1;
            let mut req = client.get(&urls[k]);
            if let Some(t) = &a.token {
                req = req.header("X-Auth-Token", t);
            }
            let t0 = Instant::now();
            let ok = match req.send().await {
                Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                Err(_) => false,
            };
            if ok {
                times[k].push(t0.elapsed());
            } else {
                errors[k] += 1;
            }
        }
        anyhow::Ok(times.into_iter().zip(errors).collect::<Vec<_>>())
    })?;
    for (q, (mut t, errors)) in a.queries.iter().zip(times) {
        t.sort_unstable();
        let r = QueryResult {
            query: q.clone(),
            n: t.len(),
            median_ms: ms(pct(&t, 0.5)),
            p99_ms: ms(pct(&t, 0.99)),
            max_ms: t.last().map_or(0.0, |d| ms(*d)),
            errors,
        };
        println!("{}", serde_json::to_string(&r)?);
    }
    Ok(())
}
