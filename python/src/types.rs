//! The typed result objects: immutable wrappers around the SDK's structs, with one read-only
//! attribute per API field (same names as the REST API, `training-jobs.md`, `list.md`),
//! `status` as a `trainyard.JobStatus`, and `to_dict()` giving the API's JSON shape.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyType};
use trainyard_client::api::jobs::Parameter;
use trainyard_client::{
    CreateJobResponse, Engine as EngineInfo, ImportResponse, JobListResponse, JobRow, JobStatus,
    LogLinesResponse, Spec as SpecInfo, VersionInfo, VersionListResponse,
};

use crate::convert::serde_to_py;

/// `trainyard.JobStatus(code)`: the `IntEnum` member of a status.
pub(crate) fn status_obj(py: Python<'_>, status: JobStatus) -> PyResult<Bound<'_, PyAny>> {
    static CLS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    CLS.import(py, "trainyard.status", "JobStatus")?
        .call1((status.code(),))
}

/// Declares a frozen Python class wrapping `$inner`, with a getter per listed field (its doc
/// comment becomes the attribute's docstring), `__repr__` over the `repr(...)` fields, `__eq__`,
/// and any further methods given after the field list.
macro_rules! record {
    (
        $(#[$meta:meta])*
        $name:ident($inner:ty) repr($($rf:ident),*) {
            $( $(#[doc = $doc:literal])* $field:ident : $rt:ty ),* $(,)?
        }
        $($extra:tt)*
    ) => {
        $(#[$meta])*
        #[pyclass(module = "trainyard", frozen, eq)]
        #[derive(Clone, PartialEq)]
        pub(crate) struct $name {
            pub(crate) inner: $inner,
        }

        #[pymethods]
        impl $name {
            $(
                $(#[doc = $doc])*
                #[getter]
                fn $field(&self) -> $rt {
                    self.inner.$field.clone()
                }
            )*

            fn __repr__(&self) -> String {
                let parts: Vec<String> = vec![$(format!("{}={:?}", stringify!($rf), self.inner.$rf)),*];
                format!("{}({})", stringify!($name), parts.join(", "))
            }

            $($extra)*
        }
    };
}

fn parameters_to_py<'py>(py: Python<'py>, ps: &[Parameter]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for p in ps {
        let d = PyDict::new(py);
        d.set_item(intern!(py, "label"), &p.label)?;
        d.set_item(intern!(py, "value"), &p.value)?;
        list.append(d)?;
    }
    Ok(list)
}

/// One row of the job list as a plain dict (the REST row), built directly with interned keys:
/// the hot path of `get_job_list`.
pub(crate) fn row_dict<'py>(py: Python<'py>, r: &JobRow) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item(intern!(py, "job_id"), r.job_id)?;
    d.set_item(intern!(py, "job_name"), &r.job_name)?;
    d.set_item(intern!(py, "version_id"), r.version_id)?;
    d.set_item(intern!(py, "status"), r.status.code())?;
    d.set_item(intern!(py, "create_time"), r.create_time)?;
    d.set_item(intern!(py, "duration"), r.duration)?;
    d.set_item(intern!(py, "job_desc"), &r.job_desc)?;
    d.set_item(intern!(py, "version_count"), r.version_count)?;
    d.set_item(intern!(py, "engine_type"), r.engine_type)?;
    Ok(d)
}

record! {
    /// A job as the job list shows it: the job and its latest version (`list.md` "Response").
    Job(JobRow) repr(job_id, job_name, version_id, status) {
        /// Job id.
        job_id: i64,
        /// Job name (Unicode NFC).
        job_name: String,
        /// The latest version's id.
        version_id: i64,
        /// The latest version's creation time, epoch milliseconds (UTC).
        create_time: i64,
        /// The latest version's run time in milliseconds: 0 before it starts, live while it runs,
        /// frozen at the end.
        duration: i64,
        /// Job description (may be empty).
        job_desc: String,
        /// How many versions the job has (at least 1).
        version_count: i64,
        /// The latest version's engine family code.
        engine_type: i64,
    }

    /// The latest version's status, a `JobStatus`.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        status_obj(py, self.inner.status)
    }

    /// The row as a dict with the REST field names (`status` as an `int`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        row_dict(py, &self.inner)
    }
}

/// A page of the job list (`GET /v1/{project_id}/training-jobs`, `list.md`).
///
/// `jobs` is the page (a list of `Job`); iterating over the page iterates over it.
#[pyclass(module = "trainyard", frozen)]
pub(crate) struct JobPage {
    pub(crate) inner: JobListResponse,
    jobs: PyOnceLock<Py<PyList>>,
}

impl JobPage {
    pub(crate) fn new(inner: JobListResponse) -> JobPage {
        JobPage {
            inner,
            jobs: PyOnceLock::new(),
        }
    }

    fn jobs_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = self.jobs.get_or_try_init(py, || {
            let list = PyList::empty(py);
            for r in &self.inner.jobs {
                list.append(Bound::new(py, Job { inner: r.clone() })?)?;
            }
            Ok::<_, PyErr>(list.unbind())
        })?;
        Ok(list.bind(py).clone())
    }

    /// The REST body as a dict: `is_success`, `job_total_count`, `job_count_limit`, `quotas`,
    /// `jobs` (row dicts).
    pub(crate) fn body_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = &self.inner;
        let d = PyDict::new(py);
        d.set_item(intern!(py, "is_success"), r.is_success)?;
        d.set_item(intern!(py, "job_total_count"), r.job_total_count)?;
        d.set_item(intern!(py, "job_count_limit"), r.job_count_limit)?;
        d.set_item(intern!(py, "quotas"), r.quotas)?;
        let rows = PyList::empty(py);
        for row in &r.jobs {
            rows.append(row_dict(py, row)?)?;
        }
        d.set_item(intern!(py, "jobs"), rows)?;
        Ok(d)
    }
}

#[pymethods]
impl JobPage {
    /// Jobs passing the filters (all pages), so the number of pages is
    /// `ceil(job_total_count / per_page)`.
    #[getter]
    fn job_total_count(&self) -> u64 {
        self.inner.job_total_count
    }

    /// How many more jobs the project may create (`max_jobs` minus the jobs it holds).
    #[getter]
    fn job_count_limit(&self) -> u64 {
        self.inner.job_count_limit
    }

    /// The most versions of the project that may run at once.
    #[getter]
    fn quotas(&self) -> u64 {
        self.inner.quotas
    }

    /// The rows of this page, a list of `Job` (empty past the last page).
    #[getter]
    fn jobs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.jobs_list(py)
    }

    /// The REST body as a dict (`is_success`, `job_total_count`, `job_count_limit`, `quotas`,
    /// `jobs`), exactly what `GET /training-jobs` answered.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.body_dict(py)
    }

    fn __len__(&self) -> usize {
        self.inner.jobs.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.jobs_list(py)?.as_any().try_iter().map(Bound::into_any)
    }

    fn __repr__(&self) -> String {
        format!(
            "JobPage(job_total_count={}, job_count_limit={}, quotas={}, jobs=<{} rows>)",
            self.inner.job_total_count,
            self.inner.job_count_limit,
            self.inner.quotas,
            self.inner.jobs.len()
        )
    }
}

record! {
    /// A version of a job, with its configuration and run state (`training-jobs.md` §3).
    Version(VersionInfo) repr(job_id, version_id, version_name, status) {
        /// Job id.
        job_id: i64,
        /// Job name.
        job_name: String,
        /// Job description.
        job_desc: String,
        /// Version id.
        version_id: i64,
        /// Version name, `V0001`, `V0002`, ... per job.
        version_name: String,
        /// The version this one was created from, or None for the first.
        pre_version_id: Option<i64>,
        /// Engine family code.
        engine_type: i64,
        /// Engine name, e.g. `Scikit_Learn`.
        engine_name: String,
        /// Engine id, or None for a custom command without an engine.
        engine_id: Option<i64>,
        /// Engine version.
        engine_version: String,
        /// Code directory.
        app_url: String,
        /// Entry script (absolute, or relative to `app_url`).
        boot_file_url: String,
        /// Creation time, epoch milliseconds (UTC).
        create_time: i64,
        /// When it started running (epoch ms), or None.
        start_time: Option<i64>,
        /// When it ended (epoch ms), or None.
        end_time: Option<i64>,
        /// Run time in milliseconds (live while running).
        duration: i64,
        /// Resource spec id.
        spec_id: i64,
        /// Resource spec code, e.g. `local.cpu.1u`.
        spec_code: String,
        /// CPUs per worker (text, as ModelArts gives it).
        core: String,
        /// Memory per worker in GiB (text).
        cpu: String,
        /// GPUs per worker.
        gpu_num: i64,
        /// GPU type.
        gpu_type: String,
        /// Number of workers.
        worker_server_num: i64,
        /// Input data directory.
        data_url: String,
        /// Output directory.
        train_url: String,
        /// Directory that receives a copy of the logs.
        log_url: String,
        /// Custom image.
        user_image_url: String,
        /// Custom command (replaces engine and boot file).
        user_command: String,
        /// Stable opaque resource id.
        resource_id: String,
        /// The version's own description.
        version_desc: String,
        /// First non-zero worker exit code (128 + signal for a signal), 0, or None before the end.
        exit_code: Option<i64>,
        /// One line explaining the status (signal, submit error), or empty.
        status_reason: String,
    }

    /// The version's status, a `JobStatus`.
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        status_obj(py, self.inner.status)
    }

    /// Hyper-parameters: a list of `{"label": str, "value": str}`.
    #[getter]
    fn parameter<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        parameters_to_py(py, &self.inner.parameter)
    }

    /// The version object as a dict with the REST field names.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }
}

/// A job's versions, newest first (`GET .../training-jobs/{job_id}/versions`, §5).
#[pyclass(module = "trainyard", frozen)]
pub(crate) struct VersionList {
    pub(crate) inner: VersionListResponse,
}

#[pymethods]
impl VersionList {
    /// Job id.
    #[getter]
    fn job_id(&self) -> i64 {
        self.inner.job_id
    }

    /// Job name.
    #[getter]
    fn job_name(&self) -> String {
        self.inner.job_name.clone()
    }

    /// Job description.
    #[getter]
    fn job_desc(&self) -> String {
        self.inner.job_desc.clone()
    }

    /// How many versions the job has (all pages).
    #[getter]
    fn version_count(&self) -> i64 {
        self.inner.version_count
    }

    /// The versions of this page, newest first (a list of `Version`).
    #[getter]
    fn versions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for v in &self.inner.versions {
            list.append(Bound::new(py, Version { inner: v.clone() })?)?;
        }
        Ok(list)
    }

    /// The REST body as a dict (`is_success`, `job_id`, `job_name`, `job_desc`,
    /// `version_count`, `versions`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }

    fn __len__(&self) -> usize {
        self.inner.versions.len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.versions(py)?.as_any().try_iter().map(Bound::into_any)
    }

    fn __repr__(&self) -> String {
        format!(
            "VersionList(job_id={}, job_name={:?}, version_count={}, versions=<{}>)",
            self.inner.job_id,
            self.inner.job_name,
            self.inner.version_count,
            self.inner.versions.len()
        )
    }
}

record! {
    /// What a create answers (`POST /training-jobs` §1, `POST .../versions` §6): the new
    /// version, which starts at once (asynchronously).
    CreatedVersion(CreateJobResponse) repr(job_id, job_name, version_id, version_name) {
        /// Job id.
        job_id: i64,
        /// Job name.
        job_name: String,
        /// Creation time, epoch milliseconds.
        create_time: i64,
        /// The new version's id.
        version_id: i64,
        /// The new version's name (`V0001`, ...).
        version_name: String,
        /// Stable opaque resource id.
        resource_id: String,
    }

    /// The new version's status (normally `JOBSTAT_INIT`).
    #[getter]
    fn status<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        status_obj(py, self.inner.status)
    }

    /// The REST body as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }
}

record! {
    /// A page of log lines (`GET .../aom-log`, §11).
    LogPage(LogLinesResponse) repr(lines, start_line, end_line) {
        /// The lines, each ending with a newline (`""` when there are none).
        content: String,
        /// Number of lines in `content`.
        lines: i64,
        /// Cursor of the first line (pass as `base_line` with `order="asc"` to go back).
        start_line: String,
        /// Cursor of the last line (pass as `base_line` with `order="desc"` to go on).
        end_line: String,
    }

    /// The REST body as a dict (`is_success`, `content`, `lines`, `start_line`, `end_line`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }
}

record! {
    /// A resource spec jobs may use (`GET /job/resource-specs`, §12).
    Spec(SpecInfo) repr(spec_id, spec_code) {
        /// Spec id (the `spec_id` of a job config).
        spec_id: i64,
        /// Spec code, e.g. `local.cpu.1u`.
        spec_code: String,
        /// CPUs per worker (text).
        core: String,
        /// Memory per worker in GiB (text).
        cpu: String,
        /// GPUs per worker.
        gpu_num: i64,
        /// GPU type.
        gpu_type: String,
        /// Most workers a version may use with this spec.
        max_num: i64,
        /// True when the spec cannot be used now.
        no_resource: bool,
    }

    /// The spec as a dict with the REST field names.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }
}

record! {
    /// An engine jobs may use (`GET /job/ai-engines`, §13).
    Engine(EngineInfo) repr(engine_id, engine_name, engine_version) {
        /// Engine id (the `engine_id` of a job config).
        engine_id: i64,
        /// Engine family code (13 Python, 14 Bash, 10 PyTorch, 6 Scikit_Learn, ...).
        engine_type: i64,
        /// Engine name, e.g. `Scikit_Learn`.
        engine_name: String,
        /// Engine version, e.g. `python3`.
        engine_version: String,
    }

    /// The engine as a dict with the REST field names.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }
}

record! {
    /// The result of a history import (`POST /trainyard/v1/{project_id}/job-history`,
    /// `import.md`): job ids are assigned in record order.
    ImportResult(ImportResponse) repr(imported, first_job_id, last_job_id) {
        /// Records imported.
        imported: u64,
        /// Job id of the first record.
        first_job_id: i64,
        /// Job id of the last record.
        last_job_id: i64,
    }

    /// The REST body as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        serde_to_py(py, &self.inner)
    }
}
