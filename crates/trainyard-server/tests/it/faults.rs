//! Faults from issue 3 "Bad input and faults", through the HTTP API with real processes: a
//! worker killed by a signal it did not ask for (what the OOM killer does), a job writing
//! 100 MB of logs, and 200 versions created at once under `quotas` 4.

use crate::common::TestServer;
use crate::lifecycle::{create, detail, wait_status};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_by_sigkill_fails_with_137_and_says_so() {
    let s = TestServer::start(|_| {}).await;
    let (j, v) = create(
        &s,
        &TestServer::job_body("oom", "echo started; kill -KILL $$; sleep 5"),
    )
    .await;
    let d = wait_status(&s, j, v, &[11]).await;
    assert_eq!(d["exit_code"], 128 + 9, "{d}");
    let reason = d["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("SIGKILL") || reason.contains("signal 9"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_writing_100_mb_of_logs_completes_and_its_tail_is_readable() {
    let s = TestServer::start(|_| {}).await;
    // 1,000,000 lines of 100 'x' + '\n' = 101,000,000 bytes
    let cmd = "head -c 100000000 /dev/zero | tr '\\000' x | fold -w 100; echo; echo last-line";
    let (j, v) = create(&s, &TestServer::job_body("bigLog", cmd)).await;
    let d = wait_status(&s, j, v, &[10]).await;
    assert_eq!(d["exit_code"], 0, "{d}");
    let t = Instant::now();
    let (code, page) = s
        .get(
            &format!("/training-jobs/{j}/versions/{v}/aom-log"),
            &[("log_file", "bigLog-V0001.0"), ("lines", "3")],
        )
        .await;
    assert_eq!(code, 200, "{page}");
    let x100 = "x".repeat(100);
    assert_eq!(
        page["content"].as_str().unwrap(),
        format!("{x100}\n{x100}\nlast-line\n")
    );
    // the list stays answerable meanwhile (no timing assertion: see the benchmarks)
    assert_eq!(s.list(&[]).await.0, 200);
    assert!(t.elapsed() < Duration::from_secs(10));
    let log = s
        .dir
        .path()
        .join("logs")
        .join(j.to_string())
        .join(v.to_string())
        .join("worker-0.log");
    assert_eq!(
        std::fs::metadata(&log).unwrap().len(),
        101_000_000 + "last-line\n".len() as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_versions_at_once_with_quotas_4_all_complete_never_more_than_4_running() {
    let s = TestServer::start(|c| {
        c.quotas = 4;
        c.max_running = 64;
    })
    .await;
    let mut made = Vec::new();
    for i in 0..200 {
        made.push(
            create(
                &s,
                &TestServer::job_body(&format!("burst-{i:03}"), "sleep 0.05"),
            )
            .await,
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut most_running = 0;
    loop {
        let (_, running) = s.list(&[("status", "8,9"), ("per_page", "1")]).await;
        most_running = most_running.max(running["job_total_count"].as_u64().unwrap());
        let (_, done) = s.list(&[("status", "10"), ("per_page", "1")]).await;
        if done["job_total_count"].as_u64() == Some(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all 200 completed in time: {done}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        most_running <= 4,
        "at most quotas=4 running at once, saw {most_running}"
    );
    for (j, v) in made.iter().step_by(37) {
        assert_eq!(detail(&s, *j, *v).await["status"], 10);
    }
}
