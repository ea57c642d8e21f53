"""Saved models over HTTP: Submarine 0.8.0's listing, a download, and the replicas' upload.

``GET /api/v1/experiment/artifacts/{id}`` answers, as 0.8.0 does, the list of the top-level
entries of the experiment's artifacts, a folder per saved model, as URIs:
``["submarine-local://experiment/<id>/1/", "submarine-local://experiment/<id>/2/"]``; an
unknown id has ``[]``. 0.8.0 writes ``s3://submarine/experiment/<id>/1/``, an object of its
MinIO; the local server keeps models in its data dir, and the ``submarine-local`` scheme
says so, keeping the same path after it (``experiment/<id>/<n>/``). The envelope's
``attributes.artifacts`` (an extension: 0.8.0's is ``{}``) describes each numbered folder:
``path``, ``uri``, ``modelId``, ``modelType``, ``input``, ``output``,
``registeredModelName`` and ``registeredModelVersion``. Numbered folders come in number
order (0.8.0 lists MinIO's names in text order: ``10/`` before ``2/``).

``GET /api/v1/experiment/artifacts/{id}/{path}`` (extension) answers the file at ``path``
(``1/model.pt``) as ``application/octet-stream``, or a folder (``1/``, or ``""`` for every
folder) as an uncompressed tar of what it holds (``application/x-tar``, written while the
files are read).

Replicas upload (extension, what :func:`submarine.save_model` sends), with their tracking
credential (:mod:`submarine.server.tracking.routes`: the experiment id and its HMAC), the
server's token, or, on a server that generated its token, as the server's own user:

* ``PUT /api/artifact/part?id=&upload=&path=&offset=`` a piece of one file of an upload
  (``application/octet-stream``, at most :data:`MAX_PART` bytes), written at ``offset``,
  which must be what the server holds of the file (409, with that size in
  ``attributes.size``, otherwise: the sender resumes there); a ``path`` ending in ``/``
  makes an empty folder. The body goes to disk as it comes.
* ``POST /api/artifact/commit?id=&upload=`` with ``{"registeredModelName": name|null}``
  makes the upload the next numbered folder, atomically (:mod:`.files`), and answers its
  ``path``, ``uri`` and registered name and version; committing again answers the same.

An experiment's artifacts and unfinished uploads may take ``--artifact-max-bytes``; past it
a part is refused with 413. The credential is checked before the body is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Route

from submarine._archive import tar_pieces
from submarine.server.api.rest import (
    BAD_TOKEN,
    ApiEndpoint,
    ApiError,
    envelope,
    read_document,
)
from submarine.server.artifacts.files import ArtifactFiles, UploadError, model_name_problem
from submarine.server.tracking.routes import ANY_EXPERIMENT, Tracking

__all__ = [
    "COMMIT_PATH",
    "LIST_BASE",
    "MAX_PART",
    "PART_PATH",
    "UPLOAD_PATHS",
    "artifact_routes",
]

LIST_BASE: Final = "/api/v1/experiment/artifacts"
"""Where 0.8.0 lists an experiment's artifacts (``/{id}``)."""
PART_PATH: Final = "/api/artifact/part"
"""Where a replica sends a piece of a file of an upload."""
COMMIT_PATH: Final = "/api/artifact/commit"
"""Where a replica makes an upload a numbered folder."""
UPLOAD_PATHS: Final = frozenset({PART_PATH, COMMIT_PATH})
"""Paths that check a replica's credential themselves (open past the token guard)."""
MAX_PART: Final = 64 << 20
"""The largest piece of a file one request may carry."""
_CHALLENGE: Final = {"WWW-Authenticate": "Bearer"}
_WRITE_BATCH: Final = 1 << 20
"""Bytes of a body gathered before they are written (in a worker thread)."""


def _experiment_known(request: Request, experiment_id: str) -> bool:
    store = (request.scope.get("state") or {}).get("store")
    if store is None:
        raise ApiError(503, "the server is starting or stopping: try again")
    return store.get(experiment_id) is not None


def _query(request: Request, name: str, example: str) -> str:
    value = request.query_params.get(name)
    if value is None or not value:
        raise ApiError(400, f"{name}: give ?{name}={example}")
    return value


def _upload_error(exc: UploadError) -> ApiError:
    return ApiError(exc.code, str(exc))


def artifact_routes(
    files: ArtifactFiles, tracking: Tracking, max_bytes: int, max_body_bytes: int
) -> list[Route]:
    """The artifact routes over ``files``; uploads admitted by ``tracking``'s credentials;
    an experiment's artifacts bounded to ``max_bytes``."""

    async def admitted_experiment(request: Request) -> str:
        """The experiment of ``?id=``, if the bearer may upload to it (else 401, before
        the body is read) and it exists (else 404)."""
        admitted = tracking.admitted(request)
        if admitted is None and await tracking.admits_without_credential(request):
            admitted = ANY_EXPERIMENT
        if admitted is None:
            raise ApiError(401, BAD_TOKEN, headers=_CHALLENGE)
        experiment_id = _query(request, "id", "<experiment id>")
        if admitted not in (ANY_EXPERIMENT, experiment_id):
            raise ApiError(401, BAD_TOKEN, headers=_CHALLENGE)
        if not _experiment_known(request, experiment_id):
            raise ApiError(404, f"Not found experiment. (no experiment {experiment_id!r})")
        return experiment_id

    async def forget_if_deleted(request: Request, experiment_id: str) -> None:
        """After a write: an experiment deleted meanwhile keeps nothing of it."""
        if not _experiment_known(request, experiment_id):
            await run_in_threadpool(files.discard, experiment_id)
            raise ApiError(404, f"Not found experiment. (no experiment {experiment_id!r})")

    class Listing(ApiEndpoint):
        async def get(self, request: Request) -> Response:
            """The experiment's top-level artifacts as URIs (0.8.0), described in
            ``attributes.artifacts``."""
            experiment_id = request.path_params["id"]

            def read() -> tuple[list[str], list[dict[str, Any]]]:
                entries = files.entries(experiment_id)
                return [files.uri(experiment_id, e) for e in entries], files.models(experiment_id)

            uris, models = await run_in_threadpool(read)
            return envelope(result=uris, attributes={"artifacts": models})

    class Download(ApiEndpoint):
        async def get(self, request: Request) -> Response:
            """A file as it is; a folder as a tar of what it holds."""
            experiment_id, path = request.path_params["id"], request.path_params["path"]
            try:
                found = await run_in_threadpool(files.locate, experiment_id, path)
            except ValueError as exc:
                raise ApiError(400, f"path: {exc}") from None
            if found is None:
                raise ApiError(
                    404,
                    f"experiment {experiment_id!r} has no artifact {path!r}: "
                    f"GET {LIST_BASE}/{experiment_id} lists them",
                )
            if found.is_file():
                return FileResponse(
                    found, media_type="application/octet-stream", filename=found.name
                )
            name = f"{experiment_id}-{path.strip('/').replace('/', '-')}".strip("-")
            return StreamingResponse(
                tar_pieces(found),
                media_type="application/x-tar",
                headers={"Content-Disposition": f'attachment; filename="{name}.tar"'},
            )

    class Part(ApiEndpoint):
        async def put(self, request: Request) -> Response:
            """Write a piece of one file of an upload at ``offset``."""
            experiment_id = await admitted_experiment(request)
            upload = _query(request, "upload", "<32 hex digits>")
            path = _query(request, "path", "model.pt")
            offset_text = request.query_params.get("offset", "0")
            if not offset_text.isdigit():
                raise ApiError(400, f"offset {offset_text!r} is not valid: give a byte count")
            offset = int(offset_text)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_PART:
                raise ApiError(
                    413,
                    f"a part of {declared} bytes is too big: send at most {MAX_PART}",
                    headers={"Connection": "close"},
                )
            try:
                target = await run_in_threadpool(files.staged, experiment_id, upload, path)
            except UploadError as exc:
                raise _upload_error(exc) from None
            if path.endswith("/"):
                await forget_if_deleted(request, experiment_id)
                return envelope(result={"size": 0})
            size = target.stat().st_size if target.exists() else 0
            if offset != size:
                return envelope(
                    409,
                    message=f"{path!r} holds {size} bytes: send the part at offset {size}",
                    attributes={"size": size},
                )
            room = max_bytes - await run_in_threadpool(files.used_bytes, experiment_id)
            if declared.isdigit() and int(declared) > room:
                raise ApiError(413, _over_quota(max_bytes), headers={"Connection": "close"})
            written = await _receive(request, target, offset, min(room, MAX_PART), max_bytes)
            await forget_if_deleted(request, experiment_id)
            return envelope(result={"size": offset + written})

    class Commit(ApiEndpoint):
        async def post(self, request: Request) -> Response:
            """Make an upload the experiment's next numbered folder."""
            experiment_id = await admitted_experiment(request)
            upload = _query(request, "upload", "<32 hex digits>")
            document = await read_document(request, max_body_bytes)
            if not isinstance(document, Mapping) or set(document) - {"registeredModelName"}:
                raise ApiError(400, 'send {"registeredModelName": "<name>" or null}')
            name = document.get("registeredModelName")
            problem = model_name_problem(name)
            if problem is not None:
                raise ApiError(400, problem)
            try:
                result = await run_in_threadpool(files.commit, experiment_id, upload, name)
            except UploadError as exc:
                raise _upload_error(exc) from None
            await forget_if_deleted(request, experiment_id)
            return envelope(result=result)

    return [
        Route(f"{LIST_BASE}/{{id}}", Listing, methods=["GET"]),
        Route(f"{LIST_BASE}/{{id}}/{{path:path}}", Download, methods=["GET"]),
        Route(PART_PATH, Part, methods=["PUT"]),
        Route(COMMIT_PATH, Commit, methods=["POST"]),
    ]


def _over_quota(quota: int) -> str:
    return (
        f"the experiment's artifacts would pass --artifact-max-bytes ({quota} bytes), or the "
        f"part {MAX_PART} bytes: nothing of this part is kept"
    )


async def _receive(request: Request, target: Path, offset: int, room: int, quota: int) -> int:
    """Append the body to ``target`` as it comes, at most ``room`` bytes (413 past it, the
    file cut back to ``offset``); the bytes written."""

    def append(data: bytes) -> None:
        with target.open("ab") as out:
            out.write(data)

    def cut_back() -> None:
        with target.open("ab") as out:
            out.truncate(offset)

    total, pending = 0, bytearray()
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > room:
                raise ApiError(413, _over_quota(quota), headers={"Connection": "close"})
            pending += chunk
            if len(pending) >= _WRITE_BATCH:
                await run_in_threadpool(append, bytes(pending))
                pending.clear()
        await run_in_threadpool(append, bytes(pending))
    except ClientDisconnect:
        await run_in_threadpool(cut_back)
        raise ApiError(400, "the connection closed before the part was complete") from None
    except BaseException:
        await run_in_threadpool(cut_back)
        raise
    return total
