//! `trainyard bench create [--database URL]`: the latency of `POST /v1/{project}/training-jobs`
//! on an **idle** server (issue 12 "Done when": create p99 ≤ 10 ms idle), on SQLite and, when
//! `--database` is given, on PostgreSQL, one after the other in the same run.
//!
//! Each engine gets a fresh server of this binary (`serve --insecure-no-auth` on 127.0.0.1).
//! Creates go one at a time; each creates an `exit 0` job, and the next create is sent only
//! once that job's version has ended (polled through the list) and 20 ms more have passed, so
//! no run executes and the scheduler is asleep while a create is measured: the figure is the
//! create alone (request, validation, the store's transaction and commit, the index update).
//! Prints N, median, p99 and max of the measured creates (after 50 unmeasured warm-up ones).

use super::{Server, ms, pct, wait_ready};
use anyhow::bail;
use clap::Args;
use std::time::{Duration, Instant};
use trainyard_api::list::JobListResponse;

/// `bench create` arguments.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Measured creates per engine.
    #[arg(long, default_value_t = 1000)]
    creates: usize,
    /// Also measure on this PostgreSQL database (an empty one, or one that already holds jobs
    /// together with `--pg-data-dir`).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// The data directory of the PostgreSQL server: the one that filled `--database` (its
    /// access-key sealing key must match the database's sealed secrets, `docs/deploy.md`)
    /// [default: a fresh directory, for an empty database].
    #[arg(long, value_name = "DIR", requires = "database")]
    pg_data_dir: Option<std::path::PathBuf>,
    /// Project id to use.
    #[arg(long, default_value = "bench0123456789")]
    project: String,
}

/// One measured create: the POST's round trip.
async fn create(
    c: &reqwest::Client,
    url: &str,
    name: &str,
) -> anyhow::Result<(Duration, serde_json::Value)> {
    let body = serde_json::json!({"job_name": name,
        "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "exit 0"}});
    let body = serde_json::to_vec(&body)?;
    let t = Instant::now();
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    let took = t.elapsed();
    if !status.is_success() {
        bail!("create: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
    }
    Ok((took, serde_json::from_slice(&bytes)?))
}

/// Waits until the job named `name` shows an ended latest version (bounded: 60 s).
async fn wait_ended(c: &reqwest::Client, list_url: &str, name: &str) -> anyhow::Result<()> {
    let t0 = Instant::now();
    loop {
        let page: JobListResponse = serde_json::from_slice(
            &c.get(format!("{list_url}?search_content={name}&per_page=1"))
                .send()
                .await?
                .bytes()
                .await?,
        )?;
        if page.jobs.first().is_some_and(|j| j.status.is_terminal()) {
            return Ok(());
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("the version of {name} did not end within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `n` idle creates (after 50 warm-up ones) on a fresh server; returns the sorted times.
async fn measure(
    exe: &std::path::Path,
    dir: &std::path::Path,
    database: Option<&str>,
    project: &str,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    std::fs::create_dir_all(dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--data-dir".into(),
        dir.display().to_string(),
        "--insecure-no-auth".into(),
    ];
    if let Some(url) = database {
        args.extend(["--database".to_owned(), url.to_owned()]);
    }
    let mut server = Server::spawn(exe, &args, &dir.join("bench-server.log"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let list_url = format!("http://127.0.0.1:{port}/v1/{project}/training-jobs");
    wait_ready(&client, &list_url, Duration::from_secs(120)).await?;
    let tag = std::process::id();
    let mut times = Vec::with_capacity(n);
    for i in 0..n + 50 {
        let name = format!("idle-{tag}-{i}");
        let (took, _) = create(&client, &list_url, &name).await?;
        if i >= 50 {
            times.push(took);
        }
        wait_ended(&client, &list_url, &name).await?;
        // let the scheduler's last writes and the change-log tailer settle
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop()?;
    times.sort();
    Ok(times)
}

fn summary(engine: &str, d: &[Duration]) {
    println!(
        "create on an idle server, {engine}: N = {}, median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        d.len(),
        ms(pct(d, 0.5)),
        ms(pct(d, 0.99)),
        ms(d.last().copied().unwrap_or_default())
    );
}

/// Runs the benchmark (see module docs).
pub async fn run(a: CreateArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let root = std::env::temp_dir().join(format!("trainyard-bench-create-{}", std::process::id()));
    println!(
        "# trainyard create benchmark: POST /training-jobs one at a time on an idle server (each job ends before the next create)"
    );
    let sqlite = measure(&exe, &root.join("sqlite"), None, &a.project, a.creates).await;
    let pg = match &a.database {
        Some(url) => {
            let dir = a.pg_data_dir.clone().unwrap_or_else(|| root.join("pg"));
            Some(measure(&exe, &dir, Some(url), &a.project, a.creates).await)
        }
        None => None,
    };
    let _ = std::fs::remove_dir_all(&root);
    summary("SQLite", &sqlite?);
    if let Some(pg) = pg {
        summary("PostgreSQL", &pg?);
    }
    Ok(())
}
