"""0.8.0's ``ExperimentTemplateApi`` (create and get a template), over the typed
template methods of :class:`~submarine.client.ExperimentClient`."""

from __future__ import annotations

from submarine.client._compat import JsonResponse
from submarine.client._generated import GeneratedApi
from submarine.client._templates import TemplateInput
from submarine.models import ExperimentTemplate

__all__ = ["ExperimentTemplateApi"]


class ExperimentTemplateApi(GeneratedApi):
    """Create and get experiment templates, as 0.8.0's generated class does; each call
    answers a :class:`~submarine.client._compat.JsonResponse` whose ``result`` is the
    typed :class:`~submarine.models.ExperimentTemplate` (read like 0.8.0's dict:
    ``result["experimentTemplateSpec"]["name"]``).

    >>> from submarine.client.utils.api_utils import get_api_client
    >>> api = ExperimentTemplateApi(get_api_client("http://localhost:8080"))
    >>> api.get_experiment_template("tf-mnist").result.name  # doctest: +SKIP
    'tf-mnist'

    :param api_client: the client to call through (by default one that finds the server
        as ``ExperimentClient()`` does).
    """

    def create_experiment_template(
        self, *, experiment_template_spec: TemplateInput
    ) -> JsonResponse[ExperimentTemplate]:
        """Create a template: ``create_template``.

        :param experiment_template_spec: an ``ExperimentTemplateSpec`` (or a dict of one),
            judged before it is sent (``TemplateValidationError``).
        :returns: ``result`` is the template as stored, with its ``experimentTemplateId``.
        """
        return JsonResponse(self._client.create_template(experiment_template_spec))

    def get_experiment_template(self, id: str) -> JsonResponse[ExperimentTemplate]:
        """The template named ``id``: ``get_template`` (``NotFoundError``, an
        ``ApiException``, when there is none).

        :param id: the template's name.
        """
        return JsonResponse(self._client.get_template(id))
