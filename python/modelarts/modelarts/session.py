"""``modelarts.session.Session``: where the trainyard server is and how to authenticate.

The forms of the ModelArts SDK (``spec/sdk.md``, "Session"):

=========================  ==================================================================
``Session()``              the Notebook form: server and credentials from the environment or
                           the credentials file, like ``trainyard.Client()`` (variables
                           ``TRAINYARD_ENDPOINT``, ``TRAINYARD_PROJECT_ID``,
                           ``TRAINYARD_ACCESS_KEY`` + ``TRAINYARD_SECRET_KEY`` or
                           ``TRAINYARD_USERNAME`` + ``TRAINYARD_PASSWORD``; the file
                           ``$TRAINYARD_CREDENTIALS_FILE``, ``$TRAINYARD_DATA_DIR/credentials.json``
                           or ``./trainyard-data/credentials.json``)
``Session(access_key=, secret_key=, project_id=, region_name=)``
                           AK/SK: every request signed (SDK-HMAC-SHA256)
``Session(account=, username=, password=, project_id=, region_name=)``
                           an IAM user's password: a token from ``/v3/auth/tokens`` (the domain
                           is ``account``), renewed before it expires
``Session(username=, password=, project_id=, region_name=)``
                           the account owner's password (domain = user name)
=========================  ==================================================================

``Session.set_endpoint(modelarts_endpoint=..., iam_endpoint=..., obs_endpoint=...,
region_name=...)``, called before ``Session(...)``, points sessions at a server (``http://``
allowed); without it, the endpoint comes from the environment or the credentials file, else
``http://127.0.0.1:8080``. trainyard serves the token endpoint itself, so ``iam_endpoint`` is
used only when ``modelarts_endpoint`` is not given; ``obs_endpoint`` is kept and unused (no
object storage). ``region_name`` is accepted and kept.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, Optional

import trainyard

__all__ = ["Session"]


class _class_or_instance_method:
    """A method that works on the class (affecting later sessions) and on an instance
    (affecting later sessions and reconnecting that one)."""

    def __init__(self, func: Any) -> None:
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Any, cls: Any) -> Any:
        return functools.partial(self.func, cls, obj)


class Session:
    """A ModelArts session on a trainyard server (see the module's docs for the forms).

    ``session.client`` is the underlying ``trainyard.Client``; ``project_id``,
    ``region_name`` and ``access_key`` are kept as given (or as found in the environment).
    """

    #: Set by ``Session.set_endpoint``: applies to sessions created afterwards.
    _endpoints: Dict[str, Optional[str]] = {}

    def __init__(
        self,
        access_key: Optional[str] = None,
        secret_key: Optional[str] = None,
        project_id: Optional[str] = None,
        region_name: Optional[str] = None,
        account: Optional[str] = None,
        username: Optional[str] = None,
        password: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        self._args = dict(
            access_key=access_key,
            secret_key=secret_key,
            project_id=project_id,
            account=account,
            username=username,
            password=password,
        )
        #: Arguments of the ModelArts SDK that trainyard does not use, kept as given.
        self.extra_args = kwargs
        self.region_name = region_name or self._endpoints.get("region_name")
        self.access_key = access_key
        self.client = self._connect()
        self.project_id = self.client.project_id

    def _connect(self) -> trainyard.Client:
        a = self._args
        endpoint = self._endpoints.get("modelarts_endpoint") or self._endpoints.get("iam_endpoint")
        if a["access_key"] is not None or a["secret_key"] is not None:
            return trainyard.Client(
                endpoint,
                a["project_id"],
                access_key=a["access_key"],
                secret_key=a["secret_key"],
            )
        if a["username"] is not None or a["password"] is not None:
            return trainyard.Client(
                endpoint,
                a["project_id"],
                username=a["username"],
                password=a["password"],
                domain=a["account"] or a["username"],
            )
        return trainyard.Client(endpoint, a["project_id"])

    @_class_or_instance_method
    def set_endpoint(
        cls,
        self: Optional["Session"],
        iam_endpoint: Optional[str] = None,
        obs_endpoint: Optional[str] = None,
        modelarts_endpoint: Optional[str] = None,
        region_name: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        """Points sessions at a server: ``modelarts_endpoint`` (or ``iam_endpoint`` when it is
        not given) is the trainyard URL, e.g. ``http://127.0.0.1:8080``. Called on the class
        before ``Session(...)`` (the documented use) it applies to the sessions created
        afterwards; called on a session it also reconnects that session."""
        cls._endpoints = dict(
            iam_endpoint=iam_endpoint,
            obs_endpoint=obs_endpoint,
            modelarts_endpoint=modelarts_endpoint,
            region_name=region_name,
        )
        if self is not None:
            if region_name is not None:
                self.region_name = region_name
            self.client = self._connect()
            self.project_id = self.client.project_id

    @property
    def endpoint(self) -> str:
        """The trainyard server URL this session talks to."""
        return self.client.endpoint

    @property
    def auth(self) -> str:
        """``"aksk"``, ``"account"`` (token from a password) or ``"none"``."""
        return {"aksk": "aksk", "token": "account"}.get(self.client.auth_method, "none")

    def __repr__(self) -> str:
        return (
            f"Session(endpoint={self.endpoint!r}, project_id={self.project_id!r}, "
            f"auth={self.auth!r}, region_name={self.region_name!r})"
        )
