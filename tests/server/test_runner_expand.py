"""``$(NAME)`` in commands, as Kubernetes expands it: the rule, and a real replica's argv."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from submarine.server.run.expand import expand, expand_all
from tests.support import make_spec

from .runner_support import harness

DECLARED = {"SUBMARINE_TENSORBOARD_LOG_DIR": "/data/tb", "ENV_1": "ENV1", "EMPTY": ""}


@pytest.mark.parametrize(
    ("word", "expanded"),
    [
        ("--log_dir=$(SUBMARINE_TENSORBOARD_LOG_DIR)", "--log_dir=/data/tb"),
        ("$(ENV_1)$(ENV_1)", "ENV1ENV1"),
        ("a$(EMPTY)b", "ab"),
        # Not declared for the replica: stays as written (HOME is inherited, not declared).
        ("$(HOME)", "$(HOME)"),
        ("$(touch x)", "$(touch x)"),
        # $$ escapes; $$(NAME) is the text $(NAME).
        ("$$(ENV_1)", "$(ENV_1)"),
        ("cost=$$5", "cost=$5"),
        ("$$$(ENV_1)", "$ENV1"),
        # Any other $ is text: a shell's forms are not Kubernetes'.
        ("${ENV_1} $ENV_1 $", "${ENV_1} $ENV_1 $"),
        ("$(ENV_1", "$(ENV_1"),
        ("$()", "$()"),
        ("plain", "plain"),
    ],
)
def test_kubernetes_expansion_rule(word: str, expanded: str) -> None:
    assert expand(word, DECLARED) == expanded


def test_each_word_is_expanded_on_its_own() -> None:
    assert expand_all(["python", "$(ENV_1)", "x=$(EMPTY)"], DECLARED) == ["python", "ENV1", "x="]


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_tensorboard_example_command_writes_where_the_server_says(
    tmp_path: Path,
) -> None:
    """Submarine 0.8.0's TensorBoard document's command, with a stand-in for its script:
    the replica gets the expanded log dir; undeclared names and ``$$`` are kept as K8s keeps
    them, and nothing in the command is run by a shell."""
    script = (
        "import json, os, sys; "
        "print('ARGV ' + json.dumps(sys.argv[1:])); "
        "print('DIR ' + os.environ['SUBMARINE_TENSORBOARD_LOG_DIR'])"
    )
    cmd = shlex.join(["python", "-c", script]) + (
        " --log_dir=$(SUBMARINE_TENSORBOARD_LOG_DIR) --learning_rate=0.01 --batch_size=20"
        " $(ENV_1) $(HOME) $$(ENV_1) $(touch" + f" {tmp_path / 'ran'})"
    )
    async with harness(tmp_path) as h:
        eid = h.submit(make_spec("TensorFlow", {"Worker": {}}, cmd=cmd, env={"ENV_1": "ENV1"}))
        assert await h.until_status(eid) == "Succeeded"
        lines = h.lines(eid, "worker-0")
    (argv,) = [json.loads(line[5:]) for line in lines if line.startswith("ARGV ")]
    (log_dir,) = [line[4:] for line in lines if line.startswith("DIR ")]
    assert os.path.isabs(log_dir)
    assert "$" not in log_dir
    assert argv == [
        f"--log_dir={log_dir}",
        "--learning_rate=0.01",
        "--batch_size=20",
        "ENV1",
        "$(HOME)",
        "$(ENV_1)",
        "$(touch",
        f"{tmp_path / 'ran'})",
    ]
    assert not (tmp_path / "ran").exists()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
