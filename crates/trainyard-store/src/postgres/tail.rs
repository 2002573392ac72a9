//! Following the change log: every replica's list index applies every replica's writes.
//!
//! Every list-changing write appends one entry to `change_log` in its own transaction, numbered
//! `MAX(seq) + 1` while it holds the commit-order lock (module docs of `postgres`): numbers are
//! dense (a rolled-back write's number is taken again by the next write) and become visible in
//! number order (the lock is released only after the commit is visible). So the entries a reader
//! sees are always `1..=head` with nothing missing, and a tailer that applies "the next number"
//! cannot skip one. It still never moves past a number it has not seen ([`Feed::apply_tailed`]
//! stops at a gap); a gap below the oldest entry kept means the log was pruned past this
//! replica's position, and the index is loaded again.
//!
//! Threads (started on first need, stopped when the store is dropped):
//! - the **listener** holds a connection that `LISTEN`s on the database's channel (each write
//!   notifies it at commit, with its store's origin as the payload) and wakes the tailer for
//!   other stores' writes; it reconnects after a failure. A store's own writes do not wake it:
//!   the writer applies its change itself once every earlier number is applied, and otherwise
//!   asks the tailer to read the log (`Feed::wait_applied`);
//! - the **tailer** reads the entries after its position on a connection of its own (one query:
//!   the entries with their jobs' list rows read back), applies them in order, and runs again on
//!   every wake-up, or after [`POLL`] without one (the fallback when notifications are lost);
//!   every [`PRUNE_EVERY`] it deletes entries older than [`KEEP_MS`] beyond the newest
//!   [`KEEP_ENTRIES`].
//!
//! [`HeadReads`] answer "what is the newest committed entry?" for [`super::PgStore`]'s
//! `sync_index` (before a list answer): concurrent callers share one query in flight, on one
//! connection of its own, and each gets the answer of a query sent after it asked.

use super::{load_into, status_of};
use crate::committed::{Feed, Tailed};
use crate::{Result, StoreError};
use parking_lot::{Condvar, Mutex};
use postgres::types::Type;
use postgres::{Client, NoTls};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use trainyard_index::{IndexOp, Row};

/// The tailer reads the log at least this often, without being woken.
pub(crate) const POLL: Duration = Duration::from_millis(1000);
/// Entries read per query.
const BATCH: i64 = 5000;
/// How often the tailer prunes the log.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Entries younger than this are kept (a replica that falls further behind loads its index
/// again).
pub(crate) const KEEP_MS: i64 = 10 * 60 * 1000;
/// The newest entries kept whatever their age.
const KEEP_ENTRIES: i64 = 10_000;

/// Change-log entry kinds (`change_log.kind`).
pub(crate) mod kind {
    /// No list change (e.g. a status change of a version that is not the latest): only wakes.
    pub(crate) const TOUCH: i16 = 0;
    /// A job's list row changed: read it again (a job gone since is removed).
    pub(crate) const JOB: i16 = 1;
    /// A job was deleted.
    pub(crate) const REMOVED: i16 = 2;
    /// An import: jobs `job_id..=last_job_id` of the project.
    pub(crate) const IMPORT: i16 = 3;
}

/// The entry that describes an index change: (kind, project, workspace, job_id, last_job_id).
pub(crate) fn describe(op: &IndexOp) -> (i16, &str, &str, i64, i64) {
    match op {
        IndexOp::None => (kind::TOUCH, "", "", 0, 0),
        IndexOp::Upsert {
            project,
            workspace,
            row,
        } => (kind::JOB, project, workspace, row.job_id, 0),
        IndexOp::Remove {
            project,
            workspace,
            job_id,
        } => (kind::REMOVED, project, workspace, *job_id, 0),
        IndexOp::Bulk { project, rows } => {
            let first = rows.first().map_or(0, |(_, r)| r.job_id);
            let last = rows.last().map_or(0, |(_, r)| r.job_id);
            (kind::IMPORT, project, "", first, last)
        }
    }
}

/// Connects a connection of its own (not from the pool).
pub(crate) fn connect(config: &postgres::Config) -> Result<Client> {
    Ok(config.connect(NoTls)?)
}

/// Closes a client off any async runtime (the synchronous client blocks on its own runtime
/// when it closes).
pub(crate) fn close(c: Client) {
    let _ = std::thread::spawn(move || drop(c)).join();
}

/// The newest entry's number (0 for an empty log).
fn head(c: &mut Client) -> Result<u64> {
    // typed statements (`*_typed`) are one round trip: no prepare
    let n: i64 = c
        .query_typed_one("SELECT COALESCE(MAX(seq), 0) FROM change_log", &[])?
        .try_get(0)?;
    Ok(n.max(0) as u64)
}

/// Coalesced reads of the log's head (see module docs).
#[derive(Default)]
pub(crate) struct HeadReads {
    state: Mutex<HeadState>,
    done: Condvar,
    conn: Mutex<Option<Client>>,
}

struct HeadState {
    /// Reads started.
    started: u64,
    /// Reads finished (the last one's answer is `last`).
    finished: u64,
    in_flight: bool,
    last: std::result::Result<u64, String>,
}

impl Default for HeadState {
    fn default() -> Self {
        HeadState {
            started: 0,
            finished: 0,
            in_flight: false,
            last: Ok(0),
        }
    }
}

impl HeadReads {
    /// The head as read by a query sent after this call began.
    pub(crate) fn read(&self, config: &postgres::Config) -> Result<u64> {
        let mut s = self.state.lock();
        // a read already in flight may have been sent before this call: wait for the next one
        let need = s.started + 1;
        loop {
            if s.finished >= need {
                return s
                    .last
                    .clone()
                    .map_err(|e| StoreError::Unavailable(e.into()));
            }
            if s.in_flight {
                self.done.wait(&mut s);
                continue;
            }
            s.in_flight = true;
            s.started += 1;
            let generation = s.started;
            drop(s);
            let answer = self.query(config).map_err(|e| match e {
                StoreError::Unavailable(src) | StoreError::Backend(src) => src.to_string(),
                other => other.to_string(),
            });
            s = self.state.lock();
            s.in_flight = false;
            s.finished = generation;
            s.last = answer;
            self.done.notify_all();
        }
    }

    /// One query on this reader's connection; a broken connection is replaced once.
    fn query(&self, config: &postgres::Config) -> Result<u64> {
        let mut conn = self.conn.lock();
        for attempt in 0..2 {
            if conn.as_ref().is_none_or(Client::is_closed) {
                if let Some(old) = conn.take() {
                    close(old);
                }
                *conn = Some(connect(config)?);
            }
            let Some(c) = conn.as_mut() else { continue };
            match head(c) {
                Ok(h) => return Ok(h),
                Err(StoreError::Unavailable(e)) if attempt == 0 => {
                    if let Some(old) = conn.take() {
                        close(old);
                    }
                    drop(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable(
            "no connection to the database".into(),
        ))
    }

    fn close(&self) {
        if let Some(c) = self.conn.lock().take() {
            close(c);
        }
    }
}

/// What the tail threads share with the store.
pub(crate) struct Shared {
    pub(crate) config: postgres::Config,
    pub(crate) feed: Arc<Feed>,
    /// The `LISTEN`/`NOTIFY` channel of this database (and schema).
    pub(crate) channel: String,
    /// This store's origin (high 32 bits of its entries' tags).
    pub(crate) origin: u32,
    /// The payload of this store's notifications (its origin in hex): the listener does not
    /// wake the tailer for them, as the writer applies its own changes (see module docs).
    pub(crate) payload: String,
    kicked: Mutex<bool>,
    wake: Condvar,
    stop: AtomicBool,
    /// Called after entries written by another store were applied.
    hooks: Mutex<Vec<Arc<dyn Fn() + Send + Sync>>>,
    pub(crate) heads: HeadReads,
}

impl Shared {
    pub(crate) fn new(
        config: postgres::Config,
        feed: Arc<Feed>,
        channel: String,
        origin: u32,
    ) -> Shared {
        Shared {
            config,
            feed,
            channel,
            origin,
            payload: format!("{origin:08x}"),
            kicked: Mutex::new(false),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            hooks: Mutex::new(Vec::new()),
            heads: HeadReads::default(),
        }
    }

    /// Asks the tailer to read the log now.
    pub(crate) fn kick(&self) {
        *self.kicked.lock() = true;
        self.wake.notify_one();
    }

    pub(crate) fn subscribe(&self, f: Arc<dyn Fn() + Send + Sync>) {
        self.hooks.lock().push(f);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// The running tail threads (see module docs); stopped and joined on drop.
pub(crate) struct Tail {
    pub(crate) shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Tail {
    /// Starts the listener and the tailer.
    pub(crate) fn start(shared: Arc<Shared>) -> Tail {
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("ty-pg-listen".into())
                .spawn(move || listen(&s))
                .unwrap_or_else(|e| panic!("cannot start a thread: {e}")),
        );
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("ty-pg-tail".into())
                .spawn(move || tail(&s))
                .unwrap_or_else(|e| panic!("cannot start a thread: {e}")),
        );
        Tail { shared, threads }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.kick();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shared.heads.close();
    }
}

/// A failure worth one log line, not one per retry.
struct Complaint {
    failing_since: Option<Instant>,
}

impl Complaint {
    fn failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        if self.failing_since.is_none() {
            tracing::warn!(error = %e, "change log {what} failed; retrying");
            self.failing_since = Some(Instant::now());
        }
    }

    fn ok(&mut self, what: &str) {
        if let Some(t) = self.failing_since.take() {
            tracing::info!(
                down_ms = t.elapsed().as_millis() as u64,
                "change log {what} works again"
            );
        }
    }
}

/// The listener thread: `LISTEN`, wake the tailer on every notification; reconnect on failure.
fn listen(s: &Shared) {
    let mut complaint = Complaint {
        failing_since: None,
    };
    let mut pause = Duration::from_millis(50);
    while !s.stopping() {
        let mut c = match connect(&s.config).and_then(|mut c| {
            c.batch_execute(&format!("LISTEN \"{}\"", s.channel))?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                complaint.failed("listener", &e);
                sleep_unless_stopped(s, pause);
                pause = (pause * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        complaint.ok("listener");
        pause = Duration::from_millis(50);
        // notifications sent while no one listened: catch up
        s.kick();
        while !s.stopping() {
            let mut n = c.notifications();
            let mut it = n.timeout_iter(Duration::from_millis(200));
            match postgres::fallible_iterator::FallibleIterator::next(&mut it) {
                Ok(Some(n)) => {
                    if n.payload() != s.payload {
                        s.kick();
                    }
                }
                Ok(None) => {
                    drop(it);
                    drop(n);
                    if c.is_closed() {
                        break;
                    }
                }
                Err(e) => {
                    complaint.failed("listener", &e);
                    break;
                }
            }
        }
        drop(c);
    }
}

fn sleep_unless_stopped(s: &Shared, d: Duration) {
    let mut k = s.kicked.lock();
    if !s.stopping() {
        let _ = s.wake.wait_for(&mut k, d);
    }
}

/// The tailer thread (see module docs).
fn tail(s: &Shared) {
    let mut conn: Option<Client> = None;
    let mut complaint = Complaint {
        failing_since: None,
    };
    let mut pruned = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        {
            let mut k = s.kicked.lock();
            if !*k && !s.stopping() {
                let _ = s.wake.wait_for(&mut k, POLL);
            }
            *k = false;
        }
        if s.stopping() {
            return;
        }
        loop {
            match step(s, &mut conn) {
                Ok(Step::Done) => {
                    complaint.ok("tailer");
                    pause = Duration::from_millis(20);
                    break;
                }
                Ok(Step::More) => complaint.ok("tailer"),
                Ok(Step::Gap) => {
                    // the next number is not visible yet (it cannot stay missing: see module
                    // docs); look again shortly
                    sleep_unless_stopped(s, Duration::from_millis(5));
                }
                Err(e) => {
                    complaint.failed("tailer", &e);
                    if let Some(c) = conn.take() {
                        drop(c);
                    }
                    sleep_unless_stopped(s, pause);
                    pause = (pause * 2).min(Duration::from_secs(1));
                    // try again now (a waiting list request kicked meanwhile, or the poll)
                    *s.kicked.lock() = true;
                    break;
                }
            }
            if s.stopping() {
                return;
            }
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            if let Some(c) = conn.as_mut()
                && let Err(e) = prune(c)
            {
                tracing::debug!(error = %e, "pruning the change log failed");
            }
        }
    }
}

enum Step {
    /// Caught up with what is visible.
    Done,
    /// A full batch was applied: read again.
    More,
    /// The next number is not visible yet while later ones are.
    Gap,
}

const FETCH: &str =
    "SELECT c.seq, c.tag, c.kind, c.project_id, c.workspace_id, c.job_id, c.last_job_id,
        j.job_id, j.job_name, j.job_desc, v.version_id, v.status, v.create_time, v.start_time,
        v.duration, j.version_count, v.engine_type
     FROM change_log c
     LEFT JOIN jobs j ON c.kind = 1 AND j.job_id = c.job_id
     LEFT JOIN versions v ON v.version_id = j.latest_version_id
     WHERE c.seq > $1 ORDER BY c.seq LIMIT $2";

/// One read of the log after the applied position, applied.
fn step(s: &Shared, conn: &mut Option<Client>) -> Result<Step> {
    if conn.as_ref().is_none_or(Client::is_closed) {
        *conn = Some(connect(&s.config)?);
    }
    let Some(c) = conn.as_mut() else {
        return Err(StoreError::Unavailable("no connection".into()));
    };
    let from = s.feed.applied();
    let rows = c.query_typed(FETCH, &[(&(from as i64), Type::INT8), (&BATCH, Type::INT8)])?;
    let Some(first) = rows.first() else {
        return Ok(Step::Done);
    };
    let first_seq: i64 = first.try_get(0)?;
    if first_seq as u64 != from + 1 {
        let oldest: i64 = c
            .query_one("SELECT COALESCE(MIN(seq), 0) FROM change_log", &[])?
            .try_get(0)?;
        if oldest as u64 > from + 1 {
            tracing::warn!(
                position = from,
                oldest,
                "the change log was pruned past this replica's position: loading the list index again"
            );
            load_into(c, &s.feed)?;
            return Ok(Step::More);
        }
        return Ok(Step::Gap);
    }
    let full = rows.len() as i64 == BATCH;
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        let seq: i64 = r.try_get(0)?;
        let tag: i64 = r.try_get(1)?;
        let k: i16 = r.try_get(2)?;
        let project: String = r.try_get(3)?;
        let workspace: String = r.try_get(4)?;
        let job_id: i64 = r.try_get(5)?;
        let last_job_id: i64 = r.try_get(6)?;
        let (seq, tag) = (seq as u64, tag as u64);
        let op = if s.feed.has_own(seq, tag) {
            // applied as registered: nothing to read back
            IndexOp::None
        } else {
            match k {
                kind::JOB => match r.try_get::<_, Option<i64>>(7)? {
                    Some(_) => IndexOp::Upsert {
                        project,
                        workspace,
                        row: read_back_row(r, 7)?,
                    },
                    None => IndexOp::Remove {
                        project,
                        workspace,
                        job_id,
                    },
                },
                kind::REMOVED => IndexOp::Remove {
                    project,
                    workspace,
                    job_id,
                },
                kind::IMPORT => IndexOp::Bulk {
                    rows: imported_rows(c, &project, job_id, last_job_id)?,
                    project,
                },
                _ => IndexOp::None,
            }
        };
        entries.push(Tailed { seq, tag, op });
    }
    let applied = s.feed.apply_tailed(entries);
    if applied.foreign > 0 {
        let hooks: Vec<_> = s.hooks.lock().clone();
        for h in hooks {
            h();
        }
    }
    Ok(if applied.gap {
        Step::Gap
    } else if full {
        Step::More
    } else {
        Step::Done
    })
}

fn read_back_row(r: &postgres::Row, at: usize) -> Result<Row> {
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

/// The list rows of an import's jobs that still exist, as they are now.
fn imported_rows(
    c: &mut Client,
    project: &str,
    first: i64,
    last: i64,
) -> Result<Vec<(String, Row)>> {
    c.query(
        &format!(
            "SELECT j.workspace_id, {} {} WHERE j.project_id = $1 AND j.job_id BETWEEN $2 AND $3 ORDER BY j.job_id",
            super::ROW_COLUMNS,
            super::ROW_FROM
        ),
        &[&project, &first, &last],
    )?
    .iter()
    .map(|r| Ok((r.try_get(0)?, read_back_row(r, 1)?)))
    .collect()
}

/// Deletes entries older than [`KEEP_MS`] beyond the newest [`KEEP_ENTRIES`].
fn prune(c: &mut Client) -> Result<u64> {
    Ok(c.execute(
        "DELETE FROM change_log
         WHERE seq < (SELECT MAX(seq) FROM change_log) - $1
           AND committed_at < (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT - $2",
        &[&KEEP_ENTRIES, &KEEP_MS],
    )?)
}

impl Shared {
    /// The log's head (coalesced, see [`HeadReads`]).
    pub(crate) fn head(&self) -> Result<u64> {
        self.heads.read(&self.config)
    }
}
