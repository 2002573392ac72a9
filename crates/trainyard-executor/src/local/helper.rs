//! Small fixed shell scripts run with a worker's rights (its identity and a Landlock policy),
//! for the file work the server must not do with its own: creating a version's `train_url`
//! before the run, and copying the logs to `log_url` after it. The server thereby never creates
//! directories or writes files outside its data directory; a `log_url` the worker's user could
//! not write stays unwritten.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::local::child::{ChildSetup, install_std};
use crate::local::sandbox::{Access3, Grant, Kind, prepare};
use crate::sandbox::{Containment, WorkerIdentity};

/// Creates the directory `dir` (and its missing parents) as the worker would.
pub(crate) const MKDIR_SCRIPT: &str = r#"mkdir -p -- "$1""#;

/// Copies stdin to `$1/$2` through a temporary name in the same directory (readers never see
/// half a file), creating `$1` if needed.
pub(crate) const COPY_SCRIPT: &str = r#"set -e
mkdir -p -- "$1"
t="$1/.$2.tmp.$$"
cat > "$t"
mv -f -- "$t" "$1/$2"
"#;

/// The rights a helper runs with.
pub(crate) struct Rights<'a> {
    /// The worker's identity (`None`: the server's user).
    pub identity: Option<WorkerIdentity>,
    /// The run's allowed roots for version paths.
    pub roots: &'a [PathBuf],
    /// The containment settings (system paths, protected directories, Landlock mode).
    pub containment: &'a Containment,
    /// The shell.
    pub shell: &'a Path,
}

/// The nearest existing ancestor of `path` (itself if it exists).
pub(crate) fn nearest_existing(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .find(|a| std::fs::symlink_metadata(a).is_ok())
        .map(Path::to_path_buf)
}

/// Runs `script` with `args` under `rights`, allowed to write beneath `writable` (a version
/// path: checked by its real path against the roots and protected directories) and to read
/// and execute the system paths; `stdin` is its input. Waits at most `limit`. The error is one
/// line (the script's own message when it printed one).
pub(crate) fn run(
    rights: &Rights<'_>,
    field: &'static str,
    writable: &Path,
    script: &str,
    args: &[OsString],
    stdin: Option<File>,
    limit: Duration,
) -> Result<(), String> {
    let c = rights.containment;
    let mut grants: Vec<Grant> = c
        .system_paths
        .iter()
        .chain(&c.extra_read_only)
        .map(|p| Grant::new(p, Access3::ReadExec, Kind::System))
        .collect();
    grants.extend(
        c.device_files
            .iter()
            .map(|p| Grant::new(p, Access3::ReadWrite, Kind::System)),
    );
    grants.push(Grant::new(
        writable,
        Access3::ReadWrite,
        Kind::Version {
            field,
            optional: false,
        },
    ));
    let prepared = prepare(&grants, rights.roots, &c.protected, c.landlock)?;
    let mut cmd = Command::new(rights.shell);
    cmd.arg("-c")
        .arg(script)
        .arg("trainyard-helper")
        .args(args)
        .current_dir("/")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LC_ALL", "C")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match stdin {
        Some(f) => cmd.stdin(Stdio::from(f)),
        None => cmd.stdin(Stdio::null()),
    };
    if let Some(id) = rights.identity {
        cmd.uid(id.uid).gid(id.gid);
    }
    install_std(
        &mut cmd,
        ChildSetup {
            ruleset: prepared.ruleset_fd(),
            ..ChildSetup::default()
        },
    );
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", rights.shell.display()))?;
    drop(prepared);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("gave up after {} s", limit.as_secs()));
            }
            Err(e) => return Err(format!("cannot wait for the helper: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let mut msg = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.by_ref().take(4096).read_to_string(&mut msg);
    }
    let msg = msg.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(if msg.is_empty() {
        format!("failed ({status})")
    } else {
        msg
    })
}
