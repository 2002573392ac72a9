//! The per-run monitor task: learns each worker's exit, applies the fail-fast rule, carries out
//! stops (SIGTERM, then SIGKILL after the grace period) and publishes the [`RunOutcome`].

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use process_wrap::tokio::ChildWrapper;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::logs::finalize_log;
use crate::outcome::{RunOutcome, WorkerExit, compose_outcome};
use crate::procfs;

/// How the monitor learns that a worker ended.
pub(crate) enum Source {
    /// A child of this process: awaited through tokio (no polling).
    Child(Box<dyn ChildWrapper>),
    /// A process adopted after a restart: watched with a pidfd (or by polling `/proc`), its
    /// status then read from the exit file.
    Adopted {
        /// Pid of the wrapper.
        pid: i32,
        /// Its start time, as recorded at submit.
        start_time: u64,
    },
    /// Already ended (found so at adoption).
    Done(WorkerExit),
}

/// One worker as the monitor sees it.
pub(crate) struct MonitorWorker {
    /// Process group to signal.
    pub pgid: i32,
    /// The exit file of the worker.
    pub exit_file: PathBuf,
    /// The log file of the worker (finalised when the run ends).
    pub log_file: PathBuf,
    /// The worker's memory cgroup, if any: emptied when the worker ends, removed with the run,
    /// and read for OOM kills.
    pub cgroup: Option<super::cgroup::WorkerCgroup>,
    /// How to learn the exit.
    pub source: Source,
}

/// Commands from the executor to a monitor.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// Stop the run: SIGTERM now, SIGKILL after `grace`.
    Stop {
        /// Grace period before SIGKILL.
        grace: Duration,
    },
}

/// Timing settings of a monitor.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// Grace period given to the other workers when one fails.
    pub failure_grace: Duration,
    /// Poll interval for adopted workers when pidfds are unavailable.
    pub poll: Duration,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    Stopping,
    Failing(u32),
}

/// Sends `sig` to a process group, ignoring a group that no longer exists.
pub(crate) fn signal_group(pgid: i32, sig: Signal) {
    if pgid <= 1 {
        return;
    }
    match killpg(Pid::from_raw(pgid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => {
            tracing::warn!(pgid, signal = %sig, error = %e, "cannot signal worker process group")
        }
    }
}

/// Reads an exit file written by the wrapper: a regular file (never through a symlink) holding
/// a decimal status and a newline, nothing else.
pub(crate) fn read_exit_file(path: &std::path::Path) -> Option<WorkerExit> {
    use std::io::Read;
    let mut text = String::new();
    crate::logs::open_regular(path)
        .ok()?
        .take(16)
        .read_to_string(&mut text)
        .ok()?;
    let digits = text.strip_suffix('\n')?;
    if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<i32>()
        .ok()
        .map(WorkerExit::from_wrapper_code)
}

/// Registers a pidfd with the tokio reactor (it becomes readable when the process exits).
#[allow(unsafe_code)] // the only unsafe in the crate; tokio made fd registration `unsafe`
fn register_pidfd(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `register_with_interest` requires that `as_raw_fd()` stays the same open file
    // description for the lifetime of the `AsyncFd`. An `OwnedFd` owns its descriptor, returns
    // the same number on every call and closes it only when dropped, which happens when the
    // `AsyncFd` itself is dropped.
    unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.map_err(std::io::Error::from)
}

/// Waits until `pid` (started at `start_time`) is no longer running.
async fn wait_gone(pid: i32, start_time: u64, poll: Duration) {
    if let Some(p) = rustix::process::Pid::from_raw(pid)
        && let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
    {
        // The pidfd pins this pid: if the start time still matches now, the fd refers to our
        // process and becomes readable when it exits.
        if !procfs::is_same_running(pid, start_time) {
            return;
        }
        match register_pidfd(fd) {
            Ok(afd) => {
                let _ = afd.readable().await;
                return;
            }
            Err(e) => tracing::debug!(pid, error = %e, "pidfd not pollable, polling /proc"),
        }
    }
    wait_gone_polling(pid, start_time, poll).await;
}

/// The fallback of [`wait_gone`]: checks `/proc/<pid>/stat` every `poll`.
async fn wait_gone_polling(pid: i32, start_time: u64, poll: Duration) {
    while procfs::is_same_running(pid, start_time) {
        tokio::time::sleep(poll).await;
    }
}

/// Runs a monitor to completion and publishes the outcome on `out`.
pub(crate) async fn run(
    workers: Vec<MonitorWorker>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    out: watch::Sender<Option<RunOutcome>>,
    timing: Timing,
    run_dir: Option<PathBuf>,
) {
    let n = workers.len();
    let mut exits: Vec<Option<WorkerExit>> = vec![None; n];
    let mut order: Vec<u32> = Vec::with_capacity(n);
    let pgids: Vec<i32> = workers.iter().map(|w| w.pgid).collect();
    let logs: Vec<PathBuf> = workers.iter().map(|w| w.log_file.clone()).collect();
    let mut cgroups: Vec<Option<super::cgroup::WorkerCgroup>> = Vec::with_capacity(n);
    let mut oom: Vec<bool> = vec![false; n];
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, WorkerExit)>();
    // Owned here so that aborting the monitor aborts the waiters too.
    let mut waiters = JoinSet::new();
    for (i, mut w) in workers.into_iter().enumerate() {
        let tx = tx.clone();
        cgroups.push(w.cgroup.take());
        match w.source {
            Source::Done(e) => {
                let _ = tx.send((i, e));
            }
            Source::Child(mut child) => {
                waiters.spawn(async move {
                    let e = match child.wait().await {
                        Ok(status) => WorkerExit::from_status(status),
                        Err(err) => {
                            tracing::warn!(worker = i, error = %err, "cannot wait for worker");
                            WorkerExit::Unknown
                        }
                    };
                    let _ = tx.send((i, e));
                });
            }
            Source::Adopted { pid, start_time } => {
                let exit_file = w.exit_file;
                let poll = timing.poll;
                waiters.spawn(async move {
                    wait_gone(pid, start_time, poll).await;
                    let e = read_exit_file(&exit_file).unwrap_or(WorkerExit::Unknown);
                    let _ = tx.send((i, e));
                });
            }
        }
    }
    drop(tx);

    let mut phase = Phase::Running;
    let mut deadline: Option<Instant> = None;
    let mut killed = false;
    let mut cmds_open = true;
    let signal_alive = |exits: &[Option<WorkerExit>], sig: Signal| {
        for (i, e) in exits.iter().enumerate() {
            if e.is_none()
                && let Some(&pgid) = pgids.get(i)
            {
                signal_group(pgid, sig);
            }
        }
    };
    while exits.iter().any(Option::is_none) {
        let sleep_until = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some((i, e)) => {
                    if exits.get(i).is_some_and(Option::is_none) {
                        exits[i] = Some(e);
                        order.push(i as u32);
                        // The leader is gone: whatever it left in its group goes too, and in
                        // its cgroup (processes that left the group).
                        signal_group(pgids[i], Signal::SIGKILL);
                        if let Some(Some(cg)) = cgroups.get(i) {
                            oom[i] = cg.oom_kills() > 0;
                        }
                        if let Some(cg) = cgroups.get_mut(i).and_then(Option::take) {
                            let left = tokio::task::spawn_blocking(move || {
                                cg.kill_all();
                                cg
                            })
                            .await;
                            if let (Ok(cg), Some(slot)) = (left, cgroups.get_mut(i)) {
                                *slot = Some(cg);
                            }
                        }
                        tracing::debug!(worker = i, exit = ?e, "worker ended");
                        if !e.is_success() && phase == Phase::Running {
                            phase = Phase::Failing(i as u32);
                            signal_alive(&exits, Signal::SIGTERM);
                            let d = Instant::now() + timing.failure_grace;
                            deadline = Some(deadline.map_or(d, |old| old.min(d)));
                        }
                    }
                }
                None => {
                    // Every waiter is gone (only if one panicked): nothing more will be learnt.
                    for e in exits.iter_mut().filter(|e| e.is_none()) {
                        *e = Some(WorkerExit::Unknown);
                    }
                }
            },
            cmd = cmds.recv(), if cmds_open => match cmd {
                Some(Cmd::Stop { grace }) => {
                    if phase == Phase::Running {
                        phase = Phase::Stopping;
                    }
                    signal_alive(&exits, Signal::SIGTERM);
                    let d = Instant::now() + grace;
                    deadline = Some(deadline.map_or(d, |old| old.min(d)));
                }
                None => cmds_open = false,
            },
            () = tokio::time::sleep_until(sleep_until), if deadline.is_some() && !killed => {
                signal_alive(&exits, Signal::SIGKILL);
                killed = true;
            }
        }
    }
    for log in &logs {
        if let Err(e) = finalize_log(log) {
            tracing::warn!(path = %log.display(), error = %e, "cannot finalize log");
        }
    }
    let exits: Vec<WorkerExit> = exits
        .into_iter()
        .map(|e| e.unwrap_or(WorkerExit::Unknown))
        .collect();
    let failed = match phase {
        Phase::Failing(i) => Some(i),
        _ => None,
    };
    let mut outcome = compose_outcome(exits, &order, phase == Phase::Stopping, failed);
    if let Some(i) = outcome.failed_worker
        && oom.get(i as usize).copied().unwrap_or(false)
    {
        let limit = cgroups
            .get(i as usize)
            .and_then(Option::as_ref)
            .and_then(|c| c.limit_bytes)
            .map(|b| format!(" (limit {:.2} GiB)", b as f64 / (1u64 << 30) as f64))
            .unwrap_or_default();
        outcome.reason = format!(
            "worker {i} ran out of memory{limit} and was killed by the kernel (OOM): {}",
            outcome.reason
        );
    }
    let cleanup = tokio::task::spawn_blocking(move || {
        for cg in cgroups.into_iter().flatten() {
            cg.kill_all();
            cg.remove();
        }
        if let Some(dir) = run_dir {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a run directory")
                }
            }
        }
    });
    let _ = cleanup.await;
    tracing::info!(exit_code = outcome.exit_code, success = outcome.success, stopped = outcome.stopped, reason = %outcome.reason, "run ended");
    out.send_replace(Some(outcome));
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(polling: bool) {
        let mut child = tokio::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .expect("spawn");
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).expect("pid");
        let start_time = procfs::stat(pid).expect("stat").start_time;
        let t = Instant::now();
        let poll = Duration::from_millis(100);
        let fut = async {
            if polling {
                wait_gone_polling(pid, start_time, poll).await;
            } else {
                wait_gone(pid, start_time, poll).await;
            }
        };
        // Reap concurrently, as the runtime would for an orphan.
        let (_, status) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(5), fut),
            child.wait()
        );
        assert!(status.expect("status").success());
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        assert!(t.elapsed() < Duration::from_secs(5));
        // a wrong start time is "gone" at once
        let t = Instant::now();
        wait_gone(i32::try_from(std::process::id()).expect("pid"), 1, poll).await;
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn pidfd_wait_sees_exit() {
        check(false).await;
    }

    #[tokio::test]
    async fn polling_wait_sees_exit() {
        check(true).await;
    }

    #[test]
    fn exit_file_parsing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("w.exit");
        assert_eq!(read_exit_file(&f), None);
        std::fs::write(&f, "143\n").expect("write");
        assert_eq!(
            read_exit_file(&f),
            Some(WorkerExit::Signaled { signal: 15 })
        );
        for bad in ["garbage", "", "3", "3\n4\n", "-1\n", "99999\n"] {
            std::fs::write(&f, bad).expect("write");
            assert_eq!(read_exit_file(&f), None, "{bad:?}");
        }
        // never through a symlink, never a FIFO
        let target = dir.path().join("t");
        std::fs::write(&target, "0\n").expect("write");
        let link = dir.path().join("l.exit");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert_eq!(read_exit_file(&link), None);
        let fifo = dir.path().join("fifo.exit");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo")
                .success()
        );
        assert_eq!(read_exit_file(&fifo), None);
    }
}
