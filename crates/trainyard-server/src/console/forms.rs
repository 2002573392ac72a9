//! The create-job and new-version forms. A submitted form is turned into the API's JSON body
//! and parsed by the API's own parsers (`CreateJobRequest::from_json`,
//! `CreateVersionRequest::from_json`; integers by `params::parse_int`), then created through
//! `crate::service`: the same checks and the same messages as `POST /training-jobs`. A refused
//! form comes back filled in, with the message and the field it names marked.

use super::page::{Chrome, Form, PageResult, path_segment, render, respond};
use super::session::Viewer;
use crate::error::HttpError;
use crate::extract::id;
use crate::service;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value, json};
use trainyard_api::error::ApiError;
use trainyard_api::jobs::{CreateJobRequest, CreateVersionRequest, JobConfig};
use trainyard_api::params::parse_int;

/// The form's fields, as text (what the user typed, kept when the form comes back).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobForm {
    /// `job_name` (create only).
    pub job_name: String,
    /// `job_desc` (the job's; for a version, its `version_desc`).
    pub job_desc: String,
    /// `engine_id` (`""` = none: a custom command).
    pub engine_id: String,
    /// `spec_id`.
    pub spec_id: String,
    /// `worker_server_num`.
    pub worker_server_num: String,
    /// `app_url`.
    pub app_url: String,
    /// `boot_file_url`.
    pub boot_file_url: String,
    /// `user_command`.
    pub user_command: String,
    /// `parameter`, one `label=value` per line.
    pub parameters: String,
    /// `data_url`.
    pub data_url: String,
    /// `train_url`.
    pub train_url: String,
    /// `log_url`.
    pub log_url: String,
}

const TEXT_FIELDS: [&str; 12] = [
    "job_name",
    "job_desc",
    "engine_id",
    "spec_id",
    "worker_server_num",
    "app_url",
    "boot_file_url",
    "user_command",
    "parameter",
    "data_url",
    "train_url",
    "log_url",
];

impl JobForm {
    /// The fields of a submitted form (absent ones empty).
    pub fn from_form(f: &Form) -> JobForm {
        let g = |k: &str| f.get(k).unwrap_or("").to_owned();
        JobForm {
            job_name: g("job_name").trim().to_owned(),
            job_desc: g("job_desc"),
            engine_id: g("engine_id"),
            spec_id: g("spec_id"),
            worker_server_num: g("worker_server_num").trim().to_owned(),
            app_url: g("app_url").trim().to_owned(),
            boot_file_url: g("boot_file_url").trim().to_owned(),
            user_command: g("user_command"),
            parameters: g("parameter"),
            data_url: g("data_url").trim().to_owned(),
            train_url: g("train_url").trim().to_owned(),
            log_url: g("log_url").trim().to_owned(),
        }
    }

    /// A form prefilled from a version's config.
    pub fn from_config(c: &JobConfig) -> JobForm {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let n = |o: Option<i64>| o.map(|v| v.to_string()).unwrap_or_default();
        JobForm {
            job_name: String::new(),
            job_desc: String::new(),
            engine_id: n(c.engine_id),
            spec_id: n(c.spec_id),
            worker_server_num: n(c.worker_server_num),
            app_url: s(&c.app_url),
            boot_file_url: s(&c.boot_file_url),
            user_command: s(&c.user_command),
            parameters: c
                .parameter
                .iter()
                .flatten()
                .map(|p| format!("{}={}\n", p.label, p.value))
                .collect(),
            data_url: s(&c.data_url),
            train_url: s(&c.train_url),
            log_url: s(&c.log_url),
        }
    }

    /// The `config` object of the API body: empty fields are left out; integers parsed by
    /// the API's integer parser; parameters from `label=value` lines. Errors name the field.
    pub fn config_json(&self) -> Result<Map<String, Value>, ApiError> {
        let mut c = Map::new();
        for (name, raw) in [
            ("worker_server_num", &self.worker_server_num),
            ("spec_id", &self.spec_id),
            ("engine_id", &self.engine_id),
        ] {
            if !raw.trim().is_empty() {
                c.insert(name.into(), json!(parse_int(name, raw.trim())?));
            }
        }
        for (name, raw) in [
            ("app_url", &self.app_url),
            ("boot_file_url", &self.boot_file_url),
            ("user_command", &self.user_command),
            ("data_url", &self.data_url),
            ("train_url", &self.train_url),
            ("log_url", &self.log_url),
        ] {
            if !raw.trim().is_empty() {
                c.insert(name.into(), Value::String(raw.clone()));
            }
        }
        let params: Vec<Value> = self
            .parameters
            .lines()
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let (label, value) = l.split_once('=').unwrap_or((l, ""));
                json!({"label": label.trim(), "value": value})
            })
            .collect();
        if !params.is_empty() {
            c.insert("parameter".into(), Value::Array(params));
        }
        Ok(c)
    }

    /// The body of `POST /training-jobs`.
    pub fn create_body(&self) -> Result<Map<String, Value>, ApiError> {
        let mut body = Map::new();
        body.insert("job_name".into(), Value::String(self.job_name.clone()));
        if !self.job_desc.is_empty() {
            body.insert("job_desc".into(), Value::String(self.job_desc.clone()));
        }
        body.insert("config".into(), Value::Object(self.config_json()?));
        Ok(body)
    }

    /// The body of `POST .../versions` based on `pre_version_id`.
    pub fn version_body(&self, pre_version_id: i64) -> Result<Map<String, Value>, ApiError> {
        let mut config = self.config_json()?;
        config.insert("pre_version_id".into(), json!(pre_version_id));
        let mut body = Map::new();
        if !self.job_desc.is_empty() {
            body.insert("job_desc".into(), Value::String(self.job_desc.clone()));
        }
        body.insert("config".into(), Value::Object(config));
        Ok(body)
    }
}

/// The form field an API message is about (`job_name must ...`, `config.app_url is
/// required`, `parameter[0].label ...`, `worker_server_num 9 is above ...`), if any.
pub fn field_of(message: &str) -> Option<&'static str> {
    let m = message.strip_prefix("config.").unwrap_or(message);
    let head: String = m
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    TEXT_FIELDS.into_iter().find(|f| *f == head)
}

/// An engine choice.
pub struct Choice {
    /// Value.
    pub value: String,
    /// Text.
    pub label: String,
}

#[derive(Template)]
#[template(path = "form.html")]
struct FormPage {
    chrome: Chrome,
    heading: String,
    action: String,
    back: String,
    /// Creating a version of this job (`None`: a new job).
    version_of: Option<String>,
    pre_version_id: i64,
    form: JobForm,
    engines: Vec<Choice>,
    specs: Vec<Choice>,
    max_workers: i64,
    error: Option<String>,
    error_field: Option<&'static str>,
    submit: String,
}

impl FormPage {
    fn invalid(&self, field: &str) -> bool {
        self.error_field == Some(field)
    }
}

fn choices(s: &AppState) -> (Vec<Choice>, Vec<Choice>, i64) {
    let engines = s
        .config
        .engines
        .iter()
        .map(|e| Choice {
            value: e.engine.engine_id.to_string(),
            label: format!("{} ({})", e.engine.engine_name, e.engine.engine_version),
        })
        .collect();
    let specs = s
        .config
        .specs
        .iter()
        .map(|sp| Choice {
            value: sp.spec_id.to_string(),
            label: format!(
                "{}: {} CPU, {} GiB, up to {} workers",
                sp.spec_code, sp.core, sp.cpu, sp.max_num
            ),
        })
        .collect();
    let max = s
        .config
        .specs
        .iter()
        .map(|sp| sp.max_num)
        .max()
        .unwrap_or(1);
    (engines, specs, max)
}

fn jobs_path(project: &str) -> String {
    format!("/console/p/{}/jobs", path_segment(project))
}

/// `GET /console/p/{project}/jobs/new`: an empty create form (first engine and spec, one
/// worker).
pub async fn create_page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(p): Path<String>,
) -> Response {
    let r = (|| {
        let project = viewer.project(&p)?;
        let (engines, specs, max_workers) = choices(&s);
        let form = JobForm {
            engine_id: engines.first().map(|e| e.value.clone()).unwrap_or_default(),
            spec_id: specs.first().map(|e| e.value.clone()).unwrap_or_default(),
            worker_server_num: "1".into(),
            ..JobForm::default()
        };
        let page = FormPage {
            chrome: viewer.chrome(Some(&project), "New job"),
            heading: "New job".into(),
            action: jobs_path(&project.id),
            back: jobs_path(&project.id),
            version_of: None,
            pre_version_id: 0,
            form,
            engines,
            specs,
            max_workers,
            error: None,
            error_field: None,
            submit: "Create job".into(),
        };
        Ok(render(&page, StatusCode::OK))
    })();
    respond(&viewer, r)
}

/// `POST /console/p/{project}/jobs`: creates the job through `service::create_job`; goes to
/// its page, or shows the form again with the API's message (400).
pub async fn create_job(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(p): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let r = async {
        viewer.check_post(&headers, &form)?;
        let project = viewer.project(&p)?;
        let fields = JobForm::from_form(&form);
        let attempt = async {
            let body = fields.create_body()?;
            let req = CreateJobRequest::from_json(&body)?;
            service::create_job(&s, &project.id, req).await
        }
        .await;
        match attempt {
            Ok(created) => {
                Ok(
                    Redirect::to(&format!("{}/{}", jobs_path(&project.id), created.job_id))
                        .into_response(),
                )
            }
            Err(e) => refused(&s, &viewer, &project, fields, None, 0, e),
        }
    }
    .await;
    respond(&viewer, r)
}

/// The form again, filled in, with the API's message (or the error page for what is no
/// form mistake: a missing job, an internal error).
fn refused(
    s: &AppState,
    viewer: &Viewer,
    project: &super::page::ProjectChoice,
    form: JobForm,
    version_of: Option<(i64, String)>,
    pre_version_id: i64,
    e: HttpError,
) -> PageResult {
    let status = StatusCode::from_u16(e.0.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status != StatusCode::BAD_REQUEST {
        return Err(e.into());
    }
    let (engines, specs, max_workers) = choices(s);
    let (heading, action, back, version_of, submit) = match version_of {
        Some((job_id, name)) => {
            let base = format!("{}/{job_id}", jobs_path(&project.id));
            (
                format!("New version of {name}"),
                format!("{base}/versions"),
                base,
                Some(name),
                "Create version".to_owned(),
            )
        }
        None => (
            "New job".to_owned(),
            jobs_path(&project.id),
            jobs_path(&project.id),
            None,
            "Create job".to_owned(),
        ),
    };
    let page = FormPage {
        chrome: viewer.chrome(Some(project), heading.clone()),
        heading,
        action,
        back,
        version_of,
        pre_version_id,
        form,
        engines,
        specs,
        max_workers,
        error_field: field_of(&e.0.message),
        error: Some(format!("{} ({})", e.0.message, e.0.code.as_str())),
        submit,
    };
    Ok(render(&page, StatusCode::BAD_REQUEST))
}

/// `GET .../jobs/{job_id}/versions/new?from={version_id}`: the form prefilled from that
/// version's config (default: the latest version).
pub async fn version_page(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let q = Form::from_query(uri.query().unwrap_or(""));
    let r = async {
        let project = viewer.project(&p)?;
        let job_id = id("job_id", &j)?;
        let (job, versions) = service::list_versions(&s, &project.id, job_id).await?;
        let from = match q.get("from") {
            Some(v) => id("from", v)?,
            None => versions.first().map_or(0, |v| v.version_id),
        };
        let base = versions
            .iter()
            .find(|v| v.version_id == from)
            .ok_or_else(|| {
                super::page::ConsoleError::not_found("There is no such version of this job.")
            })?;
        let (engines, specs, max_workers) = choices(&s);
        let heading = format!("New version of {}", job.job_name);
        let page = FormPage {
            chrome: viewer.chrome(Some(&project), heading.clone()),
            heading,
            action: format!("{}/{job_id}/versions", jobs_path(&project.id)),
            back: format!("{}/{job_id}", jobs_path(&project.id)),
            version_of: Some(job.job_name.clone()),
            pre_version_id: base.version_id,
            form: JobForm::from_config(&base.config),
            engines,
            specs,
            max_workers,
            error: None,
            error_field: None,
            submit: format!("Create version (from {})", base.version_name()),
        };
        Ok(render(&page, StatusCode::OK))
    }
    .await;
    respond(&viewer, r)
}

/// `POST .../jobs/{job_id}/versions`: creates the version through `service::create_version`
/// (absent fields inherited from `pre_version_id`); goes to the job page showing it.
pub async fn create_version(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((p, j)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Response {
    let r = async {
        viewer.check_post(&headers, &form)?;
        let project = viewer.project(&p)?;
        let job_id = id("job_id", &j)?;
        let (job, _) = service::list_versions(&s, &project.id, job_id).await?;
        let fields = JobForm::from_form(&form);
        let pre = form
            .get("pre_version_id")
            .map(|v| id("pre_version_id", v))
            .transpose()?
            .unwrap_or(0);
        let attempt = async {
            let body = fields.version_body(pre)?;
            let req = CreateVersionRequest::from_json(&body)?;
            service::create_version(&s, &project.id, job_id, req).await
        }
        .await;
        match attempt {
            Ok(created) => Ok(Redirect::to(&format!(
                "{}/{job_id}?version={}",
                jobs_path(&project.id),
                created.version_id
            ))
            .into_response()),
            Err(e) => refused(
                &s,
                &viewer,
                &project,
                fields,
                Some((job_id, job.job_name)),
                pre,
                e,
            ),
        }
    }
    .await;
    respond(&viewer, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> JobForm {
        JobForm::from_form(&Form(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        ))
    }

    #[test]
    fn a_form_becomes_the_api_body() {
        let f = form(&[
            ("job_name", " digits "),
            ("engine_id", "4"),
            ("spec_id", "1"),
            ("worker_server_num", "2"),
            ("app_url", "/code"),
            ("boot_file_url", "train.py"),
            ("parameter", "folds=5\r\nC=10\n\n note = a b=c\n"),
            ("train_url", ""),
        ]);
        let body = f.create_body().unwrap();
        assert_eq!(
            Value::Object(body.clone()),
            json!({"job_name": "digits", "config": {
            "worker_server_num": 2, "spec_id": 1, "engine_id": 4,
            "app_url": "/code", "boot_file_url": "train.py",
            "parameter": [
                {"label": "folds", "value": "5"},
                {"label": "C", "value": "10"},
                {"label": "note", "value": " a b=c"}
            ]}})
        );
        // the API's parser accepts it
        let req = CreateJobRequest::from_json(&body).unwrap();
        assert_eq!(req.config.parameter.as_ref().map(Vec::len), Some(3));
    }

    #[test]
    fn refusals_are_the_api_messages() {
        let e = form(&[("worker_server_num", "two")])
            .create_body()
            .unwrap_err();
        assert_eq!(
            e.message,
            trainyard_api::params::parse_int("worker_server_num", "two")
                .unwrap_err()
                .message
        );
        let body = form(&[
            ("job_name", "bad name"),
            ("spec_id", "1"),
            ("worker_server_num", "1"),
            ("user_command", "true"),
        ])
        .create_body()
        .unwrap();
        let e = CreateJobRequest::from_json(&body).unwrap_err();
        assert!(e.message.starts_with("job_name"), "{}", e.message);
        assert_eq!(field_of(&e.message), Some("job_name"));
        let body = form(&[
            ("job_name", "ok"),
            ("spec_id", "1"),
            ("worker_server_num", "1"),
            ("engine_id", "1"),
        ])
        .create_body()
        .unwrap();
        let e = CreateJobRequest::from_json(&body).unwrap_err();
        assert_eq!(e.message, "config.app_url is required");
        assert_eq!(field_of(&e.message), Some("app_url"));
        let body = form(&[
            ("job_name", "ok"),
            ("spec_id", "1"),
            ("worker_server_num", "1"),
            ("user_command", "x"),
            ("parameter", "a b=1"),
        ])
        .create_body()
        .unwrap();
        let e = CreateJobRequest::from_json(&body).unwrap_err();
        assert_eq!(field_of(&e.message), Some("parameter"));
        assert_eq!(field_of("something else"), None);
    }

    #[test]
    fn hostile_form_values_and_messages_are_text() {
        use super::super::page::hostile::{self, ATTR, QUOTE, SCRIPT};
        let page = FormPage {
            chrome: hostile::chrome(),
            heading: SCRIPT.into(),
            action: "/x".into(),
            back: "/y".into(),
            version_of: None,
            pre_version_id: 0,
            form: JobForm {
                job_name: ATTR.into(),
                job_desc: QUOTE.into(),
                engine_id: ATTR.into(),
                spec_id: "1".into(),
                worker_server_num: ATTR.into(),
                app_url: SCRIPT.into(),
                boot_file_url: ATTR.into(),
                user_command: format!("</textarea>{SCRIPT}"),
                parameters: ATTR.into(),
                data_url: QUOTE.into(),
                train_url: ATTR.into(),
                log_url: SCRIPT.into(),
            },
            engines: vec![Choice {
                value: ATTR.into(),
                label: SCRIPT.into(),
            }],
            specs: vec![Choice {
                value: "1".into(),
                label: QUOTE.into(),
            }],
            max_workers: 4,
            error: Some(format!("job_name {ATTR}")),
            error_field: Some("job_name"),
            submit: "Create".into(),
        };
        let html = page.render().unwrap();
        hostile::assert_inert(&html, &[SCRIPT, ATTR, QUOTE]);
        assert!(
            !html.contains("</textarea><script"),
            "a value cannot close its textarea"
        );
    }

    #[test]
    fn prefill_round_trips_a_config() {
        let f = form(&[
            ("engine_id", "1"),
            ("spec_id", "2"),
            ("worker_server_num", "3"),
            ("app_url", "/a"),
            ("boot_file_url", "b.py"),
            ("parameter", "x=1\ny=\n"),
            ("data_url", "/d"),
            ("train_url", "/t"),
            ("log_url", "/l"),
        ]);
        let config = JobConfig::from_json(&f.config_json().unwrap()).unwrap();
        let back = JobForm::from_config(&config);
        assert_eq!(
            back,
            JobForm {
                job_name: String::new(),
                ..f.clone()
            }
        );
        let body = back.version_body(7).unwrap();
        let req = CreateVersionRequest::from_json(&body).unwrap();
        assert_eq!((req.pre_version_id, req.config), (7, config));
    }
}
