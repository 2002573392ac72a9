//! The seam the supervisor relies on: pre-flight (→ 3 / 5), log directories, and reconciling
//! after a restart (orphans killed, adopted runs kept).

use std::time::Duration;

use trainyard_executor::{
    Executor, KnownRuns, LocalConfig, LocalExecutor, PreflightStage, RunCommand, WorkerLog,
    log_path,
};

use crate::helpers::{App, alive, bounded, gone_within};

#[tokio::test]
async fn preflight_sorts_path_and_program_problems_into_image_and_submit() {
    let app = App::new();
    let ex = app.executor();
    let argv = |prog: &str| RunCommand::Argv(vec![prog.into(), "main.py".into()]);

    // app_url missing → image stage, names the path
    let mut spec = app.spec(1, 1, argv("sh"));
    let gone = app.path().join("code");
    spec.app_url = Some(gone.clone());
    let e = ex.preflight(&spec).await.expect_err("no app dir");
    assert_eq!(e.stage, PreflightStage::Image);
    assert_eq!(
        e.reason,
        format!("app_url {} does not exist", gone.display())
    );

    // boot file missing → image stage
    let mut spec = app.spec(1, 1, argv("sh"));
    let boot = app.path().join("main.py");
    spec.boot_file = Some(boot.clone());
    let e = ex.preflight(&spec).await.expect_err("no boot file");
    assert_eq!(e.stage, PreflightStage::Image);
    assert_eq!(
        e.reason,
        format!("boot file {} does not exist", boot.display())
    );

    // paths fine, engine command unknown → submit stage, names the command
    std::fs::write(&boot, "print(1)\n").expect("write");
    let mut spec = app.spec(1, 1, argv("no-such-engine-xyz"));
    spec.boot_file = Some(boot.clone());
    let e = ex.preflight(&spec).await.expect_err("no engine");
    assert_eq!(e.stage, PreflightStage::Submit);
    assert_eq!(
        e.reason,
        "engine command \"no-such-engine-xyz\" not found on PATH"
    );

    // all fine; a shell command has no program to look up
    let mut spec = app.spec(1, 1, argv("sh"));
    spec.boot_file = Some(boot);
    ex.preflight(&spec).await.expect("ok");
    ex.preflight(&app.shell(1, 1, "anything at all"))
        .await
        .expect("ok");
    // nothing was started and no log directory created
    assert!(!app.logs().exists());
}

#[test]
fn log_dirs_are_by_ids_under_logs_dir() {
    let ex = LocalExecutor::new(LocalConfig {
        logs_dir: "/srv/ty/logs".into(),
        ..LocalConfig::default()
    });
    assert_eq!(ex.log_dir(3, 17), std::path::Path::new("/srv/ty/logs/3/17"));
    let log = WorkerLog {
        job_id: 3,
        version_id: 17,
        worker: 1,
    };
    assert_eq!(
        ex.worker_log(log),
        std::path::Path::new("/srv/ty/logs/3/17/worker-1.log")
    );
}

#[tokio::test]
async fn reconcile_kills_runs_no_adopted_version_accounts_for() {
    let app = App::new();
    let logs = app.server_dir().join("data/logs");
    let first = app.executor_in(&logs);
    let mut handles = Vec::new();
    for v in [1, 2] {
        let mut spec = app.shell(v, 1, &format!("echo $$ > pid-{v}; exec sleep 60"));
        spec.log_dir = first.log_dir(1, v);
        handles.push(first.submit(&spec).await.expect("submit"));
    }
    let pids = [app.wait_pid("pid-1").await, app.wait_pid("pid-2").await];
    drop(first); // "the server died": both keep running, only version 1's handle was stored
    let second = app.executor_in(&logs);
    second.adopt(&handles[0]).await.expect("adopt");
    // an executor over another logs dir finds nothing of ours
    let other = app.executor_in(&app.server_dir().join("elsewhere/logs"));
    let r = other.reconcile(&KnownRuns::default()).await;
    assert_eq!(r.orphans_ended, 0);
    assert!(alive(pids[0]) && alive(pids[1]));

    let known = KnownRuns {
        adopted: vec![handles[0].clone()],
        waiting: vec![(1, 2)],
    };
    let r = second.reconcile(&known).await;
    assert_eq!(r.orphans_ended, 1);
    assert!(
        gone_within(pids[1], Duration::from_secs(5)).await,
        "orphan still runs"
    );
    assert!(alive(pids[0]), "the adopted run was killed");
    let o = bounded(second.stop(&handles[0], Duration::from_secs(2)))
        .await
        .expect("stop");
    assert!(o.stopped);
    // the output went where log_dir said
    assert!(log_path(&second.log_dir(1, 1), 0).exists());
}
