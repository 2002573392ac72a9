//! Issue 9 §1, tried as a hostile job would, against the real `trainyard` binary (so that
//! `/proc/<server pid>` is the real server): every attack must fail while the job itself runs
//! normally. CI runs these as root: workers are then `nobody`, inside Landlock. With
//! `TRAINYARD_REQUIRE_SANDBOX=1` a machine where they cannot run fails them.

use crate::server::{PROJECT, ServerProc, client, free_port, serve_args};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A second project (the insecure mode serves any project id).
const OTHER: &str = "fedcba9876543210fedcba9876543210";

/// A directory the workers' user may write (mode 1777, like /tmp).
fn scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

/// `trainyard serve --insecure-no-auth` on `data`, with extra environment.
fn insecure_server(data: &Path, env: &[(&str, &str)]) -> ServerProc {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
    cmd.args(serve_args(port, data))
        .args(["--stop-grace-secs", "1"]);
    for (k, _) in std::env::vars() {
        if k.starts_with("TRAINYARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    ServerProc::spawn(cmd, port)
}

/// Creates a custom-command job in `project` (with extra config fields); (job, version).
fn create_in(s: &ServerProc, project: &str, name: &str, cmd: &str, extra: Value) -> (i64, i64) {
    let mut config = json!({"worker_server_num": 1, "spec_id": 1, "user_command": cmd});
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    let r = client()
        .post(format!("{}/v1/{project}/training-jobs", s.base))
        .json(&json!({"job_name": name, "config": config}))
        .send()
        .unwrap();
    let st = r.status().as_u16();
    let v: Value = r.json().unwrap();
    assert_eq!(st, 200, "{v}");
    (
        v["job_id"].as_i64().unwrap(),
        v["version_id"].as_i64().unwrap(),
    )
}

fn version_in(s: &ServerProc, project: &str, j: i64, v: i64) -> Value {
    client()
        .get(format!(
            "{}/v1/{project}/training-jobs/{j}/versions/{v}",
            s.base
        ))
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn wait_in(s: &ServerProc, project: &str, j: i64, v: i64, want: &[i64]) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let d = version_in(s, project, j, v);
        if want.contains(&d["status"].as_i64().unwrap_or(-1)) {
            return d;
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole log of worker 0 through `aom-log` (the server's route).
fn log_in(s: &ServerProc, project: &str, j: i64, v: i64) -> String {
    let d = version_in(s, project, j, v);
    let name = format!(
        "{}-{}.0",
        d["job_name"].as_str().unwrap(),
        d["version_name"].as_str().unwrap()
    );
    let page: Value = client()
        .get(format!(
            "{}/v1/{project}/training-jobs/{j}/versions/{v}/aom-log",
            s.base
        ))
        .query(&[("log_file", name.as_str()), ("lines", "500")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    page["content"].as_str().unwrap_or_default().to_owned()
}

fn ok_to_run(test: &str) -> bool {
    let (full, summary) = trainyard_executor::landlock_support();
    let root = crate::server::root_or_skip(test);
    if !full {
        assert!(
            std::env::var("TRAINYARD_REQUIRE_SANDBOX").as_deref() != Ok("1"),
            "{test}: {summary}, and TRAINYARD_REQUIRE_SANDBOX=1"
        );
        eprintln!("SKIP {test}: {summary}");
    }
    root && full
}

/// The issue's command, with authentication on (so `credentials.json` and `auth.key` exist):
/// the job finds neither the local account's secrets nor the key that seals every stored SK,
/// whether it guesses the data directory from `TRAINYARD_RUN_DIR` or is told its real path.
#[test]
fn the_issue_command_reveals_no_secret() {
    if !ok_to_run("the_issue_command_reveals_no_secret") {
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
    cmd.current_dir(cwd.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
    for (k, _) in std::env::vars() {
        if k.starts_with("TRAINYARD_") {
            cmd.env_remove(k);
        }
    }
    let server = ServerProc::spawn(cmd, port);
    let data = cwd.path().join("trainyard-data").canonicalize().unwrap();
    let creds: Value =
        serde_json::from_slice(&std::fs::read(data.join("credentials.json")).unwrap()).unwrap();
    let sk = creds["secret_key"].as_str().unwrap().to_owned();
    let password = creds["password"].as_str().unwrap().to_owned();
    let key_hex = std::fs::read_to_string(data.join("auth.key")).unwrap();
    let d = data.display();
    let hostile = format!(
        "D=${{TRAINYARD_RUN_DIR%/logs/*}}; cat $D/credentials.json; head -c 64 $D/auth.key | wc -c; \
         cat {d}/credentials.json; head -c 64 {d}/auth.key | wc -c; ls {d}; \
         cat {d}/trainyard.db | wc -c; \
         echo done"
    );
    let cli = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trainyard"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRAINYARD_") {
                c.env_remove(k);
            }
        }
        c.current_dir(cwd.path()).args(args).output().unwrap()
    };
    let o = cli(&["jobs", "create", "--name", "thief", "--command", &hostile]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cli(&[
        "jobs",
        "wait",
        "thief",
        "--interval",
        "0.2",
        "--timeout",
        "60",
    ]);
    assert!(
        o.status.success(),
        "{} {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cli(&["jobs", "logs", "thief", "--lines", "500"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(log.contains("done"), "the job ran to its end: {log}");
    for (what, secret) in [
        ("the secret key", sk.as_str()),
        ("the password", password.as_str()),
        ("auth.key", key_hex.trim()),
        ("auth.key's first bytes", &key_hex[..16]),
    ] {
        assert!(!log.contains(secret), "{what} leaked:\n{log}");
    }
    assert!(
        !log.contains("secret_key"),
        "credentials.json was read:\n{log}"
    );
    // `head -c 64 auth.key | wc -c` printed 0 twice: nothing of the key was readable; nor a
    // byte of the database
    let counts: Vec<&str> = log
        .lines()
        .filter(|l| l.trim().chars().all(|c| c.is_ascii_digit()) && !l.trim().is_empty())
        .collect();
    assert_eq!(
        counts.iter().map(|c| c.trim()).collect::<Vec<_>>(),
        ["0", "0", "0"],
        "{log}"
    );
    assert!(
        !log.contains("SQLite format"),
        "the database was read:\n{log}"
    );
    drop(server);
}

/// `/proc/<server pid>/environ`: a secret in the server's environment (a database password,
/// AWS keys) reaches neither the worker's environment nor its reads of the server's `/proc`.
#[test]
fn the_servers_environment_stays_secret() {
    if !ok_to_run("the_servers_environment_stays_secret") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let s = insecure_server(
        &data.path().join("data"),
        &[
            ("MY_DB_PASSWORD", "hunter2-db-password"),
            ("AWS_ACCESS_KEY_ID", "AKIAHOSTILETEST0001"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret-hostile-test"),
        ],
    );
    let pid = s.pid();
    let cmd = format!(
        "env; cat /proc/{pid}/environ | tr '\\0' '\\n'; tr '\\0' '\\n' < /proc/$PPID/environ; \
         for p in /proc/[0-9]*; do cat $p/environ 2>/dev/null | tr '\\0' '\\n'; done | grep -a -e MY_DB -e AWS_; \
         head -c 100 /proc/{pid}/mem; echo done"
    );
    let (j, v) = create_in(&s, PROJECT, "env-thief", &cmd, json!({}));
    wait_in(&s, PROJECT, j, v, &[10, 11]);
    let log = log_in(&s, PROJECT, j, v);
    assert!(log.contains("done"), "{log}");
    for secret in [
        "hunter2-db-password",
        "AKIAHOSTILETEST0001",
        "aws-secret-hostile-test",
    ] {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
}

/// Another project's run log, by path, and another project's output: not readable. `kill -TERM`
/// of the server and of another project's worker: both survive.
#[test]
fn a_job_cannot_read_or_signal_another_projects_run_or_the_server() {
    if !ok_to_run("a_job_cannot_read_or_signal_another_projects_run_or_the_server") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let s = insecure_server(&data_dir, &[]);
    let out_a = scratch();
    {
        use std::os::unix::fs::PermissionsExt;
        let out = out_a.path().join("out");
        std::fs::create_dir(&out).unwrap();
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    // project A: writes a secret to its log and its output, then waits
    let (ja, va) = create_in(
        &s,
        PROJECT,
        "victim",
        "echo VICTIM-LOG-SECRET; echo VICTIM-OUTPUT-SECRET > \"$TRAIN_URL/secret.txt\"; echo $$ > \"$TRAIN_URL/pid\"; exec sleep 60",
        json!({"train_url": out_a.path().join("out").to_str().unwrap()}),
    );
    wait_in(&s, PROJECT, ja, va, &[8]);
    let pid_file = out_a.path().join("out/pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
        assert!(std::time::Instant::now() < deadline, "victim did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let victim: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let server = s.pid();
    let data_real = data_dir.canonicalize().unwrap();
    let cmd = format!(
        "cat {d}/logs/{ja}/{va}/worker-0.log; cat {o}/out/secret.txt; \
         for p in {server} {victim}; do if kill -TERM $p 2>/dev/null; then echo \"$p: signalled\"; else echo \"$p: refused\"; fi; done; echo done",
        d = data_real.display(),
        o = out_a.path().display()
    );
    let (jb, vb) = create_in(&s, OTHER, "attacker", &cmd, json!({}));
    wait_in(&s, OTHER, jb, vb, &[10, 11]);
    let log = log_in(&s, OTHER, jb, vb);
    assert!(log.contains("done"), "{log}");
    assert!(
        !log.contains("VICTIM-LOG-SECRET"),
        "another project's log was read:\n{log}"
    );
    assert!(
        !log.contains("VICTIM-OUTPUT-SECRET"),
        "another project's output was read:\n{log}"
    );
    assert!(log.contains(&format!("{server}: refused")), "{log}");
    assert!(log.contains(&format!("{victim}: refused")), "{log}");
    // both survive: the server answers, the victim still runs
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(version_in(&s, PROJECT, ja, va)["status"], 8);
    assert!(
        std::fs::read_to_string(format!("/proc/{victim}/stat")).is_ok_and(|st| !st.contains(") Z")),
        "the other project's worker was killed"
    );
    assert!(log_in(&s, PROJECT, ja, va).contains("VICTIM-LOG-SECRET"));
}

/// `log_url` and `train_url` outside the allowed roots are 400 naming the field and the roots,
/// `..` included; nothing appears there.
#[test]
fn paths_outside_the_allowed_roots_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let s = insecure_server(&data.path().join("data"), &[]);
    let tag = std::process::id();
    let cases = [
        ("log_url", format!("/tmp/../etc/trainyard-contain-{tag}")),
        ("train_url", format!("/etc/trainyard-contain-{tag}")),
        ("train_url", format!("/root/trainyard-contain-{tag}")),
        ("data_url", "/".to_owned()),
        (
            "app_url",
            data.path().join("data").to_string_lossy().into_owned(),
        ),
    ];
    for (field, path) in &cases {
        let body = json!({"job_name": "escape", "config": {
            "worker_server_num": 1, "spec_id": 1, "user_command": "echo hi", field.to_owned(): path}});
        let (st, v) = s.post("/training-jobs", &body);
        assert_eq!(st, 400, "{field}={path}: {v}");
        assert_eq!(v["error_code"], "ModelArts.0101", "{v}");
        let msg = v["error_msg"].as_str().unwrap();
        assert!(msg.contains(field), "names the field: {msg}");
        if !path.contains("/data") {
            assert!(
                msg.contains("/tmp") && msg.contains("/var/tmp"),
                "names the roots: {msg}"
            );
        }
    }
    assert!(!Path::new(&format!("/etc/trainyard-contain-{tag}")).exists());
    assert!(!Path::new(&format!("/root/trainyard-contain-{tag}")).exists());
    // a version cannot sneak one in either
    let (j, v) = create_in(&s, PROJECT, "base", "true", json!({}));
    wait_in(&s, PROJECT, j, v, &[10]);
    let (st, b) = s.post(
        &format!("/training-jobs/{j}/versions"),
        &json!({"config": {"pre_version_id": v, "log_url": "/etc"}}),
    );
    assert_eq!(st, 400, "{b}");
    assert!(b["error_msg"].as_str().unwrap().contains("log_url"), "{b}");
}

/// A symlink planted in the job's own directories, pointing at `auth.key`: the job reads
/// nothing through it, and neither do the server's log routes, even when the worker's log file
/// itself is replaced by such a symlink (which only someone with more rights than a worker
/// could do: the log directory is the server's).
#[test]
fn planted_symlinks_reveal_nothing() {
    if !ok_to_run("planted_symlinks_reveal_nothing") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("data");
    let s = insecure_server(&data_dir, &[]);
    let key = data_dir.canonicalize().unwrap().join("auth.key");
    let key_hex = std::fs::read_to_string(&key).unwrap();
    let out = scratch();
    let k = key.display();
    let cmd = format!(
        "ln -s {k} \"$TRAIN_URL/key\"; cat \"$TRAIN_URL/key\"; ln -s {k} \"$HOME/key\"; cat \"$HOME/key\"; \
         ln -sf {k} {logs}/worker-0.log 2>&1; echo done; sleep 2",
        logs = data_dir.join("logs/1/1").display()
    );
    let (j, v) = create_in(
        &s,
        PROJECT,
        "planter",
        &cmd,
        json!({"train_url": out.path().join("o").to_str().unwrap()}),
    );
    wait_in(&s, PROJECT, j, v, &[10, 11]);
    let log = log_in(&s, PROJECT, j, v);
    assert!(log.contains("done"), "{log}");
    assert!(
        !log.contains(key_hex.trim()),
        "auth.key leaked through the job:\n{log}"
    );
    // the harder case: the log file itself becomes a symlink to auth.key
    let log_file: PathBuf = data_dir.join(format!("logs/{j}/{v}/worker-0.log"));
    std::fs::remove_file(&log_file).unwrap();
    std::os::unix::fs::symlink(&key, &log_file).unwrap();
    let page: Value = client()
        .get(s.url(&format!("/training-jobs/{j}/versions/{v}/aom-log")))
        .query(&[("log_file", "planter-V0001.0"), ("lines", "50")])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        !page.to_string().contains(key_hex.trim()),
        "aom-log followed the symlink: {page}"
    );
    let sse = client()
        .get(s.url(&format!("/training-jobs/{j}/versions/{v}/log/stream")))
        .query(&[("log_file", "planter-V0001.0")])
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        !sse.contains(key_hex.trim()),
        "log/stream followed the symlink: {sse}"
    );
}
