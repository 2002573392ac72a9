//! Tables and value formatting of the CLI: statuses as `RUNNING (8)`, times in the local time
//! zone, durations as `1h02m03s`, JSON pretty-printed as the API sends it.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use comfy_table::{Attribute, Cell, Color, ContentArrangement, Table, presets};
use serde::Serialize;
use time::{OffsetDateTime, UtcOffset, macros::format_description};
use trainyard_client::JobStatus;

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Reads the local UTC offset (honouring `TZ`). Call it at the top of `main`, before any thread
/// starts: the `time` crate refuses to read it from a multi-threaded process. Later calls do
/// nothing; without a call (or when it fails) times are shown in UTC.
pub fn init_local_offset() {
    let offset = UtcOffset::current_local_offset().unwrap_or(UtcOffset::UTC);
    let _ = LOCAL_OFFSET.set(offset);
}

fn local_offset() -> UtcOffset {
    LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC)
}

/// An epoch-ms time as `2026-11-29 10:02:03` in the local time zone (`-` for none).
pub fn time_ms(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "-".into();
    };
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return ms.to_string();
    };
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    t.to_offset(local_offset())
        .format(&fmt)
        .unwrap_or_else(|_| ms.to_string())
}

/// The local offset as `+01:00`, for headers.
pub fn offset_label() -> String {
    let o = local_offset();
    let (h, m, _) = o.as_hms();
    let sign = if o.is_negative() { '-' } else { '+' };
    format!("{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs())
}

/// A duration in ms as `1h02m03s`, `2m03s` or `3s` (whole seconds, rounded down).
pub fn duration_ms(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// A status as `RUNNING (8)`.
pub fn status(s: JobStatus) -> String {
    format!("{} ({})", s.short_name(), s.code())
}

/// A status cell, coloured by family (colours appear only on a terminal).
pub fn status_cell(s: JobStatus) -> Cell {
    let cell = Cell::new(status(s));
    match s {
        JobStatus::Completed | JobStatus::CheckRunningCompleted => cell.fg(Color::Green),
        JobStatus::Running | JobStatus::Killing | JobStatus::Scaling => cell.fg(Color::Cyan),
        s if s.is_terminal() => cell.fg(Color::Red),
        _ => cell.fg(Color::Yellow),
    }
}

/// A table with a bold header, plain borders-free layout and wrapping to the terminal width.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(
            header
                .into_iter()
                .map(|h| Cell::new(h.into()).add_attribute(Attribute::Bold)),
        );
    t
}

/// A two-column key/value table (for one object, e.g. a version).
pub fn kv_table(rows: &[(&str, String)]) -> Table {
    let mut t = Table::new();
    t.load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (k, v) in rows {
        t.add_row(vec![
            Cell::new(*k).add_attribute(Attribute::Bold),
            Cell::new(v),
        ]);
    }
    t
}

/// Writes one line on stdout. A closed pipe (`trainyard jobs list | head -1`) is not an error:
/// the rest of the output is dropped quietly.
pub fn write_line(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stdout().lock(), "{args}");
}

/// `println!` that does not panic when stdout is a closed pipe (see [`write_line`]).
macro_rules! outln {
    () => { $crate::cli::output::write_line(format_args!("")) };
    ($($t:tt)*) => { $crate::cli::output::write_line(format_args!($($t)*)) };
}
pub(crate) use outln;

/// Writes bytes on stdout and flushes; a closed pipe is ignored (see [`write_line`]).
pub fn write_raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

/// Prints a table on stdout, trailing spaces trimmed.
pub fn print_table(t: &Table) {
    let mut out = std::io::stdout().lock();
    for line in t.lines() {
        if writeln!(out, "{}", line.trim_end()).is_err() {
            return;
        }
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(v)?;
    text.push(b'\n');
    write_raw(&text);
    Ok(())
}

/// True when stderr is a terminal (progress output goes there only then).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}

/// True when stdin is a terminal (a person can answer a question).
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Asks `question` on stderr and reads a line from stdin: true for `y` or `yes`.
pub fn confirm(question: &str) -> bool {
    use std::io::BufRead;
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// True when stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// `1 thing` or `n things`.
pub fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// `s` cut to `max` characters with `…`.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut c: String = s.chars().take(max.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ms(0), "0s");
        assert_eq!(duration_ms(999), "0s");
        assert_eq!(duration_ms(3_000), "3s");
        assert_eq!(duration_ms(123_000), "2m03s");
        assert_eq!(duration_ms(3_723_000), "1h02m03s");
        assert_eq!(duration_ms(50 * 3_600_000), "50h00m00s");
        assert_eq!(duration_ms(-5), "0s");
    }

    #[test]
    fn statuses_and_times() {
        assert_eq!(status(JobStatus::Running), "RUNNING (8)");
        assert_eq!(status(JobStatus::Completed), "COMPLETED (10)");
        assert_eq!(time_ms(None), "-");
        // No init in unit tests: UTC. 1700000000000 ms = 2023-11-14 22:13:20 UTC.
        if LOCAL_OFFSET.get().is_none_or(|o| *o == UtcOffset::UTC) {
            assert_eq!(time_ms(Some(1_700_000_000_000)), "2023-11-14 22:13:20");
        }
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
