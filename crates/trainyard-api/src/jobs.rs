//! Training-job bodies other than the list (`training-jobs.md`).

use crate::error::{ApiError, ErrorCode};
use crate::params::{JobName, WorkspaceId, check_desc, clip};
use crate::status::JobStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One hyper-parameter, passed to the boot file as `--{label}={value}` (`training-jobs.md` §1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Parameter {
    /// Name, 1–128 characters, no `=` and no whitespace.
    pub label: String,
    /// Value as text (a JSON number or bool sent by a client is kept as its text).
    pub value: String,
}

/// The `config` of a job or version (`training-jobs.md` §1, §6). Every field is optional here:
/// [`JobConfig::check_complete`] enforces what a runnable version needs, after inheritance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct JobConfig {
    /// Number of workers, ≥ 1 and ≤ the spec's `max_num`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_server_num: Option<i64>,
    /// Code directory: an absolute local path or `file://` URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_url: Option<String>,
    /// Entry script, absolute or relative to `app_url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_file_url: Option<String>,
    /// Engine from `/job/ai-engines`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_id: Option<i64>,
    /// Resource spec from `/job/resource-specs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spec_id: Option<i64>,
    /// Hyper-parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<Vec<Parameter>>,
    /// Input data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_url: Option<String>,
    /// Output directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_url: Option<String>,
    /// Directory that receives a copy of the logs when the version ends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// Custom image (stored; the local executor runs on the host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_image_url: Option<String>,
    /// Custom command run through `sh -c`, replacing engine + boot file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_command: Option<String>,
    /// Fields accepted and stored but not interpreted (`dataset_id`, `pool_id`, `volumes`, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

const PASSTHROUGH: [&str; 6] = [
    "dataset_id",
    "dataset_version_id",
    "data_source",
    "model_id",
    "pool_id",
    "volumes",
];

fn want_str(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid(format!(
            "{field} must be a string, got {}",
            type_name(other)
        ))),
    }
}

fn want_int(obj: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("{field} must be an integer, got {n}"))),
        Some(other) => Err(ApiError::invalid(format!(
            "{field} must be an integer, got {}",
            type_name(other)
        ))),
    }
}

/// The JSON type of a value, for error messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks a path field: at most 4096 bytes, no NUL; `obs://` and `s3://` are refused (no object
/// storage yet); otherwise an absolute local path or a `file://` URL, returned as the local path.
pub fn check_local_path(field: &str, raw: &str) -> Result<String, ApiError> {
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with("obs://") || lower.starts_with("s3://") {
        return Err(ApiError::invalid(format!(
            "{field} must be a local path: object storage ({}) is not supported, got {:?}",
            &raw[..raw.find("://").map_or(0, |i| i + 3)],
            clip(raw)
        )));
    }
    if raw.len() > 4096 || raw.contains('\0') {
        return Err(ApiError::invalid(format!(
            "{field} must be a path of at most 4096 bytes without NUL"
        )));
    }
    let path = raw.strip_prefix("file://").unwrap_or(raw);
    if !path.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "{field} must be an absolute local path or a file:// URL, got {:?}",
            clip(raw)
        )));
    }
    Ok(path.to_owned())
}

impl JobConfig {
    /// Parses a `config` object, field by field, with errors naming the field
    /// (400 `ModelArts.0101`). Unknown fields are ignored; the pass-through fields are kept.
    pub fn from_json(obj: &Map<String, Value>) -> Result<JobConfig, ApiError> {
        let mut c = JobConfig {
            worker_server_num: want_int(obj, "worker_server_num")?,
            engine_id: want_int(obj, "engine_id")?,
            spec_id: want_int(obj, "spec_id")?,
            user_image_url: want_str(obj, "user_image_url")?,
            user_command: want_str(obj, "user_command")?,
            ..JobConfig::default()
        };
        if let Some(n) = c.worker_server_num
            && n < 1
        {
            return Err(ApiError::invalid(format!(
                "worker_server_num must be at least 1, got {n}"
            )));
        }
        if let Some(cmd) = &c.user_command
            && (cmd.trim().is_empty() || cmd.len() > 65536 || cmd.contains('\0'))
        {
            return Err(ApiError::invalid(
                "user_command must be a non-empty command of at most 64 KiB",
            ));
        }
        for (field, slot) in [
            ("app_url", &mut c.app_url),
            ("boot_file_url", &mut c.boot_file_url),
            ("data_url", &mut c.data_url),
            ("train_url", &mut c.train_url),
            ("log_url", &mut c.log_url),
        ] {
            if let Some(raw) = want_str(obj, field)? {
                if field == "boot_file_url" {
                    // relative to app_url is allowed; object storage is not
                    if raw.starts_with('/') || raw.contains("://") {
                        check_local_path(field, &raw)?;
                    } else if raw.is_empty() || raw.len() > 4096 || raw.contains('\0') {
                        return Err(ApiError::invalid("boot_file_url must be a non-empty path"));
                    }
                    *slot = Some(raw.strip_prefix("file://").unwrap_or(&raw).to_owned());
                } else {
                    *slot = Some(check_local_path(field, &raw)?);
                }
            }
        }
        if let Some(p) = obj.get("parameter") {
            c.parameter = Some(parse_parameters(p)?);
        }
        for k in PASSTHROUGH {
            if let Some(v) = obj.get(k) {
                c.extra.insert(k.to_owned(), v.clone());
            }
        }
        Ok(c)
    }

    /// Fills every field absent here from `base` (version inheritance, `training-jobs.md` §6).
    pub fn inherit(mut self, base: &JobConfig) -> JobConfig {
        macro_rules! take {
            ($($f:ident),*) => { $( if self.$f.is_none() { self.$f = base.$f.clone(); } )* };
        }
        take!(
            worker_server_num,
            app_url,
            boot_file_url,
            engine_id,
            spec_id,
            parameter,
            data_url,
            train_url,
            log_url,
            user_image_url,
            user_command
        );
        for (k, v) in &base.extra {
            self.extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self
    }

    /// Checks what a runnable version needs: `worker_server_num` and `spec_id` always;
    /// `app_url`, `boot_file_url` and `engine_id` unless `user_command` is given.
    pub fn check_complete(&self) -> Result<(), ApiError> {
        let missing = |f: &str| ApiError::invalid(format!("config.{f} is required"));
        if self.worker_server_num.is_none() {
            return Err(missing("worker_server_num"));
        }
        if self.spec_id.is_none() {
            return Err(missing("spec_id"));
        }
        if self.user_command.is_none() {
            if self.app_url.is_none() {
                return Err(missing("app_url"));
            }
            if self.boot_file_url.is_none() {
                return Err(missing("boot_file_url"));
            }
            if self.engine_id.is_none() {
                return Err(missing("engine_id"));
            }
        }
        Ok(())
    }
}

fn parse_parameters(v: &Value) -> Result<Vec<Parameter>, ApiError> {
    let Value::Array(items) = v else {
        return Err(ApiError::invalid(format!(
            "parameter must be an array of {{label, value}}, got {}",
            type_name(v)
        )));
    };
    if items.len() > 1000 {
        return Err(ApiError::invalid("parameter may hold at most 1000 entries"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(o) = item else {
            return Err(ApiError::invalid(format!(
                "parameter[{i}] must be an object {{label, value}}"
            )));
        };
        let label = match o.get("label") {
            Some(Value::String(s))
                if !s.is_empty()
                    && s.chars().count() <= 128
                    && !s.contains('=')
                    && !s.chars().any(|c| c.is_whitespace() || c == '\0') =>
            {
                s.clone()
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "parameter[{i}].label must be a string of 1-128 characters without '=' or spaces"
                )));
            }
        };
        let value = match o.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            None | Some(Value::Null) => String::new(),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "parameter[{i}].value must be a string, number or boolean, got {}",
                    type_name(other)
                )));
            }
        };
        if value.len() > 65536 || value.contains('\0') {
            return Err(ApiError::invalid(format!(
                "parameter[{i}].value must be at most 64 KiB without NUL"
            )));
        }
        out.push(Parameter { label, value });
    }
    Ok(out)
}

/// Parses a request body as a JSON object: anything else is 400 `ModelArts.2787`.
pub fn body_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::new(
            ErrorCode::InvalidJsonBody,
            format!(
                "the request body must be a JSON object, got {}",
                type_name(&other)
            ),
        )),
        Err(e) => Err(ApiError::new(
            ErrorCode::InvalidJsonBody,
            format!(
                "the request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )),
    }
}

/// A validated create-job request (`POST /training-jobs`, `training-jobs.md` §1).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateJobRequest {
    /// The job name (NFC, checked).
    pub job_name: JobName,
    /// The description, 0–256 characters.
    pub job_desc: String,
    /// The workspace (default `"0"`).
    pub workspace_id: WorkspaceId,
    /// The config of version 1 (complete: see [`JobConfig::check_complete`]).
    pub config: JobConfig,
}

impl CreateJobRequest {
    /// Parses and checks a create body (`body_object` first). Errors name the field.
    pub fn from_json(obj: &Map<String, Value>) -> Result<CreateJobRequest, ApiError> {
        let job_name = match obj.get("job_name") {
            Some(Value::String(s)) => JobName::parse(s)?,
            None | Some(Value::Null) => return Err(ApiError::invalid("job_name is required")),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "job_name must be a string, got {}",
                    type_name(other)
                )));
            }
        };
        let job_desc = match want_str(obj, "job_desc")? {
            Some(d) => check_desc("job_desc", &d)?,
            None => String::new(),
        };
        let workspace_id = match want_str(obj, "workspace_id")? {
            Some(w) => WorkspaceId::parse(&w)?,
            None => WorkspaceId::default(),
        };
        let config = match obj.get("config") {
            Some(Value::Object(c)) => c,
            None | Some(Value::Null) => return Err(ApiError::invalid("config is required")),
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "config must be an object, got {}",
                    type_name(other)
                )));
            }
        };
        match config.get("create_version") {
            None | Some(Value::Null) | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => {
                return Err(ApiError::invalid(
                    "config.create_version=false is not supported: a job is created with its first version",
                ));
            }
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "create_version must be a boolean, got {}",
                    type_name(other)
                )));
            }
        }
        let config = JobConfig::from_json(config)?;
        config.check_complete()?;
        Ok(CreateJobRequest {
            job_name,
            job_desc,
            workspace_id,
            config,
        })
    }
}

/// A validated create-version request (`POST /training-jobs/{job_id}/versions`, §6).
#[derive(Clone, Debug, PartialEq)]
pub struct CreateVersionRequest {
    /// The version this one starts from; absent config fields are inherited from it.
    pub pre_version_id: i64,
    /// Stored as the new version's `version_desc` (0–256 characters).
    pub version_desc: String,
    /// The fields given (not yet merged with the base).
    pub config: JobConfig,
}

impl CreateVersionRequest {
    /// Parses a create-version body. Errors name the field.
    pub fn from_json(obj: &Map<String, Value>) -> Result<CreateVersionRequest, ApiError> {
        let version_desc = match want_str(obj, "job_desc")? {
            Some(d) => check_desc("job_desc", &d)?,
            None => String::new(),
        };
        let config = match obj.get("config") {
            Some(Value::Object(c)) => c,
            None | Some(Value::Null) => {
                return Err(ApiError::invalid("config.pre_version_id is required"));
            }
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "config must be an object, got {}",
                    type_name(other)
                )));
            }
        };
        let pre_version_id = want_int(config, "pre_version_id")?
            .ok_or_else(|| ApiError::invalid("config.pre_version_id is required"))?;
        let config = JobConfig::from_json(config)?;
        Ok(CreateVersionRequest {
            pre_version_id,
            version_desc,
            config,
        })
    }
}

/// Parses the body of `PUT /training-jobs/{job_id}`: `{"job_desc": "..."}` (0–256 characters).
pub fn parse_update_desc(obj: &Map<String, Value>) -> Result<String, ApiError> {
    match obj.get("job_desc") {
        Some(Value::String(s)) => check_desc("job_desc", s),
        None | Some(Value::Null) => Err(ApiError::invalid("job_desc is required")),
        Some(other) => Err(ApiError::invalid(format!(
            "job_desc must be a string, got {}",
            type_name(other)
        ))),
    }
}

/// Response of a create job (§1) or create version (§6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreateJobResponse {
    /// Always `true`.
    pub is_success: bool,
    /// The job.
    pub job_id: i64,
    /// The job's name.
    pub job_name: String,
    /// The new version's status (1 INIT).
    pub status: JobStatus,
    /// The new version's creation time, epoch ms.
    pub create_time: i64,
    /// The new version.
    pub version_id: i64,
    /// `V0001`, `V0002`, ...
    pub version_name: String,
    /// A stable opaque id of the version's resources.
    #[serde(default)]
    pub resource_id: String,
}

/// A version object (`training-jobs.md` §3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    /// Job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Job description.
    pub job_desc: String,
    /// Version id.
    pub version_id: i64,
    /// `V` + 4 digits.
    pub version_name: String,
    /// The version this one was created from (null for the first).
    pub pre_version_id: Option<i64>,
    /// Engine family code.
    pub engine_type: i64,
    /// Engine name.
    pub engine_name: String,
    /// Engine id (null for custom-command versions without an engine).
    pub engine_id: Option<i64>,
    /// Engine version.
    pub engine_version: String,
    /// Status.
    pub status: JobStatus,
    /// Code directory.
    pub app_url: String,
    /// Entry script.
    pub boot_file_url: String,
    /// Creation time, epoch ms.
    pub create_time: i64,
    /// Start time (entering RUNNING), epoch ms, or null.
    pub start_time: Option<i64>,
    /// End time (entering a terminal status), epoch ms, or null.
    pub end_time: Option<i64>,
    /// Run time in ms (live while running).
    pub duration: i64,
    /// Hyper-parameters.
    pub parameter: Vec<Parameter>,
    /// Spec id.
    pub spec_id: i64,
    /// Spec code.
    pub spec_code: String,
    /// CPUs per worker (text, as ModelArts).
    pub core: String,
    /// Memory per worker in GiB (text, as ModelArts).
    pub cpu: String,
    /// GPUs per worker.
    pub gpu_num: i64,
    /// GPU type.
    pub gpu_type: String,
    /// Workers.
    pub worker_server_num: i64,
    /// Input directory.
    pub data_url: String,
    /// Output directory.
    pub train_url: String,
    /// Log copy directory.
    pub log_url: String,
    /// Custom image.
    pub user_image_url: String,
    /// Custom command.
    pub user_command: String,
    /// Stable opaque resource id.
    pub resource_id: String,
    /// The version's own description (`job_desc` of the create-version body).
    pub version_desc: String,
    /// First non-zero worker exit code, `128 + signal` for a signal, 0 otherwise; null before the end.
    pub exit_code: Option<i64>,
    /// One line explaining the status (signal, submit error, missing path), or empty.
    pub status_reason: String,
}

/// A version detail response: [`VersionInfo`] plus `is_success`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionDetailResponse {
    /// Always `true`.
    pub is_success: bool,
    /// The version.
    #[serde(flatten)]
    pub version: VersionInfo,
}

/// `GET /training-jobs/{job_id}/versions` (§5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionListResponse {
    /// Always `true`.
    pub is_success: bool,
    /// Job id.
    pub job_id: i64,
    /// Job name.
    pub job_name: String,
    /// Job description.
    pub job_desc: String,
    /// Versions that exist.
    pub version_count: i64,
    /// The page of versions, newest first.
    pub versions: Vec<VersionInfo>,
}

/// A bare success (`{"is_success": true}`): stop, update, delete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SuccessResponse {
    /// Always `true`.
    pub is_success: bool,
}

/// `GET .../log/file-names` (§10).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogFileNamesResponse {
    /// Always `true`.
    pub is_success: bool,
    /// One name per worker: `{job_name}-{version_name}.{worker_index}`.
    pub log_file_list: Vec<String>,
}

/// `GET .../aom-log` (§11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLinesResponse {
    /// Always `true`.
    pub is_success: bool,
    /// The lines, each ending in `\n`.
    pub content: String,
    /// Number of lines in `content`.
    pub lines: i64,
    /// Cursor of the first line returned (pass as `base_line` with `order=asc` to go back).
    pub start_line: String,
    /// Cursor of the last line returned (pass as `base_line` with `order=desc` to go on).
    pub end_line: String,
}

/// A resource spec (§12, `runtime.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Spec {
    /// Spec id.
    pub spec_id: i64,
    /// Spec code, e.g. `local.cpu.1u`.
    pub spec_code: String,
    /// CPUs per worker (text).
    pub core: String,
    /// Memory per worker in GiB (text).
    pub cpu: String,
    /// GPUs per worker.
    pub gpu_num: i64,
    /// GPU type.
    #[serde(default)]
    pub gpu_type: String,
    /// Most workers.
    pub max_num: i64,
    /// True when the spec cannot be used now.
    #[serde(default)]
    pub no_resource: bool,
}

/// `GET /job/resource-specs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpecListResponse {
    /// Always `true`.
    pub is_success: bool,
    /// Number of specs.
    pub spec_total_count: i64,
    /// The specs.
    pub specs: Vec<Spec>,
}

/// An engine (§13, `runtime.md`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Engine {
    /// Engine id.
    pub engine_id: i64,
    /// Engine family code (13 Python, 14 Bash, 10 PyTorch, ...).
    pub engine_type: i64,
    /// Engine name.
    pub engine_name: String,
    /// Engine version.
    pub engine_version: String,
}

/// `GET /job/ai-engines`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EngineListResponse {
    /// Always `true`.
    pub is_success: bool,
    /// The engines.
    pub engines: Vec<Engine>,
}
