//! History import records (`import.md`).

use crate::error::ApiError;
use crate::jobs::type_name;
use crate::params::{JobName, WorkspaceId, check_desc};
use crate::status::JobStatus;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Most records per import request.
pub const MAX_RECORDS: usize = 100_000;
/// Largest import body, bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A validated history record: an ordinary job with one finished version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRecord {
    /// Job name (NFC).
    pub job_name: JobName,
    /// Description, 0–256 characters.
    pub job_desc: String,
    /// Workspace (default `"0"`).
    pub workspace_id: WorkspaceId,
    /// A terminal status.
    pub status: JobStatus,
    /// Epoch ms, ≥ 0.
    pub create_time: i64,
    /// Epoch ms, ≥ `create_time`.
    pub start_time: Option<i64>,
    /// Epoch ms, ≥ `start_time` (and ≥ `create_time`).
    pub end_time: Option<i64>,
    /// Engine family (default 0).
    pub engine_type: i64,
    /// Workers (default 1).
    pub worker_server_num: i64,
}

impl HistoryRecord {
    /// `end_time - start_time`, or 0 when either is absent.
    pub fn duration(&self) -> i64 {
        match (self.start_time, self.end_time) {
            (Some(s), Some(e)) => e - s,
            _ => 0,
        }
    }

    /// Parses one NDJSON line. Errors name the field (the caller adds the line number).
    pub fn from_json(obj: &Map<String, Value>) -> Result<HistoryRecord, ApiError> {
        check(&JsonFields(obj))
    }

    /// Parses one NDJSON line (without its newline): the same result, record or error, as
    /// parsing it as a JSON object and calling [`HistoryRecord::from_json`], but without
    /// building a `serde_json::Value` when every field has its expected JSON type (the common
    /// case: about 3x faster on the benchmark's records). Errors: not a JSON object, or as
    /// `from_json`.
    pub fn from_line(line: &str) -> Result<HistoryRecord, ApiError> {
        // a JSON array would deserialize into the struct by position: objects only
        if line.trim_start().starts_with('{')
            && let Ok(raw) = serde_json::from_str::<RawRecord<'_>>(line)
        {
            return check(&raw);
        }
        // a type error, a duplicate key, or not JSON: the general path names the problem
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => HistoryRecord::from_json(&m),
            _ => Err(ApiError::invalid("not a JSON object (record)")),
        }
    }
}

/// A record's fields as typed by JSON, before the checks of [`HistoryRecord`]. Deserializing
/// it fails on any field of another JSON type (or a repeated key), and the caller then takes
/// the general path of [`HistoryRecord::from_json`], so this path never decides an error.
#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow, default)]
    job_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    job_desc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    workspace_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<RawStatus<'a>>,
    #[serde(default)]
    create_time: Option<i64>,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    #[serde(default)]
    engine_type: Option<i64>,
    #[serde(default)]
    worker_server_num: Option<i64>,
}

/// `status` as sent: a code or a name.
enum RawStatus<'a> {
    Code(i64),
    Name(std::borrow::Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawStatus<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = RawStatus<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawStatus::Code(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(RawStatus::Code)
                    .map_err(|_| E::custom("out of range"))
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(RawStatus::Name(v.into()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawStatus::Name(v.to_owned().into()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A record's fields as typed values; each read may fail with the field's type error.
trait Fields {
    fn string(&self, field: &str) -> Result<Option<&str>, ApiError>;
    fn status(&self) -> Result<Option<RawStatus<'_>>, ApiError>;
    fn int(&self, field: &str) -> Result<Option<i64>, ApiError>;
}

/// The fields of a parsed JSON object (type errors name the field and the type found).
struct JsonFields<'a>(&'a Map<String, Value>);

impl Fields for JsonFields<'_> {
    fn string(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ApiError::invalid(format!(
                "{field} must be a string, got {}",
                type_name(other)
            ))),
        }
    }
    fn status(&self) -> Result<Option<RawStatus<'_>>, ApiError> {
        match self.0.get("status") {
            Some(Value::String(name)) => Ok(Some(RawStatus::Name(name.as_str().into()))),
            _ => Ok(self.int("status")?.map(RawStatus::Code)),
        }
    }
    fn int(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
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
}

/// Typed by deserialization already: no read fails.
impl Fields for RawRecord<'_> {
    fn string(&self, field: &str) -> Result<Option<&str>, ApiError> {
        Ok(match field {
            "job_name" => self.job_name.as_deref(),
            "job_desc" => self.job_desc.as_deref(),
            _ => self.workspace_id.as_deref(),
        })
    }
    fn status(&self) -> Result<Option<RawStatus<'_>>, ApiError> {
        Ok(match &self.status {
            Some(RawStatus::Code(c)) => Some(RawStatus::Code(*c)),
            Some(RawStatus::Name(n)) => Some(RawStatus::Name(n.as_ref().into())),
            None => None,
        })
    }
    fn int(&self, field: &str) -> Result<Option<i64>, ApiError> {
        Ok(match field {
            "create_time" => self.create_time,
            "start_time" => self.start_time,
            "end_time" => self.end_time,
            "engine_type" => self.engine_type,
            _ => self.worker_server_num,
        })
    }
}

/// The checks of `import.md`, field after field (each field read, with its type error, just
/// before its checks).
fn check(f: &impl Fields) -> Result<HistoryRecord, ApiError> {
    {
        let int = |field: &str| f.int(field);
        let job_name = JobName::parse(
            f.string("job_name")?
                .ok_or_else(|| ApiError::invalid("job_name is required"))?,
        )?;
        let job_desc = match f.string("job_desc")? {
            Some(d) => check_desc("job_desc", d)?,
            None => String::new(),
        };
        let workspace_id = match f.string("workspace_id")? {
            Some(w) => WorkspaceId::parse(w)?,
            None => WorkspaceId::default(),
        };
        // a code (10) or a name (`COMPLETED`, `JOBSTAT_COMPLETED`, any case) [trainyard]
        let status = match f.status()? {
            Some(RawStatus::Name(name)) => JobStatus::parse_loose(&name)
                .filter(|s| s.is_terminal())
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "status must be a terminal status code or name (COMPLETED, FAILED, KILLED, ...), got {:?}",
                        name.chars().take(40).collect::<String>()
                    ))
                })?,
            Some(RawStatus::Code(code)) => JobStatus::from_code(code)
                .filter(|s| s.is_terminal())
                .ok_or_else(|| {
                    ApiError::invalid(format!("status must be a terminal status code, got {code}"))
                })?,
            None => return Err(ApiError::invalid("status is required")),
        };
        let create_time =
            int("create_time")?.ok_or_else(|| ApiError::invalid("create_time is required"))?;
        if create_time < 0 {
            return Err(ApiError::invalid(format!(
                "create_time must be >= 0, got {create_time}"
            )));
        }
        let start_time = int("start_time")?;
        if let Some(s) = start_time
            && s < create_time
        {
            return Err(ApiError::invalid(format!(
                "start_time must be >= create_time, got {s}"
            )));
        }
        let end_time = int("end_time")?;
        if let Some(e) = end_time {
            if e < create_time {
                return Err(ApiError::invalid(format!(
                    "end_time must be >= create_time, got {e}"
                )));
            }
            if let Some(s) = start_time
                && e < s
            {
                return Err(ApiError::invalid(format!(
                    "end_time must be >= start_time, got {e}"
                )));
            }
        }
        let engine_type = int("engine_type")?.unwrap_or(0);
        if !(0..=1_000_000).contains(&engine_type) {
            return Err(ApiError::invalid(format!(
                "engine_type must be 0-1000000, got {engine_type}"
            )));
        }
        let worker_server_num = int("worker_server_num")?.unwrap_or(1);
        if !(1..=1_000_000).contains(&worker_server_num) {
            return Err(ApiError::invalid(format!(
                "worker_server_num must be 1-1000000, got {worker_server_num}"
            )));
        }
        Ok(HistoryRecord {
            job_name,
            job_desc,
            workspace_id,
            status,
            create_time,
            start_time,
            end_time,
            engine_type,
            worker_server_num,
        })
    }
}

/// Response of `POST /trainyard/v1/{project_id}/job-history`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportResponse {
    /// Always `true`.
    pub is_success: bool,
    /// Records imported.
    pub imported: u64,
    /// Id of the first line's job.
    pub first_job_id: i64,
    /// Id of the last line's job.
    pub last_job_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(status: Value) -> Result<HistoryRecord, ApiError> {
        let v = serde_json::json!({"job_name": "a", "create_time": 1, "status": status});
        HistoryRecord::from_json(v.as_object().unwrap())
    }

    #[test]
    fn status_by_code_or_name() {
        for (given, want) in [
            (Value::from(10), JobStatus::Completed),
            (Value::from("COMPLETED"), JobStatus::Completed),
            (Value::from("jobstat_failed"), JobStatus::Failed),
            (Value::from("Killed"), JobStatus::Killed),
        ] {
            assert_eq!(rec(given.clone()).unwrap().status, want, "{given}");
        }
        // not terminal, unknown, wrong type: 400 naming the field
        for bad in [
            Value::from("RUNNING"),
            Value::from("DONE"),
            Value::from(8),
            Value::from(true),
        ] {
            let e = rec(bad.clone()).unwrap_err();
            assert!(
                e.message.starts_with("status must be"),
                "{bad}: {}",
                e.message
            );
        }
    }

    /// The typed fast path decides exactly what the general path decides: the same record or
    /// the same error message, for lines of every shape (expected values: `from_json` on the
    /// parsed object, the reference behaviour).
    #[test]
    fn from_line_agrees_with_from_json() {
        let lines = [
            r#"{"job_name":"a","status":10,"create_time":1}"#,
            r#"{"job_name":"a\u00e9b","job_desc":"d\n","workspace_id":"w1","status":"failed","create_time":5,"start_time":6,"end_time":9,"engine_type":3,"worker_server_num":2,"extra":[1,{"x":2}]}"#,
            r#"{"job_name":"A\u0308rger","status":"JOBSTAT_KILLED","create_time":0}"#,
            r#"{"job_name":"a","status":10,"create_time":1,"create_time":2}"#,
            r#"{"job_name":"a","status":10,"create_time":1.0}"#,
            r#"{"job_name":"a","status":10,"create_time":18446744073709551615}"#,
            r#"{"job_name":"a","status":10.5,"create_time":1}"#,
            r#"{"job_name":"a","status":true,"create_time":1}"#,
            r#"{"job_name":"a","status":null,"create_time":1}"#,
            r#"{"job_name":"a","status":"RUNNING","create_time":1}"#,
            r#"{"job_name":"a","status":8,"create_time":1}"#,
            r#"{"job_name":7,"status":10,"create_time":1}"#,
            r#"{"job_name":"bad name!","job_desc":5,"status":10,"create_time":1}"#,
            r#"{"job_name":"a","job_desc":5,"status":"nope","create_time":1}"#,
            r#"{"job_name":null,"status":10,"create_time":1}"#,
            r#"{"job_name":"a","status":10,"create_time":5,"start_time":4}"#,
            r#"{"job_name":"a","status":10,"create_time":5,"start_time":7,"end_time":6}"#,
            r#"{"job_name":"a","status":10,"create_time":-1}"#,
            r#"{"job_name":"a","status":10,"create_time":1,"worker_server_num":0}"#,
            r#"{"job_name":"a","status":10,"create_time":1,"engine_type":"x"}"#,
            r#"{"job_name":"a","status":10}"#,
            r#"["a",10,1]"#,
            r#"{"job_name":"a","status":10,"create_time":1} x"#,
            r#"{"job_name":"a","#,
            "",
            "  ",
            "null",
        ];
        for line in lines {
            let reference = match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(m)) => HistoryRecord::from_json(&m),
                _ => Err(ApiError::invalid("not a JSON object (record)")),
            };
            let got = HistoryRecord::from_line(line);
            match (&got, &reference) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{line}"),
                (Err(a), Err(b)) => assert_eq!(a.message, b.message, "{line}"),
                _ => panic!("{line}: fast {got:?}, general {reference:?}"),
            }
        }
        // and the accepted ones are what the spec says
        let r = HistoryRecord::from_line(lines[2]).unwrap();
        assert_eq!(r.job_name.as_str(), "\u{c4}rger");
        assert_eq!(r.status, JobStatus::Killed);
        let e = HistoryRecord::from_line(lines[21]).unwrap_err();
        assert_eq!(e.message, "not a JSON object (record)");
    }
}
