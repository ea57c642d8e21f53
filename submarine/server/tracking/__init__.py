"""Metrics and params of running experiments: :mod:`.routes` (Submarine's
``/api/metric`` and ``/api/param`` endpoints, the replicas' credentials) over
:mod:`.store` (the records in SQLite). What replicas may send is the tracking contract,
:mod:`submarine.models.trackwire`."""
