//! Password sessions: token acquisition, caching, renewal before expiry and after a 401.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use trainyard_client::{AuthMethod, Error, Estimator, JobListParams, Session};

use crate::fake::{Fake, Reply, Seen, list_body};

/// A fake IAM + API: tokens live `life`; the API rejects token `reject` once with `ModelArts.0202`.
async fn server(life: Duration, reject: Option<&'static str>) -> Fake {
    let issued = AtomicUsize::new(0);
    let rejected = Mutex::new(false);
    Fake::start(move |seen: &Seen, _| {
        if seen.path == "/v3/auth/tokens" {
            let body: Value = serde_json::from_slice(&seen.body).unwrap();
            let user = &body["auth"]["identity"]["password"]["user"];
            if user["password"] != "s3cret" {
                return Reply::error(401, "IAM.0004", "the user name, domain or password is wrong");
            }
            let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
            let now = OffsetDateTime::now_utc();
            let exp = now + life;
            return Reply::json(
                201,
                json!({"token": {"expires_at": exp.format(&Rfc3339).unwrap(), "issued_at": now.format(&Rfc3339).unwrap(),
                       "methods": ["password"], "project": {"id": "default", "name": "default"}}}),
            )
            .header("x-subject-token", format!("tok-{n}"));
        }
        let token = seen.header("x-auth-token").unwrap_or("");
        if token.is_empty() {
            return Reply::error(401, "ModelArts.0201", "no credentials");
        }
        if Some(token) == reject {
            let mut r = rejected.lock().unwrap();
            if !*r {
                *r = true;
                return Reply::error(401, "ModelArts.0202", "the token has expired");
            }
        }
        Reply::ok(list_body(0, &[]))
    })
    .await
}

fn tokens_used(fake: &Fake) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|s| s.path != "/v3/auth/tokens")
        .map(|s| s.header("x-auth-token").unwrap_or("").to_owned())
        .collect()
}

fn token_requests(fake: &Fake) -> Vec<Seen> {
    fake.requests()
        .into_iter()
        .filter(|s| s.path == "/v3/auth/tokens")
        .collect()
}

#[tokio::test]
async fn token_is_fetched_cached_and_renewed_before_expiry_and_after_a_401() {
    let fake = server(Duration::from_secs(2), Some("tok-2")).await;
    let session = Session::with_password(fake.url(), "default", "dom", "alice", "s3cret").unwrap();
    assert_eq!(session.auth_method(), AuthMethod::Token);
    let q = JobListParams::new();
    Estimator::get_job_list(&session, &q).await.unwrap();
    Estimator::get_job_list(&session, &q).await.unwrap();
    assert_eq!(
        tokens_used(&fake),
        ["tok-1", "tok-1"],
        "the token is cached"
    );

    // The Keystone password body, scoped to the session's project.
    let t = &token_requests(&fake)[0];
    assert_eq!(t.method, "POST");
    assert_eq!(t.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&t.body).unwrap();
    assert_eq!(
        body,
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "alice", "password": "s3cret",
               "domain": {"name": "dom"}}}}, "scope": {"project": {"id": "default"}}}})
    );

    // A 2 s token is renewed at half its life (the 5 min margin is larger than the life).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    Estimator::get_job_list(&session, &q).await.unwrap();
    // tok-2 is refused once with ModelArts.0202: renewed to tok-3 and the call retried once.
    assert_eq!(tokens_used(&fake), ["tok-1", "tok-1", "tok-2", "tok-3"]);
    assert_eq!(token_requests(&fake).len(), 3);
    // No secret in Debug.
    let d = format!("{session:?}");
    assert!(!d.contains("s3cret") && !d.contains("tok-"), "{d}");
}

#[tokio::test]
async fn concurrent_first_calls_share_one_token_request() {
    let fake = server(Duration::from_secs(3600), None).await;
    let session = Session::with_password(fake.url(), "default", "", "alice", "s3cret").unwrap();
    let calls = (0..5).map(|_| {
        let s = session.clone();
        tokio::spawn(async move {
            Estimator::get_job_list(&s, &JobListParams::new())
                .await
                .map(|_| ())
        })
    });
    for c in calls.collect::<Vec<_>>() {
        c.await.unwrap().unwrap();
    }
    assert_eq!(token_requests(&fake).len(), 1);
    assert_eq!(tokens_used(&fake), vec!["tok-1"; 5]);
    // An empty domain means the user name.
    let body: Value = serde_json::from_slice(&token_requests(&fake)[0].body).unwrap();
    assert_eq!(
        body["auth"]["identity"]["password"]["user"]["domain"]["name"],
        "alice"
    );
}

#[tokio::test]
async fn a_refused_login_is_an_auth_error_and_sends_no_api_request() {
    let fake = server(Duration::from_secs(3600), None).await;
    let session = Session::with_password(fake.url(), "default", "dom", "alice", "wrong").unwrap();
    let err = Estimator::get_job_list(&session, &JobListParams::new())
        .await
        .unwrap_err();
    match &err {
        Error::Auth {
            error_code,
            message,
            http_status,
            ..
        } => {
            assert_eq!(error_code.as_deref(), Some("IAM.0004"));
            assert_eq!(*http_status, Some(401));
            assert!(!message.contains("wrong\""));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.error_code(), Some("IAM.0004"));
    assert_eq!(
        err.to_string(),
        "authentication failed: IAM.0004: the user name, domain or password is wrong"
    );
    assert!(tokens_used(&fake).is_empty());
}

#[tokio::test]
async fn a_token_response_without_the_header_is_an_auth_error() {
    let fake = Fake::start(|_, _| {
        Reply::json(
            201,
            json!({"token": {"expires_at": "2099-01-01T00:00:00Z"}}),
        )
    })
    .await;
    let session = Session::with_password(fake.url(), "default", "d", "u", "p").unwrap();
    let err = Estimator::get_job_list(&session, &JobListParams::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Auth { error_code: None, message, .. } if message.contains("X-Subject-Token")),
        "{err}"
    );
}
