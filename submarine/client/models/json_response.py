"""0.8.0's import path of ``JsonResponse``: the answer of the generated API classes and of
``AsyncResult.get()``, whose ``result`` is typed (the same class as
``submarine.client.JsonResponse``)."""

from submarine.client._compat import JsonResponse

__all__ = ["JsonResponse"]
