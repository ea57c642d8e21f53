"""0.8.0's import path of the experiment client: :class:`submarine.client.ExperimentClient`."""

from submarine.client.sync import ExperimentClient

__all__ = ["ExperimentClient"]
