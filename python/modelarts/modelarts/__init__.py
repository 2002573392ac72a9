"""ModelArts Python SDK compatibility modules for trainyard.

``modelarts.session.Session`` and ``modelarts.estimator.Estimator`` follow the documented
surface of the Huawei ModelArts Python SDK (trainyard's ``spec/sdk.md``, "Python SDK"), so code
written for it runs against a trainyard server unchanged::

    from modelarts.session import Session
    from modelarts.estimator import Estimator
    session = Session()
    resp = Estimator.get_job_list(modelarts_session=session, status=8, per_page=10, page=1,
                                  order="asc", search_content="job")

Everything is delegated to the ``trainyard`` package (its native client does the signing,
HTTP, paging and error handling); this package only maps names and return shapes. It is the
``trainyard-modelarts`` distribution: install it (``pip install ./python ./python/modelarts``
from a trainyard clone) only where no real ``modelarts`` package is wanted.
"""

try:
    import trainyard as _trainyard  # noqa: F401
except ImportError as e:  # pragma: no cover - an install problem, said plainly
    raise ImportError(
        "the trainyard `modelarts` compatibility modules need the `trainyard` package: "
        "install both from a trainyard clone with `pip install ./python ./python/modelarts`"
    ) from e

__version__ = "0.1.0"
__all__ = ["session", "estimator"]
