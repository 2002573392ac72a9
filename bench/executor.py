#!/usr/bin/env python3
"""Supervisor benchmarks against a running `trainyard serve --insecure-no-auth` (not timed tests).

  latency  create -> RUNNING on an idle server: N versions one after another, each `true`;
           the figure is start_time - create_time as the server recorded them (ms).
  cpu      server CPU (utime+stime from /proc/<pid>/stat) over a window while it supervises
           M `sleep` workers (the server needs quotas and max_running >= M).
  list     job-list latency (default query, 1 connection) while V versions start and stop.

Usage: executor.py --endpoint URL --pid SERVER_PID [--n 100] [--workers 500] [--window 30]
       [--versions 200] [--only latency,cpu,list]
"""

import argparse
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse

PROJECT = "0123456789abcdef0123456789abcdef"


class Api:
    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def req(self, method, path, body=None, query=None):
        url = f"/v1/{PROJECT}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"content-type": "application/json"} if data else {}
        for attempt in range(3):
            try:
                self.conn.request(method, url, body=data, headers=headers)
                r = self.conn.getresponse()
                payload = r.read()
                return r.status, json.loads(payload or b"null")
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise

    def create(self, name, cmd):
        st, b = self.req("POST", "/training-jobs", {"job_name": name, "config": {
            "worker_server_num": 1, "spec_id": 1, "user_command": cmd}})
        assert st == 200, b
        return b["job_id"], b["version_id"]

    def detail(self, j, v):
        st, b = self.req("GET", f"/training-jobs/{j}/versions/{v}")
        assert st == 200, b
        return b

    def wait(self, j, v, want, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            d = self.detail(j, v)
            if d["status"] in want:
                return d
            assert time.monotonic() < deadline, d
            time.sleep(0.01)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)


def bench_latency(api, n, tag):
    lat = []
    for i in range(n):
        j, v = api.create(f"lat{tag}-{i}", "true")
        d = api.wait(j, v, {10, 11})
        lat.append(d["start_time"] - d["create_time"])
    print(f"latency create->RUNNING (server clock, ms): n={n} median={statistics.median(lat):.0f} "
          f"p99={pct(lat, 99)} min={min(lat)} max={max(lat)}")


def bench_cpu(api, pid, workers, window, tag):
    vs = [api.create(f"cpu{tag}-{i}", "exec sleep 600") for i in range(workers)]
    t0 = time.monotonic()
    for j, v in vs:
        api.wait(j, v, {8}, timeout=300)
    print(f"cpu: {workers} versions RUNNING after {time.monotonic() - t0:.1f}s")
    time.sleep(2)
    hz = os.sysconf("SC_CLK_TCK")
    a, ta = cpu_ticks(pid), time.monotonic()
    time.sleep(window)
    b, tb = cpu_ticks(pid), time.monotonic()
    used = (b - a) / hz
    print(f"cpu: server used {used:.2f} s CPU in {tb - ta:.1f} s while supervising {workers} workers "
          f"({100 * used / (tb - ta):.2f}% of one core)")
    t0 = time.monotonic()
    for j, v in vs:
        api.req("POST", f"/training-jobs/{j}/versions/{v}/stop")
    for j, v in vs:
        api.wait(j, v, {12}, timeout=300)
    print(f"cpu: {workers} versions stopped (12) in {time.monotonic() - t0:.1f}s")
    for j, _ in vs:
        api.req("DELETE", f"/training-jobs/{j}")


def bench_list(endpoint, versions, tag):
    api = Api(endpoint)
    stop = threading.Event()
    lat = []

    def lister():
        la = Api(endpoint)
        while not stop.is_set():
            t = time.perf_counter()
            st, _ = la.req("GET", "/training-jobs", query={"per_page": "10"})
            lat.append((time.perf_counter() - t) * 1000)
            assert st == 200

    th = threading.Thread(target=lister)
    th.start()
    t0 = time.monotonic()
    vs = [api.create(f"list{tag}-{i}", "sleep 0.5") for i in range(versions)]
    # Stop every other one (whatever its state), let the rest finish.
    for j, v in vs[::2]:
        api.req("POST", f"/training-jobs/{j}/versions/{v}/stop")
    for j, v in vs:
        api.wait(j, v, {10, 12, 13}, timeout=300)
    elapsed = time.monotonic() - t0
    stop.set()
    th.join()
    print(f"list while {versions} versions start and stop ({elapsed:.1f}s, {len(lat)} list calls): "
          f"median={statistics.median(lat):.2f} ms p99={pct(lat, 99):.2f} ms max={max(lat):.2f} ms")
    for j, _ in vs:
        api.req("DELETE", f"/training-jobs/{j}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--workers", type=int, default=500)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--versions", type=int, default=200)
    ap.add_argument("--only", default="latency,cpu,list")
    a = ap.parse_args()
    tag = str(int(time.time()))[-6:]
    api = Api(a.endpoint)
    only = a.only.split(",")
    if "latency" in only:
        bench_latency(api, a.n, tag)
    if "cpu" in only:
        bench_cpu(api, a.pid, a.workers, a.window, tag)
    if "list" in only:
        bench_list(a.endpoint, a.versions, tag)


if __name__ == "__main__":
    main()
