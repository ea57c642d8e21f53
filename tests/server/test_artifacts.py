"""Saved models end to end: replicas call ``submarine.save_model``, the local server numbers,
lists, serves and deletes the folders, the typed clients list and download them.

No framework is installed for these tests: each replica script puts a small stand-in for
``torch`` (or ``tensorflow`` and ``keras``) in ``sys.modules`` that writes a model file the
way the framework's save call would, so that ``save_model`` itself, its description, the
upload and the numbering run as they do for a real model (``make test-frameworks`` runs
them with PyTorch and TensorFlow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine import AsyncExperimentClient, ExperimentClient
from submarine.client import NotFoundError
from submarine.client.api.experiment_api import ExperimentApi
from submarine.client.utils.api_utils import get_api_client
from submarine.models import Artifact
from tests.support import make_spec

from .api_support import API, create, fail, ok, wait_status

pytestmark = pytest.mark.slow  # every test runs replicas or a server

ARTIFACTS = f"{API}/artifacts"
TOKEN = "server-token-for-artifacts"

FAKE_TORCH = """
import sys, types
torch = types.ModuleType("torch")
torch.rand = lambda dims: ("example", tuple(dims))
class Traced:
    def __init__(self, model, example):
        self.payload = repr((model, example)).encode()
    def save(self, path):
        with open(path, "wb") as out:
            out.write(self.payload * 300000)  # some 9 MB: sent in two parts
torch.jit = types.SimpleNamespace(trace=Traced)
sys.modules["torch"] = torch
"""

SAVE_TWICE = (
    FAKE_TORCH
    + """
import submarine
first = submarine.save_model("net", "pytorch", "my-model", [1, 4], [1, 2])
second = submarine.save_model("net", "pytorch", None, [1, 4], [1, 2])
print("SAVED", first.path, first.registered_model_version, second.path, flush=True)
"""
)

FAKE_TENSORFLOW = """
import os, sys, types
tensorflow = types.ModuleType("tensorflow")
sys.modules["tensorflow"] = tensorflow
keras = types.ModuleType("keras")
keras.__version__ = "3.4.1"
sys.modules["keras"] = keras

class Keras3Model:  # Keras 3 refuses save(folder): export writes the SavedModel
    def save(self, path):
        raise ValueError("Invalid filepath extension for saving")
    def export(self, path):
        os.makedirs(os.path.join(path, "variables"))
        os.makedirs(os.path.join(path, "assets"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as out:
            out.write(b"exported")
Keras3Model.__module__ = "keras.src.models.sequential"

class Keras2Model:
    def save(self, path):
        with open(os.path.join(path, "saved_model.pb"), "wb") as out:
            out.write(b"saved")
Keras2Model.__module__ = "tf_keras.src.engine.sequential"

import submarine
submarine.save_model(Keras3Model(), "tensorflow")
submarine.save_model(Keras2Model(), "tensorflow", "keras-two", input_dim=[1, 3])
print("SAVED", flush=True)
"""


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return f"python {path}"


def _run(http: httpx.Client, spec: dict[str, Any]) -> str:
    experiment_id = str(create(http, spec)["experimentId"])
    done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=120)
    assert done["status"] == "Succeeded", ok(http.get(f"{API}/logs/{experiment_id}"))
    return experiment_id


def _folder(server: Any, experiment_id: str) -> Path:
    return Path(server.data_dir) / "experiments" / experiment_id / "artifacts"


def test_replicas_saving_at_once_get_distinct_numbered_folders(server: Any, tmp_path: Path) -> None:
    spec = make_spec(roles={"Worker": 2}, cmd=_script(tmp_path, "save.py", SAVE_TWICE))
    with httpx.Client(base_url=server.url) as http:
        experiment_id = _run(http, spec)
        answer = http.get(f"{ARTIFACTS}/{experiment_id}")
        uris = ok(answer)
        described = answer.json()["attributes"]["artifacts"]

    prefix = f"submarine-local://experiment/{experiment_id}/"
    assert uris == [f"{prefix}{n}/" for n in (1, 2, 3, 4)]
    assert [d["uri"] for d in described] == uris
    assert {d["modelType"] for d in described} == {"pytorch"}
    assert {json.dumps(d["input"]) for d in described} == {'[{"dims": [1, 4]}]'}
    registered = [(d["registeredModelName"], d["registeredModelVersion"]) for d in described]
    assert sorted(registered, key=str) == [
        ("my-model", 1),
        ("my-model", 2),
        (None, None),
        (None, None),
    ]

    root = _folder(server, experiment_id)
    model_ids = set()
    for number in (1, 2, 3, 4):
        description = json.loads((root / str(number) / "description.json").read_text())
        assert list(description) == ["id", "input", "output", "model_type"]
        assert description["input"] == [{"dims": [1, 4]}]
        assert description["output"] == [{"dims": [1, 2]}]
        assert description["model_type"] == "pytorch"
        assert uuid.UUID(hex=description["id"]).version == 4
        model_ids.add(description["id"])
        model = (root / str(number) / "model.pt").read_bytes()
        assert model == repr(("net", ("example", (1, 4)))).encode() * 300000
    assert len(model_ids) == 4
    assert sorted(os.listdir(root)) == ["1", "2", "3", "4"]


def test_tensorflow_models_are_exported_under_keras_3_and_saved_under_keras_2(
    server: Any, tmp_path: Path
) -> None:
    spec = make_spec(cmd=_script(tmp_path, "tf.py", FAKE_TENSORFLOW))
    with httpx.Client(base_url=server.url) as http:
        experiment_id = _run(http, spec)
    root = _folder(server, experiment_id)
    assert (root / "1" / "saved_model.pb").read_bytes() == b"exported"
    assert sorted(p.name for p in (root / "1").iterdir()) == [
        "assets",
        "description.json",
        "saved_model.pb",
        "variables",
    ]
    first = json.loads((root / "1" / "description.json").read_text())
    assert list(first) == ["id", "model_type"]  # no dims given: none written
    assert first["model_type"] == "tensorflow"
    assert (root / "2" / "saved_model.pb").read_bytes() == b"saved"
    second = json.loads((root / "2" / "description.json").read_text())
    assert list(second) == ["id", "input", "model_type"]

    with ExperimentClient(server.url) as client:
        listed = client.list_artifacts(experiment_id)
        assert [(a.path, a.registered_model_name) for a in listed] == [
            ("1/", None),
            ("2/", "keras-two"),
        ]
        # The empty folders of the export came along, in the archive too.
        folder = client.download_artifact(experiment_id, "1/", tmp_path / "one")
        assert (folder / "variables").is_dir()
        assert (folder / "assets").is_dir()


def test_the_clients_list_and_download_folders_files_and_everything(
    server: Any, tmp_path: Path
) -> None:
    spec = make_spec(cmd=_script(tmp_path, "save.py", SAVE_TWICE))
    with httpx.Client(base_url=server.url) as http:
        experiment_id = _run(http, spec)
    root = _folder(server, experiment_id)

    with ExperimentClient(server.url) as client:
        listed = client.list_artifacts(experiment_id)
        assert all(isinstance(a, Artifact) for a in listed)
        assert [a.path for a in listed] == ["1/", "2/"]
        assert all(a.is_folder for a in listed)
        first = listed[0]
        assert (first.model_type, first.registered_model_name) == ("pytorch", "my-model")
        # 0.8.0's generated call answers the same list, as URIs.
        paths = ExperimentApi(get_api_client(server.url)).get_artifact_paths(experiment_id)
        assert paths.result == [a.uri for a in listed]
        assert paths.result[0] == f"submarine-local://experiment/{experiment_id}/1/"
        assert first.registered_model_version is not None
        assert first.output == [{"dims": [1, 2]}]
        description = json.loads((root / "1" / "description.json").read_text())
        assert first.model_id == description["id"]

        folder = client.download_artifact(experiment_id, first.uri, tmp_path / "by-uri")
        assert folder == tmp_path / "by-uri"
        assert sorted(p.name for p in folder.iterdir()) == ["description.json", "model.pt"]
        assert (folder / "model.pt").read_bytes() == (root / "1" / "model.pt").read_bytes()

        file = client.download_artifact(experiment_id, "2/model.pt", tmp_path / "model.pt")
        assert file.read_bytes() == (root / "2" / "model.pt").read_bytes()
        into = tmp_path / "into"
        into.mkdir()
        assert client.download_artifact(experiment_id, "2/description.json", into) == (
            into / "description.json"
        )

        everything = client.download_artifact(experiment_id, "", tmp_path / "all")
        assert sorted(str(p.relative_to(everything)) for p in everything.rglob("*")) == [
            "1",
            "1/description.json",
            "1/model.pt",
            "2",
            "2/description.json",
            "2/model.pt",
        ]

        with pytest.raises(NotFoundError, match="has no artifact '7/'"):
            client.download_artifact(experiment_id, "7/", tmp_path / "seven")
        assert not (tmp_path / "seven").exists()
        with pytest.raises(ValueError, match=r"path '\.\./x' is not valid: .*'\.\.' part"):
            client.download_artifact(experiment_id, "../x", tmp_path)
        assert client.list_artifacts("experiment-1-0009") == []
    assert not list(tmp_path.glob("**/.*.part"))  # no download left a temporary file


@pytest.mark.anyio
async def test_the_async_client_lists_and_downloads_too(server: Any, tmp_path: Path) -> None:
    spec = make_spec(cmd=_script(tmp_path, "save.py", SAVE_TWICE))
    with httpx.Client(base_url=server.url) as http:
        experiment_id = _run(http, spec)
    root = _folder(server, experiment_id)
    async with AsyncExperimentClient(server.url) as client:
        listed = await client.list_artifacts(experiment_id)
        assert [a.path for a in listed] == ["1/", "2/"]
        folder = await client.download_artifact(experiment_id, "2/", tmp_path / "two")
        assert (folder / "model.pt").read_bytes() == (root / "2" / "model.pt").read_bytes()
        file = await client.download_artifact(experiment_id, "1/model.pt", tmp_path / "m")
        assert file.read_bytes() == (root / "1" / "model.pt").read_bytes()
        board = await client.get_tensorboard_info()
        assert (board.available, board.url) == (True, "/tensorboard/")
        assert (await client.get_mlflow_info()).available is False


def test_deleting_an_experiment_deletes_its_artifacts(server: Any, tmp_path: Path) -> None:
    spec = make_spec(cmd=_script(tmp_path, "save.py", SAVE_TWICE))
    with httpx.Client(base_url=server.url) as http:
        experiment_id = _run(http, spec)
        assert len(ok(http.get(f"{ARTIFACTS}/{experiment_id}"))) == 2
        ok(http.delete(f"{API}/{experiment_id}"))
        assert ok(http.get(f"{ARTIFACTS}/{experiment_id}")) == []
        fail(http.get(f"{ARTIFACTS}/{experiment_id}/1/"), 404)
    assert not (Path(server.data_dir) / "experiments" / experiment_id).exists()


def test_unknown_and_malformed_ids_list_nothing_as_on_0_8_0(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        assert ok(http.get(f"{ARTIFACTS}/experiment-1-0001")) == []
        assert ok(http.get(f"{ARTIFACTS}/not..an id")) == []


def _put(
    url: str, experiment_id: str, path: str, body: bytes, token: str | None, **query: str
) -> httpx.Response:
    params = {"id": experiment_id, "upload": "a" * 32, "path": path, **query}
    headers = {"Content-Type": "application/octet-stream"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.put(f"{url}/api/artifact/part", params=params, content=body, headers=headers)


def test_uploads_are_checked_before_anything_is_written(server_factory: Any) -> None:
    server = server_factory.start("--token", TOKEN, "--artifact-max-bytes", "1K")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, headers=auth) as http:
        experiment_id = create(http, make_spec(cmd="true"))["experimentId"]
        other = create(http, make_spec(cmd="true"))["experimentId"]
    url = server.url

    # Who may upload: the server's token, a replica's credential for its own experiment.
    fail(_put(url, experiment_id, "model.pt", b"x", None), 401, "The token is not valid.")
    fail(_put(url, experiment_id, "model.pt", b"x", "wrong"), 401)
    forged = f"{other}.{'0' * 64}"
    fail(_put(url, experiment_id, "model.pt", b"x", forged), 401)
    fail(_put(url, "experiment-1-0009", "model.pt", b"x", TOKEN), 404)

    # What may be uploaded: paths inside the upload, pieces in order, within the quota.
    for bad in ("../escape", "/etc/passwd", "a//b", "a/./b", "nul\x01"):
        message = fail(_put(url, experiment_id, bad, b"x", TOKEN), 400)
        assert message.startswith("path: ")
    assert "upload" in fail(_put(url, experiment_id, "m", b"x", TOKEN, upload="../x"), 400)
    assert ok(_put(url, experiment_id, "model.pt", b"abc", TOKEN)) == {"size": 3}
    wrong = _put(url, experiment_id, "model.pt", b"def", TOKEN, offset="1")
    assert wrong.status_code == 409
    assert wrong.json()["attributes"] == {"size": 3}
    assert ok(_put(url, experiment_id, "model.pt", b"def", TOKEN, offset="3")) == {"size": 6}
    too_much = fail(_put(url, experiment_id, "big.bin", b"z" * 2000, TOKEN), 413)
    assert "--artifact-max-bytes" in too_much
    assert "nothing of this part is kept" in too_much
    staged = Path(server.data_dir) / "experiments" / experiment_id / "uploads" / ("a" * 32)
    assert (staged / "model.pt").read_bytes() == b"abcdef"
    assert not (staged / "big.bin").exists()

    commit = f"{url}/api/artifact/commit"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    params = {"id": experiment_id, "upload": "a" * 32}
    bad_name = httpx.post(
        commit, params=params, json={"registeredModelName": "-x-"}, headers=headers
    )
    assert "registeredModelName '-x-' is not valid" in fail(bad_name, 400)
    unknown = {"id": experiment_id, "upload": "b" * 32}
    fail(httpx.post(commit, params=unknown, json={}, headers=headers), 404)
    done = ok(
        httpx.post(commit, params=params, json={"registeredModelName": "m1"}, headers=headers)
    )
    assert done == {
        "path": "1/",
        "uri": f"submarine-local://experiment/{experiment_id}/1/",
        "registeredModelName": "m1",
        "registeredModelVersion": 1,
    }
    # A retried commit (its answer lost) answers the same and makes no second folder.
    again = ok(
        httpx.post(commit, params=params, json={"registeredModelName": "m1"}, headers=headers)
    )
    assert again == done
    with httpx.Client(base_url=url, headers=headers) as http:
        assert ok(http.get(f"{ARTIFACTS}/{experiment_id}")) == [done["uri"]]
        assert http.get(f"{ARTIFACTS}/{experiment_id}/1/model.pt").content == b"abcdef"
        fail(httpx.get(f"{url}{ARTIFACTS}/{experiment_id}"), 401)  # reads need the token


def test_outside_a_replica_save_model_says_what_it_needs() -> None:
    code = FAKE_TORCH + "import submarine\nsubmarine.save_model('net', 'pytorch', None, [1], [1])"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SUBMARINE_TRACKING_URI", "SUBMARINE_TRACKING_TOKEN", "JOB_ID")
    }
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1
    assert "SaveModelError: save_model uploads the model to the local server" in result.stderr
    assert "SUBMARINE_TRACKING_URI" in result.stderr
    assert "Run the script as an experiment of the local server" in result.stderr


def test_tensorboard_and_mlflow_info_as_0_8_0_answers_them(server: Any) -> None:
    """The typed calls and 0.8.0's generated ones: TensorBoard is served here (the
    ``tensorboard`` extra is installed with ``[all]``), MLflow never."""
    with ExperimentClient(server.url) as client:
        board, mlflow = client.get_tensorboard_info(), client.get_mlflow_info()
    assert (board.available, board.url) == (True, "/tensorboard/")
    assert (mlflow.available, mlflow.url) == (False, "/mlflow/")
    api = ExperimentApi(get_api_client(server.url))
    assert api.get_tensorboard_info().result == board
    assert api.get_m_lflow_info().result["url"] == "/mlflow/"  # read as 0.8.0's dict
