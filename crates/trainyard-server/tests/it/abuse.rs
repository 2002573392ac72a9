//! Issue 9 §2: no unauthenticated client can exhaust the server. Each test is one attack, made
//! the way an attacker would (raw sockets, floods from loopback, bounded in count and time),
//! against a server whose limits are configured low.

use crate::common::*;
use serde_json::Value;
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
