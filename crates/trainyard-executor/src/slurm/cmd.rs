//! Running the Slurm commands (`sbatch`, `squeue`, `sacct`, `scancel`, `scontrol`, `sinfo`):
//! from the configured directory or `PATH`, with `TZ=UTC` (time stamps are parsed as UTC),
//! `SLURM_CONF` when configured, no stdin, and a time limit.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

/// How a command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CmdError {
    /// It could not be started (not installed, not executable).
    Spawn(String),
    /// It did not finish within the time limit (killed).
    Timeout(Duration),
    /// It exited unsuccessfully; `stderr` is its last non-empty line (or stdout's).
    Failed {
        /// Exit code, `None` when killed by a signal.
        code: Option<i32>,
        /// What it said, one line.
        message: String,
    },
}

impl CmdError {
    /// Whether the failure means "Slurm cannot be reached now" (slurmctld down or busy, a time
    /// out), as opposed to Slurm refusing the request.
    pub fn is_unreachable(&self) -> bool {
        match self {
            CmdError::Spawn(_) => false,
            CmdError::Timeout(_) => true,
            CmdError::Failed { message, .. } => {
                let m = message.to_ascii_lowercase();
                [
                    "unable to contact slurm controller",
                    "socket timed out",
                    "connection refused",
                    "zero bytes were transmitted",
                    "communication connection failure",
                    "slurm_persist_conn_open",
                    "try again later",
                    "slurmctld not responding",
                    "unable to establish a connection",
                ]
                .iter()
                .any(|p| m.contains(p))
            }
        }
    }
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CmdError::Spawn(e) => write!(f, "{e}"),
            CmdError::Timeout(d) => write!(f, "no answer within {} s", d.as_secs_f64()),
            CmdError::Failed { code, message } => match code {
                Some(c) => write!(f, "{message} (exit code {c})"),
                None => write!(f, "{message} (killed by a signal)"),
            },
        }
    }
}

/// Where the commands are and how long they may take.
#[derive(Clone, Debug)]
pub(crate) struct Commands {
    /// Directory of the Slurm commands; `None`: looked up on `PATH`.
    pub bin_dir: Option<PathBuf>,
    /// `SLURM_CONF` for the commands; `None`: inherited.
    pub slurm_conf: Option<PathBuf>,
    /// Time limit of one command.
    pub timeout: Duration,
}

impl Commands {
    /// The path (or bare name) of command `name`.
    pub fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(d) => d.join(name),
            None => PathBuf::from(name),
        }
    }

    /// Runs `name args...` and returns its stdout.
    pub async fn run<I, S>(&self, name: &str, args: I) -> Result<String, CmdError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let program = self.program(name);
        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(args)
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(conf) = &self.slurm_conf {
            cmd.env("SLURM_CONF", conf);
        }
        let child = cmd
            .spawn()
            .map_err(|e| CmdError::Spawn(format!("cannot run {}: {e}", program.display())))?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => {
                return Err(CmdError::Spawn(format!(
                    "cannot run {}: {e}",
                    program.display()
                )));
            }
            Err(_) => return Err(CmdError::Timeout(self.timeout)),
        };
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(CmdError::Failed {
            code: out.status.code(),
            message: last_line(&stderr)
                .or_else(|| last_line(&stdout))
                .unwrap_or_else(|| format!("{name} failed")),
        })
    }
}

/// The last non-empty line of `s`, trimmed, with a `sbatch: error: ` style prefix kept.
fn last_line(s: &str) -> Option<String> {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(|l| l.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_messages() {
        let f = |m: &str| CmdError::Failed {
            code: Some(1),
            message: m.into(),
        };
        assert!(
            f("sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)")
                .is_unreachable()
        );
        assert!(
            f("squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation")
                .is_unreachable()
        );
        assert!(
            !f("sbatch: error: Batch job submission failed: Invalid partition name specified")
                .is_unreachable()
        );
        assert!(CmdError::Timeout(Duration::from_secs(1)).is_unreachable());
        assert!(!CmdError::Spawn("no such file".into()).is_unreachable());
    }

    #[tokio::test]
    async fn runs_and_reports_failures() {
        let c = Commands {
            bin_dir: Some(PathBuf::from("/bin")),
            slurm_conf: Some(PathBuf::from("/x/slurm.conf")),
            timeout: Duration::from_secs(5),
        };
        let out = c
            .run("sh", ["-c", "echo \"$TZ $SLURM_CONF\""])
            .await
            .expect("ok");
        assert_eq!(out, "UTC /x/slurm.conf\n");
        let e = c
            .run(
                "sh",
                ["-c", "echo noise; echo 'sbatch: error: nope' >&2; exit 3"],
            )
            .await
            .expect_err("fails");
        assert_eq!(
            e,
            CmdError::Failed {
                code: Some(3),
                message: "sbatch: error: nope".into()
            }
        );
        let e = c
            .run("no-such-slurm-command", ["x"])
            .await
            .expect_err("spawn");
        assert!(matches!(e, CmdError::Spawn(_)), "{e:?}");
        let slow = Commands {
            timeout: Duration::from_millis(200),
            ..c
        };
        let e = slow
            .run("sh", ["-c", "sleep 5"])
            .await
            .expect_err("timeout");
        assert!(matches!(e, CmdError::Timeout(_)));
    }
}
