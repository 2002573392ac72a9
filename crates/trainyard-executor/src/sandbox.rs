//! Containment settings of workers (the public part; the mechanisms live in `local::sandbox`,
//! `local::child` and `local::cgroup`). See `docs/security.md` for the threat model and what is
//! enforced where.
//!
//! * [`WorkerIdentity`]: the Unix user and group a worker runs as. A server running as root
//!   must give one (never uid 0); otherwise workers run as the server's own user.
//! * [`Containment`]: what every worker may see besides its own version's paths, how strictly
//!   Landlock is required, what must never be granted (the data directory), where the private
//!   run directories live, which environment names pass, and whether memory is limited.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A Unix identity (user id and group id) that workers run as. Never uid 0 or gid 0: a worker
/// is untrusted code. Supplementary groups are cleared when the identity is taken (std's
/// `CommandExt::uid` calls `setgroups(0)` when the server is root).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkerIdentity {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl WorkerIdentity {
    /// An identity from numbers. Errors: uid 0 or gid 0 (root), which a worker may never have.
    pub fn new(uid: u32, gid: u32) -> Result<WorkerIdentity, String> {
        if uid == 0 {
            return Err("workers may not run as root (uid 0)".to_owned());
        }
        if gid == 0 {
            return Err("workers may not run with the root group (gid 0)".to_owned());
        }
        Ok(WorkerIdentity { uid, gid })
    }

    /// The identity of a user given by name or number (`nobody`, `65534`), with its primary
    /// group unless `group` (a name or number) is given. A number needs no passwd entry (its gid
    /// is then the same number unless `group` says otherwise). Errors: an unknown name, or an
    /// identity that would be root.
    pub fn lookup(user: &str, group: Option<&str>) -> Result<WorkerIdentity, String> {
        let (uid, primary) = match user.parse::<u32>() {
            Ok(uid) => {
                let gid = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map_or(uid, |u| u.gid.as_raw());
                (uid, gid)
            }
            Err(_) => match nix::unistd::User::from_name(user) {
                Ok(Some(u)) => (u.uid.as_raw(), u.gid.as_raw()),
                Ok(None) => {
                    return Err(format!(
                        "unknown user {user:?} (not in the passwd database)"
                    ));
                }
                Err(e) => return Err(format!("cannot look up user {user:?}: {e}")),
            },
        };
        let gid = match group {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => match nix::unistd::Group::from_name(g) {
                    Ok(Some(gr)) => gr.gid.as_raw(),
                    Ok(None) => return Err(format!("unknown group {g:?}")),
                    Err(e) => return Err(format!("cannot look up group {g:?}: {e}")),
                },
            },
        };
        WorkerIdentity::new(uid, gid)
            .map_err(|e| format!("user {user:?} (uid {uid}, gid {gid}): {e}"))
    }

    /// The effective user and group of this process.
    pub fn of_this_process() -> (u32, u32) {
        (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        )
    }
}

/// Whether this kernel enforces the workers' full Landlock policy (file system, signal and
/// abstract-socket scoping: ABI ≥ 6), and one line saying what is and is not enforced. Probed
/// once per process.
pub fn landlock_support() -> (bool, &'static str) {
    let s = crate::local::sandbox::support();
    (s.full, s.summary.as_str())
}

/// How strictly the Landlock file-system sandbox is required.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LandlockMode {
    /// Use what the kernel offers; on a kernel without Landlock (or an older ABI) run workers
    /// with what remains, after a warning at start that names what is not enforced.
    #[default]
    BestEffort,
    /// Refuse to start a worker unless the full policy (file system ABI ≥ 5 and signal/socket
    /// scoping, ABI ≥ 6) is enforced.
    Required,
}

/// Containment settings of the local executor (`LocalConfig::containment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Containment {
    /// Landlock strictness (default best effort).
    pub landlock: LandlockMode,
    /// System paths every worker may read and execute (the default: `/usr`, `/bin`, `/sbin`,
    /// `/lib`, `/lib32`, `/lib64`, `/libx32`, `/opt`, `/etc`, `/proc`, `/sys`). Missing ones
    /// are skipped. A path that contains a protected directory is granted around it.
    pub system_paths: Vec<PathBuf>,
    /// Device files every worker may read and write (default `/dev/null`, `/dev/zero`,
    /// `/dev/full`, `/dev/random`, `/dev/urandom`, `/dev/tty`).
    pub device_files: Vec<PathBuf>,
    /// More paths every worker may read and execute (e.g. a shared conda installation).
    pub extra_read_only: Vec<PathBuf>,
    /// Paths every worker may read and write (default none; e.g. `/dev/shm` for
    /// multiprocessing, at the price of a directory shared between workers).
    pub shared_read_write: Vec<PathBuf>,
    /// Directories never granted to a worker, whatever a path or root says (the server puts its
    /// data directory here): a version path inside one, or containing one, is refused.
    pub protected: Vec<PathBuf>,
    /// Where the private run directories are made (`<runs_dir>/<job_id>/<version_id>`, the
    /// worker's `HOME` and `TMPDIR`). `None`: `<temp dir>/trainyard-runs-<euid>/<16 hex digits
    /// of SHA-256 of logs_dir>`, stable across restarts of the same data directory.
    pub runs_dir: Option<PathBuf>,
    /// Names (or prefixes ending in `*`) of the server's environment variables that workers
    /// inherit, besides `PATH`, `LANG`, `LANGUAGE`, `LC_*`, `TZ`, `TERM`.
    pub env_allow: Vec<String>,
    /// Enforce the spec's memory (`cpu` GiB) per worker with a memory cgroup where the OS
    /// allows (default true).
    pub memory_limits: bool,
}

impl Default for Containment {
    fn default() -> Containment {
        let paths = |v: &[&str]| v.iter().map(PathBuf::from).collect();
        Containment {
            landlock: LandlockMode::BestEffort,
            system_paths: paths(&[
                "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/etc",
                "/proc", "/sys",
            ]),
            device_files: paths(&[
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
            ]),
            extra_read_only: Vec::new(),
            shared_read_write: Vec::new(),
            protected: Vec::new(),
            runs_dir: None,
            env_allow: Vec::new(),
            memory_limits: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_refused() {
        assert!(WorkerIdentity::new(0, 5).is_err());
        assert!(WorkerIdentity::new(5, 0).is_err());
        assert!(WorkerIdentity::lookup("root", None).is_err());
        assert!(WorkerIdentity::lookup("0", None).is_err());
        assert!(WorkerIdentity::lookup("65534", Some("0")).is_err());
        assert_eq!(
            WorkerIdentity::lookup("200000", None),
            Ok(WorkerIdentity {
                uid: 200000,
                gid: 200000
            }),
            "a uid without a passwd entry keeps its number as gid"
        );
        assert!(WorkerIdentity::lookup("no-such-user-xyz", None).is_err());
    }

    #[test]
    fn nobody_resolves_when_present() {
        if let Ok(Some(u)) = nix::unistd::User::from_name("nobody") {
            let id = WorkerIdentity::lookup("nobody", None).expect("nobody");
            assert_eq!(id.uid, u.uid.as_raw());
            assert_eq!(id.gid, u.gid.as_raw());
        }
    }
}
