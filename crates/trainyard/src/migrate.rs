//! `trainyard migrate --from <data dir> --to postgres://…`: copies a one-machine store into
//! an empty PostgreSQL database (jobs, versions, users, keys, tokens, configs, id counters),
//! then checks the copy: job counts per project against the source, and a differential list
//! check on the target (its list index, built from the copied rows, against its plain SQL
//! evaluation `list_jobs_sql`, and against the source's `list_jobs_sql`) over every scope.

use anyhow::{Context, bail};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use trainyard_api::list::{JobListQuery, Order, SortKey, StatusSet};
use trainyard_api::params::WorkspaceId;
use trainyard_api::status::JobStatus;
use trainyard_store::{Location, Store};

/// `trainyard migrate ...`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The data directory of the SQLite store to copy.
    #[arg(long, value_name = "DIR")]
    from: PathBuf,
    /// The target: an empty PostgreSQL database (postgres:// URL).
    #[arg(long, value_name = "URL")]
    to: String,
}

fn queries(ws: &str) -> anyhow::Result<Vec<JobListQuery>> {
    let workspace_id = WorkspaceId::parse(ws).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let mut out = Vec::new();
    for key in SortKey::ALL {
        for order in [Order::Asc, Order::Desc] {
            for status in [
                StatusSet::all(),
                [JobStatus::Completed, JobStatus::Failed, JobStatus::Running]
                    .into_iter()
                    .collect(),
            ] {
                for page in [1u32, 3] {
                    out.push(JobListQuery {
                        status,
                        per_page: 50,
                        page,
                        sort_by: key,
                        order,
                        workspace_id: workspace_id.clone(),
                        ..JobListQuery::default()
                    });
                }
            }
        }
    }
    for search in ["a", "1", "job"] {
        out.push(JobListQuery {
            search_content: search.into(),
            per_page: 100,
            workspace_id: workspace_id.clone(),
            ..JobListQuery::default()
        });
    }
    Ok(out)
}

/// Runs `trainyard migrate`.
pub fn run(a: MigrateArgs) -> anyhow::Result<()> {
    let db = a.from.join("trainyard.db");
    if !db.is_file() {
        bail!(
            "{} holds no trainyard.db: not a data directory",
            a.from.display()
        );
    }
    let target = Location::choose(Some(&a.to), &a.from).map_err(anyhow::Error::msg)?;
    if !matches!(target, Location::Postgres(_)) {
        bail!("--to must be a postgres:// URL");
    }
    let src = Store::open(&Location::Sqlite(db)).context("opening the source store")?;
    let dst = Store::open(&target).context("opening the target database")?;
    let started = Instant::now();
    let report = src
        .copy_into(&dst, |n| eprint!("\rcopied {n} jobs"))
        .context("copying")?;
    eprintln!();
    println!(
        "copied {} jobs, {} versions, {} projects, {} users, {} access keys, {} tokens, {} configs in {:.1} s",
        report.jobs,
        report.versions,
        report.projects,
        report.users,
        report.access_keys,
        report.tokens,
        report.configs,
        started.elapsed().as_secs_f64()
    );
    // the check: the index built from the target against SQL on the target and the source
    src.load_index().context("loading the source index")?;
    dst.load_index().context("loading the target index")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let scopes = src.index().read().scopes();
    if scopes != dst.index().read().scopes() {
        bail!("the target's (project, workspace) scopes differ from the source's");
    }
    let (mut checked, mut mismatches) = (0usize, 0usize);
    for (project, ws) in &scopes {
        let (a, b) = (
            src.project_job_count(project)?,
            dst.project_job_count(project)?,
        );
        if a != b {
            bail!("project {project}: {a} jobs in the source, {b} in the target");
        }
        for q in queries(ws)? {
            let page = dst.index().read().query(project, &q, now);
            let target_sql = dst.list_jobs_sql(project, &q, now)?;
            let source_sql = src.list_jobs_sql(project, &q, now)?;
            checked += 1;
            if (page.total, &page.rows) != (target_sql.0, &target_sql.1) || target_sql != source_sql
            {
                mismatches += 1;
                if mismatches <= 3 {
                    eprintln!("MISMATCH project {project} workspace {ws} query {q:?}");
                }
            }
        }
    }
    println!(
        "differential check: {checked} list queries over {} scopes (target index vs target list_jobs_sql vs source list_jobs_sql): {mismatches} mismatches",
        scopes.len()
    );
    if mismatches > 0 {
        bail!("{mismatches} list queries differ between the copy and the source");
    }
    println!(
        "done: serve with --database <the target URL> and auth_key_file = {} (the secrets were copied sealed)",
        a.from.join("auth.key").display()
    );
    Ok(())
}
