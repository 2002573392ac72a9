//! Can the worker's identity execute a program? Program lookup happens in the server (so that
//! "command not found" is a clear 5 JOBSTAT_SUBMIT_FAILED reason, not a shell error in the log),
//! but for the identity and sandbox the worker will have: the server may be root and find
//! `python3` in `/root/.pyenv/shims`, which `nobody` cannot even traverse.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::sandbox::WorkerIdentity;

/// Whether the permission bits of `meta` give `bit` (4 read, 2 write, 1 execute) to `who`.
/// ACLs are not consulted (an ACL-only grant reads as a refusal: the check errs on "no").
fn mode_allows(meta: &std::fs::Metadata, who: WorkerIdentity, bit: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == who.uid {
        (mode >> 6) & bit != 0
    } else if meta.gid() == who.gid {
        (mode >> 3) & bit != 0
    } else {
        mode & bit != 0
    }
}

/// Whether `who` may traverse every directory above `path`.
fn traversable(path: &Path, who: WorkerIdentity) -> Result<(), String> {
    for dir in path.ancestors().skip(1) {
        match std::fs::metadata(dir) {
            Ok(m) if mode_allows(&m, who, 1) => {}
            Ok(_) => {
                return Err(format!(
                    "directory {} is not accessible to uid {}",
                    dir.display(),
                    who.uid
                ));
            }
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        }
    }
    Ok(())
}

/// Checks that `path` (absolute) is a regular file that the worker can execute: with `who`
/// (`None`: the server's own user) by its permissions and those of every directory above it,
/// and, when `exec_roots` is given (the worker's Landlock policy), by lying under one of them.
/// The error says why, in a few words.
pub(crate) fn check_executable(
    path: &Path,
    who: Option<WorkerIdentity>,
    exec_roots: Option<&[PathBuf]>,
) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        _ => format!("cannot be read ({e})"),
    })?;
    if !meta.is_file() {
        return Err("is not a regular file".to_owned());
    }
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match who {
        None => {
            if rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_err() {
                return Err("is not executable".to_owned());
            }
        }
        Some(w) => {
            traversable(path, w)?;
            traversable(&real, w)?;
            if !mode_allows(&meta, w, 1) {
                return Err(format!("is not executable by uid {}", w.uid));
            }
        }
    }
    if let Some(roots) = exec_roots
        && !roots.iter().any(|r| real.starts_with(r))
    {
        return Err(format!(
            "resolves to {}, outside what the worker's sandbox may execute",
            real.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn permissions_of_the_identity_count() {
        let tmp = tempfile::tempdir().expect("tmp");
        let me = WorkerIdentity::of_this_process();
        let other = WorkerIdentity {
            uid: me.0.wrapping_add(12345),
            gid: me.1.wrapping_add(12345),
        };
        let dir = tmp.path().join("d");
        std::fs::create_dir(&dir).expect("mkdir");
        let prog = dir.join("p");
        std::fs::write(&prog, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(check_executable(&prog, None, None), Ok(()));
        assert_eq!(check_executable(&prog, Some(other), None), Ok(()));
        // a 0700 directory above it: the other user cannot get there
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let e = check_executable(&prog, Some(other), None).expect_err("0700");
        assert!(e.contains("not accessible"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o744)).expect("chmod");
        let e = check_executable(&prog, Some(other), None).expect_err("0744");
        assert!(e.contains("not executable by uid"), "{e}");
        // the sandbox: outside the execute roots
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let sh = std::fs::canonicalize("/bin/sh").expect("sh");
        let roots = vec![sh.parent().expect("dir").to_path_buf()];
        let e = check_executable(&prog, None, Some(&roots)).expect_err("roots");
        assert!(e.contains("outside what the worker's sandbox"), "{e}");
        assert_eq!(
            check_executable(Path::new("/bin/sh"), None, Some(&roots)),
            Ok(()),
            "judged by its real path"
        );
        assert!(check_executable(&dir.join("missing"), None, None).is_err());
        assert!(check_executable(&dir, None, None).is_err());
    }
}
