"""TensorBoard and MLflow as Submarine 0.8.0 offers them: :mod:`.routes` (``/tensorboard/``
and the info endpoints) over :mod:`.service` (TensorBoard in the server's process)."""
