//! Stopping runs.

use std::time::{Duration, Instant};

use trainyard_executor::WorkerExit;

use crate::helpers::{App, bounded, gone_within};

#[tokio::test]
async fn stop_terminates_and_reports_stopped() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(
            1,
            2,
            "echo $$ > pid-$RANK.tmp; mv pid-$RANK.tmp pid-$RANK; exec sleep 30",
        ))
        .await
        .expect("submit");
    let p0 = app.wait_pid("pid-0").await;
    let p1 = app.wait_pid("pid-1").await;
    let o = bounded(ex.stop(&h, Duration::from_secs(5)))
        .await
        .expect("stop");
    assert!(o.stopped && !o.success, "{o:?}");
    assert_eq!(o.exit_code, 143);
    assert_eq!(o.workers, [WorkerExit::Signaled { signal: 15 }; 2]);
    assert!(o.reason.starts_with("stopped on request"), "{}", o.reason);
    assert!(o.reason.contains("SIGTERM"), "{}", o.reason);
    assert!(
        gone_within(p0, Duration::from_secs(2)).await
            && gone_within(p1, Duration::from_secs(2)).await
    );
    // stopping again is harmless and returns the same outcome
    assert_eq!(
        bounded(ex.stop(&h, Duration::from_secs(5)))
            .await
            .expect("stop"),
        o
    );
}

#[tokio::test]
async fn worker_ignoring_sigterm_is_killed_after_grace() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(
            1,
            1,
            "trap '' TERM; echo $$ > pid.tmp; mv pid.tmp pid; while :; do sleep 0.1; done",
        ))
        .await
        .expect("submit");
    let pid = app.wait_pid("pid").await;
    let start = Instant::now();
    let o = bounded(ex.stop(&h, Duration::from_millis(500)))
        .await
        .expect("stop");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "returned after {took:?}"
    );
    assert!(took < Duration::from_secs(5), "returned after {took:?}");
    assert!(o.stopped);
    assert_eq!(o.workers, [WorkerExit::Signaled { signal: 9 }]);
    assert_eq!(o.exit_code, 137);
    assert!(gone_within(pid, Duration::from_secs(2)).await);
}

#[tokio::test]
async fn stop_kills_grandchildren() {
    let app = App::new();
    std::fs::write(
        app.path().join("job.sh"),
        "sleep 100 &\necho $! > child.tmp; mv child.tmp child\nbash -c 'trap \"\" TERM; sleep 100' &\necho $! > child2.tmp; mv child2.tmp child2\nwait\n",
    )
    .expect("write");
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, "bash job.sh"))
        .await
        .expect("submit");
    let child = app.wait_pid("child").await;
    let child2 = app.wait_pid("child2").await;
    let o = bounded(ex.stop(&h, Duration::from_millis(500)))
        .await
        .expect("stop");
    assert!(o.stopped);
    assert!(
        gone_within(child, Duration::from_secs(2)).await,
        "grandchild {child} survived"
    );
    assert!(
        gone_within(child2, Duration::from_secs(2)).await,
        "TERM-ignoring grandchild {child2} survived"
    );
}

#[tokio::test]
async fn leftovers_of_a_finished_worker_are_killed() {
    let app = App::new();
    let ex = app.executor();
    let h = ex
        .submit(&app.shell(1, 1, "sleep 100 & echo $! > bg.tmp; mv bg.tmp bg; exit 0"))
        .await
        .expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success);
    let bg = app.wait_pid("bg").await;
    assert!(
        gone_within(bg, Duration::from_secs(2)).await,
        "background process {bg} survived its worker"
    );
}

#[tokio::test]
async fn stop_after_the_end_keeps_the_outcome() {
    let app = App::new();
    let ex = app.executor();
    let h = ex.submit(&app.shell(1, 1, "exit 0")).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    let s = bounded(ex.stop(&h, Duration::from_secs(1)))
        .await
        .expect("stop");
    assert_eq!(o, s);
    assert!(s.success && !s.stopped);
}
