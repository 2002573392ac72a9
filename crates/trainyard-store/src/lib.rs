//! trainyard's embedded store: one SQLite file, the source of truth for jobs and versions.
//!
//! - WAL journal with `synchronous = FULL`: a success answer means the transaction is in the
//!   WAL on disk, so it survives a process kill (SIGKILL) and a power loss.
//! - One writer connection (behind a mutex: SQLite has one writer anyway) and one reader
//!   connection (WAL lets it read while the writer writes). Every call is blocking: async
//!   callers run it on `tokio::task::spawn_blocking`.
//! - IDs come from `AUTOINCREMENT` sequences: strictly increasing and never reused.
//! - The list is answered by `trainyard-index`; [`Store::list_jobs_sql`] is the plain SQL
//!   evaluation of `list.md`, kept as the reference the index is tested against.

pub mod auth;
pub mod configs;
mod records;
mod schema;

pub use records::{JobRecord, NewJob, NewVersion, RunningVersion, StatusUpdate, VersionRecord};

use parking_lot::{Condvar, Mutex, MutexGuard};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::path::Path;
use trainyard_api::history::HistoryRecord;
use trainyard_api::list::{JobListQuery, JobRow, Order, SortKey};
use trainyard_api::status::JobStatus;
use trainyard_api::text::search_fold;
use trainyard_index::Row;

/// Store errors. Messages never carry SQL or paths; the server logs the source of `Sqlite`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The job or version does not exist in this project.
    #[error("not found")]
    NotFound,
    /// `job_name` is already used in this project and workspace. For imports, `line` is the
    /// 0-based index of the first offending record.
    #[error("job_name {name:?} is already used in this workspace")]
    DuplicateName {
        /// The name.
        name: String,
        /// Record index, for imports.
        line: Option<usize>,
    },
    /// The project's `max_jobs` would be exceeded.
    #[error("the project may hold at most {max_jobs} jobs")]
    QuotaExceeded {
        /// The configured limit.
        max_jobs: u64,
    },
    /// A status change the state machine forbids (e.g. leaving a terminal status).
    #[error("version status is {0}")]
    Conflict(JobStatus),
    /// SQLite failed.
    #[error("storage error")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column could not be decoded.
    #[error("corrupt stored value")]
    Corrupt(#[from] serde_json::Error),
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The SQLite store (see crate docs).
pub struct Store {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    commits: Sequencer,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store(sqlite)")
    }
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

impl Store {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Store> {
        let mut writer = open_conn(path)?;
        migrate(&mut writer)?;
        let reader = open_conn(path)?;
        Ok(Store {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            commits: Sequencer::default(),
        })
    }

    /// Locks the writer. To apply a write's effect to in-memory structures (the list index) in
    /// commit order without holding the writer meanwhile, turn the writer into a
    /// [`CommitTicket`] with [`Writer::into_ticket`] after the write.
    pub fn writer(&self) -> Writer<'_> {
        Writer {
            conn: self.writer.lock(),
            commits: &self.commits,
        }
    }

    fn read(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock()
    }

    /// The job, if it exists in `project`.
    pub fn get_job(&self, project: &str, job_id: i64) -> Result<JobRecord> {
        get_job(&self.read(), project, job_id)
    }

    /// A version of a job of `project`.
    pub fn get_version(
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

    /// A version by id alone (for the supervisor), with its job.
    pub fn version_by_id(&self, version_id: i64) -> Result<(JobRecord, VersionRecord)> {
        let conn = self.read();
        let v = get_version(&conn, version_id)?.ok_or(StoreError::NotFound)?;
        let job = get_job_any(&conn, v.job_id)?;
        Ok((job, v))
    }

    /// The versions of a job, newest first.
    pub fn list_versions(
        &self,
        project: &str,
        job_id: i64,
    ) -> Result<(JobRecord, Vec<VersionRecord>)> {
        let conn = self.read();
        let job = get_job(&conn, project, job_id)?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM versions WHERE job_id = ?1 ORDER BY version_id DESC",
            records::VERSION_COLUMNS
        ))?;
        let rows = stmt
            .query_map([job_id], records::version_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((job, rows))
    }

    /// Jobs of a project in all workspaces.
    pub fn project_job_count(&self, project: &str) -> Result<u64> {
        project_jobs(&self.read(), project)
    }

    /// Versions in any of `statuses` (oldest first): what the supervisor resumes at start.
    pub fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<RunningVersion>> {
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

    /// Calls `f(project, workspace, row)` for every job, in job_id order (index rebuild).
    pub fn for_each_row(&self, mut f: impl FnMut(&str, &str, Row)) -> Result<()> {
        let conn = self.read();
        let mut stmt = conn.prepare(&format!(
            "SELECT j.project_id, j.workspace_id, {ROW_COLUMNS} {ROW_FROM} ORDER BY j.job_id"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let project: String = r.get(0)?;
            let workspace: String = r.get(1)?;
            f(&project, &workspace, row_from(r, 2)?);
        }
        Ok(())
    }

    /// The plain SQL evaluation of `list.md` (the reference for the index; also usable without
    /// it). Returns (`job_total_count`, page).
    pub fn list_jobs_sql(
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

pub(crate) fn status_col(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<JobStatus> {
    let code: i64 = r.get(i)?;
    JobStatus::from_code(code).ok_or_else(|| rusqlite::Error::IntegralValueOutOfRange(i, code))
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

fn get_job(conn: &Connection, project: &str, job_id: i64) -> Result<JobRecord> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM jobs WHERE job_id = ?1 AND project_id = ?2",
        records::JOB_COLUMNS
    ))?;
    stmt.query_row(params![job_id, project], records::job_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn get_job_any(conn: &Connection, job_id: i64) -> Result<JobRecord> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM jobs WHERE job_id = ?1",
        records::JOB_COLUMNS
    ))?;
    stmt.query_row(params![job_id], records::job_from_row)
        .optional()?
        .ok_or(StoreError::NotFound)
}

fn get_version(conn: &Connection, version_id: i64) -> Result<Option<VersionRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM versions WHERE version_id = ?1",
        records::VERSION_COLUMNS
    ))?;
    Ok(stmt
        .query_row([version_id], records::version_from_row)
        .optional()?)
}

fn job_row(conn: &Connection, job_id: i64) -> Result<Row> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ROW_COLUMNS} {ROW_FROM} WHERE j.job_id = ?1"
    ))?;
    Ok(stmt.query_row([job_id], |r| row_from(r, 0))?)
}

/// The locked writer: every method is one transaction, committed (durable) when it returns Ok.
pub struct Writer<'a> {
    conn: MutexGuard<'a, Connection>,
    commits: &'a Sequencer,
}

/// Orders the application of committed writes to in-memory state: tickets are numbered while
/// the writer is held (so in commit order) and applied strictly in that order.
#[derive(Debug, Default)]
struct Sequencer {
    issued: Mutex<u64>,
    applied: Mutex<u64>,
    turn: Condvar,
}

/// The right to apply one committed write's in-memory effect, in commit order, after the
/// writer has been released (so the next transaction can run meanwhile). Dropping a ticket
/// without applying it passes the turn on.
pub struct CommitTicket<'a> {
    commits: &'a Sequencer,
    number: u64,
    done: bool,
}

impl<'a> Writer<'a> {
    /// Releases the writer and returns the ticket of the writes made through it.
    pub fn into_ticket(self) -> CommitTicket<'a> {
        let number = {
            let mut issued = self.commits.issued.lock();
            *issued += 1;
            *issued - 1
        };
        let commits = self.commits;
        drop(self.conn);
        CommitTicket {
            commits,
            number,
            done: false,
        }
    }
}

impl Sequencer {
    fn wait_turn(&self, number: u64) -> MutexGuard<'_, u64> {
        let mut applied = self.applied.lock();
        while *applied != number {
            self.turn.wait(&mut applied);
        }
        applied
    }
}

impl CommitTicket<'_> {
    /// Waits until every earlier commit's effect is applied, then runs `f` (no later commit's
    /// effect runs before `f` returns).
    pub fn apply<T>(mut self, f: impl FnOnce() -> T) -> T {
        let commits = self.commits;
        let mut applied = commits.wait_turn(self.number);
        let out = f();
        *applied += 1;
        self.done = true;
        drop(applied);
        commits.turn.notify_all();
        out
    }
}

impl Drop for CommitTicket<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut applied = self.commits.wait_turn(self.number);
            *applied += 1;
            drop(applied);
            self.commits.turn.notify_all();
        }
    }
}

/// What a job deletion removed: its scope and versions (so their runs can be stopped).
#[derive(Clone, Debug)]
pub struct DeletedJob {
    /// The job as it was.
    pub job: JobRecord,
    /// Its versions as they were.
    pub versions: Vec<VersionRecord>,
}

/// The result of deleting a version.
#[derive(Clone, Debug)]
pub enum DeletedVersion {
    /// Other versions remain; the job's new list row.
    Remaining {
        /// The job after the deletion.
        job: JobRecord,
        /// The deleted version.
        version: Box<VersionRecord>,
        /// The job's new list row.
        row: Row,
    },
    /// It was the last version: the job is gone too.
    JobDeleted(DeletedJob),
}

impl Writer<'_> {
    fn tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    /// Creates a job and its version 1 (status INIT). Errors: `DuplicateName`, `QuotaExceeded`.
    pub fn create_job(
        &mut self,
        new: &NewJob,
        version: &NewVersion,
        max_jobs: u64,
    ) -> Result<(JobRecord, VersionRecord, Row)> {
        let tx = self.tx()?;
        if project_jobs(&tx, &new.project_id)? >= max_jobs {
            return Err(StoreError::QuotaExceeded { max_jobs });
        }
        if name_taken(&tx, &new.project_id, &new.workspace_id, &new.job_name)? {
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
        add_project_jobs(&tx, &new.project_id, 1)?;
        let version_id = insert_version(&tx, job_id, 1, None, version)?;
        tx.execute(
            "UPDATE jobs SET latest_version_id = ?1 WHERE job_id = ?2",
            params![version_id, job_id],
        )?;
        commit_new_version(tx, job_id, version_id)
    }

    /// Adds a version to a job of `project`; it becomes the latest.
    pub fn create_version(
        &mut self,
        project: &str,
        job_id: i64,
        pre_version_id: i64,
        version: &NewVersion,
    ) -> Result<(JobRecord, VersionRecord, Row)> {
        let tx = self.tx()?;
        let job = get_job(&tx, project, job_id)?;
        let no = job.next_version_no;
        let version_id = insert_version(&tx, job_id, no, Some(pre_version_id), version)?;
        tx.execute(
            "UPDATE jobs SET latest_version_id = ?1, version_count = version_count + 1, next_version_no = ?2 WHERE job_id = ?3",
            params![version_id, no + 1, job_id],
        )?;
        commit_new_version(tx, job_id, version_id)
    }

    /// Changes a job's description.
    pub fn update_job_desc(
        &mut self,
        project: &str,
        job_id: i64,
        desc: &str,
    ) -> Result<(JobRecord, Row)> {
        let tx = self.tx()?;
        let n = tx.execute(
            "UPDATE jobs SET job_desc = ?1 WHERE job_id = ?2 AND project_id = ?3",
            params![desc, job_id, project],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let job = get_job_any(&tx, job_id)?;
        let row = job_row(&tx, job_id)?;
        tx.commit()?;
        Ok((job, row))
    }

    /// Deletes a job and all its versions.
    pub fn delete_job(&mut self, project: &str, job_id: i64) -> Result<DeletedJob> {
        let tx = self.tx()?;
        let job = get_job(&tx, project, job_id)?;
        let versions = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {} FROM versions WHERE job_id = ?1 ORDER BY version_id DESC",
                records::VERSION_COLUMNS
            ))?;
            stmt.query_map([job_id], records::version_from_row)?
                .collect::<Result<Vec<_>, _>>()?
        };
        tx.execute("DELETE FROM versions WHERE job_id = ?1", [job_id])?;
        tx.execute("DELETE FROM jobs WHERE job_id = ?1", [job_id])?;
        add_project_jobs(&tx, project, -1)?;
        tx.commit()?;
        Ok(DeletedJob { job, versions })
    }

    /// Deletes a version; deleting the last one deletes the job.
    pub fn delete_version(
        &mut self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<DeletedVersion> {
        let tx = self.tx()?;
        let job = get_job(&tx, project, job_id)?;
        let version = get_version(&tx, version_id)?
            .filter(|v| v.job_id == job_id)
            .ok_or(StoreError::NotFound)?;
        if job.version_count <= 1 {
            tx.execute("DELETE FROM versions WHERE job_id = ?1", [job_id])?;
            tx.execute("DELETE FROM jobs WHERE job_id = ?1", [job_id])?;
            add_project_jobs(&tx, project, -1)?;
            tx.commit()?;
            return Ok(DeletedVersion::JobDeleted(DeletedJob {
                job,
                versions: vec![version],
            }));
        }
        tx.execute("DELETE FROM versions WHERE version_id = ?1", [version_id])?;
        tx.execute(
            "UPDATE jobs SET version_count = version_count - 1,
                latest_version_id = (SELECT MAX(version_id) FROM versions WHERE job_id = ?1)
             WHERE job_id = ?1",
            [job_id],
        )?;
        let job = get_job_any(&tx, job_id)?;
        let row = job_row(&tx, job_id)?;
        tx.commit()?;
        Ok(DeletedVersion::Remaining {
            job,
            version: Box::new(version),
            row,
        })
    }

    /// Applies a status change of a version (the supervisor's transitions). A version in a
    /// terminal status never changes (`Conflict`). Returns the job's new list row when the
    /// version is the job's latest (else `None`: the list does not change).
    pub fn update_status(
        &mut self,
        version_id: i64,
        u: &StatusUpdate,
    ) -> Result<(JobRecord, VersionRecord, Option<Row>)> {
        let tx = self.tx()?;
        let cur = get_version(&tx, version_id)?.ok_or(StoreError::NotFound)?;
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
        let job = get_job_any(&tx, cur.job_id)?;
        let v = get_version(&tx, version_id)?.ok_or(StoreError::NotFound)?;
        let row = if job.latest_version_id == version_id {
            Some(job_row(&tx, cur.job_id)?)
        } else {
            None
        };
        tx.commit()?;
        Ok((job, v, row))
    }

    /// Imports history records of `project` all or nothing (`import.md`). The caller has checked
    /// each record and duplicates within the batch. Errors: `DuplicateName { line }` against
    /// existing jobs, then `QuotaExceeded`. Returns (project, workspace, row) per record, in
    /// order, with job ids assigned in record order.
    pub fn import(
        &mut self,
        project: &str,
        records: &[HistoryRecord],
        max_jobs: u64,
    ) -> Result<Vec<(String, Row)>> {
        let tx = self.tx()?;
        if project_jobs(&tx, project)? + records.len() as u64 > max_jobs {
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
        let next = |table: &str| -> Result<i64> {
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
        };
        let mut job_id = next("jobs")?;
        let mut version_id = next("versions")?;
        let mut out = Vec::with_capacity(records.len());
        {
            let mut ins_job = tx.prepare_cached(
                "INSERT INTO jobs (job_id, project_id, workspace_id, job_name, job_name_folded, job_desc, version_count, latest_version_id, next_version_no, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, 2, ?8)",
            )?;
            let mut ins_ver = tx.prepare_cached(
                "INSERT INTO versions (version_id, job_id, version_no, status, create_time, start_time, end_time, duration, engine_type, worker_server_num, imported)
                 VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1)",
            )?;
            for (i, r) in records.iter().enumerate() {
                let name = r.job_name.as_str();
                // the unique index (project, workspace, name) finds names already used: no
                // separate look-up per record; the first failing record is the first duplicate
                // (the caller has checked duplicates within the batch), and the rollback on
                // drop undoes the records before it
                let inserted = ins_job.execute(params![
                    job_id,
                    project,
                    r.workspace_id.as_str(),
                    name,
                    search_fold(name),
                    r.job_desc,
                    version_id,
                    r.create_time
                ]);
                match inserted {
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                    {
                        return Err(StoreError::DuplicateName {
                            name: name.to_owned(),
                            line: Some(i),
                        });
                    }
                    other => {
                        other?;
                    }
                }
                ins_ver.execute(params![
                    version_id,
                    job_id,
                    i64::from(r.status.code()),
                    r.create_time,
                    r.start_time,
                    r.end_time,
                    r.duration(),
                    r.engine_type,
                    r.worker_server_num
                ])?;
                out.push((
                    r.workspace_id.as_str().to_owned(),
                    Row {
                        job_id,
                        job_name: name.to_owned(),
                        job_desc: r.job_desc.clone(),
                        version_id,
                        status: r.status,
                        create_time: r.create_time,
                        start_time: r.start_time,
                        duration: r.duration(),
                        version_count: 1,
                        engine_type: r.engine_type,
                    },
                ));
                job_id += 1;
                version_id += 1;
            }
        }
        add_project_jobs(&tx, project, records.len() as i64)?;
        tx.commit()?;
        Ok(out)
    }
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

/// Reads back the job, the new version and the job's list row, then commits.
fn commit_new_version(
    tx: Transaction<'_>,
    job_id: i64,
    version_id: i64,
) -> Result<(JobRecord, VersionRecord, Row)> {
    let job = get_job_any(&tx, job_id)?;
    let v = get_version(&tx, version_id)?.ok_or(StoreError::NotFound)?;
    let row = job_row(&tx, job_id)?;
    tx.commit()?;
    Ok((job, v, row))
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

#[cfg(test)]
mod tests;
