//! Differential property test of the job list: random `list.md` queries through the HTTP API
//! (answered by the in-memory index) must equal the plain SQL evaluation of `list.md`
//! (`Store::list_jobs_sql`) on the same data directory, over 5,000 imported jobs with
//! adversarial names (`_`, `-`, mixed case, Unicode case pairs such as `ä`/`Ä`, `σ`/`Σ`/`ς`,
//! `ß`/`ẞ`) and many ties in every sort key, and while jobs are created, given new versions,
//! re-described, stopped and deleted between queries.
//!
//! Versions created here may be run by the supervisor, so a status or a live duration can
//! change between the HTTP answer and the SQL evaluation: each comparison is retried a few
//! times and live (RUNNING/KILLING) durations are compared within 10 s; a real difference
//! persists over every attempt.

use crate::common::{PROJECT, TestServer, hist};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use trainyard_api::list::{JobListQuery, JobListResponse, JobRow};
use trainyard_store::Store;

const ALPHABET: &[&str] = &[
    "a", "A", "b", "B", "_", "-", "ä", "Ä", "ß", "ẞ", "σ", "Σ", "ς", "1", "9", "é", "É", "ǅ", "ǆ",
    "z",
];
const T0: i64 = 1_700_000_000_000;

/// A tiny deterministic PRNG for the fixture (splitmix64).
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

fn fixture(n: usize) -> Vec<Value> {
    let mut rng = Rng(42);
    let mut seen = std::collections::HashSet::new();
    let terminal = [10, 10, 11, 12, 13, 3, 5, 6, 14];
    let descs = ["", "", "x", "X", "é", "ä b", "Ä b", "100%", "a_b"];
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let len = 1 + rng.below(6);
        let name: String = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut r = hist(
            &name,
            "0",
            terminal[rng.below(terminal.len())],
            T0 + 1000 * rng.below(20) as i64,
        );
        r["job_desc"] = json!(descs[rng.below(descs.len())]);
        r["engine_type"] = json!([0, 10, 13][rng.below(3)]);
        if rng.below(3) > 0 {
            let start = T0 + 100_000;
            r["start_time"] = json!(start);
            r["end_time"] = json!(start + 1000 * rng.below(8) as i64);
        }
        out.push(r);
    }
    // a few jobs in another workspace, which must never show up in workspace "0"
    for i in 0..50 {
        out.push(hist(&format!("other{i}"), "ws-2", 10, T0));
    }
    out
}

/// One generated step: an optional mutation, then a list query.
#[derive(Clone, Debug)]
struct Step {
    mutation: Option<(u8, usize)>,
    pairs: Vec<(String, String)>,
}

fn step() -> impl Strategy<Value = Step> {
    let status = prop_oneof![
        3 => Just(None),
        2 => prop::sample::select(vec![1u8, 3, 5, 6, 7, 8, 10, 11, 12, 13, 14]).prop_map(|c| Some(c.to_string())),
        2 => prop::collection::vec(0u8..23, 1..6).prop_map(|v| Some(v.iter().map(u8::to_string).collect::<Vec<_>>().join(","))),
    ];
    let per_page = prop_oneof![1u32..=12, Just(1000u32), 1u32..=1000];
    let page = prop_oneof![3 => 1u32..=4, 2 => 1u32..=600, 1 => Just(65535u32)];
    let sort = prop::sample::select(vec![
        "job_name",
        "job_desc",
        "status",
        "duration",
        "create_time",
        "version_count",
        "engine_type",
    ]);
    let order = prop::sample::select(vec!["asc", "desc", "DESC"]);
    let search = prop_oneof![
        3 => Just(String::new()),
        3 => prop::collection::vec(prop::sample::select(ALPHABET.to_vec()), 1..4).prop_map(|v| v.concat()),
        1 => prop::sample::select(vec!["%", "_", "a%", "%_", "*", ".", "\\", "'", "ss", "SS", "ΣΑ", "ǆ"]).prop_map(str::to_owned),
    ];
    let mutation = prop::option::weighted(0.4, (0u8..5, any::<usize>()));
    let ws = prop_oneof![9 => Just("0"), 1 => Just("ws-2")];
    (mutation, status, per_page, page, sort, order, search, ws).prop_map(
        |(mutation, status, per_page, page, sort, order, search, ws)| {
            let mut pairs = vec![
                ("per_page".to_owned(), per_page.to_string()),
                ("page".to_owned(), page.to_string()),
                ("sortBy".to_owned(), sort.to_owned()),
                ("order".to_owned(), order.to_owned()),
            ];
            if let Some(s) = status {
                pairs.push(("status".into(), s));
            }
            if !search.is_empty() {
                pairs.push(("search_content".into(), search));
            }
            if ws != "0" {
                pairs.push(("workspace_id".into(), ws.into()));
            }
            Step { mutation, pairs }
        },
    )
}

fn same_row(a: &JobRow, b: &JobRow) -> bool {
    let live = |r: &JobRow| matches!(r.status.code(), 8 | 9);
    if live(a) || live(b) {
        let mut a2 = a.clone();
        a2.duration = b.duration;
        a2 == *b && (a.duration - b.duration).abs() <= 10_000
    } else {
        a == b
    }
}

/// Live jobs created by the test (job id, latest version id).
#[derive(Default)]
struct Created {
    jobs: Vec<(i64, i64)>,
    imported: Vec<i64>,
    seq: usize,
}

async fn mutate(s: &TestServer, c: &mut Created, kind: u8, pick: usize) {
    match kind {
        0 => {
            c.seq += 1;
            let body = TestServer::job_body(&format!("Created-ä-{}", c.seq), "exit 0");
            let (st, b) = s.post("/training-jobs", &body).await;
            assert_eq!(st, 200, "{b}");
            c.jobs.push((
                b["job_id"].as_i64().unwrap(),
                b["version_id"].as_i64().unwrap(),
            ));
        }
        1 if !c.jobs.is_empty() => {
            let (j, v) = c.jobs[pick % c.jobs.len()];
            let body = json!({"config": {"pre_version_id": v}});
            let (st, b) = s.post(&format!("/training-jobs/{j}/versions"), &body).await;
            if st == 200 {
                let i = pick % c.jobs.len();
                c.jobs[i].1 = b["version_id"].as_i64().unwrap();
            }
        }
        2 if !c.jobs.is_empty() => {
            let (j, v) = c.jobs[pick % c.jobs.len()];
            // stopping a finished version is an error; either answer is fine here
            let _ = s
                .post(&format!("/training-jobs/{j}/versions/{v}/stop"), &json!({}))
                .await;
        }
        3 => {
            let descs = ["", "x", "Zz", "ä"];
            let j = c.imported[pick % c.imported.len()];
            let _ = s
                .put(
                    &format!("/training-jobs/{j}"),
                    &json!({"job_desc": descs[pick % 4]}),
                )
                .await;
        }
        _ => {
            if pick.is_multiple_of(2) && !c.jobs.is_empty() {
                let (j, _) = c.jobs.swap_remove(pick % c.jobs.len());
                assert_eq!(s.delete(&format!("/training-jobs/{j}")).await.0, 200);
            } else if c.imported.len() > 1 {
                let j = c.imported.swap_remove(pick % c.imported.len());
                assert_eq!(s.delete(&format!("/training-jobs/{j}")).await.0, 200);
            }
        }
    }
}

async fn check(s: &TestServer, store: &Store, pairs: &[(String, String)]) -> Result<(), String> {
    let q = JobListQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| format!("{pairs:?} is valid but was refused: {}", e.message))?;
    let mut last = String::new();
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let resp = s
            .client
            .get(s.url("/training-jobs"))
            .query(pairs)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!(
                "{pairs:?}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            ));
        }
        let got: JobListResponse = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let (total, rows) = store
            .list_jobs_sql(PROJECT, &q, now)
            .map_err(|e| e.to_string())?;
        if got.job_total_count == total
            && got.jobs.len() == rows.len()
            && got.jobs.iter().zip(&rows).all(|(a, b)| same_row(a, b))
        {
            return Ok(());
        }
        last = format!(
            "{pairs:?}: index total {} ids {:?}, SQL total {total} ids {:?}",
            got.job_total_count,
            got.jobs
                .iter()
                .map(|r| r.job_id)
                .take(12)
                .collect::<Vec<_>>(),
            rows.iter().map(|r| r.job_id).take(12).collect::<Vec<_>>()
        );
    }
    Err(last)
}

#[test]
fn random_queries_equal_the_sql_reference() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = rt.block_on(TestServer::start(|c| {
        c.max_jobs = 20_000;
        c.quotas = 2;
        c.max_running = 2;
    }));
    let rows = fixture(5000);
    let (st, b) = rt.block_on(s.import(&rows));
    assert_eq!(st, 200, "{b}");
    let first = b["first_job_id"].as_i64().unwrap();
    let store = Store::open(&trainyard_store::Location::data_dir(s.dir.path())).unwrap();
    let created = Created {
        jobs: Vec::new(),
        imported: (first..first + 5000).collect(),
        seq: 0,
    };
    // a fixed smoke query first: the default list
    rt.block_on(check(&s, &store, &[])).unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        max_shrink_iters: 50,
        ..Config::default()
    });
    let started = std::time::Instant::now();
    let created = std::cell::RefCell::new(created);
    let result = runner.run(&step(), |st| {
        rt.block_on(async {
            if let Some((kind, pick)) = st.mutation {
                // taken out of the cell, so no borrow is held across the await
                let mut c = created.take();
                mutate(&s, &mut c, kind, pick).await;
                created.replace(c);
            }
            check(&s, &store, &st.pairs).await
        })
        .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // clean up what may still run
    let jobs: Vec<i64> = created.borrow().jobs.iter().map(|j| j.0).collect();
    rt.block_on(async {
        for j in jobs {
            let _ = s.delete(&format!("/training-jobs/{j}")).await;
        }
        s.stop().await;
    });
}
