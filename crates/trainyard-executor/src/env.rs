//! The environment a worker gets (`runtime.md`, "Environment").

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use crate::spec::RunSpec;

/// Variables describing a distributed run; set only when `workers > 1` and removed from the
/// inherited environment otherwise.
const DISTRIBUTED_VARS: [&str; 5] = [
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
];

/// The variables a worker inherits from the server's environment whatever the configuration:
/// the program search path, the locale and time zone, the terminal type. `LC_*` is a prefix.
/// Everything else of the server's environment (credentials such as `AWS_ACCESS_KEY_ID` or a
/// database password, `TRAINYARD_*`, `HOME`, ...) is **not** passed on unless the
/// configuration names it ([`worker_env`]'s `allow`): an allow-list, not a deny-list.
pub const INHERITED_ENV: [&str; 6] = ["PATH", "LANG", "LANGUAGE", "LC_*", "TZ", "TERM"];

/// Whether `pattern` (a name, or a prefix ending in `*`) matches `name`.
fn env_pattern_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Whether a variable of the server's environment may reach a worker: its name is in
/// [`INHERITED_ENV`] or in `allow` (names, or prefixes ending in `*`), and it does not start
/// with `TRAINYARD_` (the `TRAINYARD_*` variables a worker sees are the ones the executor sets).
pub fn is_inherited_env_name(name: &str, allow: &[String]) -> bool {
    if name.starts_with("TRAINYARD_") {
        return false;
    }
    INHERITED_ENV.iter().any(|p| env_pattern_matches(p, name))
        || allow.iter().any(|p| env_pattern_matches(p, name))
}

/// Finds a free TCP port on 127.0.0.1 by binding port 0 (used for `MASTER_PORT`).
///
/// The port is released before the workers start, so another process could take it in
/// between; this is the usual trade-off of torchrun-style launchers.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Builds the full environment of worker `worker` of `spec`.
///
/// Layers, later ones winning:
/// 1. from `base` (normally the server's environment) only the allowed names
///    ([`is_inherited_env_name`] with `allow`, plus `CUDA_VISIBLE_DEVICES` when the spec asks
///    for GPUs), and never `RANK`/`WORLD_SIZE`/`LOCAL_RANK`/`MASTER_ADDR`/`MASTER_PORT`;
/// 2. defaults: `PYTHONUNBUFFERED=1` (stdout is a file, which Python would otherwise
///    block-buffer, so logs could not be tailed while the job runs); resource hints:
///    `CUDA_VISIBLE_DEVICES=""` when `gpus == 0`, `OMP_NUM_THREADS` from `cpus`;
/// 3. `spec.env`;
/// 4. trainyard's own: `HOME` and `TMPDIR` = `run_dir` (the worker's private directory) when
///    given, `TRAINYARD_JOB_ID`, `TRAINYARD_VERSION_ID`, `TRAINYARD_WORKER_INDEX`,
///    `TRAINYARD_WORKER_COUNT`, `TRAINYARD_CPUS`/`_MEMORY_GIB`/`_GPUS` (when known),
///    `DATA_URL` and `TRAIN_URL` (`""` when unset), and when `spec.workers > 1` (with
///    `master_port` given): `RANK`, `WORLD_SIZE`, `LOCAL_RANK` (= `RANK`, one machine),
///    `MASTER_ADDR=127.0.0.1`, `MASTER_PORT`.
///
/// With a single worker the distributed variables are *not* set: scripts commonly detect
/// distributed mode by the presence of `RANK` (e.g. `int(os.environ.get("RANK", -1)) != -1`) and
/// would then try to reach a master that does not exist.
pub fn worker_env<I>(
    base: I,
    allow: &[String],
    spec: &RunSpec,
    worker: u32,
    master_port: Option<u16>,
    run_dir: Option<&std::path::Path>,
) -> Vec<(OsString, OsString)>
where
    I: IntoIterator<Item = (OsString, OsString)>,
{
    let mut env: BTreeMap<OsString, OsString> = BTreeMap::new();
    for (k, v) in base {
        let name = k.to_string_lossy();
        // the GPUs a worker may use are the server's, when it asks for any
        let gpu = name == "CUDA_VISIBLE_DEVICES" && spec.resources.gpus > 0;
        if !(gpu || is_inherited_env_name(&name, allow))
            || DISTRIBUTED_VARS.contains(&name.as_ref())
        {
            continue;
        }
        env.insert(k, v);
    }
    let mut set = |k: &str, v: String| {
        env.insert(OsString::from(k), OsString::from(v));
    };
    set("PYTHONUNBUFFERED", "1".to_owned());
    let r = &spec.resources;
    if r.gpus == 0 {
        set("CUDA_VISIBLE_DEVICES", String::new());
    }
    if let Some(cpus) = r.cpus.filter(|c| c.is_finite() && *c > 0.0) {
        let threads = cpus.ceil().clamp(1.0, 4096.0) as u32;
        set("OMP_NUM_THREADS", threads.to_string());
    }
    for (k, v) in &spec.env {
        set(k, v.clone());
    }
    if let Some(dir) = run_dir {
        env.insert("HOME".into(), dir.as_os_str().to_owned());
        env.insert("TMPDIR".into(), dir.as_os_str().to_owned());
    }
    let mut set = |k: &str, v: String| {
        env.insert(OsString::from(k), OsString::from(v));
    };
    set("TRAINYARD_JOB_ID", spec.job_id.to_string());
    set("TRAINYARD_VERSION_ID", spec.version_id.to_string());
    set("TRAINYARD_WORKER_INDEX", worker.to_string());
    set("TRAINYARD_WORKER_COUNT", spec.workers.to_string());
    if let Some(c) = r.cpus {
        set("TRAINYARD_CPUS", c.to_string());
    }
    if let Some(m) = r.memory_gib {
        set("TRAINYARD_MEMORY_GIB", m.to_string());
    }
    set("TRAINYARD_GPUS", r.gpus.to_string());
    set("DATA_URL", spec.data_url.clone().unwrap_or_default());
    set("TRAIN_URL", spec.train_url.clone().unwrap_or_default());
    if spec.workers > 1
        && let Some(port) = master_port
    {
        set("RANK", worker.to_string());
        set("WORLD_SIZE", spec.workers.to_string());
        set("LOCAL_RANK", worker.to_string());
        set("MASTER_ADDR", "127.0.0.1".to_owned());
        set("MASTER_PORT", port.to_string());
    }
    env.into_iter().collect()
}

/// Looks up a variable in an environment built by [`worker_env`].
pub(crate) fn lookup<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_os_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Resources, RunCommand};
    use std::path::PathBuf;

    fn spec(workers: u32) -> RunSpec {
        RunSpec {
            job_id: 7,
            version_id: 9,
            workers,
            command: RunCommand::Shell("true".into()),
            working_dir: PathBuf::from("/"),
            app_url: None,
            boot_file: None,
            env: vec![
                ("FOO".into(), "user".into()),
                ("TRAINYARD_JOB_ID".into(), "evil".into()),
            ],
            data_url: Some("/data".into()),
            train_url: None,
            log_dir: PathBuf::from("/tmp"),
            resources: Resources {
                cpus: Some(1.5),
                memory_gib: None,
                gpus: 0,
            },
            identity: None,
            allowed_roots: vec![],
        }
    }

    fn get(env: &[(OsString, OsString)], k: &str) -> Option<String> {
        lookup(env, k).map(|v| v.to_string_lossy().into_owned())
    }

    fn base() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin"),
            ("LANG", "C.UTF-8"),
            ("LC_ALL", "C"),
            ("AWS_SECRET_ACCESS_KEY", "x"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("MY_DB_PASSWORD", "x"),
            ("GITHUB_TOKEN", "x"),
            ("TRAINYARD_ADMIN_KEY", "x"),
            ("HOME", "/root"),
            ("HTTP_PROXY", "http://proxy"),
            ("CONDA_PREFIX", "/opt/conda"),
            ("CUDA_VISIBLE_DEVICES", "0,1"),
            ("FOO", "server"),
            ("RANK", "5"),
            ("MASTER_ADDR", "10.0.0.1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    #[test]
    fn only_allowed_names_are_inherited_and_ours_win() {
        let run = PathBuf::from("/runs/7/9");
        let env = worker_env(base(), &[], &spec(1), 0, None, Some(&run));
        assert_eq!(get(&env, "PATH").as_deref(), Some("/usr/bin"));
        assert_eq!(get(&env, "LANG").as_deref(), Some("C.UTF-8"));
        assert_eq!(get(&env, "LC_ALL").as_deref(), Some("C"));
        for k in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_ACCESS_KEY_ID",
            "MY_DB_PASSWORD",
            "GITHUB_TOKEN",
            "TRAINYARD_ADMIN_KEY",
            "HTTP_PROXY",
            "CONDA_PREFIX",
        ] {
            assert_eq!(get(&env, k), None, "{k} leaked");
        }
        // HOME and TMPDIR are the private run directory, not the server's
        assert_eq!(get(&env, "HOME").as_deref(), Some("/runs/7/9"));
        assert_eq!(get(&env, "TMPDIR").as_deref(), Some("/runs/7/9"));
        assert_eq!(get(&env, "FOO").as_deref(), Some("user"));
        assert_eq!(get(&env, "TRAINYARD_JOB_ID").as_deref(), Some("7"));
        assert_eq!(get(&env, "TRAINYARD_VERSION_ID").as_deref(), Some("9"));
        assert_eq!(get(&env, "DATA_URL").as_deref(), Some("/data"));
        assert_eq!(get(&env, "TRAIN_URL").as_deref(), Some(""));
        assert_eq!(get(&env, "CUDA_VISIBLE_DEVICES").as_deref(), Some(""));
        assert_eq!(get(&env, "OMP_NUM_THREADS").as_deref(), Some("2"));
        assert_eq!(get(&env, "PYTHONUNBUFFERED").as_deref(), Some("1"));
        // single worker: no distributed variables, not even inherited ones
        for k in DISTRIBUTED_VARS {
            assert_eq!(get(&env, k), None, "{k} set for one worker");
        }
        // the exact set: nothing else came through
        let names: Vec<String> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .filter(|k| !k.starts_with("TRAINYARD_"))
            .collect();
        assert_eq!(
            names,
            [
                "CUDA_VISIBLE_DEVICES",
                "DATA_URL",
                "FOO",
                "HOME",
                "LANG",
                "LC_ALL",
                "OMP_NUM_THREADS",
                "PATH",
                "PYTHONUNBUFFERED",
                "TMPDIR",
                "TRAIN_URL"
            ]
        );
    }

    #[test]
    fn configured_names_and_prefixes_are_inherited() {
        let allow = vec![
            "HTTP_PROXY".to_owned(),
            "CONDA_*".to_owned(),
            "TRAINYARD_*".to_owned(),
        ];
        let env = worker_env(base(), &allow, &spec(1), 0, None, None);
        assert_eq!(get(&env, "HTTP_PROXY").as_deref(), Some("http://proxy"));
        assert_eq!(get(&env, "CONDA_PREFIX").as_deref(), Some("/opt/conda"));
        assert_eq!(get(&env, "TRAINYARD_ADMIN_KEY"), None, "never TRAINYARD_*");
        assert_eq!(get(&env, "MY_DB_PASSWORD"), None);
        assert_eq!(get(&env, "HOME"), None, "no run directory, no HOME");
    }

    #[test]
    fn distributed_vars_for_several_workers() {
        let env = worker_env(base(), &[], &spec(3), 2, Some(29500), None);
        assert_eq!(get(&env, "RANK").as_deref(), Some("2"));
        assert_eq!(get(&env, "LOCAL_RANK").as_deref(), Some("2"));
        assert_eq!(get(&env, "WORLD_SIZE").as_deref(), Some("3"));
        assert_eq!(get(&env, "MASTER_ADDR").as_deref(), Some("127.0.0.1"));
        assert_eq!(get(&env, "MASTER_PORT").as_deref(), Some("29500"));
    }

    #[test]
    fn gpus_inherit_cuda_visible_devices() {
        let mut s = spec(1);
        s.resources.gpus = 2;
        let env = worker_env(base(), &[], &s, 0, None, None);
        assert_eq!(get(&env, "CUDA_VISIBLE_DEVICES").as_deref(), Some("0,1"));
        assert_eq!(get(&env, "TRAINYARD_GPUS").as_deref(), Some("2"));
    }

    #[test]
    fn free_port_is_nonzero() {
        assert_ne!(free_port().expect("port"), 0);
    }
}
