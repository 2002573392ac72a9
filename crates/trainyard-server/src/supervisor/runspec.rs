//! From a stored version to what the executor runs: the pre-flight path check (→ 3), the run
//! spec and a check that its program can be found (→ 5), the log locations and API log names.

use crate::config::EngineConfig;
use std::path::{Path, PathBuf};
use trainyard_executor::{Resources, RunCommand, RunSpec, build_argv, check_paths};
use trainyard_store::{JobRecord, VersionRecord};

/// The variable every worker gets with its version's log directory. It tells this server's
/// processes apart from anything else on the machine (see `orphans`).
pub const RUN_DIR_VAR: &str = "TRAINYARD_RUN_DIR";

/// The log directory of a version: `<logs_dir>/<job_id>/<version_id>`.
pub fn log_dir(logs_dir: &Path, job_id: i64, version_id: i64) -> PathBuf {
    logs_dir
        .join(job_id.to_string())
        .join(version_id.to_string())
}

/// The API names of a version's logs (`training-jobs.md` §10): `{job_name}-{version_name}.{i}`.
pub fn log_file_names(job: &JobRecord, v: &VersionRecord) -> Vec<String> {
    let n = v.worker_server_num.max(1);
    (0..n)
        .map(|i| format!("{}-{}.{i}", job.job_name, v.version_name()))
        .collect()
}

fn local(p: &str) -> &str {
    p.strip_prefix("file://").unwrap_or(p)
}

fn non_empty(o: &Option<String>) -> Option<&str> {
    o.as_deref().filter(|s| !s.trim().is_empty())
}

/// Step 2 IMAGE_CREATING: `app_url` must be a directory and the boot file a file (the boot file
/// only without `user_command`). The error names the path (→ 3 IMAGE_FAILED).
pub fn preflight(v: &VersionRecord) -> Result<(), String> {
    let c = &v.config;
    match (non_empty(&c.user_command), non_empty(&c.app_url)) {
        (Some(_), Some(app)) => check_paths(Path::new(local(app)), None),
        (Some(_), None) => Ok(()),
        (None, Some(app)) => {
            let boot = c.boot_file_url.as_deref().unwrap_or("");
            check_paths(Path::new(local(app)), Some(boot))
        }
        (None, None) => Err("app_url is not set".to_owned()),
    }
}

/// Step 4 SUBMIT_TRYING: the spec the executor gets. Errors (→ 5 SUBMIT_FAILED): an engine that is
/// no longer configured, a program that cannot be found.
pub fn run_spec(
    engines: &[EngineConfig],
    logs_dir: &Path,
    job: &JobRecord,
    v: &VersionRecord,
) -> Result<RunSpec, String> {
    let c = &v.config;
    let log_dir = log_dir(logs_dir, job.job_id, v.version_id);
    let params: Vec<(String, String)> = c
        .parameter
        .iter()
        .flatten()
        .map(|p| (p.label.clone(), p.value.clone()))
        .collect();
    let data_url = non_empty(&c.data_url).map(local);
    let train_url = non_empty(&c.train_url).map(local);
    let mut env = vec![(
        RUN_DIR_VAR.to_owned(),
        log_dir.to_string_lossy().into_owned(),
    )];
    let (command, working_dir) = match non_empty(&c.user_command) {
        Some(cmd) => {
            // A custom run: its parameters are also environment variables (as in ModelArts).
            env.extend(params.iter().filter(|(k, _)| is_env_name(k)).cloned());
            let wd =
                non_empty(&c.app_url).map_or_else(|| log_dir.clone(), |a| PathBuf::from(local(a)));
            (RunCommand::Shell(cmd.to_owned()), wd)
        }
        None => {
            let id = c
                .engine_id
                .or(v.engine.as_ref().map(|e| e.engine_id))
                .ok_or("the version has neither user_command nor engine_id")?;
            let engine = engines
                .iter()
                .find(|e| e.engine.engine_id == id)
                .ok_or_else(|| format!("engine_id {id} is no longer configured on this server"))?;
            let app = non_empty(&c.app_url).ok_or("app_url is not set")?;
            let app = PathBuf::from(local(app));
            let argv = build_argv(
                &engine.command,
                &app,
                c.boot_file_url.as_deref().unwrap_or(""),
                &params,
                data_url,
                train_url,
            );
            let program = argv
                .first()
                .ok_or_else(|| format!("engine_id {id} has an empty command on this server"))?;
            if !program_exists(program, &app) {
                return Err(format!(
                    "engine command {program:?} (engine_id {id}) not found on PATH"
                ));
            }
            (RunCommand::Argv(argv), app)
        }
    };
    Ok(RunSpec {
        job_id: job.job_id,
        version_id: v.version_id,
        workers: u32::try_from(v.worker_server_num.max(1)).unwrap_or(1),
        command,
        working_dir,
        env,
        data_url: data_url.map(str::to_owned),
        train_url: train_url.map(str::to_owned),
        log_dir,
        resources: Resources {
            cpus: v.spec.core.trim().parse().ok(),
            memory_gib: v.spec.cpu.trim().parse().ok(),
            gpus: u32::try_from(v.spec.gpu_num.max(0)).unwrap_or(0),
        },
    })
}

fn is_env_name(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
        && !k.starts_with("TRAINYARD_")
}

/// Whether `program` can be executed: a path with a `/` (relative to `cwd`), or a name found
/// on `PATH` (the executor makes the same check at submit; this one gives the 4 → 5 step).
fn program_exists(program: &str, cwd: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(&cwd.join(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| runnable(&dir.join(program))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(is_env_name("LR"));
        assert!(is_env_name("_x1"));
        assert!(!is_env_name("1x"));
        assert!(!is_env_name("a-b"));
        assert!(!is_env_name(""));
        assert!(!is_env_name("TRAINYARD_JOB_ID"));
    }

    #[test]
    fn programs() {
        assert!(program_exists("sh", Path::new("/")));
        assert!(!program_exists("no-such-program-trainyard", Path::new("/")));
        assert!(program_exists("/bin/sh", Path::new("/")));
        assert!(program_exists("bin/sh", Path::new("/")));
    }
}
