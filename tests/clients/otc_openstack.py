#!/usr/bin/env python3
"""Drive a running trainyard with `otcextensions` (the OpenStack SDK plus T Cloud Public's
services): Keystone password login against trainyard's `/v3/auth/tokens`, then the ModelArts
v1 proxy `conn.modelartsv1` with `modelartsv1_endpoint_override` pointing at trainyard.

Checks: training_jobs(...), create_training_job, training_job_versions,
stop_training_job_version, delete_training_job work; a missing job raises the SDK's
NotFoundException.

    pip install otcextensions
    python3 tests/clients/otc_openstack.py --credentials DATA_DIR/credentials.json

Prints PASS/FAIL per check and `N passed, M failed`; exits non-zero on any failure.
"""

import os
import secrets
import tempfile
import time

from common import Results, expect, parse_args

creds = parse_args(__doc__.splitlines()[0])
EP, PID = creds["endpoint"], creds["project_id"]
RUN = secrets.token_hex(3)

# A clouds.yaml of its own (nothing from the user's ~/.config/openstack is read).
cfg_dir = tempfile.mkdtemp(prefix="trainyard-otc-")
clouds = os.path.join(cfg_dir, "clouds.yaml")
with open(clouds, "w", encoding="utf-8") as f:
    f.write(f"""clouds:
  trainyard:
    auth_type: password
    auth:
      auth_url: {EP}/v3
      username: {creds['username']}
      password: "{creds['password']}"
      user_domain_name: {creds.get('domain') or creds['username']}
      project_id: {PID}
    region_name: local
    interface: public
    identity_api_version: 3
    modelartsv1_endpoint_override: {EP}/v1/{PID}
""")
os.environ["OS_CLIENT_CONFIG_FILE"] = clouds

import openstack  # noqa: E402  (after OS_CLIENT_CONFIG_FILE)
from openstack import exceptions  # noqa: E402
from otcextensions import sdk  # noqa: E402

res = Results()
state = {}
conn = None


def connect():
    global conn
    conn = openstack.connect(cloud="trainyard")
    sdk.register_otc_extensions(conn)
    token = conn.session.get_token()
    expect(token and len(token) == 64, f"a token from /v3/auth/tokens, got {token!r}")


def list_jobs():
    jobs = list(conn.modelartsv1.training_jobs(limit=10, offset=1, sort_by="create_time",
                                              order="desc"))
    expect(isinstance(jobs, list), "a list")


def create():
    job = conn.modelartsv1.create_training_job(
        job_name=f"otc-{RUN}", job_description="otcextensions",
        config={"worker_server_num": 1, "spec_id": 1, "user_command": "sleep 60"})
    expect(job.job_id, f"a job id: {job}")
    state["job"] = job
    found = [j for j in conn.modelartsv1.training_jobs(search_content=f"otc-{RUN}")]
    expect([j.job_name for j in found] == [f"otc-{RUN}"], f"listed: {[j.job_name for j in found]}")


def versions():
    vs = list(conn.modelartsv1.training_job_versions(state["job"].job_id))
    expect(len(vs) == 1 and vs[0].version_id, f"one version: {vs}")
    state["version"] = vs[0]


def stop():
    job, ver = state["job"].job_id, state["version"].version_id
    for _ in range(100):  # until it left INIT/queued, at most ~10 s
        # (get_training_job_version would be the natural call, but otcextensions 0.34.8 raises
        # KeyError('job_id') inside it before sending anything: see README.md)
        v = list(conn.modelartsv1.training_job_versions(job))[0]
        if v.status not in (1, 2, 4, 7):
            break
        time.sleep(0.1)
    # otcextensions 0.34.8 + openstacksdk 4.x: stop_training_job_version(job_id, version_id)
    # raises KeyError('job_id') before sending anything (the inherited body field `job_id`
    # swallows the URI attribute; README.md). Say so, then pass the version *resource* with
    # its URI attribute set, which sends the same POST .../versions/{id}/stop.
    try:
        conn.modelartsv1.stop_training_job_version(job, ver)
        print("note: stop_training_job_version(ids) worked (the client bug is fixed)")
    except KeyError as e:
        expect(str(e) == "'job_id'", f"unexpected client error {e!r}")
        print("note: stop_training_job_version(ids) hit the known client KeyError('job_id')")
    v = state["version"]
    v._uri["job_id"] = job
    stopped = conn.modelartsv1.stop_training_job_version(job, v)
    expect(stopped.is_success is not False, f"stop answered {stopped}")
    after = list(conn.modelartsv1.training_job_versions(job))[0]
    expect(after.status in (9, 12, 13), f"status after stop (KILLING, KILLED or CANCELED): {after.status}")


def delete():
    conn.modelartsv1.delete_training_job(state["job"].job_id)
    try:
        list(conn.modelartsv1.training_job_versions(state["job"].job_id))
    except exceptions.NotFoundException:
        return
    raise AssertionError("the deleted job is still there")


def missing_not_found():
    try:
        list(conn.modelartsv1.training_job_versions(987654321987))
    except exceptions.NotFoundException as e:
        expect("ModelArts.2775" in str(e) or e.status_code == 404, f"404: {e}")
        return
    raise AssertionError("no NotFoundException for a missing job")


def missing_delete_not_found():
    try:
        conn.modelartsv1.delete_training_job(987654321987)
    except exceptions.NotFoundException:
        return
    raise AssertionError("no NotFoundException when deleting a missing job")


if res.check("keystone_login", connect):
    res.check("training_jobs", list_jobs)
    if res.check("create_training_job", create):
        if res.check("training_job_versions", versions):
            res.check("stop_training_job_version", stop)
        res.check("delete_training_job", delete)
    res.check("missing_job_not_found", missing_not_found)
    res.check("delete_missing_not_found", missing_delete_not_found)
res.finish()
