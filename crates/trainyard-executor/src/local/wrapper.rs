//! The `sh` wrapper every local worker runs under, and program lookup before spawning.

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The wrapper script, run as `sh -c WRAPPER trainyard-worker <exit-file> <argv...>`.
///
/// * It leads the worker's session and process group; the worker is its child in the same group.
/// * It catches (not ignores) the signals a group stop or a user may send to the whole group, so
///   it outlives the worker and can record its status. Caught signals are reset to their default
///   in the worker when it is executed, so the worker sees them normally. A POSIX shell runs the
///   trap only after the foreground command has finished, and `$?` survives the trap.
/// * It writes the worker's `$?` to `<exit-file>.tmp` and renames it to `<exit-file>` (atomic;
///   `mv` is looked up on a fixed `PATH` first, since the job's `PATH` is the user's), then exits
///   with the same code, so a parent sees the same status as a later reader of the file.
/// * SIGKILL to the group (stop escalation) kills the wrapper too: no file is written, which is
///   fine because the executor that sent it knows the run was stopped.
pub(crate) const WRAPPER_SCRIPT: &str = r#"f=$1; shift
trap ':' HUP INT QUIT USR1 USR2 ALRM TERM
"$@"
rc=$?
{ printf '%s\n' "$rc" >"$f.tmp" && PATH=/usr/bin:/bin:$PATH mv -f "$f.tmp" "$f"; } 2>/dev/null || printf '%s\n' "$rc" >"$f"
exit "$rc"
"#;

/// `$0` of the wrapper (shows up in `ps`).
pub(crate) const WRAPPER_NAME: &str = "trainyard-worker";

/// Whether `path` is a regular file with an execute bit.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Finds the program a worker will execute, as `execvp` would: a name containing `/` is a path
/// (relative to the working directory), any other name is searched on `path_var`.
///
/// Checking before spawning turns "engine command not found" into a submit error (the wrapper
/// shell itself always starts). The error is one line.
pub(crate) fn resolve_program(
    program: &str,
    path_var: Option<&OsStr>,
    cwd: &Path,
) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("the command is empty".to_owned());
    }
    if program.contains('/') {
        let p = Path::new(program);
        let full = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        if !full.exists() {
            return Err(format!("command {program:?} does not exist"));
        }
        if !is_executable(&full) {
            return Err(format!("command {program:?} is not an executable file"));
        }
        return Ok(full);
    }
    if let Some(paths) = path_var {
        for dir in std::env::split_paths(paths) {
            let dir = if dir.as_os_str().is_empty() {
                cwd.to_path_buf()
            } else if dir.is_relative() {
                cwd.join(dir)
            } else {
                dir
            };
            let candidate = dir.join(program);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(format!("command {program:?} not found on PATH"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_rejects_missing() {
        let path = OsStr::new("/nonexistent:/usr/bin:/bin");
        let sh = resolve_program("sh", Some(path), Path::new("/")).expect("sh");
        assert!(sh.is_absolute());
        let err =
            resolve_program("no-such-engine-xyz", Some(path), Path::new("/")).expect_err("missing");
        assert_eq!(err, "command \"no-such-engine-xyz\" not found on PATH");
        assert!(resolve_program("./nope", Some(path), Path::new("/")).is_err());
        assert!(resolve_program("/bin/sh", None, Path::new("/")).is_ok());
        assert!(resolve_program("sh", None, Path::new("/")).is_err());
        assert!(resolve_program("/etc/passwd", None, Path::new("/")).is_err());
    }
}
