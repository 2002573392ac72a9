//! Operations through the real binary: every request's log lines carry its request id, JSON
//! logs, no colour codes when stderr is not a terminal.

use crate::server::{ServerProc, client, free_port, serve_args};
use std::process::Command;

fn serve(format: &str) -> (ServerProc, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
    cmd.args(serve_args(port, &dir.path().join("data")))
        .args(["--log-format", format])
        .env("TRAINYARD_LOG", "info,tower_http=debug")
        .env_remove("NO_COLOR");
    (ServerProc::spawn(cmd, port), dir)
}

/// Waits (bounded) until some log line contains every needle; returns it.
fn line_with(s: &ServerProc, needles: &[&str]) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(l) = s
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| needles.iter().all(|n| l.contains(n)))
        {
            return l.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line with {needles:?}:\n{}",
            s.log.lock().unwrap().join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn json_logs_carry_the_request_id_and_route() {
    let (s, _dir) = serve("json");
    // the client's id is kept and echoed
    let r = client()
        .get(s.url("/training-jobs?per_page=2"))
        .header("X-Request-Id", "ops-test-4711")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "ops-test-4711");
    let line = line_with(&s, &["ops-test-4711"]);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["span"]["request_id"], "ops-test-4711", "{v}");
    assert_eq!(v["span"]["route"], "/v1/{project_id}/training-jobs", "{v}");
    assert_eq!(v["span"]["method"], "GET", "{v}");
    // without one, the server makes one, answers it, and logs under it (an error answer too)
    let r = client().get(s.url("/training-jobs/0")).send().unwrap();
    assert_eq!(r.status(), 405);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let line = line_with(&s, &[&id]);
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["span"]["request_id"], id.as_str(), "{v}");
    // every line is one JSON object, none has colour codes
    for l in s.log.lock().unwrap().iter().filter(|l| l.starts_with('{')) {
        assert!(serde_json::from_str::<serde_json::Value>(l).is_ok(), "{l}");
    }
    assert!(!s.log.lock().unwrap().iter().any(|l| l.contains('\x1b')));
}

#[test]
fn text_logs_have_no_colour_codes_off_a_terminal() {
    let (s, _dir) = serve("text");
    let r = client()
        .get(s.url("/training-jobs"))
        .header("X-Request-Id", "plain-text-1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let line = line_with(&s, &["plain-text-1"]);
    assert!(line.contains("request_id=\"plain-text-1\""), "{line}");
    let log = s.log.lock().unwrap();
    assert!(log.len() > 3, "{log:?}");
    let coloured: Vec<&String> = log.iter().filter(|l| l.contains('\x1b')).collect();
    assert!(
        coloured.is_empty(),
        "ANSI codes in a piped log: {coloured:?}"
    );
}
