//! The web console over real HTTP (issue 13), without a browser: sign-in through the token
//! login, the session cookie's attributes, CSRF refusals, project isolation (404 pages),
//! the list's counts against the API, the forms' API messages, security headers, sign-out.
//! The browser tests (`tests/console/`, Playwright + Debian's Chromium) cover the pages as
//! people use them.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// A cookie-keeping client that does not follow redirects.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: HashMap<String, String>,
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The first `csrf` field's value.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

impl Browser {
    fn new(base: &str) -> Browser {
        Browser {
            base: base.to_owned(),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let cookie: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let req = if cookie.is_empty() {
            req
        } else {
            req.header("cookie", cookie.join("; "))
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let (kv, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = r.text().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let req = self.client.post(format!("{}{path}", self.base));
        let req = form_body(req, form);
        self.send(req).await
    }

    /// Signs in through the form; returns the response of the POST.
    async fn sign_in(&mut self, user: &str, password: &str, project: &str) -> Page {
        let page = self.get("/console/login").await;
        assert_eq!(page.status, 200, "{}", page.body);
        let csrf = page.csrf();
        self.post(
            "/console/login",
            &[
                ("csrf", &csrf),
                ("user", user),
                ("password", password),
                ("project", project),
                ("next", "/console"),
            ],
        )
        .await
    }
}

fn form_body(req: reqwest::RequestBuilder, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    req.header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// Text as the templates escape it (askama's HTML escaper).
fn html(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn jobs_path(project: &str) -> String {
    format!("/console/p/{project}/jobs")
}

#[tokio::test]
async fn sign_in_session_cookie_and_sign_out() {
    let s = start_with_auth(|_| {}).await;
    let mut b = Browser::new(&s.server.base);
    // `/` goes to the console; without a session, pages go to the sign-in page and back
    let root = b.get("/").await;
    assert_eq!((root.status, root.location()), (303, "/console"));
    let list = b.get(&format!("{}?status=8", jobs_path(PROJECT))).await;
    assert_eq!(list.status, 303);
    assert_eq!(
        list.location(),
        format!("/console/login?next=%2Fconsole%2Fp%2F{PROJECT}%2Fjobs%3Fstatus%3D8")
    );
    // a wrong password: the API's login message, 401, no session
    let bad = b.sign_in("alice", "wrong password", "").await;
    assert_eq!(bad.status, 401);
    assert!(
        bad.body
            .contains("the user name, domain or password is wrong"),
        "{}",
        bad.body
    );
    assert!(!b.cookies.contains_key("trainyard_session"));
    // the right one: a session cookie (HttpOnly, SameSite=Strict, /console, not Secure on
    // plain HTTP) and the first project's list
    let ok = b.sign_in("alice", ALICE_PASSWORD, "").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location(), jobs_path(PROJECT));
    let cookie = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("trainyard_session="))
        .unwrap();
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
        "Max-Age=86400",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    // the session is an API token of alice's project
    let token = b.cookies["trainyard_session"].clone();
    let (st, _) = s
        .with_token("GET", &format!("/v1/{PROJECT}/training-jobs"), &token, None)
        .await;
    assert_eq!(st, 200);
    let list = b.get(&jobs_path(PROJECT)).await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("alice"), "the user is shown");
    // sign-out needs the token, revokes the session and deletes the cookie
    let refused = b.post("/console/logout", &[("csrf", "nope")]).await;
    assert_eq!(refused.status, 403);
    let out = b.post("/console/logout", &[("csrf", &list.csrf())]).await;
    assert_eq!((out.status, out.location()), (303, "/console/login"));
    assert!(!b.cookies.contains_key("trainyard_session"));
    let (st, _) = s
        .with_token("GET", &format!("/v1/{PROJECT}/training-jobs"), &token, None)
        .await;
    assert_eq!(st, 401, "the token is revoked");
    b.cookies.insert("trainyard_session".into(), token);
    assert_eq!(b.get(&jobs_path(PROJECT)).await.status, 303);
}

#[tokio::test]
async fn secure_cookie_over_tls_proxy() {
    let s = start_with_auth(|_| {}).await;
    let mut b = Browser::new(&s.server.base);
    let page = b.get("/console/login").await;
    let csrf = page.csrf();
    let req = b
        .client
        .post(format!("{}/console/login", b.base))
        .header("x-forwarded-proto", "https");
    let req = form_body(
        req,
        &[
            ("csrf", csrf.as_str()),
            ("user", "alice"),
            ("password", ALICE_PASSWORD),
        ],
    );
    let ok = b.send(req).await;
    assert_eq!(ok.status, 303);
    let cookie = ok
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("trainyard_session="))
        .unwrap();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn csrf_is_refused_without_the_token() {
    let s = start_with_auth(|_| {}).await;
    let mut b = Browser::new(&s.server.base);
    // the sign-in form itself needs its token
    let no_token = b
        .post(
            "/console/login",
            &[("user", "alice"), ("password", ALICE_PASSWORD)],
        )
        .await;
    assert_eq!(no_token.status, 403);
    assert!(!b.cookies.contains_key("trainyard_session"));
    assert_eq!(b.sign_in("alice", ALICE_PASSWORD, "").await.status, 303);
    let page = b.get(&format!("{}/new", jobs_path(PROJECT))).await;
    let csrf = page.csrf();
    let fields = |csrf: &'static str| {
        vec![
            ("csrf", csrf),
            ("job_name", "csrf-job"),
            ("spec_id", "1"),
            ("worker_server_num", "1"),
            ("user_command", "true"),
        ]
    };
    let path = jobs_path(PROJECT);
    // no token, a wrong token, another session's token: 403, nothing created
    for bad in ["", "00", "deadbeef"] {
        let r = b.post(&path, &fields(bad)).await;
        assert_eq!(r.status, 403, "{bad:?}");
        assert!(r.body.contains("This form has expired"), "{}", r.body);
    }
    // the right token from another site (Origin): 403
    let csrf_static: &'static str = Box::leak(csrf.clone().into_boxed_str());
    let req = b
        .client
        .post(format!("{}{path}", b.base))
        .header("origin", "http://evil.example");
    let req = form_body(req, &fields(csrf_static));
    assert_eq!(b.send(req).await.status, 403);
    let (_, list) = s
        .with_token(
            "GET",
            &format!("/v1/{PROJECT}/training-jobs"),
            &s.alice_token().await,
            None,
        )
        .await;
    assert_eq!(list["job_total_count"], 0, "nothing was created");
    // with the token it works
    let r = b.post(&path, &fields(csrf_static)).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with(&format!("{path}/")));
}

#[tokio::test]
async fn another_projects_job_is_a_404_page() {
    let s = start_with_auth(|_| {}).await;
    // bob's job in bob's project
    let r = s
        .server
        .client
        .post(format!("{}/v3/auth/tokens", s.server.base))
        .json(&json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "bob", "password": BOB_PASSWORD, "domain": {"name": "bob"}}}}, "scope": {"project": {"id": PROJECT2}}}}))
        .send()
        .await
        .unwrap();
    let bob = r.headers()["x-subject-token"].to_str().unwrap().to_owned();
    let (st, created) = s
        .with_token(
            "POST",
            &format!("/v1/{PROJECT2}/training-jobs"),
            &bob,
            Some(&TestServer::job_body("bobs-secret-job", "sleep 30")),
        )
        .await;
    assert_eq!(st, 200, "{created}");
    let job_id = created["job_id"].as_i64().unwrap();
    let mut b = Browser::new(&s.server.base);
    assert_eq!(b.sign_in("alice", ALICE_PASSWORD, "").await.status, 303);
    // bob's job through alice's project: the same 404 page as a job that never existed
    let theirs = b.get(&format!("{}/{job_id}", jobs_path(PROJECT))).await;
    let never = b.get(&format!("{}/999999", jobs_path(PROJECT))).await;
    assert_eq!((theirs.status, never.status), (404, 404));
    let main = |b: &str| b[b.find("<main").unwrap()..b.find("</main>").unwrap()].to_owned();
    assert_eq!(main(&theirs.body), main(&never.body));
    assert!(!theirs.body.contains("bobs-secret-job"));
    assert!(
        theirs.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // bob's project itself: 404 page, for every page and action
    for path in [
        jobs_path(PROJECT2),
        format!("{}/{job_id}", jobs_path(PROJECT2)),
        format!("{}/{job_id}/delete", jobs_path(PROJECT2)),
        format!("{}/{job_id}/versions/new", jobs_path(PROJECT2)),
    ] {
        let p = b.get(&path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(!p.body.contains("bobs-secret-job"), "{path}");
    }
    let csrf = b.get(&jobs_path(PROJECT)).await.csrf();
    let del = b
        .post(
            &format!("{}/{job_id}/delete", jobs_path(PROJECT)),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(del.status, 404);
    let (_, still) = s
        .with_token("GET", &format!("/v1/{PROJECT2}/training-jobs"), &bob, None)
        .await;
    assert_eq!(still["job_total_count"], 1, "bob's job is still there");
    // the switcher refuses it too; unknown console paths are pages
    assert_eq!(
        b.get(&format!("/console/switch?project={PROJECT2}"))
            .await
            .status,
        404
    );
    let none = b.get("/console/nothing/here").await;
    assert_eq!(none.status, 404);
    assert!(none.body.contains("<html"));
    let del_api = s
        .with_token(
            "DELETE",
            &format!("/v1/{PROJECT2}/training-jobs/{job_id}"),
            &bob,
            None,
        )
        .await;
    assert_eq!(del_api.0, 200);
}

#[tokio::test]
async fn list_counts_filters_and_headers_on_an_open_server() {
    let s = TestServer::start(|_| {}).await;
    let mut rows = Vec::new();
    for i in 0..30 {
        let status = [10, 11, 12, 13, 14][i % 5];
        let name = if i % 3 == 0 {
            format!("Digits-{i}")
        } else {
            format!("other-{i}")
        };
        rows.push(hist(&name, "0", status, 1_700_000_000_000 + i as i64));
    }
    assert_eq!(s.import(&rows).await.0, 200);
    let mut b = Browser::new(&s.base);
    // an open server opens directly
    let home = b.get("/console").await;
    assert_eq!(home.status, 303);
    let page = b
        .get(&format!(
            "{}?search_content=DIGITS&per_page=10",
            jobs_path(PROJECT)
        ))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    // every count beside a status is the API's total for that status and search
    for code in [10, 11, 12, 13, 14] {
        let (_, api) = s
            .list(&[("status", &code.to_string()), ("search_content", "digits")])
            .await;
        let n = api["job_total_count"].as_u64().unwrap();
        let name = trainyard_api::JobStatus::from_code(code)
            .unwrap()
            .short_name();
        if n > 0 {
            let label = format!("{name} <span class=\"count\">{n}</span>");
            assert!(page.body.contains(&label), "{label} in {}", page.body);
        } else {
            assert!(!page.body.contains(&format!(">{name} <")), "{name}");
        }
    }
    assert!(
        page.body.contains("<strong>10</strong> jobs match"),
        "10 Digits jobs"
    );
    // security headers, no inline script, compression
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert!(page.headers.contains_key("server-timing"));
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains(" style="), "no inline style");
    let gz = b
        .client
        .get(format!("{}{}", s.base, jobs_path(PROJECT)))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    // a bad parameter: the API's message on a 400 page
    let bad = b
        .get(&format!("{}?per_page=5000", jobs_path(PROJECT)))
        .await;
    assert_eq!(bad.status, 400);
    let (_, api) = s.list(&[("per_page", "5000")]).await;
    assert!(
        bad.body.contains(&html(api["error_msg"].as_str().unwrap())),
        "{}",
        bad.body
    );
    // assets come from the binary, cached
    let css = b.get("/console/assets/console.css?v=1").await;
    assert_eq!(css.status, 200);
    assert!(
        css.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(b.get("/console/assets/nope.js").await.status, 404);
}

#[tokio::test]
async fn forms_show_the_apis_messages() {
    let s = TestServer::start(|_| {}).await;
    let mut b = Browser::new(&s.base);
    let form = b.get(&format!("{}/new", jobs_path(PROJECT))).await;
    assert_eq!(form.status, 200);
    let csrf = form.csrf();
    for (fields, field) in [
        (
            vec![("job_name", "bad name"), ("user_command", "true")],
            "job_name",
        ),
        (vec![("job_name", "ok"), ("engine_id", "1")], "app_url"),
        (
            vec![
                ("job_name", "ok"),
                ("user_command", "true"),
                ("spec_id", "99"),
            ],
            "spec_id",
        ),
        (
            vec![
                ("job_name", "ok"),
                ("user_command", "true"),
                ("worker_server_num", "x"),
            ],
            "worker_server_num",
        ),
    ] {
        let mut body: Vec<(&str, &str)> = vec![
            ("csrf", &csrf),
            ("worker_server_num", "1"),
            ("spec_id", "1"),
        ];
        body.extend(fields.iter().copied());
        let page = b.post(&jobs_path(PROJECT), &body).await;
        assert_eq!(page.status, 400, "{field}: {}", page.body);
        // the same request through the API gives the same message
        let mut config = serde_json::Map::new();
        let mut name = json!(null);
        for (k, v) in body.iter().skip(1).rev() {
            let v = v.to_string();
            match *k {
                "job_name" => name = json!(v),
                "worker_server_num" | "spec_id" | "engine_id" => {
                    let parsed = v.parse::<i64>().map_or(json!(v), |n| json!(n));
                    config.entry(k.to_string()).or_insert(parsed);
                }
                _ => {
                    config.entry(k.to_string()).or_insert(json!(v));
                }
            }
        }
        let (st, api) = s
            .post(
                "/training-jobs",
                &json!({"job_name": name, "config": config}),
            )
            .await;
        assert_eq!(st, 400);
        let msg = api["error_msg"].as_str().unwrap();
        if field == "worker_server_num" {
            // a form field is text: the API's integer parser names it
            assert!(
                page.body
                    .contains("worker_server_num must be a decimal integer"),
                "{}",
                page.body
            );
        } else {
            assert!(page.body.contains(&html(msg)), "{msg} in {}", page.body);
        }
        assert!(
            page.body
                .contains(&format!("id=\"{field}\" name=\"{field}\"")),
            "{field}"
        );
        assert!(
            page.body.contains("aria-invalid=\"true\""),
            "{field} is marked"
        );
    }
    let (_, list) = s.list(&[]).await;
    assert_eq!(list["job_total_count"], 0);
}

#[tokio::test]
async fn job_page_actions_through_the_service() {
    let s = TestServer::start(|_| {}).await;
    let (_, created) = s
        .post(
            "/training-jobs",
            &json!({"job_name": "actions", "job_desc": "<b>desc</b>", "config": {"worker_server_num": 1, "spec_id": 1, "user_command": "echo line-one; sleep 30", "parameter": [{"label": "lr", "value": "0.1"}]}}),
        )
        .await;
    let job_id = created["job_id"].as_i64().unwrap();
    let version_id = created["version_id"].as_i64().unwrap();
    let mut b = Browser::new(&s.base);
    let path = format!("{}/{job_id}", jobs_path(PROJECT));
    let page = b.get(&path).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&html("<b>desc</b>")),
        "the description is text: {}",
        page.body
    );
    assert!(page.body.contains("--lr=0.1"));
    assert!(page.body.contains("echo line-one; sleep 30"));
    let csrf = page.csrf();
    // edit the description (the API's length rule)
    let long = "x".repeat(300);
    let r = b
        .post(
            &format!("{path}/desc"),
            &[("csrf", &csrf), ("job_desc", &long)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("job_desc"), "{}", r.body);
    let r = b
        .post(
            &format!("{path}/desc"),
            &[("csrf", &csrf), ("job_desc", "new words")],
        )
        .await;
    assert_eq!(r.status, 303);
    let (_, v) = s
        .get(
            &format!("/training-jobs/{job_id}/versions/{version_id}"),
            &[],
        )
        .await;
    assert_eq!(v["job_desc"], "new words");
    // a new version prefilled from the first: the form holds its config
    let form = b
        .get(&format!("{path}/versions/new?from={version_id}"))
        .await;
    assert!(form.body.contains("echo line-one; sleep 30"));
    assert!(form.body.contains("lr=0.1"));
    let r = b
        .post(
            &format!("{path}/versions"),
            &[
                ("csrf", &csrf),
                ("pre_version_id", &version_id.to_string()),
                ("job_desc", "second"),
                ("user_command", "sleep 30"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, versions) = s
        .get(&format!("/training-jobs/{job_id}/versions"), &[])
        .await;
    assert_eq!(versions["version_count"], 2);
    let v2 = &versions["versions"][0];
    assert_eq!(v2["version_desc"], "second");
    assert_eq!(v2["parameter"][0]["label"], "lr", "inherited");
    // stop V0002, then a second stop is the API's 409 on an error page
    let v2_id = v2["version_id"].as_i64().unwrap();
    let stop = format!("{path}/versions/{v2_id}/stop");
    let r = b.post(&stop, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let (_, v) = s
        .get(&format!("/training-jobs/{job_id}/versions/{v2_id}"), &[])
        .await;
    assert!([9, 12, 13].contains(&v["status"].as_i64().unwrap()), "{v}");
    // the confirmation names the job; deleting goes back to the list and the job is gone
    let confirm = b.get(&format!("{path}/delete")).await;
    assert!(confirm.body.contains("Delete job <q>actions</q>?"));
    assert!(confirm.body.contains("2 versions"));
    let r = b.post(&format!("{path}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!((r.status, r.location()), (303, jobs_path(PROJECT).as_str()));
    let (st, _) = s
        .get(&format!("/training-jobs/{job_id}/versions"), &[])
        .await;
    assert_eq!(st, 404);
    assert_eq!(b.get(&path).await.status, 404);
}

#[tokio::test]
async fn project_switcher_for_a_user_with_several_projects() {
    let s = start_with_auth(|_| {}).await;
    let store = s.store();
    store
        .add_user(
            "carol",
            "carol",
            "carol password",
            &[PROJECT.to_owned(), PROJECT2.to_owned()],
            1,
        )
        .unwrap();
    let mut b = Browser::new(&s.server.base);
    let ok = b.sign_in("carol", "carol password", "second").await;
    assert_eq!(
        (ok.status, ok.location()),
        (303, jobs_path(PROJECT2).as_str())
    );
    let page = b.get(&jobs_path(PROJECT2)).await;
    assert!(page.body.contains("id=\"project-switch\""), "a switcher");
    assert!(page.body.contains(&format!(
        "<option value=\"{PROJECT2}\" selected>second</option>"
    )));
    let sw = b.get(&format!("/console/switch?project={PROJECT}")).await;
    assert_eq!(
        (sw.status, sw.location()),
        (303, jobs_path(PROJECT).as_str())
    );
    assert_eq!(b.get(&jobs_path(PROJECT)).await.status, 200);
    // alice has one project: no switcher
    let mut a = Browser::new(&s.server.base);
    a.sign_in("alice", ALICE_PASSWORD, "").await;
    let page = a.get(&jobs_path(PROJECT)).await;
    assert!(!page.body.contains("project-switch"));
    let _: Value = json!(null);
}

/// The console's sign-in is the API's login: its failures and the API's count in the same
/// per-user throttle, and a throttled sign-in is a 429 page with `Retry-After`.
#[tokio::test]
async fn sign_in_is_throttled_with_the_token_login() {
    let s = start_with_auth(|_| {}).await;
    let mut b = Browser::new(&s.server.base);
    let mut failures = 0;
    for _ in 0..40 {
        if failures == 8 {
            break;
        }
        let r = b.sign_in("alice", "wrong password", "").await;
        match r.status {
            401 => failures += 1,
            429 => {
                let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(r.body.contains("too many failed logins"), "{}", r.body);
                tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            }
            other => panic!("sign-in answered {other}: {}", r.body),
        }
    }
    assert_eq!(failures, 8);
    // the 8th failure blocks alice for 4 s: the API's login with the right password is refused
    // unchecked, and so is the console's
    let api = s
        .login("alice", "alice", ALICE_PASSWORD, json!({"id": PROJECT}))
        .await;
    assert_eq!(api.status().as_u16(), 429);
    let page = b.sign_in("alice", ALICE_PASSWORD, "").await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(!b.cookies.contains_key("trainyard_session"));
}
