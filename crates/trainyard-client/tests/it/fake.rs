//! A tiny scripted HTTP server on 127.0.0.1:0 that records every request.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The decoded query pairs.
    pub fn pairs(&self) -> Vec<(String, String)> {
        if self.query.is_empty() {
            return Vec::new();
        }
        self.query
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (decode(k), decode(v))
            })
            .collect()
    }

    pub fn param(&self, name: &str) -> Option<String> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let h = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap();
            out.push(h);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A reply: status, extra headers, JSON body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    pub fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    pub fn error(status: u16, code: &str, msg: &str) -> Reply {
        Reply::json(
            status,
            json!({"is_success": false, "error_code": code, "error_message": msg, "error_msg": msg}),
        )
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Script>,
}

/// A running fake server.
pub struct Fake {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Starts a server answering each request with `script(request, index)` (index counts all
    /// requests from 0).
    pub async fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Fake {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            seen: seen.clone(),
            script: Arc::new(script),
        };
        let app = Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn handle(State(shared): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, 128 * 1024 * 1024).await.unwrap().to_vec();
    let seen = Seen {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let index = {
        let mut all = shared.seen.lock().unwrap();
        all.push(seen.clone());
        all.len() - 1
    };
    let reply = (shared.script)(&seen, index);
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).unwrap();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(
            HeaderName::from_static(k),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    resp
}

/// A job-list body with these rows.
pub fn list_body(total: u64, rows: &[Value]) -> Value {
    json!({"is_success": true, "job_total_count": total, "job_count_limit": 9000, "quotas": 4, "jobs": rows})
}

/// A job-list row.
pub fn row(job_id: i64, name: &str) -> Value {
    json!({"job_id": job_id, "job_name": name, "version_id": job_id * 10, "status": 8, "create_time": 1764403200000_i64,
           "duration": 93120, "job_desc": "", "version_count": 1, "engine_type": 13})
}

/// A version-detail body with this status.
pub fn version_body(job_id: i64, version_id: i64, status: u8) -> Value {
    json!({"is_success": true, "job_id": job_id, "job_name": "j", "job_desc": "", "version_id": version_id,
        "version_name": "V0001", "pre_version_id": null, "engine_type": 13, "engine_name": "Python", "engine_id": 1,
        "engine_version": "python3", "status": status, "app_url": "/code", "boot_file_url": "train.py",
        "create_time": 1, "start_time": null, "end_time": null, "duration": 0, "parameter": [], "spec_id": 1,
        "spec_code": "local.cpu.1u", "core": "1", "cpu": "2", "gpu_num": 0, "gpu_type": "", "worker_server_num": 1,
        "data_url": "", "train_url": "", "log_url": "", "user_image_url": "", "user_command": "", "resource_id": "r",
        "version_desc": "", "exit_code": null, "status_reason": ""})
}

/// A create-job body.
pub fn created_body() -> Value {
    json!({"is_success": true, "job_id": 12, "job_name": "resnet", "status": 1, "create_time": 1764403200000_i64,
           "version_id": 31, "version_name": "V0001", "resource_id": "r-31"})
}
