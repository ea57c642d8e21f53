"""The experiment API over HTTP: routes, Submarine's REST conventions, guards and limits.

* :mod:`.experiments` the routes under ``/api/v1/experiment``; :mod:`.environments` those
  under ``/api/v1/environment``; :mod:`.token` the login;
  :mod:`.services` what every route reads (the lifespan's store, runner, settings).
* :mod:`.rest` Submarine's envelope, error answers, bodies and the token guard;
  :mod:`.wire` payloads as Submarine 0.8.0 writes them; :mod:`.logs` whole logs in bounded
  memory.
* :mod:`.guard` Host, Origin and body-type checks; :mod:`.connections` header deadline and
  connection bound; :mod:`.logins` failed logins per address; :mod:`.logtext` log lines a
  request cannot forge.
"""
