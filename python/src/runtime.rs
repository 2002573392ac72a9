//! The one tokio runtime of the module, and [`run`]: drive an SDK future to completion with
//! the interpreter released (other Python threads run while this one waits on the network).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

/// How often a waiting call takes the interpreter back to look for a pending signal
/// (Ctrl-C raises `KeyboardInterrupt` within this time, and the request is dropped).
const SIGNAL_TICK: Duration = Duration::from_millis(100);

/// A multi-threaded runtime with 2 worker threads that own the connections (so a connection
/// pooled by one Python thread is usable from any other). Created on first use, never dropped.
fn runtime() -> PyResult<&'static Runtime> {
    static RT: OnceLock<Runtime> = OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trainyard-io")
        .enable_all()
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start the I/O runtime: {e}"))
        })?;
    Ok(RT.get_or_init(|| rt))
}

/// Runs `fut` on the module's runtime and returns its output.
///
/// The interpreter is released while the future runs (`Python::detach`), and taken back every
/// [`SIGNAL_TICK`] to run signal handlers: a `KeyboardInterrupt` (or any exception a handler
/// raises) drops the future, which cancels the request, and is returned as the error.
pub(crate) fn run<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    let mut fut = Box::pin(fut);
    loop {
        // The timer is created inside `block_on`, in the runtime's context.
        let step = py.detach(|| {
            rt.block_on(async { tokio::time::timeout(SIGNAL_TICK, fut.as_mut()).await })
        });
        match step {
            Ok(out) => return Ok(out),
            Err(_elapsed) => py.check_signals()?,
        }
    }
}
