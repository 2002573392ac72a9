//! `trainyard import FILE`: job history from NDJSON or CSV (`import.md`), sent in batches of at
//! most 100,000 records and 64 MiB, with a progress bar on stderr when it is a terminal.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use trainyard_client::api::history::{MAX_BODY_BYTES, MAX_RECORDS};
use trainyard_client::{Estimator, Session};

use super::output::{self, outln};
use super::{ConnArgs, OutputArgs, OutputFormat};

/// Flags of `trainyard import`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  trainyard import history.ndjson\n  trainyard import runs.csv\n  \
trainyard import --trace philly cluster_job_log\n\n\
NDJSON: one JSON object per line with the fields of POST /trainyard/v1/{project_id}/job-history\n\
(job_name, job_desc, workspace_id, status, create_time, start_time, end_time, engine_type,\n\
worker_server_num). CSV: a header line with the same column names; empty cells are absent.\n\
Each batch is imported all or nothing; batches before a refused one stay imported."
)]
pub struct ImportArgs {
    #[command(flatten)]
    out: OutputArgs,
    /// The file to import.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// File format [default: csv for a .csv file, ndjson otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Convert a public cluster trace instead of reading history records.
    #[arg(long, value_enum, value_name = "KIND", conflicts_with = "format")]
    trace: Option<TraceKind>,
    /// Records per request, 1-100000.
    #[arg(long, value_name = "N", default_value_t = MAX_RECORDS)]
    batch_size: usize,
}

/// Input formats of `trainyard import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// Comma-separated values with a header line.
    Csv,
}

/// Public cluster traces `trainyard import --trace` converts (see `crate::traces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceKind {
    /// Microsoft Philly.
    Philly,
    /// SenseTime Helios.
    Helios,
    /// Alibaba PAI.
    Alibaba,
}

impl TraceKind {
    /// The name passed to `crate::traces::convert`.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceKind::Philly => "philly",
            TraceKind::Helios => "helios",
            TraceKind::Alibaba => "alibaba",
        }
    }
}

const INT_COLUMNS: [&str; 6] = [
    "status",
    "create_time",
    "start_time",
    "end_time",
    "engine_type",
    "worker_server_num",
];

/// A record to send and the line of the file it came from (1-based, every line counted).
type Record = (u64, Vec<u8>);

/// One CSV file as history records: each non-empty cell becomes a field, integers for the
/// integer columns of `docs/import.md`, strings otherwise (`status` may be a name).
fn csv_records(path: &Path) -> anyhow::Result<Vec<Record>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("reading the header of {}", path.display()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: record {}", path.display(), i + 1))?;
        let line = rec.position().map_or(i as u64 + 2, |p| p.line());
        let mut obj = Map::new();
        for (h, cell) in headers.iter().zip(rec.iter()) {
            if cell.is_empty() {
                continue;
            }
            let v = if h == "status" && !cell.trim().bytes().all(|b| b.is_ascii_digit()) {
                // a status name (COMPLETED, JOBSTAT_FAILED): the server checks it
                Value::String(cell.trim().to_owned())
            } else if INT_COLUMNS.contains(&h.as_str()) {
                let n: i64 = cell.trim().parse().map_err(|_| {
                    anyhow!(
                        "ModelArts.0101: {} line {line}: {h} must be an integer, got {cell:?}",
                        path.display()
                    )
                })?;
                Value::from(n)
            } else {
                Value::String(cell.to_owned())
            };
            obj.insert(h.clone(), v);
        }
        out.push((line, serde_json::to_vec(&Value::Object(obj))?));
    }
    Ok(out)
}

/// The non-blank lines of an NDJSON file, unparsed (the server checks them), each with its line
/// number in the file (blank lines counted).
fn ndjson_records(path: &Path) -> anyhow::Result<Vec<Record>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .map(|(n, l)| (n, l.to_vec()))
        .collect())
}

/// Splits records into request bodies of at most `max_lines` records and 64 MiB: (index of
/// the first record, body).
fn batches(records: &[Record], max_lines: usize) -> anyhow::Result<Vec<(usize, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    let mut first = 0;
    let mut n = 0;
    for (i, (line, r)) in records.iter().enumerate() {
        if r.len() + 1 > MAX_BODY_BYTES {
            bail!("line {line}: the record is larger than 64 MiB");
        }
        if n == max_lines || body.len() + r.len() + 1 > MAX_BODY_BYTES {
            out.push((first, std::mem::take(&mut body)));
            first = i;
            n = 0;
        }
        body.extend_from_slice(r);
        body.push(b'\n');
        n += 1;
    }
    if n > 0 {
        out.push((first, body));
    }
    Ok(out)
}

/// The server names the bad record by its line in the request body (`line 3: ...`); say which
/// line of the file that is.
fn file_line_message(msg: &str, lines: &[u64], first: usize, file: &Path) -> Option<String> {
    let rest = msg.strip_prefix("line ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let k: usize = digits.parse().ok()?;
    let line = lines.get(first + k.checked_sub(1)?)?;
    Some(format!(
        "{} line {line}{}",
        file.display(),
        &rest[digits.len()..]
    ))
}

/// Runs `trainyard import`.
pub async fn run(conn: &ConnArgs, args: ImportArgs) -> anyhow::Result<()> {
    let session = conn.session()?;
    if !(1..=MAX_RECORDS).contains(&args.batch_size) {
        bail!(
            "--batch-size must be 1-{MAX_RECORDS}, got {}",
            args.batch_size
        );
    }
    let records = if let Some(kind) = args.trace {
        crate::traces::convert(kind.as_str(), &args.file)?
            .iter()
            .enumerate()
            .map(|(i, r)| serde_json::to_vec(r).map(|b| (i as u64 + 1, b)))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        let format = args.format.unwrap_or_else(|| {
            if args
                .file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
            {
                Format::Csv
            } else {
                Format::Ndjson
            }
        });
        match format {
            Format::Csv => csv_records(&args.file)?,
            Format::Ndjson => ndjson_records(&args.file)?,
        }
    };
    if records.is_empty() {
        bail!("{} has no records", args.file.display());
    }
    let total = records.len();
    let bodies = batches(&records, args.batch_size)?;
    let lines: Vec<u64> = records.iter().map(|(l, _)| *l).collect();
    drop(records);
    let summary = send(&session, &args.file, bodies, total, &lines).await?;
    match args.out.output {
        OutputFormat::Json => output::print_json(&summary)?,
        OutputFormat::Table => outln!(
            "imported {} (ids {}-{}) in {}",
            output::plural(summary["imported"].as_u64().unwrap_or(0), "job"),
            summary["first_job_id"],
            summary["last_job_id"],
            match summary["batches"].as_u64().unwrap_or(0) {
                1 => "1 batch".to_owned(),
                n => format!("{n} batches"),
            }
        ),
    }
    Ok(())
}

async fn send(
    session: &Session,
    file: &Path,
    bodies: Vec<(usize, Vec<u8>)>,
    total: usize,
    lines: &[u64],
) -> anyhow::Result<Value> {
    let bar = indicatif::ProgressBar::new(total as u64);
    if output::stderr_is_tty() {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} records ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let n_batches = bodies.len();
    let mut imported: u64 = 0;
    let mut first_id: Option<i64> = None;
    let mut last_id: Option<i64> = None;
    for (k, (first, body)) in bodies.into_iter().enumerate() {
        let count = body.iter().filter(|b| **b == b'\n').count();
        match Estimator::import_history_ndjson(session, body).await {
            Ok(resp) => {
                imported += resp.imported;
                first_id.get_or_insert(resp.first_job_id);
                last_id = Some(resp.last_job_id);
                bar.inc(count as u64);
            }
            Err(e) => {
                bar.abandon();
                let located = match &e {
                    trainyard_client::Error::Api {
                        error_code,
                        error_msg,
                        ..
                    } => file_line_message(error_msg, lines, first, file)
                        .map(|m| format!("{error_code}: {m}")),
                    _ => None,
                };
                let head = located.unwrap_or_else(|| e.to_string());
                if n_batches == 1 {
                    return Err(anyhow!("{head}"));
                }
                return Err(anyhow!(
                    "{head} (in batch {} of {n_batches}, records {}-{}; {imported} records were imported before it)",
                    k + 1,
                    first + 1,
                    first + count,
                ));
            }
        }
    }
    bar.finish_and_clear();
    Ok(json!({
        "is_success": true,
        "imported": imported,
        "first_job_id": first_id,
        "last_job_id": last_id,
        "batches": n_batches,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_split_by_count() {
        let recs: Vec<Record> = (0..5)
            .map(|i| (i + 1, format!("{{\"i\":{i}}}").into_bytes()))
            .collect();
        let b = batches(&recs, 2).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0], (0, b"{\"i\":0}\n{\"i\":1}\n".to_vec()));
        assert_eq!(b[1].0, 2);
        assert_eq!(b[2], (4, b"{\"i\":4}\n".to_vec()));
        assert_eq!(batches(&recs, 100).unwrap().len(), 1);
    }

    #[test]
    fn csv_cells_become_typed_fields() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.csv");
        std::fs::write(
            &p,
            "job_name,status,create_time,end_time,job_desc\nrun-1,10,1000,,\"hello, world\"\nrun-2,FAILED,x,,\n",
        )
        .unwrap();
        let err = csv_records(&p).unwrap_err().to_string();
        assert!(
            err.contains("line 3: create_time must be an integer"),
            "{err}"
        );
        std::fs::write(
            &p,
            "job_name,status,create_time,end_time,job_desc\nrun-1,10,1000,,\"hello, world\"\n",
        )
        .unwrap();
        let recs = csv_records(&p).unwrap();
        let v: Value = serde_json::from_slice(&recs[0].1).unwrap();
        assert_eq!(recs[0].0, 2, "the header is line 1");
        assert_eq!(
            v,
            json!({"job_name": "run-1", "status": 10, "create_time": 1000, "job_desc": "hello, world"})
        );
    }

    #[test]
    fn ndjson_skips_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.ndjson");
        std::fs::write(&p, "{\"a\":1}\r\n\n  \n{\"b\":2}").unwrap();
        let recs = ndjson_records(&p).unwrap();
        assert_eq!(
            recs,
            vec![(1, b"{\"a\":1}".to_vec()), (4, b"{\"b\":2}".to_vec())]
        );
        assert_eq!(
            file_line_message("line 2: status is required", &[1, 4], 0, &p).unwrap(),
            format!("{} line 4: status is required", p.display())
        );
        // in a later batch, the batch's first record is counted
        assert_eq!(
            file_line_message("line 1: x", &[1, 4], 1, &p).unwrap(),
            format!("{} line 4: x", p.display())
        );
        assert!(file_line_message("job_name missing", &[1], 0, &p).is_none());
    }
}
