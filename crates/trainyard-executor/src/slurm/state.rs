//! What Slurm says about a job ([`JobInfo`], parsed from `squeue` and `sacct` lines) and how
//! that maps to trainyard: the Slurm state → status table of `docs/executors.md`.
//!
//! | Slurm state | phase | trainyard status (ran / never ran) | exit code | `status_reason` |
//! |---|---|---|---|---|
//! | PENDING, CONFIGURING, REQUEUED, REQUEUE_HOLD, REQUEUE_FED, RESV_DEL_HOLD | waiting | 7 (an 8 stays 8) | | |
//! | RUNNING, COMPLETING, SUSPENDED, STOPPED, RESIZING, SIGNALING, STAGE_OUT | running | 8 | | |
//! | COMPLETED | ended | 10 | 0 | `Slurm: COMPLETED` |
//! | FAILED | ended | 11 / 5 | code, or 128+signal | `Slurm: FAILED with exit code 3 (NonZeroExitCode) on n1` |
//! | CANCELLED | ended | 12 / 13 | code, or 128+signal | `stopped on request (Slurm: CANCELLED ...)` / `Slurm: CANCELLED ...` |
//! | TIMEOUT | ended | 11 / 5 | 128+signal (143) | `Slurm: TIMEOUT after 00:01:00 on n1` |
//! | NODE_FAIL | ended | 11 / 5 | as reported, else -1 | `Slurm: NODE_FAIL on n2` |
//! | OUT_OF_MEMORY | ended | 11 / 5 | as reported, else 137 | `Slurm: OUT_OF_MEMORY on node vm` |
//! | PREEMPTED | ended | 11 / 5 | as reported, else -1 | `Slurm: PREEMPTED on n1` |
//! | BOOT_FAIL | ended | 11 / 5 | as reported, else -1 | `Slurm: BOOT_FAIL on n1` |
//! | DEADLINE | ended | 11 / 5 | as reported, else -1 | `Slurm: DEADLINE reached` |
//! | any other ended state (SPECIAL_EXIT, REVOKED, ...) | ended | 11 / 5 | as reported, else -1 | `Slurm: <STATE>` |
//! | not known to Slurm (neither `squeue` nor `sacct`) | lost | 14 | | `Slurm no longer knows job 123 (ty-1-2)` |
//!
//! "Ran" means the batch script started (its start marker exists or the job was seen running);
//! a version that never reached 8 cannot end in 10/11/12 (statuses.md), so a job cancelled
//! while pending is 13 CANCELED and one Slurm could not start is 5 SUBMIT_FAILED. A stop
//! requested through trainyard makes any end of a job that ran 12 KILLED.

use crate::outcome::{RunOutcome, WorkerExit};

/// One job as a Slurm command reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JobInfo {
    /// Slurm job id.
    pub id: u64,
    /// Job name (`--job-name`).
    pub name: String,
    /// Base state, upper case (`CANCELLED`, not `CANCELLED by 0`).
    pub state: String,
    /// `squeue`'s reason (`None`, `Resources`, `NonZeroExitCode`, ...), empty from `sacct`.
    pub reason: String,
    /// How the batch script ended.
    pub exit: SlurmExit,
    /// Start time (epoch ms, UTC), when Slurm has one.
    pub start_ms: Option<i64>,
    /// End time (epoch ms, UTC), when Slurm has one.
    pub end_ms: Option<i64>,
    /// Allocated nodes (`n[1-2]`), may be empty.
    pub nodes: String,
    /// Time limit as Slurm prints it (`1:00`, `1-00:00:00`, `UNLIMITED`), may be empty.
    pub time_limit: String,
}

/// The exit status of a job as Slurm prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlurmExit {
    /// `squeue -O exit_code`: the raw wait status (`3 << 8` for exit 3, `9` for SIGKILL).
    Raw(i64),
    /// `sacct`/`scontrol`: `code:signal`.
    CodeSignal(i32, i32),
    /// Not reported.
    Unknown,
}

impl SlurmExit {
    /// `(code, signal)`.
    pub fn parts(self) -> Option<(i32, i32)> {
        match self {
            SlurmExit::Raw(w) => {
                let w = w.clamp(0, i64::from(u16::MAX)) as i32;
                Some(((w >> 8) & 0xff, w & 0x7f))
            }
            SlurmExit::CodeSignal(c, s) => Some((c, s)),
            SlurmExit::Unknown => None,
        }
    }

    /// The exit code per `training-jobs.md` §3: `128 + signal` for a signal, else the code.
    pub fn exit_code(self) -> Option<i32> {
        self.parts().map(|(c, s)| if s != 0 { 128 + s } else { c })
    }

    /// The same as a [`WorkerExit`].
    pub fn worker_exit(self) -> WorkerExit {
        match self.parts() {
            Some((_, s)) if s != 0 => WorkerExit::Signaled { signal: s },
            Some((c, _)) => WorkerExit::Exited { code: c },
            None => WorkerExit::Unknown,
        }
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Queued (7 WAITING).
    Waiting,
    /// Allocated and running, or paused (8 RUNNING).
    Running,
    /// Over: the state is final.
    Ended,
}

/// The phase of a Slurm state name (unknown names count as running when the job has started
/// and waiting otherwise, so that nothing ends on a state this table does not know).
pub(crate) fn phase_of(state: &str) -> Option<Phase> {
    Some(match state {
        "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
        | "RESV_DEL_HOLD" => Phase::Waiting,
        "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "RESIZING" | "SIGNALING"
        | "STAGE_OUT" => Phase::Running,
        "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT" | "NODE_FAIL" | "OUT_OF_MEMORY"
        | "PREEMPTED" | "BOOT_FAIL" | "DEADLINE" | "SPECIAL_EXIT" | "REVOKED" => Phase::Ended,
        _ => return None,
    })
}

/// Whether a job in this (ended) state certainly ran its batch script: these states are only
/// reached by a job that was started.
pub(crate) fn certainly_ran(state: &str) -> bool {
    matches!(state, "COMPLETED" | "TIMEOUT" | "OUT_OF_MEMORY")
}

/// `1:00` → `00:01:00`, `1-02:03:04` → `1-02:03:04`, `5` → `00:05:00`; anything else as is.
pub(crate) fn format_limit(limit: &str) -> String {
    let (days, rest) = match limit.split_once('-') {
        Some((d, r)) if d.bytes().all(|b| b.is_ascii_digit()) => (Some(d), r),
        _ => (None, limit),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    if parts.is_empty()
        || parts.len() > 3
        || !parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return limit.to_owned();
    }
    let n: Vec<u64> = parts.iter().filter_map(|p| p.parse().ok()).collect();
    let (h, m, s) = match n.as_slice() {
        [m] => (0, *m, 0),
        [m, s] => (0, *m, *s),
        [h, m, s] => (*h, *m, *s),
        _ => return limit.to_owned(),
    };
    match days {
        Some(d) => format!("{d}-{h:02}:{m:02}:{s:02}"),
        None => format!("{h:02}:{m:02}:{s:02}"),
    }
}

/// The outcome of an ended job (`info.state` in [`Phase::Ended`]), `workers` workers.
/// `stop_requested`: trainyard asked Slurm to stop it.
pub(crate) fn outcome_of(info: &JobInfo, workers: u32, stop_requested: bool) -> RunOutcome {
    let on = if info.nodes.is_empty() || info.nodes == "(null)" || info.nodes == "None assigned" {
        String::new()
    } else {
        format!(" on {}", info.nodes)
    };
    let reported = info.exit.exit_code();
    let nonzero = reported.filter(|&c| c != 0);
    let (exit_code, mut what) = match info.state.as_str() {
        "COMPLETED" => (reported.unwrap_or(0), "Slurm: COMPLETED".to_owned()),
        "FAILED" => {
            let code = nonzero.unwrap_or(-1);
            let why = match info.reason.as_str() {
                "" | "None" => String::new(),
                r => format!(" ({r})"),
            };
            let detail = match info.exit.worker_exit() {
                WorkerExit::Signaled { signal } => format!(
                    "killed by signal {signal} ({})",
                    crate::outcome::signal_name(signal)
                ),
                _ if code >= 0 => format!("with exit code {code}"),
                _ => "without an exit code".to_owned(),
            };
            (code, format!("Slurm: FAILED {detail}{why}{on}"))
        }
        "CANCELLED" => (nonzero.unwrap_or(143), format!("Slurm: CANCELLED{on}")),
        "TIMEOUT" => {
            let after = if info.time_limit.is_empty() || info.time_limit == "UNLIMITED" {
                String::new()
            } else {
                format!(" after {}", format_limit(&info.time_limit))
            };
            (nonzero.unwrap_or(143), format!("Slurm: TIMEOUT{after}{on}"))
        }
        "OUT_OF_MEMORY" => {
            let node = if on.is_empty() {
                String::new()
            } else {
                format!(" on node {}", info.nodes)
            };
            (
                nonzero.unwrap_or(137),
                format!("Slurm: OUT_OF_MEMORY{node}"),
            )
        }
        "DEADLINE" => (nonzero.unwrap_or(-1), "Slurm: DEADLINE reached".to_owned()),
        other => (nonzero.unwrap_or(-1), format!("Slurm: {other}{on}")),
    };
    let success = info.state == "COMPLETED" && exit_code == 0 && !stop_requested;
    let stopped = stop_requested || info.state == "CANCELLED";
    if stop_requested {
        what = format!("stopped on request ({what})");
    }
    let exit = if success {
        WorkerExit::Exited { code: 0 }
    } else {
        info.exit.worker_exit()
    };
    RunOutcome {
        workers: vec![exit; workers.max(1) as usize],
        exit_code: if success { 0 } else { exit_code },
        success,
        stopped,
        failed_worker: None,
        reason: what,
        ended_at_ms: info.end_ms,
    }
}

/// Fills in the workers' own exits (recorded by the task wrapper with the time they were
/// written) and, for a FAILED job that was not stopped, makes the first worker that failed the
/// one reported, as the local executor does: `exit_code` is its code and the reason says
/// `Slurm: FAILED (NonZeroExitCode) on n[1-2]: worker 1 exited with code 3; the other workers
/// were stopped` (srun itself returns the highest task exit code, e.g. 143 of the workers it
/// terminated after the failure).
pub(crate) fn apply_worker_exits(
    o: &mut RunOutcome,
    info: &JobInfo,
    ends: &[Option<(WorkerExit, std::time::SystemTime)>],
) {
    for (w, e) in o.workers.iter_mut().zip(ends) {
        if let Some((x, _)) = e {
            *w = *x;
        }
    }
    if o.success || o.stopped || info.state != "FAILED" {
        return;
    }
    let first = ends
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.filter(|(x, _)| !x.is_success()).map(|(x, t)| (t, i, x)))
        .min_by_key(|(t, i, _)| (*t, *i));
    let Some((_, i, x)) = first else {
        return;
    };
    let why = match info.reason.as_str() {
        "" | "None" => String::new(),
        r => format!(" ({r})"),
    };
    let on = if info.nodes.is_empty() || info.nodes == "(null)" {
        String::new()
    } else {
        format!(" on {}", info.nodes)
    };
    let others = if ends.len() > 1 {
        "; the other workers were stopped"
    } else {
        ""
    };
    o.exit_code = x.exit_code();
    o.failed_worker = u32::try_from(i).ok();
    o.reason = format!(
        "Slurm: FAILED{why}{on}: worker {i} {}{others}",
        x.describe()
    );
}

/// Lines Slurm writes into a job's output when it killed a step for its memory: the kernel's
/// OOM killer in the job's cgroup (`task/cgroup`), or `jobacct_gather`'s `OverMemoryKill`.
const OOM_MARKERS: [&str; 4] = [
    "Out Of Memory",
    "oom-kill event",
    "exceeded memory limit",
    "Exceeded job memory limit",
];

/// The last line of `text` (a job's output tail) in which Slurm reports a memory kill.
pub(crate) fn oom_evidence(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .find(|l| OOM_MARKERS.iter().any(|m| l.contains(m)))
        .map(|l| l.trim().chars().take(200).collect())
}

/// A failed job whose output shows a memory kill is reported as OUT_OF_MEMORY even when Slurm's
/// job state is FAILED: Slurm 22.05 sets OUT_OF_MEMORY only when the batch step itself was
/// OOM-killed, while a worker is a task of an `srun` step. The exit code becomes 137 (the
/// worker was killed by SIGKILL) unless Slurm reported a signal; the reason quotes Slurm.
pub(crate) fn mark_out_of_memory(o: &mut RunOutcome, info: &JobInfo, evidence: &str) {
    if o.success || o.stopped || info.state == "OUT_OF_MEMORY" {
        return;
    }
    let node = if info.nodes.is_empty() || info.nodes == "(null)" {
        String::new()
    } else {
        format!(" on node {}", info.nodes)
    };
    if !matches!(info.exit.worker_exit(), WorkerExit::Signaled { .. }) {
        o.exit_code = 137;
        for w in &mut o.workers {
            *w = WorkerExit::Signaled { signal: 9 };
        }
    }
    o.reason = format!(
        "Slurm: OUT_OF_MEMORY{node} (job state {}: {evidence})",
        info.state
    );
}

/// Parses a Slurm time stamp (`2026-12-06T00:09:08`, printed in UTC because the commands run
/// with `TZ=UTC`) into epoch ms; `None` for `N/A`, `Unknown`, `NONE` and the like.
pub(crate) fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // days from civil (Howard Hinnant's algorithm)
    let y = if mo <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000)
}

/// The squeue `-O` format the poller asks for; the name comes last because it may contain `|`.
pub(crate) const SQUEUE_FORMAT: &str =
    "JobID:|,State:|,Reason:|,exit_code:|,StartTime:|,EndTime:|,NodeList:|,TimeLimit:|,Name:|";

/// Parses one line of `squeue -h -O SQUEUE_FORMAT`; `None` for lines that do not parse
/// (array or heterogeneous job ids such as `12_3` are not ours).
pub(crate) fn parse_squeue_line(line: &str) -> Option<JobInfo> {
    let mut f = line.splitn(9, '|');
    let id = f.next()?.trim().parse().ok()?;
    let state = f.next()?.trim().to_owned();
    let reason = f.next()?.trim().to_owned();
    let exit = match f.next()?.trim().parse::<i64>() {
        Ok(w) => SlurmExit::Raw(w),
        Err(_) => SlurmExit::Unknown,
    };
    let start_ms = parse_time(f.next()?);
    let end_ms = parse_time(f.next()?);
    let nodes = f.next()?.trim().to_owned();
    let time_limit = f.next()?.trim().to_owned();
    let name = f.next()?;
    let name = name.strip_suffix('|').unwrap_or(name).trim_end().to_owned();
    Some(JobInfo {
        id,
        name,
        state,
        reason,
        exit,
        start_ms,
        end_ms,
        nodes,
        time_limit,
    })
}

/// The sacct `-o` fields the poller asks for (name last, as in [`SQUEUE_FORMAT`]).
pub(crate) const SACCT_FIELDS: &str = "JobID,State,ExitCode,Start,End,NodeList,Timelimit,JobName";

/// Parses one line of `sacct -n -P -o SACCT_FIELDS`; step lines (`12.batch`, `12.0`) and
/// lines that do not parse are `None`.
pub(crate) fn parse_sacct_line(line: &str) -> Option<JobInfo> {
    let mut f = line.splitn(8, '|');
    let id = f.next()?.trim().parse().ok()?;
    // `CANCELLED by 0` → `CANCELLED`
    let state = f.next()?.split_whitespace().next().unwrap_or("").to_owned();
    let exit = match f.next()?.trim().split_once(':') {
        Some((c, s)) => match (c.parse(), s.parse()) {
            (Ok(c), Ok(s)) => SlurmExit::CodeSignal(c, s),
            _ => SlurmExit::Unknown,
        },
        None => SlurmExit::Unknown,
    };
    let start_ms = parse_time(f.next()?);
    let end_ms = parse_time(f.next()?);
    let nodes = f.next()?.trim().to_owned();
    let time_limit = f.next()?.trim().to_owned();
    let name = f.next()?.trim_end().to_owned();
    Some(JobInfo {
        id,
        name,
        state,
        reason: String::new(),
        exit,
        start_ms,
        end_ms,
        nodes,
        time_limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainyard_api::status::JobStatus;

    fn job(state: &str, reason: &str, exit: SlurmExit) -> JobInfo {
        JobInfo {
            id: 42,
            name: "ty-1-2".into(),
            state: state.into(),
            reason: reason.into(),
            exit,
            start_ms: Some(1_000),
            end_ms: Some(2_000),
            nodes: "n1".into(),
            time_limit: "1:00".into(),
        }
    }

    /// The status the supervisor records for an ended job: `ran` = the version reached 8.
    fn status(info: &JobInfo, ran: bool, stop: bool) -> (JobStatus, i32, String) {
        assert_eq!(phase_of(&info.state), Some(Phase::Ended), "{}", info.state);
        let o = outcome_of(info, 1, stop);
        (o.final_status(ran, stop), o.exit_code, o.reason)
    }

    #[test]
    fn waiting_states() {
        for s in [
            "PENDING",
            "CONFIGURING",
            "REQUEUED",
            "REQUEUE_HOLD",
            "REQUEUE_FED",
            "RESV_DEL_HOLD",
        ] {
            assert_eq!(phase_of(s), Some(Phase::Waiting), "{s}");
        }
    }

    #[test]
    fn running_states() {
        for s in [
            "RUNNING",
            "COMPLETING",
            "SUSPENDED",
            "STOPPED",
            "RESIZING",
            "SIGNALING",
            "STAGE_OUT",
        ] {
            assert_eq!(phase_of(s), Some(Phase::Running), "{s}");
        }
        assert_eq!(phase_of("SOMETHING_NEW"), None);
    }

    #[test]
    fn row_completed() {
        let (st, code, reason) = status(&job("COMPLETED", "None", SlurmExit::Raw(0)), true, false);
        assert_eq!((st, code), (JobStatus::Completed, 0));
        assert_eq!(reason, "Slurm: COMPLETED");
        assert!(certainly_ran("COMPLETED"));
    }

    #[test]
    fn row_failed_exit_code_and_signal() {
        // exit 3: squeue's raw wait status 768 = 3 << 8; sacct's 3:0
        for exit in [SlurmExit::Raw(768), SlurmExit::CodeSignal(3, 0)] {
            let (st, code, reason) = status(&job("FAILED", "NonZeroExitCode", exit), true, false);
            assert_eq!((st, code), (JobStatus::Failed, 3));
            assert_eq!(
                reason,
                "Slurm: FAILED with exit code 3 (NonZeroExitCode) on n1"
            );
        }
        // the batch script killed by SIGKILL: raw 9, sacct 0:9
        for exit in [SlurmExit::Raw(9), SlurmExit::CodeSignal(0, 9)] {
            let (st, code, reason) = status(&job("FAILED", "", exit), true, false);
            assert_eq!((st, code), (JobStatus::Failed, 137));
            assert_eq!(reason, "Slurm: FAILED killed by signal 9 (SIGKILL) on n1");
        }
        // failed before its script started (e.g. the node could not chdir): never ran → 5
        let (st, code, _) = status(
            &job("FAILED", "JobLaunchFailure", SlurmExit::Raw(256)),
            false,
            false,
        );
        assert_eq!((st, code), (JobStatus::SubmitFailed, 1));
    }

    #[test]
    fn row_cancelled() {
        let j = job("CANCELLED", "None", SlurmExit::Raw(15));
        // running, stopped through trainyard: 12 with 128 + 15
        let (st, code, reason) = status(&j, true, true);
        assert_eq!((st, code), (JobStatus::Killed, 143));
        assert_eq!(reason, "stopped on request (Slurm: CANCELLED on n1)");
        // pending, cancelled: 13
        let (st, _, _) = status(&j, false, true);
        assert_eq!(st, JobStatus::Canceled);
        // cancelled by someone else (scancel outside trainyard): a stop all the same
        let (st, code, reason) = status(&j, true, false);
        assert_eq!((st, code), (JobStatus::Killed, 143));
        assert_eq!(reason, "Slurm: CANCELLED on n1");
        let (st, _, _) = status(&j, false, false);
        assert_eq!(st, JobStatus::Canceled);
        // sacct -c loses the signal (0:0): still 143
        let (_, code, _) = status(
            &job("CANCELLED", "", SlurmExit::CodeSignal(0, 0)),
            true,
            true,
        );
        assert_eq!(code, 143);
    }

    #[test]
    fn row_timeout() {
        let (st, code, reason) = status(
            &job("TIMEOUT", "TimeLimit", SlurmExit::Raw(15)),
            true,
            false,
        );
        assert_eq!((st, code), (JobStatus::Failed, 143));
        assert_eq!(reason, "Slurm: TIMEOUT after 00:01:00 on n1");
        assert!(certainly_ran("TIMEOUT"));
    }

    #[test]
    fn row_node_fail() {
        let (st, code, reason) = status(&job("NODE_FAIL", "", SlurmExit::Raw(0)), true, false);
        assert_eq!((st, code), (JobStatus::Failed, -1));
        assert_eq!(reason, "Slurm: NODE_FAIL on n1");
        assert_eq!(
            status(&job("NODE_FAIL", "", SlurmExit::Raw(0)), false, false).0,
            JobStatus::SubmitFailed
        );
    }

    #[test]
    fn row_out_of_memory() {
        let mut j = job("OUT_OF_MEMORY", "", SlurmExit::CodeSignal(0, 125));
        j.nodes = "vm".into();
        let (st, code, reason) = status(&j, true, false);
        assert_eq!(st, JobStatus::Failed);
        assert_eq!(code, 128 + 125);
        assert_eq!(reason, "Slurm: OUT_OF_MEMORY on node vm");
        j.exit = SlurmExit::Raw(0);
        assert_eq!(status(&j, true, false).1, 137);
    }

    #[test]
    fn memory_kills_seen_in_the_output_are_out_of_memory() {
        // task/cgroup (what Slurm 22.05 printed here for an srun step over --mem=200M)
        let cgroup = "allocated 150 MB\nslurmstepd-n1: error: Detected 1 oom-kill event(s) in StepId=2.0. Some of your processes may have been killed by the cgroup out-of-memory handler.\nsrun: error: n1: task 0: Out Of Memory\n";
        // jobacct_gather OverMemoryKill
        let acct = "slurmstepd-n1: error: StepId=2.0 exceeded memory limit (223498240 > 209715200), being killed\nsrun: error: n1: task 0: Killed\n";
        assert_eq!(
            oom_evidence(cgroup).as_deref(),
            Some("srun: error: n1: task 0: Out Of Memory")
        );
        let line = oom_evidence(acct).expect("evidence");
        assert!(line.contains("exceeded memory limit (223498240 > 209715200)"));
        assert_eq!(oom_evidence("allocated 50 MB\nbye\n"), None);

        let j = job("FAILED", "NonZeroExitCode", SlurmExit::CodeSignal(1, 0));
        let mut o = outcome_of(&j, 1, false);
        mark_out_of_memory(&mut o, &j, &line);
        assert_eq!(o.exit_code, 137);
        assert_eq!(o.final_status(true, false), JobStatus::Failed);
        assert!(o.reason.starts_with("Slurm: OUT_OF_MEMORY on node n1 (job state FAILED: slurmstepd-n1: error: StepId=2.0 exceeded memory limit"), "{}", o.reason);
        // a stop is a stop, whatever the output says
        let mut o = outcome_of(&j, 1, true);
        mark_out_of_memory(&mut o, &j, &line);
        assert!(o.reason.starts_with("stopped on request"));
    }

    #[test]
    fn the_first_worker_to_fail_is_the_one_reported() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        // srun returned 143 (worker 0 terminated after worker 1 failed with 3)
        let mut j = job("FAILED", "NonZeroExitCode", SlurmExit::Raw(143 << 8));
        j.nodes = "n[1-2]".into();
        let mut o = outcome_of(&j, 2, false);
        let ends = [
            Some((WorkerExit::Signaled { signal: 15 }, t(2_000))),
            Some((WorkerExit::Exited { code: 3 }, t(1_000))),
        ];
        apply_worker_exits(&mut o, &j, &ends);
        assert_eq!(o.exit_code, 3);
        assert_eq!(o.failed_worker, Some(1));
        assert_eq!(
            o.reason,
            "Slurm: FAILED (NonZeroExitCode) on n[1-2]: worker 1 exited with code 3; the other workers were stopped"
        );
        assert_eq!(
            o.workers,
            [
                WorkerExit::Signaled { signal: 15 },
                WorkerExit::Exited { code: 3 }
            ]
        );
        // no exit files (e.g. the step was SIGKILLed): Slurm's own words stay
        let mut o = outcome_of(&j, 2, false);
        apply_worker_exits(&mut o, &j, &[None, None]);
        assert_eq!(o.exit_code, 143);
        assert!(o.reason.starts_with("Slurm: FAILED with exit code 143"));
        // a stop keeps its reason
        let mut o = outcome_of(&j, 2, true);
        apply_worker_exits(&mut o, &j, &ends);
        assert!(o.reason.starts_with("stopped on request"), "{}", o.reason);
        // a single worker: no "other workers"
        let mut o = outcome_of(
            &job("FAILED", "NonZeroExitCode", SlurmExit::Raw(768)),
            1,
            false,
        );
        apply_worker_exits(
            &mut o,
            &job("FAILED", "NonZeroExitCode", SlurmExit::Raw(768)),
            &[Some((WorkerExit::Exited { code: 3 }, t(1)))],
        );
        assert_eq!(
            o.reason,
            "Slurm: FAILED (NonZeroExitCode) on n1: worker 0 exited with code 3"
        );
    }

    #[test]
    fn row_preempted() {
        let (st, code, reason) = status(&job("PREEMPTED", "", SlurmExit::Raw(0)), true, false);
        assert_eq!((st, code), (JobStatus::Failed, -1));
        assert_eq!(reason, "Slurm: PREEMPTED on n1");
    }

    #[test]
    fn row_boot_fail() {
        let j = job("BOOT_FAIL", "", SlurmExit::Raw(0));
        assert_eq!(status(&j, false, false).0, JobStatus::SubmitFailed);
        let (st, code, reason) = status(&j, true, false);
        assert_eq!((st, code), (JobStatus::Failed, -1));
        assert_eq!(reason, "Slurm: BOOT_FAIL on n1");
    }

    #[test]
    fn row_deadline() {
        let j = job("DEADLINE", "", SlurmExit::Raw(0));
        let (st, code, reason) = status(&j, false, false);
        assert_eq!((st, code), (JobStatus::SubmitFailed, -1));
        assert_eq!(reason, "Slurm: DEADLINE reached");
        assert_eq!(status(&j, true, false).0, JobStatus::Failed);
    }

    #[test]
    fn row_other_ended_states() {
        let (st, _, reason) = status(&job("SPECIAL_EXIT", "", SlurmExit::Raw(256)), true, false);
        assert_eq!(st, JobStatus::Failed);
        assert_eq!(reason, "Slurm: SPECIAL_EXIT on n1");
    }

    #[test]
    fn a_stop_of_a_job_that_completed_anyway_is_still_killed() {
        let (st, code, _) = status(&job("COMPLETED", "", SlurmExit::Raw(0)), true, true);
        assert_eq!((st, code), (JobStatus::Killed, 0));
    }

    #[test]
    fn limits_and_times() {
        assert_eq!(format_limit("1:00"), "00:01:00");
        assert_eq!(format_limit("10:00"), "00:10:00");
        assert_eq!(format_limit("2:03:04"), "02:03:04");
        assert_eq!(format_limit("1-02:03:04"), "1-02:03:04");
        assert_eq!(format_limit("UNLIMITED"), "UNLIMITED");
        assert_eq!(parse_time("1970-01-01T00:00:01"), Some(1000));
        // 2026-12-06T00:09:08Z, checked with `date -u -d 2026-12-06T00:09:08 +%s`
        assert_eq!(parse_time("2026-12-06T00:09:08"), Some(1_796_515_748_000));
        assert_eq!(parse_time("N/A"), None);
        assert_eq!(parse_time("Unknown"), None);
        assert_eq!(parse_time("NONE"), None);
    }

    #[test]
    fn squeue_and_sacct_lines() {
        let l = "4|FAILED|NonZeroExitCode|36608|2026-12-06T00:09:08|2026-12-06T00:09:09|n2|UNLIMITED|ty-1-2|x|";
        let j = parse_squeue_line(l).expect("parse");
        assert_eq!(j.id, 4);
        assert_eq!(j.state, "FAILED");
        assert_eq!(j.exit.exit_code(), Some(143));
        assert_eq!(j.name, "ty-1-2|x");
        assert_eq!(j.nodes, "n2");
        assert!(parse_squeue_line("12_3|PENDING|None|0|N/A|N/A||1:00|x|").is_none());
        let p = parse_squeue_line("5|PENDING|Resources|0|2026-12-06T00:09:08|N/A|||ty-3-4|")
            .expect("parse");
        assert_eq!(
            (p.state.as_str(), p.end_ms, p.name.as_str()),
            ("PENDING", None, "ty-3-4")
        );

        let s = parse_sacct_line(
            "5|CANCELLED by 0|0:0|2026-12-06T00:09:08|2026-12-06T00:09:12|n2|UNLIMITED|canc",
        )
        .expect("parse");
        assert_eq!(s.state, "CANCELLED");
        assert_eq!(s.exit, SlurmExit::CodeSignal(0, 0));
        assert_eq!(s.name, "canc");
        assert!(parse_sacct_line("5.batch|COMPLETED|0:0|||||batch").is_none());
    }
}
