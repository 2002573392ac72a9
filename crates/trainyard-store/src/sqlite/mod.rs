//! The SQLite engine: one file, the default for one machine.
//!
//! - WAL journal with `synchronous = FULL`: a success answer means the transaction is in the
//!   WAL on disk, so it survives a process kill (SIGKILL) and a power loss.
//! - One writer connection (behind a mutex: SQLite has one writer anyway) and one reader
//!   connection (WAL lets it read while the writer writes). Every write transaction is
//!   `BEGIN IMMEDIATE`, so the `max_jobs` check and the insert of a create or an import are
//!   atomic: no other writer (of this process, or of another process on the same file) runs
//!   in between.
//! - IDs come from `AUTOINCREMENT` sequences: strictly increasing and never reused; an import
//!   takes a block of consecutive ids from the same sequence (`first_free_id`).
//! - Commit numbers for the index are issued while the writer mutex is held (commit order).

mod auth;
mod configs;
mod schema;

use crate::committed::{Committed, Feed};
use crate::{
    DeletedJob, DeletedVersion, Engine, Imported, JobRecord, NewJob, NewVersion, Result,
    RunningVersion, StatusUpdate, StoreError, VersionRecord,
};
use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use trainyard_api::history::HistoryRecord;
use trainyard_api::jobs::{Engine as EngineInfo, Spec};
use trainyard_api::list::{JobListQuery, JobRow, Order, SortKey};
use trainyard_api::status::JobStatus;
use trainyard_api::text::search_fold;
use trainyard_index::{IndexOp, ListIndex, Row};

#[doc(hidden)]
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Backend(Box::new(e)),
        }
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// The SQLite engine (see module docs).
pub(crate) struct SqliteStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    feed: Arc<Feed>,
}

fn open_conn(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // only takes effect when the file is created: 16 KiB pages keep the name index shallow
    conn.pragma_update(None, "page_size", 16384)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -65536)?; // 64 MiB
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub(crate) fn open(path: &Path, feed: Arc<Feed>) -> Result<SqliteStore> {
        let mut writer = open_conn(path)?;
        migrate(&mut writer)?;
        let reader = open_conn(path)?;
        Ok(SqliteStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            feed,
        })
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock()
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer; on success commits, numbers
    /// the commit while the writer is still held, and returns the value with its index change.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<(T, IndexOp)>,
    ) -> Result<Committed<T>> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let (value, op) = f(&tx)?;
        tx.commit()?;
        let number = self.feed.issue();
        drop(conn);
        Ok(Committed::new(value, op, number, &self.feed))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction on the writer (writes the index does not
    /// hold: accounts, configs).
    fn write_plain<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl Engine for SqliteStore {
    fn get_job(&self, project: &str, job_id: i64) -> Result<JobRecord> {
        get_job(&self.read(), project, job_id)
    }

    fn get_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<(JobRecord, VersionRecord)> {
        let conn = self.read();
        let job = get_job(&conn, project, job_id)?;
        let v = get_version(&conn, version_id)?
            .filter(|v| v.job_id == job_id)
            .ok_or(StoreError::NotFound)?;
        Ok((job, v))
    }

    fn version_by_id(&self, version_id: i64) -> Result<(JobRecord, VersionRecord)> {
        let conn = self.read();
        let v = get_version(&conn, version_id)?.ok_or(StoreError::NotFound)?;
        let job = get_job_any(&conn, v.job_id)?;
        Ok((job, v))
    }

    fn list_versions(&self, project: &str, job_id: i64) -> Result<(JobRecord, Vec<VersionRecord>)> {
        let conn = self.read();
        let job = get_job(&conn, project, job_id)?;
        let rows = job_versions(&conn, job_id)?;
        Ok((job, rows))
    }

    fn project_job_count(&self, project: &str) -> Result<u64> {
        project_jobs(&self.read(), project)
    }

    fn version_status_counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        let conn = self.read();
        let mut stmt =
            conn.prepare("SELECT status, COUNT(*) FROM versions GROUP BY status ORDER BY status")?;
        let rows = stmt
            .query_map([], |r| Ok((status_col(r, 0)?, r.get::<_, i64>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .map(|(st, n)| (st, n.max(0) as u64))
            .collect())
    }

    fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<RunningVersion>> {
        let conn = self.read();
        let codes: Vec<String> = statuses.iter().map(|s| s.code().to_string()).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT v.version_id, v.job_id, j.project_id, v.status, v.create_time, v.run_handle
             FROM versions v JOIN jobs j ON j.job_id = v.job_id
             WHERE v.status IN ({}) ORDER BY v.version_id",
            codes.join(",")
        ))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunningVersion {
                    version_id: r.get(0)?,
                    job_id: r.get(1)?,
                    project_id: r.get(2)?,
                    status: status_col(r, 3)?,
                    create_time: r.get(4)?,
                    run_handle: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn load_index(&self) -> Result<()> {
        // the writer is held throughout: no commit happens between the read and the install
        let _writer = self.writer.lock();
        let conn = self.read();
        let mut scopes: HashMap<(String, String), Vec<Row>> = HashMap::new();
        let mut stmt = conn.prepare(&format!(
            "SELECT j.project_id, j.workspace_id, {ROW_COLUMNS} {ROW_FROM} ORDER BY j.job_id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let project: String = r.get(0)?;
            let workspace: String = r.get(1)?;
            scopes
                .entry((project, workspace))
                .or_default()
                .push(row_from(r, 2)?);
        }
        let mut ix = ListIndex::new();
        for ((p, w), rows) in scopes {
            ix.bulk_insert(&p, &w, rows);
        }
        self.feed.replace(ix);
        Ok(())
    }

    fn list_jobs_sql(
        &self,
        project: &str,
        q: &JobListQuery,
        now_ms: i64,
    ) -> Result<(u64, Vec<JobRow>)> {
        let conn = self.read();
        let codes: Vec<String> = q.status.iter().map(|s| s.code().to_string()).collect();
        let live = "CASE WHEN v.status IN (8, 9) AND v.start_time IS NOT NULL THEN MAX(0, ?3 - v.start_time) ELSE MAX(0, v.duration) END";
        let filter = format!(
            "FROM jobs j JOIN versions v ON v.version_id = j.latest_version_id
             WHERE j.project_id = ?1 AND j.workspace_id = ?2 AND v.status IN ({})
               AND (?4 = '' OR instr(j.job_name_folded, ?4) > 0)",
            if codes.is_empty() {
                "-1".to_owned()
            } else {
                codes.join(",")
            }
        );
        let folded = search_fold(&q.search_content);
        // ?3 (now) is only used by the `duration` key; reference it in the count too so the
        // parameter numbering is the same.
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) {filter} AND ?3 = ?3"),
            params![project, q.workspace_id.as_str(), now_ms, folded],
            |r| r.get(0),
        )?;
        let col = match q.sort_by {
            SortKey::JobName => "j.job_name".to_owned(),
            SortKey::JobDesc => "j.job_desc".to_owned(),
            SortKey::Status => "v.status".to_owned(),
            SortKey::Duration => live.to_owned(),
            SortKey::CreateTime => "v.create_time".to_owned(),
            SortKey::VersionCount => "j.version_count".to_owned(),
            SortKey::EngineType => "v.engine_type".to_owned(),
        };
        let dir = if q.order == Order::Desc {
            "DESC"
        } else {
            "ASC"
        };
        let sql = format!(
            "SELECT j.job_id, j.job_name, v.version_id, v.status, v.create_time, {live}, j.job_desc, j.version_count, v.engine_type
             {filter} ORDER BY {col} {dir}, j.job_id {dir} LIMIT ?5 OFFSET ?6"
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(
                params![
                    project,
                    q.workspace_id.as_str(),
                    now_ms,
                    folded,
                    i64::from(q.per_page),
                    q.offset() as i64
                ],
                |r| {
                    Ok(JobRow {
                        job_id: r.get(0)?,
                        job_name: r.get(1)?,
                        version_id: r.get(2)?,
                        status: status_col(r, 3)?,
                        create_time: r.get(4)?,
                        duration: r.get(5)?,
                        job_desc: r.get(6)?,
                        version_count: r.get(7)?,
                        engine_type: r.get(8)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((total as u64, rows))
    }

    fn create_job(
        &self,
        new: &NewJob,
        version: &NewVersion,
        max_jobs: u64,
    ) -> Result<Committed<(JobRecord, VersionRecord)>> {
        self.write(|tx| {
            if project_jobs(tx, &new.project_id)? >= max_jobs {
                return Err(StoreError::QuotaExceeded { max_jobs });
            }
            if name_taken(tx, &new.project_id, &new.workspace_id, &new.job_name)? {
                return Err(StoreError::DuplicateName {
                    name: new.job_name.clone(),
                    line: None,
                });
            }
            tx.execute(
                "INSERT INTO jobs (project_id, workspace_id, job_name, job_name_folded, job_desc, version_count, latest_version_id, next_version_no, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, 0, 2, ?6)",
                params![new.project_id, new.workspace_id, new.job_name, search_fold(&new.job_name), new.job_desc, version.create_time],
            )?;
            let job_id = tx.last_insert_rowid();
            add_project_jobs(tx, &new.project_id, 1)?;
            let version_id = insert_version(tx, job_id, 1, None, version)?;
            tx.execute(
                "UPDATE jobs SET latest_version_id = ?1 WHERE job_id = ?2",
                params![version_id, job_id],
            )?;
            read_new_version(tx, job_id, version_id)
        })
    }

    fn create_version(
        &self,
        project: &str,
        job_id: i64,
        pre_version_id: i64,
        version: &NewVersion,
    ) -> Result<Committed<(JobRecord, VersionRecord)>> {
        self.write(|tx| {
            let job = get_job(tx, project, job_id)?;
            let no = job.next_version_no;
            let version_id = insert_version(tx, job_id, no, Some(pre_version_id), version)?;
            tx.execute(
                "UPDATE jobs SET latest_version_id = ?1, version_count = version_count + 1, next_version_no = ?2 WHERE job_id = ?3",
                params![version_id, no + 1, job_id],
            )?;
            read_new_version(tx, job_id, version_id)
        })
    }

    fn update_job_desc(
        &self,
        project: &str,
        job_id: i64,
        desc: &str,
    ) -> Result<Committed<JobRecord>> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE jobs SET job_desc = ?1 WHERE job_id = ?2 AND project_id = ?3",
                params![desc, job_id, project],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            let job = get_job_any(tx, job_id)?;
            let op = upsert(&job, job_row(tx, job_id)?);
            Ok((job, op))
        })
    }

    fn delete_job(&self, project: &str, job_id: i64) -> Result<Committed<DeletedJob>> {
        self.write(|tx| {
            let job = get_job(tx, project, job_id)?;
            let versions = job_versions(tx, job_id)?;
            tx.execute("DELETE FROM versions WHERE job_id = ?1", [job_id])?;
            tx.execute("DELETE FROM jobs WHERE job_id = ?1", [job_id])?;
            add_project_jobs(tx, project, -1)?;
            let op = remove(&job);
            Ok((DeletedJob { job, versions }, op))
        })
    }

    fn delete_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<Committed<DeletedVersion>> {
        self.write(|tx| {
            let job = get_job(tx, project, job_id)?;
            let version = get_version(tx, version_id)?
                .filter(|v| v.job_id == job_id)
                .ok_or(StoreError::NotFound)?;
            if job.version_count <= 1 {
                tx.execute("DELETE FROM versions WHERE job_id = ?1", [job_id])?;
                tx.execute("DELETE FROM jobs WHERE job_id = ?1", [job_id])?;
                add_project_jobs(tx, project, -1)?;
                let op = remove(&job);
                return Ok((
                    DeletedVersion::JobDeleted(DeletedJob {
                        job,
                        versions: vec![version],
                    }),
                    op,
                ));
            }
            tx.execute("DELETE FROM versions WHERE version_id = ?1", [version_id])?;
            tx.execute(
                "UPDATE jobs SET version_count = version_count - 1,
                    latest_version_id = (SELECT MAX(version_id) FROM versions WHERE job_id = ?1)
                 WHERE job_id = ?1",
                [job_id],
            )?;
            let job = get_job_any(tx, job_id)?;
            let op = upsert(&job, job_row(tx, job_id)?);
            Ok((
                DeletedVersion::Remaining {
                    job,
                    version: Box::new(version),
                },
                op,
            ))
        })
    }

    fn update_status(
        &self,
        version_id: i64,
        u: &StatusUpdate,
    ) -> Result<Committed<(JobRecord, VersionRecord)>> {
        self.write(|tx| {
            let cur = get_version(tx, version_id)?.ok_or(StoreError::NotFound)?;
            if cur.status.is_terminal() {
                return Err(StoreError::Conflict(cur.status));
            }
            if let Some(expected) = &u.expect
                && !expected.contains(&cur.status)
            {
                return Err(StoreError::Conflict(cur.status));
            }
            tx.execute(
                "UPDATE versions SET status = ?1,
                    start_time = COALESCE(?2, start_time),
                    end_time = COALESCE(?3, end_time),
                    duration = COALESCE(?4, duration),
                    exit_code = COALESCE(?5, exit_code),
                    status_reason = COALESCE(?6, status_reason),
                    run_handle = CASE WHEN ?7 THEN ?8 ELSE run_handle END
                 WHERE version_id = ?9",
                params![
                    i64::from(u.status.code()),
                    u.start_time,
                    u.end_time,
                    u.duration,
                    u.exit_code,
                    u.status_reason,
                    u.run_handle.is_some(),
                    u.run_handle.clone().flatten(),
                    version_id
                ],
            )?;
            let job = get_job_any(tx, cur.job_id)?;
            let v = get_version(tx, version_id)?.ok_or(StoreError::NotFound)?;
            let op = if job.latest_version_id == version_id {
                upsert(&job, job_row(tx, cur.job_id)?)
            } else {
                IndexOp::None
            };
            Ok(((job, v), op))
        })
    }

    fn import(
        &self,
        project: &str,
        records: &[HistoryRecord],
        max_jobs: u64,
    ) -> Result<Committed<Imported>> {
        // the work that needs no database is done before taking the writer, so it overlaps
        // another import's write
        let prepared = PreparedImport::new(records);
        self.write(|tx| {
            if project_jobs(tx, project)? + records.len() as u64 > max_jobs {
                // a duplicate name is reported before the quota: look for one first
                let mut exists = tx.prepare_cached(
                    "SELECT 1 FROM jobs WHERE project_id = ?1 AND workspace_id = ?2 AND job_name = ?3",
                )?;
                for (i, r) in records.iter().enumerate() {
                    if exists.exists(params![
                        project,
                        r.workspace_id.as_str(),
                        r.job_name.as_str()
                    ])? {
                        return Err(StoreError::DuplicateName {
                            name: r.job_name.as_str().to_owned(),
                            line: Some(i),
                        });
                    }
                }
                return Err(StoreError::QuotaExceeded { max_jobs });
            }
            let n = records.len() as i64;
            let first_job = first_free_id(tx, "jobs")?;
            let first_version = first_free_id(tx, "versions")?;
            // jobs in the unique index's order (project, workspace, name: SQLite's BINARY
            // collation compares UTF-8 bytes), so the index is filled page by page instead of
            // at random places (its maintenance was most of an import's time at 1M jobs); ids
            // stay those of the records' order. The unique index finds names already used: no
            // separate look-up per record (the caller has checked duplicates within the
            // batch); the rollback undoes the records inserted before.
            let inserted = insert_rows(
                tx,
                IMPORT_JOB_SQL,
                IMPORT_JOB_COLUMNS,
                &prepared.order,
                |stmt, at, k, &i| {
                    let r = &records[i];
                    stmt.raw_bind_parameter(at, first_job + i as i64)?;
                    stmt.raw_bind_parameter(at + 1, project)?;
                    stmt.raw_bind_parameter(at + 2, r.workspace_id.as_str())?;
                    stmt.raw_bind_parameter(at + 3, r.job_name.as_str())?;
                    stmt.raw_bind_parameter(at + 4, prepared.folded[k].as_str())?;
                    stmt.raw_bind_parameter(at + 5, r.job_desc.as_str())?;
                    stmt.raw_bind_parameter(at + 6, first_version + i as i64)?;
                    stmt.raw_bind_parameter(at + 7, r.create_time)
                },
            );
            match inserted {
                Err(e) if is_unique_violation(&e) => {
                    return Err(first_used_name(tx, project, records, first_job)?);
                }
                other => other?,
            }
            // versions in id order (appended to the table and to versions_job)
            insert_rows(
                tx,
                IMPORT_VERSION_SQL,
                IMPORT_VERSION_COLUMNS,
                records,
                |stmt, at, i, r| {
                    stmt.raw_bind_parameter(at, first_version + i as i64)?;
                    stmt.raw_bind_parameter(at + 1, first_job + i as i64)?;
                    stmt.raw_bind_parameter(at + 2, i64::from(r.status.code()))?;
                    stmt.raw_bind_parameter(at + 3, r.create_time)?;
                    stmt.raw_bind_parameter(at + 4, r.start_time)?;
                    stmt.raw_bind_parameter(at + 5, r.end_time)?;
                    stmt.raw_bind_parameter(at + 6, r.duration())?;
                    stmt.raw_bind_parameter(at + 7, r.engine_type)?;
                    stmt.raw_bind_parameter(at + 8, r.worker_server_num)
                },
            )?;
            let mut rows = prepared.rows;
            for (i, (_, row)) in rows.iter_mut().enumerate() {
                row.job_id = first_job + i as i64;
                row.version_id = first_version + i as i64;
            }
            add_project_jobs(tx, project, n)?;
            let imported = Imported {
                count: records.len() as u64,
                first_job_id: if n > 0 { first_job } else { 0 },
                last_job_id: if n > 0 { first_job + n - 1 } else { 0 },
            };
            let op = IndexOp::Bulk {
                project: project.to_owned(),
                rows,
            };
            Ok((imported, op))
        })
    }

    fn auth(&self) -> &dyn crate::auth::AuthEngine {
        self
    }

    fn configs(&self) -> &dyn crate::configs::ConfigEngine {
        self
    }

    fn copy(&self) -> &dyn crate::copy::CopyEngine {
        self
    }
}

/// The records' indices in the order of the unique name index (workspace, then name, as UTF-8
/// bytes: SQLite's BINARY collation and PostgreSQL's `COLLATE "C"`): an import inserts jobs in
/// this order, so the index is filled page by page instead of at random places.
pub(crate) fn name_order(records: &[HistoryRecord]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..records.len()).collect();
    fn key(r: &HistoryRecord) -> (&str, &str) {
        (r.workspace_id.as_str(), r.job_name.as_str())
    }
    // str's Ord is the byte order
    order.sort_unstable_by(|&a, &b| key(&records[a]).cmp(&key(&records[b])));
    order
}

/// What an import computes before it takes the writer: the name order, the folded names (in
/// that order) and the list rows (in record order; ids are set once the block is taken).
struct PreparedImport {
    order: Vec<usize>,
    folded: Vec<String>,
    rows: Vec<(String, Row)>,
}

impl PreparedImport {
    fn new(records: &[HistoryRecord]) -> PreparedImport {
        let order = name_order(records);
        let folded = order
            .iter()
            .map(|&i| search_fold(records[i].job_name.as_str()))
            .collect();
        let rows = records
            .iter()
            .map(|r| (r.workspace_id.as_str().to_owned(), imported_row(r, 0, 0)))
            .collect();
        PreparedImport {
            order,
            folded,
            rows,
        }
    }
}

/// Rows per multi-row `INSERT` of an import: one statement per 64 rows instead of one per row
/// (each execution of an insert into an `AUTOINCREMENT` table also reads and writes
/// `sqlite_sequence`). 64 rows of at most 9 parameters stay under SQLite's oldest limit of
/// 999 parameters per statement.
const IMPORT_CHUNK: usize = 64;

const IMPORT_JOB_SQL: &str = "INSERT INTO jobs (job_id, project_id, workspace_id, job_name, job_name_folded, job_desc, latest_version_id, created_at, version_count, next_version_no) VALUES ";
/// One job row's placeholders (8 parameters; version_count 1, next_version_no 2).
const IMPORT_JOB_COLUMNS: &str = "(?, ?, ?, ?, ?, ?, ?, ?, 1, 2)";
const IMPORT_VERSION_SQL: &str = "INSERT INTO versions (version_id, job_id, status, create_time, start_time, end_time, duration, engine_type, worker_server_num, version_no, imported) VALUES ";
/// One version row's placeholders (9 parameters; version_no 1, imported).
const IMPORT_VERSION_COLUMNS: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)";

/// Inserts one row per item with multi-row `INSERT`s of [`IMPORT_CHUNK`] rows (the last one
/// shorter); `bind(stmt, first parameter index, item position, item)` binds one row's
/// parameters. Cached statements: at most two texts per table and import.
fn insert_rows<T>(
    tx: &Transaction<'_>,
    head: &str,
    columns: &str,
    items: &[T],
    mut bind: impl FnMut(&mut rusqlite::Statement<'_>, usize, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let per_row = columns.matches('?').count();
    let sql = |rows: usize| {
        let mut sql = String::with_capacity(head.len() + rows * (columns.len() + 2));
        sql.push_str(head);
        for k in 0..rows {
            if k > 0 {
                sql.push_str(", ");
            }
            sql.push_str(columns);
        }
        sql
    };
    let mut k = 0;
    for chunk in items.chunks(IMPORT_CHUNK) {
        let mut stmt = tx.prepare_cached(&sql(chunk.len()))?;
        for (j, item) in chunk.iter().enumerate() {
            bind(&mut stmt, 1 + j * per_row, k, item)?;
            k += 1;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// The first record (in the import's order) whose name a job that existed before the import
/// (`job_id < first_job`) already uses: [`StoreError::DuplicateName`] with its line index.
fn first_used_name(
    tx: &Transaction<'_>,
    project: &str,
    records: &[HistoryRecord],
    first_job: i64,
) -> Result<StoreError> {
    let mut exists = tx.prepare_cached(
        "SELECT 1 FROM jobs WHERE project_id = ?1 AND workspace_id = ?2 AND job_name = ?3 AND job_id < ?4",
    )?;
    for (i, r) in records.iter().enumerate() {
        if exists.exists(params![
            project,
            r.workspace_id.as_str(),
            r.job_name.as_str(),
            first_job
        ])? {
            return Ok(StoreError::DuplicateName {
                name: r.job_name.as_str().to_owned(),
                line: Some(i),
            });
        }
    }
    // not reached: the insert failed on a name used before the import
    Err(StoreError::Backend(
        "an imported name collided, but no earlier job uses it".into(),
    ))
}

/// The list row of an imported record.
pub(crate) fn imported_row(r: &HistoryRecord, job_id: i64, version_id: i64) -> Row {
    Row {
        job_id,
        job_name: r.job_name.as_str().to_owned(),
        job_desc: r.job_desc.clone(),
        version_id,
        status: r.status,
        create_time: r.create_time,
        start_time: r.start_time,
        duration: r.duration(),
        version_count: 1,
        engine_type: r.engine_type,
    }
}

fn upsert(job: &JobRecord, row: Row) -> IndexOp {
    IndexOp::Upsert {
        project: job.project_id.clone(),
        workspace: job.workspace_id.clone(),
        row,
    }
}

fn remove(job: &JobRecord) -> IndexOp {
    IndexOp::Remove {
        project: job.project_id.clone(),
        workspace: job.workspace_id.clone(),
        job_id: job.job_id,
    }
}

/// The first of a block of consecutive ids of `table`'s `AUTOINCREMENT` sequence, for the
/// caller's (immediate, so exclusive) transaction: above every id the table ever had, so never
/// reused. Inserting rows with explicit ids advances the sequence past them (SQLite keeps
/// `sqlite_sequence` at the largest id inserted), so later inserts continue after the block.
fn first_free_id(tx: &Transaction<'_>, table: &str) -> Result<i64> {
    let seq: Option<i64> = tx
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .optional()?;
    let max: Option<i64> =
        tx.query_row(&format!("SELECT MAX(rowid) FROM {table}"), [], |r| r.get(0))?;
    Ok(seq.unwrap_or(0).max(max.unwrap_or(0)) + 1)
}

const ROW_COLUMNS: &str = "j.job_id, j.job_name, j.job_desc, v.version_id, v.status, v.create_time, v.start_time, v.duration, j.version_count, v.engine_type";
const ROW_FROM: &str = "FROM jobs j JOIN versions v ON v.version_id = j.latest_version_id";

fn row_from(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Row> {
    Ok(Row {
        job_id: r.get(at)?,
        job_name: r.get(at + 1)?,
        job_desc: r.get(at + 2)?,
        version_id: r.get(at + 3)?,
        status: status_col(r, at + 4)?,
        create_time: r.get(at + 5)?,
        start_time: r.get(at + 6)?,
        duration: r.get(at + 7)?,
        version_count: r.get(at + 8)?,
        engine_type: r.get(at + 9)?,
    })
}

fn status_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<JobStatus> {
    let code: i64 = r.get(i)?;
    JobStatus::from_code(code).ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(i, code))
}

fn get_job(conn: &Connection, project: &str, job_id: i64) -> Result<JobRecord> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1 AND project_id = ?2"
    ))?;
    stmt.query_row(params![job_id, project], job_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn get_job_any(conn: &Connection, job_id: i64) -> Result<JobRecord> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = ?1"))?;
    stmt.query_row(params![job_id], job_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn get_version(conn: &Connection, version_id: i64) -> Result<Option<VersionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE version_id = ?1"
    ))?;
    Ok(stmt.query_row([version_id], version_from_row).optional()?)
}

fn job_versions(conn: &Connection, job_id: i64) -> Result<Vec<VersionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {VERSION_COLUMNS} FROM versions WHERE job_id = ?1 ORDER BY version_id DESC"
    ))?;
    let rows = stmt
        .query_map([job_id], version_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn job_row(conn: &Connection, job_id: i64) -> Result<Row> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} {ROW_FROM} WHERE j.job_id = ?1"
    ))?;
    Ok(stmt.query_row([job_id], |r| row_from(r, 0))?)
}

/// Jobs of a project, all workspaces: one row of `project_job_counts` (O(1), where a
/// `COUNT(*)` scans every job of the project: 30 ms at a million, on every create).
fn project_jobs(conn: &Connection, project: &str) -> Result<u64> {
    let mut stmt =
        conn.prepare_cached("SELECT jobs FROM project_job_counts WHERE project_id = ?1")?;
    let n: Option<i64> = stmt.query_row([project], |r| r.get(0)).optional()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// Adds `delta` to the project's job count, in the caller's transaction.
fn add_project_jobs(tx: &Transaction<'_>, project: &str, delta: i64) -> Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO project_job_counts (project_id, jobs) VALUES (?1, ?2)
         ON CONFLICT(project_id) DO UPDATE SET jobs = jobs + ?2",
    )?;
    stmt.execute(params![project, delta])?;
    Ok(())
}

/// Reads back the job and the new version; the change is the job's new list row.
fn read_new_version(
    tx: &Transaction<'_>,
    job_id: i64,
    version_id: i64,
) -> Result<((JobRecord, VersionRecord), IndexOp)> {
    let job = get_job_any(tx, job_id)?;
    let v = get_version(tx, version_id)?.ok_or(StoreError::NotFound)?;
    let op = upsert(&job, job_row(tx, job_id)?);
    Ok(((job, v), op))
}

fn name_taken(tx: &Transaction<'_>, project: &str, workspace: &str, name: &str) -> Result<bool> {
    let mut stmt = tx.prepare_cached(
        "SELECT 1 FROM jobs WHERE project_id = ?1 AND workspace_id = ?2 AND job_name = ?3",
    )?;
    Ok(stmt.exists(params![project, workspace, name])?)
}

fn insert_version(
    tx: &Transaction<'_>,
    job_id: i64,
    no: i64,
    pre: Option<i64>,
    v: &NewVersion,
) -> Result<i64> {
    let config = serde_json::to_string(&v.config)?;
    tx.execute(
        "INSERT INTO versions (job_id, version_no, pre_version_id, version_desc, status, create_time,
            engine_id, engine_type, engine_name, engine_version, spec_id, spec_code, core, cpu, gpu_num, gpu_type,
            worker_server_num, config)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        params![
            job_id,
            no,
            pre,
            v.version_desc,
            i64::from(JobStatus::Init.code()),
            v.create_time,
            v.engine.as_ref().map(|e| e.engine_id),
            v.engine.as_ref().map_or(0, |e| e.engine_type),
            v.engine.as_ref().map_or("", |e| e.engine_name.as_str()),
            v.engine.as_ref().map_or("", |e| e.engine_version.as_str()),
            v.spec.spec_id,
            v.spec.spec_code,
            v.spec.core,
            v.spec.cpu,
            v.spec.gpu_num,
            v.spec.gpu_type,
            v.config.worker_server_num.unwrap_or(1),
            config
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

const JOB_COLUMNS: &str = "job_id, project_id, workspace_id, job_name, job_desc, version_count, latest_version_id, next_version_no, created_at";

fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
    Ok(JobRecord {
        job_id: r.get(0)?,
        project_id: r.get(1)?,
        workspace_id: r.get(2)?,
        job_name: r.get(3)?,
        job_desc: r.get(4)?,
        version_count: r.get(5)?,
        latest_version_id: r.get(6)?,
        next_version_no: r.get(7)?,
        created_at: r.get(8)?,
    })
}

const VERSION_COLUMNS: &str = "version_id, job_id, version_no, pre_version_id, version_desc, status, create_time, start_time, end_time, duration, exit_code, status_reason, engine_id, engine_type, engine_name, engine_version, spec_id, spec_code, core, cpu, gpu_num, gpu_type, worker_server_num, config, run_handle, imported";

fn version_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<VersionRecord> {
    let engine_id: Option<i64> = r.get(12)?;
    let config: String = r.get(23)?;
    Ok(VersionRecord {
        version_id: r.get(0)?,
        job_id: r.get(1)?,
        version_no: r.get(2)?,
        pre_version_id: r.get(3)?,
        version_desc: r.get(4)?,
        status: status_col(r, 5)?,
        create_time: r.get(6)?,
        start_time: r.get(7)?,
        end_time: r.get(8)?,
        duration: r.get(9)?,
        exit_code: r.get(10)?,
        status_reason: r.get(11)?,
        engine: match engine_id {
            Some(engine_id) => Some(EngineInfo {
                engine_id,
                engine_type: r.get(13)?,
                engine_name: r.get(14)?,
                engine_version: r.get(15)?,
            }),
            None => None,
        },
        spec: Spec {
            spec_id: r.get(16)?,
            spec_code: r.get(17)?,
            core: r.get(18)?,
            cpu: r.get(19)?,
            gpu_num: r.get(20)?,
            gpu_type: r.get(21)?,
            max_num: 0,
            no_resource: false,
        },
        worker_server_num: r.get(22)?,
        config: serde_json::from_str(&config).unwrap_or_default(),
        run_handle: r.get(24)?,
        imported: r.get::<_, i64>(25)? != 0,
    })
}

fn unsupported(what: &str) -> StoreError {
    StoreError::Backend(format!("{what} is not supported by the SQLite engine").into())
}

impl crate::copy::CopyEngine for SqliteStore {
    fn dump_accounts(&self) -> Result<crate::copy::AccountsDump> {
        use crate::copy::{AccessKeyRow, AccountsDump, TokenRowFull, UserRow};
        let conn = self.read();
        let mut d = AccountsDump::default();
        let mut stmt = conn.prepare("SELECT project_id, name, created_at FROM projects")?;
        d.projects = stmt
            .query_map([], |r| {
                Ok(crate::auth::ProjectRecord {
                    project_id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT user_id, name, domain, password_hash, created_at, removed_at FROM users",
        )?;
        d.users = stmt
            .query_map([], |r| {
                Ok(UserRow {
                    user_id: r.get(0)?,
                    name: r.get(1)?,
                    domain: r.get(2)?,
                    password_hash: r.get(3)?,
                    created_at: r.get(4)?,
                    removed_at: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare("SELECT user_id, project_id FROM user_projects")?;
        d.user_projects = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT access_key, secret_sealed, user_id, created_at, revoked_at FROM access_keys",
        )?;
        d.access_keys = stmt
            .query_map([], |r| {
                Ok(AccessKeyRow {
                    access_key: r.get(0)?,
                    secret_sealed: r.get(1)?,
                    user_id: r.get(2)?,
                    created_at: r.get(3)?,
                    revoked_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT token_sha256, user_id, project_id, issued_at, expires_at, revoked_at FROM tokens",
        )?;
        d.tokens = stmt
            .query_map([], |r| {
                Ok(TokenRowFull {
                    token_sha256: r.get(0)?,
                    user_id: r.get(1)?,
                    project_id: r.get(2)?,
                    issued_at: r.get(3)?,
                    expires_at: r.get(4)?,
                    revoked_at: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = conn.prepare(
            "SELECT project_id, config_name, config_desc, config, create_time, update_time FROM training_job_configs ORDER BY config_id",
        )?;
        let raw: Vec<(String, String, String, String, i64, i64)> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        for (project_id, config_name, config_desc, json, create_time, update_time) in raw {
            d.configs.push(crate::configs::ConfigRecord {
                project_id,
                config_name,
                config_desc,
                config: serde_json::from_str(&json)?,
                create_time,
                update_time,
            });
        }
        drop(stmt);
        d.key_check = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'sealing_key_check'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let next = |table: &str| -> Result<i64> {
            let seq: Option<i64> = conn
                .query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                    [table],
                    |r| r.get(0),
                )
                .optional()?;
            let max: Option<i64> =
                conn.query_row(&format!("SELECT MAX(rowid) FROM {table}"), [], |r| r.get(0))?;
            Ok(seq.unwrap_or(0).max(max.unwrap_or(0)) + 1)
        };
        d.next_ids = (next("jobs")?, next("versions")?);
        Ok(d)
    }

    fn dump_jobs(&self, after: i64, limit: usize) -> Result<Vec<crate::copy::JobDump>> {
        let conn = self.read();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id > ?1 ORDER BY job_id LIMIT ?2"
        ))?;
        let jobs = stmt
            .query_map(params![after, limit as i64], job_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut types = conn.prepare_cached(
            "SELECT engine_type FROM versions WHERE job_id = ?1 ORDER BY version_id DESC",
        )?;
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let versions = job_versions(&conn, job.job_id)?;
            let engine_types = types
                .query_map([job.job_id], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?;
            out.push(crate::copy::JobDump {
                job,
                versions,
                engine_types,
            });
        }
        Ok(out)
    }

    fn is_empty(&self) -> Result<bool> {
        Ok(self.read().query_row(
            "SELECT NOT EXISTS(SELECT 1 FROM jobs) AND NOT EXISTS(SELECT 1 FROM users)
                AND NOT EXISTS(SELECT 1 FROM projects) AND NOT EXISTS(SELECT 1 FROM training_job_configs)",
            [],
            |r| r.get(0),
        )?)
    }

    fn restore_accounts(&self, _: &crate::copy::AccountsDump) -> Result<()> {
        Err(unsupported("copying into a store"))
    }

    fn restore_jobs(&self, _: &[crate::copy::JobDump]) -> Result<()> {
        Err(unsupported("copying into a store"))
    }

    fn finish_restore(&self) -> Result<()> {
        Err(unsupported("copying into a store"))
    }
}
