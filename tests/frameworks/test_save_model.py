"""``submarine.save_model`` with the real frameworks: PyTorch (the CPU build) and TensorFlow
(CPU). Replicas of a local server train a small model on synthetic data and save it; the
test lists, downloads and loads it again, and checks that it computes what the replica's
model computed. Run by ``make test-frameworks`` (its own environment: the frameworks are
large), never by ``make test``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine import ExperimentClient
from tests.server.api_support import API, create, ok, wait_status
from tests.support import make_spec

pytestmark = [pytest.mark.frameworks, pytest.mark.slow]

TORCH_TRAIN = """
import json
import torch
import submarine

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
x = torch.randn(64, 4)
y = torch.stack([x.sum(1), x[:, 0] - x[:, 1]], dim=1)
for _ in range(30):
    optimizer.zero_grad()
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
model.eval()
saved = submarine.save_model(model, "pytorch", "torch-net", [1, 4], [1, 2])
with torch.no_grad():
    print("EXPECT", json.dumps(model(torch.ones(1, 4)).tolist()), saved.path, flush=True)
"""

TENSORFLOW_TRAIN = """
import json
import numpy as np
import tensorflow as tf
import submarine

tf.random.set_seed(0)
rng = np.random.default_rng(0)
model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
model.compile(optimizer="sgd", loss="mse")
model.fit(rng.random((32, 3)), rng.random((32, 2)), epochs=2, verbose=0)
saved = submarine.save_model(model, "tensorflow", "dense-net", [1, 3], [1, 2])
expected = model(np.ones((1, 3), dtype="float32")).numpy().tolist()
print("EXPECT", json.dumps(expected), saved.path, flush=True)
"""


def _train(server: Any, tmp_path: Path, script: str) -> tuple[str, dict[str, list[Any]]]:
    """Run the script on two workers; the experiment id and what each folder's model
    computed on ones."""
    path = tmp_path / "train.py"
    path.write_text(script)
    spec = make_spec(roles={"Worker": 2}, cmd=f"python {path}", resources="cpu=0.5,memory=2G")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        experiment_id = str(create(http, spec)["experimentId"])
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=600)
        logs = ok(http.get(f"{API}/logs/{experiment_id}"))
        assert done["status"] == "Succeeded", logs
    expected = {}
    for pod in logs["logContent"]:
        for line in pod["podLog"]:
            if line.startswith("EXPECT "):
                values, folder = line.removeprefix("EXPECT ").rsplit(" ", 1)
                expected[folder] = json.loads(values)
    return experiment_id, expected


def test_a_pytorch_model_is_saved_listed_downloaded_and_loads(server: Any, tmp_path: Path) -> None:
    import torch

    experiment_id, expected = _train(server, tmp_path, TORCH_TRAIN)
    with ExperimentClient(server.url) as client:
        listed = client.list_artifacts(experiment_id)
        assert [a.path for a in listed] == ["1/", "2/"]
        assert {a.registered_model_version for a in listed} == {1, 2}
        for artifact in listed:
            folder = client.download_artifact(experiment_id, artifact.path, tmp_path / "m")
            description = json.loads((folder / "description.json").read_text())
            assert description["model_type"] == "pytorch"
            assert description["input"] == [{"dims": [1, 4]}]
            with warnings.catch_warnings():  # TorchScript is deprecated; 0.8.0 saves it
                warnings.simplefilter("ignore", DeprecationWarning)
                loaded = torch.jit.load(str(folder / "model.pt"))
            with torch.no_grad():
                (got,) = loaded(torch.ones(1, 4)).tolist()
            assert got == pytest.approx(expected[artifact.path][0])


def test_a_tensorflow_model_is_saved_as_a_savedmodel_that_loads(
    server: Any, tmp_path: Path
) -> None:
    import tensorflow as tf

    experiment_id, expected = _train(server, tmp_path, TENSORFLOW_TRAIN)
    with ExperimentClient(server.url) as client:
        listed = client.list_artifacts(experiment_id)
        assert [a.path for a in listed] == ["1/", "2/"]
        for artifact in listed:
            folder = client.download_artifact(experiment_id, artifact.path, tmp_path / "m")
            assert (folder / "saved_model.pb").is_file()
            assert (folder / "variables").is_dir()
            loaded = tf.saved_model.load(str(folder))
            serve = loaded.signatures["serving_default"]
            (output,) = serve(tf.ones((1, 3))).values()
            (got,) = output.numpy().tolist()
            assert got == pytest.approx(expected[artifact.path][0])
