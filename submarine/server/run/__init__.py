"""Running experiments: from a stored spec to replicas, statuses and logs.

* :mod:`.runner` the facade the routes use; :mod:`.scheduler` queue, capacity, status
  changes, adoption after a restart (:mod:`.backfill` the queue's policy,
  :mod:`.protocols` what it asks of the store and of jobs); :mod:`.job` one experiment's
  run, the policy written once for every backend (start order, success, failure reasons,
  what the pod logs say, stop, leave, adopt); :mod:`.launcher` the seam between the policy
  and a backend: how one replica is launched, watched, found again and stopped;
  :mod:`.local` the local processes' launcher, each replica under a supervisor that
  outlives the server (:mod:`.supervised`, the program :mod:`.supervisor`);
  :mod:`.backend` where replicas run, local processes or a Ray cluster (:mod:`.raybackend`).
* :mod:`.processes` process groups; :mod:`.layout` files on disk; :mod:`.podlogs` pod
  logs, whole or by cursor; :mod:`.watch` long polls and change counters;
  :mod:`.distributed` each framework's environment; :mod:`.capacity` what fits;
  :mod:`.gitsync` code from git; :mod:`.pyenv` the virtual environments of experiments
  whose named environment lists packages.

Never imports the HTTP side, tracking or the page. Importing this package (or
:mod:`.raybackend`) imports nothing: a Ray replica's launcher runs under it.
"""
