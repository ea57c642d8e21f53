"""The example templates a server offers on a fresh data dir, and the training they run.

Each template is a JSON file of this package (shipped in the wheel, so that it works after
a plain ``pip install``); its command runs :mod:`.sgd` with the replica's Python (the local
server runs ``python`` as its own interpreter), in the standard library alone. Their
parameters are hyperparameters (learning rate, epochs, batch size) with defaults, so they
run as they are, and ``spec.Worker.replicas`` (made for every template).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Final

__all__ = ["TEMPLATE_FILES", "example_templates"]

TEMPLATE_FILES: Final = ("sgd-regression.json", "sgd-classifier.json")
"""The example templates, in the order a server lists them."""


def example_templates() -> list[dict[str, Any]]:
    """The example templates as written (template documents, not yet judged)."""
    package = resources.files(__name__)
    return [json.loads(package.joinpath(name).read_text("utf-8")) for name in TEMPLATE_FILES]
