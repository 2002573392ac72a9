//! The `trainyard` CLI end to end: a real `trainyard serve --insecure-no-auth` child process, the
//! CLI run against it, outputs compared with the API's own answers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PROJECT: &str = "0123456789abcdef0123456789abcdef";
/// A POSIX TZ of UTC+2 (no tz database needed): tables must show local times in it.
const TZ: &str = "XYZ-2";

/// A `trainyard serve` child process on a free port with a temporary data directory, killed
/// when dropped.
struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    /// Authentication on: the CLI finds its credentials in `./trainyard-data/credentials.json`.
    auth: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        Server::start_mode(false)
    }

    /// With `auth`, the server runs in the temporary directory with its default data directory
    /// (`./trainyard-data`) and authentication on, as a local quickstart does.
    fn start_mode(auth: bool) -> Server {
        Server::start_with(auth, &[])
    }

    /// [`Server::start_mode`] with more `serve` flags.
    fn start_with(auth: bool, extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
        cmd.current_dir(dir.path())
            .args(["serve", "--listen"])
            .arg(format!("127.0.0.1:{port}"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRAINYARD_") {
                cmd.env_remove(k);
            }
        }
        if !auth {
            cmd.arg("--insecure-no-auth")
                .arg("--data-dir")
                .arg(dir.path().join("data"));
        }
        cmd.args(extra);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            auth,
        };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // With authentication the credentials file is written just after the port is bound.
        let file = server.dir.path().join("trainyard-data/credentials.json");
        while auth && !file.is_file() {
            assert!(Instant::now() < deadline, "no credentials file within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The CLI pointed at this server, isolated from the caller's environment.
    fn cli(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trainyard"));
        for (k, _) in std::env::vars() {
            if k.starts_with("TRAINYARD_") {
                c.env_remove(k);
            }
        }
        // never the caller's per-user credentials (~/.config/trainyard)
        c.current_dir(self.dir.path())
            .env("TZ", TZ)
            .env("HOME", self.dir.path().join("home"))
            .env_remove("XDG_CONFIG_HOME");
        if !self.auth {
            c.args(["--endpoint", &self.base, "--project", PROJECT]);
        }
        c
    }

    /// Runs the CLI with `args` (bounded to 60 s).
    fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cli();
        c.args(args);
        let mut c = assert_cmd::Command::from_std(c);
        c.timeout(Duration::from_secs(60));
        c.output().unwrap()
    }

    /// Runs the CLI, asserts success and returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "trainyard {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs the CLI with `--output json` and parses stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut a = args.to_vec();
        a.extend(["--output", "json"]);
        let text = self.ok(&a);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// GET `/v1/{PROJECT}{path}` straight from the API.
    fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let url = format!("{}/v1/{PROJECT}{path}", self.base);
        let r = reqwest::blocking::Client::new()
            .get(url)
            .query(query)
            .timeout(Duration::from_secs(10))
            .send()
            .unwrap();
        r.json().unwrap()
    }

    /// Polls the version until it is terminal (bounded).
    fn wait_terminal(&self, job: i64, version: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.api(&format!("/training-jobs/{job}/versions/{version}"), &[]);
            if [3, 5, 6, 10, 11, 12, 13, 14].contains(&v["status"].as_i64().unwrap_or(-1)) {
                return v;
            }
            assert!(Instant::now() < deadline, "version did not end: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// 30 history records: names `alpha-NN`/`beta-NN`, workspace `0` or `ws2`, statuses 10/11/12,
/// create times 1,700,000,000,000 + k s, durations k * 1,000 ms.
fn history(dir: &Path) -> std::path::PathBuf {
    let mut text = String::new();
    for k in 0..30_i64 {
        let name = if k % 3 == 0 {
            format!("beta-{k:02}")
        } else {
            format!("alpha-{k:02}")
        };
        let ws = if k % 5 == 0 { "ws2" } else { "0" };
        let status = [10, 11, 12][(k % 3) as usize];
        let create = 1_700_000_000_000 + k * 1000;
        let rec = json!({"job_name": name, "workspace_id": ws, "status": status, "create_time": create,
                         "start_time": create, "end_time": create + k * 1000, "job_desc": format!("run {k}")});
        text.push_str(&rec.to_string());
        text.push('\n');
    }
    // One long run: 1 h 02 min 03 s.
    text.push_str(
        &json!({"job_name": "long-run", "status": 10, "create_time": 1_700_000_000_000_i64,
                "start_time": 1_700_000_000_000_i64, "end_time": 1_700_000_000_000_i64 + 3_723_000})
        .to_string(),
    );
    text.push('\n');
    let p = dir.join("history.ndjson");
    std::fs::write(&p, text).unwrap();
    p
}

/// CLI arguments and the API query pairs that mean the same.
type Case = (Vec<&'static str>, Vec<(&'static str, &'static str)>);

#[test]
fn import_then_list_with_every_option() {
    let s = Server::start();
    let file = history(s.dir.path());
    let out = s.ok(&["import", file.to_str().unwrap(), "--batch-size", "7"]);
    assert_eq!(out, "imported 31 jobs (ids 1-31) in 5 batches\n");

    // Each CLI option against the API's answer to the same query (CLI default order: desc).
    let cases: Vec<Case> = vec![
        (vec![], vec![("order", "desc")]),
        (
            vec!["--status", "FAILED,10"],
            vec![("status", "11,10"), ("order", "desc")],
        ),
        (
            vec!["--status", "12", "--status", "JOBSTAT_FAILED"],
            vec![("status", "11,12"), ("order", "desc")],
        ),
        (
            vec!["--per-page", "5", "--page", "2"],
            vec![("per_page", "5"), ("page", "2"), ("order", "desc")],
        ),
        (
            vec!["--sort-by", "create_time", "--order", "asc"],
            vec![("sortBy", "create_time"), ("order", "asc")],
        ),
        (
            vec!["--sort-by", "duration"],
            vec![("sortBy", "duration"), ("order", "desc")],
        ),
        (
            vec!["--search", "ALPHA-1"],
            vec![("search_content", "ALPHA-1"), ("order", "desc")],
        ),
        (
            vec!["--workspace", "ws2", "--per-page", "100"],
            vec![
                ("workspace_id", "ws2"),
                ("per_page", "100"),
                ("order", "desc"),
            ],
        ),
    ];
    for (args, query) in &cases {
        let mut a = vec!["jobs", "list"];
        a.extend(args);
        let got = s.json(&a);
        let want = s.api("/training-jobs", query);
        assert_eq!(want["is_success"], true, "{query:?}: {want}");
        assert_eq!(got, want, "trainyard {a:?}");
    }
    // --all: every row of every page (here with 4 per page), as one JSON array.
    let all = s.json(&[
        "jobs",
        "list",
        "--all",
        "--per-page",
        "4",
        "--sort-by",
        "create_time",
    ]);
    let want = s.api(
        "/training-jobs",
        &[
            ("per_page", "1000"),
            ("sortBy", "create_time"),
            ("order", "desc"),
        ],
    );
    assert_eq!(all, want["jobs"]);
    assert_eq!(
        all.as_array().unwrap().len(),
        25,
        "workspace 0 holds 31 - 6 jobs"
    );

    // The table: statuses by name and code, local times (UTC+2), durations as 1h02m03s.
    let table = s.ok(&["jobs", "list", "--search", "long-run"]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].contains("JOB ID") && lines[0].contains("STATUS"),
        "{table}"
    );
    assert!(lines[1].contains("long-run"), "{table}");
    assert!(lines[1].contains("COMPLETED (10)"), "{table}");
    assert!(lines[1].contains("2023-11-15 00:13:20"), "{table}");
    assert!(lines[1].contains("1h02m03s"), "{table}");
    assert!(table.contains("1 of 1 job (page 1"), "{table}");
    let table = s.ok(&[
        "jobs",
        "list",
        "--status",
        "11",
        "--per-page",
        "3",
        "--order",
        "asc",
    ]);
    assert_eq!(table.matches("FAILED (11)").count(), 3, "{table}");

    // Errors: one line, the server's code and message, non-zero exit.
    let o = s.run(&["jobs", "list", "--per-page", "1001"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: ModelArts.0101: per_page must be an integer 1-1000, got \"1001\"\n"
    );
    assert!(o.stdout.is_empty());
    let o = s.run(&["jobs", "list", "--page", "0"]);
    assert!(
        stderr(&o).starts_with("error: ModelArts.0101: page"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["jobs", "list", "--sort-by", "bogus"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
    let o = s.run(&["jobs", "list", "--status", "nope"]);
    assert_eq!(o.status.code(), Some(2));

    // A second import of the same names is refused as a whole, with the server's message.
    let o = s.run(&["import", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!(
            "error: ModelArts.0103: {} line 1: ",
            file.display()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(s.api("/training-jobs", &[])["job_total_count"], 25);
}

#[test]
fn import_csv() {
    let s = Server::start();
    let p = s.dir.path().join("h.csv");
    std::fs::write(
        &p,
        "job_name,status,create_time,start_time,end_time,job_desc\n\
         csv-1,10,1700000000000,1700000001000,1700000061000,\"with, comma\"\n\
         csv-2,11,1700000000001,,,\n",
    )
    .unwrap();
    let summary = s.json(&["import", p.to_str().unwrap()]);
    assert_eq!(summary["imported"], 2);
    assert_eq!(summary["batches"], 1);
    let list = s.api("/training-jobs", &[("order", "asc")]);
    assert_eq!(list["jobs"][0]["job_name"], "csv-1");
    assert_eq!(list["jobs"][0]["job_desc"], "with, comma");
    assert_eq!(list["jobs"][0]["duration"], 60_000);
    assert_eq!(list["jobs"][1]["status"], 11);
    std::fs::write(&p, "job_name,status,create_time\ncsv-3,ten,1\n").unwrap();
    let o = s.run(&["import", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!(
            "{} line 2: status must be a terminal status code or name",
            p.display()
        )),
        "{}",
        stderr(&o)
    );
}

#[test]
fn job_lifecycle_create_show_versions_describe_stop_delete() {
    let s = Server::start();
    let created = s.json(&[
        "jobs",
        "create",
        "--name",
        "life",
        "--desc",
        "first",
        "--command",
        "sleep 30",
    ]);
    assert_eq!(created["job_name"], "life");
    assert_eq!(created["version_name"], "V0001");
    let job = created["job_id"].as_i64().unwrap();
    let v1 = created["version_id"].as_i64().unwrap();

    // show (by id and by name) = the API's version detail
    let shown = s.json(&["jobs", "show", &job.to_string()]);
    assert_eq!(shown["job_name"], "life");
    assert_eq!(shown["user_command"], "sleep 30");
    assert_eq!(shown["spec_id"], 1, "the first available spec by default");
    assert_eq!(shown["worker_server_num"], 1);
    let by_name = s.json(&["jobs", "show", "life", "--version", "V0001"]);
    assert_eq!(by_name["version_id"], v1);
    let api = s.api(&format!("/training-jobs/{job}/versions/{v1}"), &[]);
    for k in [
        "job_id",
        "job_name",
        "version_id",
        "create_time",
        "spec_id",
        "user_command",
    ] {
        assert_eq!(shown[k], api[k], "{k}");
    }
    let table = s.ok(&["jobs", "show", "life"]);
    assert!(table.contains("sleep 30"), "{table}");
    assert!(table.contains("V0001"), "{table}");

    // describe
    assert_eq!(
        s.ok(&["jobs", "describe", "life", "second"]),
        format!("job {job}: description updated\n")
    );
    assert_eq!(
        s.api(&format!("/training-jobs/{job}/versions/{v1}"), &[])["job_desc"],
        "second"
    );

    // stop the latest version
    let out = s.ok(&["jobs", "stop", "life"]);
    assert!(
        out.starts_with(&format!("stopping job {job} version {v1}: ")),
        "{out}"
    );
    let v = s.wait_terminal(job, v1);
    assert!([12, 13].contains(&v["status"].as_i64().unwrap()), "{v}");

    // versions = the API's version list
    let versions = s.json(&["jobs", "versions", "life"]);
    let api = s.api(
        &format!("/training-jobs/{job}/versions"),
        &[("per_page", "1000"), ("page", "0")],
    );
    assert_eq!(versions["version_count"], 1);
    assert_eq!(
        versions["versions"][0]["version_id"],
        api["versions"][0]["version_id"]
    );
    assert_eq!(
        versions["versions"][0]["status"],
        api["versions"][0]["status"]
    );

    // delete the job; then it is gone
    assert_eq!(
        s.ok(&["jobs", "delete", "life"]),
        format!("deleted job {job}\n")
    );
    let o = s.run(&["jobs", "show", &job.to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: ModelArts.2775"),
        "{}",
        stderr(&o)
    );
    let o = s.run(&["jobs", "show", "life"]);
    assert!(
        stderr(&o).starts_with("error: ModelArts.2775"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn create_from_file_with_engine_params_and_delete_version() {
    let s = Server::start();
    let code = s.dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    std::fs::write(
        code.join("train.py"),
        "import sys\nprint('args', ' '.join(sys.argv[1:]))\n",
    )
    .unwrap();
    let body = json!({"job_name": "from-file", "job_desc": "file desc",
                      "config": {"worker_server_num": 1, "spec_id": 1}});
    let file = s.dir.path().join("job.json");
    std::fs::write(&file, body.to_string()).unwrap();
    // Flags override the file: another name, an engine by name, a boot file, parameters.
    let created = s.json(&[
        "jobs",
        "create",
        "--file",
        file.to_str().unwrap(),
        "--name",
        "flagged",
        "--engine",
        "python",
        "--app-url",
        code.to_str().unwrap(),
        "--boot-file",
        "train.py",
        "--param",
        "lr=0.1",
        "--param",
        "epochs=2",
    ]);
    let job = created["job_id"].as_i64().unwrap();
    let v1 = created["version_id"].as_i64().unwrap();
    let v = s.json(&["jobs", "show", "flagged"]);
    assert_eq!(v["job_desc"], "file desc");
    assert_eq!(v["engine_name"], "Python");
    assert_eq!(v["app_url"], code.to_str().unwrap());
    assert_eq!(v["boot_file_url"], "train.py");
    assert_eq!(
        v["parameter"],
        json!([{"label": "lr", "value": "0.1"}, {"label": "epochs", "value": "2"}])
    );
    let done = s.wait_terminal(job, v1);
    assert_eq!(done["status"], 10, "{done}");
    let log = s.ok(&["jobs", "logs", "flagged"]);
    assert!(log.contains("args --lr=0.1 --epochs=2"), "{log}");

    // A bad engine name is refused before anything is created.
    let o = s.run(&[
        "jobs",
        "create",
        "--name",
        "x",
        "--engine",
        "cobol",
        "--command",
        "true",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no engine \"cobol\""), "{}", stderr(&o));

    // delete --version V0001 of a two-version job leaves V0002.
    let url = format!("{}/v1/{PROJECT}/training-jobs/{job}/versions", s.base);
    let r: Value = reqwest::blocking::Client::new()
        .post(url)
        .json(&json!({"config": {"pre_version_id": v1, "user_command": "true"}}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["version_name"], "V0002", "{r}");
    s.ok(&["jobs", "delete", "flagged", "--version", "V0001"]);
    let versions = s.json(&["jobs", "versions", &job.to_string()]);
    assert_eq!(versions["version_count"], 1);
    assert_eq!(versions["versions"][0]["version_name"], "V0002");
}

#[test]
fn create_from_a_yaml_file() {
    let s = Server::start();
    let file = s.dir.path().join("job.yaml");
    std::fs::write(
        &file,
        "job_name: from-yaml\njob_desc: written in YAML\nworkspace_id: yws\nconfig:\n  worker_server_num: 1\n  spec_id: 1\n  user_command: echo from yaml\n  parameter:\n    - {label: lr, value: 0.5}\n",
    )
    .unwrap();
    s.json(&["jobs", "create", "--file", file.to_str().unwrap()]);
    let v = s.json(&["jobs", "show", "from-yaml", "--workspace", "yws"]);
    assert_eq!(
        (&v["job_desc"], &v["user_command"], &v["parameter"]),
        (
            &json!("written in YAML"),
            &json!("echo from yaml"),
            &json!([{"label": "lr", "value": "0.5"}])
        ),
        "{v}"
    );
    // a YAML file that is not a mapping is refused with one line and a non-zero exit
    std::fs::write(&file, "- just\n- a list\n").unwrap();
    let o = s.run(&["jobs", "create", "--file", file.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("not a YAML mapping"), "{}", stderr(&o));
}

#[test]
fn logs_follow_ends_when_the_version_ends() {
    let s = Server::start();
    let created = s.json(&[
        "jobs",
        "create",
        "--name",
        "chatty",
        "--command",
        "for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done",
    ]);
    let job = created["job_id"].as_i64().unwrap();
    let t = Instant::now();
    let out = s.ok(&["jobs", "logs", "chatty", "-f", "--poll", "0.1"]);
    assert_eq!(out, "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert!(t.elapsed() < Duration::from_secs(30));
    let v = s.api(
        &format!("/training-jobs/{job}/versions/{}", created["version_id"]),
        &[],
    );
    assert_eq!(
        v["status"], 10,
        "logs -f returned before the version ended: {v}"
    );
    // Without -f: the newest N lines.
    assert_eq!(
        s.ok(&["jobs", "logs", "chatty", "--lines", "2"]),
        "line 4\nline 5\n"
    );
    assert_eq!(s.ok(&["jobs", "logs", "chatty"]).lines().count(), 5);
    let o = s.run(&["jobs", "logs", "chatty", "--worker", "3"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no worker 3"), "{}", stderr(&o));
}

#[test]
fn wait_exit_codes() {
    let s = Server::start();
    s.ok(&["jobs", "create", "--name", "good", "--command", "exit 0"]);
    s.ok(&[
        "jobs",
        "create",
        "--name",
        "bad",
        "--command",
        "echo oops; exit 3",
    ]);
    s.ok(&["jobs", "create", "--name", "slow", "--command", "sleep 30"]);

    let o = s.run(&["jobs", "wait", "good", "--interval", "0.1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("COMPLETED (10)") && out.contains("exit code 0"),
        "{out}"
    );
    assert!(
        o.stderr.is_empty(),
        "no progress output when stderr is not a terminal"
    );

    let o = s.run(&["jobs", "wait", "bad", "--interval", "0.1"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("exit code 3"));
    assert!(
        stderr(&o).starts_with("error: ") && stderr(&o).contains("FAILED (11)"),
        "{}",
        stderr(&o)
    );

    let o = s.run(&[
        "jobs",
        "wait",
        "slow",
        "--interval",
        "0.1",
        "--timeout",
        "0.5",
    ]);
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));

    // A stopped version is not a success either.
    s.ok(&["jobs", "stop", "slow"]);
    let o = s.run(&["jobs", "wait", "slow", "--interval", "0.1", "-o", "json"]);
    assert_ne!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!([12, 13].contains(&v["status"].as_i64().unwrap()), "{v}");
}

#[test]
fn specs_engines_configs_completions_and_help() {
    let s = Server::start();
    assert_eq!(
        s.json(&["specs"]),
        s.api("/job/resource-specs", &[("job_type", "train")])
    );
    assert_eq!(
        s.json(&["engines"]),
        s.api("/job/ai-engines", &[("job_type", "train")])
    );
    let t = s.ok(&["specs"]);
    assert!(t.lines().next().unwrap().contains("SPEC ID"), "{t}");
    let t = s.ok(&["engines"]);
    assert!(t.contains("Python"), "{t}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        // the registration of dynamic completion: calls this binary back with COMPLETE=<shell>
        let script = s.ok(&["completions", shell]);
        assert!(
            script.contains("COMPLETE") && script.contains(env!("CARGO_BIN_EXE_trainyard")),
            "{shell}: {script}"
        );
    }
    for cmd in [
        vec!["jobs", "list"],
        vec!["jobs", "create"],
        vec!["jobs", "show"],
        vec!["jobs", "versions"],
        vec!["jobs", "stop"],
        vec!["jobs", "delete"],
        vec!["jobs", "describe"],
        vec!["jobs", "logs"],
        vec!["jobs", "wait"],
        vec!["import"],
        vec!["completions"],
        vec!["configs", "list"],
    ] {
        let mut a = cmd.clone();
        a.push("--help");
        let help = s.ok(&a);
        assert!(help.contains("Example"), "{cmd:?} --help has no example");
    }
    // A closed port: a transport error on one line.
    let o = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .current_dir(s.dir.path())
        .env_remove("TRAINYARD_ENDPOINT")
        .args([
            "--endpoint",
            "http://127.0.0.1:9",
            "--project",
            PROJECT,
            "specs",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: "));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}

/// `YYYY-MM-DD HH:MM:SS` of epoch ms in UTC+2 (the tests' `TZ`), by the civil-from-days
/// algorithm: an independent check of the CLI's local times.
fn utc_plus_2(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 2 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn configs_list_shows_configs_created_through_the_api() {
    assert_eq!(utc_plus_2(1_700_000_000_000), "2023-11-15 00:13:20");
    let s = Server::start();
    let url = format!("{}/v1/{PROJECT}/training-job-configs", s.base);
    let client = reqwest::blocking::Client::new();
    for body in [
        json!({"config_name": "gpu-small", "config_desc": "two workers", "spec_id": 2,
               "worker_server_num": 2, "engine_id": 3}),
        json!({"config_name": "cpu-tiny", "spec_id": 1}),
    ] {
        let r = client
            .post(&url)
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{body}");
    }
    let names = |v: &Value| -> Vec<String> {
        v["configs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["config_name"].as_str().unwrap().to_owned())
            .collect()
    };
    // JSON output is the API's answer; the server's default order is config_name desc
    let all = s.json(&["configs", "list"]);
    assert_eq!(all, s.api("/training-job-configs", &[]));
    assert_eq!(names(&all), ["gpu-small", "cpu-tiny"]);
    assert_eq!(all["config_total_count"], 2);

    // The table: one row per config with its spec, workers, engine and local creation time.
    let table = s.ok(&["configs", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    for h in [
        "NAME",
        "DESCRIPTION",
        "SPEC",
        "WORKERS",
        "ENGINE",
        "CREATED",
    ] {
        assert!(lines[0].contains(h), "{table}");
    }
    assert!(lines[1].contains("gpu-small"), "{table}");
    assert!(lines[1].contains("two workers"), "{table}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    for v in ["2", "3"] {
        assert!(cells.contains(&v), "{v} in {table}");
    }
    let created = all["configs"][0]["create_time"].as_i64().unwrap();
    assert!(lines[1].contains(&utc_plus_2(created)), "{table}");
    assert!(lines[2].contains("cpu-tiny"), "{table}");
    assert!(table.contains("2 of 2 configs"), "{table}");

    // The flags reach the server.
    assert_eq!(
        names(&s.json(&["configs", "list", "--search", "CPU"])),
        ["cpu-tiny"]
    );
    assert_eq!(
        names(&s.json(&["configs", "list", "--order", "asc"])),
        ["cpu-tiny", "gpu-small"]
    );
    let page = s.json(&["configs", "list", "--per-page", "1", "--page", "2"]);
    assert_eq!(
        (names(&page), &page["config_total_count"]),
        (vec!["cpu-tiny".to_owned()], &json!(2))
    );
    // Errors: one line with the code, non-zero exit.
    let o = s.run(&["configs", "list", "--per-page", "1001"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: ModelArts.0101: per_page"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn local_quickstart_uses_the_credentials_file() {
    let s = Server::start_mode(true);
    let file = s.dir.path().join("trainyard-data").join("credentials.json");
    assert!(file.is_file(), "serve writes its credentials file");
    // No flags and no environment: endpoint, project and key come from the file.
    let created = s.json(&["jobs", "create", "--name", "quick", "--command", "echo hi"]);
    assert_eq!(created["job_name"], "quick");
    let o = s.run(&["jobs", "wait", "quick", "--interval", "0.1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Regression: with the default, relative `./trainyard-data`, the worker wrapper (which runs
    // in another directory) once appended "cannot create trainyard-data/logs/.../worker-0.exit".
    let log = s.ok(&["jobs", "logs", "quick"]);
    assert_eq!(
        log, "hi\n",
        "the log holds exactly the job's output (a relative data dir once added a wrapper error line)"
    );
    let list = s.json(&["jobs", "list"]);
    assert_eq!(list["job_total_count"], 1);
    // Without credentials the same server refuses the CLI.
    let o = s
        .cli()
        .env("TRAINYARD_CREDENTIALS_FILE", s.dir.path().join("none.json"))
        .args(["jobs", "list"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    let o = s
        .cli()
        .args([
            "--endpoint",
            &s.base,
            "--project",
            "0123456789abcdef0123456789abcdef",
            "jobs",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "another project is refused");
    assert!(
        stderr(&o).starts_with("error: ModelArts."),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_trace_converts_then_imports() {
    let s = Server::start();
    // The Helios layout (shared/data/traces): submission gaps in s, run times in s.
    let p = s.dir.path().join("helios.csv");
    std::fs::write(
        &p,
        "u_id,user,gpu_num,cpu_num,node_num,interval,run_time,new_status\n\
         1,7,8,16,1,0,60,Pass\n\
         2,7,1,4,1,30,5,Failed\n",
    )
    .unwrap();
    let out = s.ok(&["import", "--trace", "helios", p.to_str().unwrap()]);
    assert_eq!(out, "imported 2 jobs (ids 1-2) in 1 batch\n");
    let list = s.api(
        "/training-jobs",
        &[("sortBy", "create_time"), ("order", "asc")],
    );
    // 2020-09-10 00:00 +08:00 = 1,599,667,200,000 ms; the second job 30 s later.
    let rows: Vec<(String, i64, i64, i64)> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["job_name"].as_str().unwrap().to_owned(),
                j["create_time"].as_i64().unwrap(),
                j["status"].as_i64().unwrap(),
                j["duration"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("helios-u7-1".to_owned(), 1_599_667_200_000, 10, 60_000),
            ("helios-u7-2".to_owned(), 1_599_667_230_000, 11, 5_000),
        ]
    );
    let o = s.run(&["import", "--trace", "alibaba", p.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a Helios file is not an Alibaba trace"
    );
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------------
// Daily use (issue 14 items 5-12)

fn file_mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Item 5 (credentials from anywhere, where it looked), item 6 (project by name), item 8
/// (refused connection, which credentials failed and from where).
#[test]
fn credentials_from_anywhere_login_and_project_names() {
    let s = Server::start_mode(true);
    let elsewhere = tempfile::tempdir().unwrap();
    let home = elsewhere.path().join("home");
    let run_in = |dir: &Path, args: &[&str]| {
        let mut c = s.cli();
        c.current_dir(dir).env("HOME", &home).args(args);
        let mut c = assert_cmd::Command::from_std(c);
        c.timeout(Duration::from_secs(60));
        c.output().unwrap()
    };
    // Elsewhere, nothing is found: the error says where it looked.
    let o = run_in(elsewhere.path(), &["--endpoint", &s.base, "jobs", "list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    let user_file = home.join(".config/trainyard/credentials.json");
    assert!(err.contains("no credentials found"), "{err}");
    assert!(err.contains("trainyard-data/credentials.json"), "{err}");
    assert!(err.contains(&user_file.display().to_string()), "{err}");
    assert!(err.contains("trainyard login"), "{err}");
    // `trainyard login --data-dir` checks and saves them for this user (mode 0600) ...
    let data = s.dir.path().join("trainyard-data");
    let o = run_in(
        elsewhere.path(),
        &["login", "--data-dir", data.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains("saved access key"), "{out}");
    assert!(out.contains(&user_file.display().to_string()), "{out}");
    assert_eq!(file_mode(&user_file), 0o600);
    assert_eq!(file_mode(user_file.parent().unwrap()), 0o700);
    // ... and from then on any directory works.
    let o = run_in(
        elsewhere.path(),
        &[
            "jobs",
            "create",
            "--name",
            "from-home",
            "--command",
            "echo hi",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The project by its name (`default`, as `serve` called it) is the same project.
    let o = run_in(
        elsewhere.path(),
        &["--project", "default", "jobs", "list", "-o", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let by_name: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(by_name["job_total_count"], 1, "{by_name}");
    assert_eq!(by_name["jobs"][0]["job_name"], "from-home");
    // An unknown name is refused like an unknown id, and says with which credentials.
    let o = run_in(elsewhere.path(), &["--project", "nosuch", "jobs", "list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: ModelArts.0210"), "{err}");
    assert!(err.contains("project: nosuch"), "{err}");
    // Wrong credentials: the error names the key and the file it came from.
    let bad = elsewhere.path().join("bad.json");
    std::fs::write(
        &bad,
        format!(
            r#"{{"endpoint": "{}", "access_key": "NOSUCHKEY12345", "secret_key": "x"}}"#,
            s.base
        ),
    )
    .unwrap();
    let mut c = s.cli();
    c.current_dir(elsewhere.path())
        .env("HOME", &home)
        .env("TRAINYARD_CREDENTIALS_FILE", &bad)
        .args(["jobs", "list"]);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("APIG.0301"), "{err}");
    assert!(
        err.contains(&format!(
            "credentials used: access key NOSUCHKEY12345 from {}",
            bad.display()
        )),
        "{err}"
    );
    // A refused connection asks whether a server runs there.
    let o = run_in(
        elsewhere.path(),
        &["--endpoint", "http://127.0.0.1:9", "jobs", "list"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("is `trainyard serve` running at http://127.0.0.1:9?"),
        "{err}"
    );
}

/// Item 7 (rerun), item 8 (WAITING says why; `wait --timeout` exit 3 with a short duration;
/// FAILED exit 1), item 12 ("1 version").
#[test]
fn rerun_waiting_reason_and_wait_exit_codes() {
    let s = Server::start_with(false, &["--quotas", "1"]);
    let first = s.json(&["jobs", "create", "--name", "first", "--command", "sleep 60"]);
    let second = s.json(&[
        "jobs",
        "create",
        "--name",
        "second",
        "--command",
        "echo two",
        "--param",
        "a=1",
    ]);
    let (j1, v1) = (
        first["job_id"].as_i64().unwrap(),
        first["version_id"].as_i64().unwrap(),
    );
    let (j2, v2) = (
        second["job_id"].as_i64().unwrap(),
        second["version_id"].as_i64().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let waiting = loop {
        let v = s.api(&format!("/training-jobs/{j2}/versions/{v2}"), &[]);
        if v["status"] == 7 {
            break v;
        }
        assert!(Instant::now() < deadline, "never WAITING: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let reason = format!("queued: 1 of 1 running in project {PROJECT} (quotas)");
    assert_eq!(waiting["status_reason"], reason.as_str());
    let shown = s.ok(&["jobs", "show", "second"]);
    assert!(shown.contains(&reason), "{shown}");
    // --timeout: exit code 3 (not 1), the time waited, the status and why
    let o = s.run(&[
        "jobs",
        "wait",
        "second",
        "--timeout",
        "0.3",
        "--interval",
        "0.1",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(
        err.trim_end(),
        format!("error: timed out after 0s: job {j2} version {v2} is still WAITING (7) ({reason})")
    );
    // the slot frees: the waiting version runs and completes
    s.ok(&["jobs", "stop", "first"]);
    let o = s.run(&["jobs", "wait", "second", "--interval", "0.1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let _ = s.wait_terminal(j1, v1);
    // rerun: a new version from the latest one's config, --param replacing the list
    // (and the flags create and rerun share: --image, a relative --data-url made absolute)
    std::fs::create_dir(s.dir.path().join("in")).unwrap();
    let out = s.ok(&[
        "jobs",
        "rerun",
        "second",
        "--param",
        "b=2",
        "--desc",
        "again",
        "--image",
        "registry.example/train:1",
        "--data-url",
        "in",
    ]);
    assert!(
        out.starts_with(&format!("created job {j2} (second) version ")),
        "{out}"
    );
    assert!(out.contains(&format!("from version {v2}")), "{out}");
    let vs = s.api(&format!("/training-jobs/{j2}/versions"), &[]);
    assert_eq!(vs["version_count"], 2);
    let newest = &vs["versions"][0];
    assert_eq!(newest["version_name"], "V0002");
    assert_eq!(newest["pre_version_id"], v2);
    assert_eq!(newest["user_command"], "echo two", "inherited");
    assert_eq!(newest["version_desc"], "again");
    assert_eq!(newest["user_image_url"], "registry.example/train:1");
    assert_eq!(
        newest["data_url"],
        s.dir.path().join("in").to_string_lossy().as_ref(),
        "made absolute against the CLI's working directory"
    );
    assert_eq!(
        newest["parameter"],
        serde_json::json!([{"label": "b", "value": "2"}])
    );
    let o = s.run(&["jobs", "wait", "second", "--interval", "0.1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // rerun of an older version by name, with an override
    let out = s.ok(&[
        "jobs",
        "rerun",
        "second",
        "--version",
        "V0001",
        "--command",
        "exit 4",
    ]);
    assert!(out.contains(&format!("from version {v2}")), "{out}");
    // FAILED: exit code 1
    let o = s.run(&["jobs", "wait", "second", "--interval", "0.1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("FAILED (11)"), "{}", stderr(&o));
    // "1 version" / "3 versions"
    assert!(
        s.ok(&["jobs", "versions", "first"])
            .starts_with(&format!("job {j1} (first): 1 version\n"))
    );
    assert!(
        s.ok(&["jobs", "versions", "second"])
            .starts_with(&format!("job {j2} (second): 3 versions\n"))
    );
    let listed = s.ok(&["jobs", "list", "--per-page", "1"]);
    assert!(
        listed.contains("1 of 2 jobs (page 1, 1 per page)"),
        "{listed}"
    );
}

/// Item 8: deleting a version that has not ended asks on a terminal; `--yes` does not.
#[test]
fn delete_of_a_running_job_asks_on_a_terminal() {
    let s = Server::start();
    let created = s.json(&["jobs", "create", "--name", "busy", "--command", "sleep 60"]);
    let (job, version) = (
        created["job_id"].as_i64().unwrap(),
        created["version_id"].as_i64().unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.api(&format!("/training-jobs/{job}/versions/{version}"), &[])["status"] != 8 {
        assert!(Instant::now() < deadline, "never RUNNING");
        std::thread::sleep(Duration::from_millis(50));
    }
    // `script` gives the CLI a terminal; the answer comes on its stdin
    let on_tty = |answer: &str, extra: &str| {
        let cmd = format!(
            "{} --endpoint {} --project {PROJECT} jobs delete busy {extra}",
            env!("CARGO_BIN_EXE_trainyard"),
            s.base
        );
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"])
            .env("HOME", s.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("script (util-linux) is needed");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let o = on_tty("n\n", "");
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        shown.contains("delete job")
            && shown.contains("V0001 RUNNING (8)")
            && shown.contains("[y/N]"),
        "{shown}"
    );
    assert!(shown.contains("not deleted"), "{shown}");
    assert_ne!(o.status.code(), Some(0));
    assert_eq!(
        s.api("/training-jobs", &[])["job_total_count"],
        1,
        "still there"
    );
    let o = on_tty("y\n", "");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(s.api("/training-jobs", &[])["job_total_count"], 0);
    // --yes on a terminal: no question
    s.ok(&["jobs", "create", "--name", "busy", "--command", "sleep 60"]);
    let o = on_tty("", "--yes");
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{shown}");
    assert!(!shown.contains("[y/N]"), "{shown}");
    assert_eq!(s.api("/training-jobs", &[])["job_total_count"], 0);
}

/// Item 12: `serve --help` shows only the server's flags.
#[test]
fn serve_help_lists_only_server_flags() {
    let s = Server::start();
    let help = s.ok(&["serve", "--help"]);
    assert!(
        help.contains("--listen") && help.contains("--metrics"),
        "{help}"
    );
    assert!(
        !help.contains("--endpoint") && !help.contains("--project "),
        "{help}"
    );
    let help = s.ok(&["jobs", "list", "--help"]);
    assert!(
        help.contains("--endpoint") && help.contains("--project"),
        "{help}"
    );
}

/// Item 9: status names in NDJSON and CSV; errors name the line of the file (blank lines and
/// the CSV header counted), also in a later batch.
#[test]
fn import_reports_file_lines_and_accepts_status_names() {
    let s = Server::start();
    let nd = s.dir.path().join("h.ndjson");
    std::fs::write(
        &nd,
        "{\"job_name\":\"a\",\"status\":\"COMPLETED\",\"create_time\":1}\n\n\
         {\"job_name\":\"b\",\"status\":\"jobstat_failed\",\"create_time\":2}\n   \n\
         {\"job_name\":\"c\",\"status\":12,\"create_time\":3}\n",
    )
    .unwrap();
    assert_eq!(
        s.ok(&["import", nd.to_str().unwrap()]),
        "imported 3 jobs (ids 1-3) in 1 batch\n"
    );
    let list = s.api("/training-jobs", &[("sortBy", "job_name")]);
    let st: Vec<i64> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["status"].as_i64().unwrap())
        .collect();
    assert_eq!(st, [10, 11, 12]);
    // a bad record on line 5 of the file (after blank lines), in the second batch of 1
    std::fs::write(
        &nd,
        "{\"job_name\":\"d\",\"status\":\"KILLED\",\"create_time\":1}\n\n\n\
         \n{\"job_name\":\"e\",\"status\":\"RUNNING\",\"create_time\":2}\n",
    )
    .unwrap();
    let o = s.run(&["import", nd.to_str().unwrap(), "--batch-size", "1"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "error: ModelArts.0101: {} line 5: status must be a terminal status code or name",
            nd.display()
        )),
        "{err}"
    );
    assert!(
        err.contains("(in batch 2 of 2, records 2-2; 1 records were imported before it)"),
        "{err}"
    );
    // CSV: the header is line 1
    let csv = s.dir.path().join("h.csv");
    std::fs::write(
        &csv,
        "job_name,status,create_time\nf,CANCELED,5\ng,not-a-status,6\n",
    )
    .unwrap();
    let o = s.run(&["import", csv.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{} line 3: status must be", csv.display())),
        "{err}"
    );
}

/// Asks the binary for completions as a shell does (`COMPLETE=<shell> trainyard -- <words>`,
/// the word at `index` being completed); returns the candidates, one per line (bash: values
/// only; fish: value, tab, help).
fn complete(shell: &str, words: &[&str], index: usize) -> Vec<String> {
    let o = Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .env("COMPLETE", shell)
        .env("_CLAP_COMPLETE_INDEX", index.to_string())
        .env("_CLAP_IFS", "\n")
        .env("HOME", "/nonexistent")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("TRAINYARD_ENDPOINT")
        .env_remove("TRAINYARD_PROJECT_ID")
        .arg("--")
        .args(words)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Item 10: dynamic completion. Job names, engines and specs come from the server the typed
/// command line points at, status names and sort keys from the CLI; hidden flags are never
/// offered; the script of `trainyard completions bash` works in a real bash.
#[test]
fn completions_are_dynamic() {
    let s = Server::start();
    for name in ["resnet50", "resnet101", "bert"] {
        s.ok(&["jobs", "create", "--name", name, "--command", "true"]);
        s.ok(&["jobs", "wait", name, "--interval", "0.1"]);
    }
    let conn = ["--endpoint", s.base.as_str(), "--project", PROJECT];
    let words = |tail: &[&'static str]| -> Vec<&str> {
        let mut w = vec!["trainyard"];
        w.extend(conn);
        w.extend(tail);
        w
    };
    // job names: those of the project starting with the typed text, from the server
    let w = words(&["jobs", "show", "res"]);
    assert_eq!(complete("bash", &w, w.len() - 1), ["resnet101", "resnet50"]);
    // an empty word: every job name (flags are offered after them)
    let w = words(&["jobs", "logs", ""]);
    let all = complete("bash", &w, w.len() - 1);
    assert_eq!(all[..3], ["bert", "resnet101", "resnet50"], "{all:?}");
    assert!(all[3..].iter().all(|c| c.starts_with("--")), "{all:?}");
    // fish shows the help: the latest status and the job id
    let w = words(&["jobs", "wait", "be"]);
    let fish = complete("fish", &w, w.len() - 1);
    assert_eq!(fish.len(), 1, "{fish:?}");
    assert!(
        fish[0].starts_with("bert\t") && fish[0].contains("job 3"),
        "{fish:?}"
    );
    // another project has none of these jobs
    let w = [
        "trainyard",
        "--endpoint",
        s.base.as_str(),
        "--project",
        "fedcba9876543210fedcba9876543210",
        "jobs",
        "show",
        "res",
    ];
    assert!(complete("bash", &w, w.len() - 1).is_empty());
    // engines and specs: what the server lists (NAME:VERSION, and NAME when unique)
    let engines = s.json(&["engines"]);
    let mut want: Vec<String> = Vec::new();
    let list = engines["engines"].as_array().unwrap();
    for e in list {
        let name = e["engine_name"].as_str().unwrap();
        if list.iter().filter(|o| o["engine_name"] == name).count() == 1 {
            want.push(name.to_owned());
        }
        want.push(format!("{name}:{}", e["engine_version"].as_str().unwrap()));
    }
    let w = words(&["jobs", "create", "--engine", ""]);
    assert_eq!(complete("bash", &w, w.len() - 1), want);
    let specs = s.json(&["specs"]);
    let want: Vec<&str> = specs["specs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["spec_code"].as_str().unwrap())
        .collect();
    let w = words(&["jobs", "rerun", "bert", "--spec", ""]);
    assert_eq!(complete("bash", &w, w.len() - 1), want);
    // status names: every status once (checked against the codes 0-22 of statuses.md)
    let w = words(&["jobs", "list", "--status", ""]);
    let names = complete("bash", &w, w.len() - 1);
    let mut codes: Vec<u8> = names
        .iter()
        .map(|n| {
            let o = s.json(&["jobs", "list", "--status", n]);
            assert_eq!(
                o["job_total_count"],
                if n == "COMPLETED" { 3 } else { 0 },
                "{n}"
            );
            trainyard_api::JobStatus::parse_loose(n).unwrap().code()
        })
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, (0..=22).collect::<Vec<u8>>(), "{names:?}");
    let w = words(&["jobs", "list", "--status", "RUNNING,co"]);
    assert_eq!(complete("bash", &w, w.len() - 1), ["RUNNING,COMPLETED"]);
    // sort keys of list.md, and orders
    let w = words(&["jobs", "list", "--sort-by", ""]);
    assert_eq!(
        complete("bash", &w, w.len() - 1),
        [
            "job_name",
            "job_desc",
            "status",
            "duration",
            "create_time",
            "version_count",
            "engine_type"
        ]
    );
    let w = words(&["configs", "list", "--order", ""]);
    assert_eq!(complete("bash", &w, w.len() - 1), ["asc", "desc"]);
    // no hidden flags: `jobs logs --poll` exists but is hidden
    let w = words(&["jobs", "logs", "--"]);
    let flags = complete("bash", &w, w.len() - 1);
    assert!(flags.contains(&"--follow".to_owned()), "{flags:?}");
    assert!(!flags.iter().any(|f| f.starts_with("--poll")), "{flags:?}");
    let w = words(&["jobs", "logs", "--po"]);
    assert!(complete("bash", &w, w.len() - 1).is_empty());
    // subcommands
    let w = ["trainyard", "jobs", "re"];
    assert_eq!(complete("bash", &w, 2), ["rerun"]);
    // a server that is not there: no candidates, no error, no hang
    let t0 = Instant::now();
    let w = [
        "trainyard",
        "--endpoint",
        "http://127.0.0.1:9",
        "jobs",
        "show",
        "res",
    ];
    assert!(complete("bash", &w, w.len() - 1).is_empty());
    assert!(t0.elapsed() < Duration::from_secs(30));
    // the bash script, sourced in a real bash, fills COMPREPLY through the binary
    let script = s.dir.path().join("trainyard.bash");
    std::fs::write(&script, s.ok(&["completions", "bash"])).unwrap();
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(trainyard --endpoint {} --project {PROJECT} jobs show resnet1); \
             COMP_CWORD=7; _clap_complete_trainyard trainyard resnet1 show; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            s.base
        ))
        .env_remove("TRAINYARD_ENDPOINT")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "resnet101\n");
}

/// Item 10: the man pages come from the CLI definition.
#[test]
fn man_pages() {
    let s = Server::start();
    let man = s.ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH trainyard 1"),
        "{man}"
    );
    assert!(man.contains("jobs") && man.contains("login"), "{man}");
    let dir = s.dir.path().join("man1");
    s.ok(&["man", dir.to_str().unwrap()]);
    for page in [
        "trainyard.1",
        "trainyard-jobs.1",
        "trainyard-jobs-rerun.1",
        "trainyard-serve.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let rerun = std::fs::read_to_string(dir.join("trainyard-jobs-rerun.1")).unwrap();
    assert!(rerun.contains("\\-\\-param"), "{rerun}");
}

/// The characters of `s` without ANSI colour sequences and carriage returns (a terminal's
/// output as a person reads it).
fn plain(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// The NAME cells of a `jobs list` table: each row's name put back together from its wrapped
/// lines (the column spans from the NAME header to the STATUS header).
fn name_cells(table: &str) -> Vec<String> {
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let (from, to) = (header.find("NAME").unwrap(), header.find("STATUS").unwrap());
    let mut names: Vec<String> = Vec::new();
    for line in lines {
        if !line.starts_with(' ') {
            break; // the footer
        }
        let cell: String = line.chars().skip(from).take(to - from).collect();
        if line[..from].trim().is_empty() {
            names.last_mut().unwrap().push_str(cell.trim());
        } else {
            names.push(cell.trim().to_owned());
        }
    }
    names
}

/// Item 11: tables stay readable in narrow terminals ($COLUMNS, a terminal's own size), in a
/// terminal that reports no size (80 columns), and unwrapped when not a terminal.
#[test]
fn tables_fit_narrow_and_unsized_terminals() {
    let s = Server::start();
    let long = "resnet50-imagenet-baseline-long-name";
    let desc = "baseline run with the default learning rate schedule";
    s.ok(&[
        "jobs",
        "create",
        "--name",
        long,
        "--desc",
        desc,
        "--command",
        "true",
    ]);
    s.ok(&["jobs", "create", "--name", "bert", "--command", "true"]);
    for name in [long, "bert"] {
        s.ok(&["jobs", "wait", name, "--interval", "0.1"]);
    }
    // Not a terminal, no $COLUMNS: one line per row, every column, nothing left out.
    let o = s.run(&["jobs", "list", "--sort-by", "create_time", "--order", "asc"]);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    for h in [
        "JOB ID",
        "NAME",
        "STATUS",
        "VERSION ID",
        "VERSIONS",
        "CREATED",
        "DURATION",
        "DESCRIPTION",
    ] {
        assert!(lines[0].contains(h), "{text}");
    }
    let clipped: String = desc.chars().take(39).chain(['…']).collect();
    assert!(
        lines[1].starts_with(" 1 ") && lines[1].contains(long) && lines[1].contains(&clipped),
        "{text}"
    );
    assert!(lines[2].starts_with(" 2 ") && lines[2].contains("bert"));
    // $COLUMNS: no line wider; ids, names and statuses always there and whole (names wrap,
    // statuses never); the columns left out are named on stderr.
    for width in [40usize, 60, 80, 100, 200] {
        let o = s
            .cli()
            .env("COLUMNS", width.to_string())
            .args(["jobs", "list", "--sort-by", "create_time", "--order", "asc"])
            .output()
            .unwrap();
        assert!(o.status.success());
        let text = String::from_utf8(o.stdout.clone()).unwrap();
        for line in text.lines().filter(|l| l.starts_with(' ')) {
            assert!(line.chars().count() <= width, "{width}: {line:?}\n{text}");
        }
        assert_eq!(name_cells(&text), [long, "bert"], "{width}\n{text}");
        assert!(text.contains("COMPLETED (10)"), "{text}");
        let header = text.lines().next().unwrap();
        let err = stderr(&o);
        for h in [
            "VERSION ID",
            "VERSIONS",
            "CREATED",
            "DURATION",
            "DESCRIPTION",
        ] {
            assert_ne!(
                header.contains(h),
                err.contains(h),
                "{width}: {h} neither shown nor said to be left out: {header:?} {err:?}"
            );
        }
        if width == 200 {
            assert_eq!(err, "", "{text}");
            assert_eq!(text.lines().count(), 4, "{text}");
        } else {
            assert!(
                err.contains(&format!("left out to fit {width} columns")),
                "{err}"
            );
        }
    }
    // A terminal: its own width (50 here), or 80 when it reports none (script's terminal has
    // no size of its own); colours are shown there.
    let base = format!(
        "{} --endpoint {} --project {PROJECT} jobs list --sort-by create_time --order asc",
        env!("CARGO_BIN_EXE_trainyard"),
        s.base
    );
    for (setup, width) in [("stty cols 50; ", 50), ("stty cols 0 2>/dev/null; ", 80)] {
        let o = Command::new("script")
            .args(["-qec", &format!("{setup}{base}"), "/dev/null"])
            .env_remove("COLUMNS")
            .env("TZ", TZ)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let raw = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(raw.contains('\x1b'), "a terminal gets colours: {raw:?}");
        let text = plain(&raw);
        let table: String = text
            .lines()
            .skip_while(|l| !l.contains("JOB ID"))
            .map(|l| format!("{l}\n"))
            .collect();
        for line in table.lines().filter(|l| l.starts_with(' ')) {
            assert!(line.trim_end().chars().count() <= width, "{line:?}\n{text}");
        }
        assert!(
            text.contains(&format!("left out to fit {width} columns")),
            "{text}"
        );
        assert_eq!(name_cells(&table), [long, "bert"], "{text}");
    }
}
