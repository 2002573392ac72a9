//! Bodies that arrive before their sender is authenticated (a signed request's body, which
//! must be hashed to check the signature; a token request's body) are read within bounds:
//!
//! - **A server-wide byte budget** ([`BodyBudget`], config `unverified_body_bytes`): bytes are
//!   acquired before they are buffered, from `Content-Length` when the client sent one, else
//!   chunk by chunk. A request that cannot get room within `unverified_body_wait_ms` is answered
//!   429 `ModelArts.2799` ([`BodyError::Busy`]); one that could never fit (larger than the
//!   whole budget) is 413. The room is given back as soon as the signature is checked (or the
//!   request fails), so the memory held by unauthenticated requests never exceeds the budget.
//! - **A time limit** (`body_read_timeout_ms`) on receiving the whole body
//!   ([`BodyError::Timeout`], 400), so a client that trickles its body cannot hold room forever.
//! - **The route's size limit** (413 `ModelArts.0101`), checked on `Content-Length` before
//!   anything is read, and again while reading.
//!
//! The body is hashed while it arrives and kept as the chunks hyper delivered (no copy); the
//! handler gets them back as a stream.

use axum::body::{Body, Bytes};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use trainyard_sign::BodyHasher;

/// The server-wide budget of bytes for bodies not yet authenticated.
#[derive(Debug)]
pub struct BodyBudget {
    sem: Arc<Semaphore>,
    total: usize,
    wait: Duration,
    read_timeout: Duration,
}

/// Why a body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the route's limit, or larger than the whole budget (413).
    TooLarge,
    /// No room in the budget within the wait (429, retry later).
    Busy,
    /// Not received within the time limit (400).
    Timeout,
    /// The connection failed while reading (400).
    Read,
}

/// A body read within the budget: its chunks, its SHA-256, and the room it holds (given back
/// when this is dropped or turned into a [`Body`]).
#[derive(Debug)]
pub struct Buffered {
    chunks: Vec<Bytes>,
    len: usize,
    sha256_hex: String,
    _room: Option<OwnedSemaphorePermit>,
}

impl Buffered {
    /// Hex SHA-256 of the body.
    pub fn sha256_hex(&self) -> &str {
        &self.sha256_hex
    }

    /// Bytes in the body.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for an empty body.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The body for the handler; gives the room back to the budget.
    pub fn into_body(self) -> Body {
        match self.chunks.len() {
            0 => Body::empty(),
            1 => Body::from(self.chunks.into_iter().next().unwrap_or_default()),
            _ => Body::from_stream(futures::stream::iter(
                self.chunks
                    .into_iter()
                    .map(Ok::<_, std::convert::Infallible>),
            )),
        }
    }

    /// The body as one contiguous buffer; gives the room back to the budget.
    pub fn into_bytes(self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.into_iter().next().unwrap_or_default(),
            _ => {
                let mut v = Vec::with_capacity(self.len);
                for c in &self.chunks {
                    v.extend_from_slice(c);
                }
                Bytes::from(v)
            }
        }
    }
}

fn permits(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl BodyBudget {
    /// A budget of `total` bytes (at most `u32::MAX`); requests wait up to `wait` for room and
    /// must arrive within `read_timeout`.
    pub fn new(total: usize, wait: Duration, read_timeout: Duration) -> BodyBudget {
        let total = total.min(u32::MAX as usize);
        BodyBudget {
            sem: Arc::new(Semaphore::new(total)),
            total,
            wait,
            read_timeout,
        }
    }

    /// Bytes currently held by bodies being read or awaiting their check.
    pub fn held(&self) -> usize {
        self.total - self.sem.available_permits()
    }

    /// Reads `body` (at most `limit` bytes; `declared` is its `Content-Length`) within the
    /// budget and the time limit, hashing it (module docs).
    pub async fn read(
        &self,
        body: Body,
        declared: Option<u64>,
        limit: usize,
    ) -> Result<Buffered, BodyError> {
        let limit = limit.min(self.total);
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(BodyError::TooLarge);
        }
        let deadline = tokio::time::Instant::now() + self.read_timeout;
        let wait_until = tokio::time::Instant::now() + self.wait;
        let mut room: Option<OwnedSemaphorePermit> = None;
        if let Some(n) = declared.filter(|&n| n > 0) {
            room = Some(self.acquire(n as usize, wait_until).await?);
        }
        let prepaid = declared.is_some();
        let mut hasher = BodyHasher::default();
        let mut chunks = Vec::new();
        let mut len = 0usize;
        let mut body = body;
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => return Err(BodyError::Timeout),
                Ok(None) => break,
                Ok(Some(Err(_))) => return Err(BodyError::Read),
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            len += data.len();
            if len > limit {
                return Err(BodyError::TooLarge);
            }
            if !prepaid {
                let more = self
                    .acquire(data.len(), wait_until.max(tokio::time::Instant::now()))
                    .await?;
                match &mut room {
                    Some(r) => r.merge(more),
                    None => room = Some(more),
                }
            }
            hasher.update(&data);
            chunks.push(data);
        }
        Ok(Buffered {
            chunks,
            len,
            sha256_hex: hasher.finish_hex(),
            _room: room,
        })
    }

    async fn acquire(
        &self,
        n: usize,
        until: tokio::time::Instant,
    ) -> Result<OwnedSemaphorePermit, BodyError> {
        if n > self.total {
            return Err(BodyError::TooLarge);
        }
        match tokio::time::timeout_at(until, self.sem.clone().acquire_many_owned(permits(n))).await
        {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(_)) | Err(_) => Err(BodyError::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(total: usize) -> BodyBudget {
        BodyBudget::new(total, Duration::from_millis(200), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn reads_hashes_and_gives_the_room_back() {
        let b = budget(100);
        let got = b.read(Body::from("hello"), Some(5), 50).await.unwrap();
        assert_eq!(got.sha256_hex(), trainyard_sign::sha256_hex(b"hello"));
        assert_eq!(b.held(), 5);
        let bytes = got.into_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(b.held(), 0);
    }

    #[tokio::test]
    async fn over_the_limit_or_the_budget_is_too_large() {
        let b = budget(100);
        assert_eq!(
            b.read(Body::from("x".repeat(60)), Some(60), 50)
                .await
                .unwrap_err(),
            BodyError::TooLarge
        );
        // Without a Content-Length, counted while reading.
        let stream = futures::stream::iter(
            (0..10).map(|_| Ok::<_, std::convert::Infallible>(Bytes::from("x".repeat(10)))),
        );
        assert_eq!(
            b.read(Body::from_stream(stream), None, 50)
                .await
                .unwrap_err(),
            BodyError::TooLarge
        );
        assert_eq!(
            b.read(Body::from("x"), Some(1_000), 10_000)
                .await
                .unwrap_err(),
            BodyError::TooLarge,
            "larger than the whole budget"
        );
        assert_eq!(b.held(), 0);
    }

    #[tokio::test]
    async fn a_full_budget_is_busy_after_the_wait() {
        let b = budget(100);
        let held = b
            .read(Body::from("x".repeat(80)), Some(80), 100)
            .await
            .unwrap();
        assert_eq!(
            b.read(Body::from("y".repeat(30)), Some(30), 100)
                .await
                .unwrap_err(),
            BodyError::Busy
        );
        // Chunked bodies acquire as they arrive: 20 fit, the next chunk waits, then is busy.
        let stream = futures::stream::iter(
            (0..3).map(|_| Ok::<_, std::convert::Infallible>(Bytes::from("z".repeat(10)))),
        );
        assert_eq!(
            b.read(Body::from_stream(stream), None, 100)
                .await
                .unwrap_err(),
            BodyError::Busy
        );
        assert_eq!(b.held(), 80, "the refused requests hold nothing");
        drop(held);
        assert!(
            b.read(Body::from("y".repeat(30)), Some(30), 100)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_trickled_body_times_out() {
        let b = BodyBudget::new(100, Duration::from_secs(1), Duration::from_millis(200));
        let stream = futures::stream::unfold(0, |i| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            (i < 100).then(|| (Ok::<_, std::convert::Infallible>(Bytes::from("a")), i + 1))
        });
        assert_eq!(
            b.read(Body::from_stream(stream), None, 100)
                .await
                .unwrap_err(),
            BodyError::Timeout
        );
        assert_eq!(b.held(), 0);
    }
}
