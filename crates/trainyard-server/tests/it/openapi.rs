//! The OpenAPI document: locked by the committed `openapi.json` (a diff on any API change),
//! served at `/openapi.json`, and Swagger UI served from the binary at `/docs/`.

use crate::common::TestServer;
use serde_json::Value;

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
