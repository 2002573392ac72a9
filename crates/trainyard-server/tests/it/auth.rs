//! Authentication and project isolation over HTTP (`spec/auth.md`, the auth rows of
//! `spec/errors.md`): every 401/403/404 row, malformed signatures, signature throttling,
//! tokens, revocation, and the local default account.

use crate::common::*;
use serde_json::{Value, json};

const SIG_MSG: &str = "the request signature could not be verified";
const MIN: i64 = 60_000;

fn list_path(project: &str) -> String {
    format!("/v1/{project}/training-jobs")
}

async fn bare(s: &AuthServer, method: &str, target: &str) -> (u16, Value) {
    let r = s
        .server
        .client
        .request(
            method.parse().unwrap(),
            format!("{}{target}", s.server.base),
        )
        .send()
        .await
        .unwrap();
    TestServer::finish_pub(r).await
}

fn assert_sig_error(got: &(u16, Value), what: &str) {
    assert_eq!(got.0, 401, "{what}: {}", got.1);
    assert_eq!(got.1["error_code"], "APIG.0301", "{what}: {}", got.1);
    assert_eq!(
        got.1["error_msg"], SIG_MSG,
        "{what}: one message for every signature failure"
    );
    assert_eq!(got.1["error_message"], SIG_MSG, "{what}");
}

/// Sends a raw `Authorization` header (with a valid date and host) to the list.
async fn with_authorization(s: &AuthServer, value: &str) -> (u16, Value) {
    let r = s
        .server
        .client
        .get(format!("{}{}", s.server.base, list_path(PROJECT)))
        .header("X-Sdk-Date", trainyard_sign::sdk_date(now_ms()))
        .header("Authorization", value)
        .send()
        .await
        .unwrap();
    TestServer::finish_pub(r).await
}

#[tokio::test]
async fn no_credentials_is_0201_before_routing() {
    let s = start_with_auth(|_| {}).await;
    for (method, target) in [
        ("GET", list_path(PROJECT)),
        ("GET", format!("/v1/{PROJECT}/no-such-path")),
        ("DELETE", list_path(PROJECT)),
        ("GET", format!("/v1/{PROJECT2}/training-jobs")),
        ("POST", format!("/trainyard/v1/{PROJECT}/job-history")),
        ("GET", "/v1/x".to_owned()),
    ] {
        let got = bare(&s, method, &target).await;
        assert_error(&got, 401, "ModelArts.0201", &["X-Auth-Token"]);
    }
    // Paths outside /v1 are not authenticated: plain routing.
    let got = bare(&s, "GET", "/nothing-here").await;
    assert_error(&got, 404, "ModelArts.2836", &[]);
}

#[tokio::test]
async fn tokens_bogus_0203_expired_0202() {
    let s = start_with_auth(|c| c.token_ttl_secs = 1).await;
    for bogus in ["abc", &"0".repeat(64), &"G".repeat(64), ""] {
        let got = s.with_token("GET", &list_path(PROJECT), bogus, None).await;
        assert_error(&got, 401, "ModelArts.0203", &[]);
    }
    let token = s.alice_token().await;
    let got = s.with_token("GET", &list_path(PROJECT), &token, None).await;
    assert_eq!(got.0, 200, "{}", got.1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let got = s.with_token("GET", &list_path(PROJECT), &token, None).await;
    assert_error(&got, 401, "ModelArts.0202", &[]);
    // A token with one character changed is unknown.
    let mut other = token.clone().into_bytes();
    other[0] = if other[0] == b'a' { b'b' } else { b'a' };
    let got = s
        .with_token(
            "GET",
            &list_path(PROJECT),
            std::str::from_utf8(&other).unwrap(),
            None,
        )
        .await;
    assert_error(&got, 401, "ModelArts.0203", &[]);
}

#[tokio::test]
async fn token_endpoint_body_and_iam_0004() {
    let s = start_with_auth(|_| {}).await;
    let before = now_ms();
    let r = s
        .login("alice", "alice", ALICE_PASSWORD, json!({"id": PROJECT}))
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let token = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
    assert_eq!(token.len(), 64, "256 random bits in hex");
    let b: Value = r.json().await.unwrap();
    let t = &b["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["project"]["id"], PROJECT);
    assert_eq!(t["project"]["name"], "main");
    assert_eq!(t["user"]["name"], "alice");
    assert_eq!(t["user"]["domain"]["name"], "alice");
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
        .unix_timestamp()
    };
    let (issued, expires) = (parse(&t["issued_at"]), parse(&t["expires_at"]));
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(expires - issued, 24 * 3600, "default TTL 24 h");
    assert!((issued - before / 1000).abs() <= 2);
    let url = format!("http://{}/v1/{PROJECT}", s.server.addr);
    for kind in ["modelartsv1", "modelarts"] {
        let svc = t["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == kind)
            .unwrap();
        assert_eq!(svc["endpoints"][0]["url"], url.as_str(), "{kind}");
        assert_eq!(svc["endpoints"][0]["interface"], "public");
    }
    // The identity version document, for keystoneauth's discovery of the auth_url.
    let v: Value = s
        .server
        .client
        .get(format!("{}/v3", s.server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["version"]["status"], "stable");
    assert_eq!(
        v["version"]["links"][0]["href"],
        format!("http://{}/v3/", s.server.addr)
    );
    // Scope by name works too, and the token is usable.
    let r = s
        .login("alice", "alice", ALICE_PASSWORD, json!({"name": "main"}))
        .await;
    assert_eq!(r.status().as_u16(), 201);

    // Every refusal: same code, same message.
    let mut msgs = Vec::new();
    for (user, domain, pw, scope) in [
        ("alice", "alice", "wrong-password", json!({"id": PROJECT})),
        ("nobody", "nobody", ALICE_PASSWORD, json!({"id": PROJECT})),
        ("alice", "bob", ALICE_PASSWORD, json!({"id": PROJECT})),
        ("alice", "alice", ALICE_PASSWORD, json!({"id": PROJECT2})),
        ("alice", "alice", ALICE_PASSWORD, json!({"name": "second"})),
        (
            "alice",
            "alice",
            ALICE_PASSWORD,
            json!({"id": "no-such-project"}),
        ),
    ] {
        let r = s.login(user, domain, pw, scope.clone()).await;
        assert!(r.headers().get("x-subject-token").is_none());
        let got = TestServer::finish_pub(r).await;
        assert_error(&got, 401, "IAM.0004", &[]);
        msgs.push(got.1["error_msg"].as_str().unwrap().to_owned());
    }
    msgs.dedup();
    assert_eq!(
        msgs.len(),
        1,
        "one message for all login refusals: {msgs:?}"
    );
}

#[tokio::test]
async fn token_auth_lists_with_sort_by_and_sortby_and_creates() {
    let s = start_with_auth(|_| {}).await;
    let token = s.alice_token().await;
    let body = TestServer::job_body("tok-job", "exit 0");
    let got = s
        .with_token("POST", &list_path(PROJECT), &token, Some(&body))
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    for key in ["sortBy", "sort_by"] {
        let got = s
            .with_token(
                "GET",
                &format!("{}?{key}=job_name&order=asc", list_path(PROJECT)),
                &token,
                None,
            )
            .await;
        assert_eq!(got.0, 200, "{key}: {}", got.1);
        assert_eq!(names(&got.1), vec!["tok-job"], "{key}");
    }
    // The token is scoped to PROJECT only.
    let got = s
        .with_token("GET", &list_path(PROJECT2), &token, None)
        .await;
    assert_error(&got, 403, "ModelArts.0210", &[]);
}

#[tokio::test]
async fn signature_failures_are_apig_0301_with_one_message() {
    let s = start_with_auth(|_| {}).await;
    let target = format!("{}?page=1&per_page=10", list_path(PROJECT));
    let ok = s.signed("GET", &target, b"").await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let now = now_ms();
    // Within the 15 minutes (both directions): accepted.
    for skew in [-14 * MIN, 14 * MIN] {
        let r = s
            .signed_at("GET", &target, b"", &s.ak, &s.sk, now + skew, &[])
            .await;
        assert_eq!(r.status().as_u16(), 200, "skew {skew}");
    }
    // Wrong SK, unknown AK, 16 minutes old or ahead.
    let wrong_sk = format!("{}x", s.sk);
    let r = s
        .signed_at("GET", &target, b"", &s.ak, &wrong_sk, now, &[])
        .await;
    assert_sig_error(&TestServer::finish_pub(r).await, "wrong SK");
    let r = s
        .signed_at("GET", &target, b"", "NOSUCHKEY0000000000X", &s.sk, now, &[])
        .await;
    assert_sig_error(&TestServer::finish_pub(r).await, "unknown AK");
    for skew in [-16 * MIN, 16 * MIN] {
        let r = s
            .signed_at("GET", &target, b"", &s.ak, &s.sk, now + skew, &[])
            .await;
        assert_sig_error(&TestServer::finish_pub(r).await, "16 minutes skew");
    }
    // Tampered query: signed for page=1, sent with page=2.
    let host = s.server.addr.to_string();
    let signer = trainyard_sign::Signer::new(s.ak.clone(), s.sk.as_bytes().to_vec());
    let path = list_path(PROJECT);
    let hdrs = signer.sign(
        "GET",
        &path,
        "page=1",
        &[("Host", &host)],
        b"",
        &trainyard_sign::sdk_date(now),
    );
    let mut rb = s
        .server
        .client
        .get(format!("{}{path}?page=2", s.server.base));
    for (k, v) in &hdrs {
        rb = rb.header(k, v);
    }
    assert_sig_error(
        &TestServer::finish_pub(rb.send().await.unwrap()).await,
        "tampered query",
    );
    // Tampered body: signed one body, sent another.
    let body = serde_json::to_vec(&TestServer::job_body("sig-a", "exit 0")).unwrap();
    let other = serde_json::to_vec(&TestServer::job_body("sig-b", "exit 0")).unwrap();
    let hdrs = signer.sign(
        "POST",
        &path,
        "",
        &[("Host", &host), ("Content-Type", "application/json")],
        &body,
        &trainyard_sign::sdk_date(now),
    );
    let mut rb = s
        .server
        .client
        .post(format!("{}{path}", s.server.base))
        .header("Content-Type", "application/json")
        .body(other);
    for (k, v) in &hdrs {
        rb = rb.header(k, v);
    }
    assert_sig_error(
        &TestServer::finish_pub(rb.send().await.unwrap()).await,
        "tampered body",
    );
    // The properly signed body creates the job; UNSIGNED-PAYLOAD is honoured.
    let got = s.signed("POST", &path, &body).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let body_c = serde_json::to_vec(&TestServer::job_body("sig-c", "exit 0")).unwrap();
    let r = s
        .signed_at(
            "POST",
            &path,
            &body_c,
            &s.ak,
            &s.sk,
            now_ms(),
            &[("X-Sdk-Content-Sha256", "UNSIGNED-PAYLOAD")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn malformed_authorization_headers() {
    let s = start_with_auth(|_| {}).await;
    let ak = s.ak.clone();
    let sig = "0".repeat(64);
    let cases = [
        format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date"),
        format!("SDK-HMAC-SHA256 Access={ak}, Signature={sig}"),
        format!("SDK-HMAC-SHA256 SignedHeaders=host;x-sdk-date, Signature={sig}"),
        "SDK-HMAC-SHA256".to_owned(),
        format!("SDK-HMAC-SHA1 Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        format!("Bearer {ak}"),
        format!(
            "SDK-HMAC-SHA256 Access={ak}, Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}"
        ),
        format!(
            "SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}, Signature={sig}"
        ),
        format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=x-sdk-date, Signature={sig}"),
        format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature=XYZ"),
        format!(
            "SDK-HMAC-SHA256 Access={ak}, SignedHeaders={}, Signature={sig}",
            "a".repeat(100 * 1024)
        ),
    ];
    for (i, value) in cases.iter().enumerate() {
        let got = with_authorization(&s, value).await;
        assert_sig_error(
            &got,
            &format!("case {i}: {}", &value[..value.len().min(80)]),
        );
    }
    // None of these is a wrong signature of a complete request (the brute-force count), so the
    // key still works afterwards.
    let got = s.signed("GET", &list_path(PROJECT), b"").await;
    assert_eq!(got.0, 200, "{}", got.1);
}

#[tokio::test]
async fn other_project_is_403_before_routing() {
    let s = start_with_auth(|_| {}).await;
    // alice's job in her own project.
    let body = serde_json::to_vec(&TestServer::job_body("mine", "exit 0")).unwrap();
    let got = s.signed("POST", &list_path(PROJECT), &body).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let (job, version) = (
        got.1["job_id"].as_i64().unwrap(),
        got.1["version_id"].as_i64().unwrap(),
    );
    let p2 = format!("/v1/{PROJECT2}");
    let forbidden = [
        ("GET", format!("{p2}/training-jobs")),
        (
            "GET",
            format!("{p2}/training-jobs/{job}/versions/{version}"),
        ),
        ("GET", format!("{p2}/training-jobs/987654321987/versions/1")),
        ("POST", format!("{p2}/training-jobs")),
        ("GET", format!("{p2}/no-such-path")),
        ("DELETE", format!("{p2}/training-jobs")),
        ("POST", format!("/trainyard/v1/{PROJECT2}/job-history")),
        ("GET", "/v1/not-a-project!/training-jobs".to_owned()),
    ];
    let mut bodies = Vec::new();
    for (method, target) in &forbidden {
        let b = if *method == "POST" {
            body.as_slice()
        } else {
            b""
        };
        let got = s.signed(method, target, b).await;
        assert_error(&got, 403, "ModelArts.0210", &[]);
        bodies.push(got.1);
    }
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        1,
        "403 bodies never depend on what exists: {bodies:?}"
    );
    // The refused create created nothing in either project.
    let r = s
        .signed_at(
            "GET",
            &list_path(PROJECT2),
            b"",
            &s.ak2,
            &s.sk2,
            now_ms(),
            &[],
        )
        .await;
    let got = TestServer::finish_pub(r).await;
    assert_eq!(got.0, 200);
    assert_eq!(got.1["job_total_count"], 0);
    // In our own project, routing happens after auth: unknown path 404, wrong method 405.
    let got = s
        .signed("GET", &format!("/v1/{PROJECT}/no-such-path"), b"")
        .await;
    assert_error(&got, 404, "ModelArts.2836", &[]);
    let got = s.signed("DELETE", &list_path(PROJECT), b"").await;
    assert_error(&got, 405, "ModelArts.2803", &[]);
}

#[tokio::test]
async fn another_projects_job_is_404_like_a_missing_job() {
    let s = start_with_auth(|_| {}).await;
    // bob's job in PROJECT2.
    let body = serde_json::to_vec(&TestServer::job_body("bobs", "exit 0")).unwrap();
    let r = s
        .signed_at(
            "POST",
            &list_path(PROJECT2),
            &body,
            &s.ak2,
            &s.sk2,
            now_ms(),
            &[],
        )
        .await;
    let got = TestServer::finish_pub(r).await;
    assert_eq!(got.0, 200, "{}", got.1);
    let (job, version) = (
        got.1["job_id"].as_i64().unwrap(),
        got.1["version_id"].as_i64().unwrap(),
    );
    let missing = 987_654_321_i64;
    let p = format!("/v1/{PROJECT}/training-jobs");
    for (method, tpl) in [
        ("GET", "{p}/{j}/versions/{v}"),
        ("GET", "{p}/{j}/versions"),
        ("DELETE", "{p}/{j}"),
        ("DELETE", "{p}/{j}/versions/{v}"),
        ("POST", "{p}/{j}/versions/{v}/stop"),
        ("PUT", "{p}/{j}"),
    ] {
        let target = |j: i64, v: i64| {
            tpl.replace("{p}", &p)
                .replace("{j}", &j.to_string())
                .replace("{v}", &v.to_string())
        };
        let b: &[u8] = if method == "PUT" {
            br#"{"job_desc": "x"}"#
        } else {
            b""
        };
        let theirs = s.signed(method, &target(job, version), b).await;
        let nowhere = s.signed(method, &target(missing, missing + 1), b).await;
        assert_error(&theirs, 404, "ModelArts.2775", &[]);
        assert_eq!(
            theirs, nowhere,
            "{method} {tpl}: another project's job must look missing"
        );
    }
    // And bob's job is untouched.
    let r = s
        .signed_at(
            "GET",
            &format!("{}/{job}/versions/{version}", list_path(PROJECT2)),
            b"",
            &s.ak2,
            &s.sk2,
            now_ms(),
            &[],
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
}

/// Issue 9 §2: there is no per-key lockout (anyone who has seen an AK could lock its owner
/// out); failed signatures throttle the *address* they come from, never a correct signature
/// from another address.
#[tokio::test]
async fn wrong_signatures_throttle_the_address_not_the_key() {
    let s = start_with_auth(|_| {}).await;
    let target = list_path(PROJECT);
    let wrong = format!("{}x", s.sk);
    let attacker = client_from("127.0.0.7");
    let owner = client_from("127.0.0.8");
    let free = trainyard_server::auth::throttle::SIGNATURE_PER_ADDRESS.free_failures;
    // The free failures and the one that starts the first delay are all 401.
    for i in 0..=free {
        let r = s
            .signed_via(&attacker, "GET", &target, b"", &s.ak, &wrong, now_ms(), &[])
            .await;
        assert_sig_error(&TestServer::finish_pub(r).await, &format!("wrong SK {i}"));
    }
    // Now the attacker's address is answered 429 before any check, even when it signs right.
    let r = s
        .signed_via(&attacker, "GET", &target, b"", &s.ak, &s.sk, now_ms(), &[])
        .await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1).contains(&retry), "first delay is 1 s: {retry}");
    let got = TestServer::finish_pub(r).await;
    assert_error(&got, 429, "ModelArts.2799", &["address"]);
    // The owner, from another address, is never refused: same key, correct signature.
    for _ in 0..3 {
        let r = s
            .signed_via(&owner, "GET", &target, b"", &s.ak, &s.sk, now_ms(), &[])
            .await;
        assert_eq!(r.status().as_u16(), 200);
    }
    // Other keys and tokens from other addresses are unaffected too.
    let token = s.alice_token().await;
    assert_eq!(s.with_token("GET", &target, &token, None).await.0, 200);
    // After the delay, the attacker's address may try again.
    tokio::time::sleep(std::time::Duration::from_millis(retry * 1000 + 200)).await;
    let r = s
        .signed_via(&attacker, "GET", &target, b"", &s.ak, &s.sk, now_ms(), &[])
        .await;
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn failures_within_the_free_ones_do_not_throttle() {
    let s = start_with_auth(|_| {}).await;
    let target = list_path(PROJECT);
    let wrong = format!("{}x", s.sk);
    let free = trainyard_server::auth::throttle::SIGNATURE_PER_ADDRESS.free_failures;
    for _ in 0..free {
        let r = s
            .signed_at("GET", &target, b"", &s.ak, &wrong, now_ms(), &[])
            .await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let got = s.signed("GET", &target, b"").await;
    assert_eq!(got.0, 200, "{}", got.1);
}

#[tokio::test]
async fn revocation_takes_effect_at_once() {
    let s = start_with_auth(|_| {}).await;
    let target = list_path(PROJECT);
    let token = s.alice_token().await;
    assert_eq!(s.signed("GET", &target, b"").await.0, 200);
    let store = s.store();
    store.revoke_access_key(&s.ak, now_ms()).unwrap();
    assert_sig_error(&s.signed("GET", &target, b"").await, "revoked key");
    assert_eq!(s.with_token("GET", &target, &token, None).await.0, 200);
    // Removing bob revokes his key; removing alice revokes her tokens.
    store.remove_user("bob", "bob", now_ms()).unwrap();
    let r = s
        .signed_at(
            "GET",
            &list_path(PROJECT2),
            b"",
            &s.ak2,
            &s.sk2,
            now_ms(),
            &[],
        )
        .await;
    assert_sig_error(&TestServer::finish_pub(r).await, "removed user's key");
    store.remove_user("alice", "alice", now_ms()).unwrap();
    let got = s.with_token("GET", &target, &token, None).await;
    assert_error(&got, 401, "ModelArts.0203", &[]);
    let r = s
        .login("alice", "alice", ALICE_PASSWORD, json!({"id": PROJECT}))
        .await;
    assert_eq!(r.status().as_u16(), 401);
}

#[tokio::test]
async fn signed_body_over_the_limit_is_413() {
    let s = start_with_auth(|c| c.max_body_bytes = 1024).await;
    let big = vec![b' '; 2048];
    let got = s.signed("POST", &list_path(PROJECT), &big).await;
    assert_error(&got, 413, "ModelArts.0101", &[]);
    // The import route keeps its own (larger) limit.
    let row = serde_json::to_string(&hist("imported", "", 10, 1_700_000_000_000)).unwrap();
    let mut ndjson = format!("{row}\n").into_bytes();
    ndjson.extend(std::iter::repeat_n(b' ', 2048));
    ndjson.push(b'\n');
    let got = s
        .signed(
            "POST",
            &format!("/trainyard/v1/{PROJECT}/job-history"),
            &ndjson,
        )
        .await;
    assert_ne!(got.0, 413, "{}", got.1);
    assert_ne!(got.0, 401, "{}", got.1);
}

#[tokio::test]
async fn local_default_account_and_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = trainyard_server::config::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let state = trainyard_server::build(config).await.unwrap();
    let made = trainyard_server::auth::ensure_local_default(&state, "http://127.0.0.1:9")
        .await
        .unwrap()
        .expect("an empty store gets the default account");
    let path = dir.path().join("credentials.json");
    assert_eq!(made.credentials_file, path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let creds: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for k in [
        "endpoint",
        "project_id",
        "access_key",
        "secret_key",
        "username",
        "password",
        "domain",
    ] {
        assert!(
            creds[k].as_str().is_some_and(|v| !v.is_empty()),
            "{k} in {creds}"
        );
    }
    assert_eq!(creds["endpoint"], "http://127.0.0.1:9");
    let pid = creds["project_id"].as_str().unwrap();
    assert_eq!(pid.len(), 32);
    assert!(pid.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(creds["access_key"], made.access_key.as_str());
    let projects = state.store.projects().unwrap();
    assert_eq!(projects.len(), 1);
    assert_eq!(projects[0].name, "default");
    // A second start changes nothing.
    assert!(
        trainyard_server::auth::ensure_local_default(&state, "http://127.0.0.1:9")
            .await
            .unwrap()
            .is_none()
    );
    // The password logs in.
    let t = state
        .store
        .login(
            creds["username"].as_str().unwrap(),
            creds["domain"].as_str().unwrap(),
            creds["password"].as_str().unwrap(),
            trainyard_store::auth::ProjectRef::Name("default"),
            now_ms(),
            1000,
        )
        .unwrap();
    assert!(t.is_some());
}
