#!/usr/bin/env python3
"""Drive a running trainyard with requests signed by Huawei Cloud's own Python signer
(`huaweicloudsdkcore.signer.signer.Signer`, the AK/SK signer of every huaweicloudsdk-* package).

Checks: list, create (a `user_command: "exit 0"` job, and a `sleep` job to stop), stop, delete
succeed; a tampered query, a wrong SK and an X-Sdk-Date 16 minutes old are 401 APIG.0301.

    pip install huaweicloudsdkcore
    python3 tests/clients/huaweicloud_signer.py --credentials DATA_DIR/credentials.json

Prints PASS/FAIL per check and `N passed, M failed`; exits non-zero on any failure.
"""

import datetime
import json
import secrets
import time
import urllib.parse

import requests
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from common import Results, expect, parse_args

creds = parse_args(__doc__.splitlines()[0])
url = urllib.parse.urlsplit(creds["endpoint"])
HOST = url.netloc
PID = creds["project_id"]
AK, SK = creds["access_key"], creds["secret_key"]
RUN = secrets.token_hex(3)


def send(method, path, query=(), body=None, sk=SK, date=None, tamper_query=None):
    """Sign with huaweicloudsdkcore's Signer exactly as its HcClient does, then send."""
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json;charset=UTF-8", "X-Project-Id": PID,
               "User-Agent": "huaweicloud-usdk-python/3.0"}
    if date is not None:
        headers["X-Sdk-Date"] = date.strftime("%Y%m%dT%H%M%SZ")
    req = SdkRequest(method=method, schema=url.scheme, host=HOST, resource_path=path,
                     query_params=list(query), header_params=headers, body=data)
    Signer(BasicCredentials(AK, sk, PID)).sign(req)
    uri = req.uri
    if tamper_query is not None:
        uri = f"{path}?{tamper_query}"
    r = requests.request(method, f"{url.scheme}://{HOST}{uri}", headers=req.header_params,
                         data=data or None, timeout=30)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def ok(resp, what):
    status, body = resp
    expect(status == 200 and isinstance(body, dict) and body.get("is_success") is True,
           f"{what}: expected 200 is_success, got {status} {body}")
    return body


def sig_error(resp, what):
    status, body = resp
    expect(status == 401 and isinstance(body, dict) and body.get("error_code") == "APIG.0301",
           f"{what}: expected 401 APIG.0301, got {status} {body}")


base = f"/v1/{PID}/training-jobs"
res = Results()
state = {}


def list_jobs():
    b = ok(send("GET", base, [("per_page", "10"), ("page", "1"), ("sortBy", "create_time"),
                              ("order", "desc")]), "list")
    expect("jobs" in b and "job_total_count" in b, f"list shape: {b}")


def list_with_search():
    b = ok(send("GET", base, [("search_content", f"hwc {RUN} ü/+&="), ("per_page", "5")]),
           "list with a search needing escapes")
    expect(b["job_total_count"] == 0, f"nothing matches: {b}")


def create():
    b = ok(send("POST", base, body={"job_name": f"hwc-{RUN}-ok", "job_desc": "huaweicloudsdkcore",
                                    "config": {"worker_server_num": 1, "spec_id": 1,
                                               "user_command": "exit 0"}}), "create exit 0")
    state["ok"] = (b["job_id"], b["version_id"])
    b = ok(send("POST", base, body={"job_name": f"hwc-{RUN}-sleep",
                                    "config": {"worker_server_num": 1, "spec_id": 1,
                                               "user_command": "sleep 60"}}), "create sleep")
    state["sleep"] = (b["job_id"], b["version_id"])
    b = ok(send("GET", base, [("search_content", f"hwc-{RUN}")]), "list after create")
    expect(b["job_total_count"] == 2, f"2 jobs of this run: {b}")


def stop():
    job, ver = state["sleep"]
    path = f"{base}/{job}/versions/{ver}"
    for _ in range(100):  # until it runs (or at least left INIT), at most ~10 s
        status, b = send("GET", path)
        if status == 200 and b.get("status") not in (1, 2, 4, 7):
            break
        time.sleep(0.1)
    ok(send("POST", f"{path}/stop"), "stop")


def delete():
    for job, _ in (state["ok"], state["sleep"]):
        ok(send("DELETE", f"{base}/{job}"), f"delete {job}")
    status, b = send("GET", f"{base}/{state['ok'][0]}/versions/{state['ok'][1]}")
    expect(status == 404, f"deleted job: expected 404, got {status} {b}")


def tampered_query():
    sig_error(send("GET", base, [("per_page", "10")], tamper_query="per_page=11"), "tampered query")


def wrong_sk():
    sig_error(send("GET", base, [("per_page", "10")], sk=SK + "x"), "wrong SK")


def old_date():
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)
    sig_error(send("GET", base, date=old), "X-Sdk-Date 16 minutes old")


def recent_date():
    recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=14)
    ok(send("GET", base, date=recent), "X-Sdk-Date 14 minutes old")


res.check("list", list_jobs)
res.check("list_search_escapes", list_with_search)
if res.check("create", create):
    res.check("stop", stop)
    res.check("delete", delete)
res.check("tampered_query_401", tampered_query)
res.check("wrong_sk_401", wrong_sk)
res.check("date_16_min_old_401", old_date)
res.check("date_14_min_old_ok", recent_date)
res.finish()
