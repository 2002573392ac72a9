//! `trainyard specs`, `trainyard engines`, `trainyard configs list`.

use clap::{Args, Subcommand};
use comfy_table::Cell;
use serde_json::Value;
use trainyard_client::{ConfigListParams, Estimator, Order};

use super::output::{self, Fit, clip, outln, time_ms};
use super::{ConnArgs, OutputArgs, OutputFormat};

/// Flags of `trainyard specs` and `trainyard engines`.
#[derive(Debug, Args)]
pub struct MetaArgs {
    #[command(flatten)]
    out: OutputArgs,
}

/// Runs `trainyard specs`.
pub async fn specs(conn: &ConnArgs, args: &MetaArgs) -> anyhow::Result<()> {
    let session = conn.session()?;
    let resp = Estimator::specs(&session).await?;
    match args.out.output {
        OutputFormat::Json => output::print_json(&resp)?,
        OutputFormat::Table => {
            let mut t = output::table(&[
                ("SPEC ID", Fit::KEEP),
                ("CODE", Fit::KEEP),
                ("CORES", Fit::KEEP.drop(5)),
                ("MEMORY GiB", Fit::KEEP.drop(4)),
                ("GPUS", Fit::KEEP.drop(3)),
                ("GPU TYPE", Fit::wrap(8).drop(1)),
                ("MAX WORKERS", Fit::KEEP.drop(2)),
                ("AVAILABLE", Fit::KEEP),
            ]);
            for s in &resp.specs {
                t.add_row(vec![
                    Cell::new(s.spec_id),
                    Cell::new(&s.spec_code),
                    Cell::new(&s.core),
                    Cell::new(&s.cpu),
                    Cell::new(s.gpu_num),
                    Cell::new(if s.gpu_type.is_empty() {
                        "-"
                    } else {
                        &s.gpu_type
                    }),
                    Cell::new(s.max_num),
                    Cell::new(if s.no_resource { "no" } else { "yes" }),
                ]);
            }
            output::print_table(&t);
        }
    }
    Ok(())
}

/// Runs `trainyard engines`.
pub async fn engines(conn: &ConnArgs, args: &MetaArgs) -> anyhow::Result<()> {
    let session = conn.session()?;
    let resp = Estimator::engines(&session).await?;
    match args.out.output {
        OutputFormat::Json => output::print_json(&resp)?,
        OutputFormat::Table => {
            let mut t = output::table(&[
                ("ENGINE ID", Fit::KEEP),
                ("TYPE", Fit::KEEP.drop(1)),
                ("NAME", Fit::wrap(12)),
                ("VERSION", Fit::wrap(8)),
            ]);
            for e in &resp.engines {
                t.add_row(vec![
                    Cell::new(e.engine_id),
                    Cell::new(e.engine_type),
                    Cell::new(&e.engine_name),
                    Cell::new(&e.engine_version),
                ]);
            }
            output::print_table(&t);
        }
    }
    Ok(())
}

/// Flags of `trainyard configs`.
#[derive(Debug, Args)]
pub struct ConfigsArgs {
    #[command(flatten)]
    out: OutputArgs,
    #[command(subcommand)]
    command: ConfigsCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigsCommand {
    /// List the named training-job configs.
    #[command(
        after_help = "Examples:\n  trainyard configs list\n  trainyard configs list --search gpu --output json"
    )]
    List(ConfigListArgs),
}

#[derive(Debug, Args)]
struct ConfigListArgs {
    /// Rows per page, 1-1000.
    #[arg(long, value_name = "N")]
    per_page: Option<u32>,
    /// Page, 1-65535.
    #[arg(long, value_name = "N")]
    page: Option<u32>,
    /// Sort order: asc or desc [default: desc].
    #[arg(long, value_parser = |s: &str| Order::parse(s).map_err(|e| e.message), value_name = "ORDER",
          add = clap_complete::engine::ArgValueCompleter::new(super::complete::orders))]
    order: Option<Order>,
    /// Keep configs whose name contains this text.
    #[arg(long, value_name = "TEXT")]
    search: Option<String>,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Runs `trainyard configs ...`.
pub async fn configs(conn: &ConnArgs, args: ConfigsArgs) -> anyhow::Result<()> {
    let session = conn.session()?;
    match args.command {
        ConfigsCommand::List(a) => {
            let mut p = ConfigListParams::new();
            if let Some(n) = a.per_page {
                p = p.per_page(n);
            }
            if let Some(n) = a.page {
                p = p.page(n);
            }
            if let Some(o) = a.order {
                p = p.order(o);
            }
            if let Some(s) = a.search {
                p = p.search_content(s);
            }
            let resp = Estimator::list_configs(&session, &p).await?;
            match args.out.output {
                OutputFormat::Json => output::print_json(&resp)?,
                OutputFormat::Table => {
                    let mut t = output::table(&[
                        ("NAME", Fit::wrap(12)),
                        ("DESCRIPTION", Fit::wrap(16).drop(1)),
                        ("SPEC", Fit::KEEP.drop(2)),
                        ("WORKERS", Fit::KEEP.drop(3)),
                        ("ENGINE", Fit::KEEP.drop(4)),
                        ("CREATED", Fit::KEEP.drop(5)),
                    ]);
                    let empty = Vec::new();
                    let rows = resp
                        .get("configs")
                        .and_then(Value::as_array)
                        .unwrap_or(&empty);
                    for c in rows {
                        t.add_row(vec![
                            Cell::new(text(c, "config_name")),
                            Cell::new(clip(&text(c, "config_desc"), 40)),
                            Cell::new(text(c, "spec_id")),
                            Cell::new(text(c, "worker_server_num")),
                            Cell::new(text(c, "engine_id")),
                            Cell::new(time_ms(c.get("create_time").and_then(Value::as_i64))),
                        ]);
                    }
                    output::print_table(&t);
                    outln!(
                        "{} of {} configs",
                        rows.len(),
                        resp.get("config_total_count")
                            .and_then(Value::as_u64)
                            .unwrap_or(rows.len() as u64)
                    );
                }
            }
            Ok(())
        }
    }
}
