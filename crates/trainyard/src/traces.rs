//! Real cluster traces as history records (`import.md`, `shared/data/traces/SOURCES.md`) and a
//! deterministic synthetic generator that follows their distributions (for the benchmarks).
//!
//! # Converters ([`convert`])
//! - `helios`: `helios_data_training.csv` (DIR-LAB cut of SenseTime Helios, 2020). Also accepts
//!   `philly_data_training.csv` when given as `philly` (same columns, detected by the `u_id`
//!   header): names `helios-u{user}-{u_id}` / `philly-u{user}-{u_id}`, create time
//!   `base + 1000 * cumsum(interval)` in file order, `Pass`→10, `Failed`→11, `Killed`→12,
//!   start = create, end = start + `1000 * run_time`.
//! - `philly`: `philly.csv` (the Pollux flattening): names `philly-{cluster}-{row}` (1-based data
//!   row), `timestamp` read as America/Los_Angeles local time with the 2017 DST rule hardcoded
//!   (PDT, UTC-7, from 2017-03-12 10:00 UTC until 2017-11-05 09:00 UTC; PST, UTC-8, otherwise;
//!   the repeated hour on 2017-11-05 is read as its first, PDT, occurrence), status 10.
//! - `alibaba`: `openb_pod_list_default.csv`: the pod `name`, create time `base + 1000 *
//!   creation_time`. Import only takes terminal statuses, so the two live phases are mapped:
//!   `Running` pods (still running when the observation ended; their `deletion_time` is that end)
//!   become COMPLETED (10) with the observed span as duration, and `Pending` pods (never
//!   scheduled) become CANCELED (13) with no start time (duration 0). `Succeeded`→10, `Failed`→11.
//!
//! # Generator ([`generate`])
//! A splitmix64 stream (seeded, no dependency) draws, per job: a status from the pooled
//! Helios + DIR-LAB Philly mix (Pass 59.5 %, Failed 22.5 %, Killed 18.0 %; plus a hand-set 1.7 %
//! of the other terminal codes 13, 5, 3, 6, 14 so the "failed to start" filter has rows), a run
//! time from the per-status empirical quantiles of those two files (32 quantiles each, below,
//! interpolated log-linearly), a submission gap from their `interval` quantiles, and a name
//! `{model}-{dataset}-{variant}` from small vocabularies with mixed case and a few Unicode
//! letters (`Ärger`, `Straße`, `模型`, ...). Repeated names get `-{k}` suffixes (`k ≥ 2`); since
//! no vocabulary word holds `-`, suffixed names never collide. Descriptions reuse the trace
//! templates, sometimes with Unicode.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

/// Helios submission base: 2020-09-10 00:00 +08:00.
const HELIOS_BASE_MS: i64 = 1_599_667_200_000;
/// DIR-LAB Philly submission base: 2017-10-25 00:00 PDT.
const PHILLY_TRAINING_BASE_MS: i64 = 1_508_914_800_000;
/// openb base: 2023-01-01T00:00Z (arbitrary; real dates are not published).
const OPENB_BASE_MS: i64 = 1_672_531_200_000;

/// Converts a trace file into history records (`import.md` fields), in file order.
/// `kind` is `helios`, `philly` or `alibaba` (see module docs for the mappings).
/// Used by `trainyard import --trace KIND FILE`.
#[cfg_attr(not(test), allow(dead_code))]
pub fn convert(kind: &str, path: &Path) -> anyhow::Result<Vec<Value>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .context("reading the CSV header")?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let col = |name: &str| -> anyhow::Result<usize> {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name:?}", path.display()))
    };
    let records = rdr.records();
    match kind {
        "helios" => dirlab(records, &col, "helios", HELIOS_BASE_MS),
        "philly" if headers.iter().any(|h| h == "u_id") => {
            dirlab(records, &col, "philly", PHILLY_TRAINING_BASE_MS)
        }
        "philly" => philly(records, &col),
        "alibaba" | "openb" => openb(records, &col),
        other => bail!("unknown trace kind {other:?} (expected philly, helios or alibaba)"),
    }
}

type Records<'a> = csv::StringRecordsIter<'a, std::fs::File>;

fn field(r: &csv::StringRecord, i: usize, row: usize) -> anyhow::Result<&str> {
    r.get(i)
        .map(str::trim)
        .with_context(|| format!("row {row}: missing column {i}"))
}

fn int_field(r: &csv::StringRecord, i: usize, row: usize) -> anyhow::Result<i64> {
    let s = field(r, i, row)?;
    s.parse::<i64>()
        .with_context(|| format!("row {row}: {s:?} is not an integer"))
}

/// A float of seconds (`66.0`) as whole milliseconds.
fn secs_ms(s: &str, row: usize) -> anyhow::Result<i64> {
    let f: f64 = s
        .parse()
        .with_context(|| format!("row {row}: {s:?} is not a number"))?;
    if !f.is_finite() || f < 0.0 {
        bail!("row {row}: {s:?} is not a non-negative duration");
    }
    Ok((f * 1000.0).round() as i64)
}

fn dirlab(
    records: Records<'_>,
    col: &dyn Fn(&str) -> anyhow::Result<usize>,
    prefix: &str,
    base: i64,
) -> anyhow::Result<Vec<Value>> {
    let (c_uid, c_user, c_gpu, c_cpu, c_node) = (
        col("u_id")?,
        col("user")?,
        col("gpu_num")?,
        col("cpu_num")?,
        col("node_num")?,
    );
    let (c_int, c_run, c_status) = (col("interval")?, col("run_time")?, col("new_status")?);
    let mut out = Vec::new();
    let mut t = base;
    for (i, r) in records.enumerate() {
        let row = i + 1;
        let r = r.with_context(|| format!("row {row}"))?;
        let interval = int_field(&r, c_int, row)?;
        t += 1000 * interval.max(0);
        let run = int_field(&r, c_run, row)?.max(0);
        let status = match field(&r, c_status, row)? {
            "Pass" => 10,
            "Failed" => 11,
            "Killed" => 12,
            other => bail!("row {row}: unknown status {other:?}"),
        };
        let user = field(&r, c_user, row)?;
        out.push(json!({
            "job_name": format!("{prefix}-u{user}-{}", field(&r, c_uid, row)?),
            "job_desc": format!(
                "user {user}, {} GPU x {} node(s), {} CPU",
                field(&r, c_gpu, row)?,
                field(&r, c_node, row)?,
                field(&r, c_cpu, row)?
            ),
            "status": status,
            "create_time": t,
            "start_time": t,
            "end_time": t + 1000 * run,
        }));
    }
    Ok(out)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD HH:MM:SS` as naive seconds since the epoch (no zone applied).
fn naive_secs(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |a: usize, z: usize| -> Option<i64> { s.get(a..z)?.parse::<i64>().ok() };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// 2017-03-12 10:00 UTC: PST → PDT.
const PDT_START_2017: i64 = 1_489_312_800;
/// 2017-11-05 09:00 UTC: PDT → PST.
const PDT_END_2017: i64 = 1_509_872_400;

/// Los Angeles local time (2017 rule) → epoch ms.
fn la_2017_ms(s: &str) -> Option<i64> {
    let local = naive_secs(s)?;
    let as_pdt = local + 7 * 3600;
    let utc = if (PDT_START_2017..PDT_END_2017).contains(&as_pdt) {
        as_pdt
    } else {
        local + 8 * 3600
    };
    Some(utc * 1000)
}

fn philly(
    records: Records<'_>,
    col: &dyn Fn(&str) -> anyhow::Result<usize>,
) -> anyhow::Result<Vec<Value>> {
    let (c_ts, c_dur, c_gpus, c_gt, c_cl) = (
        col("timestamp")?,
        col("duration")?,
        col("num_gpus")?,
        col("gpu_time")?,
        col("cluster")?,
    );
    let mut out = Vec::new();
    for (i, r) in records.enumerate() {
        let row = i + 1;
        let r = r.with_context(|| format!("row {row}"))?;
        if r.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let ts = field(&r, c_ts, row)?;
        let t = la_2017_ms(ts).with_context(|| format!("row {row}: bad timestamp {ts:?}"))?;
        let dur = secs_ms(field(&r, c_dur, row)?, row)?;
        let cluster = field(&r, c_cl, row)?;
        out.push(json!({
            "job_name": format!("philly-{cluster}-{row}"),
            "job_desc": format!(
                "VC {cluster}, {} GPU, {} GPU-s",
                field(&r, c_gpus, row)?,
                field(&r, c_gt, row)?
            ),
            "status": 10,
            "create_time": t,
            "start_time": t,
            "end_time": t + dur,
        }));
    }
    Ok(out)
}

fn openb(
    records: Records<'_>,
    col: &dyn Fn(&str) -> anyhow::Result<usize>,
) -> anyhow::Result<Vec<Value>> {
    let (c_name, c_cpu, c_mem, c_gpu, c_milli, c_qos) = (
        col("name")?,
        col("cpu_milli")?,
        col("memory_mib")?,
        col("num_gpu")?,
        col("gpu_milli")?,
        col("qos")?,
    );
    let (c_phase, c_create, c_del, c_sched) = (
        col("pod_phase")?,
        col("creation_time")?,
        col("deletion_time")?,
        col("scheduled_time")?,
    );
    let mut out = Vec::new();
    for (i, r) in records.enumerate() {
        let row = i + 1;
        let r = r.with_context(|| format!("row {row}"))?;
        let create = OPENB_BASE_MS + 1000 * int_field(&r, c_create, row)?;
        let status = match field(&r, c_phase, row)? {
            "Succeeded" | "Running" => 10,
            "Failed" => 11,
            "Pending" => 13,
            other => bail!("row {row}: unknown pod phase {other:?}"),
        };
        let sched = field(&r, c_sched, row)?;
        let mut rec = json!({
            "job_name": field(&r, c_name, row)?,
            "job_desc": format!(
                "qos {}, {} GPU ({} mGPU), {} mCPU, {} MiB",
                field(&r, c_qos, row)?,
                field(&r, c_gpu, row)?,
                field(&r, c_milli, row)?,
                field(&r, c_cpu, row)?,
                field(&r, c_mem, row)?
            ),
            "status": status,
            "create_time": create,
        });
        if status != 13 && !sched.is_empty() {
            let start = OPENB_BASE_MS + 1000 * int_field(&r, c_sched, row)?;
            let end = OPENB_BASE_MS + 1000 * int_field(&r, c_del, row)?;
            rec["start_time"] = json!(start.max(create));
            rec["end_time"] = json!(end.max(start.max(create)));
        }
        out.push(rec);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Synthetic generator

/// splitmix64: small, fast, and good enough for workload synthesis.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    /// A stream for `seed`.
    pub(crate) fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in [0, n).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Run-time quantiles (seconds, 0/32 … 32/32) per final state, from the pooled
/// `helios_data_training.csv` + `philly_data_training.csv` (30,000 jobs).
const RUN_PASS: [i64; 33] = [
    1, 1, 1, 1, 1, 1, 1, 13, 30, 44, 49, 59, 68, 73, 79, 109, 154, 199, 242, 343, 506, 895, 1080,
    1799, 2372, 2554, 3009, 3948, 6387, 12611, 27442, 98952, 4624798,
];
const RUN_FAILED: [i64; 33] = [
    1, 3, 7, 9, 13, 14, 18, 22, 25, 29, 35, 39, 44, 50, 54, 58, 63, 74, 99, 143, 200, 261, 388,
    743, 1099, 1962, 4955, 13657, 14409, 37717, 178052, 409160, 4809980,
];
const RUN_KILLED: [i64; 33] = [
    1, 3, 6, 14, 25, 33, 49, 71, 96, 122, 154, 188, 232, 291, 364, 463, 623, 859, 1164, 1779, 2623,
    4328, 8463, 13210, 18329, 31330, 33578, 38444, 49095, 108804, 381304, 1259175, 5199751,
];
/// Submission-gap quantiles (seconds, 0/16 … 16/16) of the same files.
const GAPS: [i64; 17] = [
    0, 0, 0, 1, 3, 5, 5, 7, 10, 17, 27, 44, 73, 115, 189, 357, 395146,
];

/// Draws from a quantile table, interpolating log-linearly between neighbours.
fn sample_quantiles(rng: &mut SplitMix, q: &[i64]) -> i64 {
    let x = rng.unit() * (q.len() - 1) as f64;
    let i = (x as usize).min(q.len() - 2);
    let f = x - i as f64;
    let (a, b) = ((q[i] as f64 + 1.0).ln(), (q[i + 1] as f64 + 1.0).ln());
    ((a + (b - a) * f).exp() - 1.0).round().max(0.0) as i64
}

const MODELS: &[&str] = &[
    "resnet50",
    "ResNet50",
    "resnet101",
    "bert",
    "BERT",
    "bertLarge",
    "gpt2",
    "GPT2",
    "llama",
    "Llama2",
    "t5",
    "T5base",
    "vit",
    "ViT",
    "yolov5",
    "YOLOv8",
    "unet",
    "UNet",
    "wav2vec",
    "whisper",
    "clip",
    "CLIP",
    "mobilenet",
    "efficientnet",
    "deberta",
    "roberta",
    "xlnet",
    "seq2seq",
    "lstm",
    "gnn",
    "Ärger",
    "straße",
    "STRASSE",
    "modèle",
    "模型",
    "δίκτυο",
    "нейросеть",
    "Øresund",
];
const DATASETS: &[&str] = &[
    "imagenet",
    "ImageNet",
    "cifar10",
    "CIFAR100",
    "coco",
    "COCO",
    "squad",
    "glue",
    "wmt14",
    "c4",
    "pile",
    "librispeech",
    "mnist",
    "openwebtext",
    "laion",
    "kinetics",
    "ade20k",
    "wikitext",
    "mydata",
    "Ölfeld",
    "数据集",
];
const VARIANTS: &[&str] = &[
    "baseline", "sweep", "lr3e4", "lr1e3", "bs256", "bs1024", "fp16", "bf16", "ablation",
    "finetune", "pretrain", "eval", "debug", "v2", "exp", "run", "Final", "test", "tuned",
    "distill", "prune", "ddp", "fsdp", "zero3", "warmup", "cosine", "ema", "aug", "long", "short",
];
const DESC_EXTRA: &[&str] = &[
    "",
    "",
    "",
    " lr sweep",
    " retry after OOM",
    " — nightly",
    " über-run ✓",
    " 实验",
    " α=0.1 β=0.9",
    " see wiki",
];
/// (engine_type, weight): PyTorch, Python, Bash, Scikit_Learn, none.
const ENGINES: &[(i64, u32)] = &[(10, 50), (13, 20), (14, 10), (6, 5), (0, 15)];
const GPUS: &[i64] = &[0, 0, 1, 1, 1, 1, 1, 1, 2, 4, 8, 8, 16, 32];

/// `jobs` deterministic synthetic history records (NDJSON-ready) for `seed`: one workspace
/// (`"0"`), unique names, terminal statuses, durations and gaps following the Helios + Philly
/// traces (see module docs). The same (`jobs`, `seed`) always yields the same records.
pub fn generate(jobs: u64, seed: u64) -> impl Iterator<Item = Value> {
    let mut rng = SplitMix(seed ^ 0x7472_6169_6e79_6172);
    let mut seen: HashMap<(u16, u16, u16), u32> = HashMap::new();
    let mut t: i64 = 1_600_000_000_000;
    (0..jobs).map(move |i| {
        let (m, d, v) = (
            rng.below(MODELS.len()),
            rng.below(DATASETS.len()),
            rng.below(VARIANTS.len()),
        );
        let k = seen.entry((m as u16, d as u16, v as u16)).or_insert(0);
        *k += 1;
        let base = format!("{}-{}-{}", MODELS[m], DATASETS[d], VARIANTS[v]);
        let job_name = if *k == 1 { base } else { format!("{base}-{k}") };
        let u = rng.unit();
        let (status, table): (i64, &[i64]) = if u < 0.585 {
            (10, &RUN_PASS)
        } else if u < 0.806 {
            (11, &RUN_FAILED)
        } else if u < 0.983 {
            (12, &RUN_KILLED)
        } else if u < 0.993 {
            (13, &[])
        } else if u < 0.996 {
            (5, &[])
        } else if u < 0.997 {
            (3, &[])
        } else if u < 0.998 {
            (6, &[])
        } else {
            (14, &RUN_FAILED)
        };
        t += 1000 * sample_quantiles(&mut rng, &GAPS).min(3600);
        let user = 1 + rng.below(240);
        let gpus = *rng.pick(GPUS);
        let nodes = if gpus > 8 { gpus / 8 } else { 1 };
        let extra = *rng.pick(DESC_EXTRA);
        let job_desc = format!(
            "user {user}, {gpus} GPU x {nodes} node(s), {} CPU{extra}",
            if gpus == 0 { 1 + rng.below(16) } else { 0 }
        );
        let w: u32 = ENGINES.iter().map(|e| e.1).sum();
        let mut pick = (rng.next() % u64::from(w)) as u32;
        let mut engine_type = 0;
        for &(e, wt) in ENGINES {
            if pick < wt {
                engine_type = e;
                break;
            }
            pick -= wt;
        }
        let mut rec = json!({
            "job_name": job_name,
            "job_desc": job_desc,
            "status": status,
            "create_time": t,
            "engine_type": engine_type,
            "worker_server_num": nodes,
        });
        if !table.is_empty() {
            let wait = 1000 * sample_quantiles(&mut rng, &GAPS).min(600);
            let run = 1000 * sample_quantiles(&mut rng, table);
            rec["start_time"] = json!(t + wait);
            rec["end_time"] = json!(t + wait + run);
        }
        let _ = i;
        rec
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use trainyard_api::history::HistoryRecord;

    fn traces() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/traces")
    }

    fn valid(v: &Value) -> HistoryRecord {
        HistoryRecord::from_json(v.as_object().unwrap()).unwrap_or_else(|e| panic!("{v}: {e:?}"))
    }

    #[test]
    fn la_time_2017() {
        // SOURCES.md's example: 2017-10-09 07:01:55 PDT
        assert_eq!(la_2017_ms("2017-10-09 07:01:55"), Some(1_507_557_715_000));
        // after the fall-back: 2017-12-01 00:00 PST = 08:00 UTC
        assert_eq!(la_2017_ms("2017-12-01 00:00:00"), Some(1_512_115_200_000));
        // 01:30 on 2017-11-05 exists twice; the first (PDT) is taken: 08:30 UTC
        assert_eq!(la_2017_ms("2017-11-05 01:30:00"), Some(1_509_870_600_000));
        // 02:30 on 2017-11-05 is PST: 10:30 UTC
        assert_eq!(la_2017_ms("2017-11-05 02:30:00"), Some(1_509_877_800_000));
        assert_eq!(la_2017_ms("2017-13-05 02:30:00"), None);
        assert_eq!(la_2017_ms("2017-10-09T07:01:55"), None);
    }

    #[test]
    fn converts_the_shared_traces() {
        let dir = traces();
        if !dir.exists() {
            return;
        }
        let cases = [
            ("helios", "helios_data_training.csv", 15_000),
            ("philly", "philly_data_training.csv", 15_000),
            ("philly", "philly.csv", 82_247),
            ("alibaba", "openb_pod_list_default.csv", 8_152),
        ];
        for (kind, file, rows) in cases {
            let v = convert(kind, &dir.join(file)).unwrap();
            assert_eq!(v.len(), rows, "{file}");
            let names: HashSet<&str> = v.iter().map(|r| r["job_name"].as_str().unwrap()).collect();
            assert_eq!(names.len(), rows, "{file}: names unique");
            for r in &v {
                valid(r);
            }
        }
        let h = convert("helios", &dir.join("helios_data_training.csv")).unwrap();
        // first row: u_id 0, user 1, interval 0, run_time 84, Pass
        assert_eq!(h[0]["job_name"], "helios-u1-0");
        assert_eq!(h[0]["create_time"], HELIOS_BASE_MS);
        assert_eq!(h[0]["end_time"].as_i64().unwrap() - HELIOS_BASE_MS, 84_000);
        assert_eq!(h[0]["status"], 10);
        // second row: interval 94
        assert_eq!(h[1]["create_time"], HELIOS_BASE_MS + 94_000);
        let p = convert("philly", &dir.join("philly.csv")).unwrap();
        assert_eq!(p[0]["job_name"], "philly-11cb48-1");
        assert_eq!(p[0]["create_time"], 1_507_557_715_000i64);
        assert_eq!(p[0]["end_time"], 1_507_557_715_000i64 + 66_000);
        let a = convert("alibaba", &dir.join("openb_pod_list_default.csv")).unwrap();
        assert_eq!(a[0]["job_name"], "openb-pod-0000");
        assert_eq!(a[0]["status"], 10, "Running is imported as COMPLETED");
        assert_eq!(
            a[0]["end_time"].as_i64().unwrap() - a[0]["start_time"].as_i64().unwrap(),
            12_537_496_000
        );
        assert!(convert("slurm", &dir.join("philly.csv")).is_err());
    }

    #[test]
    fn generator_is_deterministic_unique_and_valid() {
        let a: Vec<Value> = generate(20_000, 7).collect();
        let b: Vec<Value> = generate(20_000, 7).collect();
        assert_eq!(a, b);
        assert_ne!(a, generate(20_000, 8).collect::<Vec<_>>());
        let names: HashSet<&str> = a.iter().map(|r| r["job_name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), a.len());
        let mut statuses = HashMap::new();
        for r in &a {
            let rec = valid(r);
            *statuses.entry(rec.status.code()).or_insert(0u32) += 1;
        }
        // roughly the trace mix
        let pass = f64::from(statuses[&10]) / a.len() as f64;
        assert!((0.55..0.62).contains(&pass), "{pass}");
        assert!(statuses.contains_key(&13) && statuses.contains_key(&5));
        assert!(
            a.iter()
                .any(|r| !r["job_name"].as_str().unwrap().is_ascii())
        );
        assert!(
            a.iter()
                .any(|r| r["job_name"].as_str().unwrap().ends_with("-2"))
        );
    }
}
