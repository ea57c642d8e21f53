"""Running experiments: from a stored spec to replicas, statuses and logs.

* :mod:`.runner` the facade the routes use; :mod:`.scheduler` queue, capacity, status
  changes; :mod:`.job` one experiment's run, the policy written once for every backend
  (start order, success, failure reasons, what the pod logs say, stop); :mod:`.launcher`
  the seam between the policy and a backend: how one replica is launched, watched and
  stopped; :mod:`.local` the local processes' launcher; :mod:`.backend` where replicas run,
  local processes or a Ray cluster (:mod:`.raybackend`).
* :mod:`.processes` process groups; :mod:`.layout` files on disk; :mod:`.podlogs` pod
  logs, whole or by cursor; :mod:`.watch` long polls; :mod:`.distributed` each framework's
  environment; :mod:`.capacity` what fits; :mod:`.gitsync` code from git; :mod:`.pyenv`
  the virtual environments of experiments whose named environment lists packages.

Never imports the HTTP side, tracking or the page. Importing this package (or
:mod:`.raybackend`) imports nothing: a Ray replica's launcher runs under it.
"""
