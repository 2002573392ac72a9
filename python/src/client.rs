//! `trainyard.Client`: a `trainyard_client::Session` and the `Estimator` calls as methods.
//!
//! Every argument the server would refuse is refused here first, by the server's own parsers
//! (`trainyard_api`: `JobListQuery::from_pairs`, `ConfigListQuery::from_pairs`,
//! `JobConfig::from_json`, `parse_int_in`, `Order::parse`), with the server's error code and
//! message. Every network wait runs with the interpreter released (`runtime::run`).

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use serde_json::{Map, Value};
use trainyard_client::api::configs::ConfigListQuery;
use trainyard_client::api::jobs::JobConfig;
use trainyard_client::api::params::parse_int_in;
use trainyard_client::{
    AuthMethod, ConfigListParams, Credentials, Estimator, FollowOptions, JobListQuery, JobStatus,
    Order, RetryPolicy, Session, SessionBuilder,
};

use crate::convert::{self, query_text};
use crate::errors;
use crate::iter::{JobIterator, LogFollower};
use crate::runtime::run;
use crate::types::{
    CreatedVersion, Engine, ImportResult, JobPage, LogPage, Spec, Version, VersionList,
};

/// A connection to a trainyard server: where it is, which project, and how to authenticate.
///
/// ``Client()`` reads the environment and the credentials file like the Rust SDK's
/// ``Session::from_env()`` (``TRAINYARD_ENDPOINT``, ``TRAINYARD_PROJECT_ID``,
/// ``TRAINYARD_ACCESS_KEY`` + ``TRAINYARD_SECRET_KEY`` or ``TRAINYARD_USERNAME`` +
/// ``TRAINYARD_PASSWORD`` (+ ``TRAINYARD_DOMAIN``), then ``$TRAINYARD_CREDENTIALS_FILE``,
/// ``$TRAINYARD_DATA_DIR/credentials.json`` or ``./trainyard-data/credentials.json``).
/// ``endpoint`` and ``project_id`` override what was found; ``access_key`` + ``secret_key``
/// sign every request (SDK-HMAC-SHA256); ``username`` + ``password`` (+ ``domain``, default the
/// user name) log in for a token that is cached and renewed before it expires.
///
/// Timeouts are in seconds (connect 5, request 60 by default); ``max_tries`` (default 3) bounds
/// the tries of a GET on connection errors, timeouts, 429, 502, 503 and 504. A client is safe to
/// share between threads; calls release the GIL while they wait on the network.
///
/// Errors are ``trainyard.errors`` exceptions: ``InvalidArgumentError`` (refused before
/// sending, with the server's code and message), ``NotFoundError``, ``AuthenticationError``,
/// ``ConnectionError`` (names the endpoint), ... all carrying ``error_code``, ``error_msg``,
/// ``http_status`` and ``request_id``.
#[pyclass(module = "trainyard._native", name = "Client", subclass, frozen)]
pub(crate) struct Client {
    session: Session,
}

/// Seconds as a `Duration`: a finite number above 0.
fn seconds(py: Python<'_>, name: &str, v: f64) -> PyResult<Duration> {
    if v.is_finite() && v > 0.0 && v < 1e9 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(errors::invalid_msg(
            py,
            format!("{name} must be a number of seconds above 0, got {v}"),
        ))
    }
}

/// An integer argument checked like the server checks the query parameter `name`.
fn int_param(py: Python<'_>, name: &str, v: &Bound<'_, PyAny>, lo: i64, hi: i64) -> PyResult<i64> {
    parse_int_in(name, &query_text(v)?, lo, hi).map_err(|e| errors::invalid(py, e))
}

/// `order` checked like the server (asc/desc, case-insensitive).
fn order_param(py: Python<'_>, v: &Bound<'_, PyAny>) -> PyResult<Order> {
    Order::parse(&query_text(v)?).map_err(|e| errors::invalid(py, e))
}

/// The `status` argument as the wire's comma list: an int, a `JobStatus`, a name
/// (`"RUNNING"`, `"JOBSTAT_RUNNING"`, any case) or a code as text, or an iterable of those.
fn status_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    let one = |x: &Bound<'_, PyAny>| -> PyResult<String> {
        if let Ok(s) = x.cast::<PyString>() {
            let s = s.to_cow()?;
            let s: &str = &s;
            // Names are ours (the REST API takes codes only); anything else goes to the
            // server's parser as is, so its message is the server's.
            return Ok(match JobStatus::parse_loose(s) {
                Some(st) => st.code().to_string(),
                None => s.to_owned(),
            });
        }
        query_text(x)
    };
    if v.is_instance_of::<PyString>() || v.is_instance_of::<pyo3::types::PyInt>() {
        return one(v);
    }
    match v.try_iter() {
        Ok(items) => {
            let mut parts = Vec::new();
            for item in items {
                parts.push(one(&item?)?);
            }
            Ok(parts.join(","))
        }
        Err(_) => one(v),
    }
}

/// The job-list arguments (Python objects) as wire pairs, validated by the server's parser.
#[allow(clippy::too_many_arguments)]
fn job_list_query(
    py: Python<'_>,
    status: Option<&Bound<'_, PyAny>>,
    per_page: Option<&Bound<'_, PyAny>>,
    page: Option<&Bound<'_, PyAny>>,
    sort_by: Option<&Bound<'_, PyAny>>,
    order: Option<&Bound<'_, PyAny>>,
    search_content: Option<&Bound<'_, PyAny>>,
    workspace_id: Option<&Bound<'_, PyAny>>,
    sort_by_wire_alias: Option<&Bound<'_, PyAny>>,
    default_per_page: u32,
) -> PyResult<JobListQuery> {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if let Some(s) = status.filter(|s| !s.is_none()) {
        let text = status_text(s)?;
        if text.is_empty() {
            return Err(errors::invalid_msg(
                py,
                "status must be status codes 0-22 separated by commas, got an empty list",
            ));
        }
        pairs.push(("status", text));
    }
    let mut opt = |name: &'static str, v: Option<&Bound<'_, PyAny>>| -> PyResult<()> {
        if let Some(v) = v.filter(|v| !v.is_none()) {
            pairs.push((name, query_text(v)?));
        }
        Ok(())
    };
    opt("per_page", per_page)?;
    opt("page", page)?;
    opt("sortBy", sort_by_wire_alias)?;
    opt("sort_by", sort_by)?;
    opt("order", order)?;
    opt("search_content", search_content)?;
    opt("workspace_id", workspace_id)?;
    if !pairs.iter().any(|(k, _)| *k == "per_page") {
        pairs.push(("per_page", default_per_page.to_string()));
    }
    if !pairs.iter().any(|(k, _)| *k == "order") {
        // The SDK's default (sdk.md): descending.
        pairs.push(("order", "desc".to_owned()));
    }
    JobListQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .map_err(|e| errors::invalid(py, e))
}

/// The config fields of a create, as given (keyword arguments and the `config` dict), parsed by
/// the server's `JobConfig::from_json`.
struct ConfigArgs<'a, 'py> {
    config: Option<&'a Bound<'py, PyAny>>,
    fields: [(&'static str, Option<&'a Bound<'py, PyAny>>); 11],
}

impl ConfigArgs<'_, '_> {
    fn parse(&self, py: Python<'_>) -> PyResult<JobConfig> {
        let mut map = match self.config.filter(|c| !c.is_none()) {
            Some(c) => match convert::from_py("config", c)? {
                Value::Object(m) => m,
                _ => return Err(errors::invalid_msg(py, "config must be a dict")),
            },
            None => Map::new(),
        };
        for (name, v) in self.fields {
            let Some(v) = v.filter(|v| !v.is_none()) else {
                continue;
            };
            let value = if name == "parameter" {
                parameter_json(v)?
            } else {
                convert::from_py(name, v)?
            };
            if map.contains_key(name) {
                return Err(errors::invalid_msg(
                    py,
                    format!("{name} is given both as an argument and in config"),
                ));
            }
            map.insert(name.to_owned(), value);
        }
        JobConfig::from_json(&map).map_err(|e| errors::invalid(py, e))
    }
}

/// Hyper-parameters: a `dict` `{label: value}` or a list of `{"label", "value"}`.
fn parameter_json(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(d) = v.cast::<PyDict>() {
        let mut out = Vec::new();
        for (k, val) in d.iter() {
            let mut m = Map::new();
            m.insert("label".into(), convert::from_py("parameter label", &k)?);
            m.insert("value".into(), convert::from_py("parameter value", &val)?);
            out.push(Value::Object(m));
        }
        return Ok(Value::Array(out));
    }
    convert::from_py("parameter", v)
}

impl Client {
    fn err(&self, py: Python<'_>, e: trainyard_client::Error) -> PyErr {
        errors::to_py(py, e, self.session.endpoint())
    }

    /// Runs an SDK call with the interpreter released; SDK errors become Python exceptions.
    fn call<T, F>(&self, py: Python<'_>, fut: F) -> PyResult<T>
    where
        F: std::future::Future<Output = trainyard_client::Result<T>> + Send,
        T: Send,
    {
        run(py, fut)?.map_err(|e| self.err(py, e))
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (endpoint=None, project_id=None, *, access_key=None, secret_key=None,
        username=None, password=None, domain=None, connect_timeout=None, request_timeout=None,
        max_tries=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        endpoint: Option<String>,
        project_id: Option<String>,
        access_key: Option<String>,
        secret_key: Option<String>,
        username: Option<String>,
        password: Option<String>,
        domain: Option<String>,
        connect_timeout: Option<f64>,
        request_timeout: Option<f64>,
        max_tries: Option<u32>,
    ) -> PyResult<Client> {
        let credentials = match (access_key, secret_key, username, password) {
            (Some(_), _, Some(_), _) | (_, Some(_), _, Some(_)) => {
                return Err(errors::invalid_msg(
                    py,
                    "give either access_key + secret_key or username + password, not both",
                ));
            }
            (Some(ak), Some(sk), None, None) => Some(Credentials::AccessKey {
                access_key: ak,
                secret_key: sk.into(),
            }),
            (Some(_), None, _, _) | (None, Some(_), _, _) => {
                return Err(errors::invalid_msg(
                    py,
                    "access_key and secret_key must be given together",
                ));
            }
            (None, None, Some(u), Some(p)) => Some(Credentials::Password {
                domain: domain
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| u.clone()),
                username: u,
                password: p.into(),
            }),
            (None, None, Some(_), None) | (None, None, None, Some(_)) => {
                return Err(errors::invalid_msg(
                    py,
                    "username and password must be given together",
                ));
            }
            (None, None, None, None) => None,
        };
        let endpoint_text = endpoint.clone().unwrap_or_default();
        let to_py = |e| errors::to_py(py, e, &endpoint_text);
        // With everything given explicitly, the environment is not consulted at all.
        let mut b = match (&endpoint, &project_id, &credentials) {
            (Some(e), Some(_), Some(_)) => SessionBuilder::new(e.clone()),
            _ => SessionBuilder::from_env().map_err(to_py)?,
        };
        if let Some(e) = endpoint {
            b = b.endpoint(e);
        }
        if let Some(p) = project_id {
            b = b.project_id(p);
        }
        if let Some(c) = credentials {
            b = b.credentials(c);
        }
        if let Some(t) = connect_timeout {
            b = b.connect_timeout(seconds(py, "connect_timeout", t)?);
        }
        if let Some(t) = request_timeout {
            b = b.request_timeout(seconds(py, "request_timeout", t)?);
        }
        if let Some(n) = max_tries {
            b = b.retry_policy(RetryPolicy {
                max_tries: n.max(1),
                ..RetryPolicy::default()
            });
        }
        let session = b.build().map_err(to_py)?;
        Ok(Client { session })
    }

    /// The server URL, normalised (``scheme://host[:port][/prefix]``).
    #[getter]
    fn endpoint(&self) -> &str {
        self.session.endpoint()
    }

    /// The project id used in every path.
    #[getter]
    fn project_id(&self) -> &str {
        self.session.project_id()
    }

    /// How requests are authenticated: ``"aksk"`` (signed), ``"token"`` (password login) or
    /// ``"none"``.
    #[getter]
    fn auth_method(&self) -> &'static str {
        match self.session.auth_method() {
            AuthMethod::AccessKey => "aksk",
            AuthMethod::Token => "token",
            AuthMethod::None => "none",
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Client(endpoint={:?}, project_id={:?}, auth_method={:?})",
            self.session.endpoint(),
            self.session.project_id(),
            self.auth_method()
        )
    }

    /// One page of the job list: ``GET /v1/{project_id}/training-jobs`` (list.md).
    ///
    /// ``status``: a code, a ``JobStatus``, a name (``"RUNNING"``) or several of them (the
    /// union); ``per_page`` 1-1000 (default 10); ``page`` 1-65535 (default 1); ``sort_by`` one of
    /// ``job_name`` (default), ``job_desc``, ``status``, ``duration``, ``create_time``,
    /// ``version_count``, ``engine_type`` (ties broken by job id); ``order`` ``"asc"`` or
    /// ``"desc"`` (default ``"desc"``, as the ModelArts SDK); ``search_content`` a literal,
    /// case-insensitive part of the job name (0-100 characters); ``workspace_id`` (default
    /// ``"0"``).
    ///
    /// Returns a ``JobPage`` (``job_total_count``, ``job_count_limit``, ``quotas``, ``jobs``).
    /// Raises ``InvalidArgumentError`` before sending for a value the server would refuse.
    #[pyo3(signature = (status=None, per_page=None, page=None, sort_by=None, order=None,
        search_content=None, workspace_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_jobs(
        &self,
        py: Python<'_>,
        status: Option<&Bound<'_, PyAny>>,
        per_page: Option<&Bound<'_, PyAny>>,
        page: Option<&Bound<'_, PyAny>>,
        sort_by: Option<&Bound<'_, PyAny>>,
        order: Option<&Bound<'_, PyAny>>,
        search_content: Option<&Bound<'_, PyAny>>,
        workspace_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<JobPage> {
        let q = job_list_query(
            py,
            status,
            per_page,
            page,
            sort_by,
            order,
            search_content,
            workspace_id,
            None,
            10,
        )?;
        let resp = self.call(py, Estimator::get_job_list(&self.session, &q))?;
        Ok(JobPage::new(resp))
    }

    /// Like ``list_jobs(...).to_dict()``, without building ``Job`` objects: the REST body as a
    /// ``dict``. (The fast path of ``modelarts.estimator.Estimator.get_job_list``.) ``sortBy``
    /// is the ModelArts SDK's other name of ``sort_by``: both may be given if they agree.
    #[pyo3(signature = (status=None, per_page=None, page=None, sort_by=None, order=None,
        search_content=None, workspace_id=None, *, sortBy=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_jobs_dict<'py>(
        &self,
        py: Python<'py>,
        status: Option<&Bound<'py, PyAny>>,
        per_page: Option<&Bound<'py, PyAny>>,
        page: Option<&Bound<'py, PyAny>>,
        sort_by: Option<&Bound<'py, PyAny>>,
        order: Option<&Bound<'py, PyAny>>,
        search_content: Option<&Bound<'py, PyAny>>,
        workspace_id: Option<&Bound<'py, PyAny>>,
        #[allow(non_snake_case)] sortBy: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let q = job_list_query(
            py,
            status,
            per_page,
            page,
            sort_by,
            order,
            search_content,
            workspace_id,
            sortBy,
            10,
        )?;
        let resp = self.call(py, Estimator::get_job_list(&self.session, &q))?;
        JobPage::new(resp).body_dict(py)
    }

    /// Every job matching the filters, page after page (1000 per page unless ``per_page`` is
    /// given): the native iterator behind ``Client.iter_jobs``. Same arguments as
    /// ``list_jobs``; the walk starts at ``page`` (default 1).
    #[pyo3(signature = (status=None, per_page=None, page=None, sort_by=None, order=None,
        search_content=None, workspace_id=None))]
    #[allow(clippy::too_many_arguments)]
    fn _iter_jobs(
        &self,
        py: Python<'_>,
        status: Option<&Bound<'_, PyAny>>,
        per_page: Option<&Bound<'_, PyAny>>,
        page: Option<&Bound<'_, PyAny>>,
        sort_by: Option<&Bound<'_, PyAny>>,
        order: Option<&Bound<'_, PyAny>>,
        search_content: Option<&Bound<'_, PyAny>>,
        workspace_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<JobIterator> {
        let q = job_list_query(
            py,
            status,
            per_page,
            page,
            sort_by,
            order,
            search_content,
            workspace_id,
            None,
            1000,
        )?;
        Ok(JobIterator::new(
            Estimator::list_all(&self.session, &q),
            self.session.endpoint(),
        ))
    }

    /// A version's details: ``GET .../training-jobs/{job_id}/versions/{version_id}`` (§3).
    /// Raises ``NotFoundError`` (404 ``ModelArts.2775``) when it does not exist in this project.
    fn get_version(&self, py: Python<'_>, job_id: i64, version_id: i64) -> PyResult<Version> {
        let inner = self.call(
            py,
            Estimator::get_job_version(&self.session, job_id, version_id),
        )?;
        Ok(Version { inner })
    }

    /// A job's versions, newest first: ``GET .../training-jobs/{job_id}/versions`` (§5).
    /// ``per_page`` 1-1000 (default 1000); ``page`` 0 = all versions (default), 1-65535 = that
    /// page. Returns a ``VersionList``.
    #[pyo3(signature = (job_id, per_page=None, page=None))]
    fn list_versions(
        &self,
        py: Python<'_>,
        job_id: i64,
        per_page: Option<&Bound<'_, PyAny>>,
        page: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<VersionList> {
        let per_page = match per_page.filter(|v| !v.is_none()) {
            Some(v) => int_param(py, "per_page", v, 1, 1000)?,
            None => 1000,
        } as u32;
        let page = match page.filter(|v| !v.is_none()) {
            Some(v) => int_param(py, "page", v, 0, 65535)?,
            None => 0,
        } as u32;
        let inner = self.call(
            py,
            Estimator::list_versions(&self.session, job_id, per_page, page),
        )?;
        Ok(VersionList { inner })
    }

    /// Creates a job and its first version, which starts at once: ``POST
    /// /v1/{project_id}/training-jobs`` (§1).
    ///
    /// ``job_name``: 1-64 letters, digits, ``_`` or ``-``. The config: ``worker_server_num``
    /// (default 1), ``spec_id`` (from ``specs()``), and ``app_url`` (absolute path of the code
    /// directory) + ``boot_file_url`` (the entry script, relative to ``app_url`` or absolute) +
    /// ``engine_id`` (from ``engines()``), or a ``user_command``; optional ``parameter`` (a
    /// ``dict`` ``{label: value}`` or a list of ``{"label", "value"}``, passed as
    /// ``--label=value``), ``data_url``, ``train_url``, ``log_url``, ``user_image_url``; any
    /// other config field in ``config`` (a dict). Returns a ``CreatedVersion``.
    #[pyo3(signature = (job_name, *, job_desc="", workspace_id=None, worker_server_num=None,
        spec_id=None, app_url=None, boot_file_url=None, engine_id=None, parameter=None,
        data_url=None, train_url=None, log_url=None, user_image_url=None, user_command=None,
        config=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_job(
        &self,
        py: Python<'_>,
        job_name: &str,
        job_desc: &str,
        workspace_id: Option<&str>,
        worker_server_num: Option<&Bound<'_, PyAny>>,
        spec_id: Option<&Bound<'_, PyAny>>,
        app_url: Option<&Bound<'_, PyAny>>,
        boot_file_url: Option<&Bound<'_, PyAny>>,
        engine_id: Option<&Bound<'_, PyAny>>,
        parameter: Option<&Bound<'_, PyAny>>,
        data_url: Option<&Bound<'_, PyAny>>,
        train_url: Option<&Bound<'_, PyAny>>,
        log_url: Option<&Bound<'_, PyAny>>,
        user_image_url: Option<&Bound<'_, PyAny>>,
        user_command: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CreatedVersion> {
        let args = ConfigArgs {
            config,
            fields: [
                ("worker_server_num", worker_server_num),
                ("spec_id", spec_id),
                ("app_url", app_url),
                ("boot_file_url", boot_file_url),
                ("engine_id", engine_id),
                ("parameter", parameter),
                ("data_url", data_url),
                ("train_url", train_url),
                ("log_url", log_url),
                ("user_image_url", user_image_url),
                ("user_command", user_command),
            ],
        };
        let mut cfg = args.parse(py)?;
        if cfg.worker_server_num.is_none() {
            cfg.worker_server_num = Some(1);
        }
        let inner = self.call(
            py,
            Estimator::create_job(&self.session, job_name, job_desc, workspace_id, &cfg),
        )?;
        Ok(CreatedVersion { inner })
    }

    /// Creates a new version of a job from ``pre_version_id``, which starts at once: ``POST
    /// .../training-jobs/{job_id}/versions`` (§6). Config fields not given are inherited from
    /// ``pre_version_id``; ``version_desc`` (0-256 characters) describes the new version.
    /// Returns a ``CreatedVersion``.
    #[pyo3(signature = (job_id, pre_version_id, *, version_desc="", worker_server_num=None,
        spec_id=None, app_url=None, boot_file_url=None, engine_id=None, parameter=None,
        data_url=None, train_url=None, log_url=None, user_image_url=None, user_command=None,
        config=None))]
    #[allow(clippy::too_many_arguments)]
    fn create_version(
        &self,
        py: Python<'_>,
        job_id: i64,
        pre_version_id: i64,
        version_desc: &str,
        worker_server_num: Option<&Bound<'_, PyAny>>,
        spec_id: Option<&Bound<'_, PyAny>>,
        app_url: Option<&Bound<'_, PyAny>>,
        boot_file_url: Option<&Bound<'_, PyAny>>,
        engine_id: Option<&Bound<'_, PyAny>>,
        parameter: Option<&Bound<'_, PyAny>>,
        data_url: Option<&Bound<'_, PyAny>>,
        train_url: Option<&Bound<'_, PyAny>>,
        log_url: Option<&Bound<'_, PyAny>>,
        user_image_url: Option<&Bound<'_, PyAny>>,
        user_command: Option<&Bound<'_, PyAny>>,
        config: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CreatedVersion> {
        let args = ConfigArgs {
            config,
            fields: [
                ("worker_server_num", worker_server_num),
                ("spec_id", spec_id),
                ("app_url", app_url),
                ("boot_file_url", boot_file_url),
                ("engine_id", engine_id),
                ("parameter", parameter),
                ("data_url", data_url),
                ("train_url", train_url),
                ("log_url", log_url),
                ("user_image_url", user_image_url),
                ("user_command", user_command),
            ],
        };
        let cfg = args.parse(py)?;
        let inner = self.call(
            py,
            Estimator::create_version(&self.session, job_id, pre_version_id, version_desc, &cfg),
        )?;
        Ok(CreatedVersion { inner })
    }

    /// Stops a version: ``POST .../versions/{version_id}/stop`` (§7). From INIT, IMAGE_CREATING,
    /// SUBMIT_TRYING or WAITING it becomes CANCELED; from RUNNING, KILLING then KILLED. Raises
    /// ``ConflictError`` (409 ``ModelArts.2796``) for a version that has ended.
    fn stop_version(&self, py: Python<'_>, job_id: i64, version_id: i64) -> PyResult<()> {
        self.call(
            py,
            Estimator::stop_version(&self.session, job_id, version_id),
        )
    }

    /// Deletes a job and all its versions (stopping what runs): ``DELETE .../training-jobs/{job_id}``
    /// (§9).
    fn delete_job(&self, py: Python<'_>, job_id: i64) -> PyResult<()> {
        self.call(py, Estimator::delete_job(&self.session, job_id))
    }

    /// Deletes one version (stopping it if it runs); deleting the last one deletes the job:
    /// ``DELETE .../versions/{version_id}`` (§4).
    fn delete_version(&self, py: Python<'_>, job_id: i64, version_id: i64) -> PyResult<()> {
        self.call(
            py,
            Estimator::delete_version(&self.session, job_id, version_id),
        )
    }

    /// Changes a job's description (0-256 characters): ``PUT .../training-jobs/{job_id}`` (§8).
    fn update_job_desc(&self, py: Python<'_>, job_id: i64, job_desc: &str) -> PyResult<()> {
        self.call(
            py,
            Estimator::update_job_desc(&self.session, job_id, job_desc),
        )
    }

    /// A version's log file names, one per worker (``{job_name}-{version_name}.{worker}``):
    /// ``GET .../log/file-names`` (§10).
    fn log_file_names(
        &self,
        py: Python<'_>,
        job_id: i64,
        version_id: i64,
    ) -> PyResult<Vec<String>> {
        self.call(
            py,
            Estimator::log_file_names(&self.session, job_id, version_id),
        )
    }

    /// A page of log lines: ``GET .../aom-log`` (§11). ``base_line`` is a cursor from a
    /// previous page (``""`` = the newest lines); ``lines`` 0-500 (default 50); ``order``
    /// ``"desc"`` (default) gives the lines after ``base_line``, ``"asc"`` those before it.
    /// Returns a ``LogPage``.
    #[pyo3(signature = (job_id, version_id, log_file, *, base_line="", lines=None, order=None))]
    #[allow(clippy::too_many_arguments)]
    fn log_lines(
        &self,
        py: Python<'_>,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        base_line: &str,
        lines: Option<&Bound<'_, PyAny>>,
        order: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<LogPage> {
        let lines = match lines.filter(|v| !v.is_none()) {
            Some(v) => int_param(py, "lines", v, 0, 500)?,
            None => 50,
        } as u32;
        let order = match order.filter(|v| !v.is_none()) {
            Some(v) => order_param(py, v)?,
            None => Order::Desc,
        };
        let inner = self.call(
            py,
            Estimator::log_lines(
                &self.session,
                job_id,
                version_id,
                log_file,
                base_line,
                lines,
                order,
            ),
        )?;
        Ok(LogPage { inner })
    }

    /// The native iterator behind ``Client.follow_log``: chunks of whole lines of ``log_file``,
    /// first the newest ``tail`` lines (0-500), then new lines as they come (polling every
    /// ``poll_interval`` seconds), until the version has ended and everything was read.
    #[pyo3(signature = (job_id, version_id, log_file, tail=None, poll_interval=0.5))]
    fn _follow_log(
        &self,
        py: Python<'_>,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        tail: Option<&Bound<'_, PyAny>>,
        poll_interval: f64,
    ) -> PyResult<LogFollower> {
        let tail = match tail.filter(|v| !v.is_none()) {
            Some(v) => int_param(py, "tail", v, 0, 500)?,
            None => 50,
        } as u32;
        let options = FollowOptions {
            tail,
            poll_interval: seconds(py, "poll_interval", poll_interval)?,
        };
        Ok(LogFollower::new(
            Estimator::follow_log_with(&self.session, job_id, version_id, log_file, options),
            self.session.endpoint(),
        ))
    }

    /// Waits until a version ends (a terminal status) and returns its final ``Version``,
    /// reading it every ``poll_interval`` seconds. Raises ``WaitTimeoutError`` (with the last
    /// status seen) after ``timeout`` seconds. Ctrl-C interrupts the wait.
    #[pyo3(signature = (job_id, version_id, *, timeout=3600.0, poll_interval=2.0))]
    fn wait(
        &self,
        py: Python<'_>,
        job_id: i64,
        version_id: i64,
        timeout: f64,
        poll_interval: f64,
    ) -> PyResult<Version> {
        let timeout = seconds(py, "timeout", timeout)?;
        let poll = seconds(py, "poll_interval", poll_interval)?;
        let inner = self.call(
            py,
            Estimator::wait(&self.session, job_id, version_id, timeout, poll),
        )?;
        Ok(Version { inner })
    }

    /// The resource specs jobs may use: ``GET .../job/resource-specs`` (§12). A list of ``Spec``.
    fn specs(&self, py: Python<'_>) -> PyResult<Vec<Spec>> {
        let resp = self.call(py, Estimator::specs(&self.session))?;
        Ok(resp.specs.into_iter().map(|inner| Spec { inner }).collect())
    }

    /// The engines jobs may use: ``GET .../job/ai-engines`` (§13). A list of ``Engine``.
    fn engines(&self, py: Python<'_>) -> PyResult<Vec<Engine>> {
        let resp = self.call(py, Estimator::engines(&self.session))?;
        Ok(resp
            .engines
            .into_iter()
            .map(|inner| Engine { inner })
            .collect())
    }

    /// Imports finished jobs from history records (``import.md``): an iterable of dicts
    /// (``job_name``, ``status`` (terminal), ``create_time`` (ms), optional ``job_desc``,
    /// ``workspace_id``, ``start_time``, ``end_time``, ``engine_type``, ``worker_server_num``),
    /// or NDJSON text / bytes. All or nothing; at most 100,000 records. Returns an
    /// ``ImportResult`` (``imported``, ``first_job_id``, ``last_job_id``).
    fn import_history(&self, py: Python<'_>, records: &Bound<'_, PyAny>) -> PyResult<ImportResult> {
        let body: Vec<u8> = if let Ok(s) = records.cast::<PyString>() {
            s.to_cow()?.as_bytes().to_vec()
        } else if let Ok(b) = records.cast::<PyBytes>() {
            b.as_bytes().to_vec()
        } else {
            let mut body = Vec::new();
            for (i, r) in records.try_iter()?.enumerate() {
                let v = convert::from_py(&format!("record {}", i + 1), &r?)?;
                if !v.is_object() {
                    return Err(errors::invalid_msg(
                        py,
                        format!("line {}: a history record must be a dict", i + 1),
                    ));
                }
                serde_json::to_writer(&mut body, &v)
                    .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
                body.push(b'\n');
            }
            body
        };
        let inner = self.call(py, Estimator::import_history_ndjson(&self.session, body))?;
        Ok(ImportResult { inner })
    }

    /// Named training-job configs: ``GET /v1/{project_id}/training-job-configs`` (§14).
    /// ``per_page`` 1-1000, ``page`` 1-65535, ``sort_by`` ``config_name`` / ``config_desc`` /
    /// ``create_time``, ``order`` (server default ``desc``), ``search_content``. Returns the
    /// REST body as a dict (``config_total_count``, ``configs``). ``sortBy`` is the ModelArts
    /// SDK's other name of ``sort_by``: both may be given if they agree.
    #[pyo3(signature = (per_page=None, page=None, sort_by=None, order=None, search_content=None,
        *, sortBy=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_configs<'py>(
        &self,
        py: Python<'py>,
        per_page: Option<&Bound<'py, PyAny>>,
        page: Option<&Bound<'py, PyAny>>,
        sort_by: Option<&Bound<'py, PyAny>>,
        order: Option<&Bound<'py, PyAny>>,
        search_content: Option<&Bound<'py, PyAny>>,
        #[allow(non_snake_case)] sortBy: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, v) in [
            ("per_page", per_page),
            ("page", page),
            ("sortBy", sortBy),
            ("sort_by", sort_by),
            ("order", order),
            ("search_content", search_content),
        ] {
            if let Some(v) = v.filter(|v| !v.is_none()) {
                pairs.push((name, query_text(v)?));
            }
        }
        let q = ConfigListQuery::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
            .map_err(|e| errors::invalid(py, e))?;
        let mut params = ConfigListParams::new();
        for (name, _) in &pairs {
            params = match *name {
                "per_page" => params.per_page(q.per_page),
                "page" => params.page(q.page),
                "sortBy" | "sort_by" => params.sort_by(q.sort_by),
                "order" => params.order(q.order),
                _ => params.search_content(q.search_content.clone()),
            };
        }
        let v = self.call(py, Estimator::list_configs(&self.session, &params))?;
        convert::to_py(py, &v)
    }

    /// Creates a named config from a dict (``config_name`` 1-64 of ``A-Z a-z 0-9 _ -``,
    /// optional ``config_desc``, and job config fields): ``POST .../training-job-configs``.
    /// Returns the REST body as a dict.
    fn create_config<'py>(
        &self,
        py: Python<'py>,
        config: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = convert::from_py("config", config)?;
        let v = self.call(py, Estimator::create_config(&self.session, &body))?;
        convert::to_py(py, &v)
    }

    /// A config by name: ``GET .../training-job-configs/{config_name}``, as a dict.
    fn get_config<'py>(&self, py: Python<'py>, config_name: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = self.call(py, Estimator::get_config(&self.session, config_name))?;
        convert::to_py(py, &v)
    }

    /// Replaces a config's description and/or fields: ``PUT .../training-job-configs/{name}``.
    /// Returns the REST body as a dict.
    fn update_config<'py>(
        &self,
        py: Python<'py>,
        config_name: &str,
        config: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body = convert::from_py("config", config)?;
        let v = self.call(
            py,
            Estimator::update_config(&self.session, config_name, &body),
        )?;
        convert::to_py(py, &v)
    }

    /// Deletes a config: ``DELETE .../training-job-configs/{config_name}``.
    fn delete_config(&self, py: Python<'_>, config_name: &str) -> PyResult<()> {
        self.call(py, Estimator::delete_config(&self.session, config_name))
    }
}

/// Every `JOBSTAT_*` name, indexed by code (for `trainyard.JobStatus`'s consistency check).
pub(crate) fn status_names(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    PyList::new(
        py,
        trainyard_client::api::status::ALL_STATUSES
            .iter()
            .map(|s| s.name()),
    )
}

/// The codes of the terminal statuses (`statuses.md`).
pub(crate) fn terminal_codes() -> Vec<u8> {
    trainyard_client::api::status::ALL_STATUSES
        .iter()
        .filter(|s| s.is_terminal())
        .map(|s| s.code())
        .collect()
}
