//! The OpenAPI document: locked by the committed `openapi.json` (a diff on any API change),
//! served at `/openapi.json`, and Swagger UI served from the binary at `/docs/`.

use crate::common::TestServer;
use serde_json::{Value, json};

/// `openapi.json` at the repository root.
fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")
}

fn generated() -> String {
    let mut text = serde_json::to_string_pretty(&trainyard_server::app::openapi()).unwrap();
    text.push('\n');
    text
}

/// The document generated from the code equals the committed one. On a mismatch outside CI the
/// file is rewritten (review it with `git diff openapi.json`) and the test still fails once;
/// with `CI=true` nothing is written.
#[test]
fn openapi_snapshot_matches_the_committed_document() {
    let path = committed_path();
    let want = generated();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have == want {
        return;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !ci {
        std::fs::write(&path, &want).unwrap();
    }
    panic!(
        "the API changed: openapi.json differs from the document generated from the code{}",
        if ci {
            " (CI: run `cargo test -p trainyard-server openapi` locally and commit openapi.json)"
        } else {
            "; it was rewritten: review `git diff openapi.json`, commit it and rerun"
        }
    );
}

/// Every operation is documented with its errors, and every route of the contract is there.
#[test]
fn every_operation_documents_its_answers() {
    let doc: Value = serde_json::to_value(trainyard_server::app::openapi()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/v1/{project_id}/training-jobs", vec!["get", "post"]),
        (
            "/v1/{project_id}/training-jobs/{job_id}",
            vec!["put", "delete"],
        ),
        (
            "/v1/{project_id}/training-jobs/{job_id}/versions",
            vec!["get", "post"],
        ),
        (
            "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}",
            vec!["get", "delete"],
        ),
        (
            "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/stop",
            vec!["post"],
        ),
        (
            "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/log/file-names",
            vec!["get"],
        ),
        (
            "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/aom-log",
            vec!["get"],
        ),
        (
            "/v1/{project_id}/training-jobs/{job_id}/versions/{version_id}/log/stream",
            vec!["get"],
        ),
        ("/v1/{project_id}/job/resource-specs", vec!["get"]),
        ("/v1/{project_id}/job/ai-engines", vec!["get"]),
        ("/v1/{project_id}/training-job-configs", vec!["get", "post"]),
        (
            "/v1/{project_id}/training-job-configs/{config_name}",
            vec!["get", "put", "delete"],
        ),
        ("/trainyard/v1/{project_id}/job-history", vec!["post"]),
        ("/v3", vec!["get"]),
        ("/v3/auth/tokens", vec!["post"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
    ];
    assert_eq!(paths.len(), expected.len(), "{:?}", paths.keys());
    for (path, methods) in expected {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for m in methods {
            let op = &item[m];
            assert!(op.is_object(), "{m} {path} missing");
            let responses = op["responses"].as_object().unwrap();
            let ok = responses.keys().any(|k| k.starts_with('2'));
            assert!(ok, "{m} {path}: no success answer");
            if path.starts_with("/v1/") || path.starts_with("/trainyard/") {
                for code in ["400", "401", "403", "404", "500"] {
                    assert_eq!(
                        responses[code]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{m} {path} {code}"
                    );
                }
                // the project_id path parameter is declared
                let params = op["parameters"].as_array().unwrap();
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "project_id" && p["in"] == "path"),
                    "{m} {path}"
                );
            } else {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{}]),
                    "{m} {path} is public"
                );
            }
        }
    }
    // The envelope and the status code schema.
    let body = &doc["components"]["schemas"]["ErrorBody"];
    let mut required: Vec<&str> = body["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["error_code", "is_success"]);
    let status = &doc["components"]["schemas"]["JobRow"]["properties"]["status"];
    assert_eq!(status["$ref"], "#/components/schemas/JobStatus");
    let js = &doc["components"]["schemas"]["JobStatus"];
    assert_eq!(
        (js["minimum"].as_i64(), js["maximum"].as_i64()),
        (Some(0), Some(22))
    );
}

/// `/openapi.json` serves the same document; Swagger UI's page and assets come from the binary.
#[tokio::test]
async fn document_and_swagger_ui_are_served() {
    let s = TestServer::start(|_| {}).await;
    let served: Value = s
        .client
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let want: Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(served, want);
    let page = s
        .client
        .get(format!("{}/docs/", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = s
        .client
        .get(format!("{}/docs/swagger-initializer.js", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        let r = s
            .client
            .get(format!("{}/docs/{asset}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().await.unwrap().len() > 10_000, "{asset}");
    }
    // /docs redirects to /docs/ (and a trimmed API path still works)
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/docs", s.base))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    assert_eq!(r.headers()["location"], "/docs/");
    let (code, _) = s.get("/training-jobs/", &[]).await;
    assert_eq!(code, 200);
}

/// The JSON type names of a value, as a JSON schema's `type` spells them.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The `type` of a schema as a list (a 3.1 schema may give one name or several).
fn schema_types(schema: &Value) -> Vec<String> {
    match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        other => panic!("no type in {schema}: {other}"),
    }
}

/// Regression (CI's API fuzzer, ST108): a hyper-parameter's `value` was documented as
/// `type: object`, but a request may send a string, number or boolean and an answer holds the
/// value as text. The document must accept what a client sends and what the server answers: a
/// config created with a number, a boolean and a string value is read back, and each answered
/// value's type is one the document allows; the request types are allowed too.
#[tokio::test]
async fn parameter_values_match_their_documented_type() {
    let doc: Value = serde_json::to_value(trainyard_server::app::openapi()).unwrap();
    let value_schema = &doc["components"]["schemas"]["ParameterBody"]["properties"]["value"];
    let allowed = schema_types(value_schema);
    for sent in [json!(0.5), json!(-664), json!(true), json!("x")] {
        let t = json_type(&sent);
        // an integer is also a JSON-schema number
        assert!(
            allowed
                .iter()
                .any(|a| a == t || (t == "integer" && a == "number")),
            "a request may send {sent}, the document allows {allowed:?}"
        );
    }
    let s = TestServer::start(|_| {}).await;
    let body = json!({"config_name": "typed", "spec_id": 1, "user_command": "true",
        "parameter": [{"label": "a", "value": -664}, {"label": "b", "value": true},
                      {"label": "c", "value": "s"}]});
    let (st, created) = s.post("/training-job-configs", &body).await;
    assert_eq!(st, 200, "{created}");
    let (st, got) = s.get("/training-job-configs/typed", &[]).await;
    assert_eq!(st, 200, "{got}");
    let params = got["parameter"].as_array().unwrap();
    assert_eq!(params.len(), 3, "{got}");
    for p in params {
        let t = json_type(&p["value"]);
        assert!(
            allowed.iter().any(|a| a == t),
            "answered {p}, document allows {allowed:?}"
        );
    }
}
