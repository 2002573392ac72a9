"""Fixtures of the Python SDK tests: a real trainyard server with authentication.

The server is started by the caller (``.ci/python.sh``) and found through the environment:

- ``TRAINYARD_TEST_ENDPOINT``: its URL, e.g. ``http://127.0.0.1:18791``;
- ``TRAINYARD_TEST_DATA_DIR``: its data directory (``credentials.json`` of project ``default``);
- ``TRAINYARD_BIN``: the ``trainyard`` binary (the token-renewal test starts a second server);
- ``TRAINYARD_TEST_FRESH_PYTHON``: the Python of a fresh virtual environment where only the
  README's install command ran (the seed snippet runs there);
- ``TRAINYARD_TEST_WORK_DIR``: a directory workers may read and write (outputs of the digits run).

With ``TRAINYARD_REQUIRE_PYTHON_SDK=1`` (CI) a missing piece fails the tests instead of skipping
them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import trainyard

from dataset import HistoryDataset
from rest import Rest

REPO = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("TRAINYARD_REQUIRE_PYTHON_SDK") == "1"


def need(var: str) -> str:
    """The value of an environment variable the tests need: skip without it, or fail in CI."""
    value = os.environ.get(var)
    if not value:
        msg = f"{var} is not set (see python/tests/conftest.py)"
        if REQUIRED:
            pytest.fail(msg + " and TRAINYARD_REQUIRE_PYTHON_SDK=1", pytrace=False)
        pytest.skip(msg)
    return value


@pytest.fixture(scope="session")
def server() -> Dict[str, Any]:
    """The server's endpoint, data directory and default project's credentials."""
    endpoint = need("TRAINYARD_TEST_ENDPOINT").rstrip("/")
    data_dir = Path(need("TRAINYARD_TEST_DATA_DIR"))
    creds = json.loads((data_dir / "credentials.json").read_text())
    return {"endpoint": endpoint, "data_dir": data_dir, "creds": creds}


@pytest.fixture(scope="session")
def creds(server: Dict[str, Any]) -> Dict[str, Any]:
    return server["creds"]


@pytest.fixture(scope="session")
def rest(server: Dict[str, Any]) -> Rest:
    c = server["creds"]
    return Rest(server["endpoint"], c["project_id"], c["username"], c["password"], c["domain"])


@pytest.fixture(scope="session")
def client(server: Dict[str, Any]) -> trainyard.Client:
    """An AK/SK client for the default project."""
    c = server["creds"]
    return trainyard.Client(
        server["endpoint"], c["project_id"], access_key=c["access_key"], secret_key=c["secret_key"]
    )


@pytest.fixture(scope="session")
def token_client(server: Dict[str, Any]) -> trainyard.Client:
    """A password (token) client for the default project."""
    c = server["creds"]
    return trainyard.Client(
        server["endpoint"], c["project_id"], username=c["username"], password=c["password"], domain=c["domain"]
    )


@pytest.fixture(scope="session")
def history(rest: Rest) -> HistoryDataset:
    """2,600 finished jobs imported through plain REST into a workspace of this run's own
    (``hist-<pid>``, so that a rerun against the same server starts clean)."""
    ds = HistoryDataset(workspace_id=f"hist-{os.getpid()}", count=2600, seed=11)
    resp = rest.import_ndjson(ds.records)
    assert resp["imported"] == ds.count
    ds.first_job_id = resp["first_job_id"]
    return ds


@pytest.fixture(scope="session")
def bin_path() -> str:
    return need("TRAINYARD_BIN")


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    """A directory workers can read and write (mode 0777: workers may run as another user)."""
    base = os.environ.get("TRAINYARD_TEST_WORK_DIR") or tempfile.gettempdir()
    d = Path(tempfile.mkdtemp(prefix="ty-pytest-", dir=base))
    d.chmod(0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A trainyard server of the test's own, in a temporary data directory, stopped by PID."""

    def __init__(self, binary: str, env: Dict[str, str]):
        self.data_dir = Path(tempfile.mkdtemp(prefix="ty-pytest-server-"))
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = self.data_dir / "server.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
        creds = self.data_dir / "credentials.json"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if creds.exists() and creds.stat().st_size > 0:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        break
                except OSError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("server did not start within 60 s")
        self.creds = json.loads(creds.read_text())

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def short_token_server(bin_path: str) -> Iterator[ServerProcess]:
    """A server whose tokens live 4 seconds, logging every request (tower_http at debug)."""
    s = ServerProcess(bin_path, {"TRAINYARD_TOKEN_TTL_SECS": "4", "TRAINYARD_LOG": "info,tower_http=debug"})
    try:
        yield s
    finally:
        s.stop()
