"""0.8.0's import path of :class:`submarine.models.KernelSpec` (the same class)."""

from submarine.models.spec import KernelSpec

__all__ = ["KernelSpec"]
