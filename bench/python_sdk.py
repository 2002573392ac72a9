#!/usr/bin/env python3
"""get_job_list through the trainyard Python package vs the same request made with `requests`,
against one server, in one run (issue 11 "Done when"). Also: the package's import time.

Every variant runs the same query (``per_page`` 10 or 1000, page 1, the SDK's default order) with
a token (``X-Auth-Token``), and each call ends with the answer as Python objects:

- ``requests``        ``session.get(url, params, headers).json()``  (a dict)
- ``modelarts``       ``Estimator.get_job_list(session, ...)``      (the same dict; the seed's call)
- ``trainyard dict``  ``client.list_jobs_dict(...)``                (the same dict)
- ``trainyard typed`` ``client.list_jobs(...).jobs``                 (a list of ``Job`` objects)
- ``trainyard aksk``  the typed call with an AK/SK-signed client    (signing in Rust)

Variants are interleaved call by call (round robin), after a warm-up, so that whatever else runs
on the machine weighs on all of them alike. Prints N, median, p99 per variant and the ratio of
medians to ``requests``.

Usage: bench/python_sdk.py --endpoint URL --credentials FILE [--n10 2000] [--n1000 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List

import requests

import trainyard
from modelarts.estimator import Estimator
from modelarts.session import Session


def p99(xs: List[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--credentials", required=True)
    ap.add_argument("--n10", type=int, default=2000, help="calls per variant at per_page 10")
    ap.add_argument("--n1000", type=int, default=300, help="calls per variant at per_page 1000")
    ap.add_argument("--imports", type=int, default=20, help="fresh interpreters for the import time")
    args = ap.parse_args()
    c = json.load(open(args.credentials))
    endpoint, pid = args.endpoint.rstrip("/"), c["project_id"]

    http = requests.Session()
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": c["username"], "password": c["password"], "domain": {"name": c["domain"]}}}},
        "scope": {"project": {"id": pid}}}}
    r = http.post(f"{endpoint}/v3/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    token = r.headers["X-Subject-Token"]
    url = f"{endpoint}/v1/{pid}/training-jobs"
    headers = {"X-Auth-Token": token, "Content-Type": "application/json"}

    Session.set_endpoint(modelarts_endpoint=endpoint)
    session = Session(account=c["domain"], username=c["username"], password=c["password"], project_id=pid)
    typed = trainyard.Client(endpoint, pid, username=c["username"], password=c["password"], domain=c["domain"])
    aksk = trainyard.Client(endpoint, pid, access_key=c["access_key"], secret_key=c["secret_key"])

    total = typed.list_jobs(per_page=1).job_total_count
    print(f"server {endpoint}: {total} jobs in the project's workspace 0")
    print(f"python {sys.version.split()[0]}, requests {requests.__version__}, trainyard {trainyard.__version__}")

    results = {}
    for per_page, n in ((10, args.n10), (1000, args.n1000)):
        params = {"per_page": per_page, "page": 1, "order": "desc"}
        variants: Dict[str, Callable[[], object]] = {
            "requests": lambda: http.get(url, params=params, headers=headers, timeout=60).json(),
            "modelarts": lambda: Estimator.get_job_list(session, per_page=per_page, page=1),
            "trainyard dict": lambda: typed.list_jobs_dict(per_page=per_page, page=1),
            "trainyard typed": lambda: typed.list_jobs(per_page=per_page, page=1).jobs,
            "trainyard aksk": lambda: aksk.list_jobs(per_page=per_page, page=1).jobs,
        }
        # Same answer from all (the dict variants compare equal).
        ref = variants["requests"]()
        assert variants["modelarts"]() == ref and variants["trainyard dict"]() == ref
        assert len(variants["trainyard typed"]()) == len(ref["jobs"]) == min(per_page, total)
        for _ in range(max(20, n // 20)):  # warm-up: connections, token, caches
            for f in variants.values():
                f()
        times: Dict[str, List[float]] = {k: [] for k in variants}
        for _ in range(n):
            for k, f in variants.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
        base = statistics.median(times["requests"])
        print(f"\nget_job_list per_page={per_page} ({len(ref['jobs'])} rows, "
              f"{len(json.dumps(ref))} bytes of JSON), N={n} per variant, interleaved")
        print(f"{'variant':<17} {'N':>6} {'median ms':>10} {'p99 ms':>9} {'vs requests':>12}")
        for k, xs in times.items():
            med = statistics.median(xs)
            results[(per_page, k)] = (len(xs), med, p99(xs))
            print(f"{k:<17} {len(xs):>6} {med * 1e3:>10.3f} {p99(xs) * 1e3:>9.3f} {med / base:>11.2f}x")

    code = "import time; t=time.perf_counter(); import {m}; print(time.perf_counter()-t)"
    print(f"\nimport time (fresh interpreter each, N={args.imports})")
    for mod in ("trainyard", "modelarts.estimator", "requests"):
        xs = []
        for _ in range(args.imports):
            out = subprocess.run([sys.executable, "-c", code.format(m=mod)], capture_output=True, text=True, check=True)
            xs.append(float(out.stdout))
        print(f"import {mod:<20} median {statistics.median(xs) * 1e3:7.2f} ms  p99 {p99(xs) * 1e3:7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
