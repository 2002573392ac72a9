//! Memory limits per worker with cgroups: v2 when the memory controller is available to this
//! process, else v1's memory hierarchy, else nothing (said once at start).
//!
//! Each worker gets its own group `<base>/<job>-<version>-<worker>` below this server's own
//! group (`<base>` = `<own group>/trainyard-<tag>`, the tag identifying the data directory), so
//! several servers on one machine never share groups. The worker joins it between fork and exec
//! (`local::child`, writing `0` to the group's `cgroup.procs`, which the parent opened), so
//! nothing it starts escapes the limit, not even a process that leaves its process group. When
//! the worker ends, whatever is left in its group is killed, and the group is removed.
//!
//! * v2: `memory.max` = the limit, `memory.swap.max` = 0 (where it exists); an OOM kill shows in
//!   `memory.events` (`oom_kill N`). v2 forbids processes in a group whose children have
//!   controllers, so the server first moves itself into a leaf `<own group>/trainyard-server`
//!   and then enables `+memory` below its own group (the usual systemd `Delegate=yes` pattern);
//!   when that is not possible, v2 is not used.
//! * v1: `memory.limit_in_bytes` = the limit and `memory.memsw.limit_in_bytes` the same (no swap
//!   beyond it) where swap accounting exists; an OOM kill shows in `memory.oom_control`
//!   (`oom_kill N`, Linux ≥ 4.13) or `memory.failcnt`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// Which memory cgroup interface is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// The unified hierarchy.
    V2,
    /// The v1 `memory` hierarchy.
    V1,
}

/// Memory cgroups as found at start.
#[derive(Debug)]
pub(crate) enum MemoryCgroups {
    /// Usable: worker groups are made below `base`.
    Available {
        /// The interface.
        version: Version,
        /// This server's parent group of the worker groups.
        base: PathBuf,
    },
    /// Not usable here; the reason says why (logged once, and in the docs' terms).
    Unavailable(String),
}

/// One worker's memory group.
#[derive(Debug)]
pub(crate) struct WorkerCgroup {
    version: Version,
    dir: PathBuf,
    /// `cgroup.procs`, opened for writing by the server (the child writes `0` to it).
    procs: Option<File>,
    /// The limit in bytes, if one was set.
    pub limit_bytes: Option<u64>,
}

/// The field of `/proc/self/mountinfo` lines: mount point and file-system type and options.
struct Mount {
    point: PathBuf,
    fstype: String,
    super_options: String,
}

fn mounts() -> Vec<Mount> {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            // id parent major:minor root mountpoint options [optional...] - fstype source super
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            let mut r = right.split(' ');
            let fstype = r.next()?.to_owned();
            let _source = r.next();
            let super_options = r.next().unwrap_or("").to_owned();
            Some(Mount {
                point: PathBuf::from(unescape_mount(point)),
                fstype,
                super_options,
            })
        })
        .collect()
}

/// Undoes the octal escapes of mountinfo (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's group in the hierarchy that `/proc/self/cgroup` names with `controller`
/// (`""` for the v2 line `0::/path`).
fn own_group(controller: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_id, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if controller.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == controller)
        };
        if matches {
            return Some(PathBuf::from(path.trim_start_matches('/')));
        }
    }
    None
}

fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.write_all(value.as_bytes())
}

impl MemoryCgroups {
    /// Finds and prepares the memory cgroups this server may use; `tag` names this server's
    /// parent group (`trainyard-<tag>`).
    pub(crate) fn detect(tag: &str) -> MemoryCgroups {
        let mounts = mounts();
        let mut why = Vec::new();
        match detect_v2(&mounts, tag) {
            Ok(m) => return m,
            Err(e) => why.push(format!("cgroup v2: {e}")),
        }
        match detect_v1(&mounts, tag) {
            Ok(m) => return m,
            Err(e) => why.push(format!("cgroup v1: {e}")),
        }
        MemoryCgroups::Unavailable(why.join("; "))
    }

    /// A one-line description for the start-up log.
    pub(crate) fn describe(&self) -> String {
        match self {
            MemoryCgroups::Available { version, base } => format!(
                "memory limits enforced with cgroup {} under {}",
                match version {
                    Version::V2 => "v2",
                    Version::V1 => "v1",
                },
                base.display()
            ),
            MemoryCgroups::Unavailable(why) => {
                format!("memory limits are NOT enforced (no usable memory cgroup: {why})")
            }
        }
    }

    /// The group of worker `worker` of a run (whether or not it exists).
    pub(crate) fn worker_dir(&self, job_id: i64, version_id: i64, worker: u32) -> Option<PathBuf> {
        match self {
            MemoryCgroups::Available { base, .. } => {
                Some(base.join(format!("{job_id}-{version_id}-{worker}")))
            }
            MemoryCgroups::Unavailable(_) => None,
        }
    }

    /// Creates (or empties and reuses) the group of a worker with `limit_bytes`, and opens its
    /// `cgroup.procs` for the child to join. `Ok(None)` when cgroups are unavailable.
    pub(crate) fn create(
        &self,
        job_id: i64,
        version_id: i64,
        worker: u32,
        limit_bytes: Option<u64>,
    ) -> Result<Option<WorkerCgroup>, String> {
        let MemoryCgroups::Available { version, .. } = self else {
            return Ok(None);
        };
        let Some(dir) = self.worker_dir(job_id, version_id, worker) else {
            return Ok(None);
        };
        if dir.exists() {
            // a leftover of an earlier attempt of this version: empty it first
            let old = WorkerCgroup {
                version: *version,
                dir: dir.clone(),
                procs: None,
                limit_bytes: None,
            };
            old.kill_all();
            old.remove();
        }
        std::fs::create_dir(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("cannot create memory cgroup {}: {e}", dir.display()))?;
        let cg = WorkerCgroup {
            version: *version,
            dir: dir.clone(),
            procs: None,
            limit_bytes,
        };
        if let Some(bytes) = limit_bytes {
            let set = |file: &str, value: &str| {
                write_file(&dir.join(file), value)
                    .map_err(|e| format!("cannot set {} of {}: {e}", file, dir.display()))
            };
            match version {
                Version::V2 => {
                    set("memory.max", &bytes.to_string())?;
                    if dir.join("memory.swap.max").exists() {
                        set("memory.swap.max", "0")?;
                    }
                }
                Version::V1 => {
                    set("memory.limit_in_bytes", &bytes.to_string())?;
                    if dir.join("memory.memsw.limit_in_bytes").exists() {
                        set("memory.memsw.limit_in_bytes", &bytes.to_string())?;
                    }
                }
            }
        }
        let procs = OpenOptions::new()
            .write(true)
            .open(dir.join("cgroup.procs"))
            .map_err(|e| format!("cannot open {}/cgroup.procs: {e}", dir.display()))?;
        Ok(Some(WorkerCgroup {
            procs: Some(procs),
            ..cg
        }))
    }

    /// The worker groups that exist: `(job_id, version_id, worker)`.
    pub(crate) fn list(&self) -> Vec<(i64, i64, u32)> {
        let MemoryCgroups::Available { base, .. } = self else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(base) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let mut it = name.splitn(3, '-');
                let j = it.next()?.parse().ok()?;
                let v = it.next()?.parse().ok()?;
                let w = it.next()?.parse().ok()?;
                Some((j, v, w))
            })
            .collect()
    }

    /// The group of a worker of an adopted run, if it exists (for clean-up and OOM reports).
    pub(crate) fn existing(
        &self,
        job_id: i64,
        version_id: i64,
        worker: u32,
    ) -> Option<WorkerCgroup> {
        let MemoryCgroups::Available { version, .. } = self else {
            return None;
        };
        let dir = self.worker_dir(job_id, version_id, worker)?;
        dir.is_dir().then(|| WorkerCgroup {
            version: *version,
            dir,
            procs: None,
            limit_bytes: None,
        })
    }
}

fn detect_v1(mounts: &[Mount], tag: &str) -> Result<MemoryCgroups, String> {
    let m = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == "memory"))
        .ok_or("no memory hierarchy is mounted")?;
    let own = own_group("memory").ok_or("this process has no memory group")?;
    let base = m.point.join(own).join(format!("trainyard-{tag}"));
    prepare_base(&base)?;
    probe(Version::V1, &base)?;
    Ok(MemoryCgroups::Available {
        version: Version::V1,
        base,
    })
}

fn detect_v2(mounts: &[Mount], tag: &str) -> Result<MemoryCgroups, String> {
    let m = mounts
        .iter()
        .find(|m| m.fstype == "cgroup2")
        .ok_or("no unified hierarchy is mounted")?;
    let own = m
        .point
        .join(own_group("").ok_or("this process has no v2 group")?);
    let controllers = std::fs::read_to_string(own.join("cgroup.controllers")).unwrap_or_default();
    if !controllers.split_whitespace().any(|c| c == "memory") {
        return Err(format!(
            "the memory controller is not available in {} (controllers: {:?})",
            own.display(),
            controllers.trim()
        ));
    }
    let subtree = own.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&subtree).unwrap_or_default();
    if !enabled.split_whitespace().any(|c| c == "memory") {
        // No processes may stay in a group whose children get controllers: move this server
        // into a leaf of its own, then enable memory below its group.
        let leaf = own.join("trainyard-server");
        prepare_base(&leaf)?;
        write_file(&leaf.join("cgroup.procs"), &std::process::id().to_string())
            .map_err(|e| format!("cannot move the server into {}: {e}", leaf.display()))?;
        write_file(&subtree, "+memory")
            .map_err(|e| format!("cannot enable memory in {}: {e}", subtree.display()))?;
    }
    let base = own.join(format!("trainyard-{tag}"));
    prepare_base(&base)?;
    let sub = base.join("cgroup.subtree_control");
    let on = std::fs::read_to_string(&sub).unwrap_or_default();
    if !on.split_whitespace().any(|c| c == "memory") {
        write_file(&sub, "+memory")
            .map_err(|e| format!("cannot enable memory in {}: {e}", sub.display()))?;
    }
    probe(Version::V2, &base)?;
    Ok(MemoryCgroups::Available {
        version: Version::V2,
        base,
    })
}

fn prepare_base(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
    }
}

/// Creates a throw-away child with a limit, to know the interface works before relying on it.
fn probe(version: Version, base: &Path) -> Result<(), String> {
    let dir = base.join(format!("probe-{}", std::process::id()));
    prepare_base(&dir)?;
    let file = match version {
        Version::V2 => "memory.max",
        Version::V1 => "memory.limit_in_bytes",
    };
    let res = write_file(&dir.join(file), &(1u64 << 30).to_string())
        .map_err(|e| format!("cannot set {file} in {}: {e}", dir.display()));
    let _ = std::fs::remove_dir(&dir);
    res
}

impl WorkerCgroup {
    /// The descriptor of `cgroup.procs` the child writes `0` to (joining the group).
    pub(crate) fn procs_fd(&self) -> Option<RawFd> {
        self.procs.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// Closes the server's `cgroup.procs` descriptor (after the spawn).
    pub(crate) fn close_procs(&mut self) {
        self.procs = None;
    }

    /// How many processes of the group the kernel killed for lack of memory.
    pub(crate) fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            Version::V2 => ("memory.events", "oom_kill"),
            Version::V1 => ("memory.oom_control", "oom_kill"),
        };
        let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
        let count = text
            .lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.trim().parse().ok());
        match (count, self.version) {
            (Some(n), _) => n,
            // v1 before Linux 4.13 has no oom_kill counter: hitting the limit is the best sign
            (None, Version::V1) => std::fs::read_to_string(self.dir.join("memory.failcnt"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
            (None, Version::V2) => 0,
        }
    }

    /// Whether no process is in the group.
    pub(crate) fn is_empty(&self) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.procs")).is_ok_and(|t| t.trim().is_empty())
    }

    /// Kills (SIGKILL) every process still in the group: a worker's leftovers, including any
    /// that left its process group.
    pub(crate) fn kill_all(&self) {
        for _ in 0..20 {
            let text = std::fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
            let pids: Vec<i32> = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                if pid > 1 {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Removes the group (it must be empty: call [`WorkerCgroup::kill_all`] first); retried
    /// briefly while the last processes are torn down.
    pub(crate) fn remove(&self) {
        for _ in 0..50 {
            match std::fs::remove_dir(&self.dir) {
                Ok(()) => return,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
        tracing::warn!(dir = %self.dir.display(), "cannot remove a worker's memory cgroup");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mount(r"/a\040b"), "/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
    }

    #[test]
    fn detect_says_something_either_way() {
        let m = MemoryCgroups::detect(&format!("unit-{}", std::process::id()));
        let d = m.describe();
        assert!(d.contains("memory limits"), "{d}");
        if let MemoryCgroups::Available { base, .. } = &m {
            let cg = m
                .create(1, 2, 0, Some(64 << 20))
                .expect("create")
                .expect("available");
            assert!(cg.procs_fd().is_some());
            assert_eq!(cg.oom_kills(), 0);
            cg.kill_all();
            cg.remove();
            assert!(!base.join("1-2-0").exists());
            let _ = std::fs::remove_dir(base);
        }
    }
}
