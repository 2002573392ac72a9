//! Worker containment, the server's part (issue 9 §1; `docs/security.md`): the `[sandbox]`
//! configuration, resolved at start into a [`WorkerPolicy`] that
//!
//! * checks the paths of job, version and training-job configs at create time against the
//!   allowed roots (400 `ModelArts.0101` naming the field and the roots; `..` refused; nothing
//!   overlapping the data directory or the run directories, ever);
//! * gives each run its identity (one service user, or one uid per project from a range, never
//!   root) and its allowed roots, which the executor checks again on the real paths at
//!   pre-flight and submit (symlinks planted after the create grant nothing);
//! * builds the executor's [`trainyard_executor::Containment`].

use anyhow::{Context, bail};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use trainyard_api::error::ApiError;
use trainyard_api::jobs::JobConfig;
use trainyard_executor::{Containment, LandlockMode, WorkerIdentity};

use crate::config::ServerConfig;

/// Who workers run as when the server runs as root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityMode {
    /// Every worker runs as [`SandboxConfig::user`] (default `nobody`).
    #[default]
    User,
    /// Each project gets its own uid (and gid of the same number) from
    /// [`SandboxConfig::project_uids`], assigned on first use and kept in
    /// `<data_dir>/project-uids.json`. Uids need no passwd entry.
    PerProject,
}

/// The `[sandbox]` table of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// Directories under which version paths (`app_url`, `boot_file_url`, `data_url`,
    /// `train_url`, `log_url`) may lie, for every project. A relative entry is resolved against
    /// the server's working directory at start (`.` is that directory itself; it is dropped if
    /// it is `/`). Default `["/tmp", "/var/tmp", "."]`. The data directory and the run
    /// directories are never allowed, whatever the roots.
    pub allowed_roots: Vec<PathBuf>,
    /// More roots per project id (`[sandbox.project_roots] "<project_id>" = ["/srv/p1"]`).
    pub project_roots: BTreeMap<String, Vec<PathBuf>>,
    /// `user` (default) or `per_project`; only used when the server runs as root.
    pub identity: IdentityMode,
    /// The service user workers run as in `user` mode: a name or a uid (default `nobody`).
    pub user: String,
    /// The group (name or gid); default: the user's primary group.
    pub group: Option<String>,
    /// The inclusive uid range of `per_project` mode (default `[200000, 265535]`).
    pub project_uids: [u32; 2],
    /// `best_effort` (default) or `required` (refuse to start without full Landlock).
    pub landlock: LandlockMode,
    /// More paths every worker may read and execute (e.g. a conda installation).
    pub read_only: Vec<PathBuf>,
    /// Paths every worker may read and write (default none; e.g. `/dev/shm`).
    pub read_write: Vec<PathBuf>,
    /// Names (or `PREFIX_*`) of the server's environment variables workers inherit, besides
    /// `PATH`, `LANG`, `LANGUAGE`, `LC_*`, `TZ`, `TERM`.
    pub env_allow: Vec<String>,
    /// Parent of the private run directories (default
    /// `<temp>/trainyard-runs-<euid>/<16 hex digits of SHA-256 of the data directory>`).
    pub runs_dir: Option<PathBuf>,
    /// Enforce the spec's memory per worker with cgroups where possible (default true).
    pub memory_limits: bool,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            allowed_roots: vec!["/tmp".into(), "/var/tmp".into(), ".".into()],
            project_roots: BTreeMap::new(),
            identity: IdentityMode::User,
            user: "nobody".to_owned(),
            group: None,
            project_uids: [200_000, 265_535],
            landlock: LandlockMode::BestEffort,
            read_only: Vec::new(),
            read_write: Vec::new(),
            env_allow: Vec::new(),
            runs_dir: None,
            memory_limits: true,
        }
    }
}

/// How identities are given out, once resolved.
#[derive(Debug)]
enum Identities {
    /// The server is not root: workers keep its user (Landlock separates them).
    ServerUser,
    /// One service identity.
    One(WorkerIdentity),
    /// One uid per project, persisted.
    PerProject {
        first: u32,
        last: u32,
        file: PathBuf,
        map: Mutex<BTreeMap<String, u32>>,
    },
}

/// The resolved containment policy of a server (see module docs).
#[derive(Debug)]
pub struct WorkerPolicy {
    /// Global roots, absolute (as configured, and canonical where different).
    roots: Vec<PathBuf>,
    /// Extra roots per project, absolute.
    project_roots: BTreeMap<String, Vec<PathBuf>>,
    /// Never granted: the data directory and the run directories.
    protected: Vec<PathBuf>,
    identities: Identities,
    runs_dir: PathBuf,
    containment: Containment,
}

/// Resolves configured roots: absolute (relative to `cwd`), both as written and canonical,
/// dropping `/` when it only came from a relative entry.
fn resolve_roots(list: &[PathBuf], cwd: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    for r in list {
        let abs = if r.is_absolute() {
            r.clone()
        } else {
            let p = normalise(&cwd.join(r));
            if p == Path::new("/") {
                tracing::warn!(root = %r.display(), "ignoring a relative allowed root that resolves to /");
                continue;
            }
            p
        };
        let abs = normalise(&abs);
        if !out.contains(&abs) {
            out.push(abs.clone());
        }
        if let Ok(c) = std::fs::canonicalize(&abs)
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
}

/// `p` without `.` components and repeated separators (`..` is kept: callers refuse it).
fn normalise(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Whether one path is, or lies inside, the other (by components).
fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn show(paths: &[PathBuf]) -> String {
    let mut v: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    v.dedup();
    v.join(", ")
}

impl WorkerPolicy {
    /// Resolves `cfg.sandbox` for a server on `cfg.data_dir` (canonical). Errors: a worker
    /// identity that would be root, an unknown user, a uid range containing 0, a root inside
    /// the data directory, unusable run directories.
    pub fn resolve(cfg: &ServerConfig) -> anyhow::Result<WorkerPolicy> {
        let sb = &cfg.sandbox;
        let cwd = std::env::current_dir().context("reading the working directory")?;
        let data = cfg.data_dir.clone();
        let runs_dir = match &sb.runs_dir {
            Some(d) => std::path::absolute(d).context("resolving runs_dir")?,
            None => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(data.as_os_str().as_encoded_bytes());
                let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
                std::env::temp_dir()
                    .join(format!(
                        "trainyard-runs-{}",
                        rustix::process::geteuid().as_raw()
                    ))
                    .join(tag)
            }
        };
        if overlaps(&runs_dir, &data) {
            bail!(
                "[sandbox] runs_dir {} must not overlap the data directory {}",
                runs_dir.display(),
                data.display()
            );
        }
        // the sealing key may live outside the data directory (`auth_key_file`)
        let key = cfg.auth_key_path();
        let key = std::fs::canonicalize(&key).unwrap_or(key);
        let mut protected = vec![data.clone(), runs_dir.clone()];
        if !key.starts_with(&data) {
            protected.push(key.clone());
        }
        let roots = resolve_roots(&sb.allowed_roots, &cwd);
        let mut project_roots = BTreeMap::new();
        for (p, list) in &sb.project_roots {
            project_roots.insert(p.clone(), resolve_roots(list, &cwd));
        }
        for r in roots.iter().chain(project_roots.values().flatten()) {
            if let Some(p) = protected.iter().find(|p| r.starts_with(p)) {
                bail!(
                    "[sandbox] allowed root {} lies inside {}, which workers may never see",
                    r.display(),
                    p.display()
                );
            }
        }
        let root = rustix::process::geteuid().is_root();
        let identities = if !root {
            if sb.identity == IdentityMode::PerProject {
                tracing::warn!(
                    "[sandbox] identity = \"per_project\" needs a server running as root; workers run as the server's user"
                );
            }
            Identities::ServerUser
        } else {
            match sb.identity {
                IdentityMode::User => Identities::One(
                    WorkerIdentity::lookup(&sb.user, sb.group.as_deref())
                        .map_err(|e| anyhow::anyhow!("[sandbox] user: {e}"))?,
                ),
                IdentityMode::PerProject => {
                    let [first, last] = sb.project_uids;
                    if first == 0 || last < first {
                        bail!(
                            "[sandbox] project_uids must be a range [first, last] with 0 < first <= last, got [{first}, {last}]"
                        );
                    }
                    let file = data.join("project-uids.json");
                    let map: BTreeMap<String, u32> = match std::fs::read(&file) {
                        Ok(b) => serde_json::from_slice(&b)
                            .with_context(|| format!("reading {}", file.display()))?,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
                        Err(e) => {
                            return Err(e).with_context(|| format!("reading {}", file.display()));
                        }
                    };
                    Identities::PerProject {
                        first,
                        last,
                        file,
                        map: Mutex::new(map),
                    }
                }
            }
        };
        let base = Containment::default();
        let containment = Containment {
            landlock: sb.landlock,
            extra_read_only: sb.read_only.clone(),
            shared_read_write: sb.read_write.clone(),
            protected: protected
                .iter()
                .filter(|p| **p != runs_dir)
                .cloned()
                .collect(),
            runs_dir: Some(runs_dir.clone()),
            env_allow: sb.env_allow.clone(),
            memory_limits: sb.memory_limits,
            ..base
        };
        let policy = WorkerPolicy {
            roots,
            project_roots,
            protected,
            identities,
            runs_dir,
            containment,
        };
        tracing::info!(
            allowed_roots = %show(&policy.roots),
            workers_run_as = %policy.describe_identity(),
            runs_dir = %policy.runs_dir.display(),
            "worker containment"
        );
        Ok(policy)
    }

    fn describe_identity(&self) -> String {
        match &self.identities {
            Identities::ServerUser => "the server's user".to_owned(),
            Identities::One(w) => format!("uid {} gid {}", w.uid, w.gid),
            Identities::PerProject { first, last, .. } => {
                format!("one uid per project in [{first}, {last}]")
            }
        }
    }

    /// The executor's containment settings.
    pub fn containment(&self) -> Containment {
        self.containment.clone()
    }

    /// The allowed roots of `project`: the global ones and the project's own.
    pub fn roots_for(&self, project: &str) -> Vec<PathBuf> {
        let mut r = self.roots.clone();
        if let Some(extra) = self.project_roots.get(project) {
            r.extend(extra.iter().cloned());
        }
        r
    }

    /// The identity the workers of `project` run as (`None`: the server's user, when it is not
    /// root). In per-project mode a project gets the next free uid on first use, written to
    /// `project-uids.json` (0600) before it is used. Errors: the range is used up, or the
    /// file cannot be written.
    pub fn identity_for(&self, project: &str) -> Result<Option<WorkerIdentity>, String> {
        match &self.identities {
            Identities::ServerUser => Ok(None),
            Identities::One(w) => Ok(Some(*w)),
            Identities::PerProject {
                first,
                last,
                file,
                map,
            } => {
                let mut m = map.lock();
                let uid = match m.get(project) {
                    Some(u) => *u,
                    None => {
                        let used: std::collections::BTreeSet<u32> = m.values().copied().collect();
                        let Some(u) = (*first..=*last).find(|u| !used.contains(u)) else {
                            return Err(format!(
                                "no free worker uid left in [sandbox] project_uids [{first}, {last}]"
                            ));
                        };
                        m.insert(project.to_owned(), u);
                        if let Err(e) = write_private(file, &m) {
                            m.remove(project);
                            return Err(format!("cannot record the project's worker uid: {e}"));
                        }
                        u
                    }
                };
                WorkerIdentity::new(uid, uid).map(Some)
            }
        }
    }

    /// Checks the paths of a config at create time (job, version, training-job config):
    /// absolute (already checked by the API parser), no `..` component, under one of the
    /// project's roots, not overlapping the server's directories. The error is 400
    /// `ModelArts.0101` naming the field and the roots.
    ///
    /// One exception keeps `runtime.md`: an `app_url` (or absolute boot file) that does not
    /// exist at all is not refused for lying outside the roots: "a missing app_url or boot file →
    /// 3 JOBSTAT_IMAGE_FAILED" with a reason naming the path. It still cannot run: the
    /// pre-flight refuses it (missing, or outside the roots on its real path once it exists).
    pub fn check_config(&self, project: &str, c: &JobConfig) -> Result<(), ApiError> {
        let roots = self.roots_for(project);
        for (field, value) in [
            ("app_url", &c.app_url),
            ("data_url", &c.data_url),
            ("train_url", &c.train_url),
            ("log_url", &c.log_url),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                let missing_code = field == "app_url" && !exists(v);
                self.check_path(field, v, &roots, missing_code)?;
            }
        }
        if let Some(boot) = c.boot_file_url.as_deref().filter(|v| !v.trim().is_empty()) {
            let p = Path::new(boot);
            if p.components().any(|x| x == Component::ParentDir) {
                return Err(ApiError::invalid(format!(
                    "boot_file_url {boot:?} must not contain \"..\" components"
                )));
            }
            if p.is_absolute() {
                self.check_path("boot_file_url", boot, &roots, !exists(boot))?;
            }
        }
        Ok(())
    }

    fn check_path(
        &self,
        field: &str,
        raw: &str,
        roots: &[PathBuf],
        missing_code: bool,
    ) -> Result<(), ApiError> {
        let p = Path::new(raw);
        if p.components().any(|x| x == Component::ParentDir) {
            return Err(ApiError::invalid(format!(
                "{field} {raw:?} must not contain \"..\" components; it must lie under the allowed roots ({})",
                show(roots)
            )));
        }
        let p = normalise(p);
        if !missing_code && !roots.iter().any(|r| p.starts_with(r)) {
            return Err(ApiError::invalid(format!(
                "{field} {raw:?} is outside the allowed roots ({}); the server's [sandbox] allowed_roots names them",
                show(roots)
            )));
        }
        let canon_protected: Vec<PathBuf> = self
            .protected
            .iter()
            .flat_map(|d| {
                [
                    d.clone(),
                    std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()),
                ]
            })
            .collect();
        if canon_protected.iter().any(|d| overlaps(&p, d)) {
            return Err(ApiError::invalid(format!(
                "{field} {raw:?} contains or lies inside the server's own files (its data directory, sealing key or run directories), which jobs may never use"
            )));
        }
        Ok(())
    }
}

/// Whether anything (even a dangling symlink) is at `path`.
fn exists(path: &str) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Writes `map` as JSON to `path` with mode 0600 (temporary file, then rename).
fn write_private(path: &Path, map: &BTreeMap<String, u32>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(&serde_json::to_vec_pretty(map).map_err(std::io::Error::other)?)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(data: &Path, roots: &[&str]) -> WorkerPolicy {
        let cfg = ServerConfig {
            data_dir: data.to_path_buf(),
            sandbox: SandboxConfig {
                allowed_roots: roots.iter().map(PathBuf::from).collect(),
                ..SandboxConfig::default()
            },
            ..ServerConfig::default()
        };
        WorkerPolicy::resolve(&cfg).unwrap()
    }

    fn cfg(field: &str, value: &str) -> JobConfig {
        let mut obj = serde_json::Map::new();
        obj.insert(field.into(), value.into());
        JobConfig::from_json(&obj).unwrap()
    }

    #[test]
    fn paths_must_lie_under_the_roots_and_away_from_the_data_dir() {
        let p = policy(Path::new("/srv/ty/data"), &["/tmp", "/srv"]);
        assert!(p.check_config("p", &cfg("train_url", "/tmp/out")).is_ok());
        assert!(p.check_config("p", &cfg("app_url", "/srv/code/x")).is_ok());
        let e = p
            .check_config("p", &cfg("log_url", "/tmp/../etc"))
            .unwrap_err();
        assert!(
            e.message.contains("log_url") && e.message.contains(".."),
            "{}",
            e.message
        );
        assert!(e.message.contains("/tmp, /srv"), "{}", e.message);
        let e = p
            .check_config("p", &cfg("train_url", "/etc/x"))
            .unwrap_err();
        assert!(
            e.message.contains("train_url")
                && e.message.contains("outside the allowed roots (/tmp, /srv)"),
            "{}",
            e.message
        );
        // inside, equal to, or an ancestor of the data directory: never
        for bad in ["/srv/ty/data/logs", "/srv/ty/data", "/srv/ty", "/srv"] {
            let e = p.check_config("p", &cfg("app_url", bad)).unwrap_err();
            assert!(
                e.message.contains("server's own files"),
                "{bad}: {}",
                e.message
            );
        }
        // tmp/./x is /tmp/x; a relative boot file may not climb
        assert!(p.check_config("p", &cfg("data_url", "/tmp/./d")).is_ok());
        let e = p
            .check_config("p", &cfg("boot_file_url", "../../etc/passwd"))
            .unwrap_err();
        assert!(e.message.contains("boot_file_url"), "{}", e.message);
        assert!(
            p.check_config("p", &cfg("boot_file_url", "src/train.py"))
                .is_ok()
        );
        let e = p
            .check_config("p", &cfg("boot_file_url", "/etc/passwd"))
            .unwrap_err();
        assert!(
            e.message.contains("outside the allowed roots"),
            "{}",
            e.message
        );
    }

    #[test]
    fn project_roots_add_to_the_global_ones() {
        let cfg = ServerConfig {
            data_dir: "/srv/ty/data".into(),
            sandbox: SandboxConfig {
                allowed_roots: vec!["/tmp".into()],
                project_roots: BTreeMap::from([("p1".to_owned(), vec!["/mnt/p1".into()])]),
                ..SandboxConfig::default()
            },
            ..ServerConfig::default()
        };
        let p = WorkerPolicy::resolve(&cfg).unwrap();
        assert!(p.check_config("p1", &cfg_of("/mnt/p1/data")).is_ok());
        let e = p.check_config("p2", &cfg_of("/mnt/p1/data")).unwrap_err();
        assert!(e.message.contains("(/tmp)"), "{}", e.message);
    }

    fn cfg_of(data: &str) -> JobConfig {
        cfg("data_url", data)
    }

    #[test]
    fn a_root_inside_the_data_dir_is_refused() {
        let cfg = ServerConfig {
            data_dir: "/srv/ty/data".into(),
            sandbox: SandboxConfig {
                allowed_roots: vec!["/srv/ty/data/logs".into()],
                ..SandboxConfig::default()
            },
            ..ServerConfig::default()
        };
        let e = WorkerPolicy::resolve(&cfg).unwrap_err().to_string();
        assert!(e.contains("lies inside"), "{e}");
    }

    #[test]
    fn per_project_uids_are_stable_and_distinct() {
        if !rustix::process::geteuid().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = ServerConfig {
            data_dir: dir.path().to_path_buf(),
            sandbox: SandboxConfig {
                identity: IdentityMode::PerProject,
                project_uids: [300_000, 300_001],
                ..SandboxConfig::default()
            },
            ..ServerConfig::default()
        };
        let p = WorkerPolicy::resolve(&cfg).unwrap();
        let a = p.identity_for("a").unwrap().unwrap();
        let b = p.identity_for("b").unwrap().unwrap();
        assert_eq!((a.uid, a.gid, b.uid), (300_000, 300_000, 300_001));
        assert_eq!(p.identity_for("a").unwrap().unwrap().uid, 300_000);
        let e = p.identity_for("c").unwrap_err();
        assert!(e.contains("no free worker uid"), "{e}");
        // a restart keeps them
        let p = WorkerPolicy::resolve(&cfg).unwrap();
        assert_eq!(p.identity_for("b").unwrap().unwrap().uid, 300_001);
        let bad = ServerConfig {
            sandbox: SandboxConfig {
                identity: IdentityMode::PerProject,
                project_uids: [0, 10],
                ..SandboxConfig::default()
            },
            ..cfg.clone()
        };
        assert!(WorkerPolicy::resolve(&bad).is_err());
        let root_user = ServerConfig {
            sandbox: SandboxConfig {
                user: "root".into(),
                ..SandboxConfig::default()
            },
            ..cfg
        };
        let e = WorkerPolicy::resolve(&root_user).unwrap_err().to_string();
        assert!(e.contains("root"), "{e}");
    }
}
