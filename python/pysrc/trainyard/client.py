"""``trainyard.Client``: the native client plus its generator methods."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Optional, Union

from . import _native
from .errors import InvalidArgumentError

__all__ = ["Client"]

StatusArg = Union[int, str, Iterable[Union[int, str]], None]


class Client(_native.Client):
    __doc__ = _native.Client.__doc__

    def iter_jobs(
        self,
        status: StatusArg = None,
        per_page: Optional[int] = None,
        page: Optional[int] = None,
        sort_by: Optional[str] = None,
        order: Optional[str] = None,
        search_content: Optional[str] = None,
        workspace_id: Optional[str] = None,
    ) -> Iterator["_native.Job"]:
        """Every job matching the filters, in the query's order, as a generator of ``Job``.

        Same arguments as ``list_jobs``; pages of 1000 rows (or ``per_page``) are fetched as the
        generator is consumed, starting at ``page`` (default 1). Each job is yielded once; jobs
        created or deleted during the walk may shift rows between pages (list.md "Semantics" 7).
        Invalid arguments raise ``InvalidArgumentError`` at the call, before anything is sent.
        Closing the generator (or leaving a ``for`` loop) stops fetching.
        """
        it = self._iter_jobs(status, per_page, page, sort_by, order, search_content, workspace_id)
        return _drain(it)

    def follow_log(
        self,
        job_id: int,
        version_id: int,
        log_file: Optional[str] = None,
        *,
        tail: int = 50,
        poll_interval: float = 0.5,
    ) -> Iterator[str]:
        """Follows a version's log like ``tail -f``, as a generator of text chunks.

        First the newest ``tail`` lines (0-500), then new lines as they are written (the server
        is polled every ``poll_interval`` seconds while nothing new comes); the generator ends
        once the version has ended and its last lines were yielded. Every chunk is whole lines,
        each ending with ``"\\n"``. ``log_file`` defaults to the first worker's log (from
        ``log_file_names``). Closing the generator stops following.
        """
        if log_file is None:
            names = self.log_file_names(job_id, version_id)
            if not names:
                raise InvalidArgumentError(
                    "ModelArts.0101: this version has no log file",
                    error_code="ModelArts.0101",
                    error_msg="this version has no log file",
                )
            log_file = names[0]
        it = self._follow_log(job_id, version_id, log_file, tail, poll_interval)
        return _drain(it)


def _drain(it: Any) -> Iterator[Any]:
    try:
        yield from it
    finally:
        it.close()
