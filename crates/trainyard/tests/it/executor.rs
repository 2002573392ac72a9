//! `trainyard serve` chooses its executor from `[executor] kind`, `TRAINYARD_EXECUTOR` and
//! `--executor` (later wins), and refuses to start with one it cannot use.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `trainyard serve` in `dir` with the given env and extra args; `PATH` holds no Slurm commands.
fn serve(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
    for (k, _) in std::env::vars() {
        if k.starts_with("TRAINYARD_") || k.starts_with("SLURM") {
            cmd.env_remove(k);
        }
    }
    let empty = dir.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    cmd.current_dir(dir)
        .env("PATH", &empty)
        .args(["serve", "--insecure-no-auth", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a serve that must fail at start; returns its stderr.
fn fails(mut cmd: Command) -> String {
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn unknown_executor_flag_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(serve(dir.path(), &[], &["--executor", "kubernetes"]));
    assert!(err.contains("kubernetes") && err.contains("slurm"), "{err}");
}

#[test]
fn slurm_from_env_or_toml_without_a_cluster_fails_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let err = fails(serve(dir.path(), &[("TRAINYARD_EXECUTOR", "slurm")], &[]));
    assert!(err.contains("slurm executor"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/trainyard.toml"),
        "[executor]\nkind = \"slurm\"\n",
    )
    .unwrap();
    let err = fails(serve(dir.path(), &[], &[]));
    assert!(err.contains("slurm executor"), "{err}");
}

#[test]
fn the_flag_wins_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(
        dir.path(),
        &[("TRAINYARD_EXECUTOR", "slurm")],
        &["--executor", "local"],
    )
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("trainyard listening") {
                let _ = tx.send(());
            }
        }
    });
    let started = rx.recv_timeout(Duration::from_secs(60));
    let _ = child.kill();
    let _ = child.wait();
    assert!(started.is_ok(), "serve --executor local did not start");
}
