"""The examples in the docstrings of the runner's modules and of the server's options run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "submarine._rundir",
    "submarine._server_options",
    "submarine._sockets",
    "submarine.server.api.peers",
    "submarine.server.run.capacity",
    "submarine.server.run.distributed",
    "submarine.server.scrub",
    "submarine.server.run.layout",
    "submarine.server.run.podlogs",
    "submarine.server.run.processes",
    "submarine.server.run.raybackend.placement",
    "submarine.server.settings",
]


@pytest.mark.parametrize("name", MODULES)
def test_the_examples_hold(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
