"""``/tensorboard/`` and Submarine 0.8.0's ``GET /api/v1/experiment/tensorboard`` and
``/mlflow``.

Both info endpoints answer ``{"available": bool, "url": "/tensorboard/"}`` (``/mlflow/``)
in the envelope, as 0.8.0 does. ``available`` is whether the server can serve TensorBoard
(the ``tensorboard`` extra is installed: it starts on first use); 0.8.0 says whether its
Kubernetes deployment has a ready replica. MLflow is never available here: the local
server runs no MLflow (0.8.0 deletes an MLflow experiment named by the id on delete, and
ignores failures; there is nothing to delete here).
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from submarine.server.api.rest import ApiEndpoint, envelope
from submarine.server.board.service import PATH_PREFIX, TensorBoardService

__all__ = ["MLFLOW_URL", "PREFIX", "TENSORBOARD_URL", "board_routes"]

PREFIX: Final = PATH_PREFIX
"""Where TensorBoard is served."""
TENSORBOARD_URL: Final = f"{PREFIX}/"
"""The url the info endpoint gives (0.8.0's)."""
MLFLOW_URL: Final = "/mlflow/"
"""The url 0.8.0 gives for MLflow."""
INFO_BASE: Final = "/api/v1/experiment"


def board_routes(service: TensorBoardService) -> list[Route]:
    """The info endpoints and TensorBoard's paths under ``/tensorboard``."""

    class TensorBoardInfo(ApiEndpoint):
        async def get(self, request: Request) -> Response:
            """Whether TensorBoard can be served, and where."""
            return envelope(result={"available": service.installed(), "url": TENSORBOARD_URL})

    class MlflowInfo(ApiEndpoint):
        async def get(self, request: Request) -> Response:
            """MLflow: never available on the local server."""
            return envelope(result={"available": False, "url": MLFLOW_URL})

    # TensorBoard's own paths (its page reads with GET and queries with POST); it is told
    # its prefix, so that it needs no Mount.
    return [
        Route(f"{INFO_BASE}/tensorboard", TensorBoardInfo, methods=["GET"]),
        Route(f"{INFO_BASE}/mlflow", MlflowInfo, methods=["GET"]),
        Route(PREFIX, service, methods=["GET"]),
        Route(f"{PREFIX}/{{path:path}}", service, methods=["GET", "POST"]),
    ]
