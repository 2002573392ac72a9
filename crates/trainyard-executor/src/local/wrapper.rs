//! The `sh` wrapper every local worker runs under, and program lookup before spawning.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The wrapper script, run as `sh -c WRAPPER trainyard-worker <argv...>` with descriptor 3
/// open on the worker's exit-status file (`local::child`).
///
/// * It leads the worker's session and process group; the worker is its child in the same group.
/// * It catches (not ignores) the signals a group stop or a user may send to the whole group, so
///   it outlives the worker and can record its status. Caught signals are reset to their default
///   in the worker when it is executed, so the worker sees them normally. A POSIX shell runs the
///   trap only after the foreground command has finished, and `$?` survives the trap.
/// * The worker itself does not get descriptor 3 (`3>&-`): only the wrapper can write the status.
/// * It writes the worker's `$?` and a newline to descriptor 3 in one `write` (the file was
///   created empty by the server, in a directory the worker cannot reach: no path, no rename,
///   no symlink to follow), then exits with the same code, so a parent sees the same status as a
///   later reader of the file. A failed write (disk full) leaves the file empty; the server
///   then knows the status from the wrapper's own exit.
/// * SIGKILL to the group (stop escalation) kills the wrapper too: no status is written, which is
///   fine because the executor that sent it knows the run was stopped.
pub(crate) const WRAPPER_SCRIPT: &str = r#"trap ':' HUP INT QUIT USR1 USR2 ALRM TERM
"$@" 3>&-
rc=$?
printf '%s\n' "$rc" 2>/dev/null >&3
exit "$rc"
"#;

/// `$0` of the wrapper (shows up in `ps`).
pub(crate) const WRAPPER_NAME: &str = "trainyard-worker";

/// Finds the program a worker will execute, as `execvp` would: a name containing `/` is a path
/// (relative to the working directory), any other name is searched on `path_var`. `check`
/// decides whether a candidate can be executed by the worker (its identity and sandbox,
/// `local::identity::check_executable`); candidates it refuses are skipped, as `execvp` skips
/// entries it cannot execute, and named in the error.
///
/// Checking before spawning turns "engine command not found" into a submit error (the wrapper
/// shell itself always starts). The error is one line.
pub(crate) fn resolve_program(
    program: &str,
    path_var: Option<&OsStr>,
    cwd: &Path,
    check: &dyn Fn(&Path) -> Result<(), String>,
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
        return match check(&full) {
            Ok(()) => Ok(full),
            Err(why) => Err(format!("command {program:?} {why}")),
        };
    }
    let mut skipped = Vec::new();
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
            if !candidate.exists() && std::fs::symlink_metadata(&candidate).is_err() {
                continue;
            }
            match check(&candidate) {
                Ok(()) => return Ok(candidate),
                Err(why) => skipped.push(format!("{} {why}", candidate.display())),
            }
        }
    }
    if skipped.is_empty() {
        Err(format!("command {program:?} not found on PATH"))
    } else {
        Err(format!(
            "command {program:?} not found on PATH for the worker (skipped: {})",
            skipped.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::identity::check_executable;

    fn as_server(p: &Path) -> Result<(), String> {
        check_executable(p, None, None)
    }

    #[test]
    fn finds_sh_and_rejects_missing() {
        let path = OsStr::new("/nonexistent:/usr/bin:/bin");
        let sh = resolve_program("sh", Some(path), Path::new("/"), &as_server).expect("sh");
        assert!(sh.is_absolute());
        let err = resolve_program("no-such-engine-xyz", Some(path), Path::new("/"), &as_server)
            .expect_err("missing");
        assert_eq!(err, "command \"no-such-engine-xyz\" not found on PATH");
        assert!(resolve_program("./nope", Some(path), Path::new("/"), &as_server).is_err());
        assert!(resolve_program("/bin/sh", None, Path::new("/"), &as_server).is_ok());
        assert!(resolve_program("sh", None, Path::new("/"), &as_server).is_err());
        assert!(resolve_program("/etc/passwd", None, Path::new("/"), &as_server).is_err());
    }

    #[test]
    fn candidates_the_worker_cannot_run_are_skipped_and_named() {
        let refuse_usr_local = |p: &Path| {
            if p.starts_with("/usr/local") {
                Err("is not accessible to uid 65534".to_owned())
            } else {
                as_server(p)
            }
        };
        let tmp = tempfile::tempdir().expect("tmp");
        let fake = tmp.path().join("sh");
        std::fs::write(&fake, "").expect("write");
        let path = std::env::join_paths([tmp.path(), Path::new("/usr/bin")]).expect("join");
        // the first candidate is not executable: skipped, the next one found
        let sh = resolve_program("sh", Some(&path), Path::new("/"), &as_server).expect("sh");
        assert_eq!(sh, Path::new("/usr/bin/sh"));
        let err = resolve_program(
            "sh",
            Some(OsStr::new("/usr/local/bin")),
            Path::new("/"),
            &refuse_usr_local,
        );
        assert!(err.is_err());
        let only_fake = tmp.path().as_os_str();
        let err = resolve_program("sh", Some(only_fake), Path::new("/"), &as_server)
            .expect_err("not executable");
        assert!(
            err.contains("skipped") && err.contains("is not executable"),
            "{err}"
        );
    }
}
