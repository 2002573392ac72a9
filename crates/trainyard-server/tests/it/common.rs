//! A server on 127.0.0.1:0 with a temporary data directory, stopped when dropped, and small
//! HTTP helpers returning (status, JSON body).

#![allow(dead_code)]

use serde_json::Value;
use std::net::SocketAddr;
use tempfile::TempDir;
use tokio::sync::oneshot;
use trainyard_server::config::ServerConfig;

pub const PROJECT: &str = "0123456789abcdef0123456789abcdef";

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with `--insecure-no-auth` and the given changes to the defaults.
    pub async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, tweak).await
    }

    /// Starts a server on an existing data directory.
    pub async fn start_in(dir: TempDir, tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            insecure_no_auth: true,
            stop_grace_secs: 1.0,
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let state = trainyard_server::build(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            trainyard_server::serve(listener, state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            addr,
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            dir,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server and returns its data directory (to restart on it).
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{PROJECT}{path}", self.base)
    }

    async fn finish(resp: reqwest::Response) -> (u16, Value) {
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    /// GET `/v1/{PROJECT}{path}` with query pairs.
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        Self::finish(
            self.client
                .get(self.url(path))
                .query(query)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The job list with these query pairs.
    pub async fn list(&self, query: &[(&str, &str)]) -> (u16, Value) {
        self.get("/training-jobs", query).await
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(
            self.client
                .post(self.url(path))
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// PUT a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::finish(
            self.client
                .put(self.url(path))
                .json(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// DELETE.
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::finish(self.client.delete(self.url(path)).send().await.unwrap()).await
    }

    /// POST NDJSON rows to the history import.
    pub async fn import(&self, rows: &[Value]) -> (u16, Value) {
        let body: String = rows.iter().map(|r| format!("{r}\n")).collect();
        let url = format!("{}/trainyard/v1/{PROJECT}/job-history", self.base);
        Self::finish(
            self.client
                .post(url)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A create-job body that runs `command` through `sh -c` (custom command; no engine).
    pub fn job_body(name: &str, command: &str) -> Value {
        serde_json::json!({"job_name": name, "config": {"worker_server_num": 1, "spec_id": 1, "user_command": command}})
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Names of the rows of a list body.
pub fn names(body: &Value) -> Vec<String> {
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap().to_owned())
        .collect()
}

/// Ids of the rows of a list body.
pub fn ids(body: &Value) -> Vec<i64> {
    body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_i64().unwrap())
        .collect()
}

/// A history row.
pub fn hist(name: &str, ws: &str, status: i64, create_time: i64) -> Value {
    serde_json::json!({"job_name": name, "workspace_id": ws, "status": status, "create_time": create_time})
}

/// Asserts an error envelope with this HTTP status and code whose message names `names`.
pub fn assert_error(got: &(u16, Value), http: u16, code: &str, names: &[&str]) {
    let (status, body) = got;
    assert_eq!(*status, http, "HTTP status of {body}");
    assert_eq!(body["is_success"], Value::Bool(false), "{body}");
    assert_eq!(body["error_code"], code, "{body}");
    let msg = body["error_msg"].as_str().unwrap();
    assert_eq!(body["error_message"].as_str().unwrap(), msg);
    for n in names {
        assert!(msg.contains(n), "message {msg:?} should name {n}");
    }
}
