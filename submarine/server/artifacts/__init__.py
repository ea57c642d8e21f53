"""Saved models of experiments: :mod:`.routes` (Submarine 0.8.0's listing, a download and
the replicas' upload) over :mod:`.files` (the folders ``1/``, ``2/``, ... in each
experiment's directory of the data dir)."""
