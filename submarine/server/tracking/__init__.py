"""Metrics and params of running experiments: :mod:`.routes` (Submarine's
``/api/metric`` and ``/api/param`` endpoints, the replicas' credentials) and
:mod:`.records` (checking what replicas send)."""
