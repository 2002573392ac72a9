//! The data directory: one server at a time, and nobody else's to read.
//!
//! * **Exclusive use.** [`DataDirLock::acquire`] takes an OS lock (`flock`, through std's
//!   [`std::fs::File::try_lock`]) on `<data_dir>/serve.lock` before the store is opened and
//!   before any recovery runs, and the server holds it for its whole life. A second
//!   `trainyard serve` on the same directory is refused at start with a message naming the
//!   directory and the pid of the server that holds it, so it never adopts, kills or marks lost
//!   the first server's runs. The kernel drops the lock when the holder dies (even by SIGKILL),
//!   so a crash never leaves a stale lock (a child the dead server was forking may hold it until
//!   its `exec`, for milliseconds: a lock whose recorded server is gone is waited for, bounded). Administration commands (`trainyard users add ...`)
//!   do not take it: they only use the store, which SQLite already serialises.
//! * **Permissions.** The directory is created (or tightened) to mode 0700 and must be owned by
//!   the server's user; the database files (`trainyard.db`, `-wal`, `-shm`) are 0600
//!   ([`secure_db_files`]). `auth.key` and `credentials.json` are written 0600 where they are
//!   made (`auth`).

use anyhow::{Context, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The lock file inside the data directory.
pub const LOCK_FILE: &str = "serve.lock";

/// The held lock on a data directory (released when dropped, or by [`DataDirLock::release`]).
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    path: PathBuf,
    dir: PathBuf,
}

impl DataDirLock {
    /// Creates `dir` (mode 0700) if needed, resolves it to its canonical path
    /// ([`DataDirLock::dir`]), checks that it is a directory owned by this process's user, sets
    /// its mode to 0700, and takes the exclusive lock.
    ///
    /// Errors: another process holds the lock (the message names the directory and that
    /// server's pid), the directory belongs to another user, or it cannot be created.
    pub fn acquire(dir: &Path) -> anyhow::Result<DataDirLock> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        let dir = &std::fs::canonicalize(dir)
            .with_context(|| format!("resolving data directory {}", dir.display()))?;
        let meta = std::fs::symlink_metadata(dir)
            .with_context(|| format!("reading data directory {}", dir.display()))?;
        if !meta.is_dir() {
            bail!("data directory {} is not a directory", dir.display());
        }
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            bail!(
                "data directory {} is owned by uid {}, not by the server's user (uid {me}); \
                 the server keeps its database and keys there and must own it",
                dir.display(),
                meta.uid()
            );
        }
        if meta.mode() & 0o777 != 0o700 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("setting mode 0700 on {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "data directory set to mode 0700");
        }
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        lock_or_refuse(&mut file, &path, dir)?;
        // Who holds it, for the message above (informational only: the lock is the flock).
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(DataDirLock {
            file,
            path,
            dir: dir.clone(),
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The data directory, canonical (absolute, no symlinks).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Releases the lock now (when the server stops; dropping does the same).
    pub fn release(&self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// How long a lock whose recorded server is gone may stay busy before the start is refused.
/// A server killed with SIGKILL releases its lock at once, but a child it was starting holds a
/// copy of the locked file description between `fork` and `exec` (for milliseconds; 100 ms was
/// seen on a loaded machine), so a restart right after the kill can find it busy briefly.
const DEAD_HOLDER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Takes the exclusive lock on `file` (`path` in `dir`). Busy and held by a live process whose
/// pid the file records: refused at once. Busy with no live recorded holder (a server that was
/// just killed, whose forked children have not reached `exec` yet): retried every 20 ms for up
/// to [`DEAD_HOLDER_WAIT`], then refused.
fn lock_or_refuse(file: &mut File, path: &Path, dir: &Path) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + DEAD_HOLDER_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.rewind();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim().parse::<u32>().ok();
                let alive = holder.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if alive || std::time::Instant::now() >= deadline {
                    let who = holder
                        .map(|pid| format!(" (pid {pid})"))
                        .unwrap_or_default();
                    bail!(
                        "another trainyard server{who} is already using the data directory {}; \
                         stop it first, or start this one with another --data-dir",
                        dir.display()
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

/// Sets mode 0600 on the SQLite database and its `-wal`/`-shm` files (those that exist).
/// SQLite creates the `-wal` and `-shm` files with the mode of the database file, so a
/// database made 0600 before its first use keeps them 0600 as well.
pub fn secure_db_files(db: &Path) -> anyhow::Result<()> {
    let mut names = vec![db.to_path_buf()];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        names.push(PathBuf::from(s));
    }
    for p in names {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_file() => {
                if m.mode() & 0o777 != 0o600 {
                    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                        .with_context(|| format!("setting mode 0600 on {}", p.display()))?;
                }
            }
            Ok(_) => bail!("{} is not a regular file", p.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
        }
    }
    Ok(())
}

/// Creates the database file empty with mode 0600 when it does not exist yet (so SQLite, which
/// keeps an existing file's mode, never makes it world-readable).
pub fn precreate_db(db: &Path) -> anyhow::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(db)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating {}", db.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = DataDirLock::acquire(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let err = DataDirLock::acquire(&dir).unwrap_err().to_string();
        assert!(err.contains("already using the data directory"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        first.release();
        let again = DataDirLock::acquire(&dir).unwrap();
        drop(again);
        DataDirLock::acquire(&dir).unwrap();
    }

    #[test]
    fn a_lock_left_busy_by_a_dead_servers_child_is_waited_for() {
        // A server SIGKILLed while starting a worker: the pid in the lock file is gone, but the
        // forked child still holds the locked file description until it reaches exec.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = DataDirLock::acquire(&dir).unwrap();
        let mut dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        dead.wait().unwrap();
        std::fs::write(first.path(), format!("{dead_pid}\n")).unwrap();
        let child_exec = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(first);
        });
        // before the fix: refused at once ("already using the data directory")
        let second = DataDirLock::acquire(&dir);
        child_exec.join().unwrap();
        let second = second.unwrap();
        let recorded = std::fs::read_to_string(second.path()).unwrap();
        assert_eq!(recorded.trim(), std::process::id().to_string());
    }

    #[test]
    fn loose_modes_are_tightened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _l = DataDirLock::acquire(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let db = dir.join("t.db");
        std::fs::write(&db, b"x").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        secure_db_files(&db).unwrap();
        assert_eq!(std::fs::metadata(&db).unwrap().mode() & 0o777, 0o600);
        let fresh = dir.join("new.db");
        precreate_db(&fresh).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().mode() & 0o777, 0o600);
    }
}
