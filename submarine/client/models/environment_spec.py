"""0.8.0's import path of :class:`submarine.models.EnvironmentSpec` (the same class)."""

from submarine.models.spec import EnvironmentSpec

__all__ = ["EnvironmentSpec"]
