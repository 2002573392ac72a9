"""``modelarts.estimator``: ``Estimator`` (the training-job calls) and ``TrainingJob`` (what
``fit`` returns), with the ModelArts SDK's names and return shapes (``spec/sdk.md``,
"Estimator").

Return shapes: plain dicts exactly as the REST API answers (``is_success`` and the documented
fields), lists of dicts, or ``TrainingJob`` objects where the SDK documents objects. A failure
that carries a ModelArts error code (the server's envelope, or an argument refused before
sending with the server's own code and message) comes back as the SDK documents it::

    {"is_success": False, "error_code": "ModelArts.0101", "error_msg": "per_page must be ..."}

from the methods that return dicts; the methods that return objects (``fit``,
``create_job_version``, ``get_job_version_object_list``) raise the ``trainyard`` exception
instead (it has the same ``error_code`` / ``error_msg`` and ``to_dict()``). A server that cannot
be reached raises ``trainyard.ConnectionError`` naming the endpoint, from every method.

Estimator arguments map onto a job's ``config`` as the SDK documents: ``train_instance_count``
→ ``worker_server_num``, ``train_instance_type`` (a spec code such as ``local.cpu.2u``, or a
spec id) → ``spec_id``, ``code_dir`` → ``app_url``, ``boot_file`` → ``boot_file_url``,
``output_path`` → ``train_url``, ``hyperparameters`` (``[{"label", "value"}]``) →
``parameter``, ``log_url``, ``framework_type`` + ``framework_version`` (an engine's name and
version, see ``get_framework_list``) → ``engine_id``, ``job_description`` → ``job_desc``,
``user_command``, ``user_image_url``; ``fit(inputs=...)`` → ``data_url``.

``get_job_log(log_file, start_byte=0, offset=2048)`` reads trainyard's line-based ``aom-log``:
``start_byte`` is a cursor (``start_line`` / ``end_line`` of a previous answer; ``0``, ``-1``,
``""`` or None = the newest lines), ``offset`` a number of lines whose sign is the direction
(positive: the lines after the cursor; negative: the lines before it), at most 500 (so the
default 2048 reads 500 lines).
"""

from __future__ import annotations

import sys
import uuid
from typing import Any, Callable, Dict, List, Optional, Union

import trainyard
from trainyard import errors as _errors

from .session import Session

__all__ = ["Estimator", "TrainingJob"]

Result = Dict[str, Any]

#: How long ``fit(wait=True)`` and ``create_job_version(wait=True)`` wait at most (7 days).
WAIT_SECONDS = 7 * 24 * 3600.0


def _as_dict(call: Callable[[], Any]) -> Any:
    """Runs a call; a failure with a ModelArts error code becomes the SDK's failure dict."""
    try:
        return call()
    except (_errors.ApiError, _errors.InvalidArgumentError) as e:
        return e.to_dict()


def _ok() -> Result:
    return {"is_success": True}


def _client(session: Session) -> trainyard.Client:
    if not isinstance(session, Session):
        raise TypeError(
            f"modelarts_session must be a modelarts.session.Session, got {type(session).__name__}"
        )
    return session.client


def _missing(what: str) -> _errors.InvalidArgumentError:
    msg = f"{what} is required"
    return _errors.InvalidArgumentError(f"ModelArts.0101: {msg}", error_code="ModelArts.0101", error_msg=msg)


class Estimator:
    """A training job's configuration (for ``fit``) and the training-job calls of the
    ModelArts SDK. Existing jobs: ``Estimator(modelarts_session=s, job_id=..., version_id=...)``.
    """

    def __init__(
        self,
        modelarts_session: Session,
        train_instance_count: Optional[int] = None,
        train_instance_type: Union[str, int, None] = None,
        code_dir: Optional[str] = None,
        boot_file: Optional[str] = None,
        output_path: Optional[str] = None,
        hyperparameters: Optional[List[Dict[str, Any]]] = None,
        log_url: Optional[str] = None,
        framework_type: Optional[str] = None,
        framework_version: Optional[str] = None,
        job_description: Optional[str] = None,
        user_command: Optional[str] = None,
        user_image_url: Optional[str] = None,
        job_id: Optional[int] = None,
        version_id: Optional[int] = None,
        config_name: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        self.modelarts_session = modelarts_session
        self._client = _client(modelarts_session)
        self.train_instance_count = train_instance_count
        self.train_instance_type = train_instance_type
        self.code_dir = code_dir
        self.boot_file = boot_file
        self.output_path = output_path
        self.hyperparameters = hyperparameters
        self.log_url = log_url
        self.framework_type = framework_type
        self.framework_version = framework_version
        self.job_description = job_description
        self.user_command = user_command
        self.user_image_url = user_image_url
        self.job_id = job_id
        self.version_id = version_id
        self.config_name = config_name
        #: Further ``config`` fields passed through as given (``pool_id``, ``engine_id``, ...).
        self.extra_config = kwargs

    # ---- the estimator's config ------------------------------------------------------------

    def _spec_id(self) -> Optional[int]:
        t = self.train_instance_type
        if t is None:
            return None
        if isinstance(t, int) or (isinstance(t, str) and t.isdigit()):
            return int(t)
        specs = self._client.specs()
        for s in specs:
            if s.spec_code == t:
                return s.spec_id
        codes = ", ".join(s.spec_code for s in specs)
        msg = f"train_instance_type must be one of {codes}, got {t!r}"
        raise _errors.InvalidArgumentError(f"ModelArts.2781: {msg}", error_code="ModelArts.2781", error_msg=msg)

    def _engine_id(self) -> Optional[int]:
        if self.framework_type is None:
            return None
        engines = self._client.engines()
        for e in engines:
            if e.engine_name == self.framework_type and self.framework_version in (None, e.engine_version):
                return e.engine_id
        known = ", ".join(f"{e.engine_name} {e.engine_version}" for e in engines)
        msg = (
            f"framework_type/framework_version must name an engine ({known}), got "
            f"{self.framework_type!r} {self.framework_version!r}"
        )
        raise _errors.InvalidArgumentError(f"ModelArts.2780: {msg}", error_code="ModelArts.2780", error_msg=msg)

    def _config(self, inputs: Optional[str] = None) -> Dict[str, Any]:
        """The job ``config`` fields this estimator sets (absent ones are not sent)."""
        cfg: Dict[str, Any] = dict(self.extra_config)
        fields = {
            "worker_server_num": self.train_instance_count,
            "spec_id": self._spec_id(),
            "app_url": self.code_dir,
            "boot_file_url": self.boot_file,
            "train_url": self.output_path,
            "parameter": self.hyperparameters,
            "log_url": self.log_url,
            "engine_id": self._engine_id(),
            "user_command": self.user_command,
            "user_image_url": self.user_image_url,
            "data_url": inputs,
        }
        cfg.update({k: v for k, v in fields.items() if v is not None})
        return cfg

    def _ids(self) -> tuple:
        if self.job_id is None:
            raise _missing("job_id")
        if self.version_id is None:
            versions = self._client.list_versions(self.job_id, per_page=1, page=1)
            if not versions.versions:
                raise _missing("version_id")
            self.version_id = versions.versions[0].version_id
        return self.job_id, self.version_id

    def _training_job(self, job_id: int, version_id: int, job_name: Optional[str] = None) -> "TrainingJob":
        return TrainingJob(self, job_id=job_id, version_id=version_id, job_name=job_name)

    def _wait(self, job: "TrainingJob", logs: bool) -> None:
        if logs:
            try:
                for chunk in self._client.follow_log(job.job_id, job.version_id, tail=500):
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
            except _errors.ApiError:
                pass  # no log (e.g. the version failed to start): the wait below still ends it
        self._client.wait(job.job_id, job.version_id, timeout=WAIT_SECONDS)

    # ---- jobs and versions -----------------------------------------------------------------

    def fit(
        self,
        inputs: Optional[str] = None,
        wait: bool = False,
        logs: bool = True,
        job_name: Optional[str] = None,
        job_desc: Optional[str] = None,
        workspace_id: Optional[str] = None,
    ) -> "TrainingJob":
        """Creates a training job (``POST /training-jobs``) with this estimator's config and
        ``inputs`` as ``data_url``; a random name (``job-xxxxxxxx``) when ``job_name`` is None.
        With ``wait=True`` it returns when the version has ended (printing its log when
        ``logs``). Returns a ``TrainingJob``; raises the ``trainyard`` exception on failure."""
        name = job_name or f"job-{uuid.uuid4().hex[:8]}"
        desc = job_desc if job_desc is not None else (self.job_description or "")
        created = self._client.create_job(
            name, job_desc=desc, workspace_id=workspace_id, config=self._config(inputs)
        )
        job = self._training_job(created.job_id, created.version_id, created.job_name)
        if wait:
            self._wait(job, logs)
        return job

    @staticmethod
    def get_job_list(
        modelarts_session: Session,
        status: Any = None,
        per_page: Any = 10,
        page: Any = 1,
        sortBy: Optional[str] = None,  # noqa: N803 - the SDK's name (AK/SK form)
        order: Any = "desc",
        search_content: Optional[str] = None,
        sort_by: Optional[str] = None,
        workspace_id: Optional[str] = None,
    ) -> Result:
        """The job list (``GET /training-jobs``): ``{is_success, job_total_count,
        job_count_limit, quotas, jobs: [{job_id, job_name, version_id, status, create_time,
        duration, job_desc, version_count, engine_type}]}``, exactly the REST answer. ``order``
        defaults to ``"desc"`` (the SDK's default); ``sortBy`` and ``sort_by`` are the same
        parameter (both accepted; when both are given they must agree)."""
        client = _client(modelarts_session)
        return _as_dict(
            lambda: client.list_jobs_dict(
                status, per_page, page, sort_by, order, search_content, workspace_id, sortBy=sortBy
            )
        )

    def get_job_info(self) -> Result:
        """The version's details (``GET .../versions/{version_id}``; the latest version when
        the estimator has no ``version_id``): the REST answer, ``is_success`` and the version
        fields."""

        def call() -> Result:
            job_id, version_id = self._ids()
            return {"is_success": True, **self._client.get_version(job_id, version_id).to_dict()}

        return _as_dict(call)

    def update_job_description(self, description: str) -> Result:
        """Changes the job's description (``PUT /training-jobs/{job_id}``): ``{is_success}``."""

        def call() -> Result:
            if self.job_id is None:
                raise _missing("job_id")
            self._client.update_job_desc(self.job_id, description)
            return _ok()

        return _as_dict(call)

    def get_job_log_file_list(self) -> Result:
        """The version's log file names (``GET .../log/file-names``): ``{is_success,
        log_file_list}``."""

        def call() -> Result:
            job_id, version_id = self._ids()
            return {"is_success": True, "log_file_list": self._client.log_file_names(job_id, version_id)}

        return _as_dict(call)

    def get_job_log(
        self, log_file: Optional[str] = None, start_byte: Any = 0, offset: int = 2048
    ) -> Result:
        """A page of the version's log (``GET .../aom-log``): ``{is_success, content, lines,
        start_line, end_line}``. ``start_byte`` is a cursor from a previous answer (``0``,
        ``-1``, ``""`` or None: the newest lines); ``offset`` lines, positive = after the
        cursor, negative = before it, at most 500. ``log_file`` defaults to the first worker's."""

        def call() -> Result:
            job_id, version_id = self._ids()
            name = log_file
            if name is None:
                names = self._client.log_file_names(job_id, version_id)
                if not names:
                    raise _missing("log_file")
                name = names[0]
            if start_byte in (None, "", 0, -1, "0", "-1"):
                base = ""
            else:
                base = str(start_byte)
            if isinstance(offset, bool) or not isinstance(offset, int):
                msg = f"offset must be an integer, got {offset!r}"
                raise _errors.InvalidArgumentError(
                    f"ModelArts.0101: {msg}", error_code="ModelArts.0101", error_msg=msg
                )
            lines = min(abs(offset), 500)
            order = "asc" if offset < 0 else "desc"
            page = self._client.log_lines(job_id, version_id, name, base_line=base, lines=lines, order=order)
            return page.to_dict()

        return _as_dict(call)

    @staticmethod
    def delete_job_by_id(modelarts_session: Session, job_id: int) -> Result:
        """Deletes a job and all its versions (``DELETE /training-jobs/{job_id}``):
        ``{is_success}``."""
        client = _client(modelarts_session)

        def call() -> Result:
            client.delete_job(job_id)
            return _ok()

        return _as_dict(call)

    def delete_job(self) -> Result:
        """Deletes this estimator's job and all its versions: ``{is_success}``."""
        if self.job_id is None:
            return _missing("job_id").to_dict()
        return Estimator.delete_job_by_id(self.modelarts_session, self.job_id)

    def create_job_version(
        self,
        job_id: Optional[int] = None,
        pre_version_id: Optional[int] = None,
        inputs: Optional[str] = None,
        wait: bool = False,
        job_desc: Optional[str] = None,
        logs: bool = True,
    ) -> "TrainingJob":
        """Creates a new version of the job (``POST .../versions``) from ``pre_version_id``
        (default: this estimator's ``version_id``, else the latest), with this estimator's
        config fields as overrides (the rest is inherited) and ``inputs`` as ``data_url``.
        Returns a ``TrainingJob``; with ``wait=True`` when the version has ended."""
        jid = job_id if job_id is not None else self.job_id
        if jid is None:
            raise _missing("job_id")
        pre = pre_version_id
        if pre is None:
            pre = self.version_id
        if pre is None:
            versions = self._client.list_versions(jid, per_page=1, page=1).versions
            if not versions:
                raise _missing("pre_version_id")
            pre = versions[0].version_id
        created = self._client.create_version(
            jid, pre, version_desc=job_desc or "", config=self._config(inputs)
        )
        job = self._training_job(created.job_id, created.version_id, created.job_name)
        if wait:
            self._wait(job, logs)
        return job

    def get_job_version_object_list(self, is_show: bool = True) -> List["TrainingJob"]:
        """The job's versions (``GET .../versions``), newest first, as ``TrainingJob`` objects;
        ``is_show`` also prints them (version id, name, status)."""
        if self.job_id is None:
            raise _missing("job_id")
        versions = self._client.list_versions(self.job_id).versions
        if is_show:
            for v in versions:
                print(f"{v.version_id}\t{v.version_name}\t{v.status.name}")
        return [self._training_job(v.job_id, v.version_id, v.job_name) for v in versions]

    def get_job_version_info(self) -> Result:
        """The job's versions (``GET .../versions``): ``{is_success, job_id, job_name, job_desc,
        version_count, versions: [...]}``, exactly the REST answer."""

        def call() -> Result:
            if self.job_id is None:
                raise _missing("job_id")
            return self._client.list_versions(self.job_id).to_dict()

        return _as_dict(call)

    def stop_job_version(self) -> Result:
        """Stops the version (``POST .../versions/{version_id}/stop``): ``{is_success}``."""

        def call() -> Result:
            job_id, version_id = self._ids()
            self._client.stop_version(job_id, version_id)
            return _ok()

        return _as_dict(call)

    def delete_job_version(self) -> Result:
        """Deletes the version (``DELETE .../versions/{version_id}``): ``{is_success}``."""

        def call() -> Result:
            job_id, version_id = self._ids()
            self._client.delete_version(job_id, version_id)
            return _ok()

        return _as_dict(call)

    # ---- specs, engines, algorithms --------------------------------------------------------

    @staticmethod
    def get_train_instance_types(modelarts_session: Session) -> Any:
        """The resource specs (``GET /job/resource-specs``): a list of spec dicts
        (``spec_id``, ``spec_code``, ``core``, ``cpu``, ``gpu_num``, ``gpu_type``, ``max_num``,
        ``no_resource``)."""
        client = _client(modelarts_session)
        return _as_dict(lambda: [s.to_dict() for s in client.specs()])

    @staticmethod
    def get_framework_list(modelarts_session: Session) -> Any:
        """The engines (``GET /job/ai-engines``): a list of ``{framework_type,
        framework_version}`` (an engine's name and version, as ``Estimator`` takes them)."""
        client = _client(modelarts_session)
        return _as_dict(
            lambda: [
                {"framework_type": e.engine_name, "framework_version": e.engine_version}
                for e in client.engines()
            ]
        )

    @staticmethod
    def get_built_in_algorithms(modelarts_session: Session) -> List[Any]:
        """Built-in algorithms: trainyard has none, so an empty list."""
        _client(modelarts_session)
        return []

    # ---- training-job configs --------------------------------------------------------------

    def _config_body(self, config_name: str, config_desc: Optional[str], inputs: Optional[str]) -> Dict[str, Any]:
        body = self._config(inputs)
        body["config_name"] = config_name
        if config_desc is not None:
            body["config_desc"] = config_desc
        return body

    def create_job_configs(
        self, config_name: str, inputs: Optional[str] = None, config_desc: Optional[str] = None
    ) -> Result:
        """Saves this estimator's config under ``config_name`` (``POST
        /training-job-configs``): ``{is_success, config_name}``."""

        def call() -> Result:
            r = self._client.create_config(self._config_body(config_name, config_desc, inputs))
            self.config_name = config_name
            return r

        return _as_dict(call)

    @staticmethod
    def get_job_configs_list(
        modelarts_session: Session,
        per_page: Any = None,
        page: Any = None,
        sortBy: Optional[str] = None,  # noqa: N803 - the SDK's name
        order: Any = None,
        search_content: Optional[str] = None,
        sort_by: Optional[str] = None,
    ) -> Result:
        """The configs (``GET /training-job-configs``): ``{is_success, config_total_count,
        configs: [...]}``, exactly the REST answer."""
        client = _client(modelarts_session)
        return _as_dict(
            lambda: client.list_configs(per_page, page, sort_by, order, search_content, sortBy=sortBy)
        )

    def _name(self, config_name: Optional[str]) -> str:
        name = config_name if config_name is not None else self.config_name
        if name is None:
            raise _missing("config_name")
        return name

    def get_job_configs_info(self, config_name: Optional[str] = None) -> Result:
        """A config (``GET /training-job-configs/{config_name}``; default this estimator's
        ``config_name``): the REST answer."""
        return _as_dict(lambda: self._client.get_config(self._name(config_name)))

    def update_job_configs(
        self,
        config_name: Optional[str] = None,
        config_desc: Optional[str] = None,
        inputs: Optional[str] = None,
    ) -> Result:
        """Replaces a config with this estimator's config fields (``PUT
        /training-job-configs/{config_name}``): ``{is_success, config_name}``."""

        def call() -> Result:
            name = self._name(config_name)
            return self._client.update_config(name, self._config_body(name, config_desc, inputs))

        return _as_dict(call)

    def delete_job_configs(self, config_name: Optional[str] = None) -> Result:
        """Deletes a config (``DELETE /training-job-configs/{config_name}``): ``{is_success}``."""

        def call() -> Result:
            self._client.delete_config(self._name(config_name))
            return _ok()

        return _as_dict(call)


class TrainingJob(Estimator):
    """A job version, as ``fit`` and ``create_job_version`` return it: ``job_id``,
    ``version_id``, ``job_name``, and every ``Estimator`` call bound to that version
    (``get_job_info()``, ``get_job_log(...)``, ``stop_job_version()``, ``delete_job()``, ...)."""

    def __init__(
        self,
        estimator: Estimator,
        job_id: int,
        version_id: int,
        job_name: Optional[str] = None,
    ) -> None:
        self.__dict__.update(estimator.__dict__)
        self.job_id = job_id
        self.version_id = version_id
        self.job_name = job_name

    def __repr__(self) -> str:
        return f"TrainingJob(job_id={self.job_id}, version_id={self.version_id}, job_name={self.job_name!r})"
