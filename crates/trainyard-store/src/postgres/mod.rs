//! The PostgreSQL engine: several `trainyard serve` replicas share one database.
//!
//! - A pool of connections (`r2d2_postgres`, synchronous `postgres` client: every call is
//!   blocking, like the rest of the store, and runs on `spawn_blocking` in the server); a
//!   connection used in the last second is handed out without a test query (`pool.rs`).
//! - A create is one round trip: `CALL trainyard_create_job` (migration 3) does what
//!   [`PgStore::write`] does and commits inside the procedure (see `Engine::create_job`).
//! - Migrations (`schema.rs`) run at open in one transaction under an advisory lock.
//! - **Commit order**: a write that changes the job list takes a transaction-scoped advisory
//!   lock right before its commit, reads the job's list row again under it, and numbers the
//!   commit while holding it (the lock is released only after the commit is visible), so
//!   commit numbers follow commit order and each change is the row as of its commit, as
//!   SQLite's single writer gives. The lock is held only from the last statements to the
//!   commit.
//! - **Ids** come from rows of `id_counters` (`UPDATE … RETURNING`): a create takes its ids in
//!   its own transaction (the row lock serialises concurrent id takers until commit); an import
//!   takes its block of consecutive ids in a short transaction of its own before its COPY, so
//!   two imports COPY at the same time, and a failed import leaves its ids unused (gaps; never
//!   handed out again). Ids are never reused.
//! - **`max_jobs`**: the project's row of `project_job_counts` is updated
//!   (`INSERT … ON CONFLICT DO UPDATE … RETURNING`) as the last statement before the commit-order
//!   lock, after the job rows are inserted, which locks it until commit: concurrent creates and
//!   imports of one project, from any replica, see each other's counts, and the row is locked
//!   only for the end of each transaction. A create reads the committed count with its ids
//!   first (a full project is reported before a taken name); an import checks it before its
//!   COPY. Both take the row after their inserts, so an insert waiting for another
//!   transaction's uncommitted name never holds the row that transaction needs.
//! - History import uses binary `COPY` for jobs and versions.
//! - Errors: connection failures (refused, closed, admin shutdown, pool timeout) are
//!   [`StoreError::Unavailable`]; other database errors are `Backend`.

mod auth;
mod configs;
mod copy;
mod lease;
mod pool;
mod schema;
mod tail;

use crate::committed::{Committed, Feed};
use crate::{
    DeletedJob, DeletedVersion, Engine, Imported, JobRecord, NewJob, NewVersion, Result,
    RunningVersion, StatusUpdate, StoreError, VersionRecord,
};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::error::SqlState;
use postgres::types::{ToSql, Type};
use postgres::{GenericClient, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use trainyard_api::history::HistoryRecord;
use trainyard_api::jobs::{Engine as EngineInfo, Spec};
use trainyard_api::list::{JobListQuery, JobRow, Order, SortKey};
use trainyard_api::status::JobStatus;
use trainyard_api::text::search_fold;
use trainyard_index::{IndexOp, ListIndex, Row};

pub(crate) type Pool = r2d2::Pool<pool::Manager>;
type Conn = r2d2::PooledConnection<pool::Manager>;

/// Second key of the advisory locks (the first is this database and schema's hash).
const LOCK_COMMIT_ORDER: i32 = 1;
const LOCK_MIGRATIONS: i32 = 2;

fn is_connection_error(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        }
        // no SQLSTATE: an I/O or protocol error on the connection
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

#[doc(hidden)]
impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if is_connection_error(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Backend(Box::new(e))
        }
    }
}

#[doc(hidden)]
impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(Box::new(e))
    }
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// The pool, closed on a thread of its own: the synchronous client blocks on a private
/// runtime when it closes a connection, which must not happen on an async runtime's thread
/// (where the last `Store` handle may be dropped).
struct OwnedPool(Option<Pool>);

impl Drop for OwnedPool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl std::ops::Deref for OwnedPool {
    type Target = Pool;
    fn deref(&self) -> &Pool {
        match &self.0 {
            Some(p) => p,
            None => unreachable!("the pool is taken only when dropped"),
        }
    }
}

/// The PostgreSQL engine (see module docs).
pub(crate) struct PgStore {
    /// The change-log tail threads, started on first need (dropped before the pool).
    tail: std::sync::OnceLock<tail::Tail>,
    shared: Arc<tail::Shared>,
    pool: OwnedPool,
    feed: Arc<Feed>,
    /// First key of this database's advisory locks: a hash of the database and schema name,
    /// so stores in different schemas of one database (tests) do not share locks.
    lock_space: i32,
    /// Writes numbered so far (low 32 bits of a change-log entry's tag).
    writes: std::sync::atomic::AtomicU32,
    /// Test hook: a pause between numbering a write and committing it (ms).
    commit_delay_ms: std::sync::atomic::AtomicU64,
}

impl PgStore {
    /// Connects to `url` (`postgres://user[:password]@host[:port]/db[?options=...]`) and
    /// applies pending migrations.
    pub(crate) fn open(url: &str, feed: Arc<Feed>) -> Result<PgStore> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Backend(Box::new(e)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives_idle(Duration::from_secs(10));
        if config.get_application_name().is_none() {
            config.application_name("trainyard");
        }
        let manager = pool::Manager(PostgresConnectionManager::new(config.clone(), NoTls));
        let pool = r2d2::Pool::builder()
            .max_size(16)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        let mut conn = pool.get()?;
        let lock_space: i32 = conn
            .query_one(
                "SELECT hashtext(current_database() || '/' || current_schema())",
                &[],
            )?
            .try_get(0)?;
        migrate(&mut conn, lock_space)?;
        // the index starts empty at the log's head: it follows every write from here on
        // (`load_index` fills it with the jobs as of some later position)
        let head: i64 = conn
            .query_one("SELECT COALESCE(MAX(seq), 0) FROM change_log", &[])?
            .try_get(0)?;
        feed.replace_at(ListIndex::new(), head.max(0) as u64);
        drop(conn);
        let origin: u32 = rand::random();
        let shared = Arc::new(tail::Shared::new(
            config,
            feed.clone(),
            format!("trainyard_changes_{:08x}", lock_space as u32),
            origin,
        ));
        let kick = shared.clone();
        feed.set_kick(Arc::new(move || kick.kick()));
        Ok(PgStore {
            tail: std::sync::OnceLock::new(),
            shared,
            pool: OwnedPool(Some(pool)),
            feed,
            lock_space,
            writes: std::sync::atomic::AtomicU32::new(0),
            commit_delay_ms: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Starts the change-log tail threads unless they run.
    fn ensure_tail(&self) {
        self.tail
            .get_or_init(|| tail::Tail::start(self.shared.clone()));
    }

    /// The next write's tag: this store's origin and its write number.
    fn next_tag(&self) -> u64 {
        let n = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (u64::from(self.shared.origin) << 32) | u64::from(n)
    }

    fn conn(&self) -> Result<Conn> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` in one transaction; before the commit takes the commit-order lock, reads the
    /// job's list row again, and appends the change-log entry numbered `MAX(seq) + 1` (which
    /// notifies every replica at commit); registers the change as this store's own under that
    /// number, commits, and returns the value with its number (see module docs). A create does
    /// the same numbering inside `trainyard_create_job` (migration 3): change one, change both.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<(T, IndexOp)>,
    ) -> Result<Committed<T>> {
        self.ensure_tail();
        let t0 = std::time::Instant::now();
        let mut conn = self.conn()?;
        let t_conn = t0.elapsed();
        let mut tx = conn.transaction()?;
        let (value, mut op) = f(&mut tx)?;
        let t_body = t0.elapsed();
        // statements with typed parameters (`*_typed`) are one round trip each: no prepare
        tx.execute_typed(
            "SELECT pg_advisory_xact_lock($1, $2)",
            &[
                (&self.lock_space, Type::INT4),
                (&LOCK_COMMIT_ORDER, Type::INT4),
            ],
        )?;
        // Read the list row again now that no other list-changing write can commit before
        // this one: a row read earlier may miss a write (of another row of the same job, e.g.
        // its description vs its latest version's status) that committed in between.
        let t_lock = t0.elapsed();
        if let IndexOp::Upsert { row, .. } = &mut op {
            *row = job_row(&mut tx, row.job_id)?;
        }
        let t_row = t0.elapsed();
        let tag = self.next_tag();
        let (kind, project, workspace, job_id, last_job_id) = tail::describe(&op);
        let tag = tag as i64;
        let seq: i64 = tx
            .query_typed_one(
                "WITH c AS (
                    INSERT INTO change_log (seq, tag, kind, project_id, workspace_id, job_id, last_job_id, committed_at)
                    SELECT COALESCE(MAX(seq), 0) + 1, $1, $2, $3, $4, $5, $6,
                        (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
                    FROM change_log
                    RETURNING seq)
                 SELECT seq, pg_notify($7, $8)::TEXT FROM c",
                &[
                    (&tag, Type::INT8),
                    (&kind, Type::INT2),
                    (&project, Type::TEXT),
                    (&workspace, Type::TEXT),
                    (&job_id, Type::INT8),
                    (&last_job_id, Type::INT8),
                    (&self.shared.channel, Type::TEXT),
                    (&self.shared.payload, Type::TEXT),
                ],
            )?
            .try_get(0)?;
        let seq = seq as u64;
        let t_log = t0.elapsed();
        self.feed.register_own(seq, tag as u64, op);
        let delay = self
            .commit_delay_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        // On an error the outcome is unknown: the tailer applies the entry if it committed
        // (and the registered change is dropped once the number is passed).
        tx.commit()?;
        let us = |d: Duration| d.as_micros() as u64;
        tracing::debug!(
            seq,
            conn_us = us(t_conn),
            body_us = us(t_body - t_conn),
            lock_us = us(t_lock - t_body),
            row_us = us(t_row - t_lock),
            log_us = us(t_log - t_row),
            commit_us = us(t0.elapsed() - t_log),
            total_us = us(t0.elapsed()),
            "postgres write"
        );
        Ok(Committed::tailed(value, seq, &self.feed))
    }

    /// Runs `f` in one transaction (writes the index does not hold: accounts, configs).
    fn write_plain<T>(&self, f: impl FnOnce(&mut Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let value = f(&mut tx)?;
        tx.commit()?;
        Ok(value)
    }
}

fn migrate(conn: &mut Conn, lock_space: i32) -> Result<()> {
    let mut tx = conn.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&lock_space, &LOCK_MIGRATIONS],
    )?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")?;
    let applied: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?;
    for (i, sql) in schema::MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(applied).unwrap_or(0))
    {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&((i + 1) as i64)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Longest a list waits for the index to apply the change log's head.
const SYNC_WAIT: Duration = Duration::from_secs(5);

/// Builds the whole list index from one snapshot and installs it at the change-log position of
/// that snapshot. The entries a snapshot sees are `1..=head` with none missing (see `tail`), so
/// its rows are exactly the state after change `head`; no lock is needed.
fn load_into(c: &mut postgres::Client, feed: &Feed) -> Result<()> {
    let mut tx = c
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let head: i64 = tx
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM change_log", &[])?
        .try_get(0)?;
    let mut scopes: HashMap<(String, String), Vec<Row>> = HashMap::new();
    let params: [&(dyn ToSql + Sync); 0] = [];
    let mut it = tx.query_raw(
        &format!("SELECT j.project_id, j.workspace_id, {ROW_COLUMNS} {ROW_FROM} ORDER BY j.job_id"),
        params,
    )?;
    while let Some(r) = postgres::fallible_iterator::FallibleIterator::next(&mut it)? {
        let project: String = r.try_get(0)?;
        let workspace: String = r.try_get(1)?;
        scopes
            .entry((project, workspace))
            .or_default()
            .push(row_from(&r, 2)?);
    }
    drop(it);
    tx.commit()?;
    let mut ix = ListIndex::new();
    for ((p, w), rows) in scopes {
        ix.bulk_insert(&p, &w, rows);
    }
    feed.replace_at(ix, head.max(0) as u64);
    Ok(())
}

const JOB_COLUMNS: &str = "job_id, project_id, workspace_id, job_name, job_desc, version_count, latest_version_id, next_version_no, created_at";
const VERSION_COLUMNS: &str = "version_id, job_id, version_no, pre_version_id, version_desc, status, create_time, start_time, end_time, duration, exit_code, status_reason, engine_id, engine_type, engine_name, engine_version, spec_id, spec_code, core, cpu, gpu_num, gpu_type, worker_server_num, config, run_handle, imported";
const ROW_COLUMNS: &str = "j.job_id, j.job_name, j.job_desc, v.version_id, v.status, v.create_time, v.start_time, v.duration, j.version_count, v.engine_type";
const ROW_FROM: &str = "FROM jobs j JOIN versions v ON v.version_id = j.latest_version_id";

fn status_of(code: i64) -> Result<JobStatus> {
    JobStatus::from_code(code)
        .ok_or_else(|| StoreError::Corrupt(format!("status code {code} is not a status").into()))
}

fn job_from_row(r: &postgres::Row) -> Result<JobRecord> {
    job_from_row_at(r, 0)
}

/// Columns in [`VERSION_COLUMNS`].
const VERSION_COLUMN_COUNT: usize = 26;

/// A job from [`JOB_COLUMNS`] starting at column `at`.
fn job_from_row_at(r: &postgres::Row, at: usize) -> Result<JobRecord> {
    Ok(JobRecord {
        job_id: r.try_get(at)?,
        project_id: r.try_get(at + 1)?,
        workspace_id: r.try_get(at + 2)?,
        job_name: r.try_get(at + 3)?,
        job_desc: r.try_get(at + 4)?,
        version_count: r.try_get(at + 5)?,
        latest_version_id: r.try_get(at + 6)?,
        next_version_no: r.try_get(at + 7)?,
        created_at: r.try_get(at + 8)?,
    })
}

fn version_from_row(r: &postgres::Row) -> Result<VersionRecord> {
    let engine_id: Option<i64> = r.try_get(12)?;
    let config: String = r.try_get(23)?;
    Ok(VersionRecord {
        version_id: r.try_get(0)?,
        job_id: r.try_get(1)?,
        version_no: r.try_get(2)?,
        pre_version_id: r.try_get(3)?,
        version_desc: r.try_get(4)?,
        status: status_of(r.try_get(5)?)?,
        create_time: r.try_get(6)?,
        start_time: r.try_get(7)?,
        end_time: r.try_get(8)?,
        duration: r.try_get(9)?,
        exit_code: r.try_get(10)?,
        status_reason: r.try_get(11)?,
        engine: match engine_id {
            Some(engine_id) => Some(EngineInfo {
                engine_id,
                engine_type: r.try_get(13)?,
                engine_name: r.try_get(14)?,
                engine_version: r.try_get(15)?,
            }),
            None => None,
        },
        spec: Spec {
            spec_id: r.try_get(16)?,
            spec_code: r.try_get(17)?,
            core: r.try_get(18)?,
            cpu: r.try_get(19)?,
            gpu_num: r.try_get(20)?,
            gpu_type: r.try_get(21)?,
            max_num: 0,
            no_resource: false,
        },
        worker_server_num: r.try_get(22)?,
        config: serde_json::from_str(&config).unwrap_or_default(),
        run_handle: r.try_get(24)?,
        imported: r.try_get(25)?,
    })
}

fn row_from(r: &postgres::Row, at: usize) -> Result<Row> {
    Ok(Row {
        job_id: r.try_get(at)?,
        job_name: r.try_get(at + 1)?,
        job_desc: r.try_get(at + 2)?,
        version_id: r.try_get(at + 3)?,
        status: status_of(r.try_get(at + 4)?)?,
        create_time: r.try_get(at + 5)?,
        start_time: r.try_get(at + 6)?,
        duration: r.try_get(at + 7)?,
        version_count: r.try_get(at + 8)?,
        engine_type: r.try_get(at + 9)?,
    })
}

fn get_job(c: &mut impl GenericClient, project: &str, job_id: i64) -> Result<JobRecord> {
    let row = c
        .query_opt(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1 AND project_id = $2"),
            &[&job_id, &project],
        )?
        .ok_or(StoreError::NotFound)?;
    job_from_row(&row)
}

fn get_job_any(c: &mut impl GenericClient, job_id: i64) -> Result<JobRecord> {
    let row = c
        .query_opt(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1"),
            &[&job_id],
        )?
        .ok_or(StoreError::NotFound)?;
    job_from_row(&row)
}

fn get_version(c: &mut impl GenericClient, version_id: i64) -> Result<Option<VersionRecord>> {
    c.query_opt(
        &format!("SELECT {VERSION_COLUMNS} FROM versions WHERE version_id = $1"),
        &[&version_id],
    )?
    .map(|r| version_from_row(&r))
    .transpose()
}

fn job_versions(c: &mut impl GenericClient, job_id: i64) -> Result<Vec<VersionRecord>> {
    c.query(
        &format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE job_id = $1 ORDER BY version_id DESC"
        ),
        &[&job_id],
    )?
    .iter()
    .map(version_from_row)
    .collect()
}

fn job_row(c: &mut impl GenericClient, job_id: i64) -> Result<Row> {
    let r = c.query_typed_one(
        &format!("SELECT {ROW_COLUMNS} {ROW_FROM} WHERE j.job_id = $1"),
        &[(&job_id, Type::INT8)],
    )?;
    row_from(&r, 0)
}

fn project_jobs(c: &mut impl GenericClient, project: &str) -> Result<u64> {
    let n: Option<i64> = c
        .query_opt(
            "SELECT jobs FROM project_job_counts WHERE project_id = $1",
            &[&project],
        )?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// Adds `delta` to the project's job count (locking its row until commit); returns the new
/// count.
fn add_project_jobs(c: &mut impl GenericClient, project: &str, delta: i64) -> Result<u64> {
    let n: i64 = c
        .query_typed_one(
            "INSERT INTO project_job_counts (project_id, jobs) VALUES ($1, $2)
             ON CONFLICT (project_id) DO UPDATE SET jobs = project_job_counts.jobs + $2
             RETURNING jobs",
            &[(&project, Type::TEXT), (&delta, Type::INT8)],
        )?
        .try_get(0)?;
    Ok(n.max(0) as u64)
}

/// The project's job count as committed (no lock): a quick check before the work of a
/// write whose locked count comes at its end.
fn project_job_count(c: &mut impl GenericClient, project: &str) -> Result<u64> {
    let n: Option<i64> = c
        .query_typed_opt(
            "SELECT jobs FROM project_job_counts WHERE project_id = $1",
            &[(&project, Type::TEXT)],
        )?
        .map(|r| r.try_get(0))
        .transpose()?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// Takes `n` consecutive ids of `name` (`jobs` or `versions`); returns the first.
fn take_ids(c: &mut impl GenericClient, name: &str, n: i64) -> Result<i64> {
    Ok(c.query_typed_one(
        "UPDATE id_counters SET next = next + $2 WHERE name = $1 RETURNING next - $2",
        &[(&name, Type::TEXT), (&n, Type::INT8)],
    )?
    .try_get(0)?)
}

/// Takes `jobs` consecutive job ids and `versions` consecutive version ids in one statement
/// (one round trip); returns the first of each.
fn take_job_and_version_ids(
    c: &mut impl GenericClient,
    jobs: i64,
    versions: i64,
) -> Result<(i64, i64)> {
    let r = c.query_typed_one(
        "WITH j AS (UPDATE id_counters SET next = next + $1 WHERE name = 'jobs' RETURNING next - $1 AS first),
              v AS (UPDATE id_counters SET next = next + $2 WHERE name = 'versions' RETURNING next - $2 AS first)
         SELECT j.first, v.first FROM j, v",
        &[(&jobs, Type::INT8), (&versions, Type::INT8)],
    )?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// SQLSTATE raised by `trainyard_create_job` when the project is full (migration 3).
const QUOTA_EXCEEDED: &str = "TY001";

/// The job and version 1 a create inserts, as [`read_new_version`] would read them back
/// (`config_json` is the stored config text; a spec's `max_num` and `no_resource` are not
/// stored).
fn created_records(
    new: &NewJob,
    version: &NewVersion,
    job_id: i64,
    version_id: i64,
    config_json: &str,
) -> (JobRecord, VersionRecord) {
    let job = JobRecord {
        job_id,
        project_id: new.project_id.clone(),
        workspace_id: new.workspace_id.clone(),
        job_name: new.job_name.clone(),
        job_desc: new.job_desc.clone(),
        version_count: 1,
        latest_version_id: version_id,
        next_version_no: 2,
        created_at: version.create_time,
    };
    let v = VersionRecord {
        version_id,
        job_id,
        version_no: 1,
        pre_version_id: None,
        version_desc: version.version_desc.clone(),
        status: JobStatus::Init,
        create_time: version.create_time,
        start_time: None,
        end_time: None,
        duration: 0,
        exit_code: None,
        status_reason: String::new(),
        engine: version.engine.clone(),
        spec: Spec {
            max_num: 0,
            no_resource: false,
            ..version.spec.clone()
        },
        worker_server_num: version.config.worker_server_num.unwrap_or(1),
        config: serde_json::from_str(config_json).unwrap_or_default(),
        run_handle: None,
        imported: false,
    };
    (job, v)
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

fn read_new_version(
    tx: &mut Transaction<'_>,
    job_id: i64,
    version_id: i64,
) -> Result<((JobRecord, VersionRecord), IndexOp)> {
    // one round trip for both; the list row is filled in by `write`, which reads it again
    // under the commit-order lock anyway
    let cols = VERSION_COLUMNS
        .split(", ")
        .map(|c| format!("v.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let jcols = JOB_COLUMNS
        .split(", ")
        .map(|c| format!("j.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let r = tx
        .query_typed_opt(
            &format!(
                "SELECT {cols}, {jcols} FROM versions v JOIN jobs j ON j.job_id = v.job_id
                 WHERE v.version_id = $1 AND v.job_id = $2"
            ),
            &[(&version_id, Type::INT8), (&job_id, Type::INT8)],
        )?
        .ok_or(StoreError::NotFound)?;
    let v = version_from_row(&r)?;
    let job = job_from_row_at(&r, VERSION_COLUMN_COUNT)?;
    let row = Row {
        job_id,
        job_name: job.job_name.clone(),
        job_desc: job.job_desc.clone(),
        version_id,
        status: v.status,
        create_time: v.create_time,
        start_time: v.start_time,
        duration: v.duration,
        version_count: job.version_count,
        engine_type: v.engine.as_ref().map_or(0, |e| e.engine_type),
    };
    let op = upsert(&job, row);
    Ok(((job, v), op))
}

fn insert_version(
    tx: &mut Transaction<'_>,
    version_id: i64,
    job_id: i64,
    no: i64,
    pre: Option<i64>,
    v: &NewVersion,
) -> Result<()> {
    let config = serde_json::to_string(&v.config)?;
    let status = i64::from(JobStatus::Init.code());
    let engine_id = v.engine.as_ref().map(|e| e.engine_id);
    let engine_type = v.engine.as_ref().map_or(0, |e| e.engine_type);
    let engine_name = v.engine.as_ref().map_or("", |e| e.engine_name.as_str());
    let engine_version = v.engine.as_ref().map_or("", |e| e.engine_version.as_str());
    let workers = v.config.worker_server_num.unwrap_or(1);
    tx.execute_typed(
        "INSERT INTO versions (version_id, job_id, version_no, pre_version_id, version_desc, status, create_time,
            engine_id, engine_type, engine_name, engine_version, spec_id, spec_code, core, cpu, gpu_num, gpu_type,
            worker_server_num, config)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
        &[
            (&version_id, Type::INT8),
            (&job_id, Type::INT8),
            (&no, Type::INT8),
            (&pre, Type::INT8),
            (&v.version_desc, Type::TEXT),
            (&status, Type::INT8),
            (&v.create_time, Type::INT8),
            (&engine_id, Type::INT8),
            (&engine_type, Type::INT8),
            (&engine_name, Type::TEXT),
            (&engine_version, Type::TEXT),
            (&v.spec.spec_id, Type::INT8),
            (&v.spec.spec_code, Type::TEXT),
            (&v.spec.core, Type::TEXT),
            (&v.spec.cpu, Type::TEXT),
            (&v.spec.gpu_num, Type::INT8),
            (&v.spec.gpu_type, Type::TEXT),
            (&workers, Type::INT8),
            (&config, Type::TEXT),
        ],
    )?;
    Ok(())
}

/// The first record (index) whose name is already used in `project`, if any.
fn first_duplicate(
    c: &mut impl GenericClient,
    project: &str,
    records: &[HistoryRecord],
) -> Result<Option<usize>> {
    let names: Vec<&str> = records.iter().map(|r| r.job_name.as_str()).collect();
    let taken: std::collections::HashSet<(String, String)> = c
        .query(
            "SELECT workspace_id, job_name FROM jobs WHERE project_id = $1 AND job_name = ANY($2)",
            &[&project, &names],
        )?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<Result<_>>()?;
    Ok(records.iter().position(|r| {
        taken.contains(&(
            r.workspace_id.as_str().to_owned(),
            r.job_name.as_str().to_owned(),
        ))
    }))
}

impl Engine for PgStore {
    fn get_job(&self, project: &str, job_id: i64) -> Result<JobRecord> {
        get_job(&mut **self.conn()?, project, job_id)
    }

    fn get_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<(JobRecord, VersionRecord)> {
        let mut c = self.conn()?;
        let job = get_job(&mut **c, project, job_id)?;
        let v = get_version(&mut **c, version_id)?
            .filter(|v| v.job_id == job_id)
            .ok_or(StoreError::NotFound)?;
        Ok((job, v))
    }

    fn version_by_id(&self, version_id: i64) -> Result<(JobRecord, VersionRecord)> {
        let mut c = self.conn()?;
        let v = get_version(&mut **c, version_id)?.ok_or(StoreError::NotFound)?;
        let job = get_job_any(&mut **c, v.job_id)?;
        Ok((job, v))
    }

    fn list_versions(&self, project: &str, job_id: i64) -> Result<(JobRecord, Vec<VersionRecord>)> {
        let mut c = self.conn()?;
        let job = get_job(&mut **c, project, job_id)?;
        let rows = job_versions(&mut **c, job_id)?;
        Ok((job, rows))
    }

    fn project_job_count(&self, project: &str) -> Result<u64> {
        project_jobs(&mut **self.conn()?, project)
    }

    fn version_status_counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        self.conn()?
            .query(
                "SELECT status, COUNT(*) FROM versions GROUP BY status ORDER BY status",
                &[],
            )?
            .iter()
            .map(|r| {
                let n: i64 = r.try_get(1)?;
                Ok((status_of(r.try_get(0)?)?, n.max(0) as u64))
            })
            .collect()
    }

    fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<RunningVersion>> {
        let codes: Vec<i64> = statuses.iter().map(|s| i64::from(s.code())).collect();
        self.conn()?
            .query(
                "SELECT v.version_id, v.job_id, j.project_id, v.status, v.create_time, v.run_handle
                 FROM versions v JOIN jobs j ON j.job_id = v.job_id
                 WHERE v.status = ANY($1) ORDER BY v.version_id",
                &[&codes],
            )?
            .iter()
            .map(|r| {
                Ok(RunningVersion {
                    version_id: r.try_get(0)?,
                    job_id: r.try_get(1)?,
                    project_id: r.try_get(2)?,
                    status: status_of(r.try_get(3)?)?,
                    create_time: r.try_get(4)?,
                    run_handle: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn load_index(&self) -> Result<()> {
        self.ensure_tail();
        load_into(&mut **self.conn()?, &self.feed)
    }

    fn sync_index(&self) -> Result<()> {
        self.ensure_tail();
        let head = self.shared.head()?;
        if self
            .feed
            .wait_applied(head, std::time::Instant::now() + SYNC_WAIT)
        {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                format!(
                    "the list index did not reach change {head} within {} s",
                    SYNC_WAIT.as_secs()
                )
                .into(),
            ))
        }
    }

    fn subscribe(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.ensure_tail();
        self.shared.subscribe(f);
    }

    fn shared_database(&self) -> bool {
        true
    }

    fn try_lead(&self, holder: &str, ttl: Duration) -> Result<Option<u64>> {
        self.pg_try_lead(holder, ttl)
    }

    fn renew_lead(&self, epoch: u64, ttl: Duration) -> Result<bool> {
        self.pg_renew_lead(epoch, ttl)
    }

    fn resign_lead(&self, epoch: u64) -> Result<()> {
        self.pg_resign_lead(epoch)
    }

    fn leader(&self) -> Result<crate::LeaderInfo> {
        self.pg_leader()
    }

    fn set_commit_delay(&self, delay: Duration) {
        self.commit_delay_ms.store(
            delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn list_jobs_sql(
        &self,
        project: &str,
        q: &JobListQuery,
        now_ms: i64,
    ) -> Result<(u64, Vec<JobRow>)> {
        let mut c = self.conn()?;
        let codes: Vec<i64> = q.status.iter().map(|s| i64::from(s.code())).collect();
        let live = "CASE WHEN v.status IN (8, 9) AND v.start_time IS NOT NULL THEN GREATEST(0, $3::BIGINT - v.start_time) ELSE GREATEST(0, v.duration) END";
        let filter = "FROM jobs j JOIN versions v ON v.version_id = j.latest_version_id
             WHERE j.project_id = $1 AND j.workspace_id = $2 AND v.status = ANY($5)
               AND ($4 = '' OR strpos(j.job_name_folded, $4) > 0)";
        let folded = search_fold(&q.search_content);
        let ws = q.workspace_id.as_str();
        let total: i64 = c
            .query_one(
                &format!("SELECT COUNT(*) {filter} AND $3::BIGINT = $3::BIGINT"),
                &[&project, &ws, &now_ms, &folded, &codes],
            )?
            .try_get(0)?;
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
             {filter} ORDER BY {col} {dir}, j.job_id {dir} LIMIT $6 OFFSET $7"
        );
        let limit = i64::from(q.per_page);
        let offset = i64::try_from(q.offset()).unwrap_or(i64::MAX);
        let rows = c
            .query(
                &sql,
                &[&project, &ws, &now_ms, &folded, &codes, &limit, &offset],
            )?
            .iter()
            .map(|r| {
                Ok(JobRow {
                    job_id: r.try_get(0)?,
                    job_name: r.try_get(1)?,
                    version_id: r.try_get(2)?,
                    status: status_of(r.try_get(3)?)?,
                    create_time: r.try_get(4)?,
                    duration: r.try_get(5)?,
                    job_desc: r.try_get(6)?,
                    version_count: r.try_get(7)?,
                    engine_type: r.try_get(8)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((total.max(0) as u64, rows))
    }

    /// One round trip: `CALL trainyard_create_job(…)` (migration 3) runs the statements of a
    /// [`PgStore::write`] and commits inside the procedure, so its answer comes after the
    /// commit; the job and version are the values just inserted (nothing else can change
    /// them before the commit).
    fn create_job(
        &self,
        new: &NewJob,
        version: &NewVersion,
        max_jobs: u64,
    ) -> Result<Committed<(JobRecord, VersionRecord)>> {
        self.ensure_tail();
        let t0 = std::time::Instant::now();
        let mut conn = self.conn()?;
        let t_conn = t0.elapsed();
        let config = serde_json::to_string(&version.config)?;
        let folded = search_fold(&new.job_name);
        let max = i64::try_from(max_jobs).unwrap_or(i64::MAX);
        let status = i64::from(JobStatus::Init.code());
        let engine_id = version.engine.as_ref().map(|e| e.engine_id);
        let engine_type = version.engine.as_ref().map_or(0, |e| e.engine_type);
        let engine_name = version
            .engine
            .as_ref()
            .map_or("", |e| e.engine_name.as_str());
        let engine_version = version
            .engine
            .as_ref()
            .map_or("", |e| e.engine_version.as_str());
        let workers = version.config.worker_server_num.unwrap_or(1);
        let tag = self.next_tag() as i64;
        let delay = self
            .commit_delay_ms
            .load(std::sync::atomic::Ordering::Relaxed) as i64;
        let kind = tail::kind::JOB;
        let out: Option<i64> = None;
        let sp = &version.spec;
        let called = conn.query_typed_one(
            "CALL trainyard_create_job($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31)",
            &[
                (&new.project_id, Type::TEXT),
                (&new.workspace_id, Type::TEXT),
                (&new.job_name, Type::TEXT),
                (&folded, Type::TEXT),
                (&new.job_desc, Type::TEXT),
                (&max, Type::INT8),
                (&status, Type::INT8),
                (&version.create_time, Type::INT8),
                (&version.version_desc, Type::TEXT),
                (&engine_id, Type::INT8),
                (&engine_type, Type::INT8),
                (&engine_name, Type::TEXT),
                (&engine_version, Type::TEXT),
                (&sp.spec_id, Type::INT8),
                (&sp.spec_code, Type::TEXT),
                (&sp.core, Type::TEXT),
                (&sp.cpu, Type::TEXT),
                (&sp.gpu_num, Type::INT8),
                (&sp.gpu_type, Type::TEXT),
                (&workers, Type::INT8),
                (&config, Type::TEXT),
                (&self.lock_space, Type::INT4),
                (&LOCK_COMMIT_ORDER, Type::INT4),
                (&tag, Type::INT8),
                (&kind, Type::INT2),
                (&self.shared.channel, Type::TEXT),
                (&self.shared.payload, Type::TEXT),
                (&delay, Type::INT8),
                (&out, Type::INT8),
                (&out, Type::INT8),
                (&out, Type::INT8),
            ],
        );
        let r = match called {
            Ok(r) => r,
            Err(e) if e.code().is_some_and(|c| c.code() == QUOTA_EXCEEDED) => {
                return Err(StoreError::QuotaExceeded { max_jobs });
            }
            Err(e)
                if is_unique_violation(&e)
                    && e.as_db_error().and_then(|d| d.constraint()) == Some("jobs_name") =>
            {
                return Err(StoreError::DuplicateName {
                    name: new.job_name.clone(),
                    line: None,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let job_id: i64 = r.try_get(0)?;
        let version_id: i64 = r.try_get(1)?;
        let seq = r.try_get::<_, i64>(2)? as u64;
        let created = created_records(new, version, job_id, version_id, &config);
        let row = Row {
            job_id,
            job_name: created.0.job_name.clone(),
            job_desc: created.0.job_desc.clone(),
            version_id,
            status: created.1.status,
            create_time: created.1.create_time,
            start_time: None,
            duration: 0,
            version_count: 1,
            engine_type,
        };
        // committed already: the tailer may have applied the entry (read back) meanwhile,
        // then this registration is not kept and `publish` finds the number applied
        self.feed
            .register_own(seq, tag as u64, upsert(&created.0, row));
        tracing::debug!(
            seq,
            conn_us = t_conn.as_micros() as u64,
            total_us = t0.elapsed().as_micros() as u64,
            "postgres create"
        );
        Ok(Committed::tailed(created, seq, &self.feed))
    }

    fn create_version(
        &self,
        project: &str,
        job_id: i64,
        pre_version_id: i64,
        version: &NewVersion,
    ) -> Result<Committed<(JobRecord, VersionRecord)>> {
        self.write(|tx| {
            // lock the job row: concurrent version creates of one job get distinct numbers
            let job = tx
                .query_opt(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1 AND project_id = $2 FOR UPDATE"
                    ),
                    &[&job_id, &project],
                )?
                .ok_or(StoreError::NotFound)?;
            let job = job_from_row(&job)?;
            let no = job.next_version_no;
            let version_id = take_ids(tx, "versions", 1)?;
            insert_version(tx, version_id, job_id, no, Some(pre_version_id), version)?;
            tx.execute(
                "UPDATE jobs SET latest_version_id = $1, version_count = version_count + 1, next_version_no = $2 WHERE job_id = $3",
                &[&version_id, &(no + 1), &job_id],
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
                "UPDATE jobs SET job_desc = $1 WHERE job_id = $2 AND project_id = $3",
                &[&desc, &job_id, &project],
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
            let job = tx
                .query_opt(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1 AND project_id = $2 FOR UPDATE"
                    ),
                    &[&job_id, &project],
                )?
                .ok_or(StoreError::NotFound)?;
            let job = job_from_row(&job)?;
            let versions = job_versions(tx, job_id)?;
            tx.execute("DELETE FROM versions WHERE job_id = $1", &[&job_id])?;
            tx.execute("DELETE FROM jobs WHERE job_id = $1", &[&job_id])?;
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
            let job = tx
                .query_opt(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE job_id = $1 AND project_id = $2 FOR UPDATE"
                    ),
                    &[&job_id, &project],
                )?
                .ok_or(StoreError::NotFound)?;
            let job = job_from_row(&job)?;
            let version = get_version(tx, version_id)?
                .filter(|v| v.job_id == job_id)
                .ok_or(StoreError::NotFound)?;
            if job.version_count <= 1 {
                tx.execute("DELETE FROM versions WHERE job_id = $1", &[&job_id])?;
                tx.execute("DELETE FROM jobs WHERE job_id = $1", &[&job_id])?;
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
            tx.execute("DELETE FROM versions WHERE version_id = $1", &[&version_id])?;
            tx.execute(
                "UPDATE jobs SET version_count = version_count - 1,
                    latest_version_id = (SELECT MAX(version_id) FROM versions WHERE job_id = $1)
                 WHERE job_id = $1",
                &[&job_id],
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
            if let Some(epoch) = u.fence {
                lease::check_fence(tx, epoch)?;
            }
            // the row lock makes the compare-and-set atomic against other replicas
            let cur = tx
                .query_opt(
                    &format!(
                        "SELECT {VERSION_COLUMNS} FROM versions WHERE version_id = $1 FOR UPDATE"
                    ),
                    &[&version_id],
                )?
                .ok_or(StoreError::NotFound)?;
            let cur = version_from_row(&cur)?;
            if cur.status.is_terminal() {
                return Err(StoreError::Conflict(cur.status));
            }
            if let Some(expected) = &u.expect
                && !expected.contains(&cur.status)
            {
                return Err(StoreError::Conflict(cur.status));
            }
            let status = i64::from(u.status.code());
            let set_handle = u.run_handle.is_some();
            let handle = u.run_handle.clone().flatten();
            tx.execute(
                "UPDATE versions SET status = $1,
                    start_time = COALESCE($2, start_time),
                    end_time = COALESCE($3, end_time),
                    duration = COALESCE($4, duration),
                    exit_code = COALESCE($5, exit_code),
                    status_reason = COALESCE($6, status_reason),
                    run_handle = CASE WHEN $7 THEN $8 ELSE run_handle END
                 WHERE version_id = $9",
                &[
                    &status,
                    &u.start_time,
                    &u.end_time,
                    &u.duration,
                    &u.exit_code,
                    &u.status_reason,
                    &set_handle,
                    &handle,
                    &version_id,
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
        let n = records.len() as i64;
        // Over the quota already: a duplicate name is reported before the quota (no COPY).
        if project_job_count(&mut **self.conn()?, project)? + n as u64 > max_jobs {
            if let Some(i) = first_duplicate(&mut **self.conn()?, project, records)? {
                return Err(StoreError::DuplicateName {
                    name: records[i].job_name.as_str().to_owned(),
                    line: Some(i),
                });
            }
            return Err(StoreError::QuotaExceeded { max_jobs });
        }
        // The id blocks are taken in a short transaction of their own (one statement), not in
        // the import's: two imports then COPY at the same time instead of one after the other
        // (the counters' rows stay locked until their transaction ends). A failed import
        // leaves its ids unused (docs/import.md).
        let (first_job, first_version) = take_job_and_version_ids(&mut **self.conn()?, n, n)?;
        let attempt = self.write(|tx| {
            copy_import(tx, project, records, first_job, first_version)?;
            // the project's count row is locked from here to the commit only (a COPY that
            // waits for another transaction's name holds no lock a create needs: creates
            // count their job after its insert too)
            if add_project_jobs(tx, project, n)? > max_jobs {
                // no name is taken (the COPY went through): another write took the room since
                return Err(StoreError::QuotaExceeded { max_jobs });
            }
            let rows = records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        r.workspace_id.as_str().to_owned(),
                        crate::sqlite::imported_row(
                            r,
                            first_job + i as i64,
                            first_version + i as i64,
                        ),
                    )
                })
                .collect();
            let imported = Imported {
                count: n as u64,
                first_job_id: if n > 0 { first_job } else { 0 },
                last_job_id: if n > 0 { first_job + n - 1 } else { 0 },
            };
            Ok((
                imported,
                IndexOp::Bulk {
                    project: project.to_owned(),
                    rows,
                },
            ))
        });
        match attempt {
            // COPY stops at the first name already used without saying which record: find it
            Err(StoreError::Backend(e))
                if e.downcast_ref::<postgres::Error>()
                    .is_some_and(is_unique_violation) =>
            {
                match first_duplicate(&mut **self.conn()?, project, records)? {
                    Some(i) => Err(StoreError::DuplicateName {
                        name: records[i].job_name.as_str().to_owned(),
                        line: Some(i),
                    }),
                    None => Err(StoreError::Backend(e)),
                }
            }
            other => other,
        }
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

/// Writes the jobs and versions of an import with binary `COPY`.
fn copy_import(
    tx: &mut Transaction<'_>,
    project: &str,
    records: &[HistoryRecord],
    first_job: i64,
    first_version: i64,
) -> Result<()> {
    {
        let sink = tx.copy_in(
            "COPY jobs (job_id, project_id, workspace_id, job_name, job_name_folded, job_desc, version_count, latest_version_id, next_version_no, created_at) FROM STDIN (FORMAT binary)",
        )?;
        let types = [
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
        ];
        let mut w = BinaryCopyInWriter::new(sink, &types);
        // in the unique name index's order: the index is filled page by page
        for i in crate::sqlite::name_order(records) {
            let r = &records[i];
            let name = r.job_name.as_str();
            w.write(&[
                &(first_job + i as i64),
                &project,
                &r.workspace_id.as_str(),
                &name,
                &search_fold(name),
                &r.job_desc,
                &1i64,
                &(first_version + i as i64),
                &2i64,
                &r.create_time,
            ])?;
        }
        w.finish()?;
    }
    let sink = tx.copy_in(
        "COPY versions (version_id, job_id, version_no, status, create_time, start_time, end_time, duration, engine_type, worker_server_num, imported) FROM STDIN (FORMAT binary)",
    )?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::BOOL,
    ];
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for (i, r) in records.iter().enumerate() {
        w.write(&[
            &(first_version + i as i64),
            &(first_job + i as i64),
            &1i64,
            &i64::from(r.status.code()),
            &r.create_time,
            &r.start_time,
            &r.end_time,
            &r.duration(),
            &r.engine_type,
            &r.worker_server_num,
            &true,
        ])?;
    }
    w.finish()?;
    Ok(())
}
