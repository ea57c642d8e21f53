"""0.8.0's import path of the environment client: :class:`submarine.client.EnvironmentClient`."""

from submarine.client.environments import EnvironmentClient

__all__ = ["EnvironmentClient"]
