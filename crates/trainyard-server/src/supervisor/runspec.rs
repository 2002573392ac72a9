//! From a stored version to what the executor runs ([`RunSpec`]) and the API names of its
//! logs. Pure data: nothing here touches the file system or processes; the checks that do
//! (paths exist, program found) are the executor's [`trainyard_executor::Executor::preflight`].

use crate::config::EngineConfig;
use std::path::PathBuf;
use trainyard_executor::{
    PreflightError, Resources, RunCommand, RunSpec, boot_file_path, build_argv,
};
use trainyard_store::{JobRecord, VersionRecord};

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

/// The spec the executor gets for version `v` of `job`, logging to `log_dir` (the executor's
/// [`trainyard_executor::Executor::log_dir`]).
///
/// Errors: `app_url` unset without `user_command`, an empty `boot_file_url`
/// ([`trainyard_executor::PreflightStage::Image`], → 3); an engine that is no longer configured
/// or has an empty command (`Submit`, → 5).
pub fn run_spec(
    engines: &[EngineConfig],
    log_dir: PathBuf,
    job: &JobRecord,
    v: &VersionRecord,
) -> Result<RunSpec, PreflightError> {
    let c = &v.config;
    let params: Vec<(String, String)> = c
        .parameter
        .iter()
        .flatten()
        .map(|p| (p.label.clone(), p.value.clone()))
        .collect();
    let data_url = non_empty(&c.data_url).map(local);
    let train_url = non_empty(&c.train_url).map(local);
    let app_url = non_empty(&c.app_url).map(|a| PathBuf::from(local(a)));
    let mut env = Vec::new();
    let (command, working_dir, boot_file) = match non_empty(&c.user_command) {
        Some(cmd) => {
            // A custom run: its parameters are also environment variables (as in ModelArts).
            env.extend(params.iter().filter(|(k, _)| is_env_name(k)).cloned());
            let wd = app_url.clone().unwrap_or_else(|| log_dir.clone());
            (RunCommand::Shell(cmd.to_owned()), wd, None)
        }
        None => {
            let app = app_url
                .clone()
                .ok_or_else(|| PreflightError::image("app_url is not set"))?;
            let boot = c.boot_file_url.as_deref().unwrap_or("");
            if local(boot).trim().is_empty() {
                return Err(PreflightError::image("boot_file_url is empty"));
            }
            let id = c
                .engine_id
                .or(v.engine.as_ref().map(|e| e.engine_id))
                .ok_or_else(|| {
                    PreflightError::submit("the version has neither user_command nor engine_id")
                })?;
            let engine = engines
                .iter()
                .find(|e| e.engine.engine_id == id)
                .ok_or_else(|| {
                    PreflightError::submit(format!(
                        "engine_id {id} is no longer configured on this server"
                    ))
                })?;
            let argv = build_argv(&engine.command, &app, boot, &params, data_url, train_url);
            if argv.len() < 2 {
                return Err(PreflightError::submit(format!(
                    "engine_id {id} has an empty command on this server"
                )));
            }
            let boot_file = boot_file_path(&app, boot);
            (RunCommand::Argv(argv), app, Some(boot_file))
        }
    };
    Ok(RunSpec {
        job_id: job.job_id,
        version_id: v.version_id,
        workers: u32::try_from(v.worker_server_num.max(1)).unwrap_or(1),
        command,
        working_dir,
        app_url,
        boot_file,
        env,
        data_url: data_url.map(str::to_owned),
        train_url: train_url.map(str::to_owned),
        log_dir,
        resources: Resources {
            cpus: v.spec.core.trim().parse().ok(),
            memory_gib: v.spec.cpu.trim().parse().ok(),
            gpus: u32::try_from(v.spec.gpu_num.max(0)).unwrap_or(0),
        },
        // the supervisor sets these from its worker policy
        identity: None,
        allowed_roots: Vec::new(),
    })
}

fn is_env_name(k: &str) -> bool {
    let mut b = k.bytes();
    matches!(b.next(), Some(c) if c == b'_' || c.is_ascii_alphabetic())
        && b.all(|c| c == b'_' || c.is_ascii_alphanumeric())
        && !k.starts_with("TRAINYARD_")
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
}
