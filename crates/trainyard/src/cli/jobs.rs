//! `trainyard jobs ...`: list, create, show, versions, stop, delete, describe, logs, wait.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use trainyard_client::api::jobs::Parameter;
use trainyard_client::{
    Estimator, FollowOptions, JobConfig, JobListParams, JobListResponse, JobRow, JobStatus,
    MAX_LOG_LINES, Order, Session, SortKey, VersionDetailResponse, VersionInfo,
};

use super::output::{self, Fit, clip, duration_ms, outln, plural, status, status_cell, time_ms};
use super::{ConnArgs, OutputArgs, OutputFormat, complete};

/// Flags of `trainyard jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    out: OutputArgs,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, one row per job showing its latest version.
    #[command(after_help = "Examples:\n  trainyard jobs list\n  \
trainyard jobs list --status RUNNING,8 --per-page 20 --sort-by create_time --order desc\n  \
trainyard jobs list --search resnet --all --output json\n  \
trainyard jobs list --status FAILED --watch 5")]
    List(ListArgs),
    /// Create a job and its first version, which starts at once.
    #[command(after_help = "Examples:\n  \
trainyard jobs create --name resnet50 --engine Python --spec 1 --app-url ./code --boot-file train.py --param lr=0.1\n  \
trainyard jobs create --name sweep-1 --command 'python3 train.py --epochs 3' --workers 2\n  \
trainyard jobs create --file job.json --name job-copy\n  \
trainyard jobs create --file job.yaml\n\n\
--file takes the body of POST /v1/{project_id}/training-jobs ({\"job_name\": ..., \"config\": {...}}) as JSON,\n\
or as YAML when the file ends in .yaml or .yml;\n\
flags override its fields. Relative local paths are made absolute.")]
    Create(Box<CreateArgs>),
    /// Show a version's details (the latest unless --version is given).
    #[command(
        after_help = "Examples:\n  trainyard jobs show 12\n  trainyard jobs show resnet50 --version V0002 --output json"
    )]
    Show(VersionRef),
    /// List a job's versions, newest first.
    #[command(after_help = "Example:\n  trainyard jobs versions resnet50")]
    Versions(JobRef),
    /// Stop a version (the latest unless --version is given).
    #[command(
        after_help = "Examples:\n  trainyard jobs stop 12\n  trainyard jobs stop resnet50 --version 31"
    )]
    Stop(VersionRef),
    /// Delete a job with all its versions, or one version with --version.
    #[command(
        after_help = "Examples:\n  trainyard jobs delete 12\n  trainyard jobs delete resnet50 --version V0001\n  trainyard jobs delete resnet50 --yes\n\n\
When what is deleted has a version that has not ended, the runs are stopped; on a terminal\n\
the command asks first (--yes skips the question)."
    )]
    Delete(DeleteArgs),
    /// Start a new version of a job from a previous one's config (the latest unless --version),
    /// with flags to change fields: the ModelArts "create version" flow.
    #[command(after_help = "Examples:\n  trainyard jobs rerun resnet50\n  \
trainyard jobs rerun resnet50 --param lr=0.05 --desc 'lower lr'\n  \
trainyard jobs rerun 12 --version V0001 --workers 2 --spec local.cpu.2u\n\n\
The new version inherits every config field of the base version; the flags replace fields\n\
(--param replaces the whole parameter list).")]
    Rerun(Box<RerunArgs>),
    /// Change a job's description.
    #[command(after_help = "Example:\n  trainyard jobs describe resnet50 'baseline, lr 0.1'")]
    Describe(DescribeArgs),
    /// Print a version's log (one worker); -f follows it until the version ends.
    #[command(
        after_help = "Examples:\n  trainyard jobs logs 12\n  trainyard jobs logs resnet50 --worker 1 --lines 1000\n  trainyard jobs logs resnet50 -f"
    )]
    Logs(LogsArgs),
    /// Wait until a version ends; exit 0 when it COMPLETED, non-zero otherwise.
    #[command(
        after_help = "Examples:\n  trainyard jobs wait 12 && echo done\n  trainyard jobs wait resnet50 --version V0002 --timeout 3600"
    )]
    Wait(WaitArgs),
}

/// A job: its id, or its name (looked up in `--workspace`).
#[derive(Debug, Args)]
struct JobRef {
    /// Job id, or job name.
    #[arg(value_name = "JOB", add = ArgValueCompleter::new(complete::job_names))]
    job: String,
    /// Workspace in which a job name is looked up [default: 0].
    #[arg(long, value_name = "ID")]
    workspace: Option<String>,
}

/// A job and one of its versions.
#[derive(Debug, Args)]
struct VersionRef {
    #[command(flatten)]
    job: JobRef,
    /// Version id or name (`V0002`) [default: the latest version].
    #[arg(long, short = 'v', value_name = "V")]
    version: Option<String>,
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Keep jobs whose latest version has one of these statuses: codes or names, comma-separated
    /// or repeated (`8`, `RUNNING`, `JOBSTAT_RUNNING`).
    #[arg(long, value_delimiter = ',', value_parser = parse_status, value_name = "STATUS",
          add = ArgValueCompleter::new(complete::statuses))]
    status: Vec<JobStatus>,
    /// Rows per page, 1-1000 [default: 10; 1000 with --all].
    #[arg(long, value_name = "N")]
    per_page: Option<u32>,
    /// Page, 1-65535 [default: 1].
    #[arg(long, value_name = "N")]
    page: Option<u32>,
    /// Sort key: job_name, job_desc, status, duration, create_time, version_count, engine_type [default: job_name].
    #[arg(long, value_parser = parse_sort, value_name = "KEY",
          add = ArgValueCompleter::new(complete::sort_keys))]
    sort_by: Option<SortKey>,
    /// Sort order: asc or desc [default: desc, as the ModelArts SDK].
    #[arg(long, value_parser = parse_order, value_name = "ORDER",
          add = ArgValueCompleter::new(complete::orders))]
    order: Option<Order>,
    /// Keep jobs whose name contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
    /// Workspace [default: 0].
    #[arg(long, value_name = "ID")]
    workspace: Option<String>,
    /// Every page (from --page on), not just one; JSON output is then an array of rows.
    #[arg(long)]
    all: bool,
    /// Repeat every SECS seconds until interrupted.
    #[arg(long, value_name = "SECS")]
    watch: Option<f64>,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// Job name: 1-64 letters, digits, `_` or `-`.
    #[arg(long)]
    name: Option<String>,
    /// Job description (0-256 characters).
    #[arg(long)]
    desc: Option<String>,
    /// Workspace [default: 0].
    #[arg(long, value_name = "ID")]
    workspace: Option<String>,
    #[command(flatten)]
    config: ConfigFlags,
    /// A create-job body to start from, JSON or YAML (.yaml/.yml); flags override its fields.
    #[arg(long, short = 'f', value_name = "FILE")]
    file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DeleteArgs {
    #[command(flatten)]
    target: VersionRef,
    /// Do not ask before deleting a version that has not ended.
    #[arg(long, short = 'y')]
    yes: bool,
}

#[derive(Debug, Args)]
struct RerunArgs {
    #[command(flatten)]
    base: VersionRef,
    /// The new version's description (0-256 characters).
    #[arg(long)]
    desc: Option<String>,
    /// The fields that change (a flag not given keeps the base version's value; `--param`
    /// replaces its whole list).
    #[command(flatten)]
    config: ConfigFlags,
}

/// The config fields a create or rerun sets from flags (`training-jobs.md` §1, §6); each given
/// flag overrides the field of the file (create) or the base version (rerun).
#[derive(Debug, Args)]
struct ConfigFlags {
    /// Engine: id, name, or NAME:VERSION (see `trainyard engines`).
    #[arg(long, add = ArgValueCompleter::new(complete::engines))]
    engine: Option<String>,
    /// Resource spec: id or code (see `trainyard specs`) [create default: the first available
    /// spec].
    #[arg(long, add = ArgValueCompleter::new(complete::specs))]
    spec: Option<String>,
    /// Number of workers [create default: 1].
    #[arg(long, value_name = "N")]
    workers: Option<i64>,
    /// Code directory (config.app_url).
    #[arg(long, value_name = "DIR")]
    app_url: Option<String>,
    /// Entry script, relative to --app-url (config.boot_file_url).
    #[arg(long, value_name = "FILE")]
    boot_file: Option<String>,
    /// Custom command run through `sh -c`, replacing engine and boot file (config.user_command).
    #[arg(long, value_name = "CMD")]
    command: Option<String>,
    /// Hyper-parameter passed as --LABEL=VALUE (repeatable; the list replaces the whole list).
    #[arg(long = "param", value_name = "LABEL=VALUE")]
    params: Vec<String>,
    /// Input data directory (config.data_url).
    #[arg(long, value_name = "DIR")]
    data_url: Option<String>,
    /// Output directory (config.train_url).
    #[arg(long, value_name = "DIR")]
    train_url: Option<String>,
    /// Directory that receives a copy of the logs (config.log_url).
    #[arg(long, value_name = "DIR")]
    log_url: Option<String>,
    /// Custom image (config.user_image_url; stored only by the local executor).
    #[arg(long, value_name = "URL")]
    image: Option<String>,
}

impl ConfigFlags {
    /// Sets in `config` every field given as a flag (engine and spec resolved through the
    /// server, `--param` parsed), then makes every local path of `config` absolute.
    /// Errors: an unknown engine or spec, a `--param` without `=`, a failed request.
    async fn apply(self, session: &Session, config: &mut JobConfig) -> anyhow::Result<()> {
        if let Some(e) = &self.engine {
            config.engine_id = Some(resolve_engine(session, e).await?);
        }
        if let Some(sp) = &self.spec {
            config.spec_id = Some(resolve_spec(session, Some(sp)).await?);
        }
        if !self.params.is_empty() {
            config.parameter = Some(
                self.params
                    .iter()
                    .map(|p| parse_param(p))
                    .collect::<anyhow::Result<_>>()?,
            );
        }
        let set = |slot: &mut Option<String>, v: Option<String>| {
            if v.is_some() {
                *slot = v;
            }
        };
        if self.workers.is_some() {
            config.worker_server_num = self.workers;
        }
        set(&mut config.app_url, self.app_url);
        set(&mut config.boot_file_url, self.boot_file);
        set(&mut config.user_command, self.command);
        set(&mut config.data_url, self.data_url);
        set(&mut config.train_url, self.train_url);
        set(&mut config.log_url, self.log_url);
        set(&mut config.user_image_url, self.image);
        for slot in [
            &mut config.app_url,
            &mut config.data_url,
            &mut config.train_url,
            &mut config.log_url,
        ] {
            if let Some(p) = slot.take() {
                *slot = Some(absolute(p));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Args)]
struct DescribeArgs {
    #[command(flatten)]
    job: JobRef,
    /// The new description (0-256 characters).
    #[arg(value_name = "DESC")]
    desc: String,
}

#[derive(Debug, Args)]
struct LogsArgs {
    #[command(flatten)]
    target: VersionRef,
    /// Worker index.
    #[arg(long, short = 'w', value_name = "I", default_value_t = 0)]
    worker: usize,
    /// How many of the newest lines to print (with -f, at most 500 before following).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 100)]
    lines: u32,
    /// Follow the log until the version ends.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Seconds between polls while following.
    #[arg(long, value_name = "SECS", default_value_t = 0.5, hide = true)]
    poll: f64,
}

#[derive(Debug, Args)]
struct WaitArgs {
    #[command(flatten)]
    target: VersionRef,
    /// Give up after SECS seconds (exit code 3) [default: wait forever].
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Seconds between two status reads.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    interval: f64,
}

fn parse_status(raw: &str) -> Result<JobStatus, String> {
    JobStatus::parse_loose(raw).ok_or_else(|| {
        format!(
            "unknown status {raw:?}: use a code 0-22 or a name such as RUNNING or JOBSTAT_FAILED"
        )
    })
}

fn parse_sort(raw: &str) -> Result<SortKey, String> {
    SortKey::parse(raw).map_err(|e| e.message)
}

fn parse_order(raw: &str) -> Result<Order, String> {
    Order::parse(raw).map_err(|e| e.message)
}

fn secs(s: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow!("{flag} must be a non-negative number of seconds"))
}

/// Runs `trainyard jobs ...`.
pub async fn run(conn: &ConnArgs, args: JobsArgs) -> anyhow::Result<()> {
    let session = conn.session()?;
    let fmt = args.out.output;
    match args.command {
        JobsCommand::List(a) => list(&session, fmt, &a).await,
        JobsCommand::Create(a) => create(&session, fmt, *a).await,
        JobsCommand::Show(a) => show(&session, fmt, &a).await,
        JobsCommand::Versions(a) => versions(&session, fmt, &a).await,
        JobsCommand::Stop(a) => stop(&session, fmt, &a).await,
        JobsCommand::Delete(a) => delete(&session, fmt, &a).await,
        JobsCommand::Rerun(a) => rerun(&session, fmt, *a).await,
        JobsCommand::Describe(a) => describe(&session, fmt, &a).await,
        JobsCommand::Logs(a) => logs(&session, &a).await,
        JobsCommand::Wait(a) => wait(&session, fmt, &a).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving JOB and --version

async fn resolve_job(session: &Session, r: &JobRef) -> anyhow::Result<i64> {
    if let Ok(id) = r.job.parse::<i64>() {
        return Ok(id);
    }
    let name = trainyard_client::api::text::nfc(&r.job);
    let mut params = JobListParams::new().search_content(name.clone());
    if let Some(w) = &r.workspace {
        params = params.workspace_id(w.clone());
    }
    let rows = Estimator::list_all(session, &params);
    let mut rows = std::pin::pin!(rows);
    while let Some(row) = rows.try_next().await? {
        if row.job_name == name {
            return Ok(row.job_id);
        }
    }
    bail!(
        "ModelArts.2775: no job named {:?} in workspace {}",
        r.job,
        r.workspace.as_deref().unwrap_or("0")
    )
}

async fn resolve_version(
    session: &Session,
    job_id: i64,
    version: Option<&str>,
) -> anyhow::Result<i64> {
    match version {
        None => {
            let v = Estimator::list_versions(session, job_id, 1, 1).await?;
            v.versions
                .first()
                .map(|v| v.version_id)
                .ok_or_else(|| anyhow!("job {job_id} has no version"))
        }
        Some(v) => {
            if let Ok(id) = v.parse::<i64>() {
                return Ok(id);
            }
            let all = Estimator::list_versions(session, job_id, 1000, 0).await?;
            all.versions
                .iter()
                .find(|x| x.version_name.eq_ignore_ascii_case(v))
                .map(|x| x.version_id)
                .ok_or_else(|| anyhow!("ModelArts.2775: job {job_id} has no version {v:?}"))
        }
    }
}

async fn resolve(session: &Session, r: &VersionRef) -> anyhow::Result<(i64, i64)> {
    let job = resolve_job(session, &r.job).await?;
    let version = resolve_version(session, job, r.version.as_deref()).await?;
    Ok((job, version))
}

// ---------------------------------------------------------------------------------------------
// list

fn list_params(a: &ListArgs) -> JobListParams {
    let mut p = JobListParams::new().statuses(a.status.iter().copied());
    if let Some(n) = a.per_page {
        p = p.per_page(n);
    }
    if let Some(n) = a.page {
        p = p.page(n);
    }
    if let Some(k) = a.sort_by {
        p = p.sort_by(k);
    }
    if let Some(o) = a.order {
        p = p.order(o);
    }
    if let Some(s) = &a.search {
        p = p.search_content(s.clone());
    }
    if let Some(w) = &a.workspace {
        p = p.workspace_id(w.clone());
    }
    p
}

fn jobs_table(rows: &[JobRow]) -> output::FitTable {
    // narrow screens: the description wraps, then columns are left out from the description on
    let mut t = output::table(&[
        ("JOB ID", Fit::KEEP),
        ("NAME", Fit::wrap(12).prefer(24)),
        ("STATUS", Fit::KEEP),
        ("VERSION ID", Fit::KEEP.drop(2)),
        ("VERSIONS", Fit::KEEP.drop(3)),
        ("CREATED", Fit::KEEP.drop(4)),
        ("DURATION", Fit::KEEP.drop(5)),
        ("DESCRIPTION", Fit::wrap(16).drop(1)),
    ]);
    for r in rows {
        t.add_row(vec![
            comfy_table::Cell::new(r.job_id),
            comfy_table::Cell::new(&r.job_name),
            status_cell(r.status),
            comfy_table::Cell::new(r.version_id),
            comfy_table::Cell::new(r.version_count),
            comfy_table::Cell::new(time_ms(Some(r.create_time))),
            comfy_table::Cell::new(duration_ms(r.duration)),
            comfy_table::Cell::new(clip(&r.job_desc, 40)),
        ]);
    }
    t
}

async fn list_once(session: &Session, fmt: OutputFormat, a: &ListArgs) -> anyhow::Result<()> {
    let params = list_params(a);
    if a.all {
        let rows: Vec<JobRow> = Estimator::list_all(session, &params).try_collect().await?;
        match fmt {
            OutputFormat::Json => output::print_json(&rows)?,
            OutputFormat::Table => {
                output::print_table(&jobs_table(&rows));
                outln!("{}", plural(rows.len() as u64, "job"));
            }
        }
        return Ok(());
    }
    let resp: JobListResponse = Estimator::get_job_list(session, &params).await?;
    match fmt {
        OutputFormat::Json => output::print_json(&resp)?,
        OutputFormat::Table => {
            output::print_table(&jobs_table(&resp.jobs));
            let per_page = a.per_page.unwrap_or(10);
            let page = a.page.unwrap_or(1);
            outln!(
                "{} of {} (page {page}, {per_page} per page); {} more may be created, {} may run at once",
                resp.jobs.len(),
                plural(resp.job_total_count, "job"),
                resp.job_count_limit,
                resp.quotas
            );
        }
    }
    Ok(())
}

async fn list(session: &Session, fmt: OutputFormat, a: &ListArgs) -> anyhow::Result<()> {
    let Some(every) = a.watch else {
        return list_once(session, fmt, a).await;
    };
    let every = secs(every, "--watch")?.max(Duration::from_millis(100));
    let mut first = true;
    loop {
        if !std::mem::replace(&mut first, false) && !output::stdout_is_tty() {
            // Not a terminal: successive answers separated by an empty line.
            outln!();
        }
        if fmt == OutputFormat::Table && output::stdout_is_tty() {
            output::write_raw(b"\x1b[2J\x1b[H");
            outln!(
                "every {}s: trainyard jobs list (local time {})\n",
                every.as_secs_f64(),
                output::offset_label()
            );
        }
        list_once(session, fmt, a).await?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// create

/// An absolute local path for a relative one (the local server resolves paths on its host).
fn absolute(raw: String) -> String {
    if raw.contains("://") || Path::new(&raw).is_absolute() {
        return raw;
    }
    match std::env::current_dir() {
        Ok(d) => d.join(&raw).to_string_lossy().into_owned(),
        Err(_) => raw,
    }
}

async fn resolve_engine(session: &Session, raw: &str) -> anyhow::Result<i64> {
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(id);
    }
    let engines = Estimator::engines(session).await?.engines;
    let (name, version) = match raw.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (raw, None),
    };
    let found: Vec<_> = engines
        .iter()
        .filter(|e| {
            e.engine_name.eq_ignore_ascii_case(name)
                && version.is_none_or(|v| e.engine_version == v)
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.engine_id),
        [] => bail!(
            "ModelArts.2780: no engine {raw:?}; engines: {}",
            engines
                .iter()
                .map(|e| format!("{} ({}:{})", e.engine_id, e.engine_name, e.engine_version))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        many => bail!(
            "engine {raw:?} is ambiguous; use an id or NAME:VERSION: {}",
            many.iter()
                .map(|e| format!("{} ({}:{})", e.engine_id, e.engine_name, e.engine_version))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

async fn resolve_spec(session: &Session, raw: Option<&str>) -> anyhow::Result<i64> {
    if let Some(id) = raw.and_then(|r| r.parse::<i64>().ok()) {
        return Ok(id);
    }
    let specs = Estimator::specs(session).await?.specs;
    let found = match raw {
        Some(code) => specs.iter().find(|s| s.spec_code == code),
        None => specs.iter().find(|s| !s.no_resource),
    };
    found.map(|s| s.spec_id).ok_or_else(|| match raw {
        Some(code) => anyhow!("ModelArts.2781: no spec {code:?} (see `trainyard specs`)"),
        None => anyhow!("ModelArts.2781: the server offers no available spec"),
    })
}

fn parse_param(raw: &str) -> anyhow::Result<Parameter> {
    let (label, value) = raw
        .split_once('=')
        .ok_or_else(|| anyhow!("--param must be LABEL=VALUE, got {raw:?}"))?;
    Ok(Parameter {
        label: label.to_owned(),
        value: value.to_owned(),
    })
}

async fn create(session: &Session, fmt: OutputFormat, a: CreateArgs) -> anyhow::Result<()> {
    let mut name = None;
    let mut desc = String::new();
    let mut workspace = None;
    let mut config = JobConfig::default();
    if let Some(path) = &a.file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        let body: Map<String, Value> = if yaml {
            serde_norway::from_str(&text)
                .with_context(|| format!("{} is not a YAML mapping", path.display()))?
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a JSON object", path.display()))?
        };
        let text_field = |k: &str| -> anyhow::Result<Option<String>> {
            match body.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => bail!("{}: {k} must be a string", path.display()),
            }
        };
        name = text_field("job_name")?;
        desc = text_field("job_desc")?.unwrap_or_default();
        workspace = text_field("workspace_id")?;
        match body.get("config") {
            Some(Value::Object(c)) => {
                config = JobConfig::from_json(c).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            }
            None => {}
            Some(_) => bail!("{}: config must be a JSON object", path.display()),
        }
    }
    name = a.name.or(name);
    if let Some(d) = a.desc {
        desc = d;
    }
    workspace = a.workspace.or(workspace);
    a.config.apply(session, &mut config).await?;
    if config.spec_id.is_none() {
        config.spec_id = Some(resolve_spec(session, None).await?);
    }
    config.worker_server_num.get_or_insert(1);
    let name = name.ok_or_else(|| anyhow!("a job name is required: --name NAME"))?;
    let resp = Estimator::create_job(session, &name, &desc, workspace.as_deref(), &config).await?;
    match fmt {
        OutputFormat::Json => output::print_json(&resp)?,
        OutputFormat::Table => outln!(
            "created job {} ({}) version {} ({}), status {}",
            resp.job_id,
            resp.job_name,
            resp.version_id,
            resp.version_name,
            status(resp.status)
        ),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// show, versions

fn version_rows(v: &VersionInfo) -> Vec<(&'static str, String)> {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let params = v
        .parameter
        .iter()
        .map(|p| format!("--{}={}", p.label, p.value))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        ("job", format!("{} ({})", v.job_id, v.job_name)),
        ("description", or_dash(&v.job_desc)),
        ("version", format!("{} ({})", v.version_id, v.version_name)),
        (
            "previous version",
            v.pre_version_id.map_or("-".into(), |p| p.to_string()),
        ),
        ("version description", or_dash(&v.version_desc)),
        ("status", status(v.status)),
        (
            "exit code",
            v.exit_code.map_or("-".into(), |c| c.to_string()),
        ),
        ("status reason", or_dash(&v.status_reason)),
        (
            "engine",
            match v.engine_id {
                Some(id) => format!("{id} ({} {})", v.engine_name, v.engine_version),
                None => "-".into(),
            },
        ),
        (
            "spec",
            format!(
                "{} ({}: {} cores, {} GiB, {} GPU)",
                v.spec_id, v.spec_code, v.core, v.cpu, v.gpu_num
            ),
        ),
        ("workers", v.worker_server_num.to_string()),
        ("app url", or_dash(&v.app_url)),
        ("boot file", or_dash(&v.boot_file_url)),
        ("command", or_dash(&v.user_command)),
        ("parameters", or_dash(&params)),
        ("data url", or_dash(&v.data_url)),
        ("train url", or_dash(&v.train_url)),
        ("log url", or_dash(&v.log_url)),
        ("image", or_dash(&v.user_image_url)),
        (
            "created",
            format!(
                "{} ({})",
                time_ms(Some(v.create_time)),
                output::offset_label()
            ),
        ),
        ("started", time_ms(v.start_time)),
        ("ended", time_ms(v.end_time)),
        ("duration", duration_ms(v.duration)),
    ]
}

async fn show(session: &Session, fmt: OutputFormat, r: &VersionRef) -> anyhow::Result<()> {
    let (job, version) = resolve(session, r).await?;
    let v = Estimator::get_job_version(session, job, version).await?;
    match fmt {
        OutputFormat::Json => output::print_json(&VersionDetailResponse {
            is_success: true,
            version: v,
        })?,
        OutputFormat::Table => output::print_table(&output::kv_table(&version_rows(&v))),
    }
    Ok(())
}

async fn versions(session: &Session, fmt: OutputFormat, r: &JobRef) -> anyhow::Result<()> {
    let job = resolve_job(session, r).await?;
    let resp = Estimator::list_versions(session, job, 1000, 0).await?;
    match fmt {
        OutputFormat::Json => output::print_json(&resp)?,
        OutputFormat::Table => {
            let mut t = output::table(&[
                ("VERSION ID", Fit::KEEP),
                ("NAME", Fit::KEEP),
                ("STATUS", Fit::KEEP),
                ("EXIT", Fit::KEEP.drop(2)),
                ("CREATED", Fit::KEEP.drop(3)),
                ("DURATION", Fit::KEEP.drop(4)),
                ("DESCRIPTION", Fit::wrap(16).drop(1)),
            ]);
            for v in &resp.versions {
                t.add_row(vec![
                    comfy_table::Cell::new(v.version_id),
                    comfy_table::Cell::new(&v.version_name),
                    status_cell(v.status),
                    comfy_table::Cell::new(v.exit_code.map_or("-".into(), |c| c.to_string())),
                    comfy_table::Cell::new(time_ms(Some(v.create_time))),
                    comfy_table::Cell::new(duration_ms(v.duration)),
                    comfy_table::Cell::new(clip(&v.version_desc, 40)),
                ]);
            }
            outln!(
                "job {} ({}): {}",
                resp.job_id,
                resp.job_name,
                plural(u64::try_from(resp.version_count).unwrap_or(0), "version")
            );
            output::print_table(&t);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// stop, delete, describe

fn done(fmt: OutputFormat, message: String) -> anyhow::Result<()> {
    match fmt {
        OutputFormat::Json => output::print_json(&json!({"is_success": true})),
        OutputFormat::Table => {
            outln!("{message}");
            Ok(())
        }
    }
}

async fn stop(session: &Session, fmt: OutputFormat, r: &VersionRef) -> anyhow::Result<()> {
    let (job, version) = resolve(session, r).await?;
    Estimator::stop_version(session, job, version).await?;
    let now = Estimator::get_job_version(session, job, version).await?;
    done(
        fmt,
        format!(
            "stopping job {job} version {version}: {}",
            status(now.status)
        ),
    )
}

async fn delete(session: &Session, fmt: OutputFormat, a: &DeleteArgs) -> anyhow::Result<()> {
    let r = &a.target;
    let job = resolve_job(session, &r.job).await?;
    let version = match &r.version {
        None => None,
        Some(v) => Some(resolve_version(session, job, Some(v)).await?),
    };
    if !a.yes && output::stdin_is_tty() {
        // what would be stopped: the versions deleted that have not ended
        let all = Estimator::list_versions(session, job, 1000, 0).await?;
        let live: Vec<&VersionInfo> = all
            .versions
            .iter()
            .filter(|v| version.is_none_or(|id| v.version_id == id) && !v.status.is_terminal())
            .collect();
        if !live.is_empty() {
            let what = match version {
                Some(v) => format!("version {v} of job {job} ({})", all.job_name),
                None => format!(
                    "job {job} ({}) and its {}",
                    all.job_name,
                    plural(all.versions.len() as u64, "version")
                ),
            };
            let running: Vec<String> = live
                .iter()
                .map(|v| format!("{} {}", v.version_name, status(v.status)))
                .collect();
            let question = format!(
                "delete {what}? {} not ended and will be stopped: {} [y/N] ",
                if live.len() == 1 {
                    "this version has"
                } else {
                    "these versions have"
                },
                running.join(", ")
            );
            if !output::confirm(&question) {
                return Err(anyhow!("not deleted"));
            }
        }
    }
    match version {
        None => {
            Estimator::delete_job(session, job).await?;
            done(fmt, format!("deleted job {job}"))
        }
        Some(version) => {
            Estimator::delete_version(session, job, version).await?;
            done(fmt, format!("deleted job {job} version {version}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// rerun

async fn rerun(session: &Session, fmt: OutputFormat, a: RerunArgs) -> anyhow::Result<()> {
    let (job, base) = resolve(session, &a.base).await?;
    let mut c = JobConfig::default();
    a.config.apply(session, &mut c).await?;
    let desc = a.desc.unwrap_or_default();
    let resp = Estimator::create_version(session, job, base, &desc, &c).await?;
    match fmt {
        OutputFormat::Json => output::print_json(&resp)?,
        OutputFormat::Table => outln!(
            "created job {} ({}) version {} ({}) from version {base}, status {}",
            resp.job_id,
            resp.job_name,
            resp.version_id,
            resp.version_name,
            status(resp.status)
        ),
    }
    Ok(())
}

async fn describe(session: &Session, fmt: OutputFormat, a: &DescribeArgs) -> anyhow::Result<()> {
    let job = resolve_job(session, &a.job).await?;
    Estimator::update_job_desc(session, job, &a.desc).await?;
    done(fmt, format!("job {job}: description updated"))
}

// ---------------------------------------------------------------------------------------------
// logs

async fn logs(session: &Session, a: &LogsArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let (job, version) = resolve(session, &a.target).await?;
    let files = Estimator::log_file_names(session, job, version).await?;
    let file = files.get(a.worker).ok_or_else(|| {
        anyhow!(
            "job {job} version {version} has {} workers (0-{}); no worker {}",
            files.len(),
            files.len().saturating_sub(1),
            a.worker
        )
    })?;
    let mut out = std::io::stdout().lock();
    if a.follow {
        let opts = FollowOptions {
            tail: a.lines.min(MAX_LOG_LINES),
            poll_interval: secs(a.poll, "--poll")?.max(Duration::from_millis(10)),
        };
        let mut stream = std::pin::pin!(Estimator::follow_log_with(
            session, job, version, file, opts
        ));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if out
                .write_all(chunk.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                // stdout closed (`| head`): stop following.
                return Ok(());
            }
        }
        return Ok(());
    }
    // The newest `lines` lines, read backwards page by page.
    let mut pages: Vec<String> = Vec::new();
    let mut got: u32 = 0;
    let mut base = String::new();
    let mut order = Order::Desc;
    while got < a.lines {
        let want = (a.lines - got).min(MAX_LOG_LINES);
        let page = Estimator::log_lines(session, job, version, file, &base, want, order).await?;
        let n = u32::try_from(page.lines).unwrap_or(0);
        if n == 0 {
            break;
        }
        got += n;
        base = page.start_line.clone();
        pages.push(page.content);
        order = Order::Asc;
        if n < want {
            break;
        }
    }
    for p in pages.iter().rev() {
        if out.write_all(p.as_bytes()).is_err() {
            return Ok(());
        }
    }
    let _ = out.flush();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// wait

async fn wait(session: &Session, fmt: OutputFormat, a: &WaitArgs) -> anyhow::Result<()> {
    let (job, version) = resolve(session, &a.target).await?;
    let timeout = a.timeout.map(|t| secs(t, "--timeout")).transpose()?;
    let interval = secs(a.interval, "--interval")?.max(Duration::from_millis(10));
    let bar = if output::stderr_is_tty() {
        let b = indicatif::ProgressBar::new_spinner();
        b.enable_steady_tick(Duration::from_millis(120));
        Some(b)
    } else {
        None
    };
    let start = Instant::now();
    let v = loop {
        let v = Estimator::get_job_version(session, job, version).await?;
        if v.status.is_terminal() {
            break v;
        }
        if let Some(b) = &bar {
            b.set_message(format!(
                "job {job} version {version}: {}{} for {}",
                status(v.status),
                if v.status_reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", v.status_reason)
                },
                duration_ms(i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX))
            ));
        }
        let waited = start.elapsed();
        let pause = match timeout {
            Some(t) if waited >= t => {
                if let Some(b) = &bar {
                    b.finish_and_clear();
                }
                let reason = if v.status_reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", v.status_reason)
                };
                return Err(super::Exit {
                    code: super::EXIT_TIMEOUT,
                    message: format!(
                        "timed out after {}: job {job} version {version} is still {}{reason}",
                        duration_ms(i64::try_from(waited.as_millis()).unwrap_or(i64::MAX)),
                        status(v.status)
                    ),
                }
                .into());
            }
            Some(t) => interval.min(t - waited),
            None => interval,
        };
        tokio::time::sleep(pause).await;
    };
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    match fmt {
        OutputFormat::Json => output::print_json(&VersionDetailResponse {
            is_success: true,
            version: v.clone(),
        })?,
        OutputFormat::Table => outln!(
            "job {job} version {version} ({}): {} after {}{}",
            v.version_name,
            status(v.status),
            duration_ms(v.duration),
            v.exit_code
                .map_or(String::new(), |c| format!(", exit code {c}"))
        ),
    }
    if v.status == JobStatus::Completed {
        Ok(())
    } else {
        let reason = if v.status_reason.is_empty() {
            String::new()
        } else {
            format!(": {}", v.status_reason)
        };
        Err(super::Exit {
            code: super::EXIT_NOT_COMPLETED,
            message: format!(
                "job {job} version {version} ended {}{reason}",
                status(v.status)
            ),
        }
        .into())
    }
}
