//! The conformance suite on SQLite (always), and SQLite-only tests (its migrations).

use crate::conformance::{Harness, hist, new_job, new_version};
use trainyard_store::{Location, NewJob, Store};

fn harness() -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Sqlite(dir.path().join("t.db"));
    Some(Harness {
        open: Box::new(move || Store::open(&location).unwrap()),
        cases: 40,
        _guard: Box::new(dir),
    })
}

store_test_suite!(harness);

#[test]
fn project_job_counts_are_kept_and_backfilled_by_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let location = Location::Sqlite(path.clone());
    {
        let store = Store::open(&location).unwrap();
        store
            .import(
                "p",
                &[
                    hist("a", "0", 10, 1, None, None),
                    hist("b", "w", 10, 1, None, None),
                ],
                100,
            )
            .unwrap();
        let (job, _) = store
            .create_job(&new_job("c", "0"), &new_version(1), 100)
            .unwrap();
        store
            .create_job(
                &NewJob {
                    project_id: "q".into(),
                    ..new_job("c", "0")
                },
                &new_version(1),
                100,
            )
            .unwrap();
        store.delete_job("p", job.job_id).unwrap();
    }
    // a database from before the counts table: the migration computes them
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("DROP TABLE project_job_counts; DROP TABLE meta; PRAGMA user_version = 4;")
            .unwrap();
    }
    let store = Store::open(&location).unwrap();
    assert_eq!(
        (
            store.project_job_count("p").unwrap(),
            store.project_job_count("q").unwrap(),
            store.project_job_count("none").unwrap()
        ),
        (2, 1, 0)
    );
}

/// On SQLite (one writer) a refused import takes no ids: the next job's id follows the last
/// one (by hand: "taken" is job 1, "next" is 2).
#[test]
fn a_refused_import_leaves_no_id_gap() {
    use trainyard_store::StoreError;
    let h = harness().unwrap();
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
                hist("taken", "0", 10, 1, None, None),
            ],
            100,
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateName { line: Some(1), .. }),
        "{err:?}"
    );
    let (next, _) = store
        .create_job(&new_job("next", "0"), &new_version(1), 100)
        .unwrap();
    assert_eq!(next.job_id, 2);
}
