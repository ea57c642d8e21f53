"""Submarine 0.8.0's ``submarine.client.api`` modules, as aliases of this package's clients.

``submarine.client.api.experiment_client.ExperimentClient`` is
:class:`submarine.client.ExperimentClient` and
``submarine.client.api.environment_client.EnvironmentClient`` is
:class:`submarine.client.EnvironmentClient`: the same classes, typed, under the import paths
code written for ``apache-submarine`` 0.8.0 uses.

0.8.0's generated template classes are thin layers over the typed template methods:
``experiment_template_api.ExperimentTemplateApi`` (create, get),
``experiment_templates_api.ExperimentTemplatesApi`` (list, update, delete) and
``experiment_api.ExperimentApi`` (``submit_experiment_template``), each made with an
``ApiClient`` (:mod:`submarine.client.api_client`) and answering a ``JsonResponse`` whose
``result`` is typed.
"""
