//! The `sbatch` command line and the batch script of one version (pure: no I/O).
//!
//! One batch job per version. Its script (run by Slurm on the first node of the allocation):
//! 1. touches the start marker `<dir>/started` (so the server learns the start without asking
//!    Slurm, see the poller);
//! 2. exports the worker environment (`runtime.md`, built by [`crate::worker_env`] exactly as for
//!    the local executor, minus what differs per worker) with `sbatch --export=NONE`, so nothing
//!    of the server's own environment reaches the job except through that list;
//! 3. for N > 1 workers sets `MASTER_ADDR` (the address of the first node of the allocation)
//!    and `MASTER_PORT` (20000 + job id mod 20000, the same on every node);
//! 4. runs `srun` with one task per worker, each task's stdout and stderr appended to
//!    `<dir>/worker-<task>.log`, under a small wrapper that sets `TRAINYARD_WORKER_INDEX`, and for
//!    N > 1 `RANK` (= `SLURM_PROCID`), `LOCAL_RANK` (= `SLURM_LOCALID`) and `WORLD_SIZE`;
//!    `--kill-on-bad-exit` stops the other workers when one fails;
//! 5. exits with srun's exit code (the job's `ExitCode`).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::spec::{RunCommand, RunSpec};

/// The start marker of a version directory.
pub(crate) const STARTED_MARKER: &str = "started";
/// The batch script's own output (srun's and Slurm's messages).
pub(crate) const BATCH_LOG: &str = "batch.log";
/// The batch script file.
pub(crate) const SCRIPT: &str = "job.sh";
/// The workers' private directory inside the version's directory (their `HOME` and `TMPDIR`,
/// made by the batch script as the job's user).
pub(crate) const HOME_DIR: &str = "home";

/// Variables that differ per worker: set by the task wrapper, never exported by the script.
const PER_WORKER: [&str; 6] = [
    "TRAINYARD_WORKER_INDEX",
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
];

/// Runs in every task as `sh -c TASK_WRAPPER trainyard-worker <dir> <argv...>`: the per-worker
/// variables, then the worker's command as a child; its `$?` is written (temp file + `mv`) to
/// `<dir>/worker-<rank>.exit`, as the local executor's wrapper does, so the first worker to fail
/// can be told apart from those srun terminated after it. The wrapper catches (not ignores) the
/// signals a stop sends to the whole step, so it outlives the worker to record its status.
const TASK_WRAPPER: &str = concat!(
    "d=$1; shift; ",
    "TRAINYARD_WORKER_INDEX=${SLURM_PROCID:-0}; export TRAINYARD_WORKER_INDEX; ",
    "if [ \"${TRAINYARD_WORKER_COUNT:-1}\" -gt 1 ]; then ",
    "RANK=$SLURM_PROCID; LOCAL_RANK=${SLURM_LOCALID:-0}; WORLD_SIZE=$TRAINYARD_WORKER_COUNT; ",
    "export RANK LOCAL_RANK WORLD_SIZE; fi; ",
    "f=\"$d/worker-$TRAINYARD_WORKER_INDEX.exit\"; ",
    "trap : HUP INT QUIT USR1 USR2 ALRM TERM; ",
    "\"$@\"; rc=$?; ",
    "{ printf '%s\\n' \"$rc\" > \"$f.tmp\" && PATH=/usr/bin:/bin:$PATH mv -f \"$f.tmp\" \"$f\"; } 2>/dev/null || printf '%s\\n' \"$rc\" > \"$f\"; ",
    "exit \"$rc\""
);

/// What the script and the command line are made of.
#[derive(Clone, Debug)]
pub(crate) struct JobScript<'a> {
    /// The version.
    pub spec: &'a RunSpec,
    /// Job name (`<prefix>-<job_id>-<version_id>`).
    pub name: &'a str,
    /// The version's directory on the shared file system (= `spec.log_dir`).
    pub dir: &'a Path,
    /// The worker environment (from [`crate::worker_env`] for worker 0, no master port).
    pub env: &'a [(OsString, OsString)],
    /// Nodes in the partition, when known: N workers get one node each when N ≤ nodes.
    pub nodes: Option<u32>,
    /// Partition, account, QOS (optional).
    pub partition: Option<&'a str>,
    /// Account to charge.
    pub account: Option<&'a str>,
    /// Quality of service.
    pub qos: Option<&'a str>,
    /// Spread workers over nodes when the partition has enough.
    pub spread: bool,
    /// Extra `sbatch` arguments, after ours (so they can override them).
    pub extra: &'a [String],
    /// The directory of the Slurm commands on the nodes (`None`: `PATH`).
    pub bin_dir: Option<&'a Path>,
    /// The user and group the job runs as (`sbatch --uid/--gid`, for a server running as
    /// root); `None`: the submitting user.
    pub user: Option<crate::WorkerIdentity>,
}

/// Quotes `s` for a POSIX shell (`'...'`, with `'` as `'\''`).
pub(crate) fn sh_quote(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'\'');
    for &b in s {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// Escapes `%` for Slurm's file name patterns.
fn pattern_escape(p: &Path) -> OsString {
    let bytes = p.as_os_str().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'%' {
            out.extend_from_slice(b"%%");
        } else {
            out.push(b);
        }
    }
    OsStr::from_bytes(&out).to_os_string()
}

/// Whether `name` may be exported by a POSIX shell.
fn is_shell_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(c) if *c == b'_' || c.is_ascii_alphabetic())
        && name.iter().all(|c| *c == b'_' || c.is_ascii_alphanumeric())
}

/// Whether an inherited variable belongs to Slurm's own launch machinery (never exported into
/// a job: a server that itself runs inside a Slurm job would otherwise confuse `srun`).
fn is_slurm_internal(name: &str) -> bool {
    (name.starts_with("SLURM_") && name != "SLURM_CONF")
        || name.starts_with("SBATCH_")
        || name.starts_with("SRUN_")
        || name.starts_with("SALLOC_")
}

fn opt(args: &mut Vec<OsString>, flag: &str, value: impl AsRef<OsStr>) {
    let mut a = OsString::from(flag);
    a.push("=");
    a.push(value);
    args.push(a);
}

impl JobScript<'_> {
    /// Whether each worker gets a node of its own.
    fn one_per_node(&self) -> bool {
        let n = self.spec.workers.max(1);
        self.spread && n > 1 && self.nodes.is_some_and(|nodes| n <= nodes)
    }

    /// The `sbatch` arguments, ending with the script path `script`.
    pub fn sbatch_args(&self, script: &Path) -> Vec<OsString> {
        let s = self.spec;
        let n = s.workers.max(1);
        let mut a: Vec<OsString> = vec!["--parsable".into()];
        opt(&mut a, "--job-name", self.name);
        opt(
            &mut a,
            "--comment",
            format!("trainyard job {} version {}", s.job_id, s.version_id),
        );
        a.push("--export=NONE".into());
        if let Some(u) = self.user {
            opt(&mut a, "--uid", u.uid.to_string());
            opt(&mut a, "--gid", u.gid.to_string());
        }
        opt(&mut a, "--chdir", &s.working_dir);
        opt(
            &mut a,
            "--output",
            pattern_escape(&self.dir.join(BATCH_LOG)),
        );
        a.push("--open-mode=append".into());
        opt(&mut a, "--ntasks", n.to_string());
        let spread = self.one_per_node();
        if spread {
            opt(&mut a, "--nodes", n.to_string());
            a.push("--ntasks-per-node=1".into());
        }
        let cpus = s
            .resources
            .cpus
            .filter(|c| c.is_finite() && *c > 0.0)
            .map(|c| c.ceil().clamp(1.0, 4096.0) as u32);
        if let Some(c) = cpus {
            opt(&mut a, "--cpus-per-task", c.to_string());
        }
        if let Some(gib) = s.resources.memory_gib.filter(|m| m.is_finite() && *m > 0.0) {
            let mib = (gib * 1024.0).ceil().clamp(1.0, 1e12) as u64;
            if spread || n == 1 {
                // one worker per node: per node = per worker
                opt(&mut a, "--mem", format!("{mib}M"));
            } else {
                let per_cpu = mib.div_ceil(u64::from(cpus.unwrap_or(1)));
                opt(&mut a, "--mem-per-cpu", format!("{per_cpu}M"));
            }
        }
        if s.resources.gpus > 0 {
            if spread || n == 1 {
                opt(&mut a, "--gres", format!("gpu:{}", s.resources.gpus));
            } else {
                opt(&mut a, "--gpus-per-task", s.resources.gpus.to_string());
            }
        }
        if let Some(p) = self.partition {
            opt(&mut a, "--partition", p);
        }
        if let Some(x) = self.account {
            opt(&mut a, "--account", x);
        }
        if let Some(q) = self.qos {
            opt(&mut a, "--qos", q);
        }
        a.extend(self.extra.iter().map(OsString::from));
        a.push(script.as_os_str().to_os_string());
        a
    }

    /// The batch script.
    pub fn script(&self) -> Vec<u8> {
        let s = self.spec;
        let n = s.workers.max(1);
        let tool = |name: &str| -> Vec<u8> {
            match self.bin_dir {
                Some(d) => sh_quote(d.join(name).as_os_str().as_bytes()),
                None => name.as_bytes().to_vec(),
            }
        };
        let mut o: Vec<u8> = Vec::new();
        let mut line = |parts: &[&[u8]]| {
            for p in parts {
                o.extend_from_slice(p);
            }
            o.push(b'\n');
        };
        line(&[b"#!/bin/sh"]);
        line(&[format!(
            "# trainyard job {} version {} ({n} worker{}); generated, do not edit",
            s.job_id,
            s.version_id,
            if n == 1 { "" } else { "s" }
        )
        .as_bytes()]);
        let marker = self.dir.join(STARTED_MARKER);
        line(&[
            b": > ",
            &sh_quote(marker.as_os_str().as_bytes()),
            b" 2>/dev/null",
        ]);
        for (k, v) in self.env {
            let name = k.as_bytes();
            let text = k.to_string_lossy();
            if !is_shell_name(name)
                || PER_WORKER.contains(&text.as_ref())
                || is_slurm_internal(&text)
            {
                continue;
            }
            line(&[b"export ", name, b"=", &sh_quote(v.as_bytes())]);
        }
        // --export=NONE at sbatch sets SLURM_EXPORT_ENV=NONE, which srun would apply to the tasks
        line(&[b"unset SLURM_EXPORT_ENV RANK LOCAL_RANK WORLD_SIZE MASTER_ADDR MASTER_PORT"]);
        // the private HOME/TMPDIR and a missing train_url are made with the job's own rights
        line(&[b"[ -z \"${HOME:-}\" ] || mkdir -p -m 700 -- \"$HOME\" 2>/dev/null"]);
        line(&[
            b"[ -z \"${TRAIN_URL:-}\" ] || [ -d \"$TRAIN_URL\" ] || mkdir -p -- \"$TRAIN_URL\"",
        ]);
        if n > 1 {
            line(&[
                b"first=$(",
                &tool("scontrol"),
                b" show hostnames \"$SLURM_JOB_NODELIST\" 2>/dev/null | head -n 1)",
            ]);
            line(&[
                b"addr=$(",
                &tool("scontrol"),
                b" show node \"$first\" 2>/dev/null | sed -n 's/.*NodeAddr=\\([^ ]*\\).*/\\1/p' | head -n 1)",
            ]);
            line(&[b"MASTER_ADDR=${addr:-${first:-$(hostname)}}"]);
            line(&[b"MASTER_PORT=$((20000 + ${SLURM_JOB_ID:-0} % 20000))"]);
            line(&[b"export MASTER_ADDR MASTER_PORT"]);
        }
        // the pattern's own %t must stay a pattern: escape the directory only
        let mut log = pattern_escape(self.dir);
        log.push("/worker-%t.log");
        let q = sh_quote(log.as_bytes());
        let mut srun: Vec<u8> = tool("srun");
        srun.extend_from_slice(
            format!(" --export=ALL --kill-on-bad-exit=1 --ntasks={n} --output=").as_bytes(),
        );
        srun.extend_from_slice(&q);
        srun.extend_from_slice(b" --error=");
        srun.extend_from_slice(&q);
        srun.extend_from_slice(b" --open-mode=append /bin/sh -c ");
        srun.extend_from_slice(&sh_quote(TASK_WRAPPER.as_bytes()));
        srun.extend_from_slice(b" trainyard-worker ");
        srun.extend_from_slice(&sh_quote(self.dir.as_os_str().as_bytes()));
        let argv: Vec<Vec<u8>> = match &s.command {
            RunCommand::Argv(a) => a.iter().map(|x| x.as_bytes().to_vec()).collect(),
            RunCommand::Shell(c) => {
                vec![b"/bin/sh".to_vec(), b"-c".to_vec(), c.as_bytes().to_vec()]
            }
        };
        for a in &argv {
            srun.push(b' ');
            srun.extend_from_slice(&sh_quote(a));
        }
        line(&[&srun]);
        line(&[b"exit $?"]);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Resources;
    use std::path::PathBuf;

    fn spec(workers: u32, command: RunCommand) -> RunSpec {
        RunSpec {
            job_id: 7,
            version_id: 9,
            workers,
            command,
            working_dir: PathBuf::from("/code"),
            app_url: Some(PathBuf::from("/code")),
            boot_file: None,
            env: vec![],
            data_url: None,
            train_url: None,
            log_dir: PathBuf::from("/shared/7/9"),
            resources: Resources {
                cpus: Some(1.5),
                memory_gib: Some(2.0),
                gpus: 0,
            },
            identity: None,
            allowed_roots: vec![],
        }
    }

    fn env() -> Vec<(OsString, OsString)> {
        [
            ("PATH", "/usr/bin:/bin"),
            ("TRAINYARD_JOB_ID", "7"),
            ("TRAINYARD_WORKER_INDEX", "0"),
            ("TRAINYARD_WORKER_COUNT", "2"),
            ("DATA_URL", "/data/it's"),
            ("SLURM_JOB_ID", "555"),
            ("SLURM_CONF", "/etc/slurm/slurm.conf"),
            ("SBATCH_PARTITION", "evil"),
            ("bad-name", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
    }

    fn js<'a>(
        spec: &'a RunSpec,
        env: &'a [(OsString, OsString)],
        nodes: Option<u32>,
    ) -> JobScript<'a> {
        JobScript {
            spec,
            name: "ty-7-9",
            dir: Path::new("/shared/7/9"),
            env,
            nodes,
            partition: Some("debug"),
            account: None,
            qos: Some("normal"),
            spread: true,
            extra: &[],
            bin_dir: None,
            user: None,
        }
    }

    fn strs(a: &[OsString]) -> Vec<String> {
        a.iter().map(|x| x.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn sbatch_args_one_node_per_worker() {
        let s = spec(
            2,
            RunCommand::Argv(vec!["python3".into(), "/code/t.py".into()]),
        );
        let e = env();
        let args = strs(&js(&s, &e, Some(2)).sbatch_args(Path::new("/shared/7/9/job.sh")));
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=ty-7-9",
                "--comment=trainyard job 7 version 9",
                "--export=NONE",
                "--chdir=/code",
                "--output=/shared/7/9/batch.log",
                "--open-mode=append",
                "--ntasks=2",
                "--nodes=2",
                "--ntasks-per-node=1",
                "--cpus-per-task=2",
                "--mem=2048M",
                "--partition=debug",
                "--qos=normal",
                "/shared/7/9/job.sh",
            ]
        );
    }

    #[test]
    fn sbatch_args_packed_when_the_partition_is_small_and_gpus() {
        let mut s = spec(3, RunCommand::Shell("true".into()));
        s.resources.gpus = 1;
        let e = env();
        let mut j = js(&s, &e, Some(2));
        let extra = vec!["--time=5".to_owned()];
        j.extra = &extra;
        j.partition = None;
        j.qos = None;
        j.account = Some("team");
        let args = strs(&j.sbatch_args(Path::new("/s/job.sh")));
        assert!(!args.iter().any(|a| a.starts_with("--nodes")), "{args:?}");
        assert!(args.contains(&"--ntasks=3".to_owned()));
        // 2048 MiB per worker over 2 CPUs each
        assert!(args.contains(&"--mem-per-cpu=1024M".to_owned()), "{args:?}");
        assert!(args.contains(&"--gpus-per-task=1".to_owned()), "{args:?}");
        assert!(args.contains(&"--account=team".to_owned()));
        assert_eq!(&args[args.len() - 2..], ["--time=5", "/s/job.sh"]);
        // one worker: per node = per worker, --gres
        let mut one = spec(1, RunCommand::Shell("true".into()));
        one.resources.gpus = 2;
        let args = strs(&js(&one, &e, None).sbatch_args(Path::new("/s/job.sh")));
        assert!(
            args.contains(&"--gres=gpu:2".to_owned()) && args.contains(&"--mem=2048M".to_owned())
        );
        assert!(!args.iter().any(|a| a.starts_with("--nodes")));
    }

    #[test]
    fn percent_in_paths_is_escaped_for_slurm_patterns() {
        let s = spec(1, RunCommand::Shell("true".into()));
        let e = env();
        let mut j = js(&s, &e, None);
        j.dir = Path::new("/sh%ared/7/9");
        let args = strs(&j.sbatch_args(Path::new("/x.sh")));
        assert!(
            args.contains(&"--output=/sh%%ared/7/9/batch.log".to_owned()),
            "{args:?}"
        );
        let text = String::from_utf8(j.script()).expect("utf8");
        assert!(
            text.contains("--output='/sh%%ared/7/9/worker-%t.log'"),
            "{text}"
        );
    }

    #[test]
    fn script_exports_the_worker_environment_and_runs_srun() {
        let s = spec(
            2,
            RunCommand::Argv(vec![
                "python3".into(),
                "/code/it's.py".into(),
                "--lr=0.1".into(),
            ]),
        );
        let e = env();
        let text = String::from_utf8(js(&s, &e, Some(2)).script()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "#!/bin/sh");
        assert_eq!(lines[2], ": > '/shared/7/9/started' 2>/dev/null");
        assert!(lines.contains(&"export PATH='/usr/bin:/bin'"));
        assert!(lines.contains(&"export TRAINYARD_JOB_ID='7'"));
        assert!(
            lines.contains(&"export DATA_URL='/data/it'\\''s'"),
            "{text}"
        );
        assert!(lines.contains(&"export SLURM_CONF='/etc/slurm/slurm.conf'"));
        for k in [
            "TRAINYARD_WORKER_INDEX",
            "SLURM_JOB_ID",
            "SBATCH_PARTITION",
            "bad-name",
        ] {
            assert!(
                !text.contains(&format!("export {k}=")),
                "{k} exported:\n{text}"
            );
        }
        assert!(text.contains("MASTER_PORT=$((20000 + ${SLURM_JOB_ID:-0} % 20000))"));
        let srun = lines
            .iter()
            .find(|l| l.starts_with("srun "))
            .expect("srun line");
        assert!(srun.contains("--ntasks=2 --output='/shared/7/9/worker-%t.log' --error='/shared/7/9/worker-%t.log' --open-mode=append /bin/sh -c '"), "{srun}");
        assert!(
            srun.ends_with(
                " trainyard-worker '/shared/7/9' 'python3' '/code/it'\\''s.py' '--lr=0.1'"
            ),
            "{srun}"
        );
        assert_eq!(lines.last(), Some(&"exit $?"));
    }

    #[test]
    fn single_worker_scripts_have_no_master() {
        let s = spec(1, RunCommand::Shell("echo hi".into()));
        let e = env();
        let mut j = js(&s, &e, Some(2));
        let bin = PathBuf::from("/opt/slurm/bin");
        j.bin_dir = Some(&bin);
        let text = String::from_utf8(j.script()).expect("utf8");
        assert!(!text.contains("MASTER_ADDR="), "{text}");
        assert!(
            text.contains("\n'/opt/slurm/bin/srun' --export=ALL"),
            "{text}"
        );
        assert!(
            text.contains(" trainyard-worker '/shared/7/9' '/bin/sh' '-c' 'echo hi'\n"),
            "{text}"
        );
    }

    /// The script is valid POSIX shell and the task wrapper sets the ranks: run both with a
    /// stand-in `srun` that starts the tasks the way Slurm would (SLURM_PROCID per task).
    #[test]
    fn script_runs_under_sh_with_a_fake_srun() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let fake = bin.join("srun");
        // skip our options, then run the command once per task with SLURM_PROCID set
        std::fs::write(
            &fake,
            "#!/bin/sh\nwhile [ \"${1#--}\" != \"$1\" ]; do shift; done\n\
             SLURM_PROCID=0 SLURM_LOCALID=0 \"$@\" > \"$OUT/w0\" 2>&1 || exit $?\n\
             SLURM_PROCID=1 SLURM_LOCALID=0 \"$@\" > \"$OUT/w1\" 2>&1\n",
        )
        .expect("write");
        std::fs::write(
            bin.join("scontrol"),
            "#!/bin/sh\nif [ \"$2\" = hostnames ]; then echo n1; echo n2; else echo 'NodeName=n1 NodeAddr=10.1.2.3 NodeHostName=vm'; fi\n",
        )
        .expect("write");
        for f in ["srun", "scontrol"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join(f), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let vdir = dir.path().join("v");
        std::fs::create_dir_all(&vdir).expect("mkdir");
        let s = spec(
            2,
            RunCommand::Shell("echo rank=$RANK local=$LOCAL_RANK world=$WORLD_SIZE idx=$TRAINYARD_WORKER_INDEX addr=$MASTER_ADDR port=$MASTER_PORT job=$TRAINYARD_JOB_ID".into()),
        );
        let mut e = env();
        e.retain(|(k, _)| k != "PATH");
        let home = vdir.join(HOME_DIR);
        let train = dir.path().join("out/deep");
        e.push(("HOME".into(), home.clone().into_os_string()));
        e.push(("TRAIN_URL".into(), train.clone().into_os_string()));
        let mut j = js(&s, &e, Some(2));
        j.dir = &vdir;
        j.bin_dir = Some(&bin);
        let script = dir.path().join("job.sh");
        std::fs::write(&script, j.script()).expect("write");
        let st = std::process::Command::new("/bin/sh")
            .arg(&script)
            .env("OUT", dir.path())
            .env("SLURM_JOB_ID", "20007")
            .env("SLURM_JOB_NODELIST", "n[1-2]")
            .env("RANK", "99")
            .status()
            .expect("run");
        assert!(st.success());
        assert!(vdir.join(STARTED_MARKER).exists());
        // the private HOME (0700) and the missing train_url were made by the script itself
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&home).expect("home").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(train.is_dir());
        let w0 = std::fs::read_to_string(dir.path().join("w0")).expect("w0");
        let w1 = std::fs::read_to_string(dir.path().join("w1")).expect("w1");
        assert_eq!(
            w0.trim(),
            "rank=0 local=0 world=2 idx=0 addr=10.1.2.3 port=20007 job=7"
        );
        assert_eq!(
            w1.trim(),
            "rank=1 local=0 world=2 idx=1 addr=10.1.2.3 port=20007 job=7"
        );
        for i in 0..2 {
            let exit =
                std::fs::read_to_string(vdir.join(format!("worker-{i}.exit"))).expect("exit file");
            assert_eq!(exit, "0\n");
        }
    }

    #[test]
    fn a_root_server_submits_as_the_worker_identity() {
        let s = spec(1, RunCommand::Shell("true".into()));
        let e = env();
        let mut j = js(&s, &e, None);
        j.user = Some(crate::WorkerIdentity::new(65534, 65533).expect("identity"));
        let args = strs(&j.sbatch_args(Path::new("/s/job.sh")));
        let at = args
            .iter()
            .position(|a| a == "--export=NONE")
            .expect("export");
        assert_eq!(args[at + 1..at + 3], ["--uid=65534", "--gid=65533"]);
        // without an identity (a server that is not root) no --uid
        j.user = None;
        let args = strs(&j.sbatch_args(Path::new("/s/job.sh")));
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--uid") || a.starts_with("--gid"))
        );
    }
}
