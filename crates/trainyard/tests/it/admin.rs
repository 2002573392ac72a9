//! Accounts through the binary: `trainyard serve` creates the local default account on an
//! empty data directory and then requires credentials; `users|keys|projects` manage the store.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use trainyard_client::{Estimator, JobListParams, Session};

struct Server {
    child: Child,
    base: String,
    notes: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `trainyard serve` WITH authentication; returns once it listens, with the stderr
/// lines that are not log lines (the local-default notice).
fn start(dir: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut notes = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("trainyard:") {
                notes.push(line.clone());
            }
            if line.contains("trainyard listening") {
                let _ = tx.send(std::mem::take(&mut notes));
            }
        }
    });
    let notes = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("server did not start listening within 30 s");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        notes,
    }
}

fn admin(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn serve_creates_the_local_default_account_and_requires_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let file = dir.path().join("credentials.json");
    assert!(
        server
            .notes
            .iter()
            .any(|n| n.contains(&file.display().to_string())),
        "stderr says where the credentials are: {:?}",
        server.notes
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let creds: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let s = |k: &str| creds[k].as_str().unwrap().to_owned();
    assert_eq!(s("endpoint"), server.base);
    assert!(
        !server.notes.join(" ").contains(&s("secret_key")),
        "the secret is not printed"
    );

    // No credentials: 401 ModelArts.0201.
    let r = reqwest::blocking::get(format!(
        "{}/v1/{}/training-jobs",
        server.base,
        s("project_id")
    ))
    .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error_code"], "ModelArts.0201");

    // The file's key pair and login both work through the SDK.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let aksk = Session::with_access_key(
            &server.base,
            s("project_id"),
            s("access_key"),
            s("secret_key"),
        )
        .unwrap();
        let page = Estimator::get_job_list(&aksk, &JobListParams::new())
            .await
            .unwrap();
        assert_eq!(page.job_total_count, 0);
        let login = Session::with_password(
            &server.base,
            s("project_id"),
            s("domain"),
            s("username"),
            s("password"),
        )
        .unwrap();
        Estimator::get_job_list(&login, &JobListParams::new())
            .await
            .unwrap();
    });

    // A restart on the same store creates nothing new.
    drop(server);
    let before = std::fs::read(&file).unwrap();
    let again = start(dir.path());
    assert!(again.notes.is_empty(), "no new account: {:?}", again.notes);
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn users_keys_and_projects_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // No project yet: a user cannot be added.
    let out = admin(d, &["users", "add", "alice"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("projects add"));

    let p = json_of(&admin(d, &["projects", "add", "research", "--json"]));
    let pid = p["project_id"].as_str().unwrap();
    assert_eq!(pid.len(), 32);
    assert!(pid.bytes().all(|b| b.is_ascii_hexdigit()));
    let list = admin(d, &["projects", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains(pid));
    let dup = admin(d, &["projects", "add", "research"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));

    // The only project is the default for --projects; the password is generated and shown once.
    let u = json_of(&admin(d, &["users", "add", "alice", "--json"]));
    assert_eq!(u["projects"], serde_json::json!([pid]));
    assert_eq!(u["domain"], "alice");
    assert_eq!(u["password"].as_str().unwrap().len(), 24);
    let users = String::from_utf8(admin(d, &["users", "list"]).stdout).unwrap();
    assert!(users.contains("alice") && users.contains(pid));
    assert!(!users.contains(u["password"].as_str().unwrap()));

    let k = json_of(&admin(d, &["keys", "create", "--user", "alice", "--json"]));
    let (ak, sk) = (
        k["access_key"].as_str().unwrap(),
        k["secret_key"].as_str().unwrap(),
    );
    assert_eq!((ak.len(), sk.len()), (20, 40));
    let keys = String::from_utf8(admin(d, &["keys", "list"]).stdout).unwrap();
    assert!(keys.contains(ak) && keys.contains("active"));
    assert!(!keys.contains(sk), "secrets are never listed");
    assert!(admin(d, &["keys", "revoke", ak]).status.success());
    let keys = String::from_utf8(admin(d, &["keys", "list", "--user", "alice"]).stdout).unwrap();
    assert!(keys.contains("revoked"));
    assert!(
        !admin(d, &["keys", "revoke", ak]).status.success(),
        "revoking twice fails"
    );

    let missing = admin(d, &["keys", "create", "--user", "nobody"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));

    assert!(admin(d, &["users", "remove", "alice"]).status.success());
    let users = String::from_utf8(admin(d, &["users", "list"]).stdout).unwrap();
    assert!(!users.contains("alice"));
    assert!(!admin(d, &["users", "remove", "alice"]).status.success());
}
