"""TensorBoard in the server's own process, over every experiment's log dir.

When the ``tensorboard`` package is installed (``pip install 'submarine-sdk[tensorboard]'``,
which brings ``a2wsgi`` too), the first request to ``/tensorboard/`` builds TensorBoard's
WSGI application, with its standard plugins, and serves it through a WSGI-to-ASGI bridge:
TensorBoard listens on no port and no socket of its own, so it is reached only through the
server, behind the server's guards and token. Its data is read by TensorBoard's Python
loader (``--load_fast=false``): the faster loader is a separate process serving the data on
a loopback port, which any local user could read.

Every :data:`RELOAD_SECONDS` a thread of ours looks at ``<data dir>/experiments/*/tensorboard``
(each experiment's ``SUBMARINE_TENSORBOARD_LOG_DIR``) and loads what is new: each experiment
is a run named ``<name> (<id>)`` (a subfolder with event files of its own is a run
``<name> (<id>)/<subfolder>``), so that experiments of the same name stay apart. A deleted
experiment's runs go with its files. The thread, and the bridge's worker threads, stop with
the server (:meth:`TensorBoardService.close`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from submarine.server.api.rest import envelope
from submarine.server.run.layout import JobLayout

__all__ = ["INSTALL_HINT", "PATH_PREFIX", "RELOAD_SECONDS", "TensorBoardService", "run_name"]

logger = logging.getLogger(__name__)

RELOAD_SECONDS: Final = 5.0
"""How often the experiments' log dirs are looked at for new runs and events."""
INSTALL_HINT: Final = (
    "TensorBoard is not installed on the server: pip install 'submarine-sdk[tensorboard]' "
    "where the server runs, then restart it"
)
PATH_PREFIX: Final = "/tensorboard"
"""Where the server serves TensorBoard (it is told, to write its links under it)."""
_BRIDGE_THREADS: Final = 4
"""Worker threads that run TensorBoard's requests."""


def run_name(name: str, experiment_id: str, subfolder: str = ".") -> str:
    """The TensorBoard run of an experiment's log dir (or of a subfolder of it).

    >>> run_name("mnist", "experiment-1-0001"), run_name("mnist", "experiment-1-0001", "train")
    ('mnist (experiment-1-0001)', 'mnist (experiment-1-0001)/train')
    """
    run = f"{name} ({experiment_id})"
    return run if subfolder in (".", "") else f"{run}/{subfolder}"


class _StoppingError(Exception):
    """The server is stopping: TensorBoard is not started again."""


class _Board:
    """TensorBoard's application, its event multiplexer and our reload thread."""

    def __init__(self, root: Path, names: Callable[[str], str | None]) -> None:
        try:  # the tensorboard extra
            from a2wsgi import WSGIMiddleware
            from tensorboard import program
            from tensorboard.backend import application
            from tensorboard.backend.event_processing import (
                data_ingester,
                data_provider,
                io_wrapper,
                plugin_event_multiplexer,
            )
        except ImportError as exc:
            raise RuntimeError(f"{INSTALL_HINT} ({exc})") from None

        # TensorBoard logs every reload at INFO: the server's log keeps its warnings only.
        logging.getLogger("tensorboard").setLevel(logging.WARNING)
        self._root = root
        self._names = names
        self._subdirectories = io_wrapper.GetLogdirSubdirectories
        board = program.TensorBoard()
        board.configure(logdir=str(root), load_fast="false", path_prefix=PATH_PREFIX)
        self._multiplexer = plugin_event_multiplexer.EventMultiplexer(
            size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
            tensor_size_guidance=data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE,
            purge_orphaned_data=True,
            max_reload_threads=1,
        )
        provider = data_provider.MultiplexerDataProvider(self._multiplexer, str(root))
        wsgi = application.TensorBoardWSGIApp(
            board.flags,
            board.plugin_loaders,
            provider,
            board.assets_zip_provider,
            self._multiplexer,
        )
        self._bridge = WSGIMiddleware(wsgi, workers=_BRIDGE_THREADS)
        self.app: ASGIApp = self._bridge  # type: ignore[assignment]  # a2wsgi's own ASGI types
        self._stop = threading.Event()
        self.reload()
        self._thread = threading.Thread(target=self._run, name="submarine-tensorboard")
        self._thread.daemon = True
        self._thread.start()

    def reload(self) -> None:
        """Add the runs of experiments that have event files now, then read what is new."""
        try:
            folders = sorted(os.scandir(self._root), key=lambda e: e.name)
        except OSError:
            folders = []
        for folder in folders:
            logs = Path(folder.path) / "tensorboard"
            if not logs.is_dir():
                continue
            name = self._names(folder.name)
            if name is None:  # deleted, or not an experiment
                continue
            for subdirectory in self._subdirectories(str(logs)):
                subfolder = os.path.relpath(subdirectory, logs)
                self._multiplexer.AddRun(subdirectory, run_name(name, folder.name, subfolder))
        self._multiplexer.Reload()

    def _run(self) -> None:
        while not self._stop.wait(RELOAD_SECONDS):
            try:
                self.reload()
            except Exception:
                logger.exception("TensorBoard could not read the experiments' log dirs")

    def close(self) -> None:
        """Stop the reload thread and the bridge's threads."""
        self._stop.set()
        self._thread.join(timeout=30)
        self._bridge.executor.shutdown(wait=False, cancel_futures=True)


class TensorBoardService:
    """The ``/tensorboard/`` application: TensorBoard, started on first use.

    Args:
        data_dir: the server's data dir.
    """

    def __init__(self, data_dir: Path) -> None:
        self._root = JobLayout(data_dir).root
        self._names: Callable[[str], str | None] = lambda _: None
        self._board: _Board | None = None
        self._lock = threading.Lock()
        self._closed = False

    @staticmethod
    def installed() -> bool:
        """Whether TensorBoard (and the bridge it is served through) can be loaded."""
        return all(importlib.util.find_spec(m) is not None for m in ("tensorboard", "a2wsgi"))

    def use_names(self, names: Callable[[str], str | None]) -> None:
        """Name runs with ``names(experiment id)`` (None: not an experiment, no run)."""
        self._names = names

    def _started(self) -> _Board:
        with self._lock:
            if self._closed:
                raise _StoppingError
            if self._board is None:
                logger.info("starting TensorBoard over %s", self._root)
                self._board = _Board(self._root, lambda i: self._names(i))
            return self._board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a request under ``/tensorboard/`` (starting TensorBoard first)."""
        if scope["type"] != "http":
            return
        if not self.installed():
            await envelope(404, message=INSTALL_HINT)(scope, receive, send)
            return
        try:
            board = await run_in_threadpool(self._started)
        except _StoppingError:
            await envelope(503, message="the server is stopping")(scope, receive, send)
            return
        except RuntimeError as exc:  # installed, but cannot be loaded
            await envelope(404, message=str(exc))(scope, receive, send)
            return
        await board.app(scope, receive, send)

    def close(self) -> None:
        """Stop TensorBoard, if it was started; later requests get a 503."""
        with self._lock:
            self._closed = True
            board, self._board = self._board, None
        if board is not None:
            board.close()
