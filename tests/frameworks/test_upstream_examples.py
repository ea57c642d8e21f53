"""Submarine 0.8.0's own example scripts on the local server: its quickstart
(``dev-support/examples/quickstart/train.py``: Keras with MultiWorkerMirroredStrategy,
metrics logged per epoch, ``save_model(model, "tensorflow")``) and ``nn-pytorch``
(``save_model`` of a linear TorchScript model under a registered name), copied in
``upstream/`` with only the data source changed (each file's header says what).

Each is submitted as its ``post.sh`` submits it, with what fits a small machine: 2 workers
(0.8.0's quickstart asks for 3) and half a cpu each (0.8.0: 1). The test waits for
Succeeded, lists the two saved models (one per worker), downloads them and loads them
again with the framework's own loader. Run by ``make test-frameworks`` only."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine import ExperimentClient
from tests.server.api_support import API, create, ok, wait_status

pytestmark = [pytest.mark.frameworks, pytest.mark.slow]

UPSTREAM = Path(__file__).resolve().parent / "upstream"
WORKERS = {"replicas": 2, "resources": "cpu=0.5,memory=1024M"}
"""What every example asks for here: 2 workers, half a cpu each."""
TRAINING_DEADLINE = 900.0
"""Seconds an example may take to end (10 epochs of the quickstart's CNN on 2 shared
cores take a few minutes)."""


def _spec(
    name: str, framework: str, script: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """The spec of the example's ``post.sh``, with this machine's workers, the copy's path
    in ``cmd`` (0.8.0: ``python /opt/<script>`` in its image) and ``env`` beside its
    ``ENV_1``."""
    return {
        "meta": {
            "name": name,
            "namespace": "default",
            "framework": framework,
            "cmd": f"python {script}",
            "envVars": {"ENV_1": "ENV1", **(env or {})},
        },
        "environment": {"image": f"{name}:0.8.0"},
        "spec": {"Worker": dict(WORKERS)},
    }


def _run_to_success(server: Any, spec: dict[str, Any]) -> str:
    """Submit ``spec``, wait for it to end and require Succeeded (the pods' logs say why
    not); its experiment id."""
    with httpx.Client(base_url=server.url, timeout=60) as http:
        experiment_id = str(create(http, spec)["experimentId"])
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=TRAINING_DEADLINE)
        if done["status"] != "Succeeded":
            logs = ok(http.get(f"{API}/logs/{experiment_id}"))
            tails = {pod["podName"]: pod["podLog"][-40:] for pod in logs["logContent"]}
            pytest.fail(f"{spec['meta']['name']} ended {done['status']}: {tails}")
    return experiment_id


@pytest.mark.timeout(TRAINING_DEADLINE + 300)
def test_the_quickstart_trains_on_two_workers_and_its_models_load(
    server: Any, tmp_path: Path
) -> None:
    import numpy as np
    import tensorflow as tf

    # 0.8.0's image has TensorFlow 2.6-2.9, whose tf.keras is Keras 2. Keras 3 (tf.keras
    # from TensorFlow 2.16 on) cannot fit under MultiWorkerMirroredStrategy ("Attempt to
    # convert a value (PerReplica...) to a Tensor"), so the replicas take Keras 2 as
    # TensorFlow documents it: the tf-keras package and TF_USE_LEGACY_KERAS=1.
    script = UPSTREAM / "quickstart" / "train.py"
    spec = _spec("quickstart", "TensorFlow", script, {"TF_USE_LEGACY_KERAS": "1"})
    experiment_id = _run_to_success(server, spec)

    with ExperimentClient(server.url) as client:
        metrics = client.get_metrics(experiment_id)
        listed = client.list_artifacts(experiment_id)
        assert [a.path for a in listed] == ["1/", "2/"]  # each worker saves, 0.8.0 too
        assert {a.model_type for a in listed} == {"tensorflow"}
        folders = [client.download_artifact(experiment_id, a.path, tmp_path / "m") for a in listed]

    # The callback's loss and accuracy of each of the 10 epochs, from each worker, named
    # by its TF_CONFIG task as 0.8.0 names them.
    logged = {(m.worker_index, m.key, m.step) for m in metrics}
    assert logged == {
        (worker, key, epoch)
        for worker in ("worker-0", "worker-1")
        for key in ("loss", "accuracy")
        for epoch in range(10)
    }
    assert all(m.value is not None and math.isfinite(m.value) for m in metrics)

    images = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    outputs = []
    for folder in folders:
        description = json.loads((folder / "description.json").read_text())
        assert description["model_type"] == "tensorflow"
        assert "input" not in description  # the quickstart gives no dims
        assert (folder / "saved_model.pb").is_file()
        loaded = tf.saved_model.load(str(folder))
        (output,) = loaded.signatures["serving_default"](tf.constant(images)).values()
        probabilities = output.numpy()
        assert probabilities.shape == (3, 10)
        assert probabilities.sum(axis=1) == pytest.approx([1.0, 1.0, 1.0], abs=1e-4)
        outputs.append(probabilities)
    # Trained in step by the strategy (gradients all-reduced), the workers' models are one
    # model: two models trained apart on their own shards would not agree.
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-4, atol=1e-6)


@pytest.mark.timeout(TRAINING_DEADLINE + 300)
def test_nn_pytorch_saves_a_registered_torchscript_model_that_loads(
    server: Any, tmp_path: Path
) -> None:
    import torch

    # "Tensorflow", as 0.8.0's post.sh writes it
    spec = _spec("nn-pytorch-example", "Tensorflow", UPSTREAM / "nn-pytorch" / "model.py")
    experiment_id = _run_to_success(server, spec)

    with ExperimentClient(server.url) as client:
        listed = client.list_artifacts(experiment_id)
        assert [a.path for a in listed] == ["1/", "2/"]
        assert {a.registered_model_name for a in listed} == {"simple-pytorch-model"}
        assert sorted(a.registered_model_version or 0 for a in listed) == [1, 2]
        assert [(a.input, a.output) for a in listed] == [([{"dims": [2]}], [{"dims": [1]}])] * 2
        folders = [client.download_artifact(experiment_id, a.path, tmp_path / "m") for a in listed]

    x = torch.tensor([[0.5, -2.0], [3.0, 1.0]])
    for folder in folders:
        description = json.loads((folder / "description.json").read_text())
        assert description["model_type"] == "pytorch"
        assert description["input"] == [{"dims": [2]}]
        with warnings.catch_warnings():  # TorchScript is deprecated; 0.8.0 saves it
            warnings.simplefilter("ignore", DeprecationWarning)
            loaded = torch.jit.load(str(folder / "model.pt"))
        state = loaded.state_dict()
        assert {k: tuple(v.shape) for k, v in state.items()} == {
            "linear.weight": (1, 2),
            "linear.bias": (1,),
        }
        with torch.no_grad():
            got = loaded(x)
        # The script's LinearNNModel: y = x W^T + b, for any input (the trace was of one
        # input of shape [2]; a batch goes through the same linear layer).
        expected = x @ state["linear.weight"].T + state["linear.bias"]
        assert got.shape == (2, 1)
        torch.testing.assert_close(got, expected)
