"""Submarine 0.8.0's ``submarine.client.api`` modules, as aliases of this package's clients.

``submarine.client.api.experiment_client.ExperimentClient`` is
:class:`submarine.client.ExperimentClient` and
``submarine.client.api.environment_client.EnvironmentClient`` is
:class:`submarine.client.EnvironmentClient`: the same classes, typed, under the import paths
code written for ``apache-submarine`` 0.8.0 uses.
"""
