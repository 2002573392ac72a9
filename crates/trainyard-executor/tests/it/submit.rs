//! Submit failures, pre-flight checks, idempotency.

use std::time::Duration;

use trainyard_executor::{ExecError, RunCommand, check_paths};

use crate::helpers::{App, bounded};

#[tokio::test]
async fn unknown_engine_command_is_a_submit_error() {
    let app = App::new();
    let ex = app.executor();
    let spec = app.spec(
        1,
        2,
        RunCommand::Argv(vec!["no-such-engine-xyz".into(), "train.py".into()]),
    );
    let err = ex.submit(&spec).await.expect_err("must fail");
    assert!(
        err.reason.contains("no-such-engine-xyz") && err.reason.contains("not found"),
        "{}",
        err.reason
    );
    assert!(!err.reason.contains('\n'));
    let h = trainyard_executor::RunHandle {
        job_id: 1,
        version_id: 1,
        log_dir: app.logs(),
        workers: 2,
        identity: None,
        allowed_roots: vec![],
        backend: trainyard_executor::BackendHandle::Local { workers: vec![] },
    };
    assert!(matches!(
        ex.wait(&h).await,
        Err(ExecError::UnknownRun { .. })
    ));
}

#[tokio::test]
async fn missing_working_directory_is_a_submit_error() {
    let app = App::new();
    let ex = app.executor();
    let mut spec = app.shell(1, 1, "true");
    spec.working_dir = app.path().join("gone");
    let err = ex.submit(&spec).await.expect_err("must fail");
    assert!(
        err.reason
            .contains(&app.path().join("gone").display().to_string()),
        "{}",
        err.reason
    );
}

#[tokio::test]
async fn not_executable_command_is_a_submit_error() {
    let app = App::new();
    std::fs::write(app.path().join("run.sh"), "echo hi\n").expect("write");
    let ex = app.executor();
    let err = ex
        .submit(&app.spec(1, 1, RunCommand::Argv(vec!["./run.sh".into()])))
        .await
        .expect_err("must fail");
    assert!(err.reason.contains("not executable"), "{}", err.reason);
    assert!(
        ex.submit(&app.spec(1, 1, RunCommand::Argv(vec![])))
            .await
            .is_err()
    );
    assert!(ex.submit(&app.shell(2, 0, "true")).await.is_err());
}

#[test]
fn check_paths_names_missing_app_and_boot_file() {
    let app = App::new();
    let gone = app.path().join("code");
    let err = check_paths(&gone, Some("main.py")).expect_err("no app dir");
    assert_eq!(err, format!("app_url {} does not exist", gone.display()));
    let err = check_paths(app.path(), Some("main.py")).expect_err("no boot file");
    assert_eq!(
        err,
        format!(
            "boot file {} does not exist",
            app.path().join("main.py").display()
        )
    );
}

#[tokio::test]
async fn submit_is_idempotent_while_running() {
    let app = App::new();
    let ex = app.executor();
    let spec = app.shell(1, 1, "sleep 30");
    let h1 = ex.submit(&spec).await.expect("submit");
    let h2 = ex.submit(&spec).await.expect("submit again");
    assert_eq!(h1, h2);
    assert_eq!(ex.active_runs(), std::slice::from_ref(&h1));
    assert_eq!(ex.try_outcome(&h1).expect("known"), None);
    let o = bounded(ex.stop(&h1, Duration::from_secs(2)))
        .await
        .expect("stop");
    assert!(o.stopped);
    assert!(ex.active_runs().is_empty());
    ex.forget(&h1);
    assert!(matches!(
        ex.try_outcome(&h1),
        Err(ExecError::UnknownRun { .. })
    ));
}

/// A `user_command` run without `app_url` works in its private run directory (its `HOME` and
/// `TMPDIR`), not in the log directory, which submit creates for the server and which workers
/// cannot enter; the run directory is removed when the run ends.
#[tokio::test]
async fn a_run_without_app_url_works_in_its_private_run_directory() {
    let app = App::new();
    let ex = app.executor();
    let mut spec = app.shell(1, 1, r#"pwd; echo "$HOME $TMPDIR"; ls -d "$TMPDIR" > /dev/null && touch "$HOME/scratch" && echo writable"#);
    spec.app_url = None;
    spec.working_dir = app.logs();
    assert!(!app.logs().exists());
    let h = ex.submit(&spec).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{}", o.reason);
    let run_dir = ex.run_dir(1, 1);
    let log = std::fs::read_to_string(trainyard_executor::log_path(&app.logs(), 0)).expect("log");
    let d = run_dir.display();
    assert_eq!(log, format!("{d}\n{d} {d}\nwritable\n"));
    assert!(app.logs().is_dir(), "the log directory was made");
    assert!(
        !run_dir.exists(),
        "the run directory is removed with the run"
    );
}
