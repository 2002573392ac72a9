//! Operations endpoints: `/healthz`, `/readyz` (and its 503), `/metrics` access options.

use crate::common::{TestServer, start_with_auth};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use serde_json::Value;
use std::net::SocketAddr;
use tower::ServiceExt;
use trainyard_server::config::MetricsAccess;

async fn get(s: &TestServer, path: &str) -> (u16, String) {
    let r = s
        .client
        .get(format!("{}{path}", s.base))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn health_and_readiness_need_no_credentials() {
    let a = start_with_auth(|_| {}).await;
    let s = &a.server;
    // an API path needs credentials ...
    let (code, _) = get(s, &format!("/v1/{}/training-jobs", crate::common::PROJECT)).await;
    assert_eq!(code, 401);
    // ... the probes do not
    let (code, body) = get(s, "/healthz").await;
    assert_eq!((code, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (code, body) = get(s, "/readyz").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], "ready");
    assert!(v.get("reason").is_none(), "{v}");
    assert_eq!(v["checks"]["store"], "ok");
    assert_eq!(v["checks"]["index"], "ok (0 jobs)");
    assert_eq!(v["checks"]["executor"], "ok (local)");
}

#[tokio::test]
async fn readiness_is_503_with_the_reason_when_the_store_cannot_be_read() {
    let s = TestServer::start(|_| {}).await;
    let (code, _) = s
        .import(&[
            crate::common::hist("a", "0", 10, 1),
            crate::common::hist("b", "0", 11, 2),
        ])
        .await;
    assert_eq!(code, 200);
    let (code, body) = get(&s, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(r#""index":"ok (2 jobs)""#), "{body}");
    // Break the store behind the server's back: the table the probe reads is gone.
    let db = rusqlite::Connection::open(s.dir.path().join("trainyard.db")).unwrap();
    db.execute_batch("DROP TABLE project_job_counts").unwrap();
    drop(db);
    let (code, body) = get(&s, "/readyz").await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["status"], "not ready");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.starts_with("store: read failed"), "{reason}");
    assert!(reason.contains("project_job_counts"), "{reason}");
    // liveness is unaffected
    assert_eq!(get(&s, "/healthz").await.0, 200);
}

#[tokio::test]
async fn metrics_can_be_moved_to_another_listener_or_turned_off() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let s = TestServer::start(|c| c.metrics_listen = Some(port)).await;
    let (code, body) = get(&s, "/metrics").await;
    assert_eq!(code, 404, "{body}");
    assert!(
        body.contains(&format!("metrics are served on {port}")),
        "{body}"
    );
    let r = reqwest::get(format!("http://{port}/metrics"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("trainyard_list_index_jobs"), "{text}");
    // nothing else on the metrics listener
    let r = reqwest::get(format!("http://{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    drop(s);

    let s = TestServer::start(|c| c.metrics = MetricsAccess::Off).await;
    let (code, body) = get(&s, "/metrics").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("metrics are off"), "{body}");
}

/// `metrics = "loopback"`: the peer address decides (given to the router as axum's
/// `ConnectInfo`, as `serve` does).
#[tokio::test]
async fn loopback_metrics_refuse_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let config = trainyard_server::config::ServerConfig {
        data_dir: dir.path().to_path_buf(),
        insecure_no_auth: true,
        metrics: MetricsAccess::Loopback,
        ..Default::default()
    };
    let state = trainyard_server::build(config).await.unwrap();
    let app = trainyard_server::app::router(state.clone());
    let ask = |peer: SocketAddr| {
        let mut req = Request::get("/metrics").body(Body::empty()).unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(req)
    };
    let far = ask(SocketAddr::from(([192, 0, 2, 7], 40000)))
        .await
        .unwrap();
    assert_eq!(far.status(), 403);
    let near = ask(SocketAddr::from(([127, 0, 0, 1], 40000)))
        .await
        .unwrap();
    assert_eq!(near.status(), 200);
    let v6 = ask("[::1]:40000".parse().unwrap()).await.unwrap();
    assert_eq!(v6.status(), 200);
    state.supervisor.shutdown().await;
}

/// A project's name works wherever its id does, through the Rust SDK with AK/SK (the
/// signature covers the path as sent) and with a token; another user's project by name is 403.
#[tokio::test]
async fn project_names_work_like_ids_through_the_sdk() {
    use trainyard_client::{Estimator, JobListParams, SessionBuilder};
    let a = start_with_auth(|_| {}).await;
    let (code, _) = a
        .server
        .import(&[crate::common::hist("named", "0", 10, 1)])
        .await;
    assert_eq!(code, 401, "the helper sends no credentials");
    let by_id = SessionBuilder::new(&a.server.base)
        .project_id(crate::common::PROJECT)
        .access_key(&a.ak, &a.sk)
        .build()
        .unwrap();
    let by_name = SessionBuilder::new(&a.server.base)
        .project_id("main")
        .access_key(&a.ak, &a.sk)
        .build()
        .unwrap();
    let created = Estimator::create_job(
        &by_name,
        "made-by-name",
        "",
        None,
        &trainyard_client::JobConfig {
            worker_server_num: Some(1),
            spec_id: Some(1),
            user_command: Some("true".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let listed = Estimator::get_job_list(&by_id, &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(listed.job_total_count, 1);
    assert_eq!(listed.jobs[0].job_id, created.job_id);
    let v = Estimator::get_job_version(&by_name, created.job_id, created.version_id)
        .await
        .unwrap();
    assert_eq!(v.job_name, "made-by-name");
    // a token login scoped by name, then paths by name
    let token = SessionBuilder::new(&a.server.base)
        .project_id("main")
        .password("alice", "alice", crate::common::ALICE_PASSWORD)
        .build()
        .unwrap();
    let listed = Estimator::get_job_list(&token, &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(listed.job_total_count, 1);
    // bob's project, by name, with alice's key: 403 like by id
    let other = SessionBuilder::new(&a.server.base)
        .project_id("second")
        .access_key(&a.ak, &a.sk)
        .build()
        .unwrap();
    let e = Estimator::get_job_list(&other, &JobListParams::new())
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some("ModelArts.0210"), "{e}");
}
