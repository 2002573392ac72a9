//! Conversions between Python objects and the SDK's JSON values, and the text form of query
//! arguments (so that the server's own parsers judge them, with the server's messages).

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors;

/// A JSON value as plain Python objects: `dict`, `list`, `str`, `int`, `float`, `bool`, `None`.
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_py(py, map)?.into_any(),
    })
}

/// A JSON object as a Python `dict`.
pub(crate) fn object_to_py<'py>(
    py: Python<'py>,
    map: &Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in map {
        d.set_item(k, to_py(py, v)?)?;
    }
    Ok(d)
}

/// Any serialisable SDK value as plain Python objects (through its JSON form).
pub(crate) fn serde_to_py<'py, T: serde::Serialize>(
    py: Python<'py>,
    v: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let value = serde_json::to_value(v)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    to_py(py, &value)
}

/// A Python object as JSON, for request bodies: `None`, `bool`, `int`, finite `float`, `str`,
/// `list`/`tuple`, and `dict` with `str` keys. Anything else is `InvalidArgumentError` naming
/// `field` and the type.
pub(crate) fn from_py(field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Err(errors::invalid_msg(
            py,
            format!(
                "{field} must be an integer in the 64-bit range, got {}",
                obj.str()?
            ),
        ));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            errors::invalid_msg(py, format!("{field} must be a finite number, got {v}"))
        });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| errors::invalid_msg(py, format!("{field} must have string keys")))?;
            let key = key.to_cow()?.into_owned();
            let value = from_py(&format!("{field}.{key}"), &v)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut out = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            out.push(from_py(&format!("{field}[{i}]"), &item?)?);
        }
        return Ok(Value::Array(out));
    }
    Err(errors::invalid_msg(
        py,
        format!(
            "{field} must be a JSON value (str, int, float, bool, None, list or dict), got {}",
            obj.get_type().name()?
        ),
    ))
}

/// The text a query argument is sent as: an `int` (or `IntEnum`) in decimal, a `str` as is,
/// anything else as `str(value)`. The server's parser then accepts it or refuses it with its
/// own message (so `per_page=10.5` is refused exactly as `?per_page=10.5` would be).
pub(crate) fn query_text(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>() {
        // `str()` of an IntEnum member is its name on Python < 3.11: format the int itself.
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(i.to_string());
        }
        return Ok(obj.call_method0("__index__")?.str()?.to_cow()?.into_owned());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    Ok(obj.str()?.to_cow()?.into_owned())
}
