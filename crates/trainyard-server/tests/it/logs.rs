//! `log/file-names` and `aom-log` over HTTP (`training-jobs.md` §10–11), and `log_url` copies.

use crate::common::{TestServer, assert_error};
use crate::lifecycle::{create, create_cmd, vpath, wait_status};
use serde_json::{Value, json};

/// GETs one page; returns the body and its lines (checking `lines` and the trailing `\n`).
async fn page(s: &TestServer, j: i64, v: i64, q: &[(&str, &str)]) -> (Value, Vec<String>) {
    let (c, b) = s.get(&format!("{}/aom-log", vpath(j, v)), q).await;
    assert_eq!(c, 200, "{q:?}: {b}");
    let content = b["content"].as_str().unwrap();
    assert!(content.is_empty() || content.ends_with('\n'), "{b}");
    let lines: Vec<String> = content.lines().map(str::to_owned).collect();
    assert_eq!(b["lines"].as_u64().unwrap() as usize, lines.len(), "{b}");
    (b, lines)
}

#[tokio::test]
async fn a_120_line_log_walked_back_and_forth() {
    let s = TestServer::start(|_| {}).await;
    let name = "logwalk";
    let (j, v) = create_cmd(
        &s,
        name,
        "i=1; while [ $i -le 120 ]; do printf 'line-%04d\\n' $i; i=$((i+1)); done",
    )
    .await;
    wait_status(&s, j, v, &[10]).await;
    let (c, fnames) = s.get(&format!("{}/log/file-names", vpath(j, v)), &[]).await;
    assert_eq!(c, 200);
    assert_eq!(fnames["log_file_list"], json!([format!("{name}-V0001.0")]));
    let file = format!("{name}-V0001.0");
    let want: Vec<String> = (1..=120).map(|i| format!("line-{i:04}")).collect();

    // Newest 50 by default.
    let (r1, l1) = page(&s, j, v, &[("log_file", &file)]).await;
    assert_eq!(l1, want[70..]);
    // Back with order=asc from start_line: 50, then 20, then nothing.
    let mut back = vec![l1.clone()];
    let mut cur = r1.clone();
    loop {
        let base = cur["start_line"].as_str().unwrap().to_owned();
        let (r, l) = page(
            &s,
            j,
            v,
            &[
                ("log_file", &file),
                ("base_line", &base),
                ("order", "asc"),
                ("lines", "50"),
            ],
        )
        .await;
        if l.is_empty() {
            assert_eq!(
                r["start_line"],
                base.as_str(),
                "empty page echoes the cursor: {r}"
            );
            assert_eq!(r["end_line"], base.as_str(), "{r}");
            break;
        }
        back.insert(0, l);
        cur = r;
        assert!(back.len() <= 4);
    }
    assert_eq!(back.iter().map(Vec::len).collect::<Vec<_>>(), [20, 50, 50]);
    assert_eq!(back.concat(), want);
    let oldest = cur.clone();
    // Forward from the oldest page with the default order (desc = after base_line).
    let mut fwd = vec![back[0].clone()];
    loop {
        let base = cur["end_line"].as_str().unwrap().to_owned();
        let (r, l) = page(
            &s,
            j,
            v,
            &[("log_file", &file), ("base_line", &base), ("lines", "50")],
        )
        .await;
        if l.is_empty() {
            break;
        }
        fwd.push(l);
        cur = r;
        assert!(fwd.len() <= 4);
    }
    assert_eq!(fwd.iter().map(Vec::len).collect::<Vec<_>>(), [20, 50, 50]);
    assert_eq!(fwd.concat(), want);
    let base = oldest["start_line"].as_str().unwrap().to_owned();
    let (_, l) = page(
        &s,
        j,
        v,
        &[
            ("log_file", &file),
            ("base_line", &base),
            ("order", "desc"),
            ("lines", "5"),
        ],
    )
    .await;
    assert_eq!(l, want[1..6]);
    let (_, l) = page(&s, j, v, &[("log_file", &file), ("lines", "0")]).await;
    assert!(l.is_empty());
    let (_, l) = page(&s, j, v, &[("log_file", &file), ("lines", "500")]).await;
    assert_eq!(l, want);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let s = TestServer::start(|_| {}).await;
    let (j, v) = create_cmd(&s, "logbad", "echo one").await;
    wait_status(&s, j, v, &[10]).await;
    let path = format!("{}/aom-log", vpath(j, v));
    let f = "logbad-V0001.0";
    for (q, name) in [
        (vec![], "log_file"),
        (vec![("log_file", "logbad-V0001.1")], "log_file"),
        (vec![("log_file", "../../etc/passwd")], "log_file"),
        (vec![("log_file", f), ("lines", "501")], "lines"),
        (vec![("log_file", f), ("lines", "-1")], "lines"),
        (vec![("log_file", f), ("lines", "ten")], "lines"),
        (vec![("log_file", f), ("order", "sideways")], "order"),
        (vec![("log_file", f), ("base_line", "abc")], "base_line"),
    ] {
        let r = s.get(&path, &q).await;
        assert_error(&r, 400, "ModelArts.0101", &[name]);
    }
    let r = s
        .get(&format!("{}/aom-log", vpath(j, 987654)), &[("log_file", f)])
        .await;
    assert_error(&r, 404, "ModelArts.2775", &[]);
    let r = s
        .get(&format!("{}/log/file-names", vpath(987654, v)), &[])
        .await;
    assert_error(&r, 404, "ModelArts.2775", &[]);
    let (_, l) = page(&s, j, v, &[("log_file", f), ("order", "ASC")]).await;
    assert_eq!(l, ["one"]);
}

#[tokio::test]
async fn a_log_that_does_not_exist_yet_is_an_empty_page() {
    let s = TestServer::start(|c| c.quotas = 1).await;
    let (j1, v1) = create_cmd(&s, "holder", "sleep 30").await;
    wait_status(&s, j1, v1, &[8]).await;
    let (j, v) = create_cmd(&s, "queued", "echo hi").await;
    wait_status(&s, j, v, &[7]).await;
    let (b, l) = page(&s, j, v, &[("log_file", "queued-V0001.0")]).await;
    assert!(l.is_empty());
    assert_eq!(
        (
            b["content"].as_str(),
            b["start_line"].as_str(),
            b["end_line"].as_str()
        ),
        (Some(""), Some(""), Some("")),
        "{b}"
    );
    let (b, _) = page(
        &s,
        j,
        v,
        &[
            ("log_file", "queued-V0001.0"),
            ("base_line", "0"),
            ("order", "asc"),
        ],
    )
    .await;
    assert_eq!(
        (b["start_line"].as_str(), b["end_line"].as_str()),
        (Some("0"), Some("0")),
        "{b}"
    );
    for (jj, vv) in [(j1, v1), (j, v)] {
        let (c, _) = s.post(&format!("{}/stop", vpath(jj, vv)), &json!({})).await;
        assert_eq!(c, 200);
    }
    wait_status(&s, j1, v1, &[12]).await;
}

#[tokio::test]
async fn lines_are_readable_while_the_version_runs() {
    let s = TestServer::start(|_| {}).await;
    let (j, v) = create_cmd(&s, "tail", "echo first; echo second >&2; sleep 30").await;
    wait_status(&s, j, v, &[8]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, l) = page(&s, j, v, &[("log_file", "tail-V0001.0")]).await;
        if l.len() == 2 {
            assert_eq!(
                l,
                ["first", "second"],
                "stdout and stderr interleaved in order"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{l:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let (c, _) = s.post(&format!("{}/stop", vpath(j, v)), &json!({})).await;
    assert_eq!(c, 200);
    wait_status(&s, j, v, &[12]).await;
}

#[tokio::test]
async fn log_url_receives_a_copy_per_worker_when_the_version_ends() {
    let s = TestServer::start(|_| {}).await;
    let dest = crate::common::scratch();
    let logs = dest.path().join("copies");
    let mut body = TestServer::job_body(
        "copied",
        "echo \"worker $RANK\"; echo last-no-newline | tr -d '\\n'",
    );
    body["config"]["worker_server_num"] = json!(2);
    body["config"]["log_url"] = json!(logs.to_str().unwrap());
    let (j, v) = create(&s, &body).await;
    let d = wait_status(&s, j, v, &[10]).await;
    assert_eq!(d["log_url"], logs.to_str().unwrap());
    for rank in 0..2 {
        let copy = std::fs::read_to_string(logs.join(format!("copied-V0001.{rank}"))).unwrap();
        assert_eq!(copy, format!("worker {rank}\nlast-no-newline\n"));
    }
    // written with the worker's rights, not the server's
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(logs.join("copied-V0001.0"))
        .unwrap()
        .uid();
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    assert_eq!(owner, if me == 0 { 65534 } else { me });
}

/// Issue 9 §1: the `log_url` copy is done with the worker's rights: a directory the workers'
/// user may not write stays untouched, even though the server (root here) could write it.
#[tokio::test]
async fn log_url_the_worker_cannot_write_gets_nothing() {
    let s = TestServer::start(|_| {}).await;
    let me = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").unwrap().uid()
    };
    if me != 0 {
        eprintln!(
            "SKIP log_url_the_worker_cannot_write_gets_nothing: workers run as the server's user"
        );
        return;
    }
    let dest = tempfile::tempdir().unwrap(); // 0755 root: not the worker's
    let logs = dest.path().join("copies");
    let mut body = TestServer::job_body("nocopy", "echo hello");
    body["config"]["log_url"] = json!(logs.to_str().unwrap());
    let (j, v) = create(&s, &body).await;
    let d = wait_status(&s, j, v, &[10]).await;
    assert_eq!(d["status"], 10, "the run itself is fine: {d}");
    assert!(
        !logs.exists(),
        "the server created {} with its own rights",
        logs.display()
    );
}

/// One server-sent event: (event, id, data).
type Sse = (String, String, String);

/// Reads a whole SSE response (the stream closes after `end`), 20 s at most.
pub(crate) async fn sse(
    s: &TestServer,
    path: &str,
    query: &[(&str, &str)],
    last_id: Option<&str>,
) -> Vec<Sse> {
    let mut req = s.client.get(s.url(path)).query(query);
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let body = tokio::time::timeout(std::time::Duration::from_secs(20), resp.text())
        .await
        .expect("the stream ends after the version")
        .unwrap();
    let mut events = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let (mut ev, mut id, mut data) = (String::new(), String::new(), Vec::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                ev = v.to_owned();
            } else if let Some(v) = line.strip_prefix("id: ") {
                id = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
                data.push(v.to_owned());
            }
        }
        if !ev.is_empty() {
            events.push((ev, id, data.join("\n")));
        }
    }
    events
}

#[tokio::test]
async fn log_stream_follows_until_the_version_ends_and_resumes_from_last_event_id() {
    let s = TestServer::start(|_| {}).await;
    let (j, v) = create_cmd(&s, "follow", "echo a; sleep 0.4; echo b; printf c").await;
    wait_status(&s, j, v, &[8]).await;
    let path = format!("{}/log/stream", vpath(j, v));
    let events = sse(&s, &path, &[("log_file", "follow-V0001.0")], None).await;
    let (last, logs) = events.split_last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.2.as_str()),
        ("end", "10"),
        "{events:?}"
    );
    let text: String = logs.iter().map(|e| e.2.as_str()).collect();
    assert_eq!(text, "a\nb\nc\n", "{events:?}");
    assert!(logs.iter().all(|e| e.0 == "log"));
    assert_eq!(
        logs.last().unwrap().1,
        "6",
        "ids are byte offsets after the chunk"
    );
    // Resume after the first chunk: only the rest comes.
    let first_end = logs[0].1.clone();
    let rest = sse(
        &s,
        &path,
        &[("log_file", "follow-V0001.0")],
        Some(&first_end),
    )
    .await;
    let text: String = rest
        .iter()
        .filter(|e| e.0 == "log")
        .map(|e| e.2.as_str())
        .collect();
    let skip: usize = first_end.parse().unwrap();
    assert_eq!(text, &"a\nb\nc\n"[skip..]);
    // Issue 9 §3: resuming past the end (offset or Last-Event-ID) resumes at the end: no log
    // event, only the end of the finished version.
    for (query, last_id) in [
        (
            vec![("log_file", "follow-V0001.0"), ("offset", "999999")],
            None,
        ),
        (vec![("log_file", "follow-V0001.0")], Some("7")),
    ] {
        let past = sse(&s, &path, &query, last_id).await;
        assert_eq!(past.len(), 1, "{past:?}");
        assert_eq!((past[0].0.as_str(), past[0].2.as_str()), ("end", "10"));
    }
    let r = s.get(&path, &[("log_file", "nope")]).await;
    assert_error(&r, 400, "ModelArts.0101", &["log_file"]);
    let r = s
        .get(&path, &[("log_file", "follow-V0001.0"), ("offset", "x")])
        .await;
    assert_error(&r, 400, "ModelArts.0101", &["offset"]);
}
