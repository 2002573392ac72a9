//! A `trainyard serve --executor slurm` process SIGKILLed with 3 versions running and 2 pending
//! in Slurm, then started again (`TRAINYARD_TEST_SLURM_DIR`, see
//! `crates/trainyard-executor/tests/it/slurm.rs`; nothing without it, unless
//! `TRAINYARD_REQUIRE_SLURM=1`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
const LIMIT: Duration = Duration::from_secs(120);

fn cluster() -> Option<PathBuf> {
    match std::env::var_os("TRAINYARD_TEST_SLURM_DIR") {
        Some(d) if Path::new(&d).join("etc/slurm.conf").is_file() => Some(PathBuf::from(d)),
        other => {
            assert!(
                std::env::var("TRAINYARD_REQUIRE_SLURM").as_deref() != Ok("1"),
                "TRAINYARD_REQUIRE_SLURM=1 but TRAINYARD_TEST_SLURM_DIR ({other:?}) is not a Slurm cluster directory"
            );
            None
        }
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

fn start(data: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["serve", "--insecure-no-auth", "--executor", "slurm"])
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("trainyard listening") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("server did not start listening");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

fn version(c: &reqwest::blocking::Client, base: &str, j: i64, v: i64) -> serde_json::Value {
    c.get(format!(
        "{base}/v1/{PROJECT}/training-jobs/{j}/versions/{v}"
    ))
    .send()
    .unwrap()
    .json()
    .unwrap()
}

/// `squeue -h -t all --name=<name> -o %i|%T|%r`.
fn squeue(dir: &Path, name: &str) -> Vec<(u64, String, String)> {
    let out = Command::new("squeue")
        .env("SLURM_CONF", dir.join("etc/slurm.conf"))
        .args([
            "-h",
            "-t",
            "all",
            &format!("--name={name}"),
            "-o",
            "%i|%T|%r",
        ])
        .output()
        .expect("squeue");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            Some((
                f.next()?.trim().parse().ok()?,
                f.next()?.trim().to_owned(),
                f.next()?.trim().to_owned(),
            ))
        })
        .collect()
}

fn scontrol(dir: &Path, args: &[&str]) {
    let st = Command::new("scontrol")
        .env("SLURM_CONF", dir.join("etc/slurm.conf"))
        .args(args)
        .status()
        .expect("scontrol");
    assert!(st.success(), "scontrol {args:?}");
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < LIMIT, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigkill_with_3_running_and_2_pending_slurm_jobs_recovers_each_version_once() {
    let Some(dir) = cluster() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let prefix = format!("tyk{}", std::process::id());
    // every job is submitted held, so the test decides which run: 3 released, 2 kept pending
    std::fs::write(
        data.join("trainyard.toml"),
        format!(
            "quotas = 10\nmax_running = 10\n[executor.slurm]\nslurm_conf = \"{}\"\nshared_dir = \"{}\"\npoll_interval_ms = 300\njob_name_prefix = \"{prefix}\"\nsbatch_args = [\"--hold\"]\n",
            dir.join("etc/slurm.conf").display(),
            tmp.path().join("shared").display()
        ),
    )
    .unwrap();
    // jobs run as the worker user (nobody when the server is root): they may traverse tmp and
    // write their marker in a directory of their own
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    let marker = out.join("runs.txt");
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let server = start(&data);
    // A, B run 12 s; C fails with 3 after 2 s (while the server is down); D, E stay pending
    let cmds = [
        "sleep 12; exit 0",
        "sleep 12; exit 0",
        "sleep 2; exit 3",
        "exit 0",
        "exit 0",
    ];
    let mut made = Vec::new();
    for (i, tail) in cmds.iter().enumerate() {
        let cmd = format!(
            "echo $TRAINYARD_VERSION_ID >> '{}'; {tail}",
            marker.display()
        );
        let body = serde_json::json!({"job_name": format!("kill-{i}"), "config": {"worker_server_num": 1, "spec_id": 1, "user_command": cmd}});
        let v: serde_json::Value = c
            .post(format!("{}/v1/{PROJECT}/training-jobs", server.base))
            .json(&body)
            .send()
            .unwrap()
            .json()
            .unwrap();
        made.push((
            v["job_id"].as_i64().unwrap(),
            v["version_id"].as_i64().unwrap(),
        ));
    }
    let name = |k: usize| format!("{prefix}-{}-{}", made[k].0, made[k].1);
    until("all five submitted", || {
        (0..5).all(|k| squeue(&dir, &name(k)).len() == 1)
    });
    let ids: Vec<u64> = (0..5).map(|k| squeue(&dir, &name(k))[0].0).collect();
    for id in &ids[..3] {
        scontrol(&dir, &["release", &id.to_string()]);
    }
    until("3 RUNNING and 2 WAITING", || {
        let st: Vec<i64> = made
            .iter()
            .map(|(j, v)| {
                version(&c, &server.base, *j, *v)["status"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        st == [8, 8, 8, 7, 7]
    });
    drop(server); // SIGKILL
    let killed_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // C ends while nobody watches
    until("C ended in Slurm", || {
        squeue(&dir, &name(2))
            .first()
            .is_none_or(|q| q.1 == "FAILED")
    });
    let server = start(&data);
    let st: Vec<i64> = made
        .iter()
        .map(|(j, v)| {
            version(&c, &server.base, *j, *v)["status"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        [8, 11].contains(&st[2]) && st[..2] == [8, 8] && st[3..] == [7, 7],
        "right after the restart: {st:?}"
    );
    let cv = {
        let (j, v) = made[2];
        let t = Instant::now();
        loop {
            let x = version(&c, &server.base, j, v);
            if x["status"] == 11 {
                break x;
            }
            assert!(t.elapsed() < LIMIT, "C: {x}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(cv["exit_code"], 3, "{cv}");
    assert!(
        cv["end_time"].as_i64().unwrap() <= killed_at + 10_000,
        "C's end is Slurm's, not the restart's: {cv}"
    );
    // D and E were pending all along: still one job each, now released
    for (k, id) in ids.iter().enumerate().skip(3) {
        let q = squeue(&dir, &name(k));
        assert_eq!(q.len(), 1, "submitted twice: {q:?}");
        assert_eq!(
            (q[0].1.as_str(), q[0].2.as_str()),
            ("PENDING", "JobHeldUser")
        );
        scontrol(&dir, &["release", &id.to_string()]);
    }
    until("all ended", || {
        let st: Vec<i64> = made
            .iter()
            .map(|(j, v)| {
                version(&c, &server.base, *j, *v)["status"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert!(
            st.iter().all(|s| [7, 8, 10, 11].contains(s)),
            "unexpected: {st:?}"
        );
        st == [10, 10, 11, 10, 10]
    });
    // (finished jobs leave squeue after MinJobAge: at most one each)
    for k in 0..5 {
        assert!(
            squeue(&dir, &name(k)).len() <= 1,
            "one Slurm job per version"
        );
    }
    let text = std::fs::read_to_string(&marker).unwrap();
    let mut runs: Vec<i64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    runs.sort_unstable();
    let mut want: Vec<i64> = made.iter().map(|(_, v)| *v).collect();
    want.sort_unstable();
    assert_eq!(runs, want, "each version ran exactly once");
}
