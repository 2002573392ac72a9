//! `trainyard bench replicas --database URL`: several replicas on one PostgreSQL database
//! (issue 12 §3, §4). Starts replicas A and B of this binary (own data directories, one shared
//! sealing key, `--insecure-no-auth` on 127.0.0.1), then measures:
//! - **create**: `POST /training-jobs` on A, one at a time (`exit 0` jobs), N times;
//! - **cross-replica visibility**: a create acknowledged by A, then at once a list on B
//!   searching for it; the time from A's acknowledgement to B's answer that shows it (the
//!   list guarantee: B's first answer must show it; misses are counted and retried);
//! - **failover**: the scheduler leader (read from the lease) is SIGKILLed; the time until
//!   another replica holds the lease, K times (the killed replica is started again between).
//!
//! Prints N, median and p99 (max for failover).

use super::{Server, ms, pct, wait_ready};
use clap::Args;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use trainyard_api::list::JobListResponse;
use trainyard_store::{Location, Store};

/// `bench replicas` arguments.
#[derive(Debug, Args)]
pub struct ReplicasArgs {
    /// The PostgreSQL database the replicas share (use an empty one).
    #[arg(long, value_name = "URL")]
    database: String,
    /// Creates measured on A.
    #[arg(long, default_value_t = 1000)]
    creates: usize,
    /// Visibility trials (create on A, list on B).
    #[arg(long, default_value_t = 1000)]
    trials: usize,
    /// Leader SIGKILLs measured.
    #[arg(long, default_value_t = 3)]
    failovers: usize,
    /// Project id to use.
    #[arg(long, default_value = "bench0123456789")]
    project: String,
}

struct Replica {
    server: Server,
    base: String,
    listen: String,
}

fn start(
    exe: &std::path::Path,
    database: &str,
    config: &std::path::Path,
    dir: &std::path::Path,
) -> anyhow::Result<Replica> {
    std::fs::create_dir_all(dir)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let args: Vec<String> = vec![
        "serve".into(),
        "--listen".into(),
        listen.clone(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--database".into(),
        database.into(),
        "--config".into(),
        config.display().to_string(),
        "--insecure-no-auth".into(),
        "--max-jobs".into(),
        "10000000".into(),
    ];
    let server = Server::spawn(exe, &args, &dir.join("bench-server.log"))?;
    Ok(Replica {
        server,
        base: format!("http://{listen}"),
        listen,
    })
}

fn summary(what: &str, mut d: Vec<Duration>) {
    d.sort();
    println!(
        "{what}: N = {}, median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        d.len(),
        ms(pct(&d, 0.5)),
        ms(pct(&d, 0.99)),
        ms(d.last().copied().unwrap_or_default())
    );
}

async fn create(c: &reqwest::Client, base: &str, project: &str, name: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({"job_name": name,
        "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "exit 0"}});
    let r = c
        .post(format!("{base}/v1/{project}/training-jobs"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "create: {}", r.status());
    let _ = r.bytes().await?;
    Ok(())
}

/// Runs the benchmark (see module docs).
pub async fn run(a: ReplicasArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let root =
        std::env::temp_dir().join(format!("trainyard-bench-replicas-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let config = root.join("replica.toml");
    std::fs::write(
        &config,
        format!(
            "auth_key_file = {:?}\n",
            root.join("auth.key").display().to_string()
        ),
    )?;
    let dirs: Vec<PathBuf> = ["a", "b"].iter().map(|n| root.join(n)).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let p = &a.project;
    let mut replicas = Vec::new();
    for d in &dirs {
        // one after the other: the first creates the shared key file
        let r = start(&exe, &a.database, &config, d)?;
        wait_ready(
            &client,
            &format!("{}/v1/{p}/training-jobs", r.base),
            Duration::from_secs(120),
        )
        .await?;
        replicas.push(r);
    }
    println!("# trainyard replicas benchmark: 2 replicas on one PostgreSQL database");
    let tag = std::process::id();
    for i in 0..50 {
        create(&client, &replicas[0].base, p, &format!("warm-{tag}-{i}")).await?;
    }

    let mut creates = Vec::with_capacity(a.creates);
    for i in 0..a.creates {
        let t = Instant::now();
        create(&client, &replicas[0].base, p, &format!("c-{tag}-{i}")).await?;
        creates.push(t.elapsed());
    }
    summary("create on A (POST, one at a time)", creates);

    let mut visible = Vec::with_capacity(a.trials);
    let mut misses = 0usize;
    for i in 0..a.trials {
        let name = format!("v-{tag}-{i:06}");
        create(&client, &replicas[0].base, p, &name).await?;
        let acked = Instant::now();
        let mut first = true;
        loop {
            let r: JobListResponse = serde_json::from_slice(
                &client
                    .get(format!("{}/v1/{p}/training-jobs", replicas[1].base))
                    .query(&[("search_content", name.as_str()), ("per_page", "1")])
                    .send()
                    .await?
                    .bytes()
                    .await?,
            )?;
            if r.job_total_count == 1 {
                break;
            }
            if first {
                misses += 1;
                first = false;
            }
            anyhow::ensure!(
                acked.elapsed() < Duration::from_secs(30),
                "{name} never visible on B"
            );
        }
        visible.push(acked.elapsed());
    }
    summary(
        "visibility on B of a create acknowledged by A (ack → B's list answer showing it)",
        visible,
    );
    println!(
        "list guarantee: {} of {} lists on B sent right after A's acknowledgement showed the write ({misses} misses)",
        a.trials - misses,
        a.trials
    );

    let url = a.database.clone();
    let store =
        tokio::task::spawn_blocking(move || Store::open(&Location::Postgres(url))).await??;
    let store = std::sync::Arc::new(store);
    let mut failovers = Vec::new();
    for round in 0..a.failovers {
        let s = store.clone();
        let before = tokio::task::spawn_blocking(move || s.leader()).await??;
        let Some(k) = replicas
            .iter()
            .position(|r| before.holder.contains(&r.listen))
        else {
            anyhow::bail!("the leader {before:?} is none of the replicas");
        };
        let t = Instant::now();
        let _ = replicas[k].server.child.kill();
        let _ = replicas[k].server.child.wait();
        loop {
            let s = store.clone();
            let l = tokio::task::spawn_blocking(move || s.leader()).await??;
            if l.epoch > before.epoch && l.expires_in_ms > 0 {
                break;
            }
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(60),
                "no takeover within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        failovers.push(t.elapsed());
        println!("failover {}: {:.0} ms", round + 1, ms(t.elapsed()));
        replicas[k] = start(&exe, &a.database, &config, &dirs[k])?;
        wait_ready(
            &client,
            &format!("{}/v1/{p}/training-jobs", replicas[k].base),
            Duration::from_secs(120),
        )
        .await?;
    }
    if !failovers.is_empty() {
        summary(
            "leader failover after SIGKILL (kill → another replica holds the lease)",
            failovers,
        );
    }
    for r in &mut replicas {
        r.server.stop()?;
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
