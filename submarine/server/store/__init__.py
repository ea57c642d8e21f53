"""Where state lives: :mod:`.experiments` (experiments in SQLite) and :mod:`.datadir` (the
data dir's lock and file modes). Never imports the runner or the HTTP side."""
