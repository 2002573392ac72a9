#!/usr/bin/env python3
"""Slurm executor benchmarks (figures for the notes, not timed tests), against a running
`trainyard serve --insecure-no-auth --executor slurm` and its cluster (bench/slurm.sh sets both up).

  latency  create -> RUNNING through trainyard vs plain `sbatch` -> RUNNING, side by side: N
           pairs sent at the same instant to the idle cluster after a random 0-1 s pause (see
           bench_latency); the client polls the version (GET every 20 ms) resp. `squeue -j ID`
           and the plain script's first-line marker (every 20 ms) from the moment it sends.
  poll     V versions queued or running in Slurm (`sleep 3600`, the cluster runs what fits and
           keeps the rest pending): for WINDOW seconds, the Slurm calls the server makes (counted
           by logging wrappers around the commands) per poll interval, and the server's CPU
           (utime+stime of the process; its reaped children, the squeue/sacct processes, apart).
  list     the default list query (and a status filter) at the project's job count, idle, then
           while V plain `sbatch` jobs (`sleep 2`, the control: trainyard not involved) and then
           V trainyard versions (`sleep 2`) churn through the cluster: N, median, p99, measured
           by `trainyard bench probe` in its own process (one request at a time, keep-alive).

Usage: slurm.py --bin TRAINYARD --endpoint URL --pid PID --calls FILE --interval-ms MS [--n 40] [--versions 1000]
       [--window 60] [--only latency,poll,list]
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

from benchlib import Api, Probe, pct, print_list


def fmt(name, xs, unit="ms"):
    return (f"{name}: N={len(xs)} median={statistics.median(xs):.0f} {unit} "
            f"p99={pct(xs, 99):.0f} {unit} min={min(xs):.0f} max={max(xs):.0f} "
            f"mean={statistics.mean(xs):.0f}")


def squeue_state(job_id):
    out = subprocess.run(["squeue", "-h", "-t", "all", f"--jobs={job_id}", "-o", "%T"],
                         capture_output=True, text=True).stdout.strip()
    return out


def plain_sbatch_latency(cmd, marker, out):
    """Plain `sbatch` of `touch MARKER; CMD`: ms until squeue says RUNNING and until the
    script's first line ran (the marker exists), both checked every 20 ms; in out[...]."""
    t = time.perf_counter()
    # as the same user trainyard's jobs run as (a root server submits as nobody)
    who = ["--uid=nobody", "--gid=nogroup"] if os.geteuid() == 0 else []
    res = subprocess.run(["sbatch", "--parsable", "--export=NONE", "-o", "/dev/null", *who,
                          "--job-name=bench-plain", "--wrap", f"touch {marker}; {cmd}"],
                         capture_output=True, text=True, check=True).stdout
    job = res.strip().split(";")[0]
    running = first_line = None
    while running is None or first_line is None:
        if running is None and squeue_state(job) in ("RUNNING", "COMPLETING", "COMPLETED"):
            running = (time.perf_counter() - t) * 1000
        if first_line is None and os.path.exists(marker):
            first_line = (time.perf_counter() - t) * 1000
        time.sleep(0.02)
    out["running"], out["first_line"] = running, first_line
    while squeue_state(job) not in ("COMPLETED", "FAILED", "CANCELLED", ""):
        time.sleep(0.1)


def trainyard_latency(api, name, cmd, out):
    """`POST /training-jobs` of CMD: ms until a GET (every 20 ms) shows 8 RUNNING; in out."""
    t = time.perf_counter()
    j, v = api.create(name, cmd)
    while True:
        s = api.status(j, v)
        if s in (8, 10):
            out["running"] = (time.perf_counter() - t) * 1000
            break
        assert s in (1, 2, 4, 7), s
        time.sleep(0.02)
    api.wait(j, v, {10})


def bench_latency(api, n, tag, seed=10):
    """N pairs, each a plain sbatch and a trainyard create sent at the same instant (two
    threads, one barrier) to the idle cluster, after a random pause of 0-1 s.

    Why pairs and a random pause: slurmctld starts batch jobs from its ~1 s background
    scheduling cycle, so a submission waits 0-1 s depending on where in that cycle it lands.
    Sent together, both sides of a pair land at the same point of the cycle, and the random
    pause spreads the pairs evenly over it; the difference within a pair is trainyard's own
    share (create, scheduling, sbatch, seeing the start), plus the rare pair whose trainyard
    sbatch comes after the cycle that starts the plain one."""
    rng = random.Random(seed)
    marker_dir = tempfile.mkdtemp(prefix="ty-bench-plain-")
    os.chmod(marker_dir, 0o1777)
    plain_run, plain_first, ty, diff = [], [], [], []
    try:
        for i in range(-1, n):  # pair -1: warm-up (first job after start-up, page cache)
            time.sleep(rng.random())
            p, t = {}, {}
            go = threading.Barrier(2)

            def plain_side():
                go.wait()
                plain_sbatch_latency("sleep 1", os.path.join(marker_dir, f"m{i + 1}"), p)

            th = threading.Thread(target=plain_side)
            th.start()
            go.wait()
            trainyard_latency(api, f"lat{tag}-{i + 1}", "sleep 1", t)
            th.join()
            if i < 0:
                continue
            plain_run.append(p["running"])
            plain_first.append(p["first_line"])
            ty.append(t["running"])
            diff.append(t["running"] - p["running"])
    finally:
        shutil.rmtree(marker_dir, ignore_errors=True)
    print(fmt("plain sbatch -> RUNNING (squeue every 20 ms)", plain_run))
    print(fmt("plain sbatch -> its script's first line (file check every 20 ms)", plain_first))
    print(fmt("trainyard create -> 8 RUNNING (GET every 20 ms)", ty))
    print(fmt("within a pair: trainyard minus plain sbatch -> RUNNING", diff))
    for what, ref in (("RUNNING", plain_run), ("its first line", plain_first)):
        m = statistics.median(ty) / statistics.median(ref) - 1
        print(f"trainyard vs plain sbatch -> {what}: {100 * m:+.1f}% at the median "
              f"({statistics.median(ty) - statistics.median(ref):+.0f} ms), "
              f"{100 * (pct(ty, 99) / pct(ref, 99) - 1):+.1f}% at p99")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime (fields 14-17)
    return int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def count_calls(path):
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                c = line.strip()
                counts[c] = counts.get(c, 0) + 1
    except FileNotFoundError:
        pass
    return counts


def bench_poll(api, pid, calls, interval_ms, versions, window, tag):
    t0 = time.monotonic()
    vs = [api.create(f"poll{tag}-{i}", "sleep 3600") for i in range(versions)]
    print(f"poll: {versions} versions created in {time.monotonic() - t0:.1f}s")
    # all submitted: every one has a Slurm job (7 pending in Slurm, or 8)
    deadline = time.monotonic() + 600
    while True:
        out = subprocess.run(["squeue", "-h", "-o", "%T"], capture_output=True, text=True).stdout
        states = out.split()
        if len(states) >= versions:
            break
        assert time.monotonic() < deadline, len(states)
        time.sleep(1)
    running = states.count("RUNNING")
    print(f"poll: {len(states)} jobs in Slurm after {time.monotonic() - t0:.1f}s "
          f"({running} RUNNING, {states.count('PENDING')} PENDING)")
    time.sleep(3 * interval_ms / 1000 + 2)
    hz = os.sysconf("SC_CLK_TCK")
    c0 = count_calls(calls)
    (own0, kids0), ta = cpu_ticks(pid), time.monotonic()
    time.sleep(window)
    (own1, kids1), tb = cpu_ticks(pid), time.monotonic()
    c1 = count_calls(calls)
    span = tb - ta
    intervals = span * 1000 / interval_ms
    made = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1 if c1.get(k, 0) - c0.get(k, 0)}
    total = sum(made.values())
    print(f"poll: {span:.1f}s with {versions} versions queued/running: Slurm calls {made} = "
          f"{total} in {intervals:.1f} poll intervals of {interval_ms} ms = "
          f"{total / intervals:.2f} per interval")
    own, kids = (own1 - own0) / hz, (kids1 - kids0) / hz
    print(f"poll: server CPU {own:.2f}s in {span:.1f}s = {100 * own / span:.2f}% of one core "
          f"(its Slurm command processes: {kids:.2f}s = {100 * kids / span:.2f}%; together "
          f"{100 * (own + kids) / span:.2f}%)")
    t0 = time.monotonic()
    for j, v in vs:
        api.req("DELETE", f"/training-jobs/{j}")
    print(f"poll: {versions} versions deleted (their jobs cancelled) in {time.monotonic() - t0:.1f}s")


QUERIES = [{"per_page": "10"}, {"per_page": "10", "status": "8"},
           {"per_page": "10", "sortBy": "create_time", "order": "desc"}]


def bench_list(binary, endpoint, api, versions, tag, idle_secs=20):
    _, b = api.req("GET", "/training-jobs", query={"per_page": "1"})
    total = b["job_total_count"]
    probe = Probe(binary, endpoint, QUERIES)
    time.sleep(idle_secs)
    print_list(f"list idle, {total} jobs", probe.stop())
    # control: the same churn through plain sbatch, trainyard not involved (the Slurm daemons
    # and the jobs run on the server's own CPUs here: what they cost the list is not trainyard's)
    probe = Probe(binary, endpoint, QUERIES)
    t0 = time.monotonic()
    who = ["--uid=nobody", "--gid=nogroup"] if os.geteuid() == 0 else []
    for i in range(versions):
        subprocess.run(["sbatch", "--parsable", "--export=NONE", "-o", "/dev/null", *who,
                        f"--job-name=bench-churn-{i}", "--wrap", "sleep 2"],
                       capture_output=True, text=True, check=True)
    while True:
        out = subprocess.run(["squeue", "-h", "-o", "%i", "--name=" + ",".join(
            f"bench-churn-{i}" for i in range(versions))], capture_output=True, text=True).stdout
        if not out.strip():
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - t0
    print_list(f"list while {versions} plain sbatch jobs churn through Slurm (control, "
               f"{elapsed:.0f}s)", probe.stop())
    probe = Probe(binary, endpoint, QUERIES)
    t0 = time.monotonic()
    vs = [api.create(f"churn{tag}-{i}", "sleep 2") for i in range(versions)]
    for j, v in vs:
        api.wait(j, v, {10}, timeout=1800, every=0.5)
    elapsed = time.monotonic() - t0
    print_list(f"list while {versions} versions churn through Slurm ({elapsed:.0f}s)",
               probe.stop())
    for j, _ in vs:
        api.req("DELETE", f"/training-jobs/{j}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--bin", required=True, help="the trainyard binary (its `bench probe`)")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--calls", required=True)
    ap.add_argument("--interval-ms", type=int, default=1000)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--versions", type=int, default=1000)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--only", default="latency,poll,list")
    a = ap.parse_args()
    tag = str(int(time.time()))[-6:]
    api = Api(a.endpoint)
    only = a.only.split(",")
    with open("/proc/loadavg") as f:
        print(f"load average at start: {f.read().strip()}")
    if "latency" in only:
        bench_latency(api, a.n, tag)
    if "poll" in only:
        bench_poll(api, a.pid, a.calls, a.interval_ms, a.versions, a.window, tag)
    if "list" in only:
        bench_list(a.bin, a.endpoint, api, a.versions, tag)
    with open("/proc/loadavg") as f:
        print(f"load average at the end: {f.read().strip()}")


if __name__ == "__main__":
    main()
