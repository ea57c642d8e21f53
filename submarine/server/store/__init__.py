"""Where state lives: :mod:`.experiments` (experiments in SQLite), :mod:`.environments`
(environments, in the same database) and :mod:`.datadir` (the data dir's lock and file
modes). Never imports the runner or the HTTP side."""
