//! Retries: GET on 503 is retried with backoff; a create is never retried; errors carry the envelope.

use std::time::Duration;

use trainyard_client::{
    Error, Estimator, JobConfig, JobListParams, RetryPolicy, Session, SessionBuilder,
};

use crate::fake::{Fake, Reply, created_body, list_body, row};

fn fast(url: String) -> Session {
    SessionBuilder::new(url)
        .retry_policy(RetryPolicy {
            max_tries: 3,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
        })
        .build()
        .unwrap()
}

fn config() -> JobConfig {
    JobConfig {
        worker_server_num: Some(1),
        spec_id: Some(1),
        user_command: Some("true".into()),
        ..JobConfig::default()
    }
}

#[tokio::test]
async fn get_is_retried_on_503_then_succeeds() {
    let fake = Fake::start(|_, i| {
        if i < 2 {
            Reply::error(503, "ModelArts.0010", "busy")
        } else {
            Reply::ok(list_body(1, &[row(1, "a")]))
        }
    })
    .await;
    let resp = Estimator::get_job_list(&fast(fake.url()), &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(resp.jobs.len(), 1);
    let seen = fake.requests();
    assert_eq!(seen.len(), 3);
    // One logical call: the same X-Request-Id on every try.
    let ids: Vec<_> = seen
        .iter()
        .map(|s| s.header("x-request-id").unwrap().to_owned())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]));
}

#[tokio::test]
async fn get_gives_up_after_three_tries() {
    let fake = Fake::start(|_, _| {
        Reply::error(502, "ModelArts.0010", "bad gateway").header("x-request-id", "rid-7")
    })
    .await;
    let err = Estimator::get_job_list(&fast(fake.url()), &JobListParams::new())
        .await
        .unwrap_err();
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(err.http_status(), Some(502));
    assert_eq!(err.request_id(), Some("rid-7"));
}

#[tokio::test]
async fn retry_after_and_429_are_honoured() {
    let fake = Fake::start(|_, i| {
        if i == 0 {
            Reply::error(429, "ModelArts.2799", "slow down").header("retry-after", "0")
        } else {
            Reply::ok(list_body(0, &[]))
        }
    })
    .await;
    Estimator::get_job_list(&fast(fake.url()), &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn create_is_not_retried_on_503() {
    let fake = Fake::start(|seen, _| {
        if seen.method == "POST" {
            Reply::error(503, "ModelArts.0010", "busy")
        } else {
            Reply::ok(created_body())
        }
    })
    .await;
    let err = Estimator::create_job(&fast(fake.url()), "resnet", "", None, &config())
        .await
        .unwrap_err();
    assert_eq!(fake.requests().len(), 1, "a create is sent once");
    assert_eq!(err.http_status(), Some(503));
    assert_eq!(err.to_string(), "ModelArts.0010: busy");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_decode_the_envelope() {
    let fake = Fake::start(|_, _| {
        Reply::error(
            400,
            "ModelArts.0101",
            "per_page must be an integer 1-1000, got \"1001\"",
        )
        .header("x-request-id", "rid-1")
    })
    .await;
    let err = Estimator::get_job_list(&fast(fake.url()), &JobListParams::new())
        .await
        .unwrap_err();
    assert_eq!(fake.requests().len(), 1);
    match err {
        Error::Api {
            http_status,
            error_code,
            error_msg,
            request_id,
        } => {
            assert_eq!(http_status, 400);
            assert_eq!(error_code, "ModelArts.0101");
            assert_eq!(
                error_msg,
                "per_page must be an integer 1-1000, got \"1001\""
            );
            assert_eq!(request_id.as_deref(), Some("rid-1"));
        }
        other => panic!("{other:?}"),
    }
    let fake =
        Fake::start(|_, _| Reply::error(404, "ModelArts.2775", "job 9 does not exist")).await;
    let err = Estimator::get_job_version(&fast(fake.url()), 9, 1)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_after_retries() {
    // Bind then drop a listener: the port is (almost certainly) closed now.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let session = fast(format!("http://127.0.0.1:{port}"));
    let started = std::time::Instant::now();
    let err = Estimator::get_job_list(&session, &JobListParams::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(e) if e.is_connect()),
        "{err:?}"
    );
    assert!(!err.to_string().contains('\n'));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_2xx_with_an_unexpected_body_is_a_decode_error() {
    let fake = Fake::start(|_, _| Reply::ok(serde_json::json!({"is_success": true}))).await;
    let err = Estimator::get_job_list(&fast(fake.url()), &JobListParams::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { http_status: 200, message } if message.contains("job_total_count")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_applies() {
    let fake = Fake::start(|_, _| {
        std::thread::sleep(Duration::from_millis(400));
        Reply::ok(list_body(0, &[]))
    })
    .await;
    let session = SessionBuilder::new(fake.url())
        .request_timeout(Duration::from_millis(100))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let err = Estimator::get_job_list(&session, &JobListParams::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transport(e) if e.is_timeout()),
        "{err:?}"
    );
}
