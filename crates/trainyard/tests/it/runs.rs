//! Runs across faults (issue 9 §3): a full disk while versions end, and versions that end
//! while the server is down.

use crate::server::{ServerProc, free_port, root_or_skip, serve_args};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A server whose data directory is a small tmpfs of its own (a private mount namespace, so
/// nothing is left mounted when it dies). The test reaches that file system through
/// `/proc/<server pid>/root/...`.
fn server_on_small_tmpfs(mount_point: &Path, extra: &[&str]) -> ServerProc {
    let port = free_port();
    let data = mount_point.join("data");
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=16m,mode=0755 tmpfs "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(mount_point)
        .arg(env!("CARGO_BIN_EXE_trainyard"))
        .args(serve_args(port, &data))
        .args(extra);
    ServerProc::spawn(cmd, port)
}

/// The server's view of `path` (inside its mount namespace).
fn seen_by(server: &ServerProc, path: &Path) -> PathBuf {
    let rel = path.strip_prefix("/").unwrap();
    PathBuf::from(format!("/proc/{}/root", server.pid())).join(rel)
}

/// The child pids of `pid` (all its threads).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// Fills the file system holding `dir` (until ENOSPC); returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 64 * 1024];
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected, got {e}");
                break;
            }
        }
    }
    let _ = f.sync_all();
    path
}

/// Issue 9 §3: after a disk-full, a version whose wrapper could not write its exit status (and
/// whose end the store could not record) must not stay RUNNING, or KILLING after a stop: the
/// server knows its own children's exit status, keeps it, and records the end once the store
/// can write again; `jobs wait` then ends with the right answer.
#[test]
fn disk_full_while_versions_end_then_space_returns() {
    if !root_or_skip("disk_full_while_versions_end_then_space_returns") {
        return;
    }
    let mnt = tempfile::tempdir().unwrap();
    let server = server_on_small_tmpfs(mnt.path(), &["--stop-grace-secs", "2"]);
    // one version that fails by itself, one that ignores SIGTERM and is stopped
    let (j1, v1) = server.create_command_job("full-fail", "sleep 3; exit 3");
    let (j2, v2) = server.create_command_job("full-stop", "trap '' TERM; sleep 60");
    server.wait_status(j1, v1, &[8], Duration::from_secs(20));
    server.wait_status(j2, v2, &[8], Duration::from_secs(20));
    // `jobs wait` on the failing one, from before the fault to the end
    let mut waiter = Command::new(env!("CARGO_BIN_EXE_trainyard"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TRAINYARD_") {
            waiter.env_remove(k);
        }
    }
    let waiter = waiter
        .current_dir(mnt.path())
        .args([
            "--endpoint",
            &server.base,
            "--project",
            crate::server::PROJECT,
        ])
        .args([
            "jobs",
            "wait",
            "full-fail",
            "--interval",
            "0.2",
            "--timeout",
            "120",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (st, body) = server.post(
        &format!("/training-jobs/{j2}/versions/{v2}/stop"),
        &serde_json::json!({}),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(server.version(j2, v2)["status"], 9);
    let filler = fill(&seen_by(&server, mnt.path()));
    // both runs end while nothing can be written: the wrappers cannot record an exit status
    // and the store cannot record the ends. Wait until the server has reaped both workers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !children(server.pid()).is_empty() {
        assert!(Instant::now() < deadline, "the workers did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let exit_file = seen_by(
        &server,
        &mnt.path()
            .join(format!("data/logs/{j1}/{v1}/worker-0.exit")),
    );
    let recorded = std::fs::read_to_string(&exit_file).unwrap_or_default();
    assert!(
        recorded.trim().is_empty(),
        "the wrapper could not write its status (the disk is full): {recorded:?}"
    );
    std::fs::remove_file(filler).unwrap();
    let d1 = server.wait_status(j1, v1, &[10, 11, 12, 14], Duration::from_secs(60));
    assert_eq!(d1["status"], 11, "{d1}");
    assert_eq!(d1["exit_code"], 3, "{d1}");
    let d2 = server.wait_status(j2, v2, &[10, 11, 12, 14], Duration::from_secs(60));
    assert_eq!(d2["status"], 12, "{d2}");
    assert_eq!(d2["exit_code"], 137, "SIGKILL after the grace: {d2}");
    // the end time is when the run ended, not when the disk had room again
    let (s1, e1) = (
        d1["start_time"].as_i64().unwrap(),
        d1["end_time"].as_i64().unwrap(),
    );
    assert!(
        (2_500..15_000).contains(&(e1 - s1)),
        "sleep 3 ran about 3 s: start {s1}, end {e1}"
    );
    assert!(
        server.logged("cannot record the end of a run"),
        "the failed store write was reported"
    );
    let out = waiter.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("exit code 3") && stderr.contains("FAILED (11)"),
        "jobs wait ended with the real end: {stdout} {stderr}"
    );
}
