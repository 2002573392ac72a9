//! `list_all` walks pages until a short page (or the total) and yields every job once.

use futures::TryStreamExt;
use trainyard_client::{Estimator, JobListParams, JobListQuery, JobStatus, Order};

use crate::fake::{Fake, Reply, list_body, row};

/// A fake list endpoint over `n` jobs (ids 1..=n, names by id), paging like `list.md`.
async fn jobs(n: i64) -> Fake {
    Fake::start(move |seen, _| {
        let per_page: i64 = seen.param("per_page").unwrap().parse().unwrap();
        let page: i64 = seen.param("page").unwrap().parse().unwrap();
        let desc = seen.param("order").as_deref() == Some("desc");
        let mut ids: Vec<i64> = (1..=n).collect();
        if desc {
            ids.reverse();
        }
        let rows: Vec<_> = ids
            .iter()
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .map(|i| row(*i, &format!("job-{i:05}")))
            .collect();
        Reply::ok(list_body(n as u64, &rows))
    })
    .await
}

fn pages(fake: &Fake) -> Vec<(String, String)> {
    fake.requests()
        .iter()
        .map(|s| (s.param("per_page").unwrap(), s.param("page").unwrap()))
        .collect()
}

fn p(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn walks_pages_of_1000_until_a_short_page() {
    let fake = jobs(2500).await;
    let session = trainyard_client::Session::without_auth(fake.url(), "default").unwrap();
    let rows: Vec<_> = Estimator::list_all(&session, &JobListParams::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2500);
    // SDK default order: descending.
    assert_eq!(
        rows.iter().map(|r| r.job_id).collect::<Vec<_>>(),
        (1..=2500).rev().collect::<Vec<_>>()
    );
    assert_eq!(
        pages(&fake),
        [p("1000", "1"), p("1000", "2"), p("1000", "3")]
    );
}

#[tokio::test]
async fn stops_at_the_total_without_an_empty_page() {
    let fake = jobs(2000).await;
    let session = trainyard_client::Session::without_auth(fake.url(), "default").unwrap();
    let rows: Vec<_> = Estimator::list_all(&session, &JobListParams::new().order(Order::Asc))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 2000);
    assert_eq!(rows[0].job_id, 1);
    assert_eq!(pages(&fake), [p("1000", "1"), p("1000", "2")]);
}

#[tokio::test]
async fn uses_the_query_page_size_and_start_page() {
    let fake = jobs(25).await;
    let session = trainyard_client::Session::without_auth(fake.url(), "default").unwrap();
    let q = JobListParams::new()
        .per_page(10)
        .page(2)
        .order(Order::Asc)
        .status(JobStatus::Running);
    let rows: Vec<_> = Estimator::list_all(&session, &q)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.job_id).collect::<Vec<_>>(),
        (11..=25).collect::<Vec<_>>()
    );
    assert_eq!(pages(&fake), [p("10", "2"), p("10", "3")]);
    assert!(
        fake.requests()
            .iter()
            .all(|s| s.param("status").as_deref() == Some("8"))
    );

    // A JobListQuery is sent as given (REST defaults: ascending, 10 per page).
    let fake = jobs(12).await;
    let session = trainyard_client::Session::without_auth(fake.url(), "default").unwrap();
    let rows: Vec<_> = Estimator::list_all(&session, &JobListQuery::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 12);
    assert_eq!(rows[0].job_id, 1);
    assert_eq!(pages(&fake), [p("10", "1"), p("10", "2")]);
}

#[tokio::test]
async fn empty_list_is_one_request() {
    let fake = jobs(0).await;
    let session = trainyard_client::Session::without_auth(fake.url(), "default").unwrap();
    let rows: Vec<_> = Estimator::list_all(&session, &JobListParams::new())
        .try_collect()
        .await
        .unwrap();
    assert!(rows.is_empty());
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_job_shifted_to_the_next_page_is_not_yielded_twice() {
    // Page 1 shows jobs 1..=3 of 6; then a new job is inserted at the front, so page 2 starts
    // with job 3 again.
    let fake = Fake::start(|seen, _| {
        let page = seen.param("page").unwrap();
        let ids: &[i64] = if page == "1" { &[1, 2, 3] } else { &[3, 4, 5] };
        let total = if page == "1" { 6 } else { 7 };
        let rows: Vec<_> = ids.iter().map(|i| row(*i, "x")).collect();
        let rows = if page == "3" { vec![row(6, "x")] } else { rows };
        Reply::ok(list_body(total, &rows))
    })
    .await;
    let session = trainyard_client::Session::without_auth(fake.url(), "default").unwrap();
    let rows: Vec<_> = Estimator::list_all(&session, &JobListParams::new().per_page(3))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.job_id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
}
