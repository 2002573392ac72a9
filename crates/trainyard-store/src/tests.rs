//! Store tests: records, ids, errors, durability across reopen, and the list index against the
//! plain SQL evaluation of list.md on the same data.

use super::*;
use proptest::prelude::*;
use trainyard_api::jobs::{Engine, JobConfig, Spec};
use trainyard_api::list::StatusSet;
use trainyard_api::params::{JobName, WorkspaceId};
use trainyard_index::ListIndex;

fn spec() -> Spec {
    Spec {
        spec_id: 1,
        spec_code: "local.cpu.1u".into(),
        core: "1".into(),
        cpu: "2".into(),
        gpu_num: 0,
        gpu_type: String::new(),
        max_num: 4,
        no_resource: false,
    }
}

fn new_version(t: i64) -> NewVersion {
    NewVersion {
        create_time: t,
        version_desc: String::new(),
        engine: Some(Engine {
            engine_id: 1,
            engine_type: 13,
            engine_name: "Python".into(),
            engine_version: "python3".into(),
        }),
        spec: spec(),
        config: JobConfig {
            worker_server_num: Some(1),
            app_url: Some("/tmp".into()),
            boot_file_url: Some("a.py".into()),
            engine_id: Some(1),
            spec_id: Some(1),
            ..JobConfig::default()
        },
    }
}

fn new_job(name: &str, ws: &str) -> NewJob {
    NewJob {
        project_id: "p".into(),
        workspace_id: ws.into(),
        job_name: name.into(),
        job_desc: String::new(),
    }
}

fn hist(
    name: &str,
    ws: &str,
    status: u8,
    ct: i64,
    start: Option<i64>,
    end: Option<i64>,
) -> HistoryRecord {
    HistoryRecord {
        job_name: JobName::parse(name).unwrap(),
        job_desc: format!("desc {}", name.len() % 3),
        workspace_id: WorkspaceId::parse(ws).unwrap(),
        status: JobStatus::from_code(i64::from(status)).unwrap(),
        create_time: ct,
        start_time: start,
        end_time: end,
        engine_type: i64::from(status % 3),
        worker_server_num: 1,
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

#[test]
fn create_version_delete_and_ids_never_reused() {
    let (_d, store) = open();
    let (job, v1, row) = store
        .writer()
        .create_job(&new_job("a", "0"), &new_version(10), 100)
        .unwrap();
    assert_eq!(
        (v1.version_name(), v1.status, row.version_count),
        ("V0001".to_owned(), JobStatus::Init, 1)
    );
    let (_, v2, row) = store
        .writer()
        .create_version("p", job.job_id, v1.version_id, &new_version(20))
        .unwrap();
    assert_eq!(
        (
            v2.version_name(),
            v2.pre_version_id,
            row.version_id,
            row.version_count
        ),
        ("V0002".to_owned(), Some(v1.version_id), v2.version_id, 2)
    );
    // deleting V0002 makes V0001 latest again, the next version is still V0003
    store
        .writer()
        .delete_version("p", job.job_id, v2.version_id)
        .unwrap();
    let (job2, v3, row) = store
        .writer()
        .create_version("p", job.job_id, v1.version_id, &new_version(30))
        .unwrap();
    assert_eq!(v3.version_name(), "V0003");
    assert!(v3.version_id > v2.version_id);
    assert_eq!(
        (row.version_count, job2.latest_version_id),
        (2, v3.version_id)
    );
    // another project cannot see it
    assert!(matches!(
        store.get_job("q", job.job_id),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.writer().delete_job("q", job.job_id),
        Err(StoreError::NotFound)
    ));
    // delete the job; the name is free; the next job id is larger
    store.writer().delete_job("p", job.job_id).unwrap();
    assert!(matches!(
        store.get_job("p", job.job_id),
        Err(StoreError::NotFound)
    ));
    let (again, _, _) = store
        .writer()
        .create_job(&new_job("a", "0"), &new_version(40), 100)
        .unwrap();
    assert!(again.job_id > job.job_id);
}

#[test]
fn duplicate_names_and_quota() {
    let (_d, store) = open();
    store
        .writer()
        .create_job(&new_job("a", "0"), &new_version(1), 2)
        .unwrap();
    assert!(matches!(
        store
            .writer()
            .create_job(&new_job("a", "0"), &new_version(1), 2),
        Err(StoreError::DuplicateName { .. })
    ));
    store
        .writer()
        .create_job(&new_job("a", "w2"), &new_version(1), 2)
        .unwrap();
    assert!(matches!(
        store
            .writer()
            .create_job(&new_job("b", "0"), &new_version(1), 2),
        Err(StoreError::QuotaExceeded { max_jobs: 2 })
    ));
    // import: a name taken in the store names its record; the quota is checked after
    let err = store
        .writer()
        .import(
            "p",
            &[
                hist("zz", "0", 10, 1, None, None),
                hist("a", "0", 10, 1, None, None),
            ],
            100,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::DuplicateName { line: Some(1), .. }
    ));
    let err = store
        .writer()
        .import("p", &[hist("zz", "0", 10, 1, None, None)], 2)
        .unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded { .. }));
    assert_eq!(store.project_job_count("p").unwrap(), 2);
}

#[test]
fn terminal_status_never_changes() {
    let (_d, store) = open();
    let (_, v, _) = store
        .writer()
        .create_job(&new_job("a", "0"), &new_version(1), 10)
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::Running);
    up.start_time = Some(5);
    store.writer().update_status(v.version_id, &up).unwrap();
    let mut end = StatusUpdate::to(JobStatus::Completed);
    end.end_time = Some(9);
    end.duration = Some(4);
    let (_, v2, row) = store.writer().update_status(v.version_id, &end).unwrap();
    assert_eq!(
        (v2.status, v2.start_time, v2.end_time, v2.duration),
        (JobStatus::Completed, Some(5), Some(9), 4)
    );
    assert_eq!(row.unwrap().duration, 4);
    assert!(matches!(
        store
            .writer()
            .update_status(v.version_id, &StatusUpdate::to(JobStatus::Running)),
        Err(StoreError::Conflict(JobStatus::Completed))
    ));
}

#[test]
fn import_assigns_ids_in_order_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let ids: Vec<i64> = {
        let store = Store::open(&path).unwrap();
        store
            .writer()
            .create_job(&new_job("first", "0"), &new_version(1), 100)
            .unwrap();
        let out = store
            .writer()
            .import(
                "p",
                &[
                    hist("x1", "0", 10, 1, Some(2), Some(5)),
                    hist("x2", "w", 11, 1, None, Some(5)),
                ],
                100,
            )
            .unwrap();
        out.iter().map(|(_, r)| r.job_id).collect()
    };
    assert_eq!(ids[1], ids[0] + 1);
    let store = Store::open(&path).unwrap();
    let mut seen = vec![];
    store
        .for_each_row(|p, w, r| seen.push((p.to_owned(), w.to_owned(), r.job_name, r.duration)))
        .unwrap();
    assert_eq!(
        seen,
        vec![
            ("p".into(), "0".into(), "first".into(), 0),
            ("p".into(), "0".into(), "x1".into(), 3),
            ("p".into(), "w".into(), "x2".into(), 0)
        ]
    );
    let (_, v, _) = store
        .writer()
        .create_job(&new_job("later", "0"), &new_version(1), 100)
        .unwrap();
    assert!(v.job_id > ids[1]);
}

fn build(store: &Store) -> ListIndex {
    let mut ix = ListIndex::new();
    store.for_each_row(|p, w, r| ix.upsert(p, w, r)).unwrap();
    ix
}

fn arb_name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "a", "A", "b", "ab", "Ab", "a_b", "a-b", "é", "É", "训练", "Ärger", "z",
        ]),
        0u32..40,
    )
        .prop_map(|(p, n)| format!("{p}{n}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// list.md evaluated by plain SQL equals the index, on the same stored data, while jobs are
    /// created, run, stopped and deleted.
    #[test]
    fn index_equals_sql(
        names in prop::collection::hash_set(arb_name(), 1..120),
        statuses in prop::collection::vec(prop::sample::select(vec![3u8, 10, 11, 12, 13]), 120),
        times in prop::collection::vec(0i64..6, 120),
        running in prop::collection::vec(prop::bool::ANY, 120),
        deletes in prop::collection::vec(0usize..120, 0..20),
        queries in prop::collection::vec((prop::sample::select(SortKey::ALL.to_vec()), prop::bool::ANY, 1u32..9, 1u32..6, prop::sample::select(vec!["", "a", "É", "b1", "_", "训"]), prop::sample::select(vec![0u32, 1, 2])), 1..10),
        now in 0i64..20,
    ) {
        let (_d, store) = open();
        let names: Vec<String> = names.into_iter().collect();
        let recs: Vec<HistoryRecord> = names.iter().enumerate().map(|(i, n)| {
            let ws = if i % 5 == 0 { "w" } else { "0" };
            hist(n, ws, statuses[i], times[i], Some(times[i]), Some(times[i] + (i as i64 % 4)))
        }).collect();
        let half = recs.len() / 2;
        store.writer().import("p", &recs[..half], 10_000).unwrap();
        // the rest are created and some of them run
        for (i, r) in recs[half..].iter().enumerate() {
            let (_, v, _) = store.writer().create_job(&new_job(r.job_name.as_str(), r.workspace_id.as_str()), &new_version(r.create_time), 10_000).unwrap();
            if running[i] {
                let mut up = StatusUpdate::to(JobStatus::Running);
                up.start_time = Some(r.create_time + 1);
                store.writer().update_status(v.version_id, &up).unwrap();
            }
        }
        let mut ix = build(&store);
        for d in deletes {
            if let Some(n) = names.get(d) {
                let ws = if d % 5 == 0 { "w" } else { "0" };
                let job = ix.query("p", &JobListQuery { search_content: n.clone(), workspace_id: WorkspaceId::parse(ws).unwrap(), per_page: 1000, ..JobListQuery::default() }, now)
                    .rows.into_iter().find(|r| &r.job_name == n);
                if let Some(j) = job {
                    store.writer().delete_job("p", j.job_id).unwrap();
                    ix.remove("p", ws, j.job_id);
                }
            }
        }
        for (key, desc, per_page, page, search, filter) in queries {
            let status = match filter { 0 => StatusSet::all(), 1 => [JobStatus::Failed, JobStatus::Init].into_iter().collect(), _ => [JobStatus::Running].into_iter().collect() };
            for ws in ["0", "w"] {
                let q = JobListQuery { status, per_page, page, sort_by: key, order: if desc { Order::Desc } else { Order::Asc }, search_content: search.to_owned(), workspace_id: WorkspaceId::parse(ws).unwrap() };
                let (total, rows) = store.list_jobs_sql("p", &q, now).unwrap();
                let page = ix.query("p", &q, now);
                prop_assert_eq!((page.total, page.rows), (total, rows), "query {:?}", q);
            }
        }
        prop_assert_eq!(ix.project_job_count("p"), store.project_job_count("p").unwrap());
    }
}

#[test]
fn commit_tickets_apply_in_commit_order() {
    let (_d, store) = open();
    let log = parking_lot::Mutex::new(Vec::new());
    let t1 = store.writer().into_ticket();
    let t2 = store.writer().into_ticket();
    let t3 = store.writer().into_ticket();
    std::thread::scope(|s| {
        let h3 = s.spawn(|| t3.apply(|| log.lock().push(3)));
        let h2 = s.spawn(|| t2.apply(|| log.lock().push(2)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(log.lock().is_empty(), "later commits wait for the first");
        // dropping a ticket without applying it passes the turn on
        drop(t1);
        h2.join().unwrap();
        h3.join().unwrap();
    });
    assert_eq!(*log.lock(), vec![2, 3]);
    // the writer is free again and numbering goes on
    store.writer().into_ticket().apply(|| log.lock().push(4));
    assert_eq!(*log.lock(), vec![2, 3, 4]);
}

#[test]
fn project_job_counts_are_kept_and_backfilled_by_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    {
        let store = Store::open(&path).unwrap();
        store
            .writer()
            .import(
                "p",
                &[
                    hist("a", "0", 10, 1, None, None),
                    hist("b", "w", 10, 1, None, None),
                ],
                100,
            )
            .unwrap();
        let (job, _, _) = store
            .writer()
            .create_job(&new_job("c", "0"), &new_version(1), 100)
            .unwrap();
        store
            .writer()
            .create_job(
                &NewJob {
                    project_id: "q".into(),
                    ..new_job("c", "0")
                },
                &new_version(1),
                100,
            )
            .unwrap();
        assert_eq!(
            (
                store.project_job_count("p").unwrap(),
                store.project_job_count("q").unwrap()
            ),
            (3, 1)
        );
        store.writer().delete_job("p", job.job_id).unwrap();
        assert_eq!(store.project_job_count("p").unwrap(), 2);
    }
    // a database from before the counts table: the migration computes them
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("DROP TABLE project_job_counts; PRAGMA user_version = 4;")
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        (
            store.project_job_count("p").unwrap(),
            store.project_job_count("q").unwrap(),
            store.project_job_count("none").unwrap()
        ),
        (2, 1, 0)
    );
}
