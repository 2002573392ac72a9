//! Training-job configs over HTTP (`training-jobs.md` §14): the create/get/update/delete round
//! trip, validation errors naming the field, the list (every sort key in both orders, literal
//! case-insensitive search, paging and the count), project isolation, persistence across a
//! restart, and the SDK's `Estimator` config calls. Expected values come from each test's own
//! data.

use crate::common::{PROJECT, TestServer, assert_error};
use serde_json::{Value, json};
use trainyard_client::{ConfigListParams, ConfigSortKey, Error, Estimator, Order, Session};

const CONFIGS: &str = "/training-job-configs";
/// Another project, reachable in insecure mode: its own namespace.
const OTHER: &str = "fedcba9876543210fedcba9876543210";

fn path(name: &str) -> String {
    format!("{CONFIGS}/{name}")
}

/// Names of the rows of a config-list body.
fn cnames(body: &Value) -> Vec<String> {
    body["configs"]
        .as_array()
        .unwrap_or_else(|| panic!("no configs in {body}"))
        .iter()
        .map(|c| c["config_name"].as_str().unwrap().to_owned())
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn create_get_update_delete_round_trip() {
    let s = TestServer::start(|_| {}).await;
    let before = now_ms();
    // the flat ModelArts shape; workspace_id is ignored, a number parameter value kept as text
    let created = s
        .post(
            CONFIGS,
            &json!({
                "config_name": "resnet-cfg", "config_desc": "lr sweep", "workspace_id": "ws1",
                "worker_server_num": 2, "spec_id": 1, "user_command": "python3 train.py",
                "parameter": [{"label": "lr", "value": 0.1}], "dataset_id": "ds-1",
                "unknown_field": true
            }),
        )
        .await;
    assert_eq!(
        created,
        (
            200,
            json!({"is_success": true, "config_name": "resnet-cfg"})
        )
    );
    let after = now_ms();
    let (st, got) = s.get(&path("resnet-cfg"), &[]).await;
    assert_eq!(st, 200, "{got}");
    let t = got["create_time"].as_i64().unwrap();
    assert!(
        (before..=after).contains(&t),
        "{t} not in {before}..={after}"
    );
    assert_eq!(
        got,
        json!({
            "is_success": true, "config_name": "resnet-cfg", "config_desc": "lr sweep",
            "create_time": t, "worker_server_num": 2, "spec_id": 1,
            "user_command": "python3 train.py", "parameter": [{"label": "lr", "value": "0.1"}],
            "dataset_id": "ds-1"
        })
    );

    // the nested shape: fields inside `config`, paths normalised as for a job
    let nested = json!({"config_name": "nested", "config": {
        "spec_id": 2, "engine_id": 1, "app_url": "file:///tmp/code", "boot_file_url": "train.py"}});
    assert_eq!(s.post(CONFIGS, &nested).await.0, 200);
    let (_, got) = s.get(&path("nested"), &[]).await;
    assert_eq!(
        (
            &got["config_desc"],
            &got["spec_id"],
            &got["engine_id"],
            &got["app_url"],
            &got["boot_file_url"],
            got.get("config")
        ),
        (
            &json!(""),
            &json!(2),
            &json!(1),
            &json!("/tmp/code"),
            &json!("train.py"),
            None
        )
    );

    // PUT config_desc only: the fields and create_time stay
    let put = s
        .put(&path("resnet-cfg"), &json!({"config_desc": "new desc"}))
        .await;
    assert_eq!(
        put,
        (
            200,
            json!({"is_success": true, "config_name": "resnet-cfg"})
        )
    );
    let (_, got) = s.get(&path("resnet-cfg"), &[]).await;
    assert_eq!(got["config_desc"], "new desc");
    assert_eq!(got["create_time"], t);
    assert_eq!(got["worker_server_num"], 2);
    assert_eq!(got["dataset_id"], "ds-1");
    // PUT fields (nested, with the path's own config_name): the whole field set is replaced
    let put = s
        .put(
            &path("resnet-cfg"),
            &json!({"config_name": "resnet-cfg", "config": {"user_command": "true", "spec_id": 3}}),
        )
        .await;
    assert_eq!(put.0, 200, "{}", put.1);
    let (_, got) = s.get(&path("resnet-cfg"), &[]).await;
    assert_eq!(
        got,
        json!({
            "is_success": true, "config_name": "resnet-cfg", "config_desc": "new desc",
            "create_time": t, "user_command": "true", "spec_id": 3
        })
    );
    // PUT errors
    assert_error(
        &s.put(
            &path("resnet-cfg"),
            &json!({"config_name": "other", "config_desc": "x"}),
        )
        .await,
        400,
        "ModelArts.0101",
        &["config_name"],
    );
    assert_error(
        &s.put(&path("resnet-cfg"), &json!({})).await,
        400,
        "ModelArts.0101",
        &["config_desc", "config"],
    );
    assert_error(
        &s.put(
            &path("resnet-cfg"),
            &json!({"config_desc": "d".repeat(257)}),
        )
        .await,
        400,
        "ModelArts.0101",
        &["config_desc"],
    );
    assert_error(
        &s.put(&path("resnet-cfg"), &json!({"spec_id": 99})).await,
        400,
        "ModelArts.2781",
        &["spec_id"],
    );
    assert_error(
        &s.put(&path("missing"), &json!({"config_desc": "x"})).await,
        404,
        "ModelArts.2775",
        &["missing", "does not exist"],
    );

    // trailing slashes
    let (st, b) = s.get(&format!("{CONFIGS}/"), &[]).await;
    assert_eq!((st, b["config_total_count"].as_u64()), (200, Some(2)));
    assert_eq!(s.get(&format!("{}/", path("nested")), &[]).await.0, 200);

    // the configs survive a restart
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |_| {}).await;
    let (st, got) = s.get(&path("resnet-cfg"), &[]).await;
    assert_eq!((st, &got["config_desc"]), (200, &json!("new desc")));

    // DELETE, then the name is gone everywhere, then free again
    assert_eq!(
        s.delete(&path("resnet-cfg")).await,
        (200, json!({"is_success": true}))
    );
    for got in [
        s.get(&path("resnet-cfg"), &[]).await,
        s.delete(&path("resnet-cfg")).await,
    ] {
        assert_error(
            &got,
            404,
            "ModelArts.2775",
            &["resnet-cfg", "does not exist"],
        );
    }
    let (_, list) = s.get(CONFIGS, &[]).await;
    assert_eq!(cnames(&list), ["nested"]);
    assert_eq!(list["config_total_count"], 1);
    let again = s.post(CONFIGS, &json!({"config_name": "resnet-cfg"})).await;
    assert_eq!(again.0, 200, "{}", again.1);
    s.stop().await;
}

#[tokio::test]
async fn create_errors_name_the_field() {
    let s = TestServer::start(|_| {}).await;
    // a config need not be complete: a name alone is a valid (empty) template
    assert_eq!(
        s.post(CONFIGS, &json!({"config_name": "a-Z_9"})).await.0,
        200
    );
    let (_, got) = s.get(&path("a-Z_9"), &[]).await;
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{got}");
    // the longest name and description are accepted
    let long = "n".repeat(64);
    let ok = s
        .post(
            CONFIGS,
            &json!({"config_name": long, "config_desc": "述".repeat(256)}),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);

    // duplicate name in the project: 0103, case-sensitive (`A-z_9` is another name)
    assert_error(
        &s.post(CONFIGS, &json!({"config_name": "a-Z_9", "spec_id": 1}))
            .await,
        400,
        "ModelArts.0103",
        &["config_name", "a-Z_9"],
    );
    assert_eq!(
        s.post(CONFIGS, &json!({"config_name": "A-z_9"})).await.0,
        200
    );

    for (body, code, field) in [
        (json!({"config_desc": "x"}), "ModelArts.0101", "config_name"),
        (json!({"config_name": ""}), "ModelArts.0101", "config_name"),
        (
            json!({"config_name": "a b"}),
            "ModelArts.0101",
            "config_name",
        ),
        (
            json!({"config_name": "v1.0"}),
            "ModelArts.0101",
            "config_name",
        ),
        (
            json!({"config_name": "Ärger"}),
            "ModelArts.0101",
            "config_name",
        ),
        (
            json!({"config_name": "n".repeat(65)}),
            "ModelArts.0101",
            "config_name",
        ),
        (json!({"config_name": 7}), "ModelArts.0101", "config_name"),
        (
            json!({"config_name": "c", "config_desc": "d".repeat(257)}),
            "ModelArts.0101",
            "config_desc",
        ),
        (
            json!({"config_name": "c", "config_desc": 5}),
            "ModelArts.0101",
            "config_desc",
        ),
        (
            json!({"config_name": "c", "engine_id": 99}),
            "ModelArts.2780",
            "engine_id",
        ),
        (
            json!({"config_name": "c", "spec_id": 99}),
            "ModelArts.2781",
            "spec_id",
        ),
        (
            json!({"config_name": "c", "spec_id": 3, "worker_server_num": 2}),
            "ModelArts.2781",
            "worker_server_num",
        ),
        (
            json!({"config_name": "c", "worker_server_num": 0}),
            "ModelArts.0101",
            "worker_server_num",
        ),
        (
            json!({"config_name": "c", "app_url": "obs://bucket/code"}),
            "ModelArts.0101",
            "app_url",
        ),
        (
            json!({"config_name": "c", "config": {"data_url": "relative/dir"}}),
            "ModelArts.0101",
            "data_url",
        ),
        (
            json!({"config_name": "c", "config": "x"}),
            "ModelArts.0101",
            "config",
        ),
        (
            json!({"config_name": "c", "spec_id": 1, "config": {"spec_id": 1}}),
            "ModelArts.0101",
            "spec_id",
        ),
        (
            json!({"config_name": "c", "parameter": [{"label": "a=b", "value": "1"}]}),
            "ModelArts.0101",
            "label",
        ),
    ] {
        assert_error(&s.post(CONFIGS, &body).await, 400, code, &[field]);
    }
    // bodies that are not a JSON object
    for raw in ["{", "[1]", "\"x\""] {
        let resp = s
            .client
            .post(s.url(CONFIGS))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_error(
            &TestServer::finish_pub(resp).await,
            400,
            "ModelArts.2787",
            &["body"],
        );
    }
    // an invalid name in the path names config_name
    assert_error(
        &s.get(&path("v1.0"), &[]).await,
        400,
        "ModelArts.0101",
        &["config_name"],
    );
    // nothing failed was stored
    let (_, list) = s.get(CONFIGS, &[("per_page", "1000")]).await;
    assert_eq!(list["config_total_count"], 3, "{list}");
    s.stop().await;
}

/// Creates configs in this order, a few ms apart (distinct `create_time`s).
async fn create_all(s: &TestServer, rows: &[(&str, &str)]) {
    for (name, desc) in rows {
        let got = s
            .post(CONFIGS, &json!({"config_name": name, "config_desc": desc}))
            .await;
        assert_eq!(got.0, 200, "{}", got.1);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
}

#[tokio::test]
async fn list_sorts_searches_and_pages() {
    let s = TestServer::start(|_| {}).await;
    // (name, desc) in creation order
    create_all(
        &s,
        &[
            ("b_x", "same"),
            ("a1y", "zz"),
            ("C-z", "same"),
            ("bax", ""),
            ("B9", "Zed"),
        ],
    )
    .await;
    let srv = &s;
    let list = move |q: Vec<(&'static str, &'static str)>| async move {
        let (st, b) = srv.get(CONFIGS, &q).await;
        assert_eq!(st, 200, "{q:?}: {b}");
        assert_eq!(b["is_success"], true);
        b
    };
    // byte order: 'B' < 'C' < 'a' < 'b'; '9' < '_' < 'a'
    let by_name = ["B9", "C-z", "a1y", "b_x", "bax"];
    // ties on desc ("same") broken by config_name in the same direction
    let by_desc = ["bax", "B9", "C-z", "b_x", "a1y"];
    let by_time = ["b_x", "a1y", "C-z", "bax", "B9"];
    let rev = |v: &[&str]| v.iter().rev().map(|s| s.to_string()).collect::<Vec<_>>();
    let fwd = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    // defaults: sortBy=config_name, order=desc, 10 per page
    let b = list(vec![]).await;
    assert_eq!(cnames(&b), rev(&by_name));
    assert_eq!(b["config_total_count"], 5);
    for (key, want) in [
        ("config_name", by_name),
        ("config_desc", by_desc),
        ("create_time", by_time),
    ] {
        for (order, expect) in [
            ("asc", fwd(&want)),
            ("ASC", fwd(&want)),
            ("desc", rev(&want)),
            ("Desc", rev(&want)),
        ] {
            let b = list(vec![("sortBy", key), ("order", order)]).await;
            assert_eq!(cnames(&b), expect, "sortBy={key}&order={order}");
            let b = list(vec![("sort_by", key), ("order", order)]).await;
            assert_eq!(cnames(&b), expect, "sort_by={key}&order={order}");
        }
        // order defaults to desc for every key
        assert_eq!(cnames(&list(vec![("sortBy", key)]).await), rev(&want));
    }
    // each row carries the fields the CLI shows
    let b = list(vec![("sortBy", "create_time"), ("order", "asc")]).await;
    let times: Vec<i64> = b["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["create_time"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(b["configs"][0]["config_desc"], "same");

    // search: literal, case-insensitive, counted before paging
    let search = |q: &'static str| list(vec![("search_content", q), ("order", "asc")]);
    let b = search("_").await;
    assert_eq!(
        (cnames(&b), &b["config_total_count"]),
        (fwd(&["b_x"]), &json!(1))
    );
    let b = search("%").await;
    assert_eq!((cnames(&b), &b["config_total_count"]), (vec![], &json!(0)));
    let b = search("c-Z").await;
    assert_eq!(cnames(&b), ["C-z"]);
    let b = search("b").await;
    assert_eq!(cnames(&b), ["B9", "b_x", "bax"]);
    let b = list(vec![
        ("search_content", "B"),
        ("per_page", "2"),
        ("page", "2"),
        ("order", "asc"),
    ])
    .await;
    assert_eq!(
        (cnames(&b), &b["config_total_count"]),
        (fwd(&["bax"]), &json!(3))
    );
    assert_eq!(search("").await["config_total_count"], 5);

    // paging: pages of 2 concatenate to the whole order; past the end is empty
    let mut all = Vec::new();
    for page in ["1", "2", "3"] {
        let b = list(vec![("per_page", "2"), ("page", page), ("order", "asc")]).await;
        assert_eq!(b["config_total_count"], 5);
        all.extend(cnames(&b));
    }
    assert_eq!(all, fwd(&by_name));
    let b = list(vec![("per_page", "2"), ("page", "4")]).await;
    assert_eq!((cnames(&b).len(), &b["config_total_count"]), (0, &json!(5)));
    let b = list(vec![("per_page", "0001"), ("page", "+3"), ("order", "asc")]).await;
    assert_eq!(cnames(&b), ["a1y"]);

    // invalid parameters name themselves
    let long = "x".repeat(101);
    for (k, v, code) in [
        ("per_page", "0", "ModelArts.0101"),
        ("per_page", "1001", "ModelArts.0101"),
        ("per_page", "abc", "ModelArts.0101"),
        ("per_page", "-1", "ModelArts.0101"),
        ("per_page", "", "ModelArts.0101"),
        ("page", "0", "ModelArts.0101"),
        ("page", "65536", "ModelArts.0101"),
        ("page", "1.5", "ModelArts.0101"),
        ("sortBy", "job_name", "ModelArts.2790"),
        ("sortBy", "CONFIG_NAME", "ModelArts.2790"),
        ("sort_by", "status", "ModelArts.2790"),
        ("order", "up", "ModelArts.0101"),
        ("order", "", "ModelArts.0101"),
        ("search_content", long.as_str(), "ModelArts.0101"),
    ] {
        assert_error(&s.get(CONFIGS, &[(k, v)]).await, 400, code, &[k]);
    }
    assert_error(
        &s.get(
            CONFIGS,
            &[("sortBy", "config_name"), ("sort_by", "create_time")],
        )
        .await,
        400,
        "ModelArts.0101",
        &["sortBy", "sort_by"],
    );
    // 100 characters is the limit, unknown parameters are ignored
    let hundred = "x".repeat(100);
    let (st, b) = s
        .get(
            CONFIGS,
            &[("search_content", hundred.as_str()), ("marker", "m")],
        )
        .await;
    assert_eq!((st, &b["config_total_count"]), (200, &json!(0)));
    s.stop().await;
}

/// `_` and `%` (the SQL `LIKE` wildcards) match only themselves: `a_b` does not find `axb` or
/// `a-b`, `A%B` finds nothing (`%` is not a name character); case is ignored.
#[tokio::test]
async fn search_wildcards_are_literal() {
    let s = TestServer::start(|_| {}).await;
    create_all(&s, &[("a_b", ""), ("axb", ""), ("a-b", ""), ("AB", "")]).await;
    let srv = &s;
    let search = move |q: &'static str| async move {
        let (st, b) = srv
            .get(CONFIGS, &[("search_content", q), ("order", "asc")])
            .await;
        assert_eq!(st, 200, "{b}");
        (cnames(&b), b["config_total_count"].as_u64().unwrap())
    };
    assert_eq!(search("a_b").await, (vec!["a_b".to_string()], 1));
    assert_eq!(search("A%B").await, (vec![], 0));
    assert_eq!(search("%").await, (vec![], 0));
    assert_eq!(search("a-").await, (vec!["a-b".to_string()], 1));
    assert_eq!(
        search("ab").await,
        (vec!["AB".to_string()], 1),
        "case-insensitive, and `_` does not match `ab`"
    );
    s.stop().await;
}

#[tokio::test]
async fn configs_are_isolated_per_project() {
    let s = TestServer::start(|_| {}).await;
    let other = |p: &str| format!("{}/v1/{OTHER}{p}", s.base);
    let body = json!({"config_name": "shared", "config_desc": "mine", "spec_id": 1});
    assert_eq!(s.post(CONFIGS, &body).await.0, 200);

    // the other project sees nothing and cannot reach the name
    let resp = s.client.get(other(CONFIGS)).send().await.unwrap();
    let (st, b) = TestServer::finish_pub(resp).await;
    assert_eq!(st, 200);
    assert_eq!((cnames(&b).len(), &b["config_total_count"]), (0, &json!(0)));
    let resp = s.client.get(other(&path("shared"))).send().await.unwrap();
    assert_error(
        &TestServer::finish_pub(resp).await,
        404,
        "ModelArts.2775",
        &["does not exist"],
    );
    let resp = s
        .client
        .put(other(&path("shared")))
        .json(&json!({"config_desc": "theirs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(TestServer::finish_pub(resp).await.0, 404);
    let resp = s
        .client
        .delete(other(&path("shared")))
        .send()
        .await
        .unwrap();
    assert_eq!(TestServer::finish_pub(resp).await.0, 404);

    // its own namespace: the same name is free there
    let resp = s
        .client
        .post(other(CONFIGS))
        .json(&json!({"config_name": "shared", "config_desc": "theirs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(TestServer::finish_pub(resp).await.0, 200);
    let resp = s.client.get(other(CONFIGS)).send().await.unwrap();
    let (_, b) = TestServer::finish_pub(resp).await;
    assert_eq!(b["config_total_count"], 1);
    assert_eq!(b["configs"][0]["config_desc"], "theirs");

    // ours is unchanged
    let (_, got) = s.get(&path("shared"), &[]).await;
    assert_eq!(
        (&got["config_desc"], &got["spec_id"]),
        (&json!("mine"), &json!(1))
    );
    let (_, list) = s.get(CONFIGS, &[]).await;
    assert_eq!(list["config_total_count"], 1);
    // an invalid project id is refused before anything else
    let resp = s
        .client
        .get(format!("{}/v1/bad.project{CONFIGS}", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(TestServer::finish_pub(resp).await.0, 400);
    s.stop().await;
}

#[tokio::test]
async fn configs_through_the_sdk() {
    let server = TestServer::start(|_| {}).await;
    let s = Session::without_auth(&server.base, PROJECT).unwrap();

    let r = Estimator::create_config(
        &s,
        &json!({"config_name": "sdk-one", "config_desc": "first", "spec_id": 1, "worker_server_num": 1,
                "user_command": "sleep 1"}),
    )
    .await
    .unwrap();
    assert_eq!(r, json!({"is_success": true, "config_name": "sdk-one"}));
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    Estimator::create_config(&s, &json!({"config_name": "sdk-two", "spec_id": 2}))
        .await
        .unwrap();
    // the same body as the raw API
    let got = Estimator::get_config(&s, "sdk-one").await.unwrap();
    assert_eq!(got, server.get(&path("sdk-one"), &[]).await.1);
    assert_eq!(
        (&got["config_desc"], &got["user_command"]),
        (&json!("first"), &json!("sleep 1"))
    );

    let all = Estimator::list_configs(&s, &ConfigListParams::new())
        .await
        .unwrap();
    assert_eq!(cnames(&all), ["sdk-two", "sdk-one"], "server default: desc");
    let p = ConfigListParams::new()
        .sort_by(ConfigSortKey::CreateTime)
        .order(Order::Asc)
        .per_page(1)
        .page(2);
    let page = Estimator::list_configs(&s, &p).await.unwrap();
    assert_eq!(
        (cnames(&page), &page["config_total_count"]),
        (vec!["sdk-two".to_string()], &json!(2))
    );
    let found = Estimator::list_configs(&s, &ConfigListParams::new().search_content("ONE"))
        .await
        .unwrap();
    assert_eq!(cnames(&found), ["sdk-one"]);

    let r = Estimator::update_config(&s, "sdk-one", &json!({"config_desc": "second"}))
        .await
        .unwrap();
    assert_eq!(r["is_success"], true);
    let got = Estimator::get_config(&s, "sdk-one").await.unwrap();
    assert_eq!(
        (&got["config_desc"], &got["spec_id"]),
        (&json!("second"), &json!(1))
    );

    // server errors arrive as Error::Api with the envelope
    match Estimator::create_config(&s, &json!({"config_name": "sdk-two"})).await {
        Err(Error::Api {
            http_status,
            error_code,
            error_msg,
            ..
        }) => {
            assert_eq!((http_status, error_code.as_str()), (400, "ModelArts.0103"));
            assert!(error_msg.contains("config_name"), "{error_msg}");
        }
        other => panic!("expected a 0103, got {other:?}"),
    }
    Estimator::delete_config(&s, "sdk-one").await.unwrap();
    match Estimator::get_config(&s, "sdk-one").await {
        Err(Error::Api {
            http_status,
            error_code,
            ..
        }) => assert_eq!((http_status, error_code.as_str()), (404, "ModelArts.2775")),
        other => panic!("expected a 404, got {other:?}"),
    }
    let left = Estimator::list_configs(&s, &ConfigListParams::new())
        .await
        .unwrap();
    assert_eq!(
        (cnames(&left), &left["config_total_count"]),
        (vec!["sdk-two".to_string()], &json!(1))
    );
    server.stop().await;
}
