//! What to run: [`RunSpec`], the worker command ([`build_argv`]) and the pre-flight check
//! ([`check_paths`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything an executor needs to start one version: its workers, their command, working
/// directory, environment, log directory and resource hints.
///
/// The caller (the supervisor) builds it from a stored version; the executor never looks at the
/// store. All paths are local paths (a `file://` prefix has already been removed by the caller).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The job id (exported as `TRAINYARD_JOB_ID`).
    pub job_id: i64,
    /// The version id (exported as `TRAINYARD_VERSION_ID`); `(job_id, version_id)` identifies
    /// the run inside an executor.
    pub version_id: i64,
    /// Number of workers (`worker_server_num`), at least 1.
    pub workers: u32,
    /// What every worker runs.
    pub command: RunCommand,
    /// Working directory of every worker (`app_url`, or the log directory for a
    /// `user_command` run without `app_url`). The local executor uses `app_url` when set and
    /// otherwise the run's private directory (workers cannot enter the log directory).
    pub working_dir: PathBuf,
    /// The version's `app_url` as a local path, when set: must be an existing directory
    /// ([`Executor::preflight`](crate::Executor::preflight), → 3 JOBSTAT_IMAGE_FAILED).
    #[serde(default)]
    pub app_url: Option<PathBuf>,
    /// The boot file resolved against `app_url` ([`boot_file_path`]), for runs without
    /// `user_command`: must be an existing regular file (pre-flight, → 3).
    #[serde(default)]
    pub boot_file: Option<PathBuf>,
    /// Extra environment, applied after the inherited (allow-listed) server environment and
    /// before the variables trainyard sets itself (`TRAINYARD_*`, `DATA_URL`, `RANK`, ...), which
    /// therefore cannot be overridden.
    #[serde(default)]
    pub env: Vec<(String, String)>,
    /// Input data directory, exported as `DATA_URL` (`""` when unset).
    #[serde(default)]
    pub data_url: Option<String>,
    /// Output directory, exported as `TRAIN_URL` (`""` when unset).
    #[serde(default)]
    pub train_url: Option<String>,
    /// Directory for this version's logs: worker `i` writes `<log_dir>/worker-<i>.log`
    /// ([`crate::log_path`]). Created if missing.
    pub log_dir: PathBuf,
    /// Resource hints (the spec's `core`, `cpu`, `gpu_num`).
    #[serde(default)]
    pub resources: Resources,
    /// The Unix identity the workers run as (`None`: the server's own user, refused when that is
    /// root). The server picks it from its configuration (one service user, or one per project).
    #[serde(default)]
    pub identity: Option<crate::WorkerIdentity>,
    /// Where the version's paths (`app_url`, the boot file, `data_url`, `train_url`, `log_url`)
    /// may lie: their real paths are checked against these at pre-flight and again, on the
    /// opened descriptors, at submit (empty: no bound besides the executor's protected
    /// directories).
    #[serde(default)]
    pub allowed_roots: Vec<PathBuf>,
}

/// What a worker runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCommand {
    /// A program and its arguments, executed directly (no shell), e.g. the result of
    /// [`build_argv`]. `argv[0]` is looked up on the worker's `PATH` (or taken as a path when it
    /// contains a `/`, relative to the working directory).
    Argv(Vec<String>),
    /// A shell command line (`user_command`), run as `sh -c <command>`.
    Shell(String),
}

/// Resource hints for one worker (the spec's `core`, `cpu` and `gpu_num`).
///
/// What the local executor does with them (see the crate README, "Resource limits"):
/// * `gpus == 0`: `CUDA_VISIBLE_DEVICES` is set to the empty string, so CUDA frameworks see no GPU.
///   `gpus > 0`: the inherited `CUDA_VISIBLE_DEVICES` (if any) is left as it is; GPUs are not
///   partitioned between concurrent runs.
/// * `cpus`: exported as `OMP_NUM_THREADS` (rounded up, at least 1) unless [`RunSpec::env`] sets
///   it, which keeps BLAS/OpenMP/PyTorch thread pools from oversubscribing the machine. No CPU
///   affinity or quota is enforced.
/// * `memory_gib`: the limit of each worker's memory cgroup where one is usable (the local
///   executor says at start whether it is), and `TRAINYARD_MEMORY_GIB`. Not enforced with
///   `RLIMIT_AS`/`RLIMIT_DATA`: those limit virtual address space, which Python, the JVM and CUDA
///   reserve generously, so such limits kill healthy jobs.
///
/// All three are also exported as `TRAINYARD_CPUS`, `TRAINYARD_MEMORY_GIB` and `TRAINYARD_GPUS`
/// when known.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU cores per worker (`core`), if known.
    #[serde(default)]
    pub cpus: Option<f64>,
    /// Memory per worker in GiB (`cpu` in ModelArts' naming), if known.
    #[serde(default)]
    pub memory_gib: Option<f64>,
    /// GPUs per worker (`gpu_num`).
    #[serde(default)]
    pub gpus: u32,
}

/// Removes a leading `file://` from a local path URL; other strings are returned unchanged.
fn strip_file_scheme(s: &str) -> &str {
    s.strip_prefix("file://").unwrap_or(s)
}

/// Resolves `boot_file_url` against `app_url`: an absolute boot file (or `file://` URL) is taken
/// as is, a relative one is joined to `app_url` (a leading `./` is dropped).
pub fn boot_file_path(app_url: &Path, boot_file_url: &str) -> PathBuf {
    let boot = strip_file_scheme(boot_file_url);
    let boot_path = Path::new(boot);
    if boot_path.is_absolute() {
        return boot_path.to_path_buf();
    }
    let mut rel = boot;
    while let Some(rest) = rel.strip_prefix("./") {
        rel = rest.trim_start_matches('/');
    }
    app_url.join(rel)
}

/// Builds the argv of a worker without `user_command` (`runtime.md`, "The command a worker runs"):
/// the words of `engine_command` (split on whitespace, so `python3 -u` is two words; no shell
/// quoting), the boot file (absolute, or relative to `app_url`), `--<label>=<value>` for each
/// parameter in order, then `--data_url=<data_url>` and `--train_url=<train_url>` when set.
pub fn build_argv(
    engine_command: &str,
    app_url: &Path,
    boot_file_url: &str,
    params: &[(String, String)],
    data_url: Option<&str>,
    train_url: Option<&str>,
) -> Vec<String> {
    let mut argv: Vec<String> = engine_command
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    argv.push(
        boot_file_path(app_url, boot_file_url)
            .to_string_lossy()
            .into_owned(),
    );
    for (label, value) in params {
        argv.push(format!("--{label}={value}"));
    }
    if let Some(d) = data_url {
        argv.push(format!("--data_url={d}"));
    }
    if let Some(t) = train_url {
        argv.push(format!("--train_url={t}"));
    }
    argv
}

/// Pre-flight check before a submit: `app_url` must be an existing directory and, when given,
/// the boot file (resolved as in [`build_argv`]) an existing file.
///
/// The error is one line naming the offending path, e.g.
/// `app_url /srv/code does not exist`; the supervisor stores it as the `status_reason` of
/// 3 JOBSTAT_IMAGE_FAILED. Pass `None` for `user_command` runs, which have no boot file.
pub fn check_paths(app_url: &Path, boot_file_url: Option<&str>) -> Result<(), String> {
    if let Some(boot) = boot_file_url
        && strip_file_scheme(boot).trim().is_empty()
    {
        check_run_paths(Some(app_url), None)?;
        return Err("boot_file_url is empty".to_owned());
    }
    let boot = boot_file_url.map(|b| boot_file_path(app_url, b));
    check_run_paths(Some(app_url), boot.as_deref())
}

/// The path part of a pre-flight ([`RunSpec::app_url`], [`RunSpec::boot_file`]): `app_url`, when
/// given, must be an existing directory and `boot_file`, when given, an existing regular file.
/// The error is one line naming the path (→ 3 JOBSTAT_IMAGE_FAILED).
pub fn check_run_paths(app_url: Option<&Path>, boot_file: Option<&Path>) -> Result<(), String> {
    if let Some(app_url) = app_url {
        match std::fs::metadata(app_url) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("app_url {} is not a directory", app_url.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("app_url {} does not exist", app_url.display()));
            }
            Err(e) => {
                return Err(format!(
                    "app_url {} is not accessible: {e}",
                    app_url.display()
                ));
            }
        }
    }
    if let Some(path) = boot_file {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                return Err(format!(
                    "boot file {} is not a regular file",
                    path.display()
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("boot file {} does not exist", path.display()));
            }
            Err(e) => {
                return Err(format!(
                    "boot file {} is not accessible: {e}",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_relative_boot_file_params_and_urls() {
        let argv = build_argv(
            "python3 -u",
            Path::new("/code"),
            "./train/main.py",
            &[("lr".into(), "0.1".into()), ("epochs".into(), "3".into())],
            Some("/data"),
            Some("/out"),
        );
        assert_eq!(
            argv,
            [
                "python3",
                "-u",
                "/code/train/main.py",
                "--lr=0.1",
                "--epochs=3",
                "--data_url=/data",
                "--train_url=/out"
            ]
        );
    }

    #[test]
    fn argv_absolute_boot_file_and_no_urls() {
        let argv = build_argv(
            "bash",
            Path::new("/code"),
            "file:///opt/run.sh",
            &[],
            None,
            None,
        );
        assert_eq!(argv, ["bash", "/opt/run.sh"]);
        let argv = build_argv(
            "bash",
            Path::new("/code"),
            "/opt/run.sh",
            &[],
            None,
            Some("/o"),
        );
        assert_eq!(argv, ["bash", "/opt/run.sh", "--train_url=/o"]);
    }

    #[test]
    fn check_paths_names_the_missing_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = check_paths(&missing, Some("a.py")).expect_err("missing app dir");
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(err.starts_with("app_url"), "{err}");

        let err = check_paths(dir.path(), Some("train.py")).expect_err("missing boot file");
        assert!(
            err.contains(&dir.path().join("train.py").display().to_string()),
            "{err}"
        );
        assert!(!err.contains('\n'));

        std::fs::write(dir.path().join("train.py"), "print(1)\n").expect("write");
        assert_eq!(check_paths(dir.path(), Some("train.py")), Ok(()));
        assert_eq!(check_paths(dir.path(), None), Ok(()));

        let file = dir.path().join("train.py");
        let err = check_paths(&file, None).expect_err("file as app dir");
        assert!(err.contains("not a directory"), "{err}");
        let err = check_paths(dir.path(), Some("")).expect_err("empty boot file");
        assert!(err.contains("boot_file_url"), "{err}");
    }
}
