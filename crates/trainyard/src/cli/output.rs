//! Tables and value formatting of the CLI: statuses as `RUNNING (8)`, times in the local time
//! zone, durations as `1h02m03s`, JSON pretty-printed as the API sends it.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use comfy_table::{
    Attribute, Cell, Color, ColumnConstraint, ContentArrangement, Table, Width, presets,
};
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

/// How a column gives way when a table is wider than the screen ([`print_table`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// Wrapped (at spaces, else anywhere) down to this many characters; `None`: never wrapped.
    wrap_min: Option<u16>,
    /// Columns are left out before a wrapped column gets narrower than this (≥ `wrap_min`).
    wrap_preferred: u16,
    /// Left out when the table still does not fit, lower ranks first; `None`: always shown.
    drop_rank: Option<u8>,
}

impl Fit {
    /// Always shown, never wrapped (ids, statuses, times: short, and unreadable when broken).
    pub const KEEP: Fit = Fit {
        wrap_min: None,
        wrap_preferred: 0,
        drop_rank: None,
    };

    /// Wrapped down to `min` characters (names, descriptions).
    pub const fn wrap(min: u16) -> Fit {
        Fit {
            wrap_min: Some(min),
            wrap_preferred: min,
            drop_rank: None,
        }
    }

    /// Columns are left out before this wrapped column gets narrower than `preferred`
    /// characters; only when nothing more can be left out does it shrink to its minimum.
    pub const fn prefer(self, preferred: u16) -> Fit {
        Fit {
            wrap_preferred: preferred,
            ..self
        }
    }

    /// Also left out, in `rank` order (1 first), when the table does not fit otherwise.
    pub const fn drop(self, rank: u8) -> Fit {
        Fit {
            drop_rank: Some(rank),
            ..self
        }
    }
}

/// The width of a terminal that reports none (0 columns: a serial console, `script`, some CI
/// pseudo-terminals).
pub const FALLBACK_WIDTH: u16 = 80;

/// Left and right padding of a cell (comfy-table's default), in characters.
const CELL_PADDING: u16 = 2;

/// The width tables are laid out in: `$COLUMNS` when it holds a positive number (the usual
/// override, honoured for pipes too); else, on a terminal, its width, or [`FALLBACK_WIDTH`]
/// when it reports none; else (output to a pipe or file) `None`: rows are not wrapped, one
/// line each, for `grep` and `awk`.
pub fn table_width() -> Option<u16> {
    let columns = std::env::var("COLUMNS").ok();
    let terminal = if stdout_is_tty() {
        // comfy-table asks the terminal (crossterm) when stdout is one
        Some(Table::new().width().unwrap_or(0))
    } else {
        None
    };
    width_from(columns.as_deref(), terminal)
}

/// [`table_width`] from `$COLUMNS` and the terminal's width (`None`: not a terminal).
fn width_from(columns: Option<&str>, terminal: Option<u16>) -> Option<u16> {
    if let Some(n) = columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    terminal.map(|w| if w == 0 { FALLBACK_WIDTH } else { w })
}

/// A table whose columns know how to give way to a narrow screen (see [`Fit`]).
pub struct FitTable {
    table: Table,
    fits: Vec<Fit>,
}

impl FitTable {
    /// Adds a row (one cell per column: `Vec<Cell>`, `Vec<String>`, …).
    pub fn add_row<R: Into<comfy_table::Row>>(&mut self, row: R) -> &mut Self {
        self.table.add_row(row);
        self
    }

    /// The table laid out in `width` columns (`None`: unwrapped), and the headers of the
    /// columns left out to fit.
    fn layout(&self, width: Option<u16>) -> (Table, Vec<String>) {
        let mut t = self.table.clone();
        let Some(width) = width else {
            t.set_content_arrangement(ContentArrangement::Disabled);
            return (t, Vec::new());
        };
        t.set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width);
        let content = t.column_max_content_widths();
        let headers: Vec<String> = t
            .header()
            .map(|h| h.cell_iter().map(|c| c.content()).collect())
            .unwrap_or_default();
        // the narrowest each column can be, and how narrow it should be while columns can go
        let narrowest = |preferred: bool| -> Vec<u16> {
            self.fits
                .iter()
                .zip(&content)
                .map(|(f, c)| {
                    let floor = if preferred {
                        f.wrap_preferred.max(f.wrap_min.unwrap_or(0))
                    } else {
                        f.wrap_min.unwrap_or(0)
                    };
                    f.wrap_min.map_or(*c, |_| floor.min(*c)) + CELL_PADDING
                })
                .collect()
        };
        let need = |widths: &[u16], shown: &[bool]| -> u32 {
            widths
                .iter()
                .zip(shown)
                .filter(|(_, s)| **s)
                .map(|(w, _)| u32::from(*w))
                .sum()
        };
        let preferred = narrowest(true);
        let mut shown = vec![true; self.fits.len()];
        let mut dropped = Vec::new();
        loop {
            if need(&preferred, &shown) <= u32::from(width) {
                break;
            }
            let next = self
                .fits
                .iter()
                .enumerate()
                .filter(|(i, f)| shown[*i] && f.drop_rank.is_some())
                .min_by_key(|(_, f)| f.drop_rank)
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            shown[i] = false;
            dropped.push(headers.get(i).cloned().unwrap_or_default());
        }
        let least = if need(&preferred, &shown) <= u32::from(width) {
            preferred
        } else {
            narrowest(false)
        };
        for (i, f) in self.fits.iter().enumerate() {
            let constraint = if !shown[i] {
                ColumnConstraint::Hidden
            } else if f.wrap_min.is_some() {
                ColumnConstraint::LowerBoundary(Width::Fixed(least[i]))
            } else {
                ColumnConstraint::ContentWidth
            };
            if let Some(c) = t.column_mut(i) {
                c.set_constraint(constraint);
            }
        }
        (t, dropped)
    }
}

/// A table with a bold header and a borderless layout; each column says how it gives way to a
/// narrow screen ([`Fit`]; [`print_table`] lays it out).
pub fn table(columns: &[(&str, Fit)]) -> FitTable {
    let mut t = Table::new();
    t.load_style(presets::NOTHING).set_header(
        columns
            .iter()
            .map(|(h, _)| Cell::new(*h).add_attribute(Attribute::Bold)),
    );
    FitTable {
        table: t,
        fits: columns.iter().map(|(_, f)| *f).collect(),
    }
}

/// A two-column key/value table (for one object, e.g. a version): values wrap.
pub fn kv_table(rows: &[(&str, String)]) -> FitTable {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    for (k, v) in rows {
        t.add_row(vec![
            Cell::new(*k).add_attribute(Attribute::Bold),
            Cell::new(v),
        ]);
    }
    FitTable {
        table: t,
        fits: vec![Fit::KEEP, Fit::wrap(16)],
    }
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

/// Prints a table on stdout in [`table_width`] columns, trailing spaces trimmed. Columns left
/// out to fit are named on stderr.
pub fn print_table(t: &FitTable) {
    let width = table_width();
    let (t, dropped) = t.layout(width);
    let mut out = std::io::stdout().lock();
    for line in t.lines() {
        if writeln!(out, "{}", line.trim_end()).is_err() {
            return;
        }
    }
    if let (false, Some(w)) = (dropped.is_empty(), width) {
        eprintln!(
            "({} left out to fit {w} columns; --output json has every field)",
            dropped.join(", ")
        );
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
    fn table_width_sources() {
        // $COLUMNS wins, on a terminal or not; junk or 0 is ignored
        assert_eq!(width_from(Some("40"), Some(120)), Some(40));
        assert_eq!(width_from(Some(" 60 "), None), Some(60));
        assert_eq!(width_from(Some("0"), Some(120)), Some(120));
        assert_eq!(width_from(Some("wide"), None), None);
        // a terminal: its width, or the fallback when it reports none
        assert_eq!(width_from(None, Some(132)), Some(132));
        assert_eq!(width_from(None, Some(0)), Some(FALLBACK_WIDTH));
        // not a terminal: unwrapped
        assert_eq!(width_from(None, None), None);
    }

    #[test]
    fn columns_give_way_in_rank_order() {
        let mut t = table(&[
            ("ID", Fit::KEEP),
            ("NAME", Fit::wrap(4).prefer(8)),
            ("B", Fit::KEEP.drop(2)),
            ("A", Fit::KEEP.drop(1)),
        ]);
        t.add_row(vec![
            Cell::new("1"),
            Cell::new("abcdefghijkl"),
            Cell::new("bbbb"),
            Cell::new("aaaa"),
        ]);
        // natural widths with padding: 4 + 14 + 6 + 6 = 30
        assert_eq!(t.layout(Some(30)).1, Vec::<String>::new());
        assert_eq!(t.layout(None).1, Vec::<String>::new());
        // NAME at its preferred 8 (+2): 4 + 10 + 6 + 6 = 26 fits 26, not 25
        assert_eq!(t.layout(Some(26)).1, Vec::<String>::new());
        assert_eq!(t.layout(Some(25)).1, ["A"]);
        assert_eq!(t.layout(Some(19)).1, ["A", "B"]);
        // below 4 + 10: NAME shrinks to its minimum 4 (+2); nothing else can go
        let (laid, dropped) = t.layout(Some(10));
        assert_eq!(dropped, ["A", "B"]);
        let lines: Vec<String> = laid.lines().map(|l| l.trim_end().to_owned()).collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 10), "{lines:?}");
        let name: String = lines[1..]
            .iter()
            .map(|l| l.chars().skip(4).collect::<String>().trim().to_owned())
            .collect();
        assert_eq!(name, "abcdefghijkl", "{lines:?}");
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
