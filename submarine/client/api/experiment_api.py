"""0.8.0's ``ExperimentApi``: here, its calls that submit a template, list an
experiment's saved models and tell where TensorBoard and MLflow are, over
:class:`~submarine.client.ExperimentClient`'s ``submit_template``, ``list_artifacts``,
``get_tensorboard_info`` and ``get_mlflow_info``.

The rest of 0.8.0's generated ``ExperimentApi`` (create, get, list, patch, delete, logs)
is :class:`~submarine.client.ExperimentClient`'s, with the same names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from submarine.client._compat import JsonResponse
from submarine.client._generated import GeneratedApi, submission
from submarine.models import Experiment, ExperimentTemplateSubmit, ServiceInfo

__all__ = ["ExperimentApi"]


class ExperimentApi(GeneratedApi):
    """0.8.0's generated experiment API class, for its template submission, artifact
    paths and TensorBoard and MLflow information.

    >>> from submarine.client.utils.api_utils import get_api_client
    >>> api = ExperimentApi(get_api_client("http://localhost:8080"))
    >>> api.submit_experiment_template(  # doctest: +SKIP
    ...     "tf-mnist", experiment_template_submit=ExperimentTemplateSubmit(
    ...         params={"learning_rate": "0.2", "experiment_name": "mnist-2"})
    ... ).result["experimentId"]
    'experiment-1700000000000-0001'

    :param api_client: the client to call through (by default one that finds the server
        as ``ExperimentClient()`` does).
    """

    def submit_experiment_template(
        self,
        name: str,
        *,
        experiment_template_submit: ExperimentTemplateSubmit | Mapping[str, Any] | None = None,
    ) -> JsonResponse[Experiment]:
        """Create an experiment from the template ``name``: ``submit_template``.

        :param name: the template's name.
        :param experiment_template_submit: the values of its parameters
            (``ExperimentTemplateSubmit(params={...})``, or a dict of that shape); None
            gives every parameter its default (0.8.0's server fails on a missing body).
        :returns: ``result`` is the experiment, as ``create_experiment`` answers it.
        """
        params = submission(experiment_template_submit)
        return JsonResponse(self._client.submit_template(name, params))

    def get_artifact_paths(self, id: str) -> JsonResponse[list[str]]:
        """The URIs of an experiment's saved models: ``list_artifacts``, as 0.8.0 lists them.

        :param id: the experiment id (an unknown one has none).
        :returns: ``result`` is the list of URIs (``submarine-local://experiment/<id>/1/``).
        """
        return JsonResponse([artifact.uri for artifact in self._client.list_artifacts(id)])

    def get_tensorboard_info(self) -> JsonResponse[ServiceInfo]:
        """Whether TensorBoard is available, and its path: ``get_tensorboard_info``."""
        return JsonResponse(self._client.get_tensorboard_info())

    def get_m_lflow_info(self) -> JsonResponse[ServiceInfo]:
        """Whether MLflow is available, and its path (0.8.0's spelling): ``get_mlflow_info``."""
        return JsonResponse(self._client.get_mlflow_info())
