//! The Slurm executor against a real cluster: `TRAINYARD_TEST_SLURM_DIR` names a cluster
//! directory made by `tests/slurm/slurm-local-up.sh` (its `etc/slurm.conf` is used). Without it
//! these tests pass without doing anything, unless `TRAINYARD_REQUIRE_SLURM=1` (CI), which makes
//! a missing cluster a failure.
//!
//! Every test uses its own job-name prefix, so `reconcile` in one test never touches another
//! test's jobs on the shared cluster.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use trainyard_api::status::JobStatus;
use trainyard_executor::{
    BackendHandle, Containment, ExecError, Executor, KnownRuns, RunHandle, RunSpec, SlurmConfig,
    SlurmExecutor, Started, WorkerExit, log_path,
};

use crate::helpers::App;

/// Time limit of the waits here (jobs queue behind other tests' jobs on a 2-core machine).
const LIMIT: Duration = Duration::from_secs(120);

/// The test cluster's directory, `None` when not configured (and not required).
pub fn cluster() -> Option<PathBuf> {
    match std::env::var_os("TRAINYARD_TEST_SLURM_DIR") {
        Some(d) if Path::new(&d).join("etc/slurm.conf").is_file() => Some(PathBuf::from(d)),
        other => {
            assert!(
                std::env::var("TRAINYARD_REQUIRE_SLURM").as_deref() != Ok("1"),
                "TRAINYARD_REQUIRE_SLURM=1 but TRAINYARD_TEST_SLURM_DIR ({other:?}) is not a Slurm cluster directory (tests/slurm/slurm-local-up.sh)"
            );
            eprintln!("no Slurm test cluster (TRAINYARD_TEST_SLURM_DIR): skipped");
            None
        }
    }
}

fn unique_prefix(test: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000);
    format!("tyt{}{n}", &test[..test.len().min(6)])
}

fn config(dir: &Path, app: &App, test: &str) -> SlurmConfig {
    SlurmConfig {
        shared_dir: Some(app.shared().join("jobs")),
        slurm_conf: Some(dir.join("etc/slurm.conf")),
        poll_interval_ms: 300,
        job_name_prefix: Some(unique_prefix(test)),
        ..SlurmConfig::default()
    }
}

async fn executor(cfg: SlurmConfig) -> SlurmExecutor {
    let ex = SlurmExecutor::new(cfg, Containment::default());
    ex.check_ready().await.expect("the test cluster answers");
    ex
}

fn spec(ex: &SlurmExecutor, app: &App, version_id: i64, workers: u32, cmd: &str) -> RunSpec {
    let mut s = app.shell(version_id, workers, cmd);
    s.job_id = 1;
    s.log_dir = ex.log_dir(1, version_id);
    s
}

async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(LIMIT, fut)
        .await
        .expect("timed out waiting for the Slurm job")
}

fn slurm_conf(dir: &Path) -> PathBuf {
    dir.join("etc/slurm.conf")
}

/// `squeue -h -t all --name=<name> -o %i|%T` on the test cluster.
fn squeue_by_name(dir: &Path, name: &str) -> Vec<(u64, String)> {
    let out = std::process::Command::new("squeue")
        .env("SLURM_CONF", slurm_conf(dir))
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

fn nodes_in_cluster(dir: &Path) -> usize {
    let out = std::process::Command::new("sinfo")
        .env("SLURM_CONF", slurm_conf(dir))
        .args(["-h", "-N", "-o", "%N"])
        .output()
        .expect("sinfo");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test]
async fn two_workers_get_ranks_a_node_each_and_their_own_logs() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let ex = executor(config(&dir, &app, "ranks")).await;
    let cmd = "echo rank=$RANK local=$LOCAL_RANK world=$WORLD_SIZE idx=$TRAINYARD_WORKER_INDEX \
               count=$TRAINYARD_WORKER_COUNT job=$TRAINYARD_JOB_ID version=$TRAINYARD_VERSION_ID \
               master=$MASTER_ADDR:$MASTER_PORT node=$SLURMD_NODENAME pwd=$(pwd); echo err$RANK >&2";
    let mut s = spec(&ex, &app, 1, 2, cmd);
    s.resources.memory_gib = Some(0.25);
    let h = ex.submit(&s).await.expect("submit");
    assert!(matches!(h.backend, BackendHandle::Slurm { .. }));
    assert!(ex.queues());
    let started = bounded(ex.started(&h)).await.expect("started");
    assert!(matches!(started, Started::At(Some(_))), "{started:?}");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{o:?}");
    assert_eq!(o.exit_code, 0);
    assert_eq!(o.final_status(true, false), JobStatus::Completed);
    let two_nodes = nodes_in_cluster(&dir) >= 2;
    let mut masters = Vec::new();
    let mut nodes = Vec::new();
    for rank in 0..2u32 {
        let log = std::fs::read_to_string(log_path(&s.log_dir, rank)).expect("worker log");
        let first = log.lines().next().expect("a line");
        assert!(
            first.starts_with(&format!(
                "rank={rank} local=0 world=2 idx={rank} count=2 job=1 version=1 master="
            )),
            "{log}"
        );
        assert!(
            first.ends_with(&format!("pwd={}", app.path().display())),
            "{log}"
        );
        assert!(log.contains(&format!("err{rank}\n")), "{log}");
        let f: Vec<&str> = first.split(' ').collect();
        masters.push(f[7].to_owned());
        nodes.push(f[8].to_owned());
    }
    assert_eq!(
        masters[0], masters[1],
        "one MASTER_ADDR:MASTER_PORT for all"
    );
    assert!(!masters[0].starts_with("master=:"), "{masters:?}");
    if two_nodes {
        assert_ne!(nodes[0], nodes[1], "one node per worker: {nodes:?}");
    }
    // the job is gone from the executor's books once forgotten
    ex.forget(&h);
    assert!(matches!(
        ex.try_outcome(&h),
        Err(ExecError::UnknownRun { .. })
    ));
}

#[tokio::test]
async fn a_failing_worker_fails_the_job_with_its_exit_code() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let ex = executor(config(&dir, &app, "fail")).await;
    let s = spec(
        &ex,
        &app,
        2,
        2,
        "if [ \"$RANK\" = 1 ]; then exit 3; fi; sleep 60",
    );
    let h = ex.submit(&s).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(!o.success && !o.stopped, "{o:?}");
    // srun returns the highest task code (143 of the worker it terminated); the first failure
    // is the one reported
    assert_eq!(o.exit_code, 3, "{o:?}");
    assert_eq!(o.failed_worker, Some(1));
    assert!(
        o.reason.starts_with("Slurm: FAILED (NonZeroExitCode) on ")
            && o.reason
                .ends_with(": worker 1 exited with code 3; the other workers were stopped"),
        "{}",
        o.reason
    );
    assert_eq!(o.final_status(true, false), JobStatus::Failed);
    // --kill-on-bad-exit: worker 0 did not finish its sleep, it was terminated
    assert_eq!(o.workers[1], WorkerExit::Exited { code: 3 });
    assert_ne!(o.workers[0], WorkerExit::Exited { code: 0 }, "{o:?}");
}

#[tokio::test]
async fn a_partition_that_does_not_exist_is_refused_with_slurms_words() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let mut cfg = config(&dir, &app, "nopart");
    cfg.partition = Some("no-such-partition".into());
    let ex = executor(cfg).await; // a missing partition is a warning at start, not an error
    let e = ex
        .submit(&spec(&ex, &app, 3, 1, "true"))
        .await
        .expect_err("refused");
    assert!(!e.retry_later);
    assert_eq!(
        e.reason,
        "Slurm refused the job: Batch job submission failed: Invalid partition name specified (exit code 1)"
    );
}

#[tokio::test]
async fn stop_sends_term_to_a_running_job_and_cancels_a_pending_one() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let ex = executor(config(&dir, &app, "stop")).await;
    let s = spec(
        &ex,
        &app,
        4,
        1,
        "trap 'echo got TERM; exit 5' TERM; echo ready; while true; do sleep 0.2; done",
    );
    let h = ex.submit(&s).await.expect("submit");
    bounded(ex.started(&h)).await.expect("started");
    // wait until the worker has set its trap
    let log = log_path(&s.log_dir, 0);
    let t = Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|l| l.contains("ready")) {
        assert!(t.elapsed() < LIMIT, "the worker did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = bounded(ex.stop(&h, Duration::from_secs(20)))
        .await
        .expect("stop");
    assert!(o.stopped && !o.success, "{o:?}");
    assert_eq!(o.exit_code, 5, "{o:?}");
    assert!(
        o.reason
            .starts_with("stopped on request (Slurm: FAILED with exit code 5"),
        "{}",
        o.reason
    );
    assert_eq!(o.final_status(true, true), JobStatus::Killed);
    assert!(
        std::fs::read_to_string(&log)
            .expect("log")
            .contains("got TERM\n")
    );

    // pending: a job that may not start for an hour
    let mut cfg = config(&dir, &app, "stoppend");
    cfg.sbatch_args = vec!["--begin=now+3600".into()];
    cfg.shared_dir = Some(app.shared().join("jobs2"));
    let ex2 = executor(cfg).await;
    let s = spec(&ex2, &app, 5, 1, "echo never");
    let h = ex2.submit(&s).await.expect("submit");
    let name = match &h.backend {
        BackendHandle::Slurm { name, .. } => name.clone(),
        _ => unreachable!(),
    };
    let states = squeue_by_name(&dir, &name);
    assert_eq!(states.len(), 1, "{states:?}");
    assert_eq!(states[0].1, "PENDING");
    let o = bounded(ex2.stop(&h, Duration::from_secs(20)))
        .await
        .expect("stop");
    assert!(o.stopped, "{o:?}");
    assert_eq!(
        bounded(ex2.started(&h)).await.expect("started"),
        Started::Never
    );
    assert_eq!(o.final_status(false, false), JobStatus::Canceled);
    assert_eq!(squeue_by_name(&dir, &name)[0].1, "CANCELLED");
    assert!(
        !log_path(&s.log_dir, 0).exists(),
        "a cancelled pending job wrote a log"
    );
}

/// Slurm's time limits are whole minutes: this test takes about 70 s.
#[tokio::test]
async fn the_time_limit_ends_a_job_as_timeout() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let mut cfg = config(&dir, &app, "timeout");
    cfg.sbatch_args = vec!["--time=1".into()];
    let ex = executor(cfg).await;
    let s = spec(&ex, &app, 6, 1, "echo start; sleep 600");
    let h = ex.submit(&s).await.expect("submit");
    let o = tokio::time::timeout(Duration::from_secs(240), ex.wait(&h))
        .await
        .expect("TIMEOUT within 4 min")
        .expect("wait");
    assert!(!o.success && !o.stopped, "{o:?}");
    assert!(
        o.reason.starts_with("Slurm: TIMEOUT after 00:01:00 on "),
        "{}",
        o.reason
    );
    assert_eq!(o.exit_code, 143, "{o:?}");
    assert_eq!(o.final_status(true, false), JobStatus::Failed);
}

/// Needs a cluster that enforces memory (`SLURM_LOCAL_MEMORY=1`: jobacct_gather's
/// OverMemoryKill, or `SLURM_LOCAL_CGROUP=1`).
#[tokio::test]
async fn a_job_over_its_memory_is_out_of_memory() {
    let Some(dir) = cluster() else { return };
    let conf = std::fs::read_to_string(slurm_conf(&dir)).expect("slurm.conf");
    if !conf.contains("OverMemoryKill") && !dir.join("etc/cgroup.conf").exists() {
        assert!(
            std::env::var("TRAINYARD_REQUIRE_SLURM").as_deref() != Ok("1"),
            "the CI cluster must enforce memory (SLURM_LOCAL_MEMORY=1)"
        );
        return;
    }
    let app = App::new();
    let ex = executor(config(&dir, &app, "oom")).await;
    // 200 MiB allowed; the worker grows by 50 MB every 0.2 s up to 3 GB
    let mut s = spec(
        &ex,
        &app,
        7,
        1,
        "python3 -c 'import time\nb=[]\nfor i in range(60):\n    b.append(bytearray(50*1024*1024)); print(\"allocated\", (i+1)*50, \"MB\", flush=True); time.sleep(0.2)\n'",
    );
    s.resources.memory_gib = Some(200.0 / 1024.0);
    let h = ex.submit(&s).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(!o.success && !o.stopped, "{o:?}");
    assert!(
        o.reason.starts_with("Slurm: OUT_OF_MEMORY on node "),
        "{}",
        o.reason
    );
    assert_eq!(o.exit_code, 137, "{o:?}");
    let log = std::fs::read_to_string(log_path(&s.log_dir, 0)).expect("log");
    assert!(log.contains("allocated 50 MB"), "{log}");
    assert!(
        !log.contains("allocated 3000 MB"),
        "it was never stopped: {log}"
    );
}

/// After a restart: a running job is adopted and completes; one that ended while nobody watched
/// and was already purged from squeue (MinJobAge) gets its real outcome from sacct; a job
/// Slurm never heard of is lost.
#[tokio::test]
async fn adopted_jobs_report_their_real_end_or_are_lost() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let cfg = config(&dir, &app, "adopt");
    let first = executor(cfg.clone()).await;
    let running = first
        .submit(&spec(&first, &app, 8, 1, "sleep 25; echo done"))
        .await
        .expect("submit");
    let quick = first
        .submit(&spec(&first, &app, 9, 1, "exit 4"))
        .await
        .expect("submit");
    let (running_json, quick_json) = (running.to_json(), quick.to_json());
    bounded(first.started(&running)).await.expect("started");
    drop(first); // the server goes away; Slurm keeps the jobs
    let quick_name = match &quick.backend {
        BackendHandle::Slurm { name, .. } => name.clone(),
        _ => unreachable!(),
    };
    // wait until Slurm forgot the quick job (MinJobAge), if the cluster purges at all
    let minjobage_small = std::fs::read_to_string(slurm_conf(&dir))
        .expect("conf")
        .lines()
        .any(|l| l.trim() == "MinJobAge=10");
    if minjobage_small {
        let t = Instant::now();
        while !squeue_by_name(&dir, &quick_name).is_empty() {
            assert!(t.elapsed() < LIMIT, "the quick job was not purged");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let second = executor(cfg).await;
    let running = RunHandle::from_json(&running_json).expect("parse");
    let quick = RunHandle::from_json(&quick_json).expect("parse");
    second.adopt(&running).await.expect("adopt");
    second.adopt(&quick).await.expect("adopt");
    let forged = RunHandle {
        version_id: 10,
        backend: BackendHandle::Slurm {
            job_id: 987_654_321,
            name: "forged".into(),
        },
        ..quick.clone()
    };
    second.adopt(&forged).await.expect("adopt");
    let o = bounded(second.wait(&quick)).await.expect("quick");
    assert_eq!(o.exit_code, 4, "{o:?}");
    // (read from sacct when the cluster purged it: no squeue reason)
    assert!(
        o.reason.starts_with("Slurm: FAILED")
            && o.reason.ends_with(": worker 0 exited with code 4"),
        "{}",
        o.reason
    );
    match bounded(second.wait(&forged)).await {
        Err(ExecError::Lost(l)) => assert_eq!(
            l.reason,
            "Slurm no longer knows job 987654321 (forged): it is neither in squeue nor in sacct"
        ),
        other => panic!("expected lost, got {other:?}"),
    }
    let o = bounded(second.wait(&running)).await.expect("running");
    assert!(o.success, "{o:?}");
    let log = std::fs::read_to_string(log_path(&running.log_dir, 0)).expect("log");
    assert_eq!(log, "done\n");
}

/// A restart between sbatch and storing the handle: `reconcile` finds the earlier job of a
/// waiting version (submit returns it instead of submitting twice) and cancels a job no version
/// accounts for (e.g. of a version deleted meanwhile).
#[tokio::test]
async fn reconcile_keeps_waiting_versions_jobs_and_cancels_orphans() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let cfg = config(&dir, &app, "recon");
    let first = executor(cfg.clone()).await;
    let kept = first
        .submit(&spec(&first, &app, 11, 1, "sleep 60"))
        .await
        .expect("submit");
    let orphan = first
        .submit(&spec(&first, &app, 12, 1, "sleep 60"))
        .await
        .expect("submit");
    drop(first);
    let second = executor(cfg).await;
    let r = second
        .reconcile(&KnownRuns {
            adopted: vec![],
            waiting: vec![(1, 11)],
        })
        .await;
    assert_eq!(r.orphans_ended, 1);
    let again = second
        .submit(&spec(&second, &app, 11, 1, "sleep 60"))
        .await
        .expect("submit");
    assert_eq!(again.slurm_job_id(), kept.slurm_job_id(), "submitted twice");
    let name = |h: &RunHandle| match &h.backend {
        BackendHandle::Slurm { name, .. } => name.clone(),
        _ => unreachable!(),
    };
    assert_eq!(squeue_by_name(&dir, &name(&kept)).len(), 1);
    let t = Instant::now();
    loop {
        let st = squeue_by_name(&dir, &name(&orphan));
        if st.first().is_none_or(|s| s.1 == "CANCELLED") {
            break;
        }
        assert!(t.elapsed() < LIMIT, "orphan not cancelled: {st:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let o = bounded(second.stop(&again, Duration::from_secs(5)))
        .await
        .expect("stop");
    assert!(o.stopped);
}

/// The poller asks Slurm once per poll for all runs (plus sacct only for jobs squeue no longer
/// has), never once per run, and in the 2 s after a submit once per 100 ms for all the
/// just-submitted jobs: counted with logging wrappers around the real commands.
#[tokio::test]
async fn one_squeue_per_poll_for_all_runs() {
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let bin = app.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let calls = app.path().join("calls");
    for c in [
        "sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "srun",
    ] {
        let real = which(c);
        let wrapper = bin.join(c);
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho {c} >> '{}'\nexec '{}' \"$@\"\n",
                calls.display(),
                real.display()
            ),
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut cfg = config(&dir, &app, "calls");
    cfg.bin_dir = Some(bin);
    cfg.poll_interval_ms = 500;
    cfg.sbatch_args = vec!["--begin=now+3600".into()];
    let ex = executor(cfg).await;
    let count = |name: &str| {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == name)
            .count()
    };
    let (first_submit, at_first) = (Instant::now(), count("squeue"));
    let mut handles = Vec::new();
    for v in 0..30 {
        handles.push(
            ex.submit(&spec(&ex, &app, 100 + v, 1, "true"))
                .await
                .expect("submit"),
        );
    }
    // the first 2 s after a submit: one extra squeue every 100 ms for ALL the just-submitted,
    // unstarted jobs (Slurm's RUNNING seen as soon as a user's squeue sees it), not one per job
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let fresh = count("squeue") - at_first;
    let span = first_submit.elapsed();
    let fresh_max = (span.as_millis() / 100) as usize + (span.as_millis() / 500) as usize + 2;
    assert!(
        fresh <= fresh_max,
        "{fresh} squeue calls in the {span:?} after 30 submits (at most {fresh_max})"
    );
    // then, steady state: one squeue per poll for all 30
    let before = count("squeue");
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let polls = count("squeue") - before;
    let elapsed = t.elapsed();
    let max = (elapsed.as_millis() / 500) as usize + 1;
    assert!(polls >= 2, "the poller did not poll: {polls}");
    assert!(
        polls <= max,
        "{polls} squeue calls in {elapsed:?} for 30 runs (at most {max})"
    );
    assert_eq!(count("sacct"), 0, "sacct without ended jobs");
    assert_eq!(count("sbatch"), 30);
    for h in &handles {
        let o = bounded(ex.stop(h, Duration::from_secs(5)))
            .await
            .expect("stop");
        assert!(o.stopped);
    }
}

fn which(cmd: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(cmd))
                .find(|f| f.is_file())
        })
        .unwrap_or_else(|| panic!("{cmd} not on PATH"))
}

#[test]
fn unset_cluster_is_a_failure_when_required() {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "slurm::two_workers_get_ranks_a_node_each_and_their_own_logs",
        ])
        .env_remove("TRAINYARD_TEST_SLURM_DIR")
        .env("TRAINYARD_REQUIRE_SLURM", "1")
        .output()
        .expect("run");
    assert!(
        !out.status.success(),
        "a required but missing cluster must fail"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TRAINYARD_REQUIRE_SLURM=1"), "{text}");
}

/// Issue 9's rules on Slurm: a root server's job runs as the worker identity (`sbatch --uid`),
/// its environment is the allow-list (server variables not listed never reach it), `HOME` and
/// `TMPDIR` are its private directory, its version directory is 0700 and its own, it cannot
/// read the server's directory, and the `log_url` copy runs with its rights. Paths outside the
/// allowed roots or inside the server's directory are refused before anything reaches Slurm.
#[tokio::test]
async fn jobs_run_contained_as_the_worker_user_with_the_allow_listed_environment() {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = cluster() else { return };
    let app = App::new();
    let root = rustix::process::geteuid().is_root();
    // the server's directory as the server keeps its data directory: 0700
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(app.server_dir(), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
    }
    let secret = app.server_dir().join("auth.key");
    std::fs::write(&secret, "top-secret-key").expect("secret");
    let cfg = config(&dir, &app, "contain");
    let prefix = cfg.job_name_prefix.clone().expect("prefix");
    let base = [
        ("PATH", "/usr/bin:/bin"),
        ("MY_DB_PASSWORD", "hunter2"),
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("HTTP_PROXY", "http://proxy:3128"),
        ("HOME", "/root"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let containment = Containment {
        env_allow: vec!["HTTP_PROXY".into()],
        protected: vec![app.server_dir().to_path_buf()],
        ..Containment::default()
    };
    let ex = SlurmExecutor::with_base_env(cfg, containment, Some(base));
    ex.check_ready().await.expect("the test cluster answers");

    // refused before sbatch: a train_url in the server's directory, a data_url outside the roots
    let mut bad = spec(&ex, &app, 1, 1, "true");
    bad.train_url = Some(app.server_dir().join("out").to_string_lossy().into_owned());
    // even under a root that contains it, the server's directory is never a version path
    bad.allowed_roots = vec![app.server_dir().parent().expect("parent").to_path_buf()];
    let e = ex.preflight(&bad).await.expect_err("server directory");
    assert!(e.reason.contains("train_url"), "{e:?}");
    assert!(e.reason.contains("server's directory"), "{e:?}");
    assert!(ex.submit(&bad).await.is_err());
    let mut bad = spec(&ex, &app, 2, 1, "true");
    bad.data_url = Some("/etc".into());
    let e = ex.preflight(&bad).await.expect_err("outside the roots");
    assert!(
        e.reason.contains("data_url") && e.reason.contains("outside the allowed roots"),
        "{e:?}"
    );
    assert!(ex.submit(&bad).await.is_err());
    assert!(squeue_by_name(&dir, &format!("{prefix}-1-1")).is_empty());
    assert!(squeue_by_name(&dir, &format!("{prefix}-1-2")).is_empty());

    let cmd = format!(
        "echo uid=$(id -u) home=$HOME tmp=$TMPDIR proxy=${{HTTP_PROXY:-}} pw=${{MY_DB_PASSWORD:-}} ak=${{AWS_ACCESS_KEY_ID:-}}; \
         echo secret=$(cat '{}' 2>/dev/null); touch \"$HOME/mine\" && echo home-writable",
        secret.display()
    );
    let mut s = spec(&ex, &app, 3, 1, &cmd);
    s.train_url = Some(app.path().join("out/deep").to_string_lossy().into_owned());
    ex.preflight(&s).await.expect("preflight");
    let h = ex.submit(&s).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{o:?}");
    let log = std::fs::read_to_string(log_path(&s.log_dir, 0)).expect("log");
    let home = s.log_dir.join("home");
    let want_uid = if root {
        65534
    } else {
        rustix::process::geteuid().as_raw()
    };
    assert!(
        log.starts_with(&format!(
            "uid={want_uid} home={0} tmp={0} proxy=http://proxy:3128 pw= ak=\n",
            home.display()
        )),
        "{log}"
    );
    assert!(log.contains("home-writable"), "{log}");
    assert!(
        app.path().join("out/deep").is_dir(),
        "train_url made by the job"
    );
    let meta = std::fs::metadata(&s.log_dir).expect("version dir");
    assert_eq!(meta.mode() & 0o777, 0o700);
    if root {
        assert!(
            log.contains("secret=\n"),
            "the job read the server's file: {log}"
        );
        assert_eq!(
            meta.uid(),
            65534,
            "the version directory belongs to the job's user"
        );
        assert_eq!(
            std::fs::metadata(app.path().join("out/deep"))
                .expect("out")
                .uid(),
            65534
        );
        // the log_url copy runs as the worker: a directory it cannot write gets nothing
        let locked = app.shared().join("locked");
        std::fs::create_dir(&locked).expect("mkdir");
        let mut h2 = h.clone();
        h2.allowed_roots = vec![app.shared().to_path_buf(), app.path().to_path_buf()];
        assert!(
            ex.copy_logs(&h2, &locked, &["w0.log".to_owned()])
                .await
                .is_err()
        );
        assert!(!locked.join("w0.log").exists());
    }
    let dest = app.path().join("copied");
    let written = ex
        .copy_logs(&h, &dest, &["w0.log".to_owned()])
        .await
        .expect("copy to a place the worker may write");
    assert_eq!(written, [dest.join("w0.log")]);
    assert_eq!(
        std::fs::read_to_string(dest.join("w0.log")).expect("copy"),
        log
    );
    if root {
        let m = std::fs::metadata(dest.join("w0.log")).expect("copy");
        assert_eq!(m.uid(), 65534, "written with the worker's rights");
    }
}
