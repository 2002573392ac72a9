//! The listener: accepts TCP connections and serves HTTP/1.1 and HTTP/2 (prior knowledge) on
//! each with hyper, within limits that keep slow, idle or too many clients from exhausting the
//! server (issue 9 §2 "Slow clients"). `axum::serve` has none of these knobs, so this is the
//! same hyper-util stack with our own accept loop:
//!
//! - **Connection cap** ([`Limits::max_connections`]): a semaphore permit per connection. A
//!   connection above the cap gets one canned answer, `429` with the envelope
//!   (`ModelArts.2799`, `Retry-After: 1`, `Connection: close`), and is closed; at most
//!   [`MAX_REFUSALS`] such answers are being written at once, beyond that the socket is closed
//!   at once. Accept errors (`EMFILE` when file descriptors run out) pause accepting for
//!   100 ms instead of spinning.
//! - **Header read timeout** ([`Limits::header_read_timeout`]): once the first byte of a request
//!   arrives on a connection with no request in flight, its head must be complete (the request
//!   reaches the router) within this time, else the connection is closed.
//! - **Idle timeout** ([`Limits::idle_timeout`]): a connection with no request in flight (a
//!   keep-alive HTTP/1.1 connection between requests, an HTTP/2 connection without streams)
//!   that receives nothing for this long is closed. A request in flight (including a long
//!   `log/stream`) is never cut by these two timers.
//! - `TCP_NODELAY` on every accepted socket (responses are written in one go anyway; this
//!   avoids 40 ms Nagle/delayed-ACK stalls on keep-alive clients).
//! - Each request gets the peer address as [`ConnectInfo<std::net::SocketAddr>`] (per-address throttles
//!   in [`crate::auth`]).
//! - Graceful shutdown: when `shutdown` resolves, stop accepting, tell every connection to
//!   finish its in-flight requests and close (hyper's graceful shutdown), and wait for them.
//!
//! hyper's own `http1::Builder::header_read_timeout` is not used: its timer starts when the
//! previous response ends, so it cannot tell an idle keep-alive connection from a slow head, and
//! it does not apply to HTTP/2. The two timers here are driven by [`Activity`]: the service
//! wrapper counts requests in flight (until the response body is dropped), the socket wrapper
//! [`Watched`] notes the first byte that arrives while no request is in flight.

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;
use trainyard_api::error::{ApiError, ErrorCode};

/// Refusal answers (connections over the cap) being written at once; beyond, the socket is
/// closed without an answer.
pub const MAX_REFUSALS: usize = 64;
/// How long a refused connection is drained after its answer (so the client reads the answer
/// instead of a reset), at most.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// Largest buffer hyper keeps per HTTP/1 connection for a request head (hyper's default is
/// about 400 KiB; 64 KiB heads are plenty and bound a slow client's memory).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The listener's limits (from [`crate::config::ServerConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Time from the first byte of a request head to its end.
    pub header_read_timeout: Duration,
    /// Silence allowed on a connection with no request in flight.
    pub idle_timeout: Duration,
}

impl Limits {
    /// The limits a configuration names.
    pub fn from_config(c: &crate::config::ServerConfig) -> Limits {
        Limits {
            max_connections: c.max_connections.max(1),
            header_read_timeout: Duration::from_millis(c.header_read_timeout_ms.max(1)),
            idle_timeout: Duration::from_millis(c.idle_timeout_ms.max(1)),
        }
    }
}

/// What the two timers of one connection look at.
#[derive(Debug)]
struct ActivityState {
    /// Requests whose response body has not been dropped yet.
    in_flight: u32,
    /// When the last request ended (or the connection opened).
    idle_since: Instant,
    /// First byte received since then, if any (a request head is arriving).
    head_since: Option<Instant>,
}

/// Per-connection activity, shared by the socket wrapper, the service wrapper and the
/// connection task.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    /// Bytes arrived.
    fn on_bytes(&self) {
        let mut s = self.state.lock();
        if s.in_flight == 0 && s.head_since.is_none() {
            s.head_since = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }

    /// A request reached the service; the guard ends it when dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        {
            let mut s = self.state.lock();
            s.in_flight += 1;
            s.head_since = None;
        }
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// When the connection must be closed if nothing changes; `None` while a request is in
    /// flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        let s = self.state.lock();
        if s.in_flight > 0 {
            return None;
        }
        Some(match s.head_since {
            Some(t) => t + limits.header_read_timeout,
            None => s.idle_since + limits.idle_timeout,
        })
    }
}

/// One request in flight (until its response body is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        {
            let mut s = self.0.state.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
                s.head_since = None;
            }
        }
        self.0.changed.notify_one();
    }
}

/// The socket, noting in [`Activity`] when bytes arrive.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_bytes();
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The canned answer to a connection over the cap.
fn refusal_bytes(max_connections: usize) -> Vec<u8> {
    let body = serde_json::to_vec(
        &ApiError::new(
            ErrorCode::TooManyRequests,
            format!(
                "the server is serving its maximum number of connections ({max_connections}); retry later"
            ),
        )
        .body(),
    )
    .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Writes the refusal, half-closes, and drains what the client sends for a moment so that the
/// close does not reset the connection before the client has read the answer.
async fn refuse(mut stream: TcpStream, answer: Arc<Vec<u8>>) {
    let work = async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0usize;
        while drained < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, work).await;
}

/// True for accept errors that concern one connection only (the next accept may succeed).
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// File descriptors kept free for everything that is not a client connection (the database,
/// logs, workers' pidfds and pipes).
const FD_RESERVE: u64 = 256;

/// Raises the soft open-files limit (up to the hard one) so that `max_connections` sockets
/// fit next to [`FD_RESERVE`] other descriptors; warns when they cannot. Returns the number
/// of connections that fit (at most `max_connections`).
pub fn fit_open_files(max_connections: usize) -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let want = max_connections as u64 + FD_RESERVE;
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|cur| cur < want) {
        let target = lim.maximum.map_or(want, |max| max.min(want));
        let mut raised = lim;
        raised.current = Some(target);
        if setrlimit(Resource::Nofile, raised).is_ok() {
            lim = getrlimit(Resource::Nofile);
        }
    }
    match lim.current {
        Some(cur) if cur < want => {
            let fit = cur.saturating_sub(FD_RESERVE).max(16);
            tracing::warn!(
                max_connections,
                open_files_limit = cur,
                serving = fit,
                "the open-files limit is too low for max_connections; serving fewer connections (raise `ulimit -n`)"
            );
            usize::try_from(fit).unwrap_or(max_connections)
        }
        _ => max_connections,
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then drains in-flight
/// requests (module docs).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(refusal_bytes(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .keep_alive(true)
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            if refusals.fetch_add(1, Ordering::AcqRel) < MAX_REFUSALS {
                let (refusals, answer) = (refusals.clone(), answer.clone());
                tokio::spawn(async move {
                    refuse(stream, answer).await;
                    refusals.fetch_sub(1, Ordering::AcqRel);
                });
            } else {
                refusals.fetch_sub(1, Ordering::AcqRel);
                drop(stream);
            }
            tracing::debug!(%peer, "connection refused: max_connections reached");
            continue;
        };
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            io: stream,
            activity: activity.clone(),
        });
        let svc_activity = activity.clone();
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let guard = svc_activity.begin();
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            let call = app.clone().oneshot(req);
            async move {
                let resp = match call.await {
                    Ok(r) => r,
                    Err(e) => match e {},
                };
                // The request stays in flight until hyper drops the response body.
                Ok::<_, Infallible>(resp.map(|b| {
                    Body::new(b.map_frame(move |f| {
                        let _ = &guard;
                        f
                    }))
                }))
            }
        });
        let conn = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(conn);
            loop {
                let deadline = activity.deadline(&limits);
                let timer = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    res = conn.as_mut() => {
                        if let Err(e) = res {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    () = activity.changed.notified() => {}
                    () = timer => {
                        if activity.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                            tracing::debug!(%peer, "connection closed: header read or idle timeout");
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_requests_and_bytes() {
        let a = Arc::new(Activity::new());
        let l = limits();
        let opened = Instant::now();
        assert_eq!(a.deadline(&l), Some(opened + l.idle_timeout));
        tokio::time::advance(Duration::from_secs(3)).await;
        a.on_bytes();
        let first_byte = Instant::now();
        assert_eq!(a.deadline(&l), Some(first_byte + l.header_read_timeout));
        // More bytes of the same head do not move the deadline.
        tokio::time::advance(Duration::from_secs(1)).await;
        a.on_bytes();
        assert_eq!(a.deadline(&l), Some(first_byte + l.header_read_timeout));
        let g = a.begin();
        assert_eq!(
            a.deadline(&l),
            None,
            "no timer while a request is in flight"
        );
        a.on_bytes();
        assert_eq!(a.deadline(&l), None);
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(g);
        let ended = Instant::now();
        assert_eq!(a.deadline(&l), Some(ended + l.idle_timeout));
    }

    #[test]
    fn refusal_is_an_envelope() {
        let raw = refusal_bytes(7);
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "));
        assert!(head.contains("retry-after: 1"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error_code"], "ModelArts.2799");
        assert_eq!(v["is_success"], false);
        assert!(v["error_msg"].as_str().unwrap().contains("(7)"));
    }
}
