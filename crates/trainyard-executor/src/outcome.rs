//! How a run ended: [`WorkerExit`] per worker and the [`RunOutcome`] of the run.

use serde::{Deserialize, Serialize};
use trainyard_api::status::JobStatus;

/// How one worker ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkerExit {
    /// The worker exited with this code.
    Exited {
        /// The exit code (0–255).
        code: i32,
    },
    /// The worker was ended by this signal.
    ///
    /// Workers run under a small `sh` wrapper (crate README, "Exit status"), which sees a
    /// signal death as the shell does: as code `128 + n`. Codes 129–159 whose `n` is a signal
    /// that terminates by default are therefore reported as `Signaled { signal: n }`; a program
    /// that deliberately exits with such a code is reported the same way. The `exit_code` is
    /// `128 + n` either way.
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// The worker ended while nobody watched it (across a server restart) and left no exit
    /// status behind (its wrapper was killed too, e.g. by SIGKILL to its process group).
    Unknown,
}

impl WorkerExit {
    /// Whether this is a clean exit (code 0).
    pub fn is_success(&self) -> bool {
        matches!(self, WorkerExit::Exited { code: 0 })
    }

    /// The exit code per `training-jobs.md` §3: the code, `128 + signal` for a signal, and
    /// `-1` for [`WorkerExit::Unknown`].
    pub fn exit_code(&self) -> i32 {
        match *self {
            WorkerExit::Exited { code } => code,
            WorkerExit::Signaled { signal } => 128 + signal,
            WorkerExit::Unknown => -1,
        }
    }

    /// Interprets the status recorded by the worker wrapper (the shell's `$?`).
    pub(crate) fn from_wrapper_code(code: i32) -> WorkerExit {
        if (129..=159).contains(&code) && terminates_by_default(code - 128) {
            WorkerExit::Signaled { signal: code - 128 }
        } else {
            WorkerExit::Exited { code }
        }
    }

    /// Interprets the wait status of a wrapper process spawned by this process.
    pub(crate) fn from_status(status: std::process::ExitStatus) -> WorkerExit {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => WorkerExit::from_wrapper_code(code),
            (None, Some(signal)) => WorkerExit::Signaled { signal },
            (None, None) => WorkerExit::Unknown,
        }
    }

    /// A short description: `exited with code 3`, `was killed by signal 9 (SIGKILL)`.
    pub fn describe(&self) -> String {
        match *self {
            WorkerExit::Exited { code } => format!("exited with code {code}"),
            WorkerExit::Signaled { signal } => {
                format!("was killed by signal {signal} ({})", signal_name(signal))
            }
            WorkerExit::Unknown => "ended without recording an exit status".to_owned(),
        }
    }
}

/// Whether signal `n`'s default action ends the process (so `128 + n` is read as that signal).
fn terminates_by_default(n: i32) -> bool {
    // SIGCHLD 17, SIGCONT 18, SIGSTOP 19, SIGTSTP 20, SIGTTIN 21, SIGTTOU 22, SIGURG 23,
    // SIGWINCH 28 do not end a process.
    (1..=31).contains(&n) && !matches!(n, 17..=23 | 28)
}

/// The name of a signal number, e.g. `SIGKILL`, or `signal N` when unknown.
pub fn signal_name(signal: i32) -> String {
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s.as_str().to_owned(),
        Err(_) => format!("signal {signal}"),
    }
}

/// How a run ended, as the supervisor needs it.
///
/// Mapping to statuses: `success` → 10 COMPLETED; `stopped` → 12 KILLED; otherwise 11 FAILED.
/// `exit_code` and `reason` go to the version's `exit_code` and `status_reason`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// How each worker ended, indexed by worker.
    pub workers: Vec<WorkerExit>,
    /// The first non-zero worker exit code, in the order the exits were observed (`128 + signal`
    /// for a signal, `-1` if unknown), or 0 when every worker exited 0.
    pub exit_code: i32,
    /// All workers exited 0 and no stop was requested.
    pub success: bool,
    /// A stop was requested ([`crate::Executor::stop`]) before any worker failed: the run
    /// counts as stopped by the user, whatever the workers' exits.
    pub stopped: bool,
    /// The worker whose failure failed the run (the first to end unsuccessfully), if any.
    pub failed_worker: Option<u32>,
    /// One line for `status_reason`, e.g. `worker 1 exited with code 3; the other workers were
    /// stopped`.
    pub reason: String,
    /// When the run ended (epoch milliseconds UTC), if the executor knows it from a record
    /// rather than from watching: e.g. the time the last worker recorded its exit status while
    /// the server was down. `None`: it ended when the executor reported it (use "now").
    #[serde(default)]
    pub ended_at_ms: Option<i64>,
}

impl RunOutcome {
    /// The terminal status of a version whose run ended with this outcome (`statuses.md`).
    ///
    /// * `ran`: the version reached 8 RUNNING. Then 12 KILLED when it was stopped (or a stop was
    ///   requested: `stopping`, the version is in 9 KILLING), 10 COMPLETED when it succeeded,
    ///   else 11 FAILED.
    /// * otherwise (a cluster job that never started, the version is still 7 WAITING): 13
    ///   CANCELED when it was stopped, else 5 SUBMIT_FAILED (the engine could not start it).
    pub fn final_status(&self, ran: bool, stopping: bool) -> JobStatus {
        match (ran, self.stopped || stopping, self.success) {
            (true, true, _) => JobStatus::Killed,
            (true, false, true) => JobStatus::Completed,
            (true, false, false) => JobStatus::Failed,
            (false, true, _) => JobStatus::Canceled,
            (false, false, _) => JobStatus::SubmitFailed,
        }
    }
}

/// Builds the outcome of a run from the workers' exits, `order` being the worker indexes in the
/// order their exits were observed.
pub(crate) fn compose_outcome(
    workers: Vec<WorkerExit>,
    order: &[u32],
    stop_requested_first: bool,
    failed_first: Option<u32>,
) -> RunOutcome {
    let exit_code = order
        .iter()
        .filter_map(|&i| workers.get(i as usize))
        .map(WorkerExit::exit_code)
        .find(|&c| c != 0)
        .unwrap_or(0);
    let all_ok = workers.iter().all(WorkerExit::is_success);
    let n = workers.len();
    if stop_requested_first {
        let detail = order
            .iter()
            .filter_map(|&i| workers.get(i as usize).map(|w| (i, w)))
            .find(|(_, w)| !w.is_success())
            .map(|(i, w)| format!(" (worker {i} {})", w.describe()))
            .unwrap_or_default();
        return RunOutcome {
            workers,
            exit_code,
            success: false,
            stopped: true,
            failed_worker: None,
            reason: format!("stopped on request{detail}"),
            ended_at_ms: None,
        };
    }
    if let Some(i) = failed_first.filter(|_| !all_ok) {
        let what = workers
            .get(i as usize)
            .map(WorkerExit::describe)
            .unwrap_or_else(|| "failed".to_owned());
        let others = if n > 1 {
            "; the other workers were stopped"
        } else {
            ""
        };
        let exit_code = workers
            .get(i as usize)
            .map(WorkerExit::exit_code)
            .unwrap_or(exit_code);
        return RunOutcome {
            workers,
            exit_code,
            success: false,
            stopped: false,
            failed_worker: Some(i),
            reason: format!("worker {i} {what}{others}"),
            ended_at_ms: None,
        };
    }
    let reason = if n == 1 {
        "the worker exited with code 0".to_owned()
    } else {
        format!("all {n} workers exited with code 0")
    };
    RunOutcome {
        workers,
        exit_code,
        success: all_ok,
        stopped: false,
        failed_worker: None,
        reason,
        ended_at_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_codes() {
        assert_eq!(
            WorkerExit::from_wrapper_code(0),
            WorkerExit::Exited { code: 0 }
        );
        assert_eq!(
            WorkerExit::from_wrapper_code(3),
            WorkerExit::Exited { code: 3 }
        );
        assert_eq!(
            WorkerExit::from_wrapper_code(137),
            WorkerExit::Signaled { signal: 9 }
        );
        assert_eq!(
            WorkerExit::from_wrapper_code(143),
            WorkerExit::Signaled { signal: 15 }
        );
        assert_eq!(
            WorkerExit::from_wrapper_code(145),
            WorkerExit::Exited { code: 145 }
        );
        assert_eq!(
            WorkerExit::from_wrapper_code(200),
            WorkerExit::Exited { code: 200 }
        );
        assert_eq!(WorkerExit::Signaled { signal: 9 }.exit_code(), 137);
        assert!(
            WorkerExit::Signaled { signal: 9 }
                .describe()
                .contains("SIGKILL")
        );
    }

    #[test]
    fn outcome_first_failure_wins() {
        let w = vec![
            WorkerExit::Signaled { signal: 15 },
            WorkerExit::Exited { code: 3 },
        ];
        let o = compose_outcome(w, &[1, 0], false, Some(1));
        assert_eq!(o.exit_code, 3);
        assert!(!o.success && !o.stopped);
        assert_eq!(o.failed_worker, Some(1));
        assert_eq!(
            o.reason,
            "worker 1 exited with code 3; the other workers were stopped"
        );
    }

    #[test]
    fn outcome_success_and_stop() {
        let o = compose_outcome(vec![WorkerExit::Exited { code: 0 }], &[0], false, None);
        assert!(o.success);
        assert_eq!(o.exit_code, 0);
        let o = compose_outcome(vec![WorkerExit::Signaled { signal: 15 }], &[0], true, None);
        assert!(o.stopped && !o.success);
        assert_eq!(o.exit_code, 143);
        assert!(o.reason.contains("SIGTERM"), "{}", o.reason);
    }
}
