"""What the Python benchmark scripts share (bench/executor.py, bench/slurm.py): a client of a
`trainyard serve --insecure-no-auth` server, percentiles, and the list-latency probe
(`trainyard bench probe`, a Rust client in its own process)."""

import http.client
import json
import subprocess
import time
import urllib.parse

PROJECT = "0123456789abcdef0123456789abcdef"


class Api:
    """One keep-alive connection to the server's v1 API for PROJECT (retried on a dropped
    connection, at most 3 times per request)."""

    def __init__(self, endpoint):
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def req(self, method, path, body=None, query=None):
        """(HTTP status, decoded JSON body) of METHOD /v1/PROJECT{path}?{query}."""
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
        """Creates a one-worker job running CMD; returns (job_id, version_id)."""
        st, b = self.req("POST", "/training-jobs", {"job_name": name, "config": {
            "worker_server_num": 1, "spec_id": 1, "user_command": cmd}})
        assert st == 200, b
        return b["job_id"], b["version_id"]

    def detail(self, j, v):
        """The version's detail body."""
        st, b = self.req("GET", f"/training-jobs/{j}/versions/{v}")
        assert st == 200, b
        return b

    def status(self, j, v):
        """The version's status code."""
        return self.detail(j, v)["status"]

    def wait(self, j, v, want, timeout=600, every=0.05):
        """Polls the version every EVERY s until its status is in WANT (a set of codes);
        returns its detail. Fails after TIMEOUT s."""
        deadline = time.monotonic() + timeout
        while True:
            d = self.detail(j, v)
            if d["status"] in want:
                return d
            assert time.monotonic() < deadline, (j, v, d["status"])
            time.sleep(every)


def pct(xs, p):
    """The P-th percentile of XS (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


class Probe:
    """`trainyard bench probe` measuring the list in its own process until stop() (it reads
    its stdin to EOF). A Python thread beside a script's own load would wait for the GIL (up
    to its 5 ms switch interval) and charge that wait to the server's p99."""

    def __init__(self, binary, endpoint, queries):
        args = [binary, "bench", "probe", "--endpoint", endpoint]
        for q in queries:
            args += ["--query", urllib.parse.urlencode(q)]
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def stop(self):
        """Closes the probe's stdin; returns {query: (n, median_ms, p99_ms, max_ms)}."""
        out, _ = self.p.communicate()
        assert self.p.returncode == 0, out
        res = {}
        for line in out.splitlines():
            r = json.loads(line)
            assert r["errors"] == 0, r
            res[r["query"]] = (r["n"], r["median_ms"], r["p99_ms"], r["max_ms"])
        return res


def print_list(label, res):
    """One line per query of a Probe.stop() result."""
    for q, (n, med, p99, mx) in res.items():
        print(f"{label}, {q}: N={n} median={med:.3f} ms p99={p99:.3f} ms max={mx:.3f} ms")
