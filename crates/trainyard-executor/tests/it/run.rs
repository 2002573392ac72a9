//! Runs to completion: exit codes, signals, environment, fail-fast.

use std::time::Duration;

use trainyard_executor::{RunCommand, WorkerExit, build_argv, log_path};

use crate::helpers::{App, alive, bounded, gone_within};

#[tokio::test]
async fn exit_zero_is_success_and_output_is_logged() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, "echo out; echo err >&2; echo out2"))
        .await
        .expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{o:?}");
    assert!(!o.stopped);
    assert_eq!(o.exit_code, 0);
    assert_eq!(o.workers, [WorkerExit::Exited { code: 0 }]);
    let log = std::fs::read_to_string(log_path(&app.logs(), 0)).expect("log");
    assert_eq!(log, "out\nerr\nout2\n");
    // waiting again returns the same outcome at once
    assert_eq!(bounded(ex.wait(&h)).await.expect("wait"), o);
    assert_eq!(ex.try_outcome(&h).expect("known"), Some(o));
}

#[tokio::test]
async fn exit_three_is_exit_code_three() {
    let app = App::new();
    let ex = app.executor();
    let h = ex.submit(&app.shell(1, 1, "exit 3")).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(!o.success && !o.stopped);
    assert_eq!(o.exit_code, 3);
    assert_eq!(o.failed_worker, Some(0));
    assert_eq!(o.reason, "worker 0 exited with code 3");
}

#[tokio::test]
async fn self_sigkill_is_137_and_named() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, "kill -9 $$"))
        .await
        .expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(!o.success && !o.stopped);
    assert_eq!(o.exit_code, 137);
    assert_eq!(o.workers, [WorkerExit::Signaled { signal: 9 }]);
    assert!(o.reason.contains("SIGKILL"), "{}", o.reason);
}

#[tokio::test]
async fn multi_worker_environment_and_cwd() {
    let app = App::new();
    let ex = app.executor();
    let mut spec = app.shell(
        1,
        3,
        r#"echo "$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT" > "env-$RANK.txt"; pwd -P > "cwd-$RANK.txt"; echo "$TRAINYARD_JOB_ID $TRAINYARD_VERSION_ID $DATA_URL|$TRAIN_URL|$CUDA_VISIBLE_DEVICES|${LEAK-none}" > "ids-$RANK.txt""#,
    );
    spec.data_url = Some("/data/in".into());
    spec.env = vec![("LEAK".into(), "no".into())];
    let h = ex.submit(&spec).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{o:?}");
    let cwd = app.path().canonicalize().expect("canon");
    let mut ports = Vec::new();
    for r in 0..3 {
        let env = app.wait_file(&format!("env-{r}.txt")).await;
        let f: Vec<&str> = env.split_whitespace().collect();
        assert_eq!(
            f[..4],
            [
                r.to_string().as_str(),
                "3",
                r.to_string().as_str(),
                "127.0.0.1"
            ]
        );
        let port: u16 = f[4].parse().expect("port");
        assert_ne!(port, 0);
        ports.push(port);
        assert_eq!(
            app.wait_file(&format!("cwd-{r}.txt")).await.trim(),
            cwd.to_string_lossy()
        );
        assert_eq!(
            app.wait_file(&format!("ids-{r}.txt")).await,
            "1 1 /data/in|||no\n"
        );
    }
    assert!(ports.windows(2).all(|w| w[0] == w[1]), "{ports:?}");
}

#[tokio::test]
async fn single_worker_has_no_distributed_variables() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(
            1,
            1,
            r#"echo "${RANK-unset} ${WORLD_SIZE-unset} ${MASTER_PORT-unset}" > env.txt"#,
        ))
        .await
        .expect("submit");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
    assert_eq!(app.wait_file("env.txt").await, "unset unset unset\n");
}

#[tokio::test]
async fn argv_command_gets_boot_file_and_parameters() {
    let app = App::new();
    std::fs::write(
        app.path().join("train.sh"),
        "for a in \"$@\"; do echo \"arg:$a\"; done\n",
    )
    .expect("write");
    let argv = build_argv(
        "sh",
        app.path(),
        "train.sh",
        &[("lr".into(), "0.5".into()), ("name".into(), "a b".into())],
        Some("/d"),
        Some("/t"),
    );
    let ex = app.executor();
    let h = ex
        .submit(&app.spec(1, 1, RunCommand::Argv(argv)))
        .await
        .expect("submit");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
    let log = std::fs::read_to_string(log_path(&app.logs(), 0)).expect("log");
    assert_eq!(
        log,
        "arg:--lr=0.5\narg:--name=a b\narg:--data_url=/d\narg:--train_url=/t\n"
    );
}

#[tokio::test]
async fn one_failing_worker_stops_the_others() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(
            1,
            3,
            r#"if [ "$RANK" = 1 ]; then while [ ! -s pid-0 ] || [ ! -s pid-2 ]; do sleep 0.05; done; exit 3; fi
echo $$ > "pid-$RANK.tmp"; mv "pid-$RANK.tmp" "pid-$RANK"; exec sleep 30"#,
        ))
        .await
        .expect("submit");
    let p0 = app.wait_pid("pid-0").await;
    let p2 = app.wait_pid("pid-2").await;
    let start = std::time::Instant::now();
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(!o.success && !o.stopped);
    assert_eq!(o.exit_code, 3);
    assert_eq!(o.failed_worker, Some(1));
    assert_eq!(o.workers[0], WorkerExit::Signaled { signal: 15 });
    assert_eq!(o.workers[2], WorkerExit::Signaled { signal: 15 });
    assert_eq!(
        o.reason,
        "worker 1 exited with code 3; the other workers were stopped"
    );
    assert!(
        gone_within(p0, Duration::from_secs(2)).await
            && gone_within(p2, Duration::from_secs(2)).await
    );
    assert!(!alive(p0) && !alive(p2));
}

#[tokio::test]
async fn failing_worker_escalates_to_sigkill_for_stubborn_peers() {
    let app = App::new();
    let ex = app.executor(); // failure grace 500 ms
    let h = ex
        .submit(&app.shell(
            1,
            2,
            r#"if [ "$RANK" = 0 ]; then while [ ! -s pid-1 ]; do sleep 0.05; done; exit 4; fi
trap '' TERM; echo $$ > pid-1.tmp; mv pid-1.tmp pid-1; while :; do sleep 0.1; done"#,
        ))
        .await
        .expect("submit");
    let p1 = app.wait_pid("pid-1").await;
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert_eq!(o.exit_code, 4);
    assert_eq!(o.workers[1], WorkerExit::Signaled { signal: 9 });
    assert!(gone_within(p1, Duration::from_secs(2)).await);
}
