"""End-to-end tests of the web console in a real headless Chromium (Debian's package), driven
by Playwright for Python with `executable_path` (no browser download).

Run by `.ci/console.sh`, which starts a release `trainyard serve` WITH authentication and sets:
  TRAINYARD_URL          the server, e.g. http://127.0.0.1:PORT
  TRAINYARD_CREDENTIALS  its credentials.json (user, password, project)
  TRAINYARD_DIGITS_DIR   the digits example (code directory of the job created through the form)
  TRAINYARD_WORK         a directory for the job's output (train_url)
  TRAINYARD_SCREENSHOTS  where every page's screenshot is saved
  CHROMIUM               the browser (default /usr/bin/chromium)
The tests run in file order and share one signed-in browser context (the steps of a user).
"""

import json
import os
import re
import secrets
import time
import urllib.request

import pytest
from playwright.sync_api import Page, expect, sync_playwright

BASE = os.environ["TRAINYARD_URL"].rstrip("/")
CREDS = json.load(open(os.environ["TRAINYARD_CREDENTIALS"]))
PROJECT = CREDS["project_id"]
DIGITS = os.environ["TRAINYARD_DIGITS_DIR"]
WORK = os.environ["TRAINYARD_WORK"]
SHOTS = os.environ["TRAINYARD_SCREENSHOTS"]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LIST = f"/console/p/{PROJECT}/jobs"
SUFFIX = secrets.token_hex(3)
DIGITS_NAME = f"Digits-E2E-{SUFFIX}"
SLEEPER_NAME = f"sleeper-{SUFFIX}"
# the "second job": prints a line every half second until stopped
SLEEPER_CMD = 'i=0; while [ $i -lt 2400 ]; do i=$((i+1)); echo "tick $i"; sleep 0.5; done'
LONG = 120_000  # ms: generous, the machine is shared

state = {}
console_errors = []


def shot(page: Page, name: str, full_page=True):
    path = os.path.join(SHOTS, f"{name}.png")
    page.screenshot(path=path, full_page=full_page)
    print(f"screenshot {path}")


def api(path, method="GET"):
    """The JSON API with the session's own token (the console's session is an API token)."""
    req = urllib.request.Request(f"{BASE}/v1/{PROJECT}{path}", method=method,
                                 headers={"X-Auth-Token": state["token"]})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def row_names(page: Page):
    return page.locator("table.jobs tbody td.name a").all_inner_texts()


def row_statuses(page: Page):
    return page.locator("table.jobs tbody td span.st").all_inner_texts()


def unlabelled_controls(page: Page):
    """Visible form controls without an accessible label."""
    return page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(e => e.type !== 'hidden')
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                     && !e.getAttribute('aria-labelledby'))
        .map(e => e.outerHTML)""")


@pytest.fixture(scope="module")
def browser():
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing (apt-get install -y chromium)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def ctx(browser):
    c = browser.new_context(viewport={"width": 1280, "height": 900})
    c.set_default_timeout(30_000)
    yield c
    c.close()


@pytest.fixture(scope="module")
def page(ctx):
    p = ctx.new_page()
    # script errors and policy violations (not the 401/404 answers the tests ask for)
    p.on("console", lambda m: console_errors.append(m.text)
         if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    p.on("pageerror", lambda e: console_errors.append(str(e)))
    return p


def test_01_sign_in(page: Page, ctx):
    resp = page.goto(BASE + "/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert unlabelled_controls(page) == []
    shot(page, "01-sign-in")
    page.fill("#user", CREDS["username"])
    page.fill("#password", "not the password")
    page.click("button:has-text('Sign in')")
    expect(page.locator(".alert")).to_contain_text("password is wrong")
    page.fill("#password", CREDS["password"])
    page.click("button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(re.escape(LIST)))
    cookie = next(c for c in ctx.cookies() if c["name"] == "trainyard_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict", cookie
    state["token"] = cookie["value"]
    expect(page.locator(".user")).to_have_text(CREDS["username"])
    shot(page, "02-job-list")


def create_through_form(page: Page, name, fields, engine=""):
    """Fills the create form; `engine` is the start of an engine's label ("" for none)."""
    page.goto(BASE + LIST)
    page.click("a:has-text('New job')")
    expect(page.locator("h1")).to_have_text("New job")
    assert unlabelled_controls(page) == []
    page.fill("#job_name", name)
    value = page.eval_on_selector(
        "#engine_id", "(s, start) => [...s.options].find(o => start ? o.text.startsWith(start) : !o.value).value",
        engine)
    page.select_option("#engine_id", value=value)
    for sel, v in fields.items():
        page.fill(sel, v)
    return page


def test_02_create_the_second_job(page: Page):
    create_through_form(page, SLEEPER_NAME, {"#user_command": SLEEPER_CMD})
    page.click("button:has-text('Create job')")
    expect(page.locator("h1")).to_have_text(SLEEPER_NAME)
    state["sleeper_url"] = page.url
    state["sleeper_id"] = int(page.url.rstrip("/").split("/")[-1])


def test_03_create_digits_and_watch_its_log_arrive(page: Page):
    out = os.path.join(WORK, f"digits-out-{SUFFIX}")
    create_through_form(page, DIGITS_NAME, {
        "#app_url": DIGITS, "#boot_file_url": "train.py",
        "#parameter": "folds=5\nC=10", "#train_url": out,
    }, engine="Scikit_Learn")
    shot(page, "03-create-form")
    # a refused form comes back with the API's message, filled in
    page.fill("#app_url", "examples/digits")
    page.click("button:has-text('Create job')")
    expect(page.locator(".alert")).to_contain_text(
        'app_url must be an absolute local path or a file:// URL, got "examples/digits" (ModelArts.0101)')
    expect(page.locator("#app_url")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#job_name")).to_have_value(DIGITS_NAME)
    shot(page, "04-create-form-refused")
    page.fill("#app_url", DIGITS)
    page.click("button:has-text('Create job')")
    expect(page.locator("h1")).to_have_text(DIGITS_NAME)
    state["digits_url"] = page.url
    log = page.locator("#log")
    initial = log.inner_text()
    # the lines arrive while the page is open (server-sent events), no reload
    expect(page.locator("#log-state")).to_contain_text("following live")
    expect(log).to_contain_text("fold 1/5", timeout=LONG)
    expect(log).to_contain_text("test accuracy", timeout=LONG)
    assert "test accuracy" not in initial, "the log was complete before the page followed it"
    expect(page.locator("#log-state")).to_contain_text("ended (COMPLETED)", timeout=LONG)
    page.reload()
    expect(page.locator("section.version .st").first).to_have_text("COMPLETED")
    expect(page.locator("section.version dl")).to_contain_text("--folds=5")
    shot(page, "05-job-digits-completed")
    assert os.path.exists(os.path.join(out, "metrics.json")), "the model's metrics were written"


def test_03b_edit_description_and_new_version(page: Page):
    page.goto(state["digits_url"])
    page.fill("#job-desc", "digits <b>baseline</b>")
    page.click("button:has-text('Save description')")
    expect(page.locator("#job-desc")).to_have_value("digits <b>baseline</b>")
    # a new version, prefilled from V0001's config
    page.click("a:has-text('New version from V0001')")
    expect(page.locator("#app_url")).to_have_value(DIGITS)
    expect(page.locator("#boot_file_url")).to_have_value("train.py")
    expect(page.locator("#parameter")).to_have_value("folds=5\nC=10\n")
    page.fill("#parameter", "folds=3\nC=10\n")
    page.fill("#job_desc", "three folds")
    shot(page, "05b-new-version-form")
    page.click("button:has-text('Create version')")
    expect(page.locator("section.version")).to_have_count(2)
    expect(page.locator("h2#logs-h")).to_have_text("Logs of V0002")
    expect(page.locator("#log")).to_contain_text("3-fold cross-validation", timeout=LONG)
    expect(page.locator("#log-state")).to_contain_text("ended (COMPLETED)", timeout=LONG)
    page.reload()
    expect(page.locator("section.version").first).to_contain_text("--folds=3")
    expect(page.locator("section.version").first).to_contain_text("three folds")


def test_04_the_job_appears_in_the_list(page: Page):
    page.goto(BASE + LIST)
    expect(page.locator("table.jobs")).to_contain_text(DIGITS_NAME)
    expect(page.locator("table.jobs")).to_contain_text(SLEEPER_NAME)
    total = api("/training-jobs?per_page=1")["job_total_count"]
    expect(page.locator("#total strong")).to_have_text(str(total))


def test_05_filter_by_running(page: Page):
    page.goto(BASE + LIST)
    page.locator("label.chip", has_text="RUNNING").click()
    expect(page).to_have_url(re.compile(r"status=8"))
    expect(page.locator("table.jobs")).to_contain_text(SLEEPER_NAME)
    statuses = row_statuses(page)
    assert statuses and set(statuses) == {"RUNNING"}, statuses
    # the count beside RUNNING is the number of RUNNING rows (all on this page)
    chip = page.locator("label.chip", has_text="RUNNING").locator(".count").inner_text()
    assert chip == str(len(statuses)), (chip, statuses)
    expect(page.locator("#total strong")).to_have_text(chip)
    shot(page, "06-list-running")
    # the back button returns to the unfiltered list (the URL holds the query)
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"status=8"))
    expect(page.locator("table.jobs")).to_contain_text(DIGITS_NAME)


def test_06_search_part_of_the_name_in_another_case(page: Page):
    page.goto(BASE + LIST)
    part = f"e2e-{SUFFIX}".swapcase()  # "E2E-..." in the name; lower case and flipped here
    page.fill("#search", part)
    expect(page).to_have_url(re.compile(r"search_content=" + re.escape(part)))
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    assert row_names(page) == [DIGITS_NAME]
    expect(page.locator("#total strong")).to_have_text("1")
    shot(page, "07-list-search")


def test_07_sort_by_duration(page: Page):
    page.goto(BASE + LIST)
    page.click("th >> text=Duration")
    expect(page).to_have_url(re.compile(r"sortBy=duration&order=desc"))
    expect(page.locator("th", has_text="Duration")).to_have_attribute("aria-sort", "descending")
    api_names = [j["job_name"] for j in api("/training-jobs?sortBy=duration&order=desc&per_page=50")["jobs"]]
    assert row_names(page) == api_names
    page.click("th >> text=Duration")
    expect(page).to_have_url(re.compile(r"sortBy=duration&order=asc"))
    api_names = [j["job_name"] for j in api("/training-jobs?sortBy=duration&order=asc&per_page=50")["jobs"]]
    assert row_names(page) == api_names
    shot(page, "08-list-sorted-by-duration")


def test_08_the_same_list_without_javascript(browser, ctx):
    c = browser.new_context(java_script_enabled=False, storage_state=ctx.storage_state(),
                            viewport={"width": 1280, "height": 900})
    p = c.new_page()
    p.goto(BASE + LIST)
    expect(p.locator("table.jobs")).to_contain_text(DIGITS_NAME)
    # times stay in UTC without script
    assert p.locator("table.jobs time").first.inner_text().endswith("UTC")
    # filter by RUNNING: tick, then the form's Apply button
    p.locator("label.chip", has_text="RUNNING").locator("input").check()
    p.locator("fieldset.statuses button:has-text('Apply')").click()
    expect(p).to_have_url(re.compile(r"status=8"))
    statuses = row_statuses(p)
    assert statuses and set(statuses) == {"RUNNING"}, statuses
    shot(p, "09-list-running-no-js")
    # search in another case: the form submits on Enter
    p.goto(BASE + LIST)
    p.fill("#search", DIGITS_NAME.upper())
    p.press("#search", "Enter")
    expect(p).to_have_url(re.compile(r"search_content="))
    assert row_names(p) == [DIGITS_NAME]
    # sort by duration through the column link
    p.goto(BASE + LIST)
    p.click("th >> text=Duration")
    expect(p).to_have_url(re.compile(r"sortBy=duration&order=desc"))
    api_names = [j["job_name"] for j in api("/training-jobs?sortBy=duration&order=desc&per_page=50")["jobs"]]
    assert row_names(p) == api_names
    # per page and page numbers
    p.select_option("#per-page", "10")
    p.locator("nav.pager button:has-text('Apply')").click()
    expect(p).to_have_url(re.compile(r"per_page=10"))
    assert len(row_names(p)) <= 10
    if p.locator("nav.pager a", has_text="2").count():
        p.locator("nav.pager a", has_text="2").first.click()
        expect(p).to_have_url(re.compile(r"page=2"))
        expect(p.locator("nav.pager a[aria-current=page]")).to_have_text("2")
    shot(p, "10-list-no-js")
    c.close()


def test_09_open_the_second_job_and_watch_its_log(page: Page):
    page.goto(BASE + LIST)
    page.click(f"a:has-text('{SLEEPER_NAME}')")
    expect(page.locator("h1")).to_have_text(SLEEPER_NAME)
    log = page.locator("#log")
    expect(log).to_contain_text("tick 3", timeout=LONG)
    n1 = len(log.inner_text().splitlines())
    expect(log).to_contain_text(f"tick {n1 + 3}", timeout=LONG)  # new lines, no reload
    # the duration ticks
    d1 = page.locator("section.version .dur").first.inner_text()
    page.wait_for_timeout(2100)
    assert page.locator("section.version .dur").first.inner_text() != d1
    # read back from the start
    page.click("a:has-text('From the start')")
    expect(log).to_contain_text("tick 1\n")
    shot(page, "11-job-log")


def test_10_stop_the_second_job_and_see_it_killed(page: Page):
    page.goto(state["sleeper_url"])
    page.click("button:has-text('Stop V0001')")
    badge = page.locator("section.version .st").first
    deadline = time.time() + 120
    while badge.inner_text() != "KILLED" and time.time() < deadline:
        page.wait_for_timeout(1000)
        page.reload()
    expect(badge).to_have_text("KILLED")
    shot(page, "12-job-killed")


def test_11_csrf_is_refused_without_the_token(page: Page):
    r = page.request.post(BASE + LIST, form={
        "job_name": f"csrf-{SUFFIX}", "spec_id": "1", "worker_server_num": "1",
        "user_command": "true"}, max_redirects=0)
    assert r.status == 403, r.status
    r = page.request.post(BASE + LIST, form={
        "csrf": "0" * 64, "job_name": f"csrf-{SUFFIX}", "spec_id": "1",
        "worker_server_num": "1", "user_command": "true"}, max_redirects=0)
    assert r.status == 403, r.status
    r = page.request.post(BASE + f"{LIST}/{state['sleeper_id']}/delete", form={}, max_redirects=0)
    assert r.status == 403
    assert api(f"/training-jobs?search_content=csrf-{SUFFIX}")["job_total_count"] == 0


def test_12_delete_the_second_job(page: Page):
    page.goto(state["sleeper_url"])
    page.click("a:has-text('Delete job')")
    expect(page.locator("h1")).to_contain_text(f"Delete job {SLEEPER_NAME}")
    shot(page, "13-delete-confirmation")
    page.click(f"button:has-text('Delete {SLEEPER_NAME}')")
    expect(page).to_have_url(re.compile(re.escape(LIST) + "$"))
    expect(page.locator("table.jobs")).not_to_contain_text(SLEEPER_NAME)
    assert api(f"/training-jobs?search_content={SLEEPER_NAME}")["job_total_count"] == 0
    resp = page.goto(state["sleeper_url"])
    assert resp.status == 404
    expect(page.locator("h1")).to_have_text("Not found")
    shot(page, "14-not-found")


def test_13_keyboard_focus_narrow_wide_and_dark(browser, ctx, page: Page):
    page.goto(BASE + LIST)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.press("Enter")
    for _ in range(6):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.tagName")
        # controls, and the table's scroll region (tabindex 0, so the keyboard can scroll it)
        assert focused in ("A", "INPUT", "BUTTON", "SELECT") or page.evaluate(
            "document.activeElement.tabIndex") == 0, focused
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    for path in [LIST, LIST + "/new", state["digits_url"].replace(BASE, "")]:
        page.goto(BASE + path)
        assert unlabelled_controls(page) == [], path
    for name, opts in [("15-narrow-360", {"viewport": {"width": 360, "height": 740}}),
                       ("16-wide-1920", {"viewport": {"width": 1920, "height": 1080}}),
                       ("17-dark", {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"})]:
        c = browser.new_context(storage_state=ctx.storage_state(), **opts)
        p = c.new_page()
        for path in [LIST, state["digits_url"].replace(BASE, ""), LIST + "/new"]:
            p.goto(BASE + path)
            width = p.evaluate("document.documentElement.scrollWidth")
            assert width <= opts["viewport"]["width"], (name, path, width)
        p.goto(BASE + LIST)
        if name == "17-dark":
            bg = p.evaluate("getComputedStyle(document.body).backgroundColor")
            rgb = [int(x) for x in re.findall(r"\d+", bg)[:3]]
            assert sum(rgb) < 150, bg
        shot(p, name, full_page=False)
        c.close()


def test_14_first_paint(page: Page):
    page.goto(BASE + LIST)
    # the paint entry may be recorded after `load`: wait for it (buffered observer)
    fcp = page.evaluate("""() => new Promise(resolve => {
        new PerformanceObserver(list => {
            const e = list.getEntriesByName('first-contentful-paint')[0];
            if (e) resolve(e.startTime);
        }).observe({type: 'paint', buffered: true});
        setTimeout(() => resolve(null), 10000);
    })""")
    assert fcp is not None, "no first-contentful-paint entry"
    nav = page.evaluate("performance.getEntriesByType('navigation')[0].toJSON()")
    print(f"first contentful paint {fcp:.1f} ms; response end {nav['responseEnd']:.1f} ms; "
          f"transfer {nav['transferSize']} B, decoded {nav['decodedBodySize']} B")


def test_15_sign_out(page: Page):
    page.goto(BASE + LIST)
    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.goto(BASE + LIST)
    expect(page).to_have_url(re.compile(r"/console/login\?next="))


def test_16_no_script_or_policy_errors():
    assert console_errors == [], console_errors
