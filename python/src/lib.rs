//! `trainyard._native`: the Python extension module of the `trainyard` package (PyO3, abi3 for
//! CPython >= 3.9), a thin layer over the Rust SDK `trainyard-client` (`sdk.md` "Python SDK").
//!
//! One implementation of signing, HTTP, paging, retries and errors: everything here converts
//! arguments (checked by the server's own parsers from `trainyard_api`) and results (typed
//! objects with `to_dict()`), and runs the SDK's futures on one tokio runtime with the
//! interpreter released. The pure-Python parts of the package (`python/pysrc/trainyard`) add
//! `JobStatus` (an `IntEnum`), the exception classes and the generator methods.
//!
//! Layout: [`client`] (the `Client` class), [`types`] (result classes), [`iter`] (page and log
//! iterators), [`convert`] (Python <-> JSON), [`errors`] (SDK errors -> exceptions),
//! [`runtime`] (the runtime and the GIL-free wait).

mod client;
mod convert;
mod errors;
mod iter;
mod runtime;
mod types;

use pyo3::prelude::*;

/// The native half of the `trainyard` package; import `trainyard` instead.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("STATUS_NAMES", client::status_names(py)?)?;
    m.add("TERMINAL_STATUS_CODES", client::terminal_codes())?;
    m.add("DEFAULT_ENDPOINT", trainyard_client::DEFAULT_ENDPOINT)?;
    m.add("DEFAULT_PROJECT_ID", trainyard_client::DEFAULT_PROJECT_ID)?;
    m.add_class::<client::Client>()?;
    m.add_class::<types::Job>()?;
    m.add_class::<types::JobPage>()?;
    m.add_class::<types::Version>()?;
    m.add_class::<types::VersionList>()?;
    m.add_class::<types::CreatedVersion>()?;
    m.add_class::<types::LogPage>()?;
    m.add_class::<types::Spec>()?;
    m.add_class::<types::Engine>()?;
    m.add_class::<types::ImportResult>()?;
    m.add_class::<iter::JobIterator>()?;
    m.add_class::<iter::LogFollower>()?;
    Ok(())
}
