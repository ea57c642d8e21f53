"""What 0.8.0's generated API classes share here: the client they are made with, and
reading 0.8.0's request bodies.

Each class of :mod:`submarine.client.api` that 0.8.0 generated from its OpenAPI document
(``ExperimentTemplateApi``, ``ExperimentTemplatesApi``, ``ExperimentApi``) is a thin
layer over the typed methods of :class:`~submarine.client.ExperimentClient`: it calls one
and wraps the typed answer in a :class:`~submarine.client._compat.JsonResponse`, as 0.8.0
wrapped its dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from submarine.client.api_client import ApiClient
from submarine.client.errors import TemplateValidationError
from submarine.models import ExperimentTemplateSubmit, problems_of

if TYPE_CHECKING:
    from submarine.client.sync import ExperimentClient

__all__ = ["GeneratedApi", "submission"]


class GeneratedApi:
    """The base of 0.8.0's generated API classes: made with an :class:`ApiClient`.

    :param api_client: the client to call through (0.8.0's ``ApiClient``, as
        ``get_api_client(host)`` makes it); by default one that finds the server as
        ``ExperimentClient()`` does.
    """

    def __init__(self, api_client: ApiClient | None = None) -> None:
        self.api_client = api_client if api_client is not None else ApiClient()
        """The client the calls go through."""

    @property
    def _client(self) -> ExperimentClient:
        return self.api_client.client


def submission(value: Any) -> ExperimentTemplateSubmit | None:
    """0.8.0's submit body as the typed model: an ``ExperimentTemplateSubmit``, a dict of
    its shape (``{"params": {...}}``), or None (every parameter's default)."""
    if value is None or isinstance(value, ExperimentTemplateSubmit):
        return value
    if isinstance(value, Mapping):
        try:
            return ExperimentTemplateSubmit.model_validate(value)
        except ValidationError as exc:
            raise TemplateValidationError(problems_of(exc), subject="template submission") from exc
    raise TypeError(
        "experiment_template_submit must be an ExperimentTemplateSubmit, like "
        "ExperimentTemplateSubmit(params={'learning_rate': '0.2'}), or a dict of that shape, "
        f"got {type(value).__name__}"
    )
