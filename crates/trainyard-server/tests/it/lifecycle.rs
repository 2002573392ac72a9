//! Versions really run (`statuses.md`, `runtime.md`, `training-jobs.md` §7, §4/§9): every
//! transition through the HTTP API with real processes, stops, quotas, workers, deletes, and
//! the digits example end to end.

use crate::common::{PROJECT, TestServer, assert_error, scratch, share};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use trainyard_api::jobs::Engine;
use trainyard_server::config::EngineConfig;

/// Terminal statuses (`statuses.md`).
pub const TERMINAL: [i64; 13] = [3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 20, 21, 22];

/// The version detail path.
pub fn vpath(job: i64, ver: i64) -> String {
    format!("/training-jobs/{job}/versions/{ver}")
}

/// The version detail (asserting 200).
pub async fn detail(s: &TestServer, job: i64, ver: i64) -> Value {
    let (code, v) = s.get(&vpath(job, ver), &[]).await;
    assert_eq!(code, 200, "{v}");
    v
}

/// Polls the detail until its status is one of `want` (30 s at most); panics on another
/// terminal status. Returns the detail.
pub async fn wait_status(s: &TestServer, job: i64, ver: i64, want: &[i64]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = detail(s, job, ver).await;
        let st = v["status"].as_i64().unwrap();
        if want.contains(&st) {
            return v;
        }
        assert!(
            !TERMINAL.contains(&st),
            "{job}/{ver} ended in {st}, wanted {want:?}: {v}"
        );
        assert!(
            Instant::now() < deadline,
            "{job}/{ver} still in {st}, wanted {want:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Creates a job (asserting 200); returns (job_id, version_id).
pub async fn create(s: &TestServer, body: &Value) -> (i64, i64) {
    let (code, b) = s.post("/training-jobs", body).await;
    assert_eq!(code, 200, "{b}");
    assert_eq!(b["status"], 1, "{b}");
    (
        b["job_id"].as_i64().unwrap(),
        b["version_id"].as_i64().unwrap(),
    )
}

/// Creates a job running `cmd` through `sh -c`.
pub async fn create_cmd(s: &TestServer, name: &str, cmd: &str) -> (i64, i64) {
    create(s, &TestServer::job_body(name, cmd)).await
}

/// Waits until `path` exists and returns its content (10 s at most).
pub async fn wait_file(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(s) = std::fs::read_to_string(path)
            && s.ends_with('\n')
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s.rsplit(')').next().unwrap_or("").split_whitespace().next();
            !matches!(state, Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}

/// A body running `boot` with the Bash engine (id 2 by default) from `app`.
fn bash_body(name: &str, app: &Path, boot: &str, extra: Value) -> Value {
    let mut config = json!({
        "worker_server_num": 1, "spec_id": 1, "engine_id": 2,
        "app_url": app.to_str().unwrap(), "boot_file_url": boot,
    });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({"job_name": name, "config": config})
}

#[tokio::test]
async fn completes_through_every_status_with_times_and_exit_code() {
    let s = TestServer::start(|_| {}).await;
    let (job, ver) = create_cmd(&s, "ok", "sleep 0.4; echo done").await;
    // Watch the statuses go by: they must follow the state machine's order.
    let order = [1, 2, 4, 7, 8, 10];
    let mut seen: Vec<i64> = vec![1];
    let deadline = Instant::now() + Duration::from_secs(30);
    let v = loop {
        let v = detail(&s, job, ver).await;
        let st = v["status"].as_i64().unwrap();
        if seen.last() != Some(&st) {
            seen.push(st);
        }
        if st == 10 {
            break v;
        }
        assert!(!TERMINAL.contains(&st), "ended in {st}: {v}");
        assert!(Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let positions: Vec<usize> = seen
        .iter()
        .map(|st| {
            order
                .iter()
                .position(|o| o == st)
                .unwrap_or_else(|| panic!("status {st} not expected ({seen:?})"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "out of order: {seen:?}"
    );
    assert!(
        seen.contains(&8),
        "RUNNING never observed while sleeping 0.4 s: {seen:?}"
    );
    assert_eq!(v["exit_code"], 0, "{v}");
    let (c, st, e) = (
        v["create_time"].as_i64().unwrap(),
        v["start_time"].as_i64().unwrap(),
        v["end_time"].as_i64().unwrap(),
    );
    assert!(c <= st && st <= e, "{v}");
    assert!(e - st >= 400, "ran at least 0.4 s: {v}");
    assert_eq!(v["duration"].as_i64().unwrap(), e - st, "{v}");
    assert!(!v["status_reason"].as_str().unwrap().is_empty(), "{v}");
    // The list shows the live status too.
    let (_, l) = s.list(&[("search_content", "ok")]).await;
    assert_eq!(l["jobs"][0]["status"], 10, "{l}");
    assert_eq!(l["jobs"][0]["duration"].as_i64().unwrap(), e - st, "{l}");
    // Terminal: stop is 409.
    let r = s
        .post(&format!("{}/stop", vpath(job, ver)), &json!({}))
        .await;
    assert_error(&r, 409, "ModelArts.2796", &[]);
}

#[tokio::test]
async fn non_zero_exit_fails_with_its_code() {
    let s = TestServer::start(|_| {}).await;
    let (job, ver) = create_cmd(&s, "bad", "echo oops >&2; exit 3").await;
    let v = wait_status(&s, job, ver, &[11]).await;
    assert_eq!(v["exit_code"], 3, "{v}");
    assert!(
        v["status_reason"].as_str().unwrap().contains("code 3"),
        "{v}"
    );
    assert!(v["end_time"].is_i64() && v["start_time"].is_i64(), "{v}");
    let r = s
        .post(&format!("{}/stop", vpath(job, ver)), &json!({}))
        .await;
    assert_error(&r, 409, "ModelArts.2796", &[]);
}

#[tokio::test]
async fn missing_app_dir_or_boot_file_is_image_failed() {
    let s = TestServer::start(|_| {}).await;
    let app = tempfile::tempdir().unwrap();
    let missing = app.path().join("nowhere");
    let (job, ver) = create(&s, &bash_body("noapp", &missing, "run.sh", json!({}))).await;
    let v = wait_status(&s, job, ver, &[3]).await;
    let reason = v["status_reason"].as_str().unwrap();
    assert!(reason.contains(missing.to_str().unwrap()), "{v}");
    assert_eq!(v["duration"], 0, "{v}");
    assert_eq!(v["start_time"], Value::Null, "{v}");
    assert!(v["end_time"].is_i64(), "{v}");

    let (job, ver) = create(&s, &bash_body("noboot", app.path(), "run.sh", json!({}))).await;
    let v = wait_status(&s, job, ver, &[3]).await;
    let boot = app.path().join("run.sh");
    assert!(
        v["status_reason"]
            .as_str()
            .unwrap()
            .contains(boot.to_str().unwrap()),
        "{v}"
    );
    let r = s
        .post(&format!("{}/stop", vpath(job, ver)), &json!({}))
        .await;
    assert_error(&r, 409, "ModelArts.2796", &[]);
}

#[tokio::test]
async fn engine_command_that_cannot_start_is_submit_failed() {
    let s = TestServer::start(|c| {
        c.engines.push(EngineConfig {
            engine: Engine {
                engine_id: 99,
                engine_type: 13,
                engine_name: "Broken".into(),
                engine_version: "none".into(),
            },
            command: "trainyard-no-such-interpreter -u".into(),
        });
    })
    .await;
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("main.py"), "print(1)\n").unwrap();
    let mut body = bash_body("broken", app.path(), "main.py", json!({}));
    body["config"]["engine_id"] = json!(99);
    let (job, ver) = create(&s, &body).await;
    let v = wait_status(&s, job, ver, &[5]).await;
    assert!(
        v["status_reason"]
            .as_str()
            .unwrap()
            .contains("trainyard-no-such-interpreter"),
        "{v}"
    );
    assert_eq!(v["start_time"], Value::Null, "{v}");
    assert_eq!(v["duration"], 0, "{v}");
}

#[tokio::test]
async fn engine_gets_boot_file_parameters_urls_and_cwd() {
    let s = TestServer::start(|_| {}).await;
    let app = tempfile::tempdir().unwrap();
    let out = scratch();
    let data = tempfile::tempdir().unwrap();
    let data_url = data.path().to_str().unwrap();
    std::fs::write(
        app.path().join("run.sh"),
        "printf '%s\\n' \"$@\" > \"$TRAIN_URL/args\"\npwd > \"$TRAIN_URL/cwd\"\necho \"$DATA_URL\" > \"$TRAIN_URL/data\"\n",
    )
    .unwrap();
    let extra = json!({
        "parameter": [{"label": "lr", "value": "0.1"}, {"label": "epochs", "value": 3}],
        "data_url": data_url, "train_url": out.path().to_str().unwrap(),
    });
    let (job, ver) = create(&s, &bash_body("args", app.path(), "run.sh", extra)).await;
    wait_status(&s, job, ver, &[10]).await;
    let args = std::fs::read_to_string(out.path().join("args")).unwrap();
    let want = format!(
        "--lr=0.1\n--epochs=3\n--data_url={data_url}\n--train_url={}\n",
        out.path().display()
    );
    assert_eq!(args, want);
    let cwd = std::fs::read_to_string(out.path().join("cwd")).unwrap();
    assert_eq!(
        Path::new(cwd.trim()).canonicalize().unwrap(),
        app.path().canonicalize().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("data")).unwrap(),
        format!("{data_url}\n")
    );
}

#[tokio::test]
async fn stop_before_start_cancels_and_stop_while_running_kills() {
    // One slot per project: the second version waits in 7.
    let s = TestServer::start(|c| c.quotas = 1).await;
    let (j1, v1) = create_cmd(&s, "first", "sleep 30").await;
    wait_status(&s, j1, v1, &[8]).await;
    let (j2, v2) = create_cmd(&s, "second", "touch should-not-run; sleep 30").await;
    wait_status(&s, j2, v2, &[7]).await;
    let (c, _) = s.post(&format!("{}/stop", vpath(j2, v2)), &json!({})).await;
    assert_eq!(c, 200);
    // Stored before the answer: the next read shows it.
    let d = detail(&s, j2, v2).await;
    assert_eq!(d["status"], 13, "{d}");
    assert_eq!(d["duration"], 0, "{d}");
    assert_eq!(d["start_time"], Value::Null, "{d}");

    // A version stopped right after its create (1, 2, 4 or 7 while the slot is taken).
    let (j3, v3) = create_cmd(&s, "third", "sleep 30").await;
    let (c, b) = s.post(&format!("{}/stop", vpath(j3, v3)), &json!({})).await;
    assert_eq!(c, 200, "{b}");
    assert_eq!(detail(&s, j3, v3).await["status"], 13);

    // Stop the running one: 9 at once, then 12 with the signal in the reason.
    let (c, _) = s.post(&format!("{}/stop", vpath(j1, v1)), &json!({})).await;
    assert_eq!(c, 200);
    let st = detail(&s, j1, v1).await["status"].as_i64().unwrap();
    assert!(st == 9 || st == 12, "after stop: {st}");
    let d = wait_status(&s, j1, v1, &[12]).await;
    assert_eq!(d["exit_code"], 143, "{d}");
    assert!(
        d["status_reason"].as_str().unwrap().contains("SIGTERM"),
        "{d}"
    );
    assert_eq!(
        d["duration"].as_i64().unwrap(),
        d["end_time"].as_i64().unwrap() - d["start_time"].as_i64().unwrap()
    );
    let r = s.post(&format!("{}/stop", vpath(j1, v1)), &json!({})).await;
    assert_error(&r, 409, "ModelArts.2796", &["JOBSTAT_KILLED"]);
    let r = s.post(&format!("{}/stop", vpath(j2, v2)), &json!({})).await;
    assert_error(&r, 409, "ModelArts.2796", &[]);
    // The canceled versions never ran, even after the slot freed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(detail(&s, j2, v2).await["status"], 13);
    assert_eq!(detail(&s, j3, v3).await["status"], 13);
    let r = s
        .post("/training-jobs/987654321/versions/1/stop", &json!({}))
        .await;
    assert_error(&r, 404, "ModelArts.2775", &[]);
}

#[tokio::test]
async fn stop_of_a_killing_version_is_a_no_op_then_sigkill_after_grace() {
    // The worker ignores SIGTERM, so the version stays in 9 until SIGKILL after the grace.
    let s = TestServer::start(|c| c.stop_grace_secs = 1.5).await;
    let (j, v) = create_cmd(&s, "stubborn", "trap '' TERM; sleep 30").await;
    wait_status(&s, j, v, &[8]).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // let the trap be installed
    let t0 = Instant::now();
    let (c, _) = s.post(&format!("{}/stop", vpath(j, v)), &json!({})).await;
    assert_eq!(c, 200);
    assert_eq!(detail(&s, j, v).await["status"], 9);
    let (c, b) = s.post(&format!("{}/stop", vpath(j, v)), &json!({})).await;
    assert_eq!(c, 200, "stop of 9 is a no-op: {b}");
    let d = wait_status(&s, j, v, &[12]).await;
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "killed before the grace: {:?}",
        t0.elapsed()
    );
    assert_eq!(d["exit_code"], 137, "{d}");
    assert!(
        d["status_reason"].as_str().unwrap().contains("SIGKILL"),
        "{d}"
    );
}

/// The most versions whose recorded runs overlap: the largest number of `[start_time,
/// end_time)` intervals holding one instant. The supervisor takes `start_time` after a slot is
/// taken and frees the slot only after `end_time` is stored, so this is a lower bound on the
/// slots held at once, computed from the record (no sampling, so no timing).
fn max_overlap(runs: &[(i64, i64)]) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for &(start, end) in runs {
        assert!(start <= end, "{runs:?}");
        // at one instant an end (-1) sorts before a start (+1): touching runs do not overlap
        edges.push((start, 1));
        edges.push((end, -1));
    }
    edges.sort_unstable();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in edges {
        now += d;
        most = most.max(now);
    }
    usize::try_from(most).unwrap()
}

#[test]
fn max_overlap_counts_runs_at_one_instant() {
    assert_eq!(max_overlap(&[]), 0);
    assert_eq!(max_overlap(&[(0, 10)]), 1);
    assert_eq!(max_overlap(&[(0, 10), (10, 20), (20, 30)]), 1);
    assert_eq!(max_overlap(&[(0, 10), (9, 20), (20, 30)]), 2);
    assert_eq!(max_overlap(&[(0, 30), (5, 10), (8, 12), (11, 40)]), 3);
}

/// A command that runs until the file `gate` exists.
fn gated(gate: &Path) -> String {
    format!(
        "while [ ! -e '{}' ]; do sleep 0.02; done",
        gate.to_str().unwrap()
    )
}

/// Waits (60 s at most) until every version's status is the wanted one (`want[i]` for
/// `versions[i]`), then returns the details. Meant for states that cannot change while the
/// runs are held at a gate.
async fn wait_statuses(s: &TestServer, versions: &[(i64, i64)], want: &[i64]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut ds = Vec::new();
        for &(j, v) in versions {
            ds.push(detail(s, j, v).await);
        }
        let now: Vec<i64> = ds.iter().map(|d| d["status"].as_i64().unwrap()).collect();
        if now == want {
            return ds;
        }
        assert!(
            Instant::now() < deadline,
            "statuses {now:?}, wanted {want:?}: {ds:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The recorded `(start_time, end_time)` of each version, once all are COMPLETED (60 s at most).
async fn completed_runs(s: &TestServer, versions: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut runs = Vec::new();
    for &(j, v) in versions {
        let d = wait_status(s, j, v, &[10]).await;
        runs.push((
            d["start_time"].as_i64().unwrap(),
            d["end_time"].as_i64().unwrap(),
        ));
    }
    runs
}

#[tokio::test]
async fn quotas_cap_running_versions_and_they_start_fifo() {
    let s = TestServer::start(|c| c.quotas = 2).await;
    let marks = tempfile::tempdir().unwrap();
    let gate = marks.path().join("gate");
    let mut vs = Vec::new();
    for i in 0..5 {
        vs.push(create_cmd(&s, &format!("q{i}"), &gated(&gate)).await);
    }
    // Held at the gate, nothing can end: the first two hold the project's two slots (the cap is
    // used, in creation order) and the other three wait in 7.
    let ds = wait_statuses(&s, &vs, &[8, 8, 7, 7, 7]).await;
    assert!(
        ds[2]["status_reason"]
            .as_str()
            .unwrap()
            .contains("(quotas)"),
        "{}",
        ds[2]
    );
    std::fs::write(&gate, "").unwrap();
    let runs = completed_runs(&s, &vs).await;
    // never more than 2 at once over the whole life of the runs (from the recorded times)
    assert_eq!(max_overlap(&runs), 2, "{runs:?}");
    // FIFO: in creation order; the third starts only after one of the first two ended.
    assert!(runs.windows(2).all(|w| w[0].0 <= w[1].0), "{runs:?}");
    assert!(runs[2].0 >= runs[0].1.min(runs[1].1), "{runs:?}");
    let (_, l) = s.list(&[]).await;
    assert_eq!(l["quotas"], 2, "{l}");
}

/// `max_running` = 1 holds across projects. The runs wait at a gate, so the states are stable
/// while they are checked, and the recorded start and end times prove that no two runs
/// overlapped at any moment (sampling the statuses could not: a version seen RUNNING may end
/// and the next start before the next request of the same sample).
#[tokio::test]
async fn max_running_caps_all_projects() {
    let s = TestServer::start(|c| {
        c.quotas = 4;
        c.max_running = 1;
    })
    .await;
    let other = "fedcba9876543210fedcba9876543210";
    assert_ne!(PROJECT, other);
    let marks = tempfile::tempdir().unwrap();
    let gate = marks.path().join("gate");
    let cmd = gated(&gate);
    let m0 = create_cmd(&s, "m0", &cmd).await;
    let resp = s
        .client
        .post(format!("{}/v1/{other}/training-jobs", s.base))
        .json(&TestServer::job_body("m1", &cmd))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    let m2 = create_cmd(&s, "m2", &cmd).await;
    let m1 = (
        r["job_id"].as_i64().unwrap(),
        r["version_id"].as_i64().unwrap(),
    );
    let other_detail = |(j, v): (i64, i64)| {
        let url = format!("{}/v1/{other}/training-jobs/{j}/versions/{v}", s.base);
        let client = s.client.clone();
        async move {
            let resp = client.get(url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    // m0 holds the only slot until the gate opens; m2 (same project) and m1 (the other
    // project, seen through its own path) wait in 7 for the server-wide cap.
    wait_statuses(&s, &[m0, m2], &[8, 7]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = other_detail(m1).await;
        if d["status"] == 7 {
            assert!(
                d["status_reason"]
                    .as_str()
                    .unwrap()
                    .contains("(max_running)"),
                "{d}"
            );
            break;
        }
        assert!(Instant::now() < deadline && d["status"] != 8, "{d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(detail(&s, m0.0, m0.1).await["status"], 8);
    std::fs::write(&gate, "").unwrap();
    let mut runs = completed_runs(&s, &[m0, m2]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let d = loop {
        let d = other_detail(m1).await;
        if d["status"] == 10 {
            break d;
        }
        assert!(Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    runs.push((
        d["start_time"].as_i64().unwrap(),
        d["end_time"].as_i64().unwrap(),
    ));
    assert_eq!(max_overlap(&runs), 1, "{runs:?}");
}

#[tokio::test]
async fn workers_get_rank_world_size_and_master_port() {
    let s = TestServer::start(|_| {}).await;
    let out = scratch();
    let mut body = TestServer::job_body(
        "ddp",
        "echo \"$RANK $WORLD_SIZE $LOCAL_RANK $MASTER_ADDR $MASTER_PORT\" > \"$TRAIN_URL/rank-$RANK\"",
    );
    body["config"]["worker_server_num"] = json!(3);
    body["config"]["train_url"] = json!(out.path().to_str().unwrap());
    let (j, v) = create(&s, &body).await;
    wait_status(&s, j, v, &[10]).await;
    let mut ports = Vec::new();
    for rank in 0..3 {
        let line = std::fs::read_to_string(out.path().join(format!("rank-{rank}"))).unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            f[..4],
            [
                rank.to_string().as_str(),
                "3",
                rank.to_string().as_str(),
                "127.0.0.1"
            ],
            "{line}"
        );
        let port: u16 = f[4].parse().unwrap();
        assert!(port > 0);
        ports.push(port);
    }
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    let (_, names) = s.get(&format!("{}/log/file-names", vpath(j, v)), &[]).await;
    assert_eq!(
        names["log_file_list"],
        json!(["ddp-V0001.0", "ddp-V0001.1", "ddp-V0001.2"])
    );
}

#[tokio::test]
async fn one_failing_worker_fails_the_version_and_stops_the_others() {
    let s = TestServer::start(|_| {}).await;
    let mut body = TestServer::job_body(
        "ddpfail",
        "if [ \"$RANK\" = 1 ]; then sleep 0.2; exit 4; fi; sleep 30",
    );
    body["config"]["worker_server_num"] = json!(2);
    let t0 = Instant::now();
    let (j, v) = create(&s, &body).await;
    let d = wait_status(&s, j, v, &[11]).await;
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the others were not stopped: {:?}",
        t0.elapsed()
    );
    assert_eq!(d["exit_code"], 4, "{d}");
    assert!(
        d["status_reason"].as_str().unwrap().contains("worker 1"),
        "{d}"
    );
}

#[tokio::test]
async fn deleting_stops_runs_and_waiting_versions_never_start() {
    let out = scratch();
    let s = TestServer::start(|c| {
        c.quotas = 1;
        share(c, out.path());
    })
    .await;
    let o = out.path().to_str().unwrap();
    let (j1, v1) = create_cmd(&s, "del-run", &format!("echo $$ > {o}/pid; exec sleep 30")).await;
    wait_status(&s, j1, v1, &[8]).await;
    let pid: i32 = wait_file(&out.path().join("pid"))
        .await
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    let (j2, v2) = create_cmd(&s, "del-wait", &format!("touch {o}/ran")).await;
    wait_status(&s, j2, v2, &[7]).await;
    // A version of a job: deleting the waiting one first.
    let (c, _) = s.delete(&format!("/training-jobs/{j2}")).await;
    assert_eq!(c, 200);
    let (c, _) = s.delete(&format!("/training-jobs/{j1}")).await;
    assert_eq!(c, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the deleted version's process still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its end is not recorded anywhere, and the waiting one never ran even with a free slot.
    let (_, v3) = create_cmd(&s, "after", "true").await;
    let _ = v3;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!out.path().join("ran").exists());
    let (c, _) = s.get(&vpath(j1, v1), &[]).await;
    assert_eq!(c, 404);
    let (_, l) = s.list(&[]).await;
    assert_eq!(l["job_total_count"], 1, "{l}");
}

#[tokio::test]
async fn deleting_one_running_version_keeps_the_job() {
    let out = scratch();
    let s = TestServer::start(|c| share(c, out.path())).await;
    let o = out.path().to_str().unwrap();
    let (j, v1) = create_cmd(&s, "twover", "true").await;
    wait_status(&s, j, v1, &[10]).await;
    let (c, b) = s
        .post(&format!("/training-jobs/{j}/versions"), &json!({"config": {"pre_version_id": v1, "user_command": format!("echo $$ > {o}/pid; exec sleep 30")}}))
        .await;
    assert_eq!(c, 200, "{b}");
    let v2 = b["version_id"].as_i64().unwrap();
    wait_status(&s, j, v2, &[8]).await;
    let pid: i32 = wait_file(&out.path().join("pid"))
        .await
        .trim()
        .parse()
        .unwrap();
    let (c, _) = s.delete(&vpath(j, v2)).await;
    assert_eq!(c, 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the deleted version's process still runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, l) = s.list(&[]).await;
    assert_eq!(l["jobs"][0]["version_id"], v1, "{l}");
    assert_eq!(l["jobs"][0]["status"], 10, "{l}");
    assert_eq!(l["jobs"][0]["version_count"], 1, "{l}");
}

/// The repository root (for `examples/`).
fn repo_root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Whether `python3`, as the workers find it (their user, `PATH`), imports scikit-learn. A root
/// server's workers run as `nobody`, which cannot use a `python3` under `/root` (pyenv): CI
/// installs Debian's `python3-sklearn` for them.
pub(crate) fn workers_python_has_sklearn() -> bool {
    use std::os::unix::process::CommandExt;
    let mut c = std::process::Command::new("sh");
    c.args(["-c", "python3 -c 'import sklearn, joblib'"])
        .current_dir("/")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let me = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").unwrap().uid()
    };
    if me == 0 {
        c.uid(65534).gid(65534);
    }
    c.status().is_ok_and(|s| s.success())
}

#[tokio::test]
async fn digits_example_trains_end_to_end() {
    if !workers_python_has_sklearn() {
        assert!(
            std::env::var("TRAINYARD_REQUIRE_SKLEARN").as_deref() != Ok("1"),
            "the workers' python3 has no scikit-learn (apt-get install python3-sklearn), and TRAINYARD_REQUIRE_SKLEARN=1"
        );
        eprintln!(
            "SKIP digits_example_trains_end_to_end: the workers' python3 has no scikit-learn"
        );
        return;
    }
    // the example, copied where the workers' user can read it (the checkout may be under a
    // directory it cannot enter, e.g. /root)
    let code = tempfile::tempdir().unwrap();
    let app = code.path().join("digits");
    std::fs::create_dir(&app).unwrap();
    for f in ["train.py", "README.md"] {
        std::fs::copy(repo_root().join("examples/digits").join(f), app.join(f)).unwrap();
    }
    let outs = scratch();
    let out = outs.path().join("out");
    let s = TestServer::start(|_| {}).await;
    let body = json!({"job_name": "digits", "config": {
        "worker_server_num": 1, "spec_id": 1, "engine_id": 4,
        "app_url": app.to_str().unwrap(), "boot_file_url": "train.py",
        "train_url": out.to_str().unwrap(),
        "parameter": [{"label": "folds", "value": "3"}],
    }});
    let (j, v) = create(&s, &body).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let d = loop {
        let d = detail(&s, j, v).await;
        if TERMINAL.contains(&d["status"].as_i64().unwrap()) {
            break d;
        }
        assert!(Instant::now() < deadline, "{d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (_, page) = s
        .get(
            &format!("{}/aom-log", vpath(j, v)),
            &[("log_file", "digits-V0001.0"), ("lines", "500")],
        )
        .await;
    let log = page["content"].as_str().unwrap();
    assert_eq!(d["status"], 10, "{d}\n{log}");
    let metrics: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let acc = metrics["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "a real classifier on digits: {metrics}");
    assert!(out.join("model.joblib").is_file());
    assert!(log.contains("fold 1/3"), "{log}");
    assert!(log.contains("test accuracy"), "{log}");
}
