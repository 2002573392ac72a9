//! `follow_log`, `wait`, `log_lines` and `list_versions` against a scripted version.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::json;
use trainyard_client::{Error, Estimator, FollowOptions, JobStatus, Order, Session};

use crate::fake::{Fake, Reply, version_body};

/// A log that grows by one line per `aom-log` call up to `total` lines; cursors are line
/// numbers. The version is RUNNING until the log is complete, then COMPLETED.
async fn growing_log(initial: usize, total: usize) -> Fake {
    let written = AtomicUsize::new(initial);
    let status_calls = Mutex::new(0usize);
    Fake::start(move |seen, _| {
        if seen.path.ends_with("/aom-log") {
            assert_eq!(seen.param("log_file").as_deref(), Some("job-V0001.0"));
            let have = written.load(Ordering::SeqCst);
            let lines: usize = seen.param("lines").unwrap().parse().unwrap();
            let base = seen.param("base_line").unwrap();
            assert_eq!(seen.param("order").as_deref(), Some("desc"));
            let (from, to) = if base.is_empty() {
                (have.saturating_sub(lines), have)
            } else {
                let b: usize = base.parse().unwrap();
                (b, (b + lines).min(have))
            };
            let content: String = (from..to).map(|i| format!("line {}\n", i + 1)).collect();
            let (start, end) = if to > from { ((from + 1).to_string(), to.to_string()) } else { (base.clone(), base.clone()) };
            if have < total {
                written.store(have + 1, Ordering::SeqCst);
            }
            return Reply::ok(json!({"is_success": true, "content": content, "lines": to - from, "start_line": start, "end_line": end}));
        }
        *status_calls.lock().unwrap() += 1;
        let done = written.load(Ordering::SeqCst) >= total;
        Reply::ok(version_body(1, 2, if done { 10 } else { 8 }))
    })
    .await
}

fn opts(tail: u32) -> FollowOptions {
    FollowOptions {
        tail,
        poll_interval: Duration::from_millis(5),
    }
}

#[tokio::test]
async fn follow_shows_the_tail_then_new_lines_and_ends_after_a_terminal_status() {
    let fake = growing_log(5, 12).await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    let chunks: Vec<String> = Estimator::follow_log_with(&session, 1, 2, "job-V0001.0", opts(3))
        .try_collect()
        .await
        .unwrap();
    let text = chunks.concat();
    let expected: String = (3..=12).map(|i| format!("line {i}\n")).collect();
    assert_eq!(text, expected);
    let seen = fake.requests();
    assert_eq!(seen[0].param("base_line").as_deref(), Some(""));
    assert_eq!(seen[0].param("lines").as_deref(), Some("3"));
    assert!(
        seen[1..]
            .iter()
            .filter(|s| s.path.ends_with("/aom-log"))
            .all(|s| s.param("lines").as_deref() == Some("500"))
    );
    // The last two calls: the terminal status, then one last empty page.
    let last = &seen[seen.len() - 1];
    assert!(last.path.ends_with("/aom-log"));
    assert!(seen[seen.len() - 2].path.ends_with("/versions/2"));
}

#[tokio::test]
async fn follow_with_tail_zero_shows_only_new_lines() {
    let fake = growing_log(5, 8).await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    let text: String = Estimator::follow_log_with(&session, 1, 2, "job-V0001.0", opts(0))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .concat();
    assert_eq!(text, "line 6\nline 7\nline 8\n");
}

#[tokio::test]
async fn follow_reads_a_log_that_appears_later_from_its_start() {
    let fake = growing_log(0, 4).await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    let text: String = Estimator::follow_log_with(&session, 1, 2, "job-V0001.0", opts(50))
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .concat();
    assert_eq!(text, "line 1\nline 2\nline 3\nline 4\n");
}

#[tokio::test]
async fn follow_of_a_missing_version_ends_with_the_error() {
    let fake = Fake::start(|seen, _| {
        if seen.path.ends_with("/aom-log") {
            Reply::ok(json!({"is_success": true, "content": "", "lines": 0, "start_line": "", "end_line": ""}))
        } else {
            Reply::error(404, "ModelArts.2775", "version 2 of job 1 does not exist")
        }
    })
    .await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    let err = Estimator::follow_log(&session, 1, 2, "f")
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn wait_returns_the_final_version_or_times_out() {
    let calls = AtomicUsize::new(0);
    let fake = Fake::start(move |_, _| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Reply::ok(version_body(1, 2, if n < 3 { 8 } else { 11 }))
    })
    .await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    let v = Estimator::wait(
        &session,
        1,
        2,
        Duration::from_secs(10),
        Duration::from_millis(5),
    )
    .await
    .unwrap();
    assert_eq!(v.status, JobStatus::Failed);
    assert_eq!(fake.requests().len(), 4);
    assert_eq!(
        fake.requests()[0].path,
        "/v1/default/training-jobs/1/versions/2"
    );

    let fake = Fake::start(|_, _| Reply::ok(version_body(1, 2, 8))).await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    let err = Estimator::wait(
        &session,
        1,
        2,
        Duration::from_millis(50),
        Duration::from_millis(10),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::WaitTimeout {
                job_id: 1,
                version_id: 2,
                status: JobStatus::Running,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn log_pages_versions_and_configs_use_the_documented_paths() {
    let fake = Fake::start(|seen, _| {
        let p = seen.path.as_str();
        if p.ends_with("/file-names") {
            Reply::ok(json!({"is_success": true, "log_file_list": ["j-V0001.0", "j-V0001.1"]}))
        } else if p.ends_with("/aom-log") {
            Reply::ok(json!({"is_success": true, "content": "a\n", "lines": 1, "start_line": "c1", "end_line": "c1"}))
        } else if p.ends_with("/versions") && seen.method == "GET" {
            Reply::ok(json!({"is_success": true, "job_id": 1, "job_name": "j", "job_desc": "", "version_count": 1,
                             "versions": [version_body(1, 2, 10)]}))
        } else if p.ends_with("/versions") {
            Reply::ok(crate::fake::created_body())
        } else {
            Reply::ok(json!({"is_success": true, "configs": [], "config_total_count": 0}))
        }
    })
    .await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    assert_eq!(
        Estimator::log_file_names(&session, 1, 2).await.unwrap(),
        ["j-V0001.0", "j-V0001.1"]
    );
    let page = Estimator::log_lines(&session, 1, 2, "j-V0001.0", "c0", 100, Order::Asc)
        .await
        .unwrap();
    assert_eq!((page.content.as_str(), page.lines), ("a\n", 1));
    let versions = Estimator::list_versions(&session, 1, 20, 0).await.unwrap();
    assert_eq!(versions.versions[0].status, JobStatus::Completed);
    let overrides = trainyard_client::JobConfig {
        spec_id: Some(2),
        ..Default::default()
    };
    Estimator::create_version(&session, 1, 2, "bigger spec", &overrides)
        .await
        .unwrap();
    let configs = Estimator::list_configs(
        &session,
        &trainyard_client::ConfigListParams::new().per_page(5),
    )
    .await
    .unwrap();
    assert_eq!(configs["config_total_count"], 0);
    Estimator::get_config(&session, "cfg-1").await.unwrap();
    Estimator::create_config(&session, &json!({"config_name": "cfg-1", "spec_id": 1}))
        .await
        .unwrap();
    Estimator::update_config(&session, "cfg-1", &json!({"config_desc": "d"}))
        .await
        .unwrap();
    Estimator::delete_config(&session, "cfg-1").await.unwrap();

    let seen = fake.requests();
    let got: Vec<(String, String, String)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.path.clone(), s.query.clone()))
        .collect();
    let e = |m: &str, p: &str, q: &str| (m.to_owned(), p.to_owned(), q.to_owned());
    assert_eq!(
        got,
        vec![
            e(
                "GET",
                "/v1/default/training-jobs/1/versions/2/log/file-names",
                ""
            ),
            e(
                "GET",
                "/v1/default/training-jobs/1/versions/2/aom-log",
                "log_file=j-V0001.0&base_line=c0&lines=100&order=asc"
            ),
            e(
                "GET",
                "/v1/default/training-jobs/1/versions",
                "per_page=20&page=0"
            ),
            e("POST", "/v1/default/training-jobs/1/versions", ""),
            e("GET", "/v1/default/training-job-configs", "per_page=5"),
            e("GET", "/v1/default/training-job-configs/cfg-1", ""),
            e("POST", "/v1/default/training-job-configs", ""),
            e("PUT", "/v1/default/training-job-configs/cfg-1", ""),
            e("DELETE", "/v1/default/training-job-configs/cfg-1", ""),
        ]
    );
    let body: serde_json::Value = serde_json::from_slice(&seen[3].body).unwrap();
    assert_eq!(
        body,
        json!({"job_desc": "bigger spec", "config": {"spec_id": 2, "pre_version_id": 2}})
    );
}
