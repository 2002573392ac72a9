//! Restarts (`runtime.md` "Restarts and crashes"): a server stopped with versions running and
//! waiting, whose workers are left alive (as after a crash), and a second server on the same
//! data directory that adopts, loses, stops and schedules them, each exactly once.

use crate::common::{TestServer, scratch, share};
use crate::lifecycle::{alive, create_cmd, detail, wait_file, wait_status};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    trainyard_server::state::now_ms()
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The process group of a pid (field 5 of /proc/<pid>/stat).
fn pgrp(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(2).unwrap().parse().unwrap()
}

fn kill_group(pgid: i32) {
    let ok = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pgid}")])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -KILL -{pgid}");
}

#[tokio::test]
async fn restart_adopts_loses_stops_and_schedules_each_version_once() {
    let marks = scratch();
    let m = marks.path().to_str().unwrap().to_owned();
    // A long grace so the stopped version is still in 9 when the server goes away.
    let s = TestServer::start(|c| {
        c.quotas = 4;
        c.stop_grace_secs = 60.0;
        share(c, marks.path());
    })
    .await;
    // adopted: still running across the restart, completes afterwards.
    let gate = marks.path().join("gate");
    let adopted = create_cmd(
        &s,
        "adopted",
        &format!("echo start >> {m}/adopted; while [ ! -e {m}/gate ]; do sleep 0.05; done; echo end >> {m}/adopted"),
    )
    .await;
    // killed: its processes are killed while no server runs → 14 without exit code.
    let killed = create_cmd(
        &s,
        "killed",
        &format!("echo $$ >> {m}/killed; exec sleep 60"),
    )
    .await;
    // finished: ends with code 7 while no server runs → 11 FAILED with exit code 7 and the end
    // its wrapper recorded (issue 9 §3), not 14 LOST at the recovery time.
    let finished = create_cmd(
        &s,
        "finished",
        &format!(
            "echo start >> {m}/finished; while [ ! -e {m}/finish ]; do sleep 0.05; done; exit 7"
        ),
    )
    .await;
    // stopping: in 9 KILLING at shutdown (ignores SIGTERM); the new server stops it → 12.
    let stopping = create_cmd(
        &s,
        "stopping",
        &format!("trap '' TERM; echo $$ >> {m}/stopping; sleep 60"),
    )
    .await;
    for &(j, v) in &[adopted, killed, finished, stopping] {
        wait_status(&s, j, v, &[8]).await;
    }
    // waiting: the project's 4 slots are taken.
    let w1 = create_cmd(&s, "waiting1", &format!("echo run >> {m}/waiting1")).await;
    let w2 = create_cmd(&s, "waiting2", &format!("echo run >> {m}/waiting2")).await;
    wait_status(&s, w1.0, w1.1, &[7]).await;
    wait_status(&s, w2.0, w2.1, &[7]).await;
    let stopping_pid: i32 = wait_file(&marks.path().join("stopping"))
        .await
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // the trap is installed
    let (c, _) = s
        .post(
            &format!("/training-jobs/{}/versions/{}/stop", stopping.0, stopping.1),
            &json!({}),
        )
        .await;
    assert_eq!(c, 200);
    assert_eq!(detail(&s, stopping.0, stopping.1).await["status"], 9);
    let killed_pid: i32 = wait_file(&marks.path().join("killed"))
        .await
        .trim()
        .parse()
        .unwrap();
    wait_file(&marks.path().join("adopted")).await;
    wait_file(&marks.path().join("finished")).await;

    // The server goes away; the workers stay.
    let dir = s.stop().await;
    assert!(alive(killed_pid) && alive(stopping_pid));
    kill_group(pgrp(killed_pid));
    std::fs::write(marks.path().join("finish"), "").unwrap();
    let exit_file = |(j, v): (i64, i64)| dir.path().join(format!("logs/{j}/{v}/worker-0.exit"));
    let finish_asked = now_ms();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(exit_file(finished))
        .unwrap_or_default()
        .is_empty()
        || alive(killed_pid)
    {
        assert!(Instant::now() < deadline, "workers did not end");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let finish_seen = now_ms();
    // a gap between the end and the restart, so a recovery-time end would show
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let restarted = now_ms();

    let s = TestServer::start_in(dir, |c| {
        c.quotas = 4;
        c.stop_grace_secs = 0.5;
        share(c, marks.path());
    })
    .await;
    // Reconciled before the server answered: the lost ones are 14 at the first look.
    let d = detail(&s, killed.0, killed.1).await;
    assert_eq!(d["status"], 14, "{d}");
    assert_eq!(d["exit_code"], serde_json::Value::Null, "{d}");
    assert!(
        d["status_reason"].as_str().unwrap().contains("worker 0"),
        "{d}"
    );
    assert!(d["end_time"].is_i64(), "{d}");
    let d = detail(&s, finished.0, finished.1).await;
    assert_eq!(d["status"], 11, "{d}");
    assert_eq!(d["exit_code"], 7, "{d}");
    let reason = d["status_reason"].as_str().unwrap();
    assert!(
        reason.contains("worker 0 exited with code 7") && reason.contains("server was not running"),
        "{d}"
    );
    let end = d["end_time"].as_i64().unwrap();
    assert!(
        (finish_asked - 50..=finish_seen + 50).contains(&end) && end < restarted,
        "the recorded end ({end}) is between the finish ({finish_asked}..{finish_seen}), not the recovery ({restarted}): {d}"
    );
    assert_eq!(
        d["duration"].as_i64().unwrap(),
        end - d["start_time"].as_i64().unwrap(),
        "{d}"
    );
    let d = detail(&s, adopted.0, adopted.1).await;
    assert_eq!(d["status"], 8, "{d}");
    // The adopted run goes on and completes; the stopping one is stopped; the waiting ones run.
    std::fs::write(&gate, "").unwrap();
    let d = wait_status(&s, adopted.0, adopted.1, &[10]).await;
    assert_eq!(d["exit_code"], 0, "{d}");
    let d = wait_status(&s, stopping.0, stopping.1, &[12]).await;
    // SIGKILL after the grace also kills the adopted worker's wrapper, so no exit status is
    // recorded: -1 (unknown) rather than 137.
    assert!(d["exit_code"] == -1 || d["exit_code"] == 137, "{d}");
    assert!(
        d["status_reason"]
            .as_str()
            .unwrap()
            .starts_with("stopped on request"),
        "{d}"
    );
    assert!(!alive(stopping_pid));
    wait_status(&s, w1.0, w1.1, &[10]).await;
    wait_status(&s, w2.0, w2.1, &[10]).await;
    // Nothing ran twice.
    assert_eq!(lines(&marks.path().join("adopted")), ["start", "end"]);
    assert_eq!(lines(&marks.path().join("finished")), ["start"]);
    assert_eq!(lines(&marks.path().join("killed")).len(), 1);
    assert_eq!(lines(&marks.path().join("stopping")).len(), 1);
    assert_eq!(lines(&marks.path().join("waiting1")), ["run"]);
    assert_eq!(lines(&marks.path().join("waiting2")), ["run"]);
    // The list agrees.
    let (_, l) = s.list(&[("per_page", "10")]).await;
    let mut st: Vec<(String, i64)> = l["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["job_name"].as_str().unwrap().to_owned(),
                r["status"].as_i64().unwrap(),
            )
        })
        .collect();
    st.sort();
    assert_eq!(
        st,
        [
            ("adopted", 10),
            ("finished", 11),
            ("killed", 14),
            ("stopping", 12),
            ("waiting1", 10),
            ("waiting2", 10)
        ]
        .map(|(n, s)| (n.to_owned(), s))
    );
}

#[tokio::test]
async fn workers_started_but_never_recorded_are_killed_and_the_version_runs_again() {
    // Simulates a server killed between spawning the workers and storing status 8 with the
    // run handle: the version is back in 7 without a handle while its processes run. And one
    // killed while a deleted version's workers were still in their stop grace: the version is
    // gone from the store while its processes run.
    let marks = scratch();
    let m = marks.path().to_str().unwrap().to_owned();
    let s = TestServer::start(|c| share(c, marks.path())).await;
    let (j, v) = create_cmd(&s, "orphan", &format!("echo $$ >> {m}/pids; exec sleep 60")).await;
    let (gj, gv) = create_cmd(&s, "gone", &format!("echo $$ >> {m}/gone; exec sleep 60")).await;
    let (kj, kv) = create_cmd(&s, "kept", &format!("echo $$ >> {m}/kept; exec sleep 60")).await;
    for (j, v) in [(j, v), (gj, gv), (kj, kv)] {
        wait_status(&s, j, v, &[8]).await;
    }
    let first: i32 = wait_file(&marks.path().join("pids"))
        .await
        .trim()
        .parse()
        .unwrap();
    let gone: i32 = wait_file(&marks.path().join("gone"))
        .await
        .trim()
        .parse()
        .unwrap();
    let kept: i32 = wait_file(&marks.path().join("kept"))
        .await
        .trim()
        .parse()
        .unwrap();
    let dir = s.stop().await;
    let db = dir.path().join("trainyard.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE versions SET status = 7, start_time = NULL, run_handle = NULL WHERE version_id = ?1",
        [v],
    )
    .unwrap();
    conn.execute("DELETE FROM versions WHERE version_id = ?1", [gv])
        .unwrap();
    conn.execute("DELETE FROM jobs WHERE job_id = ?1", [gj])
        .unwrap();
    drop(conn);
    assert!(alive(first) && alive(gone) && alive(kept));
    let s = TestServer::start_in(dir, |c| share(c, marks.path())).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(first) || alive(gone) {
        assert!(Instant::now() < deadline, "an orphan still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(alive(kept), "the adopted run was left alone");
    assert_eq!(detail(&s, kj, kv).await["status"], 8);
    wait_status(&s, j, v, &[8]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while lines(&marks.path().join("pids")).len() < 2 {
        assert!(Instant::now() < deadline, "the version did not run again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pids = lines(&marks.path().join("pids"));
    assert_eq!(pids.len(), 2, "{pids:?}");
    let second: i32 = pids[1].parse().unwrap();
    assert!(alive(second));
    for (j, v) in [(j, v), (kj, kv)] {
        let (c, _) = s
            .post(&format!("/training-jobs/{j}/versions/{v}/stop"), &json!({}))
            .await;
        assert_eq!(c, 200);
        wait_status(&s, j, v, &[12]).await;
    }
    assert!(!alive(second) && !alive(kept));
    assert_eq!(lines(&marks.path().join("gone")).len(), 1);
}
