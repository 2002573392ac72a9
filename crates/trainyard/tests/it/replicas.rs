//! Several `trainyard serve` replicas on one real PostgreSQL (issue 12 §3, §4): every list
//! answer on any replica reflects every write acknowledged by any replica before the list was
//! sent; one scheduler leader, replaced within 10 s after a SIGKILL, with every version run
//! exactly once.

use crate::pg::{Database, admin_url, client, serve};
use std::time::{Duration, Instant};
use trainyard_api::list::{JobListQuery, JobListResponse};
use trainyard_store::{Location, Store};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";

/// A tiny deterministic generator (the random interleavings).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A random list query (no `duration` sort: it moves with the clock for running versions).
fn random_query(rng: &mut Rng) -> Vec<(String, String)> {
    let mut q = Vec::new();
    let sort = [
        "job_name",
        "create_time",
        "status",
        "version_count",
        "job_desc",
    ][rng.below(5)];
    q.push(("sortBy".to_owned(), sort.to_owned()));
    q.push(("order".to_owned(), ["asc", "desc"][rng.below(2)].to_owned()));
    let per_page = [5, 20, 1000][rng.below(3)];
    q.push(("per_page".to_owned(), per_page.to_string()));
    q.push(("page".to_owned(), (1 + rng.below(3)).to_string()));
    match rng.below(4) {
        0 => q.push(("status".to_owned(), "1".to_owned())),
        1 => q.push(("status".to_owned(), "13".to_owned())),
        2 => q.push(("search_content".to_owned(), format!("{}", rng.below(10)))),
        _ => {}
    }
    q
}

fn create_job(c: &reqwest::blocking::Client, base: &str, name: &str) -> (i64, i64) {
    let body = serde_json::json!({"job_name": name, "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "exit 0"}});
    let r = c
        .post(format!("{base}/v1/{PROJECT}/training-jobs"))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "create");
    let v: serde_json::Value = r.json().unwrap();
    (
        v["job_id"].as_i64().unwrap(),
        v["version_id"].as_i64().unwrap(),
    )
}

/// The acceptance test of issue 12 §3: two replicas A and B on one database; 2,000 times a
/// random write (create, stop, delete, new version; mostly on A, sometimes on B) is
/// acknowledged, then a random list is sent at once to B (and every fourth time to A too),
/// and its answer (total and page) must equal `list_jobs_sql` on the same database. The test
/// holds the scheduler lease itself, so no replica schedules and nothing but the test's own
/// writes changes the data (the comparison is exact, not "eventually").
#[test]
fn a_list_on_any_replica_reflects_every_write_acknowledged_on_any_replica() {
    let Some(admin) = admin_url("a_list_on_any_replica_reflects_every_write") else {
        return;
    };
    let db = Database::create(&admin);
    let reference = Store::open(&Location::Postgres(db.url.clone())).unwrap();
    reference
        .try_lead("the test: no replica schedules", Duration::from_secs(3600))
        .unwrap()
        .expect("the lease is free in a fresh database");
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = serve(&db, da.path(), &[]);
    let b = serve(&db, dbb.path(), &[]);
    let c = client();
    let mut rng = Rng(12);
    let mut jobs: Vec<(i64, i64)> = Vec::new();
    let trials = 2000;
    for i in 0..trials {
        let writer = if rng.below(4) == 0 { &b.base } else { &a.base };
        match rng.below(10) {
            0..=4 => jobs.push(create_job(&c, writer, &format!("j{i}-{}", rng.below(10)))),
            5 | 6 if !jobs.is_empty() => {
                let (job, version) = jobs[rng.below(jobs.len())];
                let r = c
                    .post(format!(
                        "{writer}/v1/{PROJECT}/training-jobs/{job}/versions/{version}/stop"
                    ))
                    .send()
                    .unwrap();
                // 409 for a version stopped before
                assert!(
                    matches!(r.status().as_u16(), 200 | 409),
                    "stop: {}",
                    r.status()
                );
            }
            7 if !jobs.is_empty() => {
                let (job, version) = jobs[rng.below(jobs.len())];
                let r = c
                    .post(format!(
                        "{writer}/v1/{PROJECT}/training-jobs/{job}/versions"
                    ))
                    .json(&serde_json::json!({"config": {"pre_version_id": version}}))
                    .send()
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200, "new version");
                let v: serde_json::Value = r.json().unwrap();
                let new = v["version_id"].as_i64().unwrap();
                for j in jobs.iter_mut().filter(|j| j.0 == job) {
                    j.1 = new;
                }
            }
            8 | 9 if !jobs.is_empty() => {
                let k = rng.below(jobs.len());
                let (job, _) = jobs.swap_remove(k);
                let r = c
                    .delete(format!("{writer}/v1/{PROJECT}/training-jobs/{job}"))
                    .send()
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200, "delete");
            }
            _ => jobs.push(create_job(&c, writer, &format!("j{i}"))),
        }
        let pairs = random_query(&mut rng);
        let mut readers = vec![&b.base];
        if i % 4 == 0 {
            readers.push(&a.base);
        }
        for reader in readers {
            let r = c
                .get(format!("{reader}/v1/{PROJECT}/training-jobs"))
                .query(&pairs)
                .send()
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let got: JobListResponse = r.json().unwrap();
            let q = JobListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .unwrap();
            let (total, rows) = reference.list_jobs_sql(PROJECT, &q, 0).unwrap();
            assert_eq!(
                (got.job_total_count, &got.jobs),
                (total, &rows),
                "trial {i}: the list on {reader} ({pairs:?}) differs from the database"
            );
        }
    }
    assert!(jobs.len() > 50, "the trials kept some jobs: {}", jobs.len());
}

/// The statuses of the latest versions of every job, by job name (a list on `base`).
fn statuses(c: &reqwest::blocking::Client, base: &str) -> Vec<(String, i64)> {
    let r = c
        .get(format!(
            "{base}/v1/{PROJECT}/training-jobs?per_page=1000&sortBy=job_name"
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().unwrap();
    v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["job_name"].as_str().unwrap().to_owned(),
                j["status"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A directory where runs leave their marks (writable by the workers' user, shared with every
/// worker by a test policy, `[sandbox] read_write`), and that policy's file (in the same
/// temporary directory's sibling `policy.toml`).
fn marks_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let marks = tempfile::tempdir().unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(marks.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    let policy = marks.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!("[sandbox]\nread_write = [{:?}]\n", marks.path()),
    )
    .unwrap();
    (marks, policy)
}

/// Issue 12 §4: three replicas on one database, at most 3 versions running; 5 jobs created
/// (through every replica) so that 3 run and 2 wait. The leader is SIGKILLed: another replica
/// takes the lease over within 10 s (the figure is printed), adopts the 3 runs (same host: it
/// sees their processes) and starts the 2 waiting ones; every version ends COMPLETED, and each
/// ran exactly once (each run appends a line to its own file when it starts and when it ends).
#[test]
fn leader_sigkill_another_replica_takes_over_and_every_version_runs_once() {
    let Some(admin) = admin_url("leader_sigkill_another_replica_takes_over") else {
        return;
    };
    let db = Database::create(&admin);
    let reference = Store::open(&Location::Postgres(db.url.clone())).unwrap();
    let (marks, conf) = marks_dir();
    let policy = conf.to_str().unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let flags = ["--max-running", "3", "--quotas", "3", "--config", policy];
    let mut servers: Vec<_> = dirs.iter().map(|d| serve(&db, d.path(), &flags)).collect();
    let c = client();
    for i in 0..5 {
        let name = format!("run{i}");
        let file = marks.path().join(&name);
        let cmd = format!(
            "echo $$ >> {f}.starts; sleep 12; echo $$ >> {f}.ends",
            f = file.display()
        );
        let body = serde_json::json!({"job_name": name, "config": {"worker_server_num": 1, "spec_id": 1, "user_command": cmd}});
        let r = c
            .post(format!(
                "{}/v1/{PROJECT}/training-jobs",
                servers[i % 3].base
            ))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let st = statuses(&c, &servers[1].base);
        let running = st.iter().filter(|(_, s)| *s == 8).count();
        let waiting = st.iter().filter(|(_, s)| *s == 7).count();
        if (running, waiting) == (3, 2) {
            break;
        }
        assert!(
            Instant::now() < until,
            "never 3 running and 2 waiting: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let before = reference.leader().unwrap();
    let k = servers
        .iter()
        .position(|s| before.holder.contains(&s.listen))
        .unwrap_or_else(|| panic!("the leader {before:?} is none of the servers"));
    let killed_at = Instant::now();
    servers[k].kill();
    let until = killed_at + Duration::from_secs(30);
    let after = loop {
        let l = reference.leader().unwrap();
        if l.epoch > before.epoch && l.expires_in_ms > 0 {
            break l;
        }
        assert!(Instant::now() < until, "no replica took over: {l:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let failover = killed_at.elapsed();
    eprintln!(
        "failover: {} ms (epoch {} -> {}, new leader {})",
        failover.as_millis(),
        before.epoch,
        after.epoch,
        after.holder
    );
    assert!(
        failover < Duration::from_secs(10),
        "failover took {failover:?}"
    );
    let alive = servers
        .iter()
        .find(|s| !before.holder.contains(&s.listen))
        .unwrap();
    let until = Instant::now() + Duration::from_secs(120);
    let st = loop {
        let st = statuses(&c, &alive.base);
        if st.iter().all(|(_, s)| *s == 10) {
            break st;
        }
        assert!(
            st.iter().all(|(_, s)| matches!(s, 1 | 2 | 4 | 7 | 8 | 10)),
            "a version did not complete: {st:?}"
        );
        assert!(
            Instant::now() < until,
            "the versions never all completed: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(st.len(), 5);
    for i in 0..5 {
        for what in ["starts", "ends"] {
            let f = marks.path().join(format!("run{i}.{what}"));
            let lines = std::fs::read_to_string(&f).unwrap_or_default();
            assert_eq!(
                lines.lines().count(),
                1,
                "run{i} {what} {} times: {lines:?}",
                lines.lines().count()
            );
        }
    }
}

/// Issue 12 "CI and tests": a replica SIGKILLed during an import loses nothing acknowledged.
/// Replica A imports batches of 5,000 records (all or nothing, `import.md`) and is SIGKILLed
/// while a batch is in flight; on replica B every acknowledged batch is there in full, the
/// batch in flight is there in full or not at all, and B's list equals `list_jobs_sql`.
#[test]
fn a_replica_sigkilled_during_an_import_loses_nothing_acknowledged() {
    let Some(admin) = admin_url("a_replica_sigkilled_during_an_import") else {
        return;
    };
    let db = Database::create(&admin);
    let reference = Store::open(&Location::Postgres(db.url.clone())).unwrap();
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = serve(&db, da.path(), &["--max-jobs", "1000000"]);
    let b = serve(&db, dbb.path(), &["--max-jobs", "1000000"]);
    let batch = 5000;
    let body = move |k: usize| -> String {
        (0..batch)
            .map(|i| {
                format!(
                    "{{\"job_name\":\"b{k}-{i:05}\",\"status\":10,\"create_time\":{}}}\n",
                    1_700_000_000_000i64 + i as i64
                )
            })
            .collect()
    };
    let url = format!("{}/trainyard/v1/{PROJECT}/job-history", a.base);
    let (tx, rx) = std::sync::mpsc::channel();
    let importer = std::thread::spawn(move || {
        let c = client();
        for k in 0..1000 {
            let _ = tx.send(("sent", k));
            match c.post(&url).body(body(k)).send() {
                Ok(r) if r.status().as_u16() == 200 => {
                    let _ = tx.send(("acked", k));
                }
                _ => return,
            }
        }
    });
    // SIGKILL while the third batch is in flight
    let mut acked = Vec::new();
    let mut in_flight = None;
    while let Ok((what, k)) = rx.recv_timeout(Duration::from_secs(60)) {
        match what {
            "acked" => acked.push(k),
            _ => in_flight = Some(k),
        }
        if what == "sent" && k == 2 {
            std::thread::sleep(Duration::from_millis(30));
            a.kill();
            break;
        }
    }
    importer.join().unwrap();
    while let Ok(("acked", k)) = rx.try_recv() {
        acked.push(k);
    }
    assert!(acked.len() >= 2, "acknowledged batches: {acked:?}");
    let c = client();
    let count = |prefix: &str| -> u64 {
        let r = c
            .get(format!("{}/v1/{PROJECT}/training-jobs", b.base))
            .query(&[("search_content", prefix), ("per_page", "1")])
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json::<JobListResponse>().unwrap().job_total_count
    };
    for k in &acked {
        assert_eq!(
            count(&format!("b{k}-")),
            batch as u64,
            "batch {k} acknowledged"
        );
    }
    if let Some(k) = in_flight.filter(|k| !acked.contains(k)) {
        let n = count(&format!("b{k}-"));
        assert!(
            n == 0 || n == batch as u64,
            "batch {k} in flight: {n} of {batch} jobs"
        );
    }
    let pairs = [
        ("per_page", "1000"),
        ("sortBy", "create_time"),
        ("page", "3"),
    ];
    let got: JobListResponse = c
        .get(format!("{}/v1/{PROJECT}/training-jobs", b.base))
        .query(&pairs)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let q = JobListQuery::from_pairs(pairs).unwrap();
    let (total, rows) = reference.list_jobs_sql(PROJECT, &q, 0).unwrap();
    assert_eq!((got.job_total_count, got.jobs), (total, rows));
}

/// A PostgreSQL cluster of this test's own (`.ci/postgres.sh start`), stopped and removed on
/// drop; it can be stopped and started again on the same port.
struct OwnCluster {
    dir: String,
    bin: String,
    port: String,
    url: String,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/postgres.sh");
        let out = std::process::Command::new("bash")
            .args([script, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let var = |name: &str| -> String {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .unwrap_or_else(|| panic!("{name} not in {text}"))
                .to_owned()
        };
        let url = var("TRAINYARD_TEST_PG_URL");
        let port = url
            .rsplit_once(':')
            .unwrap()
            .1
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        OwnCluster {
            dir: var("TRAINYARD_PG_DIR"),
            bin: var("TRAINYARD_PG_BIN"),
            port,
            url,
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = format!("{}/data", self.dir);
        let st = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{}/pg_ctl", self.bin))
            .args([
                "-D",
                &data,
                "-l",
                &format!("{}/log", self.dir),
                "-w",
                "-t",
                "60",
            ])
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "pg_ctl {args:?}");
    }

    fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "stop"]);
    }

    fn start_again(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300",
            self.port, self.dir
        );
        self.pg_ctl(&["-o", &opts, "start"]);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/postgres.sh");
        let _ = std::process::Command::new("bash")
            .args([script, "stop", &self.dir])
            .status();
    }
}

/// Issue 12: PostgreSQL restarted under load. A server on a cluster of the test's own serves
/// creates and lists from two client threads; the cluster is stopped for 3 s: every answer is
/// 200 or a clear 503 (`ModelArts.0010`, `Retry-After`), at least one 503 is seen; after the
/// cluster is started again the server serves lists and creates again by itself within 10 s
/// (the figure is printed); every acknowledged create is in the list, and the list has the
/// jobs of `list_jobs_sql` (statuses move meanwhile: the server schedules).
#[test]
fn postgres_restart_under_load_gives_503s_then_service_resumes() {
    if admin_url("postgres_restart_under_load").is_none() {
        return;
    }
    let cluster = OwnCluster::start();
    let db = Database::create(&cluster.url);
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&db, dir.path(), &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_503 = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let loaders: Vec<_> = (0..2)
        .map(|t| {
            let (base, stop, seen_503) = (server.base.clone(), stop.clone(), seen_503.clone());
            std::thread::spawn(move || {
                let c = client();
                let (mut acked, mut unavailable) = (Vec::new(), 0u32);
                let mut i = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let r = if i % 2 == 0 {
                        let body = serde_json::json!({"job_name": format!("t{t}-{i}"), "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "exit 0"}});
                        c.post(format!("{base}/v1/{PROJECT}/training-jobs"))
                            .json(&body)
                            .send()
                    } else {
                        c.get(format!("{base}/v1/{PROJECT}/training-jobs")).send()
                    }
                    .unwrap();
                    match r.status().as_u16() {
                        200 => {
                            let v: serde_json::Value = r.json().unwrap();
                            if let Some(id) = v["job_id"].as_i64() {
                                acked.push(id);
                            }
                        }
                        503 => {
                            assert_eq!(
                                r.headers().get("retry-after").map(|h| h.to_str().unwrap()),
                                Some("1")
                            );
                            let v: serde_json::Value = r.json().unwrap();
                            assert_eq!(v["is_success"], false);
                            assert_eq!(v["error_code"], "ModelArts.0010");
                            unavailable += 1;
                            seen_503.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        s => panic!("status {s}: {}", r.text().unwrap_or_default()),
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                (acked, unavailable)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    cluster.stop();
    // Down until the loaders have seen a 503 (a request waits up to the pool's 5 s connection
    // timeout before it is answered 503, so a fixed 3 s outage could end before any answer:
    // the test failed that way under load), then 1 s more; bounded.
    let down = Instant::now();
    while seen_503.load(std::sync::atomic::Ordering::Relaxed) == 0
        && down.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(1));
    cluster.start_again();
    let back = Instant::now();
    let c = client();
    loop {
        let list = c
            .get(format!("{}/v1/{PROJECT}/training-jobs", server.base))
            .send()
            .unwrap()
            .status()
            .as_u16();
        let body = serde_json::json!({"job_name": format!("after-{}", back.elapsed().as_nanos()), "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "exit 0"}});
        let create = c
            .post(format!("{}/v1/{PROJECT}/training-jobs", server.base))
            .json(&body)
            .send()
            .unwrap()
            .status()
            .as_u16();
        if (list, create) == (200, 200) {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "still {list}/{create} 10 s after PostgreSQL came back"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "service resumed {} ms after PostgreSQL was started again",
        back.elapsed().as_millis()
    );
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acked = Vec::new();
    let mut unavailable = 0;
    for l in loaders {
        let (a, u) = l.join().unwrap();
        acked.extend(a);
        unavailable += u;
    }
    assert!(unavailable > 0, "no 503 while PostgreSQL was stopped");
    let reference = Store::open(&Location::Postgres(db.url.clone())).unwrap();
    let pairs = [("per_page", "1000"), ("sortBy", "create_time")];
    let got: JobListResponse = c
        .get(format!("{}/v1/{PROJECT}/training-jobs", server.base))
        .query(&pairs)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let q = JobListQuery::from_pairs(pairs).unwrap();
    let (total, rows) = reference.list_jobs_sql(PROJECT, &q, 0).unwrap();
    // the scheduler moves statuses meanwhile: the jobs themselves must be the same
    let key = |r: &trainyard_api::list::JobRow| (r.job_id, r.job_name.clone(), r.create_time);
    assert_eq!(
        (
            got.job_total_count,
            got.jobs.iter().map(key).collect::<Vec<_>>()
        ),
        (total, rows.iter().map(key).collect::<Vec<_>>())
    );
    let listed: std::collections::HashSet<i64> = got.jobs.iter().map(|j| j.job_id).collect();
    for id in &acked {
        assert!(listed.contains(id), "acknowledged job {id} is missing");
    }
    drop(reference);
    drop(server);
    drop(db);
}

/// `trainyard migrate` end to end through the binary: a SQLite server gets jobs (created,
/// imported, one with a second version, one stopped, one deleted) and is stopped; `migrate`
/// copies its data directory into an empty PostgreSQL database (exit 0, its differential check
/// passes); a server on that database, with the SQLite directory's `auth.key`, answers the
/// same list pages as the SQLite server did, and new ids continue after the copied ones.
#[test]
fn migrate_copies_a_sqlite_installation_to_postgres_through_the_binary() {
    let Some(admin) = admin_url("migrate_copies_a_sqlite_installation") else {
        return;
    };
    let db = Database::create(&admin);
    let data = tempfile::tempdir().unwrap();
    let c = client();
    let queries: Vec<Vec<(&str, &str)>> = vec![
        vec![("per_page", "1000"), ("sortBy", "create_time")],
        vec![
            ("per_page", "5"),
            ("page", "2"),
            ("sortBy", "job_name"),
            ("order", "desc"),
        ],
        vec![("status", "13"), ("per_page", "1000")],
        vec![("search_content", "h-1"), ("per_page", "1000")],
    ];
    let (before, last_id) = {
        let server = crate::pg::serve_sqlite(data.path());
        let mut made = Vec::new();
        for i in 0..12 {
            made.push(create_job(&c, &server.base, &format!("m-{i}")));
        }
        let (job, version) = made[3];
        let r = c
            .post(format!(
                "{}/v1/{PROJECT}/training-jobs/{job}/versions",
                server.base
            ))
            .json(&serde_json::json!({"config": {"pre_version_id": version}}))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let (job, version) = made[5];
        let r = c
            .post(format!(
                "{}/v1/{PROJECT}/training-jobs/{job}/versions/{version}/stop",
                server.base
            ))
            .send()
            .unwrap();
        assert!(matches!(r.status().as_u16(), 200 | 409));
        let r = c
            .delete(format!(
                "{}/v1/{PROJECT}/training-jobs/{}",
                server.base, made[7].0
            ))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let rows: String = (0..30)
            .map(|i| {
                format!(
                    "{{\"job_name\":\"h-{i}\",\"status\":13,\"create_time\":{}}}\n",
                    1_700_000_000_000i64 + i
                )
            })
            .collect();
        let r = c
            .post(format!(
                "{}/trainyard/v1/{PROJECT}/job-history",
                server.base
            ))
            .body(rows)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let last: serde_json::Value = r.json().unwrap();
        // let the scheduler finish the `exit 0` runs, so the lists no longer move
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let st = statuses(&c, &server.base);
            if st.iter().all(|(_, s)| matches!(s, 10..=13)) {
                break;
            }
            assert!(Instant::now() < until, "runs did not end: {st:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let pages: Vec<serde_json::Value> = queries
            .iter()
            .map(|q| {
                c.get(format!("{}/v1/{PROJECT}/training-jobs", server.base))
                    .query(q)
                    .send()
                    .unwrap()
                    .json()
                    .unwrap()
            })
            .collect();
        (pages, last["last_job_id"].as_i64().unwrap())
    };
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(["migrate", "--from"])
        .arg(data.path())
        .args(["--to", &db.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(data.path().join("auth.key"), &db.key_file).unwrap();
    let pgdir = tempfile::tempdir().unwrap();
    let server = serve(&db, pgdir.path(), &[]);
    for (q, want) in queries.iter().zip(&before) {
        let got: serde_json::Value = c
            .get(format!("{}/v1/{PROJECT}/training-jobs", server.base))
            .query(q)
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(&got, want, "{q:?}");
        assert!(got["job_total_count"].as_u64().unwrap() > 0, "{q:?}");
    }
    let (new_job, _) = create_job(&c, &server.base, "after-migrate");
    assert!(
        new_job > last_id,
        "id {new_job} reused (last copied {last_id})"
    );
}

/// Issue 12 §4: handlers on a replica that does not lead accept creates and stops, and the
/// leader acts on them (woken through the database): a `sleep 120` job created through the
/// standby replica starts on the leader; a stop sent to the standby ends it 12 KILLED, and its
/// process is gone.
#[test]
fn creates_and_stops_on_a_standby_replica_reach_the_leader() {
    let Some(admin) = admin_url("creates_and_stops_on_a_standby_replica") else {
        return;
    };
    let db = Database::create(&admin);
    let reference = Store::open(&Location::Postgres(db.url.clone())).unwrap();
    let (marks, policy) = marks_dir();
    let flags = [
        "--config",
        policy.to_str().unwrap(),
        "--stop-grace-secs",
        "1",
    ];
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let servers = [
        serve(&db, da.path(), &flags),
        serve(&db, dbb.path(), &flags),
    ];
    let until = Instant::now() + Duration::from_secs(30);
    let leader = loop {
        let l = reference.leader().unwrap();
        if l.expires_in_ms > 0 {
            break l;
        }
        assert!(Instant::now() < until, "no leader: {l:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let standby = servers
        .iter()
        .find(|s| !leader.holder.contains(&s.listen))
        .unwrap();
    let c = client();
    let pid_file = marks.path().join("pid");
    let cmd = format!("echo $$ > {}; exec sleep 120", pid_file.display());
    let body = serde_json::json!({"job_name": "long", "config": {"worker_server_num": 1, "spec_id": 1, "user_command": cmd}});
    let r = c
        .post(format!("{}/v1/{PROJECT}/training-jobs", standby.base))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().unwrap();
    let (job, version) = (
        v["job_id"].as_i64().unwrap(),
        v["version_id"].as_i64().unwrap(),
    );
    let wait_status = |want: i64| {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let st = statuses(&c, &standby.base);
            if st[0].1 == want {
                return;
            }
            assert!(Instant::now() < until, "never {want}: {st:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_status(8);
    let until = Instant::now() + Duration::from_secs(30);
    let pid: i32 = loop {
        if let Some(p) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break p;
        }
        assert!(Instant::now() < until, "the run never wrote its pid");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    let r = c
        .post(format!(
            "{}/v1/{PROJECT}/training-jobs/{job}/versions/{version}/stop",
            standby.base
        ))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    wait_status(12);
    let until = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < until,
            "the stopped run's process {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Issue 12 §4, fencing with real processes: the leader is paused (SIGSTOP) with 2 versions
/// running; the other replica takes the lease over, adopts them and starts a third version
/// created meanwhile; the old leader is resumed (SIGCONT) and must change nothing: the lease
/// stays with the new leader, every version ends COMPLETED, and each ran exactly once.
#[test]
fn a_paused_old_leader_changes_nothing_after_a_takeover() {
    let Some(admin) = admin_url("a_paused_old_leader_changes_nothing") else {
        return;
    };
    let db = Database::create(&admin);
    let reference = Store::open(&Location::Postgres(db.url.clone())).unwrap();
    let (marks, policy) = marks_dir();
    let flags = ["--config", policy.to_str().unwrap()];
    let (da, dbb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let servers = [
        serve(&db, da.path(), &flags),
        serve(&db, dbb.path(), &flags),
    ];
    let until = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let l = reference.leader().unwrap();
        if l.expires_in_ms > 0 {
            break l;
        }
        assert!(Instant::now() < until, "no leader: {l:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let old = servers
        .iter()
        .position(|s| first.holder.contains(&s.listen))
        .unwrap();
    let other = &servers[1 - old];
    let c = client();
    let create = |name: &str| {
        let f = marks.path().join(name);
        let cmd = format!(
            "echo $$ >> {f}.starts; sleep 10; echo $$ >> {f}.ends",
            f = f.display()
        );
        let body = serde_json::json!({"job_name": name, "config": {"worker_server_num": 1, "spec_id": 1, "user_command": cmd}});
        let r = c
            .post(format!("{}/v1/{PROJECT}/training-jobs", other.base))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    };
    let wait_running = |n: usize| {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let st = statuses(&c, &other.base);
            if st.iter().filter(|(_, s)| *s == 8).count() >= n {
                return;
            }
            assert!(Instant::now() < until, "never {n} running: {st:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    create("p0");
    create("p1");
    wait_running(2);
    let pid = servers[old].child.id().to_string();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    let until = Instant::now() + Duration::from_secs(30);
    let second = loop {
        let l = reference.leader().unwrap();
        if l.epoch > first.epoch && l.expires_in_ms > 0 {
            break l;
        }
        assert!(
            Instant::now() < until,
            "no takeover from a paused leader: {l:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(second.holder.contains(&other.listen));
    create("p2");
    wait_running(3);
    signal("-CONT");
    // the old leader runs again: its next renewal fails, its writes are fenced
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(reference.leader().unwrap().epoch, second.epoch);
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let st = statuses(&c, &servers[old].base);
        if st.len() == 3 && st.iter().all(|(_, s)| *s == 10) {
            break;
        }
        assert!(
            st.iter().all(|(_, s)| matches!(s, 1 | 2 | 4 | 7 | 8 | 10)),
            "a version did not complete: {st:?}"
        );
        assert!(
            Instant::now() < until,
            "the versions never all completed: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for name in ["p0", "p1", "p2"] {
        for what in ["starts", "ends"] {
            let f = marks.path().join(format!("{name}.{what}"));
            let lines = std::fs::read_to_string(&f).unwrap_or_default();
            assert_eq!(lines.lines().count(), 1, "{name} {what}: {lines:?}");
        }
    }
    assert_eq!(reference.leader().unwrap().epoch, second.epoch);
}
