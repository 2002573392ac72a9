"""GET /metrics of a real server, parsed by the Prometheus project's own text-format parser
(prometheus_client.parser), against values computed from what this script did to a fresh server.

Usage: python3 tests/ops/metrics_check.py TRAINYARD_BIN
Starts `TRAINYARD_BIN serve` with authentication on a free port in a temporary directory, stops it
by PID at the end. Prints PASS/FAIL per check and `N passed, M failed`; exit 1 on any failure.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients"))
from common import Results, expect  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="trainyard-metrics-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir",
             os.path.join(self.dir, "data"), "--stop-grace-secs", "1"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.dir)
        creds = os.path.join(self.dir, "data", "credentials.json")
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(creds) and os.path.getsize(creds) > 0 and self.status("/readyz") == 200:
                break
            time.sleep(0.1)
        with open(creds, encoding="utf-8") as f:
            self.creds = json.load(f)
        self.project = self.creds["project_id"]
        self.token = None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def request(self, method, path, body=None, headers=None, content_type="application/json"):
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()
        except OSError:
            return 0, {}, b""

    def status(self, path, headers=None):
        return self.request("GET", path, headers=headers)[0]

    def login(self):
        c = self.creds
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": c["username"], "password": c["password"], "domain": {"name": c["domain"]}}}},
            "scope": {"project": {"id": self.project}}}}
        st, h, _ = self.request("POST", "/v3/auth/tokens", body)
        expect(st == 201, f"login: {st}")
        self.token = {k.lower(): v for k, v in h.items()}["x-subject-token"]

    def api(self, method, path, body=None, content_type="application/json"):
        st, _, raw = self.request(method, f"/v1/{self.project}{path}" if not path.startswith("/trainyard")
                                  else path, body, {"X-Auth-Token": self.token}, content_type)
        return st, json.loads(raw) if raw else None

    def scrape(self):
        st, h, raw = self.request("GET", "/metrics")
        expect(st == 200, f"/metrics: {st}")
        ct = {k.lower(): v for k, v in h.items()}["content-type"]
        expect(ct.startswith("text/plain; version=0.0.4"), ct)
        samples = {}
        for fam in text_string_to_metric_families(raw.decode()):
            for s in fam.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def main():
    binary = os.path.abspath(sys.argv[1])
    res = Results()
    srv = Server(binary)
    try:
        jobs_route = "/v1/{project_id}/training-jobs"
        for _ in range(3):
            srv.status("/healthz")
        for _ in range(2):
            srv.status(f"/v1/{srv.project}/training-jobs")          # no credentials: 401
        srv.status(f"/v1/{srv.project}/training-jobs", {"X-Auth-Token": "not-a-token"})  # 401
        srv.status("/no/such/path")                                 # 404, no route
        srv.login()
        st, _ = srv.api("GET", "/training-jobs?per_page=5")
        expect(st == 200, st)
        records = "".join(json.dumps({"job_name": f"hist-{i}", "status": s, "create_time": 1000 + i}) + "\n"
                          for i, s in enumerate([10, 10, 11, 12, 10]))
        st, body = srv.api("POST", f"/trainyard/v1/{srv.project}/job-history", records.encode(),
                           "application/x-ndjson")
        expect(st == 200 and body["imported"] == 5, f"import: {st} {body}")
        st, created = srv.api("POST", "/training-jobs", {"job_name": "sleeper", "config": {
            "worker_server_num": 1, "spec_id": 1, "user_command": "sleep 60"}})
        expect(st == 200, f"create: {st} {created}")
        job, ver = created["job_id"], created["version_id"]
        deadline = time.time() + 30
        while srv.api("GET", f"/training-jobs/{job}/versions/{ver}")[1]["status"] != 8:
            expect(time.time() < deadline, "the job did not start")
            time.sleep(0.1)

        m = srv.scrape()
        res.check("requests by route template and status", lambda: (
            expect(value(m, "trainyard_http_requests_total", method="GET", route="/healthz", status="200") == 3,
                   value(m, "trainyard_http_requests_total", method="GET", route="/healthz", status="200")),
            expect(value(m, "trainyard_http_requests_total", method="GET", route=jobs_route, status="401") == 3,
                   value(m, "trainyard_http_requests_total", method="GET", route=jobs_route, status="401")),
            expect(value(m, "trainyard_http_requests_total", method="GET", route=jobs_route, status="200") == 1, m),
            expect(value(m, "trainyard_http_requests_total", method="GET", route="unmatched", status="404") == 1, m),
            expect(value(m, "trainyard_http_requests_total", method="POST", route="/v3/auth/tokens", status="201") == 1, m)))
        res.check("latency histogram by route template and status", lambda: (
            expect(value(m, "trainyard_http_request_duration_seconds_count", method="GET", route="/healthz",
                         status="200") == 3, "count"),
            expect(value(m, "trainyard_http_request_duration_seconds_bucket", method="GET", route="/healthz",
                         status="200", le="+Inf") == 3, "+Inf bucket")))
        res.check("failed authentications by kind", lambda: (
            expect(value(m, "trainyard_auth_failures_total", kind="no_credentials") == 2, "no_credentials"),
            expect(value(m, "trainyard_auth_failures_total", kind="token_invalid") == 1, "token_invalid")))
        res.check("import records", lambda: expect(value(m, "trainyard_import_records_total") == 5,
                                                   value(m, "trainyard_import_records_total")))
        res.check("list index size", lambda: expect(value(m, "trainyard_list_index_jobs") == 6,
                                                    value(m, "trainyard_list_index_jobs")))
        res.check("jobs by status", lambda: (
            expect(value(m, "trainyard_jobs", status="JOBSTAT_COMPLETED") == 3, "completed"),
            expect(value(m, "trainyard_jobs", status="JOBSTAT_FAILED") == 1, "failed"),
            expect(value(m, "trainyard_jobs", status="JOBSTAT_KILLED") == 1, "killed"),
            expect(value(m, "trainyard_jobs", status="JOBSTAT_RUNNING") == 1, "running"),
            expect(sum(v for (n, _), v in m.items() if n == "trainyard_jobs") == 6, "sum")))
        res.check("running versions per project, queue depth", lambda: (
            expect(value(m, "trainyard_versions_running", project=srv.project) == 1, "running"),
            expect(sum(v for (n, _), v in m.items() if n == "trainyard_versions_queued") == 0, "queued")))
        res.check("executor poll duration", lambda: expect(
            value(m, "trainyard_executor_poll_duration_seconds_count", executor="local") >= 1, "count"))
        res.check("process metrics", lambda: (
            expect(value(m, "process_resident_memory_bytes") > 1_000_000, "rss"),
            expect(value(m, "process_start_time_seconds") > 1.6e9, "start time"),
            expect(value(m, "process_open_fds") > 3, "fds")))

        st, _ = srv.api("POST", f"/training-jobs/{job}/versions/{ver}/stop")
        expect(st == 200, st)
        deadline = time.time() + 30
        while srv.api("GET", f"/training-jobs/{job}/versions/{ver}")[1]["status"] not in (12, 13):
            expect(time.time() < deadline, "the job did not stop")
            time.sleep(0.1)
        time.sleep(0.3)
        m2 = srv.scrape()
        res.check("a project with nothing running goes back to 0", lambda: (
            expect(value(m2, "trainyard_versions_running", project=srv.project) == 0,
                   value(m2, "trainyard_versions_running", project=srv.project)),
            expect(value(m2, "trainyard_jobs", status="JOBSTAT_RUNNING") == 0, "running"),
            expect(value(m2, "trainyard_jobs", status="JOBSTAT_KILLED") == 2, "killed")))

        # a second version of the stopped job, run to COMPLETED: the job now shows COMPLETED,
        # and its KILLED V0001 still counts among the versions
        st, v2 = srv.api("POST", f"/training-jobs/{job}/versions", {"config": {
            "pre_version_id": ver, "user_command": "exit 0"}})
        expect(st == 200, f"new version: {st} {v2}")
        deadline = time.time() + 30
        while srv.api("GET", f"/training-jobs/{job}/versions/{v2['version_id']}")[1]["status"] != 10:
            expect(time.time() < deadline, "the second version did not complete")
            time.sleep(0.1)
        m3 = srv.scrape()
        # versions: 5 imported (3 COMPLETED, 1 FAILED, 1 KILLED), sleeper V0001 KILLED, V0002 COMPLETED
        res.check("every version by status (not only the latest)", lambda: (
            expect(value(m3, "trainyard_versions", status="JOBSTAT_COMPLETED") == 4, "completed"),
            expect(value(m3, "trainyard_versions", status="JOBSTAT_FAILED") == 1, "failed"),
            expect(value(m3, "trainyard_versions", status="JOBSTAT_KILLED") == 2, "killed"),
            expect(value(m3, "trainyard_versions", status="JOBSTAT_RUNNING") == 0, "running"),
            expect(sum(v for (n, _), v in m3.items() if n == "trainyard_versions") == 7, "sum"),
            expect(value(m3, "trainyard_jobs", status="JOBSTAT_KILLED") == 1, "jobs killed"),
            expect(sum(v for (n, _), v in m3.items() if n == "trainyard_jobs") == 6, "jobs sum")))
    finally:
        srv.stop()
    res.finish()


if __name__ == "__main__":
    main()
