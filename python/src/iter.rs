//! Python iterators over the SDK's streams: all pages of the job list, and a followed log.
//!
//! Each holds the stream behind an async mutex (the object may be shared between threads) and
//! drives it with the interpreter released. Items that are already there (the rest of a fetched
//! page) are taken in the same trip, so a page costs one wait, not one per row.

use std::collections::VecDeque;

use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt};
use pyo3::prelude::*;
use tokio::sync::Mutex;
use trainyard_client::{JobRow, Result};

use crate::errors;
use crate::runtime::run;
use crate::types::Job;

/// Most items taken from a stream in one trip without waiting.
const BATCH: usize = 1000;

struct Pump<T> {
    stream: Option<BoxStream<'static, Result<T>>>,
    ready: VecDeque<T>,
}

/// The shared machinery: the next item, fetched with the interpreter released.
struct Source<T> {
    pump: Mutex<Pump<T>>,
    endpoint: String,
}

impl<T: Send + 'static> Source<T> {
    fn new(stream: impl Stream<Item = Result<T>> + Send + 'static, endpoint: &str) -> Source<T> {
        Source {
            pump: Mutex::new(Pump {
                stream: Some(stream.boxed()),
                ready: VecDeque::new(),
            }),
            endpoint: endpoint.to_owned(),
        }
    }

    /// The next item, `None` at the end (and after `close` or an error).
    fn next(&self, py: Python<'_>) -> PyResult<Option<T>> {
        let step = run(py, async {
            let mut p = self.pump.lock().await;
            if let Some(item) = p.ready.pop_front() {
                return Ok(Some(item));
            }
            let Some(stream) = p.stream.as_mut() else {
                return Ok(None);
            };
            match stream.next().await {
                None => {
                    p.stream = None;
                    Ok(None)
                }
                Some(Err(e)) => {
                    p.stream = None;
                    Err(e)
                }
                Some(Ok(item)) => {
                    // Take what is ready without waiting (the rest of the page).
                    let mut taken = Vec::new();
                    if let Some(stream) = p.stream.as_mut() {
                        while taken.len() < BATCH {
                            match stream.next().now_or_never() {
                                Some(Some(Ok(x))) => taken.push(x),
                                // An error or the end: leave it for the next call.
                                _ => break,
                            }
                        }
                    }
                    p.ready.extend(taken);
                    Ok(Some(item))
                }
            }
        })?;
        step.map_err(|e| errors::to_py(py, e, &self.endpoint))
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        run(py, async {
            let mut p = self.pump.lock().await;
            p.stream = None;
            p.ready.clear();
        })
    }
}

/// An iterator over every job matching a query, page after page (see `Client.iter_jobs`).
#[pyclass(module = "trainyard._native", frozen)]
pub(crate) struct JobIterator {
    source: Source<JobRow>,
}

impl JobIterator {
    pub(crate) fn new(
        stream: impl Stream<Item = Result<JobRow>> + Send + 'static,
        endpoint: &str,
    ) -> JobIterator {
        JobIterator {
            source: Source::new(stream, endpoint),
        }
    }
}

#[pymethods]
impl JobIterator {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Job>> {
        Ok(self.source.next(py)?.map(|inner| Job { inner }))
    }

    /// Stops the walk: no further page is fetched.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.source.close(py)
    }
}

/// An iterator over the chunks of a followed log (see `Client.follow_log`).
#[pyclass(module = "trainyard._native", frozen)]
pub(crate) struct LogFollower {
    source: Source<String>,
}

impl LogFollower {
    pub(crate) fn new(
        stream: impl Stream<Item = Result<String>> + Send + 'static,
        endpoint: &str,
    ) -> LogFollower {
        LogFollower {
            source: Source::new(stream, endpoint),
        }
    }
}

#[pymethods]
impl LogFollower {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.source.next(py)
    }

    /// Stops following: no further request is made.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.source.close(py)
    }
}
