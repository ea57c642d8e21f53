"""The embedded Submarine-compatible server: Submarine's experiment REST API on one machine.

Experiments run as local processes, one a replica ("pod"); state lives in SQLite under the
data dir. Start it with ``python -m submarine.server`` or from Python::

    from submarine.server import serve, settings_from_args
    serve(settings_from_args(["--port", "8080", "--data-dir", "/tmp/submarine"]))

Wings, one folder each (arrows are the only imports allowed between them):

* :mod:`~.api` the experiment and template APIs over HTTP (routes, envelope, wire shapes,
  guards, connection and login limits) -> ``run``, ``store``, ``examples``.
* :mod:`~.run` experiments from spec to processes: runner, scheduler, the job policy,
  processes, layout, pod logs, each framework's env, capacity, git, and the backends (local
  processes, :mod:`~.run.raybackend`) -> ``store``.
* :mod:`~.store` SQLite (experiments, templates) and the data dir.
* :mod:`~.examples` the example templates a fresh data dir offers, and the standard-library
  training they run (package data: no import of the other wings).
* :mod:`~.tracking` metrics and params (Submarine's tracking endpoints) -> ``api``.
* :mod:`~.workbench` the page -> ``api``.
* :mod:`~.app` the composition root that wires them; :mod:`~.settings` configuration;
  :mod:`~.errors` and :mod:`~.scrub` (credentials out of every message) for all.

Importing this package is cheap: the server dependencies (the ``server`` extra) load when
:func:`serve` runs, and the settings (pydantic) when a name of them is first read. A
replica's launcher, which runs under this package before every replica's command, loads
neither.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from submarine._exports import lazy_exports
from submarine.server.errors import ServerStartError

if TYPE_CHECKING:
    from submarine.server.settings import Settings, SettingsError, settings_from_args

__all__ = ["ServerStartError", "Settings", "SettingsError", "serve", "settings_from_args"]

_LAZY: dict[str, str] = {
    "Settings": "submarine.server.settings",
    "SettingsError": "submarine.server.settings",
    "settings_from_args": "submarine.server.settings",
}
__getattr__, __dir__ = lazy_exports(__name__, globals(), _LAZY)


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _discover(settings: Settings, port: int, written: list[Path]) -> None:
    """Leave the generated token for this user's clients (:mod:`submarine._rundir`)."""
    import logging

    from submarine._rundir import write_discovery
    from submarine.server.store.datadir import TOKEN_NAME

    if not settings.generated_token or settings.token is None:
        return
    try:
        path = write_discovery(settings.host, port, settings.token)
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "clients will not find the token by themselves (%s): it is in %s",
            exc,
            settings.data_dir / TOKEN_NAME,
        )
        return
    if path is not None:
        written.append(path)


async def _announce(server: Any, settings: Settings, written: list[Path]) -> None:
    """Leave the discovery file, then print the listening line and the workbench's link
    (which signs in with a generated token), with the real port, once uvicorn has started."""
    import asyncio
    from urllib.parse import quote

    while not server.started:
        await asyncio.sleep(0.01)
    sockets = [s for srv in server.servers for s in srv.sockets]
    port = sockets[0].getsockname()[1] if sockets else settings.port
    url = _url(settings.host, port)
    _discover(settings, port, written)
    link = f"{url}/"
    if settings.generated_token and settings.token:
        link += f"?token={quote(settings.token, safe='')}"
    print(  # one write: whoever reads the first line finds the second too
        f"Submarine local server listening on {url} (data: {settings.data_dir})\n"
        f"Submarine workbench at {link}",
        file=sys.stderr,
        flush=True,
    )


async def _serve(settings: Settings) -> None:
    import asyncio

    import uvicorn

    from submarine.server.api.connections import (
        default_max_connections,
        guarded_protocol,
        quiet_accept_errors,
    )
    from submarine.server.api.logtext import install_escaping
    from submarine.server.app import create_app, early_answer_of

    install_escaping()  # no request can forge a line of the log, whoever configured it
    quiet_accept_errors(asyncio.get_running_loop())
    max_connections = settings.max_connections or default_max_connections()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        # Nothing stands in front of this server: a client's X-Forwarded-For is no address
        # (from loopback uvicorn would believe it, and each made-up one got a fresh login
        # budget).
        proxy_headers=False,
        log_config=None,  # library code: logging is configured by whoever runs us
        timeout_graceful_shutdown=3,
        # Incomplete requests time out and open connections are bounded (see protocol).
        http=guarded_protocol(
            settings.header_timeout,
            max_connections,
            settings.body_timeout,
            early_answer=early_answer_of(app),
        ),
    )
    written: list[Path] = []

    def forget() -> None:
        from submarine._rundir import remove_discovery

        while written:
            remove_discovery(written.pop())

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            # First of all: uvicorn raises the signal that stopped it again once it has
            # shut down, so nothing after serve() runs then.
            forget()
            await super().shutdown(sockets)

    server = Server(config)
    announcer = asyncio.create_task(_announce(server, settings, written))
    failed = f"the server did not start on {_url(settings.host, settings.port)}: see the log above"
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits this way when it cannot bind
        raise ServerStartError(failed) from None
    finally:
        announcer.cancel()
        forget()
    if not server.started:
        raise ServerStartError(failed)


def _run(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run the server's coroutine on the event loop ``event_loop`` names (``--loop``):
    uvloop's (accepting, reading and writing connections in C, it takes some 45% less of
    the loop a connection than asyncio's own, so a flood of refused logins costs the other
    clients that much less), asyncio's, or ``auto``: uvloop's when it is installed."""
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                main.close()
                raise ServerStartError(
                    "--loop uvloop: uvloop is not installed here: pip install uvloop, or "
                    "use --loop asyncio"
                ) from None
        else:
            uvloop.run(main)
            return
    import asyncio

    asyncio.run(main)


def serve(settings: Settings) -> None:
    """Run the server until SIGINT or SIGTERM; print where it listens (the real port) to stderr.

    Without a token given (and without ``no_auth``) the server uses the one it keeps in the
    data dir (generated the first time), lets in its own user's loopback requests without
    it, and leaves it, with its address, in a discovery file for that user's clients
    (removed when it stops).

    Raises :class:`SettingsError` when the settings are refused (a non-loopback host without
    a token or ``insecure``, or with ``no_auth``) and :class:`ServerStartError` when the
    server cannot start (:class:`~submarine.server.store.datadir.DataDirInUseError` when
    another server holds the data dir,
    :class:`~submarine.server.store.datadir.DataDirOwnerError` when it belongs to another
    user).

    Args:
        settings: where to listen, where data lives, who may call.
    """
    import logging

    from submarine.server.settings import SettingsError

    problem = settings.bind_problem()
    if problem is not None:
        raise SettingsError(problem)
    from submarine.server.app import with_token
    from submarine.server.scrub import ScrubFilter
    from submarine.server.store.datadir import claim

    scrubber = ScrubFilter()
    for handler in logging.getLogger().handlers:  # no log line shows a credential
        if not any(isinstance(f, ScrubFilter) for f in handler.filters):
            handler.addFilter(scrubber)
    if settings.no_auth:
        logging.getLogger(__name__).warning(
            "--no-auth: this server takes requests from every process of this machine, "
            "whatever its user: any local user can run commands as you"
        )
    # Claimed before binding: a second server on this data dir (whatever its port) stops
    # here, before it opens the store or recovers anything (or makes its token).
    with claim(settings.data_dir):
        _run(_serve(with_token(settings)), settings.event_loop)
