"""What the tests that mirror apache-submarine 0.8.0's own end-to-end tests share: the spec
its experiment tests build (with 0.8.0's import paths and keywords), the repository it
syncs (a local one instead of GitHub), and a server with room for it."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import urlsplit

from submarine.client import GitCodeSpec
from submarine.client.models.code_spec import CodeSpec
from submarine.client.models.environment_spec import EnvironmentSpec
from submarine.client.models.experiment_meta import ExperimentMeta
from submarine.client.models.experiment_spec import ExperimentSpec
from submarine.client.models.experiment_task_spec import ExperimentTaskSpec
from tests.conftest import ServerFactory

CONSOLE_WIDTH = 191
"""The terminal width 0.8.0's CLI tests set, so that its tables are not cut."""

TRAINING = """import sys

print("training with", " ".join(sys.argv[1:]))
"""
"""The stand-in for 0.8.0's dist_mnist.py."""


def e2e_spec(repository: str) -> ExperimentSpec:
    """The spec of 0.8.0's experiment tests, built as they build it; its code is
    ``repository`` (0.8.0's tests clone GitHub), its command the stand-in script there."""
    environment = EnvironmentSpec(image="apache/submarine:tf-dist-mnist-test-1.0")
    experiment_meta = ExperimentMeta(
        name="mnist-dist",
        namespace="default",
        framework="Tensorflow",
        cmd="python dist_mnist.py --train_steps=100",
        env_vars={"ENV1": "ENV1"},
    )

    worker_spec = ExperimentTaskSpec(resources="cpu=1,memory=1024M", replicas=1)
    ps_spec = ExperimentTaskSpec(resources="cpu=1,memory=1024M", replicas=1)

    code_spec = CodeSpec(sync_mode="git", git=GitCodeSpec(url=repository))

    return ExperimentSpec(
        meta=experiment_meta,
        environment=environment,
        code=code_spec,
        spec={"Ps": ps_spec, "Worker": worker_spec},
    )


def make_repository(folder: Path) -> str:
    """A git repository (branch main) holding the training script, as a file:// URL."""
    folder.mkdir(parents=True)
    (folder / "dist_mnist.py").write_text(TRAINING)
    for command in (
        ["init", "--quiet", "--initial-branch", "main"],
        ["add", "."],
        ["commit", "--quiet", "-m", "training"],
    ):
        subprocess.run(
            ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *command],
            cwd=folder,
            check=True,
            capture_output=True,
        )
    return folder.as_uri()


def e2e_server(server_factory: ServerFactory) -> tuple[str, int]:
    """A server of its own with room for the e2e spec's two 1-CPU, 1 GiB replicas whatever
    the machine, as 0.8.0's tests reach theirs: ``http://localhost:<port>``, and the port."""
    server = server_factory.start("--cpus", "4", "--memory", "8G")
    port = urlsplit(server.url).port
    assert port is not None
    return f"http://localhost:{port}", port
