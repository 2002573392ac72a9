"""Job statuses: ``JobStatus``, an ``IntEnum`` with the ``JOBSTAT_*`` names of ModelArts.

A status belongs to a version; a job shows its latest version's status (``statuses.md``).
Members compare equal to their integer codes, so ``job.status == 8`` and
``job.status == JobStatus.JOBSTAT_RUNNING`` are the same test.
"""

from __future__ import annotations

import enum
from typing import Union

from . import _native

__all__ = ["JobStatus"]


class JobStatus(enum.IntEnum):
    """The status of a training-job version, by its ModelArts code (0-22)."""

    JOBSTAT_UNKNOWN = 0
    JOBSTAT_INIT = 1
    JOBSTAT_IMAGE_CREATING = 2
    JOBSTAT_IMAGE_FAILED = 3
    JOBSTAT_SUBMIT_TRYING = 4
    JOBSTAT_SUBMIT_FAILED = 5
    JOBSTAT_DELETE_FAILED = 6
    JOBSTAT_WAITING = 7
    JOBSTAT_RUNNING = 8
    JOBSTAT_KILLING = 9
    JOBSTAT_COMPLETED = 10
    JOBSTAT_FAILED = 11
    JOBSTAT_KILLED = 12
    JOBSTAT_CANCELED = 13
    JOBSTAT_LOST = 14
    JOBSTAT_SCALING = 15
    JOBSTAT_SUBMIT_MODEL_FAILED = 16
    JOBSTAT_DEPLOY_SERVICE_FAILED = 17
    JOBSTAT_CHECK_INIT = 18
    JOBSTAT_CHECK_RUNNING = 19
    JOBSTAT_CHECK_RUNNING_COMPLETED = 20
    JOBSTAT_CHECK_FAILED = 21
    JOBSTAT_MOUNT_FAILED = 22

    @property
    def is_terminal(self) -> bool:
        """True when the status never changes again (COMPLETED, FAILED, KILLED, ...)."""
        return int(self) in _TERMINAL

    @property
    def short_name(self) -> str:
        """The name without the ``JOBSTAT_`` prefix, e.g. ``RUNNING``."""
        return self.name[len("JOBSTAT_"):]

    @classmethod
    def parse(cls, value: Union[int, str]) -> "JobStatus":
        """A status from its code (``8``, ``"8"``) or name (``"RUNNING"``,
        ``"JOBSTAT_RUNNING"``, any case). Raises ``ValueError`` for anything else."""
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return cls(int(text))
            upper = text.upper()
            name = upper if upper.startswith("JOBSTAT_") else "JOBSTAT_" + upper
            if name in cls.__members__:
                return cls.__members__[name]
        raise ValueError(f"not a job status: {value!r} (a code 0-22 or a JOBSTAT_* name)")


_TERMINAL = frozenset(_native.TERMINAL_STATUS_CODES)

# The names and codes are the Rust SDK's (trainyard_api::JobStatus): one source of truth.
if [m.name for m in JobStatus] != list(_native.STATUS_NAMES):  # pragma: no cover
    raise ImportError("trainyard.JobStatus does not match the native module's status table")
