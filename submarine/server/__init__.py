"""The embedded Submarine-compatible server: Submarine's experiment REST API on one machine.

Experiments run as local processes, one a replica ("pod"); state lives in SQLite under the
data dir. Start it with ``python -m submarine.server`` or from Python::

    from submarine.server import serve, settings_from_args
    serve(settings_from_args(["--port", "8080", "--data-dir", "/tmp/submarine"]))

Modules: :mod:`~submarine.server.settings` (configuration), :mod:`~submarine.server.app`
(routes), :mod:`~submarine.server.http` (envelope, errors, bodies, auth),
:mod:`~submarine.server.wire` (payloads as Submarine 0.8.0 writes them),
:mod:`~submarine.server.store` (SQLite), :mod:`~submarine.server.runner` (processes).
Importing this package is cheap: the server dependencies (the ``server`` extra) load when
:func:`serve` runs.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from submarine.server.settings import Settings, SettingsError, settings_from_args

__all__ = ["ServerStartError", "Settings", "SettingsError", "serve", "settings_from_args"]


class ServerStartError(RuntimeError):
    """The server could not start (the address is in use, the data dir is unusable, ...)."""


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


async def _announce(server: Any, settings: Settings) -> None:
    """Print the listening line, with the real port, once uvicorn has started."""
    while not server.started:
        await asyncio.sleep(0.01)
    sockets = [s for srv in server.servers for s in srv.sockets]
    port = sockets[0].getsockname()[1] if sockets else settings.port
    url = _url(settings.host, port)
    print(  # one write: whoever reads the first line finds the second too
        f"Submarine local server listening on {url} (data: {settings.data_dir})\n"
        f"Submarine workbench at {url}/",
        file=sys.stderr,
        flush=True,
    )


async def _serve(settings: Settings) -> None:
    import uvicorn

    from submarine.server.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,  # library code: logging is configured by whoever runs us
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(config)
    announcer = asyncio.create_task(_announce(server, settings))
    failed = f"the server did not start on {_url(settings.host, settings.port)}: see the log above"
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits this way when it cannot bind
        raise ServerStartError(failed) from None
    finally:
        announcer.cancel()
    if not server.started:
        raise ServerStartError(failed)


def serve(settings: Settings) -> None:
    """Run the server until SIGINT or SIGTERM; print where it listens (the real port) to stderr.

    Raises :class:`SettingsError` when the settings are refused (a non-loopback host without
    a token or ``insecure``) and :class:`ServerStartError` when the server cannot start.

    Args:
        settings: where to listen, where data lives, who may call.
    """
    problem = settings.bind_problem()
    if problem is not None:
        raise SettingsError(problem)
    asyncio.run(_serve(settings.with_token()))
