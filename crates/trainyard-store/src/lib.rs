//! trainyard's store: the source of truth for jobs, versions, accounts and configs, behind one
//! engine-neutral API, and the in-memory list index that follows every committed write.
//!
//! # The API contract (every engine)
//! - [`Store::open`] takes a [`Location`] (today: a SQLite file), applies that engine's pending
//!   migrations, and returns the store. Every call is **blocking**: async callers run it on
//!   `tokio::task::spawn_blocking` (see ARCHITECTURE.md, "Store: synchronous").
//! - **Writes are transactions**: a method returns `Ok` only after its transaction committed
//!   durably; on `Err` nothing of it is stored (or, for [`StoreError::Unavailable`], the outcome
//!   is unknown).
//! - **The index sees every write, in commit order, before the write returns**: engine writes
//!   return a `Committed<T>` carrying the change to the list index, and the only way to get the
//!   value out applies that change (module `committed`). [`Store::index`] is what the server's
//!   list answers from; [`Store::load_index`] fills it from the stored jobs at start.
//! - **Ids** (`job_id`, `version_id`) are assigned by the store, strictly increasing in commit
//!   order of the jobs that exist, and never reused, even after deletion. An import's jobs get
//!   consecutive ids in record order.
//! - **`max_jobs` is atomic**: [`Store::create_job`] and [`Store::import`] check the project's
//!   job count and insert in one transaction; concurrent writers of the same project are
//!   serialised on the project's count, so a project never holds more than `max_jobs` jobs.
//!   The count is O(1) (a per-project counter kept by every insert and delete).
//! - **Status changes are compare-and-set** ([`StatusUpdate::expect`]) and a terminal status
//!   never changes.
//! - [`Store::list_jobs_sql`] is the plain SQL evaluation of `list.md`, the reference the index
//!   is tested against (and what `trainyard bench` and `migrate` check with).
//!
//! The same conformance suite (`tests/it/conformance.rs`) runs on every engine.

pub mod auth;
mod committed;
pub mod configs;
pub mod copy;
mod error;
mod postgres;
mod records;
mod sqlite;

pub use error::{BoxError, Result, StoreError};
pub use records::{JobRecord, NewJob, NewVersion, RunningVersion, StatusUpdate, VersionRecord};
pub use trainyard_index::{IndexOp, ListIndex, Row};

use committed::{Committed, Feed};
use parking_lot::RwLock;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trainyard_api::history::HistoryRecord;
use trainyard_api::list::{JobListQuery, JobRow};
use trainyard_api::status::JobStatus;

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite database file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database: `postgres://user[:password]@host[:port]/database[?options]`
    /// (several servers may share it).
    Postgres(String),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Location::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl Location {
    /// The SQLite file of a data directory (`<dir>/trainyard.db`).
    pub fn data_dir(dir: &Path) -> Location {
        Location::Sqlite(dir.join("trainyard.db"))
    }

    /// The engine's name (`sqlite`), for logs.
    pub fn engine(&self) -> &'static str {
        match self {
            Location::Sqlite(_) => "sqlite",
            Location::Postgres(_) => "postgres",
        }
    }

    /// The location of `--database` (a `postgres://` or `postgresql://` URL), else the SQLite
    /// file of `data_dir`. Errors: a URL of another scheme.
    pub fn choose(
        database: Option<&str>,
        data_dir: &Path,
    ) -> std::result::Result<Location, String> {
        match database.map(str::trim).filter(|d| !d.is_empty()) {
            None => Ok(Location::data_dir(data_dir)),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Location::Postgres(url.to_owned()))
            }
            Some(other) => Err(format!(
                "database {:?}: only postgres:// URLs are supported (SQLite is the default: --data-dir)",
                redact_url(other)
            )),
        }
    }
}

/// A database URL with its password replaced by `***` (for logs and `Debug`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    match auth {
        Some(a) => match a.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => format!("{scheme}://{a}@{host}"),
        },
        None => url.to_owned(),
    }
}

/// What deleting a job removed: its scope and versions (so their runs can be stopped).
#[derive(Clone, Debug)]
pub struct DeletedJob {
    /// The job as it was.
    pub job: JobRecord,
    /// Its versions as they were, newest first.
    pub versions: Vec<VersionRecord>,
}

/// The result of deleting a version.
#[derive(Clone, Debug)]
pub enum DeletedVersion {
    /// Other versions remain.
    Remaining {
        /// The job after the deletion.
        job: JobRecord,
        /// The deleted version.
        version: Box<VersionRecord>,
    },
    /// It was the last version: the job is gone too.
    JobDeleted(DeletedJob),
}

/// The jobs an import created: consecutive ids in record order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Imported {
    /// Records imported.
    pub count: u64,
    /// Id of the first record's job (0 when `count` is 0).
    pub first_job_id: i64,
    /// Id of the last record's job (0 when `count` is 0).
    pub last_job_id: i64,
}

/// What every engine implements (the store's seam). Writes that change the job list return
/// [`Committed`]; [`Store`] publishes them. Accounts and configs are not in the list, so their
/// writes return plain values.
pub(crate) trait Engine: Send + Sync {
    fn get_job(&self, project: &str, job_id: i64) -> Result<JobRecord>;
    fn get_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<(JobRecord, VersionRecord)>;
    fn version_by_id(&self, version_id: i64) -> Result<(JobRecord, VersionRecord)>;
    fn list_versions(&self, project: &str, job_id: i64) -> Result<(JobRecord, Vec<VersionRecord>)>;
    fn project_job_count(&self, project: &str) -> Result<u64>;
    fn version_status_counts(&self) -> Result<Vec<(JobStatus, u64)>>;
    fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<RunningVersion>>;
    fn list_jobs_sql(
        &self,
        project: &str,
        q: &JobListQuery,
        now_ms: i64,
    ) -> Result<(u64, Vec<JobRow>)>;
    /// Builds the whole list index from the stored jobs and installs it with
    /// `Feed::replace`, so that no committed write is missing from it or applied twice.
    fn load_index(&self) -> Result<()>;

    fn create_job(
        &self,
        new: &NewJob,
        version: &NewVersion,
        max_jobs: u64,
    ) -> Result<Committed<(JobRecord, VersionRecord)>>;
    fn create_version(
        &self,
        project: &str,
        job_id: i64,
        pre_version_id: i64,
        version: &NewVersion,
    ) -> Result<Committed<(JobRecord, VersionRecord)>>;
    fn update_job_desc(
        &self,
        project: &str,
        job_id: i64,
        desc: &str,
    ) -> Result<Committed<JobRecord>>;
    fn delete_job(&self, project: &str, job_id: i64) -> Result<Committed<DeletedJob>>;
    fn delete_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<Committed<DeletedVersion>>;
    fn update_status(
        &self,
        version_id: i64,
        u: &StatusUpdate,
    ) -> Result<Committed<(JobRecord, VersionRecord)>>;
    fn import(
        &self,
        project: &str,
        records: &[HistoryRecord],
        max_jobs: u64,
    ) -> Result<Committed<Imported>>;

    fn auth(&self) -> &dyn auth::AuthEngine;
    fn copy(&self) -> &dyn copy::CopyEngine;
    fn configs(&self) -> &dyn configs::ConfigEngine;

    // ---- several servers on one database (defaults: one server per store) ----

    /// Waits until the index has applied every change committed before the call.
    fn sync_index(&self) -> Result<()> {
        Ok(())
    }
    /// Calls `f` after changes written by another server reached the index.
    fn subscribe(&self, _f: Arc<dyn Fn() + Send + Sync>) {}
    /// True when several servers may share the store.
    fn shared_database(&self) -> bool {
        false
    }
    /// Test hook: pause each list-changing write between numbering and commit.
    fn set_commit_delay(&self, _delay: std::time::Duration) {}
    fn try_lead(&self, _holder: &str, _ttl: std::time::Duration) -> Result<Option<u64>> {
        Ok(Some(1))
    }
    fn renew_lead(&self, epoch: u64, _ttl: std::time::Duration) -> Result<bool> {
        Ok(epoch == 1)
    }
    fn resign_lead(&self, _epoch: u64) -> Result<()> {
        Ok(())
    }
    fn leader(&self) -> Result<LeaderInfo> {
        Ok(LeaderInfo {
            epoch: 1,
            holder: String::new(),
            expires_in_ms: i64::MAX,
        })
    }
}

/// Who holds the scheduler lease ([`Store::leader`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderInfo {
    /// The lease's epoch (the fencing value; 0 before anyone led).
    pub epoch: u64,
    /// The holder's name as it gave it to [`Store::try_lead`].
    pub holder: String,
    /// Milliseconds until the lease expires (0: expired, anyone may take it).
    pub expires_in_ms: i64,
}

/// The store (see crate docs): one engine, chosen by [`Location`] at open, and the list index.
pub struct Store {
    engine: Box<dyn Engine>,
    feed: Arc<Feed>,
    location: Location,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.location)
    }
}

impl Store {
    /// Opens (creating if needed) the store at `location` and applies pending migrations. The
    /// list index starts empty: call [`Store::load_index`] before serving lists.
    pub fn open(location: &Location) -> Result<Store> {
        let feed = Arc::new(Feed::default());
        let engine: Box<dyn Engine> = match location {
            Location::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path, feed.clone())?),
            Location::Postgres(url) => Box::new(postgres::PgStore::open(url, feed.clone())?),
        };
        Ok(Store {
            engine,
            feed,
            location: location.clone(),
        })
    }

    /// Where this store lives.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The list index (complete after [`Store::load_index`]; every later write is in it before
    /// the write returns).
    pub fn index(&self) -> &Arc<RwLock<ListIndex>> {
        self.feed.index()
    }

    /// Builds the list index from the stored jobs (start-up).
    pub fn load_index(&self) -> Result<()> {
        self.engine.load_index()
    }

    /// The job, if it exists in `project`. Errors: `NotFound`.
    pub fn get_job(&self, project: &str, job_id: i64) -> Result<JobRecord> {
        self.engine.get_job(project, job_id)
    }

    /// A version of a job of `project`. Errors: `NotFound`.
    pub fn get_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<(JobRecord, VersionRecord)> {
        self.engine.get_version(project, job_id, version_id)
    }

    /// A version by id alone (for the supervisor), with its job. Errors: `NotFound`.
    pub fn version_by_id(&self, version_id: i64) -> Result<(JobRecord, VersionRecord)> {
        self.engine.version_by_id(version_id)
    }

    /// The versions of a job, newest first. Errors: `NotFound`.
    pub fn list_versions(
        &self,
        project: &str,
        job_id: i64,
    ) -> Result<(JobRecord, Vec<VersionRecord>)> {
        self.engine.list_versions(project, job_id)
    }

    /// Jobs of a project in all workspaces (O(1)).
    pub fn project_job_count(&self, project: &str) -> Result<u64> {
        self.engine.project_job_count(project)
    }

    /// How many versions (of every job, every project, not only the latest) are in each
    /// status: `(status, count)` for the statuses that have at least one version, by status
    /// code. One aggregate query over the versions table (a scan: call it at scrape intervals,
    /// not per request). Feeds the `trainyard_versions` gauge of `/metrics` (issue 14).
    pub fn version_status_counts(&self) -> Result<Vec<(JobStatus, u64)>> {
        self.engine.version_status_counts()
    }

    /// Versions in any of `statuses`, by `version_id` (what the supervisor resumes at start).
    pub fn versions_in(&self, statuses: &[JobStatus]) -> Result<Vec<RunningVersion>> {
        self.engine.versions_in(statuses)
    }

    /// The plain SQL evaluation of `list.md`: (`job_total_count`, page).
    pub fn list_jobs_sql(
        &self,
        project: &str,
        q: &JobListQuery,
        now_ms: i64,
    ) -> Result<(u64, Vec<JobRow>)> {
        self.engine.list_jobs_sql(project, q, now_ms)
    }

    /// Creates a job and its version 1 (status INIT) in one transaction. Errors:
    /// `QuotaExceeded` (the project already holds `max_jobs` jobs; checked atomically with the
    /// insert), `DuplicateName`.
    pub fn create_job(
        &self,
        new: &NewJob,
        version: &NewVersion,
        max_jobs: u64,
    ) -> Result<(JobRecord, VersionRecord)> {
        let t0 = std::time::Instant::now();
        let committed = self.engine.create_job(new, version, max_jobs)?;
        let t_commit = t0.elapsed();
        let out = committed.publish();
        tracing::debug!(
            commit_us = t_commit.as_micros() as u64,
            publish_us = (t0.elapsed() - t_commit).as_micros() as u64,
            "create_job"
        );
        Ok(out)
    }

    /// Adds a version (status INIT) to a job of `project`; it becomes the latest, numbered
    /// after every version the job ever had. Errors: `NotFound`.
    pub fn create_version(
        &self,
        project: &str,
        job_id: i64,
        pre_version_id: i64,
        version: &NewVersion,
    ) -> Result<(JobRecord, VersionRecord)> {
        Ok(self
            .engine
            .create_version(project, job_id, pre_version_id, version)?
            .publish())
    }

    /// Changes a job's description. Errors: `NotFound`.
    pub fn update_job_desc(&self, project: &str, job_id: i64, desc: &str) -> Result<JobRecord> {
        Ok(self
            .engine
            .update_job_desc(project, job_id, desc)?
            .publish())
    }

    /// Deletes a job and all its versions. Errors: `NotFound`.
    pub fn delete_job(&self, project: &str, job_id: i64) -> Result<DeletedJob> {
        Ok(self.engine.delete_job(project, job_id)?.publish())
    }

    /// Deletes a version; deleting the last one deletes the job. Errors: `NotFound`.
    pub fn delete_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> Result<DeletedVersion> {
        Ok(self
            .engine
            .delete_version(project, job_id, version_id)?
            .publish())
    }

    /// Applies a status change of a version (the supervisor's transitions), compare-and-set on
    /// [`StatusUpdate::expect`]. Errors: `NotFound`; `Conflict` when the version is terminal or
    /// not in an expected status. Returns the job and the version after the change.
    pub fn update_status(
        &self,
        version_id: i64,
        u: &StatusUpdate,
    ) -> Result<(JobRecord, VersionRecord)> {
        Ok(self.engine.update_status(version_id, u)?.publish())
    }

    /// True when several servers may share this store (PostgreSQL): each follows the others'
    /// writes through the change log, and one of them schedules ([`Store::try_lead`]). False
    /// for SQLite (one server per data directory).
    pub fn is_shared(&self) -> bool {
        self.engine.shared_database()
    }

    /// Waits until the list index has applied every list-changing write committed (by any
    /// server on this database) before the call: reads the change log's head (one query,
    /// shared by concurrent callers) and waits for the tailer to apply it. Call it before
    /// answering a list from [`Store::index`]. Immediate for SQLite. Errors: `Unavailable`
    /// when the database does not answer, or the index did not catch up within 5 s.
    pub fn sync_index(&self) -> Result<()> {
        self.engine.sync_index()
    }

    /// Calls `f` (on the store's tailer thread; keep it short) each time changes written by
    /// another server on this database reached the index, e.g. to wake a scheduler. Never
    /// called for SQLite.
    pub fn subscribe_foreign_writes(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.engine.subscribe(f)
    }

    /// The last change-log number the index applied (0 for SQLite, which has no log).
    pub fn index_position(&self) -> u64 {
        if self.is_shared() {
            self.feed.applied()
        } else {
            0
        }
    }

    /// Test hook: each later list-changing write pauses `delay` between taking its commit
    /// number and committing (PostgreSQL; no effect on SQLite). For tests that try to make
    /// numbers visible out of order.
    #[doc(hidden)]
    pub fn set_commit_delay(&self, delay: std::time::Duration) {
        self.engine.set_commit_delay(delay)
    }

    /// Tries to become the scheduler leader as `holder` (a name for operators), for `ttl`:
    /// takes the lease when it expired. Returns the new epoch (the fencing value to put in
    /// [`StatusUpdate::fence`]), or `None` while another holds it. A store that is not shared
    /// (SQLite) always leads, epoch 1.
    pub fn try_lead(&self, holder: &str, ttl: std::time::Duration) -> Result<Option<u64>> {
        self.engine.try_lead(holder, ttl)
    }

    /// Renews the lease of `epoch` for `ttl`; false when another leader took it over.
    pub fn renew_lead(&self, epoch: u64, ttl: std::time::Duration) -> Result<bool> {
        self.engine.renew_lead(epoch, ttl)
    }

    /// Gives the lease of `epoch` up at once (a clean shutdown), so another server takes over
    /// without waiting for it to expire.
    pub fn resign_lead(&self, epoch: u64) -> Result<()> {
        self.engine.resign_lead(epoch)
    }

    /// Who holds the scheduler lease now.
    pub fn leader(&self) -> Result<LeaderInfo> {
        self.engine.leader()
    }

    /// Imports history records of `project`, all or nothing (`import.md`). The caller has
    /// checked each record and duplicates within the batch. Errors: `DuplicateName { line }`
    /// against existing jobs (the first such record), then `QuotaExceeded`. Job ids are
    /// consecutive, in record order.
    pub fn import(
        &self,
        project: &str,
        records: &[HistoryRecord],
        max_jobs: u64,
    ) -> Result<Imported> {
        Ok(self.engine.import(project, records, max_jobs)?.publish())
    }
}
