//! The server with `[executor] kind = "slurm"` against a real cluster
//! (`TRAINYARD_TEST_SLURM_DIR`, made by `tests/slurm/slurm-local-up.sh`; without it these tests
//! do nothing, unless `TRAINYARD_REQUIRE_SLURM=1`, which makes a missing cluster a failure).
//!
//! The outage test stops slurmctld, so every test here holds [`CLUSTER`]: shared by the others,
//! exclusive for the outage.

use crate::common::{TestServer, scratch};
use crate::lifecycle::{create, detail, vpath};
use crate::logs::sse;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::RwLock;
use trainyard_server::config::{ExecutorKind, ServerConfig};

static CLUSTER: RwLock<()> = RwLock::const_new(());

const LIMIT: Duration = Duration::from_secs(120);
const TERMINAL: [i64; 8] = [3, 5, 10, 11, 12, 13, 14, 6];

fn cluster() -> Option<PathBuf> {
    match std::env::var_os("TRAINYARD_TEST_SLURM_DIR") {
        Some(d) if Path::new(&d).join("etc/slurm.conf").is_file() => Some(PathBuf::from(d)),
        other => {
            assert!(
                std::env::var("TRAINYARD_REQUIRE_SLURM").as_deref() != Ok("1"),
                "TRAINYARD_REQUIRE_SLURM=1 but TRAINYARD_TEST_SLURM_DIR ({other:?}) is not a Slurm cluster directory"
            );
            None
        }
    }
}

fn prefix(test: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000);
    format!("tys{}{n}", &test[..test.len().min(6)])
}

/// A config tweak for a server whose executor is the test cluster.
fn on_slurm(dir: &Path, shared: &Path, prefix: &str, c: &mut ServerConfig) {
    c.executor.kind = ExecutorKind::Slurm;
    c.executor.slurm.slurm_conf = Some(dir.join("etc/slurm.conf"));
    c.executor.slurm.shared_dir = Some(shared.to_path_buf());
    c.executor.slurm.poll_interval_ms = 300;
    c.executor.slurm.job_name_prefix = Some(prefix.to_owned());
}

/// Polls until the version's status is one of `want` (2 min at most).
async fn wait_for(s: &TestServer, job: i64, ver: i64, want: &[i64]) -> Value {
    let t = Instant::now();
    loop {
        let v = detail(s, job, ver).await;
        let st = v["status"].as_i64().unwrap();
        if want.contains(&st) {
            return v;
        }
        assert!(
            !TERMINAL.contains(&st),
            "{job}/{ver} ended in {st}, wanted {want:?}: {v}"
        );
        assert!(t.elapsed() < LIMIT, "{job}/{ver} still {st}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn job(name: &str, workers: i64, cmd: &str, extra: Value) -> Value {
    let mut c = json!({"worker_server_num": workers, "spec_id": 1, "user_command": cmd});
    if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({"job_name": name, "config": c})
}

/// `squeue -h -t all --name=<name> -o %i|%T`.
fn squeue(dir: &Path, name: &str) -> Vec<(u64, String)> {
    let out = std::process::Command::new("squeue")
        .env("SLURM_CONF", dir.join("etc/slurm.conf"))
        .args(["-h", "-t", "all", &format!("--name={name}"), "-o", "%i|%T"])
        .output()
        .expect("squeue");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (i, s) = l.split_once('|')?;
            Some((i.trim().parse().ok()?, s.trim().to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn a_version_on_slurm_runs_logs_streams_and_copies_its_logs() {
    let Some(dir) = cluster() else { return };
    let _shared = CLUSTER.read().await;
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    let p = prefix("life");
    let s = TestServer::start(|c| on_slurm(&dir, &tmp.path().join("shared"), &p, c)).await;
    let out = tmp.path().join("copied-logs");
    let cmd = "for i in 1 2 3; do echo \"rank $RANK line $i\"; sleep 1; done";
    let (j, v) = create(
        &s,
        &job("onslurm", 2, cmd, json!({"log_url": out.to_str().unwrap()})),
    )
    .await;
    let first = detail(&s, j, v).await["status"].as_i64().unwrap();
    assert!([1, 2, 4, 7, 8].contains(&first), "{first}");
    let running = wait_for(&s, j, v, &[8]).await;
    assert!(running["start_time"].as_i64().unwrap() > 0, "{running}");
    assert_eq!(squeue(&dir, &format!("{p}-{j}-{v}")).len(), 1, "one job");
    let (code, names) = s.get(&format!("{}/log/file-names", vpath(j, v)), &[]).await;
    assert_eq!(code, 200);
    assert_eq!(
        names["log_file_list"],
        json!(["onslurm-V0001.0", "onslurm-V0001.1"])
    );
    // while it runs, the first lines are readable
    let t = Instant::now();
    let seen_while_running;
    loop {
        let (code, page) = s
            .get(
                &format!("{}/aom-log", vpath(j, v)),
                &[("log_file", "onslurm-V0001.0")],
            )
            .await;
        assert_eq!(code, 200, "{page}");
        let status = detail(&s, j, v).await["status"].as_i64().unwrap();
        if page["lines"].as_i64().unwrap() > 0 {
            assert!(
                page["content"]
                    .as_str()
                    .unwrap()
                    .starts_with("rank 0 line 1\n")
            );
            seen_while_running = status == 8;
            break;
        }
        assert!(t.elapsed() < LIMIT, "no log lines");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_while_running, "log lines only appeared after the end");
    let events = sse(
        &s,
        &format!("{}/log/stream", vpath(j, v)),
        &[("log_file", "onslurm-V0001.1")],
        None,
    )
    .await;
    let (last, logs) = events.split_last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.2.as_str()),
        ("end", "10"),
        "{events:?}"
    );
    let text: String = logs.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(text, "rank 1 line 1\nrank 1 line 2\nrank 1 line 3\n");
    let done = wait_for(&s, j, v, &[10]).await;
    assert_eq!(done["exit_code"], 0, "{done}");
    assert_eq!(done["status_reason"], "Slurm: COMPLETED", "{done}");
    assert!(done["duration"].as_i64().unwrap() >= 2000, "{done}");
    for w in 0..2 {
        let copied = std::fs::read_to_string(out.join(format!("onslurm-V0001.{w}"))).unwrap();
        assert_eq!(
            copied,
            format!("rank {w} line 1\nrank {w} line 2\nrank {w} line 3\n")
        );
    }
    // the list shows it too (from the store, never from Slurm)
    let (code, list) = s.list(&[]).await;
    assert_eq!(code, 200);
    assert_eq!(list["jobs"][0]["status"], 10, "{list}");
}

#[tokio::test]
async fn stop_cancels_a_pending_job_and_kills_a_running_one() {
    let Some(dir) = cluster() else { return };
    let _shared = CLUSTER.read().await;
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    // pending: Slurm may not start it for an hour
    let p = prefix("pend");
    let s = TestServer::start(|c| {
        on_slurm(&dir, &tmp.path().join("a"), &p, c);
        c.executor.slurm.sbatch_args = vec!["--begin=now+3600".into()];
    })
    .await;
    let (j, v) = create(&s, &job("pending", 1, "echo never", json!({}))).await;
    let name = format!("{p}-{j}-{v}");
    let t = Instant::now();
    while squeue(&dir, &name).is_empty() {
        assert!(t.elapsed() < LIMIT, "never submitted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let w = detail(&s, j, v).await;
    assert_eq!(w["status"], 7, "pending in Slurm is 7 WAITING: {w}");
    assert_eq!(squeue(&dir, &name)[0].1, "PENDING");
    let (code, b) = s.post(&format!("{}/stop", vpath(j, v)), &json!({})).await;
    assert_eq!(code, 200, "{b}");
    let c = detail(&s, j, v).await;
    assert_eq!(c["status"], 13, "{c}");
    let t = Instant::now();
    while squeue(&dir, &name)[0].1 != "CANCELLED" {
        assert!(t.elapsed() < LIMIT, "not cancelled in Slurm");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // running: 9 then 12, the worker got SIGTERM
    let p2 = prefix("kill");
    let s2 = TestServer::start(|c| on_slurm(&dir, &tmp.path().join("b"), &p2, c)).await;
    let (j, v) = create(&s2, &job("running", 1, "echo up; sleep 300", json!({}))).await;
    wait_for(&s2, j, v, &[8]).await;
    let (code, b) = s2.post(&format!("{}/stop", vpath(j, v)), &json!({})).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(detail(&s2, j, v).await["status"], 9);
    let k = wait_for(&s2, j, v, &[12]).await;
    assert_eq!(k["exit_code"], 143, "{k}");
    assert!(
        k["status_reason"]
            .as_str()
            .unwrap()
            .starts_with("stopped on request (Slurm: "),
        "{k}"
    );
}

#[tokio::test]
async fn a_partition_that_does_not_exist_is_submit_failed_with_slurms_reason() {
    let Some(dir) = cluster() else { return };
    let _shared = CLUSTER.read().await;
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    let p = prefix("nopart");
    let s = TestServer::start(|c| {
        on_slurm(&dir, &tmp.path().join("s"), &p, c);
        c.executor.slurm.partition = Some("no-such-partition".into());
    })
    .await;
    let (j, v) = create(&s, &job("nopart", 1, "true", json!({}))).await;
    let f = wait_for(&s, j, v, &[5]).await;
    assert_eq!(
        f["status_reason"],
        "Slurm refused the job: Batch job submission failed: Invalid partition name specified (exit code 1)",
        "{f}"
    );
    assert_eq!(f["start_time"], Value::Null);
}

/// `quotas` apply before Slurm: the second version of a project with quotas = 1 is not even
/// submitted while the first holds the slot.
#[tokio::test]
async fn quotas_keep_versions_in_trainyard_until_a_slot_frees() {
    let Some(dir) = cluster() else { return };
    let _shared = CLUSTER.read().await;
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    let p = prefix("quota");
    let s = TestServer::start(|c| {
        on_slurm(&dir, &tmp.path().join("s"), &p, c);
        c.quotas = 1;
    })
    .await;
    let (j1, v1) = create(&s, &job("first", 1, "sleep 4", json!({}))).await;
    let (j2, v2) = create(&s, &job("second", 1, "true", json!({}))).await;
    wait_for(&s, j1, v1, &[8]).await;
    assert_eq!(detail(&s, j2, v2).await["status"], 7);
    assert!(
        squeue(&dir, &format!("{p}-{j2}-{v2}")).is_empty(),
        "submitted beyond the quota"
    );
    wait_for(&s, j1, v1, &[10]).await;
    wait_for(&s, j2, v2, &[10]).await;
    assert_eq!(squeue(&dir, &format!("{p}-{j2}-{v2}")).len(), 1);
}

/// A stored run Slurm has never heard of (as after the cluster lost its state) becomes 14 LOST
/// with a reason, after a restart.
#[tokio::test]
async fn a_job_slurm_does_not_know_is_lost_after_a_restart() {
    let Some(dir) = cluster() else { return };
    let _shared = CLUSTER.read().await;
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    let p = prefix("lost");
    let shared = tmp.path().join("s");
    let s = TestServer::start(|c| on_slurm(&dir, &shared, &p, c)).await;
    let (j, v) = create(&s, &job("forgotten", 1, "sleep 300", json!({}))).await;
    wait_for(&s, j, v, &[8]).await;
    let data = s.stop().await;
    let db = data.path().join("trainyard.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let handle: String = conn
        .query_row(
            "SELECT run_handle FROM versions WHERE version_id = ?1",
            [v],
            |r| r.get(0),
        )
        .unwrap();
    let mut h: Value = serde_json::from_str(&handle).unwrap();
    let real = h["backend"]["job_id"].as_u64().unwrap();
    h["backend"]["job_id"] = json!(987_654_321u64);
    conn.execute(
        "UPDATE versions SET run_handle = ?1 WHERE version_id = ?2",
        rusqlite::params![h.to_string(), v],
    )
    .unwrap();
    drop(conn);
    let _ = std::process::Command::new("scancel")
        .env("SLURM_CONF", dir.join("etc/slurm.conf"))
        .arg(real.to_string())
        .status();
    let s = TestServer::start_in(data, |c| on_slurm(&dir, &shared, &p, c)).await;
    let l = wait_for(&s, j, v, &[14]).await;
    assert_eq!(
        l["status_reason"],
        format!(
            "the run was lost: Slurm no longer knows job 987654321 ({p}-{j}-{v}): it is neither in squeue nor in sacct"
        ),
        "{l}"
    );
}

/// slurmctld stops while versions run: the API keeps answering from the store, a version
/// created meanwhile waits, and statuses resume when slurmctld is back.
#[tokio::test]
async fn the_server_keeps_answering_while_slurmctld_is_down() {
    let Some(dir) = cluster() else { return };
    let _only = CLUSTER.write().await;
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    let p = prefix("outage");
    let s = TestServer::start(|c| on_slurm(&dir, &tmp.path().join("s"), &p, c)).await;
    let (j, v) = create(
        &s,
        &job("through", 1, "echo started; sleep 15; echo ok", json!({})),
    )
    .await;
    wait_for(&s, j, v, &[8]).await;
    // the worker runs (srun needs slurmctld to create its step: an outage during that fails it)
    let t = Instant::now();
    loop {
        let (_, page) = s
            .get(
                &format!("{}/aom-log", vpath(j, v)),
                &[("log_file", "through-V0001.0")],
            )
            .await;
        if page["content"] == "started\n" {
            break;
        }
        assert!(t.elapsed() < LIMIT, "the worker did not start: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let conf = dir.join("etc/slurm.conf");
    let pid_file = dir.join("pids/slurmctld.pid");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // whatever happens below, slurmctld runs again afterwards
    let back = Restart(conf.clone());
    assert!(
        std::process::Command::new("kill")
            .arg(pid.to_string())
            .status()
            .unwrap()
            .success()
    );
    let t = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(t.elapsed() < LIMIT, "slurmctld did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the API answers at once, from the store
    let (j2, v2) = create(&s, &job("during", 1, "echo later", json!({}))).await;
    for _ in 0..10 {
        let t = Instant::now();
        let (code, _) = s.list(&[]).await;
        assert_eq!(code, 200);
        let d = detail(&s, j, v).await;
        assert_eq!(d["status"], 8, "{d}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "slow while Slurm is down: {:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // readiness reports what the poller learnt (squeue needs ~10 s to give up)
    let t = Instant::now();
    loop {
        let ready = s
            .client
            .get(format!("{}/readyz", s.base))
            .send()
            .await
            .unwrap();
        if ready.status().as_u16() == 503 {
            let body = ready.text().await.unwrap();
            assert!(body.contains("Slurm does not answer"), "{body}");
            break;
        }
        assert!(t.elapsed() < LIMIT, "still ready while Slurm is down");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(detail(&s, j2, v2).await["status"], 7);
    // slurmctld comes back (same state directory: it recovers its jobs)
    drop(back);
    let done = wait_for(&s, j, v, &[10]).await;
    assert_eq!(done["exit_code"], 0, "{done}");
    wait_for(&s, j2, v2, &[10]).await;
}

/// Starts slurmctld again (on drop) when it is not running.
struct Restart(PathBuf);

impl Drop for Restart {
    fn drop(&mut self) {
        let up = std::process::Command::new("scontrol")
            .env("SLURM_CONF", &self.0)
            .arg("ping")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("is UP"));
        if !up {
            let st = std::process::Command::new("slurmctld")
                .arg("-f")
                .arg(&self.0)
                .env("SLURM_CONF", &self.0)
                .status();
            assert!(
                st.is_ok_and(|s| s.success()),
                "slurmctld did not start again"
            );
        }
    }
}

/// The digits example (README "Run on a Slurm cluster") with two workers on the cluster: both
/// logs show their rank, rank 0 writes the model and metrics, the version completes.
#[tokio::test]
async fn digits_runs_on_slurm_with_two_workers_showing_their_ranks() {
    let Some(dir) = cluster() else { return };
    let _shared = CLUSTER.read().await;
    assert!(
        crate::lifecycle::workers_python_has_sklearn(),
        "the workers' python3 needs scikit-learn (apt-get install python3-sklearn)"
    );
    // jobs run as the worker user (nobody when the tests run as root): a directory it may use
    let tmp = scratch();
    let p = prefix("digits");
    let s = TestServer::start(|c| on_slurm(&dir, &tmp.path().join("s"), &p, c)).await;
    let out = tmp.path().join("out");
    // the example, copied under an allowed root (/tmp) where the workers' user can read it
    let app = tmp.path().join("digits");
    std::fs::create_dir(&app).unwrap();
    for f in ["train.py", "README.md"] {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits");
        std::fs::copy(src.join(f), app.join(f)).unwrap();
    }
    let body = json!({"job_name": "digits", "config": {
        "worker_server_num": 2, "spec_id": 1, "engine_id": 4,
        "app_url": app.to_str().unwrap(), "boot_file_url": "train.py",
        "train_url": out.to_str().unwrap(),
        "parameter": [{"label": "folds", "value": "3"}],
    }});
    let (j, v) = create(&s, &body).await;
    let d = wait_for(&s, j, v, &[10]).await;
    assert_eq!(d["exit_code"], 0, "{d}");
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert!(
        metrics["test_accuracy"].as_f64().unwrap() > 0.9,
        "{metrics}"
    );
    let mut masters = Vec::new();
    for rank in 0..2 {
        let (_, page) = s
            .get(
                &format!("{}/aom-log", vpath(j, v)),
                &[
                    ("log_file", &format!("digits-V0001.{rank}")),
                    ("lines", "500"),
                ],
            )
            .await;
        let log = page["content"].as_str().unwrap();
        let first = log.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("worker RANK={rank} of WORLD_SIZE=2 (MASTER_ADDR=")),
            "{log}"
        );
        masters.push(first.split_once('(').unwrap().1.to_owned());
        assert!(log.contains("fold 3/3"), "{log}");
        assert!(log.contains("test accuracy"), "{log}");
    }
    assert_eq!(masters[0], masters[1], "one master for both");
}
