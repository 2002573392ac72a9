"""The exceptions of ``trainyard``: one hierarchy, each carrying the server's error envelope.

::

    TrainyardError
    ├── InvalidArgumentError (also ValueError)   refused before sending, server's code and message
    ├── ApiError                                 the server answered with an error envelope
    │   ├── BadRequestError                      400 (other than the above), 405, 413
    │   ├── AuthenticationError                  401, or no token could be had
    │   ├── PermissionDeniedError                403 ModelArts.0210
    │   ├── NotFoundError                        404 ModelArts.2775 / 2836
    │   ├── ConflictError                        409 ModelArts.2796
    │   ├── RateLimitError                       429 ModelArts.2799
    │   └── ServerError                          5xx
    ├── ConnectionError (also builtins.ConnectionError)  the server could not be reached
    ├── DecodeError                              a 2xx answer that is not the documented JSON
    ├── ConfigError                              environment / credentials file unusable
    └── WaitTimeoutError (also TimeoutError)     Client.wait gave up

Every one has ``error_code`` (e.g. ``"ModelArts.0101"``, or None), ``error_msg`` (the message
without the code), ``http_status`` (or None when nothing was answered) and ``request_id`` (the
``X-Request-Id`` of the answer, to quote to the server's operator). ``to_dict()`` gives the
ModelArts failure shape ``{"is_success": False, "error_code": ..., "error_msg": ...}``.
"""

from __future__ import annotations

import builtins
from typing import Any, Dict, Optional

__all__ = [
    "TrainyardError",
    "InvalidArgumentError",
    "ApiError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "ConnectionError",
    "DecodeError",
    "ConfigError",
    "WaitTimeoutError",
]


class TrainyardError(Exception):
    """Base class of every error raised by ``trainyard``."""

    error_code: Optional[str]
    error_msg: str
    http_status: Optional[int]
    request_id: Optional[str]

    def __init__(
        self,
        message: str,
        *,
        error_code: Optional[str] = None,
        error_msg: Optional[str] = None,
        http_status: Optional[int] = None,
        request_id: Optional[str] = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.error_msg = message if error_msg is None else error_msg
        self.http_status = http_status
        self.request_id = request_id
        self._extra = extra
        for k, v in extra.items():
            setattr(self, k, v)

    def to_dict(self) -> Dict[str, Any]:
        """The ModelArts SDK's failure shape: ``is_success`` False, ``error_code``, ``error_msg``."""
        return {"is_success": False, "error_code": self.error_code, "error_msg": self.error_msg}

    def __reduce__(self):  # keeps the attributes through pickle (multiprocessing)
        kwargs = dict(
            error_code=self.error_code,
            error_msg=self.error_msg,
            http_status=self.http_status,
            request_id=self.request_id,
            **self._extra,
        )
        return (_rebuild, (type(self), self.args[0] if self.args else "", kwargs))


def _rebuild(cls, message, kwargs):
    return cls(message, **kwargs)


class InvalidArgumentError(TrainyardError, ValueError):
    """An argument the server would refuse, refused before anything was sent, with the
    server's own code (``ModelArts.0101``, or ``ModelArts.2790`` for a sort key) and message."""


class ApiError(TrainyardError):
    """The server answered with an error (``http_status`` and its envelope)."""


class BadRequestError(ApiError):
    """400 (and other 4xx without a class of their own): a parameter or field the server refused."""


class AuthenticationError(ApiError):
    """401: missing, wrong or expired credentials, or a refused password login (``IAM.0004``)."""


class PermissionDeniedError(ApiError):
    """403 ``ModelArts.0210``: the credentials belong to another project."""


class NotFoundError(ApiError):
    """404: the job, version or config does not exist in this project (``ModelArts.2775``)."""


class ConflictError(ApiError):
    """409 ``ModelArts.2796``: the version's status does not allow the operation (e.g. a stop)."""


class RateLimitError(ApiError):
    """429 ``ModelArts.2799``: too many requests (after the client's retries)."""


class ServerError(ApiError):
    """5xx: the server failed (after the client's retries for idempotent calls)."""


class ConnectionError(TrainyardError, builtins.ConnectionError):
    """The server could not be reached (refused, unresolvable, timed out). The message and
    ``endpoint`` name the server URL that was tried."""

    endpoint: str


class DecodeError(TrainyardError):
    """A success answer whose body is not what the API documents."""


class ConfigError(TrainyardError):
    """The environment or the credentials file cannot be used (a named file missing, bad JSON,
    half a key pair)."""


class WaitTimeoutError(TrainyardError, builtins.TimeoutError):
    """``Client.wait`` gave up before the version ended: ``job_id``, ``version_id``, the last
    ``status`` seen and ``waited`` (seconds)."""

    job_id: int
    version_id: int
    status: int
    waited: float
