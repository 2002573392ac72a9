//! Adoption after a "server restart": the first executor is dropped (its monitors end, the
//! processes keep running) and a new executor adopts the runs from their serialised handles.

use std::time::Duration;

use trainyard_executor::{ExecError, LocalWorker, RunHandle, WorkerExit, exit_status_path};

use crate::helpers::{App, alive, bounded, gone_within};

/// A worker that writes its pid, waits for the file `go`, then runs `then`.
fn gated(then: &str) -> String {
    format!(
        "echo $$ > pid-$TRAINYARD_WORKER_INDEX.tmp; mv pid-$TRAINYARD_WORKER_INDEX.tmp pid-$TRAINYARD_WORKER_INDEX; while [ ! -e go ]; do sleep 0.05; done; {then}"
    )
}

/// Submits with a first drops it, and returns the stored handle as JSON.
async fn submit_and_forget(app: &App, workers: u32, cmd: &str) -> String {
    let first = app.executor();
    let h = first
        .submit(&app.shell(1, workers, cmd))
        .await
        .expect("submit");
    for i in 0..workers {
        app.wait_pid(&format!("pid-{i}")).await;
    }
    let json = h.to_json();
    drop(first);
    tokio::time::sleep(Duration::from_millis(50)).await;
    json
}

#[tokio::test]
async fn adopted_run_reports_its_exit_code() {
    let app = App::new();
    let json = submit_and_forget(&app, 1, &gated("exit 7")).await;
    let h = RunHandle::from_json(&json).expect("parse");
    let second = app.executor();
    second.adopt(&h).await.expect("adopt");
    second.adopt(&h).await.expect("adopting twice is fine");
    assert_eq!(second.try_outcome(&h).expect("known"), None);
    std::fs::write(app.path().join("go"), "").expect("go");
    let o = bounded(second.wait(&h)).await.expect("wait");
    assert_eq!(o.workers, [WorkerExit::Exited { code: 7 }]);
    assert_eq!(o.exit_code, 7);
    assert!(!o.success && !o.stopped);
    assert_eq!(
        std::fs::read_to_string(exit_status_path(&app.logs(), 0)).expect("exit file"),
        "7\n"
    );
}

#[tokio::test]
async fn adopted_run_reports_a_signal() {
    let app = App::new();
    let json = submit_and_forget(&app, 1, &gated("kill -9 $$")).await;
    let h = RunHandle::from_json(&json).expect("parse");
    let second = app.executor();
    second.adopt(&h).await.expect("adopt");
    std::fs::write(app.path().join("go"), "").expect("go");
    let o = bounded(second.wait(&h)).await.expect("wait");
    assert_eq!(o.workers, [WorkerExit::Signaled { signal: 9 }]);
    assert_eq!(o.exit_code, 137);
}

#[tokio::test]
async fn adopted_multi_worker_run_with_one_worker_already_done() {
    let app = App::new();
    let first = app.executor();
    let h = first
        .submit(&app.shell(
            1,
            2,
            r#"echo $$ > pid-$RANK.tmp; mv pid-$RANK.tmp pid-$RANK; if [ "$RANK" = 1 ]; then while [ ! -e go ]; do sleep 0.05; done; fi; exit 0"#,
        ))
        .await
        .expect("submit");
    app.wait_pid("pid-1").await;
    // worker 0 finishes while the first executor still runs; then the "server" goes away
    let start = std::time::Instant::now();
    while !exit_status_path(&app.logs(), 0).exists() {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let json = h.to_json();
    drop(first);
    let h = RunHandle::from_json(&json).expect("parse");
    let second = app.executor();
    second.adopt(&h).await.expect("adopt");
    std::fs::write(app.path().join("go"), "").expect("go");
    let o = bounded(second.wait(&h)).await.expect("wait");
    assert!(o.success, "{o:?}");
}

#[tokio::test]
async fn stop_of_an_unknown_run_adopts_and_stops_it() {
    let app = App::new();
    let json = submit_and_forget(&app, 2, &gated("exit 0")).await;
    let pid0 = app.wait_pid("pid-0").await;
    let h = RunHandle::from_json(&json).expect("parse");
    let second = app.executor();
    let o = bounded(second.stop(&h, Duration::from_secs(2)))
        .await
        .expect("stop");
    assert!(o.stopped, "{o:?}");
    assert!(gone_within(pid0, Duration::from_secs(2)).await);
    // now everything is gone: a third executor cannot find it
    let third = app.executor();
    let err = third
        .stop(&h, Duration::from_secs(1))
        .await
        .expect_err("lost");
    assert!(matches!(err, ExecError::Lost(_)), "{err:?}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn adopt_of_a_finished_run_is_lost_with_the_recorded_outcome() {
    let app = App::new();
    let first = app.executor();
    let before = now_ms();
    let h = first
        .submit(&app.shell(1, 1, "exit 0"))
        .await
        .expect("submit");
    let live = bounded(first.wait(&h)).await.expect("wait");
    assert!(live.success);
    assert_eq!(live.ended_at_ms, None, "a watched end is 'now'");
    let after = now_ms();
    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    let second = app.executor();
    let lost = second.adopt(&h).await.expect_err("lost");
    assert!(
        lost.reason.contains("exited with code 0"),
        "{}",
        lost.reason
    );
    let recorded = lost.recorded.expect("recorded outcome");
    assert!(recorded.success);
    let ended = recorded.ended_at_ms.expect("recorded end");
    assert!(
        (before..=after).contains(&ended),
        "the end the wrapper recorded ({ended}) is within the run ({before}..{after})"
    );
    assert!(matches!(
        second.wait(&h).await,
        Err(ExecError::UnknownRun { .. })
    ));
}

#[tokio::test]
async fn adopt_with_a_different_start_time_is_lost() {
    let app = App::new();
    let first = app.executor();
    let h = first
        .submit(&app.shell(1, 1, &gated("exit 0")))
        .await
        .expect("submit");
    let pid = app.wait_pid("pid-0").await;
    let mut forged = h.clone();
    let w: LocalWorker = h.local_workers().expect("local")[0];
    forged.backend = trainyard_executor::BackendHandle::Local {
        workers: vec![LocalWorker {
            start_time: w.start_time + 1,
            ..w
        }],
    };
    let second = app.executor();
    let lost = second.adopt(&forged).await.expect_err("lost");
    assert!(
        lost.reason.contains("left no exit status"),
        "{}",
        lost.reason
    );
    assert!(lost.recorded.is_none());
    // the real process was not touched
    assert!(alive(pid));
    let o = bounded(first.stop(&h, Duration::from_secs(2)))
        .await
        .expect("stop");
    assert!(o.stopped);
}

#[tokio::test]
async fn adopt_of_a_dead_pid_is_lost() {
    let app = App::new();
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let pid = i32::try_from(child.id()).expect("pid");
    child.wait().expect("wait");
    let h = RunHandle {
        job_id: 9,
        version_id: 9,
        log_dir: app.logs(),
        workers: 1,
        identity: None,
        allowed_roots: vec![],
        backend: trainyard_executor::BackendHandle::Local {
            workers: vec![LocalWorker {
                index: 0,
                pid,
                pgid: pid,
                start_time: 1,
            }],
        },
    };
    let lost = app.executor().adopt(&h).await.expect_err("lost");
    assert!(
        lost.reason.contains(&format!("pid {pid}")),
        "{}",
        lost.reason
    );
}
