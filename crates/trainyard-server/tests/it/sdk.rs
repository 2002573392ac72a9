//! The SDK (`trainyard-client`) end to end against a real server (insecure mode): every
//! `Estimator` call, the paging stream, client-side validation and the no-duplicate-create rule.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trainyard_client::{
    Error, Estimator, JobConfig, JobListParams, JobStatus, Order, RetryPolicy, Session, SortKey,
};

use crate::common::{PROJECT, TestServer};

fn session(server: &TestServer) -> Session {
    Session::without_auth(&server.base, PROJECT).unwrap()
}

fn sleep_config(secs: u32) -> JobConfig {
    JobConfig {
        worker_server_num: Some(1),
        spec_id: Some(1),
        user_command: Some(format!("sleep {secs}")),
        ..JobConfig::default()
    }
}

/// Every job call of the `Estimator`, each checked against the server's own view.
#[tokio::test]
async fn estimator_job_calls_round_trip() {
    let server = TestServer::start(|_| {}).await;
    let s = session(&server);

    let specs = Estimator::specs(&s).await.unwrap();
    assert!(specs.is_success);
    assert_eq!(specs.spec_total_count, specs.specs.len() as i64);
    assert!(specs.specs.iter().any(|sp| sp.spec_id == 1), "{specs:?}");
    let engines = Estimator::engines(&s).await.unwrap();
    assert!(!engines.engines.is_empty());
    // The same answers as the raw API.
    let (st, raw) = server
        .get("/job/resource-specs", &[("job_type", "train")])
        .await;
    assert_eq!(st, 200);
    assert_eq!(serde_json::to_value(&specs).unwrap(), raw);
    let (_, raw) = server
        .get("/job/ai-engines", &[("job_type", "train")])
        .await;
    assert_eq!(serde_json::to_value(&engines).unwrap(), raw);

    // create (fit)
    let created = Estimator::create_job(&s, "sdk-e2e", "first desc", None, &sleep_config(30))
        .await
        .unwrap();
    assert!(created.is_success);
    assert_eq!(created.job_name, "sdk-e2e");
    assert_eq!(created.version_name, "V0001");
    assert_eq!(created.status, JobStatus::Init);
    let (job, v1) = (created.job_id, created.version_id);

    // version detail
    let info = Estimator::get_job_version(&s, job, v1).await.unwrap();
    assert_eq!((info.job_id, info.version_id), (job, v1));
    assert_eq!(info.job_name, "sdk-e2e");
    assert_eq!(info.job_desc, "first desc");
    assert_eq!(info.user_command, "sleep 30");
    assert_eq!((info.worker_server_num, info.spec_id), (1, 1));
    assert_eq!(info.pre_version_id, None);
    let (_, raw) = server
        .get(&format!("/training-jobs/{job}/versions/{v1}"), &[])
        .await;
    assert_eq!(raw["job_name"], "sdk-e2e");
    assert_eq!(raw["version_id"], v1);

    // create version: inherits the config, keeps its own description
    let second = Estimator::create_version(&s, job, v1, "second", &JobConfig::default())
        .await
        .unwrap();
    assert_eq!(second.job_id, job);
    assert_eq!(second.version_name, "V0002");
    let v2 = second.version_id;
    assert!(v2 > v1);
    let info2 = Estimator::get_job_version(&s, job, v2).await.unwrap();
    assert_eq!(info2.pre_version_id, Some(v1));
    assert_eq!(info2.user_command, "sleep 30");
    assert_eq!(info2.version_desc, "second");
    assert_eq!(info2.job_desc, "first desc");

    // versions: newest first; page 0 = all
    let versions = Estimator::list_versions(&s, job, 10, 0).await.unwrap();
    assert_eq!(versions.version_count, 2);
    let ids: Vec<i64> = versions.versions.iter().map(|v| v.version_id).collect();
    assert_eq!(ids, vec![v2, v1]);
    let page2 = Estimator::list_versions(&s, job, 1, 2).await.unwrap();
    assert_eq!(
        page2
            .versions
            .iter()
            .map(|v| v.version_id)
            .collect::<Vec<_>>(),
        vec![v1]
    );

    // stop: from 1/2/4/7 -> 13, from 8 -> 9 (-> 12)
    Estimator::stop_version(&s, job, v2).await.unwrap();
    let stopped = Estimator::get_job_version(&s, job, v2).await.unwrap();
    assert!(
        matches!(
            stopped.status,
            JobStatus::Canceled | JobStatus::Killing | JobStatus::Killed
        ),
        "{:?}",
        stopped.status
    );
    if stopped.status == JobStatus::Canceled {
        let e = Estimator::stop_version(&s, job, v2).await.unwrap_err();
        assert_eq!(e.http_status(), Some(409), "{e}");
        assert_eq!(e.error_code(), Some("ModelArts.2796"), "{e}");
    }

    // update description: seen in the detail and in the list row
    Estimator::update_job_desc(&s, job, "new desc")
        .await
        .unwrap();
    assert_eq!(
        Estimator::get_job_version(&s, job, v1)
            .await
            .unwrap()
            .job_desc,
        "new desc"
    );
    let list = Estimator::get_job_list(&s, &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(list.job_total_count, 1);
    assert_eq!(list.jobs[0].job_desc, "new desc");
    assert_eq!(list.jobs[0].version_id, v2);
    assert_eq!(list.jobs[0].version_count, 2);
    let e = Estimator::update_job_desc(&s, job + 1000, "x")
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");

    // delete a version, then the job
    Estimator::delete_version(&s, job, v2).await.unwrap();
    let e = Estimator::get_job_version(&s, job, v2).await.unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert_eq!(e.error_code(), Some("ModelArts.2775"));
    assert_eq!(
        Estimator::list_versions(&s, job, 10, 0)
            .await
            .unwrap()
            .version_count,
        1
    );
    Estimator::delete_job(&s, job).await.unwrap();
    assert!(
        Estimator::get_job_version(&s, job, v1)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let list = Estimator::get_job_list(&s, &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(list.job_total_count, 0);
    // The name is free again.
    let again = Estimator::create_job(&s, "sdk-e2e", "", None, &sleep_config(30))
        .await
        .unwrap();
    assert!(again.job_id > job);
    Estimator::delete_job(&s, again.job_id).await.unwrap();
}

/// Log file names and lines through the SDK (`training-jobs.md` §10, §11).
#[tokio::test]
async fn estimator_log_calls() {
    let server = TestServer::start(|_| {}).await;
    let s = session(&server);
    let cfg = JobConfig {
        worker_server_num: Some(2),
        spec_id: Some(1),
        user_command: Some("echo hello; echo world".into()),
        ..JobConfig::default()
    };
    let created = Estimator::create_job(&s, "logs-e2e", "", None, &cfg)
        .await
        .unwrap();
    let (job, v) = (created.job_id, created.version_id);
    let files = Estimator::log_file_names(&s, job, v).await.unwrap();
    assert_eq!(files, vec!["logs-e2e-V0001.0", "logs-e2e-V0001.1"]);
    let page = Estimator::log_lines(&s, job, v, &files[0], "", 10, Order::Desc)
        .await
        .unwrap();
    assert!(page.is_success);
    // Whatever has been written so far: whole lines, counted.
    assert_eq!(page.lines as usize, page.content.matches('\n').count());
    assert!(page.content.is_empty() || page.content.ends_with('\n'));
    let e = Estimator::log_file_names(&s, job, v + 999)
        .await
        .unwrap_err();
    assert!(e.is_not_found(), "{e}");
    Estimator::delete_job(&s, job).await.unwrap();
}

/// The import through the SDK: counts, ids in record order, all or nothing.
#[tokio::test]
async fn estimator_import_history() {
    let server = TestServer::start(|_| {}).await;
    let s = session(&server);
    let records: Vec<Value> = (0..5)
        .map(|i| {
            json!({"job_name": format!("hist-{i}"), "status": 10, "create_time": 1_700_000_000_000_i64 + i,
                   "start_time": 1_700_000_001_000_i64, "end_time": 1_700_000_061_000_i64})
        })
        .collect();
    let resp = Estimator::import_history(&s, records).await.unwrap();
    assert_eq!(resp.imported, 5);
    assert_eq!(resp.last_job_id - resp.first_job_id, 4);
    let list = Estimator::get_job_list(&s, &JobListParams::new().order(Order::Asc))
        .await
        .unwrap();
    assert_eq!(list.job_total_count, 5);
    assert_eq!(list.jobs[0].job_name, "hist-0");
    assert_eq!(list.jobs[0].job_id, resp.first_job_id);
    assert_eq!(list.jobs[0].duration, 60_000);
    assert_eq!(list.jobs[0].status, JobStatus::Completed);
    // A bad line: nothing imported, the server names the line.
    let e = Estimator::import_history_ndjson(
        &s,
        b"{\"job_name\":\"ok-1\",\"status\":10,\"create_time\":1}\n{\"job_name\":\"bad\",\"status\":8,\"create_time\":1}\n".to_vec(),
    )
    .await
    .unwrap_err();
    assert_eq!(e.error_code(), Some("ModelArts.0101"), "{e}");
    assert!(e.to_string().contains("line 2"), "{e}");
    let list = Estimator::get_job_list(&s, &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(list.job_total_count, 5);
}

/// A small deterministic generator (SplitMix64).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `list_all` over 2,345 imported jobs yields each once, in the order computed here from the
/// data (sort key, then job_id in the same direction, `list.md` "Semantics" 5).
#[tokio::test]
async fn list_all_walks_every_page_once_in_order() {
    const N: usize = 2345;
    let server = TestServer::start(|_| {}).await;
    let s = session(&server);
    let statuses = [10_i64, 11, 12, 13];
    // (name, create_time, status); create times collide often to exercise the tie-break.
    let data: Vec<(String, i64, i64)> = (0..N as u64)
        .map(|i| {
            let r = mix(i);
            (
                format!("walk-{:05}", mix(i + 7_000) % 100_000),
                1_700_000_000_000 + (r % 500) as i64 * 1000,
                statuses[(r >> 20) as usize % 4],
            )
        })
        .collect();
    // Names must be unique: suffix the index where the hash collides.
    let mut seen = HashSet::new();
    let data: Vec<(String, i64, i64)> = data
        .into_iter()
        .enumerate()
        .map(|(i, (n, t, st))| {
            let n = if seen.insert(n.clone()) {
                n
            } else {
                format!("{n}-{i}")
            };
            (n, t, st)
        })
        .collect();
    let records: Vec<Value> = data
        .iter()
        .map(|(n, t, st)| json!({"job_name": n, "status": st, "create_time": t}))
        .collect();
    let resp = Estimator::import_history(&s, records).await.unwrap();
    assert_eq!(resp.imported, N as u64);
    // Ids are assigned in record order.
    let rows: Vec<(i64, &str, i64, i64)> = data
        .iter()
        .enumerate()
        .map(|(i, (n, t, st))| (resp.first_job_id + i as i64, n.as_str(), *t, *st))
        .collect();

    // create_time descending, ties by job_id descending; 100 per page = 24 pages.
    let mut expected = rows.clone();
    expected.sort_by_key(|r| std::cmp::Reverse((r.2, r.0)));
    let expected_ids: Vec<i64> = expected.iter().map(|r| r.0).collect();
    let got: Vec<i64> = Estimator::list_all(
        &s,
        &JobListParams::new()
            .sort_by(SortKey::CreateTime)
            .order(Order::Desc)
            .per_page(100),
    )
    .map_ok(|r| r.job_id)
    .try_collect()
    .await
    .unwrap();
    assert_eq!(got.len(), N);
    assert_eq!(
        got.iter().collect::<HashSet<_>>().len(),
        N,
        "a job was yielded twice"
    );
    assert_eq!(got, expected_ids);

    // The SDK default (job_name descending, 1000 per page = 3 pages), filtered on two statuses.
    let mut expected: Vec<_> = rows
        .iter()
        .filter(|r| r.3 == 11 || r.3 == 13)
        .cloned()
        .collect();
    expected.sort_by(|a, b| b.1.cmp(a.1).then(b.0.cmp(&a.0)));
    let got: Vec<(i64, String)> = Estimator::list_all(
        &s,
        &JobListParams::new().statuses([JobStatus::Failed, JobStatus::Canceled]),
    )
    .map_ok(|r| (r.job_id, r.job_name))
    .try_collect()
    .await
    .unwrap();
    let want: Vec<(i64, String)> = expected.iter().map(|r| (r.0, r.1.to_owned())).collect();
    assert_eq!(got, want);

    // Ascending from page 3 of 1000: the last 345 rows of the ascending order.
    let mut asc = rows.clone();
    asc.sort_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(&b.0)));
    let got: Vec<i64> = Estimator::list_all(
        &s,
        &JobListParams::new()
            .order(Order::Asc)
            .per_page(1000)
            .page(3),
    )
    .map_ok(|r| r.job_id)
    .try_collect()
    .await
    .unwrap();
    assert_eq!(got, asc[2000..].iter().map(|r| r.0).collect::<Vec<_>>());
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Invalid arguments are refused before any request, with the server's own message.
#[tokio::test]
async fn invalid_arguments_fail_before_any_request() {
    let dead = Session::builder(format!("http://127.0.0.1:{}", closed_port()))
        .project_id(PROJECT)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    // The port really is closed: a valid call is a transport error.
    let e = Estimator::get_job_list(&dead, &JobListParams::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e}");

    let e = Estimator::get_job_list(&dead, &JobListParams::new().per_page(1001))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");
    assert_eq!(
        e.to_string(),
        "ModelArts.0101: per_page must be an integer 1-1000, got \"1001\""
    );
    for bad in [
        JobListParams::new().page(0),
        JobListParams::new().page(65536),
        JobListParams::new().search_content("x".repeat(101)),
        JobListParams::new().workspace_id("a/b"),
    ] {
        let e = Estimator::get_job_list(&dead, &bad).await.unwrap_err();
        assert!(matches!(e, Error::InvalidArgument(_)), "{bad:?}: {e}");
        let mut walk = std::pin::pin!(Estimator::list_all(&dead, &bad));
        let first = walk.try_next().await.unwrap_err();
        assert!(matches!(first, Error::InvalidArgument(_)), "{first}");
    }
    let e = Estimator::create_job(&dead, "no spaces allowed", "", None, &sleep_config(1))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument(_)), "{e}");

    // The server says the same thing for the same value.
    let server = TestServer::start(|_| {}).await;
    let (status, body) = server.list(&[("per_page", "1001")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], "ModelArts.0101");
    let sdk = Estimator::get_job_list(&session(&server), &JobListParams::new().per_page(1001))
        .await
        .unwrap_err();
    assert_eq!(body["error_msg"].as_str().unwrap(), sdk.error_msg());
}

/// A TCP proxy that forwards each request to `upstream` and, as soon as the answer starts,
/// drops the client's connection without passing the answer on: the server has done the work,
/// the client sees a broken exchange. Returns its address and the connections it accepted.
async fn answer_swallowing_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let mut a = vec![0u8; 64 * 1024];
                let mut b = vec![0u8; 64 * 1024];
                loop {
                    tokio::select! {
                        r = client.read(&mut a) => match r {
                            Ok(0) | Err(_) => return,
                            Ok(n) => if up.write_all(&a[..n]).await.is_err() { return },
                        },
                        r = up.read(&mut b) => {
                            // The answer has started: the server has committed. Drop both.
                            let _ = r;
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, count)
}

/// A create whose answer is lost is not sent again (no duplicate job); a GET is retried.
#[tokio::test]
async fn retries_do_not_duplicate_creates() {
    let server = TestServer::start(|_| {}).await;
    let (proxy, accepted) = answer_swallowing_proxy(server.addr).await;
    let s = Session::builder(format!("http://{proxy}"))
        .project_id(PROJECT)
        .retry_policy(RetryPolicy {
            max_tries: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        })
        .build()
        .unwrap();
    let e = Estimator::create_job(&s, "only-once", "", None, &sleep_config(30))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the create was sent again"
    );
    // The server did create it, exactly once.
    let direct = session(&server);
    let list = Estimator::get_job_list(&direct, &JobListParams::new())
        .await
        .unwrap();
    assert_eq!(list.job_total_count, 1);
    assert_eq!(list.jobs[0].job_name, "only-once");
    // A GET through the same proxy is tried 3 times.
    let e = Estimator::get_job_list(&s, &JobListParams::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1 + 3);
    // Stops, updates and deletes are not retried either.
    let job = list.jobs[0].job_id;
    let _ = Estimator::update_job_desc(&s, job, "d").await.unwrap_err();
    assert_eq!(accepted.load(Ordering::SeqCst), 1 + 3 + 1);
    assert_eq!(
        Estimator::get_job_version(&direct, job, list.jobs[0].version_id)
            .await
            .unwrap()
            .job_desc,
        "d"
    );
}

/// A password session keeps working across the expiry of its short-lived tokens (renewed ahead
/// of time or after a 401), AK/SK sessions sign reads and writes, and bad credentials are
/// reported as such.
#[tokio::test]
async fn authenticated_sessions_and_token_renewal() {
    use crate::common::{ALICE_PASSWORD, PROJECT2, start_with_auth};
    let s = start_with_auth(|c| c.token_ttl_secs = 1).await;
    let base = s.server.base.clone();

    // Tokens live 1 s: calls spread over 3 s need at least two renewals.
    let pw = Session::with_password(&base, PROJECT, "alice", "alice", ALICE_PASSWORD).unwrap();
    let created = Estimator::create_job(&pw, "by-token", "", None, &sleep_config(30))
        .await
        .unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let list = Estimator::get_job_list(&pw, &JobListParams::new())
            .await
            .unwrap();
        assert_eq!(list.job_total_count, 1);
    }
    // A renewed token after the expiry with no margin at all: the 401 ModelArts.0202 path.
    let late = Session::builder(&base)
        .project_id(PROJECT)
        .password("alice", "alice", ALICE_PASSWORD)
        .token_renew_before(Duration::ZERO)
        .build()
        .unwrap();
    Estimator::get_job_list(&late, &JobListParams::new())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    Estimator::get_job_list(&late, &JobListParams::new())
        .await
        .unwrap();

    // AK/SK: signed GET, POST with a body, PUT, DELETE.
    let ak = Session::with_access_key(&base, PROJECT, &s.ak, &s.sk).unwrap();
    Estimator::update_job_desc(&ak, created.job_id, "signed")
        .await
        .unwrap();
    let v = Estimator::get_job_version(&ak, created.job_id, created.version_id)
        .await
        .unwrap();
    assert_eq!(v.job_desc, "signed");
    Estimator::delete_job(&ak, created.job_id).await.unwrap();

    // Another project's key: 403; a wrong password: Error::Auth; a wrong secret: 401.
    let other = Session::with_access_key(&base, PROJECT2, &s.ak, &s.sk).unwrap();
    let e = Estimator::get_job_list(&other, &JobListParams::new())
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), Some(403), "{e}");
    let bad = Session::with_password(&base, PROJECT, "alice", "alice", "wrong").unwrap();
    let e = Estimator::get_job_list(&bad, &JobListParams::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Auth { .. }), "{e}");
    let forged = Session::with_access_key(&base, PROJECT, &s.ak, "not-the-secret").unwrap();
    let e = Estimator::get_job_list(&forged, &JobListParams::new())
        .await
        .unwrap_err();
    assert_eq!(e.http_status(), Some(401), "{e}");
    // Unsigned requests are refused by a server with authentication on.
    let none = Session::without_auth(&base, PROJECT).unwrap();
    let e = Estimator::get_job_list(&none, &JobListParams::new())
        .await
        .unwrap_err();
    assert_eq!(e.error_code(), Some("ModelArts.0201"), "{e}");
}
