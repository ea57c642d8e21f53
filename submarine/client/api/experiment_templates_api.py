"""0.8.0's ``ExperimentTemplatesApi`` (list, update and delete templates), over the typed
template methods of :class:`~submarine.client.ExperimentClient`."""

from __future__ import annotations

from submarine.client._compat import JsonResponse
from submarine.client._generated import GeneratedApi
from submarine.client._templates import TemplateInput
from submarine.models import ExperimentTemplate

__all__ = ["ExperimentTemplatesApi"]


class ExperimentTemplatesApi(GeneratedApi):
    """List, update and delete experiment templates, as 0.8.0's generated class does; each
    call answers a :class:`~submarine.client._compat.JsonResponse` whose ``result`` is
    typed (read like 0.8.0's dicts).

    :param api_client: the client to call through (by default one that finds the server
        as ``ExperimentClient()`` does).
    """

    def list_experiment_template(
        self, status: str | None = None
    ) -> JsonResponse[list[ExperimentTemplate]]:
        """Every template: ``list_templates``.

        :param status: ignored, as by 0.8.0's server (templates have none).
        :returns: ``result`` is the list of templates.
        """
        return JsonResponse(self._client.list_templates())

    def update_experiment_template(
        self, id: str, *, experiment_template_spec: TemplateInput
    ) -> JsonResponse[ExperimentTemplate]:
        """Replace the template named ``id``: ``patch_template``.

        :param id: the template's name.
        :param experiment_template_spec: the whole new template, bearing the same name
            (0.8.0 updated the template its body names; here a different name is a
            ``TemplateValidationError``).
        :returns: ``result`` is the template as now stored.
        """
        return JsonResponse(self._client.patch_template(id, experiment_template_spec))

    def delete_experiment_template(self, id: str) -> JsonResponse[ExperimentTemplate]:
        """Delete the template named ``id``: ``delete_template``.

        :param id: the template's name.
        :returns: ``result`` is the template as it was.
        """
        return JsonResponse(self._client.delete_template(id))
