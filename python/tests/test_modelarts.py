"""The ``modelarts`` compatibility modules: the seed's snippet and every documented Estimator /
TrainingJob / Session call that maps to an endpoint trainyard serves, end to end, compared with
plain REST answers (``rest.py``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import trainyard
from modelarts.estimator import Estimator, TrainingJob
from modelarts.session import Session

from conftest import REPO, need
from rest import durations_within

# The seed's snippet (issue 11 / spec/sdk.md), byte for byte.
SEED = '''from modelarts.session import Session
from modelarts.estimator import Estimator
session = Session()
resp = Estimator.get_job_list(modelarts_session=session, status=8, per_page=10, page=1, order="asc", search_content="job")
'''

SEED_QUERY = {"status": 8, "per_page": 10, "page": 1, "order": "asc", "search_content": "job"}


@pytest.fixture(scope="module")
def running_jobs(client):
    """Three running jobs whose names contain "job" (the seed lists RUNNING jobs), beside the
    imported history (finished jobs, many named job...)."""
    created = [client.create_job(f"job-run-{os.getpid()}-{i}", user_command="sleep 600", spec_id=1) for i in range(3)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(client.get_version(c.job_id, c.version_id).status == 8 for c in created):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the sleeping jobs did not reach RUNNING")
    yield created
    for c in created:
        client.delete_job(c.job_id)


@pytest.fixture
def env_session(server, monkeypatch):
    """Session() configuration through the environment (the Notebook form)."""
    c = server["creds"]
    monkeypatch.setenv("TRAINYARD_ENDPOINT", server["endpoint"])
    monkeypatch.setenv("TRAINYARD_PROJECT_ID", c["project_id"])
    monkeypatch.setenv("TRAINYARD_ACCESS_KEY", c["access_key"])
    monkeypatch.setenv("TRAINYARD_SECRET_KEY", c["secret_key"])
    return Session()


@pytest.fixture(autouse=True)
def no_endpoint_override():
    Session._endpoints = {}
    yield
    Session._endpoints = {}


def test_seed_snippet_in_a_fresh_venv_equals_rest(server, rest, history, running_jobs, tmp_path):
    fresh = need("TRAINYARD_TEST_FRESH_PYTHON")
    # The snippet runs as a script in an empty directory holding only the server's
    # credentials file (./trainyard-data/credentials.json, as a local `trainyard serve` leaves
    # it), with no TRAINYARD_* variables: Session() finds everything by itself.
    (tmp_path / "trainyard-data").mkdir()
    (tmp_path / "trainyard-data" / "credentials.json").write_text((server["data_dir"] / "credentials.json").read_text())
    script = tmp_path / "seed.py"
    script.write_text(SEED + "import json, modelarts, trainyard\n"
                             "print(json.dumps({'resp': resp, 'modelarts': modelarts.__file__, 'trainyard': trainyard.__file__}))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_") and k != "PYTHONPATH"}
    before = rest.jobs(**SEED_QUERY)
    out = subprocess.run([fresh, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    after = rest.jobs(**SEED_QUERY)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    # The packages came from the fresh environment, not from this checkout.
    venv = Path(os.path.abspath(fresh)).parents[1]
    assert Path(got["modelarts"]).is_relative_to(venv), got
    assert Path(got["trainyard"]).is_relative_to(venv), got
    resp = got["resp"]
    assert durations_within(before, resp, after), (before, resp, after)
    assert resp["is_success"] is True and resp["job_total_count"] == 3
    assert sorted(j["job_id"] for j in resp["jobs"]) == sorted(c.job_id for c in running_jobs)
    assert [j["job_name"] for j in resp["jobs"]] == sorted(j["job_name"] for j in resp["jobs"])
    assert set(resp) == {"is_success", "job_total_count", "job_count_limit", "quotas", "jobs"}


def test_get_job_list_on_imported_history_equals_rest(env_session, rest, history):
    q = dict(status=10, per_page=50, page=2, order="asc", search_content="job", workspace_id=history.workspace_id)
    resp = Estimator.get_job_list(modelarts_session=env_session, **q)
    assert resp == rest.jobs(**q)
    exp = history.query(status=[10], order="asc", search_content="job", per_page=50, page=2)
    assert resp["job_total_count"] == exp["job_total_count"] > 50
    assert [j["job_id"] for j in resp["jobs"]] == [r["job_id"] for r in exp["jobs"]]
    # The SDK's default order is desc; sortBy (AK/SK form) and sort_by (account form) alike.
    resp = Estimator.get_job_list(env_session, per_page=7, sortBy="duration", workspace_id=history.workspace_id)
    assert resp == rest.jobs(per_page=7, sortBy="duration", order="desc", workspace_id=history.workspace_id)
    assert Estimator.get_job_list(env_session, per_page=7, sort_by="duration", workspace_id=history.workspace_id) == resp


def test_session_forms(server, creds, rest, history, monkeypatch, tmp_path):
    for k in list(os.environ):
        if k.startswith("TRAINYARD_"):
            monkeypatch.delenv(k)
    q = dict(per_page=3, order="asc", workspace_id=history.workspace_id)
    expected = rest.jobs(**q)
    Session.set_endpoint(modelarts_endpoint=server["endpoint"], region_name="local")
    # AK/SK
    s = Session(access_key=creds["access_key"], secret_key=creds["secret_key"],
                project_id=creds["project_id"], region_name="local")
    assert (s.auth, s.endpoint, s.project_id, s.region_name) == ("aksk", server["endpoint"], creds["project_id"], "local")
    assert Estimator.get_job_list(s, **q) == expected
    # IAM user + password (account = domain)
    s = Session(account=creds["domain"], username=creds["username"], password=creds["password"],
                project_id=creds["project_id"], region_name="local")
    assert s.auth == "account" and Estimator.get_job_list(s, **q) == expected
    # account owner + password (domain = user name; the local user's domain is its name)
    assert creds["domain"] == creds["username"]
    s = Session(username=creds["username"], password=creds["password"], project_id=creds["project_id"],
                region_name="local")
    assert Estimator.get_job_list(s, **q) == expected
    # A wrong password is the SDK's failure shape.
    s = Session(username=creds["username"], password="wrong", project_id=creds["project_id"])
    r = Estimator.get_job_list(s, **q)
    assert r["is_success"] is False and r["error_code"] == "IAM.0004" and r["error_msg"]
    # Notebook form from the credentials file in the working directory.
    Session._endpoints = {}
    (tmp_path / "trainyard-data").mkdir()
    (tmp_path / "trainyard-data" / "credentials.json").write_text((server["data_dir"] / "credentials.json").read_text())
    monkeypatch.chdir(tmp_path)
    s = Session()
    assert s.endpoint == server["endpoint"] and Estimator.get_job_list(s, **q) == expected
    # set_endpoint on an instance reconnects it: a server that is not there is named.
    s.set_endpoint(modelarts_endpoint="http://127.0.0.1:9")
    with pytest.raises(trainyard.ConnectionError) as e:
        Estimator.get_job_list(s, **q)
    assert "http://127.0.0.1:9" in str(e.value)


def test_failures_come_back_as_the_sdk_documents(env_session, rest):
    for args, raw in [
        (dict(status=99), {"status": 99}),
        (dict(per_page=0), {"per_page": 0}),
        (dict(order="up"), {"order": "up"}),
        (dict(sortBy="JOB_NAME"), {"sortBy": "JOB_NAME"}),
        (dict(sortBy="status", sort_by="duration"), {"sortBy": "status", "sort_by": "duration"}),
        (dict(per_page="ten"), {"per_page": "ten"}),
    ]:
        got = Estimator.get_job_list(env_session, **args)
        status, body = rest.request("GET", "training-jobs", params=raw)
        assert status == 400
        assert got == {"is_success": False, "error_code": body["error_code"], "error_msg": body["error_msg"]}
    assert Estimator.delete_job_by_id(env_session, 987654321) == {
        "is_success": False, "error_code": "ModelArts.2775",
        "error_msg": rest.request("DELETE", "training-jobs/987654321")[1]["error_msg"]}
    est = Estimator(modelarts_session=env_session, job_id=987654321, version_id=1)
    assert est.get_job_info()["error_code"] == "ModelArts.2775"
    assert est.stop_job_version()["error_code"] == "ModelArts.2775"
    with pytest.raises(TypeError):
        Estimator.get_job_list(modelarts_session="not a session")


def test_fit_trains_digits_and_the_training_job_calls(env_session, rest, work_dir, capsys):
    out1 = work_dir / "digits-out-1"
    out2 = work_dir / "digits-out-2"
    for d in (out1, out2):
        d.mkdir()
        d.chmod(0o777)
    # the example, copied where the workers' user can read it (a root server runs workers as
    # nobody, and the checkout may be under a directory nobody cannot enter, e.g. /root)
    code = work_dir / "digits-code"
    shutil.copytree(REPO / "examples" / "digits", code)
    for p in (code, *code.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    est = Estimator(
        modelarts_session=env_session,
        framework_type="Scikit_Learn",
        framework_version="python3",
        code_dir=str(code),
        boot_file="train.py",
        output_path=str(out1),
        hyperparameters=[{"label": "folds", "value": "3"}, {"label": "C", "value": "10"}],
        train_instance_type="local.cpu.1u",
        train_instance_count=1,
        job_description="digits through modelarts.estimator",
    )
    name = f"digits-py-{os.getpid()}"
    job = est.fit(inputs=str(work_dir), job_name=name, wait=True)
    printed = capsys.readouterr().out
    assert isinstance(job, TrainingJob) and job.job_name == name
    try:
        info = job.get_job_info()
        assert info["status"] == 10, info  # JOBSTAT_COMPLETED
        assert info == rest.get(f"training-jobs/{job.job_id}/versions/{job.version_id}")
        assert (info["data_url"], info["train_url"], info["engine_name"], info["spec_code"]) == (
            str(work_dir), str(out1), "Scikit_Learn", "local.cpu.1u")
        assert info["job_desc"] == "digits through modelarts.estimator"
        metrics = json.loads((out1 / "metrics.json").read_text())
        assert metrics["test_accuracy"] > 0.9, metrics
        assert "test accuracy" in printed  # fit(wait=True) streams the log
        # Logs.
        files = job.get_job_log_file_list()
        assert files == {"is_success": True, "log_file_list": [f"{name}-V0001.0"]}
        log = job.get_job_log(log_file=files["log_file_list"][0], offset=5)
        assert log == rest.get(f"training-jobs/{job.job_id}/versions/{job.version_id}/aom-log",
                               {"log_file": files["log_file_list"][0], "lines": 5})
        assert log["lines"] == 5 and log["content"].count("\n") == 5
        earlier = job.get_job_log(start_byte=log["start_line"], offset=-3)
        assert earlier["lines"] == 3 and earlier["end_line"] != log["start_line"]
        full = job.get_job_log()
        # the log is the worker's stdout and stderr: a contained worker (no /dev/shm) may start
        # it with joblib's "operate in serial mode" warning before the example's first line
        lines = full["content"].splitlines()
        assert "digits: 1797 images of 8x8 pixels, 10 classes" in lines, lines[:5]
        assert any(line.startswith("test accuracy") for line in lines), lines
        # A second version with another C, waited for.
        est2 = Estimator(modelarts_session=env_session, job_id=job.job_id, output_path=str(out2),
                         hyperparameters=[{"label": "folds", "value": "2"}, {"label": "C", "value": "1"}])
        v2 = est2.create_job_version(job_id=job.job_id, pre_version_id=job.version_id, wait=True, logs=False,
                                     job_desc="C=1")
        assert isinstance(v2, TrainingJob) and v2.version_id != job.version_id
        info2 = v2.get_job_info()
        assert info2["status"] == 10 and info2["version_desc"] == "C=1" and info2["engine_name"] == "Scikit_Learn"
        assert (out2 / "metrics.json").exists()
        vi = job.get_job_version_info()
        assert vi == rest.get(f"training-jobs/{job.job_id}/versions", {"page": 0, "per_page": 1000})
        assert vi["version_count"] == 2
        objs = job.get_job_version_object_list(is_show=True)
        assert [o.version_id for o in objs] == [v2.version_id, job.version_id]
        assert all(isinstance(o, TrainingJob) for o in objs)
        assert job.update_job_description("tuned") == {"is_success": True}
        assert rest.get(f"training-jobs/{job.job_id}/versions/{v2.version_id}")["job_desc"] == "tuned"
        assert job.delete_job_version() == {"is_success": True}
        assert rest.get(f"training-jobs/{job.job_id}/versions", {"page": 0})["version_count"] == 1
    finally:
        r = job.delete_job()
    assert r == {"is_success": True}
    assert rest.request("GET", f"training-jobs/{job.job_id}/versions")[0] == 404


def test_stop_and_delete(env_session, rest):
    est = Estimator(modelarts_session=env_session, user_command="sleep 600", train_instance_type="local.cpu.1u",
                    train_instance_count=1)
    job = est.fit(job_name=f"py-stop-ma-{os.getpid()}")
    assert job.stop_job_version() == {"is_success": True}
    deadline = time.monotonic() + 60
    while job.get_job_info()["status"] not in (12, 13):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    r = job.stop_job_version()
    assert r["is_success"] is False and r["error_code"] == "ModelArts.2796"
    assert Estimator.delete_job_by_id(env_session, job.job_id) == {"is_success": True}
    assert rest.request("GET", f"training-jobs/{job.job_id}/versions")[0] == 404


def test_specs_engines_and_algorithms(env_session, rest):
    assert Estimator.get_train_instance_types(env_session) == rest.get("job/resource-specs", {"job_type": "train"})["specs"]
    engines = rest.get("job/ai-engines", {"job_type": "train"})["engines"]
    assert Estimator.get_framework_list(env_session) == [
        {"framework_type": e["engine_name"], "framework_version": e["engine_version"]} for e in engines]
    assert Estimator.get_built_in_algorithms(env_session) == []


def test_training_job_configs(env_session, rest, work_dir):
    name = f"pycfg-ma-{os.getpid()}"
    est = Estimator(modelarts_session=env_session, framework_type="Python", code_dir=str(work_dir),
                    boot_file="train.py", train_instance_type="local.cpu.2u", train_instance_count=2)
    assert est.create_job_configs(config_name=name, inputs=str(work_dir), config_desc="first") == {
        "is_success": True, "config_name": name}
    try:
        info = est.get_job_configs_info()
        assert info == rest.get(f"training-job-configs/{name}")
        assert (info["config_desc"], info["worker_server_num"], info["app_url"], info["data_url"]) == (
            "first", 2, str(work_dir), str(work_dir))
        lst = Estimator.get_job_configs_list(env_session, per_page=5, sortBy="create_time", order="asc",
                                             search_content=name)
        assert lst == rest.get("training-job-configs", {"per_page": 5, "sortBy": "create_time", "order": "asc",
                                                       "search_content": name})
        assert lst["config_total_count"] == 1
        est.train_instance_count = 1
        assert est.update_job_configs(config_desc="second")["is_success"] is True
        info = rest.get(f"training-job-configs/{name}")
        assert (info["config_desc"], info["worker_server_num"]) == ("second", 1)
        bad = Estimator.get_job_configs_list(env_session, sortBy="name")
        assert (bad["is_success"], bad["error_code"]) == (False, "ModelArts.2790")
    finally:
        assert est.delete_job_configs() == {"is_success": True}
    r = est.get_job_configs_info()
    assert (r["is_success"], r["error_code"]) == (False, "ModelArts.2775")


def test_compat_layer_is_separate_and_thin():
    import modelarts
    import modelarts.estimator as me

    # A separate distribution (its own package directory), built on trainyard's client only.
    assert Path(modelarts.__file__).parent != Path(trainyard.__file__).parent
    src = Path(me.__file__).read_text() + Path(modelarts.session.__file__).read_text()
    assert "requests" not in src and "urllib" not in src and "hmac" not in src and "http.client" not in src
