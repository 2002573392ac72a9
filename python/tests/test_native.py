"""The native ``trainyard`` module against a real server with authentication.

Expected answers are computed independently: from the imported history in plain Python
(``dataset.py``) and with plain REST calls (``rest.py``, ``requests``)."""

from __future__ import annotations

import inspect
import os
import pickle
import pydoc
import re
import threading
import time
from pathlib import Path

import pytest

import trainyard
from trainyard import JobStatus

from dataset import HistoryDataset, without_version_id

SPEC = Path(os.environ.get("TRAINYARD_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "spec"

# ---- statuses -------------------------------------------------------------------------------


def test_job_status_is_the_spec_table():
    """JobStatus holds exactly the codes, names and terminal flags of spec/statuses.md."""
    path = SPEC / "statuses.md"
    if not path.exists():
        pytest.skip(f"{path} not found (set TRAINYARD_SHARED)")
    rows = re.findall(r"^\| (\d+) \| (JOBSTAT_\w+) \| [^|]* \|( yes)? *\|$", path.read_text(), re.M)
    assert len(rows) == 23
    assert [(m.value, m.name) for m in JobStatus] == [(int(c), n) for c, n, _ in rows]
    assert {m.value for m in JobStatus if m.is_terminal} == {int(c) for c, _, t in rows if t}
    assert issubclass(JobStatus, int) and JobStatus.JOBSTAT_RUNNING == 8
    assert JobStatus.parse("running") is JobStatus.JOBSTAT_RUNNING
    assert JobStatus.parse("JOBSTAT_KILLED") is JobStatus.JOBSTAT_KILLED
    assert JobStatus.parse(" 10") is JobStatus.JOBSTAT_COMPLETED
    with pytest.raises(ValueError):
        JobStatus.parse("runnin")


# ---- the list: filters, sort, search, paging --------------------------------------------------

QUERIES = [
    dict(),
    dict(order="asc"),
    dict(sort_by="job_name", order="desc", per_page=50, page=3),
    dict(status=10, per_page=100),
    dict(status=[3, 5, 6, 13], sort_by="create_time", order="desc", per_page=40, page=2),
    dict(sort_by="duration", order="asc", per_page=25, page=7),
    dict(sort_by="duration", order="desc", per_page=25),
    dict(sort_by="job_desc", order="asc", per_page=30, page=4),
    dict(sort_by="status", order="desc", per_page=1000),
    dict(sort_by="engine_type", order="asc", per_page=33, page=5),
    dict(sort_by="version_count", order="desc", per_page=10, page=2),
    dict(search_content="JOB", order="asc", per_page=200),
    dict(search_content="ärger", sort_by="create_time", order="asc"),
    dict(search_content="训练", status=11, per_page=5),
    dict(search_content="_", order="asc", per_page=20),
    dict(search_content="no-such-name", per_page=10),
    dict(per_page=10, page=500),
]


def rest_params(q, ws):
    """The query as REST parameters (the SDK's default order is desc; REST's is asc)."""
    p = {"workspace_id": ws, "order": q.get("order", "desc")}
    if "status" in q:
        s = q["status"]
        p["status"] = ",".join(map(str, s)) if isinstance(s, list) else str(s)
    for k in ("per_page", "page", "search_content"):
        if k in q:
            p[k] = q[k]
    if "sort_by" in q:
        p["sortBy"] = q["sort_by"]
    return p


@pytest.mark.parametrize("q", QUERIES, ids=[repr(q) for q in QUERIES])
def test_list_equals_rest_and_the_python_reference(client, token_client, rest, history: HistoryDataset, q):
    page = client.list_jobs(workspace_id=history.workspace_id, **q)
    got = page.to_dict()
    assert got == rest.jobs(**rest_params(q, history.workspace_id))
    assert token_client.list_jobs(workspace_id=history.workspace_id, **q).to_dict() == got
    status = q.get("status")
    exp = history.query(
        status=None if status is None else (status if isinstance(status, list) else [status]),
        sort_by=q.get("sort_by", "job_name"),
        order=q.get("order", "desc"),
        search_content=q.get("search_content", ""),
        per_page=q.get("per_page", 10),
        page=q.get("page", 1),
    )
    assert got["job_total_count"] == exp["job_total_count"]
    assert without_version_id(got["jobs"]) == exp["jobs"]
    # The typed rows carry the same values.
    assert [j.to_dict() for j in page.jobs] == got["jobs"]
    assert len(page) == len(got["jobs"]) and [j.job_id for j in page] == [r["job_id"] for r in got["jobs"]]
    for job, row in zip(page.jobs, got["jobs"]):
        assert isinstance(job.status, JobStatus) and job.status == row["status"]
        assert (job.job_name, job.duration, job.create_time) == (row["job_name"], row["duration"], row["create_time"])


def test_iter_jobs_walks_all_2600_jobs_in_order(client, history: HistoryDataset):
    it = client.iter_jobs(workspace_id=history.workspace_id, order="asc")
    assert inspect.isgenerator(it)
    jobs = list(it)
    exp = history.query(order="asc")["jobs"]
    assert len(jobs) == history.count == 2600
    assert without_version_id(j.to_dict() for j in jobs) == exp


def test_iter_jobs_with_small_pages_filters_and_a_start_page(client, history: HistoryDataset):
    got = [j.job_id for j in client.iter_jobs(status=[10, 11], sort_by="duration", per_page=97, workspace_id=history.workspace_id)]
    exp = history.query(status=[10, 11], sort_by="duration", order="desc")["jobs"]
    assert got == [r["job_id"] for r in exp]
    # Starting at page 3 of 97 skips the first 194 rows.
    got = [j.job_id for j in client.iter_jobs(per_page=97, page=3, workspace_id=history.workspace_id, order="asc")]
    assert got == [r["job_id"] for r in history.query(order="asc")["jobs"][194:]]


def test_iter_jobs_can_stop_early(client, history):
    it = client.iter_jobs(workspace_id=history.workspace_id, per_page=5)
    first = [next(it) for _ in range(7)]
    it.close()
    assert len({j.job_id for j in first}) == 7
    with pytest.raises(StopIteration):
        next(it)


# ---- bad input is refused before sending, with the server's code and message ------------------


BAD = [
    (dict(status=99), {"status": "99"}),
    (dict(per_page=0), {"per_page": "0"}),
    (dict(per_page=1001), {"per_page": "1001"}),
    (dict(page=0), {"page": "0"}),
    (dict(page=65536), {"page": "65536"}),
    (dict(order="up"), {"order": "up"}),
    (dict(sort_by="JOB_NAME"), {"sortBy": "JOB_NAME"}),
    (dict(per_page=10.5), {"per_page": "10.5"}),
    (dict(per_page="abc"), {"per_page": "abc"}),
    (dict(per_page=True), {"per_page": "True"}),
    (dict(status=[8, 99]), {"status": "8,99"}),
    (dict(search_content="x" * 101), {"search_content": "x" * 101}),
    (dict(workspace_id="a b"), {"workspace_id": "a b"}),
]


@pytest.mark.parametrize("args,raw", BAD, ids=[repr(a) for a, _ in BAD])
def test_bad_list_arguments_are_refused_before_sending_like_the_server(server, rest, args, raw):
    # A client whose server does not exist: had anything been sent, this would be a
    # ConnectionError; it must be the server's own refusal, computed locally.
    dead = trainyard.Client("http://127.0.0.1:9", "default", access_key="AK", secret_key="SK", max_tries=1)
    with pytest.raises(trainyard.InvalidArgumentError) as e:
        dead.list_jobs(**args)
    status, body = rest.request("GET", "training-jobs", params=raw)
    assert status == 400
    assert (e.value.error_code, e.value.error_msg) == (body["error_code"], body["error_msg"])
    assert str(e.value) == f"{body['error_code']}: {body['error_msg']}"
    assert isinstance(e.value, ValueError) and e.value.http_status is None
    assert e.value.to_dict() == {"is_success": False, "error_code": body["error_code"], "error_msg": body["error_msg"]}


def test_wrong_types_and_other_ranges(client):
    with pytest.raises(TypeError):
        client.get_version("one", 1)
    for call in (
        lambda: client.list_versions(1, per_page=0),
        lambda: client.list_versions(1, page=-1),
        lambda: client.log_lines(1, 1, "f", lines=501),
        lambda: client.log_lines(1, 1, "f", order="up"),
        lambda: client.create_job("bad name", user_command="true", spec_id=1),
        lambda: client.create_job("ok", user_command="true", spec_id="one"),
        lambda: client.create_job("ok", app_url="relative/dir", boot_file_url="t.py", engine_id=1, spec_id=1),
        lambda: client.create_job("ok", user_command="true", spec_id=1, parameter=[{"label": "a b", "value": 1}]),
        lambda: client.create_job("ok", user_command="true", spec_id=1, job_desc="d" * 257),
        lambda: client.create_job("ok", app_url="/x"),
        lambda: client.wait(1, 1, timeout=0),
        lambda: client.list_configs(sort_by="name"),
    ):
        with pytest.raises(trainyard.InvalidArgumentError) as e:
            call()
        assert e.value.error_code in ("ModelArts.0101", "ModelArts.2790"), e.value


def test_server_that_is_down_names_the_endpoint():
    port = _free_port()
    c = trainyard.Client(f"http://127.0.0.1:{port}", "default", access_key="AK", secret_key="SK", max_tries=2)
    with pytest.raises(trainyard.ConnectionError) as e:
        c.list_jobs()
    assert f"http://127.0.0.1:{port}" in str(e.value)
    assert e.value.endpoint == f"http://127.0.0.1:{port}"
    assert isinstance(e.value, ConnectionError)  # the builtin too


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- authentication and API errors ----------------------------------------------------------


def test_access_key_signing_and_its_errors(server, creds):
    ok = trainyard.Client(server["endpoint"], creds["project_id"], access_key=creds["access_key"],
                          secret_key=creds["secret_key"])
    assert ok.auth_method == "aksk"
    assert ok.list_jobs(per_page=1).job_count_limit >= 0
    bad = trainyard.Client(server["endpoint"], creds["project_id"], access_key=creds["access_key"],
                           secret_key="wrong-secret-key", max_tries=1)
    with pytest.raises(trainyard.AuthenticationError) as e:
        bad.list_jobs()
    assert (e.value.http_status, e.value.error_code) == (401, "APIG.0301")
    assert e.value.request_id
    unsigned = trainyard.Client(server["endpoint"], creds["project_id"])
    # From the environment: no credentials in the test's environment or working directory.
    if unsigned.auth_method == "none":
        with pytest.raises(trainyard.AuthenticationError) as e:
            unsigned.list_jobs()
        assert (e.value.http_status, e.value.error_code) == (401, "ModelArts.0201")
    other = trainyard.Client(server["endpoint"], "another-project", access_key=creds["access_key"],
                             secret_key=creds["secret_key"])
    with pytest.raises(trainyard.PermissionDeniedError) as e:
        other.list_jobs()
    assert (e.value.http_status, e.value.error_code) == (403, "ModelArts.0210")


def test_wrong_password_is_an_authentication_error(server, creds):
    c = trainyard.Client(server["endpoint"], creds["project_id"], username=creds["username"], password="nope")
    with pytest.raises(trainyard.AuthenticationError) as e:
        c.list_jobs()
    assert (e.value.http_status, e.value.error_code) == (401, "IAM.0004")
    assert e.value.request_id and e.value.error_msg


def test_api_errors_carry_the_envelope(client, rest):
    with pytest.raises(trainyard.NotFoundError) as e:
        client.get_version(987654321, 1)
    status, body = rest.request("GET", "training-jobs/987654321/versions/1")
    assert (e.value.http_status, e.value.error_code, e.value.error_msg) == (status, body["error_code"], body["error_msg"])
    assert re.fullmatch(r"[0-9a-f-]{36}", e.value.request_id)
    # Exceptions survive pickling with their attributes (multiprocessing).
    e2 = pickle.loads(pickle.dumps(e.value))
    assert type(e2) is trainyard.NotFoundError and e2.error_code == "ModelArts.2775" and e2.request_id == e.value.request_id
    with pytest.raises(trainyard.BadRequestError) as e:
        client.create_job("dup-check", user_command="true", spec_id=999)
    assert e.value.error_code == "ModelArts.2781"


def test_environment_and_credentials_file(server, creds, tmp_path, monkeypatch):
    """Client() reads the environment, then the credentials file (here ./trainyard-data)."""
    for k in list(os.environ):
        if k.startswith("TRAINYARD_") and k not in ("TRAINYARD_TEST_ENDPOINT",):
            monkeypatch.delenv(k, raising=False)
    (tmp_path / "trainyard-data").mkdir()
    (tmp_path / "trainyard-data" / "credentials.json").write_text(
        (server["data_dir"] / "credentials.json").read_text()
    )
    monkeypatch.chdir(tmp_path)
    c = trainyard.Client()
    assert (c.endpoint, c.project_id, c.auth_method) == (server["endpoint"], creds["project_id"], "aksk")
    assert c.list_jobs(per_page=1).job_total_count >= 0
    monkeypatch.setenv("TRAINYARD_USERNAME", creds["username"])
    monkeypatch.setenv("TRAINYARD_PASSWORD", creds["password"])
    c = trainyard.Client()
    assert c.auth_method == "token"
    assert c.list_jobs(per_page=1).job_total_count >= 0
    monkeypatch.setenv("TRAINYARD_CREDENTIALS_FILE", str(tmp_path / "missing.json"))
    monkeypatch.delenv("TRAINYARD_USERNAME")
    with pytest.raises(trainyard.ConfigError):
        trainyard.Client()


def test_token_is_renewed_before_it_expires(short_token_server):
    """Tokens of this server live 4 s; the client renews them at half-life, so calls spread
    over 12 s all succeed, with a new login every few calls (not every call), and the server
    never refused an expired token (which a client that did not renew would meet)."""
    s = short_token_server
    c = trainyard.Client(s.endpoint, s.creds["project_id"], username=s.creds["username"],
                         password=s.creds["password"], domain=s.creds["domain"], max_tries=1)
    started = time.monotonic()
    calls = 0
    while time.monotonic() - started < 12:
        assert c.list_jobs(per_page=1).job_total_count == 0
        calls += 1
        time.sleep(1.5)
    log = re.sub(r"\x1b\[[0-9;]*m", "", s.log())  # the server's log, without colours
    done = [line for line in log.splitlines() if "finished processing request" in line]
    # The request span names the path (`path=` or, in tower-http's default span, `uri=`).
    logins = [line for line in done if re.search(r"(path|uri)=/v3/auth/tokens\b", line) and "status=201" in line]
    lists = [line for line in done if "/training-jobs" in line and "status=200" in line]
    assert len(lists) == calls, log[-3000:]
    # 12 s of 4 s tokens renewed at half-life: a login at least every 4 s, and never a 401.
    assert 3 <= len(logins) < calls, log[-3000:]  # renewed, and cached in between
    assert not [line for line in done if "status=401" in line], log[-3000:]
    assert calls >= 7


# ---- jobs: create, versions, logs, wait, stop, delete ---------------------------------------


def test_job_lifecycle_typed_objects_logs_and_wait(client, rest, work_dir):
    name = f"py-life-{os.getpid()}"
    cmd = "for i in 1 2 3 4 5; do echo line $i; sleep 0.3; done"
    created = client.create_job(name, user_command=cmd, spec_id=1, job_desc="native lifecycle",
                                parameter={"lr": 0.1})
    assert isinstance(created, trainyard.CreatedVersion) and created.job_name == name
    assert created.version_name == "V0001" and created.status == JobStatus.JOBSTAT_INIT
    try:
        files = client.log_file_names(created.job_id, created.version_id)
        assert files == [f"{name}-V0001.0"]
        follow = client.follow_log(created.job_id, created.version_id)
        assert inspect.isgenerator(follow)
        text = "".join(follow)
        assert text == "".join(f"line {i}\n" for i in range(1, 6))
        v = client.wait(created.job_id, created.version_id, timeout=120, poll_interval=0.2)
        assert isinstance(v, trainyard.Version) and v.status is JobStatus.JOBSTAT_COMPLETED
        assert v.status.is_terminal and v.exit_code == 0 and v.duration > 0
        assert v.parameter == [{"label": "lr", "value": "0.1"}]
        body = rest.get(f"training-jobs/{created.job_id}/versions/{created.version_id}")
        assert {"is_success": True, **v.to_dict()} == body
        page = client.log_lines(created.job_id, created.version_id, files[0], lines=2)
        assert page.content == "line 4\nline 5\n" and page.lines == 2
        back = client.log_lines(created.job_id, created.version_id, files[0], base_line=page.start_line,
                                lines=3, order="asc")
        assert back.content == "line 1\nline 2\nline 3\n"
        assert page.to_dict() == rest.get(
            f"training-jobs/{created.job_id}/versions/{created.version_id}/aom-log",
            {"log_file": files[0], "lines": 2})
        v2 = client.create_version(created.job_id, created.version_id, version_desc="second",
                                   user_command="echo two")
        assert v2.version_name == "V0002"
        done = client.wait(created.job_id, v2.version_id, timeout=120, poll_interval=0.2)
        assert done.version_desc == "second" and done.spec_id == 1 and done.pre_version_id == created.version_id
        vl = client.list_versions(created.job_id)
        assert [x.version_name for x in vl.versions] == ["V0002", "V0001"] and vl.version_count == 2
        assert vl.to_dict() == rest.get(f"training-jobs/{created.job_id}/versions", {"page": 0, "per_page": 1000})
        client.update_job_desc(created.job_id, "changed")
        assert client.get_version(created.job_id, v2.version_id).job_desc == "changed"
        client.delete_version(created.job_id, created.version_id)
        assert client.list_versions(created.job_id).version_count == 1
    finally:
        client.delete_job(created.job_id)
    with pytest.raises(trainyard.NotFoundError):
        client.list_versions(created.job_id)


def test_stop_and_wait_timeout_and_the_gil_is_released(client):
    c = client.create_job(f"py-stop-{os.getpid()}", user_command="sleep 600", spec_id=1)
    try:
        # While one thread waits on the server (2 s), another runs Python code freely.
        counter = {"n": 0, "stop": False}

        def spin():
            while not counter["stop"]:
                counter["n"] += 1

        t = threading.Thread(target=spin)
        t.start()
        started = time.monotonic()
        before = counter["n"]
        with pytest.raises(trainyard.WaitTimeoutError) as e:
            client.wait(c.job_id, c.version_id, timeout=2, poll_interval=0.5)
        spun = counter["n"] - before
        counter["stop"] = True
        t.join()
        assert time.monotonic() - started >= 2
        assert isinstance(e.value, TimeoutError) and e.value.job_id == c.job_id
        assert e.value.status in (1, 2, 4, 7, 8)
        # Holding the GIL for 2 s would leave the spinning thread almost nothing.
        assert spun > 100_000, spun
        client.stop_version(c.job_id, c.version_id)
        v = client.wait(c.job_id, c.version_id, timeout=120, poll_interval=0.2)
        assert v.status in (JobStatus.JOBSTAT_KILLED, JobStatus.JOBSTAT_CANCELED)
        with pytest.raises(trainyard.ConflictError) as e:
            client.stop_version(c.job_id, c.version_id)
        assert (e.value.http_status, e.value.error_code) == (409, "ModelArts.2796")
    finally:
        client.delete_job(c.job_id)


def test_specs_engines_configs_and_import(client, rest):
    assert [s.to_dict() for s in client.specs()] == rest.get("job/resource-specs", {"job_type": "train"})["specs"]
    engines = client.engines()
    assert [e.to_dict() for e in engines] == rest.get("job/ai-engines", {"job_type": "train"})["engines"]
    assert all(isinstance(e, trainyard.Engine) for e in engines)
    name = f"pycfg{os.getpid()}"
    assert client.create_config({"config_name": name, "config_desc": "d", "spec_id": 1, "worker_server_num": 1})[
        "config_name"] == name
    try:
        assert client.get_config(name) == rest.get(f"training-job-configs/{name}")
        lst = client.list_configs(search_content=name, sort_by="create_time", order="asc")
        assert lst == rest.get("training-job-configs", {"search_content": name, "sortBy": "create_time", "order": "asc"})
        assert lst["config_total_count"] == 1
        client.update_config(name, {"config_desc": "e"})
        assert client.get_config(name)["config_desc"] == "e"
    finally:
        client.delete_config(name)
    with pytest.raises(trainyard.NotFoundError):
        client.get_config(name)
    r = client.import_history([
        {"job_name": f"imp-{os.getpid()}-a", "status": 10, "create_time": 1, "workspace_id": "imp"},
        {"job_name": f"imp-{os.getpid()}-b", "status": 11, "create_time": 2, "workspace_id": "imp",
         "start_time": 5, "end_time": 9},
    ])
    assert (r.imported, r.last_job_id - r.first_job_id) == (2, 1)
    page = client.list_jobs(workspace_id="imp", search_content=f"imp-{os.getpid()}", order="asc")
    assert [(j.job_id, j.status, j.duration) for j in page.jobs] == [(r.first_job_id, 10, 0), (r.last_job_id, 11, 4)]
    with pytest.raises(trainyard.BadRequestError) as e:
        client.import_history([{"job_name": "x", "status": 8, "create_time": 1}])
    assert "line 1" in e.value.error_msg


# ---- the module's documentation and stubs --------------------------------------------------------


def test_help_and_stubs():
    doc = pydoc.render_doc(trainyard.Client, renderer=pydoc.plaintext)
    for name in ("list_jobs", "iter_jobs", "follow_log", "wait", "create_job", "get_version"):
        assert name in doc
    assert "ModelArts.2775" in (trainyard.Client.get_version.__doc__ or "")
    assert "job_total_count" in (trainyard.Client.list_jobs.__doc__ or "")
    assert trainyard.Job.duration.__doc__.startswith("The latest version's run time in milliseconds")
    pkg = Path(trainyard.__file__).parent
    assert (pkg / "py.typed").exists()
    stub = (pkg / "_native.pyi").read_text()
    native = trainyard._native
    for name in dir(native):
        if name.startswith("__"):
            continue
        assert re.search(rf"^(class {name}\b|{name}\s*:|def {name}\b)", stub, re.M), f"{name} missing from _native.pyi"
        obj = getattr(native, name)
        if isinstance(obj, type):
            for attr in vars(obj):
                if not attr.startswith("__") or attr in ("__iter__", "__next__", "__len__"):
                    assert re.search(rf"def {attr}\b|{attr}\s*:", stub), f"{name}.{attr} missing from _native.pyi"
