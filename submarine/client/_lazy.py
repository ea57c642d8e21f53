"""A module that is imported only when one of its names is first used.

``from submarine import ExperimentClient`` should not pay for httpx (and, through it,
rich, click and pygments when they are installed) before a client exists. The client
modules bind ``httpx`` to a :class:`LazyModule`, so their code and their annotations
(``typing.get_type_hints``) read ``httpx.Timeout`` as usual; the real module is imported
on the first such read, and each name read is then kept on the proxy.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["LazyModule"]


class LazyModule(types.ModuleType):
    """Stands for the module ``name``; imports it when an attribute is first read."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        value = getattr(importlib.import_module(self.__name__), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"
