//! AK/SK: what the SDK signs is what it sends, and it verifies with `trainyard_sign`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use trainyard_client::{Estimator, JobConfig, JobListParams, JobStatus, Order, Session, SortKey};
use trainyard_sign::{DEFAULT_MAX_SKEW_MS, RequestParts, parse_authorization, sha256_hex, verify};

use crate::fake::{Fake, Reply, Seen, created_body, list_body, row};

const AK: &str = "QTWAOYTTINDUT2QVKYUC";
const SK: &str = "MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Verifies a request as the server would, and returns its signed header names.
fn verify_seen(seen: &Seen, secret: &str) -> Vec<String> {
    let auth =
        parse_authorization(seen.header("authorization").expect("Authorization header")).unwrap();
    assert_eq!(auth.access_key, AK);
    let headers: Vec<(&str, &str)> = seen
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body_hash = sha256_hex(&seen.body);
    let parts = RequestParts {
        method: &seen.method,
        path: &seen.path,
        query: &seen.query,
        headers: &headers,
        body_sha256_hex: &body_hash,
    };
    verify(
        &parts,
        &auth,
        secret.as_bytes(),
        now_ms(),
        DEFAULT_MAX_SKEW_MS,
    )
    .expect("signature verifies");
    auth.signed_headers
}

#[tokio::test]
async fn list_query_is_signed_exactly_as_sent() {
    let fake = Fake::start(|_, _| Reply::ok(list_body(1, &[row(1, "job-1")]))).await;
    let session =
        Session::with_access_key(fake.url(), "0123456789abcdef0123456789abcdef", AK, SK).unwrap();
    let params = JobListParams::new()
        .statuses([JobStatus::Canceled, JobStatus::ImageFailed])
        .per_page(10)
        .page(1)
        .sort_by(SortKey::CreateTime)
        .order(Order::Asc)
        .search_content("Ärger 训练 50%");
    let resp = Estimator::get_job_list(&session, &params).await.unwrap();
    assert_eq!(resp.jobs[0].job_name, "job-1");

    let seen = &fake.requests()[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.path,
        "/v1/0123456789abcdef0123456789abcdef/training-jobs"
    );
    assert_eq!(
        seen.query,
        "status=3%2C13&per_page=10&page=1&sortBy=create_time&order=asc&search_content=%C3%84rger%20%E8%AE%AD%E7%BB%83%2050%25&workspace_id=0"
    );
    assert_eq!(seen.param("search_content").unwrap(), "Ärger 训练 50%");
    assert_eq!(seen.header("host").unwrap(), fake.addr.to_string());
    assert_eq!(
        seen.header("x-project-id").unwrap(),
        "0123456789abcdef0123456789abcdef"
    );
    assert!(seen.header("x-sdk-date").is_some());
    assert!(seen.header("x-request-id").is_some());
    let signed = verify_seen(seen, SK);
    for h in ["content-type", "host", "x-project-id", "x-sdk-date"] {
        assert!(signed.iter().any(|s| s == h), "{h} not signed: {signed:?}");
    }
    // The wrong secret does not verify.
    let auth = parse_authorization(seen.header("authorization").unwrap()).unwrap();
    let headers: Vec<(&str, &str)> = seen
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let parts = RequestParts {
        method: "GET",
        path: &seen.path,
        query: &seen.query,
        headers: &headers,
        body_sha256_hex: &sha256_hex(b""),
    };
    assert!(
        verify(
            &parts,
            &auth,
            b"not-the-secret",
            now_ms(),
            DEFAULT_MAX_SKEW_MS
        )
        .is_err()
    );
}

#[tokio::test]
async fn bodies_and_every_method_are_signed() {
    let fake = Fake::start(|seen, _| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", p) if p.ends_with("/training-jobs") => Reply::ok(created_body()),
        ("POST", p) if p.ends_with("/job-history") => Reply::ok(json!({"is_success": true, "imported": 2, "first_job_id": 5, "last_job_id": 6})),
        ("GET", p) if p.ends_with("/resource-specs") => Reply::ok(json!({"is_success": true, "spec_total_count": 1, "specs": [
            {"spec_id": 1, "spec_code": "local.cpu.1u", "core": "1", "cpu": "2", "gpu_num": 0, "gpu_type": "", "max_num": 4, "no_resource": false}]})),
        ("GET", p) if p.ends_with("/ai-engines") => Reply::ok(json!({"is_success": true, "engines": [
            {"engine_id": 1, "engine_type": 13, "engine_name": "Python", "engine_version": "python3"}]})),
        _ => Reply::ok(json!({"is_success": true})),
    })
    .await;
    let session = Session::with_access_key(fake.url(), "default", AK, SK).unwrap();
    let config = JobConfig {
        worker_server_num: Some(1),
        spec_id: Some(1),
        engine_id: Some(1),
        app_url: Some("/code".into()),
        boot_file_url: Some("train.py".into()),
        ..JobConfig::default()
    };
    let created =
        Estimator::create_job(&session, "训练-resnet50", "lr sweep", Some("ws_1"), &config)
            .await
            .unwrap();
    assert_eq!((created.job_id, created.version_id), (12, 31));
    Estimator::update_job_desc(&session, 12, "new desc")
        .await
        .unwrap();
    Estimator::stop_version(&session, 12, 31).await.unwrap();
    Estimator::delete_version(&session, 12, 31).await.unwrap();
    Estimator::delete_job(&session, 12).await.unwrap();
    let specs = Estimator::specs(&session).await.unwrap();
    assert_eq!(specs.specs[0].max_num, 4);
    let engines = Estimator::engines(&session).await.unwrap();
    assert_eq!(engines.engines[0].engine_name, "Python");
    let imported = Estimator::import_history(
        &session,
        vec![
            json!({"job_name": "a", "status": 10, "create_time": 1}),
            json!({"job_name": "b", "status": 11, "create_time": 2}),
        ],
    )
    .await
    .unwrap();
    assert_eq!(imported.imported, 2);

    let seen = fake.requests();
    let summary: Vec<(String, String, String)> = seen
        .iter()
        .map(|s| (s.method.clone(), s.path.clone(), s.query.clone()))
        .collect();
    let e = |m: &str, p: &str, q: &str| (m.to_owned(), p.to_owned(), q.to_owned());
    assert_eq!(
        summary,
        vec![
            e("POST", "/v1/default/training-jobs", ""),
            e("PUT", "/v1/default/training-jobs/12", ""),
            e("POST", "/v1/default/training-jobs/12/versions/31/stop", ""),
            e("DELETE", "/v1/default/training-jobs/12/versions/31", ""),
            e("DELETE", "/v1/default/training-jobs/12", ""),
            e("GET", "/v1/default/job/resource-specs", "job_type=train"),
            e("GET", "/v1/default/job/ai-engines", "job_type=train"),
            e("POST", "/trainyard/v1/default/job-history", ""),
        ]
    );
    for s in &seen {
        verify_seen(s, SK);
    }
    let create: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(
        create,
        json!({"job_name": "训练-resnet50", "job_desc": "lr sweep", "workspace_id": "ws_1",
               "config": {"worker_server_num": 1, "spec_id": 1, "engine_id": 1, "app_url": "/code", "boot_file_url": "train.py"}})
    );
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&seen[1].body).unwrap(),
        json!({"job_desc": "new desc"})
    );
    assert_eq!(seen[7].header("content-type"), Some("application/x-ndjson"));
    let text = String::from_utf8(seen[7].body.clone()).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        vec![
            json!({"job_name": "a", "status": 10, "create_time": 1}),
            json!({"job_name": "b", "status": 11, "create_time": 2})
        ]
    );
}

#[tokio::test]
async fn unsigned_sessions_send_no_credentials() {
    let fake = Fake::start(|_, _| Reply::ok(list_body(0, &[]))).await;
    let session = Session::without_auth(fake.url(), "default").unwrap();
    Estimator::get_job_list(&session, &JobListParams::new())
        .await
        .unwrap();
    let seen = &fake.requests()[0];
    assert!(
        seen.header("authorization").is_none()
            && seen.header("x-auth-token").is_none()
            && seen.header("x-sdk-date").is_none()
    );
    assert_eq!(
        seen.query,
        "per_page=10&page=1&sortBy=job_name&order=desc&workspace_id=0"
    );
}

#[tokio::test]
async fn a_path_prefix_in_the_endpoint_is_kept_and_signed() {
    let fake = Fake::start(|_, _| Reply::ok(list_body(0, &[]))).await;
    let session =
        Session::with_access_key(format!("{}/modelarts/", fake.url()), "p-1", AK, SK).unwrap();
    Estimator::get_job_list(&session, &JobListParams::new())
        .await
        .unwrap();
    let seen = &fake.requests()[0];
    assert_eq!(seen.path, "/modelarts/v1/p-1/training-jobs");
    verify_seen(seen, SK);
}
