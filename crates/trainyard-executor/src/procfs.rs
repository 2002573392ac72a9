//! Reading `/proc/<pid>/stat`: start time and state, to recognise our processes again.

/// What `/proc/<pid>/stat` says about a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

impl ProcStat {
    /// Whether the process is still running (not a zombie or dead).
    pub fn is_running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the contents of a `/proc/<pid>/stat` file.
///
/// The command name (field 2) is in parentheses and may itself contain spaces and `)`, so the
/// fields are counted from the *last* `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let close = text.rfind(')')?;
    let mut fields = text.get(close + 1..)?.split_ascii_whitespace();
    // After the name: field 3 (state) is the first, field 22 (starttime) the 20th.
    let state = fields.next()?.chars().next()?;
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// Reads `/proc/<pid>/stat`; `None` when the process does not exist (or `/proc` is unreadable).
pub(crate) fn stat(pid: i32) -> Option<ProcStat> {
    if pid <= 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Whether `pid` is a running (non-zombie) process that started at `start_time`.
pub(crate) fn is_same_running(pid: i32, start_time: u64) -> bool {
    stat(pid).is_some_and(|s| s.start_time == start_time && s.is_running())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_parens_and_spaces() {
        let line = "1234 (we ird) (x) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615";
        let s = parse_stat(line).expect("parse");
        assert_eq!(
            s,
            ProcStat {
                state: 'S',
                start_time: 987654
            }
        );
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1 2").is_none());
    }

    #[test]
    fn reads_own_process() {
        let me = i32::try_from(std::process::id()).expect("pid");
        let s = stat(me).expect("own stat");
        assert!(s.is_running());
        assert!(is_same_running(me, s.start_time));
        assert!(!is_same_running(me, s.start_time + 1));
        assert!(stat(0).is_none());
    }
}
