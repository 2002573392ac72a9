"""A plain REST client (``requests`` + a Keystone token): the independent reference the tests
compare the package's answers with. It shares no code with ``trainyard``."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import requests

Params = Union[Dict[str, Any], Sequence[Tuple[str, Any]], None]


class Rest:
    """``GET``/``POST``/... against ``{endpoint}/v1/{project_id}/...`` with ``X-Auth-Token``."""

    def __init__(self, endpoint: str, project_id: str, username: str, password: str, domain: str):
        self.endpoint = endpoint.rstrip("/")
        self.project_id = project_id
        self._login = (username, password, domain)
        self._token: Optional[str] = None
        self.http = requests.Session()

    def token(self) -> str:
        if self._token is None:
            user, password, domain = self._login
            body = {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
                    },
                    "scope": {"project": {"id": self.project_id}},
                }
            }
            r = self.http.post(f"{self.endpoint}/v3/auth/tokens", json=body, timeout=30)
            assert r.status_code == 201, r.text
            self._token = r.headers["X-Subject-Token"]
        return self._token

    def request(self, method: str, path: str, params: Params = None, body: Any = None,
                data: Optional[bytes] = None, content_type: str = "application/json",
                prefix: str = "v1") -> Tuple[int, Any]:
        url = f"{self.endpoint}/{prefix}/{self.project_id}/{path.lstrip('/')}"
        headers = {"X-Auth-Token": self.token(), "Content-Type": content_type}
        if body is not None:
            data = json.dumps(body).encode()
        r = self.http.request(method, url, params=params, data=data, headers=headers, timeout=60)
        return r.status_code, r.json()

    def get(self, path: str, params: Params = None) -> Any:
        status, body = self.request("GET", path, params)
        assert status == 200, (status, body)
        return body

    def jobs(self, **params: Any) -> Dict[str, Any]:
        """``GET /training-jobs`` with the given query parameters (sent as given)."""
        return self.get("training-jobs", {k: v for k, v in params.items() if v is not None})

    def import_ndjson(self, records: Iterable[Dict[str, Any]]) -> Dict[str, Any]:
        data = "".join(json.dumps(r) + "\n" for r in records).encode()
        status, body = self.request("POST", "job-history", data=data,
                                    content_type="application/x-ndjson", prefix="trainyard/v1")
        assert status == 200, (status, body)
        return body


def durations_within(before: Dict[str, Any], got: Dict[str, Any], after: Dict[str, Any]) -> bool:
    """True when three list answers taken in this order are the same except for the live
    ``duration`` of running jobs, which must not decrease (before <= got <= after)."""

    def strip(resp: Dict[str, Any]) -> Dict[str, Any]:
        return {**resp, "jobs": [{k: v for k, v in j.items() if k != "duration"} for j in resp["jobs"]]}

    if not (strip(before) == strip(got) == strip(after)):
        return False
    for b, g, a in zip(before["jobs"], got["jobs"], after["jobs"]):
        if not b["duration"] <= g["duration"] <= a["duration"]:
            return False
    return True


def page_ids(resp: Dict[str, Any]) -> List[int]:
    return [j["job_id"] for j in resp["jobs"]]
