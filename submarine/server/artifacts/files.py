"""Where saved models live on the local server, and how an upload becomes folder ``n/``.

Everything of one experiment is under its directory of the data dir
(:class:`~submarine.server.run.layout.JobLayout`), so deleting the experiment deletes its
artifacts too::

    artifacts/1/...            the first saved model (Submarine 0.8.0's layout: the model's
    artifacts/2/...            files and description.json), numbered here, never by a replica
    uploads/<upload>/...       an upload still being sent (a replica's files, part by part)
    uploads/<upload>.json      what committing that upload gave (so a retried commit gives it too)
    registered-models.json     {"<n>": {"registeredModelName", "registeredModelVersion"}}

``data_dir/model-versions.json`` holds the last version given to each registered model
name, across experiments, so that versions count on as 0.8.0's model registry counts them
(and a deleted experiment's versions are not given again).

An upload is committed under one lock: the next number is one more than the highest
folder there is, and the upload's folder is renamed to it, so replicas that save at once
get distinct folders and a reader never sees half a model.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
from pathlib import Path
from typing import Any, Final

from submarine._archive import split_path
from submarine.server.run.layout import JobLayout

__all__ = [
    "DESCRIPTION",
    "MODEL_NAME",
    "NUMBERED",
    "UPLOAD_ID",
    "URI_SCHEME",
    "ArtifactFiles",
    "UploadError",
]

logger = logging.getLogger(__name__)

URI_SCHEME: Final = "submarine-local"
"""Scheme of the URIs the listing answers: ``submarine-local://experiment/<id>/1/``."""
NUMBERED: Final = re.compile(r"[1-9][0-9]{0,8}")
"""Names of the folders that saved models get."""
UPLOAD_ID: Final = re.compile(r"[0-9a-f]{32}")
"""An upload's id: a uuid4's hex, chosen by the replica."""
MODEL_NAME: Final = re.compile(r"[0-9A-Za-z][0-9A-Za-z-_]*[0-9A-Za-z]|[0-9A-Za-z]")
"""Submarine 0.8.0's rule for a registered model name."""
DESCRIPTION: Final = "description.json"
"""The file of a saved model that describes it."""
_MAX_DESCRIPTION: Final = 1 << 20
"""The largest description.json read for a listing."""
_REGISTERED: Final = "registered-models.json"
_VERSIONS: Final = "model-versions.json"


class UploadError(Exception):
    """An upload cannot go on: ``code`` is the HTTP status to answer, ``size`` what the
    server holds of the file (for a part sent at the wrong offset)."""

    def __init__(self, code: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.size = size


def model_name_problem(name: object) -> str | None:
    """What is wrong with a registered model name (0.8.0's rule), or None."""
    if name is None:
        return None
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        return (
            f"registeredModelName {name!r} is not valid: use letters, digits, '-' and '_', "
            "starting and ending with a letter or digit"
        )
    return None


def _read_json(path: Path, limit: int = _MAX_DESCRIPTION) -> Any:
    """The JSON document of a small file; None when it is missing, too big or unreadable."""
    try:
        with path.open("rb") as source:
            data = source.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _write_json(path: Path, document: Any) -> None:
    """Write a JSON file atomically: a crash leaves the old one or the new one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document), encoding="utf-8")
    os.replace(temporary, path)


def _bytes_under(folder: Path) -> int:
    total = 0
    for directory, _, names in os.walk(folder):
        for name in names:
            try:
                info = os.lstat(os.path.join(directory, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


class ArtifactFiles:
    """The artifacts of every experiment of a data dir (see the module's docstring).

    Args:
        data_dir: the server's data dir.
    """

    def __init__(self, data_dir: Path) -> None:
        self._layout = JobLayout(data_dir)
        self._versions = Path(data_dir) / _VERSIONS
        self._lock = threading.Lock()

    # -- where -------------------------------------------------------------------------

    def root(self, experiment_id: str) -> Path:
        """The experiment's artifacts (``ValueError`` for an id that is no plain name)."""
        return self._layout.directory(experiment_id) / "artifacts"

    def _uploads(self, experiment_id: str) -> Path:
        return self._layout.directory(experiment_id) / "uploads"

    def uri(self, experiment_id: str, entry: str) -> str:
        """The URI the listing gives an entry (``1/``) of the experiment's artifacts."""
        return f"{URI_SCHEME}://experiment/{experiment_id}/{entry}"

    def discard(self, experiment_id: str) -> None:
        """Delete everything of an experiment that is gone (an upload that raced its
        delete recreated its directory)."""
        with self._lock:
            self._layout.discard(experiment_id)

    # -- reading -----------------------------------------------------------------------

    def entries(self, experiment_id: str) -> list[str]:
        """The top-level entries of the experiment's artifacts, folders with a trailing
        ``/``: numbered folders in number order, then anything else by name. An unknown
        or malformed id has none."""
        try:
            found = list(os.scandir(self.root(experiment_id)))
        except (ValueError, OSError):
            return []
        names = []
        for entry in found:
            if entry.is_dir(follow_symlinks=False):
                names.append(entry.name + "/")
            elif entry.is_file(follow_symlinks=False):
                names.append(entry.name)

        def order(name: str) -> tuple[int, int, str]:
            bare = name.removesuffix("/")
            if name.endswith("/") and NUMBERED.fullmatch(bare):
                return (0, int(bare), "")
            return (1, 0, name)

        return sorted(names, key=order)

    def models(self, experiment_id: str) -> list[dict[str, Any]]:
        """What each numbered folder holds: its path and URI, and what its description
        and registration say (absent fields are null)."""
        registered = self._registered(experiment_id)
        described = []
        for entry in self.entries(experiment_id):
            number = entry.removesuffix("/")
            if not (entry.endswith("/") and NUMBERED.fullmatch(number)):
                continue
            description = _read_json(self.root(experiment_id) / number / DESCRIPTION)
            description = description if isinstance(description, dict) else {}
            registration = registered.get(number, {})
            described.append(
                {
                    "path": entry,
                    "uri": self.uri(experiment_id, entry),
                    "modelId": description.get("id"),
                    "modelType": description.get("model_type"),
                    "input": description.get("input"),
                    "output": description.get("output"),
                    "registeredModelName": registration.get("registeredModelName"),
                    "registeredModelVersion": registration.get("registeredModelVersion"),
                }
            )
        return described

    def locate(self, experiment_id: str, path: str) -> Path | None:
        """The file or folder at ``path`` of the experiment's artifacts (``""``: all of
        them); None when there is none. ``ValueError`` for a path that is not valid."""
        names = split_path(path)
        try:
            target = self.root(experiment_id)
        except ValueError:
            return None
        for name in ["", *names]:
            target = target / name if name else target
            try:
                mode = target.lstat().st_mode
            except OSError:
                return None
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                return None
        if path.endswith("/") and not target.is_dir():
            return None
        return target

    def used_bytes(self, experiment_id: str) -> int:
        """Bytes the experiment's artifacts and unfinished uploads take."""
        return _bytes_under(self.root(experiment_id)) + _bytes_under(self._uploads(experiment_id))

    def _registered(self, experiment_id: str) -> dict[str, dict[str, Any]]:
        try:
            path = self._layout.directory(experiment_id) / _REGISTERED
        except ValueError:
            return {}
        document = _read_json(path)
        return document if isinstance(document, dict) else {}

    # -- uploading ---------------------------------------------------------------------

    def staged(self, experiment_id: str, upload: str, path: str) -> Path:
        """Where a file (or, with a trailing ``/``, a folder) of an upload is written,
        its parent folders made; :class:`UploadError` (400) for a bad upload id or path."""
        if not UPLOAD_ID.fullmatch(upload):
            raise UploadError(400, f"upload {upload!r} is not valid: give 32 hex digits")
        try:
            names = split_path(path)
        except ValueError as exc:
            raise UploadError(400, f"path: {exc}") from None
        if not names:
            raise UploadError(400, "path: give the path of a file of the model, like model.pt")
        folder = self._uploads(experiment_id) / upload
        folder.mkdir(parents=True, exist_ok=True)
        target = folder
        for name in names[:-1]:
            target = target / name
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                raise UploadError(409, f"path: {path!r} goes through a file of this upload")
            target.mkdir(parents=True, exist_ok=True)
        target = target / names[-1]
        if path.endswith("/"):
            if target.exists() and not target.is_dir():
                raise UploadError(409, f"path: {path!r} is a file of this upload")
            target.mkdir(parents=True, exist_ok=True)
        elif target.is_dir():
            raise UploadError(409, f"path: {path!r} is a folder of this upload")
        return target

    def commit(
        self, experiment_id: str, upload: str, registered_name: str | None
    ) -> dict[str, Any]:
        """Make an upload the experiment's next numbered folder (and give a registered
        name its next version); the same answer again for an upload already committed.
        :class:`UploadError` (404) for an upload that was never sent."""
        if not UPLOAD_ID.fullmatch(upload):
            raise UploadError(400, f"upload {upload!r} is not valid: give 32 hex digits")
        uploads = self._uploads(experiment_id)
        marker = uploads / f"{upload}.json"
        with self._lock:
            done = _read_json(marker)
            if isinstance(done, dict):
                return done
            staging = uploads / upload
            if not staging.is_dir():
                raise UploadError(404, f"upload {upload!r} has no files: send them first")
            root = self.root(experiment_id)
            root.mkdir(parents=True, exist_ok=True)
            taken = [int(n) for n in os.listdir(root) if NUMBERED.fullmatch(n)]
            number = str(max(taken, default=0) + 1)
            os.rename(staging, root / number)
            version = None
            if registered_name is not None:
                version = self._next_version(registered_name)
                registered = self._registered(experiment_id)
                registered[number] = {
                    "registeredModelName": registered_name,
                    "registeredModelVersion": version,
                }
                _write_json(self._layout.directory(experiment_id) / _REGISTERED, registered)
            result = {
                "path": f"{number}/",
                "uri": self.uri(experiment_id, f"{number}/"),
                "registeredModelName": registered_name,
                "registeredModelVersion": version,
            }
            _write_json(marker, result)
            return result

    def _next_version(self, name: str) -> int:
        """The next version of a registered name (under the lock)."""
        versions = _read_json(self._versions)
        if not isinstance(versions, dict):
            if self._versions.exists():
                logger.warning("%s cannot be read: model versions count from 1", self._versions)
            versions = {}
        last = versions.get(name)
        version = (last if isinstance(last, int) else 0) + 1
        versions[name] = version
        _write_json(self._versions, versions)
        return version
