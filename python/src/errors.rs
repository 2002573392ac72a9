//! SDK errors as Python exceptions: the classes of `trainyard.errors` (pure Python, so that
//! they pickle and subclass like any exception), chosen by kind and HTTP status, carrying
//! `error_code`, `error_msg`, `http_status` and `request_id` (`errors.md`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule, PyType};
use trainyard_client::Error;
use trainyard_client::api::error::ApiError;

/// `trainyard.errors.<name>` (the module is imported once; errors are not a hot path).
fn class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = MODULE.get_or_try_init(py, || py.import("trainyard.errors").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// The exception class for an HTTP error status.
fn api_class(http_status: u16) -> &'static str {
    match http_status {
        401 => "AuthenticationError",
        403 => "PermissionDeniedError",
        404 => "NotFoundError",
        409 => "ConflictError",
        429 => "RateLimitError",
        500..=599 => "ServerError",
        400..=499 => "BadRequestError",
        _ => "ApiError",
    }
}

/// The attributes every `trainyard.errors.TrainyardError` carries.
struct Details<'a> {
    error_code: Option<&'a str>,
    error_msg: String,
    http_status: Option<u16>,
    request_id: Option<&'a str>,
}

/// Builds the exception: `cls(message, error_code=..., error_msg=..., http_status=...,
/// request_id=..., **extra)`.
fn make(
    py: Python<'_>,
    cls: &str,
    message: String,
    d: Details<'_>,
    extra: impl FnOnce(&Bound<'_, PyDict>) -> PyResult<()>,
) -> PyErr {
    let Details {
        error_code,
        error_msg,
        http_status,
        request_id,
    } = d;
    let built = (|| -> PyResult<PyErr> {
        let cls = class(py, cls)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("error_code", error_code)?;
        kwargs.set_item("error_msg", &error_msg)?;
        kwargs.set_item("http_status", http_status)?;
        kwargs.set_item("request_id", request_id)?;
        extra(&kwargs)?;
        let exc = cls.call((message.as_str(),), Some(&kwargs))?;
        Ok(PyErr::from_value(exc))
    })();
    // If `trainyard.errors` cannot be imported (a broken install), say so rather than lose the
    // original message.
    built.unwrap_or_else(|e| {
        pyo3::exceptions::PyRuntimeError::new_err(format!("{message} (and {e})"))
    })
}

/// Converts an SDK error into the matching `trainyard.errors` exception. `endpoint` is the
/// session's server URL, named in connection errors.
pub(crate) fn to_py(py: Python<'_>, err: Error, endpoint: &str) -> PyErr {
    let message = err.to_string();
    let error_msg = err.error_msg();
    match &err {
        Error::Api {
            http_status,
            error_code,
            request_id,
            ..
        } => make(
            py,
            api_class(*http_status),
            message,
            Details {
                error_code: (!error_code.is_empty()).then_some(error_code.as_str()),
                error_msg,
                http_status: Some(*http_status),
                request_id: request_id.as_deref(),
            },
            |_| Ok(()),
        ),
        Error::InvalidArgument(_) => make(
            py,
            "InvalidArgumentError",
            message,
            Details {
                error_code: err.error_code(),
                error_msg,
                http_status: None,
                request_id: None,
            },
            |_| Ok(()),
        ),
        Error::Auth { error_code, .. } => make(
            py,
            "AuthenticationError",
            message,
            Details {
                error_code: error_code.as_deref(),
                error_msg,
                http_status: err.http_status(),
                request_id: err.request_id(),
            },
            |_| Ok(()),
        ),
        Error::Transport(_) => make(
            py,
            "ConnectionError",
            format!("cannot reach the trainyard server at {endpoint}: {message}"),
            Details {
                error_code: None,
                error_msg,
                http_status: err.http_status(),
                request_id: None,
            },
            |kw| kw.set_item("endpoint", endpoint),
        ),
        Error::Decode { http_status, .. } => make(
            py,
            "DecodeError",
            message,
            Details {
                error_code: None,
                error_msg,
                http_status: Some(*http_status),
                request_id: None,
            },
            |_| Ok(()),
        ),
        Error::Config(_) => make(
            py,
            "ConfigError",
            message,
            Details {
                error_code: None,
                error_msg,
                http_status: None,
                request_id: None,
            },
            |_| Ok(()),
        ),
        Error::WaitTimeout {
            job_id,
            version_id,
            status,
            waited,
        } => {
            let (job_id, version_id, status, waited) =
                (*job_id, *version_id, status.code(), waited.as_secs_f64());
            make(
                py,
                "WaitTimeoutError",
                message,
                Details {
                    error_code: None,
                    error_msg,
                    http_status: None,
                    request_id: None,
                },
                |kw| {
                    kw.set_item("job_id", job_id)?;
                    kw.set_item("version_id", version_id)?;
                    kw.set_item("status", status)?;
                    kw.set_item("waited", waited)
                },
            )
        }
        _ => make(
            py,
            "TrainyardError",
            message,
            Details {
                error_code: err.error_code(),
                error_msg,
                http_status: err.http_status(),
                request_id: err.request_id(),
            },
            |_| Ok(()),
        ),
    }
}

/// An argument refused before sending by one of the server's own parsers
/// (`trainyard_api`): `InvalidArgumentError` with the server's code (`ModelArts.0101`, or
/// `ModelArts.2790` for a sort key) and message.
pub(crate) fn invalid(py: Python<'_>, e: ApiError) -> PyErr {
    let code = e.code.as_str();
    make(
        py,
        "InvalidArgumentError",
        format!("{code}: {}", e.message),
        Details {
            error_code: Some(code),
            error_msg: e.message,
            http_status: None,
            request_id: None,
        },
        |_| Ok(()),
    )
}

/// `InvalidArgumentError` (`ModelArts.0101`) with this message.
pub(crate) fn invalid_msg(py: Python<'_>, message: impl Into<String>) -> PyErr {
    invalid(py, ApiError::invalid(message))
}
