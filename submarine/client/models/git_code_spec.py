"""0.8.0's import path of :class:`submarine.models.GitCodeSpec` (the same class)."""

from submarine.models.spec import GitCodeSpec

__all__ = ["GitCodeSpec"]
