//! `trainyard bench console --jobs N`: the web console's job list page at N jobs (issue 13).
//!
//! Starts this binary's server WITH authentication on 127.0.0.1 (a fresh data directory, or
//! `--data-dir` to reuse one), imports N generated jobs through the history import (a token
//! from the local default account), signs in through the console's own form, then requests
//! `/console/p/{project}/jobs` at `per_page=50` for every sort key in both directions, status
//! filters (one and several statuses) and searches, and reports per query: p50/p99 of the
//! handler's own time (its `Server-Timing: total`), p50/p99 of the whole round trip over
//! loopback (session check, index, rendering, gzip), the same query of the JSON API's list
//! alternately (side by side, so both see the same machine), and the page's size uncompressed
//! and gzipped. Then the page weight (HTML + CSS + JS), and, with `--paint-script`, the first
//! paint of the page in the test browser (`tests/console/first_paint.py`, Debian's Chromium).

use super::{Server, import, ms, pct, rss_kib, wait_ready};
use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use trainyard_api::list::SortKey;

/// `trainyard bench console` arguments.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Jobs to generate and import (skipped when the data directory already holds jobs).
    #[arg(long, default_value_t = 1_000_000)]
    jobs: u64,
    /// Generator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Data directory [default: a fresh directory under the system temp dir, removed after].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Keep the data directory.
    #[arg(long)]
    keep: bool,
    /// Measured repetitions per query (after a warm-up).
    #[arg(long, default_value_t = 100)]
    reps: usize,
    /// A script that measures first paint: run as `python3 SCRIPT URL COOKIE-FILE`.
    #[arg(long, value_name = "FILE")]
    paint_script: Option<PathBuf>,
}

/// One measured page.
struct Row {
    section: &'static str,
    label: String,
    server: (Duration, Duration),
    round_trip: (Duration, Duration),
    api: (Duration, Duration),
    reps: usize,
    total: String,
    raw: usize,
    gzip: usize,
}

struct Ctx {
    client: reqwest::Client,
    url: String,
    cookie: String,
    reps: usize,
    /// The JSON API's list URL and a client with a token: the same query side by side.
    api: reqwest::Client,
    api_url: String,
}

fn server_timing(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = h.get("server-timing")?.to_str().ok()?;
    let total = v
        .split(',')
        .find_map(|p| p.trim().strip_prefix("total;dur="))?;
    total
        .parse::<f64>()
        .ok()
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
}

/// The `<strong>N</strong> jobs match` of the page.
fn total_of(html: &str) -> String {
    html.find("<span id=\"total\"><strong>")
        .map(|i| {
            let rest = &html[i + "<span id=\"total\"><strong>".len()..];
            rest[..rest.find('<').unwrap_or(0)].to_owned()
        })
        .unwrap_or_default()
}

impl Ctx {
    /// One request; `gzip`: as a browser asks. Returns (round trip, server time, status, body).
    async fn get(&self, query: &str, gzip: bool) -> anyhow::Result<(Duration, Duration, Vec<u8>)> {
        let mut req = self
            .client
            .get(format!("{}?{query}", self.url))
            .header("cookie", &self.cookie);
        if gzip {
            req = req.header("accept-encoding", "gzip");
        }
        let t0 = Instant::now();
        let r = req.send().await?;
        let status = r.status();
        let st = server_timing(r.headers()).unwrap_or_default();
        let body = r.bytes().await?;
        let dt = t0.elapsed();
        if !status.is_success() {
            bail!("{query}: HTTP {status}: {}", String::from_utf8_lossy(&body));
        }
        Ok((dt, st, body.to_vec()))
    }

    async fn measure(
        &self,
        section: &'static str,
        label: String,
        query: String,
    ) -> anyhow::Result<Row> {
        let (_, _, raw) = self.get(&query, false).await?;
        for _ in 0..5 {
            self.get(&query, true).await?;
        }
        let mut rt = Vec::with_capacity(self.reps);
        let mut st = Vec::with_capacity(self.reps);
        let mut api = Vec::with_capacity(self.reps);
        let mut gz = 0;
        // the page and the API's list, alternately, so both see the same machine
        for _ in 0..self.reps {
            let (a, b, body) = self.get(&query, true).await?;
            rt.push(a);
            st.push(b);
            gz = body.len();
            let t0 = Instant::now();
            let r = self
                .api
                .get(format!("{}?{query}", self.api_url))
                .send()
                .await?;
            let ok = r.status().is_success();
            let _ = r.bytes().await?;
            if !ok {
                bail!("API list {query}: not a success");
            }
            api.push(t0.elapsed());
        }
        rt.sort_unstable();
        st.sort_unstable();
        api.sort_unstable();
        let html = String::from_utf8_lossy(&raw);
        Ok(Row {
            section,
            label,
            server: (pct(&st, 0.5), pct(&st, 0.99)),
            round_trip: (pct(&rt, 0.5), pct(&rt, 0.99)),
            api: (pct(&api, 0.5), pct(&api, 0.99)),
            reps: self.reps,
            total: total_of(&html),
            raw: raw.len(),
            gzip: gz,
        })
    }
}

/// The queries: every sort key both ways; status filters; searches; both together; a page in
/// the middle of `n` jobs.
fn queries(n: u64) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    for key in SortKey::ALL {
        for order in ["asc", "desc"] {
            out.push((
                "all jobs",
                format!("{key} {order}"),
                format!("sortBy={key}&order={order}&per_page=50"),
            ));
        }
    }
    for (label, status) in [
        ("RUNNING", "status=8"),
        ("FAILED", "status=11"),
        ("3 statuses", "status=10&status=11&status=12"),
        (
            "failed to start (4)",
            "status=3&status=5&status=6&status=13",
        ),
    ] {
        for key in SortKey::ALL {
            out.push((
                "status filter",
                format!("{label}, {key} desc"),
                format!("{status}&sortBy={key}&order=desc&per_page=50"),
            ));
        }
    }
    for term in super::SEARCH_TERMS.iter().chain(super::SHORT_TERMS) {
        let enc: String = form_urlencoded::byte_serialize(term.as_bytes()).collect();
        for (key, order) in [
            ("create_time", "desc"),
            ("job_name", "asc"),
            ("duration", "desc"),
        ] {
            out.push((
                "search",
                format!("{term:?} {key} {order}"),
                format!("search_content={enc}&sortBy={key}&order={order}&per_page=50"),
            ));
        }
    }
    for (label, q) in [
        ("FAILED + \"roberta\"", "status=11&search_content=roberta"),
        (
            "3 statuses + \"a\"",
            "status=10&status=11&status=12&search_content=a",
        ),
    ] {
        out.push((
            "status + search",
            label.to_owned(),
            format!("{q}&sortBy=duration&order=desc&per_page=50"),
        ));
    }
    let middle = (n / 100).clamp(1, 65535);
    out.push((
        "deep page",
        format!("create_time desc page {middle}"),
        format!("sortBy=create_time&order=desc&per_page=50&page={middle}"),
    ));
    out
}

fn field(v: &serde_json::Value, k: &str) -> anyhow::Result<String> {
    v[k].as_str()
        .map(str::to_owned)
        .with_context(|| format!("credentials.json has no {k}"))
}

/// The `csrf` field of a page.
fn csrf_of(html: &str) -> anyhow::Result<String> {
    let at = html
        .find("name=\"csrf\" value=\"")
        .context("no csrf field on the sign-in page")?;
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    Ok(rest[..rest.find('"').unwrap_or(0)].to_owned())
}

/// `name=value` of a `Set-Cookie` named `name`.
fn cookie_of(h: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    h.get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap_or("").to_owned())
}

/// Runs the benchmark (module docs).
pub async fn run(a: ConsoleArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let (dir, fresh) = match &a.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("trainyard-bench-console-{}", std::process::id())),
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
        "--max-jobs".into(),
        (a.jobs * 2 + 100_000).to_string(),
    ];
    let log = dir.join("bench-server.log");
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut server = Server::spawn(&exe, &args, &log)?;
    wait_ready(&plain, &format!("{base}/v3"), Duration::from_secs(300)).await?;
    let creds_path = dir.join("credentials.json");
    let creds: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&creds_path).with_context(|| format!("reading {}", creds_path.display()))?,
    )?;
    let (user, password, project) = (
        field(&creds, "username")?,
        field(&creds, "password")?,
        field(&creds, "project_id")?,
    );
    println!("# trainyard console benchmark, N = {}", a.jobs);
    println!(
        "server pid {}, data dir {}, authentication on",
        server.pid(),
        dir.display()
    );

    // a token for the import, through the Keystone password login
    let login = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"name": field(&creds, "domain")?}}}}, "scope": {"project": {"id": project}}}});
    let r = plain
        .post(format!("{base}/v3/auth/tokens"))
        .json(&login)
        .send()
        .await?;
    let token = r
        .headers()
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .context("no token")?
        .to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-auth-token", token.parse()?);
    let api = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(600))
        .build()?;
    let existing: serde_json::Value = api
        .get(format!("{base}/v1/{project}/training-jobs?per_page=1"))
        .send()
        .await?
        .json()
        .await?;
    if existing["job_total_count"].as_u64().unwrap_or(0) == 0 {
        let url = format!("{base}/trainyard/v1/{project}/job-history");
        let (_, upload) = import(&api, &url, a.jobs, a.seed, 100_000, 2).await?;
        println!("import: {} jobs in {:.1} s", a.jobs, upload.as_secs_f64());
    } else {
        println!(
            "data dir already holds {} jobs: import skipped",
            existing["job_total_count"]
        );
    }

    // sign in through the console's form
    let page = plain.get(format!("{base}/console/login")).send().await?;
    let anon = cookie_of(page.headers(), "trainyard_csrf").context("no pre-session cookie")?;
    let csrf = csrf_of(&page.text().await?)?;
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("user", &user)
        .append_pair("password", &password)
        .finish();
    let r = plain
        .post(format!("{base}/console/login"))
        .header("cookie", &anon)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await?;
    let session = cookie_of(r.headers(), "trainyard_session").context("sign-in failed")?;
    let ctx = Ctx {
        client: plain.clone(),
        url: format!("{base}/console/p/{project}/jobs"),
        cookie: session.clone(),
        reps: a.reps,
        api: api.clone(),
        api_url: format!("{base}/v1/{project}/training-jobs"),
    };
    let mut rows = Vec::new();
    for (section, label, q) in queries(a.jobs) {
        rows.push(ctx.measure(section, label, q).await?);
    }
    println!(
        "\n| section | query | reps | matches | handler p50 ms | handler p99 ms | round trip p50 ms | round trip p99 ms | API list p50 ms | API list p99 ms | HTML bytes | gzip bytes | p99 ≤ 20 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut worst = (Duration::ZERO, Duration::ZERO);
    for r in &rows {
        worst.0 = worst.0.max(r.server.1);
        worst.1 = worst.1.max(r.round_trip.1);
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            r.section,
            r.label,
            r.reps,
            r.total,
            ms(r.server.0),
            ms(r.server.1),
            ms(r.round_trip.0),
            ms(r.round_trip.1),
            ms(r.api.0),
            ms(r.api.1),
            r.raw,
            r.gzip,
            if r.round_trip.1 <= Duration::from_millis(20) {
                "yes"
            } else {
                "NO"
            }
        );
    }
    let max_html = rows.iter().map(|r| r.raw).max().unwrap_or(0);
    let max_gz = rows.iter().map(|r| r.gzip).max().unwrap_or(0);
    println!(
        "\nworst p99: handler {:.2} ms, round trip {:.2} ms ({} queries x {} reps, per_page 50)",
        ms(worst.0),
        ms(worst.1),
        rows.len(),
        a.reps
    );
    // page weight: the largest HTML plus every asset the page loads
    let html = plain
        .get(format!("{}?per_page=50", ctx.url))
        .header("cookie", &session)
        .send()
        .await?
        .text()
        .await?;
    let mut assets = (0usize, 0usize);
    for href in html
        .split("\"/console/assets/")
        .skip(1)
        .filter_map(|s| s.split('"').next())
    {
        let url = format!("{base}/console/assets/{href}");
        let raw = plain.get(&url).send().await?.bytes().await?.len();
        let gz = plain
            .get(&url)
            .header("accept-encoding", "gzip")
            .send()
            .await?
            .bytes()
            .await?
            .len();
        println!("asset {href}: {raw} bytes, {gz} gzip");
        assets.0 += raw;
        assets.1 += gz;
    }
    println!(
        "page weight (largest list page + CSS + JS): {} bytes uncompressed ({} HTML + {} assets), {} bytes gzip; target <= 150 KB uncompressed: {}",
        max_html + assets.0,
        max_html,
        assets.0,
        max_gz + assets.1,
        if max_html + assets.0 <= 150 * 1024 {
            "yes"
        } else {
            "NO"
        }
    );
    let (rss, hwm) = rss_kib(server.pid());
    println!(
        "server RSS {:.0} MiB (peak {:.0} MiB)",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    if let Some(script) = &a.paint_script {
        let cookie_file = dir.join("bench-console-cookie");
        std::fs::write(&cookie_file, &session)?;
        let status = std::process::Command::new("python3")
            .arg(script)
            .arg(format!("{}?per_page=50", ctx.url))
            .arg(&cookie_file)
            .status()
            .context("running the first-paint script")?;
        let _ = std::fs::remove_file(&cookie_file);
        if !status.success() {
            bail!("the first-paint script failed");
        }
    }
    server.stop()?;
    if fresh && !a.keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
