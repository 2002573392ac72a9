"""A deterministic job history to import, and the job list's semantics (``list.md``) evaluated
in plain Python over it: the expected answers of the filter, sort, search and paging tests,
computed without the server or the SDK."""

from __future__ import annotations

import random
import unicodedata
from typing import Any, Dict, Iterable, List, Optional

TERMINAL = [3, 5, 6, 10, 11, 12, 13, 14, 16, 17, 20, 21, 22]
PREFIXES = ["job", "Job", "JOB-train", "resnet", "bert_job", "eval", "Ärger-run", "训练-job", "x_y"]
DESCS = ["", "lr sweep", "baseline", "Baseline", "ablation b", "zz"]
ENGINES = [0, 6, 10, 13, 14]
BASE_MS = 1_700_000_000_000


class HistoryDataset:
    """``count`` finished jobs in ``workspace_id``, with repeated descriptions, create times and
    durations (so ties are broken by job id), mixed-case and non-ASCII names, and every terminal
    status."""

    def __init__(self, workspace_id: str, count: int, seed: int):
        self.workspace_id = workspace_id
        self.count = count
        self.first_job_id: int = 0
        rnd = random.Random(seed)
        self.records: List[Dict[str, Any]] = []
        for i in range(count):
            name = f"{PREFIXES[i % len(PREFIXES)]}-{i:05d}-{rnd.randrange(1000):03d}"
            create = BASE_MS + (i // 3) * 60_000  # three jobs per create_time
            rec: Dict[str, Any] = {
                "job_name": name,
                "job_desc": DESCS[rnd.randrange(len(DESCS))],
                "workspace_id": workspace_id,
                "status": TERMINAL[rnd.randrange(len(TERMINAL))],
                "create_time": create,
                "engine_type": ENGINES[rnd.randrange(len(ENGINES))],
            }
            if i % 7:  # every 7th never started: duration 0
                start = create + rnd.randrange(5) * 1000
                rec["start_time"] = start
                rec["end_time"] = start + rnd.choice([0, 1000, 60_000, 3_600_000, rnd.randrange(10**7)])
            self.records.append(rec)

    def rows(self) -> List[Dict[str, Any]]:
        """The list rows the server should show (all fields but ``version_id``)."""
        out = []
        for i, r in enumerate(self.records):
            start, end = r.get("start_time"), r.get("end_time")
            out.append(
                {
                    "job_id": self.first_job_id + i,
                    "job_name": unicodedata.normalize("NFC", r["job_name"]),
                    "status": r["status"],
                    "create_time": r["create_time"],
                    "duration": (end - start) if start is not None and end is not None else 0,
                    "job_desc": r["job_desc"],
                    "version_count": 1,
                    "engine_type": r["engine_type"],
                }
            )
        return out

    def query(
        self,
        status: Optional[Iterable[int]] = None,
        sort_by: str = "job_name",
        order: str = "asc",
        search_content: str = "",
        per_page: Optional[int] = None,
        page: int = 1,
    ) -> Dict[str, Any]:
        """``list.md`` over the dataset: filter by status and by a case-insensitive literal
        substring of the name, sort by the key then job id in the same direction, page."""
        rows = self.rows()
        if status is not None:
            wanted = set(status)
            rows = [r for r in rows if r["status"] in wanted]
        if search_content:
            needle = unicodedata.normalize("NFC", search_content).lower()
            rows = [r for r in rows if needle in r["job_name"].lower()]
        rows.sort(key=lambda r: (r[sort_by], r["job_id"]), reverse=(order == "desc"))
        total = len(rows)
        if per_page is not None:
            rows = rows[(page - 1) * per_page: page * per_page]
        return {"job_total_count": total, "jobs": rows}


def without_version_id(rows: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "version_id"} for r in rows]
