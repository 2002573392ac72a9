//! Worker log files: where they are, ModelArts `aom-log` paging over them
//! (`training-jobs.md` §11), tailing for SSE, and copying to `log_url`.
//!
//! # Cursors
//! A cursor (`start_line`, `end_line`, `base_line`) is the decimal byte offset of the start of
//! a line in the log file. Clients treat it as opaque. Log files only grow, so a cursor stays
//! valid while the job runs. A cursor that is not at a line start stands for the line containing
//! that byte.
//!
//! # Partial lines
//! Only complete lines (ending in `\n`) are returned. A last line still being written is held
//! back until its newline arrives, so a cursor never points into a line that later grows, and
//! following pages never miss its tail. When a run ends, the executor appends a `\n` to a log
//! whose last line is unterminated ([`finalize_log`]), so that line becomes visible.
//!
//! # Cost
//! Pages are found by scanning for newlines in 64 KiB blocks from the cursor (backwards for
//! `asc` and for the newest lines), so reading the newest 50 lines of a 100 MB log reads about one
//! block, not the file. A page is capped at 2 MiB of content: a line longer than 64 KiB is
//! shortened to its first and last 32 KiB with a `[... N bytes omitted ...]` marker, and a page
//! that would still be larger holds fewer lines (the ones nearest the cursor). These functions do
//! blocking file I/O: call them from `tokio::task::spawn_blocking` (or use [`read_lines_async`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most lines a page may ask for (`lines` is 0–500).
pub const MAX_LINES: usize = 500;

/// Scan block size.
const BLOCK: u64 = 64 * 1024;
/// Most content bytes in one page.
const MAX_PAGE_BYTES: u64 = 2 * 1024 * 1024;
/// Lines longer than this are shortened to their head and tail.
const MAX_LINE_BYTES: u64 = 64 * 1024;
/// Kept bytes at each end of a shortened line.
const LINE_KEEP: u64 = MAX_LINE_BYTES / 2;

/// The log file of worker `worker_index` of a run: `<log_dir>/worker-<i>.log`.
pub fn log_path(log_dir: &Path, worker_index: u32) -> PathBuf {
    log_dir.join(format!("worker-{worker_index}.log"))
}

/// Where the worker wrapper records worker `worker_index`'s exit status:
/// `<log_dir>/worker-<i>.exit` (the shell's `$?` as decimal text and a newline).
pub fn exit_status_path(log_dir: &Path, worker_index: u32) -> PathBuf {
    log_dir.join(format!("worker-{worker_index}.exit"))
}

/// Opens a log (or exit) file for reading without following a symlink at its last component
/// (`O_NOFOLLOW`) and without blocking on a FIFO (`O_NONBLOCK`), and checks that it is a
/// regular file. Log files live in a server-owned directory that workers cannot write, so this
/// is a second line: even a planted symlink or FIFO never makes the server read another file
/// (e.g. `auth.key`) when it serves `aom-log` or `log/stream`. A missing file is `NotFound`.
pub fn open_regular(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is a symbolic link", path.display()),
                )
            } else {
                e
            }
        })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file", path.display()),
        ));
    }
    Ok(file)
}

/// Paging direction of `aom-log`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOrder {
    /// The lines *before* `base_line`.
    Asc,
    /// The lines *after* `base_line` (the default).
    #[default]
    Desc,
}

impl LogOrder {
    /// Parses `asc`/`desc` (case-insensitive); `None` for anything else.
    pub fn parse(raw: &str) -> Option<LogOrder> {
        if raw.eq_ignore_ascii_case("asc") {
            Some(LogOrder::Asc)
        } else if raw.eq_ignore_ascii_case("desc") {
            Some(LogOrder::Desc)
        } else {
            None
        }
    }
}

/// One page of log lines.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogPage {
    /// The lines, each ending in `\n` (`""` for no lines).
    pub content: String,
    /// Number of lines in `content`.
    pub lines: usize,
    /// Cursor of the first line (the `base_line` sent, or `""`, when there are no lines).
    pub start_line: String,
    /// Cursor of the last line (the `base_line` sent, or `""`, when there are no lines).
    pub end_line: String,
}

impl LogPage {
    /// A page with no lines whose cursors are both `base_line`.
    pub fn empty(base_line: &str) -> LogPage {
        LogPage {
            content: String::new(),
            lines: 0,
            start_line: base_line.to_owned(),
            end_line: base_line.to_owned(),
        }
    }

    /// The `aom-log` response body for this page.
    pub fn into_response(self) -> trainyard_api::jobs::LogLinesResponse {
        trainyard_api::jobs::LogLinesResponse {
            is_success: true,
            content: self.content,
            lines: i64::try_from(self.lines).unwrap_or(i64::MAX),
            start_line: self.start_line,
            end_line: self.end_line,
        }
    }
}

/// Errors of [`read_lines`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `base_line` is not a cursor this server produced (→ 400).
    #[error("base_line is not a valid cursor: {0:?}")]
    InvalidCursor(String),
    /// `lines` is above [`MAX_LINES`] (→ 400).
    #[error("lines must be between 0 and {MAX_LINES}, got {0}")]
    TooManyLines(usize),
    /// Reading the file failed.
    #[error("cannot read log file: {0}")]
    Io(#[from] io::Error),
}

/// Parses a cursor: a decimal byte offset.
fn parse_cursor(s: &str) -> Result<u64, LogError> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LogError::InvalidCursor(s.chars().take(40).collect()));
    }
    s.parse()
        .map_err(|_| LogError::InvalidCursor(s.chars().take(40).collect()))
}

/// Reads one `aom-log` page of `path` (`training-jobs.md` §11).
///
/// * `base_line` `None` or `""`: the newest `lines` lines (whatever `order`);
/// * `order` [`LogOrder::Desc`]: the `lines` lines after the `base_line` line;
/// * `order` [`LogOrder::Asc`]: the `lines` lines before the `base_line` line.
///
/// The `base_line` line is never repeated. A page with no lines (including a missing file and
/// `lines == 0`) has content `""`, `lines` 0 and both cursors equal to `base_line` (`""` if none).
/// See the module docs for cursors, partial lines and cost.
pub fn read_lines(
    path: &Path,
    base_line: Option<&str>,
    lines: usize,
    order: LogOrder,
) -> Result<LogPage, LogError> {
    read_lines_counted(path, base_line, lines, order).map(|(page, _)| page)
}

/// [`read_lines`] on tokio's blocking pool.
pub async fn read_lines_async(
    path: PathBuf,
    base_line: Option<String>,
    lines: usize,
    order: LogOrder,
) -> Result<LogPage, LogError> {
    tokio::task::spawn_blocking(move || read_lines(&path, base_line.as_deref(), lines, order))
        .await
        .map_err(|e| LogError::Io(io::Error::other(e)))?
}

/// [`read_lines`], also returning how many bytes of the file were read.
fn read_lines_counted(
    path: &Path,
    base_line: Option<&str>,
    lines: usize,
    order: LogOrder,
) -> Result<(LogPage, u64), LogError> {
    if lines > MAX_LINES {
        return Err(LogError::TooManyLines(lines));
    }
    let base_str = base_line.unwrap_or("");
    let cursor = match base_str {
        "" => None,
        s => Some(parse_cursor(s)?),
    };
    if lines == 0 {
        return Ok((LogPage::empty(base_str), 0));
    }
    let file = match open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((LogPage::empty(base_str), 0)),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    let mut r = Reader {
        file: &file,
        bytes_read: 0,
    };
    let end = r.complete_end(len)?;
    let (ranges, keep) = match (cursor, order) {
        (None, _) => (r.lines_before(end, lines)?, Keep::Newest),
        (Some(b), LogOrder::Asc) => {
            let hi = r.line_start_at_or_before(b.min(end))?;
            (r.lines_before(hi, lines)?, Keep::Newest)
        }
        (Some(b), LogOrder::Desc) => {
            if b >= end {
                (Vec::new(), Keep::Oldest)
            } else {
                match r.newlines_fwd(b, end, 1)?.first() {
                    Some(&q) => (r.lines_from(q + 1, end, lines)?, Keep::Oldest),
                    None => (Vec::new(), Keep::Oldest),
                }
            }
        }
    };
    if ranges.is_empty() {
        return Ok((LogPage::empty(base_str), r.bytes_read));
    }
    let page = r.render(&ranges, keep)?;
    Ok((page, r.bytes_read))
}

/// Which lines to keep when a page is too large: those nearest the cursor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    Newest,
    Oldest,
}

/// Positional block reads that count the bytes read.
struct Reader<'a> {
    file: &'a File,
    bytes_read: u64,
}

impl Reader<'_> {
    fn read_at(&mut self, start: u64, len: u64) -> io::Result<Vec<u8>> {
        let n = usize::try_from(len).map_err(io::Error::other)?;
        let mut buf = vec![0u8; n];
        self.file.read_exact_at(&mut buf, start)?;
        self.bytes_read += len;
        Ok(buf)
    }

    /// Positions of up to `want` newlines in `[lo, hi)`, scanning backwards (descending).
    fn newlines_back(&mut self, lo: u64, hi: u64, want: usize) -> io::Result<Vec<u64>> {
        let mut out = Vec::new();
        let mut end = hi;
        while end > lo && out.len() < want {
            let start = end.saturating_sub(BLOCK).max(lo);
            let buf = self.read_at(start, end - start)?;
            let mut upto = buf.len();
            while out.len() < want {
                match memchr::memrchr(b'\n', &buf[..upto]) {
                    Some(i) => {
                        out.push(start + i as u64);
                        upto = i;
                    }
                    None => break,
                }
            }
            end = start;
        }
        Ok(out)
    }

    /// Positions of up to `want` newlines in `[lo, hi)`, scanning forwards (ascending).
    fn newlines_fwd(&mut self, lo: u64, hi: u64, want: usize) -> io::Result<Vec<u64>> {
        let mut out = Vec::new();
        let mut start = lo;
        while start < hi && out.len() < want {
            let end = (start + BLOCK).min(hi);
            let buf = self.read_at(start, end - start)?;
            let mut from = 0;
            while out.len() < want {
                match memchr::memchr(b'\n', &buf[from..]) {
                    Some(i) => {
                        out.push(start + (from + i) as u64);
                        from += i + 1;
                    }
                    None => break,
                }
            }
            start = end;
        }
        Ok(out)
    }

    /// The offset just after the last newline (the end of the complete lines), or 0.
    fn complete_end(&mut self, len: u64) -> io::Result<u64> {
        Ok(self.newlines_back(0, len, 1)?.first().map_or(0, |p| p + 1))
    }

    /// The start of the line containing `pos` (or `pos` itself when it starts a line).
    fn line_start_at_or_before(&mut self, pos: u64) -> io::Result<u64> {
        if pos == 0 {
            return Ok(0);
        }
        Ok(self.newlines_back(0, pos, 1)?.first().map_or(0, |p| p + 1))
    }

    /// The ranges of up to `n` complete lines ending at `hi` (a line start), ascending.
    fn lines_before(&mut self, hi: u64, n: usize) -> io::Result<Vec<(u64, u64)>> {
        if hi == 0 || n == 0 {
            return Ok(Vec::new());
        }
        // `hi - 1` is the newline ending the last line; look for the `n` newlines before it.
        let mut nl = self.newlines_back(0, hi - 1, n)?;
        let first_start = if nl.len() == n {
            nl.pop().map_or(0, |p| p + 1)
        } else {
            0
        };
        nl.reverse();
        nl.push(hi - 1);
        Ok(split_ranges(first_start, &nl))
    }

    /// The ranges of up to `n` complete lines starting at `lo` (a line start) before `end`.
    fn lines_from(&mut self, lo: u64, end: u64, n: usize) -> io::Result<Vec<(u64, u64)>> {
        if lo >= end {
            return Ok(Vec::new());
        }
        let nl = self.newlines_fwd(lo, end, n)?;
        Ok(split_ranges(lo, &nl))
    }

    /// Reads the lines of `ranges` into a page, within the size caps.
    fn render(&mut self, ranges: &[(u64, u64)], keep: Keep) -> io::Result<LogPage> {
        let span = ranges.last().map_or(0, |r| r.1) - ranges.first().map_or(0, |r| r.0);
        let longest = ranges.iter().map(|(s, e)| e - s).max().unwrap_or(0);
        let mut content = String::new();
        let kept: &[(u64, u64)] = if span <= MAX_PAGE_BYTES && longest <= MAX_LINE_BYTES {
            let first = ranges.first().map_or(0, |r| r.0);
            let buf = self.read_at(first, span)?;
            content.push_str(&String::from_utf8_lossy(&buf));
            ranges
        } else {
            let cost = |&(s, e): &(u64, u64)| (e - s).min(MAX_LINE_BYTES + 64);
            let mut total = 0u64;
            let mut count = 0usize;
            let ordered: Box<dyn Iterator<Item = &(u64, u64)>> = match keep {
                Keep::Newest => Box::new(ranges.iter().rev()),
                Keep::Oldest => Box::new(ranges.iter()),
            };
            for r in ordered {
                let c = cost(r);
                if count > 0 && total + c > MAX_PAGE_BYTES {
                    break;
                }
                total += c;
                count += 1;
            }
            let kept = match keep {
                Keep::Newest => &ranges[ranges.len() - count..],
                Keep::Oldest => &ranges[..count],
            };
            for &(s, e) in kept {
                if e - s <= MAX_LINE_BYTES {
                    content.push_str(&String::from_utf8_lossy(&self.read_at(s, e - s)?));
                } else {
                    let head = self.read_at(s, LINE_KEEP)?;
                    let tail = self.read_at(e - LINE_KEEP, LINE_KEEP)?;
                    content.push_str(&String::from_utf8_lossy(&head));
                    content.push_str(&format!(
                        " [... {} bytes omitted ...] ",
                        e - s - 2 * LINE_KEEP
                    ));
                    content.push_str(&String::from_utf8_lossy(&tail));
                }
            }
            kept
        };
        Ok(LogPage {
            content,
            lines: kept.len(),
            start_line: kept.first().map_or(0, |r| r.0).to_string(),
            end_line: kept.last().map_or(0, |r| r.0).to_string(),
        })
    }
}

/// Splits `[start, ...]` at the ascending newline positions `nl` into line ranges.
fn split_ranges(mut start: u64, nl: &[u64]) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(nl.len());
    for &p in nl {
        out.push((start, p + 1));
        start = p + 1;
    }
    out
}

/// Appends a `\n` to a non-empty log whose last line is unterminated, so that line becomes
/// visible to [`read_lines`]. Call only after every writer of the file has ended.
pub fn finalize_log(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(());
    }
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        use std::io::Write;
        (&file).write_all(b"\n")?;
    }
    Ok(())
}

/// Copies each worker's log to `dest_dir/<file_names[i]>` (for `log_url`, when a version ends).
///
/// `file_names` has one plain file name per worker (e.g. `resnet-V0002.0`); a name with a path
/// separator, `.` or `..` is refused. Each copy is written to a temporary name and renamed, so
/// readers never see half a file. Workers without a log file are skipped. Returns the files
/// written.
///
/// This copies with the rights of the calling process: the local executor does not use it for
/// `log_url` (it copies with the worker's rights, `local::helper`); it is the plain building
/// block for executors whose log destination is their own.
pub fn copy_logs(
    log_dir: &Path,
    workers: u32,
    dest_dir: &Path,
    file_names: &[String],
) -> io::Result<Vec<PathBuf>> {
    if file_names.len() != workers as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} file names for {workers} workers", file_names.len()),
        ));
    }
    for name in file_names {
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid log file name {name:?}"),
            ));
        }
    }
    std::fs::create_dir_all(dest_dir)?;
    let mut written = Vec::new();
    for (i, name) in (0..workers).zip(file_names) {
        let mut src = match open_regular(&log_path(log_dir, i)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let dest = dest_dir.join(name);
        let tmp = dest_dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let mut out = File::create(&tmp)?;
        io::copy(&mut src, &mut out)?;
        drop(out);
        if let Err(e) = std::fs::rename(&tmp, &dest) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        written.push(dest);
    }
    Ok(written)
}

/// A piece of a log read by [`read_chunk`] or [`LogFollower`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogChunk {
    /// Byte offset of the first byte of `text` in the file.
    pub start: u64,
    /// Byte offset just after the chunk (resume from here; use it as the SSE event id).
    pub end: u64,
    /// The text (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
}

/// Reads what follows `offset` in a log: at most `max_bytes`, ending at a line end unless
/// `include_partial` (use it once the run has ended) or a single line is longer than
/// `max_bytes`. `None` when there is nothing new (or no file yet). A file shorter than `offset`
/// was replaced: reading restarts at 0.
pub fn read_chunk(
    path: &Path,
    offset: u64,
    max_bytes: usize,
    include_partial: bool,
) -> io::Result<Option<LogChunk>> {
    let file = match open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let offset = if len < offset { 0 } else { offset };
    let avail = len - offset;
    if avail == 0 || max_bytes == 0 {
        return Ok(None);
    }
    let want = avail.min(max_bytes as u64);
    let mut r = Reader {
        file: &file,
        bytes_read: 0,
    };
    let mut buf = r.read_at(offset, want)?;
    if !include_partial {
        match memchr::memrchr(b'\n', &buf) {
            Some(i) => buf.truncate(i + 1),
            None if buf.len() < max_bytes => return Ok(None),
            None => {
                // One line longer than `max_bytes`: hand it out in pieces, cut at a character.
                if let Err(e) = std::str::from_utf8(&buf)
                    && e.error_len().is_none()
                    && e.valid_up_to() > 0
                {
                    buf.truncate(e.valid_up_to());
                }
            }
        }
    }
    let end = offset + buf.len() as u64;
    Ok(Some(LogChunk {
        start: offset,
        end,
        text: String::from_utf8_lossy(&buf).into_owned(),
    }))
}

/// Tails a log file by polling for growth (no inotify: it misses writes made on other hosts of
/// a shared file system). Feed an SSE stream from [`LogFollower::next_chunk`], using each
/// chunk's `end` as the event id so a reconnect resumes with `Last-Event-ID`.
///
/// A start offset past the end of the log (a client resuming with a stale or made-up
/// `Last-Event-ID`) resumes at the end, as the log is on the first read (a missing log has
/// length 0): it never resends the log from the start. Once following, a log shorter than the
/// offset was truncated, and is read again from 0.
#[derive(Clone, Debug)]
pub struct LogFollower {
    path: PathBuf,
    offset: u64,
    max_bytes: usize,
    poll: Duration,
    started: bool,
}

impl LogFollower {
    /// Follows `path` from byte `from_offset`, polling every 300 ms, up to 64 KiB per chunk.
    pub fn new(path: PathBuf, from_offset: u64) -> LogFollower {
        LogFollower {
            path,
            offset: from_offset,
            max_bytes: 64 * 1024,
            poll: Duration::from_millis(300),
            started: false,
        }
    }

    /// Changes the polling interval (clamped to 50 ms–10 s).
    pub fn with_poll_interval(mut self, poll: Duration) -> LogFollower {
        self.poll = poll.clamp(Duration::from_millis(50), Duration::from_secs(10));
        self
    }

    /// The offset the next chunk starts at.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Returns what is available now (complete lines, or everything with `include_partial`),
    /// without waiting.
    pub async fn try_next(&mut self, include_partial: bool) -> io::Result<Option<LogChunk>> {
        let (path, offset, max) = (self.path.clone(), self.offset, self.max_bytes);
        let first = !self.started;
        let (offset, chunk) = tokio::task::spawn_blocking(move || {
            let offset = if first {
                let len = match std::fs::metadata(&path) {
                    Ok(m) => m.len(),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
                    Err(e) => return Err(e),
                };
                offset.min(len)
            } else {
                offset
            };
            Ok((offset, read_chunk(&path, offset, max, include_partial)?))
        })
        .await
        .map_err(io::Error::other)??;
        self.started = true;
        self.offset = chunk.as_ref().map_or(offset, |c| c.end);
        Ok(chunk)
    }

    /// Waits (polling) until new complete lines are available and returns them. Cancel-safe:
    /// dropping the future loses nothing.
    pub async fn next_chunk(&mut self) -> io::Result<LogChunk> {
        loop {
            if let Some(c) = self.try_next(false).await? {
                return Ok(c);
            }
            tokio::time::sleep(self.poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn numbered(n: usize) -> String {
        (1..=n).map(|i| format!("line-{i:04}\n")).collect()
    }

    fn page(path: &Path, base: &str, lines: usize, order: LogOrder) -> LogPage {
        read_lines(path, Some(base), lines, order).expect("read")
    }

    fn split(p: &LogPage) -> Vec<String> {
        assert!(p.content.is_empty() || p.content.ends_with('\n'));
        let v: Vec<String> = p.content.lines().map(str::to_owned).collect();
        assert_eq!(v.len(), p.lines);
        v
    }

    /// The walk of the conformance case `case_logs_file_names_and_lines`.
    #[test]
    fn conformance_walk_120_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let text = numbered(120);
        std::fs::write(&path, &text).expect("write");
        let want: Vec<String> = text.lines().map(str::to_owned).collect();

        let r1 = page(&path, "", 50, LogOrder::Desc);
        assert_eq!(split(&r1), want[70..]);
        let mut back = vec![split(&r1)];
        let mut cur = r1.clone();
        for _ in 0..6 {
            let r = page(&path, &cur.start_line, 50, LogOrder::Asc);
            if r.lines == 0 {
                assert_eq!(
                    (r.start_line.as_str(), r.end_line.as_str()),
                    (cur.start_line.as_str(), cur.start_line.as_str())
                );
                assert_eq!(r.content, "");
                break;
            }
            back.insert(0, split(&r));
            cur = r;
        }
        assert_eq!(back.iter().map(Vec::len).collect::<Vec<_>>(), [20, 50, 50]);
        assert_eq!(back.concat(), want);

        let oldest = cur.clone();
        let mut fwd = vec![back[0].clone()];
        for _ in 0..6 {
            let r = page(&path, &cur.end_line, 50, LogOrder::Desc);
            if r.lines == 0 {
                break;
            }
            fwd.push(split(&r));
            cur = r;
        }
        assert_eq!(fwd.iter().map(Vec::len).collect::<Vec<_>>(), [20, 50, 50]);
        assert_eq!(fwd.concat(), want);

        let l4 = page(&path, &oldest.start_line, 5, LogOrder::Desc);
        assert_eq!(split(&l4), want[1..6]);
        let l5 = page(&path, &r1.end_line, 50, LogOrder::Desc);
        assert_eq!((l5.lines, l5.content.as_str()), (0, ""));
        assert_eq!(l5.start_line, r1.end_line);
    }

    #[test]
    fn empty_pages_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("none.log");
        assert_eq!(
            read_lines(&missing, None, 50, LogOrder::Desc).expect("ok"),
            LogPage::empty("")
        );
        assert_eq!(
            read_lines(&missing, Some("12"), 50, LogOrder::Asc).expect("ok"),
            LogPage::empty("12")
        );
        let path = dir.path().join("w.log");
        std::fs::write(&path, numbered(3)).expect("write");
        assert_eq!(
            read_lines(&path, Some("10"), 0, LogOrder::Desc).expect("ok"),
            LogPage::empty("10")
        );
        assert!(matches!(
            read_lines(&path, Some("x1"), 5, LogOrder::Desc),
            Err(LogError::InvalidCursor(_))
        ));
        assert!(matches!(
            read_lines(&path, Some("-1"), 5, LogOrder::Desc),
            Err(LogError::InvalidCursor(_))
        ));
        assert!(matches!(
            read_lines(&path, None, 501, LogOrder::Desc),
            Err(LogError::TooManyLines(501))
        ));
        // beyond the end
        assert_eq!(
            read_lines(&path, Some("999"), 5, LogOrder::Desc).expect("ok"),
            LogPage::empty("999")
        );
        let p = read_lines(&path, Some("999"), 5, LogOrder::Asc).expect("ok");
        assert_eq!(p.lines, 3);
        // empty file
        std::fs::write(&path, "").expect("write");
        assert_eq!(
            read_lines(&path, None, 5, LogOrder::Desc).expect("ok"),
            LogPage::empty("")
        );
    }

    #[test]
    fn partial_last_line_is_held_back_until_finalized() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        std::fs::write(&path, "a\nb\npart").expect("write");
        let p = read_lines(&path, None, 10, LogOrder::Desc).expect("ok");
        assert_eq!(p.content, "a\nb\n");
        assert_eq!((p.start_line.as_str(), p.end_line.as_str()), ("0", "2"));
        let after = read_lines(&path, Some(&p.end_line), 10, LogOrder::Desc).expect("ok");
        assert_eq!(after.lines, 0);
        // only a partial line
        std::fs::write(dir.path().join("p.log"), "no newline yet").expect("write");
        assert_eq!(
            read_lines(&dir.path().join("p.log"), None, 10, LogOrder::Desc)
                .expect("ok")
                .lines,
            0
        );
        // the line completes: it shows up after the cursor
        finalize_log(&path).expect("finalize");
        finalize_log(&path).expect("finalize twice is a no-op");
        let after = read_lines(&path, Some(&p.end_line), 10, LogOrder::Desc).expect("ok");
        assert_eq!(after.content, "part\n");
        assert_eq!(after.start_line, "4");
        finalize_log(&dir.path().join("missing.log")).expect("missing is fine");
    }

    /// A log replaced by a symlink (e.g. towards `auth.key`) or a FIFO is never read through:
    /// pages and chunks fail instead, and finalising touches nothing.
    #[test]
    fn logs_are_read_only_as_regular_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("auth.key");
        std::fs::write(&secret, "SECRET-KEY-BYTES\n").expect("write");
        let link = dir.path().join("worker-0.log");
        std::os::unix::fs::symlink(&secret, &link).expect("symlink");
        let e = read_lines(&link, None, 10, LogOrder::Desc).expect_err("symlink");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(read_chunk(&link, 0, 1024, true).is_err());
        finalize_log(&link).expect_err("not through a symlink");
        assert_eq!(
            std::fs::read_to_string(&secret).expect("read"),
            "SECRET-KEY-BYTES\n"
        );
        let fifo = dir.path().join("worker-1.log");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo")
                .success()
        );
        let e = read_lines(&fifo, None, 10, LogOrder::Desc).expect_err("fifo");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // copy_logs does not follow one either
        let dest = dir.path().join("out");
        assert!(copy_logs(dir.path(), 1, &dest, &["x".to_owned()]).is_err());
        assert!(!dest.join("x").exists());
    }

    #[test]
    fn cursor_inside_a_line_means_that_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        std::fs::write(&path, "aaa\nbbb\nccc\n").expect("write");
        // offset 5 is inside "bbb"
        assert_eq!(page(&path, "5", 10, LogOrder::Desc).content, "ccc\n");
        assert_eq!(page(&path, "5", 10, LogOrder::Asc).content, "aaa\n");
        assert_eq!(page(&path, "0", 10, LogOrder::Asc).lines, 0);
    }

    #[test]
    fn newest_lines_of_a_large_file_read_little() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.log");
        let mut f = std::io::BufWriter::new(File::create(&path).expect("create"));
        let n = 400_000usize; // ~20 MB
        for i in 0..n {
            writeln!(f, "{i:08} the quick brown fox jumps over the lazy dog").expect("write");
        }
        f.flush().expect("flush");
        drop(f);
        let size = std::fs::metadata(&path).expect("meta").len();
        assert!(size > 19_000_000);
        let (p, read) = read_lines_counted(&path, None, 50, LogOrder::Desc).expect("read");
        let got = split(&p);
        assert_eq!(got.len(), 50);
        assert!(got[0].starts_with(&format!("{:08}", n - 50)));
        assert!(got[49].starts_with(&format!("{:08}", n - 1)));
        assert!(read < 4 * BLOCK, "read {read} bytes");
        // one page back, also cheap
        let (p2, read) =
            read_lines_counted(&path, Some(&p.start_line), 500, LogOrder::Asc).expect("read");
        assert_eq!(p2.lines, 500);
        assert!(split(&p2)[499].starts_with(&format!("{:08}", n - 51)));
        assert!(read < 4 * BLOCK, "read {read} bytes");
        // from the very start forwards
        let (p3, read) = read_lines_counted(&path, Some("0"), 3, LogOrder::Desc).expect("read");
        assert_eq!(
            split(&p3)[0],
            format!("{:08} the quick brown fox jumps over the lazy dog", 1)
        );
        assert!(read < 4 * BLOCK, "read {read} bytes");
    }

    #[test]
    fn long_lines_are_shortened_and_pages_capped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("long.log");
        let long = "x".repeat(200_000);
        let mut text = String::from("first\n");
        for _ in 0..40 {
            text.push_str(&long);
            text.push('\n');
        }
        text.push_str("last\n");
        std::fs::write(&path, &text).expect("write");
        let p = read_lines(&path, None, 500, LogOrder::Desc).expect("read");
        assert!(p.content.len() as u64 <= MAX_PAGE_BYTES + 1024);
        assert!(p.lines < 42 && p.lines > 1);
        assert!(p.content.ends_with("last\n"));
        assert!(p.content.contains("bytes omitted"));
        assert_eq!(split(&p).len(), p.lines);
        // walking back continues without gaps: eventually reaches "first"
        let mut cur = p;
        let mut total = cur.lines;
        loop {
            let r = page(&path, &cur.start_line, 500, LogOrder::Asc);
            if r.lines == 0 {
                break;
            }
            total += r.lines;
            cur = r;
        }
        assert_eq!(total, 42);
        assert!(cur.content.starts_with("first\n"));
    }

    #[test]
    fn copy_logs_copies_and_validates() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(log_path(dir.path(), 0), "zero\n").expect("write");
        std::fs::write(log_path(dir.path(), 1), "one\n").expect("write");
        let dest = dir.path().join("out/logs");
        let names = vec!["job-V0001.0".to_owned(), "job-V0001.1".to_owned()];
        let written = copy_logs(dir.path(), 2, &dest, &names).expect("copy");
        assert_eq!(written.len(), 2);
        assert_eq!(
            std::fs::read_to_string(dest.join("job-V0001.1")).expect("read"),
            "one\n"
        );
        assert!(copy_logs(dir.path(), 1, &dest, &["../x".to_owned()]).is_err());
        assert!(copy_logs(dir.path(), 2, &dest, &names[..1]).is_err());
        // a missing worker log is skipped
        let written =
            copy_logs(dir.path(), 3, &dest, &["a".into(), "b".into(), "c".into()]).expect("copy");
        assert_eq!(written.len(), 2);
    }

    #[tokio::test]
    async fn follower_returns_complete_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.log");
        let mut f = LogFollower::new(path.clone(), 0).with_poll_interval(Duration::from_millis(50));
        assert_eq!(f.try_next(false).await.expect("ok"), None);
        std::fs::write(&path, "one\ntw").expect("write");
        let c = f.next_chunk().await.expect("chunk");
        assert_eq!((c.start, c.end, c.text.as_str()), (0, 4, "one\n"));
        let writer = tokio::spawn({
            let path = path.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let mut file = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .expect("open");
                file.write_all(b"o\nthree\n").expect("append");
            }
        });
        let c = tokio::time::timeout(Duration::from_secs(5), f.next_chunk())
            .await
            .expect("in time")
            .expect("ok");
        assert_eq!(c.text, "two\nthree\n");
        assert_eq!(f.offset(), 14);
        writer.await.expect("writer");
        std::fs::write(&path, "x\n").expect("truncate");
        let c = f.try_next(true).await.expect("ok").expect("restart");
        assert_eq!((c.start, c.text.as_str()), (0, "x\n"));
    }

    /// Issue 9 §3: a resume offset past the end starts at the end, not at 0.
    #[tokio::test]
    async fn a_resume_offset_past_the_end_starts_at_the_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.log");
        std::fs::write(&path, "one\ntwo\n").expect("write");
        let mut f = LogFollower::new(path.clone(), 1_000);
        assert_eq!(f.try_next(true).await.expect("ok"), None, "nothing resent");
        assert_eq!(f.offset(), 8);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        file.write_all(b"three\n").expect("append");
        let c = f.try_next(false).await.expect("ok").expect("new line");
        assert_eq!((c.start, c.end, c.text.as_str()), (8, 14, "three\n"));
        // A log that does not exist yet has length 0: it is followed from its first byte.
        let mut g = LogFollower::new(dir.path().join("later.log"), 500);
        assert_eq!(g.try_next(true).await.expect("ok"), None);
        std::fs::write(dir.path().join("later.log"), "a\n").expect("write");
        let c = g.try_next(false).await.expect("ok").expect("line");
        assert_eq!((c.start, c.text.as_str()), (0, "a\n"));
    }
}
