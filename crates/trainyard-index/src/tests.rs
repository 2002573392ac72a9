//! The index against a naive evaluation of `list.md` (filter, sort by (key, job_id), slice).

use super::*;
use proptest::prelude::*;
use trainyard_api::list::StatusSet;
use trainyard_api::params::WorkspaceId;

/// The reference: straight from list.md, independent of the index's structures.
fn naive(rows: &[Row], q: &JobListQuery, now: i64) -> ListPage {
    let needle = search_fold(&q.search_content);
    let mut hits: Vec<&Row> = rows
        .iter()
        .filter(|r| q.status.contains(r.status))
        .filter(|r| search_fold(&r.job_name).contains(&needle))
        .collect();
    hits.sort_by(|a, b| {
        let o = compare(a, b, q.sort_by, now);
        if q.order == Order::Desc {
            o.reverse()
        } else {
            o
        }
    });
    let total = hits.len() as u64;
    let rows = hits
        .into_iter()
        .skip(q.offset() as usize)
        .take(q.per_page as usize)
        .map(|r| r.to_wire(now))
        .collect();
    ListPage { total, rows }
}

/// The reference status counts: jobs whose name matches the search, per status code.
fn naive_counts(rows: &[Row], search: &str) -> StatusCounts {
    let needle = search_fold(search);
    let mut counts = [0u64; 23];
    for r in rows {
        if search_fold(&r.job_name).contains(&needle) {
            counts[r.status.code() as usize] += 1;
        }
    }
    counts
}

#[allow(clippy::too_many_arguments)] // a compact fixture builder
fn row(
    job_id: i64,
    name: &str,
    desc: &str,
    status: u8,
    ct: i64,
    start: Option<i64>,
    dur: i64,
    vc: i64,
    et: i64,
) -> Row {
    Row {
        job_id,
        job_name: name.to_owned(),
        job_desc: desc.to_owned(),
        version_id: job_id * 10,
        status: JobStatus::from_code(i64::from(status)).unwrap(),
        create_time: ct,
        start_time: start,
        duration: dur,
        version_count: vc,
        engine_type: et,
    }
}

fn query(
    status: StatusSet,
    key: SortKey,
    order: Order,
    per_page: u32,
    page: u32,
    search: &str,
) -> JobListQuery {
    JobListQuery {
        status,
        per_page,
        page,
        sort_by: key,
        order,
        search_content: search.to_owned(),
        workspace_id: WorkspaceId::default(),
    }
}

#[test]
fn list_md_examples() {
    let mut ix = ListIndex::new();
    ix.upsert("p", "0", row(1, "aaa", "", 10, 1, None, 0, 1, 13));
    ix.upsert("p", "0", row(2, "bbb", "", 11, 2, None, 0, 1, 13));
    ix.upsert("p", "0", row(3, "ccc", "", 11, 3, None, 0, 1, 13));
    let names = |p: ListPage| {
        (
            p.rows.into_iter().map(|r| r.job_name).collect::<Vec<_>>(),
            p.total,
        )
    };
    let all = StatusSet::all();
    assert_eq!(
        names(ix.query(
            "p",
            &query(all, SortKey::JobName, Order::Desc, 10, 1, ""),
            0
        )),
        (vec!["ccc".into(), "bbb".into(), "aaa".into()], 3)
    );
    let failed: StatusSet = [JobStatus::Failed].into_iter().collect();
    assert_eq!(
        names(ix.query(
            "p",
            &query(failed, SortKey::JobName, Order::Asc, 1, 2, ""),
            0
        )),
        (vec!["ccc".into()], 2)
    );
    assert_eq!(
        names(ix.query(
            "p",
            &query(all, SortKey::JobName, Order::Asc, 10, 1, "B"),
            0
        )),
        (vec!["bbb".into()], 1)
    );
    assert_eq!(
        names(ix.query("p", &query(all, SortKey::JobName, Order::Asc, 10, 9, ""), 0)),
        (vec![], 3)
    );
    assert_eq!(
        ix.query(
            "other",
            &query(all, SortKey::JobName, Order::Asc, 10, 1, ""),
            0
        )
        .total,
        0
    );
    assert_eq!(ix.project_job_count("p"), 3);
}

#[test]
fn live_duration_sorts_by_current_value() {
    let mut ix = ListIndex::new();
    // fixed durations 100 and 5000; a running job started at t=1000
    ix.upsert("p", "0", row(1, "a", "", 10, 0, Some(0), 100, 1, 0));
    ix.upsert("p", "0", row(2, "b", "", 10, 0, Some(0), 5000, 1, 0));
    ix.upsert("p", "0", row(3, "c", "", 8, 0, Some(1000), 0, 1, 0));
    let q = query(StatusSet::all(), SortKey::Duration, Order::Asc, 10, 1, "");
    let ids = |ix: &ListIndex, now| {
        ix.query("p", &q, now)
            .rows
            .iter()
            .map(|r| (r.job_id, r.duration))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&ix, 1050), vec![(3, 50), (1, 100), (2, 5000)]);
    assert_eq!(ids(&ix, 3000), vec![(1, 100), (3, 2000), (2, 5000)]);
    assert_eq!(ids(&ix, 9000), vec![(1, 100), (2, 5000), (3, 8000)]);
    // the job ends: its duration freezes
    ix.upsert("p", "0", row(3, "c", "", 10, 0, Some(1000), 2500, 1, 0));
    assert_eq!(ids(&ix, 9000), vec![(1, 100), (3, 2500), (2, 5000)]);
}

#[test]
fn search_is_literal_and_folds_case() {
    let mut ix = ListIndex::new();
    let names = [
        "job_1",
        "jobX1",
        "job-1",
        "a_c",
        "abc",
        "axc",
        "a-c",
        "Ärger-run",
        "Anger-run",
        "ResNet",
        "a%c",
        "x.y",
        "p(q",
        "r'[s\\",
    ];
    for (i, n) in names.iter().enumerate() {
        ix.upsert("p", "0", row(i as i64 + 1, n, "", 10, 0, None, 0, 1, 0));
    }
    let find = |s: &str| {
        let mut v: Vec<String> = ix
            .query(
                "p",
                &query(StatusSet::all(), SortKey::JobName, Order::Asc, 100, 1, s),
                0,
            )
            .rows
            .into_iter()
            .map(|r| r.job_name)
            .collect();
        v.sort();
        v
    };
    assert_eq!(find("_"), vec!["a_c", "job_1"]);
    assert_eq!(find("%"), vec!["a%c"]);
    assert_eq!(find("."), vec!["x.y"]);
    assert_eq!(find("*"), Vec::<String>::new());
    assert_eq!(find("("), vec!["p(q"]);
    assert_eq!(find("'[s\\"), vec!["r'[s\\"]);
    assert_eq!(find("ärger"), vec!["Ärger-run"]);
    assert_eq!(find("GER-RUN"), vec!["Anger-run", "Ärger-run"]);
    assert_eq!(find("resnet"), vec!["ResNet"]);
}

fn arb_row(job_id: i64) -> impl Strategy<Value = Row> {
    let names = prop::sample::select(vec![
        "a", "A", "b", "ab", "Ab", "a_b", "a-b", "é", "É", "z9", "训练", "_x", "-y",
    ]);
    (
        names,
        0u32..50,
        prop::sample::select(vec!["", "same", "x", "X", "述"]),
        prop::sample::select(vec![1u8, 3, 7, 8, 9, 10, 11, 12, 13]),
        0i64..5,
        prop::option::of(0i64..5),
        0i64..4,
        1i64..3,
        0i64..3,
    )
        .prop_map(move |(n, suffix, d, st, ct, start, dur, vc, et)| {
            row(
                job_id,
                &format!("{n}{suffix}"),
                d,
                st,
                ct,
                start,
                dur,
                vc,
                et,
            )
        })
}

#[derive(Clone, Debug)]
enum Op {
    Upsert(Row),
    Remove(i64),
}

fn arb_ops() -> impl Strategy<Value = (Vec<Row>, Vec<Op>)> {
    let initial =
        (0usize..150).prop_flat_map(|n| (0..n).map(|i| arb_row(i as i64 + 1)).collect::<Vec<_>>());
    let ops = prop::collection::vec(
        prop_oneof![
            (1i64..200).prop_flat_map(arb_row).prop_map(Op::Upsert),
            (1i64..200).prop_map(Op::Remove),
        ],
        0..60,
    );
    (initial, ops)
}

fn arb_query() -> impl Strategy<Value = JobListQuery> {
    let statuses = prop_oneof![
        Just(StatusSet::all()),
        prop::collection::vec(
            prop::sample::select(vec![1u8, 3, 7, 8, 9, 10, 11, 12, 13, 20]),
            1..9
        )
        .prop_map(|v| v
            .into_iter()
            .filter_map(|c| JobStatus::from_code(i64::from(c)))
            .collect()),
    ];
    (
        statuses,
        prop::sample::select(SortKey::ALL.to_vec()),
        prop::bool::ANY,
        1u32..12,
        1u32..8,
        prop::sample::select(vec![
            "", "a", "A", "b", "_", "-", "é", "É", "1", "a_", "训", "zz", "ab1",
        ]),
    )
        .prop_map(|(st, key, desc, pp, page, s)| {
            query(
                st,
                key,
                if desc { Order::Desc } else { Order::Asc },
                pp,
                page,
                s,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn index_equals_naive((initial, ops) in arb_ops(), queries in prop::collection::vec(arb_query(), 1..8), now in 0i64..10, bulk in prop::bool::ANY) {
        let mut ix = ListIndex::new();
        let mut model: Vec<Row> = Vec::new();
        if bulk {
            ix.bulk_insert("p", "0", initial.clone());
        } else {
            for r in &initial {
                ix.upsert("p", "0", r.clone());
            }
        }
        model.extend(initial);
        for op in ops {
            match op {
                Op::Upsert(r) => {
                    model.retain(|m| m.job_id != r.job_id);
                    model.push(r.clone());
                    ix.upsert("p", "0", r);
                }
                Op::Remove(id) => {
                    let had = model.iter().any(|m| m.job_id == id);
                    model.retain(|m| m.job_id != id);
                    prop_assert_eq!(ix.remove("p", "0", id), had);
                }
            }
        }
        prop_assert_eq!(ix.project_job_count("p"), model.len() as u64);
        for q in queries {
            prop_assert_eq!(ix.query("p", &q, now), naive(&model, &q, now), "query {:?}", q);
            let (page, counts) = ix.query_with_counts("p", &q, now);
            prop_assert_eq!(page, naive(&model, &q, now), "query with counts {:?}", q);
            prop_assert_eq!(counts, naive_counts(&model, &q.search_content), "counts {:?}", q);
        }
    }
}

#[test]
fn bulk_insert_into_large_scope_matches_naive() {
    let mut ix = ListIndex::new();
    let mut model = Vec::new();
    let mut id = 0i64;
    for batch in 0..4 {
        let rows: Vec<Row> = (0..3000)
            .map(|i| {
                id += 1;
                let st = [10u8, 11, 12, 13, 8][(i * 7 + batch) % 5];
                row(
                    id,
                    &format!("job-{}", (i * 7919) % 1000),
                    &format!("d{}", i % 17),
                    st,
                    (i % 97) as i64,
                    Some(5),
                    (i % 13) as i64,
                    1 + (i % 3) as i64,
                    (i % 4) as i64,
                )
            })
            .collect();
        model.extend(rows.clone());
        ix.bulk_insert("p", "0", rows);
    }
    for key in SortKey::ALL {
        for order in [Order::Asc, Order::Desc] {
            for (st, search, page, pp) in [
                (StatusSet::all(), "", 1, 10),
                (StatusSet::all(), "", 1000, 10),
                (
                    [JobStatus::Failed, JobStatus::Canceled]
                        .into_iter()
                        .collect(),
                    "",
                    37,
                    100,
                ),
                (StatusSet::all(), "job-99", 2, 7),
                (StatusSet::all(), "9", 40, 50),
                ([JobStatus::Running].into_iter().collect(), "1", 1, 1000),
            ] {
                let q = query(st, key, order, pp, page, search);
                assert_eq!(ix.query("p", &q, 100), naive(&model, &q, 100), "{q:?}");
                let (page, counts) = ix.query_with_counts("p", &q, 100);
                assert_eq!(page, naive(&model, &q, 100), "{q:?}");
                assert_eq!(counts, naive_counts(&model, search), "{q:?}");
            }
        }
    }
}

#[test]
fn len_and_status_counts_follow_upserts_and_removes() {
    let mut ix = ListIndex::new();
    assert!(ix.is_empty());
    ix.upsert("p1", "0", row(1, "a", "", 8, 1, Some(1), 0, 1, 0));
    ix.upsert("p1", "ws", row(2, "b", "", 10, 2, Some(2), 5, 1, 0));
    ix.bulk_insert(
        "p2",
        "0",
        vec![
            row(3, "c", "", 10, 3, Some(3), 5, 1, 0),
            row(4, "d", "", 11, 4, Some(4), 5, 1, 0),
        ],
    );
    // job 1's latest version moves 8 -> 10
    ix.upsert("p1", "0", row(1, "a", "", 10, 1, Some(1), 9, 1, 0));
    let c = ix.status_counts();
    assert_eq!((ix.len(), c[8], c[10], c[11]), (4, 0, 3, 1));
    assert_eq!(c.iter().sum::<u64>(), 4);
    assert!(ix.remove("p2", "0", 4));
    let c = ix.status_counts();
    assert_eq!((ix.len(), c[10], c[11]), (3, 3, 0));
}

#[test]
fn counts_follow_status_changes_and_removals() {
    let mut ix = ListIndex::new();
    ix.upsert("p", "0", row(1, "Alpha", "", 8, 1, Some(0), 0, 1, 1));
    ix.upsert("p", "0", row(2, "beta", "", 8, 1, Some(0), 0, 1, 1));
    ix.upsert("p", "0", row(3, "alphabet", "", 10, 1, None, 5, 1, 1));
    ix.upsert("q", "0", row(4, "alpha", "", 10, 1, None, 5, 1, 1));
    let q = |search: &str| {
        query(
            StatusSet::all(),
            SortKey::JobName,
            Order::Asc,
            10,
            1,
            search,
        )
    };
    let (_, c) = ix.query_with_counts("p", &q(""), 0);
    assert_eq!((c[8], c[10], c.iter().sum::<u64>()), (2, 1, 3));
    let (page, c) = ix.query_with_counts("p", &q("ALPHA"), 0);
    assert_eq!((c[8], c[10], page.total), (1, 1, 2));
    // job 2 ends: counted under its new status, once
    ix.upsert("p", "0", row(2, "beta", "", 12, 1, Some(0), 3, 1, 1));
    let (_, c) = ix.query_with_counts("p", &q(""), 0);
    assert_eq!((c[8], c[10], c[12]), (1, 1, 1));
    // a status filter does not narrow the counts; the search does
    let mut running = q("a");
    running.status = [JobStatus::Running].into_iter().collect();
    let (page, c) = ix.query_with_counts("p", &running, 0);
    assert_eq!((page.total, c[8], c[10], c[12]), (1, 1, 1, 1));
    ix.remove("p", "0", 1);
    let (_, c) = ix.query_with_counts("p", &q("a"), 0);
    assert_eq!((c[8], c[10], c[12]), (0, 1, 1));
    // another project and an unknown scope
    let (_, c) = ix.query_with_counts("q", &q(""), 0);
    assert_eq!(c[10], 1);
    let (page, c) = ix.query_with_counts("nobody", &q(""), 0);
    assert_eq!((page.total, c.iter().sum::<u64>()), (0, 0));
    let mut projects: Vec<&str> = ix.projects().collect();
    projects.sort_unstable();
    assert_eq!(projects, vec!["p", "q"]);
}
