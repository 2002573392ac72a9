//! Several stores on one PostgreSQL database, as several replicas use it (issue 12 §3, §4):
//! every store's index follows every store's writes through the change log, the tailer never
//! skips a change that became visible late, a pruned log reloads the index, and the scheduler
//! lease fences an old leader's status writes. Expected lists come from `list_jobs_sql` on the
//! same database. Needs `TRAINYARD_TEST_PG_URL` (see `postgres.rs`).

use crate::conformance::{assert_index_matches, hist, new_job, new_version};
use crate::postgres::{Schema, pg_url};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use trainyard_api::list::{JobListQuery, Order, SortKey};
use trainyard_api::params::WorkspaceId;
use trainyard_api::status::JobStatus;
use trainyard_store::{Location, StatusUpdate, Store, StoreError};

fn schema(test: &str) -> Option<(Schema, Location)> {
    let Some(admin) = pg_url() else {
        eprintln!("{test}: PostgreSQL not available, not run");
        return None;
    };
    let schema = Schema::create(&admin);
    let location = Location::Postgres(schema.url.clone());
    Some((schema, location))
}

/// A tiny deterministic generator (the tests' random interleavings).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn every_job(store: &Store, project: &str, ws: &str) -> Vec<i64> {
    let q = JobListQuery {
        per_page: 1000,
        sort_by: SortKey::CreateTime,
        order: Order::Asc,
        workspace_id: WorkspaceId::parse(ws).unwrap(),
        ..JobListQuery::default()
    };
    store
        .list_jobs_sql(project, &q, 0)
        .unwrap()
        .1
        .into_iter()
        .map(|r| r.job_id)
        .collect()
}

/// One random list-changing write on `store` (create, version, status, description,
/// delete, import). With several writers at once, a job picked may be gone (or its version
/// ended) by the time it is written: those refusals are expected.
fn random_write(store: &Store, rng: &mut Rng, n: &mut u64) {
    *n += 1;
    let ws = ["0", "w"][rng.below(2)];
    let jobs = every_job(store, "p", ws);
    let picked = jobs.get(rng.below(jobs.len().max(1))).copied();
    let result: Result<(), StoreError> = match (rng.below(7), picked) {
        (0 | 1, _) => store
            .create_job(
                &new_job(&format!("j{n}-{}", rng.next() % 1000), ws),
                &new_version(*n as i64),
                100_000,
            )
            .map(drop),
        (2, Some(job_id)) => store.list_versions("p", job_id).and_then(|(_, vs)| {
            store
                .create_version("p", job_id, vs[0].version_id, &new_version(*n as i64))
                .map(drop)
        }),
        (3, Some(job_id)) => store.list_versions("p", job_id).and_then(|(_, vs)| {
            let v = &vs[rng.below(vs.len())];
            let to = [
                JobStatus::ImageCreating,
                JobStatus::Running,
                JobStatus::Canceled,
            ][rng.below(3)];
            let mut up = StatusUpdate::to(to);
            if to == JobStatus::Running {
                up.start_time = Some(*n as i64);
            }
            store.update_status(v.version_id, &up).map(drop)
        }),
        (4, Some(job_id)) => store
            .update_job_desc("p", job_id, &format!("d{n}"))
            .map(drop),
        (5, Some(job_id)) => store.delete_job("p", job_id).map(drop),
        (6, _) => {
            let recs: Vec<_> = (0..1 + rng.below(4))
                .map(|i| hist(&format!("h{n}-{i}"), ws, 10, *n as i64, None, None))
                .collect();
            store.import("p", &recs, 100_000).map(drop)
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) | Err(StoreError::NotFound | StoreError::Conflict(_)) => {}
        Err(e) => panic!("{e:?}"),
    }
}

/// A write on one store is in another store's index as soon as that store's `sync_index`
/// returns: 300 random writes on A, each followed by B's sync and a comparison of B's index
/// with `list_jobs_sql` (every sort key, both workspaces, the project's job count).
#[test]
fn writes_on_one_store_are_in_another_store_index_after_sync() {
    let Some((_schema, location)) = schema("writes_on_one_store_are_in_another") else {
        return;
    };
    let a = Store::open(&location).unwrap();
    let b = Store::open(&location).unwrap();
    assert!(a.is_shared() && b.is_shared());
    b.load_index().unwrap();
    let mut rng = Rng(7);
    let mut n = 0;
    for i in 0..300 {
        // mostly on A, sometimes on B itself
        let writer = if i % 5 == 4 { &b } else { &a };
        random_write(writer, &mut rng, &mut n);
        b.sync_index().unwrap();
        assert_index_matches(&b, "p", &["0", "w"], 1000);
    }
    a.sync_index().unwrap();
    assert_index_matches(&a, "p", &["0", "w"], 1000);
    assert_eq!(a.index_position(), b.index_position());
}

/// The hazard of issue 12 §3: a later number becomes visible before an earlier one. Here two
/// raw transactions write change-log entries 3 and 4 by hand, and 4 commits first (the engine
/// itself never lets that happen: numbers are taken under the commit-order lock). A tailer that
/// read "everything after the last number I saw" would apply 4, then never see 3; ours waits
/// for 3 (the sync does not return, the index keeps the old description of job Y), and once 3
/// commits it applies both.
#[test]
fn tailer_waits_for_a_number_that_becomes_visible_late() {
    let Some((schema, location)) = schema("tailer_waits_for_a_number") else {
        return;
    };
    let a = Store::open(&location).unwrap();
    let (x, _) = a
        .create_job(&new_job("x", "0"), &new_version(1), 100)
        .unwrap();
    let (y, _) = a
        .create_job(&new_job("y", "0"), &new_version(2), 100)
        .unwrap();
    let b = Arc::new(Store::open(&location).unwrap());
    b.load_index().unwrap();
    let head = b.index_position();
    assert_eq!(head, 2);
    let mut t3 = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    let mut t4 = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    let entry = |c: &mut postgres::Transaction<'_>, seq: i64, job: i64, desc: &str| {
        c.execute(
            "UPDATE jobs SET job_desc = $1 WHERE job_id = $2",
            &[&desc, &job],
        )
        .unwrap();
        c.execute(
            "INSERT INTO change_log (seq, tag, kind, project_id, workspace_id, job_id, committed_at)
             VALUES ($1, 0, 1, 'p', '0', $2, 0)",
            &[&seq, &job],
        )
        .unwrap();
    };
    let mut tx3 = t3.transaction().unwrap();
    entry(&mut tx3, 3, x.job_id, "three");
    let mut tx4 = t4.transaction().unwrap();
    entry(&mut tx4, 4, y.job_id, "four");
    tx4.commit().unwrap();
    // B is told (a notification, as a real write sends)
    postgres::Client::connect(&schema.url, postgres::NoTls)
        .unwrap()
        .batch_execute(&format!(
            "NOTIFY \"trainyard_changes_{:08x}\"",
            lock_space(&schema.url) as u32
        ))
        .unwrap();
    let syncing = {
        let b = b.clone();
        std::thread::spawn(move || b.sync_index())
    };
    // the sync waits for 3; meanwhile nothing past 2 is applied
    let until = Instant::now() + Duration::from_millis(600);
    while Instant::now() < until {
        assert_eq!(
            b.index_position(),
            2,
            "the tailer moved past a missing number"
        );
        let row = b.index().read().get("p", "0", y.job_id).cloned().unwrap();
        assert_eq!(row.job_desc, "");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!syncing.is_finished());
    tx3.commit().unwrap();
    syncing.join().unwrap().unwrap();
    assert_eq!(b.index_position(), 4);
    let ix = b.index().read();
    assert_eq!(ix.get("p", "0", x.job_id).unwrap().job_desc, "three");
    assert_eq!(ix.get("p", "0", y.job_id).unwrap().job_desc, "four");
}

fn lock_space(url: &str) -> i32 {
    postgres::Client::connect(url, postgres::NoTls)
        .unwrap()
        .query_one(
            "SELECT hashtext(current_database() || '/' || current_schema())",
            &[],
        )
        .unwrap()
        .get(0)
}

/// Tries to make numbers visible out of order through the engine: 6 threads on 3 stores write
/// at random while some stores pause between numbering a write and committing it (the test
/// hook), and a fourth store tails throughout. Every number appears in order: the observer's
/// position only ever grows by the changes it applied, it ends at the head, and its index
/// equals `list_jobs_sql`.
#[test]
fn slow_commits_never_make_a_tailer_skip_a_change() {
    let Some((_schema, location)) = schema("slow_commits_never_make_a_tailer_skip") else {
        return;
    };
    let writers: Vec<Arc<Store>> = (0..3)
        .map(|i| {
            let s = Store::open(&location).unwrap();
            s.set_commit_delay(Duration::from_millis([0, 3, 11][i]));
            Arc::new(s)
        })
        .collect();
    let observer = Arc::new(Store::open(&location).unwrap());
    observer.load_index().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let max_seen = Arc::new(AtomicU64::new(0));
    // samples the observer's position: it never goes backwards
    let watcher = {
        let (o, stop, max_seen) = (observer.clone(), stop.clone(), max_seen.clone());
        std::thread::spawn(move || {
            let mut last = 0;
            while !stop.load(Ordering::Relaxed) {
                o.sync_index().unwrap();
                let p = o.index_position();
                assert!(p >= last, "position went back from {last} to {p}");
                last = p;
                max_seen.store(p, Ordering::Relaxed);
            }
        })
    };
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let store = writers[t % 3].clone();
            std::thread::spawn(move || {
                let mut rng = Rng(100 + t as u64);
                let mut n = t as u64 * 1_000_000;
                for _ in 0..40 {
                    random_write(&store, &mut rng, &mut n);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    observer.sync_index().unwrap();
    let head: i64 = {
        let Location::Postgres(url) = &location else {
            unreachable!()
        };
        postgres::Client::connect(url, postgres::NoTls)
            .unwrap()
            .query_one("SELECT MAX(seq) FROM change_log", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(observer.index_position(), head as u64);
    assert!(max_seen.load(Ordering::Relaxed) > 0);
    assert_index_matches(&observer, "p", &["0", "w"], 1000);
    // and the same as an index loaded from scratch
    let fresh = Store::open(&location).unwrap();
    fresh.load_index().unwrap();
    for ws in ["0", "w"] {
        let q = JobListQuery {
            per_page: 1000,
            sort_by: SortKey::JobName,
            workspace_id: WorkspaceId::parse(ws).unwrap(),
            ..JobListQuery::default()
        };
        assert_eq!(
            observer.index().read().query("p", &q, 1000),
            fresh.index().read().query("p", &q, 1000)
        );
    }
}

/// A store whose position is below the oldest entry kept (the log was pruned while it was
/// away) loads its index again instead of applying what is left.
#[test]
fn a_store_behind_a_pruned_log_loads_its_index_again() {
    let Some((schema, location)) = schema("a_store_behind_a_pruned_log") else {
        return;
    };
    let a = Store::open(&location).unwrap();
    a.create_job(&new_job("first", "0"), &new_version(1), 100)
        .unwrap();
    // B is opened (position 1) but tails only from its first sync
    let b = Store::open(&location).unwrap();
    let mut rng = Rng(3);
    let mut n = 0;
    for _ in 0..30 {
        random_write(&a, &mut rng, &mut n);
    }
    let mut c = postgres::Client::connect(&schema.url, postgres::NoTls).unwrap();
    let pruned = c
        .execute(
            "DELETE FROM change_log WHERE seq < (SELECT MAX(seq) FROM change_log) - 3",
            &[],
        )
        .unwrap();
    assert!(pruned > 20);
    b.sync_index().unwrap();
    assert_index_matches(&b, "p", &["0", "w"], 1000);
    assert_eq!(b.index_position(), a.index_position());
}

/// Changes written by another store call the subscribers (how a scheduler leader hears of
/// creates and stops on other replicas); the store's own writes do not.
#[test]
fn subscribers_hear_of_other_stores_writes() {
    let Some((_schema, location)) = schema("subscribers_hear_of_other_stores_writes") else {
        return;
    };
    let a = Store::open(&location).unwrap();
    let b = Store::open(&location).unwrap();
    let heard = Arc::new(AtomicU64::new(0));
    let h = heard.clone();
    b.subscribe_foreign_writes(Arc::new(move || {
        h.fetch_add(1, Ordering::Relaxed);
    }));
    b.load_index().unwrap();
    a.create_job(&new_job("a", "0"), &new_version(1), 100)
        .unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while heard.load(Ordering::Relaxed) == 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(heard.load(Ordering::Relaxed) >= 1);
    let before = heard.load(Ordering::Relaxed);
    b.create_job(&new_job("b", "0"), &new_version(2), 100)
        .unwrap();
    b.sync_index().unwrap();
    assert_eq!(heard.load(Ordering::Relaxed), before);
}

/// The scheduler lease: one leader at a time; another takes over only when the lease expired
/// (or was given up); the old leader's fenced status writes are refused and change nothing,
/// and its renewals fail.
#[test]
fn an_old_leader_status_writes_are_fenced() {
    let Some((_schema, location)) = schema("an_old_leader_status_writes_are_fenced") else {
        return;
    };
    let a = Store::open(&location).unwrap();
    let b = Store::open(&location).unwrap();
    let ttl = Duration::from_millis(400);
    let e1 = a.try_lead("a", ttl).unwrap().expect("no leader yet");
    assert_eq!(b.try_lead("b", ttl).unwrap(), None, "the lease is held");
    let (_, v) = a
        .create_job(&new_job("x", "0"), &new_version(1), 100)
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::ImageCreating);
    up.expect = Some(vec![JobStatus::Init]);
    up.fence = Some(e1);
    a.update_status(v.version_id, &up).unwrap();
    // A stalls (stops renewing); B takes over once the lease expired
    let until = Instant::now() + Duration::from_secs(10);
    let e2 = loop {
        if let Some(e) = b.try_lead("b", ttl).unwrap() {
            break e;
        }
        assert!(Instant::now() < until, "the lease never expired");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(e2, e1 + 1);
    assert_eq!(b.leader().unwrap().holder, "b");
    // A wakes up and writes as if it still led: refused, nothing changed
    let mut stale = StatusUpdate::to(JobStatus::SubmitTrying);
    stale.expect = Some(vec![JobStatus::ImageCreating]);
    stale.fence = Some(e1);
    match a.update_status(v.version_id, &stale) {
        Err(StoreError::Fenced { epoch, current }) => assert_eq!((epoch, current), (e1, e2)),
        other => panic!("a fenced write went through: {other:?}"),
    }
    assert_eq!(
        b.version_by_id(v.version_id).unwrap().1.status,
        JobStatus::ImageCreating
    );
    assert!(!a.renew_lead(e1, ttl).unwrap());
    // B's writes go through; an unfenced write (a user's stop) always does
    let mut up = StatusUpdate::to(JobStatus::SubmitTrying);
    up.fence = Some(e2);
    b.update_status(v.version_id, &up).unwrap();
    assert!(b.renew_lead(e2, ttl).unwrap());
    a.update_status(v.version_id, &StatusUpdate::to(JobStatus::Canceled))
        .unwrap();
    // B gives the lease up: A may take it at once
    b.resign_lead(e2).unwrap();
    assert_eq!(b.leader().unwrap().expires_in_ms, 0);
    assert_eq!(a.try_lead("a", ttl).unwrap(), Some(e2 + 1));
}

/// A takeover waits for the old leader's status writes in flight, and no write of the old
/// epoch goes through after it: an old leader writing in a loop while B takes over gets its
/// first refusal no later than B's takeover returns, and only refusals after.
#[test]
fn no_old_leader_write_goes_through_after_a_takeover() {
    let Some((_schema, location)) = schema("no_old_leader_write_goes_through_after_a_takeover")
    else {
        return;
    };
    let a = Arc::new(Store::open(&location).unwrap());
    let b = Store::open(&location).unwrap();
    let ttl = Duration::from_millis(300);
    let e1 = a.try_lead("a", ttl).unwrap().unwrap();
    let (job, _) = a
        .create_job(&new_job("x", "0"), &new_version(1), 100)
        .unwrap();
    let took_over = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, took_over) = (a.clone(), took_over.clone());
        std::thread::spawn(move || {
            let mut pre = None;
            let mut ok_after = 0;
            let mut refused = 0;
            for i in 0..2000 {
                let seen_takeover = took_over.load(Ordering::SeqCst);
                let (_, vs) = a.list_versions("p", job.job_id).unwrap();
                let vid = pre.unwrap_or(vs[0].version_id);
                let mut up = StatusUpdate::to(JobStatus::ImageCreating);
                up.fence = Some(e1);
                match a.update_status(vid, &up) {
                    Ok(_) if seen_takeover => ok_after += 1,
                    Ok(_) => {}
                    Err(StoreError::Fenced { .. }) => {
                        refused += 1;
                        if refused > 20 {
                            break;
                        }
                    }
                    Err(StoreError::Conflict(_)) => {}
                    Err(e) => panic!("{e:?}"),
                }
                let (_, nv) = a
                    .create_version("p", job.job_id, vid, &new_version(i))
                    .unwrap();
                pre = Some(nv.version_id);
            }
            (ok_after, refused)
        })
    };
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if b.try_lead("b", ttl).unwrap().is_some() {
            took_over.store(true, Ordering::SeqCst);
            break;
        }
        assert!(Instant::now() < until, "never took over");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (ok_after, refused) = writer.join().unwrap();
    assert_eq!(ok_after, 0, "fenced writes went through after the takeover");
    assert!(refused > 0);
}
