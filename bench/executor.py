#!/usr/bin/env python3
"""Supervisor benchmarks against a running `trainyard serve --insecure-no-auth` (not timed tests).

  latency  create -> RUNNING on an idle server: N versions one after another, each `true`;
           the figure is start_time - create_time as the server recorded them (ms).
  cpu      server CPU (utime+stime from /proc/<pid>/stat) over a window while it supervises
           M `sleep` workers (the server needs quotas and max_running >= M).
  list     job-list latency (default query, `trainyard bench probe`: one connection, its own
           process) while V versions start and stop.

Usage: executor.py --bin TRAINYARD --endpoint URL --pid SERVER_PID [--n 100] [--workers 500] [--window 30]
       [--versions 200] [--only latency,cpu,list]
"""

import argparse
import os
import statistics
import time

from benchlib import Api, Probe, pct, print_list


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)


def bench_latency(api, n, tag):
    lat = []
    for i in range(n):
        j, v = api.create(f"lat{tag}-{i}", "true")
        d = api.wait(j, v, {10, 11}, timeout=120, every=0.01)
        lat.append(d["start_time"] - d["create_time"])
    print(f"latency create->RUNNING (server clock, ms): n={n} median={statistics.median(lat):.0f} "
          f"p99={pct(lat, 99)} min={min(lat)} max={max(lat)}")


def bench_cpu(api, pid, workers, window, tag):
    vs = [api.create(f"cpu{tag}-{i}", "exec sleep 600") for i in range(workers)]
    t0 = time.monotonic()
    for j, v in vs:
        api.wait(j, v, {8}, timeout=300, every=0.01)
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
        api.wait(j, v, {12}, timeout=300, every=0.01)
    print(f"cpu: {workers} versions stopped (12) in {time.monotonic() - t0:.1f}s")
    for j, _ in vs:
        api.req("DELETE", f"/training-jobs/{j}")


def bench_list(binary, endpoint, versions, tag):
    api = Api(endpoint)
    probe = Probe(binary, endpoint, [{"per_page": "10"}])
    t0 = time.monotonic()
    vs = [api.create(f"list{tag}-{i}", "sleep 0.5") for i in range(versions)]
    # Stop every other one (whatever its state), let the rest finish.
    for j, v in vs[::2]:
        api.req("POST", f"/training-jobs/{j}/versions/{v}/stop")
    for j, v in vs:
        api.wait(j, v, {10, 12, 13}, timeout=300, every=0.01)
    elapsed = time.monotonic() - t0
    print_list(f"list while {versions} versions start and stop ({elapsed:.1f}s)", probe.stop())
    for j, _ in vs:
        api.req("DELETE", f"/training-jobs/{j}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bin", required=True, help="the trainyard binary (its `bench probe`)")
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
        bench_list(a.bin, a.endpoint, a.versions, tag)


if __name__ == "__main__":
    main()
