"""0.8.0's import path of :class:`submarine.models.CodeSpec` (the same class)."""

from submarine.models.spec import CodeSpec

__all__ = ["CodeSpec"]
