//! Worker identities (issue 9 §1): a root server runs workers as an unprivileged user, never
//! root, one service user or one uid per project; their private run directory is their `HOME`
//! and goes away with the run.

use crate::common::{PROJECT, TestServer};
use crate::lifecycle::{TERMINAL, create_cmd, vpath, wait_status};
use serde_json::Value;
use trainyard_server::sandbox::IdentityMode;

fn root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

async fn log_of(s: &TestServer, project: &str, j: i64, v: i64, name: &str) -> String {
    let url = format!(
        "{}/v1/{project}/training-jobs/{j}/versions/{v}/aom-log",
        s.base
    );
    let page: Value = s
        .client
        .get(url)
        .query(&[
            ("log_file", format!("{name}-V0001.0").as_str()),
            ("lines", "50"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["content"].as_str().unwrap().to_owned()
}

async fn run_in(s: &TestServer, project: &str, name: &str, cmd: &str) -> (i64, i64) {
    let body = TestServer::job_body(name, cmd);
    let r: Value = s
        .client
        .post(format!("{}/v1/{project}/training-jobs", s.base))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (j, v) = (
        r["job_id"].as_i64().unwrap(),
        r["version_id"].as_i64().unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let d: Value = s
            .client
            .get(format!("{}/v1/{project}{}", s.base, vpath(j, v)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if TERMINAL.contains(&d["status"].as_i64().unwrap()) {
            assert_eq!(d["status"], 10, "{d}");
            return (j, v);
        }
        assert!(std::time::Instant::now() < deadline, "{d}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_root_server_runs_workers_as_nobody_with_a_private_home() {
    if !root() {
        eprintln!("SKIP: needs a server running as root");
        return;
    }
    let s = TestServer::start(|_| {}).await;
    let (j, v) = create_cmd(
        &s,
        "whoami",
        "id -u; id -g; id -G; echo \"$HOME\"; touch \"$HOME/x\" && echo home-writable",
    )
    .await;
    wait_status(&s, j, v, &[10]).await;
    let log = log_of(&s, PROJECT, j, v, "whoami").await;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[..3],
        ["65534", "65534", "65534"],
        "no supplementary groups: {log}"
    );
    assert_eq!(lines[4], "home-writable", "{log}");
    let home = std::path::Path::new(lines[3]);
    assert!(home.ends_with(format!("{j}/{v}")), "{log}");
    assert!(!home.exists(), "the run directory is removed with the run");
    assert!(
        !home.starts_with(s.dir.path()),
        "the run directory is not in the data directory"
    );
}

#[tokio::test]
async fn per_project_identities_are_distinct_and_stable() {
    if !root() {
        eprintln!("SKIP: needs a server running as root");
        return;
    }
    let base = 310_000 + (std::process::id() % 1000) * 10;
    let s = TestServer::start(|c| {
        c.sandbox.identity = IdentityMode::PerProject;
        c.sandbox.project_uids = [base, base + 9];
    })
    .await;
    let other = "fedcba9876543210fedcba9876543210";
    let mut uids = Vec::new();
    for (project, name) in [(PROJECT, "a1"), (other, "b1"), (PROJECT, "a2")] {
        let (j, v) = run_in(&s, project, name, "id -u; id -g").await;
        let log = log_of(&s, project, j, v, name).await;
        let ids: Vec<u32> = log.lines().map(|l| l.trim().parse().unwrap()).collect();
        assert_eq!(ids[0], ids[1], "gid = uid: {log}");
        uids.push(ids[0]);
    }
    assert!(
        uids.iter().all(|u| (base..=base + 9).contains(u)),
        "{uids:?}"
    );
    assert_ne!(uids[0], uids[1], "two projects, two users");
    assert_eq!(uids[0], uids[2], "a project keeps its user");
    // kept across a restart
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |c| {
        c.sandbox.identity = IdentityMode::PerProject;
        c.sandbox.project_uids = [base, base + 9];
    })
    .await;
    let (j, v) = run_in(&s, other, "b2", "id -u").await;
    assert_eq!(
        log_of(&s, other, j, v, "b2").await.trim(),
        uids[1].to_string()
    );
}
