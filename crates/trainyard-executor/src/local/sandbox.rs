//! The Landlock policy of a worker (or of a helper process run with a worker's rights): which
//! paths it may read, execute or write, built in the parent, checked against the real paths of
//! the opened descriptors, and handed to `local::child` as one ruleset descriptor.
//!
//! * Every granted path is opened first (`O_PATH`), then the real path of the *opened*
//!   descriptor is read back (`/proc/self/fd/N`) and checked: a version path must lie under one
//!   of the run's allowed roots, and no granted path may contain or lie inside a protected
//!   directory (the data directory). A symlink planted between the server's checks and the
//!   spawn therefore grants nothing it points to outside the roots, and Landlock rules bind to
//!   the opened inode, not to the name.
//! * A system path that contains a protected directory (say the data directory is
//!   `/opt/trainyard/data`) is granted *around* it: each entry of the path except the one
//!   leading to the protected directory, recursively.
//! * The ruleset handles every file-system right of Landlock ABI 6 and scopes signals and
//!   abstract unix sockets (ABI 6): a worker can neither signal nor connect to anything outside
//!   its own domain. Each worker gets its own domain, so two workers (even of the same user)
//!   cannot signal or ptrace each other either.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use landlock::{
    ABI, Access, AccessFs, BitFlags, LandlockStatus, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};

use crate::sandbox::LandlockMode;

/// The Landlock ABI whose rights the policy uses (file rights up to device ioctls, and the
/// signal and abstract-socket scopes).
const POLICY_ABI: ABI = ABI::V6;

/// What a grant allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access3 {
    /// Read files and directories, execute files.
    ReadExec,
    /// Read files and directories (no execution).
    Read,
    /// Everything: read, write, create, remove, execute.
    ReadWrite,
}

/// Why a path is granted (decides how strictly its real path is checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A system path: skipped when missing or inside a protected directory, granted around a
    /// protected directory it contains.
    System,
    /// A path of the version (`app_url`, `data_url`, `train_url`, the boot file, `log_url` for
    /// the copy helper): must exist, lie under an allowed root, and not overlap a protected
    /// directory. `optional` ones are skipped when missing.
    Version {
        /// The config field, for messages.
        field: &'static str,
        /// Skip when it does not exist (instead of failing).
        optional: bool,
    },
    /// The run's private directory, made by the executor: must exist and not overlap a
    /// protected directory.
    Private,
}

/// One path to grant.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    /// The path as configured.
    pub path: PathBuf,
    /// What is allowed beneath it.
    pub access: Access3,
    /// How it is checked.
    pub kind: Kind,
}

impl Grant {
    pub(crate) fn new(path: impl Into<PathBuf>, access: Access3, kind: Kind) -> Grant {
        Grant {
            path: path.into(),
            access,
            kind,
        }
    }
}

/// What Landlock does on this kernel (probed once).
#[derive(Clone, Debug)]
pub(crate) struct Support {
    /// The policy is fully enforced (ABI ≥ 6).
    pub full: bool,
    /// Some of it is enforced (Landlock exists).
    pub any: bool,
    /// One line for the start-up log: what is and is not enforced.
    pub summary: String,
}

/// Probes Landlock once: restricts a short-lived thread with an empty policy of the same shape
/// and reads the status the kernel gave.
pub(crate) fn support() -> &'static Support {
    static SUPPORT: OnceLock<Support> = OnceLock::new();
    SUPPORT.get_or_init(|| {
        std::thread::spawn(probe)
            .join()
            .unwrap_or_else(|_| Support {
                full: false,
                any: false,
                summary: "Landlock probe failed: file-system sandbox NOT enforced".to_owned(),
            })
    })
}

fn probe() -> Support {
    let created = Ruleset::default()
        .handle_access(AccessFs::from_all(POLICY_ABI))
        .and_then(|r| r.scope(Scope::from_all(POLICY_ABI)))
        .and_then(|r| r.create());
    let status = match created.and_then(|r| r.restrict_self()) {
        Ok(s) => s,
        Err(e) => {
            return Support {
                full: false,
                any: false,
                summary: format!("Landlock unusable ({e}): file-system sandbox NOT enforced"),
            };
        }
    };
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => Some(effective_abi as i32),
        _ => None,
    };
    match (status.ruleset, abi) {
        (RulesetStatus::FullyEnforced, Some(a)) => Support {
            full: true,
            any: true,
            summary: format!(
                "Landlock ABI {a}: file-system policy, signal and abstract-socket scoping enforced"
            ),
        },
        (RulesetStatus::PartiallyEnforced, Some(a)) => {
            let mut missing = Vec::new();
            if a < 2 {
                missing.push("renames/links across directories (ABI 2)");
            }
            if a < 3 {
                missing.push("truncation (ABI 3)");
            }
            if a < 5 {
                missing.push("device ioctls (ABI 5)");
            }
            if a < 6 {
                missing.push(
                    "signal scoping: a worker may signal processes of its user outside its sandbox (ABI 6)",
                );
                missing.push("abstract unix socket scoping (ABI 6)");
            }
            Support {
                full: false,
                any: true,
                summary: format!(
                    "Landlock ABI {a}: file-system policy enforced; NOT enforced: {}",
                    missing.join(", ")
                ),
            }
        }
        _ => Support {
            full: false,
            any: false,
            summary: "Landlock is not available on this kernel: the file-system sandbox, signal \
                      and socket scoping are NOT enforced (only the worker identity and file \
                      permissions separate workers from the server)"
                .to_owned(),
        },
    }
}

/// A ruleset ready for `landlock_restrict_self` in the child (`None`: nothing to enforce on
/// this kernel, in best-effort mode).
#[derive(Debug)]
pub(crate) struct Prepared {
    ruleset: Option<OwnedFd>,
    /// The real paths granted with execute rights (program resolution checks against these).
    pub exec_roots: Vec<PathBuf>,
}

impl Prepared {
    /// The ruleset descriptor for the child.
    pub(crate) fn ruleset_fd(&self) -> Option<std::os::fd::RawFd> {
        self.ruleset.as_ref().map(AsRawFd::as_raw_fd)
    }
}

/// Whether `a` and `b` overlap: one is the other or lies inside it (by components).
pub(crate) fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// The real path of an open descriptor (`/proc/self/fd/N`); `None` for a deleted file.
fn real_path(fd: &impl AsFd) -> Option<PathBuf> {
    let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())).ok()?;
    let s = p.to_string_lossy();
    (s.starts_with('/') && !s.ends_with(" (deleted)")).then_some(p)
}

fn rights(access: Access3) -> BitFlags<AccessFs> {
    match access {
        Access3::ReadExec => AccessFs::from_read(POLICY_ABI),
        Access3::Read => AccessFs::ReadFile | AccessFs::ReadDir,
        Access3::ReadWrite => AccessFs::from_all(POLICY_ABI),
    }
}

/// Builds the ruleset for `grants`. `roots` bound version paths (empty: no bound);
/// `protected` are never granted. Errors are one line naming the path (and, for a version
/// path, the field).
pub(crate) fn prepare(
    grants: &[Grant],
    roots: &[PathBuf],
    protected: &[PathBuf],
    mode: LandlockMode,
) -> Result<Prepared, String> {
    let sup = support();
    if mode == LandlockMode::Required && !sup.full {
        return Err(format!(
            "the server requires Landlock but it is not fully available: {}",
            sup.summary
        ));
    }
    // Real paths of the roots and protected directories (they may be symlinks themselves).
    let canon = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    let roots: Vec<PathBuf> = roots.iter().map(canon).collect();
    let protected: Vec<PathBuf> = protected.iter().map(canon).collect();
    let mut ruleset = if sup.any {
        Some(
            Ruleset::default()
                .handle_access(AccessFs::from_all(POLICY_ABI))
                .and_then(|r| r.scope(Scope::from_all(POLICY_ABI)))
                .and_then(|r| r.create())
                .map_err(|e| format!("cannot create the Landlock ruleset: {e}"))?,
        )
    } else {
        None
    };
    let mut exec_roots = Vec::new();
    for g in grants {
        let fd = match PathFd::new(&g.path) {
            Ok(fd) => fd,
            Err(_) if !g.path.exists() => match &g.kind {
                Kind::System | Kind::Version { optional: true, .. } => continue,
                Kind::Version { field, .. } => {
                    return Err(format!("{field} {} does not exist", g.path.display()));
                }
                Kind::Private => {
                    return Err(format!("run directory {} does not exist", g.path.display()));
                }
            },
            Err(e) => return Err(format!("cannot open {}: {e}", g.path.display())),
        };
        let Some(real) = real_path(&fd) else {
            return Err(format!("cannot resolve {}", g.path.display()));
        };
        match &g.kind {
            Kind::System => {
                if protected.iter().any(|p| real.starts_with(p)) {
                    continue;
                }
                if let Some(p) = protected.iter().find(|p| p.starts_with(&real)) {
                    grant_around(
                        &mut ruleset,
                        &real,
                        p,
                        &protected,
                        g.access,
                        &mut exec_roots,
                    )?;
                    continue;
                }
            }
            Kind::Version { field, .. } => {
                if !roots.is_empty() && !roots.iter().any(|r| real.starts_with(r)) {
                    return Err(format!(
                        "{field} {} resolves to {}, which is outside the allowed roots ({})",
                        g.path.display(),
                        real.display(),
                        join(&roots)
                    ));
                }
                if let Some(p) = protected.iter().find(|p| overlaps(&real, p)) {
                    return Err(format!(
                        "{field} {} resolves to {}, which overlaps the server's directory {}",
                        g.path.display(),
                        real.display(),
                        p.display()
                    ));
                }
            }
            Kind::Private => {
                if let Some(p) = protected.iter().find(|p| overlaps(&real, p)) {
                    return Err(format!(
                        "run directory {} overlaps the server's directory {}",
                        real.display(),
                        p.display()
                    ));
                }
            }
        }
        if g.access != Access3::Read {
            exec_roots.push(real.clone());
        }
        add_rule(&mut ruleset, fd, g.access)?;
    }
    Ok(Prepared {
        ruleset: ruleset.and_then(Option::<OwnedFd>::from),
        exec_roots,
    })
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn add_rule(
    ruleset: &mut Option<landlock::RulesetCreated>,
    fd: PathFd,
    access: Access3,
) -> Result<(), String> {
    let Some(rs) = ruleset.take() else {
        return Ok(());
    };
    let is_dir = rustix::fs::fstat(fd.as_fd())
        .map(|st| {
            rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory
        })
        .unwrap_or(false);
    let mut allowed = rights(access);
    if !is_dir {
        allowed &= AccessFs::from_file(POLICY_ABI);
    }
    let rs = rs
        .add_rule(PathBeneath::new(fd, allowed))
        .map_err(|e| format!("cannot add a Landlock rule: {e}"))?;
    *ruleset = Some(rs);
    Ok(())
}

/// Grants `dir`'s entries except the branch leading to `inner` (recursively), each checked by
/// its real path like any system path.
fn grant_around(
    ruleset: &mut Option<landlock::RulesetCreated>,
    dir: &Path,
    inner: &Path,
    protected: &[PathBuf],
    access: Access3,
    exec_roots: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let p = e.path();
        if p == inner {
            continue;
        }
        if inner.starts_with(&p) {
            grant_around(ruleset, &p, inner, protected, access, exec_roots)?;
            continue;
        }
        let Ok(fd) = PathFd::new(&p) else { continue };
        let Some(real) = real_path(&fd) else { continue };
        if protected.iter().any(|q| overlaps(&real, q)) {
            continue;
        }
        if access != Access3::Read {
            exec_roots.push(real);
        }
        add_rule(ruleset, fd, access)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_by_component() {
        assert!(overlaps(Path::new("/a/b"), Path::new("/a")));
        assert!(overlaps(Path::new("/a"), Path::new("/a/b")));
        assert!(overlaps(Path::new("/a"), Path::new("/a")));
        assert!(!overlaps(Path::new("/a/bc"), Path::new("/a/b")));
    }

    #[test]
    fn version_paths_are_checked_by_their_real_path() {
        let tmp = tempfile::tempdir().expect("tmp");
        let root = tmp.path().join("root");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(root.join("app")).expect("mkdir");
        std::fs::create_dir_all(&data).expect("mkdir");
        // a symlink inside the root that points at the protected directory
        std::os::unix::fs::symlink(&data, root.join("sneaky")).expect("symlink");
        std::os::unix::fs::symlink("/etc", root.join("out")).expect("symlink");
        let roots = vec![root.clone()];
        let protected = vec![data.clone()];
        let grant = |p: PathBuf| {
            vec![Grant::new(
                p,
                Access3::ReadWrite,
                Kind::Version {
                    field: "train_url",
                    optional: false,
                },
            )]
        };
        let mode = LandlockMode::BestEffort;
        assert!(prepare(&grant(root.join("app")), &roots, &protected, mode).is_ok());
        let e = prepare(&grant(root.join("sneaky")), &roots, &protected, mode).expect_err("data");
        assert!(e.contains("outside the allowed roots"), "{e}");
        // even under a root that contains the protected directory
        let wide = vec![tmp.path().to_path_buf()];
        let e = prepare(&grant(root.join("sneaky")), &wide, &protected, mode).expect_err("data");
        assert!(e.contains("overlaps the server's directory"), "{e}");
        let e = prepare(&grant(root.join("out")), &roots, &protected, mode).expect_err("etc");
        assert!(
            e.starts_with("train_url") && e.contains("outside the allowed roots"),
            "{e}"
        );
        let e = prepare(&grant(root.join("missing")), &roots, &protected, mode).expect_err("gone");
        assert!(e.contains("does not exist"), "{e}");
        // an ancestor of the protected directory is refused too
        let e = prepare(&grant(tmp.path().to_path_buf()), &[], &protected, mode).expect_err("anc");
        assert!(e.contains("overlaps"), "{e}");
    }

    #[test]
    fn probe_reports() {
        let s = support();
        assert!(s.summary.contains("Landlock"), "{}", s.summary);
    }
}
