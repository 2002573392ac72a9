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
