"""The Ray backend of the local server (``submarine server --backend ray``).

Each experiment is one placement group on a Ray cluster, one bundle per replica; each
replica is an actor on its bundle that runs the replica's command on its node. Imported only
when the backend is chosen; needs the ``ray`` extra.

* :mod:`~submarine.server.run.raybackend.cluster`: the connection, the namespace, leftovers
  (:class:`~submarine.server.run.raybackend.cluster.RayBackend`, which
  :func:`~submarine.server.run.backend.load_backend` loads);
* :mod:`~submarine.server.run.raybackend.launcher`: one experiment's replicas on the cluster,
  under the job policy of :mod:`submarine.server.run.job`;
* :mod:`~submarine.server.run.raybackend.replica`: the actor that runs one replica;
* :mod:`~submarine.server.run.raybackend.placement`: bundles and why Ray cannot place them;
* :mod:`~submarine.server.run.raybackend.orphan`: makes a replica die with its actor.

Importing the package imports nothing: a replica's launcher
(``python -m submarine.server.run.raybackend.orphan``) runs before every replica's command,
and loads neither Ray nor the server.
"""
