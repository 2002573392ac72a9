//! Orphans: worker processes started for a version whose run handle never reached the store.
//!
//! A run's handle is stored together with status 8 RUNNING, right after the executor has
//! spawned the workers. A server killed between the two leaves the version in 7 WAITING with
//! processes nobody knows about. At the next start such versions are scheduled again, so their
//! old processes are found first (by the [`super::runspec::RUN_DIR_VAR`] variable in
//! `/proc/<pid>/environ`, which names the version's log directory and hence this data directory)
//! and their process groups are killed: the version then runs once more from the start.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::HashSet;
use std::path::PathBuf;

/// Kills the process groups of every process of this user whose environment has
/// `TRAINYARD_RUN_DIR=<d>` for a `d` in `dirs`. Returns the groups killed.
pub fn kill_orphans(dirs: &HashSet<PathBuf>) -> Vec<i32> {
    if dirs.is_empty() {
        return Vec::new();
    }
    let wanted: HashSet<Vec<u8>> = dirs
        .iter()
        .map(|d| {
            let mut v = format!("{}=", super::runspec::RUN_DIR_VAR).into_bytes();
            v.extend_from_slice(d.as_os_str().as_encoded_bytes());
            v
        })
        .collect();
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut groups: HashSet<i32> = HashSet::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(environ) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if !environ.split(|b| *b == 0).any(|kv| wanted.contains(kv)) {
            continue;
        }
        if let Some(pgid) = pgrp(pid)
            && pgid > 1
            && pgid != me
        {
            groups.insert(pgid);
        }
    }
    let mut killed: Vec<i32> = groups.into_iter().collect();
    killed.sort_unstable();
    for &g in &killed {
        tracing::warn!(
            pgid = g,
            "killing the processes of a run whose handle was never stored"
        );
        let _ = killpg(Pid::from_raw(g), Signal::SIGKILL);
    }
    killed
}

/// Field 5 of `/proc/<pid>/stat` (the process group).
fn pgrp(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_kills_a_marked_group() {
        use std::os::unix::process::CommandExt;
        let dir = PathBuf::from(format!("/tmp/trainyard-orphan-test-{}", std::process::id()));
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 30")
            .env(super::super::runspec::RUN_DIR_VAR, &dir)
            .process_group(0)
            .spawn()
            .expect("spawn");
        let pid = child.id() as i32;
        // Wait until the exec has happened (the environment is readable).
        for _ in 0..100 {
            if std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|e| !e.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let other = HashSet::from([PathBuf::from("/tmp/not-this-one")]);
        assert!(kill_orphans(&other).is_empty());
        let killed = kill_orphans(&HashSet::from([dir]));
        assert_eq!(killed, vec![pid]);
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
}
