"""The clients' artifact methods: an experiment's saved models, listed and downloaded.

:class:`ArtifactMethods` (blocking) and :class:`AsyncArtifactMethods` (asyncio) are mixed
into :class:`~submarine.client.ExperimentClient` and
:class:`~submarine.client.AsyncExperimentClient`. Listing is Submarine 0.8.0's
``GET /api/v1/experiment/artifacts/{id}`` (a list of URIs), with what the local server says
of each saved model. Downloading is the local server's extension
``GET /api/v1/experiment/artifacts/{id}/{path}``: a file as it is, a folder as a tar that
is unpacked here (links, devices and names outside the destination refused). A download is
written to disk as it comes (the answer-size cap does not apply), into a temporary file
beside the destination first, so a failed download leaves no half file; it is not retried.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from submarine._archive import ArchiveError, extract_tar, path_problem
from submarine.client._steps import Call
from submarine.models.artifact import Artifact, ServiceInfo, artifact_path

if TYPE_CHECKING:
    import httpx

    from submarine.client._core import ClientCore
    from submarine.client._decode import Envelope

__all__ = ["ArtifactMethods", "AsyncArtifactMethods"]

_TAR = "application/x-tar"


def _artifacts(experiment_id: str, envelope: Envelope[list[str]]) -> list[Artifact]:
    """Typed entries: the result's URIs, with what ``attributes.artifacts`` says of each."""
    described: dict[str, dict[str, Any]] = {}
    extra = (envelope.attributes or {}).get("artifacts")
    if isinstance(extra, list):
        described = {d["uri"]: d for d in extra if isinstance(d, dict) and "uri" in d}
    uris = envelope.result or []
    return [
        Artifact.model_validate(
            {**described.get(uri, {}), "uri": uri, "path": artifact_path(uri, experiment_id)}
        )
        for uri in uris
    ]


def _list_call(core: ClientCore, experiment_id: str) -> Call[list[Artifact]]:
    from submarine.client._core import check_id
    from submarine.client._decode import decode_envelope

    experiment_id = check_id(experiment_id)

    def read(response: httpx.Response) -> list[Artifact]:
        return _artifacts(experiment_id, decode_envelope(list[str], response))

    return Call("GET", f"{core.api}/artifacts/{quote(experiment_id, safe='')}", read)


def _info_call(core: ClientCore, service: str) -> Call[ServiceInfo]:
    from submarine.client._decode import decode_envelope

    def read(response: httpx.Response) -> ServiceInfo:
        return decode_envelope(ServiceInfo, response).result or ServiceInfo()

    return Call("GET", f"{core.api}/{service}", read)


def _download_url(core: ClientCore, experiment_id: str, path: str) -> tuple[str, str]:
    """(URL, checked relative path) of a download; ``path`` may be a listed URI."""
    from submarine.client._core import check_id

    experiment_id = check_id(experiment_id)
    relative = artifact_path(path, experiment_id) if "://" in path else path
    problem = path_problem(relative)
    if problem is not None or "://" in relative:
        raise ValueError(
            f"path {path!r} is not valid: {problem or 'it names another experiment'}; give "
            "a path of the experiment's artifacts like 1/ or 1/model.pt, or a listed URI"
        )
    quoted = quote(experiment_id, safe="")
    return f"{core.api}/artifacts/{quoted}/{quote(relative, safe='/')}", relative


def _target(dest: Path, relative: str, folder: bool) -> Path:
    """Where a download goes: a folder's contents into ``dest``; a file at ``dest``, or
    into it when it is an existing folder."""
    if folder:
        return dest
    name = relative.rstrip("/").rsplit("/", 1)[-1] or "artifact"
    return dest / name if dest.is_dir() else dest


@contextmanager
def _spool(dest: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside ``dest`` (removed afterwards) to download into."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below)
        dir=dest.parent, prefix=f".{dest.name}.", suffix=".part", delete=False
    )
    try:
        yield handle
    finally:
        handle.close()
        Path(handle.name).unlink(missing_ok=True)


def _finish(spool: IO[bytes], target: Path, folder: bool) -> Path:
    """Unpack a downloaded folder, or move a downloaded file into place."""
    spool.flush()
    if folder:
        spool.seek(0)
        try:
            extract_tar(spool, target)
        except ArchiveError as exc:
            raise ValueError(f"the server sent an archive that is not unpacked: {exc}") from None
        return target
    os.replace(spool.name, target)
    return target


class ArtifactMethods:
    """The blocking client's artifact methods."""

    if TYPE_CHECKING:
        _core: ClientCore
        _http: httpx.Client

        def _call(self, call: Call[Any]) -> Any: ...

    def list_artifacts(self, id: str) -> list[Artifact]:
        """The saved models (and any other top-level entries) of an experiment's artifacts.

        >>> [a.path for a in client.list_artifacts(experiment_id)]  # doctest: +SKIP
        ['1/', '2/']

        :param id: the experiment id (an unknown one has none, as on Submarine 0.8.0).
        :returns: :class:`~submarine.models.Artifact` entries: ``uri`` as listed, ``path``
            (like ``1/``), and, from a local server, the model's id, type, shapes and
            registered name and version.
        """
        result: list[Artifact] = self._call(_list_call(self._core, id))
        return result

    def get_tensorboard_info(self) -> ServiceInfo:
        """Whether the server offers TensorBoard, and at which path (``/tensorboard/``)."""
        result: ServiceInfo = self._call(_info_call(self._core, "tensorboard"))
        return result

    def get_mlflow_info(self) -> ServiceInfo:
        """Whether the server offers MLflow, and at which path (``/mlflow/``)."""
        result: ServiceInfo = self._call(_info_call(self._core, "mlflow"))
        return result

    def download_artifact(self, id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Download a saved model's folder (``1/``), one file of it (``1/model.pt``), or
        every folder (``""``) of an experiment: a local server's extension.

        :param id: the experiment id.
        :param path: a path in the experiment's artifacts, or a URI ``list_artifacts`` gave.
        :param dest: for a folder, the folder to unpack it into (made if missing; files in
            it are replaced); for a file, the file to write, or a folder to write it into.
        :returns: the folder or file written.
        """
        import httpx as _httpx

        from submarine.client._decode import error_for_response
        from submarine.client._limits import UNCAPPED

        url, relative = _download_url(self._core, id, path)
        with self._http.stream("GET", url, extensions={UNCAPPED: True}) as response:
            if response.status_code != 200:
                response.read()
                raise error_for_response(response)
            folder = response.headers.get("content-type", "").startswith(_TAR)
            target = _target(Path(dest), relative, folder)
            with _spool(target) as spool:
                try:
                    for piece in response.iter_bytes():
                        spool.write(piece)
                except _httpx.RequestError as exc:
                    from submarine.client._decode import transport_error

                    raise transport_error(exc, "GET", url) from exc
                return _finish(spool, target, folder)


class AsyncArtifactMethods:
    """The asyncio client's artifact methods (see :class:`ArtifactMethods`)."""

    if TYPE_CHECKING:
        _core: ClientCore
        _http: httpx.AsyncClient

        async def _call(self, call: Call[Any]) -> Any: ...

    async def list_artifacts(self, id: str) -> list[Artifact]:
        """The saved models (and any other top-level entries) of an experiment's artifacts.

        >>> [a.path for a in client.list_artifacts(experiment_id)]  # doctest: +SKIP
        ['1/', '2/']

        :param id: the experiment id (an unknown one has none, as on Submarine 0.8.0).
        :returns: :class:`~submarine.models.Artifact` entries: ``uri`` as listed, ``path``
            (like ``1/``), and, from a local server, the model's id, type, shapes and
            registered name and version.
        """
        result: list[Artifact] = await self._call(_list_call(self._core, id))
        return result

    async def get_tensorboard_info(self) -> ServiceInfo:
        """Whether the server offers TensorBoard, and at which path (``/tensorboard/``)."""
        result: ServiceInfo = await self._call(_info_call(self._core, "tensorboard"))
        return result

    async def get_mlflow_info(self) -> ServiceInfo:
        """Whether the server offers MLflow, and at which path (``/mlflow/``)."""
        result: ServiceInfo = await self._call(_info_call(self._core, "mlflow"))
        return result

    async def download_artifact(self, id: str, path: str, dest: str | os.PathLike[str]) -> Path:
        """Download a saved model's folder (``1/``), one file of it (``1/model.pt``), or
        every folder (``""``) of an experiment: a local server's extension.

        :param id: the experiment id.
        :param path: a path in the experiment's artifacts, or a URI ``list_artifacts`` gave.
        :param dest: for a folder, the folder to unpack it into (made if missing; files in
            it are replaced); for a file, the file to write, or a folder to write it into.
        :returns: the folder or file written.
        """
        import anyio
        import httpx as _httpx

        from submarine.client._decode import error_for_response, transport_error
        from submarine.client._limits import UNCAPPED

        url, relative = _download_url(self._core, id, path)
        async with self._http.stream("GET", url, extensions={UNCAPPED: True}) as response:
            if response.status_code != 200:
                await response.aread()
                raise error_for_response(response)
            folder = response.headers.get("content-type", "").startswith(_TAR)
            target = _target(Path(dest), relative, folder)
            with _spool(target) as spool:
                try:
                    async for piece in response.aiter_bytes():
                        await anyio.to_thread.run_sync(spool.write, piece)
                except _httpx.RequestError as exc:
                    raise transport_error(exc, "GET", url) from exc
                written: Path = await anyio.to_thread.run_sync(
                    partial(_finish, spool, target, folder)
                )
                return written
