"""What an experiment's artifacts list holds: saved models, as a server describes them.

Submarine 0.8.0 answers ``GET /api/v1/experiment/artifacts/{id}`` with the URIs of the
top-level entries (``s3://submarine/experiment/<id>/1/``); the local server writes
``submarine-local://experiment/<id>/1/`` and describes each saved model beside them.
"""

from __future__ import annotations

from typing import Any

from submarine.models._base import PayloadModel

__all__ = ["Artifact", "ServiceInfo", "artifact_path"]


def artifact_path(uri: str, experiment_id: str) -> str:
    """The path of a listed URI inside the experiment's artifacts (``1/``); the URI itself
    when it does not name the experiment.

    >>> artifact_path("s3://submarine/experiment/experiment-1-0001/2/", "experiment-1-0001")
    '2/'
    """
    marker = f"experiment/{experiment_id}/"
    at = uri.find(marker)
    return uri[at + len(marker) :] if at >= 0 else uri


class Artifact(PayloadModel):
    """A top-level entry of an experiment's artifacts: a saved model's folder (``1/``,
    ``2/``, ...) or a file.

    >>> Artifact.model_validate({"uri": "s3://submarine/experiment/e/1/", "path": "1/"}).is_folder
    True
    """

    uri: str
    """As the server lists it, like ``submarine-local://experiment/<id>/1/``."""
    path: str
    """Its path in the experiment's artifacts, like ``1/`` (what ``download_artifact`` takes)."""
    model_id: str | None = None
    """The saved model's id (its ``description.json``), when the server says."""
    model_type: str | None = None
    """``tensorflow`` or ``pytorch``, when the server says."""
    input: list[dict[str, Any]] | None = None
    """The model's input shapes, as ``[{"dims": [...]}]``, when saved with them."""
    output: list[dict[str, Any]] | None = None
    """The model's output shapes, as ``[{"dims": [...]}]``, when saved with them."""
    registered_model_name: str | None = None
    """The name it was saved under (``registered_model_name``), if any."""
    registered_model_version: int | None = None
    """Its version of that name."""

    @property
    def is_folder(self) -> bool:
        """Whether it is a folder (downloaded as a folder)."""
        return self.path.endswith("/")


class ServiceInfo(PayloadModel):
    """Whether a server offers TensorBoard (or MLflow), and where: the answer of
    ``GET /api/v1/experiment/tensorboard`` and ``/mlflow``.

    >>> ServiceInfo.model_validate({"available": True, "url": "/tensorboard/"}).url
    '/tensorboard/'
    """

    available: bool | None = None
    """True when the service can be used now."""
    url: str | None = None
    """Where it is, relative to the server's origin (``/tensorboard/``)."""
