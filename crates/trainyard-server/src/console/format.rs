//! How values look on the console's pages: durations, times, status colours, redirect targets.
//! Times are rendered in UTC (the page works without JavaScript); `console.js` rewrites them in
//! the browser's time zone and ticks the live durations.

use trainyard_api::status::JobStatus;

/// A duration in ms as people read it: `0s`, `45s`, `3m 05s`, `2h 03m 10s`, `3d 04h 10m`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{sec}s")
    }
}

/// An epoch-ms time as `2024-01-01 12:00:00 UTC`.
pub fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// An epoch-ms time as RFC 3339 for `<time datetime=...>`.
pub fn iso(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The colour family of a status (a CSS class `st-<family>`): `run` (running, stopping),
/// `wait` (not started yet), `ok` (completed), `bad` (failed, lost), `stop` (killed,
/// canceled), `other`.
pub fn status_family(s: JobStatus) -> &'static str {
    use JobStatus as S;
    match s {
        S::Running | S::Killing | S::Scaling | S::CheckRunning => "run",
        S::Init | S::ImageCreating | S::SubmitTrying | S::Waiting | S::CheckInit => "wait",
        S::Completed | S::CheckRunningCompleted => "ok",
        S::Killed | S::Canceled => "stop",
        S::ImageFailed
        | S::SubmitFailed
        | S::DeleteFailed
        | S::Failed
        | S::Lost
        | S::SubmitModelFailed
        | S::DeployServiceFailed
        | S::CheckFailed
        | S::MountFailed => "bad",
        S::Unknown => "other",
    }
}

/// A redirect target from a `next` parameter: a console path, else `/console` (never another
/// site: no scheme, no `//host`, no backslash tricks).
pub fn safe_next(next: &str) -> &str {
    let ok = next.starts_with("/console")
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && matches!(next.as_bytes().get(8), None | Some(b'/' | b'?'));
    if ok { next } else { "/console" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(-5), "0s");
        assert_eq!(duration(999), "0s");
        assert_eq!(duration(45_000), "45s");
        assert_eq!(duration(185_000), "3m 05s");
        assert_eq!(duration(2 * 3_600_000 + 3 * 60_000 + 10_000), "2h 03m 10s");
        assert_eq!(
            duration(3 * 86_400_000 + 4 * 3_600_000 + 600_000),
            "3d 04h 10m"
        );
    }

    #[test]
    fn times() {
        assert_eq!(utc(1_704_067_200_123), "2024-01-01 00:00:00 UTC");
        assert_eq!(iso(1_704_067_200_000), "2024-01-01T00:00:00Z");
    }

    #[test]
    fn every_status_has_a_family() {
        use trainyard_api::status::ALL_STATUSES;
        for s in ALL_STATUSES {
            let f = status_family(s);
            assert!(["run", "wait", "ok", "bad", "stop", "other"].contains(&f));
            // terminal statuses are never shown as running or waiting
            if s.is_terminal() {
                assert!(!["run", "wait"].contains(&f), "{s}");
            }
        }
        assert_eq!(status_family(JobStatus::Running), "run");
        assert_eq!(status_family(JobStatus::Killed), "stop");
        assert_eq!(status_family(JobStatus::Failed), "bad");
    }

    #[test]
    fn next_stays_on_the_console() {
        assert_eq!(
            safe_next("/console/p/x/jobs?status=8"),
            "/console/p/x/jobs?status=8"
        );
        assert_eq!(safe_next("/console"), "/console");
        for bad in [
            "https://evil.example/",
            "//evil.example/console",
            "/consoleevil",
            "/v1/p/training-jobs",
            "/console\\@evil",
            "/console/\nx",
            "",
        ] {
            assert_eq!(safe_next(bad), "/console", "{bad:?}");
        }
    }
}
