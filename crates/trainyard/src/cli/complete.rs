//! Dynamic shell completion (clap_complete's `CompleteEnv`): the shell calls
//! `COMPLETE=<shell> trainyard -- <words>` at each TAB and prints what this module offers.
//!
//! Values known to the CLI (status names, sort keys, orders) come from `trainyard-api`'s own
//! lists; job names, engines and specs are asked from the server the command line points at
//! (`--endpoint`, `--project`, `--workspace` as typed, else the usual environment and
//! credentials file), with a short time limit: a server that does not answer gives no
//! candidates, never a hung shell.

use std::ffi::OsStr;
use std::time::Duration;

use clap_complete::engine::CompletionCandidate;
use trainyard_client::api::list::{Order, SortKey};
use trainyard_client::api::status::ALL_STATUSES;
use trainyard_client::{Estimator, JobListParams, Session};

use super::ConnArgs;

/// How long one completion may wait for the server.
const SERVER_TIMEOUT: Duration = Duration::from_secs(3);

/// At most this many job names are offered (one page of the list).
const MAX_JOBS: u32 = 1000;

/// The text being completed (a non-UTF-8 word completes to nothing).
fn text(current: &OsStr) -> Option<&str> {
    current.to_str()
}

/// Status names (`RUNNING`, …) whose name starts with the typed text, case-insensitively; the
/// help shows the code. Codes and `JOBSTAT_` names are accepted too, but not offered.
pub fn statuses(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(cur) = text(current) else {
        return Vec::new();
    };
    let upper = cur.to_ascii_uppercase();
    ALL_STATUSES
        .iter()
        .filter(|s| s.short_name().starts_with(&upper))
        .map(|s| {
            CompletionCandidate::new(s.short_name()).help(Some(format!("code {}", s.code()).into()))
        })
        .collect()
}

/// The list's sort keys (`list.md`), starting with the typed text.
pub fn sort_keys(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(cur) = text(current) else {
        return Vec::new();
    };
    SortKey::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with(cur))
        .map(CompletionCandidate::new)
        .collect()
}

/// `asc` and `desc`, starting with the typed text.
pub fn orders(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(cur) = text(current) else {
        return Vec::new();
    };
    [Order::Asc, Order::Desc]
        .iter()
        .map(|o| o.as_str())
        .filter(|o| o.starts_with(cur))
        .map(CompletionCandidate::new)
        .collect()
}

/// The value of `--flag VALUE` or `--flag=VALUE` among the words of the command line being
/// completed (the last one given wins, as for clap).
fn flag_value(words: &[String], flag: &str) -> Option<String> {
    let mut found = None;
    let with_eq = format!("{flag}=");
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == flag {
            found = it.next().cloned();
        } else if let Some(v) = w.strip_prefix(&with_eq) {
            found = Some(v.to_owned());
        }
    }
    found
}

/// The words of the command line being completed: the process's arguments after the first
/// `--` (`COMPLETE=bash trainyard -- trainyard jobs show re`).
fn command_line() -> Vec<String> {
    std::env::args().skip_while(|a| a != "--").skip(1).collect()
}

/// The session the completed command would use: `--endpoint` and `--project` as typed.
fn session(words: &[String]) -> Option<Session> {
    let conn = ConnArgs {
        endpoint: flag_value(words, "--endpoint"),
        project: flag_value(words, "--project"),
    };
    conn.session().ok()
}

/// Runs `f` against the server on a runtime of its own, within [`SERVER_TIMEOUT`]; `None` on
/// any failure.
fn ask<T, F>(f: impl FnOnce() -> F) -> Option<T>
where
    F: std::future::Future<Output = Option<T>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async { tokio::time::timeout(SERVER_TIMEOUT, f()).await.ok()? })
}

/// Job names of the project (in `--workspace`, if typed) that start with the typed text; the
/// help shows the latest version's status and the job id.
pub fn job_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(cur) = text(current).map(str::to_owned) else {
        return Vec::new();
    };
    let words = command_line();
    let Some(session) = session(&words) else {
        return Vec::new();
    };
    let mut params = JobListParams::new()
        .sort_by(SortKey::JobName)
        .order(Order::Asc)
        .per_page(MAX_JOBS);
    if !cur.is_empty() {
        params = params.search_content(cur.clone());
    }
    if let Some(w) = flag_value(&words, "--workspace") {
        params = params.workspace_id(w);
    }
    let rows = ask(|| async { Estimator::get_job_list(&session, &params).await.ok() })
        .map(|r| r.jobs)
        .unwrap_or_default();
    rows.into_iter()
        .filter(|r| r.job_name.starts_with(&cur))
        .map(|r| {
            let help = format!("{}, job {}", r.status.short_name(), r.job_id);
            CompletionCandidate::new(r.job_name).help(Some(help.into()))
        })
        .collect()
}

/// Engines of the server as `NAME:VERSION` (and `NAME` alone when one engine has it), starting
/// with the typed text (the name case-insensitively, as `--engine` accepts it).
pub fn engines(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(cur) = text(current).map(str::to_owned) else {
        return Vec::new();
    };
    let words = command_line();
    let Some(session) = session(&words) else {
        return Vec::new();
    };
    let engines = ask(|| async { Estimator::engines(&session).await.ok() })
        .map(|r| r.engines)
        .unwrap_or_default();
    let mut out = Vec::new();
    for e in &engines {
        let help = format!("engine {}", e.engine_id);
        let unique = engines
            .iter()
            .filter(|o| o.engine_name.eq_ignore_ascii_case(&e.engine_name))
            .count()
            == 1;
        let mut values = vec![format!("{}:{}", e.engine_name, e.engine_version)];
        if unique {
            values.insert(0, e.engine_name.clone());
        }
        for v in values {
            if starts_with_ignore_case(&v, &cur) {
                out.push(CompletionCandidate::new(v).help(Some(help.clone().into())));
            }
        }
    }
    out
}

/// Spec codes of the server starting with the typed text; the help shows the id and resources.
pub fn specs(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(cur) = text(current).map(str::to_owned) else {
        return Vec::new();
    };
    let words = command_line();
    let Some(session) = session(&words) else {
        return Vec::new();
    };
    let specs = ask(|| async { Estimator::specs(&session).await.ok() })
        .map(|r| r.specs)
        .unwrap_or_default();
    specs
        .into_iter()
        .filter(|s| s.spec_code.starts_with(&cur))
        .map(|s| {
            let help = format!("spec {}: {} cores, {} GPU", s.spec_id, s.core, s.gpu_num);
            CompletionCandidate::new(s.spec_code).help(Some(help.into()))
        })
        .collect()
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(c: Vec<CompletionCandidate>) -> Vec<String> {
        c.iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn fixed_lists() {
        assert_eq!(values(statuses(OsStr::new("ru"))), ["RUNNING"]);
        assert_eq!(
            values(statuses(OsStr::new("check_r"))),
            ["CHECK_RUNNING", "CHECK_RUNNING_COMPLETED"]
        );
        assert_eq!(values(statuses(OsStr::new(""))).len(), 23);
        assert_eq!(
            values(sort_keys(OsStr::new("job_"))),
            ["job_name", "job_desc"]
        );
        assert_eq!(values(orders(OsStr::new("d"))), ["desc"]);
    }

    #[test]
    fn flags_of_the_command_line() {
        let w: Vec<String> = [
            "trainyard",
            "--endpoint",
            "http://a",
            "jobs",
            "--project=p1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(flag_value(&w, "--endpoint").as_deref(), Some("http://a"));
        assert_eq!(flag_value(&w, "--project").as_deref(), Some("p1"));
        assert_eq!(flag_value(&w, "--workspace"), None);
        assert!(starts_with_ignore_case("PyTorch:1.8", "pyt"));
        assert!(!starts_with_ignore_case("Py", "pyt"));
    }
}
