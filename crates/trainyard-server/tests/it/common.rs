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
    /// The server's state (limits, throttles, budgets), shared with the running server.
    pub state: trainyard_server::state::AppState,
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
            // Logins at normal priority: the tests share the machine with compilers.
            password_check_nice: 0,
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let state = trainyard_server::build(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = state.clone();
        let task = tokio::spawn(async move {
            trainyard_server::serve(listener, served, async {
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
            state,
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

/// A scratch directory the workers' user can read and write (mode 1777, like `/tmp`): an
/// output directory (`train_url`), or, with [`share`], where the tests' scripts leave marker
/// files. Rust's temporary directories are 0755 root's when the tests run as root, and
/// workers then run as `nobody`.
pub fn scratch() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    d
}

/// A test policy: every worker of the server may read and write `dir` (production workers
/// write only their own `train_url` and run directory).
pub fn share(c: &mut ServerConfig, dir: &std::path::Path) {
    c.sandbox.read_write.push(dir.to_path_buf());
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

/// A second project, for isolation tests of servers started with [`start_with_auth`].
pub const PROJECT2: &str = "fedcba9876543210fedcba9876543210";

/// A server with authentication on (`insecure_no_auth = false`), seeded through the store API
/// before it starts: user `alice` (domain `alice`) in [`PROJECT`] (named `main`) with one
/// access key, and user `bob` (domain `bob`) in [`PROJECT2`] (named `second`) with one.
pub struct AuthServer {
    pub server: TestServer,
    pub ak: String,
    pub sk: String,
    pub ak2: String,
    pub sk2: String,
}

/// Password of `alice`.
pub const ALICE_PASSWORD: &str = "alice-password-1";
/// Password of `bob`.
pub const BOB_PASSWORD: &str = "bob-password-22";

/// Seeds the auth store of a data directory (see [`AuthServer`]); returns (ak, sk, ak2, sk2).
pub fn seed_auth(dir: &std::path::Path) -> (String, String, String, String) {
    use trainyard_store::auth::Sealer;
    let cfg = ServerConfig {
        data_dir: dir.to_path_buf(),
        ..ServerConfig::default()
    };
    let store = trainyard_store::Store::open(&cfg.store_location().unwrap()).unwrap();
    let sealer = Sealer::load_or_create(&dir.join(trainyard_server::auth::KEY_FILE)).unwrap();
    store.add_project(Some(PROJECT), "main", 1).unwrap();
    store.add_project(Some(PROJECT2), "second", 1).unwrap();
    store
        .add_user("alice", "alice", ALICE_PASSWORD, &[PROJECT.to_owned()], 1)
        .unwrap();
    store
        .add_user("bob", "bob", BOB_PASSWORD, &[PROJECT2.to_owned()], 1)
        .unwrap();
    let k1 = store
        .create_access_key(&sealer, "alice", "alice", 1)
        .unwrap();
    let k2 = store.create_access_key(&sealer, "bob", "bob", 1).unwrap();
    (k1.access_key, k1.secret_key, k2.access_key, k2.secret_key)
}

/// Starts a server with authentication on, seeded as [`AuthServer`] says.
pub async fn start_with_auth(tweak: impl FnOnce(&mut ServerConfig)) -> AuthServer {
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk, ak2, sk2) = seed_auth(dir.path());
    let server = TestServer::start_in(dir, |c| {
        c.insecure_no_auth = false;
        tweak(c);
    })
    .await;
    AuthServer {
        server,
        ak,
        sk,
        ak2,
        sk2,
    }
}

/// Now in epoch ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

impl AuthServer {
    /// Opens the server's store (a second connection) to manage users and keys while it runs.
    pub fn store(&self) -> trainyard_store::Store {
        let cfg = ServerConfig {
            data_dir: self.server.dir.path().to_path_buf(),
            ..ServerConfig::default()
        };
        trainyard_store::Store::open(&cfg.store_location().unwrap()).unwrap()
    }

    /// Sends a request signed with `ak`/`sk` dated `date_ms`; `target` is the path with its
    /// raw query (e.g. `/v1/p/training-jobs?page=1`); `extra` are more headers, signed too.
    #[allow(clippy::too_many_arguments)]
    pub async fn signed_at(
        &self,
        method: &str,
        target: &str,
        body: &[u8],
        ak: &str,
        sk: &str,
        date_ms: i64,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        self.signed_via(
            &self.server.client,
            method,
            target,
            body,
            ak,
            sk,
            date_ms,
            extra,
        )
        .await
    }

    /// [`AuthServer::signed_at`] through `client` (e.g. one bound to another source address:
    /// [`client_from`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn signed_via(
        &self,
        client: &reqwest::Client,
        method: &str,
        target: &str,
        body: &[u8],
        ak: &str,
        sk: &str,
        date_ms: i64,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let host = self.server.addr.to_string();
        let mut headers: Vec<(&str, &str)> = vec![
            ("Host", host.as_str()),
            ("Content-Type", "application/json"),
        ];
        headers.extend_from_slice(extra);
        let signer = trainyard_sign::Signer::new(ak, sk.as_bytes().to_vec());
        let signed = signer.sign(
            method,
            path,
            query,
            &headers,
            body,
            &trainyard_sign::sdk_date(date_ms),
        );
        let mut rb = client
            .request(
                method.parse().unwrap(),
                format!("{}{target}", self.server.base),
            )
            .header("Content-Type", "application/json")
            .body(body.to_vec());
        for (k, v) in extra {
            rb = rb.header(*k, *v);
        }
        for (k, v) in signed {
            rb = rb.header(k, v);
        }
        rb.send().await.unwrap()
    }

    /// A request signed now with alice's key; returns (status, JSON body).
    pub async fn signed(&self, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
        let r = self
            .signed_at(method, target, body, &self.ak, &self.sk, now_ms(), &[])
            .await;
        TestServer::finish_pub(r).await
    }

    /// Gets a token with the Keystone password body; returns the raw response.
    pub async fn login(
        &self,
        user: &str,
        domain: &str,
        password: &str,
        scope: Value,
    ) -> reqwest::Response {
        self.login_via(&self.server.client, user, domain, password, scope)
            .await
    }

    /// [`AuthServer::login`] through `client`.
    pub async fn login_via(
        &self,
        client: &reqwest::Client,
        user: &str,
        domain: &str,
        password: &str,
        scope: Value,
    ) -> reqwest::Response {
        let body = serde_json::json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}}},
            "scope": {"project": scope}}});
        client
            .post(format!("{}/v3/auth/tokens", self.server.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A token of alice for [`PROJECT`].
    pub async fn alice_token(&self) -> String {
        let r = self
            .login(
                "alice",
                "alice",
                ALICE_PASSWORD,
                serde_json::json!({"id": PROJECT}),
            )
            .await;
        assert_eq!(r.status().as_u16(), 201);
        r.headers()["x-subject-token"].to_str().unwrap().to_owned()
    }

    /// A request with `X-Auth-Token`; returns (status, JSON body).
    pub async fn with_token(
        &self,
        method: &str,
        target: &str,
        token: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut rb = self
            .server
            .client
            .request(
                method.parse().unwrap(),
                format!("{}{target}", self.server.base),
            )
            .header("X-Auth-Token", token);
        if let Some(b) = body {
            rb = rb.json(b);
        }
        TestServer::finish_pub(rb.send().await.unwrap()).await
    }
}

impl TestServer {
    /// (status, JSON body) of a response.
    pub async fn finish_pub(resp: reqwest::Response) -> (u16, Value) {
        Self::finish(resp).await
    }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address works on Linux
/// loopback), to act as another client address.
pub fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}
