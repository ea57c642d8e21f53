"""``submarine.save_model``: a trained model saved as the experiment's next artifact folder.

As in Submarine 0.8.0, the model is written to a temporary folder with a
``description.json`` (``{"id": <uuid4 hex>, "input": [{"dims": input_dim}],
"output": [{"dims": output_dim}], "model_type": ...}``, ``input`` and ``output`` only when
given), and that folder becomes ``1/``, ``2/``, ... of the experiment's artifacts:

* ``tensorflow``: a SavedModel. Keras 3 (which TensorFlow 2.16 and later bring) refuses
  0.8.0's ``model.save(folder)``; its ``model.export(folder)`` writes the SavedModel
  there. Keras 2 models are saved with ``model.save(folder)`` as 0.8.0 does; another
  ``tf.Module`` with ``tf.saved_model.save``.
* ``pytorch``: ``torch.jit.trace(model, torch.rand(input_dim))`` saved as ``model.pt``;
  ``input_dim`` and ``output_dim`` are both required, as in 0.8.0.

The framework is imported only when a model of its type is saved.

0.8.0 writes to MinIO and numbers the folder itself (the number of folders there, plus one:
two replicas saving at once get the same number). Here the folder is uploaded to the local
server that runs the experiment, part by part (:data:`PART_BYTES` a request, each resumed
where the server stopped after a failure), with the replica's tracking credential
(``SUBMARINE_TRACKING_URI``, ``SUBMARINE_TRACKING_TOKEN``, ``JOB_ID``: the server gives
them to every replica, on the Ray backend too), and the server gives it its number when
the upload is complete. ``registered_model_name`` (0.8.0's rule) is recorded with the
folder, with the next version of that name; there is no model registry to create models
in.

Standard library only (the framework aside): a training process imports it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

__all__ = ["PART_BYTES", "SaveModelError", "SavedModel", "save_model", "upload_folder"]

PART_BYTES: Final = 8 << 20
"""Bytes of a file sent in one request."""
MODEL_TYPES: Final = ("tensorflow", "pytorch")
"""The model types 0.8.0 saves."""
_NAME: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z-_]*[0-9A-Za-z]|[0-9A-Za-z]")
_URI_ENV: Final = "SUBMARINE_TRACKING_URI"
_TOKEN_ENV: Final = "SUBMARINE_TRACKING_TOKEN"
_JOB_ENV: Final = "JOB_ID"
_TRIES: Final = 5
"""Tries of one request that could not reach the server or got a 5xx, 408 or 429."""
_TIMEOUT: Final = 60.0
_PART_PATH: Final = "/api/artifact/part"
_COMMIT_PATH: Final = "/api/artifact/commit"
_RAW: Final = "application/octet-stream"


class SaveModelError(RuntimeError):
    """The model cannot be saved: not in a replica of a local server, or the server
    refused it (the message says why)."""


@dataclass(frozen=True)
class SavedModel:
    """Where a saved model went."""

    path: str
    """Its folder in the experiment's artifacts, like ``1/``."""
    uri: str
    """Its URI in the artifact listing, like ``submarine-local://experiment/<id>/1/``."""
    registered_model_name: str | None = None
    """The name it was registered under, if any."""
    registered_model_version: int | None = None
    """Its version of that name."""


def _check(
    model_type: object,
    registered_model_name: object,
    input_dim: object,
    output_dim: object,
) -> None:
    if registered_model_name is not None and (
        not isinstance(registered_model_name, str) or not _NAME.fullmatch(registered_model_name)
    ):
        raise ValueError(
            f"registered_model_name {registered_model_name!r} is not valid: it must only "
            "contain letters, digits, '-' and '_', and start and end with a letter or digit"
        )
    if model_type not in MODEL_TYPES:
        raise ValueError(
            f"model_type {model_type!r} is not valid: give one of {', '.join(MODEL_TYPES)}"
        )
    for name, dims in (("input_dim", input_dim), ("output_dim", output_dim)):
        if dims is not None and (
            not isinstance(dims, Sequence)
            or isinstance(dims, str)
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims)
        ):
            raise ValueError(f"{name} {dims!r} is not valid: give a list of whole numbers")
    if model_type == "pytorch" and (input_dim is None or output_dim is None):
        raise ValueError(
            "saving a pytorch model needs input_dim and output_dim (for serving), like "
            "save_model(model, 'pytorch', input_dim=[1, 28, 28], output_dim=[1, 10])"
        )


def _server() -> tuple[str, str, str]:
    """(server URL, credential, experiment id) of the replica; :class:`SaveModelError`
    saying what is missing outside a replica."""
    uri, token, job = (os.environ.get(n, "") for n in (_URI_ENV, _TOKEN_ENV, _JOB_ENV))
    if not uri.startswith(("http://", "https://")) or not token or not job:
        raise SaveModelError(
            "save_model uploads the model to the local server that runs this experiment, "
            f"which gives every replica {_URI_ENV} (its http address), {_TOKEN_ENV} and "
            f"{_JOB_ENV}; here {_URI_ENV}={uri!r}, {_JOB_ENV}={job!r} and {_TOKEN_ENV} is "
            f"{'set' if token else 'not set'}. Run the script as an experiment of the local "
            "server (Submarine 0.8.0's MinIO store is not supported)"
        )
    return uri.rstrip("/"), token, job


def _save_tensorflow(model: Any, folder: Path) -> None:
    try:  # the replica's own TensorFlow
        import tensorflow as tf
    except ImportError as exc:
        raise SaveModelError(f"saving a tensorflow model needs TensorFlow: {exc}") from None

    module = type(model).__module__
    if hasattr(model, "export") and module.startswith("keras") and _keras_major() >= 3:
        model.export(str(folder))  # Keras 3 refuses model.save(folder)
    elif hasattr(model, "save"):
        model.save(str(folder))  # Keras 2, as 0.8.0 saves it
    else:
        tf.saved_model.save(model, str(folder))


def _keras_major() -> int:
    try:
        import keras
    except ImportError:
        return 0
    return int(str(keras.__version__).split(".")[0])


def _save_pytorch(model: Any, folder: Path, input_dim: Sequence[int]) -> None:
    try:  # the replica's own PyTorch
        import torch
    except ImportError as exc:
        raise SaveModelError(f"saving a pytorch model needs PyTorch: {exc}") from None

    traced = torch.jit.trace(model, torch.rand(list(input_dim)))
    traced.save(str(folder / "model.pt"))


def save_model(
    model: Any,
    model_type: str,
    registered_model_name: str | None = None,
    input_dim: list[int] | None = None,
    output_dim: list[int] | None = None,
) -> SavedModel:
    """Save a trained model as the next folder (``1/``, ``2/``, ...) of the experiment's
    artifacts, as Submarine 0.8.0's ``submarine.save_model`` does.

    >>> submarine.save_model(model, "pytorch", "mnist", [1, 1, 28, 28], [1, 10])  # doctest: +SKIP
    SavedModel(path='1/', uri='submarine-local://experiment/experiment-.../1/', ...)

    Args:
        model: a Keras model or ``tf.Module`` (``tensorflow``), a ``torch.nn.Module``
            (``pytorch``).
        model_type: ``tensorflow`` or ``pytorch``.
        registered_model_name: a name to record the model under (letters, digits, ``-``
            and ``_``, starting and ending with a letter or digit); it gets that name's
            next version.
        input_dim: the model's input shape (required for ``pytorch``: the trace's example
            input is ``torch.rand(input_dim)``).
        output_dim: the model's output shape (required for ``pytorch``).

    Returns:
        where it went (0.8.0 returns None).

    Raises:
        ValueError: a bad argument (named, with what would be valid).
        SaveModelError: not in a replica of a local server, or the server refused it.
    """
    _check(model_type, registered_model_name, input_dim, output_dim)
    server = _server()
    with tempfile.TemporaryDirectory(prefix="submarine-model-") as temporary:
        folder = Path(temporary)
        if model_type == "pytorch":
            assert input_dim is not None  # checked
            _save_pytorch(model, folder, input_dim)
        else:
            _save_tensorflow(model, folder)
        description: dict[str, Any] = {"id": uuid.uuid4().hex}
        if input_dim is not None:
            description["input"] = [{"dims": list(input_dim)}]
        if output_dim is not None:
            description["output"] = [{"dims": list(output_dim)}]
        description["model_type"] = model_type
        (folder / "description.json").write_text(json.dumps(description), encoding="utf-8")
        return upload_folder(folder, registered_model_name, server=server)


class _Uploader:
    """Requests to the server, each tried again after a failure that may pass."""

    def __init__(self, url: str, token: str, experiment_id: str) -> None:
        self._url = urlsplit(url)
        self._token = token
        self.experiment_id = experiment_id
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, query: dict[str, str], body: bytes, kind: str
    ) -> tuple[int, dict[str, Any]]:
        """The status and envelope of a request, tried again (with a pause) after a
        connection failure, a 5xx, 408 or 429."""
        target = f"{path}?{urlencode({'id': self.experiment_id, **query})}"
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": kind}
        failure = ""
        for attempt in range(_TRIES):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2**attempt))
            try:
                status, answer = self._send(method, target, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                failure = f"the server at {self._url.geturl()} cannot be reached: {exc}"
                continue
            try:
                envelope = json.loads(answer)
            except ValueError:
                envelope = {}
            envelope = envelope if isinstance(envelope, dict) else {}
            if status >= 500 or status in (408, 429):
                failure = f"the server answered {status}: {envelope.get('message')}"
                continue
            return status, envelope
        raise SaveModelError(f"the model could not be uploaded: {failure}")

    def _send(
        self, method: str, target: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        connection = self._connection
        if connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._url.scheme == "https"
                else http.client.HTTPConnection
            )
            connection = kind(self._url.hostname or "", self._url.port, timeout=_TIMEOUT)
        self._connection = None
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._connection = connection
        return response.status, answer

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _refused(status: int, envelope: dict[str, Any], what: str) -> SaveModelError:
    return SaveModelError(f"the server refused {what} ({status}): {envelope.get('message')}")


def _send_file(uploader: _Uploader, upload: str, source: Path, name: str) -> None:
    """Send one file, part by part, from where the server says it has got to."""
    size = source.stat().st_size
    offset = 0
    with source.open("rb") as reader:
        while True:
            reader.seek(offset)
            part = reader.read(PART_BYTES)
            query = {"upload": upload, "path": name, "offset": str(offset)}
            status, envelope = uploader.request("PUT", _PART_PATH, query, part, _RAW)
            if status == 409 and isinstance(envelope.get("attributes", {}).get("size"), int):
                offset = envelope["attributes"]["size"]  # resume where the server is
                continue
            if status != 200:
                raise _refused(status, envelope, f"{name!r}")
            offset += len(part)
            if offset >= size:
                return


def upload_folder(
    folder: Path,
    registered_model_name: str | None = None,
    *,
    server: tuple[str, str, str] | None = None,
) -> SavedModel:
    """Upload a saved model's folder as the experiment's next artifact folder (what
    :func:`save_model` does once the model is written).

    Args:
        folder: the folder to upload (its files and folders; links are not followed).
        registered_model_name: a name to record it under, with the name's next version.
        server: (URL, credential, experiment id); by default the replica's.
    """
    url, token, experiment_id = server or _server()
    uploader = _Uploader(url, token, experiment_id)
    upload = uuid.uuid4().hex
    try:
        for directory, folders, names in os.walk(folder):
            here = Path(directory)
            relative = here.relative_to(folder).as_posix()
            prefix = "" if relative == "." else f"{relative}/"
            if prefix and not folders and not names:  # an empty folder is kept too
                status, envelope = uploader.request(
                    "PUT", _PART_PATH, {"upload": upload, "path": prefix}, b"", _RAW
                )
                if status != 200:
                    raise _refused(status, envelope, f"{prefix!r}")
            for name in sorted(names):
                if (here / name).is_file() and not (here / name).is_symlink():
                    _send_file(uploader, upload, here / name, prefix + name)
        body = json.dumps({"registeredModelName": registered_model_name}).encode()
        status, envelope = uploader.request(
            "POST", _COMMIT_PATH, {"upload": upload}, body, "application/json"
        )
        if status != 200 or not isinstance(envelope.get("result"), dict):
            raise _refused(status, envelope, "the model")
        result = envelope["result"]
        return SavedModel(
            path=result["path"],
            uri=result["uri"],
            registered_model_name=result.get("registeredModelName"),
            registered_model_version=result.get("registeredModelVersion"),
        )
    finally:
        uploader.close()
