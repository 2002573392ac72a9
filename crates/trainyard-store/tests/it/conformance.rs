//! The store conformance suite: the same tests on every engine (the model is quickwit's
//! `metastore_test_suite!`). Each test is a function over a [`Harness`], which opens stores on
//! one fresh database; an engine's module instantiates every test with
//! `store_test_suite!(harness_fn)`, where `harness_fn() -> Option<Harness>` (`None`: the
//! engine is not available here, and the test says so).
//!
//! Expected values are computed by hand from the spec (`training-jobs.md`, `import.md`,
//! `list.md`), or by the SQL reference [`Store::list_jobs_sql`] on the same data.

use proptest::prelude::*;
use std::sync::Arc;
use trainyard_api::history::HistoryRecord;
use trainyard_api::jobs::{Engine, JobConfig, Spec};
use trainyard_api::list::{JobListQuery, Order, SortKey, StatusSet};
use trainyard_api::params::{JobName, WorkspaceId};
use trainyard_api::status::JobStatus;
use trainyard_store::auth::{AuthError, ProjectRef, Sealer, TokenCheck, is_token_shaped};
use trainyard_store::configs::{ConfigListQuery, ConfigRecord, ConfigSortKey};
use trainyard_store::{DeletedVersion, NewJob, NewVersion, StatusUpdate, Store, StoreError};

/// Opens stores on one fresh database of an engine.
pub struct Harness {
    /// Opens another store on the same database (another handle or replica: a restart, or a
    /// second server).
    pub open: Box<dyn Fn() -> Store + Send + Sync>,
    /// Cases of the property tests (fewer on slower engines).
    pub cases: u32,
    /// Kept alive for the test (temporary directory, schema guard).
    pub _guard: Box<dyn std::any::Any + Send + Sync>,
}

/// Instantiates every conformance test for an engine.
macro_rules! store_test_suite {
    ($harness:path) => {
        store_test_suite!(@tests $harness;
            create_version_delete_and_ids_never_reused,
            a_create_answers_the_job_and_version_as_stored,
            duplicate_names_and_quota,
            terminal_status_never_changes,
            compare_and_set_on_expected_status,
            import_assigns_ids_in_order_and_survives_reopen,
            import_is_all_or_nothing,
            import_of_many_records_keeps_each_line_s_id_and_fields,
            create_and_import_of_one_name_race,
            index_follows_every_write,
            index_equals_sql_after_random_writes,
            quota_is_atomic_across_handles,
            racing_writes_to_one_job_keep_the_index_exact,
            ids_are_unique_across_handles,
            versions_in_and_version_lookups,
            version_status_counts_cover_every_version,
            users_keys_tokens_and_revocation,
            first_project_login_and_projects_of_user,
            sealing_key_check,
            configs_round_trip_and_stay_in_their_project,
            configs_list_filters_sorts_and_pages,
        );
    };
    (@tests $harness:path; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                match $harness() {
                    Some(h) => $crate::conformance::$name(&h),
                    None => eprintln!("{}: engine not available, not run", stringify!($name)),
                }
            }
        )*
    };
}

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

pub fn new_version(t: i64) -> NewVersion {
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

pub fn new_job(name: &str, ws: &str) -> NewJob {
    NewJob {
        project_id: "p".into(),
        workspace_id: ws.into(),
        job_name: name.into(),
        job_desc: String::new(),
    }
}

pub fn hist(
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

fn all_rows(store: &Store, project: &str, ws: &str) -> Vec<trainyard_api::list::JobRow> {
    let q = JobListQuery {
        per_page: 1000,
        order: Order::Asc,
        sort_by: SortKey::CreateTime,
        workspace_id: WorkspaceId::parse(ws).unwrap(),
        ..JobListQuery::default()
    };
    store.list_jobs_sql(project, &q, 0).unwrap().1
}

/// Asserts that the store's live index answers like the SQL reference for a set of queries
/// (and like an index rebuilt from scratch on a fresh handle).
pub fn assert_index_matches(store: &Store, project: &str, workspaces: &[&str], now: i64) {
    for ws in workspaces {
        for key in SortKey::ALL {
            for status in [
                StatusSet::all(),
                [JobStatus::Init, JobStatus::Canceled]
                    .into_iter()
                    .collect::<StatusSet>(),
            ] {
                let q = JobListQuery {
                    status,
                    per_page: 1000,
                    sort_by: key,
                    order: Order::Desc,
                    workspace_id: WorkspaceId::parse(ws).unwrap(),
                    ..JobListQuery::default()
                };
                let (total, rows) = store.list_jobs_sql(project, &q, now).unwrap();
                let page = store.index().read().query(project, &q, now);
                assert_eq!((page.total, page.rows), (total, rows), "query {q:?}");
            }
        }
    }
    assert_eq!(
        store.index().read().project_job_count(project),
        store.project_job_count(project).unwrap()
    );
}

/// A create's answer is the job and version 1 as stored: the same as reading them back, on a
/// fresh handle too, with the values the spec gives a new job (version 1 `V0001` in INIT, one
/// version, the next one `V0002`, no start, end or exit code; the spec's `max_num` is not
/// stored, so it reads back 0).
pub fn a_create_answers_the_job_and_version_as_stored(h: &Harness) {
    let store = (h.open)();
    let mut version = new_version(1_700_000_000_123);
    version.version_desc = "first".into();
    version.config.parameter = Some(vec![trainyard_api::jobs::Parameter {
        label: "lr".into(),
        value: "0.01".into(),
    }]);
    version.config.user_command = Some("python a.py --x 'y z'".into());
    version.config.extra.insert(
        "nas_type".into(),
        serde_json::json!({"k": [1, "two", true]}),
    );
    let mut job = new_job("ünï-Name_1", "w");
    job.job_desc = "a job".into();
    let (j, v) = store.create_job(&job, &version, 100).unwrap();
    assert_eq!(
        (
            j.project_id.as_str(),
            j.workspace_id.as_str(),
            j.job_name.as_str(),
            j.job_desc.as_str()
        ),
        ("p", "w", "ünï-Name_1", "a job")
    );
    assert_eq!(
        (
            j.version_count,
            j.latest_version_id,
            j.next_version_no,
            j.created_at
        ),
        (1, v.version_id, 2, 1_700_000_000_123)
    );
    assert_eq!(
        (v.job_id, v.version_no, v.pre_version_id, v.status),
        (j.job_id, 1, None, JobStatus::Init)
    );
    assert_eq!(
        (v.start_time, v.end_time, v.exit_code, v.duration),
        (None, None, None, 0)
    );
    assert_eq!(
        (
            v.version_desc.as_str(),
            v.status_reason.as_str(),
            v.run_handle.clone(),
            v.imported
        ),
        ("first", "", None, false)
    );
    assert_eq!(v.engine, version.engine);
    assert_eq!(v.spec.max_num, 0);
    assert_eq!(
        (
            v.spec.spec_id,
            v.spec.spec_code.as_str(),
            v.worker_server_num
        ),
        (1, "local.cpu.1u", 1)
    );
    assert_eq!(v.config, version.config);
    // as read back, here and on another handle
    assert_eq!(
        store.get_version("p", j.job_id, v.version_id).unwrap(),
        (j.clone(), v.clone())
    );
    let other = (h.open)();
    assert_eq!(
        other.get_version("p", j.job_id, v.version_id).unwrap(),
        (j.clone(), v.clone())
    );
    // and the index row
    let row = store
        .index()
        .read()
        .get("p", "w", j.job_id)
        .cloned()
        .unwrap();
    assert_eq!(
        (
            row.job_name.as_str(),
            row.job_desc.as_str(),
            row.version_id,
            row.status,
            row.create_time,
            row.start_time,
            row.version_count,
            row.engine_type
        ),
        (
            "ünï-Name_1",
            "a job",
            v.version_id,
            JobStatus::Init,
            1_700_000_000_123,
            None,
            1,
            13
        )
    );
    // no engine: none stored, none answered
    let mut bare = new_version(5);
    bare.engine = None;
    let (j2, v2) = store.create_job(&new_job("bare", "0"), &bare, 100).unwrap();
    assert_eq!(v2.engine, None);
    assert_eq!(
        store.get_version("p", j2.job_id, v2.version_id).unwrap(),
        (j2, v2)
    );
}

pub fn create_version_delete_and_ids_never_reused(h: &Harness) {
    let store = (h.open)();
    let (job, v1) = store
        .create_job(&new_job("a", "0"), &new_version(10), 100)
        .unwrap();
    assert_eq!(
        (v1.version_name(), v1.status),
        ("V0001".to_owned(), JobStatus::Init)
    );
    assert_eq!(job.version_count, 1);
    let (job2, v2) = store
        .create_version("p", job.job_id, v1.version_id, &new_version(20))
        .unwrap();
    assert_eq!(
        (
            v2.version_name(),
            v2.pre_version_id,
            job2.latest_version_id,
            job2.version_count
        ),
        ("V0002".to_owned(), Some(v1.version_id), v2.version_id, 2)
    );
    assert!(v2.version_id > v1.version_id);
    // deleting V0002 makes V0001 latest again, the next version is still V0003
    match store
        .delete_version("p", job.job_id, v2.version_id)
        .unwrap()
    {
        DeletedVersion::Remaining { job, version } => {
            assert_eq!(
                (job.latest_version_id, job.version_count),
                (v1.version_id, 1)
            );
            assert_eq!(version.version_id, v2.version_id);
        }
        DeletedVersion::JobDeleted(_) => panic!("the job has another version"),
    }
    let (job3, v3) = store
        .create_version("p", job.job_id, v1.version_id, &new_version(30))
        .unwrap();
    assert_eq!(v3.version_name(), "V0003");
    assert!(v3.version_id > v2.version_id);
    assert_eq!(
        (job3.version_count, job3.latest_version_id),
        (2, v3.version_id)
    );
    // another project cannot see or delete it
    assert!(matches!(
        store.get_job("q", job.job_id),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_version("q", job.job_id, v1.version_id),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_job("q", job.job_id),
        Err(StoreError::NotFound)
    ));
    // a version of another job is not found under this job
    let (other, ov) = store
        .create_job(&new_job("b", "0"), &new_version(40), 100)
        .unwrap();
    assert!(matches!(
        store.get_version("p", job.job_id, ov.version_id),
        Err(StoreError::NotFound)
    ));
    let (_, versions) = store.list_versions("p", job.job_id).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version_id).collect::<Vec<_>>(),
        vec![v3.version_id, v1.version_id]
    );
    // delete the job; the name is free; the next job id is larger than every earlier one
    let d = store.delete_job("p", job.job_id).unwrap();
    assert_eq!(d.versions.len(), 2);
    assert!(matches!(
        store.get_job("p", job.job_id),
        Err(StoreError::NotFound)
    ));
    let (again, _) = store
        .create_job(&new_job("a", "0"), &new_version(50), 100)
        .unwrap();
    assert!(again.job_id > other.job_id);
    // deleting the last version deletes the job
    let (_, only) = store.list_versions("p", other.job_id).unwrap();
    assert!(matches!(
        store
            .delete_version("p", other.job_id, only[0].version_id)
            .unwrap(),
        DeletedVersion::JobDeleted(_)
    ));
    assert!(matches!(
        store.get_job("p", other.job_id),
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.project_job_count("p").unwrap(), 1);
    // job description
    let j = store
        .update_job_desc("p", again.job_id, "new desc")
        .unwrap();
    assert_eq!(j.job_desc, "new desc");
    assert!(matches!(
        store.update_job_desc("q", again.job_id, "x"),
        Err(StoreError::NotFound)
    ));
    assert_index_matches(&store, "p", &["0"], 100);
}

pub fn duplicate_names_and_quota(h: &Harness) {
    let store = (h.open)();
    store
        .create_job(&new_job("a", "0"), &new_version(1), 2)
        .unwrap();
    assert!(matches!(
        store.create_job(&new_job("a", "0"), &new_version(1), 2),
        Err(StoreError::DuplicateName { line: None, .. })
    ));
    // the same name in another workspace, or another project, is fine
    store
        .create_job(&new_job("a", "w2"), &new_version(1), 2)
        .unwrap();
    store
        .create_job(
            &NewJob {
                project_id: "other".into(),
                ..new_job("a", "0")
            },
            &new_version(1),
            2,
        )
        .unwrap();
    assert!(matches!(
        store.create_job(&new_job("b", "0"), &new_version(1), 2),
        Err(StoreError::QuotaExceeded { max_jobs: 2 })
    ));
    // import: a name taken in the store names its record; the quota is checked after
    let err = store
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
        .import("p", &[hist("zz", "0", 10, 1, None, None)], 2)
        .unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded { max_jobs: 2 }));
    // a duplicate is reported before the quota, also when the quota is exceeded
    let err = store
        .import("p", &[hist("a", "w2", 10, 1, None, None)], 2)
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::DuplicateName { line: Some(0), .. }
    ));
    assert_eq!(store.project_job_count("p").unwrap(), 2);
    assert_eq!(store.project_job_count("other").unwrap(), 1);
    assert_eq!(store.project_job_count("none").unwrap(), 0);
    // deleting frees quota
    let rows = all_rows(&store, "p", "0");
    store.delete_job("p", rows[0].job_id).unwrap();
    store
        .create_job(&new_job("b", "0"), &new_version(1), 2)
        .unwrap();
    assert_index_matches(&store, "p", &["0", "w2"], 10);
}

pub fn terminal_status_never_changes(h: &Harness) {
    let store = (h.open)();
    let (_, v) = store
        .create_job(&new_job("a", "0"), &new_version(1), 10)
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::Running);
    up.start_time = Some(5);
    up.run_handle = Some(Some("{\"h\":1}".into()));
    let (_, running) = store.update_status(v.version_id, &up).unwrap();
    assert_eq!(running.run_handle.as_deref(), Some("{\"h\":1}"));
    let mut end = StatusUpdate::to(JobStatus::Completed);
    end.end_time = Some(9);
    end.duration = Some(4);
    end.exit_code = Some(0);
    end.status_reason = Some("done".into());
    end.run_handle = Some(None);
    let (_, v2) = store.update_status(v.version_id, &end).unwrap();
    assert_eq!(
        (
            v2.status,
            v2.start_time,
            v2.end_time,
            v2.duration,
            v2.exit_code
        ),
        (JobStatus::Completed, Some(5), Some(9), 4, Some(0))
    );
    assert_eq!(
        (v2.status_reason.as_str(), v2.run_handle.as_deref()),
        ("done", None)
    );
    let row = store
        .index()
        .read()
        .get("p", "0", v.job_id)
        .cloned()
        .unwrap();
    assert_eq!((row.status, row.duration), (JobStatus::Completed, 4));
    assert!(matches!(
        store.update_status(v.version_id, &StatusUpdate::to(JobStatus::Running)),
        Err(StoreError::Conflict(JobStatus::Completed))
    ));
    assert!(matches!(
        store.update_status(v.version_id + 1000, &StatusUpdate::to(JobStatus::Running)),
        Err(StoreError::NotFound)
    ));
}

pub fn compare_and_set_on_expected_status(h: &Harness) {
    let store = (h.open)();
    let (_, v) = store
        .create_job(&new_job("a", "0"), &new_version(1), 10)
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::ImageCreating);
    up.expect = Some(vec![JobStatus::Waiting]);
    assert!(matches!(
        store.update_status(v.version_id, &up),
        Err(StoreError::Conflict(JobStatus::Init))
    ));
    up.expect = Some(vec![JobStatus::Init]);
    store.update_status(v.version_id, &up).unwrap();
    // a status change of a version that is not the latest does not change the list row
    let (_, v2) = store
        .create_version("p", v.job_id, v.version_id, &new_version(2))
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::Canceled);
    up.expect = Some(vec![JobStatus::ImageCreating]);
    store.update_status(v.version_id, &up).unwrap();
    let row = store
        .index()
        .read()
        .get("p", "0", v.job_id)
        .cloned()
        .unwrap();
    assert_eq!(
        (row.version_id, row.status),
        (v2.version_id, JobStatus::Init)
    );
    assert_index_matches(&store, "p", &["0"], 10);
}

pub fn import_assigns_ids_in_order_and_survives_reopen(h: &Harness) {
    let ids = {
        let store = (h.open)();
        store
            .create_job(&new_job("first", "0"), &new_version(1), 100)
            .unwrap();
        let out = store
            .import(
                "p",
                &[
                    hist("x1", "0", 10, 1, Some(2), Some(5)),
                    hist("x2", "w", 11, 1, None, Some(5)),
                    hist("x3", "0", 12, 1, Some(3), Some(3)),
                ],
                100,
            )
            .unwrap();
        assert_eq!(out.count, 3);
        assert_eq!(out.last_job_id, out.first_job_id + 2);
        out
    };
    let store = (h.open)();
    store.load_index().unwrap();
    let (job, versions) = store.list_versions("p", ids.first_job_id).unwrap();
    assert_eq!(job.job_name, "x1");
    assert_eq!(
        (
            versions.len(),
            versions[0].status,
            versions[0].duration,
            versions[0].imported
        ),
        (1, JobStatus::Completed, 3, true)
    );
    let names: Vec<(String, i64)> = all_rows(&store, "p", "0")
        .into_iter()
        .map(|r| (r.job_name, r.duration))
        .collect();
    assert_eq!(
        names,
        vec![("first".into(), 0), ("x1".into(), 3), ("x3".into(), 0)]
    );
    assert_eq!(
        store
            .get_job("p", ids.first_job_id + 1)
            .unwrap()
            .workspace_id,
        "w"
    );
    assert_index_matches(&store, "p", &["0", "w"], 10);
    let (later, _) = store
        .create_job(&new_job("later", "0"), &new_version(1), 100)
        .unwrap();
    assert!(later.job_id > ids.last_job_id);
    assert_eq!(store.project_job_count("p").unwrap(), 5);
}

pub fn import_is_all_or_nothing(h: &Harness) {
    let store = (h.open)();
    store
        .create_job(&new_job("taken", "0"), &new_version(1), 100)
        .unwrap();
    let err = store
        .import(
            "p",
            &[
                hist("n1", "0", 10, 1, None, None),
                hist("n2", "0", 10, 1, None, None),
                hist("taken", "0", 10, 1, None, None),
            ],
            100,
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::DuplicateName { line: Some(2), .. }
    ));
    assert_eq!(all_rows(&store, "p", "0").len(), 1);
    assert_eq!(store.project_job_count("p").unwrap(), 1);
    // two taken names: the first in the import's order is reported, not the first in name
    // order (an engine may insert in index order)
    store
        .create_job(&new_job("b-taken", "0"), &new_version(1), 100)
        .unwrap();
    let err = store
        .import(
            "p",
            &[
                hist("q", "0", 10, 1, None, None),
                hist("taken", "0", 10, 1, None, None),
                hist("b-taken", "0", 10, 1, None, None),
            ],
            100,
        )
        .unwrap_err();
    match err {
        StoreError::DuplicateName { name, line } => {
            assert_eq!((name.as_str(), line), ("taken", Some(1)));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(all_rows(&store, "p", "0").len(), 2);
    assert_eq!(store.project_job_count("p").unwrap(), 2);
    // an empty import changes nothing
    let none = store.import("p", &[], 100).unwrap();
    assert_eq!(none.count, 0);
    assert_index_matches(&store, "p", &["0"], 10);
}

/// 150 records (more than one multi-row statement of an engine, and a remainder), their
/// names in the reverse of line order and in two workspaces: line i gets job id first + i,
/// with its own name, workspace, description and version fields.
pub fn import_of_many_records_keeps_each_line_s_id_and_fields(h: &Harness) {
    let store = (h.open)();
    store
        .create_job(&new_job("before", "0"), &new_version(1), 1000)
        .unwrap();
    let recs: Vec<HistoryRecord> = (0..150i64)
        .map(|i| {
            let ws = if i % 3 == 0 { "w" } else { "0" };
            // the start is absent on every 5th line; durations 0..=6 ms
            let start = (i % 5 != 0).then_some(1000 + i);
            hist(
                &format!("n{:03}", 149 - i),
                ws,
                10,
                100 + i,
                start,
                Some(1006 + i - i % 7),
            )
        })
        .collect();
    let out = store.import("p", &recs, 1000).unwrap();
    assert_eq!(out.count, 150);
    assert_eq!(out.last_job_id, out.first_job_id + 149);
    for i in 0..150i64 {
        let (job, versions) = store.list_versions("p", out.first_job_id + i).unwrap();
        let ws = if i % 3 == 0 { "w" } else { "0" };
        assert_eq!(
            (job.job_name.as_str(), job.workspace_id.as_str()),
            (format!("n{:03}", 149 - i).as_str(), ws),
            "line {i}"
        );
        // hist's description: "desc {name length % 3}", names of 4 characters
        assert_eq!(job.job_desc, "desc 1", "line {i}");
        assert_eq!(versions.len(), 1);
        let v = &versions[0];
        let start = (i % 5 != 0).then_some(1000 + i);
        // end - start when both are known: (1006 + i - i % 7) - (1000 + i) = 6 - i % 7
        let duration = match start {
            Some(s) => 1006 + i - i % 7 - s,
            None => 0,
        };
        assert_eq!(
            (
                v.status,
                v.create_time,
                v.start_time,
                v.end_time,
                v.duration,
                v.imported
            ),
            (
                JobStatus::Completed,
                100 + i,
                start,
                Some(1006 + i - i % 7),
                duration,
                true
            ),
            "line {i}"
        );
    }
    assert_eq!(store.project_job_count("p").unwrap(), 151);
    assert_eq!(all_rows(&store, "p", "w").len(), 50);
    assert_eq!(all_rows(&store, "p", "0").len(), 101);
    assert_index_matches(&store, "p", &["0", "w"], 2000);
}

/// A create and an import that both hold one name, at the same time on two handles (two
/// servers of one database): exactly one gets the name, the other is refused with
/// `DuplicateName` (never another error, e.g. a deadlock between the two transactions), and
/// the count and the index stay exact. (With PostgreSQL's import taking the count row after
/// its COPY and a create taking it before its insert, this failed with "deadlock detected"
/// within a few of 300 rounds.)
pub fn create_and_import_of_one_name_race(h: &Harness) {
    let (a, b) = (Arc::new((h.open)()), Arc::new((h.open)()));
    let rounds = 200;
    let mut expected = 0u64;
    for i in 0..rounds {
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let (sa, ba) = (a.clone(), barrier.clone());
        let create = std::thread::spawn(move || {
            ba.wait();
            sa.create_job(&new_job(&format!("r{i}"), "0"), &new_version(1), 1000)
                .map(|_| 1u64)
        });
        let (sb, bb) = (b.clone(), barrier);
        let import = std::thread::spawn(move || {
            bb.wait();
            sb.import(
                "p",
                &[
                    hist(&format!("a{i}"), "0", 10, 1, None, None),
                    hist(&format!("r{i}"), "0", 10, 1, None, None),
                    hist(&format!("z{i}"), "0", 10, 1, None, None),
                ],
                1000,
            )
            .map(|imp| imp.count)
        });
        let (c, m) = (create.join().unwrap(), import.join().unwrap());
        match (&c, &m) {
            (Ok(1), Err(StoreError::DuplicateName { line: Some(1), .. })) => expected += 1,
            (Err(StoreError::DuplicateName { line: None, .. }), Ok(3)) => expected += 3,
            other => panic!("round {i}: {other:?}"),
        }
    }
    let fresh = (h.open)();
    fresh.load_index().unwrap();
    assert_eq!(fresh.project_job_count("p").unwrap(), expected);
    assert_eq!(all_rows(&fresh, "p", "0").len() as u64, expected);
    assert_index_matches(&fresh, "p", &["0"], 10);
}

/// After every kind of write, the live index equals the SQL reference and an index rebuilt
/// from the store on another handle.
pub fn index_follows_every_write(h: &Harness) {
    let store = (h.open)();
    let check = |store: &Store| {
        assert_index_matches(store, "p", &["0", "w"], 50);
        let fresh = (h.open)();
        fresh.load_index().unwrap();
        for ws in ["0", "w"] {
            let q = JobListQuery {
                per_page: 1000,
                workspace_id: WorkspaceId::parse(ws).unwrap(),
                ..JobListQuery::default()
            };
            assert_eq!(
                store.index().read().query("p", &q, 50),
                fresh.index().read().query("p", &q, 50)
            );
        }
    };
    let (a, va) = store
        .create_job(&new_job("a", "0"), &new_version(1), 100)
        .unwrap();
    check(&store);
    store
        .import("p", &[hist("h1", "w", 10, 2, Some(3), Some(9))], 100)
        .unwrap();
    check(&store);
    let (_, va2) = store
        .create_version("p", a.job_id, va.version_id, &new_version(4))
        .unwrap();
    check(&store);
    let mut up = StatusUpdate::to(JobStatus::Running);
    up.start_time = Some(6);
    store.update_status(va2.version_id, &up).unwrap();
    check(&store);
    store.update_job_desc("p", a.job_id, "d").unwrap();
    check(&store);
    store.delete_version("p", a.job_id, va2.version_id).unwrap();
    check(&store);
    store.delete_job("p", a.job_id).unwrap();
    check(&store);
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

/// list.md evaluated by plain SQL equals the index, on the same stored data, while jobs are
/// imported, created, run, stopped and deleted.
pub fn index_equals_sql_after_random_writes(h: &Harness) {
    let config = ProptestConfig {
        cases: h.cases,
        ..ProptestConfig::default()
    };
    let strategy = (
        prop::collection::hash_set(arb_name(), 1..120),
        prop::collection::vec(prop::sample::select(vec![3u8, 10, 11, 12, 13]), 120),
        prop::collection::vec(0i64..6, 120),
        prop::collection::vec(prop::bool::ANY, 120),
        prop::collection::vec(0usize..120, 0..20),
        prop::collection::vec(
            (
                prop::sample::select(SortKey::ALL.to_vec()),
                prop::bool::ANY,
                1u32..9,
                1u32..6,
                prop::sample::select(vec!["", "a", "É", "b1", "_", "训"]),
                prop::sample::select(vec![0u32, 1, 2]),
            ),
            1..10,
        ),
        0i64..20,
    );
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(
            &strategy,
            |(names, statuses, times, running, deletes, queries, now)| {
                let store = (h.open)();
                let project = format!("p{}", rand_suffix());
                let names: Vec<String> = names.into_iter().collect();
                let recs: Vec<HistoryRecord> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| {
                        let ws = if i % 5 == 0 { "w" } else { "0" };
                        hist(
                            n,
                            ws,
                            statuses[i],
                            times[i],
                            Some(times[i]),
                            Some(times[i] + (i as i64 % 4)),
                        )
                    })
                    .collect();
                let half = recs.len() / 2;
                store.import(&project, &recs[..half], 10_000).unwrap();
                for (i, r) in recs[half..].iter().enumerate() {
                    let (_, v) = store
                        .create_job(
                            &NewJob {
                                project_id: project.clone(),
                                ..new_job(r.job_name.as_str(), r.workspace_id.as_str())
                            },
                            &new_version(r.create_time),
                            10_000,
                        )
                        .unwrap();
                    if running[i] {
                        let mut up = StatusUpdate::to(JobStatus::Running);
                        up.start_time = Some(r.create_time + 1);
                        store.update_status(v.version_id, &up).unwrap();
                    }
                }
                for d in deletes {
                    if let Some(n) = names.get(d) {
                        let ws = if d % 5 == 0 { "w" } else { "0" };
                        let q = JobListQuery {
                            search_content: n.clone(),
                            workspace_id: WorkspaceId::parse(ws).unwrap(),
                            per_page: 1000,
                            ..JobListQuery::default()
                        };
                        let job = store
                            .index()
                            .read()
                            .query(&project, &q, now)
                            .rows
                            .into_iter()
                            .find(|r| &r.job_name == n);
                        if let Some(j) = job {
                            store.delete_job(&project, j.job_id).unwrap();
                        }
                    }
                }
                for (key, desc, per_page, page, search, filter) in queries {
                    let status = match filter {
                        0 => StatusSet::all(),
                        1 => [JobStatus::Failed, JobStatus::Init].into_iter().collect(),
                        _ => [JobStatus::Running].into_iter().collect(),
                    };
                    for ws in ["0", "w"] {
                        let q = JobListQuery {
                            status,
                            per_page,
                            page,
                            sort_by: key,
                            order: if desc { Order::Desc } else { Order::Asc },
                            search_content: search.to_owned(),
                            workspace_id: WorkspaceId::parse(ws).unwrap(),
                        };
                        let (total, rows) = store.list_jobs_sql(&project, &q, now).unwrap();
                        let page = store.index().read().query(&project, &q, now);
                        prop_assert_eq!((page.total, page.rows), (total, rows), "query {:?}", q);
                    }
                }
                prop_assert_eq!(
                    store.index().read().project_job_count(&project),
                    store.project_job_count(&project).unwrap()
                );
                Ok(())
            },
        )
        .unwrap();
}

pub fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// `max_jobs` holds when creates and imports race on several handles of the same database
/// (threads of one server, or several servers): exactly `max_jobs` jobs exist at the end.
pub fn quota_is_atomic_across_handles(h: &Harness) {
    let stores: Vec<Arc<Store>> = (0..3).map(|_| Arc::new((h.open)())).collect();
    let max_jobs = 25u64;
    let handles: Vec<_> = (0..6)
        .map(|t| {
            let store = stores[t % stores.len()].clone();
            std::thread::spawn(move || {
                let mut ok = 0u64;
                for i in 0..10 {
                    let res = if i % 4 == 3 {
                        store
                            .import(
                                "p",
                                &[
                                    hist(&format!("i{t}-{i}-a"), "0", 10, 1, None, None),
                                    hist(&format!("i{t}-{i}-b"), "0", 10, 1, None, None),
                                ],
                                max_jobs,
                            )
                            .map(|imp| imp.count)
                    } else {
                        store
                            .create_job(
                                &new_job(&format!("c{t}-{i}"), "0"),
                                &new_version(1),
                                max_jobs,
                            )
                            .map(|_| 1)
                    };
                    match res {
                        Ok(n) => ok += n,
                        Err(StoreError::QuotaExceeded { .. }) => {}
                        Err(e) => panic!("unexpected error {e:?}"),
                    }
                }
                ok
            })
        })
        .collect();
    let created: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let fresh = (h.open)();
    assert!(created <= max_jobs, "{created} jobs created");
    assert_eq!(fresh.project_job_count("p").unwrap(), created);
    assert_eq!(all_rows(&fresh, "p", "0").len() as u64, created);
    // 60 attempts of 1-2 jobs each against a limit of 25: the limit is reached exactly or
    // within one 2-job import of it
    assert!(created >= max_jobs - 1, "{created} jobs created");
}

/// Two writers change different rows of one job at once (its description; its versions and
/// their statuses): every change reaches the index as the job's row at that commit, so the
/// final index row equals the stored one (a row read before another write committed must not
/// be applied after it).
pub fn racing_writes_to_one_job_keep_the_index_exact(h: &Harness) {
    let store = Arc::new((h.open)());
    let (job, v) = store
        .create_job(&new_job("a", "0"), &new_version(1), 10)
        .unwrap();
    let (s1, s2) = (store.clone(), store.clone());
    let job_id = job.job_id;
    let desc = std::thread::spawn(move || {
        for i in 0..40 {
            s1.update_job_desc("p", job_id, &format!("d{i}")).unwrap();
        }
    });
    let versions = std::thread::spawn(move || {
        let mut pre = v.version_id;
        for i in 0..20 {
            let (_, nv) = s2
                .create_version("p", job_id, pre, &new_version(2 + i))
                .unwrap();
            let mut up = StatusUpdate::to(JobStatus::ImageCreating);
            up.expect = Some(vec![JobStatus::Init]);
            s2.update_status(nv.version_id, &up).unwrap();
            pre = nv.version_id;
        }
    });
    desc.join().unwrap();
    versions.join().unwrap();
    let row = store.index().read().get("p", "0", job_id).cloned().unwrap();
    let stored = (h.open)();
    let (j, vs) = stored.list_versions("p", job_id).unwrap();
    assert_eq!(
        (
            row.job_desc.as_str(),
            row.version_id,
            row.status,
            row.version_count
        ),
        (
            j.job_desc.as_str(),
            vs[0].version_id,
            vs[0].status,
            j.version_count
        )
    );
    assert_index_matches(&store, "p", &["0"], 100);
}

/// Ids from concurrent writers on several handles are unique, and each handle sees its own
/// ids increase.
pub fn ids_are_unique_across_handles(h: &Harness) {
    let stores: Vec<Arc<Store>> = (0..2).map(|_| Arc::new((h.open)())).collect();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = stores[t % 2].clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..15 {
                    if i % 5 == 4 {
                        let imp = store
                            .import(
                                "p",
                                &[
                                    hist(&format!("i{t}-{i}-a"), "0", 10, 1, None, None),
                                    hist(&format!("i{t}-{i}-b"), "0", 10, 1, None, None),
                                ],
                                10_000,
                            )
                            .unwrap();
                        ids.push((imp.first_job_id, 0));
                        ids.push((imp.last_job_id, 0));
                    } else {
                        let (j, v) = store
                            .create_job(
                                &new_job(&format!("c{t}-{i}"), "0"),
                                &new_version(1),
                                10_000,
                            )
                            .unwrap();
                        ids.push((j.job_id, v.version_id));
                    }
                }
                ids
            })
        })
        .collect();
    let mut jobs = Vec::new();
    let mut versions = Vec::new();
    for h in handles {
        let ids = h.join().unwrap();
        let mine: Vec<i64> = ids.iter().map(|x| x.0).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "{mine:?}");
        jobs.extend(mine);
        versions.extend(ids.iter().map(|x| x.1).filter(|&v| v != 0));
    }
    let n = jobs.len();
    jobs.sort_unstable();
    jobs.dedup();
    assert_eq!(jobs.len(), n);
    let n = versions.len();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), n);
    let fresh = (h.open)();
    assert_eq!(fresh.project_job_count("p").unwrap(), 4 * (12 + 3 * 2));
}

pub fn versions_in_and_version_lookups(h: &Harness) {
    let store = (h.open)();
    let (_, a) = store
        .create_job(&new_job("a", "0"), &new_version(1), 10)
        .unwrap();
    let (_, b) = store
        .create_job(
            &NewJob {
                project_id: "q".into(),
                ..new_job("b", "0")
            },
            &new_version(2),
            10,
        )
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::Running);
    up.start_time = Some(3);
    up.run_handle = Some(Some("h".into()));
    store.update_status(b.version_id, &up).unwrap();
    let got = store
        .versions_in(&[JobStatus::Init, JobStatus::Running])
        .unwrap();
    let summary: Vec<(i64, &str, JobStatus, Option<&str>)> = got
        .iter()
        .map(|r| {
            (
                r.version_id,
                r.project_id.as_str(),
                r.status,
                r.run_handle.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (a.version_id, "p", JobStatus::Init, None),
            (b.version_id, "q", JobStatus::Running, Some("h"))
        ]
    );
    assert!(store.versions_in(&[JobStatus::Waiting]).unwrap().is_empty());
    let (job, v) = store.version_by_id(b.version_id).unwrap();
    assert_eq!(
        (job.project_id.as_str(), v.status),
        ("q", JobStatus::Running)
    );
    assert_eq!(v.config, new_version(2).config);
    assert_eq!(v.engine, new_version(2).engine);
    assert!(matches!(store.version_by_id(0), Err(StoreError::NotFound)));
}

/// Counts of every version by status (not only the latest), against counts made by hand.
pub fn version_status_counts_cover_every_version(h: &Harness) {
    let store = (h.open)();
    assert!(store.version_status_counts().unwrap().is_empty());
    // job a: V1 FAILED, V2 COMPLETED, V3 INIT; job b (another project): V1 RUNNING;
    // job c: V1 FAILED, then the job is deleted (its version no longer counts)
    let (a, a1) = store
        .create_job(&new_job("a", "0"), &new_version(1), 10)
        .unwrap();
    let to = |v: i64, st: JobStatus| {
        let mut up = StatusUpdate::to(st);
        if st == JobStatus::Running {
            up.start_time = Some(5);
        } else {
            up.end_time = Some(9);
        }
        store.update_status(v, &up).unwrap();
    };
    to(a1.version_id, JobStatus::Failed);
    let (_, a2) = store
        .create_version("p", a.job_id, a1.version_id, &new_version(2))
        .unwrap();
    to(a2.version_id, JobStatus::Completed);
    store
        .create_version("p", a.job_id, a2.version_id, &new_version(3))
        .unwrap();
    let (_, b1) = store
        .create_job(
            &NewJob {
                project_id: "q".into(),
                ..new_job("b", "0")
            },
            &new_version(4),
            10,
        )
        .unwrap();
    to(b1.version_id, JobStatus::Running);
    let (c, c1) = store
        .create_job(&new_job("c", "0"), &new_version(6), 10)
        .unwrap();
    to(c1.version_id, JobStatus::Failed);
    store.delete_job("p", c.job_id).unwrap();
    let mut want = vec![
        (JobStatus::Init, 1),
        (JobStatus::Running, 1),
        (JobStatus::Completed, 1),
        (JobStatus::Failed, 1),
    ];
    want.sort_by_key(|(st, _)| st.code());
    assert_eq!(store.version_status_counts().unwrap(), want);
}

pub fn users_keys_tokens_and_revocation(h: &Harness) {
    let s = (h.open)();
    let sealer = Sealer::from_key([9; 32]);
    let p = s.add_project(None, "default", 1).unwrap();
    assert_eq!(p.project_id.len(), 32);
    let q = s.add_project(Some("other-1"), "other", 1).unwrap();
    assert!(matches!(
        s.add_project(None, "default", 1),
        Err(AuthError::Exists(_))
    ));
    assert!(matches!(
        s.add_project(Some("other-1"), "third", 1),
        Err(AuthError::Exists(_))
    ));
    assert_eq!(
        s.projects()
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["default", "other"]
    );
    assert_eq!(
        s.find_project("other").unwrap().unwrap().project_id,
        "other-1"
    );
    assert_eq!(s.find_project("other-1").unwrap().unwrap().name, "other");
    let u = s
        .add_user("alice", "alice", "correct horse", &["default".into()], 2)
        .unwrap();
    assert_eq!(u.projects, vec![p.project_id.clone()]);
    assert!(matches!(
        s.add_user("alice", "alice", "correct horse", &["default".into()], 2),
        Err(AuthError::Exists(_))
    ));
    assert!(matches!(
        s.add_user("bob", "bob", "short", &["default".into()], 2),
        Err(AuthError::Invalid(_))
    ));
    assert!(matches!(
        s.add_user("bob", "bob", "long enough", &["nope".into()], 2),
        Err(AuthError::Missing(_))
    ));
    assert_eq!(s.active_user_count().unwrap(), 1);
    assert_eq!(s.users().unwrap()[0].projects, vec![p.project_id.clone()]);

    let k = s.create_access_key(&sealer, "alice", "alice", 3).unwrap();
    assert_eq!(k.access_key.len(), trainyard_store::auth::ACCESS_KEY_LEN);
    assert_eq!(k.secret_key.len(), trainyard_store::auth::SECRET_KEY_LEN);
    assert!(!format!("{k:?}").contains(&k.secret_key));
    assert!(matches!(
        s.create_access_key(&sealer, "nobody", "nobody", 3),
        Err(AuthError::Missing(_))
    ));
    let got = s
        .access_key_secret(&sealer, &k.access_key)
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, k.secret_key.as_bytes());
    assert_eq!(got.identity.projects, vec![p.project_id.clone()]);
    // a different key cannot open it
    let other = Sealer::from_key([7; 32]);
    assert!(matches!(
        s.access_key_secret(&other, &k.access_key),
        Err(AuthError::Unseal)
    ));

    // login: wrong password, wrong domain, project not allowed, unknown user: all None
    let ttl = 1000;
    let login = |user: &str, domain: &str, pw: &str, project: ProjectRef<'_>| {
        s.login(user, domain, pw, project, 10, ttl).unwrap()
    };
    assert!(login("alice", "alice", "wrong pass", ProjectRef::Name("default")).is_none());
    assert!(login("alice", "bob", "correct horse", ProjectRef::Name("default")).is_none());
    assert!(
        login(
            "alice",
            "alice",
            "correct horse",
            ProjectRef::Id(&q.project_id)
        )
        .is_none()
    );
    assert!(
        login(
            "nobody",
            "nobody",
            "correct horse",
            ProjectRef::Name("default")
        )
        .is_none()
    );
    let t = login(
        "alice",
        "alice",
        "correct horse",
        ProjectRef::Id(&p.project_id),
    )
    .unwrap();
    assert!(is_token_shaped(&t.token));
    assert_eq!(t.expires_at, 1010);
    assert!(
        matches!(s.check_token(&t.token, 1009).unwrap(), TokenCheck::Valid(ref i) if i.projects == vec![p.project_id.clone()])
    );
    assert_eq!(s.check_token(&t.token, 1010).unwrap(), TokenCheck::Expired);
    assert_eq!(s.check_token("abc", 10).unwrap(), TokenCheck::Invalid);
    assert_eq!(
        s.check_token(&"0".repeat(64), 10).unwrap(),
        TokenCheck::Invalid
    );
    // another handle (replica) sees the token
    let s2 = (h.open)();
    assert!(matches!(
        s2.check_token(&t.token, 11).unwrap(),
        TokenCheck::Valid(_)
    ));
    let t2 = login(
        "alice",
        "alice",
        "correct horse",
        ProjectRef::Name("default"),
    )
    .unwrap();
    assert!(s.revoke_token(&t2.token, 12).unwrap());
    assert!(!s.revoke_token(&t2.token, 12).unwrap());
    assert_eq!(s.check_token(&t2.token, 13).unwrap(), TokenCheck::Invalid);

    // revoking one key stops it; removing the user revokes the rest
    let k2 = s.create_access_key(&sealer, "alice", "alice", 4).unwrap();
    s.revoke_access_key(&k.access_key, 5).unwrap();
    assert!(
        s.access_key_secret(&sealer, &k.access_key)
            .unwrap()
            .is_none()
    );
    assert!(
        s.access_key_secret(&sealer, &k2.access_key)
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        s.revoke_access_key(&k.access_key, 5),
        Err(AuthError::Missing(_))
    ));
    assert_eq!(s.access_keys(Some(("alice", "alice"))).unwrap().len(), 2);
    s.remove_user("alice", "alice", 6).unwrap();
    assert!(matches!(
        s.remove_user("alice", "alice", 6),
        Err(AuthError::Missing(_))
    ));
    assert!(
        s.access_key_secret(&sealer, &k2.access_key)
            .unwrap()
            .is_none()
    );
    assert_eq!(s.check_token(&t.token, 20).unwrap(), TokenCheck::Invalid);
    let keys = s.access_keys(None).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.revoked_at.is_some()));
    assert_eq!(s.active_user_count().unwrap(), 0);
    // the name can be used again
    s.add_user(
        "alice",
        "alice",
        "another pass",
        std::slice::from_ref(&q.project_id),
        7,
    )
    .unwrap();
}

pub fn first_project_login_and_projects_of_user(h: &Harness) {
    let s = (h.open)();
    let a = s.add_project(Some("b-proj"), "beta", 1).unwrap();
    let b = s.add_project(Some("a-proj"), "alpha", 1).unwrap();
    let c = s.add_project(Some("c-proj"), "gamma", 1).unwrap();
    let u = s
        .add_user(
            "carol",
            "carol",
            "correct horse",
            &["beta".into(), "alpha".into()],
            2,
        )
        .unwrap();
    // the user's projects with their names, by id; not the project she may not use
    let mine = s.projects_of_user(u.user_id).unwrap();
    assert_eq!(mine, vec![b.clone(), a.clone()]);
    assert!(!mine.contains(&c));
    // a login naming no project is scoped to the first of them (by id)
    let t = s
        .login(
            "carol",
            "carol",
            "correct horse",
            ProjectRef::FirstOfUser,
            10,
            1000,
        )
        .unwrap()
        .unwrap();
    assert_eq!(t.project, b);
    assert_eq!(t.identity.projects, vec!["a-proj".to_owned()]);
    // ...and refused alike with a wrong password or an unknown user
    for (user, pw) in [("carol", "wrong horse"), ("dave", "correct horse")] {
        assert!(
            s.login(user, user, pw, ProjectRef::FirstOfUser, 10, 1000)
                .unwrap()
                .is_none()
        );
    }
    // a removed user has no projects
    s.remove_user("carol", "carol", 20).unwrap();
    assert!(s.projects_of_user(u.user_id).unwrap().is_empty());
    assert!(s.projects_of_user(9999).unwrap().is_empty());
}

/// The first check records the key; the same key passes on every handle, another is refused.
pub fn sealing_key_check(h: &Harness) {
    let s = (h.open)();
    let a = Sealer::from_key([1; 32]);
    s.check_sealer(&a).unwrap();
    s.check_sealer(&a).unwrap();
    let s2 = (h.open)();
    s2.check_sealer(&a).unwrap();
    assert!(matches!(
        s2.check_sealer(&Sealer::from_key([2; 32])),
        Err(AuthError::Unseal)
    ));
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("test values are objects"),
    }
}

fn names(rows: &[ConfigRecord]) -> Vec<&str> {
    rows.iter().map(|r| r.config_name.as_str()).collect()
}

pub fn configs_round_trip_and_stay_in_their_project(h: &Harness) {
    use serde_json::{Map, json};
    let store = (h.open)();
    let cfg = obj(json!({"spec_id": 1, "worker_server_num": 2, "dataset_id": "d1"}));
    let rec = store
        .create_config("p1", "gpu", "desc", &cfg, 1000)
        .unwrap();
    assert_eq!(rec.config, cfg);
    assert_eq!((rec.create_time, rec.update_time), (1000, 1000));
    assert!(matches!(
        store.create_config("p1", "gpu", "", &Map::new(), 1001),
        Err(StoreError::DuplicateName { .. })
    ));
    // case-sensitive names, and another project's namespace
    store
        .create_config("p1", "GPU", "", &Map::new(), 1002)
        .unwrap();
    store
        .create_config("p2", "gpu", "", &Map::new(), 1003)
        .unwrap();
    let got = store.get_config("p1", "gpu").unwrap();
    assert_eq!(got.config_desc, "desc");
    assert_eq!(got.config, cfg);
    assert!(matches!(
        store.get_config("p3", "gpu"),
        Err(StoreError::NotFound)
    ));

    let new_cfg = obj(json!({"user_command": "true"}));
    let rec = store
        .update_config("p1", "gpu", None, Some(&new_cfg), 2000)
        .unwrap();
    assert_eq!(rec.config_desc, "desc");
    assert_eq!(rec.config, new_cfg);
    assert_eq!((rec.create_time, rec.update_time), (1000, 2000));
    let rec = store
        .update_config("p1", "gpu", Some(""), None, 3000)
        .unwrap();
    assert_eq!(rec.config_desc, "");
    assert_eq!(rec.config, new_cfg);
    assert!(matches!(
        store.update_config("p1", "nope", Some("x"), None, 1),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_config("p3", "gpu"),
        Err(StoreError::NotFound)
    ));
    store.delete_config("p1", "gpu").unwrap();
    assert!(matches!(
        store.delete_config("p1", "gpu"),
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_config("p1", "gpu"),
        Err(StoreError::NotFound)
    ));
    assert!(store.get_config("p2", "gpu").is_ok());
}

pub fn configs_list_filters_sorts_and_pages(h: &Harness) {
    use serde_json::Map;
    let store = (h.open)();
    // (name, desc, create_time)
    for (n, d, t) in [
        ("b_x", "same", 30),
        ("a%y", "same", 10),
        ("C-z", "zz", 20),
        ("bax", "", 30),
    ] {
        store.create_config("p", n, d, &Map::new(), t).unwrap();
    }
    store
        .create_config("other", "b_other", "", &Map::new(), 5)
        .unwrap();
    let list = |q: ConfigListQuery| store.list_configs("p", &q).unwrap();
    // default: config_name desc, byte order (upper case before lower case)
    let (n, rows) = list(ConfigListQuery::default());
    assert_eq!(n, 4);
    assert_eq!(names(&rows), ["bax", "b_x", "a%y", "C-z"]);
    let asc = |sort_by| ConfigListQuery {
        sort_by,
        order: Order::Asc,
        ..ConfigListQuery::default()
    };
    assert_eq!(
        names(&list(asc(ConfigSortKey::ConfigName)).1),
        ["C-z", "a%y", "b_x", "bax"]
    );
    // ties (desc "same", time 30) broken by name in the same direction
    assert_eq!(
        names(&list(asc(ConfigSortKey::ConfigDesc)).1),
        ["bax", "a%y", "b_x", "C-z"]
    );
    assert_eq!(
        names(&list(asc(ConfigSortKey::CreateTime)).1),
        ["a%y", "C-z", "b_x", "bax"]
    );
    let desc_time = ConfigListQuery {
        sort_by: ConfigSortKey::CreateTime,
        ..ConfigListQuery::default()
    };
    assert_eq!(names(&list(desc_time).1), ["bax", "b_x", "C-z", "a%y"]);
    // literal, case-insensitive search; the total counts after the filter
    let search = |s: &str| ConfigListQuery {
        search_content: s.into(),
        order: Order::Asc,
        ..ConfigListQuery::default()
    };
    let (n, rows) = list(search("_"));
    assert_eq!((n, names(&rows)), (1, vec!["b_x"]));
    let (n, rows) = list(search("%"));
    assert_eq!((n, names(&rows)), (1, vec!["a%y"]));
    let (n, rows) = list(search("c-Z"));
    assert_eq!((n, names(&rows)), (1, vec!["C-z"]));
    // paging: page 2 of 3 per page, and a page past the end
    let page = |page| ConfigListQuery {
        per_page: 3,
        page,
        order: Order::Asc,
        ..ConfigListQuery::default()
    };
    let (n, rows) = list(page(2));
    assert_eq!((n, names(&rows)), (4, vec!["bax"]));
    let (n, rows) = list(page(3));
    assert_eq!((n, rows.len()), (4, 0));
}
