//! trainyard's in-memory job-list index: the exact answer of `list.md` in O(log n) time at
//! millions of jobs.
//!
//! The store stays the source of truth; the server rebuilds this index from it at start and
//! applies every committed write to it (under the store's write lock, so the index sees writes
//! in commit order). Answers are identical to a plain SQL evaluation of `list.md` on the same
//! data; `tests/` and the server's differential tests check that.
//!
//! # Layout
//! Jobs are grouped by scope (project, workspace), since every query is scoped. Per scope:
//! - `rows`: one [`Row`] per job (the job and its latest version), addressed by slot;
//! - for each of the 7 sort keys, an order-statistic sequence of all slots (`all`) and one per
//!   status (`by_status`), ordered by (key, `job_id`): a status filter over a few codes is a
//!   k-way selection over those partitions, O(m² log² n) comparisons for m codes;
//! - `live`: rows whose duration grows (RUNNING/KILLING with a start time); they are kept out of
//!   the `duration` sequences and merged in at query time with `now - start_time`, so a running
//!   job sorts by its current duration;
//! - a search arena of case-folded names scanned with SIMD `memmem` for `search_content`.
//!
//! Search results (a set of slots) are paged either by sorting the matches (few matches) or by
//! walking the global order and keeping matches (many matches), whichever is cheaper.

mod search;
mod seq;

use search::SearchArena;
use seq::OrderedSeq;
use std::cmp::Ordering;
use std::collections::HashMap;
use trainyard_api::list::{JobListQuery, JobRow, Order, SortKey};
use trainyard_api::status::JobStatus;
use trainyard_api::text::search_fold;

/// One job as the list shows it: the job and its latest version (`list.md` "Response").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Job id.
    pub job_id: i64,
    /// Job name (NFC).
    pub job_name: String,
    /// Job description.
    pub job_desc: String,
    /// Latest version id.
    pub version_id: i64,
    /// Latest version's status.
    pub status: JobStatus,
    /// Latest version's creation time, epoch ms.
    pub create_time: i64,
    /// Latest version's start time, epoch ms (entering RUNNING).
    pub start_time: Option<i64>,
    /// Latest version's stored duration in ms (frozen at the end; 0 before start). Ignored while
    /// the row is live (see [`Row::is_live`]).
    pub duration: i64,
    /// Versions that exist.
    pub version_count: i64,
    /// Latest version's engine family.
    pub engine_type: i64,
}

impl Row {
    /// True while the duration grows: status RUNNING or KILLING with a start time.
    pub fn is_live(&self) -> bool {
        self.status.is_live() && self.start_time.is_some()
    }

    /// The duration the row shows at `now_ms`: `now - start_time` while live, else the stored
    /// value; never negative.
    pub fn duration_at(&self, now_ms: i64) -> i64 {
        match self.start_time {
            Some(s) if self.status.is_live() => now_ms.saturating_sub(s).max(0),
            _ => self.duration.max(0),
        }
    }

    /// The wire row at `now_ms`.
    pub fn to_wire(&self, now_ms: i64) -> JobRow {
        JobRow {
            job_id: self.job_id,
            job_name: self.job_name.clone(),
            version_id: self.version_id,
            status: self.status,
            create_time: self.create_time,
            duration: self.duration_at(now_ms),
            job_desc: self.job_desc.clone(),
            version_count: self.version_count,
            engine_type: self.engine_type,
        }
    }
}

/// The total order of `list.md` "Semantics" 5 (ascending): the key, then `job_id`.
/// String keys compare by code point (UTF-8 bytes), case-sensitively.
pub fn compare(a: &Row, b: &Row, key: SortKey, now_ms: i64) -> Ordering {
    let o = match key {
        SortKey::JobName => a.job_name.as_bytes().cmp(b.job_name.as_bytes()),
        SortKey::JobDesc => a.job_desc.as_bytes().cmp(b.job_desc.as_bytes()),
        SortKey::Status => a.status.code().cmp(&b.status.code()),
        SortKey::Duration => a.duration_at(now_ms).cmp(&b.duration_at(now_ms)),
        SortKey::CreateTime => a.create_time.cmp(&b.create_time),
        SortKey::VersionCount => a.version_count.cmp(&b.version_count),
        SortKey::EngineType => a.engine_type.cmp(&b.engine_type),
    };
    o.then(a.job_id.cmp(&b.job_id))
}

/// A page of the list: the filtered count and the rows of the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    /// Jobs passing the filters (`job_total_count`).
    pub total: u64,
    /// The page's rows, in order, with durations at the query's `now`.
    pub rows: Vec<JobRow>,
}

/// Jobs per status, indexed by status code (0–22): the counts beside a status filter.
pub type StatusCounts = [u64; STATUSES];

/// The index over every scope (see crate docs).
#[derive(Debug, Default)]
pub struct ListIndex {
    scopes: HashMap<(String, String), Scope>,
    projects: HashMap<String, u64>,
}

impl ListIndex {
    /// An empty index.
    pub fn new() -> ListIndex {
        ListIndex::default()
    }

    /// Inserts the job's row, or replaces it if the job is already indexed in this scope.
    pub fn upsert(&mut self, project: &str, workspace: &str, row: Row) {
        let scope = self
            .scopes
            .entry((project.to_owned(), workspace.to_owned()))
            .or_default();
        if !scope.upsert(row) {
            *self.projects.entry(project.to_owned()).or_default() += 1;
        }
    }

    /// Removes a job; returns false if it was not indexed in this scope.
    pub fn remove(&mut self, project: &str, workspace: &str, job_id: i64) -> bool {
        let key = (project.to_owned(), workspace.to_owned());
        let Some(scope) = self.scopes.get_mut(&key) else {
            return false;
        };
        if !scope.remove_job(job_id) {
            return false;
        }
        if scope.len == 0 {
            self.scopes.remove(&key);
        }
        if let Some(n) = self.projects.get_mut(project) {
            *n = n.saturating_sub(1);
        }
        true
    }

    /// Inserts many new jobs of one scope at once (history import, start-up load): the batch is
    /// sorted once per key and merged into the sequences in linear time. Jobs already indexed
    /// are replaced one by one.
    pub fn bulk_insert(&mut self, project: &str, workspace: &str, rows: Vec<Row>) {
        let scope = self
            .scopes
            .entry((project.to_owned(), workspace.to_owned()))
            .or_default();
        let added = scope.bulk_insert(rows);
        *self.projects.entry(project.to_owned()).or_default() += added;
    }

    /// The indexed row of a job.
    pub fn get(&self, project: &str, workspace: &str, job_id: i64) -> Option<&Row> {
        let scope = self
            .scopes
            .get(&(project.to_owned(), workspace.to_owned()))?;
        scope.by_id.get(&job_id).map(|&s| &scope.rows[s as usize])
    }

    /// Jobs of a project in all its workspaces (for `job_count_limit`).
    pub fn project_job_count(&self, project: &str) -> u64 {
        self.projects.get(project).copied().unwrap_or(0)
    }

    /// Jobs indexed, all projects and workspaces.
    pub fn len(&self) -> usize {
        self.scopes.values().map(|s| s.len).sum()
    }

    /// The (project, workspace) scopes that hold jobs, sorted.
    pub fn scopes(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self.scopes.keys().cloned().collect();
        v.sort();
        v
    }

    /// True when no job is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Jobs by the status code (0–22) of their latest version, all projects (for metrics).
    pub fn status_counts(&self) -> [u64; STATUSES] {
        let mut out = [0u64; STATUSES];
        for scope in self.scopes.values() {
            for (code, seqs) in scope.by_status.iter().enumerate() {
                if let Some(n) = out.get_mut(code) {
                    *n += seqs[0].len() as u64;
                }
            }
        }
        out
    }

    /// Answers a list query of `project` at time `now_ms` (`list.md` "Semantics").
    pub fn query(&self, project: &str, q: &JobListQuery, now_ms: i64) -> ListPage {
        match self
            .scopes
            .get(&(project.to_owned(), q.workspace_id.as_str().to_owned()))
        {
            Some(scope) => scope.query(q, now_ms, None),
            None => ListPage {
                total: 0,
                rows: Vec::new(),
            },
        }
    }

    /// [`ListIndex::query`], plus the jobs of each status that pass every filter but the status
    /// one: the scope's jobs whose name matches `q.search_content` (all jobs without a search),
    /// counted per status (what the web console shows beside each status of its filter).
    /// Without a search the counts are the per-status partition sizes, O(1) each; with one
    /// they come from the same name scan that answers the search.
    pub fn query_with_counts(
        &self,
        project: &str,
        q: &JobListQuery,
        now_ms: i64,
    ) -> (ListPage, StatusCounts) {
        let mut counts = [0u64; STATUSES];
        let page = match self
            .scopes
            .get(&(project.to_owned(), q.workspace_id.as_str().to_owned()))
        {
            Some(scope) => scope.query(q, now_ms, Some(&mut counts)),
            None => ListPage {
                total: 0,
                rows: Vec::new(),
            },
        };
        (page, counts)
    }

    /// The projects that have jobs, in no particular order.
    pub fn projects(&self) -> impl Iterator<Item = &str> {
        self.projects
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(p, _)| p.as_str())
    }
}

/// A change to the index that one committed store write makes (the store returns it with the
/// write, see `trainyard_store::Committed`), applied with [`ListIndex::apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexOp {
    /// Nothing changes in the list (e.g. a status change of a version that is not the latest).
    None,
    /// Insert or replace a job's row.
    Upsert {
        /// Project.
        project: String,
        /// Workspace.
        workspace: String,
        /// The row.
        row: Row,
    },
    /// Remove a job.
    Remove {
        /// Project.
        project: String,
        /// Workspace.
        workspace: String,
        /// The job.
        job_id: i64,
    },
    /// Many new jobs of one project (history import), each with its workspace, in id order.
    Bulk {
        /// Project.
        project: String,
        /// (workspace, row) in id order.
        rows: Vec<(String, Row)>,
    },
}

impl ListIndex {
    /// Applies one committed change.
    pub fn apply(&mut self, op: IndexOp) {
        match op {
            IndexOp::None => {}
            IndexOp::Upsert {
                project,
                workspace,
                row,
            } => self.upsert(&project, &workspace, row),
            IndexOp::Remove {
                project,
                workspace,
                job_id,
            } => {
                self.remove(&project, &workspace, job_id);
            }
            IndexOp::Bulk { project, rows } => {
                let mut by_ws: Vec<(String, Vec<Row>)> = Vec::new();
                for (ws, row) in rows {
                    match by_ws.iter_mut().find(|(w, _)| *w == ws) {
                        Some((_, v)) => v.push(row),
                        None => by_ws.push((ws, vec![row])),
                    }
                }
                for (ws, rows) in by_ws {
                    self.bulk_insert(&project, &ws, rows);
                }
            }
        }
    }
}

const KEYS: usize = 7;
/// Status codes 0–22.
pub const STATUSES: usize = 23;
/// Status filters with more codes than this walk the global order instead of merging partitions.
const MAX_MERGED_PARTITIONS: u32 = 6;

#[derive(Debug, Default)]
struct Scope {
    rows: Vec<Row>,
    alive: Vec<bool>,
    free: Vec<u32>,
    by_id: HashMap<i64, u32>,
    all: [OrderedSeq; KEYS],
    by_status: Vec<[OrderedSeq; KEYS]>,
    live: Vec<u32>,
    arena: SearchArena,
    /// Status code of each slot's row (dense: search filters and counts read it per hit).
    status_of: Vec<u8>,
    len: usize,
}

/// A sorted source of slots for selection.
enum Src<'a> {
    Seq(&'a OrderedSeq),
    Vec(&'a [u32]),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::Seq(s) => s.len(),
            Src::Vec(v) => v.len(),
        }
    }
    fn get(&self, i: usize) -> Option<u32> {
        match self {
            Src::Seq(s) => s.get(i),
            Src::Vec(v) => v.get(i).copied(),
        }
    }
    fn lower_bound(&self, probe: impl Fn(u32) -> Ordering) -> usize {
        match self {
            Src::Seq(s) => s.lower_bound(probe),
            Src::Vec(v) => v.partition_point(|&x| probe(x) == Ordering::Less),
        }
    }
    fn iter_from(&self, i: usize) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Src::Seq(s) => Box::new(s.iter_from(i)),
            Src::Vec(v) => Box::new(v[i.min(v.len())..].iter().copied()),
        }
    }
    fn iter_rev(&self) -> Box<dyn Iterator<Item = u32> + '_> {
        match self {
            Src::Seq(s) => Box::new(s.iter_rev()),
            Src::Vec(v) => Box::new(v.iter().rev().copied()),
        }
    }
}

impl Scope {
    fn cmp_stored(rows: &[Row], key: SortKey) -> impl Fn(u32, u32) -> Ordering + '_ {
        // stored sequences never hold live rows under `duration`, so `now` does not matter
        move |a, b| compare(&rows[a as usize], &rows[b as usize], key, 0)
    }

    fn in_duration_seq(row: &Row, key: SortKey) -> bool {
        key != SortKey::Duration || !row.is_live()
    }

    fn partitions(&mut self) -> &mut Vec<[OrderedSeq; KEYS]> {
        if self.by_status.is_empty() {
            self.by_status = (0..STATUSES).map(|_| Default::default()).collect();
        }
        &mut self.by_status
    }

    fn alloc(&mut self, row: Row) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => {
                self.rows[s as usize] = row;
                self.alive[s as usize] = true;
                s
            }
            None => {
                self.rows.push(row);
                self.alive.push(true);
                (self.rows.len() - 1) as u32
            }
        };
        let r = &self.rows[slot as usize];
        if self.status_of.len() <= slot as usize {
            self.status_of.resize(slot as usize + 1, 0);
        }
        self.status_of[slot as usize] = r.status.code();
        self.by_id.insert(r.job_id, slot);
        let folded = search_fold(&r.job_name);
        self.arena.push(slot, &folded);
        self.len += 1;
        slot
    }

    fn link(&mut self, slot: u32) {
        self.partitions();
        let row = &self.rows[slot as usize];
        let st = row.status.code() as usize;
        for key in SortKey::ALL {
            if Self::in_duration_seq(row, key) {
                let cmp = Self::cmp_stored(&self.rows, key);
                self.all[key.index()].insert(slot, &cmp);
                self.by_status[st][key.index()].insert(slot, &cmp);
            }
        }
        if row.is_live() {
            self.live.push(slot);
        }
    }

    fn unlink(&mut self, slot: u32) {
        let row = &self.rows[slot as usize];
        let st = row.status.code() as usize;
        for key in SortKey::ALL {
            if Self::in_duration_seq(row, key) {
                let cmp = Self::cmp_stored(&self.rows, key);
                self.all[key.index()].remove(slot, &cmp);
                self.by_status[st][key.index()].remove(slot, &cmp);
            }
        }
        if let Some(p) = self.live.iter().position(|&s| s == slot) {
            self.live.swap_remove(p);
        }
    }

    /// Returns true if the job already existed (replaced).
    fn upsert(&mut self, row: Row) -> bool {
        if let Some(&slot) = self.by_id.get(&row.job_id) {
            self.unlink(slot);
            let name_changed = self.rows[slot as usize].job_name != row.job_name;
            if name_changed {
                self.arena.remove(slot);
                self.arena.push(slot, &search_fold(&row.job_name));
            }
            self.status_of[slot as usize] = row.status.code();
            self.rows[slot as usize] = row;
            self.link(slot);
            true
        } else {
            let slot = self.alloc(row);
            self.link(slot);
            false
        }
    }

    fn remove_job(&mut self, job_id: i64) -> bool {
        let Some(slot) = self.by_id.remove(&job_id) else {
            return false;
        };
        self.unlink(slot);
        self.arena.remove(slot);
        self.alive[slot as usize] = false;
        self.free.push(slot);
        self.len -= 1;
        true
    }

    fn bulk_insert(&mut self, rows: Vec<Row>) -> u64 {
        let mut fresh = Vec::with_capacity(rows.len());
        let mut added = 0u64;
        for row in rows {
            if self.by_id.contains_key(&row.job_id) {
                self.upsert(row);
            } else {
                fresh.push(self.alloc(row));
                added += 1;
            }
        }
        if fresh.len() < 64 {
            for slot in fresh {
                self.link(slot);
            }
            return added;
        }
        self.partitions();
        // Merging compares rows in slot order, i.e. at random: read each key once, in slot
        // order, into dense per-slot arrays, and merge over those (rows are ~10x larger).
        let n_slots = self.rows.len();
        let mut status_of: Vec<u8> = Vec::with_capacity(n_slots);
        let mut id_of: Vec<i64> = Vec::with_capacity(n_slots);
        let merging = self.len > fresh.len();
        let mut dense: Vec<Vec<u64>> = (0..KEYS)
            .map(|_| Vec::with_capacity(if merging { n_slots } else { 0 }))
            .collect();
        // one pass over the rows (they are large: one pass per key would stream them 7 times)
        for r in &self.rows {
            status_of.push(r.status.code());
            id_of.push(r.job_id);
            if merging {
                for key in SortKey::ALL {
                    dense[key.index()].push(dense_key(r, key));
                }
            }
        }
        for key in SortKey::ALL {
            let mut batch: Vec<u32> = fresh
                .iter()
                .copied()
                .filter(|&s| Self::in_duration_seq(&self.rows[s as usize], key))
                .collect();
            sort_slots(&self.rows, &mut batch, key);
            let old = self.all[key.index()].to_vec();
            let merged = if old.is_empty() {
                batch
            } else {
                let rows = &self.rows;
                let dense = &dense[key.index()];
                let exact = matches!(key, SortKey::JobName | SortKey::JobDesc);
                let cmp = |a: u32, b: u32| {
                    let (a, b) = (a as usize, b as usize);
                    match dense[a].cmp(&dense[b]) {
                        // a string prefix tie: compare the strings (which ends with job_id)
                        Ordering::Equal if exact => compare(&rows[a], &rows[b], key, 0),
                        Ordering::Equal => id_of[a].cmp(&id_of[b]),
                        o => o,
                    }
                };
                merge_sorted(&old, &batch, &cmp)
            };
            let mut parts: Vec<Vec<u32>> = vec![Vec::new(); STATUSES];
            for &s in &merged {
                parts[usize::from(status_of[s as usize])].push(s);
            }
            for (st, p) in parts.into_iter().enumerate() {
                self.by_status[st][key.index()] = OrderedSeq::from_sorted(p);
            }
            self.all[key.index()] = OrderedSeq::from_sorted(merged);
        }
        for &s in &fresh {
            if self.rows[s as usize].is_live() {
                self.live.push(s);
            }
        }
        added
    }

    /// Answers `q`; with `counts`, also fills the per-status counts of the jobs matching the
    /// search (see [`ListIndex::query_with_counts`]).
    fn query(&self, q: &JobListQuery, now: i64, counts: Option<&mut StatusCounts>) -> ListPage {
        let key = q.sort_by;
        let desc = q.order == Order::Desc;
        let rows = &self.rows;
        let cmp = |a: u32, b: u32| compare(&rows[a as usize], &rows[b as usize], key, now);
        let offset = q.offset();
        let per_page = u64::from(q.per_page);
        let status = q.status;

        // live rows, sorted by their duration at `now` (only the duration key needs them apart)
        let live_sorted: Vec<u32> = if key == SortKey::Duration {
            let mut v: Vec<u32> = self
                .live
                .iter()
                .copied()
                .filter(|&s| status.contains(rows[s as usize].status))
                .collect();
            v.sort_unstable_by(|&a, &b| cmp(a, b));
            v
        } else {
            Vec::new()
        };

        if !q.search_content.is_empty() {
            let needle = search_fold(&q.search_content);
            let mut matched: Vec<u32> = Vec::new();
            let status_of = &self.status_of;
            match counts {
                Some(counts) => self.arena.for_each_match(&needle, |s| {
                    let code = status_of[s as usize];
                    counts[usize::from(code)] += 1;
                    if status.contains_code(code) {
                        matched.push(s);
                    }
                }),
                // no per-hit row access: rows are large and the hits many
                None if status.is_all() => self.arena.for_each_match(&needle, |s| matched.push(s)),
                None => self.arena.for_each_match(&needle, |s| {
                    if status.contains_code(status_of[s as usize]) {
                        matched.push(s);
                    }
                }),
            }
            let total = matched.len() as u64;
            let page = self.page_of_set(matched, &live_sorted, key, desc, offset, per_page, &cmp);
            return self.wire(total, page, now);
        }
        if let Some(counts) = counts {
            for (code, n) in counts.iter_mut().enumerate() {
                *n = self
                    .by_status
                    .get(code)
                    .map_or(0, |p| p[SortKey::JobName.index()].len() as u64);
            }
        }
        let slots = if status.is_all() || status.len() > MAX_MERGED_PARTITIONS {
            let global = &self.all[key.index()];
            let mut sources = vec![Src::Seq(global)];
            if !live_sorted.is_empty() {
                sources.push(Src::Vec(&live_sorted));
            }
            if status.is_all() {
                let total = sources.iter().map(|s| s.len() as u64).sum::<u64>();
                (
                    total,
                    select_page(&sources, total, desc, offset, per_page, &cmp),
                )
            } else {
                let keep = |s: u32| status.contains(rows[s as usize].status);
                let total: u64 = status
                    .iter()
                    .map(|st| {
                        self.by_status
                            .get(st.code() as usize)
                            .map_or(0, |p| p[SortKey::JobName.index()].len() as u64)
                    })
                    .sum();
                (total, walk(&sources, desc, offset, per_page, keep, &cmp))
            }
        } else {
            let mut sources: Vec<Src<'_>> = status
                .iter()
                .filter_map(|st| self.by_status.get(st.code() as usize))
                .map(|p| Src::Seq(&p[key.index()]))
                .filter(|s| s.len() > 0)
                .collect();
            if !live_sorted.is_empty() {
                sources.push(Src::Vec(&live_sorted));
            }
            let total = sources.iter().map(|s| s.len() as u64).sum::<u64>();
            (
                total,
                select_page(&sources, total, desc, offset, per_page, &cmp),
            )
        };
        self.wire(slots.0, slots.1, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn page_of_set(
        &self,
        mut matched: Vec<u32>,
        live_sorted: &[u32],
        key: SortKey,
        desc: bool,
        offset: u64,
        per_page: u64,
        cmp: &impl Fn(u32, u32) -> Ordering,
    ) -> Vec<u32> {
        let m = matched.len() as u64;
        if offset >= m {
            return Vec::new();
        }
        let n = self.len.max(1) as u64;
        // cost of walking the global order until the page is full vs sorting the matches
        let walk_steps = ((offset + per_page).saturating_mul(n) / m.max(1)).min(n);
        let log_m = 64 - m.leading_zeros() as u64;
        let sort_cost = m * log_m.max(1) * 2;
        if sort_cost <= walk_steps {
            if desc {
                matched.sort_unstable_by(|&a, &b| cmp(b, a));
            } else {
                matched.sort_unstable_by(|&a, &b| cmp(a, b));
            }
            let end = (offset + per_page).min(m);
            return matched[offset as usize..end as usize].to_vec();
        }
        let mut bits = vec![0u64; self.rows.len().div_ceil(64)];
        for &s in &matched {
            bits[s as usize / 64] |= 1 << (s % 64);
        }
        let keep = |s: u32| bits[s as usize / 64] & (1 << (s % 64)) != 0;
        let global = &self.all[key.index()];
        let mut sources = vec![Src::Seq(global)];
        if !live_sorted.is_empty() {
            sources.push(Src::Vec(live_sorted));
        }
        walk(&sources, desc, offset, per_page, keep, cmp)
    }

    fn wire(&self, total: u64, slots: Vec<u32>, now: i64) -> ListPage {
        ListPage {
            total,
            rows: slots
                .into_iter()
                .map(|s| self.rows[s as usize].to_wire(now))
                .collect(),
        }
    }
}

/// An order-preserving 64-bit image of a row's stored key (`now` = 0, as in the stored
/// sequences): for the integer keys, the value with its sign bit flipped (exact: equal images
/// mean equal keys); for the string keys, the first 8 bytes big-endian, zero-padded (a prefix:
/// `image(a) < image(b)` implies `a < b`, equal images need the full comparison).
fn dense_key(r: &Row, key: SortKey) -> u64 {
    let int = |v: i64| (v as u64) ^ (1 << 63);
    let prefix = |b: &[u8]| {
        let mut p = [0u8; 8];
        let n = b.len().min(8);
        p[..n].copy_from_slice(&b[..n]);
        u64::from_be_bytes(p)
    };
    match key {
        SortKey::JobName => prefix(r.job_name.as_bytes()),
        SortKey::JobDesc => prefix(r.job_desc.as_bytes()),
        SortKey::Status => int(i64::from(r.status.code())),
        SortKey::Duration => int(r.duration_at(0)),
        SortKey::CreateTime => int(r.create_time),
        SortKey::VersionCount => int(r.version_count),
        SortKey::EngineType => int(r.engine_type),
    }
}

/// Sorts slots by (key, job_id) ascending, comparing cached keys (cache-friendly for large batches).
fn sort_slots(rows: &[Row], slots: &mut [u32], key: SortKey) {
    let int_key = |r: &Row| -> i64 {
        match key {
            SortKey::Status => i64::from(r.status.code()),
            SortKey::Duration => r.duration_at(0),
            SortKey::CreateTime => r.create_time,
            SortKey::VersionCount => r.version_count,
            SortKey::EngineType => r.engine_type,
            SortKey::JobName | SortKey::JobDesc => 0,
        }
    };
    match key {
        SortKey::JobName | SortKey::JobDesc => {
            let mut v: Vec<(&[u8], i64, u32)> = slots
                .iter()
                .map(|&s| {
                    let r = &rows[s as usize];
                    let k = if key == SortKey::JobName {
                        r.job_name.as_bytes()
                    } else {
                        r.job_desc.as_bytes()
                    };
                    (k, r.job_id, s)
                })
                .collect();
            v.sort_unstable();
            for (dst, (_, _, s)) in slots.iter_mut().zip(v) {
                *dst = s;
            }
        }
        _ => {
            let mut v: Vec<(i64, i64, u32)> = slots
                .iter()
                .map(|&s| {
                    let r = &rows[s as usize];
                    (int_key(r), r.job_id, s)
                })
                .collect();
            v.sort_unstable();
            for (dst, (_, _, s)) in slots.iter_mut().zip(v) {
                *dst = s;
            }
        }
    }
}

fn merge_sorted(a: &[u32], b: &[u32], cmp: &impl Fn(u32, u32) -> Ordering) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if cmp(a[i], b[j]) == Ordering::Less {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The rows at ranks `offset..offset+per_page` in the requested direction of the union of
/// `sources` (each sorted ascending, pairwise disjoint) of `total` slots.
fn select_page(
    sources: &[Src<'_>],
    total: u64,
    desc: bool,
    offset: u64,
    per_page: u64,
    cmp: &impl Fn(u32, u32) -> Ordering,
) -> Vec<u32> {
    if offset >= total {
        return Vec::new();
    }
    let count = per_page.min(total - offset);
    let lo = if desc { total - offset - count } else { offset };
    let mut out = select_range(sources, lo, count, cmp);
    if desc {
        out.reverse();
    }
    out
}

/// `count` slots from ascending rank `lo` of the union of the sources.
fn select_range(
    sources: &[Src<'_>],
    lo: u64,
    count: u64,
    cmp: &impl Fn(u32, u32) -> Ordering,
) -> Vec<u32> {
    if sources.len() == 1 {
        return sources[0]
            .iter_from(lo as usize)
            .take(count as usize)
            .collect();
    }
    // positions in every source of the first `lo` elements of the union
    let starts = rank_positions(sources, lo, cmp);
    let mut iters: Vec<std::iter::Peekable<Box<dyn Iterator<Item = u32> + '_>>> = sources
        .iter()
        .zip(&starts)
        .map(|(s, &p)| s.iter_from(p).peekable())
        .collect();
    let mut out = Vec::with_capacity(count as usize);
    while (out.len() as u64) < count {
        let mut best: Option<(usize, u32)> = None;
        for (i, it) in iters.iter_mut().enumerate() {
            if let Some(&v) = it.peek()
                && best.is_none_or(|(_, b)| cmp(v, b) == Ordering::Less)
            {
                best = Some((i, v));
            }
        }
        let Some((i, v)) = best else { break };
        iters[i].next();
        out.push(v);
    }
    out
}

/// For each source, how many of its elements are among the `lo` smallest of the union.
fn rank_positions(sources: &[Src<'_>], lo: u64, cmp: &impl Fn(u32, u32) -> Ordering) -> Vec<usize> {
    let union_rank = |x: u32, own: usize, own_pos: usize| -> u64 {
        sources
            .iter()
            .enumerate()
            .map(|(j, s)| {
                if j == own {
                    own_pos as u64
                } else {
                    s.lower_bound(|y| cmp(y, x)) as u64
                }
            })
            .sum()
    };
    for (i, s) in sources.iter().enumerate() {
        // find p with union_rank(s[p]) == lo; union_rank is strictly increasing in p
        let (mut a, mut b) = (0usize, s.len());
        while a < b {
            let mid = (a + b) / 2;
            let Some(x) = s.get(mid) else { break };
            let r = union_rank(x, i, mid);
            match r.cmp(&lo) {
                Ordering::Equal => {
                    return sources
                        .iter()
                        .enumerate()
                        .map(|(j, t)| {
                            if j == i {
                                mid
                            } else {
                                t.lower_bound(|y| cmp(y, x))
                            }
                        })
                        .collect();
                }
                Ordering::Less => a = mid + 1,
                Ordering::Greater => b = mid,
            }
        }
    }
    // lo == total: every source is exhausted
    sources.iter().map(Src::len).collect()
}

/// Walks the union of the sources in order (ascending or descending), keeps the slots for which
/// `keep` holds, skips `offset` of them and returns the next `per_page`.
fn walk(
    sources: &[Src<'_>],
    desc: bool,
    offset: u64,
    per_page: u64,
    keep: impl Fn(u32) -> bool,
    cmp: &impl Fn(u32, u32) -> Ordering,
) -> Vec<u32> {
    let mut iters: Vec<std::iter::Peekable<Box<dyn Iterator<Item = u32> + '_>>> = sources
        .iter()
        .map(|s| if desc { s.iter_rev() } else { s.iter_from(0) })
        .map(Iterator::peekable)
        .collect();
    let mut skipped = 0u64;
    let mut out = Vec::new();
    loop {
        let mut best: Option<(usize, u32)> = None;
        for (i, it) in iters.iter_mut().enumerate() {
            if let Some(&v) = it.peek() {
                let better = match best {
                    None => true,
                    Some((_, b)) => (cmp(v, b) == Ordering::Less) != desc,
                };
                if better {
                    best = Some((i, v));
                }
            }
        }
        let Some((i, v)) = best else { break };
        iters[i].next();
        if !keep(v) {
            continue;
        }
        if skipped < offset {
            skipped += 1;
            continue;
        }
        out.push(v);
        if out.len() as u64 >= per_page {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests;
