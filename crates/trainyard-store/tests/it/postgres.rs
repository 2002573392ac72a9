//! The conformance suite on PostgreSQL: each test gets a fresh schema of the database at
//! `TRAINYARD_TEST_PG_URL` (dropped afterwards). Without that variable the tests say so and
//! pass, unless `TRAINYARD_REQUIRE_PG=1` (CI), where a missing database fails them.

use crate::conformance::Harness;
use std::sync::atomic::{AtomicU64, Ordering};
use trainyard_store::{Location, Store};

/// The admin URL, or `None` when PostgreSQL tests are not asked for.
pub fn pg_url() -> Option<String> {
    match std::env::var("TRAINYARD_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("TRAINYARD_REQUIRE_PG").as_deref() != Ok("1"),
                "TRAINYARD_REQUIRE_PG=1 but TRAINYARD_TEST_PG_URL is not set"
            );
            None
        }
    }
}

/// A schema that is dropped with its contents when this is dropped.
pub struct Schema {
    admin: String,
    /// The schema's name.
    pub name: String,
    /// A URL whose connections use only this schema.
    pub url: String,
}

impl Schema {
    /// Creates a fresh schema.
    pub fn create(admin: &str) -> Schema {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "ty_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
        ))
        .unwrap();
        let sep = if admin.contains('?') { '&' } else { '?' };
        Schema {
            admin: admin.to_owned(),
            url: format!("{admin}{sep}options=-csearch_path%3D{name}"),
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

fn harness() -> Option<Harness> {
    let admin = pg_url()?;
    let schema = Schema::create(&admin);
    let location = Location::Postgres(schema.url.clone());
    Some(Harness {
        open: Box::new(move || Store::open(&location).unwrap()),
        cases: 8,
        _guard: Box::new(schema),
    })
}

store_test_suite!(harness);

/// `Store::copy_into` (what `trainyard migrate` runs): a SQLite store with jobs, imports,
/// versions, statuses, a deleted job, accounts and configs, copied into an empty PostgreSQL
/// schema, reads back the same through the API, and ids continue after the source's.
#[test]
fn copy_from_sqlite_into_postgres() {
    use crate::conformance::{hist, new_job, new_version};
    use trainyard_api::list::{JobListQuery, Order, SortKey};
    use trainyard_api::status::JobStatus;
    use trainyard_store::StatusUpdate;
    use trainyard_store::auth::{ProjectRef, Sealer, TokenCheck};
    let Some(admin) = pg_url() else {
        eprintln!("copy_from_sqlite_into_postgres: PostgreSQL not available, not run");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let src = Store::open(&Location::Sqlite(dir.path().join("t.db"))).unwrap();
    let sealer = Sealer::from_key([5; 32]);
    src.check_sealer(&sealer).unwrap();
    let p = src.add_project(Some("p"), "main", 1).unwrap();
    src.add_user("alice", "alice", "correct horse", &["p".into()], 2)
        .unwrap();
    let key = src.create_access_key(&sealer, "alice", "alice", 3).unwrap();
    let token = src
        .login(
            "alice",
            "alice",
            "correct horse",
            ProjectRef::Id("p"),
            10,
            1_000_000,
        )
        .unwrap()
        .unwrap();
    src.create_config("p", "cfg", "d", &serde_json::Map::new(), 5)
        .unwrap();
    src.import(
        "p",
        &[
            hist("h1", "0", 10, 1, Some(2), Some(9)),
            hist("h2", "w", 11, 3, None, None),
        ],
        100,
    )
    .unwrap();
    let (a, va) = src
        .create_job(&new_job("a", "0"), &new_version(20), 100)
        .unwrap();
    let (_, va2) = src
        .create_version("p", a.job_id, va.version_id, &new_version(21))
        .unwrap();
    let mut up = StatusUpdate::to(JobStatus::Running);
    up.start_time = Some(22);
    up.run_handle = Some(Some("{\"x\":1}".into()));
    src.update_status(va2.version_id, &up).unwrap();
    let (gone, _) = src
        .create_job(&new_job("gone", "0"), &new_version(30), 100)
        .unwrap();
    src.delete_job("p", gone.job_id).unwrap();

    let schema = Schema::create(&admin);
    let dst = Store::open(&Location::Postgres(schema.url.clone())).unwrap();
    let report = src.copy_into(&dst, |_| {}).unwrap();
    assert_eq!((report.jobs, report.versions, report.users), (3, 4, 1));
    assert_eq!(
        (report.access_keys, report.tokens, report.configs),
        (1, 1, 1)
    );
    // a second copy into the same (now non-empty) target is refused
    assert!(src.copy_into(&dst, |_| {}).is_err());

    dst.check_sealer(&sealer).unwrap();
    assert!(dst.check_sealer(&Sealer::from_key([6; 32])).is_err());
    let secret = dst
        .access_key_secret(&sealer, &key.access_key)
        .unwrap()
        .unwrap();
    assert_eq!(secret.secret, key.secret_key.as_bytes());
    assert_eq!(secret.identity.projects, vec![p.project_id.clone()]);
    assert!(matches!(
        dst.check_token(&token.token, 20).unwrap(),
        TokenCheck::Valid(_)
    ));
    assert!(
        dst.login(
            "alice",
            "alice",
            "correct horse",
            ProjectRef::Name("main"),
            30,
            10
        )
        .unwrap()
        .is_some()
    );
    assert_eq!(
        dst.get_config("p", "cfg").unwrap(),
        src.get_config("p", "cfg").unwrap()
    );
    assert_eq!(
        dst.list_versions("p", a.job_id).unwrap(),
        src.list_versions("p", a.job_id).unwrap()
    );
    for ws in ["0", "w"] {
        for key in SortKey::ALL {
            let q = JobListQuery {
                sort_by: key,
                order: Order::Asc,
                per_page: 100,
                workspace_id: trainyard_api::params::WorkspaceId::parse(ws).unwrap(),
                ..JobListQuery::default()
            };
            assert_eq!(
                dst.list_jobs_sql("p", &q, 100).unwrap(),
                src.list_jobs_sql("p", &q, 100).unwrap()
            );
        }
    }
    assert_eq!(dst.project_job_count("p").unwrap(), 3);
    // ids continue after every id the source handed out, the deleted job's included
    let (next, v) = dst
        .create_job(&new_job("next", "0"), &new_version(40), 100)
        .unwrap();
    assert!(
        next.job_id > gone.job_id,
        "{} <= {}",
        next.job_id,
        gone.job_id
    );
    assert!(v.version_id > va2.version_id + 1);
    let u = dst
        .add_user("bob", "bob", "correct horse", &["p".into()], 50)
        .unwrap();
    assert!(u.user_id > 1);
}

/// On PostgreSQL an import takes its id block in a transaction of its own (so two imports
/// write at once): a refused import leaves its block unused, and the next job's id comes after
/// it (docs/import.md). Ids by hand: "taken" is job 1, the refused import took 2..=4, "next"
/// is 5.
#[test]
fn a_refused_import_leaves_its_ids_unused() {
    use crate::conformance::{hist, new_job, new_version};
    use trainyard_store::StoreError;
    let Some(h) = harness() else {
        eprintln!("a_refused_import_leaves_its_ids_unused: PostgreSQL not available, not run");
        return;
    };
    let store = (h.open)();
    let (taken, _) = store
        .create_job(&new_job("taken", "0"), &new_version(1), 100)
        .unwrap();
    assert_eq!(taken.job_id, 1);
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
    assert!(
        matches!(err, StoreError::DuplicateName { line: Some(2), .. }),
        "{err:?}"
    );
    let (next, _) = store
        .create_job(&new_job("next", "0"), &new_version(1), 100)
        .unwrap();
    assert_eq!(next.job_id, 5);
    // an import refused before its write (the project is full) takes no ids
    let err = store
        .import("p", &[hist("n3", "0", 10, 1, None, None)], 2)
        .unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded { .. }), "{err:?}");
    let ok = store
        .import("p", &[hist("n4", "0", 10, 1, None, None)], 100)
        .unwrap();
    assert_eq!((ok.first_job_id, ok.last_job_id), (6, 6));
    assert_eq!(store.project_job_count("p").unwrap(), 3);
}
