//! `POST /trainyard/v1/{project_id}/job-history`: NDJSON history import, all or nothing
//! (`import.md`).

use crate::error::{HttpError, HttpResult};
use crate::extract::Path;
use crate::extract::{Body, project};
use crate::openapi::{ApiErrors, TAG_TRAINYARD};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use std::collections::HashMap;
use trainyard_api::error::{ApiError, ErrorCode};
use trainyard_api::history::{HistoryRecord, ImportResponse, MAX_RECORDS};
use trainyard_store::StoreError;

/// Parses an NDJSON body into records; errors name the 1-based line and the field.
pub fn parse_ndjson(body: &[u8]) -> Result<Vec<HistoryRecord>, ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ApiError::invalid(format!("line {line}: the body must be UTF-8 NDJSON"))
    })?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Err(ApiError::invalid(
            "the body holds no record (one JSON object per line)",
        ));
    }
    let mut records = Vec::with_capacity(text.len() / 200 + 1);
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        if n > MAX_RECORDS {
            duplicates(&records)?;
            return Err(ApiError::invalid(format!(
                "an import holds at most {MAX_RECORDS} records (line {n})"
            )));
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        match HistoryRecord::from_line(line) {
            Ok(rec) => records.push(rec),
            Err(e) => {
                // a repeated name on an earlier line is reported first, as it comes first
                duplicates(&records)?;
                return Err(ApiError::new(e.code, format!("line {n}: {}", e.message)));
            }
        }
    }
    duplicates(&records)?;
    Ok(records)
}

/// The first record whose (workspace, job name) repeats an earlier record's: 400
/// `DuplicateJobName` naming both lines. One hash set of borrowed names (no copy per record).
fn duplicates(records: &[HistoryRecord]) -> Result<(), ApiError> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::with_capacity(records.len());
    for (i, rec) in records.iter().enumerate() {
        let key = (rec.workspace_id.as_str(), rec.job_name.as_str());
        if let Some(first) = seen.insert(key, i + 1) {
            return Err(ApiError::new(
                ErrorCode::DuplicateJobName,
                format!(
                    "line {}: job_name {:?} repeats line {first} of this import",
                    i + 1,
                    rec.job_name.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// Imports the records; job ids follow line order.
#[utoipa::path(post, path = "/trainyard/v1/{project_id}/job-history", tag = TAG_TRAINYARD,
    params(("project_id" = String, Path, description = "project id (1-64 letters, digits, `-`)")),
    request_body(content = String, content_type = "application/x-ndjson",
        description = "one history record per line (docs/import.md): job_name, status, create_time required; at most 100,000 lines and 64 MiB"),
    responses((status = 200, description = "imported, all or nothing; ids in line order", body = ImportResponse), ApiErrors))]
pub async fn import_history(
    State(s): State<AppState>,
    Path(p): Path<String>,
    Body(body): Body,
) -> HttpResult<Json<ImportResponse>> {
    let project = project(&p)?.as_str().to_owned();
    // parsing up to 64 MiB is CPU work: keep it off the async workers
    let parsing = std::time::Instant::now();
    let records = tokio::task::spawn_blocking(move || parse_ndjson(&body)).await??;
    let parse_ms = parsing.elapsed().as_millis() as u64;
    let max_jobs = s.config.max_jobs;
    let rows = s
        .write(move |st| {
            let committing = std::time::Instant::now();
            let imported = st
                .import(&project, &records, max_jobs)
                .map_err(|e| match e {
                    StoreError::DuplicateName {
                        name,
                        line: Some(i),
                    } => HttpError(ApiError::new(
                        ErrorCode::DuplicateJobName,
                        format!(
                            "line {}: job_name {name:?} is already used by a job in this workspace",
                            i + 1
                        ),
                    )),
                    StoreError::QuotaExceeded { max_jobs } => HttpError(ApiError::new(
                        ErrorCode::JobQuotaExceeded,
                        format!(
                            "the import would exceed the project's job quota (max_jobs {max_jobs})"
                        ),
                    )),
                    other => other.into(),
                })?;
            tracing::info!(
                records = imported.count,
                parse_ms,
                commit_ms = committing.elapsed().as_millis() as u64,
                "history committed"
            );
            Ok(imported)
        })
        .await?;
    metrics::counter!(crate::metrics::IMPORT_RECORDS).increment(rows.count);
    Ok(Json(ImportResponse {
        is_success: true,
        imported: rows.count,
        first_job_id: rows.first_job_id,
        last_job_id: rows.last_job_id,
    }))
}
