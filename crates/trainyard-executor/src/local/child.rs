//! What a worker's process does between `fork` and `exec`: join its memory cgroup, set
//! `no_new_privs`, enter its Landlock domain, and put its exit-status file at descriptor 3.
//!
//! This is the crate's only `unsafe` besides the pidfd registration in `monitor`:
//! `CommandExt::pre_exec` is unsafe because the closure runs in the forked child of a
//! multi-threaded process, where only async-signal-safe functions may be called. Everything that
//! allocates or takes locks (building the Landlock ruleset, opening every path and cgroup file,
//! checking the real paths of the opened descriptors) happens in the parent beforehand
//! (`local::sandbox`, `local::cgroup`); the closure only issues five raw system calls
//! (`write`, `prctl`, `landlock_restrict_self`, `dup2`/`fcntl`) on descriptors that the parent
//! keeps open until the spawn returns, and reports failure as a plain `errno`
//! (`io::Error::last_os_error`, which does not allocate). Why not a re-executed helper binary:
//! the executor is a library used by the `trainyard` binary and by tests, and a helper would
//! have to be found and trusted at run time; the closure keeps the whole setup in one place.
//!
//! Order (after std has already switched to the worker's gid/uid, cleared supplementary groups
//! and changed directory, and before process-wrap's `setsid`): the cgroup first (so the whole
//! worker is accounted), then `no_new_privs` (required by Landlock for an unprivileged caller,
//! and it keeps set-uid programs from regaining privileges), then the Landlock domain, then the
//! exit descriptor.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::RawFd;

/// The descriptor number the worker wrapper writes its exit status to.
pub(crate) const EXIT_FD: RawFd = 3;

/// Descriptors the child uses; all opened by the parent, which keeps them open until the spawn
/// has returned.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ChildSetup {
    /// `cgroup.procs` of the worker's memory cgroup (the child writes `0`: itself).
    pub cgroup_procs: Option<RawFd>,
    /// A created Landlock ruleset to restrict the child with.
    pub ruleset: Option<RawFd>,
    /// The exit-status file, moved to [`EXIT_FD`].
    pub exit_file: Option<RawFd>,
}

impl ChildSetup {
    /// Runs in the child between fork and exec: async-signal-safe system calls only.
    fn apply(&self) -> io::Result<()> {
        if let Some(fd) = self.cgroup_procs {
            // SAFETY: `fd` is an open descriptor owned by the parent for the duration of the
            // spawn (inherited by the child); the buffer is a static byte string.
            let n = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) };
            if n != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if let Some(fd) = self.ruleset {
            // SAFETY: landlock_restrict_self(2) takes a ruleset descriptor (open, owned by the
            // parent until the spawn returns) and flags; no memory is passed.
            if unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if let Some(fd) = self.exit_file {
            if fd == EXIT_FD {
                // already in place, but close-on-exec: clear the flag
                // SAFETY: fcntl on an open descriptor with integer arguments.
                if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            } else {
                // SAFETY: dup2 on open descriptors; the new descriptor has no close-on-exec.
                // Whatever was at EXIT_FD in the child (an inherited close-on-exec descriptor,
                // e.g. the ruleset already used above) is replaced.
                if unsafe { libc::dup2(fd, EXIT_FD) } < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(())
    }
}

/// Registers the setup to run in the child of `cmd` (a tokio command).
pub(crate) fn install_tokio(cmd: &mut tokio::process::Command, setup: ChildSetup) {
    // SAFETY: the closure only calls `ChildSetup::apply`, which issues async-signal-safe system
    // calls on descriptors that stay open in the parent until `spawn` returns (the caller keeps
    // their owners alive across the spawn), allocates nothing, and takes no lock.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
}

/// Registers the setup to run in the child of `cmd` (a std command, for helper processes).
pub(crate) fn install_std(cmd: &mut std::process::Command, setup: ChildSetup) {
    use std::os::unix::process::CommandExt;
    // SAFETY: as in `install_tokio`.
    unsafe {
        cmd.pre_exec(move || setup.apply());
    }
}
