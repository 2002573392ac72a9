"""trainyard: the Python SDK of trainyard, a self-hosted training-job service that speaks the
Huawei ModelArts v1 training-job REST API.

Built on the Rust SDK (``trainyard-client``): signing (SDK-HMAC-SHA256), token login and
renewal, paging, retries and errors are one implementation, shared with the ``trainyard`` CLI.
Calls release the GIL while they wait on the network.

Quick start (a local ``trainyard serve`` writes ``./trainyard-data/credentials.json``, which
``Client()`` reads)::

    import trainyard
    client = trainyard.Client()
    page = client.list_jobs(status=trainyard.JobStatus.JOBSTAT_RUNNING, search_content="job")
    for job in page.jobs:
        print(job.job_id, job.job_name, job.status.name, job.duration)
    for job in client.iter_jobs(order="asc"):       # every page
        ...

Contents: ``Client``; results ``Job``, ``JobPage``, ``Version``, ``VersionList``,
``CreatedVersion``, ``LogPage``, ``Spec``, ``Engine``, ``ImportResult`` (attributes named as
the REST API's fields, ``to_dict()``); ``JobStatus``; the exceptions in ``trainyard.errors``.
The ModelArts-compatible ``modelarts.session`` / ``modelarts.estimator`` modules are a separate
distribution (``pip install ./python/modelarts``).
"""

from ._native import (
    DEFAULT_ENDPOINT,
    DEFAULT_PROJECT_ID,
    CreatedVersion,
    Engine,
    ImportResult,
    Job,
    JobPage,
    LogPage,
    Spec,
    Version,
    VersionList,
    __version__,
)
from .client import Client
from .errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    ConnectionError,
    DecodeError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TrainyardError,
    WaitTimeoutError,
)
from .status import JobStatus

__all__ = [
    "Client",
    "Job",
    "JobPage",
    "Version",
    "VersionList",
    "CreatedVersion",
    "LogPage",
    "Spec",
    "Engine",
    "ImportResult",
    "JobStatus",
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
    "DEFAULT_ENDPOINT",
    "DEFAULT_PROJECT_ID",
    "__version__",
]
