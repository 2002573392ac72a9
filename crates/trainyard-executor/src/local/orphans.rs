//! Orphans: worker processes of this server that no stored run accounts for.
//!
//! A run's handle is stored together with status 8 RUNNING, right after the executor has
//! spawned the workers. A server killed between the two leaves the version in 7 WAITING with
//! processes nobody knows about; a server killed while a deleted version's workers were still
//! in their stop grace leaves processes of a version that no longer exists. At the next start,
//! after the stored 8/9 runs were adopted, every process whose environment carries
//! [`RUN_DIR_VAR`] naming a version log directory of *this* executor's `logs_dir`
//! (`<logs_dir>/<job_id>/<version_id>`) that is not an adopted run's is such an orphan: its
//! process group is killed. A version that was waiting then runs once more from the start (its
//! log keeps the earlier output). Processes of other servers (other data directories) are never
//! touched.
//!
//! (Moved here from the server's `supervisor/orphans.rs`: the supervisor only schedules and
//! records; [`crate::Executor::reconcile`] of the local executor calls [`kill_orphans`].)

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Pid, getpgrp};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The variable every local worker gets with its version's log directory. It tells this
/// server's processes apart from anything else on the machine.
pub const RUN_DIR_VAR: &str = "TRAINYARD_RUN_DIR";

/// The version log directory named by an environment entry `TRAINYARD_RUN_DIR=<dir>`, when it
/// is `<logs_dir>/<job_id>/<version_id>`.
fn run_dir_of(entry: &[u8], prefix: &[u8]) -> Option<PathBuf> {
    let rest = entry.strip_prefix(prefix)?;
    let s = std::str::from_utf8(rest).ok()?;
    let (job, version) = s.split_once('/')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(job) || !digits(version) {
        return None;
    }
    let path = std::str::from_utf8(entry).ok()?.split_once('=')?.1;
    Some(PathBuf::from(path))
}

/// Kills the process groups of every process of this user whose environment has
/// `TRAINYARD_RUN_DIR=<logs_dir>/<job_id>/<version_id>` with a directory not in `keep`.
/// Returns the groups killed.
pub(crate) fn kill_orphans(logs_dir: &Path, keep: &HashSet<PathBuf>) -> Vec<i32> {
    let mut prefix = format!("{RUN_DIR_VAR}=").into_bytes();
    prefix.extend_from_slice(logs_dir.as_os_str().as_encoded_bytes());
    prefix.push(b'/');
    let me = std::process::id() as i32;
    let my_group = getpgrp().as_raw();
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
        let orphan = environ
            .split(|b| *b == 0)
            .filter_map(|kv| run_dir_of(kv, &prefix))
            .any(|dir| !keep.contains(&dir));
        if !orphan {
            continue;
        }
        if let Some(pgid) = pgrp(pid)
            && pgid > 1
            && pgid != me
            && pgid != my_group
        {
            groups.insert(pgid);
        }
    }
    let mut killed: Vec<i32> = groups.into_iter().collect();
    killed.sort_unstable();
    for &g in &killed {
        tracing::warn!(
            pgid = g,
            "killing the processes of a run this server does not account for"
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
    fn run_dirs_are_recognised_only_under_the_logs_dir() {
        let prefix = b"TRAINYARD_RUN_DIR=/d/logs/";
        assert_eq!(
            run_dir_of(b"TRAINYARD_RUN_DIR=/d/logs/3/17", prefix),
            Some(PathBuf::from("/d/logs/3/17"))
        );
        assert_eq!(run_dir_of(b"TRAINYARD_RUN_DIR=/d/logs2/3/17", prefix), None);
        assert_eq!(run_dir_of(b"TRAINYARD_RUN_DIR=/d/logs/3", prefix), None);
        assert_eq!(
            run_dir_of(b"TRAINYARD_RUN_DIR=/d/logs/3/17/x", prefix),
            None
        );
        assert_eq!(run_dir_of(b"OTHER=/d/logs/3/17", prefix), None);
    }

    #[test]
    fn finds_and_kills_unaccounted_groups_only() {
        use std::os::unix::process::CommandExt;
        let logs = PathBuf::from(format!("/tmp/trainyard-orphan-test-{}", std::process::id()));
        let spawn = |dir: &Path| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg("sleep 30")
                .env(RUN_DIR_VAR, dir)
                .process_group(0)
                .spawn()
                .expect("spawn")
        };
        let kept_dir = logs.join("1/2");
        let mut orphan = spawn(&logs.join("1/3"));
        let mut kept = spawn(&kept_dir);
        for pid in [orphan.id(), kept.id()] {
            // Wait until the exec has happened (the environment is readable).
            for _ in 0..100 {
                if std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|e| !e.is_empty()) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let elsewhere = PathBuf::from("/tmp/not-this-one/logs");
        assert!(kill_orphans(&elsewhere, &HashSet::new()).is_empty());
        let killed = kill_orphans(&logs, &HashSet::from([kept_dir]));
        assert_eq!(killed, vec![orphan.id() as i32]);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(orphan.wait().expect("wait").signal(), Some(9));
        assert!(
            kept.try_wait().expect("try_wait").is_none(),
            "the kept run still runs"
        );
        let _ = kept.kill();
        let _ = kept.wait();
    }
}
