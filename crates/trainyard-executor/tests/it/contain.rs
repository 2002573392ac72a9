//! Containment of local workers (issue 9 §1), tried as a hostile job would: each worker reads
//! and writes only its own paths, cannot signal processes outside its sandbox (even of its own
//! user), inherits no secret from the server's environment, and is held to its memory limit.
//! Run as root (CI), workers are `nobody`; as another user, workers keep that user and only
//! Landlock separates them, which these tests then check alone.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use trainyard_executor::{
    Containment, LocalConfig, LocalExecutor, RunCommand, exit_status_path, log_path,
};

use crate::helpers::{App, alive, bounded, test_identity};

/// Landlock is required for these tests when `TRAINYARD_REQUIRE_SANDBOX=1` (CI): a kernel
/// without it must fail them, not skip them.
fn landlock_or_skip(test: &str) -> bool {
    let (full, summary) = trainyard_executor::landlock_support();
    if !full {
        assert!(
            std::env::var("TRAINYARD_REQUIRE_SANDBOX").as_deref() != Ok("1"),
            "{test}: {summary}, and TRAINYARD_REQUIRE_SANDBOX=1"
        );
        eprintln!("SKIP {test}: {summary}");
    }
    full
}

fn log_of(app: &App) -> String {
    std::fs::read_to_string(log_path(&app.logs(), 0)).unwrap_or_default()
}

/// A directory readable by the worker's user.
fn open_dir(p: &Path) {
    std::fs::create_dir_all(p).expect("mkdir");
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

#[tokio::test]
async fn a_worker_reads_and_writes_only_its_own_paths() {
    if !landlock_or_skip("a_worker_reads_and_writes_only_its_own_paths") {
        return;
    }
    let app = App::new();
    // the "server's" secret, in a directory the worker is not granted; world-readable on
    // purpose, so that only the sandbox stands in the way (not the identity)
    let secret = app.server_dir().join("auth.key");
    std::fs::write(&secret, "TOP-SECRET\n").expect("write");
    std::fs::set_permissions(app.server_dir(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // the version's paths: code (read), data (read), output (read-write), and a neighbour's
    // output that is not this version's (a world-writable directory: again only the sandbox)
    let root = tempfile::tempdir().expect("tmp");
    open_dir(root.path());
    let code = root.path().join("code");
    let data = root.path().join("data");
    let out = root.path().join("out");
    let other = root.path().join("other");
    for d in [&code, &data, &other] {
        open_dir(d);
    }
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::write(data.join("in.txt"), "data\n").expect("write");
    std::fs::write(other.join("theirs.txt"), "theirs\n").expect("write");
    std::fs::set_permissions(
        other.join("theirs.txt"),
        std::fs::Permissions::from_mode(0o666),
    )
    .expect("chmod");
    let root_runs = tempfile::tempdir().expect("tmp");
    let ex = LocalExecutor::new(LocalConfig {
        logs_dir: app.server_dir().join("logs-root"),
        containment: Containment {
            protected: vec![app.server_dir().to_path_buf()],
            runs_dir: Some(root_runs.path().to_path_buf()),
            ..Containment::default()
        },
        ..LocalConfig::default()
    });
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let try_ = |what: &str, cmd: &str| {
        format!(
            "if {{ {cmd}; }} >/dev/null 2>&1; then echo '{what}: yes'; else echo '{what}: no'; fi; "
        )
    };
    let script = [
        try_("read secret", &format!("cat {}", secret.display())),
        try_(
            "list server dir",
            &format!("ls {}", app.server_dir().display()),
        ),
        try_("read data", "cat \"$DATA_URL/in.txt\""),
        try_("write data", "touch \"$DATA_URL/new\""),
        try_("write code", "touch ./new"),
        try_("write out", "echo result > \"$TRAIN_URL/result.txt\""),
        try_(
            "write home",
            "touch \"$HOME/x\" && test \"$HOME\" = \"$TMPDIR\"",
        ),
        try_("read other", &format!("cat {}/theirs.txt", other.display())),
        try_("write other", &format!("touch {}/mine", other.display())),
        try_("write tmp", "touch /tmp/trainyard-contain-probe-$$"),
        try_(
            "read etc",
            "test -s /etc/passwd && cat /etc/passwd > /dev/null",
        ),
        try_("write etc", "touch /etc/trainyard-contain-probe"),
        // a symlink planted in its own output dir towards the secret reads nothing either
        try_(
            "read via symlink",
            &format!(
                "ln -s {} \"$TRAIN_URL/link\" && cat \"$TRAIN_URL/link\"",
                secret.display()
            ),
        ),
    ]
    .concat();
    let mut spec = app.spec(1, 1, RunCommand::Shell(script));
    spec.app_url = Some(code.clone());
    spec.working_dir = code.clone();
    spec.data_url = Some(data.to_string_lossy().into_owned());
    spec.train_url = Some(out.to_string_lossy().into_owned());
    spec.allowed_roots = vec![root.path().to_path_buf()];
    let h = ex.submit(&spec).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{}", o.reason);
    let log = log_of(&app);
    let want = "read secret: no\nlist server dir: no\nread data: yes\nwrite data: no\nwrite code: no\n\
        write out: yes\nwrite home: yes\nread other: no\nwrite other: no\nwrite tmp: no\n\
        read etc: yes\nwrite etc: no\nread via symlink: no\n";
    assert_eq!(log, want);
    assert!(!log.contains("TOP-SECRET"));
    // train_url did not exist: it was made with the worker's rights
    assert_eq!(
        std::fs::read_to_string(out.join("result.txt")).expect("result"),
        "result\n"
    );
    if let Some(id) = test_identity() {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&out).expect("out").uid(), id.uid);
    }
    assert!(!other.join("mine").exists());
}

#[tokio::test]
async fn a_worker_cannot_signal_processes_outside_its_sandbox() {
    if !landlock_or_skip("a_worker_cannot_signal_processes_outside_its_sandbox") {
        return;
    }
    let app = App::new();
    let ex = app.executor();
    // a process of the worker's own user, outside any sandbox: the identity does not protect
    // it, the signal scope does
    let mut victim = std::process::Command::new("sleep");
    victim.arg("60");
    if let Some(id) = test_identity() {
        use std::os::unix::process::CommandExt;
        victim.uid(id.uid).gid(id.gid);
    }
    let mut victim = victim.spawn().expect("spawn");
    let vpid = i32::try_from(victim.id()).expect("pid");
    // and another run's worker, sandboxed in its own domain
    let h2 = ex
        .submit(&app.shell(2, 1, "echo $$ > pid-other; exec sleep 60"))
        .await
        .expect("submit");
    let other = app.wait_pid("pid-other").await;
    let h = ex
        .submit(&app.shell(
            1,
            1,
            &format!(
                "for p in {vpid} {other} {me}; do if kill -TERM $p 2>/dev/null; then echo \"$p: killed\"; else echo \"$p: refused\"; fi; done",
                me = std::process::id()
            ),
        ))
        .await
        .expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{}", o.reason);
    assert_eq!(
        log_of(&app),
        format!(
            "{vpid}: refused\n{other}: refused\n{}: refused\n",
            std::process::id()
        )
    );
    assert!(alive(vpid) && alive(other));
    let _ = victim.kill();
    let _ = victim.wait();
    bounded(ex.stop(&h2, Duration::from_secs(1)))
        .await
        .expect("stop");
}

#[tokio::test]
async fn the_server_environment_does_not_reach_a_worker() {
    let app = App::new();
    let ex = LocalExecutor::new(LocalConfig {
        base_env: Some(vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("MY_DB_PASSWORD".into(), "hunter2".into()),
            ("AWS_ACCESS_KEY_ID".into(), "AKIAEXAMPLE".into()),
            ("HOME".into(), "/root".into()),
        ]),
        containment: Containment {
            shared_read_write: vec![app.path().to_path_buf()],
            runs_dir: Some(app.server_dir().join("runs")),
            protected: vec![app.server_dir().join("logs-root")],
            ..Containment::default()
        },
        logs_dir: app.server_dir().join("logs-root"),
        ..LocalConfig::default()
    });
    let h = ex
        .submit(&app.shell(1, 1, "env | sort"))
        .await
        .expect("submit");
    assert!(bounded(ex.wait(&h)).await.expect("wait").success);
    let log = log_of(&app);
    for secret in [
        "hunter2",
        "AKIAEXAMPLE",
        "MY_DB_PASSWORD",
        "AWS_ACCESS_KEY_ID",
        "HOME=/root",
    ] {
        assert!(!log.contains(secret), "{secret} reached the worker:\n{log}");
    }
    assert!(log.contains("PATH=/usr/bin:/bin\n"), "{log}");
    assert!(
        log.contains(&format!("HOME={}\n", ex.run_dir(1, 1).display())),
        "{log}"
    );
}

/// Issue 9 §3: a wrapper that cannot write its exit status (here a directory sits where its
/// exit file should be) does not leave the run hanging: the executor knows its child's status.
#[tokio::test]
async fn an_unwritable_exit_file_still_gives_the_right_status() {
    let app = App::new();
    let ex = app.executor();
    for w in 0..2 {
        std::fs::create_dir_all(exit_status_path(&app.logs(), w)).expect("mkdir");
    }
    let h = ex
        .submit(&app.shell(1, 2, r#"if [ "$RANK" = 1 ]; then exit 3; fi; sleep 30"#))
        .await
        .expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert_eq!(o.exit_code, 3, "{o:?}");
    assert_eq!(o.failed_worker, Some(1));
    assert!(!o.success && !o.stopped);
}

#[tokio::test]
async fn memory_beyond_the_limit_ends_the_worker_with_an_oom_reason() {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let writable = rustix::process::geteuid().is_root()
        && (cgroups.contains(":memory:")
            || std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists());
    if !writable {
        assert!(
            std::env::var("TRAINYARD_REQUIRE_SANDBOX").as_deref() != Ok("1"),
            "memory cgroups need root here, and TRAINYARD_REQUIRE_SANDBOX=1"
        );
        eprintln!("SKIP memory_beyond_the_limit...: no writable memory cgroup");
        return;
    }
    let app = App::new();
    let ex = app.executor();
    ex.check_ready().await.expect("ready");
    let mut spec = app.shell(
        1,
        1,
        // ~400 MiB held in memory by tail (it keeps the last 400 MB it read); the job ends
        // with its status, as a training script whose process is killed would
        "head -c 400000000 /dev/zero | tail -c 400000000 > /dev/null && echo survived",
    );
    spec.resources.memory_gib = Some(0.125);
    let h = ex.submit(&spec).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(!o.success, "{o:?} {}", log_of(&app));
    assert_eq!(o.exit_code, 137, "killed by SIGKILL: {o:?}");
    assert!(
        o.reason.contains("out of memory")
            && o.reason.contains("OOM")
            && o.reason.contains("0.12 GiB"),
        "{}",
        o.reason
    );
    assert!(!log_of(&app).contains("survived"));
    // the same job with room enough completes
    let mut spec = app.shell(
        2,
        1,
        "head -c 40000000 /dev/zero | tail -c 40000000 > /dev/null && echo survived",
    );
    spec.resources.memory_gib = Some(1.0);
    let h = ex.submit(&spec).await.expect("submit");
    let o = bounded(ex.wait(&h)).await.expect("wait");
    assert!(o.success, "{}", o.reason);
    assert!(log_of(&app).ends_with("survived\n"));
}
