//! The job list over HTTP (list.md): every parameter (defaults, valid and invalid values),
//! the tie-break on every sort key, literal Unicode search, paging, isolation, and the records
//! behind it (create, versions, delete, import errors). Expected values come from each test's
//! own data.

use crate::common::{PROJECT, TestServer, assert_error, hist, ids, names};
use serde_json::{Value, json};

const T0: i64 = 1_700_000_000_000;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn defaults_and_every_invalid_parameter() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        let rows: Vec<Value> = (0..25)
            .map(|i| hist(&format!("job{:02}", (i * 7) % 25), "0", 10, T0 + i))
            .collect();
        assert_eq!(s.import(&rows).await.0, 200);
        let (st, b) = s.list(&[]).await;
        assert_eq!(st, 200);
        let mut all: Vec<String> = (0..25).map(|i| format!("job{i:02}")).collect();
        all.sort();
        assert_eq!(
            names(&b),
            all[..10].to_vec(),
            "default: 10 rows by job_name asc"
        );
        assert_eq!(
            (
                b["job_total_count"].as_u64(),
                b["job_count_limit"].as_u64(),
                b["quotas"].as_u64()
            ),
            (Some(25), Some(10_000 - 25), Some(4))
        );
        for (k, v) in [
            ("per_page", "0"),
            ("per_page", "1001"),
            ("per_page", "-1"),
            ("per_page", "abc"),
            ("per_page", "10.5"),
            ("per_page", "1e3"),
            ("per_page", ""),
            ("per_page", " 5"),
            ("per_page", "99999999999999999999"),
            ("page", "0"),
            ("page", "65536"),
            ("page", "-0"),
            ("page", "2.0"),
            ("status", "23"),
            ("status", "-1"),
            ("status", "running"),
            ("status", "10,"),
            ("status", ",10"),
            ("order", "descending"),
            ("order", "1"),
            ("workspace_id", ""),
            ("workspace_id", "a.b"),
            ("workspace_id", "a b"),
        ] {
            assert_error(&s.list(&[(k, v)]).await, 400, "ModelArts.0101", &[k]);
        }
        let w65 = "w".repeat(65);
        assert_error(
            &s.list(&[("workspace_id", &w65)]).await,
            400,
            "ModelArts.0101",
            &["workspace_id"],
        );
        let s101 = "训".repeat(101);
        assert_error(
            &s.list(&[("search_content", &s101)]).await,
            400,
            "ModelArts.0101",
            &["search_content"],
        );
        assert_error(
            &s.list(&[("sortBy", "JOB_NAME")]).await,
            400,
            "ModelArts.2790",
            &["sortBy"],
        );
        assert_error(
            &s.list(&[("sort_by", "update_time")]).await,
            400,
            "ModelArts.2790",
            &[],
        );
        assert_error(
            &s.list(&[("sortBy", "job_name"), ("sort_by", "status")])
                .await,
            400,
            "ModelArts.0101",
            &["sort_by"],
        );
        // valid edge values
        let (_, b) = s.list(&[("per_page", "+0005"), ("page", "0002")]).await;
        assert_eq!(names(&b), all[5..10].to_vec());
        let (_, b) = s.list(&[("per_page", "1000"), ("order", "DESC")]).await;
        let mut rev = all.clone();
        rev.reverse();
        assert_eq!(names(&b), rev);
        let (_, b) = s.list(&[("page", "65535")]).await;
        assert_eq!(
            (
                b["jobs"].as_array().unwrap().len(),
                b["job_total_count"].as_u64()
            ),
            (0, Some(25)),
            "beyond the last page"
        );
        let (_, b) = s
            .list(&[
                ("status", ""),
                ("search_content", ""),
                ("limit", "3"),
                ("marker", "x"),
            ])
            .await;
        assert_eq!(
            b["job_total_count"].as_u64(),
            Some(25),
            "empty status and search mean all; unknown params ignored"
        );
        assert_eq!(names(&b).len(), 10);
        let ws64 = "w".repeat(64);
        assert_eq!(s.list(&[("workspace_id", &ws64)]).await.0, 200);
    });
}

#[test]
fn tie_break_by_job_id_on_every_key() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        // 12 jobs, all with the same value on every key; names shuffled against ids
        let rows: Vec<Value> = (0..12)
            .map(|i| json!({"job_name": format!("n{:02}", (i * 5) % 12), "workspace_id": "tie", "status": 11, "create_time": T0, "start_time": T0, "end_time": T0 + 500, "job_desc": "same", "engine_type": 10}))
            .collect();
        let (st, imp) = s.import(&rows).await;
        assert_eq!(st, 200, "{imp}");
        let first = imp["first_job_id"].as_i64().unwrap();
        let all_ids: Vec<i64> = (first..first + 12).collect();
        for key in ["job_desc", "status", "duration", "create_time", "version_count", "engine_type"] {
            for order in ["asc", "desc"] {
                let mut want = all_ids.clone();
                if order == "desc" {
                    want.reverse();
                }
                let mut got = Vec::new();
                for page in ["1", "2", "3"] {
                    let (_, b) = s.list(&[("workspace_id", "tie"), ("sortBy", key), ("order", order), ("per_page", "5"), ("page", page)]).await;
                    assert_eq!(b["job_total_count"].as_u64(), Some(12));
                    got.extend(ids(&b));
                }
                assert_eq!(got, want, "sortBy={key} order={order}: ties by job_id in the same direction");
            }
        }
    });
}

#[test]
fn sort_keys_order_by_their_values() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        // (name, status, create offset, duration, desc, engine_type)
        let data = [("b", 12, 3, 5, "zeta", 1), ("A", 10, 1, 50, "Alpha", 13), ("_c", 11, 2, 0, "", 14), ("a", 13, 0, 7, "beta", 10), ("训", 3, 5, 9, "述", 6)];
        let rows: Vec<Value> = data
            .iter()
            .map(|(n, st, c, d, desc, e)| json!({"job_name": n, "workspace_id": "k", "status": st, "create_time": T0 + c, "start_time": T0 + 10, "end_time": T0 + 10 + d, "job_desc": desc, "engine_type": e}))
            .collect();
        s.import(&rows).await;
        let check = |key: &'static str, mut expect: Vec<&'static str>| {
            let s = &s;
            async move {
                let (_, b) = s.list(&[("workspace_id", "k"), ("sortBy", key)]).await;
                assert_eq!(names(&b), expect, "sortBy={key} asc");
                expect.reverse();
                let (_, b) = s.list(&[("workspace_id", "k"), ("sortBy", key), ("order", "desc")]).await;
                assert_eq!(names(&b), expect, "sortBy={key} desc");
            }
        };
        // code-point order: 'A' < '_' < 'a' < 'b' < '训'
        check("job_name", vec!["A", "_c", "a", "b", "训"]).await;
        check("job_desc", vec!["_c", "A", "a", "b", "训"]).await; // "" < "Alpha" < "beta" < "zeta" < "述"
        check("status", vec!["训", "A", "_c", "b", "a"]).await; // 3, 10, 11, 12, 13
        check("create_time", vec!["a", "A", "_c", "b", "训"]).await;
        check("duration", vec!["_c", "b", "a", "训", "A"]).await; // 0, 5, 7, 9, 50
        check("engine_type", vec!["b", "训", "a", "A", "_c"]).await; // 1, 6, 10, 13, 14
    });
}

#[test]
fn search_is_literal_case_folded_and_counts_before_paging() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        let tails = [
            "job_1",
            "jobX1",
            "job-1",
            "a_c",
            "abc",
            "Ärger-run",
            "Anger-run",
            "ResNet-Train",
            "resnet-eval",
            "训练-bert",
            "ΣΊΣΥΦΟΣ",
        ];
        let rows: Vec<Value> = tails.iter().map(|t| hist(t, "s", 10, T0)).collect();
        s.import(&rows).await;
        let find = |q: &'static str| {
            let s = &s;
            async move {
                let (st, b) = s
                    .list(&[
                        ("workspace_id", "s"),
                        ("search_content", q),
                        ("per_page", "1000"),
                    ])
                    .await;
                assert_eq!(st, 200, "{q}: {b}");
                let mut n = names(&b);
                assert_eq!(b["job_total_count"].as_u64(), Some(n.len() as u64), "{q}");
                n.sort();
                n
            }
        };
        assert_eq!(find("_").await, vec!["a_c", "job_1"]);
        assert_eq!(find("job_1").await, vec!["job_1"]);
        for lit in ["%", "a%c", ".", "*", "[", "(", "'", "\\", "job.1"] {
            assert_eq!(find(lit).await, Vec::<String>::new(), "{lit} is literal");
        }
        assert_eq!(find("ärger").await, vec!["Ärger-run"]);
        assert_eq!(find("ÄRGER").await, vec!["Ärger-run"]);
        assert_eq!(find("arger").await, Vec::<String>::new());
        assert_eq!(find("GER-RUN").await, vec!["Anger-run", "Ärger-run"]);
        assert_eq!(find("RESNET").await, vec!["ResNet-Train", "resnet-eval"]);
        assert_eq!(find("训练").await, vec!["训练-bert"]);
        assert_eq!(
            find("σίσυφος").await,
            vec!["ΣΊΣΥΦΟΣ"],
            "final sigma folds like sigma"
        );
        // a decomposed Ä (macOS) is the same search as the composed one
        assert_eq!(find("A\u{0308}rger").await, vec!["Ärger-run"]);
        // filters apply before paging: 3 old targets among 30 newer others
        let mut rows: Vec<Value> = (0..3)
            .map(|i| hist(&format!("target-{i}"), "p", 10, T0 + i))
            .collect();
        rows.extend((0..30).map(|i| hist(&format!("noise-{i:02}"), "p", 10, T0 + 100 + i)));
        s.import(&rows).await;
        let (_, b) = s
            .list(&[
                ("workspace_id", "p"),
                ("search_content", "target"),
                ("sortBy", "create_time"),
                ("order", "desc"),
            ])
            .await;
        assert_eq!(names(&b), vec!["target-2", "target-1", "target-0"]);
        assert_eq!(b["job_total_count"].as_u64(), Some(3));
    });
}

#[test]
fn status_filter_union_and_repeats() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        let sts = [
            ("s3", 3),
            ("s5", 5),
            ("s6", 6),
            ("s13", 13),
            ("ok1", 10),
            ("ok2", 10),
            ("f", 11),
        ];
        let rows: Vec<Value> = sts.iter().map(|(n, st)| hist(n, "u", *st, T0)).collect();
        s.import(&rows).await;
        let want = |codes: &[i64]| {
            let mut v: Vec<String> = sts
                .iter()
                .filter(|(_, c)| codes.contains(c))
                .map(|(n, _)| (*n).to_owned())
                .collect();
            v.sort();
            v
        };
        for (q, codes) in [
            (vec![("status", "3,5,6,13")], vec![3, 5, 6, 13]),
            (
                vec![("status", "3"), ("status", "5"), ("status", "6,13")],
                vec![3, 5, 6, 13],
            ),
            (vec![("status", "10")], vec![10]),
            (vec![("status", "8")], vec![]),
            (vec![("status", "0010,11")], vec![10, 11]),
        ] {
            let mut q = q.clone();
            q.push(("workspace_id", "u"));
            let (_, b) = s.list(&q).await;
            assert_eq!(names(&b), want(&codes), "{q:?}");
            assert_eq!(
                b["job_total_count"].as_u64(),
                Some(want(&codes).len() as u64)
            );
        }
    });
}

#[test]
fn projects_and_workspaces_are_isolated_and_limit_counts_all_workspaces() {
    rt().block_on(async {
        let s = TestServer::start(|c| c.max_jobs = 50).await;
        s.import(&[
            hist("same", "wa", 10, T0),
            hist("a2", "wa", 10, T0),
            hist("same", "wb", 10, T0),
        ])
        .await;
        let other = format!("{}/v1/otherproject/training-jobs", s.base);
        let body: Value = s
            .client
            .get(&other)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                body["job_total_count"].as_u64(),
                body["job_count_limit"].as_u64()
            ),
            (Some(0), Some(50)),
            "another project sees nothing"
        );
        let (_, a) = s.list(&[("workspace_id", "wa")]).await;
        assert_eq!(names(&a), vec!["a2", "same"]);
        let (_, b) = s.list(&[("workspace_id", "wb")]).await;
        assert_eq!(names(&b), vec!["same"]);
        let (_, d) = s.list(&[]).await;
        assert_eq!(d["job_total_count"].as_u64(), Some(0));
        for ws in ["wa", "wb", "0", "empty"] {
            let (_, b) = s.list(&[("workspace_id", ws)]).await;
            assert_eq!(
                b["job_count_limit"].as_u64(),
                Some(47),
                "job_count_limit from {ws}"
            );
        }
        // another project's job id is 404 like a missing job
        let id = ids(&b)[0];
        let other_v = format!("{}/v1/otherproject/training-jobs/{id}/versions/1", s.base);
        let r = s.client.get(&other_v).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let r = s
            .client
            .delete(format!("{}/v1/otherproject/training-jobs/{id}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let (_, b) = s.list(&[("workspace_id", "wb")]).await;
        assert_eq!(
            names(&b),
            vec!["same"],
            "still there after the foreign delete"
        );
    });
}

#[test]
fn create_versions_inherit_delete_and_ids_never_reused() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        let body = json!({"job_name": "inh", "job_desc": "first", "config": {"worker_server_num": 2, "spec_id": 1, "engine_id": 2, "app_url": "/tmp/trainyard-nonexistent-app", "boot_file_url": "run.sh",
            "parameter": [{"label": "lr", "value": 0.1}, {"label": "deep", "value": true}], "train_url": "file:///tmp/out"}});
        let (st, c) = s.post("/training-jobs", &body).await;
        assert_eq!(st, 200, "{c}");
        let (job, v1) = (c["job_id"].as_i64().unwrap(), c["version_id"].as_i64().unwrap());
        assert_eq!((c["status"].as_i64(), c["version_name"].as_str()), (Some(1), Some("V0001")));
        let (st, c2) = s.post(&format!("/training-jobs/{job}/versions"), &json!({"job_desc": "v2 note", "config": {"pre_version_id": v1, "worker_server_num": 1}})).await;
        assert_eq!(st, 200, "{c2}");
        let v2 = c2["version_id"].as_i64().unwrap();
        assert_eq!(c2["version_name"], "V0002");
        let (_, d) = s.get(&format!("/training-jobs/{job}/versions/{v2}"), &[]).await;
        assert_eq!((d["pre_version_id"].as_i64(), d["worker_server_num"].as_i64(), d["app_url"].as_str(), d["boot_file_url"].as_str(), d["train_url"].as_str()),
                   (Some(v1), Some(1), Some("/tmp/trainyard-nonexistent-app"), Some("run.sh"), Some("/tmp/out")));
        assert_eq!(d["parameter"], json!([{"label": "lr", "value": "0.1"}, {"label": "deep", "value": "true"}]), "values kept as text, inherited");
        assert_eq!((d["version_desc"].as_str(), d["job_desc"].as_str()), (Some("v2 note"), Some("first")));
        let (_, l) = s.list(&[("search_content", "inh")]).await;
        assert_eq!((l["jobs"][0]["version_id"].as_i64(), l["jobs"][0]["version_count"].as_i64()), (Some(v2), Some(2)));
        let (_, vl) = s.get(&format!("/training-jobs/{job}/versions"), &[]).await;
        let vids: Vec<i64> = vl["versions"].as_array().unwrap().iter().map(|v| v["version_id"].as_i64().unwrap()).collect();
        assert_eq!(vids, vec![v2, v1], "newest first");
        // delete V0002: the row shows V0001 again, the next version is V0003
        assert_eq!(s.delete(&format!("/training-jobs/{job}/versions/{v2}")).await.0, 200);
        let (_, l) = s.list(&[("search_content", "inh")]).await;
        assert_eq!((l["jobs"][0]["version_id"].as_i64(), l["jobs"][0]["version_count"].as_i64()), (Some(v1), Some(1)));
        let (_, c3) = s.post(&format!("/training-jobs/{job}/versions"), &json!({"config": {"pre_version_id": v1}})).await;
        assert_eq!(c3["version_name"], "V0003");
        assert!(c3["version_id"].as_i64().unwrap() > v2);
        // update the description
        assert_eq!(s.put(&format!("/training-jobs/{job}"), &json!({"job_desc": "述".repeat(256)})).await.0, 200);
        assert_error(&s.put(&format!("/training-jobs/{job}"), &json!({"job_desc": "x".repeat(257)})).await, 400, "ModelArts.0101", &["job_desc"]);
        // delete the job: gone from list and count, name free, new id larger
        let (_, before) = s.list(&[]).await;
        assert_eq!(s.delete(&format!("/training-jobs/{job}")).await.0, 200);
        let (_, after) = s.list(&[]).await;
        assert_eq!(after["job_total_count"].as_u64(), Some(before["job_total_count"].as_u64().unwrap() - 1));
        assert_eq!(after["job_count_limit"].as_u64(), Some(before["job_count_limit"].as_u64().unwrap() + 1));
        assert_error(&s.get(&format!("/training-jobs/{job}/versions/{v1}"), &[]).await, 404, "ModelArts.2775", &[]);
        assert_error(&s.delete(&format!("/training-jobs/{job}")).await, 404, "ModelArts.2775", &[]);
        let (_, again) = s.post("/training-jobs", &body).await;
        assert!(again["job_id"].as_i64().unwrap() > job);
    });
}

#[test]
fn create_validation_errors_name_the_field() {
    rt().block_on(async {
        let s = TestServer::start(|_| {}).await;
        let good = TestServer::job_body("ok", "exit 0");
        let cases: Vec<(Value, u16, &str, &str)> = vec![
            (json!({"config": good["config"]}), 400, "ModelArts.0101", "job_name"),
            (json!({"job_name": 5, "config": good["config"]}), 400, "ModelArts.0101", "job_name"),
            (json!({"job_name": "a b", "config": good["config"]}), 400, "ModelArts.0101", "job_name"),
            (json!({"job_name": "x".repeat(65), "config": good["config"]}), 400, "ModelArts.0101", "job_name"),
            (json!({"job_name": "ok", "job_desc": "d".repeat(257), "config": good["config"]}), 400, "ModelArts.0101", "job_desc"),
            (json!({"job_name": "ok"}), 400, "ModelArts.0101", "config"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 0, "spec_id": 1, "user_command": "true"}}), 400, "ModelArts.0101", "worker_server_num"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 1, "user_command": "true"}}), 400, "ModelArts.0101", "spec_id"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 1, "spec_id": 1, "engine_id": 999, "app_url": "/a", "boot_file_url": "b"}}), 400, "ModelArts.2780", "engine_id"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 1, "spec_id": 999, "user_command": "true"}}), 400, "ModelArts.2781", "spec_id"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 5, "spec_id": 1, "user_command": "true"}}), 400, "ModelArts.2781", "max_num"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "true", "data_url": "obs://bucket/x"}}), 400, "ModelArts.0101", "data_url"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "true", "train_url": "relative/dir"}}), 400, "ModelArts.0101", "train_url"),
            (json!({"job_name": "ok", "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "true", "create_version": false}}), 400, "ModelArts.0101", "create_version"),
        ];
        for (body, http, code, field) in cases {
            assert_error(&s.post("/training-jobs", &body).await, http, code, &[field]);
        }
        let (st, b) = s.list(&[]).await;
        assert_eq!((st, b["job_total_count"].as_u64()), (200, Some(0)), "nothing created by refused requests");
        let r = s.client.post(s.url("/training-jobs")).body("{not json").send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error_code"], "ModelArts.2787");
        // duplicates: same workspace 0103, other workspace fine
        assert_eq!(s.post("/training-jobs", &good).await.0, 200);
        assert_error(&s.post("/training-jobs", &good).await, 400, "ModelArts.0103", &["job_name"]);
        let mut other = good.clone();
        other["workspace_id"] = json!("w2");
        assert_eq!(s.post("/training-jobs", &other).await.0, 200);
        // a decomposed name is the same name (NFC)
        assert_eq!(s.post("/training-jobs", &TestServer::job_body("Ärger", "true")).await.0, 200);
        assert_error(&s.post("/training-jobs", &TestServer::job_body("A\u{0308}rger", "true")).await, 400, "ModelArts.0103", &[]);
    });
}

#[test]
fn import_errors_name_line_and_field_and_import_nothing() {
    rt().block_on(async {
        let s = TestServer::start(|c| c.max_jobs = 5).await;
        let bad: Vec<(Vec<Value>, &str, &str, &str)> = vec![
            (vec![hist("ok1", "i", 10, T0), hist("bad name", "i", 10, T0)], "ModelArts.0101", "line 2", "job_name"),
            (vec![hist("ok1", "i", 10, T0), hist("ok2", "i", 8, T0)], "ModelArts.0101", "line 2", "status"),
            (vec![json!({"job_name": "x", "status": 10, "create_time": "1"})], "ModelArts.0101", "line 1", "create_time"),
            (vec![json!({"job_name": "x", "status": 10, "create_time": 10, "start_time": 5})], "ModelArts.0101", "line 1", "start_time"),
            (vec![json!({"job_name": "x", "status": 10, "create_time": 10, "end_time": 5})], "ModelArts.0101", "line 1", "end_time"),
            (vec![json!({"job_name": "x", "status": 10, "create_time": -1})], "ModelArts.0101", "line 1", "create_time"),
            (vec![hist("模型-a", "i", 10, T0), hist("Ärger", "i", 10, T0), hist("模型-a", "i", 10, T0)], "ModelArts.0103", "line 3", "job_name"),
        ];
        for (rows, code, line, field) in bad {
            assert_error(&s.import(&rows).await, 400, code, &[line, field]);
        }
        let (_, b) = s.list(&[("workspace_id", "i")]).await;
        assert_eq!(b["job_total_count"].as_u64(), Some(0));
        // names differing only in case are distinct; end_time without start_time: duration 0
        let (st, r) = s.import(&[json!({"job_name": "Ärger", "workspace_id": "i", "status": 11, "create_time": T0, "end_time": T0 + 5000}), json!({"job_name": "ärger", "workspace_id": "i", "status": 10, "create_time": T0, "start_time": T0 + 250, "end_time": T0 + 1000})]).await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["last_job_id"].as_i64().unwrap() - r["first_job_id"].as_i64().unwrap(), 1);
        let (_, b) = s.list(&[("workspace_id", "i"), ("sortBy", "duration")]).await;
        let got: Vec<(String, i64)> = b["jobs"].as_array().unwrap().iter().map(|j| (j["job_name"].as_str().unwrap().to_owned(), j["duration"].as_i64().unwrap())).collect();
        assert_eq!(got, vec![("Ärger".to_owned(), 0), ("ärger".to_owned(), 750)]);
        // an existing name names its line; the quota (5) is checked after
        assert_error(&s.import(&[hist("new1", "i", 10, T0), hist("Ärger", "i", 10, T0)]).await, 400, "ModelArts.0103", &["line 2", "job_name"]);
        let (st, b) = s.import(&[hist("q1", "i", 10, T0), hist("q2", "i", 10, T0), hist("q3", "i", 10, T0), hist("q4", "i", 10, T0)]).await;
        assert_eq!(st, 400, "{b}");
        assert_eq!(b["error_code"], "ModelArts.2815");
        let (_, b) = s.list(&[("workspace_id", "i")]).await;
        assert_eq!(b["job_total_count"].as_u64(), Some(2));
        let _ = PROJECT;
    });
}
