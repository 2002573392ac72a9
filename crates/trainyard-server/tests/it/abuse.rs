//! Issue 9 §2: no unauthenticated client can exhaust the server. Each test is one attack, made
//! the way an attacker would (raw sockets, floods from loopback, bounded in count and time),
//! against a server whose limits are configured low.

use crate::common::*;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A parsed HTTP/1.1 response read from a raw socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What reading a socket gave, within a time limit.
#[derive(Debug)]
pub enum Read {
    /// A complete response.
    Response(RawResponse),
    /// The server closed the connection (EOF or reset) without a complete response.
    Closed,
    /// Nothing conclusive within the time limit.
    TimedOut,
}

/// Reads one response (by `Content-Length`) or until the server closes, within `limit`.
pub async fn read_response(stream: &mut TcpStream, limit: Duration) -> Read {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(r) = parse_response(&buf) {
            return Read::Response(r);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Read::TimedOut,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return match parse_response(&buf) {
                    Some(r) => Read::Response(r),
                    None => Read::Closed,
                };
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn parse_response(buf: &[u8]) -> Option<RawResponse> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())?;
    let body = buf.get(end + 4..end + 4 + len)?;
    Some(RawResponse {
        status,
        headers,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    })
}

/// The start of a request head, never finished.
const HALF_HEAD: &[u8] = b"GET /v1/x/training-jobs HTTP/1.1\r\nHost: a\r\nX-Slow: ";

fn assert_too_many(r: &RawResponse, what: &str) {
    assert_eq!(r.status, 429, "{what}: {r:?}");
    assert_eq!(r.body["error_code"], "ModelArts.2799", "{what}: {r:?}");
    assert_eq!(r.body["is_success"], false, "{what}");
    assert_eq!(r.body["error_msg"], r.body["error_message"], "{what}");
    let after: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: Retry-After in {r:?}"));
    assert!(after >= 1, "{what}: Retry-After {after}");
}

/// A normal request on a fresh connection, retried until it answers (the server frees slots
/// asynchronously); panics after `limit`.
async fn list_eventually(s: &TestServer, limit: Duration) -> u16 {
    let start = Instant::now();
    loop {
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        match c.get(s.url("/training-jobs")).send().await {
            Ok(r) if r.status().as_u16() != 429 => return r.status().as_u16(),
            _ if start.elapsed() > limit => panic!("no normal answer within {limit:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn connections_over_the_cap_get_a_429_envelope_and_are_closed() {
    let cap = 16;
    let s = TestServer::start(|c| {
        c.max_connections = cap;
        c.header_read_timeout_ms = 60_000;
        c.idle_timeout_ms = 60_000;
    })
    .await;
    // The slow clients take every slot (the kernel hands connections to accept in order).
    let mut held = Vec::new();
    for _ in 0..cap {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(HALF_HEAD).await.unwrap();
        held.push(c);
    }
    // A few hundred more: each is answered 429 at once and closed, none is kept open.
    for i in 0..284 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let _ = c.write_all(HALF_HEAD).await;
        match read_response(&mut c, Duration::from_secs(10)).await {
            Read::Response(r) => assert_too_many(&r, &format!("connection {i} over the cap")),
            other => panic!("connection {i} over the cap: {other:?}"),
        }
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the server closes a refused connection");
    }
    // The held connections are still served (not cut by the flood) ...
    for c in &mut held {
        assert!(matches!(
            read_response(c, Duration::from_millis(50)).await,
            Read::TimedOut
        ));
    }
    // ... and when they go away, normal requests are served again.
    drop(held);
    assert_eq!(list_eventually(&s, Duration::from_secs(20)).await, 200);
}

#[tokio::test]
async fn half_sent_heads_are_closed_after_the_header_read_timeout() {
    let s = TestServer::start(|c| {
        c.max_connections = 1024;
        c.header_read_timeout_ms = 500;
        c.idle_timeout_ms = 60_000;
    })
    .await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(HALF_HEAD).await.unwrap();
        slow.push(c);
    }
    // A client that trickles its head one byte at a time is cut as well.
    let mut trickle = TcpStream::connect(s.addr).await.unwrap();
    let trickled = tokio::spawn(async move {
        for b in HALF_HEAD.iter().cycle().take(400) {
            if trickle.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    });
    // Meanwhile, normal requests are served.
    let (status, _) = s.list(&[]).await;
    assert_eq!(status, 200);
    for (i, c) in slow.iter_mut().enumerate() {
        match read_response(c, Duration::from_secs(20)).await {
            Read::Closed => {}
            other => panic!("slow connection {i}: {other:?}"),
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "not closed before the timeout"
    );
    assert!(
        trickled.await.unwrap(),
        "a trickled head is cut before 20 s"
    );
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let s = TestServer::start(|c| {
        c.header_read_timeout_ms = 60_000;
        c.idle_timeout_ms = 500;
    })
    .await;
    // A keep-alive connection after one answered request.
    let mut kept = TcpStream::connect(s.addr).await.unwrap();
    kept.write_all(
        format!("GET /v1/{PROJECT}/training-jobs HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    match read_response(&mut kept, Duration::from_secs(10)).await {
        Read::Response(r) => assert_eq!(r.status, 200, "{r:?}"),
        other => panic!("first request: {other:?}"),
    }
    // A connection that never sends a byte.
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    for (what, c) in [("keep-alive", &mut kept), ("silent", &mut silent)] {
        match read_response(c, Duration::from_secs(20)).await {
            Read::Closed => {}
            other => panic!("{what} connection: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_request_in_flight_is_not_cut_by_the_timers() {
    let s = TestServer::start(|c| {
        c.header_read_timeout_ms = 300;
        c.idle_timeout_ms = 300;
    })
    .await;
    let body = TestServer::job_body("slow-body", "true").to_string();
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(
        format!(
            "POST /v1/{PROJECT}/training-jobs HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // The head is complete: the body may take longer than both timeouts.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    c.write_all(body.as_bytes()).await.unwrap();
    match read_response(&mut c, Duration::from_secs(20)).await {
        Read::Response(r) => assert_eq!(r.status, 200, "{r:?}"),
        other => panic!("slow body: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Token requests: bounded password checks, throttles per address and per user
// ---------------------------------------------------------------------------------------------

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in {:?}", r.headers()))
}

/// A 429 envelope with Retry-After; returns the seconds.
async fn expect_429(r: reqwest::Response, what: &str, names: &[&str]) -> u64 {
    let secs = retry_after(&r);
    assert!(secs >= 1, "{what}: Retry-After {secs}");
    let got = TestServer::finish_pub(r).await;
    assert_error(&got, 429, "ModelArts.2799", names);
    secs
}

async fn expect_401_login(r: reqwest::Response, what: &str) {
    let got = TestServer::finish_pub(r).await;
    assert_eq!(got.0, 401, "{what}: {}", got.1);
    assert_eq!(got.1["error_code"], "IAM.0004", "{what}");
}

/// 128 wrong logins at once, from 128 addresses and for 128 user names (so no throttle
/// applies): at most `password_check_threads` argon2 checks ever run at once, the queue holds
/// `password_check_queue` more, and the rest are answered 429 at once.
#[tokio::test]
async fn a_login_flood_runs_at_most_the_configured_password_checks() {
    let s = start_with_auth(|c| {
        c.password_check_threads = 1;
        c.password_check_queue = 2;
    })
    .await;
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..128u32 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let client = client_from(&format!("127.0.{}.{}", 10 + i / 200, 1 + i % 200));
            let r = s
                .login_via(
                    &client,
                    &format!("flood-{i}"),
                    "d",
                    "wrong password",
                    json!({"id": PROJECT}),
                )
                .await;
            let status = r.status().as_u16();
            match status {
                401 => expect_401_login(r, "flood").await,
                429 => {
                    expect_429(r, "flood", &["busy"]).await;
                }
                other => panic!("flood login answered {other}"),
            }
            status
        }));
    }
    let mut refused = 0;
    let mut busy = 0;
    for t in tasks {
        match t.await.unwrap() {
            401 => refused += 1,
            _ => busy += 1,
        }
    }
    assert!(
        busy > 0,
        "some were told to come back later ({refused} checked)"
    );
    assert!(refused >= 1, "some were checked");
    let peak = s.server.state.auth.passwords.peak_running();
    assert_eq!(peak, 1, "password checks at once");
    // The real user still gets in.
    assert!(!s.alice_token().await.is_empty());
}

#[tokio::test]
async fn failed_logins_throttle_the_address() {
    let s = start_with_auth(|_| {}).await;
    let attacker = client_from("127.0.1.1");
    let free = trainyard_server::auth::throttle::LOGIN_PER_ADDRESS.free_failures;
    // Different user names each time, so only the address counts.
    for i in 0..=free {
        let r = s
            .login_via(
                &attacker,
                &format!("guess-{i}"),
                "d",
                "nope-nope",
                json!({"id": PROJECT}),
            )
            .await;
        expect_401_login(r, &format!("guess {i}")).await;
    }
    let r = s
        .login_via(
            &attacker,
            "alice",
            "alice",
            ALICE_PASSWORD,
            json!({"id": PROJECT}),
        )
        .await;
    let secs = expect_429(r, "blocked address", &["address"]).await;
    assert_eq!(secs, 1, "the first delay is 1 s");
    // Another address logs in as alice at once.
    let r = s
        .login_via(
            &client_from("127.0.1.2"),
            "alice",
            "alice",
            ALICE_PASSWORD,
            json!({"id": PROJECT}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    // The next failure after the delay doubles it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = s
        .login_via(
            &attacker,
            "guess-x",
            "d",
            "nope-nope",
            json!({"id": PROJECT}),
        )
        .await;
    expect_401_login(r, "after the delay").await;
    let r = s
        .login_via(
            &attacker,
            "guess-y",
            "d",
            "nope-nope",
            json!({"id": PROJECT}),
        )
        .await;
    assert_eq!(expect_429(r, "doubled", &["address"]).await, 2);
}

/// Failed logins for one user, from many addresses, throttle that user name (known or not:
/// the answers are the same), except from an address the user recently logged in from.
#[tokio::test]
async fn failed_logins_throttle_the_user_but_not_where_it_logged_in() {
    let s = start_with_auth(|_| {}).await;
    let home = client_from("127.0.2.1");
    let r = s
        .login_via(
            &home,
            "alice",
            "alice",
            ALICE_PASSWORD,
            json!({"id": PROJECT}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let free = trainyard_server::auth::throttle::LOGIN_PER_USER.free_failures;
    for user in ["alice", "nobody"] {
        for i in 0..=free {
            let c = client_from(&format!("127.0.3.{}", i + 1));
            let r = s
                .login_via(&c, user, user, "wrong-password", json!({"id": PROJECT}))
                .await;
            expect_401_login(r, &format!("{user} guess {i}")).await;
        }
        // From yet another address, even the right password waits.
        let r = s
            .login_via(
                &client_from("127.0.3.200"),
                user,
                user,
                ALICE_PASSWORD,
                json!({"id": PROJECT}),
            )
            .await;
        expect_429(r, &format!("{user} from a new address"), &["user"]).await;
    }
    // Alice's own address is exempt: she is not locked out by the attacker.
    let r = s
        .login_via(
            &home,
            "alice",
            "alice",
            ALICE_PASSWORD,
            json!({"id": PROJECT}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    // Bob is unaffected.
    let r = s
        .login_via(
            &client_from("127.0.3.201"),
            "bob",
            "bob",
            BOB_PASSWORD,
            json!({"id": PROJECT2}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
}

// ---------------------------------------------------------------------------------------------
// The tarpit: throttled refusals are held before their 429
// ---------------------------------------------------------------------------------------------

/// One wrong login from `client` (a user name of its own, so only the address counts); the
/// answer and the time from sending it to the end of its body.
async fn wrong_login(
    s: &AuthServer,
    client: &reqwest::Client,
    n: u32,
) -> (u16, Option<u64>, Duration) {
    let t0 = Instant::now();
    let r = s
        .login_via(
            client,
            &format!("guess-{n}"),
            "d",
            "nope-nope",
            json!({"id": PROJECT}),
        )
        .await;
    let status = r.status().as_u16();
    let after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let _ = r.bytes().await;
    (status, after, t0.elapsed())
}

/// Makes `client`'s address fail its free logins and two more, a spec delay apart, so that it
/// is blocked for the second delay (`2 × base_delay_ms`) from about now.
async fn block_twice(s: &AuthServer, client: &reqwest::Client) {
    let p = trainyard_server::auth::throttle::LOGIN_PER_ADDRESS;
    for i in 0..=p.free_failures {
        let (status, _, _) = wrong_login(s, client, i).await;
        assert_eq!(status, 401, "free failure {i} and the first one beyond");
    }
    // The first delay, waited out (as the spec says), then the failure that doubles it.
    tokio::time::sleep(Duration::from_millis(p.base_delay_ms as u64 + 100)).await;
    let (status, _, _) = wrong_login(s, client, 1000).await;
    assert_eq!(status, 401, "the failure after the first delay");
}

/// A throttled address's next failed login is held before its 429: at least as long as the
/// block that the server's own `Retry-After` announces (whole seconds rounded up, so more than
/// `Retry-After - 1` s), up to the configured hold.
#[tokio::test]
async fn a_throttled_login_is_held_for_its_retry_after() {
    let s = start_with_auth(|_| {}).await;
    let attacker = client_from("127.0.4.1");
    block_twice(&s, &attacker).await;
    let (status, after, elapsed) = wrong_login(&s, &attacker, 2000).await;
    assert_eq!(status, 429);
    let after = after.expect("Retry-After");
    assert!(after >= 2, "the doubled delay is announced: {after} s");
    let cap = s.server.state.auth.tarpit.max_hold();
    let lower = Duration::from_millis((after - 1) * 1000).min(cap);
    assert!(
        elapsed >= lower,
        "held {elapsed:?}, at least min(Retry-After {after} s - 1 s, hold cap {cap:?})"
    );
    assert_eq!(s.server.state.auth.tarpit.held(), 0, "released");
}

/// While a flood from a throttled address is held, a correct login from another address is
/// answered (201) before any held request is released.
#[tokio::test]
async fn a_correct_login_elsewhere_is_answered_while_a_flood_is_held() {
    let s = std::sync::Arc::new(start_with_auth(|c| c.tarpit_max_hold_ms = 10_000).await);
    let attacker = client_from("127.0.5.1");
    block_twice(&s, &attacker).await;
    let flood = 32;
    let mut held = Vec::new();
    for i in 0..flood {
        let (s, attacker) = (s.clone(), attacker.clone());
        held.push(tokio::spawn(async move {
            wrong_login(&s, &attacker, 3000 + i).await
        }));
    }
    let state = s.server.state.clone();
    eventually("the flood is held", || {
        state.auth.tarpit.held() == flood as usize
    })
    .await;
    let r = s
        .login_via(
            &client_from("127.0.5.2"),
            "alice",
            "alice",
            ALICE_PASSWORD,
            json!({"id": PROJECT}),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let released = held.iter().filter(|t| t.is_finished()).count();
    assert_eq!(
        released, 0,
        "no held request was answered before the correct login"
    );
    for t in held {
        let (status, _, _) = t.await.unwrap();
        assert_eq!(status, 429);
    }
}

/// At most `tarpit_max_held` requests are held at once; the others are answered 429 at once
/// (before any held one is released).
#[tokio::test]
async fn held_requests_are_bounded() {
    let cap = 4;
    let s = std::sync::Arc::new(
        start_with_auth(|c| {
            c.tarpit_max_held = cap;
            c.tarpit_max_hold_ms = 10_000;
        })
        .await,
    );
    let attacker = client_from("127.0.6.1");
    block_twice(&s, &attacker).await;
    let flood = 12;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..flood {
        let (s, attacker, tx) = (s.clone(), attacker.clone(), tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(wrong_login(&s, &attacker, 4000 + i).await);
        });
    }
    drop(tx);
    let state = s.server.state.clone();
    // The first flood - cap answers arrive while cap requests are still held.
    for i in 0..flood as usize - cap {
        let (status, after, _) = rx.recv().await.unwrap();
        assert_eq!(status, 429, "answer {i}");
        assert!(after.unwrap() >= 1);
    }
    assert_eq!(state.auth.tarpit.held(), cap, "the rest are held");
    let mut rest = 0;
    while let Some((status, _, _)) = rx.recv().await {
        assert_eq!(status, 429);
        rest += 1;
    }
    assert_eq!(rest, cap);
    assert_eq!(state.auth.tarpit.peak_held(), cap);
    assert_eq!(state.auth.tarpit.held(), 0);
}

// ---------------------------------------------------------------------------------------------
// Signed bodies: checked before reading, read within a server-wide budget and a time limit
// ---------------------------------------------------------------------------------------------

/// The head of a signed `POST /trainyard/v1/{PROJECT}/job-history` announcing `len` bytes,
/// signed with `sk` at `date_ms` (the signature covers an empty body: it is wrong for any
/// other body, and the date check comes first anyway).
fn signed_import_head(s: &AuthServer, sk: &str, date_ms: i64, len: usize) -> String {
    let path = format!("/trainyard/v1/{PROJECT}/job-history");
    let host = s.server.addr.to_string();
    let headers = [
        ("Host", host.as_str()),
        ("Content-Type", "application/x-ndjson"),
    ];
    let signer = trainyard_sign::Signer::new(&s.ak, sk.as_bytes().to_vec());
    let signed = signer.sign(
        "POST",
        &path,
        "",
        &headers,
        b"",
        &trainyard_sign::sdk_date(date_ms),
    );
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in signed {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// A known AK with an expired date announcing a 60 MiB body is refused from its head: the
/// client need not send (and the server does not hold) a byte of the body.
#[tokio::test]
async fn an_expired_date_is_refused_before_the_body() {
    let s = start_with_auth(|_| {}).await;
    let head = signed_import_head(&s, &s.sk, now_ms() - 20 * 60_000, 60 << 20);
    let mut c = TcpStream::connect(s.server.addr).await.unwrap();
    c.write_all(head.as_bytes()).await.unwrap();
    match read_response(&mut c, Duration::from_secs(10)).await {
        Read::Response(r) => {
            assert_eq!(r.status, 401, "{r:?}");
            assert_eq!(r.body["error_code"], "APIG.0301");
        }
        other => panic!("expired date: {other:?}"),
    }
    assert_eq!(s.server.state.auth.bodies.held(), 0);
}

/// Waits until `cond` holds (polling), at most 20 s.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Bodies read before their signature is checked share one budget: a request that finds it
/// full waits a moment, then is answered 429; the room comes back when the holder's check ends.
#[tokio::test]
async fn unverified_bodies_share_a_bounded_budget() {
    let mib = 1 << 20;
    let s = start_with_auth(|c| {
        c.unverified_body_bytes = 2 * mib;
        c.unverified_body_wait_ms = 300;
    })
    .await;
    let wrong = format!("{}x", s.sk);
    let len = mib + mib / 2;
    let body = vec![b' '; len];
    // A holds 1.5 MiB of the 2 MiB while it sends slowly.
    let mut a = TcpStream::connect(s.server.addr).await.unwrap();
    a.write_all(signed_import_head(&s, &wrong, now_ms(), len).as_bytes())
        .await
        .unwrap();
    a.write_all(&body[..1000]).await.unwrap();
    let state = s.server.state.clone();
    eventually("A holds its room", || state.auth.bodies.held() == len).await;
    // B does not fit: 429 with Retry-After, without its body being read.
    let mut b = TcpStream::connect(s.server.addr).await.unwrap();
    b.write_all(signed_import_head(&s, &wrong, now_ms(), len).as_bytes())
        .await
        .unwrap();
    match read_response(&mut b, Duration::from_secs(10)).await {
        Read::Response(r) => assert_too_many(&r, "no room for B"),
        other => panic!("B: {other:?}"),
    }
    assert_eq!(state.auth.bodies.held(), len, "B holds nothing");
    // A finishes: its wrong signature is 401, and the room is given back.
    a.write_all(&body[1000..]).await.unwrap();
    match read_response(&mut a, Duration::from_secs(10)).await {
        Read::Response(r) => assert_eq!(r.status, 401, "{r:?}"),
        other => panic!("A: {other:?}"),
    }
    eventually("A's room is back", || state.auth.bodies.held() == 0).await;
    // A correct signature of a real import still works (it needs room too).
    let row = serde_json::to_string(&hist("imported", "ws1", 10, 1_700_000_000_000)).unwrap();
    let got = s
        .signed(
            "POST",
            &format!("/trainyard/v1/{PROJECT}/job-history"),
            format!("{row}\n").as_bytes(),
        )
        .await;
    assert_eq!(got.0, 200, "{}", got.1);
    assert_eq!(state.auth.bodies.held(), 0);
}

/// A body trickled after a signed head is cut after `body_read_timeout_ms` (400), and its room
/// is given back.
#[tokio::test]
async fn a_trickled_unverified_body_times_out() {
    let s = start_with_auth(|c| c.body_read_timeout_ms = 500).await;
    let mut c = TcpStream::connect(s.server.addr).await.unwrap();
    c.write_all(signed_import_head(&s, &s.sk, now_ms(), 10_000).as_bytes())
        .await
        .unwrap();
    c.write_all(b"{").await.unwrap();
    match read_response(&mut c, Duration::from_secs(20)).await {
        Read::Response(r) => {
            assert_eq!(r.status, 400, "{r:?}");
            assert_eq!(r.body["error_code"], "ModelArts.0101");
            assert!(
                r.body["error_msg"]
                    .as_str()
                    .unwrap()
                    .contains("body_read_timeout_ms")
            );
        }
        other => panic!("trickled body: {other:?}"),
    }
    assert_eq!(s.server.state.auth.bodies.held(), 0);
}

// ---------------------------------------------------------------------------------------------
// §3: answers found on the way
// ---------------------------------------------------------------------------------------------

/// Path parameters that are not UTF-8, or ids that are not positive integers, are 400
/// `ModelArts.0101` naming the parameter, as JSON (never axum's text/plain); a well-formed id
/// that does not exist is 404.
#[tokio::test]
async fn invalid_path_parameters_answer_the_envelope() {
    let s = TestServer::start(|_| {}).await;
    let base = format!("{}/v1/{PROJECT}/training-jobs", s.base);
    for (method, path, name) in [
        ("GET", "/%FF/versions/1", "job_id"),
        ("GET", "/1/versions/%C3%28", "version_id"),
        ("DELETE", "/%FF", "job_id"),
        ("GET", "/-1/versions/1", "job_id"),
        ("DELETE", "/-7", "job_id"),
        ("GET", "/0/versions/1", "job_id"),
        ("GET", "/1/versions/0", "version_id"),
        ("GET", "/1/versions/-1/log/file-names", "version_id"),
        ("GET", "/99999999999999999999/versions/1", "job_id"),
    ] {
        let r = s
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let got = TestServer::finish_pub(r).await;
        assert_error(&got, 400, "ModelArts.0101", &[name]);
    }
    let got = s.get("/training-jobs/424242/versions/1", &[]).await;
    assert_error(&got, 404, "ModelArts.2775", &[]);
}

/// `GET /v1/` (and `/v1`, `/trainyard/v1/`) without credentials is 401 like every path under
/// them, not 404.
#[tokio::test]
async fn the_api_roots_need_credentials() {
    let s = start_with_auth(|_| {}).await;
    for path in ["/v1/", "/v1", "/trainyard/v1/", "/trainyard/v1"] {
        let r = s
            .server
            .client
            .get(format!("{}{path}", s.server.base))
            .send()
            .await
            .unwrap();
        let got = TestServer::finish_pub(r).await;
        assert_error(&got, 401, "ModelArts.0201", &[]);
    }
    // With credentials, they are no path: 404.
    let got = s.signed("GET", "/v1/", b"").await;
    assert_error(&got, 404, "ModelArts.2836", &[]);
}

/// On a non-loopback address, an empty store gets no generated account (its secret would guard
/// a reachable server) unless `create_default_account` says so; on loopback it does.
#[tokio::test]
async fn no_default_account_on_a_non_loopback_address() {
    use trainyard_server::auth::{AccountSetup, prepare_accounts};
    let public: std::net::SocketAddr = "192.0.2.10:8080".parse().unwrap();
    for create in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let config = trainyard_server::config::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            create_default_account: create,
            ..Default::default()
        };
        let state = trainyard_server::build(config).await.unwrap();
        let got = prepare_accounts(&state, public, "http://192.0.2.10:8080")
            .await
            .unwrap();
        let file = dir.path().join("credentials.json");
        if create {
            assert!(matches!(got, AccountSetup::Created(_)), "{got:?}");
            assert!(file.exists());
        } else {
            assert!(matches!(got, AccountSetup::NeedsAdmin), "{got:?}");
            assert!(!file.exists(), "no secret written");
            assert_eq!(state.store.active_user_count().unwrap(), 0);
            assert!(state.store.projects().unwrap().is_empty());
            // Once an administrator added a user, nothing more is needed.
            state.store.add_project(None, "p", 1).unwrap();
            state
                .store
                .add_user("root", "root", "a-long-password", &["p".into()], 1)
                .unwrap();
            let again = prepare_accounts(&state, public, "http://x").await.unwrap();
            assert!(matches!(again, AccountSetup::Existing), "{again:?}");
        }
        // Loopback: created without the flag.
        let dir2 = tempfile::tempdir().unwrap();
        let state2 = trainyard_server::build(trainyard_server::config::ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir2.path().to_path_buf(),
            ..Default::default()
        })
        .await
        .unwrap();
        let got = prepare_accounts(&state2, "127.0.0.1:8080".parse().unwrap(), "http://x")
            .await
            .unwrap();
        assert!(matches!(got, AccountSetup::Created(_)), "{got:?}");
    }
}
