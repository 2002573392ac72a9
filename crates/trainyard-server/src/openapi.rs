//! The OpenAPI 3.1 document: what the `#[utoipa::path]` attributes of the handlers do not say
//! themselves (title, security schemes, the error envelope of every operation) and the schemas
//! of request bodies, which the handlers parse from raw JSON to name the bad field.
//!
//! The document is built from the router (`crate::app::api`), served at `GET /openapi.json`
//! and `GET /docs` (Swagger UI, vendored in the binary), and committed as `openapi.json` at
//! the repository root, locked by a snapshot test (`tests/it/openapi.rs`).

use std::collections::BTreeMap;
use trainyard_api::ErrorBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

/// Tag of the training-job routes.
pub const TAG_JOBS: &str = "training jobs";
/// Tag of the version routes.
pub const TAG_VERSIONS: &str = "versions";
/// Tag of the log routes.
pub const TAG_LOGS: &str = "logs";
/// Tag of specs and engines.
pub const TAG_META: &str = "specs and engines";
/// Tag of the training-job configs.
pub const TAG_CONFIGS: &str = "training-job configs";
/// Tag of the identity (Keystone) routes.
pub const TAG_IDENTITY: &str = "identity";
/// Tag of the trainyard extensions (history import).
pub const TAG_TRAINYARD: &str = "trainyard";
/// Tag of health, readiness and metrics.
pub const TAG_OPS: &str = "operations";

/// Security scheme name: `X-Auth-Token` from `POST /v3/auth/tokens`.
pub const SEC_TOKEN: &str = "token";
/// Security scheme name: `Authorization: SDK-HMAC-SHA256 ...` (AK/SK signing, `docs/auth.md`).
pub const SEC_AKSK: &str = "aksk";

/// The error responses every authenticated operation may give, each the error envelope
/// ([`ErrorBody`], `errors.md`).
pub struct ApiErrors;

fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    "ErrorBody",
                ))))
                .build(),
        )
        .into()
}

impl IntoResponses for ApiErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            (
                "400",
                "invalid parameter or body (`ModelArts.0101`, `0102`, `0103`, `2780`, `2781`, `2790`, `2815`)",
            ),
            (
                "401",
                "missing or invalid credentials (`ModelArts.0201`-`0203`, `APIG.0301`)",
            ),
            (
                "403",
                "the credentials do not cover this project (`ModelArts.0210`)",
            ),
            (
                "404",
                "no such job, version, config or path (`ModelArts.2775`, `0104`)",
            ),
            ("405", "method not allowed on this path"),
            ("409", "the version's status forbids this (`ModelArts.2817`)"),
            ("413", "the body is over the size limit"),
            ("429", "too many requests"),
            (
                "500",
                "internal error; the log has the details under the X-Request-Id",
            ),
        ]
        .into_iter()
        .map(|(code, d)| (code.to_owned(), error_response(d)))
        .collect()
    }
}

/// The error responses of unauthenticated operations that parse a body (`/v3/auth/tokens`).
pub struct PublicErrors;

impl IntoResponses for PublicErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "invalid body"),
            ("401", "wrong user, domain or password (`IAM.0004`)"),
            ("405", "method not allowed on this path"),
            ("413", "the body is over the size limit"),
            ("429", "too many requests"),
            ("500", "internal error"),
        ]
        .into_iter()
        .map(|(code, d)| (code.to_owned(), error_response(d)))
        .collect()
    }
}

/// Completes the document built by the router: title, version, description, the security
/// schemes (required by default; public operations say `security(())`), and the
/// [`ErrorBody`] schema.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info.title = "trainyard".into();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    doc.info.description = Some(
        "A self-hosted training-job service speaking the Huawei ModelArts v1 training-job API \
         (`/v1/{project_id}/training-jobs...`), with Keystone token login, history import, \
         health, readiness and Prometheus metrics. Errors are the ModelArts envelope \
         (`is_success: false`, `error_code`, `error_msg`); every answer carries an \
         `X-Request-Id` to quote."
            .into(),
    );
    doc.info.license = None;
    doc.info.contact = None;
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SEC_TOKEN.into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(
            ApiKeyValue::with_description(
                "X-Auth-Token",
                "a token from POST /v3/auth/tokens (X-Subject-Token of the answer)",
            ),
        ))),
    );
    components.security_schemes.insert(
        SEC_AKSK.into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(
            ApiKeyValue::with_description(
                "Authorization",
                "SDK-HMAC-SHA256 Access=AK, SignedHeaders=..., Signature=... with an X-Sdk-Date header (docs/auth.md)",
            ),
        ))),
    );
    components.schemas.insert(
        "ErrorBody".into(),
        <ErrorBody as utoipa::PartialSchema>::schema(),
    );
    doc.security = Some(vec![
        SecurityRequirement::new::<_, _, &str>(SEC_TOKEN, []),
        SecurityRequirement::new::<_, _, &str>(SEC_AKSK, []),
    ]);
    doc
}

// ---------------------------------------------------------------------------------------------
// Request bodies (documentation only: the handlers parse raw JSON to report the bad field)
// ---------------------------------------------------------------------------------------------

/// A hyper-parameter in a request: `value` may be sent as a string, number or boolean.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ParameterBody {
    /// 1–128 characters, no `=` and no whitespace.
    pub label: String,
    /// The value: a string, number or boolean (a number or boolean is kept as its text, so
    /// an answer always holds a string).
    #[schema(schema_with = parameter_value_schema)]
    pub value: serde_json::Value,
}

/// `type: [string, number, boolean]`: what a client may send as a hyper-parameter's value, and
/// what an answer holds (a string).
fn parameter_value_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Number, Type::Boolean]))
        .description(Some(
            "A string, number or boolean; a number or boolean is kept as its text, so an answer always holds a string.",
        ))
        .build()
}

/// The `config` of a create-job body (`training-jobs.md` §1). Unknown fields (`dataset_id`,
/// `pool_id`, `volumes`, ...) are stored and passed back as they are.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct JobConfigBody {
    /// Workers, ≥ 1 and ≤ the spec's `max_num`.
    pub worker_server_num: Option<i64>,
    /// Code directory: an absolute local path or `file://` URL.
    pub app_url: Option<String>,
    /// Entry script, absolute or relative to `app_url`.
    pub boot_file_url: Option<String>,
    /// Engine id from `/job/ai-engines`.
    pub engine_id: Option<i64>,
    /// Spec id from `/job/resource-specs`.
    pub spec_id: Option<i64>,
    /// Hyper-parameters, passed as `--label=value`.
    pub parameter: Option<Vec<ParameterBody>>,
    /// Input data directory.
    pub data_url: Option<String>,
    /// Output directory.
    pub train_url: Option<String>,
    /// Directory that receives a copy of the logs.
    pub log_url: Option<String>,
    /// Custom image (stored).
    pub user_image_url: Option<String>,
    /// Custom command run with `sh -c`, instead of engine and boot file.
    pub user_command: Option<String>,
    /// Must be absent or true (a job is created with its first version).
    pub create_version: Option<bool>,
}

/// Body of `POST /v1/{project_id}/training-jobs`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct CreateJobBody {
    /// 1–64 letters, digits, `_` or `-`; unique in the workspace.
    pub job_name: String,
    /// 0–256 characters.
    pub job_desc: Option<String>,
    /// Default `"0"`.
    pub workspace_id: Option<String>,
    /// Version 1's config: `worker_server_num`, `spec_id` and either `user_command` or
    /// `engine_id` + `app_url` + `boot_file_url` are needed.
    pub config: JobConfigBody,
}

/// The `config` of a create-version body: the base version and the fields that change.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct VersionConfigBody {
    /// The version this one starts from; fields not given are inherited from it.
    pub pre_version_id: i64,
    /// The fields that change.
    #[schema(inline)]
    #[serde(flatten)]
    pub fields: JobConfigBody,
}

/// Body of `POST .../training-jobs/{job_id}/versions` (`training-jobs.md` §6).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct CreateVersionBody {
    /// The new version's description (0–256 characters).
    pub job_desc: Option<String>,
    /// The base version and the changes.
    pub config: VersionConfigBody,
}

/// Body of `PUT .../training-jobs/{job_id}` (§8).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct UpdateJobBody {
    /// The new description (0–256 characters).
    pub job_desc: String,
}

/// Body of a config create or update (`training-jobs.md` §14): the config fields flat at the
/// top level or in `config` (not both for one field).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ConfigBody {
    /// 1–64 letters, digits, `_` or `-` (required on create; on update, equal to the path's).
    pub config_name: Option<String>,
    /// 0–256 characters.
    pub config_desc: Option<String>,
    /// The fields, nested.
    pub config: Option<JobConfigBody>,
    /// Or the fields at the top level.
    #[schema(inline)]
    #[serde(flatten)]
    pub fields: JobConfigBody,
}

/// A stored config: its name, description, creation time and fields (flat).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ConfigInfo {
    /// Name.
    pub config_name: String,
    /// Description.
    pub config_desc: String,
    /// Creation time, epoch ms.
    pub create_time: i64,
    /// The fields.
    #[schema(inline)]
    #[serde(flatten)]
    pub fields: JobConfigBody,
}

/// `GET .../training-job-configs`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ConfigListResponse {
    /// Always `true`.
    pub is_success: bool,
    /// Configs in the project.
    pub config_total_count: i64,
    /// The page.
    pub configs: Vec<ConfigInfo>,
}

/// `GET .../training-job-configs/{config_name}`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ConfigDetailResponse {
    /// Always `true`.
    pub is_success: bool,
    /// The config.
    #[serde(flatten)]
    pub config: ConfigInfo,
}

/// Answer of a config create or update.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ConfigNameResponse {
    /// Always `true`.
    pub is_success: bool,
    /// The config's name.
    pub config_name: String,
}

/// Body of `POST /v3/auth/tokens` (Keystone password authentication, scoped to a project):
/// `{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name", "password",
/// "domain": {"name"}}}}, "scope": {"project": {"id"} or {"name"}}}}`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// The identity and the scope.
    #[schema(value_type = Object)]
    pub auth: serde_json::Value,
}

/// Answer of `POST /v3/auth/tokens` (201; the token is in the `X-Subject-Token` header).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct TokenResponse {
    /// `expires_at`, `issued_at` (RFC 3339), `project`, `user`, `roles`, `catalog`.
    #[schema(value_type = Object)]
    pub token: serde_json::Value,
}

/// `GET /v3`: the Keystone version document.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct IdentityVersion {
    /// `id`, `status`, `links`, `media-types`.
    #[schema(value_type = Object)]
    pub version: serde_json::Value,
}
